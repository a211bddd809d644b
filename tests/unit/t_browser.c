/* TAP tests for workers/packs/browser_packs.c and cdp.c against a real
 * chromium, started as the supervisor starts one (a socketpair end on fds
 * 3 and 4, --remote-debugging-pipe, its own profile, its own uid when we
 * are root, its sandbox on), and pages served on loopback by a small HTTP
 * server forked here: a static page with known colours, fields and a form,
 * a single-page app that renders after 800 ms, a tall page, a redirect and
 * a page that never finishes loading. Outputs are checked against the
 * output schemas; one run of every pack happens under the real
 * worker-browser seccomp policy and Landlock; the CDP client meets garbage,
 * EOF and an oversized message from a fake browser; chromium is killed in
 * the middle of a call. Nothing is left running at the end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "workers/packs/registry.h"
#include "workers/packs/cdp.h"
#include "workers/packs/jsonschema.h"
#include "supervisor/landlock.h"
#include "supervisor/seccomp_policy.h"
#include "common/b64.h"
#include "common/util.h"
#include "tap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHROMIUM_DEFAULT "/usr/lib/chromium/chromium"
#define NOBODY 65534

static const char *chromium;
static char tmp_dir[64], profile_dir[128], art_dir[128], log_path[160];
static int art_fd = -1, cdp_fd = -1, srv_port;
static pid_t chrome_pid = -1, srv_pid = -1;
static struct pack_ctx ctx;
static char base[64];    /* http://127.0.0.1:<port> */

/* ---------- helpers ---------- */

static const struct pack_def *find(const char *name)
{
	for (size_t i = 0; i < browser_packs_n; i++)
		if (!strcmp(browser_packs[i].name, name))
			return &browser_packs[i];
	printf("Bail out! no pack %s\n", name);
	exit(2);
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	if (!v) {
		printf("Bail out! bad test JSON (%s): %s\n", e.text, text);
		exit(2);
	}
	return v;
}

/* A test input with every "@" replaced by the server's base URL. */
static json_t *JU(const char *text)
{
	size_t n = 0;
	for (const char *c = text; *c; c++)
		n += *c == '@';
	char *s = xmalloc(strlen(text) + n * strlen(base) + 1), *o = s;
	for (const char *c = text; *c; c++) {
		if (*c == '@') {
			memcpy(o, base, strlen(base));
			o += strlen(base);
		} else {
			*o++ = *c;
		}
	}
	*o = 0;
	json_t *v = J(s);
	free(s);
	return v;
}

static int schema_valid(const char *schema_text, const json_t *v, js_error *err)
{
	json_t *s = J(schema_text);
	int rc = jsonschema_validate(s, v, err);
	json_decref(s);
	return rc == 0;
}

static void ctx_reset(void)
{
	json_decref(ctx.artifacts);
	ctx = (struct pack_ctx){.artifacts_fd = art_fd, .ws_fd = -1, .cdp_fd = cdp_fd, .actor = "t",
				.artifacts = json_array()};
}

static uint64_t last_ms;

/* As the api runs a pack: input through the input schema (unless raw),
 * output through the output schema. Takes the input's reference. */
static json_t *run_as(const char *name, json_t *in, int raw)
{
	const struct pack_def *p = find(name);
	js_error err;
	if (!raw && !schema_valid(p->input_schema, in, &err))
		ok(0, "%s: test input passes the input schema (%s: %s)", name, err.path, err.msg);
	ctx_reset();
	ctx.pack = name;
	uint64_t t0 = now_ms_mono();
	json_t *out = p->fn(in, &ctx);
	last_ms = now_ms_mono() - t0;
	json_decref(in);
	if (out && !schema_valid(p->output_schema, out, &err))
		ok(0, "%s: output passes the output schema (%s: %s)", name, err.path, err.msg);
	if (!out && getenv("T_BROWSER_VERBOSE"))
		printf("#   %s: %s: %s [%s]\n", name, ctx.err_code, ctx.err_msg, ctx.err_detail);
	return out;
}

static json_t *run(const char *name, json_t *in) { return run_as(name, in, 0); }

static void expect_fail_as(const char *name, json_t *in, int raw, const char *code, const char *frag, const char *label)
{
	json_t *out = run_as(name, in, raw);
	int good = !out && !strcmp(ctx.err_code, code) && strstr(ctx.err_msg, frag);
	ok(good, "%s", label);
	if (!good)
		printf("#   got: %s '%s' (%s)\n#   expected: %s '...%s...'\n", out ? "success" : ctx.err_code, ctx.err_msg,
		       ctx.err_detail, code, frag);
	json_decref(out);
}

static void expect_fail(const char *name, json_t *in, const char *code, const char *frag, const char *label)
{
	expect_fail_as(name, in, 0, code, frag, label);
}

