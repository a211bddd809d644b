/*
 * MCP over WebSocket at /api/v1/mcp/ws (subprotocol "mcp", one JSON-RPC
 * message per text frame), with libwebsockets. Debian 12's libwebsockets
 * 4.1.6 has no external-poll callbacks and no libevent event loop, so (ADR
 * 013):
 *  - evhttp parses the upgrade request and we authenticate it like any
 *    other (Authorization header, or ?access_token= for browsers);
 *  - we take the socket from evhttp (a duplicate of it; the original number
 *    is pointed at a pipe end before evhttp frees its connection, because
 *    evhttp_connection_free would shutdown() the socket) and give lws that
 *    socket with a minimal upgrade request rebuilt from checked headers;
 *  - lws runs on a libuv loop (its evlib_uv plugin, foreign-loop mode) that
 *    is embedded in the api's libevent loop: libevent watches the uv
 *    backend descriptor and a timer set from uv_backend_timeout.
 * lws and libuv are loaded with dlopen in the api role only, before
 * confinement: linked into helmdeckd they would cost every pack worker's
 * exec about 0.8 ms of dynamic loading.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/role.h"

#include <dlfcn.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#define WS_MAX_FD (API_MAX_CONNS + 64)   /* the api's RLIMIT_NOFILE */
#define WS_MAX_INFLIGHT 64               /* requests per connection still being answered */

struct ws_frame {
	struct ws_frame *next;
	size_t len;
	unsigned char buf[];  /* LWS_PRE + len */
};

struct mcp_ws_conn {
	struct lws *wsi;            /* NULL until established, and once closed */
	struct lws *adopted;        /* adopted, not yet established */
	int fd;
	struct mcp_stream *stream;
	jwt_claims claims;
	char session[MCP_SID_LEN + 1];
	char *rx;
	size_t rx_len, rx_cap;
	struct ws_frame *tx_head, *tx_tail;
	size_t tx_bytes;
	int closing, close_code;
	char close_why[64];
};

struct ws_pss {
	struct mcp_ws_conn *c;
};

/* the functions we use, resolved from the shared objects */
static struct {
	__typeof__(lws_create_context) *lws_create_context;
	__typeof__(lws_adopt_socket_readbuf) *lws_adopt_socket_readbuf;
	__typeof__(lws_callback_on_writable) *lws_callback_on_writable;
	__typeof__(lws_write) *lws_write;
	__typeof__(lws_close_reason) *lws_close_reason;
	__typeof__(lws_get_socket_fd) *lws_get_socket_fd;
	__typeof__(lws_is_final_fragment) *lws_is_final_fragment;
	__typeof__(lws_frame_is_binary) *lws_frame_is_binary;
	__typeof__(lws_remaining_packet_payload) *lws_remaining_packet_payload;
	__typeof__(lws_set_log_level) *lws_set_log_level;
	__typeof__(lws_callback_http_dummy) *lws_callback_http_dummy;
	__typeof__(uv_loop_init) *uv_loop_init;
	__typeof__(uv_run) *uv_run;
	__typeof__(uv_backend_fd) *uv_backend_fd;
	__typeof__(uv_backend_timeout) *uv_backend_timeout;
	__typeof__(uv_loop_alive) *uv_loop_alive;
} L;

static struct lws_context *ws_ctx;
static uv_loop_t ws_loop;
static struct event *ws_io, *ws_timer;
static int ws_placeholder = -1;
static struct mcp_ws_conn *ws_pending[WS_MAX_FD];  /* by descriptor: adopted, not established */

/* ---- the uv loop inside the libevent loop ---- */

static void ws_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	L.uv_run(&ws_loop, UV_RUN_NOWAIT);
	int t = L.uv_backend_timeout(&ws_loop);
	if (t < 0 || (t == 0 && !L.uv_loop_alive(&ws_loop))) {
		evtimer_del(ws_timer);
		return;
	}
	struct timeval tv = {t / 1000, (t % 1000) * 1000};
	evtimer_add(ws_timer, &tv);
}

/* Something outside a uv callback changed lws state: let it run soon. */
static void ws_kick(void)
{
	struct timeval z = {0, 0};
	evtimer_add(ws_timer, &z);
}

static void ws_log(int level, const char *line)
{
	(void)level;
	/* 4.1.6 logs this at error level on every adoption with a read buffer */
	if (strstr(line, "calling service"))
		return;
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_warn("websocket: %.*s", (int)n, line);
}

