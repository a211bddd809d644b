#!/usr/bin/env bash
# bench/code (`make bench`): what one step of the code-edit loop costs, beside
# what the same work costs without helmdeck, measured in the same run:
#
#   fs.read of a 1 KiB file   (pre-forked fs worker, openat2 beneath the workspace)
#   cmd.run ["true"]          (a fresh exec sandbox per call: own root, namespaces, cgroup,
#                              Landlock, seccomp) against
#     fork+exec /bin/true     (the bare-process floor) and
#     bwrap ... /usr/bin/true (bubblewrap, Debian's sandbox, with a comparable root:
#                              all namespaces, ro /usr, /proc, /dev, /tmp, a bound workspace)
#   git.log limit 5           against git -C <clone> log -5 run directly on the host
#
# One daemon (root: per-role uids, cgroups), one workspace from a small local
# repository. Any failed call makes the run invalid (exit 1).
# Knobs: BENCH_CODE_N (calls per row, default 300), BENCH_RUN_SECS (cap, 30).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
DAEMON=$ROOT/bin/helmdeckd
CLI=$ROOT/bin/helmdeck
N=${BENCH_CODE_N:-300}
RUN_SECS=${BENCH_RUN_SECS:-30}
say() { printf 'bench/code: %s\n' "$*" >&2; }

missing=""
for p in gcc libc6-dev libcurl4-openssl-dev git bubblewrap; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "missing packages; run as root: apt-get install -y$missing"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing; }
fi
for f in "$DAEMON" "$CLI"; do [ -x "$f" ] || { say "$f missing: run make all first"; exit 1; }; done
mkdir -p "$OUT"
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/loadgen" "$ROOT/bench/dispatch/loadgen.c" -lcurl -pthread
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/forkexec" "$ROOT/bench/dispatch/forkexec.c"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/helmdeck-bench-code.XXXXXX")
PID=""
cleanup() {
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

# a small repository: 40 files, 3 commits
R=$TMP/repos
git init -q --bare -b main "$R/demo.git"
git clone -q "$R/demo.git" "$R/seed" 2>/dev/null
for c in 1 2 3; do
	for i in $(seq 1 40); do head -c 1024 /dev/urandom | base64 >"$R/seed/f$i.txt"; done
	git -C "$R/seed" add -A
	git -C "$R/seed" -c user.name=b -c user.email=b@b commit -qm "commit $c"
done
git -C "$R/seed" push -q origin main
[ "$(id -u)" -eq 0 ] && chown -R 61004:61004 "$R/demo.git"

PORT=$((20000 + RANDOM % 40000))
ADDR=127.0.0.1:$PORT
export HELMDECK_STATE_DIR=$TMP/var
HELMDECK_ADDR=$ADDR HELMDECK_POLICY_DIR=$ROOT/policy HELMDECK_REPO_ROOTS=$R "$DAEMON" 2>"$TMP/daemon.log" &
PID=$!
for _ in $(seq 100); do "$OUT/loadgen" -n 1 -e '"status":"ok"' "http://$ADDR/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=""
for _ in $(seq 50); do TOKEN=$("$CLI" token mint --sub bench --scopes admin --ttl 1h 2>/dev/null) && break; sleep 0.1; done
[ -n "$TOKEN" ] || { say "daemon did not start"; cat "$TMP/daemon.log" >&2; exit 1; }
call() { curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2" "http://$ADDR/api/v1/packs/$1"; }
for _ in $(seq 50); do
	WS=$(call repo.fetch "{\"url\":\"$R/demo.git\"}" | jq -r '.output.clone_path // empty') && [ -n "$WS" ] && break
	sleep 0.1
done
[ -n "${WS:-}" ] || { say "repo.fetch failed"; exit 1; }
say "daemon $PID on $ADDR, workspace $WS"

row() { # row LABEL COMMAND...: one measured line
	local label=$1 line rc=0
	shift
	line=$("$@") || rc=$?
	echo "$line" | sed "s/^label=[^ ]*/label=$label/" >>"$RESULTS"
	echo "    $line" >&2
	[ "$rc" -eq 0 ] || FAILED="$FAILED $label"
}
pack_load() { # pack_load LABEL CONC PACK BODY EXPECT
	printf '%s' "$4" >"$TMP/body.json"
	row "$1" "$OUT/loadgen" -t "$RUN_SECS" -c "$2" -n "$N" -D "$TMP/body.json" -e "$5" \
		-H "Authorization: Bearer $TOKEN" "http://$ADDR/api/v1/packs/$3"
}
BW=(/usr/bin/bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin
	--symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp
	--bind "$R/seed" /workspace --chdir /workspace /usr/bin/true)

say "warm-up"
"$OUT/loadgen" -c 2 -n 20 -H "Authorization: Bearer $TOKEN" -d "{\"clone_path\":\"$WS\",\"command\":[\"true\"]}" \
	"http://$ADDR/api/v1/packs/cmd.run" >/dev/null || FAILED="$FAILED warm-up"
for c in 1 4; do
	pack_load "fs.read_1KiB" "$c" fs.read "{\"clone_path\":\"$WS\",\"path\":\"f1.txt\"}" '"sha256"'
	pack_load "cmd.run_true" "$c" cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"true\"]}" '"exit_code":0'
	row "bwrap_true(peer)" "$OUT/forkexec" -c "$c" -n "$N" "${BW[@]}"
	row "fork+exec_true" "$OUT/forkexec" -c "$c" -n "$N" /bin/true
done
pack_load "git.log_5" 1 git.log "{\"clone_path\":\"$WS\",\"limit\":5}" '"commits"'
row "git_log_5(host)" "$OUT/forkexec" -c 1 -n "$N" /usr/bin/git -C "$R/seed" log -5 --output=/dev/null --format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s

echo
echo "bench/code  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(uname -n) $(uname -r), $(nproc) CPUs, uid $(id -u)"
awk '
function v(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "?" }
BEGIN {
	printf "| %-18s | %4s | %5s | %4s | %8s | %7s | %7s | %7s |\n", "what", "conc", "n", "fail", "calls/s", "p50 ms", "p90 ms", "p99 ms"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------", "-----:", "------:", "-----:", "---------:", "--------:", "--------:", "--------:"
}
{ printf "| %-18s | %4s | %5s | %4s | %8s | %7s | %7s | %7s |\n", v("label"), v("conc"), v("n"), v("fail"), v("rps"), v("p50"), v("p90"), v("p99") }' "$RESULTS"
left=$(ps -u 61004 -o pid=,ppid= 2>/dev/null | awk -v s="$PID" '$2 != s' | wc -l)
echo "processes under the worker uid not owned by the daemon after the run: $left"
if [ -n "$FAILED" ] || [ "$left" -ne 0 ]; then
	echo "bench/code: INVALID RUN:$FAILED"
	exit 1
fi
echo "bench/code: every call answered 200 with the expected output; run valid"
