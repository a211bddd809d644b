# TAP helpers and a real daemon for the integration tests (POSIX sh + bash).
# Each test file: . "$(dirname "$0")/lib.sh"; hd_start; ...; done_testing
set -u
shopt -s execfail 2>/dev/null  # a refused /dev/tcp connect must not end the test
trap 'hd_stop' EXIT
trap '' PIPE   # writing to a socket the server closed is a result, not a death
BIN=${HELMDECK_BIN_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
BIN=${BIN%/}
export HELMDECK_POLICY_DIR=${HELMDECK_POLICY_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/policy}
T_N=0
T_FAIL=0

ok() { # ok COND-EXIT-STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   $3: got '$1', want '$2'" >&2; fi
}
like() { # like GOT GREP-ERE DESCRIPTION
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3"; echo "#   $3: got '$(printf '%s' "$1" | head -c 600)', want match: $2" >&2; fi
}
skip() { T_N=$((T_N + 1)); echo "ok $T_N # SKIP $1"; }
diag() { echo "# $*"; }
done_testing() {
	hd_stop
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

HD_PID=""
HD_RUNAS=${HD_RUNAS:-}   # e.g. "setpriv --reuid=65534 ..." to run the daemon and CLI as another user
hd_start() { # extra env assignments may be passed as arguments
	[ -n "${HD_TMP_KEEP:-}" ] && HD_TMP=$HD_TMP_KEEP || HD_TMP=$(mktemp -d /tmp/helmdeck-test.XXXXXX)
	export HELMDECK_STATE_DIR=$HD_TMP/var
	export HELMDECK_ENABLE_TEST_PACKS=1
	# no warm browser unless a test asks for one (hd_start HELMDECK_BROWSER_POOL=1)
	export HELMDECK_BROWSER_POOL=${HELMDECK_BROWSER_POOL:-0}
	for try in 1 2 3 4 5; do
		HD_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000))
		export HELMDECK_ADDR=127.0.0.1:$HD_PORT
		HD_URL=http://$HELMDECK_ADDR
		# stdout is TAP: the daemon must never hold it (it logs to stderr)
		$HD_RUNAS env "$@" "$BIN/helmdeckd" >/dev/null 2>"$HD_TMP/daemon.log" </dev/null &
		HD_PID=$!
		for i in $(seq 1 100); do
			if curl -sf "$HD_URL/healthz" >/dev/null 2>&1 && [ -S "$HELMDECK_STATE_DIR/control.sock" ]; then
				# the vault must be up before tokens can be minted or verified
				if TOKEN=$($HD_RUNAS "$BIN/helmdeck" token mint --sub tester --scopes admin --ttl 1h 2>/dev/null); then
					export TOKEN
					hd_wait_ready
					return 0
				fi
			fi
			kill -0 "$HD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$HD_PID" 2>/dev/null; wait "$HD_PID" 2>/dev/null
		grep -q "Address already in use" "$HD_TMP/daemon.log" || break
	done
	echo "Bail out! helmdeckd did not start"; sed 's/^/# /' "$HD_TMP/daemon.log"; exit 1
}
# Until the api has the public key, authenticated calls answer 503.
hd_wait_ready() {
	for i in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$HD_URL/api/v1/packs")
		[ "$code" = 200 ] && return 0
		sleep 0.05
	done
}
hd_stop() {
	[ -n "$HD_PID" ] || return 0
	kill -TERM "$HD_PID" 2>/dev/null
	for i in $(seq 1 100); do kill -0 "$HD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$HD_PID" 2>/dev/null
	wait "$HD_PID" 2>/dev/null
	HD_PID=""
	# on failure the daemon's log goes to stderr, which prove always shows
	if [ "$T_FAIL" -ne 0 ]; then echo "# daemon log:" >&2; sed 's/^/#   /' "$HD_TMP/daemon.log" | tail -60 >&2; fi
	rm -rf "$HD_TMP"
	HD_TMP=/nonexistent
}
api() { # api METHOD PATH [BODY] -> prints body; HTTP status in $HD_STATUS file
	m=$1; p=$2; shift 2
	if [ $# -gt 0 ]; then
		curl -s -o "$HD_TMP/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer ${TOKEN_OVERRIDE:-$TOKEN}" \
			-H 'Content-Type: application/json' --data-binary "$1" "$HD_URL$p" >"$HD_TMP/status"
	else
		curl -s -o "$HD_TMP/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer ${TOKEN_OVERRIDE:-$TOKEN}" \
			"$HD_URL$p" >"$HD_TMP/status"
	fi
	cat "$HD_TMP/body"
}
status() { cat "$HD_TMP/status"; }
pack() { api POST "/api/v1/packs/$1" "$2"; }
# Chromium's own sandbox needs unprivileged user namespaces; a kernel (or an
# AppArmor profile) that refuses them makes every browser exit at start. Then
# the browser tests skip with chromium's reason instead of failing.
browser_usable_or_skip() {
	local out
	out=$(pack browser.interact '{"actions":[{"action":"execute","script":"1+1","name":"x"}]}')
	[ "$(printf '%s' "$out" | jq -r '.output.extractions.x // empty')" = 2 ] && return 0
	if grep -q 'No usable sandbox' "$HD_TMP/daemon.log"; then
		hd_stop
		echo "1..0 # SKIP chromium has no usable sandbox on this kernel (unprivileged user namespaces refused); it is never run with --no-sandbox"
		exit 0
	fi
	return 0  # some other failure: the tests that follow will show it
}
# PIDs of this daemon's children
hd_children() { pgrep -P "$HD_PID" 2>/dev/null | sort -n | tr '\n' ' '; }
# a live process (zombies waiting for init to reap them do not count)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# wait up to 5 s until none of the given pids is alive; print the survivors
survivors() {
	for i in $(seq 1 50); do
		left=""
		for k in "$@"; do alive "$k" && left="$left $k"; done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	printf '%s' "$left"
}
# The official MCP SDK from npm, and the `ws` package its WebSocket client
# needs on Node 20 (no global WebSocket), installed once into build/mcp-sdk
# and shared by the MCP tests. Prints its directory, or the reason it is
# unavailable (and returns 1).
MCP_SDK_VERSION=1.32.2
MCP_WS_VERSION=8.23.0
mcp_sdk() {
	sdk=$(cd "$(dirname "$0")/../.." && pwd)/build/mcp-sdk
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node/npm not installed"; return 1
	fi
	if { [ ! -d "$sdk/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$sdk/node_modules/ws" ]; } &&
		! (mkdir -p "$sdk" && cd "$sdk" && timeout 180 npm install --silent --no-audit --no-fund \
			"@modelcontextprotocol/sdk@$MCP_SDK_VERSION" "ws@$MCP_WS_VERSION" >/dev/null 2>&1); then
		echo "npm install @modelcontextprotocol/sdk@$MCP_SDK_VERSION ws@$MCP_WS_VERSION failed (no registry?)"; return 1
	fi
	echo "$sdk"
}
# The MCP inspector's CLI from npm, installed once into build/mcp-inspector.
# Prints the directory to run it from (its own build/: the package looks for
# ../package.json relative to the working directory), or the reason.
MCP_INSPECTOR_VERSION=1.0.3
mcp_inspector() {
	dir=$(cd "$(dirname "$0")/../.." && pwd)/build/mcp-inspector
	cli=$dir/node_modules/@modelcontextprotocol/inspector-cli/build
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node/npm not installed"; return 1
	fi
	if [ ! -f "$cli/cli.js" ] &&
		! (mkdir -p "$dir" && cd "$dir" && timeout 180 npm install --silent --no-audit --no-fund \
			"@modelcontextprotocol/inspector-cli@$MCP_INSPECTOR_VERSION" >/dev/null 2>&1); then
		echo "npm install @modelcontextprotocol/inspector-cli@$MCP_INSPECTOR_VERSION failed (no registry?)"; return 1
	fi
	echo "$cli"
}
sanitized() { [ "${HELMDECK_SANITIZED:-0}" = 1 ]; }