static const char *sget(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_int_t iget(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static int ends_with(const char *s, const char *suffix)
{
	return s && strlen(s) >= strlen(suffix) && !strcmp(s + strlen(s) - strlen(suffix), suffix);
}

/* An artifact's bytes from the store, or NULL. */
static uint8_t *artifact_bytes(const char *key, size_t *len)
{
	char path[256];
	snprintf(path, sizeof path, "%s/objects/%s", art_dir, key ? key : "none");
	char *data = NULL;
	ssize_t n = read_file(path, &data, 64u << 20);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return (uint8_t *)data;
}

static int png_dims(const uint8_t *d, size_t n, uint32_t *w, uint32_t *h)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (!d || n < 33 || memcmp(d, sig, 8) || memcmp(d + 12, "IHDR", 4))
		return -1;
	*w = (uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 | (uint32_t)d[18] << 8 | d[19];
	*h = (uint32_t)d[20] << 24 | (uint32_t)d[21] << 16 | (uint32_t)d[22] << 8 | d[23];
	return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---------- the HTTP server ---------- */

static const char page_static[] =
	"<!doctype html><html><head><title>Static Page</title><style>"
	"body{margin:0;background:#0000ff;color:#fff;font:16px sans-serif}#band{height:100px;background:#ff0000}"
	"</style></head><body><div id=\"band\"></div>"
	"<h1 id=\"headline\">Hello helmdeck</h1>"
	"<span class=\"price\">Price: $1,234.50</span>"
	"<ul id=\"items\"><li class=\"item\">one</li><li class=\"item\">two</li><li class=\"item\">three</li></ul>"
	"<a id=\"more\" href=\"/static#more\" data-id=\"42\">More</a>"
	"<form id=\"f\"><input id=\"name\" name=\"name\" autocomplete=\"off\"><button id=\"go\" type=\"submit\">Go</button></form>"
	"<div id=\"result\"></div><div id=\"hidden\" style=\"display:none\">secret</div>"
	"<script>document.getElementById('f').addEventListener('submit',function(e){e.preventDefault();"
	"document.getElementById('result').textContent='Hello, '+document.getElementById('name').value+'!';});</script>"
	"</body></html>";

static const char page_spa[] =
	"<!doctype html><html><head><title>SPA</title></head><body><div id=\"app\">loading</div><script>"
	"setTimeout(function(){document.getElementById('app').innerHTML='<h2 class=\"late\">Rendered later</h2>"
	"<span id=\"count\">17 items</span><ul><li class=\"tag\">a</li><li class=\"tag\">b</li></ul>';"
	"document.title='SPA ready';},800);</script></body></html>";

static const char page_tall[] =
	"<!doctype html><html><head><title>Tall</title></head><body style=\"margin:0\">"
	"<div style=\"height:3000px;background:linear-gradient(#f00,#00f)\">tall</div></body></html>";

static void srv_send(int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void srv_respond(int fd, const char *status, const char *extra, const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
			 status, strlen(body), extra);
	srv_send(fd, head, (size_t)n);
	srv_send(fd, body, strlen(body));
}

static void srv_handle(int fd)
{
	char req[8192];
	size_t got = 0;
	while (got < sizeof req - 1 && !memmem(req, got, "\r\n\r\n", 4)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			return;
		ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
	}
	req[got] = 0;
	char path[256] = "";
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	if (!strcmp(path, "/static"))
		srv_respond(fd, "200 OK", "", page_static);
	else if (!strcmp(path, "/spa"))
		srv_respond(fd, "200 OK", "", page_spa);
	else if (!strcmp(path, "/tall"))
		srv_respond(fd, "200 OK", "", page_tall);
	else if (!strcmp(path, "/redirect"))
		srv_respond(fd, "302 Found", "Location: /static\r\n", "moved");
	else if (!strcmp(path, "/hang")) {
		/* headers and the start of a body that never completes: the
		 * load event never fires */
		static const char part[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
					   "<html><head><title>Hanging</title></head><body>partial";
		srv_send(fd, part, sizeof part - 1);
		sleep(60);
	} else
		srv_respond(fd, "404 Not Found", "", "no such page");
}

static void srv_start(void)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
		printf("Bail out! cannot listen on loopback: %s\n", strerror(errno));
		exit(2);
	}
	srv_port = ntohs(a.sin_port);
	snprintf(base, sizeof base, "http://127.0.0.1:%d", srv_port);
	fflush(stdout);
	srv_pid = fork();
	if (srv_pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN);  /* connection children reap themselves */
		for (;;) {
			int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			if (fork() == 0) {
				close(ls);
				alarm(90);  /* a backstop: the test kills the group sooner */
				srv_handle(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	setpgid(srv_pid, srv_pid);
	close(ls);
}

/* ---------- chromium ---------- */

static void chrome_child(int fd, int logfd)
{
	setpgid(0, 0);
	/* both pipe fds are one socket; move it clear of 3 and 4 first */
	int s = fcntl(fd, F_DUPFD, 10);
	int nul = open("/dev/null", O_RDONLY);
	if (s < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 || dup2(s, 3) < 0 ||
	    dup2(s, 4) < 0)
		_exit(126);
	if (geteuid() == 0) {
		/* chromium refuses root unless its sandbox is off; we keep it on */
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(126);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);  /* after the uid change, which clears it */
	char udd[200], home[200];
	snprintf(udd, sizeof udd, "--user-data-dir=%s", profile_dir);
	snprintf(home, sizeof home, "HOME=%s", profile_dir);
	char *const argv[] = {
		(char *)"chromium", (char *)"--headless=new", (char *)"--remote-debugging-pipe", udd,
		(char *)"--no-first-run", (char *)"--no-default-browser-check", (char *)"--disable-background-networking",
		(char *)"--disable-component-update", (char *)"--disable-sync", (char *)"--disable-gpu",
		(char *)"--disable-breakpad", (char *)"--disable-crash-reporter", (char *)"--mute-audio",
		(char *)"--password-store=basic", (char *)"--use-mock-keychain", (char *)"--disable-quic",
		(char *)"about:blank", NULL,
	};
	char *const envp[] = {home, (char *)"PATH=/usr/bin:/bin", (char *)"LANG=C.UTF-8", (char *)"TMPDIR=/tmp", NULL};
	execve(chromium, argv, envp);
	_exit(127);
}

static int chrome_start(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -1;
	fflush(stdout);
	chrome_pid = fork();
	if (chrome_pid == 0)
		chrome_child(sv[1], logfd);
	setpgid(chrome_pid, chrome_pid);
	close(sv[1]);
	close(logfd);
	cdp_fd = sv[0];
	return chrome_pid > 0 ? 0 : -1;
}

static int group_alive(pid_t pgid) { return pgid > 0 && kill(-pgid, 0) == 0; }

/* Everything we started has been reaped: no child of ours is left. */
static int reap_all(int ms)
{
	uint64_t until = now_ms_mono() + (uint64_t)ms;
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p < 0 && errno == ECHILD)
			return 1;
		if (p > 0)
			continue;
		if (now_ms_mono() >= until)
			return 0;
		usleep(20000);
	}
}

static void chrome_kill(void)
{
	if (chrome_pid > 0)
		kill(-chrome_pid, SIGKILL);
}

/* ---------- a CDP probe of our own ---------- */

/* One expression in a fresh page of the browser; its value, or NULL. */
static json_t *probe_eval(const char *expr)
{
	struct cdp *c = cdp_open(cdp_fd);
	uint64_t dl = now_ms_mono() + 15000;
	json_t *r = NULL, *v = NULL;
	char target[128] = "", session[128] = "";
	if (cdp_call(c, NULL, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"), dl, &r) != CDP_OK)
		goto out;
	snprintf(target, sizeof target, "%s", sget(r, "targetId") ? sget(r, "targetId") : "");
	json_decref(r);
	if (cdp_call(c, NULL, "Target.attachToTarget", json_pack("{s:s,s:b}", "targetId", target, "flatten", 1), dl, &r) !=
	    CDP_OK)
		goto out;
	snprintf(session, sizeof session, "%s", sget(r, "sessionId") ? sget(r, "sessionId") : "");
	json_decref(r);
	if (cdp_call(c, session, "Runtime.evaluate",
		     json_pack("{s:s,s:b,s:b}", "expression", expr, "returnByValue", 1, "awaitPromise", 1), dl, &r) == CDP_OK) {
		v = json_object_get(json_object_get(r, "result"), "value");
		if (v)
			json_incref(v);
		json_decref(r);
	}
out:
	r = NULL;
	if (target[0])
		cdp_call(c, NULL, "Target.closeTarget", json_pack("{s:s}", "targetId", target), now_ms_mono() + 3000, &r);
	json_decref(r);
	cdp_free(c);
	return v;
}

/* RGB at (x,y) of each point of a PNG, decoded by the browser itself. */
static json_t *png_pixels(const uint8_t *png, size_t len, const int *pts, int npts)
{
	char *b64 = xmalloc(b64_encoded_len(len, 0) + 1);
	b64_encode(png, len, b64, 0);
	char list[256] = "";
	size_t o = 0;
	for (int i = 0; i < npts; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, "%s[%d,%d]", i ? "," : "", pts[2 * i], pts[2 * i + 1]);
	char *js = xasprintf("new Promise(function(res){var i=new Image();i.onload=function(){"
			     "var c=document.createElement('canvas');c.width=i.width;c.height=i.height;"
			     "var g=c.getContext('2d');g.drawImage(i,0,0);"
			     "res([%s].map(function(p){var d=g.getImageData(p[0],p[1],1,1).data;return [d[0],d[1],d[2]];}));};"
			     "i.onerror=function(){res(null);};i.src='data:image/png;base64,%s';})",
			     list, b64);
	free(b64);
	json_t *v = probe_eval(js);
	free(js);
	return v;
}

static int rgb_near(const json_t *px, int r, int g, int b)
{
	int d[3] = {r, g, b};
	for (int i = 0; i < 3; i++) {
		json_int_t v = json_integer_value(json_array_get(px, (size_t)i));
		if (v < d[i] - 12 || v > d[i] + 12)
			return 0;
	}
	return json_array_size(px) == 3;
}

/* Pages of the browser other than about:blank tabs: what packs left open. */
static int open_pages(void)
{
	struct cdp *c = cdp_open(cdp_fd);
	json_t *r = NULL;
	int n = -1;
	if (cdp_call(c, NULL, "Target.getTargets", NULL, now_ms_mono() + 10000, &r) == CDP_OK) {
		n = 0;
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(r, "targetInfos"), i, t) {
			int page = !strcmp(sget(t, "type") ? sget(t, "type") : "", "page");
			n += page;
			if (page)
				printf("#   open page: %s\n", sget(t, "url"));
		}
	}
	json_decref(r);
	cdp_free(c);
	return n;
}

/* ---------- under the worker's seccomp policy ---------- */

static int sandboxed_run(const char *name, json_t *in)
{
	ctx_reset();
	ctx.pack = name;
	json_t *out = find(name)->fn(in, &ctx);
	json_decref(in);
	if (!out)
		fprintf(stderr, "# sandboxed %s: %s: %s\n", name, ctx.err_code, ctx.err_msg);
	int bad = out == NULL;
	json_decref(out);
	return bad;
}

/* A forked child puts itself under worker-browser.policy (default: kill
 * the process) and Landlock beneath the artifact store, as a worker does,
 * and runs every pack against the real browser: a syscall the policy
 * lacks shows up as SIGSYS. First, before this process has warmed up
 * OpenSSL or jansson. */
static void test_seccomp_policy(void)
{
	const char *dir = getenv("HELMDECK_POLICY_DIR");
	if (!dir || !*dir)
		dir = "policy";
	char err[256];
	struct sc_policy *pol = sc_policy_load(dir, "worker-browser", err, sizeof err);
	if (!ok(pol != NULL, "worker-browser policy loads from %s", dir)) {
		printf("#   %s\n", err);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (sc_policy_apply(pol, NULL, err, sizeof err) < 0) {
			fprintf(stderr, "# %s\n", err);
			_exit(3);
		}
		if (landlock_restrict(art_fd, LL_READ | LL_WRITE) < 0)
			fprintf(stderr, "# no Landlock in this kernel: seccomp only\n");
		int bad = 0;
		bad += sandboxed_run("browser.screenshot_url", JU("{\"url\":\"@/static\",\"full_page\":true}"));
		bad += sandboxed_run("web.scrape_spa", JU("{\"url\":\"@/spa\",\"timeout_ms\":3000,"
							 "\"fields\":{\"h\":{\"selector\":\".late\"}}}"));
		bad += sandboxed_run("browser.interact",
				     JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"x\"},"
					"{\"action\":\"click\",\"selector\":\"#go\"},{\"action\":\"press\",\"key\":\"Tab\"},"
					"{\"action\":\"screenshot\"},{\"action\":\"assert_text\",\"selector\":\"#result\",\"text\":\"x!\"}]}"));
		_exit(bad ? 1 : 0);  /* _exit: no leak check, whose tracer the policy forbids */
	}
	ok_sandboxed_child(pid, "every browser pack runs under worker-browser.policy");
	sc_policy_free(pol);
}

/* ---------- table and schemas ---------- */

static void test_table(void)
{
	ok(browser_packs_n == 3, "three browser packs");
	for (size_t i = 0; i < browser_packs_n; i++) {
		const struct pack_def *p = &browser_packs[i];
		json_error_t je;
		js_error err = {{0}, {0}};
		json_t *in = json_loads(p->input_schema, 0, &je), *out = json_loads(p->output_schema, 0, &je);
		ok(in && out && jsonschema_check(in, &err) == 0 && jsonschema_check(out, &err) == 0,
		   "%s: schemas are JSON and use only supported keywords %s%s", p->name, err.path, err.msg);
		json_t *props = json_object_get(in, "properties");
		ok(json_is_false(json_object_get(in, "additionalProperties")) &&
		   json_is_object(json_object_get(props, "_session_id")) &&
		   json_is_object(json_object_get(json_object_get(out, "properties"), "_session_id")),
		   "%s: closed input schema that admits _session_id, and echoes it", p->name);
		uint32_t want = strcmp(p->name, "browser.interact") ? 60000 : 120000;
		ok(!strcmp(p->cls, "browser") && p->version == 1 && p->session == 1 && p->open_world == 1 &&
		   p->timeout_ms == want && p->fn && p->description && strlen(p->description) > 40,
		   "%s: class, version, session, open_world, timeout %u ms", p->name, want);
		json_decref(in);
		json_decref(out);
	}
	ctx_reset();
	ctx.cdp_fd = -1;
	json_t *in = J("{\"url\":\"about:blank\"}");
	json_t *o = find("browser.screenshot_url")->fn(in, &ctx);
	json_decref(in);
	ok(!o && !strcmp(ctx.err_code, "session_unavailable"), "no CDP channel: session_unavailable");
	json_decref(o);
}

/* ---------- browser.screenshot_url ---------- */

static void test_screenshot(void)
{
	json_t *o = run("browser.screenshot_url", JU("{\"url\":\"@/static\",\"width\":1024,\"height\":600}"));
	printf("# screenshot_url end to end: %llu ms\n", (unsigned long long)last_ms);
	ok(o != NULL, "screenshot of the static page");
	is_str(o ? sget(o, "title") : NULL, "Static Page", "title");
	ok(o && ends_with(sget(o, "url"), "/static"), "url");
	ok(o && iget(o, "width") == 1024 && iget(o, "height") == 600, "reported size is the viewport");
	size_t len = 0;
	uint8_t *png = o ? artifact_bytes(sget(o, "artifact_key"), &len) : NULL;
	uint32_t w = 0, h = 0;
	ok(png && png_dims(png, len, &w, &h) == 0, "the artifact is a PNG (signature and IHDR)");
	ok(w == 1024 && h == 600, "its IHDR says 1024x600 (%ux%u)", w, h);
	ok(o && (size_t)iget(o, "size") == len, "size is the stored length");
	json_t *meta = json_array_get(ctx.artifacts, 0);
	ok(json_array_size(ctx.artifacts) == 1 && !strcmp(sget(meta, "content_type"), "image/png") &&
	   !strcmp(sget(meta, "pack"), "browser.screenshot_url"), "listed as an image/png artifact of the pack");
	/* what it shows: the red band at the top, the blue page below */
	int pts[] = {500, 50, 1000, 550};
	json_t *px = png ? png_pixels(png, len, pts, 2) : NULL;
	ok(rgb_near(json_array_get(px, 0), 255, 0, 0) && rgb_near(json_array_get(px, 1), 0, 0, 255),
	   "the PNG shows the page: red band above, blue below");
	json_decref(px);
	free(png);
	json_decref(o);

	uint64_t times[2];
	for (int i = 0; i < 2; i++) {
		o = run("browser.screenshot_url", JU("{\"url\":\"@/static\"}"));
		times[i] = last_ms;
		json_decref(o);
	}
	printf("# screenshot_url again: %llu ms, %llu ms\n", (unsigned long long)times[0], (unsigned long long)times[1]);

	o = run("browser.screenshot_url", JU("{\"url\":\"@/tall\",\"full_page\":true,\"width\":800,\"height\":600}"));
	png = o ? artifact_bytes(sget(o, "artifact_key"), &len) : NULL;
	w = h = 0;
	int is_png = png && png_dims(png, len, &w, &h) == 0;
	ok(is_png && w == 800 && h == 3000, "full_page: the whole 3000 px page at the viewport width (%ux%u)", w, h);
	ok(o && iget(o, "height") == 3000 && iget(o, "width") == 800, "full_page: reported size matches the PNG");
	free(png);
	json_decref(o);
	o = run("browser.screenshot_url", JU("{\"url\":\"@/tall\",\"width\":800,\"height\":600}"));
	ok(o && iget(o, "height") == 600, "without full_page the tall page is cut at the viewport");
	json_decref(o);

	o = run("browser.screenshot_url", JU("{\"url\":\"@/redirect\",\"wait_ms\":50,\"_session_id\":\"s-1\"}"));
	ok(o && ends_with(sget(o, "url"), "/static") && !strcmp(sget(o, "title"), "Static Page"),
	   "a redirect: url is where it ended");
	ok(o && !json_object_get(o, "_session_id"), "no session id given to the worker: none echoed");
	json_decref(o);

	/* the session id the worker was given comes back */
	const struct pack_def *p = find("browser.screenshot_url");
	ctx_reset();
	ctx.pack = p->name;
	ctx.session_id = "sess-42";
	json_t *in = J("{\"url\":\"data:text/html,<title>d</title><body style='background:%230f0'>x\"}");
	o = p->fn(in, &ctx);
	json_decref(in);
	is_str(o ? sget(o, "_session_id") : NULL, "sess-42", "_session_id echoed");
	is_str(o ? sget(o, "title") : NULL, "d", "a data: URL");
	json_decref(o);

	expect_fail_as("browser.screenshot_url", J("{\"url\":\"javascript:alert(1)\"}"), 1, "invalid_input",
		       "http, https, file, data or about", "javascript: URLs are refused");
	expect_fail_as("browser.screenshot_url", J("{\"url\":\"chrome://settings\"}"), 1, "invalid_input",
		       "http, https", "chrome: URLs are refused");
	expect_fail_as("browser.screenshot_url", J("{\"url\":\"about:blank\",\"width\":50}"), 1, "invalid_input",
		       "100-4096", "a width out of range, refused by the handler too");
	/* a loopback port nobody listens on */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	bind(s, (struct sockaddr *)&a, sizeof a);
	getsockname(s, (struct sockaddr *)&a, &al);
	close(s);
	char closed[128];
	snprintf(closed, sizeof closed, "{\"url\":\"http://127.0.0.1:%d/\"}", ntohs(a.sin_port));
	expect_fail("browser.screenshot_url", J(closed), "invalid_input", "navigation failed: net::ERR_CONNECTION_REFUSED",
		    "an unreachable URL: navigation failed");
}

/* ---------- web.scrape_spa ---------- */

static void test_scrape(void)
{
	json_t *o = run("web.scrape_spa", JU("{\"url\":\"@/static\",\"timeout_ms\":300,\"fields\":{"
					     "\"headline\":{\"selector\":\"#headline\"},"
					     "\"price\":{\"selector\":\".price\",\"format\":\"number\"},"
					     "\"items\":{\"selector\":\"li.item\",\"format\":\"list\"},"
					     "\"id\":{\"selector\":\"#more\",\"format\":\"attr:data-id\"},"
					     "\"list_html\":{\"selector\":\"#items\",\"format\":\"html\"},"
					     "\"no_attr\":{\"selector\":\"#more\",\"format\":\"attr:title\"},"
					     "\"headline_num\":{\"selector\":\"#headline\",\"format\":\"number\"},"
					     "\"ghost\":{\"selector\":\"#nope\",\"format\":\"text\"}}}"));
	json_t *d = o ? json_object_get(o, "data") : NULL;
	is_str(sget(d, "headline"), "Hello helmdeck", "text field");
	ok(json_real_value(json_object_get(d, "price")) == 1234.5 || json_integer_value(json_object_get(d, "price")) == 1234,
	   "number field: \"Price: $1,234.50\" reads 1234.5");
	json_t *items = json_object_get(d, "items");
	ok(json_array_size(items) == 3 && !strcmp(json_string_value(json_array_get(items, 2)), "three"), "list field");
	is_str(sget(d, "id"), "42", "attr field");
	ok(sget(d, "list_html") && strstr(sget(d, "list_html"), "<ul id=\"items\"><li class=\"item\">one</li>"), "html field");
	json_t *miss = o ? json_object_get(o, "missing") : NULL;
	char *ms = miss ? json_dumps(miss, JSON_COMPACT) : NULL;
	is_str(ms, "[\"no_attr\",\"headline_num\",\"ghost\"]", "missing names the absent attribute, the non-number, the absent element");
	free(ms);
	ok(d && !json_object_get(d, "ghost") && !json_object_get(d, "headline_num"), "missing fields are absent from data");
	ok(o && ends_with(sget(o, "url"), "/static"), "url");
	json_decref(o);

	/* the single-page app: its content exists only 800 ms after load */
	o = run("web.scrape_spa", JU("{\"url\":\"@/spa\",\"timeout_ms\":3000,\"fields\":{"
				     "\"heading\":{\"selector\":\"h2.late\"},\"count\":{\"selector\":\"#count\",\"format\":\"number\"},"
				     "\"tags\":{\"selector\":\".tag\",\"format\":\"list\"}}}"));
	d = o ? json_object_get(o, "data") : NULL;
	is_str(sget(d, "heading"), "Rendered later", "SPA: a field rendered after load");
	ok(json_integer_value(json_object_get(d, "count")) == 17 || json_real_value(json_object_get(d, "count")) == 17,
	   "SPA: number field 17");
	ok(json_array_size(json_object_get(d, "tags")) == 2, "SPA: list field");
	ok(o && json_array_size(json_object_get(o, "missing")) == 0, "SPA: nothing missing");
	ok(last_ms >= 800 && last_ms < 2800, "SPA: waited for the render, not for the timeout (%llu ms)",
	   (unsigned long long)last_ms);
	json_decref(o);

	uint64_t t0 = now_ms_mono();
	o = run("web.scrape_spa", JU("{\"url\":\"@/spa\",\"timeout_ms\":1200,\"fields\":{"
				     "\"heading\":{\"selector\":\"h2.late\"},\"never\":{\"selector\":\".never\"}}}"));
	uint64_t el = now_ms_mono() - t0;
	ok(o && sget(json_object_get(o, "data"), "heading") && json_array_size(json_object_get(o, "missing")) == 1,
	   "SPA: partial result is a success naming the missing field");
	ok(el >= 1200 && el < 4000, "a field that never comes costs timeout_ms (%llu ms)", (unsigned long long)el);
	json_decref(o);

	o = run("web.scrape_spa", JU("{\"url\":\"@/spa\",\"timeout_ms\":0,\"fields\":{\"h\":{\"selector\":\"h2.late\"}}}"));
	ok(o && json_array_size(json_object_get(o, "missing")) == 1, "timeout_ms 0: one look, before the render");
	json_decref(o);
	o = run("web.scrape_spa", JU("{\"url\":\"@/spa\",\"timeout_ms\":0,\"wait_ms\":1200,\"fields\":{\"h\":{\"selector\":\"h2.late\"}}}"));
	ok(o && json_array_size(json_object_get(o, "missing")) == 0, "wait_ms: a fixed wait after load finds it");
	json_decref(o);

	expect_fail("web.scrape_spa", JU("{\"url\":\"@/static\",\"fields\":{\"x\":{\"selector\":\"##bad((\"}}}"),
		    "invalid_input", "fields.x: invalid CSS selector", "an invalid selector: invalid_input naming the field");
	expect_fail("web.scrape_spa", JU("{\"url\":\"@/static\",\"fields\":{\"x\":{\"selector\":\"a\",\"format\":\"json\"}}}"),
		    "invalid_input", "must be text, html, number, list or attr:<name>", "an unknown format");
	expect_fail("web.scrape_spa", JU("{\"url\":\"@/static\",\"fields\":{\"x\":{\"selector\":\"a\",\"format\":\"attr:\"}}}"),
		    "invalid_input", "attr:<name> needs", "attr: without a name");
	expect_fail_as("web.scrape_spa", JU("{\"url\":\"@/static\",\"fields\":{}}"), 1, "invalid_input", "1 to 100",
		       "no fields, refused by the handler too");
}

/* ---------- browser.interact ---------- */

static json_t *detail_json(void) { return json_loads(ctx.err_detail, 0, NULL); }

static void test_interact(void)
{
	json_t *o = run("browser.interact",
			JU("{\"url\":\"@/static\",\"actions\":["
			   "{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"Ada\"},"
			   "{\"action\":\"click\",\"selector\":\"#go\"},"
			   "{\"action\":\"assert_text\",\"selector\":\"#result\",\"text\":\"Hello, Ada!\"},"
			   "{\"action\":\"extract\",\"selector\":\"#result\",\"name\":\"greeting\"},"
			   "{\"action\":\"execute\",\"script\":\"document.title + ' ' + (1+2)\",\"name\":\"t\"},"
			   "{\"action\":\"execute\",\"script\":\"({a:[1,2]})\"},"
			   "{\"action\":\"screenshot\",\"name\":\"form\"},"
			   "{\"action\":\"scroll\",\"y\":40},"
			   "{\"action\":\"assert_text\",\"text\":\"Hello helmdeck\"},"
			   "{\"action\":\"wait\",\"timeout_ms\":50}]}"));
	ok(o && iget(o, "steps_completed") == 10, "interact: ten steps completed");
	json_t *ex = o ? json_object_get(o, "extractions") : NULL;
	is_str(sget(ex, "greeting"), "Hello, Ada!", "type + click submitted the form; the page's script wrote the result");
	is_str(sget(ex, "t"), "Static Page 3", "execute: the script's value into extractions[name]");
	json_t *st = o ? json_object_get(o, "steps") : NULL;
	ok(json_integer_value(json_array_get(json_object_get(json_object_get(json_array_get(st, 5), "result"), "a"), 1)) == 2,
	   "execute without name: the value in the step");
	ok(json_array_size(json_object_get(o, "screenshots")) == 1 &&
	   !strcmp(json_string_value(json_array_get(json_object_get(o, "screenshots"), 0)), sget(json_array_get(st, 6), "artifact_key")),
	   "screenshot step: its key in screenshots");
	ok(!strcmp(sget(json_array_get(ctx.artifacts, 0), "name") ?: "", "form.png"), "screenshot named form.png");
	json_t *as = o ? json_object_get(o, "assertions") : NULL;
	ok(json_array_size(as) == 2 && json_is_true(json_object_get(json_array_get(as, 0), "passed")) &&
	   iget(o, "assertions_passed") == 2, "both assertions passed and are listed");
	size_t i;
	json_t *s;
	int all_ok = st != NULL;
	json_array_foreach(st, i, s) all_ok &= json_is_true(json_object_get(s, "ok")) && (size_t)iget(s, "index") == i;
	ok(all_ok, "every step says ok, in order");
	ok(o && ends_with(sget(o, "url"), "/static"), "url");
	json_decref(o);

	/* press: Enter in the field submits the form */
	o = run("browser.interact",
		JU("{\"url\":\"@/static\",\"actions\":["
		   "{\"action\":\"type\",\"selector\":\"#name\",\"text\":\"Bob\"},"
		   "{\"action\":\"press\",\"key\":\"Enter\"},"
		   "{\"action\":\"assert_text\",\"selector\":\"#result\",\"text\":\"Hello, Bob!\",\"timeout_ms\":2000},"
		   "{\"action\":\"press\",\"key\":\"Backspace\",\"selector\":\"#name\"},"
		   "{\"action\":\"execute\",\"script\":\"document.getElementById('name').value\",\"name\":\"v\"}]}"));
	ok(o && iget(o, "steps_completed") == 5, "press Enter submits; Backspace edits");
	is_str(o ? sget(json_object_get(o, "extractions"), "v") : NULL, "Bo", "Backspace removed one character");
	json_decref(o);

	/* navigate and wait_for in the single-page app */
	o = run("browser.interact", JU("{\"actions\":[{\"action\":\"navigate\",\"url\":\"@/spa\"},"
				       "{\"action\":\"wait_for\",\"selector\":\"h2.late\",\"timeout_ms\":3000},"
				       "{\"action\":\"extract\",\"selector\":\"#count\"}]}"));
	is_str(o ? sget(json_object_get(o, "extractions"), "#count") : NULL, "17 items",
	       "navigate, wait_for the render, extract (keyed by selector)");
	ok(o && iget(json_array_get(json_object_get(o, "steps"), 1), "ms") >= 500, "wait_for waited for the render");
	json_decref(o);

	/* a failed assertion: what was done so far, in the detail */
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":["
				       "{\"action\":\"extract\",\"selector\":\"#headline\"},"
				       "{\"action\":\"screenshot\"},"
				       "{\"action\":\"assert_text\",\"selector\":\"#headline\",\"text\":\"Goodbye\",\"timeout_ms\":300},"
				       "{\"action\":\"click\",\"selector\":\"#go\"}]}"));
	ok(!o && !strcmp(ctx.err_code, "schema_mismatch"), "a failed assertion: schema_mismatch");
	ok(strstr(ctx.err_msg, "step 2 (assert_text)") && strstr(ctx.err_msg, "does not contain \"Goodbye\"") &&
	   strstr(ctx.err_msg, "Hello helmdeck"), "the message names the step, the text and what the element reads");
	json_t *d = detail_json();
	ok(d && iget(d, "steps_completed") == 2 && iget(d, "failed_step") == 2 && !strcmp(sget(d, "action"), "assert_text") &&
	   json_array_size(json_object_get(d, "screenshots")) == 1 && strlen(ctx.err_detail) < 500,
	   "detail: compact JSON of the partial run (%s)", ctx.err_detail);
	json_decref(d);

	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"click\",\"selector\":\"#nope\",\"timeout_ms\":300}]}"));
	ok(!o && !strcmp(ctx.err_code, "schema_mismatch") && strstr(ctx.err_msg, "no element matches #nope"),
	   "click on a missing selector: schema_mismatch");
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"click\",\"selector\":\"#hidden\",\"timeout_ms\":300}]}"));
	ok(!o && !strcmp(ctx.err_code, "schema_mismatch") && strstr(ctx.err_msg, "no size"), "click on a hidden element: schema_mismatch");
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"wait_for\",\"selector\":\".never\",\"timeout_ms\":300}]}"));
	ok(!o && !strcmp(ctx.err_code, "timeout"), "wait_for past its timeout: timeout");
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"execute\",\"script\":\"throw new Error('boom')\"}]}"));
	ok(!o && !strcmp(ctx.err_code, "invalid_input") && strstr(ctx.err_msg, "boom"), "a script that throws: invalid_input");
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"execute\",\"script\":\"window\"}]}"));
	ok(!o && !strcmp(ctx.err_code, "invalid_input"), "a value that is not JSON (window): invalid_input (%s)", ctx.err_msg);
	o = run("browser.interact", J("{\"actions\":[{\"action\":\"navigate\",\"url\":\"http://\"}]}"));
	ok(!o && !strcmp(ctx.err_code, "invalid_input") && strstr(ctx.err_msg, "navigation failed"),
	   "navigate to a URL chromium cannot parse: invalid_input (%s)", ctx.err_msg);
	o = run("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"extract\",\"selector\":\"[[\"}]}"));
	ok(!o && !strcmp(ctx.err_code, "invalid_input") && strstr(ctx.err_msg, "invalid CSS selector"), "an invalid selector: invalid_input");

	/* bad actions are refused before anything runs */
	o = run_as("browser.interact", JU("{\"url\":\"@/static\",\"actions\":[{\"action\":\"wait\"},{\"action\":\"click\"}]}"), 1);
	d = detail_json();
	ok(!o && !strcmp(ctx.err_code, "invalid_input") && strstr(ctx.err_msg, "click needs a selector") && d &&
	   iget(d, "failed_step") == 1 && iget(d, "steps_completed") == 0, "click without a selector: invalid_input, step 1, nothing run");
	ok(last_ms < 200, "refused without touching the browser (%llu ms)", (unsigned long long)last_ms);
	json_decref(d);
	expect_fail_as("browser.interact", J("{\"actions\":[{\"action\":\"press\",\"key\":\"F13\"}]}"), 1, "invalid_input",
		       "press needs a key", "an unknown key");
	expect_fail_as("browser.interact", J("{\"actions\":[{\"action\":\"hover\",\"selector\":\"a\"}]}"), 1, "invalid_input",
		       "unknown action hover", "an unknown action");
	expect_fail_as("browser.interact", J("{\"actions\":[{\"action\":\"navigate\",\"url\":\"javascript:1\"}]}"), 1,
		       "invalid_input", "navigate needs", "navigate to javascript:");
	expect_fail_as("browser.interact", J("{\"actions\":[]}"), 1, "invalid_input", "1 to 100", "no actions");
}

