/* helmdeck-mcp: the stdio MCP bridge.
 *
 * MCP clients that only speak the stdio transport (Claude Desktop, Gemini
 * CLI, ...) launch this program. It reads newline-delimited JSON-RPC
 * messages on stdin, POSTs each one to $HELMDECK_URL/api/v1/mcp (streamable
 * HTTP) with the bearer token, and writes every JSON-RPC reply as one
 * compact line on stdout. stdout is the protocol; logs go to stderr.
 *
 * Messages are handled one at a time, in order, over one keep-alive
 * connection. The bridge keeps the Mcp-Session-Id the server issued on
 * initialize and, when the server forgets it (HTTP 404: restart or expiry),
 * replays the client's initialize once and retries the message. No
 * privileges, nothing but libc, libcurl and jansson.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef HELMDECK_VERSION
#define HELMDECK_VERSION "0.0.0"
#endif

#define LINE_LIMIT (16u << 20)  /* longest stdin message */
#define REPLY_LIMIT (64u << 20) /* longest server reply */
#define TOKEN_LIMIT 16384
#define URL_LIMIT 2048
#define SID_LIMIT 256
#define PROTO_LIMIT 64
#define REACH_BUDGET_MS 10000 /* give up on an unreachable server after ~this long */

static const long backoff_ms[] = {200, 500, 1000, 2000, 4000};

static volatile sig_atomic_t stopping; /* SIGTERM/SIGINT/SIGHUP seen */

struct bridge {
	CURL *curl;
	char base[URL_LIMIT];         /* HELMDECK_URL, no trailing '/' */
	char mcp_url[URL_LIMIT + 32]; /* base + /api/v1/mcp */
	char *token;
	char *auth_line; /* "Authorization: Bearer <token>" */
	long timeout_ms;
	char sid[SID_LIMIT + 1];     /* Mcp-Session-Id, "" before initialize */
	char proto[PROTO_LIMIT + 1]; /* negotiated protocol revision */
	char *init_msg;              /* the client's initialize, replayed on 404 */
	size_t init_len;
	char errbuf[CURL_ERROR_SIZE];
	int out_broken; /* stdout is gone: stop */
	/* stdin, shared by the read loop and the transfer in flight: while a
	 * call runs, its progress callback reads on, so a cancellation for it
	 * goes out at once on a second connection instead of after it */
	char *in;
	size_t in_len, in_cap;
	int in_eof;
	CURL *side;     /* that second connection */
};

struct reply {
	long status;
	char *body;
	size_t len, cap;
	int overflow, nomem;
	char sid[SID_LIMIT + 1];
	char ctype[128];
};

enum method { M_GET, M_POST, M_DELETE };

__attribute__((format(printf, 1, 2))) static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("helmdeck-mcp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (!stopping && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* header lists hold a copy of the token: wipe them before freeing */
static void slist_wipe_free(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/* cut a trailing incomplete UTF-8 sequence left by truncation */
static void utf8_trim(char *s)
{
	size_t i = strlen(s), k = 0;
	while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--, k++;
	if (i == 0 || !((unsigned char)s[i - 1] & 0x80))
		return;
	unsigned char c = (unsigned char)s[i - 1];
	size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
	if (need != k + 1)
		s[i - 1] = '\0';
}

/* ---- stdout: one JSON-RPC message per line ---- */

static void emit(struct bridge *b, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (!s) {
		logmsg("could not serialize a reply (out of memory?)");
		return;
	}
	if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		logmsg("stdout closed: %s", strerror(errno));
		b->out_broken = 1;
	}
	free(s);
}

__attribute__((format(printf, 4, 5))) static void emit_error(struct bridge *b, json_t *id, int code,
							      const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	utf8_trim(text);
	json_t *m = json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
			      code, "message", text);
	if (!m) /* text was not UTF-8 after all */
		m = json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
			      code, "message", "helmdeck-mcp: error");
	if (m) {
		emit(b, m);
		json_decref(m);
	} else {
		logmsg("out of memory writing an error");
	}
}

/* ---- HTTP ---- */

