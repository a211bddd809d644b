#!/bin/bash
# MCP beyond one POST and one JSON answer: tools/call answered as SSE with
# progress, the GET server stream, cancellation (the worker is killed), the
# legacy HTTP+SSE pair, WebSocket, inline images and artifact resources;
# then the official TypeScript SDK over all four transports
# (tests/mcp/sdk_suite.mjs) and the MCP inspector's CLI.
. "$(dirname "$0")/lib.sh"
hd_start
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MCP=$HD_URL/api/v1/mcp
PNG=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==

post() { # post JSON [curl args...] -> body; status in $HD_TMP/status, headers in $HD_TMP/h
	curl -s -N -D "$HD_TMP/h" -o "$HD_TMP/body" -w '%{http_code}' -H "Authorization: Bearer ${TOK:-$TOKEN}" \
		-H 'Content-Type: application/json' "${@:2}" --data-binary "$1" "${URL:-$MCP}" >"$HD_TMP/status"
	cat "$HD_TMP/body"
}
ctype() { grep -i '^content-type:' "$HD_TMP/h" | cut -d' ' -f2 | tr -d '\r'; }
# the data lines of an SSE body, one JSON message per line
events() { sed -n 's/^data: {/{/p'; }
session() { # a new streamable HTTP session for ${TOK:-$TOKEN}
	post '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}' >/dev/null
	grep -i '^mcp-session-id:' "$HD_TMP/h" | cut -d' ' -f2 | tr -d '\r'
}
test_workers() { api GET /api/v1/security | jq -r '[.processes[] | select(.role=="worker" and .class=="test" and .running) | .pid] | sort | join(" ")'; }
# wait until one of the worker pids in $1 is gone and as many run again; prints the new set
replaced() {
	for i in $(seq 1 50); do
		now=$(test_workers)
		gone=0
		for p in $1; do case " $now " in *" $p "*) ;; *) gone=1 ;; esac; done
		[ "$gone" = 1 ] && [ "$(echo $now | wc -w)" -ge "$(echo $1 | wc -w)" ] && { echo "$now"; return 0; }
		sleep 0.1
	done
	echo "$now"; return 1
}
sleep_call() { # sleep_call ID MS [extra _meta members]
	printf '{"jsonrpc":"2.0","id":"%s","method":"tools/call","params":{"name":"test.sleep","arguments":{"ms":%s},"_meta":{"helmdeck/version":1%s}}}' "$1" "$2" "${3:-}"
}

# a GET stream held through the whole file: keep-alive comments and the
# progress of JSON-mode calls arrive on it
SID=$(session)
like "$SID" '^[0-9a-f]{32}$' "a session to listen on"
curl -s -N -m 60 -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID" -H 'Accept: text/event-stream' "$MCP" >"$HD_TMP/get" 2>/dev/null &
GET_PID=$!
GET_T0=$(date +%s)

# ---- tools/call answered as SSE ----
out=$(post "$(sleep_call s1 2500 ',"progressToken":"p1"')" -H 'Accept: application/json, text/event-stream')
is "$(status) $(ctype)" "200 text/event-stream" "a tools/call that accepts SSE is answered as an event stream"
prog=$(printf '%s\n' "$out" | events | jq -c 'select(.method=="notifications/progress") | .params')
like "$prog" '"progressToken":"p1","progress":[0-9]+,"message":"running test.sleep"' "notifications/progress while the pack runs"
is "$(printf '%s\n' "$out" | events | tail -1 | jq -r '[.id,.result.structuredContent.slept_ms] | join(" ")')" "s1 2500" \
	"the response is the last event, then the stream ends"
out=$(post "$(sleep_call s2 10)" -H 'Accept: application/json, text/event-stream')
is "$(printf '%s\n' "$out" | events | jq -r 'select(.method) | .method' | wc -l | tr -d ' ')" 0 "no progress without a progressToken"
post '{"jsonrpc":"2.0","id":3,"method":"ping"}' -H 'Accept: application/json, text/event-stream' >/dev/null
is "$(ctype)" application/json "other methods answer plain JSON"

# ---- the GET stream ----
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID" "$MCP")
is "$code" 405 "GET without Accept: text/event-stream -> 405"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Accept: text/event-stream' "$MCP")
is "$code" 400 "GET without a session -> 400"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Accept: text/event-stream' -H 'Mcp-Session-Id: 00000000000000000000000000000000' "$MCP")
is "$code" 404 "GET with an unknown session -> 404"
OTHER=$("$BIN/helmdeck" token mint --sub mallory --scopes packs:read,packs:call --ttl 1h)
code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Authorization: Bearer $OTHER" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $SID" "$MCP")
is "$code" 403 "another subject cannot listen on the session"
out=$(post "$(sleep_call g1 2300 ',"progressToken":"g1"')" -H "Mcp-Session-Id: $SID" -H 'Accept: application/json')
is "$(printf '%s' "$out" | jq -r .result.structuredContent.slept_ms)" 2300 "a JSON-mode call answers in its POST"
sleep 0.2
like "$(events <"$HD_TMP/get" | jq -r 'select(.method=="notifications/progress") | .params.progressToken')" '^g1$' \
	"and its progress goes to the session's GET stream"

