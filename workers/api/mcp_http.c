/*
 * The HTTP transports of MCP, every route under /api/v1/mcp:
 *  - streamable HTTP (2025-06-18) at /api/v1/mcp: POST one JSON-RPC message
 *    (JSON answer, or SSE for a tools/call when the client accepts it), GET
 *    the session's server stream, DELETE the session;
 *  - the legacy HTTP+SSE pair (2024-11-05): GET /api/v1/mcp/sse opens an
 *    event stream whose first event names the POST endpoint,
 *    /api/v1/mcp/sse/message?sessionId=<id>, which answers 202 while the
 *    JSON-RPC response goes out on the stream;
 *  - /api/v1/mcp/ws is handed to mcp_ws.c.
 * Same bearer token and scopes everywhere; a session belongs to its subject.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int accepts_sse(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	return a && strcasestr(a, "text/event-stream");
}

/* The body as one JSON-RPC message; on failure replied (400) and NULL. */
static json_t *read_message(struct api_req *r)
{
	struct evbuffer *inb = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(inb);
	json_t *err;
	json_t *msg = mcp_parse(len ? (const char *)evbuffer_pullup(inb, -1) : "", len, &err);
	if (!msg)
		mcp_send(r, 400, err, NULL);
	return msg;
}

/* GET /api/v1/mcp: the server-to-client stream of a session. */
static void mcp_get_stream(struct api_req *r)
{
	if (!accepts_sse(r->req)) {
		api_reply_error(r, 405, "method_not_allowed", "GET opens the server stream and needs Accept: text/event-stream");
		return;
	}
	if (require(r, "packs:read") < 0)
		return;
	const char *sid = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Mcp-Session-Id");
	int sc = sid ? mcp_session_check(sid, r->claims.sub, MCP_SESS_HTTP) : -1;
	if (!sid) {
		api_reply_error(r, 400, "invalid_input", "the server stream needs an Mcp-Session-Id from initialize");
		return;
	}
	if (sc == -2) {
		api_reply_error(r, 403, "forbidden", "that MCP session belongs to another subject");
		return;
	}
	if (sc < 0) {
		api_reply_error(r, 404, "not_found", "unknown or expired MCP session; initialize again");
		return;
	}
	struct mcp_stream *st = mcp_stream_sse(r->req, sid, 0, r->claims.exp, ": helmdeck server stream\n\n");
	r->req = NULL;
	mcp_session_attach(sid, st);
	mcp_stream_unref(st);
	api_reply_none(r, 200);
}

static void mcp_streamable(struct api_req *r)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	if (m == EVHTTP_REQ_GET) {
		mcp_get_stream(r);
		return;
	}
	if (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_DELETE) {
		api_reply_error(r, 405, "method_not_allowed", "POST JSON-RPC messages to this endpoint (GET opens the server stream)");
		return;
	}
	if (require(r, "packs:read") < 0)
		return;
	const char *sid = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Mcp-Session-Id");
	int sc = sid ? mcp_session_check(sid, r->claims.sub, MCP_SESS_HTTP) : 0;
	if (sc == -2) {
		api_reply_error(r, 403, "forbidden", "that MCP session belongs to another subject");
		return;
	}
	if (m == EVHTTP_REQ_DELETE) {
		if (!sid || sc < 0) {
			api_reply_error(r, 404, "not_found", "no such MCP session");
			return;
		}
		mcp_session_end(sid);
		api_reply_json(r, 200, json_pack("{s:b}", "ended", 1));
		return;
	}
	json_t *msg = read_message(r);
	if (!msg)
		return;
	const char *method = json_string_value(json_object_get(msg, "method"));
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", method);
	if (sid && sc == -1 && strcmp(method, "initialize")) {
		json_decref(msg);
		api_reply_error(r, 404, "not_found", "unknown or expired MCP session; initialize again");
		return;
	}
	unsigned flags = MCP_F_POST | (accepts_sse(r->req) ? MCP_F_SSE_OK : 0);
	mcp_dispatch(r, msg, flags, sid && sc == 0 ? sid : "");
}

/* The legacy session lives exactly as long as its event stream. */
static void legacy_closed(struct mcp_stream *s)
{
	mcp_session_end(s->session);
}

static void mcp_legacy_open(struct api_req *r)
{
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_GET) {
		api_reply_error(r, 405, "method_not_allowed", "GET opens the legacy SSE stream");
		return;
	}
	if (require(r, "packs:read") < 0)
		return;
	const char *sid = mcp_session_new(r->claims.sub, MCP_SESS_LEGACY);
	if (!sid) {
		api_reply_error(r, 503, "resource_exhausted", "too many open MCP sessions");
		return;
	}
	char first[160];
	snprintf(first, sizeof first, "event: endpoint\ndata: /api/v1/mcp/sse/message?sessionId=%s\n\n", sid);
	struct mcp_stream *st = mcp_stream_sse(r->req, sid, 0, r->claims.exp, first);
	r->req = NULL;
	st->on_close = legacy_closed;
	mcp_session_attach(sid, st);
	mcp_stream_unref(st);
	api_reply_none(r, 200);
}

static void mcp_legacy_post(struct api_req *r)
{
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_POST) {
		api_reply_error(r, 405, "method_not_allowed", "POST JSON-RPC messages to the legacy message endpoint");
		return;
	}
	if (require(r, "packs:read") < 0)
		return;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	if (!qs || evhttp_parse_query_str(qs, &q) < 0 || !evhttp_find_header(&q, "sessionId")) {
		evhttp_clear_headers(&q);
		api_reply_error(r, 400, "invalid_input", "sessionId query parameter required");
		return;
	}
	char sid[MCP_SID_LEN + 1];
	const char *given = evhttp_find_header(&q, "sessionId");
	snprintf(sid, sizeof sid, "%s", strlen(given) == MCP_SID_LEN ? given : "");
	evhttp_clear_headers(&q);
	int sc = mcp_session_check(sid, r->claims.sub, MCP_SESS_LEGACY);
	struct mcp_stream *st = sc == 0 ? mcp_session_stream(sid) : NULL;
	if (sc == -2) {
		api_reply_error(r, 403, "forbidden", "that MCP session belongs to another subject");
		return;
	}
	if (!st) {
		api_reply_error(r, 404, "not_found", "no such MCP session (its event stream is closed)");
		return;
	}
	json_t *msg = read_message(r);
	if (!msg)
		return;
	/* accepted; the JSON-RPC answer goes out on the session's stream */
	struct evbuffer *b = evbuffer_new();
	if (!b || evbuffer_add(b, "Accepted", 8) < 0)
		fatal("out of memory");
	evhttp_send_reply(r->req, 202, "Accepted", b);
	evbuffer_free(b);
	r->req = NULL;
	r->stream = mcp_stream_ref(st);
	mcp_dispatch(r, msg, 0, sid);
}

void mcp_handle(struct api_req *r)
{
	r->mcp = 1;
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", r->method);
	if (!mcp_origin_ok(r->req)) {
		api_reply_error(r, 403, "forbidden", "origin not allowed");
		return;
	}
	if (!strcmp(r->path, "/api/v1/mcp"))
		mcp_streamable(r);
	else if (!strcmp(r->path, "/api/v1/mcp/sse"))
		mcp_legacy_open(r);
	else if (!strcmp(r->path, "/api/v1/mcp/sse/message"))
		mcp_legacy_post(r);
	else if (!strcmp(r->path, "/api/v1/mcp/ws"))
		mcp_ws_upgrade(r);
	else
		api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
}
