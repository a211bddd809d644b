/*
 * The REST surface. Untrusted input ends here: a bad request gets the error
 * envelope and changes nothing; only validated, re-serialized data is passed
 * on to the supervisor.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "workers/packs/jsonschema.h"
#include "workers/role.h"

#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pack_schemas {
	json_t *in, *out;
};
static struct pack_schemas *schemas;  /* parallel to pack_at() */

int routes_init(void)
{
	size_t n = pack_count();
	schemas = xcalloc(n ? n : 1, sizeof *schemas);
	for (size_t i = 0; i < n; i++) {
		const struct pack_def *p = pack_at(i);
		json_error_t je;
		js_error err;
		schemas[i].in = json_loads(p->input_schema, 0, &je);
		schemas[i].out = json_loads(p->output_schema, 0, &je);
		if (!schemas[i].in || !schemas[i].out) {
			log_warn("pack %s v%d: schema is not JSON: %s", p->name, p->version, je.text);
			return -1;
		}
		/* unsupported keywords are refused here, never silently ignored */
		if (jsonschema_check(schemas[i].in, &err) < 0 || jsonschema_check(schemas[i].out, &err) < 0) {
			log_warn("pack %s v%d: %s (%s)", p->name, p->version, err.msg, err.path);
			return -1;
		}
	}
	return 0;
}

static size_t pack_index(const struct pack_def *p)
{
	for (size_t i = 0; i < pack_count(); i++)
		if (pack_at(i) == p)
			return i;
	fatal("pack not in registry");
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "OTHER";
	}
}

/* ---- auth ---- */

static int scope_ok(const jwt_claims *c, const char *scope)
{
	char area[64];
	snprintf(area, sizeof area, "%s", scope);
	char *colon = strchr(area, ':');
	if (colon)
		strcpy(colon + 1, "*");
	/* exact scope or admin, or the area wildcard ("packs:*") */
	return jwt_has_scope(c, scope) || jwt_has_scope(c, area);
}

/* 0 when the bearer token is valid and holds the scope; otherwise replied. */
int require(struct api_req *r, const char *scope)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		api_reply_error(r, 401, "unauthorized", "missing bearer token");
		return -1;
	}
	if (!api_have_pubkey) {
		api_reply_error(r, 503, "internal", "token verification key not available yet");
		return -1;
	}
	int e = jwt_verify(api_pubkey, h + 7, cfg.issuer, now_unix(), 30, &r->claims);
	if (e != JWT_OK) {
		api_reply_error(r, 401, "unauthorized", "%s", jwt_err_str(e));
		return -1;
	}
	r->authed = 1;
	if (scope && !scope_ok(&r->claims, scope)) {
		api_reply_error(r, 403, "forbidden", "token lacks scope %s", scope);
		return -1;
	}
	return 0;
}

/* ---- body ---- */

static json_t *read_json_body(struct api_req *r, int allow_empty)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	if (len == 0 && allow_empty)
		return json_object();
	if (len == 0) {
		api_reply_error(r, 400, "invalid_input", "request body required");
		return NULL;
	}
	unsigned char *p = evbuffer_pullup(in, -1);
	json_error_t je;
	json_t *v = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		api_reply_error(r, 400, "invalid_input", "body is not valid JSON: %s at line %d column %d",
				je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		api_reply_error(r, 400, "invalid_input", "body must be a JSON object");
		return NULL;
	}
	return v;
}

/* ---- handlers ---- */

static void h_healthz(struct api_req *r) { api_reply_json(r, 200, json_pack("{s:s}", "status", "ok")); }

static void h_version(struct api_req *r)
{
	api_reply_json(r, 200, json_pack("{s:s,s:s}", "version", HELMDECK_VERSION, "implementation", "helmdeck-c"));
}

static void h_login(struct api_req *r)
{
	json_t *b = read_json_body(r, 0);
	if (!b)
		return;
	const char *u = json_string_value(json_object_get(b, "username"));
	const char *p = json_string_value(json_object_get(b, "password"));
	if (!u || !p || strlen(u) > 256 || strlen(p) > 1024) {
		json_decref(b);
		api_reply_error(r, 400, "invalid_input", "username and password (strings) are required");
		return;
	}
	r->audit_payload = json_pack("{s:s}", "username", u);
	struct p_login m = {u, p};
	struct buf buf;
	buf_init(&buf);
	p_login_enc(&buf, &m);
	if (api_park(r, MSG_AUTH_LOGIN, &buf, MSG_AUTH_TOKEN) < 0)
		api_reply_error(r, 503, "internal", "vault unavailable");
	buf_free(&buf);
	/* the password must not linger in freed memory */
	explicit_bzero((char *)p, strlen(p));
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t blen = evbuffer_get_length(in);
	if (blen)
		explicit_bzero(evbuffer_pullup(in, -1), blen);
	json_decref(b);
}

