#!/bin/bash
# Workspaces expire: the janitor removes one unused past HELMDECK_WORKSPACE_TTL,
# audits it, and the handle stops working. A workspace in use is kept.
# Artifacts expire the same way past HELMDECK_ARTIFACT_TTL.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "1..0 # SKIP git is not installed"; exit 0; }
REPOS=$(mktemp -d /tmp/helmdeck-repos.XXXXXX)
trap 'hd_stop; rm -rf "$REPOS"' EXIT
git -c init.defaultBranch=main init -q --bare "$REPOS/r.git"
git -c init.defaultBranch=main clone -q "$REPOS/r.git" "$REPOS/seed" 2>/dev/null
(cd "$REPOS/seed" && echo hi >f && git add f && git -c user.name=s -c user.email=s@t commit -qm s && git push -q origin main)

hd_start HELMDECK_REPO_ROOTS="$REPOS" HELMDECK_WORKSPACE_TTL=3s HELMDECK_ARTIFACT_TTL=3s
KEY=$(pack artifact.put '{"name":"old.txt","content":"soon gone"}' | jq -r .output.key)
is "$(pack artifact.get "{\"key\":\"$KEY\"}" | jq -r .output.content)" "soon gone" "an artifact is stored"
out=$(pack repo.fetch "{\"url\":\"$REPOS/r.git\"}")
is "$(status)" 200 "repo.fetch with a plain absolute path"
WS=$(printf '%s' "$out" | jq -r .output.clone_path)
[ -d "$HELMDECK_STATE_DIR/workspaces/$WS" ]; ok $? "the workspace exists on disk"
# used every second: the TTL counts from the last use
for i in 1 2 3 4; do sleep 1; pack fs.list "{\"clone_path\":\"$WS\"}" >/dev/null; done
is "$(status)" 200 "a workspace in use outlives its TTL"
sleep 5
out=$(pack fs.list "{\"clone_path\":\"$WS\"}")
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "an unused workspace past its TTL is gone"
[ ! -e "$HELMDECK_STATE_DIR/workspaces/$WS" ] && [ ! -e "$HELMDECK_STATE_DIR/workspaces/$WS.meta" ]
ok $? "its directory and metadata are removed"
out=$(pack artifact.get "{\"key\":\"$KEY\"}")
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "an artifact past HELMDECK_ARTIFACT_TTL is gone"
is "$(api GET "/api/v1/audit?event_type=artifact_expired&limit=10" | jq -r '.events[0].payload.removed')" 1 "and its removal is audited"
ev=$(api GET "/api/v1/audit?event_type=workspace_expired&limit=10")
is "$(printf '%s' "$ev" | jq -r '.events[0].payload.workspace')" "$WS" "the expiry is audited"
is "$(printf '%s' "$ev" | jq -r '.events[0].payload.owner')" tester "with the owner"
done_testing