/* copy a header value: trimmed; strict = one visible-ASCII token that fits */
static void header_value(char *dst, size_t cap, const char *p, size_t n, int strict)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	dst[0] = '\0';
	if (strict) {
		if (n == 0 || n >= cap)
			return;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
				return;
	} else if (n >= cap) {
		n = cap - 1;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n;
	static const char ksid[] = "mcp-session-id:", kct[] = "content-type:";
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after 100 Continue, say) */
		r->sid[0] = r->ctype[0] = '\0';
	} else if (len > sizeof ksid - 1 && !strncasecmp(p, ksid, sizeof ksid - 1)) {
		header_value(r->sid, sizeof r->sid, p + sizeof ksid - 1, len - (sizeof ksid - 1), 1);
	} else if (len > sizeof kct - 1 && !strncasecmp(p, kct, sizeof kct - 1)) {
		header_value(r->ctype, sizeof r->ctype, p + sizeof kct - 1, len - (sizeof kct - 1), 0);
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n;
	if (len > REPLY_LIMIT - r->len) {
		r->overflow = 1;
		return 0;
	}
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < r->len + len + 1)
			cap *= 2;
		char *q = realloc(r->body, cap);
		if (!q) {
			r->nomem = 1;
			return 0;
		}
		r->body = q;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static void side_cancel(struct bridge *b, const char *line, size_t len);

/* Read more of stdin into b->in; with wait 0 only what is there already.
 * 1 when bytes came, 0 at EOF or when nothing is there, -1 on an error. */
static int in_fill(struct bridge *b, int wait)
{
	if (b->in_eof)
		return 0;
	if (!wait) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		if (poll(&p, 1, 0) != 1)
			return 0;
	}
	if (b->in_len == b->in_cap) {
		size_t ncap = b->in_cap * 2 > LINE_LIMIT + 1 ? LINE_LIMIT + 1 : b->in_cap * 2;
		if (ncap <= b->in_cap)
			return 0;  /* full: the read loop deals with an over-long line */
		char *q = realloc(b->in, ncap);
		if (!q)
			return 0;
		b->in = q;
		b->in_cap = ncap;
	}
	ssize_t got = read(STDIN_FILENO, b->in + b->in_len, b->in_cap - b->in_len);
	if (got < 0 && errno == EINTR)
		return wait ? in_fill(b, wait) : 0;
	if (got == 0)
		b->in_eof = 1;
	if (got < 0) {
		logmsg("reading stdin: %s", strerror(errno));
		b->in_eof = 1;
		return -1;
	}
	if (got == 0)
		return 0;
	b->in_len += (size_t)got;
	return 1;
}

/* Pull every complete notifications/cancelled line out of the buffer and
 * send it now; everything else stays, in order, for the read loop. */
static void in_take_cancels(struct bridge *b)
{
	size_t pos = 0;
	while (pos < b->in_len) {
		char *nl = memchr(b->in + pos, '\n', b->in_len - pos);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (b->in + pos));
		int cancel = 0;
		if (memmem(b->in + pos, n, "notifications/cancelled", 23)) {
			json_error_t je;
			json_t *m = json_loadb(b->in + pos, n, 0, &je);
			const char *method = json_is_object(m) ? json_string_value(json_object_get(m, "method")) : NULL;
			cancel = method && !strcmp(method, "notifications/cancelled") && !json_object_get(m, "id");
			json_decref(m);
		}
		if (!cancel) {
			pos += n + 1;
			continue;
		}
		side_cancel(b, b->in + pos, n);
		memmove(b->in + pos, nl + 1, b->in_len - (pos + n + 1));
		b->in_len -= n + 1;
	}
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	struct bridge *b = ud;
	if (b && b->side && !stopping) {
		int any = 0;
		while (in_fill(b, 0) > 0)
			any = 1;
		if (any)
			in_take_cancels(b);
	}
	return stopping ? 1 : 0; /* a signal ends the transfer in flight */
}

