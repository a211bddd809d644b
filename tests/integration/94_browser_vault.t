#!/bin/bash
# Secrets in a browser session, put there by the vault: cookie credentials
# before a navigation to a matching host, a login typed into a page whose
# own location matches the credential. The pack's worker and its answer
# never hold a value; another site gets nothing.
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
W=$(mktemp -d /tmp/helmdeck-bvault.XXXXXX)
trap 'hd_stop; kill ${APID:-} ${DPID:-} ${WPID:-} 2>/dev/null; rm -rf "$W"' EXIT
mkdir "$W/www"
cat >"$W/www/login.html" <<'HTML'
<html><head><title>sign in</title></head><body>
<form id="f" onsubmit="event.preventDefault(); var u = document.getElementById('user').value, p = document.getElementById('pass').value;
 document.title = 'signed in as ' + u + ' with ' + p.length + ' characters'; document.getElementById('pass').value = '';">
<input id="user" name="user"><input id="pass" type="password" name="pass"><button id="go" type="submit">go</button>
</form></body></html>
HTML
perl "$H/httpd.pl" "$W/www" 127.0.0.2 >"$W/wport" 2>/dev/null &
WPID=$!
perl "$H/apisrv.pl" 127.0.0.2 "$W/api.log" >"$W/aport" 2>/dev/null &
APID=$!
printf 'site.test A 127.0.0.2\nevil.test A 127.0.0.2\n' >"$W/zone"
perl "$H/dnsd.pl" "$W/zone" "$W/dns.log" 127.0.0.1 >"$W/dport" 2>/dev/null &
DPID=$!
for i in $(seq 1 50); do [ -s "$W/aport" ] && [ -s "$W/dport" ] && [ -s "$W/wport" ] && break; sleep 0.1; done
AP=$(cat "$W/aport") WP=$(cat "$W/wport")
hd_start HELMDECK_BROWSER_POOL=1 HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$(cat "$W/dport")
browser_usable_or_skip

COOKIE="ck-$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
PASS="pw-$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
b64() { printf '%s' "$1" | base64 -w0; }
CID=$(api POST /api/v1/vault/credentials "{\"name\":\"site-cookie\",\"type\":\"cookie\",\"host_pattern\":\"site.test\",\"plaintext_b64\":\"$(b64 "[{\"name\":\"sid\",\"value\":\"$COOKIE\"}]")\"}" | jq -r .id)
LID=$(api POST /api/v1/vault/credentials "{\"name\":\"site-login\",\"type\":\"login\",\"host_pattern\":\"site.test\",\"plaintext_b64\":\"$(b64 "{\"username\":\"alice\",\"password\":\"$PASS\"}")\"}" | jq -r .id)
like "$CID $LID" '^cred_[0-9a-f]{32} cred_[0-9a-f]{32}$' "a cookie and a login credential for site.test"

# not granted: navigation works, nothing is injected
out=$(pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://site.test:$AP/echo\"}]}")
is "$(status)" 200 "navigating without a grant works"
! grep -q "$COOKIE" "$W/api.log"; ok $? "and sends no cookie"

api POST /api/v1/vault/credentials/$CID/grants '{"actor_subject":"tester"}' >/dev/null
api POST /api/v1/vault/credentials/$LID/grants '{"actor_subject":"tester"}' >/dev/null
out=$(pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://site.test:$AP/echo\"}]}")
is "$(status)" 200 "navigate to site.test with the cookie granted"
grep -qi "^cookie: sid=$COOKIE" "$W/api.log"; ok $? "the site received the vault's cookie"
[ "$(printf '%s' "$out" | grep -c "$COOKIE")" = 0 ]; ok $? "the pack's answer does not hold it"
: >"$W/api.log"
pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://evil.test:$AP/echo\"}]}" >/dev/null
! grep -q "$COOKIE" "$W/api.log"; ok $? "another host gets no cookie"

out=$(pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://site.test:$WP/login.html\"},
	{\"action\":\"fill_login\",\"selector\":\"#user\",\"password_selector\":\"#pass\",\"submit_selector\":\"#go\"},
	{\"action\":\"wait\",\"timeout_ms\":300},{\"action\":\"execute\",\"script\":\"document.title\",\"name\":\"title\"}]}")
is "$(status)" 200 "fill_login on the credential's host"
[ "$(status)" = 200 ] || diag "$out"
is "$(printf '%s' "$out" | jq -r .output.extractions.title)" "signed in as alice with ${#PASS} characters" \
	"the vault typed the username and the password and submitted"
is "$(printf '%s' "$out" | jq -r '.output.steps[1].result.credential, .output.steps[1].result.submitted' | tr '\n' ' ')" \
	"site-login true " "the step says which credential, never its value"
[ "$(printf '%s' "$out" | grep -c -e "$PASS" -e "$(b64 "$PASS")")" = 0 ]; ok $? "the answer holds no password"

out=$(pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://evil.test:$WP/login.html\"},
	{\"action\":\"fill_login\",\"selector\":\"#user\",\"password_selector\":\"#pass\"}]}")
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^credential_invalid .*evil.test' \
	"a page on another host gets no login"
out=$(pack browser.interact "{\"actions\":[{\"action\":\"fill_login\",\"password_selector\":\"#pass\"}]}")
like "$(printf '%s' "$out" | jq -r .error)" '^(invalid_input|credential_invalid)$' "about:blank gets no login"

api GET "/api/v1/audit?event_type=vault_read&limit=50" >"$W/audit.json"
is "$(jq -r '[.events[] | select(.payload.purpose=="browser.login" and .outcome=="allowed")] | length' "$W/audit.json")" 1 \
	"the login use is audited"
is "$(jq -r '[.events[] | select(.payload.purpose=="browser.cookies" and .outcome=="allowed")] | length >= 1' "$W/audit.json")" true \
	"and the cookie use"
[ "$(grep -c -e "$PASS" -e "$COOKIE" "$W/audit.json" "$HD_TMP/daemon.log" | awk -F: '{s+=$NF} END {print s+0}')" = 0 ]
ok $? "neither the audit log nor the daemon's log holds a value"
done_testing
