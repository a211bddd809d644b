#!/bin/bash
# The egress guard: an SSRF suite through http.fetch. Every vector is
# refused with invalid_input and the reason, and each refusal is in the
# audit log as egress_blocked. Names resolve through a test DNS server
# (HELMDECK_EGRESS_RESOLVER), including a rebinding name; the allowlisted
# 127.0.0.2 stands in for "the internet".
. "$(dirname "$0")/lib.sh"
H=$(dirname "$0")/helpers
W=$(mktemp -d /tmp/helmdeck-egress.XXXXXX)
trap 'hd_stop; kill ${APID:-} ${DPID:-} 2>/dev/null; rm -rf "$W"' EXIT
perl "$H/apisrv.pl" 127.0.0.2 "$W/api.log" >"$W/aport" 2>/dev/null &
APID=$!
cat >"$W/zone" <<'ZONE'
api.test A 127.0.0.2
meta.test A 169.254.169.254
internal.test A 10.1.2.3
v6loop.test AAAA ::1
mixed.test A 127.0.0.2,10.9.9.9
mapped.test AAAA ::ffff:169.254.169.254
nat64.test AAAA 64:ff9b::a9fe:a9fe
ecs.test A 169.254.170.2
azure.test A 168.63.129.16
cgnat.test A 100.64.1.1
rebind.test A seq:127.0.0.2|169.254.169.254
empty.test
ZONE
perl "$H/dnsd.pl" "$W/zone" "$W/dns.log" 127.0.0.1 >"$W/dport" 2>/dev/null &
DPID=$!
for i in $(seq 1 50); do [ -s "$W/aport" ] && [ -s "$W/dport" ] && break; sleep 0.1; done
AP=$(cat "$W/aport")
DP=$(cat "$W/dport")
hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$DP

blocked_count() { api GET "/api/v1/audit?event_type=egress_blocked&limit=1000" | jq -r '.count'; }
# refused URL [REASON-ERE]: invalid_input, the reason, and one more egress_blocked record
refused() {
	local before after out
	before=$(blocked_count)
	out=$(pack http.fetch "{\"url\":\"$1\"}")
	local st=$(status)
	after=$(blocked_count)
	local err=$(printf '%s' "$out" | jq -r .error) msg=$(printf '%s' "$out" | jq -r .message)
	if [ "$st $err" = "400 invalid_input" ] && [ "$after" -gt "$before" ] && printf '%s' "$msg" | grep -Eq "${2:-refused}"; then
		ok 0 "refused and audited: $1"
	else
		ok 1 "refused and audited: $1"
		diag "status $st, $out, egress_blocked $before -> $after"
	fi
}

