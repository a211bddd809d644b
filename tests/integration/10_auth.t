#!/bin/bash
# Tokens, scopes and login over HTTP against the real daemon.
. "$(dirname "$0")/lib.sh"
hd_start HELMDECK_ADMIN_PASSWORD=s3cret-pass HELMDECK_ADMIN_USERNAME=root-admin

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

is "$(code "$HD_URL/api/v1/packs")" 401 "no token -> 401"
is "$(curl -s -D - -o /dev/null "$HD_URL/api/v1/packs" | grep -i '^www-authenticate' | tr -d '\r')" \
	'WWW-Authenticate: Bearer realm="helmdeck"' "401 carries WWW-Authenticate"
is "$(curl -s "$HD_URL/api/v1/packs" | jq -r .error)" unauthorized "error envelope on 401"
is "$(code -H 'Authorization: Bearer garbage' "$HD_URL/api/v1/packs")" 401 "garbage token -> 401"
is "$(code -H 'Authorization: Basic abc' "$HD_URL/api/v1/packs")" 401 "non-bearer scheme -> 401"

hdr=$(printf '{"alg":"none","typ":"JWT"}' | b64url)
pl=$(printf '{"sub":"evil","iss":"helmdeck","iat":0,"nbf":0,"exp":9999999999,"scopes":["admin"]}' | b64url)
is "$(code -H "Authorization: Bearer $hdr.$pl." "$HD_URL/api/v1/packs")" 401 "alg none -> 401"
hs=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
sig=$(printf '%s' "$hs.$pl" | openssl dgst -sha256 -hmac helmdeck -binary | b64url)
is "$(code -H "Authorization: Bearer $hs.$pl.$sig" "$HD_URL/api/v1/packs")" 401 "alg HS256 -> 401"
h=${TOKEN%%.*}; rest=${TOKEN#*.}; p=${rest%%.*}; s=${rest#*.}
is "$(code -H "Authorization: Bearer $h.$pl.$s" "$HD_URL/api/v1/packs")" 401 "payload swapped under a valid signature -> 401"
flip=$(printf '%s' "$s" | sed 's/^./A/;t;s/^A/B/'); [ "$flip" = "$s" ] && flip=$(printf '%s' "$s" | sed 's/^A/B/')
is "$(code -H "Authorization: Bearer $h.$p.$flip" "$HD_URL/api/v1/packs")" 401 "tampered signature -> 401"
is "$(curl -s -H "Authorization: Bearer $h.$p.$flip" "$HD_URL/api/v1/packs" | jq -r .message)" "bad signature" "the reason is given"

# scopes are enforced per endpoint
RO=$("$BIN/helmdeck" token mint --sub reader --scopes packs:read --ttl 1h)
is "$(code -H "Authorization: Bearer $RO" "$HD_URL/api/v1/packs")" 200 "packs:read may list packs"
is "$(code -H "Authorization: Bearer $RO" -d '{}' "$HD_URL/api/v1/packs/artifact.list")" 403 "packs:read may not call a pack"
is "$(curl -s -H "Authorization: Bearer $RO" -d '{}' "$HD_URL/api/v1/packs/artifact.list" | jq -r .error)" forbidden "403 is typed forbidden"
is "$(code -H "Authorization: Bearer $RO" "$HD_URL/api/v1/audit")" 403 "packs:read may not read the audit log"
is "$(code -H "Authorization: Bearer $RO" "$HD_URL/api/v1/security")" 403 "nor the security report"
WC=$("$BIN/helmdeck" token mint --sub caller --scopes 'packs:*' --ttl 1h)
is "$(code -H "Authorization: Bearer $WC" -d '{}' "$HD_URL/api/v1/packs/artifact.list")" 200 "packs:* may call a pack"
is "$(code -H "Authorization: Bearer $WC" "$HD_URL/api/v1/audit")" 403 "packs:* does not grant audit:read"
AU=$("$BIN/helmdeck" token mint --sub auditor --scopes audit:read --ttl 1h)
is "$(code -H "Authorization: Bearer $AU" "$HD_URL/api/v1/audit")" 200 "audit:read reads the audit log"

# the minting path refuses bad requests
"$BIN/helmdeck" token mint --sub 'bad name' --scopes admin >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "mint refuses a subject with spaces"
"$BIN/helmdeck" token mint --sub x --scopes admin --ttl 10s >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "mint refuses a ttl under a minute"
"$BIN/helmdeck" token mint --sub x --scopes 'ADMIN;drop' >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "mint refuses malformed scopes"
claims=$(printf '%s' "$WC" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null; echo)
like "$claims" '"sub":"caller"' "minted token carries sub"
like "$claims" '"iss":"helmdeck"' "and iss"
like "$claims" '"scopes":\["packs:\*"\]' "and scopes"
like "$claims" '"nbf":[0-9]+' "and nbf"

# password login
login() { curl -s -o "$HD_TMP/l" -w '%{http_code}' -d "$1" "$HD_URL/api/v1/auth/login"; }
is "$(login '{"username":"root-admin","password":"wrong"}')" 401 "wrong password -> 401"
is "$(login '{"username":"admin","password":"s3cret-pass"}')" 401 "wrong username -> 401"
is "$(login '{"username":"root-admin"}')" 400 "missing password -> 400"
is "$(login 'not json')" 400 "garbage body -> 400"
is "$(login '{"username":"root-admin","password":"s3cret-pass"}')" 200 "right password -> 200"
LT=$(jq -r .token "$HD_TMP/l")
is "$(jq -r .subject "$HD_TMP/l")" root-admin "login reports the subject"
like "$(jq -r .expires_at "$HD_TMP/l")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "and expires_at"
is "$(code -H "Authorization: Bearer $LT" "$HD_URL/api/v1/security")" 200 "the login token is an admin token"
sleep 0.3
log=$(curl -s -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/audit?limit=1000")
printf '%s' "$log" | grep -q 's3cret-pass'
[ $? -ne 0 ]; ok $? "the password never reaches the audit log"
printf '%s' "$log" | grep -q "$LT"
[ $? -ne 0 ]; ok $? "nor does the issued token"
like "$(printf '%s' "$log" | jq -r '[.events[] | select(.path=="/api/v1/auth/login") | .status] | join(",")')" '401' "failed logins are audited"
sqlite3 "$HELMDECK_STATE_DIR/db/helmdeck.db" .dump 2>/dev/null | grep -q 's3cret-pass'
[ $? -ne 0 ]; ok $? "the password is nowhere in the database"
[ "$(stat -c %a "$HELMDECK_STATE_DIR/vault/jwt.ed25519")" = 600 ]; ok $? "the signing key file is 0600"
done_testing
