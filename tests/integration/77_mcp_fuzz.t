#!/bin/bash
# Protocol abuse against every MCP transport: malformed JSON, wrong types,
# huge ids, 10 MB messages, unknown methods, garbage WebSocket frames, raw
# bytes after an upgrade, clients that vanish mid-call. After each group the
# api must still answer /healthz and run a real pack, and at the end it must
# never have restarted nor leaked descriptors.
. "$(dirname "$0")/lib.sh"
hd_start
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MCP=$HD_URL/api/v1/mcp

post() { # post BODY-OR-@FILE [curl args...] -> body; status in $HD_TMP/status
	curl -s -o "$HD_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-H 'Accept: application/json' "${@:2}" --data-binary "$1" "${URL:-$MCP}" >"$HD_TMP/status"
	cat "$HD_TMP/body"
}
N=0
alive_and_serving() { # after abuse: /healthz, and a real pack call over MCP
	N=$((N + 1))
	h=$(curl -s -m 5 "$HD_URL/healthz")
	k=$(post "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"artifact.put\",\"arguments\":{\"name\":\"f.txt\",\"content\":\"after $N\"}}}" |
		jq -r .result.structuredContent.key 2>/dev/null)
	is "$h $k" "{\"status\":\"ok\"} $(printf 'after %s' $N | sha256sum | cut -c1-64)" "still serving after $1"
}
api_pid() { api GET /api/v1/security | jq -r '.processes[] | select(.role=="api") | .pid'; }
api_fds() { ls "/proc/$(api_pid)/fd" 2>/dev/null | wc -l; }
API0=$(api_pid)
FD0=$(api_fds)

# ---- streamable HTTP POST ----
codes=""
for m in '' '{' '{"jsonrpc":"2.0"' '[]' '[1,2]' 'null' '42' '"str"' '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}' \
	'{"jsonrpc":"2.0","id":1.5,"method":"ping"}' '{"jsonrpc":"2.0","id":1,"method":7}' '{"jsonrpc":2,"id":1,"method":"ping"}' \
	'{"id":1,"method":"ping"}' '{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}' '{"jsonrpc":"2.0","id":1,"method":"ping","id":2}' \
	'{"jsonrpc":"2.0","id":null,"method":"ping"}' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}' \
	'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"artifact.put","arguments":[]}}' \
	'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"artifact.put","arguments":{},"_meta":{"helmdeck/version":"x"}}}' \
	'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test.sleep","arguments":{"ms":1},"_meta":{"progressToken":{"a":1}}}}' \
	'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"99999999999999999999"}}' \
	'{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"helmdeck://artifacts/../../etc/passwd"}}' \
	'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"x":[1,2,3]}}}' \
	'{"jsonrpc":"2.0","method":"notifications/cancelled"}'; do
	out=$(post "$m")
	codes="$codes $(status):$(printf '%s' "$out" | jq -r '.error.code // .result.isError // "-"' 2>/dev/null)"
done
is "$codes" " 400:-32700 400:-32700 400:-32700 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32600 400:-32700 400:-32600 200:-32602 200:-32602 200:-32602 200:-32602 200:-32602 200:-32002 202: 202:" \
	"malformed JSON, wrong types and duplicate keys get -32700/-32600/-32602, never a crash"
printf '\xff\xfe{"jsonrpc":"2.0","id":1,"method":"ping"}' >"$HD_TMP/bin"
is "$(post @"$HD_TMP/bin" | jq -r .error.code)" -32700 "bytes that are not UTF-8 -> -32700"
{ printf '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":'; head -c 5000 /dev/zero | tr '\0' '['; } >"$HD_TMP/deep"
is "$(post @"$HD_TMP/deep" | jq -r .error.code)" -32700 "5000 nested arrays -> -32700"
is "$(post "{\"jsonrpc\":\"2.0\",\"id\":$(printf '9%.0s' $(seq 1 400)),\"method\":\"ping\"}" | jq -r .error.code)" -32700 "a 400-digit numeric id -> -32700"
is "$(post '{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}')" '{"jsonrpc":"2.0","id":-9223372036854775808,"result":{}}' \
	"the smallest 64-bit id is echoed exactly"
for m in resources/subscribe prompts/list completion/complete logging/setLevel tools/list/x '' 'ÿ'; do
	printf '{"jsonrpc":"2.0","id":"u","method":"%s"}' "$m" >"$HD_TMP/u"
	c=$(post @"$HD_TMP/u" | jq -r .error.code)
	[ "$c" = -32601 ] || { ok 1 "unknown method $m -> $c"; }
