#!/bin/sh
# Install the Debian 12 packages helmdeck needs to build, run and test.
# As root it installs what is missing; otherwise it prints the apt line.
set -eu
PKGS="build-essential pkg-config libevent-dev libjansson-dev libssl-dev libsqlite3-dev \
libseccomp-dev libcap-dev libcurl4-openssl-dev sqlite3 json-schema-test-suite curl jq perl \
clang libclang-rt-14-dev iproute2 procps openssl util-linux git make bash libwebsockets-dev libuv1-dev chromium \
openssh-client"
# the git tests run a loopback sshd and a TLS git server (socat + git http-backend)
if [ "${1:-}" = "--test" ]; then PKGS="$PKGS openssh-server socat"; fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# `deps.sh --test`: also Node.js and npm, for the tests that drive helmdeck
# with the official MCP SDK (they skip, with the reason, without them). A
# node already on the machine (from any source) is used as it is.
want_node=""
if [ "${1:-}" = "--test" ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
	want_node=1
fi
if [ -z "$missing" ] && [ -z "$want_node" ]; then
	exit 0
fi
if [ -z "$missing" ] && [ "$(id -u)" -ne 0 ]; then
	echo "deps: the MCP SDK tests need Node.js and npm; run as root: apt-get install -y nodejs npm" >&2
	exit 0
fi
if [ -z "$missing" ]; then
	:
elif [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
		apt-get update >/dev/null
		apt-get install -y --no-install-recommends $missing
	}
else
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
if [ -n "$want_node" ] && [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing Node.js and npm for the MCP SDK tests" >&2
	export DEBIAN_FRONTEND=noninteractive
	# some repositories ship npm inside nodejs, Debian's as its own package
	apt-get install -y --no-install-recommends nodejs >/dev/null 2>&1 || true
	command -v npm >/dev/null || apt-get install -y --no-install-recommends npm >/dev/null 2>&1 ||
		echo "deps: could not install npm; the MCP SDK tests will skip" >&2
fi