void routes_token(struct api_req *r, struct cursor *cur)
{
	struct p_token t;
	if (p_token_dec(cur, &t) < 0) {
		api_reply_error(r, 500, "internal", "bad reply");
		return;
	}
	if (r->share_key[0]) {
		artifacts_share_reply(r, &t);
		return;
	}
	if (!t.ok && !strcmp(t.code, "login_disabled")) {
		api_reply_error(r, 503, "login_disabled", "password login is disabled: set HELMDECK_ADMIN_PASSWORD or mint a token with `helmdeck token mint`");
		return;
	}
	if (!t.ok && !strcmp(t.code, "unauthorized")) {
		api_reply_error(r, 401, "unauthorized", "invalid username or password");
		return;
	}
	if (!t.ok) {
		api_reply_error(r, 500, "internal", "token could not be issued");
		return;
	}
	char exp[32];
	time_t e = (time_t)t.expires_at;
	struct tm tm;
	gmtime_r(&e, &tm);
	strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(r->claims.sub, sizeof r->claims.sub, "%s", t.subject);
	r->authed = 1;
	api_reply_json(r, 200, json_pack("{s:s,s:s,s:s}", "token", t.token, "subject", t.subject, "expires_at", exp));
}

/* Everything about one version of a pack, plus the versions that exist. */
static json_t *pack_info(const char *name, const struct pack_def *latest)
{
	json_t *versions = json_array();
	for (size_t i = 0; i < pack_count(); i++) {
		const struct pack_def *p = pack_at(i);
		if (!strcmp(p->name, name) && (!p->test_only || cfg.test_packs))
			json_array_append_new(versions, json_sprintf("v%d", p->version));
	}
	size_t li = pack_index(latest);
	return json_pack("{s:s,s:s,s:o,s:s,s:O,s:O,s:{s:b,s:b,s:b},s:I}", "name", name, "description",
			 latest->description, "versions", versions, "latest", json_string_value(json_array_get(versions, json_array_size(versions) - 1)) ?: "v1",
			 "input_schema", schemas[li].in, "output_schema", schemas[li].out, "annotations", "readOnlyHint",
			 latest->read_only, "destructiveHint", latest->destructive, "openWorldHint", latest->open_world,
			 "timeout_ms", (json_int_t)latest->timeout_ms);
}

static void h_packs_list(struct api_req *r)
{
	if (require(r, "packs:read") < 0)
		return;
	json_t *arr = json_array();
	for (size_t i = 0; i < pack_count(); i++) {
		const struct pack_def *p = pack_at(i);
		if (p->test_only && !cfg.test_packs)
			continue;
		if (pack_find(p->name, 0, cfg.test_packs) != p)
			continue;  /* one entry per name, at its latest version */
		json_array_append_new(arr, pack_info(p->name, p));
	}
	api_reply_json(r, 200, json_pack("{s:o,s:I}", "packs", arr, "count", (json_int_t)json_array_size(arr)));
}

