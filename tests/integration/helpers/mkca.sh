#!/bin/sh
# A throw-away PKI for the TLS tests, with openssl(1) only.
#   mkca.sh DIR
# Creates (DIR is made if missing):
#   DIR/ca.key DIR/ca.pem           test CA (EC P-256, valid 2 days)
#   DIR/server.key DIR/server.pem   signed by it; SAN IP:127.0.0.2,
#                                   DNS:tls.test, DNS:localhost; serverAuth
#   DIR/other-ca.pem                an unrelated CA (its key is discarded),
#                                   for "an unknown CA is refused"
# Quiet on success; on failure openssl's messages go to stderr, exit != 0.
# Serve with: openssl s_server -accept 127.0.0.2:PORT -cert DIR/server.pem \
#   -key DIR/server.key -WWW   (files from its cwd; ready once it prints ACCEPT)
set -e
[ $# -eq 1 ] || { echo "usage: mkca.sh DIR" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkca.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
run() { "$@" >>"$log" 2>&1 || { echo "mkca.sh: failed: $*" >&2; cat "$log" >&2; exit 1; }; }

cat >"$tmp/ca.ext" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
cat >"$tmp/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.2, DNS:tls.test, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

newkey() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
# a self-signed CA: KEY OUT SUBJECT
mkroot() {
	run openssl req -new -key "$1" -subj "$3" -out "$tmp/root.csr"
	run openssl x509 -req -in "$tmp/root.csr" -signkey "$1" -days 2 -sha256 \
		-set_serial "0x$(openssl rand -hex 8)" -extfile "$tmp/ca.ext" -out "$2"
}

newkey "$dir/ca.key"
mkroot "$dir/ca.key" "$dir/ca.pem" "/O=helmdeck tests/CN=helmdeck test CA"

newkey "$dir/server.key"
run openssl req -new -key "$dir/server.key" -subj "/O=helmdeck tests/CN=tls.test" -out "$tmp/server.csr"
run openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -days 2 -sha256 \
	-set_serial "0x$(openssl rand -hex 8)" -extfile "$tmp/server.ext" -out "$dir/server.pem"

newkey "$tmp/other-ca.key"
mkroot "$tmp/other-ca.key" "$dir/other-ca.pem" "/O=helmdeck tests/CN=helmdeck unrelated CA"

run openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem"
