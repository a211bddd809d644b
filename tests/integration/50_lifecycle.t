#!/bin/bash
# Crashes, restarts and shutdown: a killed role comes back and is audited;
# SIGTERM and SIGKILL of the supervisor leave no process behind.
. "$(dirname "$0")/lib.sh"
hd_start

role_pid() { api GET /api/v1/security | jq -r ".processes[] | select(.role==\"$1\") | .pid"; }
api0=$(role_pid api)
kill -9 "$api0"
for i in $(seq 1 50); do
	p=$(curl -s -m 1 -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/security" 2>/dev/null | jq -r '.processes[]? | select(.role=="api") | .pid' 2>/dev/null)
	[ -n "$p" ] && [ "$p" != "$api0" ] && break
	sleep 0.1
done
[ -n "$p" ] && [ "$p" != "$api0" ]; ok $? "a SIGKILLed api is restarted (pid $api0 -> $p)"
kill -0 "$HD_PID"; ok $? "the supervisor survived"
sleep 0.3
like "$(api GET '/api/v1/audit?event_type=role_crash&limit=5' | jq -r '[.events[].payload.role] | join(",")')" api "the crash is in the audit log"
store0=$(role_pid store)
kill -9 "$store0"; sleep 1.2
pack artifact.put '{"name":"after-crash","content":"still here"}' >/dev/null
is "$(status)" 200 "packs still run after the store crashed"
sleep 0.5
like "$(api GET '/api/v1/audit?limit=20' | jq -r '[.events[].path] | join(" ")')" "artifact.put" "audit records made around the store's restart are not lost"
"$BIN/helmdeck" audit verify >/dev/null; ok $? "the chain verifies after the store restarted"

# SIGTERM: everything goes, cleanly
kids=$(hd_children)
grandkids=""
for k in $kids; do grandkids="$grandkids $(pgrep -P "$k" | tr '\n' ' ')"; done
kill -TERM "$HD_PID"
for i in $(seq 1 100); do kill -0 "$HD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$HD_PID" 2>/dev/null
[ $? -ne 0 ]; ok $? "SIGTERM stops the supervisor"
wait "$HD_PID"; rc=$?
is "$rc" 0 "and it exits 0"
is "$(survivors $kids $grandkids)" "" "no child of the daemon is left after SIGTERM"
grep -q "stopped" "$HD_TMP/daemon.log"; ok $? "the log says stopped"
[ ! -e "$HELMDECK_STATE_DIR/control.sock" ]; ok $? "the control socket is removed"
HD_PID=""

# SIGKILL of the supervisor: the children die with it
keep=$HD_TMP; T_FAIL_SAVE=$T_FAIL
hd_start
kids=$(hd_children)
kill -9 "$HD_PID"; wait "$HD_PID" 2>/dev/null
is "$(survivors $kids)" "" "no child survives a SIGKILLed supervisor"
HD_PID=""
rm -rf "$keep"
done_testing
