/*
 * The MCP (Model Context Protocol) core: JSON-RPC 2.0 messages, whichever
 * transport brought them (mcp_http.c, mcp_ws.c), answered into the POST's
 * own response or into a stream (mcp_stream.c). Every pack is a tool named
 * as the pack, with its full input and output schema; a pack's typed error
 * is a tool result with isError, never a protocol error. A tools/call may
 * report progress while it runs and may be cancelled by
 * notifications/cancelled from the same session, which kills its worker.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "workers/role.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MCP_PAGE 50

static const char *mcp_versions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

/* tools/call requests still running, for notifications/cancelled */
static struct api_req *inflight[API_MAX_PENDING];

int mcp_init(void)
{
	mcp_image_init();
	return mcp_ws_init(role.base);
}

json_t *mcp_error(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code", code,
			 "message", msg);
}

static json_t *mcp_result(json_t *id, json_t *result /* stolen */)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

int mcp_origin_ok(struct evhttp_request *req)
{
	const char *o = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
	if (!o)
		return 1;
	const char *allowed = getenv("HELMDECK_MCP_ALLOWED_ORIGINS");
	if (allowed && *allowed) {
		char list[1024];
		snprintf(list, sizeof list, "%s", allowed);
		char *save = NULL;
		for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, o))
				return 1;
	}
	static const char *local[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
		size_t n = strlen(local[i]);
		if (!strncmp(o, local[i], n) && (o[n] == '\0' || o[n] == ':'))
			return 1;
	}
	return 0;
}

static struct mcp_req *mcpx(struct api_req *r)
{
	if (!r->mcpx)
		r->mcpx = xcalloc(1, sizeof *r->mcpx);
	return r->mcpx;
}

const char *mcp_req_session(const struct api_req *r)
{
	return r->mcpx ? r->mcpx->session : "";
}

struct api_req *mcp_req_new(const jwt_claims *claims, const char *path, const char *method)
{
	struct api_req *r = xcalloc(1, sizeof *r);
	r->start_us = now_us_mono();
	r->claims = *claims;
	r->authed = 1;
	r->mcp = 1;
	snprintf(r->path, sizeof r->path, "%s", path);
	snprintf(r->method, sizeof r->method, "%s", method);
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", method);
	mcpx(r);
	return r;
}

/* No more progress, no more cancellation: r is being answered. */
static void mcp_quiet(struct api_req *r)
{
	struct mcp_req *x = r->mcpx;
	if (!x)
		return;
	if (x->tick) {
		event_free(x->tick);
		x->tick = NULL;
	}
	if (x->inflight) {
		for (size_t i = 0; i < API_MAX_PENDING; i++)
			if (inflight[i] == r)
				inflight[i] = NULL;
		x->inflight = 0;
	}
}

void mcp_req_free(struct api_req *r)
{
	mcp_quiet(r);
	if (r->mcpx) {
		json_decref(r->mcpx->progress_token);
		json_decref(r->mcpx->result);
		json_decref(r->mcpx->todo);
		free(r->mcpx);
		r->mcpx = NULL;
	}
	mcp_stream_unref(r->stream);
	r->stream = NULL;
}

void mcp_send(struct api_req *r, int status, json_t *body, const char *session_hdr)
{
	mcp_quiet(r);
	if (r->stream) {
		if (body)
			mcp_stream_send(r->stream, body);
		if (r->stream->once)
			mcp_stream_end(r->stream);
		api_reply_none(r, body ? status : 202);
		json_decref(body);
		return;
	}
	if (r->req && session_hdr)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Mcp-Session-Id", session_hdr);
	if (!body) {
		api_reply_empty(r, 202);  /* a notification: accepted, no body */
		return;
	}
	api_reply_json(r, status, body);
}

/* A cancelled request gets no JSON-RPC response: an SSE answer just ends,
 * a plain POST gets 202 with no body. */
