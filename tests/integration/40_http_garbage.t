#!/bin/bash
# Untrusted HTTP never crashes the api: garbage, oversized headers and
# bodies, floods of idle connections and slow clients each get a clear
# answer or a closed connection, and the same api process keeps serving.
. "$(dirname "$0")/lib.sh"
hd_start HELMDECK_HTTP_TIMEOUT=2s

api_pid() { api GET /api/v1/security | jq -r '.processes[] | select(.role=="api") | .pid'; }
healthy() { [ "$(curl -s -m 5 "$HD_URL/healthz")" = '{"status":"ok"}' ]; }
raw() { # raw BYTES-FILE -> what the server answered (first line)
	exec 7<>/dev/tcp/127.0.0.1/$HD_PORT
	cat "$1" >&7 2>/dev/null
	timeout 5 head -c 200 <&7 | head -1 | tr -d '\r'
	exec 7>&- 7<&-
}
pid0=$(api_pid)

head -c 65536 /dev/urandom >"$HD_TMP/rand"
raw "$HD_TMP/rand" >/dev/null
healthy; ok $? "64 KiB of random bytes: api still serving"
printf 'GARBAGE\r\n\r\n' >"$HD_TMP/g"
like "$(raw "$HD_TMP/g")" '^(HTTP/1\.[01] 400 .*|)$' "a garbage request line is refused"
{ printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 40000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >"$HD_TMP/h"
like "$(raw "$HD_TMP/h")" '^(HTTP/1\.[01] (400|413|431) .*|)$' "a 40 KB header is refused"
healthy; ok $? "api serving after the oversized header"
code=$(head -c $((13 * 1024 * 1024)) /dev/zero | curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' --data-binary @- "$HD_URL/api/v1/packs/artifact.put")
like "$code" '^(413|000)$' "a 13 MiB body is refused (413)"
printf 'POST /api/v1/packs/artifact.put HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >"$HD_TMP/neg"
like "$(raw "$HD_TMP/neg")" '^(HTTP/1\.[01] 4[0-9][0-9] .*|)$' "a negative Content-Length is refused"
printf 'GET /api/v1/packs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n' "$(head -c 9000 /dev/zero | tr '\0' A)" >"$HD_TMP/lt"
like "$(raw "$HD_TMP/lt")" '^HTTP/1\.[01] 401' "an 9 KB bearer token is refused with 401"
for body in '[]' '"x"' '{"name":' '{"name":"a","name":"b","content":"x"}' "{\"name\":\"$(printf 'a%.0s' $(seq 1 300))\",\"content\":\"x\"}" \
	'{"name":"a","content":"\u0000"}' '{"name":1e999,"content":"x"}'; do
	pack artifact.put "$body" >/dev/null
	like "$(status)" '^400$' "bad pack input is a 400: $(printf '%s' "$body" | head -c 40)"
done
nested=$(printf '[%.0s' $(seq 1 5000))
pack artifact.list "$nested" >/dev/null
is "$(status)" 400 "5000 nested arrays -> 400, no crash"
healthy; ok $? "api serving after malformed JSON"

# a slow client is cut off by the timeout
exec 8<>/dev/tcp/127.0.0.1/$HD_PORT
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&8
sleep 3.5
printf 'X: y\r\n\r\n' >&8 2>/dev/null
got=$(timeout 2 cat <&8 2>/dev/null | head -c 20)
exec 8>&- 8<&-
like "$got" '^(|HTTP/1\.[01] 408.*)$' "a slow client is dropped after the 2 s timeout"

# more idle connections than the limit: served again once they go
fds=""
for i in $(seq 1 300); do
	exec {fd}<>/dev/tcp/127.0.0.1/$HD_PORT 2>/dev/null && fds="$fds $fd"
done
diag "opened $(echo $fds | wc -w) idle connections"
for fd in $fds; do exec {fd}>&-; done
sleep 0.5
healthy; ok $? "api serving after a flood of 300 idle connections"
is "$(api_pid)" "$pid0" "the same api process served every case (no crash, no restart)"
done_testing
