#!/bin/bash
# git over ssh with a vault-held key: repo.fetch and repo.push against a
# loopback sshd. The run's sandbox has no network: it dials its own
# 127.0.0.1:2222, which egress forwards to the vetted sshd; ssh signs with
# the vault's agent (the private key never leaves the vault) and checks
# the host key the credential pins.
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP the loopback sshd runs as root"; exit 0; }
[ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null && command -v git >/dev/null ||
	{ echo "1..0 # SKIP openssh-server, openssh-client or git missing"; exit 0; }
W=$(mktemp -d /tmp/helmdeck-ssh.XXXXXX)
chmod 755 "$W"
trap 'hd_stop; [ -s "$W/sshd.pid" ] && kill "$(cat "$W/sshd.pid")" 2>/dev/null; rm -rf "$W"' EXIT

ssh-keygen -q -t ed25519 -N '' -f "$W/host_key"
ssh-keygen -q -t ed25519 -N '' -C agent-key -f "$W/user_key"
ssh-keygen -q -t ed25519 -N '' -f "$W/other_host_key"
cp "$W/user_key.pub" "$W/authorized_keys"
SP=$((30000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
mkdir -p /run/sshd
cat >"$W/sshd_config" <<CFG
Port $SP
ListenAddress 127.0.0.2
HostKey $W/host_key
AuthorizedKeysFile $W/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $W/sshd.pid
LogLevel VERBOSE
CFG
/usr/sbin/sshd -f "$W/sshd_config" -E "$W/sshd.log"
for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.2/$SP) 2>/dev/null && break; sleep 0.1; done

git -c init.defaultBranch=main init -q --bare "$W/repo.git"
git -c init.defaultBranch=main clone -q "$W/repo.git" "$W/seed" 2>/dev/null
(cd "$W/seed" && echo "hello over ssh" >README.md && git add README.md &&
	git -c user.name=seed -c user.email=s@t commit -qm seed && git push -q origin main)
URL="ssh://root@127.0.0.2:$SP$W/repo.git"

hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32
KH="[127.0.0.2]:$SP $(cut -d' ' -f1,2 "$W/host_key.pub")"
WRONG_KH="[127.0.0.2]:$SP $(cut -d' ' -f1,2 "$W/other_host_key.pub")"
cred() { # cred KNOWN_HOSTS -> create body
	jq -nc --arg pem "$(base64 -w0 "$W/user_key")" --arg kh "$1" \
		'{name:"git-ssh",type:"ssh",host_pattern:"127.0.0.2",plaintext_b64:$pem,metadata:{known_hosts:$kh}}'
}
ID=$(api POST /api/v1/vault/credentials "$(cred "$KH")" | jq -r .id)
is "$(status)" 201 "the operator stores an ssh key with its pinned host key"

out=$(pack repo.fetch "{\"url\":\"$URL\"}")
like "$(status) $(printf '%s' "$out" | jq -r '.error + " " + .message')" '^403 credential_invalid .*no grant' \
	"without a grant: credential_invalid"
api POST /api/v1/vault/credentials/$ID/grants '{"actor_subject":"tester"}' >/dev/null

out=$(pack repo.fetch "{\"url\":\"$URL\"}")
is "$(status)" 200 "repo.fetch over ssh with the vault's key"
[ "$(status)" = 200 ] || diag "$out"
CP=$(printf '%s' "$out" | jq -r .output.clone_path)
is "$(pack fs.read "{\"clone_path\":\"$CP\",\"path\":\"README.md\"}" | jq -r .output.content)" "hello over ssh" \
	"the clone has the server's content"
grep -q "Accepted publickey for root" "$W/sshd.log"; ok $? "sshd accepted the agent's signature"
api GET "/api/v1/audit?event_type=vault_ssh_sign&limit=10" >"$W/sign.json"
is "$(jq -r '.events[0].payload.name' "$W/sign.json")" git-ssh "each signature is audited (vault_ssh_sign)"
api GET "/api/v1/audit?event_type=egress_allowed&limit=10" >"$W/eg.json"
is "$(jq -r '[.events[] | select(.payload.port=='"$SP"')] | length > 0' "$W/eg.json")" true "the forward to sshd was vetted and audited"

pack fs.write "{\"clone_path\":\"$CP\",\"path\":\"CHANGES\",\"content\":\"pushed by an agent\\n\"}" >/dev/null
pack git.commit "{\"clone_path\":\"$CP\",\"message\":\"agent change\"}" >/dev/null
out=$(pack repo.push "{\"clone_path\":\"$CP\",\"remote\":\"$URL\",\"branch\":\"main\"}")
is "$(status) $(printf '%s' "$out" | jq -r .output.branch)" "200 main" "repo.push over ssh"
[ "$(status)" = 200 ] || diag "$out"
is "$(git --git-dir="$W/repo.git" log -1 --format=%s main)" "agent change" "the server has the pushed commit"

# the private key never left the vault
printf '%s' "$(sed -n 2p "$W/user_key")" | od -An -tx1 | tr -d ' \n' >"$W/needle"; echo >>"$W/needle"
sec=$(api GET /api/v1/security)
hits=0
for p in $HD_PID $(printf '%s' "$sec" | jq -r '.processes[] | select((.role=="api" or .role=="store" or .role=="egress" or .role=="worker") and .running) | .pid'); do
	perl "$H/memscan.pl" "$p" "$W/needle" >/dev/null 2>&1; [ $? = 1 ] && hits=$((hits + 1))
done
is "$hits" 0 "no process but the vault holds the private key (supervisor, api, store, egress, workers scanned)"

# a server whose host key is not the pinned one is refused
api PUT /api/v1/vault/credentials/$ID "{\"metadata\":{\"known_hosts\":\"$WRONG_KH\"}}" >/dev/null
out=$(pack repo.fetch "{\"url\":\"$URL\"}")
like "$(printf '%s' "$out" | jq -r .error)" '^(handler_failed|invalid_input)$' "a host key other than the pinned one: refused"
printf '%s' "$out" | jq -r '.detail // .message' | grep -q "Host key verification failed"; ok $? "because its host key is not the pinned one"
api PUT /api/v1/vault/credentials/$ID '{"metadata":{}}' >/dev/null
out=$(pack repo.fetch "{\"url\":\"$URL\"}")
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^credential_invalid .*known_hosts' \
	"a credential that pins no host key is refused before anything connects"

# no credential for the host, and a host the guard blocks
out=$(pack repo.fetch '{"url":"git@github.example:org/repo.git"}')
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^credential_invalid .*no ssh credential' "no key for that host"
api PUT /api/v1/vault/credentials/$ID "{\"host_pattern\":\"*\",\"metadata\":{\"known_hosts\":\"$KH\"}}" >/dev/null
out=$(pack repo.fetch '{"url":"ssh://git@169.254.169.254:22/x.git"}')
like "$(printf '%s' "$out" | jq -r .error)" '^(handler_failed|invalid_input)$' "an sshd on a blocked address: the forward refuses it"
api GET "/api/v1/audit?event_type=egress_blocked&limit=10" >"$W/bl.json"
is "$(jq -r '[.events[] | select(.payload.host=="169.254.169.254")] | length > 0' "$W/bl.json")" true "and audits it"
out=$(pack repo.fetch '{"url":"ssh://git@127.0.0.2:1/x;rm -rf.git"}')
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "a path with shell characters is refused"
[ -z "$(ls -A "$HELMDECK_STATE_DIR/agents" 2>/dev/null)" ]; ok $? "no agent directory outlives its run"
done_testing
