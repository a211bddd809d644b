/*
 * Streams: where MCP messages go when they are not the answer in a POST's
 * own response. An SSE stream is an evhttp response kept open with
 * evhttp_send_reply_start/chunk (the GET stream of streamable HTTP, a
 * tools/call answered as SSE, the legacy SSE stream); a WebSocket stream
 * hands text frames to mcp_ws.c. Streams are refcounted: every api_req
 * answering into one holds a reference, so a stream that closes while a
 * pack runs stays valid, marked closed, and the late answer is dropped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "workers/role.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void sse_conn_gone(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	mcp_stream_gone(arg);
}

/* Bytes the peer has not read yet. */
static size_t sse_queued(const struct mcp_stream *s)
{
	struct evhttp_connection *c = evhttp_request_get_connection(s->req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static int sse_write(struct mcp_stream *s, const char *head, const char *body, size_t blen)
{
	if (s->closed || !s->req || !evhttp_request_get_connection(s->req))
		return -1;
	if (sse_queued(s) > MCP_STREAM_MAX_QUEUED) {
		log_warn("mcp: an SSE client stopped reading; its stream is cut off");
		mcp_stream_end(s);
		return -1;
	}
	struct evbuffer *out = evbuffer_new();
	if (!out || evbuffer_add(out, head, strlen(head)) < 0 || (blen && evbuffer_add(out, body, blen) < 0) ||
	    (blen && evbuffer_add(out, "\n\n", 2) < 0))
		fatal("out of memory");
	evhttp_send_reply_chunk(s->req, out);
	evbuffer_free(out);
	return 0;
}

static void sse_keepalive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct mcp_stream *s = arg;
	if (s->token_exp && now_unix() > s->token_exp + 30) {
		/* the token that opened it expired: the client must come back with a new one */
		mcp_stream_end(s);
		return;
	}
	sse_write(s, ": keepalive\n\n", NULL, 0);
}

struct mcp_stream *mcp_stream_sse(struct evhttp_request *req, const char *session, int once, int64_t token_exp,
				  const char *first_event)
{
	struct mcp_stream *s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->kind = MCP_SSE;
	s->once = once;
	s->token_exp = token_exp;
	s->req = req;
	snprintf(s->session, sizeof s->session, "%s", session ? session : "");
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	if (conn) {
		evhttp_connection_set_closecb(conn, sse_conn_gone, s);
		/* a stream is quiet for long stretches: no read timeout; the
		 * write timeout stays, and keep-alives exercise it */
		struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
		struct timeval wt = {(time_t)(cfg.http_timeout_ms / 1000), (suseconds_t)(cfg.http_timeout_ms % 1000) * 1000};
		if (bev)
			bufferevent_set_timeouts(bev, NULL, &wt);
		/* events are small writes: without this, Nagle holds each behind
		 * the client's delayed ACK of the previous one (40 ms) */
		int one = 1, fd = bev ? bufferevent_getfd(bev) : -1;
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	s->keepalive = event_new(role.base, -1, EV_PERSIST, sse_keepalive, s);
	if (!s->keepalive)
		fatal("out of memory");
	struct timeval tv = {MCP_KEEPALIVE_S, 0};
	event_add(s->keepalive, &tv);
	if (first_event)
		sse_write(s, first_event, NULL, 0);
	return s;
}

struct mcp_stream *mcp_stream_ws(struct mcp_ws_conn *c, const char *session)
{
	struct mcp_stream *s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->kind = MCP_WS;
	s->ws = c;
	snprintf(s->session, sizeof s->session, "%s", session ? session : "");
	return s;
}

struct mcp_stream *mcp_stream_ref(struct mcp_stream *s)
{
	if (s)
		s->refs++;
	return s;
}

void mcp_stream_unref(struct mcp_stream *s)
{
	if (!s || --s->refs > 0)
		return;
	mcp_stream_end(s);
	if (s->keepalive)
		event_free(s->keepalive);
	free(s);
}

int mcp_stream_send(struct mcp_stream *s, const json_t *msg)
{
	if (!s || s->closed)
		return -1;
	char *text = json_dumps(msg, JSON_COMPACT);  /* compact JSON has no raw newline */
	if (!text)
		fatal("out of memory");
	int rc = s->kind == MCP_SSE ? sse_write(s, "event: message\ndata: ", text, strlen(text))
				    : s->ws ? mcp_ws_send(s->ws, text, strlen(text)) : -1;
	free(text);
	return rc;
}

void mcp_stream_end(struct mcp_stream *s)
{
	if (!s || s->closed)
		return;
	s->closed = 1;
	if (s->keepalive)
		event_del(s->keepalive);
	if (s->kind == MCP_SSE && s->req) {
		struct evhttp_connection *conn = evhttp_request_get_connection(s->req);
		if (conn)
			evhttp_connection_set_closecb(conn, NULL, NULL);
		evhttp_send_reply_end(s->req);  /* frees the request */
		s->req = NULL;
	} else if (s->kind == MCP_WS && s->ws) {
		mcp_ws_close(s->ws, 1000, "");
	}
	if (s->on_close)
		s->on_close(s);
}

void mcp_stream_gone(struct mcp_stream *s)
{
	if (!s)
		return;
	if (s->kind == MCP_SSE && s->req) {
		/* evhttp detached the unfinished response from the dead
		 * connection; it is ours to free */
		if (!evhttp_request_get_connection(s->req))
			evhttp_send_reply_end(s->req);
		s->req = NULL;
	}
	s->ws = NULL;
	if (s->closed)
		return;
	s->closed = 1;
	if (s->keepalive)
		event_del(s->keepalive);
	if (s->on_close)
		s->on_close(s);
}