/* ---------- timeouts ---------- */

static void test_timeouts(void)
{
	json_t *o = run("browser.interact", JU("{\"actions\":[{\"action\":\"navigate\",\"url\":\"@/static\"},"
					       "{\"action\":\"navigate\",\"url\":\"@/hang\",\"timeout_ms\":1500}]}"));
	ok(!o && !strcmp(ctx.err_code, "timeout") && strstr(ctx.err_msg, "did not finish loading"),
	   "a page that never finishes loading: timeout");
	ok(last_ms >= 1500 && last_ms < 4500, "within its deadline (%llu ms for 1500)", (unsigned long long)last_ms);
	json_t *d = detail_json();
	ok(d && iget(d, "steps_completed") == 1 && iget(d, "failed_step") == 1, "detail: one step done, step 1 failed");
	json_decref(d);
	o = run("browser.interact", JU("{\"actions\":[{\"action\":\"execute\",\"script\":\"new Promise(function(){})\",\"timeout_ms\":700}]}"));
	ok(!o && !strcmp(ctx.err_code, "timeout") && last_ms < 3000, "a script that never settles: timeout (%llu ms)",
	   (unsigned long long)last_ms);
	o = run("browser.interact", JU("{\"actions\":[{\"action\":\"execute\",\"script\":\"for(;;){}\",\"timeout_ms\":700}]}"));
	ok(!o && !strcmp(ctx.err_code, "timeout") && last_ms < 3000, "a script that loops forever: timeout (%llu ms)",
	   (unsigned long long)last_ms);
	/* and the browser is still usable after both */
	o = run("browser.screenshot_url", JU("{\"url\":\"@/static\"}"));
	ok(o != NULL, "the session still works after the timeouts");
	json_decref(o);
	expect_fail("browser.screenshot_url", JU("{\"url\":\"@/static\",\"wait_ms\":60000}"), "timeout",
		    "does not fit", "wait_ms longer than the time left: timeout, without waiting");
	ok(last_ms < 5000, "refused at once (%llu ms)", (unsigned long long)last_ms);
}

