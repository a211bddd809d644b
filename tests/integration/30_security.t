#!/bin/bash
# GET /api/v1/security tells the truth about every live process: compare it
# with /proc/<pid>/status and /proc/<pid>/ns read here, independently.
. "$(dirname "$0")/lib.sh"
hd_start

rep=$(api GET /api/v1/security)
is "$(status)" 200 "GET /api/v1/security"
is "$(printf '%s' "$rep" | jq -r '[.processes[].role] | sort | unique | join(",")')" "api,egress,store,vault,worker" "every role is reported"
uids=""
for role in api store vault; do
	p=$(printf '%s' "$rep" | jq -c ".processes[] | select(.role==\"$role\")")
	pid=$(printf '%s' "$p" | jq -r .pid)
	st=/proc/$pid/status
	[ -r "$st" ]; ok $? "$role pid $pid is live"
	is "$(printf '%s' "$p" | jq -r .uid)" "$(awk '/^Uid:/{print $2}' $st)" "$role uid matches /proc"
	is "$(printf '%s' "$p" | jq -r .no_new_privs)" "$([ "$(awk '/^NoNewPrivs:/{print $2}' $st)" = 1 ] && echo true || echo false)" "$role no_new_privs matches /proc"
	is "$(printf '%s' "$p" | jq -r .seccomp)" "$([ "$(awk '/^Seccomp:/{print $2}' $st)" = 2 ] && echo filter || echo other)" "$role seccomp matches /proc"
	is "$(printf '%s' "$p" | jq -r .capabilities.effective)" "$(awk '/^CapEff:/{print $2}' $st)" "$role CapEff matches /proc"
	is "$(printf '%s' "$p" | jq -r .capabilities.bounding)" "$(awk '/^CapBnd:/{print $2}' $st)" "$role CapBnd matches /proc"
	for ns in mnt pid net ipc uts; do
		own=$([ "$(readlink /proc/$pid/ns/$ns)" != "$(readlink /proc/$HD_PID/ns/$ns)" ] && echo true || echo false)
		is "$(printf '%s' "$p" | jq -r .namespaces.$ns)" "$own" "$role $ns namespace matches /proc"
	done
	if [ "$(id -u)" = 0 ]; then
		is "$(awk '/^CapEff:/{print $2}' $st)$(awk '/^CapBnd:/{print $2}' $st)" "00000000000000000000000000000000" "$role holds no capabilities, bounding set empty"
		want_missing=$([ "$(printf '%s' "$rep" | jq -r .landlock_abi)" -ge 1 ] && echo '[]' || echo '["landlock"]')
		is "$(printf '%s' "$p" | jq -c '.missing')" "$want_missing" "$role reports no missing layer (but Landlock, if the kernel lacks it)"
		is "$(printf '%s' "$p" | jq -r .chroot)" true "$role runs in its own root"
		uids="$uids $(awk '/^Uid:/{print $2}' $st)"
	fi
done
if [ "$(id -u)" = 0 ]; then
	is "$(echo $uids | tr ' ' '\n' | sort -u | wc -l)" 3 "api, store and vault run as three different uids"
	echo $uids | tr ' ' '\n' | grep -qx 0
	[ $? -ne 0 ]; ok $? "none of them is root"
	is "$(printf '%s' "$rep" | jq -r .uid_separation)" true "uid separation reported on"
else
	skip "uid separation needs root (running as $(id -u))"
fi
is "$(printf '%s' "$rep" | jq -r .seccomp_default_action)" kill "seccomp default action is kill in this build"
w=$(printf '%s' "$rep" | jq -c '[.processes[] | select(.role=="worker")][0]')
wpid=$(printf '%s' "$w" | jq -r .pid)
is "$(printf '%s' "$w" | jq -r .no_new_privs)" true "an idle worker already has no_new_privs"
is "$(awk '/^CapEff:/{print $2}' /proc/$wpid/status)" 0000000000000000 "and no capabilities"
is "$(printf '%s' "$w" | jq -r .seccomp)" filter "an idle worker is already under its class's seccomp filter"
is "$(awk '/^Seccomp:/{print $2}' /proc/$wpid/status)" 2 "and /proc agrees"
is "$(printf '%s' "$rep" | jq -r '[.processes[] | select(.role=="worker" and .running) | .class] | sort | unique | join(",")')" "artifact,browser,fs,net,test" \
	"one pre-forked pool per pack class"
is "$(printf '%s' "$rep" | jq -r '[.processes[] | select(.class=="exec") | .running] | unique | join(",")')" false \
	"exec slots idle: an exec sandbox is built per run, around its workspace"
api_pid=$(printf '%s' "$rep" | jq -r '.processes[] | select(.role=="api") | .pid')
[ "$(readlink /proc/$api_pid/ns/net)" != "$(readlink /proc/self/ns/net)" ]; ok $? "the api has its own network namespace (no outbound route)"
done_testing