static void reply_free(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

static struct curl_slist *append(struct curl_slist *h, const char *line, int *fail)
{
	struct curl_slist *t = *fail ? NULL : curl_slist_append(h, line);
	if (!t) {
		*fail = 1;
		return h;
	}
	return t;
}

/* the headers of an MCP request; sid may be NULL */
static struct curl_slist *mcp_headers(const struct bridge *b, const char *sid)
{
	char line[SID_LIMIT + PROTO_LIMIT + 32];
	int fail = 0;
	struct curl_slist *h = append(NULL, b->auth_line, &fail);
	h = append(h, "Content-Type: application/json", &fail);
	h = append(h, "Accept: application/json, text/event-stream", &fail);
	h = append(h, "Expect:", &fail); /* no 100-continue round trip for big bodies */
	if (sid && *sid) {
		snprintf(line, sizeof line, "Mcp-Session-Id: %s", sid);
		h = append(h, line, &fail);
	}
	if (b->proto[0]) {
		snprintf(line, sizeof line, "MCP-Protocol-Version: %s", b->proto);
		h = append(h, line, &fail);
	}
	if (fail) {
		slist_wipe_free(h);
		return NULL;
	}
	return h;
}

/* one HTTP exchange; the reply is in *r (free it with reply_free) */
static CURLcode perform(struct bridge *b, enum method m, const char *url, const char *body, size_t len,
			struct curl_slist *hdrs, long timeout_ms, long connect_ms, struct reply *r)
{
	CURL *c = b->curl;
	reply_free(r);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	if (m == M_POST) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		if (m == M_DELETE)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms < timeout_ms ? connect_ms : timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	b->errbuf[0] = '\0';
	CURLcode rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	return rc;
}

static const char *curl_err(const struct bridge *b, CURLcode rc)
{
	return b->errbuf[0] ? b->errbuf : curl_easy_strerror(rc);
}

/* Did the request fail before the server could have seen it? Then it is
 * safe to send again, even a tools/call. */
static int retryable(CURL *c, CURLcode rc)
{
	long sent = 0;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return 1;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
		return sent == 0;
	default:
		return 0;
	}
}

/* POST one message to the MCP endpoint, retrying with backoff while the
 * server cannot be reached */
static CURLcode post_mcp(struct bridge *b, const char *body, size_t len, const char *sid, struct reply *r)
{
	struct curl_slist *h = mcp_headers(b, sid);
	if (!h)
		return CURLE_OUT_OF_MEMORY;
	long start = now_ms();
	CURLcode rc;
	for (size_t attempt = 0;; attempt++) {
		long left = REACH_BUDGET_MS - (now_ms() - start);
		long connect_ms = left > 5000 ? 5000 : left < 1000 ? 1000 : left;
		rc = perform(b, M_POST, b->mcp_url, body, len, h, b->timeout_ms, connect_ms, r);
		if (rc == CURLE_OK || stopping || !retryable(b->curl, rc) ||
		    attempt == sizeof backoff_ms / sizeof backoff_ms[0] ||
		    now_ms() - start + backoff_ms[attempt] > REACH_BUDGET_MS)
			break;
		if (attempt == 0)
			logmsg("helmdeck unreachable at %s (%s); retrying", b->base, curl_err(b, rc));
		sleep_ms(backoff_ms[attempt]);
	}
	slist_wipe_free(h);
	return rc;
}

/* A cancellation for the call in flight, on the second connection; its
 * answer (202) carries nothing. */
static void side_cancel(struct bridge *b, const char *line, size_t len)
{
	struct curl_slist *h = mcp_headers(b, b->sid);
	if (!h)
		return;
	struct reply r = {0};
	CURL *c = b->side;
	curl_easy_setopt(c, CURLOPT_URL, b->mcp_url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, line);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		logmsg("could not forward a cancellation: %s", curl_easy_strerror(rc));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	reply_free(&r);
	slist_wipe_free(h);
}

/* ---- replies ---- */

