#!/bin/sh
# Install the Debian 12 packages helmdeck needs to build, run and test.
# As root it installs what is missing; otherwise it prints the apt line.
set -eu
PKGS="build-essential pkg-config libevent-dev libjansson-dev libssl-dev libsqlite3-dev \
libseccomp-dev libcap-dev libcurl4-openssl-dev sqlite3 json-schema-test-suite curl jq perl \
clang libclang-rt-14-dev iproute2 procps openssl util-linux git make bash libwebsockets-dev libuv1-dev chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
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
