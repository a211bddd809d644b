#!/bin/bash
# The "done when" path of the core: token, packs, artifacts, audit, verify, tamper.
. "$(dirname "$0")/lib.sh"
hd_start

is "$(curl -s "$HD_URL/healthz")" '{"status":"ok"}' "GET /healthz needs no token"
like "$(curl -s "$HD_URL/version")" '"version":"[0-9]+\.[0-9]+\.[0-9]+"' "GET /version reports the build version"
like "$TOKEN" '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "helmdeck token mint prints a JWT"

out=$(api GET /api/v1/packs)
is "$(status)" 200 "GET /api/v1/packs"
is "$(printf '%s' "$out" | jq -r '[.packs[].name] | map(select(startswith("artifact."))) | sort | join(",")')" \
	"artifact.get,artifact.list,artifact.put" "the artifact packs are registered"
is "$(printf '%s' "$out" | jq -r '.packs[] | select(.name=="artifact.put") | .input_schema.required[0]')" name \
	"pack list carries the full input schema"
out=$(api GET /api/v1/packs/test.sleep)
is "$(printf '%s' "$out" | jq -r '.versions | join(",")') $(printf '%s' "$out" | jq -r .latest)" "v1,v2 v2" \
	"versions listed, latest is the highest"
api GET /api/v1/packs/no.such >/dev/null
is "$(status)" 404 "unknown pack -> 404"

content="hello from the smoke test $$"
out=$(pack artifact.put "{\"name\":\"hello.txt\",\"content\":\"$content\"}")
is "$(status)" 200 "artifact.put"
key=$(printf '%s' "$out" | jq -r .output.key)
like "$key" '^[0-9a-f]{64}$' "artifact key is a sha256"
is "$key" "$(printf '%s' "$content" | sha256sum | cut -d' ' -f1)" "the key is the sha256 of the content"
is "$(printf '%s' "$out" | jq -r '.pack,.version,(.artifacts|length),(.session_id|tostring)' | tr '\n' ' ')" \
	"artifact.put v1 1 null " "result shape: pack, version, artifacts, session_id"
like "$(printf '%s' "$out" | jq -r .duration_ms)" '^[0-9]+$' "duration_ms is an integer"

out=$(pack artifact.get "{\"key\":\"$key\"}")
is "$(printf '%s' "$out" | jq -r .output.content)" "$content" "artifact.get returns the text"
is "$(printf '%s' "$out" | jq -r .output.content_base64 | base64 -d)" "$content" "and the same bytes as base64"

bin=$(head -c 3000 /dev/urandom | base64 -w0)
out=$(pack artifact.put "{\"name\":\"r.bin\",\"content_base64\":\"$bin\"}")
bkey=$(printf '%s' "$out" | jq -r .output.key)
is "$(printf '%s' "$out" | jq -r .output.content_type)" application/octet-stream "binary put defaults its content type"
is "$(pack artifact.get "{\"key\":\"$bkey\"}" | jq -r .output.content_base64)" "$bin" "binary round trip is exact"
is "$(pack artifact.get "{\"key\":\"$bkey\",\"max_bytes\":10}" | jq -r '.output.truncated')" true "max_bytes truncates and says so"
out=$(pack artifact.list '{}')
is "$(printf '%s' "$out" | jq -r .output.total)" 2 "artifact.list sees both"
is "$(pack artifact.list '{"limit":1}' | jq -r '.output.artifacts|length')" 1 "artifact.list honours limit"

