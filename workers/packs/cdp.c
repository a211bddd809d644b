/*
 * The CDP pipe client (cdp.h). One receive buffer holds what has arrived
 * and not been consumed; a message ends at a NUL byte and is at most
 * CDP_MSG_MAX bytes. The socket is used with MSG_DONTWAIT after poll(), so
 * a browser that stops reading or writing costs no more than the deadline,
 * and with MSG_NOSIGNAL, so a dead one is an error, not a SIGPIPE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cdp.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define CDP_BUF_START (64u << 10)
#define CDP_BUF_MAX   (CDP_MSG_MAX + (64u << 10))
#define CDP_QUEUE_MAX 64
#define CDP_WATCH_MAX 8
#define CDP_LOST_MAX  8
#define CDP_ID_SPAN   (1u << 30)

struct cdp_event {
	char *method;
	char *session;      /* NULL: the browser's own session */
	json_t *params;
};

struct cdp {
	int fd;
	uint8_t *buf;
	size_t off, len, cap;   /* unconsumed bytes are buf[off, len) */
	size_t scanned;         /* of those, how many hold no NUL */
	json_int_t next_id;
	int broken;             /* sticky status once the stream is unusable */
	int synced;             /* a message parsed: later garbage is an error */
	char err[512];
	char *watch[CDP_WATCH_MAX];
	size_t nwatch;
	struct cdp_event q[CDP_QUEUE_MAX];
	size_t qn;
	char *lost[CDP_LOST_MAX];  /* page sessions chromium detached or crashed */
	size_t nlost;
};

__attribute__((format(printf, 3, 4))) static int cdp_fail(struct cdp *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return status;
}

/* A failure after which the byte stream cannot be trusted again. */
__attribute__((format(printf, 3, 4))) static int cdp_break(struct cdp *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	c->broken = status;
	return status;
}

static int cdp_poll_ms(uint64_t deadline_ms)
{
	uint64_t now = now_ms_mono();
	if (now >= deadline_ms)
		return 0;
	uint64_t left = deadline_ms - now;
	return left > INT_MAX ? INT_MAX : (int)left;
}

struct cdp *cdp_open(int fd)
{
	struct cdp *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->cap = CDP_BUF_START;
	c->buf = xmalloc(c->cap);
	/* ids start at a random point: a session's socket outlives one
	 * invocation, and a late answer to an earlier one must not match */
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint32_t)now_us_mono();
	c->next_id = (json_int_t)(r % CDP_ID_SPAN) + 1;
	return c;
}

static void cdp_event_free(struct cdp_event *e)
{
	free(e->method);
	free(e->session);
	json_decref(e->params);
}

void cdp_free(struct cdp *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->qn; i++)
		cdp_event_free(&c->q[i]);
	for (size_t i = 0; i < c->nwatch; i++)
		free(c->watch[i]);
	for (size_t i = 0; i < c->nlost; i++)
		free(c->lost[i]);
	free(c->buf);
	free(c);
}

const char *cdp_error(const struct cdp *c) { return c->err; }

void cdp_watch(struct cdp *c, const char *method)
{
	for (size_t i = 0; i < c->nwatch; i++)
		if (!strcmp(c->watch[i], method))
			return;
	if (c->nwatch < CDP_WATCH_MAX)
		c->watch[c->nwatch++] = xstrdup(method);
}

static int cdp_watched(const struct cdp *c, const char *method)
{
	for (size_t i = 0; i < c->nwatch; i++)
		if (!strcmp(c->watch[i], method))
			return 1;
	return 0;
}

static void cdp_queue_drop(struct cdp *c, size_t i)
{
	cdp_event_free(&c->q[i]);
	memmove(&c->q[i], &c->q[i + 1], (c->qn - i - 1) * sizeof c->q[0]);
	c->qn--;
}

void cdp_discard(struct cdp *c, const char *method)
{
	for (size_t i = c->qn; i-- > 0;)
		if (!method || !strcmp(c->q[i].method, method))
			cdp_queue_drop(c, i);
}