/* "/api/v1/packs/<name>[/v<N>]" -> name, version (0 = latest); -1 if malformed */
static int parse_pack_path(const char *rest, char *name, size_t n, int *version)
{
	*version = 0;
	const char *slash = strchr(rest, '/');
	size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
	if (nl == 0 || nl >= n)
		return -1;
	memcpy(name, rest, nl);
	name[nl] = '\0';
	for (size_t i = 0; i < nl; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return -1;
	if (slash) {
		char *end;
		if (slash[1] != 'v' || !slash[2])
			return -1;
		long v = strtol(slash + 2, &end, 10);
		if (*end || v < 1 || v > 1000)
			return -1;
		*version = (int)v;
	}
	return 0;
}

static void h_pack_get(struct api_req *r, const char *rest)
{
	if (require(r, "packs:read") < 0)
		return;
	char name[128];
	int version;
	if (parse_pack_path(rest, name, sizeof name, &version) < 0 || !pack_find(name, version, cfg.test_packs)) {
		api_reply_error(r, 404, "not_found", "no such pack");
		return;
	}
	const struct pack_def *p = pack_find(name, version, cfg.test_packs);
	json_t *info = pack_info(name, p);
	json_object_set_new(info, "version", json_sprintf("v%d", p->version));
	api_reply_json(r, 200, info);
}

static void h_pack_call(struct api_req *r, const char *rest)
{
	if (require(r, "packs:call") < 0)
		return;
	char name[128];
	int version;
	if (parse_pack_path(rest, name, sizeof name, &version) < 0) {
		api_reply_error(r, 404, "not_found", "no such pack");
		return;
	}
	const struct pack_def *p = pack_find(name, version, cfg.test_packs);
	if (!p) {
		api_reply_error(r, 404, "not_found", "no pack %s%s", name, version ? " at that version" : "");
		return;
	}
	r->pack = p;
	json_t *in = read_json_body(r, 1);
	if (!in)
		return;
	r->audit_payload = json_pack("{s:O}", "input", in);
	char err[600];
	if (routes_pack_dispatch(r, p, in, err, sizeof err) < 0)
		api_reply_error(r, 400, "invalid_input", "%s", err);
	json_decref(in);
}

const struct pack_def *routes_pack(size_t i, json_t **in_schema, json_t **out_schema)
{
	if (i >= pack_count())
		return NULL;
	*in_schema = schemas[i].in;
	*out_schema = schemas[i].out;
	return pack_at(i);
}

/* A pack whose input names its own time budget (cmd.run's timeout_s) gets
 * that plus the time to start its sandbox, never more than its ceiling. */
static uint32_t routes_run_timeout(const struct pack_def *p, const json_t *in)
{
	json_t *v = p->timeout_arg ? json_object_get(in, p->timeout_arg) : NULL;
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return p->timeout_ms;
	json_int_t ms = (json_integer_value(v) + 10) * 1000;
	return ms < (json_int_t)p->timeout_ms ? (uint32_t)ms : p->timeout_ms;
}

int routes_pack_dispatch(struct api_req *r, const struct pack_def *p, json_t *in, char *errbuf, size_t errlen)
{
	r->pack = p;
	js_error err;
	if (jsonschema_validate(schemas[pack_index(p)].in, in, &err) < 0) {
		snprintf(errbuf, errlen, "input%s%s: %s", err.path[0] ? " at " : "", err.path, err.msg);
		return -1;
	}
	char *s = json_dumps(in, JSON_COMPACT);
	if (!s)
		fatal("json_dumps");
	struct p_pack_run m = {
		.pack = p->name, .cls = p->cls, .actor = r->claims.sub, .client = r->claims.client,
		.version = (uint32_t)p->version, .timeout_ms = routes_run_timeout(p, in), .max_output = cfg.pack_max_output,
		.workspace = p->ws == PACK_WS_USE ? json_string_value(json_object_get(in, "clone_path")) : "",
		.remote = p->remote == PACK_REMOTE_FETCH ? json_string_value(json_object_get(in, "url")) :
			  p->remote == PACK_REMOTE_PUSH ? json_string_value(json_object_get(in, "remote")) : "",
		.input = (const uint8_t *)s, .input_len = strlen(s),
	};
	m.session = p->session ? json_string_value(json_object_get(in, "_session_id")) : "";
	if (!m.session)
		m.session = "";
	if (!m.workspace)
		m.workspace = "";
	if (!m.remote)
		m.remote = "";
	struct buf b;
	buf_init(&b);
	p_pack_run_enc(&b, &m);
	int rc = api_park(r, MSG_PACK_RUN, &b, MSG_PACK_RESULT);
	buf_free(&b);
	free(s);
	if (rc < 0) {
		if (r->mcp)
			mcp_pack_result(r, 0, "internal", "too many requests in flight", NULL);
		else
			api_reply_error(r, 503, "internal", "too many requests in flight");
	}
	return 0;
}

int pack_error_status(const char *code)
{
	static const struct { const char *code; int status; } map[] = {
		{"invalid_input", 400}, {"invalid_output", 502}, {"schema_mismatch", 422},
		{"session_unavailable", 503}, {"handler_failed", 502}, {"artifact_failed", 502},
		{"timeout", 504}, {"credential_invalid", 403}, {"resource_exhausted", 429},
		{"internal", 500}, {"sandbox_violation", 502},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i].code, code))
			return map[i].status;
	return 500;
}

int known_code(const char *code)
{
	return pack_error_status(code) != 500 || !strcmp(code, "internal");
}