/* ---- connections ---- */

static void conn_free(struct mcp_ws_conn *c)
{
	while (c->tx_head) {
		struct ws_frame *f = c->tx_head;
		c->tx_head = f->next;
		free(f);
	}
	free(c->rx);
	if (c->stream) {
		mcp_stream_gone(c->stream);
		mcp_stream_unref(c->stream);
	}
	explicit_bzero(&c->claims, sizeof c->claims);
	free(c);
}

int mcp_ws_send(struct mcp_ws_conn *c, const char *text, size_t len)
{
	if (!c->wsi || c->closing)
		return -1;
	if (c->tx_bytes + len > MCP_STREAM_MAX_QUEUED) {
		log_warn("mcp: a WebSocket client stopped reading; closing it");
		mcp_ws_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
		return -1;
	}
	struct ws_frame *f = malloc(sizeof *f + LWS_PRE + len);
	if (!f)
		fatal("out of memory");
	f->next = NULL;
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	if (c->tx_tail)
		c->tx_tail->next = f;
	else
		c->tx_head = f;
	c->tx_tail = f;
	c->tx_bytes += len;
	L.lws_callback_on_writable(c->wsi);
	ws_kick();
	return 0;
}

void mcp_ws_close(struct mcp_ws_conn *c, int code, const char *why)
{
	if (!c->wsi || c->closing)
		return;
	c->closing = 1;
	c->close_code = code;
	snprintf(c->close_why, sizeof c->close_why, "%s", why);
	if (code != LWS_CLOSE_STATUS_NORMAL) {
		/* an error: what is queued will not be read anyway */
		while (c->tx_head) {
			struct ws_frame *f = c->tx_head;
			c->tx_head = f->next;
			free(f);
		}
		c->tx_tail = NULL;
		c->tx_bytes = 0;
	}
	L.lws_callback_on_writable(c->wsi);
	ws_kick();
}

/* Refuse from inside a receive callback: lws sends the close frame. */
static int ws_refuse(struct lws *wsi, struct mcp_ws_conn *c, int code, const char *why)
{
	c->closing = 1;
	L.lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)why, strlen(why));
	return -1;
}

static void ws_message(struct mcp_ws_conn *c, const char *buf, size_t len)
{
	struct api_req *r = mcp_req_new(&c->claims, "/api/v1/mcp/ws", "WS");
	r->stream = mcp_stream_ref(c->stream);
	json_t *err;
	json_t *msg = mcp_parse(buf, len, &err);
	if (!msg) {
		mcp_send(r, 400, err, NULL);
		return;
	}
	/* the connection's own reference and this message's */
	if (c->stream->refs > WS_MAX_INFLIGHT + 2 && json_object_get(msg, "id")) {
		mcp_send(r, 200, mcp_error(json_object_get(msg, "id"), -32000, "too many requests in flight on this connection"),
			 NULL);
		json_decref(msg);
		return;
	}
	mcp_dispatch(r, msg, 0, c->session);
}

static int ws_receive(struct lws *wsi, struct mcp_ws_conn *c, const void *in, size_t len)
{
	if (c->closing)
		return 0;
	if (L.lws_frame_is_binary(wsi))
		return ws_refuse(wsi, c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "one JSON-RPC message per text frame");
	if (len > MCP_MAX_MESSAGE - c->rx_len)
		return ws_refuse(wsi, c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over 12 MiB");
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		while (cap < c->rx_len + len)
			cap *= 2;
		if (cap > MCP_MAX_MESSAGE)
			cap = MCP_MAX_MESSAGE;
		c->rx = xrealloc(c->rx, cap);
		c->rx_cap = cap;
	}
	if (len)
		memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!L.lws_is_final_fragment(wsi) || L.lws_remaining_packet_payload(wsi))
		return 0;
	if (c->claims.exp && now_unix() > c->claims.exp + 30)
		return ws_refuse(wsi, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "token expired");
	ws_message(c, c->rx, c->rx_len);
	c->rx_len = 0;
	if (c->rx_cap > (64u << 10)) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

