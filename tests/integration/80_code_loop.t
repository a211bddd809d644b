#!/bin/bash
# The code-edit loop against a local bare repository, as an agent drives it:
# fetch -> list -> read -> patch -> run the tests -> diff -> commit -> push
# -> a second clone sees the commit. Then every error code the loop can
# produce, and the escapes an agent (or a hostile repository) would try.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "1..0 # SKIP git is not installed"; exit 0; }

REPOS=$(mktemp -d /tmp/helmdeck-repos.XXXXXX)
trap 'hd_stop; rm -rf "$REPOS"' EXIT
WUID=$(( ${HELMDECK_UID_BASE:-61000} + 4 ))
# the remote belongs to the worker uid: the test's own git must accept it
printf '[safe]\n\tdirectory = *\n' >"$REPOS/gitconfig"
export GIT_CONFIG_GLOBAL=$REPOS/gitconfig
g() { git -c user.name=seed -c user.email=seed@test -c init.defaultBranch=main "$@"; }
# the worker pushes as its own uid: the remote must be writable by it
own_remote() { [ "$(id -u)" = 0 ] && chown -R "$WUID:$WUID" "$REPOS/origin.git"; return 0; }

g init -q --bare "$REPOS/origin.git"
g clone -q "$REPOS/origin.git" "$REPOS/seed" 2>/dev/null
cat >"$REPOS/seed/README.md" <<'EOF'
# demo
hello from the seed
EOF
printf 'test:\n\tsh test.sh\n' >"$REPOS/seed/Makefile"
printf '#!/bin/sh\ngrep -q "hello, patched" README.md && echo "tests passed" || { echo "tests failed" >&2; exit 1; }\n' \
	>"$REPOS/seed/test.sh"
printf 'int main(void) { return 0; }\n' >"$REPOS/seed/main.c"
(cd "$REPOS/seed" && g add -A && g commit -qm "seed" && g push -q origin main) || { echo "Bail out! seed repo"; exit 1; }
mkdir "$REPOS/notrepo"
own_remote

hd_start HELMDECK_REPO_ROOTS="$REPOS" HELMDECK_WORKSPACE_MAX_BYTES=4m
jqr() { printf '%s' "$1" | jq -r "$2"; }

# ---- the loop ----
out=$(pack repo.fetch "{\"url\":\"file://$REPOS/origin.git\"}")
is "$(status)" 200 "repo.fetch of a local bare repository"
WS=$(jqr "$out" .output.clone_path)
like "$WS" '^ws-[0-9a-f]{24}$' "repo.fetch returns a workspace handle"
like "$(jqr "$out" .output.commit)" '^[0-9a-f]{40}$' "the envelope names the commit"
is "$(jqr "$out" .output.readme.path)" README.md "the envelope carries the README"
is "$(jqr "$out" '.output.entrypoints | index("Makefile") != null')" true "Makefile is an entrypoint"
is "$(jqr "$out" .output.signals.test_command)" "make test" "the test command is guessed from the Makefile"
is "$(jqr "$out" '.output.tree | sort | join(",")')" "Makefile,README.md,main.c,test.sh" "the tree lists the tracked files"
SEED=$(git -C "$REPOS/seed" rev-parse HEAD)
is "$(jqr "$out" .output.commit)" "$SEED" "the commit is the remote's head"

out=$(pack fs.list "{\"clone_path\":\"$WS\"}")
is "$(jqr "$out" '[.output.entries[].path] | index("README.md") != null')" true "fs.list shows README.md"
out=$(pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"README.md\"}")
is "$(jqr "$out" .output.content)" "$(cat "$REPOS/seed/README.md")" "fs.read returns the file"
is "$(jqr "$out" .output.sha256)" "$(sha256sum "$REPOS/seed/README.md" | cut -d' ' -f1)" "fs.read's sha256 is the file's"
out=$(pack fs.patch "{\"clone_path\":\"$WS\",\"path\":\"README.md\",\"search\":\"hello from\",\"replace\":\"hello, patched, from\"}")
is "$(status) $(jqr "$out" .output.replacements)" "200 1" "fs.patch replaces the one occurrence"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"make\",\"test\"]}")
if [ "$(status)" = 200 ] && command -v make >/dev/null; then
	is "$(jqr "$out" .output.exit_code)" 0 "cmd.run make test passes after the patch"
	like "$(jqr "$out" .output.stdout)" "tests passed" "the test output comes back"