void routes_pack_result(struct api_req *r, struct cursor *cur)
{
	struct p_pack_result res;
	if (p_pack_result_dec(cur, &res) < 0) {
		if (r->mcp)
			mcp_pack_done(r, 0, "internal", "bad reply from the pack engine", "", NULL, NULL);
		else
			api_reply_error(r, 500, "internal", "bad reply from the pack engine");
		return;
	}
	const struct pack_def *p = r->pack;
	if (!res.ok) {
		/* a worker is not trusted to invent error codes */
		const char *code = known_code(res.code) ? res.code : "internal";
		snprintf(r->pack_error, sizeof r->pack_error, "%s", code);
		if (r->mcp) {
			/* the detail tells MCP a cancelled run from a failed one */
			mcp_pack_done(r, 0, code, res.message[0] ? res.message : code, res.detail, NULL, NULL);
			return;
		}
		json_t *e = json_pack("{s:s,s:s}", "error", code, "message", res.message[0] ? res.message : code);
		/* the detail is for the caller only when the pack itself wrote it */
		if (res.detail[0] && !strncmp(res.detail, "pack:", 5))
			json_object_set_new(e, "detail", json_string(res.detail + 5));
		api_reply_json(r, pack_error_status(code), e);
		return;
	}
	json_error_t je;
	json_t *out = json_loadb((const char *)res.output, res.output_len, JSON_REJECT_DUPLICATES, &je);
	js_error err;
	if (!out || jsonschema_validate(schemas[pack_index(p)].out, out, &err) < 0) {
		json_decref(out);
		snprintf(r->pack_error, sizeof r->pack_error, "invalid_output");
		if (r->mcp)
			mcp_pack_result(r, 0, "invalid_output", "the pack produced output that breaks its schema", NULL);
		else if (!out)
			api_reply_error(r, 502, "invalid_output", "pack %s produced output that is not JSON", p->name);
		else
			api_reply_error(r, 502, "invalid_output", "pack %s produced output that breaks its schema: %s%s%s",
					p->name, err.path, err.path[0] ? " " : "", err.msg);
		return;
	}
	json_t *arts = json_loadb((const char *)res.artifacts, res.artifacts_len, 0, &je);
	if (!json_is_array(arts)) {
		json_decref(arts);
		arts = json_array();
	}
	if (r->on_output) {
		json_decref(arts);
		r->on_output(r, out);
		return;
	}
	if (r->mcp) {
		/* image artifacts become content blocks (mcp_image.c) */
		mcp_pack_done(r, 1, "", "", "", out, arts);
		return;
	}
	json_t *body = json_pack("{s:s,s:s,s:o,s:o,s:I,s:n}", "pack", p->name, "version", "", "output", out,
				 "artifacts", arts, "duration_ms", (json_int_t)(res.duration_us / 1000), "session_id");
	json_object_set_new(body, "version", json_sprintf("v%d", p->version));
	api_reply_json(r, 200, body);
}

static int64_t parse_time_ms(const char *s, int *ok)
{
	*ok = 1;
	if (!s || !*s)
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*end && v >= 0)
		return v < 100000000000LL ? v * 1000 : v;  /* seconds or ms */
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest && (*rest == 'Z' || *rest == '\0'))
		return (int64_t)timegm(&tm) * 1000;
	*ok = 0;
	return 0;
}

/* The query string as key/value pairs; on a malformed one, replied 400. */
static int read_query(struct api_req *r, struct evkeyvalq *q)
{
	TAILQ_INIT(q);
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	if (qs && evhttp_parse_query_str(qs, q) < 0) {
		api_reply_error(r, 400, "invalid_input", "malformed query string");
		return -1;
	}
	return 0;
}

