#!/bin/bash
# The artifact store over REST: list, download with auth, and a signed,
# expiring share link that works without a token header and for nothing else.
. "$(dirname "$0")/lib.sh"
hd_start
jqr() { printf '%s' "$1" | jq -r "$2"; }
# a 1x1 PNG
PNG=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==
KEY=$(pack artifact.put "{\"name\":\"dot.png\",\"content_base64\":\"$PNG\",\"content_type\":\"image/png\"}" | jq -r .output.key)
HTML=$(pack artifact.put '{"name":"x.html","content":"<script>alert(1)</script>","content_type":"text/html"}' | jq -r .output.key)
out=$(api GET "/api/v1/artifacts?limit=10")
is "$(status)" 200 "GET /api/v1/artifacts"
is "$(jqr "$out" "[.artifacts[].key] | index(\"$KEY\") != null")" true "lists the stored artifact"
code=$(curl -s -D "$HD_TMP/h" -o "$HD_TMP/dl" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/artifacts/$KEY")
is "$code" 200 "GET /api/v1/artifacts/{key} with a token"
is "$(base64 -w0 "$HD_TMP/dl")" "$PNG" "returns the bytes"
like "$(grep -i '^content-type:' "$HD_TMP/h")" 'image/png' "with their content type"
code=$(curl -s -D "$HD_TMP/h" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/artifacts/$HTML")
like "$(grep -i '^content-type:' "$HD_TMP/h")" 'application/octet-stream' "an HTML artifact is never served as HTML"
like "$(grep -i '^content-security-policy:' "$HD_TMP/h")" 'sandbox' "and comes with a sandbox CSP"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HD_URL/api/v1/artifacts/$KEY")
is "$code" 401 "without a token -> 401"
api GET "/api/v1/artifacts/$(printf 'a%.0s' $(seq 1 64))" >/dev/null
is "$(status)" 400 "an unknown key -> 400 invalid_input"
api GET "/api/v1/artifacts/nothex" >/dev/null
is "$(status)" 404 "a malformed key -> 404"

out=$(api POST "/api/v1/artifacts/$KEY/share" '{"ttl_seconds":60}')
is "$(status)" 201 "POST /api/v1/artifacts/{key}/share"
URL=$(jqr "$out" .url)
like "$URL" "^/api/v1/artifacts/download/$KEY\\?token=" "returns a download URL"
code=$(curl -s -o "$HD_TMP/dl2" -w '%{http_code}' "$HD_URL$URL")
is "$code" 200 "the share link downloads without an Authorization header"
is "$(base64 -w0 "$HD_TMP/dl2")" "$PNG" "the same bytes"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HD_URL/api/v1/artifacts/download/$HTML?token=${URL#*token=}")
is "$code" 403 "the link's token opens no other artifact"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HD_URL${URL%?????}xxxxx")
is "$code" 403 "a tampered token is refused"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${URL#*token=}" "$HD_URL/api/v1/packs")
is "$code" 403 "the share token is no API credential"
api POST "/api/v1/artifacts/$KEY/share" '{"ttl_seconds":99999999}' >/dev/null
is "$(status)" 400 "a share TTL past 7 days is refused"
sleep 0.3
ev=$(api GET "/api/v1/audit?event_type=artifact_shared&limit=5")
is "$(jqr "$ev" '.events[0].actor')" tester "sharing is audited with who shared"
! api GET "/api/v1/audit?limit=200" | grep -q "${URL#*token=}"; ok $? "the link's token never reaches the audit log"
done_testing