else
	out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"test.sh\"]}")
	is "$(jqr "$out" .output.exit_code)" 0 "cmd.run sh test.sh passes after the patch"
	like "$(jqr "$out" .output.stdout)" "tests passed" "the test output comes back"
fi
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]}")
is "$(status) $(jqr "$out" '[.output.exit_code,.output.stdout,.output.stderr] | @json')" '200 [3,"out\n","err\n"]' \
	"a non-zero exit is a result with stdout and stderr apart"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"printf \$X\"],\"env\":{\"X\":\"from-env\"},\"stdin\":\"\"}")
is "$(jqr "$out" .output.stdout)" from-env "cmd.run passes env"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"cat\"],\"stdin\":\"piped in\"}")
is "$(jqr "$out" .output.stdout)" "piped in" "cmd.run passes stdin"
out=$(pack git.diff "{\"clone_path\":\"$WS\"}")
like "$(jqr "$out" .output.diff)" '^\+hello, patched, from the seed' "git.diff shows the patch"
out=$(pack git.commit "{\"clone_path\":\"$WS\",\"message\":\"patch the greeting\"}")
is "$(status)" 200 "git.commit"
COMMIT=$(jqr "$out" .output.commit)
like "$COMMIT" '^[0-9a-f]{40}$' "git.commit returns the new commit"
out=$(pack git.log "{\"clone_path\":\"$WS\",\"limit\":5}")
is "$(jqr "$out" '[.output.commits[].subject] | join(",")')" "patch the greeting,seed" "git.log lists both commits"
is "$(jqr "$out" '.output.commits[0].author')" helmdeck-agent "the commit's author is the configured agent identity"
out=$(pack repo.push "{\"clone_path\":\"$WS\"}")
is "$(status) $(jqr "$out" .output.commit)" "200 $COMMIT" "repo.push sends the commit back"
g clone -q "$REPOS/origin.git" "$REPOS/second" 2>/dev/null
is "$(git -C "$REPOS/second" rev-parse HEAD)" "$COMMIT" "a second clone sees the pushed commit"
is "$(git -C "$REPOS/second" log -1 --format=%s)" "patch the greeting" "with its message"

