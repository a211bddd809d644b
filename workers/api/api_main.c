#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/proctable.h"
#include "workers/role.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

uint8_t api_pubkey[32];
int api_have_pubkey;

static struct evhttp *api_http;
static struct evconnlistener *api_listener;
static struct api_req *pending[API_MAX_PENDING];
static uint32_t api_next_id = 1;

/* Connection limit. evhttp 2.1 has no knob and no per-connection close
 * hook that fires for connections that never send a request, so the
 * truth is the descriptor table: at the limit we count our TCP sockets
 * (everything but the IPC channel and the listener), pause the listener
 * while the count is too high, and let the kernel queue the rest. */
static int api_conns_estimate;
static struct event *api_conn_timer;

static int api_count_conns(void)
{
	int n = 0;
	for (int fd = 5; fd < API_MAX_CONNS + 64; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			n++;
	}
	return n;
}

static void api_conn_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	api_conns_estimate = api_count_conns();
	if (api_conns_estimate < API_MAX_CONNS) {
		evconnlistener_enable(api_listener);
		return;
	}
	struct timeval tv = {0, 100000};
	evtimer_add(api_conn_timer, &tv);
}

static struct bufferevent *api_bevcb(struct event_base *base, void *arg)
{
	(void)arg;
	if (++api_conns_estimate >= API_MAX_CONNS) {
		api_conns_estimate = api_count_conns() + 1;
		if (api_conns_estimate >= API_MAX_CONNS && api_listener) {
			evconnlistener_disable(api_listener);
			struct timeval tv = {0, 100000};
			evtimer_add(api_conn_timer, &tv);
		}
	}
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

void api_req_free(struct api_req *r)
{
	if (!r)
		return;
	mcp_req_free(r);
	json_decref(r->audit_payload);
	json_decref(r->mcp_id);
	explicit_bzero(&r->claims, sizeof r->claims);
	free(r);
}

static void api_audit(struct api_req *r)
{
	char *payload = r->audit_payload ? json_dumps(r->audit_payload, JSON_COMPACT) : NULL;
	struct p_audit a = {
		.ts_ms = now_unix_ms(), .duration_ms = (int64_t)((now_us_mono() - r->start_us) / 1000),
		.status = r->status, .actor = r->authed ? r->claims.sub : "anonymous",
		.client = r->authed ? r->claims.client : "", .event_type = r->mcp ? "mcp_call" : "api_call", .method = r->mcp ? r->mcp_method : r->method,
		.path = r->path, .session_id = "", .pack = r->pack ? r->pack->name : "",
		/* an MCP tool error is a 200 with isError: its pack error decides */
		.outcome = r->cancelled ? "cancelled" : r->status >= 400 || (r->mcp && r->pack_error[0]) ? "error" : "ok",
		.error_code = r->pack_error,
		.payload = (const uint8_t *)payload, .payload_len = payload ? strlen(payload) : 0,
	};
	if (a.payload_len > (1u << 20))
		a.payload_len = 0, a.payload = NULL;
	struct buf b;
	buf_init(&b);
	p_audit_enc(&b, &a);
	chan_send(role.sup, MSG_AUDIT_APPEND, 0, &b, -1);
	buf_free(&b);
	free(payload);
}

void api_reply_json(struct api_req *r, int status, json_t *body)
{
	r->status = status;
	if (r->req) {
		char *s = json_dumps(body, JSON_COMPACT);
		struct evbuffer *out = evbuffer_new();
		if (!s || !out)
			fatal("out of memory");
		evbuffer_add(out, s, strlen(s));
		evbuffer_add(out, "\n", 1);
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		if (status == 401)
			evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"helmdeck\"");
		evhttp_send_reply(r->req, status, NULL, out);
		evbuffer_free(out);
		free(s);
	}
	json_decref(body);
	if (strcmp(r->path, "/healthz"))
		api_audit(r);
	api_req_free(r);
}

void api_reply_none(struct api_req *r, int status)
{
	r->status = status;
	api_audit(r);
	api_req_free(r);
}

void api_reply_bytes(struct api_req *r, int status, const char *ctype, const char *filename,
		     const void *data, size_t len)
{
	r->status = status;
	if (r->req) {
		struct evbuffer *out = evbuffer_new();
		if (!out)
			fatal("out of memory");
		evbuffer_add(out, data, len);
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
		evhttp_add_header(h, "Content-Type", ctype);
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		/* an artifact is the pack's bytes, never a page of ours */
		evhttp_add_header(h, "Content-Security-Policy", "sandbox; default-src 'none'");
		if (filename) {
			char cd[400];
			snprintf(cd, sizeof cd, "inline; filename=\"%.300s\"", filename);
			for (char *q = cd + 17; *q; q++)
				if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
					*q = '_';
			cd[strlen(cd) - 1] = '"';
			evhttp_add_header(h, "Content-Disposition", cd);
		}
		evhttp_send_reply(r->req, status, NULL, out);
		evbuffer_free(out);
	}
	api_audit(r);
	api_req_free(r);
}

void api_reply_empty(struct api_req *r, int status)
{
	r->status = status;
	if (r->req)
		evhttp_send_reply(r->req, status, NULL, NULL);
	api_audit(r);
	api_req_free(r);
}

void api_reply_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!r->pack_error[0])
		snprintf(r->pack_error, sizeof r->pack_error, "%s", code);
	api_reply_json(r, status, json_pack("{s:s,s:s}", "error", code, "message", msg));
}

static void api_client_gone(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct api_req *r = pending[id % API_MAX_PENDING];
	if (r && r->id == id && r->req) {
		/* evhttp detached the unanswered request from the dead
		 * connection: it is ours to free */
		if (!evhttp_request_get_connection(r->req))
			evhttp_request_free(r->req);
		r->req = NULL;
	}
}

