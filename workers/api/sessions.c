/*
 * /api/v1/sessions: create, list, get, terminate and read the logs of
 * browser sessions. The body is checked here; the supervisor, which owns the
 * browsers, answers with the JSON the caller gets. A session belongs to the
 * token subject that created it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "512m", "1g", "65536" or a JSON integer, within [min, max] bytes. */
static int sessions_size(json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!v)
		return 0;
	unsigned long long x;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		x = (unsigned long long)json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		x = strtoull(s, &end, 10);
		int shift = *end == 'k' || *end == 'K' ? 10 : *end == 'm' || *end == 'M' ? 20 :
			    *end == 'g' || *end == 'G' ? 30 : 0;
		if (end == s || s[0] == '-' || (shift && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2])) ||
		    (!shift && *end) || x > (max >> shift))
			return -1;
		x <<= shift;
	} else {
		return -1;
	}
	if (x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int sessions_body(struct api_req *r, struct p_session_req *m)
{
	struct evbuffer *inb = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(inb);
	json_error_t je;
	json_t *in = len ? json_loadb((const char *)evbuffer_pullup(inb, -1), len, JSON_REJECT_DUPLICATES, &je)
			 : json_object();
	if (!json_is_object(in)) {
		json_decref(in);
		api_reply_error(r, 400, "invalid_input", "the body must be a JSON object");
		return -1;
	}
	static const char *const known[] = {"label", "memory_limit", "shm_size", "cpu_limit", "timeout_seconds", "max_tasks"};
	const char *k;
	json_t *v;
	json_object_foreach(in, k, v) {
		int ok = 0;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok |= !strcmp(k, known[i]);
		if (!ok) {
			api_reply_error(r, 400, "invalid_input", "unknown field %.64s%s", k,
					!strcmp(k, "image") ? " (sessions run the host's chromium; there are no images)" : "");
			json_decref(in);
			return -1;
		}
	}
	json_t *label = json_object_get(in, "label");
	json_t *cpu = json_object_get(in, "cpu_limit");
	json_t *to = json_object_get(in, "timeout_seconds");
	json_t *mt = json_object_get(in, "max_tasks");
	const char *err = NULL;
	if (label && (!json_is_string(label) || json_string_length(label) > 127))
		err = "label must be a string of at most 127 bytes";
	else if (sessions_size(json_object_get(in, "memory_limit"), 128ull << 20, 64ull << 30, &m->memory_limit) < 0)
		err = "memory_limit must be a size between 128m and 64g (\"512m\", \"1g\" or bytes)";
	else if (sessions_size(json_object_get(in, "shm_size"), 16ull << 20, 16ull << 30, &m->shm_size) < 0)
		err = "shm_size must be a size between 16m and 16g";
	else if (cpu && (!json_is_number(cpu) || json_number_value(cpu) < 0.1 || json_number_value(cpu) > 256))
		err = "cpu_limit must be a number of CPUs between 0.1 and 256";
	else if (to && (!json_is_integer(to) || json_integer_value(to) < 1 || json_integer_value(to) > 86400))
		err = "timeout_seconds must be an integer between 1 and 86400";
	else if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 0 || json_integer_value(mt) > 1000000))
		err = "max_tasks must be an integer between 0 (unlimited) and 1000000";
	if (err) {
		json_decref(in);
		api_reply_error(r, 400, "invalid_input", "%s", err);
		return -1;
	}
	/* the strings live in r until the request is parked and sent */
	snprintf(r->session_label, sizeof r->session_label, "%s", label ? json_string_value(label) : "");
	m->label = r->session_label;
	m->cpu_limit_milli = cpu ? (uint32_t)(json_number_value(cpu) * 1000) : 0;
	m->timeout_s = to ? (uint32_t)json_integer_value(to) : 0;
	m->max_tasks = mt ? (uint32_t)json_integer_value(mt) : 0;
	json_decref(in);
	return 0;
}

void sessions_handle(struct api_req *r, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	int write = m == EVHTTP_REQ_POST || m == EVHTTP_REQ_DELETE;
	if (require(r, write ? "sessions:write" : "sessions:read") < 0)
		return;
	struct p_session_req q = {.owner = r->claims.sub, .id = "", .label = ""};
	char id[64] = "";
	int logs = 0;
	if (*rest == '/') {
		const char *s = rest + 1, *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		if (n == 0 || n >= sizeof id || (slash && strcmp(slash, "/logs"))) {
			api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
			return;
		}
		memcpy(id, s, n);
		logs = slash != NULL;
		q.id = id;
	} else if (*rest) {
		api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
		return;
	}
	if (!id[0] && m == EVHTTP_REQ_POST) {
		q.op = "create";
		if (sessions_body(r, &q) < 0)
			return;
	} else if (!id[0] && m == EVHTTP_REQ_GET) {
		q.op = "list";
	} else if (id[0] && !logs && m == EVHTTP_REQ_GET) {
		q.op = "get";
	} else if (id[0] && !logs && m == EVHTTP_REQ_DELETE) {
		q.op = "delete";
	} else if (id[0] && logs && m == EVHTTP_REQ_GET) {
		q.op = "logs";
	} else {
		api_reply_error(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method, r->path);
		return;
	}
	struct buf b;
	buf_init(&b);
	p_session_req_enc(&b, &q);
	int rc = api_park(r, MSG_SESSION_REQ, &b, MSG_SESSION_REPLY);
	buf_free(&b);
	if (rc < 0)
		api_reply_error(r, 503, "internal", "too many requests in flight");
}

/* A p_blob answer from another role (status + JSON body) becomes the HTTP
 * answer; an error body's code is what the audit record carries. */
json_t *api_blob_json(struct api_req *r, struct cursor *cur, int *status, const char *peer)
{
	struct p_blob res;
	json_error_t je;
	json_t *body = p_blob_dec(cur, &res) == 0 ? json_loadb((const char *)res.data, res.len, 0, &je) : NULL;
	if (!body) {
		api_reply_error(r, 500, "internal", "bad reply from %s", peer);
		return NULL;
	}
	*status = (int)res.ok;
	return body;
}

void api_reply_blob_json(struct api_req *r, int status, json_t *body)
{
	if (status >= 400) {
		const char *code = json_string_value(json_object_get(body, "error"));
		snprintf(r->pack_error, sizeof r->pack_error, "%s", code ? code : "internal");
	}
	api_reply_json(r, status, body);
}

void sessions_reply(struct api_req *r, struct cursor *cur)
{
	int status;
	json_t *body = api_blob_json(r, cur, &status, "the session runtime");
	if (!body)
		return;
	if (r->mcp) {
		/* resources/read of helmdeck://sessions */
		mcp_sessions_done(r, status, body);
		return;
	}
	api_reply_blob_json(r, status, body);
}