static void mcp_send_nothing(struct api_req *r)
{
	mcp_quiet(r);
	if (r->stream) {
		if (r->stream->once)
			mcp_stream_end(r->stream);
		api_reply_none(r, 200);
		return;
	}
	api_reply_empty(r, 202);
}

/* ---- progress and cancellation ---- */

static void mcp_progress_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct api_req *r = arg;
	struct mcp_req *x = r->mcpx;
	/* on the request's own stream; a plain JSON POST's go to the session's
	 * GET stream, the only way they can reach the client */
	struct mcp_stream *to = r->stream ? r->stream : mcp_session_stream(x->session);
	if (!to || to->closed)
		return;
	char msg[200];
	snprintf(msg, sizeof msg, "running %s", r->pack ? r->pack->name : "pack");
	json_t *n = json_pack("{s:s,s:s,s:{s:O,s:I,s:s}}", "jsonrpc", "2.0", "method", "notifications/progress", "params",
			      "progressToken", x->progress_token, "progress",
			      (json_int_t)((now_us_mono() - r->start_us + 500000) / 1000000), "message", msg);
	mcp_stream_send(to, n);
	json_decref(n);
}

static void mcp_track(struct api_req *r)
{
	struct mcp_req *x = mcpx(r);
	for (size_t i = 0; i < API_MAX_PENDING; i++)
		if (!inflight[i]) {
			inflight[i] = r;
			x->inflight = 1;
			break;
		}
	if (x->progress_token) {
		x->tick = event_new(role.base, -1, EV_PERSIST, mcp_progress_tick, r);
		if (!x->tick)
			fatal("out of memory");
		struct timeval tv = {MCP_PROGRESS_S, 0};
		event_add(x->tick, &tv);
	}
}

/* notifications/cancelled: stop the session's request with that id. */
static void mcp_cancel(struct api_req *n, json_t *params)
{
	json_t *rid = json_object_get(params, "requestId");
	const char *sid = mcp_req_session(n);
	int found = 0;
	for (size_t i = 0; rid && sid[0] && i < API_MAX_PENDING; i++) {
		struct api_req *r = inflight[i];
		if (!r || r == n || r->cancelled || strcmp(mcp_req_session(r), sid) || !json_equal(r->mcp_id, rid))
			continue;
		/* parked on its pack run: the supervisor kills the worker; between
		 * the run and its answer (fetching images): just never answer */
		if (api_pack_cancel(r) < 0)
			r->cancelled = 1;
		found = 1;
		break;
	}
	n->audit_payload = json_pack("{s:O,s:b}", "requestId", rid ? rid : json_null(), "cancelled", found);
}

/* ---- tools and resources ---- */

static json_t *mcp_tool(const struct pack_def *p, json_t *in, json_t *out)
{
	return json_pack("{s:s,s:s,s:O,s:O,s:{s:b,s:b,s:b,s:b}}", "name", p->name, "description", p->description,
			 "inputSchema", in, "outputSchema", out, "annotations", "readOnlyHint", p->read_only,
			 "destructiveHint", p->destructive, "idempotentHint", p->read_only, "openWorldHint",
			 p->open_world);
}

static json_t *mcp_tools_list(json_t *params, int *bad)
{
	size_t start = 0;
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor) {
		char *end;
		unsigned long v = strtoul(cursor, &end, 10);
		if (*end || v > pack_count()) {
			*bad = 1;
			return NULL;
		}
		start = v;
	}
	json_t *tools = json_array();
	size_t i = start, n = 0;
	for (; i < pack_count() && n < MCP_PAGE; i++) {
		json_t *ins, *outs;
		const struct pack_def *p = routes_pack(i, &ins, &outs);
		if ((p->test_only && !cfg.test_packs) || pack_find(p->name, 0, cfg.test_packs) != p)
			continue;  /* one tool per pack, at its latest version */
		json_array_append_new(tools, mcp_tool(p, ins, outs));
		n++;
	}
	json_t *res = json_pack("{s:o}", "tools", tools);
	if (i < pack_count())
		json_object_set_new(res, "nextCursor", json_sprintf("%zu", i));
	return res;
}