int api_park(struct api_req *r, uint32_t type, const struct buf *b, uint32_t reply_type)
{
	for (int tries = 0; tries < API_MAX_PENDING; tries++) {
		uint32_t id = api_next_id++;
		if (!api_next_id)
			api_next_id = 1;
		if (pending[id % API_MAX_PENDING])
			continue;
		r->id = id;
		r->awaiting = reply_type;
		pending[id % API_MAX_PENDING] = r;
		/* a message that arrived on a stream (SSE, WebSocket) has no
		 * request of its own; the stream watches its peer */
		if (r->req)
			evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), api_client_gone,
						      (void *)(uintptr_t)id);
		if (chan_send(role.sup, type, id, b, -1) < 0) {
			pending[id % API_MAX_PENDING] = NULL;
			return -1;
		}
		return 0;
	}
	return -1;
}

struct api_req *api_unpark(uint32_t id, uint32_t reply_type)
{
	struct api_req *r = pending[id % API_MAX_PENDING];
	if (!r || r->id != id || r->awaiting != reply_type)
		return NULL;
	pending[id % API_MAX_PENDING] = NULL;
	if (r->req)
		evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), NULL, NULL);
	return r;
}

int api_pack_cancel(struct api_req *r)
{
	if (!r || r->awaiting != MSG_PACK_RESULT || pending[r->id % API_MAX_PENDING] != r)
		return -1;
	r->cancelled = 1;
	return chan_send(role.sup, MSG_PACK_CANCEL, r->id, NULL, -1);
}

/* ---- from the supervisor ---- */

static int api_dispatch_pubkey(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	const uint8_t *k;
	if (p_pubkey_dec(cur, &k) < 0)
		return -1;
	memcpy(api_pubkey, k, 32);
	api_have_pubkey = 1;
	return 0;
}

#define API_REPLY_HANDLER(fn, type, route)                                                     \
	static int fn(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)     \
	{                                                                                      \
		(void)c; (void)fd; (void)arg;                                                  \
		struct api_req *r = api_unpark(id, type);                                      \
		if (!r)                                                                        \
			return -1;                                                             \
		route(r, cur);                                                                 \
		return 0;                                                                      \
	}
API_REPLY_HANDLER(api_dispatch_result, MSG_PACK_RESULT, routes_pack_result)
API_REPLY_HANDLER(api_dispatch_token, MSG_AUTH_TOKEN, routes_token)
API_REPLY_HANDLER(api_dispatch_rows, MSG_AUDIT_ROWS, routes_audit_rows)
API_REPLY_HANDLER(api_dispatch_security, MSG_SECURITY, routes_security)
API_REPLY_HANDLER(api_dispatch_session, MSG_SESSION_REPLY, sessions_reply)
API_REPLY_HANDLER(api_dispatch_vault, MSG_VAULT_REPLY, vault_rest_reply)

static const struct allow_entry api_from_sup[] = {
	{MSG_PUBKEY, AL_PERMIT, api_dispatch_pubkey},
	{MSG_PACK_RESULT, AL_PERMIT, api_dispatch_result},
	{MSG_AUTH_TOKEN, AL_PERMIT, api_dispatch_token},
	{MSG_AUDIT_ROWS, AL_PERMIT, api_dispatch_rows},
	{MSG_SECURITY, AL_PERMIT, api_dispatch_security},
	{MSG_SESSION_REPLY, AL_PERMIT, api_dispatch_session},
	{MSG_VAULT_REPLY, AL_PERMIT, api_dispatch_vault},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};

int api_main(void)
{
	role_init("api");
	if (routes_init() < 0)
		fatal("pack registry invalid");
	struct sc_policy *pol = role_policy("api");
	char empty[1200];
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	/* a fresh network namespace: the listening socket passed in keeps
	 * working, but nothing here can open a connection anywhere */
	struct confine_spec s = {
		.chroot_dir = empty,
		.unshare_flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
		.rlimits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, API_MAX_CONNS + 64}},
		.nrlimits = 2,
		.landlock_deny_all = 1,
		.policy = pol,
	};
	role_spec_ids(&s, role_table[ROLE_API].uid_offset);
	role_connect(api_from_sup, sizeof api_from_sup / sizeof api_from_sup[0]);
	api_http = evhttp_new(role.base);
	if (!api_http)
		fatal("evhttp_new");
	evhttp_set_max_headers_size(api_http, API_MAX_HEADERS);
	evhttp_set_max_body_size(api_http, API_MAX_BODY);
	struct timeval tv = {(time_t)(cfg.http_timeout_ms / 1000), (suseconds_t)(cfg.http_timeout_ms % 1000) * 1000};
	evhttp_set_timeout_tv(api_http, &tv);
	evhttp_set_allowed_methods(api_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					       EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_bevcb(api_http, api_bevcb, NULL);
	evhttp_set_gencb(api_http, routes_handle, NULL);
	evutil_make_socket_nonblocking(4);
	struct evhttp_bound_socket *bs = evhttp_accept_socket_with_handle(api_http, 4);
	if (!bs)
		fatal("cannot serve on the listening socket");
	api_listener = evhttp_bound_socket_get_listener(bs);
	api_conn_timer = evtimer_new(role.base, api_conn_check, NULL);
	mcp_init();  /* loads the WebSocket engine while files can still be opened */
	confine_apply(&s);
	role_ready(NULL, 0);
	event_base_dispatch(role.base);
	evhttp_free(api_http);
	return 0;
}