static int cdp_same_session(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int cdp_session_lost(const struct cdp *c, const char *session)
{
	if (!session)
		return 0;
	for (size_t i = 0; i < c->nlost; i++)
		if (!strcmp(c->lost[i], session))
			return 1;
	return 0;
}

static void cdp_mark_lost(struct cdp *c, const char *session)
{
	if (!session || cdp_session_lost(c, session))
		return;
	if (c->nlost == CDP_LOST_MAX) {
		free(c->lost[0]);
		memmove(&c->lost[0], &c->lost[1], (CDP_LOST_MAX - 1) * sizeof c->lost[0]);
		c->nlost--;
	}
	c->lost[c->nlost++] = xstrdup(session);
}

/* ---------- the byte stream ---------- */

static int cdp_send_all(struct cdp *c, const char *data, size_t len, uint64_t deadline_ms)
{
	size_t off = 0;
	while (off < len) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		int n = poll(&p, 1, cdp_poll_ms(deadline_ms));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cdp_break(c, CDP_CLOSED, "poll on the browser channel: %s", strerror(errno));
		if (n == 0)
			return off ? cdp_break(c, CDP_TIMEOUT, "the browser stopped reading mid-message")
				   : cdp_fail(c, CDP_TIMEOUT, "the browser is not reading its channel");
		struct iovec iov = {.iov_base = (void *)(data + off), .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t w = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return cdp_break(c, CDP_CLOSED, "the browser went away (%s)", strerror(errno));
		off += (size_t)w;
	}
	return CDP_OK;
}

/* Room for at least one more read: compact, then grow up to the cap. */
static void cdp_buf_make_room(struct cdp *c)
{
	if (c->off && (c->off == c->len || c->len == c->cap || c->off > c->cap / 2)) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->cap - c->len < CDP_BUF_START && c->cap < CDP_BUF_MAX) {
		size_t ncap = c->cap * 2 > CDP_BUF_MAX ? CDP_BUF_MAX : c->cap * 2;
		c->buf = xrealloc(c->buf, ncap);
		c->cap = ncap;
	}
}

/* The next complete message as a JSON object. */
static int cdp_read_message(struct cdp *c, uint64_t deadline_ms, json_t **msg)
{
	for (;;) {
		if (c->broken)
			return c->broken;
		uint8_t *start = c->buf + c->off;
		size_t have = c->len - c->off;
		uint8_t *nul = memchr(start + c->scanned, 0, have - c->scanned);
		if (nul) {
			size_t n = (size_t)(nul - start);
			json_error_t je;
			json_t *m = n <= CDP_MSG_MAX ? json_loadb((const char *)start, n, 0, &je) : NULL;
			c->off += n + 1;
			c->scanned = 0;
			if (!json_is_object(m)) {
				json_decref(m);
				/* before anything parsed this may be the tail of a
				 * message an earlier, killed invocation left unread */
				if (!c->synced)
					continue;
				return cdp_break(c, CDP_PROTOCOL, "the browser sent a message that is not a JSON object (%zu bytes)", n);
			}
			c->synced = 1;
			*msg = m;
			return CDP_OK;
		}
		c->scanned = have;
		if (have > CDP_MSG_MAX)
			return cdp_break(c, CDP_PROTOCOL, "the browser sent a message larger than %u bytes", CDP_MSG_MAX);
		cdp_buf_make_room(c);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int pn = poll(&p, 1, cdp_poll_ms(deadline_ms));
		if (pn < 0 && errno == EINTR)
			continue;
		if (pn < 0)
			return cdp_break(c, CDP_CLOSED, "poll on the browser channel: %s", strerror(errno));
		if (pn == 0)
			return cdp_fail(c, CDP_TIMEOUT, "no answer from the browser before the deadline");
		struct iovec iov = {.iov_base = c->buf + c->len, .iov_len = c->cap - c->len};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return cdp_break(c, CDP_CLOSED, "the browser went away (%s)", strerror(errno));
		if (r == 0)
			return cdp_break(c, CDP_CLOSED, "the browser closed its channel (it exited or was killed)");
		c->len += (size_t)r;
	}
}

/* An event: note a page session going away, queue it when watched. */
static void cdp_take_event(struct cdp *c, json_t *m, const char *method)
{
	const char *session = json_string_value(json_object_get(m, "sessionId"));
	json_t *params = json_object_get(m, "params");
	if (!strcmp(method, "Target.detachedFromTarget"))
		cdp_mark_lost(c, json_string_value(json_object_get(params, "sessionId")));
	else if (!strcmp(method, "Inspector.targetCrashed"))
		cdp_mark_lost(c, session);
	if (!cdp_watched(c, method))
		return;
	if (c->qn == CDP_QUEUE_MAX)
		cdp_queue_drop(c, 0);  /* a flood of one kind: the oldest matter least */
	c->q[c->qn++] = (struct cdp_event){
		.method = xstrdup(method),
		.session = session ? xstrdup(session) : NULL,
		.params = params ? json_incref(params) : json_object(),
	};
}

/* ---------- calls and events ---------- */