static json_t *mcp_catalog(void)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < pack_count(); i++) {
		json_t *ins, *outs;
		const struct pack_def *p = routes_pack(i, &ins, &outs);
		if ((p->test_only && !cfg.test_packs) || pack_find(p->name, 0, cfg.test_packs) != p)
			continue;
		json_t *e = json_pack("{s:s,s:s}", "name", p->name, "description", p->description);
		json_object_set_new(e, "latest", json_sprintf("v%d", p->version));
		json_array_append_new(arr, e);
	}
	return arr;
}

static int mcp_may_call(const struct api_req *r)
{
	return jwt_has_scope(&r->claims, "packs:call") || jwt_has_scope(&r->claims, "packs:*");
}

static void mcp_tool_error(struct api_req *r, const char *code, const char *message)
{
	json_t *e = json_pack("{s:s,s:s}", "error", code, "message", message);
	char *text = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	json_t *res = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text ? text : "{}", "isError", 1);
	free(text);
	mcp_send(r, 200, mcp_result(r->mcp_id, res), NULL);
}

void mcp_pack_result(struct api_req *r, int ok, const char *code, const char *message, json_t *output)
{
	mcp_pack_done(r, ok, code, message, "", output, NULL);
}

void mcp_pack_done(struct api_req *r, int ok, const char *code, const char *message, const char *detail,
		   json_t *output, json_t *artifacts)
{
	if (r->mcpx && r->mcpx->parent) {
		json_decref(artifacts);
		mcp_image_fetched(r, ok, output);
		return;
	}
	mcp_quiet(r);
	if (r->cancelled) {
		if (!ok && detail && !strcmp(detail, "cancelled"))
			snprintf(r->pack_error, sizeof r->pack_error, "cancelled");
		json_decref(output);
		json_decref(artifacts);
		mcp_send_nothing(r);
		return;
	}
	if (!ok) {
		json_decref(output);
		json_decref(artifacts);
		mcp_tool_error(r, code, message);
		return;
	}
	char *text = json_dumps(output, JSON_COMPACT);
	json_t *res = json_pack("{s:[{s:s,s:s}],s:O,s:b}", "content", "type", "text", "text", text ? text : "{}",
				"structuredContent", output, "isError", 0);
	free(text);
	json_decref(output);
	mcp_image_answer(r, res, artifacts);
}

/* The end of a tools/call or resources/read that went through mcp_image.c. */
void mcp_finish(struct api_req *r, json_t *result /* stolen */, json_t *error /* stolen */)
{
	if (r->cancelled) {
		json_decref(result);
		json_decref(error);
		mcp_send_nothing(r);
		return;
	}
	mcp_send(r, 200, error ? error : mcp_result(r->mcp_id, result), NULL);
}