# loopback, every spelling
refused "http://127.0.0.1:$HD_PORT/healthz" "127.0.0.0/8"
refused "http://localhost:$HD_PORT/healthz" "loopback"
refused "http://localhost./" "loopback"
refused "http://LOCALHOST/" "loopback"
refused "http://api.localhost/" "loopback"
refused "http://2130706433/" "127.0.0.0/8"
refused "http://0177.0.0.1/" "127.0.0.0/8"
refused "http://0x7f.0.0.1/" "127.0.0.0/8"
refused "http://0x7f000001/" "127.0.0.0/8"
refused "http://127.1/" "127.0.0.0/8"
refused "http://017700000001/" "127.0.0.0/8"
refused "http://127.0.0.1./" "127.0.0.0/8"
refused "http://[::1]/" "loopback"
refused "http://[::ffff:127.0.0.1]/" "127.0.0.0/8"
refused "http://[::ffff:7f00:1]/" "127.0.0.0/8"
refused "http://[0:0:0:0:0:ffff:127.0.0.1]/" "127.0.0.0/8"
refused "http://0.0.0.0/" "0.0.0.0/8"
refused "http://0/" "0.0.0.0/8"
refused "http://[::]/" "unspecified"
# cloud metadata, directly and wrapped
refused "http://169.254.169.254/latest/meta-data/" "metadata"
refused "http://169.254.170.2/v2/credentials" "169.254"
refused "http://[::ffff:169.254.169.254]/" "169.254"
refused "http://[64:ff9b::a9fe:a9fe]/" "NAT64"
refused "http://[2002:a9fe:a9fe::1]/" "6to4"
refused "http://[fd00:ec2::254]/" "fc00::/7"
refused "http://168.63.129.16/" "168.63.129.16"
refused "http://0xa9fea9fe/" "169.254"
refused "http://2852039166/" "169.254"
# private, shared, reserved, multicast
refused "http://10.0.0.1/" "10.0.0.0/8"
refused "http://172.16.0.1/" "172.16.0.0/12"
refused "http://192.168.1.1/" "192.168.0.0/16"
refused "http://100.64.0.1/" "100.64.0.0/10"
refused "http://192.0.0.170/" "192.0.0.0/24"
refused "http://198.18.0.1/" "198.18.0.0/15"
refused "http://224.0.0.1/" "224.0.0.0/4"
refused "http://255.255.255.255/" "240.0.0.0/4"
refused "http://[fe80::1]/" "fe80::/10"
refused "http://[fc00::1]/" "fc00::/7"
refused "http://[ff02::1]/" "ff00::/8"
# names that resolve to blocked addresses (the test resolver)
refused "http://meta.test/" "169.254"
refused "http://internal.test/" "10.0.0.0/8"
refused "http://v6loop.test/" "loopback"
refused "http://mixed.test:$AP/echo" "10.0.0.0/8"
refused "http://mapped.test/" "169.254"
refused "http://nat64.test/" "NAT64"
refused "http://ecs.test/" "169.254"
refused "http://azure.test/" "168.63.129.16"
refused "http://cgnat.test/" "100.64"
refused "http://META.TEST./" "169.254"
refused "http://nx.test/" "does not resolve"
refused "http://empty.test/" "does not resolve"
# a public address on a port that is not open
refused "http://93.184.216.34:25/" "port 25"
refused "http://93.184.216.34:6379/" "port 6379"
# userinfo does not hide the host
refused "http://127.0.0.2:$AP@169.254.169.254/" "169.254"
# redirects: every hop is vetted again
refused "http://127.0.0.2:$AP/redirect?to=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F" "169.254"
refused "http://127.0.0.2:$AP/redirect?to=http%3A%2F%2Flocalhost%3A$HD_PORT%2Fhealthz&code=307" "loopback"
refused "http://127.0.0.2:$AP/redirect?to=http%3A%2F%2Fmeta.test%2F&code=301" "169.254"
refused "http://api.test:$AP/redirect?to=http%3A%2F%2F%5B%3A%3A1%5D%2F&code=308" "loopback"
is "$(jq -n "$T_N >= 58")" true "at least 58 SSRF vectors refused"

# what is not a URL for us never goes out either
for u in "file:///etc/passwd" "gopher://127.0.0.2:$AP/" "ftp://127.0.0.2/" "dict://127.0.0.2:$AP/" "not a url" "http:///nohost"; do
	out=$(pack http.fetch "{\"url\":\"$u\"}")
	is "$(printf '%s' "$out" | jq -r .error)" invalid_input "not fetched: $u"
done

# the rebinding name: vetted once, connected to that same address
: >"$W/dns.log"
out=$(pack http.fetch "{\"url\":\"http://rebind.test:$AP/echo\"}")
is "$(printf '%s' "$out" | jq -r .output.status)" 200 "rebind.test answers 127.0.0.2 first: fetched"
is "$(grep -c '^rebind.test A$' "$W/dns.log")" 1 "one A lookup for that fetch: no second lookup to rebind"
refused "http://rebind.test:$AP/echo" "169.254"
is "$(jq -r '.events[0].payload.addresses[0] // empty' <<<"$(api GET '/api/v1/audit?event_type=egress_blocked&limit=1')")" 169.254.169.254 \
	"the audit record names the address it refused"

# what is allowed works, and is audited as allowed
out=$(pack http.fetch "{\"url\":\"http://api.test:$AP/echo?q=1\",\"method\":\"POST\",\"headers\":{\"X-Test\":\"yes\"},\"body\":\"hello\"}")
is "$(printf '%s' "$out" | jq -r '.output.status, (.output.body | fromjson | .method, .headers["x-test"], .body)' | tr '\n' ' ')" \
	"200 POST yes hello " "an allowlisted name: method, headers and body arrive"
is "$(api GET '/api/v1/audit?event_type=egress_allowed&limit=1' | jq -r '.events[0].payload.host')" api.test "egress_allowed is audited"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/redirect?to=%2Fecho%3Fhop%3D2\"}")
is "$(printf '%s' "$out" | jq -r '.output.status, .output.redirects, (.output.body | fromjson | .path)' | tr '\n' ' ')" \
	"200 1 /echo?hop=2 " "a redirect to an allowed target is followed"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/redirect?to=%2Fecho\",\"follow_redirects\":false}")