/* a successful initialize: keep the session, the revision and the message */
static void note_initialize(struct bridge *b, json_t *msg, const struct reply *r, const char *line, size_t len)
{
	json_t *res = json_object_get(msg, "result");
	if (!json_is_object(res))
		return;
	snprintf(b->sid, sizeof b->sid, "%s", r->sid);
	const char *v = json_string_value(json_object_get(res, "protocolVersion"));
	b->proto[0] = '\0';
	if (v)
		header_value(b->proto, sizeof b->proto, v, strlen(v), 1);
	char *copy = malloc(len);
	if (!copy) {
		logmsg("out of memory keeping the initialize message; session recovery disabled");
		return;
	}
	memcpy(copy, line, len);
	free(b->init_msg);
	b->init_msg = copy;
	b->init_len = len;
}

/* a JSON-RPC message from the server: to stdout */
static int pass_through(struct bridge *b, const char *text, size_t n, const struct reply *r, int is_init,
			const char *line, size_t len)
{
	json_error_t je;
	json_t *msg = json_loadb(text, n, 0, &je);
	if (!msg)
		return -1;
	if (!(json_is_object(msg) && json_object_get(msg, "jsonrpc")) && !json_is_array(msg)) {
		json_decref(msg);
		return -1;
	}
	if (is_init && r->status == 200)
		note_initialize(b, msg, r, line, len);
	emit(b, msg);
	json_decref(msg);
	return 0;
}

/* a text/event-stream reply: every event's data is one JSON-RPC message */
static int pass_events(struct bridge *b, const struct reply *r, int is_init, const char *line, size_t len)
{
	char *data = r->len ? malloc(r->len + 1) : NULL;
	if (!data)
		return -1;
	size_t dn = 0;
	int sent = 0;
	const char *p = r->body, *end = r->body + r->len;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0) { /* blank line: dispatch */
			if (dn && pass_through(b, data, dn, r, is_init, line, len) == 0)
				sent++;
			dn = 0;
		} else if (n >= 5 && !memcmp(p, "data:", 5)) {
			const char *v = p + 5;
			size_t vn = n - 5;
			if (vn && *v == ' ')
				v++, vn--;
			if (dn)
				data[dn++] = '\n';
			memcpy(data + dn, v, vn);
			dn += vn;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (dn && pass_through(b, data, dn, r, is_init, line, len) == 0)
		sent++;
	free(data);
	return sent ? 0 : -1;
}

/* a reply that is not JSON-RPC: an {"error","message"} HTTP error */
static void http_error(struct bridge *b, const struct reply *r, json_t *id, int is_request)
{
	char msg[512];
	json_error_t je;
	json_t *j = r->len ? json_loadb(r->body, r->len, 0, &je) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = json_string_value(json_object_get(j, "error"));
	snprintf(msg, sizeof msg, "%s", m ? m : r->len ? "unexpected reply" : "empty reply");
	json_decref(j);
	int auth = r->status == 401 || r->status == 403;
	if (!is_request)
		logmsg("%s (HTTP %ld) for a notification: %s",
		       auth ? "helmdeck rejected the token" : "helmdeck error", r->status, msg);
	else if (auth)
		emit_error(b, id, -32001, "helmdeck rejected the token: %s", msg);
	else
		emit_error(b, id, -32603, "helmdeck error (HTTP %ld): %s", r->status, msg);
}

/* the session is gone on the server: replay the client's initialize */
static int reinitialize(struct bridge *b)
{
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
	struct reply r = {0};
	b->sid[0] = '\0';
	CURLcode rc = post_mcp(b, b->init_msg, b->init_len, NULL, &r);
	if (rc != CURLE_OK || r.status != 200 || !r.sid[0]) {
		logmsg("session expired and re-initialize failed: %s",
		       rc != CURLE_OK ? curl_err(b, rc) : r.status != 200 ? "HTTP error" : "no Mcp-Session-Id");
		reply_free(&r);
		return -1;
	}
	snprintf(b->sid, sizeof b->sid, "%s", r.sid);
	rc = post_mcp(b, note, sizeof note - 1, b->sid, &r);
	if (rc != CURLE_OK || r.status >= 300)
		logmsg("notifications/initialized after re-initialize failed");
	reply_free(&r);
	logmsg("helmdeck session expired; re-initialized");
	return 0;
}