/* ---------- the client against a fake browser ---------- */

/* A fake browser on a socketpair: answers with the bytes given, then
 * closes (or, with hold, stays silent). */
static pid_t fake_browser(int *fd, const char *reply, size_t len, int hold)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		char buf[4096];
		struct pollfd p = {.fd = sv[1], .events = POLLIN};
		if (poll(&p, 1, 5000) > 0 && read(sv[1], buf, sizeof buf) > 0 && len)
			srv_send(sv[1], reply, len);
		if (hold)
			sleep(10);
		_exit(0);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static void test_fake_browser(void)
{
	/* garbage after a first good message; nothing at all */
	static const char garbage[] = "{\"method\":\"X.y\",\"params\":{}}\0not json at all\0";
	static const struct {
		const char *reply;
		size_t len;
		const char *code, *frag;
	} cases[] = {
		{garbage, sizeof garbage - 1, "handler_failed", "not a JSON object"},
		{"", 0, "session_unavailable", "closed its channel"},
	};
	for (size_t i = 0; i < 2; i++) {
		int fd;
		pid_t pid = fake_browser(&fd, cases[i].reply, cases[i].len, 0);
		ctx_reset();
		ctx.cdp_fd = fd;
		ctx.pack = "browser.screenshot_url";
		json_t *in = J("{\"url\":\"about:blank\"}");
		uint64_t t0 = now_ms_mono();
		json_t *o = find("browser.screenshot_url")->fn(in, &ctx);
		json_decref(in);
		ok(!o && !strcmp(ctx.err_code, cases[i].code) && strstr(ctx.err_msg, cases[i].frag) && now_ms_mono() - t0 < 3000,
		   "a browser that sends %s: %s", i == 0 ? "garbage" : "EOF", cases[i].code);
		if (o || strcmp(ctx.err_code, cases[i].code))
			printf("#   got %s: %s\n", ctx.err_code, ctx.err_msg);
		close(fd);
		waitpid(pid, NULL, 0);
	}

	/* the tail of an earlier, killed invocation is skipped; a late answer
	 * with another id is dropped */
	static const char resync[] = "tail of something}\0{\"id\":1,\"result\":{}}\0";
	int fd;
	pid_t pid = fake_browser(&fd, resync, sizeof resync - 1, 1);
	struct cdp *c = cdp_open(fd);
	int rc = cdp_call(c, NULL, "Browser.getVersion", NULL, now_ms_mono() + 600, NULL);
	ok(rc == CDP_TIMEOUT, "a stale tail and a stale answer are skipped; then the deadline ends the wait (%d: %s)", rc,
	   cdp_error(c));
	cdp_free(c);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* a message with no end, past 64 MiB */
	size_t big = CDP_MSG_MAX + (2u << 20);
	char *huge = xmalloc(big);
	memset(huge, 'a', big);
	memcpy(huge, "{\"id\":0,\"x\":\"", 13);
	pid = fake_browser(&fd, huge, big, 1);
	free(huge);
	c = cdp_open(fd);
	uint64_t t0 = now_ms_mono();
	rc = cdp_call(c, NULL, "Browser.getVersion", NULL, now_ms_mono() + 10000, NULL);
	ok(rc == CDP_PROTOCOL && strstr(cdp_error(c), "larger than"), "a message past 64 MiB: a protocol error (%llu ms)",
	   (unsigned long long)(now_ms_mono() - t0));
	ok(cdp_call(c, NULL, "Browser.getVersion", NULL, now_ms_mono() + 100, NULL) == CDP_PROTOCOL,
	   "and the channel stays unusable");
	cdp_free(c);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---------- chromium's own sandbox ---------- */

/* Renderers of chromium's process group, and how many run under seccomp. */
static void count_renderers(int *renderers, int *sandboxed)
{
	DIR *d = opendir("/proc");
	int nr = 0, ns = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[64], *buf = NULL;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (read_file(path, &buf, 4096) < 0)
			continue;
		char *rp = strrchr(buf, ')');
		int pgrp = 0;
		if (!rp || sscanf(rp + 2, "%*c %*d %d", &pgrp) != 1 || pgrp != chrome_pid) {
			free(buf);
			continue;
		}
		free(buf);
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		ssize_t n = read_file(path, &buf, 65536);
		/* chromium rewrites a child's argv into one string: search it all */
		int renderer = n > 0 && memmem(buf, (size_t)n, "--type=renderer", 15) != NULL;
		free(buf);
		if (!renderer)
			continue;
		nr++;
		snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
		if (read_file(path, &buf, 65536) > 0 && strstr(buf, "\nSeccomp:\t2"))
			ns++;
		free(buf);
	}
	if (d)
		closedir(d);
	*renderers = nr;
	*sandboxed = ns;
}

