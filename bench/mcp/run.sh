#!/usr/bin/env bash
# bench/mcp (`make bench`): the round trip of one small pack call, artifact.get
# of a stored 1 KiB artifact (a fresh confined worker per call), over every
# MCP transport, beside the same pack over plain REST, in one run against one
# daemon; and an MCP ping (REST: GET /healthz) per transport, which is the
# transport alone, with no worker.
#
# Clients, all closed-loop, one request at a time, keep-alive:
#   C     bench/dispatch/loadgen (libcurl): REST, streamable HTTP (JSON and SSE
#         answers; sessionless POSTs)
#   node  bench/mcp/mcpbench.mjs (raw protocol, no SDK): REST, streamable HTTP
#         JSON and SSE, legacy HTTP+SSE, WebSocket (`ws`), stdio through
#         bin/helmdeck-mcp
# One table at the end. A failed request or a daemon that does not stop
# cleanly makes the run invalid (exit 1). Node rows are skipped, with the
# reason, when node/npm or the `ws` package cannot be had.
#
# Knobs: BENCH_MCP_N (pack calls per row, default 300), BENCH_MCP_PING_N
# (pings per row, default 1000).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
DAEMON=$ROOT/bin/helmdeckd
CLI=$ROOT/bin/helmdeck
BRIDGE=$ROOT/bin/helmdeck-mcp
N=${BENCH_MCP_N:-300}
PN=${BENCH_MCP_PING_N:-1000}
SDK=$ROOT/build/mcp-sdk

say() { printf 'bench/mcp: %s\n' "$*" >&2; }
for f in "$DAEMON" "$CLI" "$BRIDGE"; do
	[ -x "$f" ] || { say "$f missing: run make all first"; exit 1; }
done
mkdir -p "$OUT"
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/loadgen" "$ROOT/bench/dispatch/loadgen.c" -lcurl -pthread
LOADGEN=$OUT/loadgen

NODE_OK=""
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	NODE_OK="node/npm not installed"
elif [ ! -d "$SDK/node_modules/ws" ] &&
	! (mkdir -p "$SDK" && cd "$SDK" && timeout 180 npm install --silent --no-audit --no-fund ws@8.23.0 >/dev/null 2>&1); then
	NODE_OK="npm install ws failed"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/helmdeck-bench-mcp.XXXXXX")
RESULTS=$TMP/results
: >"$RESULTS"
PID=""
FAILED=""
fail() { say "FAIL: $*"; FAILED="$FAILED
  - $*"; }
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- one daemon ----
STATE=$TMP/var
for try in 1 2 3; do
	PORT=$((20000 + RANDOM % 40000))
	ADDR=127.0.0.1:$PORT
	env HELMDECK_STATE_DIR="$STATE" HELMDECK_ADDR="$ADDR" HELMDECK_POLICY_DIR="$ROOT/policy" "$DAEMON" 2>"$TMP/daemon.log" &
	PID=$!
	for _ in $(seq 100); do
		"$LOADGEN" -n 1 -e '"status":"ok"' "http://$ADDR/healthz" >/dev/null 2>&1 && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PID" 2>/dev/null && break
	wait "$PID" 2>/dev/null || true
	PID=""
done
[ -n "$PID" ] || { say "helmdeckd did not start"; sed 's/^/    /' "$TMP/daemon.log" >&2; exit 1; }
URL=http://$ADDR
TOKEN=""
for _ in $(seq 50); do
	TOKEN=$(HELMDECK_STATE_DIR="$STATE" "$CLI" token mint --sub bench --scopes admin --ttl 1h 2>/dev/null) && break
	sleep 0.1
done
[ -n "$TOKEN" ] || { say "token mint failed"; exit 1; }
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1/packs")" = 200 ] && break
	sleep 0.05