static json_t *cdp_request(json_int_t id, const char *session, const char *method, json_t *params)
{
	json_t *req = json_object();
	json_object_set_new(req, "id", json_integer(id));
	json_object_set_new(req, "method", json_string(method));
	json_object_set_new(req, "params", params ? params : json_object());
	if (session)
		json_object_set_new(req, "sessionId", json_string(session));
	return req;
}

static int cdp_answer(struct cdp *c, const char *method, json_t *m, json_t **result)
{
	json_t *e = json_object_get(m, "error");
	if (e) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		return cdp_fail(c, CDP_REMOTE, "%s: %s (%lld)", method, msg ? msg : "error",
				(long long)json_integer_value(json_object_get(e, "code")));
	}
	json_t *r = json_object_get(m, "result");
	if (!json_is_object(r))
		return cdp_break(c, CDP_PROTOCOL, "%s: the answer has no result object", method);
	if (result)
		*result = json_incref(r);
	return CDP_OK;
}

int cdp_call(struct cdp *c, const char *session, const char *method, json_t *params, uint64_t deadline_ms,
	     json_t **result)
{
	if (result)
		*result = NULL;
	if (c->broken) {
		json_decref(params);
		return c->broken;
	}
	if (cdp_session_lost(c, session)) {
		json_decref(params);
		return cdp_fail(c, CDP_CLOSED, "%s: the page is gone (its renderer crashed or it was closed)", method);
	}
	json_int_t id = c->next_id;
	c->next_id = c->next_id % CDP_ID_SPAN + 1;
	json_t *req = cdp_request(id, session, method, params);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return cdp_fail(c, CDP_PROTOCOL, "%s: the request could not be encoded", method);
	/* the NUL that ends the message is the string's own */
	int rc = cdp_send_all(c, text, strlen(text) + 1, deadline_ms);
	free(text);
	if (rc != CDP_OK)
		return rc;
	for (;;) {
		json_t *m = NULL;
		if ((rc = cdp_read_message(c, deadline_ms, &m)) != CDP_OK) {
			if (rc == CDP_TIMEOUT)
				cdp_fail(c, rc, "%s: no answer from the browser before the deadline", method);
			return rc;
		}
		json_t *jid = json_object_get(m, "id");
		const char *ev = json_string_value(json_object_get(m, "method"));
		if (json_is_integer(jid) && json_integer_value(jid) == id) {
			rc = cdp_answer(c, method, m, result);
			json_decref(m);
			return rc;
		}
		if (!jid && ev)
			cdp_take_event(c, m, ev);
		/* anything else answers an id not ours: a late one, dropped */
		json_decref(m);
		if (cdp_session_lost(c, session))
			return cdp_fail(c, CDP_CLOSED, "%s: the page is gone (its renderer crashed or it was closed)", method);
	}
}

static int cdp_queue_take(struct cdp *c, const char *session, const char *method, json_t **params)
{
	for (size_t i = 0; i < c->qn; i++) {
		if (strcmp(c->q[i].method, method) || !cdp_same_session(c->q[i].session, session))
			continue;
		if (params)
			*params = json_incref(c->q[i].params);
		cdp_queue_drop(c, i);
		return 1;
	}
	return 0;
}

int cdp_wait_event(struct cdp *c, const char *session, const char *method, uint64_t deadline_ms, json_t **params)
{
	if (params)
		*params = NULL;
	cdp_watch(c, method);
	for (;;) {
		if (cdp_queue_take(c, session, method, params))
			return CDP_OK;
		if (c->broken)
			return c->broken;
		if (cdp_session_lost(c, session))
			return cdp_fail(c, CDP_CLOSED, "waiting for %s: the page is gone (its renderer crashed or it was closed)",
					method);
		json_t *m = NULL;
		int rc = cdp_read_message(c, deadline_ms, &m);
		if (rc != CDP_OK) {
			if (rc == CDP_TIMEOUT)
				cdp_fail(c, rc, "%s did not come before the deadline", method);
			return rc;
		}
		const char *ev = json_string_value(json_object_get(m, "method"));
		if (ev && !json_object_get(m, "id"))
			cdp_take_event(c, m, ev);
		json_decref(m);
	}
}

int cdp_idle(struct cdp *c, uint64_t until_ms)
{
	for (;;) {
		json_t *m = NULL;
		int rc = cdp_read_message(c, until_ms, &m);
		if (rc == CDP_TIMEOUT)
			return CDP_OK;
		if (rc != CDP_OK)
			return rc;
		const char *ev = json_string_value(json_object_get(m, "method"));
		if (ev && !json_object_get(m, "id"))
			cdp_take_event(c, m, ev);
		json_decref(m);
	}
}
