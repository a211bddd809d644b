#!/bin/bash
# The credential vault over REST: plaintext in, never out; grants (default
# deny) decide who may use a secret; usage survives deletion; rekey keeps
# the records readable with the new key only; a wrong master key changes
# nothing and says why.
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
SRV=$(mktemp -d /tmp/helmdeck-vault.XXXXXX)
trap 'hd_stop; [ -n "${APID:-}" ] && kill $APID 2>/dev/null; rm -rf "$SRV"' EXIT
perl "$H/apisrv.pl" 127.0.0.2 "$SRV/api.log" >"$SRV/port" 2>/dev/null &
APID=$!
for i in $(seq 1 50); do [ -s "$SRV/port" ] && break; sleep 0.1; done
AP=$(cat "$SRV/port")

export HD_TMP_KEEP=$(mktemp -d /tmp/helmdeck-test.XXXXXX)
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32

SECRET="sk-live-$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
B64=$(printf '%s' "$SECRET" | base64 -w0)
out=$(api POST /api/v1/vault/credentials "{\"name\":\"api-key\",\"type\":\"api_key\",\"host_pattern\":\"127.0.0.2\",\"plaintext_b64\":\"$B64\",\"metadata\":{\"team\":\"qa\"}}")
is "$(status)" 201 "create a credential"
ID=$(printf '%s' "$out" | jq -r .id)
like "$ID" '^cred_[0-9a-f]{32}$' "ids are cred_<32 hex>"
like "$(printf '%s' "$out" | jq -r .fingerprint)" '^[0-9a-f]{16}$' "a 16-hex fingerprint"
is "$(printf '%s' "$out" | jq -r '.name,.type,.host_pattern,.path_pattern,.metadata.team' | tr '\n' ' ')" \
	"api-key api_key 127.0.0.2 / qa " "the record as stored, without the secret"
all="$out $(api GET /api/v1/vault/credentials) $(api GET /api/v1/vault/credentials/$ID)"
is "$(status)" 200 "get one"
[ "$(printf '%s' "$all" | grep -c -e "$SECRET" -e "$B64" -e plaintext)" = 0 ]; ok $? "create, list and get show no secret"

api POST /api/v1/vault/credentials "{\"name\":\"api-key\",\"type\":\"api_key\",\"host_pattern\":\"x\",\"plaintext_b64\":\"$B64\"}" >/dev/null
is "$(status)" 409 "a taken name -> 409"
out=$(api POST /api/v1/vault/credentials '{"name":"bad name","type":"api_key","plaintext_b64":"eA=="}')
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "a bad name -> 400 invalid_input"
out=$(api POST /api/v1/vault/credentials '{"name":"k2","type":"password","plaintext_b64":"eA=="}')
like "$(status) $(printf '%s' "$out" | jq -r .message)" '^400 .*type' "an unknown type is named in the error"
out=$(api POST /api/v1/vault/credentials '{"name":"k3","type":"login","host_pattern":"example.com","plaintext_b64":"bm90IGpzb24="}')
like "$(status) $(printf '%s' "$out" | jq -r .message)" '^400 .*(login|username|password)' "a login must carry username and password"
api POST /api/v1/vault/credentials '{"name":"k4","type":"api_key","plaintext_b64":"!!!"}' >/dev/null
is "$(status)" 400 "plaintext_b64 that is not base64 -> 400"
api POST /api/v1/vault/credentials 'not json' >/dev/null
is "$(status)" 400 "a body that is not JSON -> 400"
is "$(api GET /api/v1/vault/credentials | jq -r .count)" 1 "nothing was stored by the refused calls"

# default deny: stored but granted to nobody
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}")
is "$(status) $(printf '%s' "$out" | jq -r .error)" "403 credential_invalid" "no grant: 403 credential_invalid"
like "$(printf '%s' "$out" | jq -r .message)" 'no grant' "and the message says there is no grant"
[ -s "$SRV/api.log" ] && n=$(grep -c . "$SRV/api.log") || n=0
is "$n" 0 "a refused placeholder sends nothing"