/* one message from stdin */
static void handle(struct bridge *b, const char *line, size_t len)
{
	json_error_t je;
	json_t *msg = json_loadb(line, len, 0, &je);
	json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
	const char *method = json_is_object(msg) ? json_string_value(json_object_get(msg, "method")) : NULL;
	int is_init = method && !strcmp(method, "initialize");
	/* a line we cannot parse is answered like a parse error: id null */
	int is_request = !msg || id != NULL;
	const char *sid = is_init ? NULL : b->sid;
	int had_sid = sid && *sid;
	struct reply r = {0};

	CURLcode rc = post_mcp(b, line, len, sid, &r);
	if (rc == CURLE_OK && r.status == 404 && had_sid && b->init_msg && !stopping && reinitialize(b) == 0)
		rc = post_mcp(b, line, len, b->sid, &r);

	if (stopping) {
		/* shutting down: nobody is waiting for the answer */
	} else if (rc != CURLE_OK) {
		if (r.overflow || r.nomem) {
			if (is_request)
				emit_error(b, id, -32603, "helmdeck reply too large (limit %u MiB)", REPLY_LIMIT >> 20);
			else
				logmsg("dropped a notification: reply too large");
		} else {
			/* never sent: unreachable; sent: it may have run, but no answer came */
			const char *what = retryable(b->curl, rc) ? "unreachable" : "did not answer";
			if (is_request)
				emit_error(b, id, -32000, "helmdeck %s at %s: %s", what, b->base, curl_err(b, rc));
			else
				logmsg("dropped a notification: helmdeck %s at %s: %s", what, b->base, curl_err(b, rc));
		}
	} else if (r.len == 0 && r.status >= 200 && r.status < 300) {
		/* 202 Accepted: a notification, nothing to say */
	} else {
		int sse = !strncasecmp(r.ctype, "text/event-stream", 17);
		if ((sse ? pass_events(b, &r, is_init, line, len) : pass_through(b, r.body, r.len, &r, is_init, line, len)) < 0)
			http_error(b, &r, id, is_request);
	}
	reply_free(&r);
	json_decref(msg);
}

/* ---- stdin ---- */

static void read_loop(struct bridge *b)
{
	size_t scanned = 0;
	int discarding = 0;
	b->in_cap = 65536;
	b->in_len = 0;
	b->in = malloc(b->in_cap);
	if (!b->in) {
		logmsg("out of memory");
		return;
	}
	while (!stopping && !b->out_broken) {
		char *nl = memchr(b->in + scanned, '\n', b->in_len - scanned);
		if (nl) {
			size_t n = (size_t)(nl - b->in);
			/* the line is copied out: handle() may read more of stdin into b->in */
			char *line = NULL;
			size_t m = n;
			while (m && (b->in[m - 1] == '\r' || b->in[m - 1] == ' ' || b->in[m - 1] == '\t'))
				m--;
			if (!discarding && m && !(line = malloc(m + 1)))
				logmsg("out of memory: dropped a message");
			if (line)
				memcpy(line, b->in, m);
			memmove(b->in, nl + 1, b->in_len - n - 1);
			b->in_len -= n + 1;
			scanned = 0;
			if (discarding)
				discarding = 0;
			else if (line)
				handle(b, line, m);
			free(line);
			continue;
		}
		scanned = b->in_len;
		if (b->in_len > LINE_LIMIT) { /* no newline within the limit */
			if (!discarding) {
				logmsg("refused a message longer than %u MiB", LINE_LIMIT >> 20);
				emit_error(b, NULL, -32600, "message longer than %u MiB", LINE_LIMIT >> 20);
				discarding = 1;
			}
			b->in_len = scanned = 0;
		}
		int got = b->in_eof ? 0 : in_fill(b, 1);
		if (got <= 0 && b->in_len == scanned) { /* EOF: a last line without '\n' still counts */
			size_t m = b->in_len;
			while (m && (b->in[m - 1] == '\r' || b->in[m - 1] == ' ' || b->in[m - 1] == '\t'))
				m--;
			if (m && !discarding && !stopping) {
				char *line = malloc(m + 1);
				if (line) {
					memcpy(line, b->in, m);
					b->in_len = 0;
					handle(b, line, m);
					free(line);
				}
			}
			break;
		}
	}
	free(b->in);
	b->in = NULL;
}