# ---- cancellation ----
pre=$(test_workers)
t0=$(date +%s%N)
post "$(sleep_call c1 20000)" -H "Mcp-Session-Id: $SID" -H 'Accept: application/json' >"$HD_TMP/c1" &
BG=$!
sleep 0.8
post '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1","reason":"test"}}' -H "Mcp-Session-Id: $SID" >/dev/null
is "$(status)" 202 "notifications/cancelled is accepted"
wait $BG
ms=$((($(date +%s%N) - t0) / 1000000))
is "$(cat "$HD_TMP/c1" | wc -c | tr -d ' ')" 0 "the cancelled JSON-mode request gets no JSON-RPC response"
ok $([ "$ms" -lt 6000 ]; echo $?) "and its POST ends at once (${ms} ms, not 20 s)"
post_=$(replaced "$pre")
ok $? "the worker that ran it is gone and a fresh one took its place ($pre -> $post_)"
sleep 0.3
is "$(api GET '/api/v1/audit?event_type=pack_call&limit=5' | jq -r '[.events[] | select(.pack=="test.sleep")][0] | .outcome')" cancelled \
	"the pack_call is audited with outcome cancelled"
is "$(api GET '/api/v1/audit?event_type=mcp_call&limit=10' | jq -r '[.events[] | select(.method=="tools/call")][0] | "\(.outcome) \(.error_code)"')" \
	"cancelled cancelled" "and so is the mcp_call"
pre=$(test_workers)
out=$( (sleep 0.8; post '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c2"}}' -H "Mcp-Session-Id: $SID" >/dev/null) &
	post "$(sleep_call c2 20000 ',"progressToken":"c2"')" -H "Mcp-Session-Id: $SID" -H 'Accept: application/json, text/event-stream')
is "$(printf '%s\n' "$out" | events | jq -r 'select(.id) | .id' | wc -l | tr -d ' ')" 0 "a cancelled SSE answer just ends, without a response"
replaced "$pre" >/dev/null
ok $? "and its worker is replaced too"
B=$(session)
out=$( (sleep 0.5; post '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c3"}}' -H "Mcp-Session-Id: $B" >/dev/null) &
	post "$(sleep_call c3 1500)" -H "Mcp-Session-Id: $SID" -H 'Accept: application/json')
is "$(printf '%s' "$out" | jq -r .result.structuredContent.slept_ms)" 1500 "another session cannot cancel the call"

# ---- the legacy HTTP+SSE pair (2024-11-05) ----
curl -s -N -m 30 -H "Authorization: Bearer $TOKEN" "$MCP/sse" >"$HD_TMP/sse" 2>/dev/null &
SSE_PID=$!
for i in $(seq 1 50); do grep -q '^data: ' "$HD_TMP/sse" && break; sleep 0.05; done
is "$(head -1 "$HD_TMP/sse")" "event: endpoint" "GET /api/v1/mcp/sse starts with an endpoint event"
EP=$(sed -n 's/^data: //p' "$HD_TMP/sse" | head -1)
like "$EP" '^/api/v1/mcp/sse/message\?sessionId=[0-9a-f]{32}$' "naming the message endpoint and the session"
URL=$HD_URL$EP post '{"jsonrpc":"2.0","id":"l1","method":"tools/list"}' >/dev/null
is "$(status) $(cat "$HD_TMP/body")" "202 Accepted" "a message POSTed there is accepted with 202"
for i in $(seq 1 50); do grep -q '"id":"l1"' "$HD_TMP/sse" && break; sleep 0.05; done
like "$(grep -B1 '"id":"l1"' "$HD_TMP/sse" | head -1)" '^event: message$' "and answered on the stream as event: message"
like "$(events <"$HD_TMP/sse" | jq -r 'select(.id=="l1") | [.result.tools[].name] | join(",")')" 'artifact\.put' "with the tool list"
URL=$HD_URL$EP TOK=$OTHER post '{"jsonrpc":"2.0","id":"l2","method":"ping"}' >/dev/null
is "$(status)" 403 "another subject cannot post into the session"
URL="$HD_URL/api/v1/mcp/sse/message?sessionId=00000000000000000000000000000000" post '{"jsonrpc":"2.0","id":"l3","method":"ping"}' >/dev/null
is "$(status)" 404 "an unknown legacy session -> 404"
URL="$HD_URL/api/v1/mcp/sse/message" post '{"jsonrpc":"2.0","id":"l4","method":"ping"}' >/dev/null
is "$(status)" 400 "no sessionId -> 400"
out=$(URL=$HD_URL$EP post 'not json')
is "$(status) $(printf '%s' "$out" | jq -r .error.code)" "400 -32700" "malformed JSON is refused in the POST itself"
kill $SSE_PID 2>/dev/null; wait $SSE_PID 2>/dev/null
sleep 0.2
URL=$HD_URL$EP post '{"jsonrpc":"2.0","id":"l5","method":"ping"}' >/dev/null
is "$(status)" 404 "the legacy session ends with its stream"

