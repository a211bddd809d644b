/*
 * /api/v1/artifacts: the artifact store over REST.
 *   GET  /api/v1/artifacts?pack=&limit=        list (artifact.list)
 *   GET  /api/v1/artifacts/{key}               the bytes, with their content type
 *   POST /api/v1/artifacts/{key}/share         {ttl_seconds?} -> a signed, expiring URL
 *   GET  /api/v1/artifacts/download/{key}?token=...   that URL: no Authorization header
 * The bytes come from an artifact.get run in a worker (the api reaches no
 * file). A share token is minted by the vault, through the supervisor,
 * which lets the api ask for nothing but `share-<key>` with scope
 * artifact:share and at most 7 days.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARE_TTL_DEFAULT 3600
#define SHARE_TTL_MAX (7 * 24 * 3600)

static int artifacts_key_ok(const char *k)
{
	if (strlen(k) != 64)
		return 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static void artifacts_list_out(struct api_req *r, json_t *out)
{
	api_reply_json(r, 200, out);
}

static void artifacts_bytes_out(struct api_req *r, json_t *out)
{
	const char *b64 = json_string_value(json_object_get(out, "content_base64"));
	const char *ctype = json_string_value(json_object_get(out, "content_type"));
	const char *name = json_string_value(json_object_get(out, "name"));
	if (!b64 || json_is_true(json_object_get(out, "truncated"))) {
		json_decref(out);
		api_reply_error(r, 502, "artifact_failed", "the artifact could not be read whole");
		return;
	}
	size_t n = strlen(b64);
	uint8_t *data = xmalloc(n / 4 * 3 + 4);
	ssize_t len = b64_decode(b64, n, data, 0);
	if (len < 0) {
		free(data);
		json_decref(out);
		api_reply_error(r, 502, "artifact_failed", "the artifact store returned bad data");
		return;
	}
	/* only types that cannot run script in our origin are served as such */
	static const char *const safe[] = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
					   "application/json", "application/octet-stream"};
	const char *serve = "application/octet-stream";
	for (size_t i = 0; ctype && i < sizeof safe / sizeof safe[0]; i++)
		if (!strcmp(ctype, safe[i]))
			serve = safe[i];
	if (ctype && !strncmp(ctype, "text/plain", 10))
		serve = "text/plain; charset=utf-8";
	api_reply_bytes(r, 200, serve, name, data, (size_t)len);
	free(data);
	json_decref(out);
}

static void artifacts_run(struct api_req *r, const char *pack, json_t *in, void (*cb)(struct api_req *, json_t *))
{
	const struct pack_def *p = pack_find(pack, 0, cfg.test_packs);
	if (!p) {
		json_decref(in);
		api_reply_error(r, 500, "internal", "pack %s is not registered", pack);
		return;
	}
	r->pack = p;
	r->on_output = cb;
	char err[600];
	if (routes_pack_dispatch(r, p, in, err, sizeof err) < 0)
		api_reply_error(r, 400, "invalid_input", "%s", err);
	json_decref(in);
}

static void artifacts_list(struct api_req *r)
{
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	if (qs && evhttp_parse_query_str(qs, &q) < 0) {
		api_reply_error(r, 400, "invalid_input", "malformed query string");
		return;
	}
	json_t *in = json_object();
	const char *pack = evhttp_find_header(&q, "pack");
	const char *limit = evhttp_find_header(&q, "limit");
	if (pack)
		json_object_set_new(in, "pack", json_string(pack));
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (*end || end == limit) {
			evhttp_clear_headers(&q);
			json_decref(in);
			api_reply_error(r, 400, "invalid_input", "limit must be an integer");
			return;
		}
		json_object_set_new(in, "limit", json_integer(v));
	}
	evhttp_clear_headers(&q);
	artifacts_run(r, "artifact.list", in, artifacts_list_out);
}

static void artifacts_get(struct api_req *r, const char *key)
{
	artifacts_run(r, "artifact.get", json_pack("{s:s,s:i}", "key", key, "max_bytes", 8 << 20), artifacts_bytes_out);
}

