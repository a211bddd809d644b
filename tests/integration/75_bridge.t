#!/bin/bash
# The stdio bridge (bin/helmdeck-mcp) against the real daemon: JSON-RPC lines
# by hand on stdin, then the official TypeScript SDK's StdioClientTransport
# when node is on the machine.
. "$(dirname "$0")/lib.sh"
BRIDGE=$BIN/helmdeck-mcp
if [ ! -x "$BRIDGE" ]; then
	echo "1..0 # SKIP helmdeck-mcp not built"
	exit 0
fi
hd_start
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
# bridge [VAR=value...] <lines -> the bridge's stdout; its stderr in $HD_TMP/err, exit status in $HD_TMP/rc
bridge() {
	env HELMDECK_URL="$HD_URL" HELMDECK_TOKEN="$TOKEN" "$@" timeout 60 "$BRIDGE" 2>"$HD_TMP/err"
	echo $? >"$HD_TMP/rc"
}
line() { printf '%s\n' "$out" | sed -n "$1p"; }
rc() { cat "$HD_TMP/rc"; }

is "$("$BRIDGE" --version)" "helmdeck-mcp 0.1.0" "--version prints the bridge version"

out=$(bridge <<EOF
$INIT
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"artifact.put","arguments":{"name":"b.txt","content":"via the bridge"}}}
{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"artifact.put","arguments":{"content":"x"}}}
{"jsonrpc":"2.0","id":5,"method":"no/such/method"}
not json

{"jsonrpc":"2.0","id":"p","method":"ping"}
EOF
)
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 7 "seven requests, seven lines: the notification and the blank line get none"
is "$(printf '%s\n' "$out" | jq -c . 2>/dev/null | wc -l | tr -d ' ')" 7 "every line is one JSON message"
is "$(rc)" 0 "the bridge exits 0 on stdin EOF"
is "$(line 1 | jq -r '.id,.result.serverInfo.name,.result.protocolVersion' | tr '\n' ' ')" "1 helmdeck 2025-06-18 " "initialize -> serverInfo helmdeck"
like "$(line 2 | jq -r '.id,(.result.tools | map(.name) | join(","))' | tr '\n' ' ')" '^2 .*artifact\.put' "tools/list lists artifact.put"
is "$(line 2 | jq -c '.result.tools[] | select(.name=="artifact.put") | .inputSchema.required')" '["name"]' "with its input schema"
is "$(line 3 | jq -r '.id,.result.isError,.result.structuredContent.key' | tr '\n' ' ')" \
	"3 false $(printf 'via the bridge' | sha256sum | cut -c1-64) " "tools/call runs the pack (isError false, structuredContent)"
is "$(line 4 | jq -r '.id,.result.isError' | tr '\n' ' ')" "4 true " "bad input -> isError true"
is "$(line 4 | jq -r '.result.content[0].text' | jq -r .error)" invalid_input "carrying invalid_input"
is "$(line 5 | jq -c '[.id,.error.code]')" '[5,-32601]' "unknown method -> -32601"
is "$(line 6 | jq -c '[.id,.error.code]')" '[null,-32700]' "a line that is not JSON -> the server's -32700, passed through"
is "$(line 7)" '{"jsonrpc":"2.0","id":"p","result":{}}' "ping"
like "$(cat "$HD_TMP/err")" 'bridging stdio to http://' "logs go to stderr"
is "$(grep -c 'recommends at least' "$HD_TMP/err")" 0 "no version warning from a platform of the same version"
sleep 0.3
like "$(api GET '/api/v1/audit?event_type=mcp_call&limit=20' | jq -r '[.events[] | "\(.method):\(.status)"] | join(" ")')" 'DELETE:200' \
	"on EOF the bridge ends its session (DELETE)"

# a 1 MiB message (Expect/100-continue must not get in the way)
big=$(head -c 1048576 /dev/zero | tr '\0' a)
out=$(printf '%s\n{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"artifact.put","arguments":{"name":"big.txt","content":"%s"}}}\n' "$INIT" "$big" | bridge)
is "$(line 2 | jq -r '.result.isError,.result.structuredContent.size' | tr '\n' ' ')" "false 1048576 " "a 1 MiB message goes through"
# longer than 16 MiB: refused by the bridge itself, and the next line still works
out=$({ echo "$INIT"; head -c $((16 * 1024 * 1024 + 100)) /dev/zero | tr '\0' x; echo; echo '{"jsonrpc":"2.0","id":9,"method":"ping"}'; } | bridge)
is "$(line 2 | jq -c '[.id,.error.code]')" '[null,-32600]' "a line over 16 MiB -> -32600 with id null"
is "$(line 3 | jq -c .)" '{"jsonrpc":"2.0","id":9,"result":{}}' "and the bridge reads on"

# configuration
out=$(env -u HELMDECK_TOKEN -u HELMDECK_TOKEN_FILE HELMDECK_URL="$HD_URL" timeout 10 "$BRIDGE" </dev/null 2>&1 >/dev/null)
code=$?
ok $([ "$code" -ne 0 ] && [ "$code" -ne 124 ]; echo $?) "no token -> refuses to start (exit $code)"
like "$out" 'HELMDECK_TOKEN or HELMDECK_TOKEN_FILE' "with a clear message"
printf '%s\n' "$TOKEN" >"$HD_TMP/token"
out=$(printf '%s\n{"jsonrpc":"2.0","id":2,"method":"ping"}\n' "$INIT" |
	env -u HELMDECK_TOKEN HELMDECK_URL="$HD_URL" HELMDECK_TOKEN_FILE="$HD_TMP/token" timeout 60 "$BRIDGE" 2>"$HD_TMP/err")
