#!/usr/bin/env bash
# bench/dispatch (`make bench`): latency and throughput of artifact.put of
# 1 KiB through REST, each call in a fresh confined worker, beside two floors
# measured in the same run: GET /healthz on the same server (HTTP + the api
# role, no worker) and fork+exec+wait of /bin/true (a bare fresh process).
#
# For each pool size (HELMDECK_WORKER_POOL=4, then the default, 2) it starts
# a fresh helmdeckd on a free port with its own state dir, warms up, runs
# healthz and artifact.put at 1 and 16 concurrent clients, stops the daemon
# with SIGTERM and checks nothing of that daemon is left. Then forkexec at
# 1 and 16. One table at the end. Any failed request, failed run or leftover
# process makes the whole run invalid and the exit status non-zero.
#
# Knobs (environment): BENCH_POOLS (default "4 default"),
# BENCH_PUT_N1/BENCH_PUT_N16, BENCH_HZ_N1/BENCH_HZ_N16, BENCH_FE_N1/BENCH_FE_N16,
# BENCH_RUN_SECS (per-run time cap, default 30).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/bench/dispatch
OUT=$ROOT/build/bench
DAEMON=$ROOT/bin/helmdeckd
CLI=$ROOT/bin/helmdeck

POOLS=${BENCH_POOLS:-4 default}
HZ_N1=${BENCH_HZ_N1:-3000}
HZ_N16=${BENCH_HZ_N16:-20000}
PUT_N1=${BENCH_PUT_N1:-1000}
PUT_N16=${BENCH_PUT_N16:-2000}
FE_N1=${BENCH_FE_N1:-3000}
FE_N16=${BENCH_FE_N16:-6000}
RUN_SECS=${BENCH_RUN_SECS:-30}

say() { printf 'bench: %s\n' "$*" >&2; }

# ---- dependencies ----------------------------------------------------------
missing=""
for p in gcc libc6-dev libcurl4-openssl-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		say "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
			apt-get update >/dev/null
			apt-get install -y --no-install-recommends $missing
		}
	else
		say "missing packages; run as root:"
		say "  apt-get install -y$missing"
		exit 1
	fi
fi
if [ "$(id -u)" -ne 0 ]; then
	say "note: not root; helmdeckd runs unprivileged (user namespaces)"
fi
for f in "$DAEMON" "$CLI"; do
	[ -x "$f" ] || { say "$f missing: run make all first"; exit 1; }
done

# ---- build the tools ---------------------------------------------------------
mkdir -p "$OUT"
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Werror)
gcc "${CFLAGS[@]}" -o "$OUT/loadgen" "$SRC/loadgen.c" -lcurl -pthread
gcc "${CFLAGS[@]}" -o "$OUT/forkexec" "$SRC/forkexec.c"
LOADGEN=$OUT/loadgen
FORKEXEC=$OUT/forkexec

# ---- state, cleanup ----------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/helmdeck-bench.XXXXXX")
RESULTS=$TMP/results
: >"$RESULTS"
DAEMON_PID=""
STATE=""
FAILED=""

