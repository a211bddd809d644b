/*
 * MCP (Model Context Protocol) over streamable HTTP: POST /api/v1/mcp
 * carries one JSON-RPC 2.0 message and gets one JSON answer. Every pack is a
 * tool named as the pack, with its full input and output schema. A pack's
 * typed error is a tool result with isError, never a protocol error.
 * Not here yet: the GET server stream, SSE responses, progress and
 * cancellation, the legacy SSE pair and WebSocket (issue 4).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "workers/packs/jsonschema.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MCP_PAGE 50
#define MCP_MAX_SESSIONS 256

static const char *mcp_versions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

/* Sessions: id -> subject that created it (another subject may not use it). */
static struct {
	char id[33];
	char sub[128];
	uint64_t last_ms;
} mcp_sessions[MCP_MAX_SESSIONS];

static void mcp_send(struct api_req *r, int status, json_t *body, const char *session)
{
	if (r->req && session)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Mcp-Session-Id", session);
	if (!body) {
		api_reply_empty(r, 202);  /* a notification: accepted, no body */
		return;
	}
	api_reply_json(r, status, body);
}

static json_t *mcp_error(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code", code,
			 "message", msg);
}

static json_t *mcp_result(json_t *id, json_t *result /* stolen */)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* Browsers may not drive the local server from another site (DNS rebinding). */
static int mcp_origin_ok(struct api_req *r)
{
	const char *o = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Origin");
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

static const char *mcp_session_new(const char *sub)
{
	int slot = 0;
	uint64_t oldest = UINT64_MAX;
	for (int i = 0; i < MCP_MAX_SESSIONS; i++) {
		if (!mcp_sessions[i].id[0]) {
			slot = i;
			break;
		}
		if (mcp_sessions[i].last_ms < oldest) {
			oldest = mcp_sessions[i].last_ms;
			slot = i;
		}
	}
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		fatal("getrandom");
	hex_encode(rnd, sizeof rnd, mcp_sessions[slot].id);
	snprintf(mcp_sessions[slot].sub, sizeof mcp_sessions[slot].sub, "%s", sub);
	mcp_sessions[slot].last_ms = now_ms_mono();
	return mcp_sessions[slot].id;
}

/* -1: unknown session id; -2: someone else's; 0: fine (or none given). */
static int mcp_session_check(const char *id, const char *sub)
{
	if (!id)
		return 0;
	for (int i = 0; i < MCP_MAX_SESSIONS; i++)
		if (mcp_sessions[i].id[0] && !strcmp(mcp_sessions[i].id, id)) {
			if (strcmp(mcp_sessions[i].sub, sub))
				return -2;
			mcp_sessions[i].last_ms = now_ms_mono();
			return 0;
		}
	return -1;
}

static void mcp_session_end(const char *id)
{
	for (int i = 0; i < MCP_MAX_SESSIONS; i++)
		if (mcp_sessions[i].id[0] && !strcmp(mcp_sessions[i].id, id))
			memset(&mcp_sessions[i], 0, sizeof mcp_sessions[i]);
}

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
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "name", p->name, "description", p->description,
						     "latest", "v"));
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "latest", json_sprintf("v%d", p->version));
	}
	return arr;
}

void mcp_pack_result(struct api_req *r, int ok, const char *code, const char *message, json_t *output)
{
	json_t *res;
	if (ok) {
		char *text = json_dumps(output, JSON_COMPACT);
		res = json_pack("{s:[{s:s,s:s}],s:O,s:b}", "content", "type", "text", "text", text ? text : "{}",
				"structuredContent", output, "isError", 0);
		free(text);
	} else {
		json_t *e = json_pack("{s:s,s:s}", "error", code, "message", message);
		char *text = json_dumps(e, JSON_COMPACT);
		json_decref(e);
		res = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text ? text : "{}", "isError", 1);
		free(text);
	}
	json_decref(output);
	json_t *id = json_incref(r->mcp_id);
	mcp_send(r, 200, mcp_result(id, res), NULL);
	json_decref(id);
}

static void mcp_call(struct api_req *r, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	if (!name || (args && !json_is_object(args))) {
		mcp_send(r, 200, mcp_error(id, -32602, "tools/call needs a tool name and an arguments object"), NULL);
		return;
	}
	const struct pack_def *p = pack_find(name, 0, cfg.test_packs);
	if (!p) {
		mcp_send(r, 200, mcp_error(id, -32602, "unknown tool"), NULL);
		return;
	}
	if (!jwt_has_scope(&r->claims, "packs:call") && !jwt_has_scope(&r->claims, "packs:*")) {
		r->pack = p;
		mcp_pack_result(r, 0, "credential_invalid", "token lacks scope packs:call", NULL);
		return;
	}
	json_t *in = args ? json_incref(args) : json_object();
	r->audit_payload = json_pack("{s:s,s:O}", "tool", name, "input", in);
	char err[600];
	if (routes_pack_dispatch(r, p, in, err, sizeof err) < 0) {
		snprintf(r->pack_error, sizeof r->pack_error, "invalid_input");
		mcp_pack_result(r, 0, "invalid_input", err, NULL);
	}
	json_decref(in);
}

