#!/bin/bash
# Browser sessions have one way out: the egress proxy on their own
# 127.0.0.1:3128. The test steps into a session's network namespace and
# tries every door: the proxy vets each CONNECT and absolute-form request
# like http.fetch, anything else has no route; and chromium itself browses
# an allowed page through it and is refused the metadata service.
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
[ "$(id -u)" = 0 ] && command -v nsenter >/dev/null || { echo "1..0 # SKIP needs root and nsenter to enter a session's namespace"; exit 0; }
W=$(mktemp -d /tmp/helmdeck-bregress.XXXXXX)
trap 'hd_stop; kill ${APID:-} ${DPID:-} 2>/dev/null; rm -rf "$W"' EXIT
perl "$H/apisrv.pl" 127.0.0.2 "$W/api.log" >"$W/aport" 2>/dev/null &
APID=$!
printf 'api.test A 127.0.0.2\nmeta.test A 169.254.169.254\n' >"$W/zone"
perl "$H/dnsd.pl" "$W/zone" "$W/dns.log" 127.0.0.1 >"$W/dport" 2>/dev/null &
DPID=$!
for i in $(seq 1 50); do [ -s "$W/aport" ] && [ -s "$W/dport" ] && break; sleep 0.1; done
AP=$(cat "$W/aport")
hd_start HELMDECK_BROWSER_POOL=1 HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$(cat "$W/dport")
browser_usable_or_skip

is "$(api GET /api/v1/security | jq -r .browser_sessions.network | cut -d' ' -f1)" proxy "sessions are on the proxy network by default"
out=$(api POST /api/v1/sessions '{"label":"egress"}')
SID=$(printf '%s' "$out" | jq -r .id)
PID=$(printf '%s' "$out" | jq -r .pid)
is "$(printf '%s' "$out" | jq -r .network)" proxy "the session reports its network"
inside() { nsenter -t "$PID" -n -- "$@"; }
blocked_count() { api GET "/api/v1/audit?event_type=egress_blocked&limit=1000" | jq -r .count; }

# through the proxy, what is allowed works
is "$(inside curl -s -m 5 -x http://127.0.0.1:3128 "http://127.0.0.2:$AP/echo" | jq -r .method)" GET \
	"absolute-form through the proxy to an allowed target"
is "$(inside curl -s -m 5 -p -x http://127.0.0.1:3128 "http://api.test:$AP/echo" | jq -r .method)" GET \
	"a CONNECT tunnel to an allowed name"
# no way around it
inside curl -s -m 3 "http://127.0.0.2:$AP/echo" >/dev/null; ok "$([ $? != 0 ] && echo 0 || echo 1)" "without the proxy nothing is reachable"
inside curl -s -m 3 "http://127.0.0.1:$HD_PORT/healthz" >/dev/null; ok "$([ $? != 0 ] && echo 0 || echo 1)" \
	"the daemon's port is not in the session's namespace"

# every CONNECT vector refused with 403 and the reason, and audited
connect_refused() { # HOSTPORT REASON-ERE
	local before after code body
	before=$(blocked_count)
	body=$(inside curl -s -m 8 -o /dev/stdout -w '\n%{http_code}' -p -x http://127.0.0.1:3128 "http://$1/" 2>/dev/null)
	code=$(printf '%s' "$body" | tail -1)
	after=$(blocked_count)
	# curl reports the proxy's CONNECT refusal as code 403 on the tunnel
	if { [ "$code" = 403 ] || [ "$code" = 000 ]; } && [ "$after" -gt "$before" ]; then
		ok 0 "CONNECT $1 refused and audited"
	else
		ok 1 "CONNECT $1 refused and audited"
		diag "code $code, egress_blocked $before -> $after"
	fi
}
connect_refused "127.0.0.1:$HD_PORT"
connect_refused "localhost:22"
connect_refused "169.254.169.254:80"
connect_refused "[::1]:80"
connect_refused "[::ffff:169.254.169.254]:80"
connect_refused "10.0.0.1:443"
connect_refused "meta.test:80"
connect_refused "0x7f.1:80"
connect_refused "2130706433:80"
connect_refused "8.8.8.8:25"
connect_refused "93.184.216.34:6379"
out=$(inside curl -s -m 5 -x http://127.0.0.1:3128 "http://169.254.169.254/latest/meta-data/")
like "$out" '169.254' "an absolute-form request to the metadata service gets the guard's reason"
is "$(api GET '/api/v1/audit?event_type=egress_blocked&limit=1' | jq -r .events[0].pack)" proxy:browser \
	"the records name the browser proxy"
is "$(api GET '/api/v1/audit?event_type=egress_blocked&limit=1' | jq -r .events[0].actor)" tester \
	"and the session's owner"

# chromium itself goes through it
out=$(pack web.scrape_spa "{\"url\":\"http://127.0.0.2:$AP/echo\",\"fields\":{\"body\":{\"selector\":\"body\"}},\"_session_id\":\"$SID\"}")
like "$(printf '%s' "$out" | jq -r .output.data.body)" '"method":"GET"' "chromium loads an allowed page through the proxy"
like "$(grep -i '^Host:' "$W/api.log" | tail -1)" "127.0.0.2:$AP" "the server saw chromium's request"
before=$(blocked_count)
pack web.scrape_spa "{\"url\":\"http://169.254.169.254/latest/meta-data/\",\"fields\":{\"body\":{\"selector\":\"body\"}},\"timeout_ms\":3000,\"_session_id\":\"$SID\"}" >/dev/null
[ "$(blocked_count)" -gt "$before" ]; ok $? "chromium's request to the metadata service is refused and audited"

api DELETE /api/v1/sessions/$SID >/dev/null
sleep 0.5
inside true 2>/dev/null; ok "$([ $? != 0 ] && echo 0 || echo 1)" "the session's namespace is gone with it"
done_testing
