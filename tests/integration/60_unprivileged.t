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
# a local remote nobody can read, for the exec sandbox
mkdir "$HD_TMP_KEEP/repos"
if command -v git >/dev/null; then
	git -c init.defaultBranch=main init -q --bare "$HD_TMP_KEEP/repos/r.git"
	git -c init.defaultBranch=main clone -q "$HD_TMP_KEEP/repos/r.git" "$HD_TMP_KEEP/repos/seed" 2>/dev/null
	(cd "$HD_TMP_KEEP/repos/seed" && echo hi >f && git add f && git -c user.name=s -c user.email=s@t commit -qm s &&
		git push -q origin main)
	chown -R 65534:65534 "$HD_TMP_KEEP/repos"
fi
HD_RUNAS=$nb
hd_start HELMDECK_REPO_ROOTS="$HD_TMP_KEEP/repos"
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
if command -v git >/dev/null; then
	out=$(pack repo.fetch "{\"url\":\"$HD_TMP_KEEP/repos/r.git\"}")
	is "$(status)" 200 "repo.fetch builds its exec sandbox unprivileged"
	WS=$(printf '%s' "$out" | jq -r .output.clone_path)
	out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"cat f; cat /etc/passwd | head -1\"]}")
	is "$(printf '%s' "$out" | jq -r .output.stdout | head -1)" hi "cmd.run sees the workspace unprivileged"
	like "$(printf '%s' "$out" | jq -r .output.stdout)" 'root:x:0:0:root:/nonexistent' "inside the synthetic root"
	is "$(pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"f\"}" | jq -r .output.content)" hi "fs.read works unprivileged"
	diag "exec sandbox missing layers unprivileged: $(api GET /api/v1/security | jq -r '.exec_sandbox.last_run_missing | join(",")')"
else
	skip "git is not installed"; skip "git is not installed"; skip "git is not installed"; skip "git is not installed"
fi
done_testing