/* While a page is open (it has a renderer), every renderer is sandboxed. */
static void test_chromium_sandbox(void)
{
	struct cdp *c = cdp_open(cdp_fd);
	json_t *r = NULL;
	char target[128] = "";
	if (cdp_call(c, NULL, "Target.createTarget", json_pack("{s:s}", "url", "data:text/html,<p>renderer"),
		     now_ms_mono() + 10000, &r) == CDP_OK)
		snprintf(target, sizeof target, "%s", sget(r, "targetId") ? sget(r, "targetId") : "");
	json_decref(r);
	int renderers = 0, sandboxed = 0;
	for (int i = 0; i < 50 && !renderers; i++) {
		cdp_idle(c, now_ms_mono() + 100);
		count_renderers(&renderers, &sandboxed);
	}
	ok(renderers > 0 && sandboxed == renderers, "chromium's sandbox is on: %d of %d renderers under seccomp", sandboxed,
	   renderers);
	r = NULL;
	if (target[0])
		cdp_call(c, NULL, "Target.closeTarget", json_pack("{s:s}", "targetId", target), now_ms_mono() + 3000, &r);
	json_decref(r);
	cdp_free(c);
}

/* ---------- chromium killed mid-call ---------- */

static void test_killed_mid_call(void)
{
	fflush(stdout);
	pid_t killer = fork();
	if (killer == 0) {
		usleep(700000);
		kill(-chrome_pid, SIGKILL);
		_exit(0);
	}
	json_t *o = run("browser.interact", JU("{\"actions\":[{\"action\":\"navigate\",\"url\":\"@/hang\",\"timeout_ms\":20000}]}"));
	waitpid(killer, NULL, 0);
	ok(!o && !strcmp(ctx.err_code, "session_unavailable"), "chromium killed mid-call: session_unavailable (%s: %s)",
	   ctx.err_code, ctx.err_msg);
	ok(last_ms < 5000, "noticed at once, not at the deadline (%llu ms)", (unsigned long long)last_ms);
	o = run("browser.screenshot_url", JU("{\"url\":\"@/static\"}"));
	ok(!o && !strcmp(ctx.err_code, "session_unavailable") && last_ms < 1000, "and the next call too, at once");
	json_decref(o);
}

