#!/bin/bash
# git over https: repo.fetch and repo.push against a loopback smart-HTTP
# git server behind TLS (a test CA). The run's sandbox has no network: git
# goes through egress's proxy on its own 127.0.0.1:3128, which vets the
# target, and trusts the CAs egress trusts.
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
command -v socat >/dev/null && command -v git >/dev/null && [ -x /usr/lib/git-core/git-http-backend ] ||
	{ echo "1..0 # SKIP socat or git (with git-http-backend) missing"; exit 0; }
W=$(mktemp -d /tmp/helmdeck-https.XXXXXX)
chmod 755 "$W"
trap 'hd_stop; kill ${SPID:-} ${DPID:-} 2>/dev/null; rm -rf "$W"' EXIT
"$H/mkca.sh" "$W/ca"
mkdir "$W/root"
git -c init.defaultBranch=main init -q --bare "$W/root/r.git"
git --git-dir="$W/root/r.git" config http.receivepack true
git -c init.defaultBranch=main clone -q "$W/root/r.git" "$W/seed" 2>/dev/null
(cd "$W/seed" && echo "hello over https" >README.md && git add README.md &&
	git -c user.name=seed -c user.email=s@t commit -qm seed && git push -q origin main)
TP=$((30000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
socat "OPENSSL-LISTEN:$TP,bind=127.0.0.2,reuseaddr,fork,cert=$W/ca/server.pem,key=$W/ca/server.key,verify=0" \
	EXEC:"perl $H/githttp.pl $W/root" >/dev/null 2>&1 </dev/null &
SPID=$!
printf 'tls.test A 127.0.0.2\nwrong.test A 127.0.0.2\n' >"$W/zone"
perl "$H/dnsd.pl" "$W/zone" "$W/dns.log" 127.0.0.1 >"$W/dport" 2>/dev/null &
DPID=$!
for i in $(seq 1 50); do [ -s "$W/dport" ] && (exec 3<>/dev/tcp/127.0.0.2/$TP) 2>/dev/null && break; sleep 0.1; done
URL="https://tls.test:$TP/r.git"
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$(cat "$W/dport") \
	HELMDECK_EGRESS_CA_FILE=$W/ca/ca.pem

out=$(pack repo.fetch "{\"url\":\"$URL\"}")
is "$(status)" 200 "repo.fetch over https through the egress proxy"
[ "$(status)" = 200 ] || diag "$out"
CP=$(printf '%s' "$out" | jq -r .output.clone_path)
is "$(pack fs.read "{\"clone_path\":\"$CP\",\"path\":\"README.md\"}" | jq -r .output.content)" "hello over https" \
	"the clone has the server's content"
api GET "/api/v1/audit?event_type=egress_allowed&limit=20" >"$W/a.json"
is "$(jq -r '[.events[] | select(.pack=="proxy:git" and .payload.host=="tls.test")] | length > 0' "$W/a.json")" true \
	"the CONNECT to the git server was vetted and audited"

pack fs.write "{\"clone_path\":\"$CP\",\"path\":\"CHANGES\",\"content\":\"pushed over https\\n\"}" >/dev/null
pack git.commit "{\"clone_path\":\"$CP\",\"message\":\"https change\"}" >/dev/null
out=$(pack repo.push "{\"clone_path\":\"$CP\",\"remote\":\"$URL\",\"branch\":\"main\"}")
is "$(status)" 200 "repo.push over https"
[ "$(status)" = 200 ] || diag "$out"
is "$(git --git-dir="$W/root/r.git" log -1 --format=%s main)" "https change" "the server has the pushed commit"

out=$(pack repo.fetch "{\"url\":\"https://wrong.test:$TP/r.git\"}")
like "$(printf '%s' "$out" | jq -r '.error')" '^(handler_failed|invalid_input)$' "a certificate for another name is refused"
printf '%s' "$out" | jq -r '.detail // .message' | grep -qi "certificate\|SSL"; ok $? "by TLS verification"
out=$(pack repo.fetch '{"url":"https://10.0.0.1/x.git"}')
like "$(printf '%s' "$out" | jq -r '.error')" '^(handler_failed|invalid_input)$' "a git server on a private address is refused"
api GET "/api/v1/audit?event_type=egress_blocked&limit=20" >"$W/b.json"
is "$(jq -r '[.events[] | select(.pack=="proxy:git" and .payload.host=="10.0.0.1")] | length > 0' "$W/b.json")" true \
	"by the guard, and audited"
out=$(pack repo.fetch "{\"url\":\"http://tls.test:$TP/r.git\"}")
is "$(printf '%s' "$out" | jq -r '.error')" invalid_input "plain http remotes are refused"
out=$(pack repo.fetch "{\"url\":\"https://user:pw@tls.test:$TP/r.git\"}")
is "$(printf '%s' "$out" | jq -r '.error')" invalid_input "credentials in an https remote are refused"
[ -z "$(ls -A "$HELMDECK_STATE_DIR/agents" 2>/dev/null)" ]; ok $? "no run directory outlives its run"
done_testing