/* ---- start and end ---- */

static int version_newer(const char *a, const char *b);

/* warn once if the server recommends a newer bridge; never fatal */
static void version_check(struct bridge *b)
{
	char url[URL_LIMIT + 32];
	snprintf(url, sizeof url, "%s/api/v1/bridge/version", b->base);
	struct reply r = {0};
	CURLcode rc = perform(b, M_GET, url, NULL, 0, NULL, 3000, 2000, &r);
	if (rc != CURLE_OK) {
		logmsg("helmdeck not reachable at %s yet (%s)", b->base, curl_err(b, rc));
	} else if (r.status == 200) {
		json_error_t je;
		json_t *j = json_loadb(r.body ? r.body : "", r.len, 0, &je);
		const char *min = json_string_value(json_object_get(j, "min_recommended"));
		const char *plat = json_string_value(json_object_get(j, "platform_version"));
		if (min && version_newer(min, HELMDECK_VERSION))
			logmsg("warning: this bridge is %s but helmdeck %s recommends at least %s; please upgrade helmdeck-mcp",
			       HELMDECK_VERSION, plat ? plat : "(unknown)", min);
		json_decref(j);
	} /* 404: a server without the endpoint; nothing to say */
	reply_free(&r);
}

static unsigned long version_part(const char **p)
{
	unsigned long v = 0;
	while (**p >= '0' && **p <= '9') {
		if (v < 1000000000UL)
			v = v * 10 + (unsigned long)(**p - '0');
		(*p)++;
	}
	if (**p == '.')
		(*p)++;
	else
		*p = ""; /* "-rc1", "+build": the numeric part ends here */
	return v;
}

/* is dotted version a newer than b? ("v" prefix ignored, missing parts are 0) */
static int version_newer(const char *a, const char *b)
{
	if (*a == 'v' || *a == 'V')
		a++;
	if (*b == 'v' || *b == 'V')
		b++;
	while (*a || *b) {
		unsigned long x = version_part(&a), y = version_part(&b);
		if (x != y)
			return x > y;
	}
	return 0;
}

static void end_session(struct bridge *b)
{
	if (!b->sid[0])
		return;
	struct curl_slist *h = mcp_headers(b, b->sid);
	struct reply r = {0};
	if (h) {
		curl_easy_setopt(b->curl, CURLOPT_NOPROGRESS, 1L); /* even after a signal */
		perform(b, M_DELETE, b->mcp_url, NULL, 0, h, 5000, 2000, &r);
		slist_wipe_free(h);
	}
	reply_free(&r);
}

/* the token: HELMDECK_TOKEN, else the contents of HELMDECK_TOKEN_FILE (trailing newline trimmed) */
static char *load_token(void)
{
	char *env = getenv("HELMDECK_TOKEN"), *tok = NULL;
	const char *file = getenv("HELMDECK_TOKEN_FILE");
	if (env && *env) {
		tok = strdup(env);
		/* nothing else in this process needs it: keep it out of /proc/self/environ */
		explicit_bzero(env, strlen(env));
		unsetenv("HELMDECK_TOKEN");
		if (!tok) {
			logmsg("out of memory");
			return NULL;
		}
	} else if (file && *file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			logmsg("cannot open HELMDECK_TOKEN_FILE %s: %s", file, strerror(errno));
			return NULL;
		}
		tok = malloc(TOKEN_LIMIT + 2);
		size_t n = 0;
		ssize_t got = 0;
		int err = 0;
		while (tok && n <= TOKEN_LIMIT) {
			got = read(fd, tok + n, TOKEN_LIMIT + 1 - n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				err = errno;
				break;
			}
			n += (size_t)got;
		}
		close(fd);
		if (!tok) {
			logmsg("out of memory");
			return NULL;
		}
		tok[n] = '\0';
		if (got < 0 || n > TOKEN_LIMIT) {
			if (got < 0)
				logmsg("reading HELMDECK_TOKEN_FILE %s: %s", file, strerror(err));
			else
				logmsg("HELMDECK_TOKEN_FILE %s is larger than %d bytes", file, TOKEN_LIMIT);
			explicit_bzero(tok, n);
			free(tok);
			return NULL;
		}
	} else {
		logmsg("no token: set HELMDECK_TOKEN or HELMDECK_TOKEN_FILE "
		       "(mint one with: helmdeck token mint --sub <name> --scopes packs:read,packs:call)");
		return NULL;
	}
	size_t n = strlen(tok);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		tok[--n] = '\0';
	int bad = n == 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
			bad = 1;
	if (bad) {
		logmsg(n ? "the token contains spaces or control characters" : "the token is empty");
		wipe_free(tok);
		return NULL;
	}
	return tok;
}