is "$(printf '%s' "$out" | jq -r '.output.status, .output.headers.location' | tr '\n' ' ')" "302 /echo " "follow_redirects false returns the 3xx"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/bytes?n=5000\",\"max_bytes\":4096}")
is "$(printf '%s' "$out" | jq -r .error)" resource_exhausted "a body over max_bytes -> resource_exhausted"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/bytes?n=4096\",\"max_bytes\":4096}")
is "$(printf '%s' "$out" | jq -r .output.bytes)" 4096 "a body of exactly max_bytes is returned"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/binary\"}")
is "$(printf '%s' "$out" | jq -r .output.body_base64 | base64 -d | sha256sum | cut -c1-16)" \
	"$(perl -e 'print chr($_) for 0..255' | sha256sum | cut -c1-16)" "a binary body comes back as body_base64, byte-exact"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/slow?ms=5000\",\"timeout_s\":1}")
is "$(printf '%s' "$out" | jq -r .error)" timeout "a slow server -> timeout"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"Host\":\"evil\"}}")
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "a Host header is refused"
out=$(pack http.fetch "{\"url\":\"http://127.0.0.2:$AP/echo\",\"headers\":{\"X-A\":\"a\\r\\nX-Injected: 1\"}}")
is "$(printf '%s' "$out" | jq -r .error)" invalid_input "CR/LF in a header value is refused"
! grep -q 'X-Injected' "$W/api.log"; ok $? "and nothing was injected"

# IPv6 end to end: an allowlisted ::1 is fetched, pinned to that address
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128'; then
	perl "$H/apisrv.pl" '[::1]:0' "$W/api6.log" >"$W/aport6" 2>/dev/null &
	A6=$!
	for i in $(seq 1 50); do [ -s "$W/aport6" ] && break; sleep 0.1; done
	hd_stop
	hd_start "HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32,::1/128" HELMDECK_EGRESS_RESOLVER=127.0.0.1:$DP
	out=$(pack http.fetch "{\"url\":\"http://[::1]:$(cat "$W/aport6")/echo\"}")
	is "$(printf '%s' "$out" | jq -r '.output.status, (.output.body | fromjson | .method)' | tr '\n' ' ')" "200 GET " \
		"an allowlisted IPv6 target is fetched"
	refused "http://[::ffff:127.0.0.1]:$(cat "$W/aport6")/" "127.0.0.0/8"
	kill $A6 2>/dev/null
else
	skip "no IPv6 loopback on this machine"
	skip "no IPv6 loopback on this machine"
fi

# https against a loopback server with a test CA
if command -v openssl >/dev/null && [ -x "$H/mkca.sh" ]; then
	"$H/mkca.sh" "$W/ca"
	TP=$((30000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
	mkdir -p "$W/www" && echo "hello over tls" >"$W/www/hello.txt"
	(cd "$W/www" && exec openssl s_server -quiet -accept 127.0.0.2:$TP -cert "$W/ca/server.pem" -key "$W/ca/server.key" -WWW) \
		>/dev/null 2>&1 </dev/null &
	SPID=$!
	for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.2/$TP) 2>/dev/null && break; sleep 0.1; done
	hd_stop
	printf 'tls.test A 127.0.0.2\nwrong.test A 127.0.0.2\n' >>"$W/zone"
	hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$DP HELMDECK_EGRESS_CA_FILE=$W/ca/ca.pem
	out=$(pack http.fetch "{\"url\":\"https://tls.test:$TP/hello.txt\"}")
	is "$(printf '%s' "$out" | jq -r '.output.status, .output.body' | tr '\n' ' ')" "200 hello over tls  " \
		"https with the operator's CA: verified and fetched"
	out=$(pack http.fetch "{\"url\":\"https://wrong.test:$TP/hello.txt\"}")
	is "$(printf '%s' "$out" | jq -r .error)" handler_failed "a certificate for another name is refused"
	hd_stop
	hd_start HELMDECK_EGRESS_ALLOWLIST=127.0.0.2/32 HELMDECK_EGRESS_RESOLVER=127.0.0.1:$DP HELMDECK_EGRESS_CA_FILE=$W/ca/other-ca.pem
	out=$(pack http.fetch "{\"url\":\"https://tls.test:$TP/hello.txt\"}")
	like "$(printf '%s' "$out" | jq -r '.error + " " + .message')" '^handler_failed .*(certificate|SSL)' "an unknown CA is refused"
	kill $SPID 2>/dev/null
else
	skip "openssl or mkca.sh missing: no https test"
fi
done_testing