void mcp_handle(struct api_req *r)
{
	r->mcp = 1;
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", r->method);
	if (!mcp_origin_ok(r)) {
		api_reply_error(r, 403, "forbidden", "origin not allowed");
		return;
	}
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	if (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_DELETE) {
		/* the server-to-client stream (GET) is not offered yet */
		api_reply_error(r, 405, "method_not_allowed", "POST JSON-RPC messages to this endpoint");
		return;
	}
	if (require(r, "packs:read") < 0)
		return;
	const char *sid = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Mcp-Session-Id");
	int sc = mcp_session_check(sid, r->claims.sub);
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
	struct evbuffer *inb = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(inb);
	json_error_t je;
	json_t *msg = len ? json_loadb((const char *)evbuffer_pullup(inb, -1), len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!msg) {
		mcp_send(r, 400, mcp_error(NULL, -32700, "parse error"), NULL);
		return;
	}
	json_t *id = json_object_get(msg, "id");
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t *params = json_object_get(msg, "params");
	int id_ok = !id || json_is_integer(id) || (json_is_string(id) && json_string_length(id) <= 256);
	if (!json_is_object(msg) || !method || strcmp(json_string_value(json_object_get(msg, "jsonrpc")) ?: "", "2.0") ||
	    !id_ok || json_is_null(id) || (params && !json_is_object(params))) {
		json_t *eid = id_ok ? id : NULL;
		mcp_send(r, 400, mcp_error(eid, -32600, "invalid request"), NULL);
		json_decref(msg);
		return;
	}
	snprintf(r->mcp_method, sizeof r->mcp_method, "%s", method);
	if (sid && sc == -1 && strcmp(method, "initialize")) {
		json_decref(msg);
		api_reply_error(r, 404, "not_found", "unknown or expired MCP session; initialize again");
		return;
	}
	if (!id) {
		/* notifications: initialized, cancelled (cancellation comes with issue 4) */
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
		json_t *res = json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s},s:s}", "protocolVersion", ver, "capabilities",
					"tools", "listChanged", 0, "resources", "serverInfo", "name", "helmdeck", "version",
					HELMDECK_VERSION, "instructions",
					"helmdeck capability packs: each tool is one typed, sandboxed pack call.");
		mcp_send(r, 200, mcp_result(id, res), mcp_session_new(r->claims.sub));
	} else if (!strcmp(method, "ping")) {
		mcp_send(r, 200, mcp_result(id, json_object()), NULL);
	} else if (!strcmp(method, "tools/list")) {
		int bad = 0;
		json_t *res = mcp_tools_list(params, &bad);
		mcp_send(r, 200, bad ? mcp_error(id, -32602, "bad cursor") : mcp_result(id, res), NULL);
	} else if (!strcmp(method, "tools/call")) {
		mcp_call(r, id, params);
	} else if (!strcmp(method, "resources/list")) {
		json_t *res = json_pack("{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]}", "resources", "uri", "helmdeck://packs",
					"name", "packs", "description", "the pack catalog", "mimeType", "application/json",
					"uri", "helmdeck://sessions", "name", "sessions", "description",
					"browser sessions (none exist in this build)", "mimeType", "application/json");
		mcp_send(r, 200, mcp_result(id, res), NULL);
	} else if (!strcmp(method, "resources/read")) {
		const char *uri = json_string_value(json_object_get(params, "uri"));
		json_t *data = !uri ? NULL : !strcmp(uri, "helmdeck://packs") ? mcp_catalog()
				  : !strcmp(uri, "helmdeck://sessions")  ? json_array()
									  : NULL;
		if (!data) {
			mcp_send(r, 200, mcp_error(id, -32602, "unknown resource"), NULL);
		} else {
			char *text = json_dumps(data, JSON_COMPACT);
			json_decref(data);
			json_t *res = json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType", "application/json",
						"text", text ? text : "[]");
			free(text);
			mcp_send(r, 200, mcp_result(id, res), NULL);
		}
	} else {
		mcp_send(r, 200, mcp_error(id, -32601, "method not found"), NULL);
	}
	json_decref(msg);
}