static void mcp_call(struct api_req *r, json_t *id, json_t *params, unsigned flags)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	json_t *meta = json_object_get(params, "_meta");
	json_t *ver = json_object_get(meta, "helmdeck/version");
	json_t *tok = json_object_get(meta, "progressToken");
	if (!name || (args && !json_is_object(args)) || (meta && !json_is_object(meta)) ||
	    (ver && (!json_is_integer(ver) || json_integer_value(ver) < 1 || json_integer_value(ver) > 1000)) ||
	    (tok && !json_is_integer(tok) && !(json_is_string(tok) && json_string_length(tok) <= 256))) {
		mcp_send(r, 200, mcp_error(id, -32602, "tools/call needs a tool name and an arguments object"), NULL);
		return;
	}
	/* _meta."helmdeck/version" pins a pack version, as /packs/<name>/v<N> does in REST */
	const struct pack_def *p = pack_find(name, ver ? (int)json_integer_value(ver) : 0, cfg.test_packs);
	if (!p) {
		mcp_send(r, 200, mcp_error(id, -32602, ver ? "unknown tool or tool version" : "unknown tool"), NULL);
		return;
	}
	if (!mcp_may_call(r)) {
		r->pack = p;
		snprintf(r->pack_error, sizeof r->pack_error, "credential_invalid");
		mcp_tool_error(r, "credential_invalid", "token lacks scope packs:call");
		return;
	}
	json_t *in = args ? json_incref(args) : json_object();
	r->audit_payload = json_pack("{s:s,s:O}", "tool", name, "input", in);
	if (tok)
		mcpx(r)->progress_token = json_incref(tok);
	if ((flags & MCP_F_SSE_OK) && r->req) {
		/* the client takes an SSE answer: progress, then the result, then the end */
		r->stream = mcp_stream_sse(r->req, mcp_req_session(r), 1, 0 /* authorized at its start */, NULL);
		r->req = NULL;
	}
	mcp_track(r);
	char err[600];
	if (routes_pack_dispatch(r, p, in, err, sizeof err) < 0) {
		snprintf(r->pack_error, sizeof r->pack_error, "invalid_input");
		mcp_pack_result(r, 0, "invalid_input", err, NULL);
	}
	json_decref(in);
}

static void mcp_resource_text(struct api_req *r, const char *uri, json_t *data /* stolen */)
{
	char *text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	json_t *res = json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType", "application/json", "text",
				text ? text : "[]");
	free(text);
	mcp_send(r, 200, mcp_result(r->mcp_id, res), NULL);
}

/* helmdeck://sessions: the caller's browser sessions, from the supervisor
 * (the same list as GET /api/v1/sessions); the answer comes to mcp_sessions_done. */
static void mcp_sessions_read(struct api_req *r, json_t *id)
{
	if (!jwt_has_scope(&r->claims, "sessions:read") && !jwt_has_scope(&r->claims, "sessions:*")) {
		mcp_send(r, 200, mcp_error(id, -32602, "reading helmdeck://sessions needs scope sessions:read"), NULL);
		return;
	}
	struct p_session_req q = {.op = "list", .owner = r->claims.sub, .id = "", .label = ""};
	struct buf b;
	buf_init(&b);
	p_session_req_enc(&b, &q);
	int rc = api_park(r, MSG_SESSION_REQ, &b, MSG_SESSION_REPLY);
	buf_free(&b);
	if (rc < 0)
		mcp_send(r, 200, mcp_error(id, -32603, "too many requests in flight"), NULL);
}

void mcp_sessions_done(struct api_req *r, int status, json_t *body)
{
	if (status != 200) {
		json_decref(body);
		mcp_send(r, 200, mcp_error(r->mcp_id, -32603, "the session runtime did not answer"), NULL);
		return;
	}
	mcp_resource_text(r, "helmdeck://sessions", body);
}

static void mcp_resources_read(struct api_req *r, json_t *id, json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	if (uri && !strncmp(uri, "helmdeck://artifacts/", 21)) {
		if (!mcp_may_call(r)) {
			mcp_send(r, 200, mcp_error(id, -32602, "reading an artifact needs scope packs:call"), NULL);
			return;
		}
		mcp_image_read(r, uri);
		return;
	}
	if (uri && !strcmp(uri, "helmdeck://sessions")) {
		mcp_sessions_read(r, id);
		return;
	}
	json_t *data = uri && !strcmp(uri, "helmdeck://packs") ? mcp_catalog() : NULL;
	if (!data) {
		mcp_send(r, 200, mcp_error(id, -32002, "resource not found"), NULL);
		return;
	}
	mcp_resource_text(r, uri, data);
}

/* ---- messages ---- */

