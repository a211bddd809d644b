/*
 * POST /api/v1/browser/{navigate,extract,screenshot,execute,interact}: the
 * reference's per-operation browser routes, each one browser.interact call
 * in the caller's session (session_id), answered as a pack result.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "supervisor/config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

/* The one action each route stands for, from the route's body. */
static json_t *browser_rest_actions(const char *op, json_t *in, const char **why)
{
	json_t *a = json_object();
	if (!strcmp(op, "navigate")) {
		json_object_set_new(a, "action", json_string("navigate"));
		json_object_set(a, "url", json_object_get(in, "url"));
		*why = "navigate needs url";
		if (!json_object_get(in, "url"))
			goto bad;
	} else if (!strcmp(op, "extract")) {
		json_object_set_new(a, "action", json_string("extract"));
		json_object_set(a, "selector", json_object_get(in, "selector"));
		json_object_set_new(a, "name", json_string("value"));
		if (json_object_get(in, "format"))
			json_object_set(a, "format", json_object_get(in, "format"));
		*why = "extract needs selector";
		if (!json_object_get(in, "selector"))
			goto bad;
	} else if (!strcmp(op, "screenshot")) {
		json_object_set_new(a, "action", json_string("screenshot"));
	} else if (!strcmp(op, "execute")) {
		json_object_set_new(a, "action", json_string("execute"));
		json_object_set(a, "script", json_object_get(in, "script"));
		json_object_set_new(a, "name", json_string("result"));
		*why = "execute needs script";
		if (!json_object_get(in, "script"))
			goto bad;
	} else {
		json_decref(a);
		*why = NULL;
		return NULL;
	}
	return json_pack("[o]", a);
bad:
	json_decref(a);
	return NULL;
}

void browser_rest_handle(struct api_req *r, const char *op)
{
	if (require(r, "packs:call") < 0)
		return;
	const struct pack_def *p = pack_find("browser.interact", 0, cfg.test_packs);
	static const char *const ops[] = {"navigate", "extract", "screenshot", "execute", "interact"};
	int known = 0;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		known |= !strcmp(op, ops[i]);
	if (!p || !known) {
		api_reply_error(r, 404, "not_found", "no browser operation %.32s", op);
		return;
	}
	r->pack = p;
	struct evbuffer *inb = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(inb);
	json_error_t je;
	json_t *in = len ? json_loadb((const char *)evbuffer_pullup(inb, -1), len, JSON_REJECT_DUPLICATES, &je) : NULL;
	const char *sid = json_string_value(json_object_get(in, "session_id"));
	if (!json_is_object(in) || !sid) {
		json_decref(in);
		api_reply_error(r, 400, "invalid_input", "the body must be a JSON object with session_id");
		return;
	}
	json_t *call = json_pack("{s:s}", "_session_id", sid);
	if (!strcmp(op, "interact")) {
		json_t *acts = json_object_get(in, "actions");
		if (acts)
			json_object_set(call, "actions", acts);
		if (json_object_get(in, "url"))
			json_object_set(call, "url", json_object_get(in, "url"));
	} else {
		const char *why = NULL;
		json_t *acts = browser_rest_actions(op, in, &why);
		if (!acts) {
			json_decref(call);
			json_decref(in);
			api_reply_error(r, 400, "invalid_input", "%s", why ? why : "bad browser operation");
			return;
		}
		json_object_set_new(call, "actions", acts);
	}
	r->audit_payload = json_pack("{s:s,s:O}", "operation", op, "input", in);
	json_decref(in);
	char err[600];
	if (routes_pack_dispatch(r, p, call, err, sizeof err) < 0)
		api_reply_error(r, 400, "invalid_input", "%s", err);
	json_decref(call);
}
