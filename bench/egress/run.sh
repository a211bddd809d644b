#!/usr/bin/env bash
# bench/egress (`make bench`): what going out through helmdeck costs, beside
# curl(1) fetching the same URL from the same loopback server in the same run:
#
#   http.fetch of a 1 KiB body        (net worker -> supervisor -> egress:
#                                      parse, resolve-free literal vet, pinned
#                                      libcurl transfer, scrub, answer)
#   http.fetch with ${vault:NAME}     (the same, plus the vault releasing the
#                                      secret over the vault-egress link, the
#                                      ACL and usage log write, and scrubbing)
#   curl -s URL                       (a fresh curl process per request: the
#                                      client-side floor for one HTTP fetch)
#
# The server is tests/integration/helpers/apisrv.pl on 127.0.0.2 (allowlisted);
# it forks per connection, so its cost is in every row alike.
# Knobs: BENCH_EGRESS_N (calls per row, default 300), BENCH_RUN_SECS (cap, 30).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
DAEMON=$ROOT/bin/helmdeckd
CLI=$ROOT/bin/helmdeck
N=${BENCH_EGRESS_N:-300}
RUN_SECS=${BENCH_RUN_SECS:-30}
say() { printf 'bench/egress: %s\n' "$*" >&2; }

for f in "$DAEMON" "$CLI"; do [ -x "$f" ] || { say "$f missing: run make all first"; exit 1; }; done
command -v curl >/dev/null || { say "curl missing: apt-get install -y curl"; exit 1; }
mkdir -p "$OUT"
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/loadgen" "$ROOT/bench/dispatch/loadgen.c" -lcurl -pthread
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/forkexec" "$ROOT/bench/dispatch/forkexec.c"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/helmdeck-bench-egress.XXXXXX")
PID="" SRV=""
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
FAILED=""
RESULTS=$TMP/results
: >"$RESULTS"

perl "$ROOT/tests/integration/helpers/apisrv.pl" 127.0.0.2 /dev/null >"$TMP/port" 2>/dev/null &
SRV=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
URL="http://127.0.0.2:$(cat "$TMP/port")/bytes?n=1024"

PORT=$((20000 + RANDOM % 40000))
ADDR=127.0.0.1:$PORT
export HELMDECK_STATE_DIR=$TMP/var
HELMDECK_ADDR=$ADDR HELMDECK_POLICY_DIR=$ROOT/policy HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_BROWSER_POOL=0 \
	"$DAEMON" 2>"$TMP/daemon.log" &
PID=$!
for _ in $(seq 100); do "$OUT/loadgen" -n 1 -e '"status":"ok"' "http://$ADDR/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=""
for _ in $(seq 50); do TOKEN=$("$CLI" token mint --sub bench --scopes admin --ttl 1h 2>/dev/null) && break; sleep 0.1; done
[ -n "$TOKEN" ] || { say "daemon did not start"; cat "$TMP/daemon.log" >&2; exit 1; }
api() { curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X "$1" ${3:+-d "$3"} "http://$ADDR$2"; }
CID=$(api POST /api/v1/vault/credentials \
	"{\"name\":\"bench-key\",\"type\":\"api_key\",\"host_pattern\":\"127.0.0.2\",\"plaintext_b64\":\"$(printf 'sk-bench-0123456789abcdef' | base64)\"}" |
	jq -r .id)
api POST "/api/v1/vault/credentials/$CID/grants" '{"actor_subject":"bench"}' >/dev/null
say "daemon $PID on $ADDR, server $URL"

row() { # row LABEL COMMAND...: one measured line
	local label=$1 line rc=0
	shift
	line=$("$@") || rc=$?
	echo "$line" | sed "s/^label=[^ ]*/label=$label/" >>"$RESULTS"
	echo "    $line" >&2
	[ "$rc" -eq 0 ] || FAILED="$FAILED $label"
}
pack_load() { # pack_load LABEL CONC BODY
	printf '%s' "$3" >"$TMP/body.json"
	row "$1" "$OUT/loadgen" -t "$RUN_SECS" -c "$2" -n "$N" -D "$TMP/body.json" -e '"status":200' \
		-H "Authorization: Bearer $TOKEN" "http://$ADDR/api/v1/packs/http.fetch"
}

say "warm-up"
printf '{"url":"%s"}' "$URL" >"$TMP/w.json"
"$OUT/loadgen" -c 2 -n 20 -D "$TMP/w.json" -H "Authorization: Bearer $TOKEN" "http://$ADDR/api/v1/packs/http.fetch" >/dev/null ||
	FAILED="$FAILED warm-up"
for c in 1 4; do
	pack_load "http.fetch_1KiB" "$c" "{\"url\":\"$URL\"}"
	pack_load "http.fetch+vault" "$c" "{\"url\":\"$URL\",\"headers\":{\"Authorization\":\"Bearer \${vault:bench-key}\"}}"
	row "curl(1)_1KiB(peer)" "$OUT/forkexec" -c "$c" -n "$N" /usr/bin/curl -sf -o /dev/null "$URL"
done

echo
echo "bench/egress  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(uname -n) $(uname -r), $(nproc) CPUs, uid $(id -u)"
awk '
function v(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "?" }
BEGIN {
	printf "| %-18s | %4s | %5s | %4s | %8s | %7s | %7s | %7s |\n", "what", "conc", "n", "fail", "calls/s", "p50 ms", "p90 ms", "p99 ms"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------", "-----:", "------:", "-----:", "---------:", "--------:", "--------:", "--------:"
}
{ printf "| %-18s | %4s | %5s | %4s | %8s | %7s | %7s | %7s |\n", v("label"), v("conc"), v("n"), v("fail"), v("rps"), v("p50"), v("p90"), v("p99") }' "$RESULTS"
used=$(api GET "/api/v1/vault/credentials/$CID/usage" | jq '[.usage[] | select(.result=="allowed")] | length')
echo "vault usage log: $used of the latest 200 rows are allowed uses (every placeholder call wrote one)"
if [ -n "$FAILED" ]; then
	echo "bench/egress: INVALID RUN:$FAILED"
	exit 1
fi
echo "bench/egress: every call answered 200 with the expected output; run valid"
