#!/usr/bin/env bash
# bench/browser (`make bench`): what a browser session and a screenshot cost,
# beside chromium used directly, in the same run.
#
#   session create, warm pool (HELMDECK_BROWSER_POOL=1) vs cold (=0): POST
#     /api/v1/sessions until the session answers a CDP call (one
#     browser.interact with a single execute step), then DELETE
#   browser.screenshot_url of a loopback page, ephemeral session from the
#     warm pool, against `chromium --headless --screenshot` of the same page
#     (a cold chromium per shot, the usual way to script it) and against
#     screenshots in one pinned session (_session_id)
#
# Knobs: BENCH_BROWSER_N (calls per row, default 20).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DAEMON=$ROOT/bin/helmdeckd
CLI=$ROOT/bin/helmdeck
N=${BENCH_BROWSER_N:-20}
CHROMIUM=/usr/lib/chromium/chromium
say() { printf 'bench/browser: %s\n' "$*" >&2; }
[ -x "$CHROMIUM" ] || { say "chromium is not installed (scripts/deps.sh installs it)"; exit 1; }
for f in "$DAEMON" "$CLI"; do [ -x "$f" ] || { say "$f missing: run make all first"; exit 1; }; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/helmdeck-bench-browser.XXXXXX")
PID="" WPID=""
stop() {
	[ -n "$PID" ] || return 0
	kill -TERM "$PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}
trap 'stop; [ -n "$WPID" ] && kill "$WPID" 2>/dev/null; rm -rf "$TMP"' EXIT
RESULTS=$TMP/results
: >"$RESULTS"
FAILED=""

mkdir -p "$TMP/www"
printf '<html><head><title>bench</title></head><body style="background:#0a0"><h1>bench page</h1></body></html>' \
	>"$TMP/www/index.html"
perl "$ROOT/tests/integration/helpers/httpd.pl" "$TMP/www" >"$TMP/port" 2>/dev/null &
WPID=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$TMP/port")/

ms() { echo $(( $(date +%s%N) / 1000000 )); }
# record LABEL then latencies (ms) on stdin: p50/p90/max and calls/s
record() {
	sort -n | awk -v l="$1" '{ a[NR] = $1; s += $1 } END {
		if (NR == 0) { print "label=" l " n=0"; exit }
		p50 = a[int((NR + 1) * 0.5)]; p90 = a[int(NR * 0.9) > 0 ? int(NR * 0.9) : 1]
		printf "label=%s n=%d p50=%d p90=%d max=%d mean=%.1f\n", l, NR, p50, p90, a[NR], s / NR }' >>"$RESULTS"
}

start() { # start POOL
	export HELMDECK_STATE_DIR=$TMP/var-$1
	PORT=$((20000 + RANDOM % 40000))
	ADDR=127.0.0.1:$PORT
	HELMDECK_ADDR=$ADDR HELMDECK_POLICY_DIR=$ROOT/policy HELMDECK_BROWSER_POOL=$1 HELMDECK_BROWSER_NETWORK=direct \
		"$DAEMON" 2>"$TMP/daemon-$1.log" &
	PID=$!
	TOKEN=""
	for _ in $(seq 100); do
		TOKEN=$("$CLI" token mint --sub bench --scopes admin --ttl 1h 2>/dev/null) && break
		sleep 0.1
	done
	[ -n "$TOKEN" ] || { say "daemon did not start"; cat "$TMP/daemon-$1.log" >&2; exit 1; }
	sleep 2  # the warm browser starts
}
api() { curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "http://$ADDR$2"; }

session_cycle() { # one create -> first CDP answer -> delete; prints ms
	local t0 id code
	t0=$(ms)
	code=$(api POST /api/v1/sessions '{}')
	id=$(jq -r .id "$TMP/body")
	[ "$code" = 201 ] || { FAILED="$FAILED create:$code"; return; }
	code=$(api POST /api/v1/packs/browser.interact \
		"{\"_session_id\":\"$id\",\"actions\":[{\"action\":\"execute\",\"script\":\"1+1\",\"name\":\"x\"}]}")
	[ "$code" = 200 ] || FAILED="$FAILED first-call:$code"
	echo $(( $(ms) - t0 ))
	api DELETE "/api/v1/sessions/$id" >/dev/null
	sleep 2  # let the pool refill, as a caller pausing between sessions would
}

for pool in 1 0; do
	say "== HELMDECK_BROWSER_POOL=$pool"
	start "$pool"
	for _ in $(seq "$N"); do session_cycle; done | record "session_ready_$([ "$pool" = 1 ] && echo warm || echo cold)"
	if [ "$pool" = 1 ]; then
		for _ in $(seq "$N"); do
			t0=$(ms)
			code=$(api POST /api/v1/packs/browser.screenshot_url "{\"url\":\"$URL\",\"width\":800,\"height\":600}")
			[ "$code" = 200 ] || FAILED="$FAILED shot:$code"
			echo $(( $(ms) - t0 ))
			sleep 2  # the pool refills (a cold chromium start) between calls
		done | record "screenshot_url(ephemeral)"
		api POST /api/v1/sessions '{}' >/dev/null
		sid=$(jq -r .id "$TMP/body")
		for _ in $(seq "$N"); do
			t0=$(ms)
			code=$(api POST /api/v1/packs/browser.screenshot_url "{\"_session_id\":\"$sid\",\"url\":\"$URL\",\"width\":800,\"height\":600}")
			[ "$code" = 200 ] || FAILED="$FAILED pinned-shot:$code"
			echo $(( $(ms) - t0 ))
		done | record "screenshot_url(pinned)"
	fi
	stop
done

say "== chromium --headless --screenshot, directly"
for i in $(seq "$N"); do
	rm -rf "$TMP/ud"
	t0=$(ms)
	# as root chromium needs --no-sandbox; this peer runs as nobody to keep its sandbox like ours
	if [ "$(id -u)" = 0 ]; then
		mkdir -p "$TMP/ud" && chown 65534 "$TMP/ud" "$TMP"
		setpriv --reuid=65534 --regid=65534 --clear-groups "$CHROMIUM" --headless=new --disable-gpu --no-first-run \
			--disable-background-networking --user-data-dir="$TMP/ud" --window-size=800,600 \
			--screenshot="$TMP/ud/s.png" "$URL" >/dev/null 2>&1 || FAILED="$FAILED direct"
	else
		"$CHROMIUM" --headless=new --disable-gpu --no-first-run --disable-background-networking \
			--user-data-dir="$TMP/ud" --window-size=800,600 --screenshot="$TMP/ud/s.png" "$URL" >/dev/null 2>&1 ||
			FAILED="$FAILED direct"
	fi
	echo $(( $(ms) - t0 ))
done | record "chromium_cli_screenshot(peer)"

echo
echo "bench/browser  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(uname -n) $(uname -r), $(nproc) CPUs, $($CHROMIUM --version 2>/dev/null)"
awk '
function v(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "?" }
BEGIN { printf "| %-30s | %3s | %7s | %7s | %7s | %8s |\n", "what", "n", "p50 ms", "p90 ms", "max ms", "mean ms"
	printf "|%s|%s|%s|%s|%s|%s|\n", "--------------------------------", "----:", "--------:", "--------:", "--------:", "---------:" }
{ printf "| %-30s | %3s | %7s | %7s | %7s | %8s |\n", v("label"), v("n"), v("p50"), v("p90"), v("max"), v("mean") }' "$RESULTS"
if [ -n "$FAILED" ]; then
	echo "bench/browser: INVALID RUN:$FAILED"
	exit 1
fi
echo "bench/browser: every call answered as expected; run valid"