api POST /api/v1/vault/credentials/$ID/grants '{"actor_subject":"agent-a","actor_client":"cli"}' >/dev/null
is "$(status)" 201 "grant to one agent"
is "$(api GET /api/v1/vault/credentials/$ID/grants | jq -r '.grants[0].actor_subject')" agent-a "the grant is listed"
AGENT=$("$BIN/helmdeck" token mint --sub agent-a --scopes packs:call,packs:read --client cli --ttl 1h)
OTHER=$("$BIN/helmdeck" token mint --sub agent-b --scopes packs:call,packs:read --client cli --ttl 1h)
OTHERCLI=$("$BIN/helmdeck" token mint --sub agent-a --scopes packs:call,packs:read --client ui --ttl 1h)
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}")
is "$(status) $(printf '%s' "$out" | jq -r .output.status)" "200 200" "the granted agent's fetch goes out"
grep -q "x-api-key: $SECRET" "$SRV/api.log" || grep -qi "X-Api-Key: $SECRET" "$SRV/api.log"
ok $? "the server received the real key"
[ "$(printf '%s' "$out" | grep -c "$SECRET")" = 0 ]; ok $? "the echoed key is scrubbed from the answer"
is "$(printf '%s' "$out" | jq -r '.output.body | fromjson | .headers["x-api-key"]')" "[redacted]" "it reads [redacted] there"
out=$(TOKEN_OVERRIDE=$OTHER pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}")
is "$(printf '%s' "$out" | jq -r .error)" credential_invalid "another subject is denied"
out=$(TOKEN_OVERRIDE=$OTHERCLI pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}")
is "$(printf '%s' "$out" | jq -r .error)" credential_invalid "the same subject from another client is denied"
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:no-such}\"}}")
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^credential_invalid .*no credential named no-such' "an unknown name -> credential_invalid"
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:bad name}\"}}")
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "a malformed placeholder -> invalid_input"
# the host pattern binds a secret to its service: no sending it elsewhere
XID=$(api POST /api/v1/vault/credentials "{\"name\":\"gh-token\",\"type\":\"api_key\",\"host_pattern\":\"api.github.com\",\"plaintext_b64\":\"$B64\"}" | jq -r .id)
api POST /api/v1/vault/credentials/$XID/grants '{"actor_subject":"*"}' >/dev/null
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo?k=\${vault:gh-token}\"}")
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^credential_invalid .*api.github.com' "a secret is never sent to a host its pattern does not name"
api DELETE /api/v1/vault/credentials/$XID >/dev/null
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://\${vault:api-key}@127.0.0.2:$AP/echo\"}")
like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^invalid_input .*host' "a placeholder in the authority is refused"

out=$(api GET /api/v1/vault/credentials/$ID/usage)
is "$(printf '%s' "$out" | jq -r '[.usage[].result] | unique | join(",")')" "allowed,denied" "usage log: allowed and denied"
is "$(printf '%s' "$out" | jq -r '[.usage[] | select(.result=="allowed")][0].actor_subject')" agent-a "by whom"
like "$(api GET /api/v1/vault/credentials | jq -r '.credentials[0].last_used_at')" '^2[0-9]{3}-' "last_used_at is set"

# rotate the secret: the old one is gone, the new one goes out
NEW="sk-rotated-$(head -c 12 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
fp1=$(api GET /api/v1/vault/credentials/$ID | jq -r .fingerprint)
api PUT /api/v1/vault/credentials/$ID "{\"plaintext_b64\":\"$(printf '%s' "$NEW" | base64 -w0)\"}" >/dev/null
is "$(status)" 200 "rotate the secret"
fp2=$(api GET /api/v1/vault/credentials/$ID | jq -r .fingerprint)
[ "$fp1" != "$fp2" ]; ok $? "the fingerprint changed"
TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}" >/dev/null
tail -20 "$SRV/api.log" | grep -qi "x-api-key: $NEW"; ok $? "the rotated secret is what goes out"

# revoke, then use is denied again
api DELETE /api/v1/vault/credentials/$ID/grants/agent-a >/dev/null
is "$(status)" 200 "revoke the grant"
out=$(TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}")
is "$(printf '%s' "$out" | jq -r .error)" credential_invalid "after revoke: denied"
api DELETE /api/v1/vault/credentials/$ID/grants/agent-a >/dev/null
is "$(status)" 404 "revoking twice -> 404"

# scopes: a token without vault scopes cannot manage the vault
TOKEN_OVERRIDE=$AGENT api GET /api/v1/vault/credentials >/dev/null
is "$(status)" 403 "packs-only token: GET credentials -> 403"
TOKEN_OVERRIDE=$AGENT api POST /api/v1/vault/credentials '{}' >/dev/null
is "$(status)" 403 "packs-only token: POST credentials -> 403"
READER=$("$BIN/helmdeck" token mint --sub reader --scopes vault:read --ttl 1h)
TOKEN_OVERRIDE=$READER api GET /api/v1/vault/credentials >/dev/null
is "$(status)" 200 "vault:read may list"
TOKEN_OVERRIDE=$READER api DELETE /api/v1/vault/credentials/$ID >/dev/null
is "$(status)" 403 "vault:read may not delete"
api GET /api/v1/vault/credentials/cred_00000000000000000000000000000000 >/dev/null
is "$(status)" 404 "an unknown id -> 404"
api POST /api/v1/vault/credentials/$ID/usage '{}' >/dev/null
is "$(status)" 405 "POST on usage -> 405"