json_t *mcp_parse(const char *buf, size_t len, json_t **err)
{
	*err = NULL;
	json_error_t je;
	json_t *msg = len ? json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je) : NULL;
	if (!msg) {
		*err = mcp_error(NULL, -32700, "parse error");
		return NULL;
	}
	json_t *id = json_object_get(msg, "id");
	json_t *params = json_object_get(msg, "params");
	int id_ok = !id || json_is_integer(id) || (json_is_string(id) && json_string_length(id) <= 256);
	if (!json_is_object(msg) || !json_string_value(json_object_get(msg, "method")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")) ?: "", "2.0") || !id_ok || json_is_null(id) ||
	    (params && !json_is_object(params))) {
		*err = mcp_error(id_ok ? id : NULL, -32600, "invalid request");
		json_decref(msg);
		return NULL;
	}
	return msg;
}

void mcp_dispatch(struct api_req *r, json_t *msg, unsigned flags, const char *session)
{
	snprintf(mcpx(r)->session, sizeof r->mcpx->session, "%s", session ? session : "");
	json_t *id = json_object_get(msg, "id");
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t *params = json_object_get(msg, "params");
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", method);
	if (!id) {
		/* notifications: initialized, cancelled; the rest are ignored */
		if (!strcmp(method, "notifications/cancelled"))
			mcp_cancel(r, params);
		json_decref(msg);
		mcp_send(r, 202, NULL, NULL);
		return;
	}
	r->mcp_id = json_incref(id);
	if (!strcmp(method, "initialize")) {
		const char *want = json_string_value(json_object_get(params, "protocolVersion"));
		const char *ver = mcp_versions[0];
		for (size_t i = 0; want && i < sizeof mcp_versions / sizeof mcp_versions[0]; i++)
			if (!strcmp(want, mcp_versions[i]))
				ver = mcp_versions[i];
		const char *sid = NULL;
		if ((flags & MCP_F_POST) && !(sid = mcp_session_new(r->claims.sub, MCP_SESS_HTTP))) {
			mcp_send(r, 200, mcp_error(id, -32000, "too many open MCP sessions"), NULL);
			json_decref(msg);
			return;
		}
		/* the pack registry is compiled in: the tool list never changes
		 * while a session lives, so listChanged is false (ADR 015) */
		json_t *res = json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s},s:s}", "protocolVersion", ver, "capabilities",
					"tools", "listChanged", 0, "resources", "serverInfo", "name", "helmdeck", "version",
					HELMDECK_VERSION, "instructions",
					"helmdeck capability packs: each tool is one typed, sandboxed pack call.");
		mcp_send(r, 200, mcp_result(id, res), sid);
	} else if (!strcmp(method, "ping")) {
		mcp_send(r, 200, mcp_result(id, json_object()), NULL);
	} else if (!strcmp(method, "tools/list")) {
		int bad = 0;
		json_t *res = mcp_tools_list(params, &bad);
		mcp_send(r, 200, bad ? mcp_error(id, -32602, "bad cursor") : mcp_result(id, res), NULL);
	} else if (!strcmp(method, "tools/call")) {
		mcp_call(r, id, params, flags);
	} else if (!strcmp(method, "resources/list")) {
		json_t *res = json_pack("{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]}", "resources", "uri", "helmdeck://packs",
					"name", "packs", "description", "the pack catalog", "mimeType", "application/json",
					"uri", "helmdeck://sessions", "name", "sessions", "description",
					"your browser sessions (GET /api/v1/sessions; scope sessions:read)", "mimeType", "application/json");
		mcp_send(r, 200, mcp_result(id, res), NULL);
	} else if (!strcmp(method, "resources/templates/list")) {
		json_t *res = json_pack("{s:[{s:s,s:s,s:s}]}", "resourceTemplates", "uriTemplate", "helmdeck://artifacts/{key}",
					"name", "artifact", "description",
					"a stored artifact by its sha256 key (what resource_link blocks point at)");
		mcp_send(r, 200, mcp_result(id, res), NULL);
	} else if (!strcmp(method, "resources/read")) {
		mcp_resources_read(r, id, params);
	} else {
		mcp_send(r, 200, mcp_error(id, -32601, "method not found"), NULL);
	}
	json_decref(msg);
}