# bad input is typed and changes nothing
out=$(pack artifact.put '{"content":"x"}')
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "missing required field -> 400 invalid_input"
like "$(printf '%s' "$out" | jq -r .message)" 'required property "name"' "the message names the field"
out=$(pack artifact.put '{"name":"a","content":"x","bogus":1}')
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "additionalProperties:false is enforced"
out=$(pack artifact.put '{"name":"a","content":"x","content_base64":"eA=="}')
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "handler-level validation is typed too"
out=$(pack artifact.get '{"key":"0000000000000000000000000000000000000000000000000000000000000000"}')
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "absent key -> invalid_input"
out=$(pack artifact.put '{"name": ')
is "$(status) $(printf '%s' "$out" | jq -r .error)" "400 invalid_input" "malformed JSON -> 400 invalid_input"
is "$(pack artifact.list '{}' | jq -r .output.total)" 2 "failed calls stored nothing"
out=$(pack test.sleep/v1 '{"ms":10}')
is "$(printf '%s' "$out" | jq -r .version)" v1 "POST /packs/{name}/v1 runs version 1"
out=$(pack test.sleep/v9 '{"ms":10}')
is "$(status)" 404 "an absent version -> 404"

# the audit log saw every call
out=$(api GET "/api/v1/audit?event_type=pack_call&limit=1000")
is "$(status)" 200 "GET /api/v1/audit"
n=$(printf '%s' "$out" | jq '[.events[] | select(.pack=="artifact.put")] | length')
[ "$n" -ge 2 ]; ok $? "pack_call events recorded for artifact.put ($n)"
out=$(api GET "/api/v1/audit?event_type=api_call&actor=tester&limit=1000")
like "$(printf '%s' "$out" | jq -r '[.events[].path] | join(" ")')" '/api/v1/packs/artifact.get' "api_call events carry path and actor"
is "$(api GET '/api/v1/audit?limit=5' | jq '.events|length')" 5 "limit is applied"
api GET '/api/v1/audit?limit=5000' >/dev/null
is "$(status)" 400 "limit above 1000 is refused"
is "$(api GET '/api/v1/audit?from=2999-01-01T00:00:00Z' | jq '.events|length')" 0 "from filter"

# verification, then tampering
sleep 0.5   # let the store's last head signature land
db=$HELMDECK_STATE_DIR/db/helmdeck.db
out=$("$BIN/helmdeck" audit verify --db "$db")
ok $? "helmdeck audit verify passes on the live log"
like "$out" 'chain intact, head signed' "and reports a signed head"
cp "$db" "$HD_TMP/t.db"; [ -f "$db-wal" ] && cp "$db-wal" "$HD_TMP/t.db-wal"
sqlite3 "$HD_TMP/t.db" "PRAGMA wal_checkpoint(FULL);" >/dev/null 2>&1
for trg in $(sqlite3 "$HD_TMP/t.db" "SELECT name FROM sqlite_master WHERE type='trigger'"); do
	sqlite3 "$HD_TMP/t.db" "DROP TRIGGER $trg"
done
sqlite3 "$HD_TMP/t.db" "UPDATE audit_log SET actor='mallory' WHERE seq=3"
out=$("$BIN/helmdeck" audit verify --db "$HD_TMP/t.db"); rc=$?
[ $rc -ne 0 ]; ok $? "verify fails after a row is edited"
like "$out" 'first bad record seq 3' "and names the edited record"
cp "$HD_TMP/t.db" "$HD_TMP/d.db"
sqlite3 "$HD_TMP/d.db" "UPDATE audit_log SET actor=(SELECT actor FROM audit_log WHERE seq=4) WHERE seq=3" # undo is not possible; use a fresh copy
cp "$db" "$HD_TMP/d.db"; [ -f "$db-wal" ] && cp "$db-wal" "$HD_TMP/d.db-wal"
sqlite3 "$HD_TMP/d.db" "PRAGMA wal_checkpoint(FULL);" >/dev/null 2>&1
for trg in $(sqlite3 "$HD_TMP/d.db" "SELECT name FROM sqlite_master WHERE type='trigger'"); do sqlite3 "$HD_TMP/d.db" "DROP TRIGGER $trg"; done
sqlite3 "$HD_TMP/d.db" "DELETE FROM audit_log WHERE seq=5"
out=$("$BIN/helmdeck" audit verify --db "$HD_TMP/d.db")
[ $? -ne 0 ]; ok $? "verify fails after a row is deleted"
like "$out" 'seq 5' "and names where the chain breaks"

done_testing
