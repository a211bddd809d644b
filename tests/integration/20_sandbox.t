#!/bin/bash
# The worker sandbox, attacked from inside by the test packs: allowed calls
# work, forbidden calls kill the worker with the syscall named, a worker
# speaking garbage is killed, timeouts kill, and the supervisor carries on.
. "$(dirname "$0")/lib.sh"
hd_start HELMDECK_WORKER_POOL=2

sup_alive() { kill -0 "$HD_PID" 2>/dev/null && [ "$(curl -s "$HD_URL/healthz")" = '{"status":"ok"}' ]; }

out=$(pack test.syscall '{"call":"getpid"}')
is "$(printf '%s' "$out" | jq -r .output.result)" 1 "getpid works and the worker is pid 1 of its own namespace"
is "$(pack test.syscall '{"call":"openat"}' | jq -r '.output.result >= 0')" true "openat below the artifact directory works"
out=$(pack test.syscall '{"call":"open_etc_passwd"}')
is "$(printf '%s' "$out" | jq -r '.output.result,.output.errno' | tr '\n' ' ')" "-1 2 " "/etc/passwd does not exist in the worker's root"

if [ "$(api GET /api/v1/security | jq -r .landlock_abi)" -ge 1 ]; then
	out=$(pack test.syscall '{"call":"escape_dotdot"}')
	is "$(printf '%s' "$out" | jq -r '.output.result,.output.errno' | tr '\n' ' ')" "-1 13 " \
		"climbing out of the artifact directory with .. is refused (Landlock, EACCES)"
else
	skip "the kernel has no Landlock: the .. escape from the artifact descriptor is not closed here (reported as a missing layer)"
fi

for c in socket ptrace mount execve fork; do
	out=$(pack test.syscall "{\"call\":\"$c\"}")
	is "$(status) $(printf '%s' "$out" | jq -r .error)" "502 sandbox_violation" "$c kills the worker: sandbox_violation"
	like "$(printf '%s' "$out" | jq -r .message)" ": $c\$" "the message names $c"
done
sleep 0.3
ev=$(api GET "/api/v1/audit?event_type=pack_call&limit=1000")
like "$(printf '%s' "$ev" | jq -r '[.events[] | select(.error_code=="sandbox_violation") | .payload.detail] | join(" ")')" \
	'syscall=ptrace nr=101' "the audit log names the forbidden syscall"
sup_alive; ok $? "supervisor alive after five violations"

for m in garbage oversize unknown_type; do
	out=$(pack test.rogue_ipc "{\"mode\":\"$m\"}")
	is "$(printf '%s' "$out" | jq -r .error)" internal "a worker sending $m on its channel is killed"
done
sleep 0.3
like "$(api GET '/api/v1/audit?event_type=ipc_violation&limit=10' | jq -r '[.events[].payload.reason] | join(" | ")')" \
	'exceeds 16777216' "ipc violations are audited with the reason"
sup_alive; ok $? "supervisor alive after protocol violations"

t0=$(date +%s%N)
out=$(pack test.sleep '{"ms":20000}')
t1=$(date +%s%N)
is "$(status) $(printf '%s' "$out" | jq -r .error)" "504 timeout" "a pack past its timeout -> 504 timeout"
[ $(( (t1 - t0) / 1000000 )) -lt 5000 ]; ok $? "the timeout fired at the pack's 1 s limit, not after 20 s"
out=$(pack test.crash '{}')
is "$(printf '%s' "$out" | jq -r .error)" handler_failed "a crashing handler -> handler_failed"
out=$(pack test.bad_output '{}')
is "$(status) $(printf '%s' "$out" | jq -r .error)" "502 invalid_output" "output breaking its schema -> invalid_output"
out=$(pack test.output '{"bytes":9000000}')
is "$(printf '%s' "$out" | jq -r .error)" resource_exhausted "output above the cap -> resource_exhausted"

# every invocation's process is gone; only the pool remains
sleep 0.5
n=0
for pid in $(hd_children); do
	grep -q '^Uid:.*61004' /proc/$pid/status 2>/dev/null && n=$((n + 1))
done
want=$(api GET /api/v1/security | jq '[.processes[] | select(.role=="worker" and .running)] | length')
is "$n" "$want" "only the $want pooled workers are left after $(printf '%s' "$ev" | jq '.events|length') invocations"
pids_before=$(hd_children)
is "$(pack test.sleep/v1 '{"ms":50}' | jq -r .output.slept_ms)" 50 "the pool refilled and serves again"
sup_alive; ok $? "supervisor alive at the end"
done_testing