done
ok 0 "unknown methods -> -32601"
{ printf '{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' x; printf '"}}'; } >"$HD_TMP/10mb"
is "$(post @"$HD_TMP/10mb" | jq -c .)" '{"jsonrpc":"2.0","id":"big","result":{}}' "a 10 MB message under the 12 MiB cap is parsed and answered"
head -c $((13 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$HD_TMP/13mb"
post @"$HD_TMP/13mb" >/dev/null
like "$(status)" '^(413|400)$' "a 13 MB body is refused"
alive_and_serving "malformed messages over POST"

# ---- the legacy pair ----
curl -s -N -m 30 -H "Authorization: Bearer $TOKEN" "$MCP/sse" >"$HD_TMP/sse" 2>/dev/null &
SSE=$!
for i in $(seq 1 50); do grep -q '^data: ' "$HD_TMP/sse" && break; sleep 0.05; done
EP=$HD_URL$(sed -n 's/^data: //p' "$HD_TMP/sse" | head -1)
codes=""
for m in '' 'nope' '[]' '{"jsonrpc":"2.0","id":1,"method":"nope"}' '{"jsonrpc":"2.0","id":"'"$(head -c 300 /dev/zero | tr '\0' 9)"'","method":"ping"}' \
	'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}'; do
	URL=$EP post "$m" >/dev/null
	codes="$codes $(status)"
done
is "$codes" " 400 400 400 202 400 202" "junk on the legacy message endpoint: 400 in the POST, or 202 and an error on the stream"
sleep 0.2
like "$(sed -n 's/^data: {/{/p' "$HD_TMP/sse" | jq -r 'select(.id==1) | .error.code')" '^-32601$' "the unknown method's error came on the stream"
URL=$EP post '{"jsonrpc":"2.0","id":"mid","method":"tools/call","params":{"name":"test.sleep","arguments":{"ms":1500},"_meta":{"helmdeck/version":1,"progressToken":1}}}' >/dev/null
kill $SSE 2>/dev/null; wait $SSE 2>/dev/null
sleep 2
alive_and_serving "a legacy SSE client that disconnected mid-call"

# ---- SSE answers and GET streams that go away ----
curl -s -N -m 1 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \
	--data '{"jsonrpc":"2.0","id":"gone","method":"tools/call","params":{"name":"test.sleep","arguments":{"ms":2500},"_meta":{"helmdeck/version":1,"progressToken":"t"}}}' \
	"$MCP" >/dev/null 2>&1
post '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}' -D "$HD_TMP/h" >/dev/null
SID=$(grep -i '^mcp-session-id:' "$HD_TMP/h" | cut -d' ' -f2 | tr -d '\r')
for i in 1 2 3 4 5; do
	curl -s -N -m 0.3 -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID" -H 'Accept: text/event-stream' "$MCP" >/dev/null 2>&1
done
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $SID" "$MCP"
sleep 2
alive_and_serving "SSE clients that disconnected mid-call, and GET streams opened and dropped"

# ---- WebSocket ----
if ! SDK=$(mcp_sdk); then
	skip "WebSocket fuzz: $SDK"
else
	cp "$ROOT/tests/mcp/ws_probe.mjs" "$SDK/"
	out=$(cd "$SDK" && HD_URL=$HD_URL TOKEN=$TOKEN timeout 120 node ws_probe.mjs junk fragmented binary badutf8 big tenmb garbage midcall 2>"$HD_TMP/ws.err")
	is "$(printf '%s' "$out" | jq -c '[.junk.messages[] | .error.code // "ok"], .junk.close')" '[-32700,-32600,-32601,-32600,"ok"]
1000' "WebSocket: not JSON, wrong types, unknown method, huge id: answered, the socket stays open"
	is "$(printf '%s' "$out" | jq -c '.fragmented.messages[0].id')" 6 "a message split over three frames is one message"
	is "$(printf '%s' "$out" | jq -r '[.binary.close,.badutf8.close,.big.close,.garbage.close] | join(" ")')" "1003 1007 1009 1002" \
		"binary frame 1003, bad UTF-8 1007, 13 MiB 1009, garbage 1002"
	is "$(printf '%s' "$out" | jq -c '.tenmb.messages[0]')" '{"jsonrpc":"2.0","id":8,"result":{}}' "a 10 MB frame is parsed and answered"
	is "$(printf '%s' "$out" | jq -r .midcall.close)" 1006 "a client gone mid-call"
	[ -s "$HD_TMP/ws.err" ] && sed 's/^/# ws: /' "$HD_TMP/ws.err" >&2
	sleep 1.5
	alive_and_serving "garbage WebSocket frames"
fi
# raw bytes after a real handshake, and data pipelined before it
ws_raw() { # ws_raw EXTRA-BYTES-FILE -> the first response line
	exec 5<>"/dev/tcp/127.0.0.1/$HD_PORT" || return 1
	{ printf 'GET /api/v1/mcp/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
	  printf 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\nAuthorization: Bearer %s\r\n\r\n' "$TOKEN"; cat "$1"; } >&5
	timeout 3 head -1 <&5 | tr -d '\r'
	head -c 65536 /dev/urandom >&5 2>/dev/null
	exec 5>&-
}
: >"$HD_TMP/none"
like "$(ws_raw "$HD_TMP/none")" '^HTTP/1.1 101' "a raw client gets the 101, then sends 64 KiB of random bytes"
printf '\x81\x85\x00\x00\x00\x00hello' >"$HD_TMP/early"
like "$(ws_raw "$HD_TMP/early")" '^HTTP/1.1 (101|400)' "a frame sent before the handshake finished: refused or read as a frame"
for i in $(seq 1 40); do
	exec 5<>"/dev/tcp/127.0.0.1/$HD_PORT" && printf 'GET /api/v1/mcp/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\nAuthorization: Bearer %s\r\n\r\n' "$TOKEN" >&5
	exec 5>&-
done
sleep 1
alive_and_serving "raw bytes after upgrades, and 40 upgrades dropped at once"

# ---- the api survived all of it ----
is "$(api_pid)" "$API0" "the api never restarted (same pid)"
for i in $(seq 1 30); do [ "$(api_fds)" -le "$FD0" ] && break; sleep 0.1; done
ok $([ "$(api_fds)" -le "$FD0" ]; echo $?) "and holds no more descriptors than at the start ($FD0 -> $(api_fds))"
grep -E 'killed by signal|seccomp: forbidden|role_crash' "$HD_TMP/daemon.log" | sed 's/^/# /' >&2
is "$(grep -cE 'api.*(killed by signal|exited with status)|seccomp: forbidden' "$HD_TMP/daemon.log")" 0 "no api death in the daemon log"
done_testing
