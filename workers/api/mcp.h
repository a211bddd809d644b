/*
 * MCP inside the api role. One JSON-RPC core (mcp.c) is fed by three
 * transports: streamable HTTP and the legacy HTTP+SSE pair (mcp_http.c),
 * and WebSocket (mcp_ws.c). A message's answer goes either into the HTTP
 * request's own response (r->req) or into a stream (r->stream): an open SSE
 * response or a WebSocket (mcp_stream.c). Sessions and the streams they own
 * are in mcp_session.c; inline images in mcp_image.c.
 */
#ifndef HD_MCP_H
#define HD_MCP_H

#include "api.h"

#include <event2/event.h>

#define MCP_SID_LEN 32
#define MCP_MAX_MESSAGE API_MAX_BODY          /* 12 MiB, every transport */
#define MCP_KEEPALIVE_S 15                     /* SSE comment interval */
#define MCP_PROGRESS_S 2                       /* notifications/progress interval */
#define MCP_STREAM_MAX_QUEUED (64u << 20)      /* unread output before we drop the peer */

/* ---- streams (mcp_stream.c) ---- */

enum mcp_stream_kind { MCP_SSE, MCP_WS };

struct mcp_ws_conn;

struct mcp_stream {
	int refs;
	enum mcp_stream_kind kind;
	int closed;                  /* peer gone or stream ended: sends are dropped */
	int once;                    /* an SSE answer to one POST: ends after its response */
	char session[MCP_SID_LEN + 1];
	int64_t token_exp;           /* unix seconds: the stream ends when its token expires */
	struct evhttp_request *req;  /* SSE: the response being streamed (NULL once ended) */
	struct event *keepalive;     /* SSE */
	struct mcp_ws_conn *ws;      /* WS: the connection (NULL once it closed) */
	/* the owner's hook when the peer goes away (legacy SSE ends its session) */
	void (*on_close)(struct mcp_stream *s);
};

/* Start an SSE response on req (200, text/event-stream); the stream owns req
 * from now on. first_event (or NULL) is written before anything else. */
struct mcp_stream *mcp_stream_sse(struct evhttp_request *req, const char *session, int once,
				  int64_t token_exp, const char *first_event);
struct mcp_stream *mcp_stream_ws(struct mcp_ws_conn *c, const char *session);
struct mcp_stream *mcp_stream_ref(struct mcp_stream *s);
void mcp_stream_unref(struct mcp_stream *s);
/* One JSON-RPC message to the peer. -1 when it was dropped (stream closed,
 * or the peer is not reading and was cut off). */
int mcp_stream_send(struct mcp_stream *s, const json_t *msg);
/* End the stream: finish the SSE response, or close the WebSocket. */
void mcp_stream_end(struct mcp_stream *s);
/* The transport saw the peer go away. */
void mcp_stream_gone(struct mcp_stream *s);

/* ---- sessions (mcp_session.c) ---- */

enum mcp_session_kind { MCP_SESS_HTTP, MCP_SESS_LEGACY };

/* A new session for sub. NULL when every slot holds a live stream. */
const char *mcp_session_new(const char *sub, enum mcp_session_kind kind);
/* 0 fine; -1 unknown id (or another transport's); -2 another subject's. */
int mcp_session_check(const char *id, const char *sub, enum mcp_session_kind kind);
/* End it: its stream ends, its in-flight calls answer into nothing. */
void mcp_session_end(const char *id);
/* The session's server stream (the GET stream, the legacy SSE stream), or NULL. */
struct mcp_stream *mcp_session_stream(const char *id);
/* Attach s (a ref is taken); an earlier stream of the session ends. */
void mcp_session_attach(const char *id, struct mcp_stream *s);

/* ---- core (mcp.c) ---- */

/* The MCP state of one message (r->mcpx), freed with r. */
struct mcp_req {
	char session[MCP_SID_LEN + 1];
	json_t *progress_token;      /* params._meta.progressToken */
	struct event *tick;          /* progress while the pack runs */
	int inflight;                /* in the table notifications/cancelled searches */
	/* an internal artifact.get (mcp_image.c): the request it fetches for */
	struct api_req *parent;
	/* a tools/call result (or resources/read) waiting for artifact bytes */
	json_t *result;              /* the CallToolResult being built */
	json_t *todo;                /* artifacts still to look at */
	size_t next, inlined;
	char read_uri[128];          /* resources/read: the URI asked for */
};

#define MCP_F_POST 1u    /* streamable HTTP POST: initialize issues a session id */
#define MCP_F_SSE_OK 2u  /* the POST accepts text/event-stream: tools/call streams */

/* Parse and check one JSON-RPC 2.0 message. NULL with *err set to the error
 * response (-32700 / -32600) when it is not one. */
json_t *mcp_parse(const char *buf, size_t len, json_t **err);
/* Answer one checked message (stolen) from an authenticated peer. The
 * session (r's) was checked by the transport. */
void mcp_dispatch(struct api_req *r, json_t *msg, unsigned flags, const char *session);
/* Deliver r's answer (body stolen; NULL = a notification) to its stream or
 * its HTTP response, audit and free r. */
void mcp_send(struct api_req *r, int status, json_t *body, const char *session_hdr);
json_t *mcp_error(json_t *id, int code, const char *msg);
/* The end of a tools/call or resources/read that waited for artifact bytes:
 * answer result (or the error response); nothing when r was cancelled. */
void mcp_finish(struct api_req *r, json_t *result, json_t *error);
/* Browsers may not drive the local server from another site. */
int mcp_origin_ok(struct evhttp_request *req);
/* The session id of r's message ("" none). */
const char *mcp_req_session(const struct api_req *r);
/* An api_req for one message that arrived on a stream. */
struct api_req *mcp_req_new(const jwt_claims *claims, const char *path, const char *method);

/* ---- inline images and artifact reads (mcp_image.c) ---- */

void mcp_image_init(void);  /* reads HELMDECK_MCP_INLINE_IMAGE_MAX */
/* A successful tools/call result (stolen) with its artifacts (stolen, may be
 * NULL): answer r now, or after the image bytes were fetched. */
void mcp_image_answer(struct api_req *r, json_t *result, json_t *artifacts);
/* resources/read of helmdeck://artifacts/<key>: answers r. */
void mcp_image_read(struct api_req *r, const char *uri);
/* The PACK_RESULT of an internal artifact.get (ir is freed here, unaudited). */
void mcp_image_fetched(struct api_req *ir, int ok, json_t *output);

/* ---- WebSocket (mcp_ws.c) ---- */

int mcp_ws_init(struct event_base *base);
void mcp_ws_upgrade(struct api_req *r);
/* Queue one text frame; -1 when the connection is gone or over its cap. */
int mcp_ws_send(struct mcp_ws_conn *c, const char *text, size_t len);
void mcp_ws_close(struct mcp_ws_conn *c, int code, const char *why);

#endif
