#!/bin/bash
# Started as an unprivileged user, the daemon builds its confinement inside
# user namespaces and says honestly which layers it lacks (uid separation,
# cgroups).
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root to switch to nobody for the test"; exit 0; fi
if ! command -v setpriv >/dev/null; then echo "1..0 # SKIP setpriv not installed"; exit 0; fi
if ! setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user true 2>/dev/null; then
	echo "1..0 # SKIP unprivileged user namespaces are disabled on this kernel"; exit 0
fi
nb="setpriv --reuid=65534 --regid=65534 --clear-groups"
HD_TMP_KEEP=$(mktemp -d /tmp/helmdeck-test.XXXXXX); chmod 755 "$HD_TMP_KEEP"
mkdir "$HD_TMP_KEEP/var" && chown 65534:65534 "$HD_TMP_KEEP/var"
# the build tree may sit below a directory nobody cannot enter: run copies
mkdir "$HD_TMP_KEEP/bin" && cp "$BIN/helmdeckd" "$BIN/helmdeck" "$HD_TMP_KEEP/bin/" &&
	cp -r "$HELMDECK_POLICY_DIR" "$HD_TMP_KEEP/policy"
chmod -R a+rX "$HD_TMP_KEEP/bin" "$HD_TMP_KEEP/policy"
BIN=$HD_TMP_KEEP/bin
export HELMDECK_POLICY_DIR=$HD_TMP_KEEP/policy
HD_RUNAS=$nb
hd_start
rep=$(api GET /api/v1/security)
is "$(status)" 200 "the unprivileged daemon serves /api/v1/security"
is "$(printf '%s' "$rep" | jq -r .uid_separation)" false "it reports no uid separation"
is "$(printf '%s' "$rep" | jq -r .cgroups)" none "and no cgroups"
for role in api store vault; do
	p=$(printf '%s' "$rep" | jq -c ".processes[] | select(.role==\"$role\")")
	pid=$(printf '%s' "$p" | jq -r .pid)
	is "$(awk '/^Uid:/{print $2}' /proc/$pid/status)" 65534 "$role runs as nobody"
	is "$(printf '%s' "$p" | jq -r '[.namespaces[]] | all')" true "$role has its own user, mnt, pid, net, ipc, uts namespaces"
	is "$(awk '/^CapBnd:/{print $2}' /proc/$pid/status)" 0000000000000000 "$role dropped its bounding set"
	is "$(awk '/^Seccomp:/{print $2}' /proc/$pid/status)" 2 "$role is under a seccomp filter"
	is "$(printf '%s' "$p" | jq -r .chroot)" true "$role is in its own root"
done
if [ "$(printf '%s' "$rep" | jq -r .landlock_abi)" -ge 1 ]; then
	is "$(pack test.syscall '{"call":"escape_dotdot"}' | jq -r .output.errno)" 13 "a worker still cannot climb out of the artifact directory"
else
	skip "the kernel has no Landlock"
fi
is "$(pack test.syscall '{"call":"socket"}' | jq -r .error)" sandbox_violation "forbidden calls still kill the worker"
is "$(pack artifact.put '{"name":"n","content":"x"}' | jq -r '.output.size')" 1 "packs work unprivileged"
done_testing
