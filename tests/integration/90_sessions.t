#!/bin/bash
# Browser sessions on the host's chromium: create, list, get, logs,
# terminate, the watchdog, ownership, 50 sessions in a loop leaving nothing
# behind, and no chromium surviving a SIGKILLed supervisor.
. "$(dirname "$0")/lib.sh"
[ -x /usr/lib/chromium/chromium ] || { echo "1..0 # SKIP chromium is not installed (scripts/deps.sh installs it)"; exit 0; }
hd_start HELMDECK_BROWSER_POOL=1
browser_usable_or_skip
jqr() { printf '%s' "$1" | jq -r "$2"; }
BUID=$(( ${HELMDECK_UID_BASE:-61000} + 5 ))
# every chromium of this daemon is below its pid (the supervisor's descendants)
ours() { ps -eo pid=,args= | awk '/[c]hromium --headless/ {print $1}' | while read -r p; do
	q=$p; while [ "$q" -gt 1 ]; do [ "$q" = "$HD_PID" ] && { echo "$p"; break; }; q=$(awk '{print $4}' /proc/$q/stat 2>/dev/null || echo 1); done; done | sort -n | tr '\n' ' '; }
warm_ready() { for i in $(seq 1 100); do [ "$(api GET /api/v1/security | jq -r .browser_sessions.warm)" -ge 1 ] && return 0; sleep 0.1; done; return 1; }

rep=$(api GET /api/v1/security)
is "$(jqr "$rep" .browser_sessions.available)" true "the security report sees chromium"
like "$(jqr "$rep" .browser_sessions.cdp)" 'no TCP port' "CDP goes over a pipe, never a TCP port"
warm_ready; ok $? "a warm browser is waiting"
t0=$(date +%s%N)
out=$(api POST /api/v1/sessions '{"label":"first","timeout_seconds":120,"max_tasks":3,"memory_limit":"1g"}')
t1=$(date +%s%N)
is "$(status)" 201 "POST /api/v1/sessions creates a session"
SID=$(jqr "$out" .id)
like "$SID" '^sess-[0-9a-f]{30}$' "with an id"
diag "create took $(( (t1 - t0) / 1000000 )) ms from the warm pool"
is "$(jqr "$out" '.label,.max_tasks,.timeout_seconds,.chromium_sandbox' | tr '\n' ' ')" "first 3 120 true " "the session echoes its spec; chromium's own sandbox is on"
PID=$(jqr "$out" .pid)
is "$(awk '/^Uid:/{print $2}' /proc/$PID/status)" "$BUID" "chromium runs as the session uid"
[ "$(readlink /proc/$PID/ns/net)" != "$(readlink /proc/self/ns/net)" ]; ok $? "in its own network namespace"
[ "$(readlink /proc/$PID/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]; ok $? "and its own pid namespace"
! ss -Htlnp 2>/dev/null | grep -q "pid=$PID,"; ok $? "with no listening TCP socket"
! grep -q -- '--no-sandbox' /proc/$PID/cmdline; ok $? "and without --no-sandbox"
is "$(api GET /api/v1/sessions | jq -r '[.sessions[].id] | join(",")')" "$SID" "GET /api/v1/sessions lists it"
is "$(api GET /api/v1/sessions/$SID | jq -r .id)" "$SID" "GET /api/v1/sessions/{id}"
api GET /api/v1/sessions/$SID/logs >/dev/null
is "$(status)" 200 "GET /api/v1/sessions/{id}/logs"
OTHER=$($HD_RUNAS "$BIN/helmdeck" token mint --sub someone-else --scopes admin --ttl 1h)
TOKEN_OVERRIDE=$OTHER api GET /api/v1/sessions/$SID >/dev/null
is "$(status)" 404 "another subject does not see it"
is "$(TOKEN_OVERRIDE=$OTHER api GET /api/v1/sessions | jq -r '.sessions | length')" 0 "nor list it"
TOKEN_OVERRIDE=$OTHER api DELETE /api/v1/sessions/$SID >/dev/null
is "$(status)" 404 "nor terminate it"
api POST /api/v1/sessions '{"image":"x"}' >/dev/null
is "$(status)" 400 "an unknown field (image) is refused"
api POST /api/v1/sessions '{"memory_limit":"12q"}' >/dev/null
is "$(status)" 400 "a malformed memory_limit is refused"
api DELETE /api/v1/sessions/$SID >/dev/null
is "$(status)" 200 "DELETE terminates it"
left=$(survivors "$PID")
is "$left" "" "its chromium is gone"
api GET /api/v1/sessions/$SID >/dev/null
is "$(status)" 404 "and the session is gone"

out=$(api POST /api/v1/sessions '{"timeout_seconds":1}')
P2=$(jqr "$out" .pid)
sleep 2.5
is "$(survivors "$P2")" "" "the watchdog ends a session past its timeout"
is "$(api GET "/api/v1/audit?event_type=session_terminated&limit=10" | jq -r '[.events[].payload.reason] | index("timeout") != null')" true "and audits why"

# 50 sessions, created and terminated one after another
N=${HD_SESSION_LOOP:-50}
warm_ready
sleep 1
# resident memory of the daemon's whole process tree, browsers included
tree_rss() { local sum=0 p q; for p in $(ps -eo pid=); do q=$p
	while [ "$q" -gt 1 ]; do [ "$q" = "$HD_PID" ] && { sum=$((sum + $(awk '/^VmRSS:/{print $2}' /proc/$p/status 2>/dev/null || echo 0))); break; }
	q=$(awk '{print $4}' /proc/$q/stat 2>/dev/null || echo 1); done; done; echo "$sum"; }
base=$(ours | wc -w)
rss0=$(tree_rss)
fail=0
t0=$(date +%s)
for i in $(seq 1 "$N"); do
	id=$(api POST /api/v1/sessions '{}' | jq -r .id)
	[ "$(status)" = 201 ] || fail=$((fail + 1))
	api DELETE "/api/v1/sessions/$id" >/dev/null
	[ "$(status)" = 200 ] || fail=$((fail + 1))
done
t1=$(date +%s)
is "$fail" 0 "$N sessions created and terminated"
diag "$N create/terminate cycles in $((t1 - t0)) s"
warm_ready
sleep 1
is "$(ours | wc -w)" "$base" "afterwards only the warm browser is left ($base chromium)"
rss1=$(tree_rss)
diag "resident memory of the daemon's tree: ${rss0} kB before, ${rss1} kB after $N sessions"
[ "$rss1" -le $((rss0 * 13 / 10)) ]; ok $? "memory is back to its baseline (within 30%)"
cg=$(ls -d /sys/fs/cgroup/*/helmdeck-"$HD_PID"/browser-* 2>/dev/null | wc -l)
[ "$cg" -le 3 ]; ok $? "and no session cgroup is left behind ($cg for the warm one)"
is "$(ls "$HELMDECK_STATE_DIR/sessions" | wc -l)" 1 "and no profile directory but the warm one's"

# kill -9 of the supervisor takes every browser with it
api POST /api/v1/sessions '{}' >/dev/null
pids=$(ours)
[ -n "$pids" ]; ok $? "browsers are running ($pids)"
kill -9 "$HD_PID"
wait "$HD_PID" 2>/dev/null
HD_PID=""
# shellcheck disable=SC2086
is "$(survivors $pids)" "" "no chromium outlives a SIGKILLed supervisor"
done_testing
