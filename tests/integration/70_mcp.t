#!/bin/bash
# MCP over streamable HTTP (POST /api/v1/mcp): JSON-RPC by hand, then the
# official TypeScript SDK (@modelcontextprotocol/sdk from npm) when node is
# on the machine.
. "$(dirname "$0")/lib.sh"
hd_start
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

rpc() { # rpc JSON [extra curl args] -> body; status in $HD_TMP/status
	curl -s -D "$HD_TMP/h" -o "$HD_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' -H "Accept: ${ACCEPT:-application/json}" "${@:2}" \
		--data-binary "$1" "$HD_URL/api/v1/mcp" >"$HD_TMP/status"
	cat "$HD_TMP/body"
}
out=$(rpc '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}')
is "$(printf '%s' "$out" | jq -r '.result.protocolVersion,.result.serverInfo.name' | tr '\n' ' ')" "2025-06-18 helmdeck " "initialize negotiates 2025-06-18"
sid=$(grep -i '^mcp-session-id:' "$HD_TMP/h" | cut -d' ' -f2 | tr -d '\r')
like "$sid" '^[0-9a-f]{32}$' "initialize issues an Mcp-Session-Id"
is "$(rpc '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}' | jq -r .result.protocolVersion)" 2024-11-05 "the 2024-11-05 revision is spoken too"
is "$(rpc '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}' | jq -r .result.protocolVersion)" 2025-06-18 "an unknown revision gets the latest"
rpc '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $sid" >/dev/null
is "$(status)" 202 "a notification is accepted with 202"
is "$(rpc '{"jsonrpc":"2.0","id":"p","method":"ping"}' -H "Mcp-Session-Id: $sid" | jq -c .)" '{"jsonrpc":"2.0","id":"p","result":{}}' "ping answers an empty result"
out=$(rpc '{"jsonrpc":"2.0","id":3,"method":"tools/list"}' -H "Mcp-Session-Id: $sid")
like "$(printf '%s' "$out" | jq -r '[.result.tools[].name] | join(",")')" 'artifact\.put' "tools/list lists the packs as tools"
is "$(printf '%s' "$out" | jq -c '.result.tools[] | select(.name=="artifact.put") | .inputSchema.required')" '["name"]' "with their full input schema"
is "$(printf '%s' "$out" | jq -r '.result.tools[] | select(.name=="artifact.get") | .annotations.readOnlyHint')" true "and annotations from the manifest"
is "$(printf '%s' "$out" | jq -r '.result.tools[] | select(.name=="artifact.put") | .outputSchema.type')" object "and an output schema"
out=$(rpc '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"artifact.put","arguments":{"name":"m.txt","content":"via mcp"}}}' -H "Mcp-Session-Id: $sid")
is "$(printf '%s' "$out" | jq -r '.result.isError,.result.structuredContent.size' | tr '\n' ' ')" "false 7 " "tools/call runs the pack, structuredContent carries the output"
is "$(printf '%s' "$out" | jq -r '.result.content[0].text' | jq -r .key)" "$(printf 'via mcp' | sha256sum | cut -c1-64)" "and the text block is the same JSON"
out=$(rpc '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"artifact.put","arguments":{"content":"x"}}}')
is "$(printf '%s' "$out" | jq -r '.result.isError')" true "a typed pack error is a tool result with isError"
is "$(printf '%s' "$out" | jq -r '.result.content[0].text' | jq -r .error)" invalid_input "carrying the {error,message} object"
is "$(rpc '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test.syscall","arguments":{"call":"ptrace"}}}' | jq -r '.result.content[0].text' | jq -r .error)" \
	sandbox_violation "a sandbox violation reaches the MCP client typed"