fail() { say "FAIL: $*"; FAILED="$FAILED
  - $*"; }

cleanup() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A TCP port nobody listens on (the daemon start is retried if we lose a race).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# pids of every process started by the current daemon: they all carry its
# (unique, temporary) HELMDECK_STATE_DIR in their environment.
our_pids() {
	local d pid
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		if tr '\0' '\n' 2>/dev/null <"$d/environ" | grep -qxF "HELMDECK_STATE_DIR=$STATE"; then
			echo "$pid"
		fi
	done
}

count_workers() {
	local n=0 pid
	for pid in $(our_pids); do
		if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- '-R worker'; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# start_daemon POOL|default: sets DAEMON_PID, STATE, ADDR, TOKEN, DLOG
start_daemon() {
	local pool=$1 try port dir
	for try in 1 2 3; do
		port=$(free_port) || { fail "no free port"; return 1; }
		dir=$TMP/pool-$pool-$try
		mkdir -p "$dir"
		STATE=$dir/var
		ADDR=127.0.0.1:$port
		DLOG=$dir/helmdeckd.log
		if [ "$pool" = default ]; then
			env -u HELMDECK_WORKER_POOL HELMDECK_STATE_DIR="$STATE" HELMDECK_ADDR="$ADDR" \
				HELMDECK_POLICY_DIR="$ROOT/policy" "$DAEMON" 2>"$DLOG" &
		else
			env HELMDECK_STATE_DIR="$STATE" HELMDECK_ADDR="$ADDR" HELMDECK_POLICY_DIR="$ROOT/policy" \
				HELMDECK_WORKER_POOL="$pool" "$DAEMON" 2>"$DLOG" &
		fi
		DAEMON_PID=$!
		for _ in $(seq 100); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			if "$LOADGEN" -n 1 -e '"status":"ok"' "http://$ADDR/healthz" >/dev/null 2>&1; then
				break
			fi
			sleep 0.1
		done
		if kill -0 "$DAEMON_PID" 2>/dev/null &&
			"$LOADGEN" -n 1 -e '"status":"ok"' "http://$ADDR/healthz" >/dev/null 2>&1; then
			break
		fi
		say "helmdeckd (try $try) did not come up on $ADDR; log:"
		sed 's/^/    /' "$DLOG" >&2 || true
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=""
	done
	if [ -z "$DAEMON_PID" ]; then
		fail "helmdeckd (pool $pool) did not start"
		return 1
	fi
	TOKEN=""
	for _ in $(seq 50); do
		TOKEN=$(HELMDECK_STATE_DIR="$STATE" "$CLI" token mint --sub bench --scopes admin --ttl 1h 2>/dev/null) && break
		TOKEN=""
		sleep 0.1
	done
	if [ -z "$TOKEN" ]; then
		fail "helmdeck token mint failed (pool $pool)"
		return 1
	fi
	return 0
}

stop_daemon() {
	local pid=$DAEMON_PID rc=0 left
	kill -TERM "$pid"
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		fail "helmdeckd $pid did not stop within 15 s of SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" || rc=$?
	DAEMON_PID=""
	[ "$rc" -eq 0 ] || fail "helmdeckd $pid exited with status $rc after SIGTERM"
	sleep 0.2
	left=$(our_pids | tr '\n' ' ')
	if [ -n "$left" ]; then
		fail "processes of helmdeckd $pid left after stop: $left"
		# shellcheck disable=SC2086
		ps -o pid,ppid,user,args -p $left >&2 || true
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
	else
		say "helmdeckd $pid stopped (status $rc); no process of it left"
	fi
	for cg in /sys/fs/cgroup/*/helmdeck-"$pid"; do
		[ -e "$cg" ] && fail "cgroup $cg left after stop"
	done
	return 0
}

# run_load WHAT POOL LOADGEN-ARGS...: one measured run, appended to RESULTS
run_load() {
	local what=$1 pool=$2 line rc=0
	shift 2
	line=$("$LOADGEN" -t "$RUN_SECS" -l "$what" "$@") || rc=$?
	[ -n "$line" ] || line="label=$what conc=? n=0 ok=0 fail=? rps=0 p50=0 p90=0 p99=0 max=0"
	echo "pool=$pool $line" >>"$RESULTS"
	echo "    $line" >&2
	[ "$rc" -eq 0 ] || fail "$what pool=$pool: loadgen exited $rc (${line#* })"
	return 0
}

SEQ=0
next_seed() { SEQ=$((SEQ + 1)); echo $((SEQ * 1000000000)); }

# ---- the daemon runs --------------------------------------------------------
# 1 KiB of content: 1368 base64 characters, the first 16 replaced by a
# per-request counter (@SEQ@) so every call stores different bytes.
B64=$(head -c 1024 /dev/urandom | base64 -w0)
printf '{"name":"bench.bin","content_base64":"@SEQ@%s"}' "${B64:16}" >"$TMP/put.json"

for pool in $POOLS; do
	label=$pool
	[ "$pool" = default ] && label="2*"
	say "== helmdeckd, worker pool ${pool/default/default (HELMDECK_WORKER_POOL unset = 2)}"
	start_daemon "$pool" || continue
	HZ="http://$ADDR/healthz"
	PUT="http://$ADDR/api/v1/packs/artifact.put"
	PUTARGS=(-D "$TMP/put.json" -H "Authorization: Bearer $TOKEN" -e '"size":1024')
	say "pid $DAEMON_PID on $ADDR, state $STATE"
	say "warm-up"
	"$LOADGEN" -c 4 -n 500 -e '"status":"ok"' "$HZ" >/dev/null || fail "warm-up healthz pool=$pool"
	"$LOADGEN" -c 4 -n 100 -s "$(next_seed)" "${PUTARGS[@]}" "$PUT" >/dev/null ||
		fail "warm-up artifact.put pool=$pool"
	sleep 0.3
	say "workers running: $(count_workers)"
	run_load healthz "$label" -c 1 -n "$HZ_N1" -e '"status":"ok"' "$HZ"
	run_load healthz "$label" -c 16 -n "$HZ_N16" -e '"status":"ok"' "$HZ"
	run_load artifact.put_1KiB "$label" -c 1 -n "$PUT_N1" -s "$(next_seed)" "${PUTARGS[@]}" "$PUT"
	run_load artifact.put_1KiB "$label" -c 16 -n "$PUT_N16" -s "$(next_seed)" "${PUTARGS[@]}" "$PUT"
	stop_daemon
done

# ---- the process floor -------------------------------------------------------
say "== fork+exec+wait of /bin/true"
for c in 1 16; do
	n=$FE_N1
	[ "$c" -eq 16 ] && n=$FE_N16
	rc=0
	line=$("$FORKEXEC" -c "$c" -n "$n" -l fork+exec_true /bin/true) || rc=$?
	[ -n "$line" ] || line="label=fork+exec_true conc=$c n=0 ok=0 fail=? rps=0 p50=0 p90=0 p99=0 max=0"
	echo "pool=- $line" >>"$RESULTS"
	echo "    $line" >&2
	[ "$rc" -eq 0 ] || fail "forkexec c=$c exited $rc"
done

# ---- the table -----------------------------------------------------------------
echo
echo "bench/dispatch  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(uname -n) $(uname -r), $(nproc) CPUs"
awk '
function v(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "?" }
BEGIN {
	printf "| %-20s | %-4s | %4s | %6s | %4s | %9s | %8s | %8s | %8s | %8s |\n", "what", "pool", "conc", "n", "fail", "calls/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------", "------", "-----:", "-------:", "-----:", "----------:", "---------:", "---------:", "---------:", "---------:"
}
{
	printf "| %-20s | %-4s | %4s | %6s | %4s | %9s | %8s | %8s | %8s | %8s |\n", v("label"), v("pool"), v("conc"), v("n"), v("fail"), v("rps"), v("p50"), v("p90"), v("p99"), v("max")
}' "$RESULTS"
echo "pool 2* = HELMDECK_WORKER_POOL unset (the default, 2). Latencies are per request, client side; calls/s = successful calls / wall time."

if [ -n "$FAILED" ]; then
	echo
	echo "bench: INVALID RUN:$FAILED"
	exit 1
fi
echo "bench: all requests answered 200; run valid"