static int ws_writable(struct lws *wsi, struct mcp_ws_conn *c)
{
	struct ws_frame *f = c->tx_head;
	if (f) {
		c->tx_head = f->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		c->tx_bytes -= f->len;
		/* lws keeps what the socket does not take and asks again */
		int n = L.lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
		int short_write = n < (int)f->len;
		free(f);
		if (short_write)
			return -1;
		if (c->tx_head || c->closing)
			L.lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		L.lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_why,
				   strlen(c->close_why));
		return -1;
	}
	return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct ws_pss *pss = user;
	struct mcp_ws_conn *c = pss ? pss->c : NULL;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		int fd = L.lws_get_socket_fd(wsi);
		c = fd >= 0 && fd < WS_MAX_FD ? ws_pending[fd] : NULL;
		if (!c || !pss)
			return -1;
		ws_pending[fd] = NULL;
		c->adopted = NULL;
		c->wsi = wsi;
		pss->c = c;
		return 0;
	}
	case LWS_CALLBACK_RECEIVE:
		return c ? ws_receive(wsi, c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? ws_writable(wsi, c) : -1;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			pss->c = NULL;
			c->wsi = NULL;
			conn_free(c);
		}
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* an adopted socket whose handshake never completed */
		for (int fd = 0; fd < WS_MAX_FD; fd++)
			if (ws_pending[fd] && ws_pending[fd]->adopted == wsi) {
				conn_free(ws_pending[fd]);
				ws_pending[fd] = NULL;
			}
		return 0;
	default:
		return L.lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static struct lws_protocols ws_protocols[] = {
	{"mcp", ws_callback, sizeof(struct ws_pss), 65536, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* idle connections are pinged, and dropped when the pong does not come */
static const lws_retry_bo_t ws_retry = {.secs_since_valid_ping = 30, .secs_since_valid_hangup = 70};

/* ---- start ---- */

#define RESOLVE(h, name)                                                   \
	do {                                                               \
		*(void **)&L.name = dlsym(h, #name);                       \
		if (!L.name) {                                             \
			log_warn("websocket: %s missing: %s", #name, dlerror()); \
			return -1;                                         \
		}                                                          \
	} while (0)

int mcp_ws_init(struct event_base *base)
{
	void *uv = dlopen("libuv.so.1", RTLD_NOW | RTLD_GLOBAL);
	void *lws = uv ? dlopen("libwebsockets.so.17", RTLD_NOW | RTLD_GLOBAL) : NULL;
	if (!uv || !lws) {
		log_warn("websocket transport off: %s (install libwebsockets17, libwebsockets-evlib-uv)", dlerror());
		return -1;
	}
	RESOLVE(lws, lws_create_context);
	RESOLVE(lws, lws_adopt_socket_readbuf);
	RESOLVE(lws, lws_callback_on_writable);
	RESOLVE(lws, lws_write);
	RESOLVE(lws, lws_close_reason);
	RESOLVE(lws, lws_get_socket_fd);
	RESOLVE(lws, lws_is_final_fragment);
	RESOLVE(lws, lws_frame_is_binary);
	RESOLVE(lws, lws_remaining_packet_payload);
	RESOLVE(lws, lws_set_log_level);
	RESOLVE(lws, lws_callback_http_dummy);
	RESOLVE(uv, uv_loop_init);
	RESOLVE(uv, uv_run);
	RESOLVE(uv, uv_backend_fd);
	RESOLVE(uv, uv_backend_timeout);
	RESOLVE(uv, uv_loop_alive);
	L.lws_set_log_level(LLL_ERR | LLL_WARN, ws_log);
	if (L.uv_loop_init(&ws_loop) != 0) {
		log_warn("websocket transport off: uv_loop_init failed");
		return -1;
	}
	void *loops[1] = {&ws_loop};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
		       LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = loops;
	info.uid = (uid_t)-1;
	info.gid = (gid_t)-1;
	info.fd_limit_per_thread = WS_MAX_FD;
	info.timeout_secs = 10;
	info.retry_and_idle_policy = &ws_retry;
	info.vhost_name = "helmdeck";
	ws_ctx = L.lws_create_context(&info);
	if (!ws_ctx) {
		log_warn("websocket transport off: lws_create_context failed");
		return -1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fatalx("pipe2");
	close(p[1]);
	ws_placeholder = p[0];
	ws_io = event_new(base, L.uv_backend_fd(&ws_loop), EV_READ | EV_PERSIST, ws_pump, NULL);
	ws_timer = evtimer_new(base, ws_pump, NULL);
	if (!ws_io || !ws_timer || event_add(ws_io, NULL) < 0)
		fatal("websocket: libevent");
	ws_kick();
	return 0;
}

/* ---- the upgrade ---- */

static int has_token(const char *list, const char *tok)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", list ? list : "");
	char *save = NULL;
	for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
		if (!strcasecmp(t, tok))
			return 1;
	return 0;
}

static int valid_key(const char *k)
{
	if (!k || strlen(k) != 24 || strcmp(k + 22, "=="))
		return 0;
	for (size_t i = 0; i < 22; i++)
		if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') ||
		      k[i] == '+' || k[i] == '/'))
			return 0;
	return 1;
}

static void ws_free_evcon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	evhttp_connection_free(arg);
}

/* Browsers cannot set headers on a WebSocket: the token may come as
 * ?access_token=, which becomes the Authorization header require() reads. */
static void ws_query_token(struct api_req *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	if (evhttp_find_header(in, "Authorization") || !qs)
		return;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(qs, &q) == 0) {
		const char *t = evhttp_find_header(&q, "access_token");
		if (t && strlen(t) <= JWT_MAX_LEN) {
			char *h = xasprintf("Bearer %s", t);
			evhttp_add_header(in, "Authorization", h);
			explicit_bzero(h, strlen(h));
			free(h);
		}
	}
	evhttp_clear_headers(&q);
}