is "$(rpc '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"no.such"}}' | jq -r .error.code)" -32602 "unknown tool -> -32602"
is "$(rpc '{"jsonrpc":"2.0","id":9,"method":"nope"}' | jq -r .error.code)" -32601 "unknown method -> -32601"
is "$(rpc 'not json' | jq -r .error.code)" -32700 "malformed JSON -> -32700"
is "$(rpc '{"jsonrpc":"1.0","id":1,"method":"ping"}' | jq -r .error.code)" -32600 "wrong jsonrpc version -> -32600"
is "$(rpc '[{"jsonrpc":"2.0","id":1,"method":"ping"}]' | jq -r .error.code)" -32600 "a batch -> -32600"
is "$(rpc "{\"jsonrpc\":\"2.0\",\"id\":\"$(head -c 1000 /dev/zero | tr '\0' 9)\",\"method\":\"ping\"}" | jq -r .error.code)" -32600 "a huge id -> -32600"
is "$(rpc '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":"x"}' | jq -r .error.code)" -32600 "params of the wrong type -> -32600"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$HD_TMP/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary @"$HD_TMP/big" "$HD_URL/api/v1/mcp")
like "$code" '^(400|413)$' "a 10 MB message is refused"
is "$(rpc '{"jsonrpc":"2.0","id":11,"method":"resources/read","params":{"uri":"helmdeck://packs"}}' | jq -r '.result.contents[0].text' | jq -r '.[0].name')" artifact.put "resources/read helmdeck://packs"
rpc '{"jsonrpc":"2.0","id":12,"method":"ping"}' -H 'Mcp-Session-Id: 00000000000000000000000000000000' >/dev/null
is "$(status)" 404 "an unknown session id -> 404"
rpc '{"jsonrpc":"2.0","id":13,"method":"ping"}' -H 'Origin: http://evil.example' >/dev/null
is "$(status)" 403 "a foreign Origin is refused"
RO=$("$BIN/helmdeck" token mint --sub reader --scopes packs:read --ttl 1h)
is "$(TOKEN=$RO rpc '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"artifact.list","arguments":{}}}' | jq -r '.result.content[0].text' | jq -r .error)" \
	credential_invalid "a token without packs:call cannot call tools"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOKEN" -H "Mcp-Session-Id: $sid" "$HD_URL/api/v1/mcp")" 200 "DELETE ends the session"
rpc '{"jsonrpc":"2.0","id":15,"method":"ping"}' -H "Mcp-Session-Id: $sid" >/dev/null
is "$(status)" 404 "and the ended session is gone"
sleep 0.3
like "$(api GET '/api/v1/audit?event_type=mcp_call&limit=100' | jq -r '[.events[].method] | join(" ")')" 'tools/call' "MCP calls are audited as mcp_call with the method"
is "$(curl -s "$HD_URL/healthz")" '{"status":"ok"}' "the api still serves after the protocol abuse"

# what the bridge and the clients' setup screens ask for
is "$(curl -s "$HD_URL/api/v1/bridge/version" | jq -r '.platform_version != null and .min_recommended != null')" true \
	"GET /api/v1/bridge/version needs no token"
for c in claude-code claude-desktop gemini-cli openclaw hermes-agent; do
	out=$(api GET "/api/v1/connect/$c?url=http://10.1.2.3:3000/&token=T0K")
	is "$(status)" 200 "GET /api/v1/connect/$c"
	like "$(printf '%s' "$out" | jq -c .config)" '10\.1\.2\.3:3000' "the $c snippet points at the given url"
done
like "$(api GET /api/v1/connect/claude-code | jq -r .config)" '^claude mcp add --transport http helmdeck http://.*/api/v1/mcp --header "Authorization: Bearer <token' \
	"without ?token= a placeholder stands in for the secret"
is "$(api GET /api/v1/connect/claude-desktop?token=T0K | jq -r .config.mcpServers.helmdeck.env.HELMDECK_TOKEN)" T0K "claude-desktop runs helmdeck-mcp with the token in its env"
api GET /api/v1/connect/unknown-client >/dev/null
is "$(status)" 404 "an unknown client -> 404"

# the official SDK, when node and the npm registry are reachable
if ! SDK=$(mcp_sdk); then
	skip "official MCP SDK: $SDK"
else
	cp "$ROOT/tests/mcp/sdk_client.mjs" "$SDK/"
	out=$(cd "$SDK" && HD_URL=$HD_URL TOKEN=$TOKEN timeout 60 node sdk_client.mjs 2>"$HD_TMP/sdk.err")
	is "$(printf '%s' "$out" | jq -r .server.name)" helmdeck "SDK: connects over streamable HTTP and initializes"
	is "$(printf '%s' "$out" | jq -r .protocol)" 2025-06-18 "SDK: negotiated 2025-06-18"
	like "$(printf '%s' "$out" | jq -r '.tools | join(",")')" 'artifact\.put' "SDK: lists the tools"
	is "$(printf '%s' "$out" | jq -c .put_required)" '["name"]' "SDK: sees the input schema"
	is "$(printf '%s' "$out" | jq -r .ok_key)" "$(printf 'from the official sdk' | sha256sum | cut -c1-64)" "SDK: calls a pack and gets structuredContent"
	is "$(printf '%s' "$out" | jq -r .bad_isError)" true "SDK: bad input comes back as a typed tool error"
	is "$(printf '%s' "$out" | jq -r '.resources | join(",")')" "helmdeck://packs,helmdeck://sessions" "SDK: lists the resources"
	[ -s "$HD_TMP/sdk.err" ] && sed 's/^/# sdk: /' "$HD_TMP/sdk.err" >&2
fi
done_testing