static void h_audit(struct api_req *r)
{
	if (require(r, "audit:read") < 0)
		return;
	struct evkeyvalq q;
	if (read_query(r, &q) < 0)
		return;
	int ok1, ok2;
	struct p_audit_query m = {
		.from_ms = parse_time_ms(evhttp_find_header(&q, "from"), &ok1),
		.to_ms = parse_time_ms(evhttp_find_header(&q, "to"), &ok2),
		.event_type = evhttp_find_header(&q, "event_type"),
		.actor = evhttp_find_header(&q, "actor") ?: evhttp_find_header(&q, "actor_subject"),
		.session_id = evhttp_find_header(&q, "session_id"),
		.limit = 100,
	};
	const char *lim = evhttp_find_header(&q, "limit");
	if (lim) {
		char *end;
		long v = strtol(lim, &end, 10);
		if (*end || v < 1 || v > 1000) {
			evhttp_clear_headers(&q);
			api_reply_error(r, 400, "invalid_input", "limit must be an integer from 1 to 1000");
			return;
		}
		m.limit = (uint32_t)v;
	}
	if (!ok1 || !ok2) {
		evhttp_clear_headers(&q);
		api_reply_error(r, 400, "invalid_input", "from/to must be unix seconds, unix ms or RFC 3339 UTC");
		return;
	}
	struct buf b;
	buf_init(&b);
	p_audit_query_enc(&b, &m);
	evhttp_clear_headers(&q);
	if (api_park(r, MSG_AUDIT_QUERY, &b, MSG_AUDIT_ROWS) < 0)
		api_reply_error(r, 503, "internal", "too many requests in flight");
	buf_free(&b);
}

void routes_audit_rows(struct api_req *r, struct cursor *cur)
{
	struct p_blob rows;
	json_t *arr = NULL;
	if (p_blob_dec(cur, &rows) == 0 && rows.ok)
		arr = json_loadb((const char *)rows.data, rows.len, 0, NULL);
	if (!json_is_array(arr)) {
		json_decref(arr);
		api_reply_error(r, 503, "internal", "audit store unavailable");
		return;
	}
	api_reply_json(r, 200, json_pack("{s:o,s:I}", "events", arr, "count", (json_int_t)json_array_size(arr)));
}

static void h_security(struct api_req *r)
{
	if (require(r, "security:read") < 0)
		return;
	if (api_park(r, MSG_SECURITY_GET, NULL, MSG_SECURITY) < 0)
		api_reply_error(r, 503, "internal", "too many requests in flight");
}

void routes_security(struct api_req *r, struct cursor *cur)
{
	struct p_blob b;
	json_t *o = NULL;
	if (p_blob_dec(cur, &b) == 0 && b.ok)
		o = json_loadb((const char *)b.data, b.len, 0, NULL);
	if (!o) {
		api_reply_error(r, 500, "internal", "security report unavailable");
		return;
	}
	api_reply_json(r, 200, o);
}

/* The stdio bridge asks this (without a token) to warn when it is too old. */
static void h_bridge_version(struct api_req *r)
{
	api_reply_json(r, 200, json_pack("{s:s,s:s}", "platform_version", HELMDECK_VERSION, "min_recommended", "0.1.0"));
}

/* Ready-to-paste MCP client configuration. The token is the caller's only
 * when they pass it as ?token=; otherwise a placeholder stands in. */
static void h_connect(struct api_req *r, const char *client)
{
	if (require(r, "packs:read") < 0)
		return;
	struct evkeyvalq q;
	if (read_query(r, &q) < 0)
		return;
	const char *url = evhttp_find_header(&q, "url");
	const char *tok = evhttp_find_header(&q, "token");
	char base[512];
	if (url && (strlen(url) > 400 || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))) {
		evhttp_clear_headers(&q);
		api_reply_error(r, 400, "invalid_input", "url must be an http(s) URL of at most 400 characters");
		return;
	}
	snprintf(base, sizeof base, "%s", url ? url : "");
	if (!url)
		snprintf(base, sizeof base, "http://%s", cfg.addr);
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	char token[2048];
	snprintf(token, sizeof token, "%s", tok && strlen(tok) < sizeof token ? tok : "<token from `helmdeck token mint`>");
	evhttp_clear_headers(&q);
	char mcp[600], auth[2100];
	snprintf(mcp, sizeof mcp, "%s/api/v1/mcp", base);
	snprintf(auth, sizeof auth, "Bearer %s", token);
	json_t *cfgj = NULL;
	const char *kind = "json", *where = "", *status = "";
	if (!strcmp(client, "claude-code")) {
		kind = "shell";
		where = "run in a shell";
		status = "verified against this server's streamable HTTP endpoint with the official TypeScript SDK; the claude CLI itself was not run here";
		cfgj = json_sprintf("claude mcp add --transport http helmdeck %s --header \"Authorization: %s\"", mcp, auth);
	} else if (!strcmp(client, "claude-desktop")) {
		where = "claude_desktop_config.json (stdio through helmdeck-mcp)";
		status = "bridge verified with the official SDK's stdio transport; Claude Desktop itself was not run here";
		cfgj = json_pack("{s:{s:{s:s,s:{s:s,s:s}}}}", "mcpServers", "helmdeck", "command", "helmdeck-mcp", "env",
				 "HELMDECK_URL", base, "HELMDECK_TOKEN", token);
	} else if (!strcmp(client, "gemini-cli")) {
		where = "~/.gemini/settings.json";
		status = "format from the Gemini CLI documentation; not run here";
		cfgj = json_pack("{s:{s:{s:s,s:{s:s}}}}", "mcpServers", "helmdeck", "httpUrl", mcp, "headers",
				 "Authorization", auth);
	} else if (!strcmp(client, "openclaw") || !strcmp(client, "hermes-agent")) {
		where = "the client's MCP server list (stdio through helmdeck-mcp)";
		status = "unverified: generic stdio form; this client was not run here";
		cfgj = json_pack("{s:{s:{s:s,s:[],s:{s:s,s:s}}}}", "mcpServers", "helmdeck", "command", "helmdeck-mcp",
				 "args", "env", "HELMDECK_URL", base, "HELMDECK_TOKEN", token);
	} else {
		api_reply_error(r, 404, "not_found", "no snippet for %s (claude-code, claude-desktop, gemini-cli, openclaw, hermes-agent)", client);
		return;
	}
	json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:o}", "client", client, "format", kind, "where", where, "status", status,
				 "config", cfgj);
	explicit_bzero(token, sizeof token);
	explicit_bzero(auth, sizeof auth);
	api_reply_json(r, 200, body);
}