# audit: decisions are there, secrets are not
api GET "/api/v1/audit?limit=1000" >"$HD_TMP/audit.json"
is "$(jq -r '[.events[] | select(.event_type=="vault_read")] | length > 0' "$HD_TMP/audit.json")" true "vault_read decisions are audited"
is "$(jq -r '[.events[] | select(.event_type=="vault_credential_created")] | length' "$HD_TMP/audit.json")" 2 "both creates are audited"
[ "$(grep -c -e "$SECRET" -e "$NEW" -e "$B64" "$HD_TMP/audit.json")" = 0 ]; ok $? "the audit log holds no secret"

# key rotation: records stay readable, with the new key only
KEYFILE=$HELMDECK_STATE_DIR/vault/master.key
OLDKEY=$(cat "$KEYFILE")
out=$("$BIN/helmdeck" vault rekey)
ok $? "helmdeck vault rekey"
like "$out" '"records":1' "it re-sealed the one record"
NEWKEY=$(cat "$KEYFILE")
[ "$OLDKEY" != "$NEWKEY" ] && [ "$(stat -c %a "$KEYFILE")" = 600 ]; ok $? "a new 0600 key file"
is "$(api GET /api/v1/vault/credentials/$ID | jq -r .fingerprint)" "$fp2" "the record is still there (fingerprint unchanged)"
api POST /api/v1/vault/credentials/$ID/grants '{"actor_subject":"agent-a"}' >/dev/null
TOKEN_OVERRIDE=$AGENT pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-Api-Key\":\"\${vault:api-key}\"}}" >/dev/null
tail -20 "$SRV/api.log" | grep -qi "x-api-key: $NEW"; ok $? "after rekey the secret still opens and goes out"
[ ! -e "$KEYFILE.new" ]; ok $? "no pending key file is left"

# restart with the old key: clear error, nothing lost
hd_stop_keep() { kill -TERM "$HD_PID"; for i in $(seq 1 100); do kill -0 "$HD_PID" 2>/dev/null || break; sleep 0.1; done; wait "$HD_PID" 2>/dev/null; HD_PID=""; }
hd_stop_keep
sum1=$(sha256sum "$HELMDECK_STATE_DIR/vault/vault.db" | cut -d' ' -f1)
printf '%s\n' "$OLDKEY" >"$SRV/old.key"
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_VAULT_KEY_FILE=$SRV/old.key
out=$(api GET /api/v1/vault/credentials)
is "$(status) $(printf '%s' "$out" | jq -r .error)" "503 internal" "with the old key the store stays locked (503)"
like "$(printf '%s' "$out" | jq -r .message)" 'master key does not open' "and says the key does not open it"
grep -q "credential store locked" "$HD_TMP/daemon.log"; ok $? "the log says so too"
curl -sf -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/packs" >/dev/null; ok $? "the rest of the platform runs (tokens still verify)"
hd_stop_keep
sum2=$(sha256sum "$HELMDECK_STATE_DIR/vault/vault.db" | cut -d' ' -f1)
is "$sum2" "$sum1" "vault.db is byte-for-byte unchanged"
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32
is "$(api GET /api/v1/vault/credentials | jq -r '.credentials[0].fingerprint')" "$fp2" "with the right key every record is back"

# a rekey interrupted after its commit (records sealed with the new key,
# the file not yet renamed) is finished at the next start
hd_stop_keep
mv "$KEYFILE" "$KEYFILE.new"
printf '%s\n' "$OLDKEY" >"$KEYFILE"
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32
is "$(api GET /api/v1/vault/credentials | jq -r '.credentials[0].fingerprint')" "$fp2" "an interrupted rekey is finished at start"
is "$(cat "$KEYFILE")" "$NEWKEY" "the new key is in place"
[ ! -e "$KEYFILE.new" ] && grep -q "finished an interrupted vault rekey" "$HD_TMP/daemon.log"; ok $? "and the log says so"
# one interrupted before its commit leaves the old key in force
hd_stop_keep
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEYFILE.new"
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32
is "$(api GET /api/v1/vault/credentials | jq -r '.credentials[0].fingerprint')" "$fp2" "a rekey that never committed changes nothing"
[ ! -e "$KEYFILE.new" ] && [ "$(cat "$KEYFILE")" = "$NEWKEY" ]; ok $? "its stray key file is removed"

# delete: gone, and its usage log stays
api DELETE /api/v1/vault/credentials/$ID >/dev/null
is "$(status)" 200 "delete"
api GET /api/v1/vault/credentials/$ID >/dev/null
is "$(status)" 404 "it is gone"
is "$(api GET /api/v1/vault/credentials/$ID/usage | jq -r '.usage | length > 0')" true "its usage log survives the deletion"
unset HD_TMP_KEEP
done_testing