/* ---------- setup and teardown ---------- */

static void setup_dirs(void)
{
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/t_browser.XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(2);
	}
	snprintf(profile_dir, sizeof profile_dir, "%s/profile", tmp_dir);
	snprintf(art_dir, sizeof art_dir, "%s/artifacts", tmp_dir);
	snprintf(log_path, sizeof log_path, "%s/chromium.log", tmp_dir);
	char objects[160], index[160];
	snprintf(objects, sizeof objects, "%s/objects", art_dir);
	snprintf(index, sizeof index, "%s/index", art_dir);
	if (mkdir(profile_dir, 0700) < 0 || mkdir(art_dir, 0700) < 0 || mkdir(objects, 0700) < 0 || mkdir(index, 0700) < 0) {
		printf("Bail out! mkdir: %s\n", strerror(errno));
		exit(2);
	}
	/* chromium runs as nobody: it needs to reach and own its profile */
	if (geteuid() == 0 && (chmod(tmp_dir, 0711) < 0 || chown(profile_dir, NOBODY, NOBODY) < 0)) {
		printf("Bail out! cannot hand the profile to uid %d: %s\n", NOBODY, strerror(errno));
		exit(2);
	}
	art_fd = open(art_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (art_fd < 0) {
		printf("Bail out! open %s: %s\n", art_dir, strerror(errno));
		exit(2);
	}
}