# ---- WebSocket (the `ws` npm package as a raw client) ----
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$MCP/ws")
is "$code" 426 "GET /api/v1/mcp/ws without an upgrade -> 426"
if ! SDK=$(mcp_sdk); then
	skip "WebSocket probes: $SDK"
else
	cp "$ROOT/tests/mcp/ws_probe.mjs" "$SDK/"
	out=$(cd "$SDK" && HD_URL=$HD_URL TOKEN=$TOKEN timeout 60 node ws_probe.mjs header query noauth badtoken badproto 2>"$HD_TMP/ws.err")
	is "$(printf '%s' "$out" | jq -r '.header | [.protocol, (.messages | map(.id) | join(",")), .close] | join(" ")')" "mcp 1,2,p 1000" \
		"WebSocket with the Authorization header: subprotocol mcp, one answer per message"
	is "$(printf '%s' "$out" | jq -r '.header.messages[1].result.tools | map(select(.name=="artifact.put"))[0].inputSchema.required[0]')" name \
		"tools/list over WebSocket carries the schemas"
	is "$(printf '%s' "$out" | jq -r '.query.messages[0].result.serverInfo.name')" helmdeck "?access_token= works (for browsers)"
	is "$(printf '%s' "$out" | jq -r '[.noauth.status,.badtoken.status,.badproto.status] | join(" ")')" "401 401 400" \
		"no token / a bad token -> 401; another subprotocol -> 400"
fi

# ---- inline images and artifact resources ----
out=$(post '{"jsonrpc":"2.0","id":"i1","method":"tools/call","params":{"name":"artifact.put","arguments":{"name":"dot.png","content_base64":"'$PNG'","content_type":"image/png"}}}' -H 'Accept: application/json')
is "$(printf '%s' "$out" | jq -r '.result.content[1] | [.type,.mimeType,(.data=="'$PNG'")] | join(" ")')" "image image/png true" \
	"an image artifact comes back inline as an image block, beside the JSON text"
head -c $((1200 * 1024)) /dev/urandom | base64 -w0 >"$HD_TMP/big.b64"
printf '{"jsonrpc":"2.0","id":"i2","method":"tools/call","params":{"name":"artifact.put","arguments":{"name":"big.png","content_type":"image/png","content_base64":"%s"}}}' \
	"$(cat "$HD_TMP/big.b64")" >"$HD_TMP/big.json"
out=$(post @"$HD_TMP/big.json" -H 'Accept: application/json')
KEY=$(printf '%s' "$out" | jq -r .result.structuredContent.key)
is "$(printf '%s' "$out" | jq -r '.result.content[1] | [.type,.uri,.mimeType,.size] | join(" ")')" \
	"resource_link helmdeck://artifacts/$KEY image/png $((1200 * 1024))" "one over HELMDECK_MCP_INLINE_IMAGE_MAX is a resource_link"
out=$(post '{"jsonrpc":"2.0","id":"i3","method":"resources/read","params":{"uri":"helmdeck://artifacts/'$KEY'"}}')
is "$(printf '%s' "$out" | jq -j '.result.contents[0].blob' | cmp -s - "$HD_TMP/big.b64"; echo $?)" 0 \
	"resources/read of the link returns the bytes"
is "$(post '{"jsonrpc":"2.0","id":"i4","method":"resources/templates/list"}' | jq -r '.result.resourceTemplates[0].uriTemplate')" \
	"helmdeck://artifacts/{key}" "the artifact URI template is listed"
is "$(post '{"jsonrpc":"2.0","id":"i5","method":"resources/read","params":{"uri":"helmdeck://artifacts/'$(printf '0%.0s' $(seq 1 64))'"}}' | jq -r .error.code)" \
	-32002 "an unknown artifact -> -32002"