is "$(line 2 | jq -c .)" '{"jsonrpc":"2.0","id":2,"result":{}}' "HELMDECK_TOKEN_FILE works (trailing newline trimmed)"
out=$(env -u HELMDECK_TOKEN HELMDECK_URL="$HD_URL" HELMDECK_TOKEN_FILE="$HD_TMP/nonexistent" timeout 10 "$BRIDGE" </dev/null 2>&1 >/dev/null)
like "$out" 'cannot open HELMDECK_TOKEN_FILE' "an unreadable HELMDECK_TOKEN_FILE is refused"
out=$(bridge HELMDECK_BRIDGE_TIMEOUT=soon </dev/null)
ok $([ "$(rc)" -ne 0 ]; echo $?) "a malformed HELMDECK_BRIDGE_TIMEOUT is refused"
out=$(printf '%s\n' "$INIT" | bridge HELMDECK_TOKEN=not.a.token)
is "$(line 1 | jq -c '[.id,.error.code]')" '[1,-32001]' "a wrong token -> -32001 with the request id"
like "$(line 1 | jq -r .error.message)" '^helmdeck rejected the token: ' "saying the token was rejected"
RO=$("$BIN/helmdeck" token mint --sub reader --scopes packs:read --ttl 1h)
out=$(printf '%s\n{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"artifact.list","arguments":{}}}\n' "$INIT" | bridge HELMDECK_TOKEN="$RO")
is "$(line 2 | jq -r '.result.content[0].text' | jq -r .error)" credential_invalid "a token without packs:call gets the typed tool error"

# the daemon unreachable: a closed port
for i in 1 2 3 4 5; do
	CLOSED=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000))
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$CLOSED/"
	[ $? -eq 7 ] && break
done
t0=$(date +%s%N)
out=$(printf '%s\n%s\n' '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{"jsonrpc":"2.0","id":"r1","method":"ping"}' |
	bridge HELMDECK_URL="http://127.0.0.1:$CLOSED")
ms=$((($(date +%s%N) - t0) / 1000000))
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "unreachable: a dropped notification writes nothing"
is "$(line 1 | jq -c '[.id,.error.code]')" '["r1",-32000]' "unreachable: the request gets -32000 with its id"
like "$(line 1 | jq -r .error.message)" "^helmdeck unreachable at http://127\\.0\\.0\\.1:$CLOSED: " "naming the url and the curl error"
# two messages, each retried with backoff for ~8 s (0.2+0.5+1+2+4)
ok $([ "$ms" -ge 10000 ] && [ "$ms" -le 24000 ]; echo $?) "after retrying with backoff (two messages, ${ms} ms)"
t0=$(date +%s%N)
out=$(printf '%s\n' '{"jsonrpc":"2.0","id":7,"method":"ping"}' | bridge HELMDECK_URL="http://127.0.0.1:$CLOSED")
ms=$((($(date +%s%N) - t0) / 1000000))
ok $([ "$ms" -le 11000 ]; echo $?) "one request is answered within ~10 s (${ms} ms)"
is "$(rc)" 0 "and the bridge still exits 0 on EOF"

diag "not tested here: re-initialize after a server restart or session expiry; lib.sh cannot restart"
diag "the daemon on the same state dir, and the session id is internal to the bridge"
skip "session recovery after a server restart (needs hd_start on the same state dir)"

# the official SDK over stdio, when node and the npm registry are reachable
if ! SDK=$(mcp_sdk); then
	skip "official MCP SDK over stdio: $SDK"
else
	cp "$ROOT/tests/mcp/sdk_stdio_client.mjs" "$SDK/"
	out=$(cd "$SDK" && HD_BRIDGE=$BRIDGE HELMDECK_URL=$HD_URL HELMDECK_TOKEN=$TOKEN timeout 60 node sdk_stdio_client.mjs 2>"$HD_TMP/sdk.err")
	is "$(printf '%s' "$out" | jq -r .server.name)" helmdeck "SDK stdio: spawns the bridge and initializes"
	like "$(printf '%s' "$out" | jq -r '.tools | join(",")')" 'artifact\.put' "SDK stdio: lists the tools"
	is "$(printf '%s' "$out" | jq -c .put_required)" '["name"]' "SDK stdio: sees the input schema"
	is "$(printf '%s' "$out" | jq -r '.ok_isError,.ok_key' | tr '\n' ' ')" "false $(printf 'through the stdio bridge' | sha256sum | cut -c1-64) " \
		"SDK stdio: calls a pack and gets structuredContent"
	is "$(printf '%s' "$out" | jq -r .bad_isError)" true "SDK stdio: bad input comes back as a tool error"
	is "$(printf '%s' "$out" | jq -r .bad_text | jq -r .error)" invalid_input "SDK stdio: typed invalid_input"
	is "$(printf '%s' "$out" | jq -r .unknown_tool)" -32602 "SDK stdio: an unknown tool is a JSON-RPC error"
	is "$(printf '%s' "$out" | jq -r '.ping,.closed' | tr '\n' ' ')" "true true " "SDK stdio: pings and closes"
	grep -v 'bridging stdio to' "$HD_TMP/sdk.err" | grep -q . && sed 's/^/# sdk: /' "$HD_TMP/sdk.err" >&2
fi
done_testing