/* Wait until chromium answers CDP at all; its first start takes a moment.
 * 0, or -1 with why in msg. */
static int wait_for_chromium(char *msg, size_t msglen, uint64_t *ms)
{
	struct cdp *c = cdp_open(cdp_fd);
	uint64_t t0 = now_ms_mono();
	json_t *r = NULL;
	int rc = cdp_call(c, NULL, "Browser.getVersion", NULL, t0 + 20000, &r);
	*ms = now_ms_mono() - t0;
	snprintf(msg, msglen, "%s", rc == CDP_OK ? (sget(r, "product") ? sget(r, "product") : "?") : cdp_error(c));
	json_decref(r);
	cdp_free(c);
	return rc == CDP_OK ? 0 : -1;
}

/* Chromium exits at start when the kernel gives it no sandbox (no
 * unprivileged user namespaces); we do not turn the sandbox off. */
static int chromium_lacks_sandbox(void)
{
	char *log = NULL;
	int lacks = read_file(log_path, &log, 1u << 20) > 0 && strstr(log, "No usable sandbox");
	free(log);
	return lacks;
}

int main(void)
{
	chromium = getenv("HELMDECK_CHROMIUM");
	if (!chromium || !*chromium)
		chromium = CHROMIUM_DEFAULT;
	if (access(chromium, X_OK) < 0) {
		printf("1..0 # SKIP chromium not installed (%s)\n", chromium);
		return 0;
	}
	uint64_t t_start = now_ms_mono();
	/* orphans (chromium's double-forked helpers, the server's connection
	 * children) come back to us, so "nothing left" can be checked */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	setup_dirs();
	srv_start();
	if (chrome_start() < 0) {
		printf("Bail out! cannot start chromium: %s\n", strerror(errno));
		return 2;
	}
	char version[256];
	uint64_t start_ms;
	if (wait_for_chromium(version, sizeof version, &start_ms) < 0) {
		int nosandbox = chromium_lacks_sandbox();
		chrome_kill();
		if (srv_pid > 0)
			kill(-srv_pid, SIGKILL);
		reap_all(5000);
		if (nosandbox) {
			printf("1..0 # SKIP chromium finds no usable sandbox on this kernel (unprivileged user namespaces off)\n");
			rm_tree(tmp_dir);
			return 0;
		}
		printf("Bail out! chromium did not answer: %s; see %s\n", version, log_path);
		return 2;
	}
	ok(1, "chromium answers over the pipe (%llu ms, %s)", (unsigned long long)start_ms, version);

	test_seccomp_policy();
	test_table();
	test_screenshot();
	test_scrape();
	test_interact();
	test_timeouts();
	int pages = open_pages();
	ok(pages == 1, "every pack closed its page: %d page left (the initial about:blank)", pages);
	test_chromium_sandbox();
	test_fake_browser();
	test_killed_mid_call();

	json_decref(ctx.artifacts);
	ctx.artifacts = NULL;
	close(cdp_fd);
	chrome_kill();
	if (srv_pid > 0)
		kill(-srv_pid, SIGKILL);
	int reaped = reap_all(10000);
	ok(reaped && !group_alive(chrome_pid) && !group_alive(srv_pid), "no chromium, server or helper process is left");
	close(art_fd);
	rm_tree(tmp_dir);
	printf("# %llu ms in all\n", (unsigned long long)(now_ms_mono() - t_start));
	return done_testing();
}