RO=$("$BIN/helmdeck" token mint --sub reader --scopes packs:read --ttl 1h)
is "$(TOK=$RO post '{"jsonrpc":"2.0","id":"i6","method":"resources/read","params":{"uri":"helmdeck://artifacts/'$KEY'"}}' | jq -r .error.code)" \
	-32602 "reading an artifact needs packs:call"

out=$(post '{"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"uri":"helmdeck://sessions"}}')
is "$(printf '%s' "$out" | jq -r '.result.contents[0].text' | jq -r 'type')" "$(api GET /api/v1/sessions | jq -r type)" \
	"helmdeck://sessions is the caller's session list, as GET /api/v1/sessions has it"
is "$(TOK=$RO post '{"jsonrpc":"2.0","id":"r2","method":"resources/read","params":{"uri":"helmdeck://sessions"}}' | jq -r .error.code)" \
	-32602 "and needs sessions:read"

# ---- the official SDK over every transport ----
if ! SDK=$(mcp_sdk); then
	skip "official MCP SDK over http, sse, ws, stdio: $SDK"
else
	cp "$ROOT/tests/mcp/sdk_suite.mjs" "$SDK/"
	for k in http sse ws stdio; do
		if [ $k = stdio ] && [ ! -x "$BIN/helmdeck-mcp" ]; then skip "SDK stdio: helmdeck-mcp not built"; continue; fi
		out=$(cd "$SDK" && HD_BRIDGE=$BIN/helmdeck-mcp HD_URL=$HD_URL TOKEN=$TOKEN timeout 60 node sdk_suite.mjs $k 2>"$HD_TMP/sdk.err")
		is "$(printf '%s' "$out" | jq -r .server)" helmdeck "SDK $k: connects and initializes"
		is "$(printf '%s' "$out" | jq -r '(.tools | index("artifact.put") != null), (.put_required | join(","))' | tr '\n' ' ')" "true name " \
			"SDK $k: lists the tools with their input schema"
		is "$(printf '%s' "$out" | jq -r .ok_isError,.ok_key | tr '\n' ' ')" "false $(printf 'over %s' $k | sha256sum | cut -c1-64) " \
			"SDK $k: calls a pack and gets structuredContent"
		is "$(printf '%s' "$out" | jq -c .image)" '{"mimeType":"image/png","same":true}' "SDK $k: receives the image inline"
		is "$(printf '%s' "$out" | jq -r '"\(.bad_isError) \(.bad_error)"')" "true invalid_input" "SDK $k: bad input is a typed tool error"
		if [ $k = stdio ]; then
			# the bridge hands progress over when the call's answer arrives, so
			# only the cancellation itself is checked here
			is "$(printf '%s' "$out" | jq -r '"\(.cancel) \(.worker_gone) \(.worker_replaced) \(.audit_cancelled)"')" \
				"rejected true true true" "SDK stdio: a cancelled slow call through helmdeck-mcp: its worker is gone and replaced ($(printf '%s' "$out" | jq -r .cancel_ms) ms)"
		else
			is "$(printf '%s' "$out" | jq -r '"\(.progress > 0) \(.cancel) \(.worker_gone) \(.worker_replaced) \(.audit_cancelled)"')" \
				"true rejected true true true" "SDK $k: progress, then a cancelled slow call whose worker is gone and replaced ($(printf '%s' "$out" | jq -r .cancel_ms) ms)"
		fi
		grep -qv 'bridging stdio to' "$HD_TMP/sdk.err" && sed 's/^/# sdk: /' "$HD_TMP/sdk.err" >&2
	done
fi

# ---- the MCP inspector's CLI ----
if ! INSP=$(mcp_inspector); then
	skip "MCP inspector CLI: $INSP"
else
	for t in http sse; do
		[ $t = http ] && u=$MCP || u=$MCP/sse
		out=$(cd "$INSP" && timeout 60 node cli.js --cli "$u" --transport $t --method tools/list --header "Authorization: Bearer $TOKEN" 2>"$HD_TMP/insp.err")
		like "$(printf '%s' "$out" | jq -r '[.tools[].name] | join(",")')" 'artifact\.put.*artifact\.get' "MCP inspector CLI lists the tools over $t"
	done
fi

# ---- the GET stream, after all that ----
left=$((GET_T0 + 17 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
grep -q '^: keepalive' "$HD_TMP/get"
ok $? "the GET stream carried a keep-alive comment (every ${MCP_KEEPALIVE_S:-15} s)"
kill $GET_PID 2>/dev/null; wait $GET_PID 2>/dev/null
is "$(api GET /api/v1/security | jq -r '.processes[] | select(.role=="api") | .restarts')" 0 "the api never restarted"
done_testing