# ---- every error code the loop can produce ----
out=$(pack git.commit "{\"clone_path\":\"$WS\",\"message\":\"again\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "nothing to commit -> invalid_input"
out=$(pack fs.patch "{\"clone_path\":\"$WS\",\"path\":\"README.md\",\"search\":\"not there\",\"replace\":\"x\"}")
is "$(status) $(jqr "$out" .error)" "422 schema_mismatch" "patch text absent -> schema_mismatch"
like "$(jqr "$out" .message)" '0 times' "the message says how many were found"
# the remote moves on behind the agent's back -> non-fast-forward
(cd "$REPOS/second" && echo other >other.txt && g add other.txt && g commit -qm other && g push -q origin main)
own_remote
pack fs.write "{\"clone_path\":\"$WS\",\"path\":\"mine.txt\",\"content\":\"mine\\n\"}" >/dev/null
pack git.commit "{\"clone_path\":\"$WS\",\"message\":\"mine\"}" >/dev/null
out=$(pack repo.push "{\"clone_path\":\"$WS\"}")
is "$(status) $(jqr "$out" .error)" "422 schema_mismatch" "a non-fast-forward push -> schema_mismatch"
like "$(jqr "$out" .detail)" 'fetch first|non-fast-forward|rejected' "with git's reason as detail"
# a remote the worker uid may read but not write: git itself fails
g init -q --bare "$REPOS/readonly.git"
[ "$(id -u)" = 0 ] && chown -R 0:0 "$REPOS/readonly.git" && chmod -R go-w "$REPOS/readonly.git"
if [ "$(id -u)" = 0 ]; then
	out=$(pack repo.push "{\"clone_path\":\"$WS\",\"remote\":\"file://$REPOS/readonly.git\",\"branch\":\"main\"}")
	is "$(status) $(jqr "$out" .error)" "502 handler_failed" "a push git cannot complete (remote not writable) -> handler_failed"
	like "$(jqr "$out" .detail)" 'rejected|ermission|unable' "with git's report as detail"
else
	skip "needs root: a remote the worker uid cannot write"; skip "needs root"
fi
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sleep\",\"30\"],\"timeout_s\":1}")
is "$(status) $(jqr "$out" .error)" "504 timeout" "a command past timeout_s -> timeout"
# 5 MB does not fit in one argument: the body goes through a file
{ printf '{"clone_path":"%s","path":"big.bin","content":"' "$WS"; head -c 5000000 /dev/zero | tr '\0' a; printf '"}'; } >"$HD_TMP/big.json"
code=$(curl -s -o "$HD_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data-binary @"$HD_TMP/big.json" "$HD_URL/api/v1/packs/fs.write")
is "$code $(jq -r .error "$HD_TMP/body")" "429 resource_exhausted" "writing past the workspace cap -> resource_exhausted"
out=$(pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"big.bin\"}")
is "$(jqr "$out" .error)" invalid_input "and nothing was written"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"head -c 2000000 /dev/zero >a; head -c 2000000 /dev/zero >b; head -c 2000000 /dev/zero >c\"]}")
is "$(status) $(jqr "$out" .error)" "429 resource_exhausted" "a command filling the workspace past its cap -> resource_exhausted"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"rm\",\"-f\",\"a\",\"b\",\"c\"]}")
is "$(status) $(jqr "$out" .output.exit_code)" "200 0" "the agent can clean up and go on"
out=$(pack repo.fetch "{\"url\":\"file://$REPOS/notrepo\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "fetching a directory that is not a repository -> invalid_input"
out=$(pack repo.fetch '{"url":"file:///etc"}')
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "a local remote outside HELMDECK_REPO_ROOTS -> invalid_input"
like "$(jqr "$out" .message)" HELMDECK_REPO_ROOTS "the message says why"
out=$(pack repo.fetch "{\"url\":\"file://$REPOS/../../etc\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "a remote path with .. is refused"
out=$(pack repo.fetch '{"url":"http://example.com/x.git"}')
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "a plain http remote is refused (https only)"
# removed once the worker that tried is gone
for i in $(seq 1 30); do [ "$(ls "$HELMDECK_STATE_DIR/workspaces" | grep -c '^ws-[0-9a-f]*$')" = 1 ] && break; sleep 0.1; done
is "$(ls "$HELMDECK_STATE_DIR/workspaces" | grep -c '^ws-[0-9a-f]*$')" 1 "failed fetches leave no workspace behind"
out=$(pack fs.list '{"clone_path":"ws-000000000000000000000000"}')
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "an unknown workspace -> invalid_input"
out=$(pack fs.list '{"clone_path":"../../etc"}')
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "a malformed workspace handle -> invalid_input"
OTHER=$($HD_RUNAS "$BIN/helmdeck" token mint --sub someone-else --scopes admin --ttl 1h)
out=$(TOKEN_OVERRIDE=$OTHER pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"README.md\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "another subject cannot use the workspace"
out=$(TOKEN_OVERRIDE=$OTHER pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"true\"]}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "nor run commands in it"

# ---- escapes: each refused, or contained and audited ----
for p in ../../etc/passwd /etc/passwd 'a/../../x'; do
	out=$(pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"$p\"}")
	is "$(status) $(jqr "$out" .error)" "400 invalid_input" "fs.read $p -> invalid_input"
done
pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"ln\",\"-s\",\"/\",\"rootlink\"]}" >/dev/null
out=$(pack fs.read "{\"clone_path\":\"$WS\",\"path\":\"rootlink/etc/passwd\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "a symlink to / is not followed out of the workspace"
out=$(pack fs.write "{\"clone_path\":\"$WS\",\"path\":\"rootlink/tmp/x\",\"content\":\"x\"}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "nor written through"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"cat\",\"rootlink/etc/passwd\"]}")
is "$(jqr "$out" .output.exit_code)" 0 "inside cmd.run the link reaches only the sandbox's own root"
like "$(jqr "$out" .output.stdout)" '^root:x:0:0:root:/nonexistent' "whose /etc/passwd is synthetic"
is "$(jqr "$out" '.output.stdout | contains("daemon:")')" false "no host account is visible"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"ls /; test -e /etc/shadow && echo SHADOW; test -e $HELMDECK_STATE_DIR && echo STATE; exit 0\"]}")
is "$(jqr "$out" '.output.stdout | test("SHADOW|STATE")')" false "neither /etc/shadow nor the state dir exists in the sandbox"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"ln\",\"/usr/bin/git\",\"hardlink\"]}")
[ "$(jqr "$out" .output.exit_code)" != 0 ]; ok $? "a hard link to a file outside the workspace fails"
like "$(jqr "$out" .output.stderr)" 'cross-device|not permitted|Read-only' "with the kernel's refusal"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"bash\",\"-c\",\"echo hi >/dev/tcp/127.0.0.1/${HD_PORT}\"]}")
[ "$(jqr "$out" .output.exit_code)" != 0 ]; ok $? "a TCP connection to 127.0.0.1 (the daemon's own port) fails"
is "$(status)" 200 "and the command just sees the error"
like "$(jqr "$out" .output.stderr)" 'unreachable|Permission denied|not permitted' "the run's own network namespace has no route and Landlock no TCP"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"perl\",\"-e\",\"socket(S, 16, 3, 0) or exit 7\"]}")
is "$(jqr "$out" .output.exit_code)" 7 "a netlink socket is refused"
if [ "$(uname -m)" = x86_64 ]; then
	out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"perl\",\"-e\",\"exit(syscall(101, 0, 0, 0, 0) == -1 ? 7 : 0)\"]}")
	is "$(jqr "$out" .output.exit_code)" 7 "ptrace(PTRACE_TRACEME) is refused"
	pack fs.write "{\"clone_path\":\"$WS\",\"path\":\"mnt.pl\",\"content\":\"my (\$s, \$t, \$f) = ('none', '/tmp', 'tmpfs'); exit(syscall(165, \$s, \$t, \$f, 0, 0) == -1 ? 7 : 0);\\n\"}" >/dev/null
	out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"perl\",\"mnt.pl\"]}")
	is "$(jqr "$out" .output.exit_code)" 7 "mount is refused"
