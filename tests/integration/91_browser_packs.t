#!/bin/bash
# The browser packs through REST against pages this test serves on loopback:
# a static page, a single-page app that renders after a delay, a form, a tall
# page and a page that never finishes loading.
. "$(dirname "$0")/lib.sh"
[ -x /usr/lib/chromium/chromium ] || { echo "1..0 # SKIP chromium is not installed (scripts/deps.sh installs it)"; exit 0; }
command -v perl >/dev/null || { echo "1..0 # SKIP perl is needed for the test's web server"; exit 0; }
WWW=$(mktemp -d /tmp/helmdeck-www.XXXXXX)
WPID=""
trap 'hd_stop; pkill -f "httpd.pl $WWW" 2>/dev/null; rm -rf "$WWW"' EXIT
cat >"$WWW/index.html" <<'HTML'
<html><head><title>Static page</title></head>
<body style="margin:0;background:#ff0000"><h1 id="greeting">hello from helmdeck</h1>
<span class="price">Price: $12.50</span><a id="link" href="/spa.html">next</a></body></html>
HTML
cat >"$WWW/spa.html" <<'HTML'
<html><head><title>SPA</title></head><body><div id="app">loading</div>
<script>setTimeout(function () {
  document.getElementById('app').innerHTML = '<ul><li class="item">one</li><li class="item">two</li></ul><p id="done">rendered</p>';
}, 800);</script></body></html>
HTML
cat >"$WWW/form.html" <<'HTML'
<html><head><title>Form</title></head><body>
<input id="name" type="text"><button id="go" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!'">go</button>
<p id="out"></p></body></html>
HTML
{ echo '<html><body style="margin:0"><div style="height:3000px;background:#00f">tall</div></body></html>'; } >"$WWW/tall.html"
perl "$(dirname "$0")/helpers/httpd.pl" "$WWW" >"$WWW/port" 2>/dev/null &
WPID=$!
for i in $(seq 1 50); do [ -s "$WWW/port" ] && break; sleep 0.1; done
WP=$(cat "$WWW/port")
U=http://127.0.0.1:$WP
# the test's pages are on the host's loopback: sessions get the host network
hd_start HELMDECK_BROWSER_POOL=1 HELMDECK_BROWSER_NETWORK=direct
browser_usable_or_skip
jqr() { printf '%s' "$1" | jq -r "$2"; }
png_wh() { # KEY -> "W H" from the PNG's IHDR, fetched with artifact.get
	pack artifact.get "{\"key\":\"$1\",\"max_bytes\":8388608}" | jq -r .output.content_base64 | base64 -d >"$HD_TMP/shot.png"
	head -c 8 "$HD_TMP/shot.png" | od -An -tx1 | tr -d ' \n'
	printf ' %d %d' "$((16#$(od -An -j16 -N4 -tx1 "$HD_TMP/shot.png" | tr -d ' \n')))" \
		"$((16#$(od -An -j20 -N4 -tx1 "$HD_TMP/shot.png" | tr -d ' \n')))"
}

t0=$(date +%s%N)
out=$(pack browser.screenshot_url "{\"url\":\"$U/\",\"width\":800,\"height\":600}")
t1=$(date +%s%N)
is "$(status)" 200 "browser.screenshot_url of a loopback page"
diag "screenshot end to end: $(( (t1 - t0) / 1000000 )) ms"
is "$(jqr "$out" .output.title)" "Static page" "it reports the page's title"
KEY=$(jqr "$out" .output.artifact_key)
is "$(png_wh "$KEY")" "89504e470d0a1a0a 800 600" "the artifact is a PNG of the requested size"
is "$(jqr "$out" '.artifacts[0].content_type')" image/png "listed as an image/png artifact"
out=$(pack browser.screenshot_url "{\"url\":\"$U/tall.html\",\"width\":400,\"height\":300,\"full_page\":true}")
is "$(png_wh "$(jqr "$out" .output.artifact_key)")" "89504e470d0a1a0a 400 3000" "full_page captures the whole 3000 px page"

out=$(pack web.scrape_spa "{\"url\":\"$U/\",\"fields\":{\"greeting\":{\"selector\":\"#greeting\"},\"price\":{\"selector\":\".price\",\"format\":\"number\"},\"href\":{\"selector\":\"#link\",\"format\":\"attr:href\"},\"absent\":{\"selector\":\"#absent\"}},\"timeout_ms\":500}")
is "$(status)" 200 "web.scrape_spa with a missing field is still a success"
is "$(jqr "$out" '[.output.data.greeting, .output.data.price, .output.data.href] | @json')" '["hello from helmdeck",12.5,"/spa.html"]' "text, number and attr fields"
is "$(jqr "$out" '.output.missing | @json')" '["absent"]' "and the missing one is named"
out=$(pack web.scrape_spa "{\"url\":\"$U/spa.html\",\"fields\":{\"items\":{\"selector\":\".item\",\"format\":\"list\"},\"done\":{\"selector\":\"#done\"}}}")
is "$(jqr "$out" '[.output.data.items, .output.data.done] | @json')" '[["one","two"],"rendered"]' "an app that renders after 800 ms is scraped once it has"

