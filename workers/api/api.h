/* The api role: HTTP/1.1 on libevent's evhttp, JWT verification with the
 * public key only, and the REST surface. Everything it needs from another
 * role it asks the supervisor for, by request id. */
#ifndef HD_API_H
#define HD_API_H

#include <event2/http.h>
#include <jansson.h>
#include <stdint.h>

#include "common/jwt.h"
#include "ipc/buf.h"
#include "workers/packs/registry.h"

#define API_MAX_HEADERS 16384
#define API_MAX_BODY (12u << 20)
#define API_MAX_CONNS 256
#define API_MAX_PENDING 1024

/* One HTTP request in flight. */
struct api_req {
	struct evhttp_request *req;   /* NULL once the client went away */
	uint32_t id;
	char method[8];
	char path[512];
	uint64_t start_us;
	jwt_claims claims;
	int authed;
	int status;
	const struct pack_def *pack;
	json_t *audit_payload;        /* redacted later by the store */
	char pack_error[32];
	uint32_t awaiting;            /* reply type, 0 = none */
	int mcp;                      /* answered as JSON-RPC (MCP) */
	json_t *mcp_id;               /* the JSON-RPC id to answer with */
	char mcp_method[48];
	int cancelled;                /* api_pack_cancel() was called */
	char session_label[128];      /* sessions.c: kept until the request is sent */
	/* a pack run made on the caller's behalf by another route (artifacts):
	 * the validated output goes here instead of the pack result reply */
	void (*on_output)(struct api_req *r, json_t *out /* stolen */);
	char share_key[65];           /* artifacts: a share token is being minted */
	/* MCP: where the answer goes when it is not req's own response (an SSE
	 * stream or a WebSocket, refcounted; mcp_stream.c), and the MCP state
	 * of the message (mcp.c) */
	struct mcp_stream *stream;
	struct mcp_req *mcpx;
};

extern uint8_t api_pubkey[32];
extern int api_have_pubkey;

void routes_handle(struct evhttp_request *req, void *arg);
int routes_init(void);
/* Replies: each also writes the api_call audit record. */
void api_reply_json(struct api_req *r, int status, json_t *body /* stolen */);
void api_reply_empty(struct api_req *r, int status);
/* Raw bytes (artifact downloads), audited like every reply. */
void api_reply_bytes(struct api_req *r, int status, const char *ctype, const char *filename,
		     const void *data, size_t len);
/* The answer went out some other way (a stream) or not at all: audit with
 * this status and free r. */
void api_reply_none(struct api_req *r, int status);
void api_reply_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Send a request to the supervisor and park r until the reply. */
int api_park(struct api_req *r, uint32_t type, const struct buf *b, uint32_t reply_type);
struct api_req *api_unpark(uint32_t id, uint32_t reply_type);
/* Cancel the pack run parked under r (r->id): the supervisor drops it from
 * its queue or kills its worker, and answers the PACK_RESULT with code
 * "internal", detail "cancelled". r stays parked until that answer;
 * r->cancelled is set so the reply can be suppressed (MCP sends no
 * response to a cancelled request). -1 if r is not parked on a pack run. */
int api_pack_cancel(struct api_req *r);
void api_req_free(struct api_req *r);

/* Shared by REST and MCP. */
int require(struct api_req *r, const char *scope);
const struct pack_def *routes_pack(size_t i, json_t **in_schema, json_t **out_schema);
/* Validate input and send it to the pack engine; on a bad input returns -1
 * with err filled (nothing sent). */
int routes_pack_dispatch(struct api_req *r, const struct pack_def *p, json_t *in, char *err, size_t errlen);
int pack_error_status(const char *code);
int known_code(const char *code);

/* MCP (mcp_http.c: every /api/v1/mcp route; mcp.c: the JSON-RPC core). */
void mcp_handle(struct api_req *r);
int mcp_init(void);   /* before confinement: the WebSocket engine */
void mcp_pack_result(struct api_req *r, int ok, const char *code, const char *message, json_t *output);
/* The whole PACK_RESULT: detail ("cancelled" after api_pack_cancel) and
 * the artifacts array (NULL = none); output and artifacts are stolen. */
void mcp_pack_done(struct api_req *r, int ok, const char *code, const char *message, const char *detail,
		   json_t *output, json_t *artifacts);
void mcp_req_free(struct api_req *r);
/* helmdeck://sessions: the supervisor's session list for r (body stolen). */
void mcp_sessions_done(struct api_req *r, int status, json_t *body);

/* Browser sessions REST (sessions.c): rest is the path after /api/v1/sessions. */
void sessions_handle(struct api_req *r, const char *rest);
void sessions_reply(struct api_req *r, struct cursor *cur);
/* /api/v1/artifacts (artifacts_rest.c): rest is the path after it. */
void artifacts_handle(struct api_req *r, const char *rest);
struct p_token;
void artifacts_share_reply(struct api_req *r, const struct p_token *t);
/* A p_blob (status + JSON) from another role: decoded (NULL after a 500
 * reply when malformed), and answered with the error code audited. */
struct cursor;
json_t *api_blob_json(struct api_req *r, struct cursor *cur, int *status, const char *peer);
void api_reply_blob_json(struct api_req *r, int status, json_t *body /* stolen */);
/* /api/v1/vault/credentials (vault_rest.c): rest is the path after it. */
void vault_rest_handle(struct api_req *r, const char *rest);
void vault_rest_reply(struct api_req *r, struct cursor *cur);
/* POST /api/v1/browser/<op> (browser_rest.c). */
void browser_rest_handle(struct api_req *r, const char *op);

/* Replies from the supervisor, by type. */
void routes_pack_result(struct api_req *r, struct cursor *cur);
void routes_token(struct api_req *r, struct cursor *cur);
void routes_audit_rows(struct api_req *r, struct cursor *cur);
void routes_security(struct api_req *r, struct cursor *cur);

#endif