done
B64=$(head -c 1024 /dev/urandom | base64 -w0)
KEY=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"bench.bin\",\"content_base64\":\"$B64\"}" "$URL/api/v1/packs/artifact.put" | jq -r .output.key)
[ ${#KEY} -eq 64 ] || { say "could not store the 1 KiB artifact"; exit 1; }
say "helmdeckd $PID on $ADDR; artifact $KEY"

# ---- the runs ----
row() { # row TRANSPORT CLIENT OP LINE RC
	echo "$1|$2|$3|$4" >>"$RESULTS"
	echo "    $2 $1 $3: ${4#* }" >&2
	[ "$5" -eq 0 ] || fail "$1 ($2) $3: exit $5"
}
c_run() { # c_run TRANSPORT OP URL LOADGEN-ARGS...
	local t=$1 o=$2 u=$3 line rc=0
	shift 3
	line=$("$LOADGEN" -c 1 -n "$([ "$o" = ping ] && echo "$PN" || echo "$N")" -t 120 -l "$t" "$@" "$u") || rc=$?
	row "$t" C "$o" "${line:-n=0}" $rc
}
node_run() { # node_run TRANSPORT OP
	local line rc=0
	if [ -n "$NODE_OK" ]; then
		echo "$1|node|$2|skipped: $NODE_OK" >>"$RESULTS"
		return 0
	fi
	cp "$ROOT/bench/mcp/mcpbench.mjs" "$SDK/"
	line=$(cd "$SDK" && HD_URL=$URL TOKEN=$TOKEN KEY=$KEY HD_BRIDGE=$BRIDGE timeout 300 node mcpbench.mjs "$1" "$2" \
		"$([ "$2" = ping ] && echo "$PN" || echo "$N")") || rc=$?
	row "$1" node "$2" "${line:-n=0}" $rc
}
GET='{"key":"'$KEY'"}'
CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"artifact.get","arguments":{"key":"'$KEY'"}}}'
PING='{"jsonrpc":"2.0","id":1,"method":"ping"}'
H=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
say "warm-up"
"$LOADGEN" -c 1 -n 50 "${H[@]}" -d "$GET" -e '"size":1024' "$URL/api/v1/packs/artifact.get" >/dev/null || fail "warm-up"

c_run rest get "$URL/api/v1/packs/artifact.get" "${H[@]}" -d "$GET" -e '"size":1024'
c_run http-json get "$URL/api/v1/mcp" "${H[@]}" -H 'Accept: application/json' -d "$CALL" -e '"isError":false'
c_run http-sse get "$URL/api/v1/mcp" "${H[@]}" -H 'Accept: application/json, text/event-stream' -d "$CALL" -e '"isError":false'
for t in rest http-json http-sse sse ws stdio; do node_run $t get; done
c_run rest ping "$URL/healthz" -e '"status":"ok"'
c_run http-json ping "$URL/api/v1/mcp" "${H[@]}" -H 'Accept: application/json' -d "$PING" -e '"result":{}'
for t in rest http-json http-sse sse ws stdio; do node_run $t ping; done

# ---- stop ----
kill -TERM "$PID"
rc=0
for _ in $(seq 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && { fail "helmdeckd did not stop within 15 s"; kill -KILL "$PID"; }
wait "$PID" || rc=$?
PID=""
[ "$rc" -eq 0 ] || fail "helmdeckd exited $rc after SIGTERM"
grep -E 'killed by signal|seccomp: forbidden' "$TMP/daemon.log" >&2 && fail "a role died during the run"

# ---- the table ----
name() {
	case $1 in
	rest) echo "REST /api/v1/packs" ;; http-json) echo "streamable HTTP, JSON" ;; http-sse) echo "streamable HTTP, SSE" ;;
	sse) echo "legacy HTTP+SSE" ;; ws) echo "WebSocket" ;; stdio) echo "stdio (helmdeck-mcp)" ;;
	esac
}
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo
echo "bench/mcp  $DATE  $(uname -n) $(uname -r), $(nproc) CPUs"
printf '| %-22s | %-6s | %-22s | %5s | %4s | %8s | %8s | %8s | %8s | %8s |\n' transport client call n fail calls/s "p50 ms" "p90 ms" "p99 ms" "max ms"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ -------- ------------------------ ------: -----: ---------: ---------: ---------: ---------: ---------:
while IFS='|' read -r t c o line; do
	call=$([ "$o" = get ] && echo "artifact.get 1 KiB" || { [ "$t" = rest ] && echo "GET /healthz" || echo "ping"; })
	if [ "${line#skipped}" != "$line" ]; then
		printf '| %-22s | %-6s | %-22s | %s |\n' "$(name "$t")" "$c" "$call" "$line"
		continue
	fi
	printf '| %-22s | %-6s | %-22s | %5s | %4s | %8s | %8s | %8s | %8s | %8s |\n' "$(name "$t")" "$c" "$call" \
		"$(kv "$line" n)" "$(kv "$line" fail)" "$(kv "$line" rps)" "$(kv "$line" p50)" "$(kv "$line" p90)" "$(kv "$line" p99)" "$(kv "$line" max)"
done <"$RESULTS"
echo "closed loop, 1 client, keep-alive; latency per call on the client; artifact.get runs in a fresh confined worker each call"
if [ -n "$FAILED" ]; then
	echo "bench/mcp: run INVALID:$FAILED"
	exit 1
fi
echo "bench/mcp: all calls answered correctly; run valid"