static int configure(struct bridge *b)
{
	const char *url = getenv("HELMDECK_URL");
	if (!url || !*url)
		url = "http://localhost:3000";
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		logmsg("HELMDECK_URL must start with http:// or https:// (got %s)", url);
		return -1;
	}
	if (n >= sizeof b->base) {
		logmsg("HELMDECK_URL is longer than %d bytes", URL_LIMIT - 1);
		return -1;
	}
	memcpy(b->base, url, n);
	b->base[n] = '\0';
	snprintf(b->mcp_url, sizeof b->mcp_url, "%s/api/v1/mcp", b->base);

	b->timeout_ms = 300000;
	const char *t = getenv("HELMDECK_BRIDGE_TIMEOUT");
	if (t && *t) {
		char *end;
		errno = 0;
		long s = strtol(t, &end, 10);
		if (errno || *end || s < 1 || s > 86400) {
			logmsg("HELMDECK_BRIDGE_TIMEOUT must be a whole number of seconds from 1 to 86400 (got %s)", t);
			return -1;
		}
		b->timeout_ms = s * 1000;
	}

	if (!(b->token = load_token()))
		return -1;
	size_t an = strlen(b->token) + sizeof "Authorization: Bearer ";
	if (!(b->auth_line = malloc(an))) {
		logmsg("out of memory");
		return -1;
	}
	snprintf(b->auth_line, an, "Authorization: Bearer %s", b->token);

	if (!(b->curl = curl_easy_init())) {
		logmsg("curl_easy_init failed");
		return -1;
	}
	CURL *c = b->curl;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, b->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, b);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	/* the side connection carries cancellations while a call is in flight */
	if (!(b->side = curl_easy_init())) {
		logmsg("curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(b->side, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(b->side, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(b->side, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(b->side, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(b->side, CURLOPT_USERAGENT, "helmdeck-mcp/" HELMDECK_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(b->side, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(b->side, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "helmdeck-mcp/" HELMDECK_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: helmdeck-mcp [--version | --help]\n"
	      "A stdio MCP server that forwards every message to a helmdeck platform.\n"
	      "  HELMDECK_URL             where helmdeck is (default http://localhost:3000)\n"
	      "  HELMDECK_TOKEN           bearer token (or HELMDECK_TOKEN_FILE: a file holding it)\n"
	      "  HELMDECK_BRIDGE_TIMEOUT  seconds per request (default 300)\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (!strcmp(argv[1], "--version")) {
			puts("helmdeck-mcp " HELMDECK_VERSION);
			return 0;
		}
		usage(strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? stderr : stdout);
		return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 2 : 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read() returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		logmsg("curl_global_init failed");
		return 1;
	}
	static struct bridge b;
	int rc = 1;
	if (configure(&b) == 0) {
		version_check(&b);
		logmsg("%s: bridging stdio to %s", HELMDECK_VERSION, b.mcp_url);
		read_loop(&b);
		end_session(&b);
		rc = b.out_broken ? 1 : 0;
	}
	if (b.curl)
		curl_easy_cleanup(b.curl);
	if (b.side)
		curl_easy_cleanup(b.side);
	curl_global_cleanup();
	wipe_free(b.auth_line);
	wipe_free(b.token);
	free(b.init_msg);
	return rc;
}