out=$(pack browser.interact "{\"url\":\"$U/form.html\",\"actions\":[{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"Ada\"},{\"action\":\"click\",\"selector\":\"#go\"},{\"action\":\"assert_text\",\"selector\":\"#out\",\"text\":\"Hello, Ada!\"},{\"action\":\"extract\",\"selector\":\"#out\",\"name\":\"greeting\"},{\"action\":\"screenshot\"}]}")
is "$(status) $(jqr "$out" .output.steps_completed)" "200 5" "browser.interact fills a form, clicks and asserts"
is "$(jqr "$out" .output.extractions.greeting)" "Hello, Ada!" "and extracts the result"
is "$(jqr "$out" '.output.screenshots | length')" 1 "and takes a screenshot"
out=$(pack browser.interact "{\"url\":\"$U/form.html\",\"actions\":[{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"Bob\"},{\"action\":\"assert_text\",\"selector\":\"#out\",\"text\":\"never\"}]}")
is "$(status) $(jqr "$out" .error)" "422 schema_mismatch" "a failed assertion -> schema_mismatch"
like "$(jqr "$out" .detail)" '"steps_completed":1' "with what was done so far"
t0=$(date +%s)
out=$(pack browser.interact "{\"actions\":[{\"action\":\"navigate\",\"url\":\"$U/hang\",\"timeout_ms\":1500}]}")
t1=$(date +%s)
is "$(status) $(jqr "$out" .error)" "504 timeout" "a page that never finishes loading -> timeout"
[ $((t1 - t0)) -lt 10 ]; ok $? "at its deadline ($((t1 - t0)) s)"
out=$(pack browser.screenshot_url '{"url":"javascript:alert(1)"}')
is "$(status)" 400 "a javascript: URL is refused"

SID=$(api POST /api/v1/sessions '{"max_tasks":2}' | jq -r .id)
out=$(pack browser.interact "{\"_session_id\":\"$SID\",\"actions\":[{\"action\":\"navigate\",\"url\":\"$U/form.html\"},{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"kept\"}]}")
is "$(jqr "$out" .output._session_id)" "$SID" "a call with _session_id runs in that session and says so"
out=$(pack web.scrape_spa "{\"_session_id\":\"$SID\",\"url\":\"$U/\",\"fields\":{\"g\":{\"selector\":\"#greeting\"}}}")
is "$(jqr "$out" .output.data.g)" "hello from helmdeck" "a second task in the same session"
out=$(pack web.scrape_spa "{\"_session_id\":\"$SID\",\"url\":\"$U/\",\"fields\":{\"g\":{\"selector\":\"#greeting\"}}}")
is "$(status) $(jqr "$out" .error)" "400 invalid_input" "max_tasks is enforced: the third task is refused"
OTHER=$($HD_RUNAS "$BIN/helmdeck" token mint --sub someone-else --scopes admin --ttl 1h)
out=$(TOKEN_OVERRIDE=$OTHER pack web.scrape_spa "{\"_session_id\":\"$SID\",\"url\":\"$U/\",\"fields\":{\"g\":{\"selector\":\"#greeting\"}}}")
is "$(jqr "$out" .error)" invalid_input "another subject cannot use the session"
api DELETE "/api/v1/sessions/$SID" >/dev/null

# the reference's per-operation routes, in one session
S2=$(api POST /api/v1/sessions '{}' | jq -r .id)
out=$(api POST /api/v1/browser/navigate "{\"session_id\":\"$S2\",\"url\":\"$U/\"}")
is "$(status) $(jqr "$out" .output.steps_completed)" "200 1" "POST /api/v1/browser/navigate"
out=$(api POST /api/v1/browser/extract "{\"session_id\":\"$S2\",\"selector\":\"#greeting\"}")
is "$(jqr "$out" .output.extractions.value)" "hello from helmdeck" "POST /api/v1/browser/extract reads the page navigate left"
out=$(api POST /api/v1/browser/execute "{\"session_id\":\"$S2\",\"script\":\"document.title + ' ' + (6 * 7)\"}")
is "$(jqr "$out" .output.extractions.result)" "Static page 42" "POST /api/v1/browser/execute"
out=$(api POST /api/v1/browser/screenshot "{\"session_id\":\"$S2\"}")
is "$(jqr "$out" '.output.screenshots | length')" 1 "POST /api/v1/browser/screenshot"
api POST /api/v1/browser/navigate '{"url":"http://x/"}' >/dev/null
is "$(status)" 400 "a browser route without session_id is refused"
api DELETE "/api/v1/sessions/$S2" >/dev/null
# chromium processes whose parent chain reaches this daemon
ours() { for p in $(pgrep -f '^chromium --headless'); do q=$p; while [ "$q" -gt 1 ]; do
	[ "$q" = "$HD_PID" ] && { echo "$p"; break; }; q=$(awk '{print $4}' /proc/$q/stat 2>/dev/null || echo 1); done; done | wc -l; }
for i in $(seq 1 50); do n=$(ours); [ "$n" = 1 ] && break; sleep 0.1; done
[ "$n" = 1 ] || ps -eo pid,ppid,etimes,args | grep '[c]hromium --headless' >&2
is "$n" 1 "ephemeral sessions are gone after their calls: only the warm browser is left"
done_testing