static void artifacts_share(struct api_req *r, const char *key)
{
	struct evbuffer *inb = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(inb);
	json_error_t je;
	json_t *in = len ? json_loadb((const char *)evbuffer_pullup(inb, -1), len, JSON_REJECT_DUPLICATES, &je) : json_object();
	json_t *ttl = json_object_get(in, "ttl_seconds");
	if (!json_is_object(in) || (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 60 ||
					    json_integer_value(ttl) > SHARE_TTL_MAX))) {
		json_decref(in);
		api_reply_error(r, 400, "invalid_input", "the body is {\"ttl_seconds\": 60..%d}", SHARE_TTL_MAX);
		return;
	}
	char sub[80];
	snprintf(sub, sizeof sub, "share-%s", key);
	struct p_mint m = {.sub = sub, .client = r->claims.sub, .scopes = "artifact:share",
			   .ttl_s = ttl ? json_integer_value(ttl) : SHARE_TTL_DEFAULT};
	json_decref(in);
	snprintf(r->share_key, sizeof r->share_key, "%s", key);
	struct buf b;
	buf_init(&b);
	p_mint_enc(&b, &m);
	int rc = api_park(r, MSG_SHARE_MINT, &b, MSG_AUTH_TOKEN);
	buf_free(&b);
	if (rc < 0)
		api_reply_error(r, 503, "internal", "too many requests in flight");
}

void artifacts_share_reply(struct api_req *r, const struct p_token *t)
{
	if (!t->ok) {
		api_reply_error(r, 400, "invalid_input", "the share link could not be issued (%s)", t->code);
		return;
	}
	char exp[32];
	time_t e = (time_t)t->expires_at;
	struct tm tm;
	gmtime_r(&e, &tm);
	strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *body = json_pack("{s:s,s:s}", "url", "", "expires_at", exp);
	json_object_set_new(body, "url", json_sprintf("/api/v1/artifacts/download/%s?token=%s", r->share_key, t->token));
	/* the link is a bearer secret: keep it out of the audit payload */
	api_reply_json(r, 201, body);
}

/* The share link: the token in the query is the only credential. */
static void artifacts_download(struct api_req *r, const char *key)
{
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	const char *tok = qs && evhttp_parse_query_str(qs, &q) == 0 ? evhttp_find_header(&q, "token") : NULL;
	char sub[80];
	snprintf(sub, sizeof sub, "share-%s", key);
	int e = tok && api_have_pubkey ? jwt_verify(api_pubkey, tok, cfg.issuer, now_unix(), 30, &r->claims) : -1;
	evhttp_clear_headers(&q);
	if (e != JWT_OK || strcmp(r->claims.sub, sub) || !jwt_has_scope(&r->claims, "artifact:share")) {
		/* not authenticated: the audit record must not name the link's subject */
		r->claims.sub[0] = '\0';
		api_reply_error(r, 403, "credential_invalid", "the link is invalid or has expired");
		return;
	}
	r->authed = 1;
	artifacts_get(r, key);
}

void artifacts_handle(struct api_req *r, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	char key[65] = "";
	const char *tail = "";
	if (!strncmp(rest, "/download/", 10)) {
		if (m != EVHTTP_REQ_GET || !artifacts_key_ok(rest + 10)) {
			api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
			return;
		}
		artifacts_download(r, rest + 10);
		return;
	}
	if (*rest == '/') {
		snprintf(key, sizeof key, "%.64s", rest + 1);
		tail = rest + 1 + strlen(key);
		if (!artifacts_key_ok(key) || (*tail && strcmp(tail, "/share"))) {
			api_reply_error(r, 404, "not_found", "no artifact route %s", r->path);
			return;
		}
	} else if (*rest) {
		api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
		return;
	}
	int share = !strcmp(tail, "/share");
	if (require(r, share ? "artifacts:share" : "artifacts:read") < 0)
		return;
	if (!key[0] && m == EVHTTP_REQ_GET)
		artifacts_list(r);
	else if (key[0] && !share && m == EVHTTP_REQ_GET)
		artifacts_get(r, key);
	else if (share && m == EVHTTP_REQ_POST)
		artifacts_share(r, key);
	else
		api_reply_error(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method, r->path);
}