else
	skip "the raw ptrace/mount syscall numbers in this test are x86_64's"
	skip "the raw ptrace/mount syscall numbers in this test are x86_64's"
fi
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"unshare\",\"-r\",\"true\"]}")
[ "$(jqr "$out" .output.exit_code)" != 0 ]; ok $? "a new user namespace is refused"
sleep 0.5
den=$(api GET "/api/v1/audit?event_type=sandbox_denied&limit=200" | jq -r '[.events[].payload.syscall] | unique | join(",")')
like "$den" 'socket' "the netlink socket attempt is audited as sandbox_denied"
if [ "$(uname -m)" = x86_64 ]; then
	like "$den" 'ptrace' "the ptrace attempt is audited"
	like "$den" 'mount' "the mount attempt is audited"
fi
like "$den" 'unshare' "the namespace attempt is audited"

t0=$(date +%s)
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"trap '' TERM; sleep 100\"],\"timeout_s\":2}")
t1=$(date +%s)
is "$(status) $(jqr "$out" .error)" "504 timeout" "a command ignoring SIGTERM still ends at its timeout"
[ $((t1 - t0)) -lt 10 ]; ok $? "within seconds of it ($((t1 - t0)) s)"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"sh\",\"-c\",\"setsid sleep 301 >/dev/null 2>&1 & echo started\"]}")
is "$(jqr "$out" .output.stdout)" started "a command that leaves a daemon behind returns"
out=$(pack cmd.run "{\"clone_path\":\"$WS\",\"command\":[\"bash\",\"-c\",\":(){ :|:& };:\"],\"timeout_s\":4}")
like "$(status) $(jqr "$out" '.error // .output.exit_code')" '^(504 timeout|200 .*)$' "a fork bomb ends (pids.max, then the timeout)"
# killed processes can take a moment to go after a fork bomb loaded the machine
for i in $(seq 1 50); do
	left=$(pgrep -f '^sleep (100|301)$' | tr '\n' ' ')
	[ -z "$left" ] && break
	sleep 0.1
done
[ -n "$left" ] && ps -o pid,ppid,stat,user,args -p $left >&2
is "$left" "" "no process of any invocation outlives it"
# this daemon's processes under the worker uid that are not its direct
# children (other daemons on the machine are not ours to count)
n=0
for p in $(ps -u "$WUID" -o pid= 2>/dev/null); do
	pp=$(awk '{print $4}' /proc/$p/stat 2>/dev/null) || continue
	[ "$pp" = "$HD_PID" ] && continue
	q=$pp
	while [ "${q:-1}" -gt 1 ]; do
		[ "$q" = "$HD_PID" ] && { n=$((n + 1)); break; }
		q=$(awk '{print $4}' /proc/$q/stat 2>/dev/null || echo 1)
	done
done
is "$n" 0 "every process left under the worker uid is an idle pool worker"

out=$(api GET /api/v1/security)
is "$(jqr "$out" '.exec_sandbox.repo_roots[0]')" "$(realpath "$REPOS")" "the security report names the repo roots"
is "$(jqr "$out" '.exec_sandbox.last_run_missing | type')" array "and what the last exec sandbox lacked"
diag "exec sandbox missing layers: $(jqr "$out" '.exec_sandbox.last_run_missing | join(",")')"
done_testing
