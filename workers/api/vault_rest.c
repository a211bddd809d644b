/*
 * /api/v1/vault/credentials: the credential vault's REST surface. The api
 * only checks the token and the route; the body goes to the vault as the
 * caller sent it (the vault parses and validates it), and the request's
 * buffer is wiped at once, since a create or rotate carries the secret.
 * Answers never hold a secret: name, type, patterns, fingerprint at most.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/util.h"
#include "ipc/proto.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAULT_BODY_MAX (256u << 10)

/* Wipe the request body where libevent holds it, chain by chain. */
static void vault_wipe_input(struct evbuffer *in)
{
	int n = evbuffer_peek(in, -1, NULL, NULL, 0);
	if (n <= 0)
		return;
	struct evbuffer_iovec *v = xcalloc((size_t)n, sizeof *v);
	evbuffer_peek(in, -1, NULL, v, n);
	for (int i = 0; i < n; i++)
		explicit_bzero(v[i].iov_base, v[i].iov_len);
	free(v);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static int vault_segment(const char **p, char *out, size_t n)
{
	const char *s = *p + 1, *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= n)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	*p = s + len;
	return 0;
}

void vault_rest_handle(struct api_req *r, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	int get = m == EVHTTP_REQ_GET;
	if (require(r, get ? "vault:read" : "vault:write") < 0) {
		vault_wipe_input(in);
		return;
	}
	char id[64] = "", sub[256] = "", tail[16] = "";
	const char *p = rest;
	int bad = 0;
	if (*p == '/') {
		bad |= vault_segment(&p, id, sizeof id);
		if (!bad && *p == '/')
			bad |= vault_segment(&p, tail, sizeof tail);
		if (!bad && *p == '/' && !strcmp(tail, "grants"))
			bad |= vault_segment(&p, sub, sizeof sub);
		bad |= *p != '\0';
	} else if (*p) {
		bad = 1;
	}
	if (tail[0] && strcmp(tail, "grants") && strcmp(tail, "usage"))
		bad = 1;
	const char *op = NULL;
	if (bad) {
		op = NULL;
	} else if (!id[0]) {
		op = m == EVHTTP_REQ_POST ? "create" : get ? "list" : "";
	} else if (!tail[0]) {
		op = get ? "get" : m == EVHTTP_REQ_PUT ? "update" : m == EVHTTP_REQ_DELETE ? "delete" : "";
	} else if (!strcmp(tail, "grants") && !sub[0]) {
		op = m == EVHTTP_REQ_POST ? "grant" : get ? "grants" : "";
	} else if (!strcmp(tail, "grants")) {
		op = m == EVHTTP_REQ_DELETE ? "revoke" : "";
	} else {
		op = get ? "usage" : "";
	}
	if (!op) {
		vault_wipe_input(in);
		api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
		return;
	}
	if (!*op) {
		vault_wipe_input(in);
		api_reply_error(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method, r->path);
		return;
	}
	size_t len = evbuffer_get_length(in);
	if (len > VAULT_BODY_MAX) {
		vault_wipe_input(in);
		api_reply_error(r, 413, "invalid_input", "the body is larger than %u bytes", VAULT_BODY_MAX);
		return;
	}
	uint8_t *body = xmalloc(len + 1);
	evbuffer_copyout(in, body, len);
	vault_wipe_input(in);
	struct p_vault_req q = {op, r->claims.sub, r->claims.client, id, sub, body, len};
	struct buf b;
	buf_init(&b);
	p_vault_req_enc(&b, &q);
	explicit_bzero(body, len);
	free(body);
	r->audit_payload = json_pack("{s:s,s:s}", "operation", op, "credential_id", id);
	int rc = api_park(r, MSG_VAULT_REQ, &b, MSG_VAULT_REPLY);
	buf_free(&b);
	if (rc < 0)
		api_reply_error(r, 503, "internal", "too many requests in flight");
}

void vault_rest_reply(struct api_req *r, struct cursor *cur)
{
	int status;
	json_t *body = api_blob_json(r, cur, &status, "the vault");
	if (body)
		api_reply_blob_json(r, status, body);
}