void mcp_ws_upgrade(struct api_req *r)
{
	struct evhttp_request *req = r->req;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		api_reply_error(r, 405, "method_not_allowed", "GET with Upgrade: websocket");
		return;
	}
	if (!has_token(evhttp_find_header(in, "Upgrade"), "websocket") ||
	    !has_token(evhttp_find_header(in, "Connection"), "upgrade")) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Upgrade", "websocket");
		api_reply_error(r, 426, "invalid_input", "this endpoint speaks WebSocket (subprotocol mcp)");
		return;
	}
	ws_query_token(r);
	if (require(r, "packs:read") < 0)
		return;
	if (!ws_ctx) {
		api_reply_error(r, 503, "internal", "the WebSocket transport is not available on this server");
		return;
	}
	const char *ver = evhttp_find_header(in, "Sec-WebSocket-Version");
	const char *key = evhttp_find_header(in, "Sec-WebSocket-Key");
	if (!ver || strcmp(ver, "13")) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Sec-WebSocket-Version", "13");
		api_reply_error(r, 426, "invalid_input", "WebSocket version 13 only");
		return;
	}
	if (!valid_key(key)) {
		api_reply_error(r, 400, "invalid_input", "bad Sec-WebSocket-Key");
		return;
	}
	if (!has_token(evhttp_find_header(in, "Sec-WebSocket-Protocol"), "mcp")) {
		api_reply_error(r, 400, "invalid_input", "the WebSocket subprotocol must be mcp");
		return;
	}
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	int fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || evbuffer_get_length(bufferevent_get_input(bev))) {
		api_reply_error(r, 400, "invalid_input", "no data may follow the upgrade request before the handshake");
		return;
	}
	/* a minimal upgrade request of checked values: lws's read buffer holds 2 KiB */
	char hs[512];
	int n = snprintf(hs, sizeof hs,
			 "GET /api/v1/mcp/ws HTTP/1.1\r\nHost: helmdeck\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n\r\n",
			 key);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0 || nfd >= WS_MAX_FD || dup3(ws_placeholder, fd, O_CLOEXEC) < 0) {
		if (nfd >= 0)
			close(nfd);
		api_reply_error(r, 503, "resource_exhausted", "no descriptor for the WebSocket");
		return;
	}
	/* evhttp's connection now holds the pipe end; free it outside this callback */
	struct timeval z = {0, 0};
	if (event_base_once(role.base, -1, EV_TIMEOUT, ws_free_evcon, conn, &z) < 0)
		fatal("event_base_once");
	r->req = NULL;
	struct mcp_ws_conn *c = xcalloc(1, sizeof *c);
	c->fd = nfd;
	c->claims = r->claims;
	uint8_t rnd[MCP_SID_LEN / 2];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		fatal("getrandom");
	hex_encode(rnd, sizeof rnd, c->session);
	c->stream = mcp_stream_ws(c, c->session);
	ws_pending[nfd] = c;
	struct lws *w = L.lws_adopt_socket_readbuf(ws_ctx, nfd, hs, (size_t)n);
	if (!w && ws_pending[nfd] == c) {
		/* lws closed the socket */
		ws_pending[nfd] = NULL;
		conn_free(c);
	} else if (w && ws_pending[nfd] == c) {
		c->adopted = w;
	}
	ws_kick();
	api_reply_none(r, w ? 101 : 500);
}