void routes_handle(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct api_req *r = xcalloc(1, sizeof *r);
	r->req = req;
	r->start_us = now_us_mono();
	snprintf(r->method, sizeof r->method, "%s", method_name(evhttp_request_get_command(req)));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || !*path || strlen(path) >= sizeof r->path) {
		snprintf(r->path, sizeof r->path, "%s", "(invalid)");
		api_reply_error(r, 400, "invalid_input", "bad request path");
		return;
	}
	snprintf(r->path, sizeof r->path, "%s", path);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
	static const char packs[] = "/api/v1/packs/";
	if (!strcmp(path, "/healthz") && get)
		h_healthz(r);
	else if (!strcmp(path, "/version") && get)
		h_version(r);
	else if (!strcmp(path, "/api/v1/auth/login") && post)
		h_login(r);
	else if (!strcmp(path, "/api/v1/packs") && get)
		h_packs_list(r);
	else if (!strncmp(path, packs, sizeof packs - 1) && get)
		h_pack_get(r, path + sizeof packs - 1);
	else if (!strncmp(path, packs, sizeof packs - 1) && post)
		h_pack_call(r, path + sizeof packs - 1);
	else if (!strcmp(path, "/api/v1/audit") && get)
		h_audit(r);
	else if (!strncmp(path, "/api/v1/artifacts", 17) && (path[17] == '\0' || path[17] == '/'))
		artifacts_handle(r, path + 17);
	else if (!strncmp(path, "/api/v1/browser/", 16) && post)
		browser_rest_handle(r, path + 16);
	else if (!strncmp(path, "/api/v1/sessions", 16) && (path[16] == '\0' || path[16] == '/'))
		sessions_handle(r, path + 16);
	else if (!strncmp(path, "/api/v1/vault/credentials", 25) && (path[25] == '\0' || path[25] == '/'))
		vault_rest_handle(r, path + 25);
	else if (!strcmp(path, "/api/v1/security") && get)
		h_security(r);
	else if (!strcmp(path, "/api/v1/mcp") || !strncmp(path, "/api/v1/mcp/", 12))
		mcp_handle(r);
	else if (!strcmp(path, "/api/v1/bridge/version") && get)
		h_bridge_version(r);
	else if (!strncmp(path, "/api/v1/connect/", 16) && get && strlen(path + 16) < 64)
		h_connect(r, path + 16);
	else if (!strcmp(path, "/healthz") || !strcmp(path, "/version") || !strcmp(path, "/api/v1/auth/login") ||
		 !strcmp(path, "/api/v1/packs") || !strncmp(path, packs, sizeof packs - 1) ||
		 !strcmp(path, "/api/v1/audit") || !strcmp(path, "/api/v1/security"))
		api_reply_error(r, 405, "method_not_allowed", "method %s not allowed on %s", r->method, path);
	else
		api_reply_error(r, 404, "not_found", "no route for %s %s", r->method, path);
}
