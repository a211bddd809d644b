/*
 * The proxy inside egress: the only way out for a browser session or a git
 * run, whose network namespace has no route. The supervisor makes a
 * listening socket in that namespace and hands it here; a socket keeps its
 * namespace, so what we accept comes from the sandbox and what we connect
 * goes out from ours. Every target is vetted like http.fetch's (evdns, the
 * guard on every address, the open ports), and the connection is pinned to
 * the addresses that passed: there is no second lookup to rebind.
 *
 * HTTP mode speaks CONNECT and absolute-form requests; FIXED mode forwards
 * raw bytes to the one target it was opened for (ssh to a vetted sshd).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "egress.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/egress/guard.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <jansson.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PX_LISTENERS_MAX 16
#define PX_SCOPE_CONNS_MAX 64
/* RLIMIT_NOFILE is 512 and a relayed connection holds two: leave room for
 * libcurl, the resolver and the channels */
#define PX_CONNS_TOTAL_MAX 192
#define PX_HEAD_MAX (16u << 10)
#define PX_HEADERS_MAX 128
#define PX_TARGET_MAX 8192
#define PX_HEAD_TIMEOUT_S 10
#define PX_CONNECT_TIMEOUT_S 10
#define PX_IDLE_TIMEOUT_S 120
#define PX_FLUSH_TIMEOUT_S 30   /* no write progress while flushing the last bytes */
#define PX_LINGER_S 2           /* after our FIN, how long we read the peer's leftovers */
#define PX_HIGH_WATER (1u << 20)
#define PX_ACCEPT_BATCH 128     /* per wakeup; the event is level-triggered and comes back */

enum px_state { PX_HEAD, PX_VET, PX_CONNECT, PX_RELAY, PX_DRAIN };

struct pconn;

struct pside {
	struct pconn *c;
	struct bufferevent *bev;
	int idx;                /* 0 the sandbox's side, 1 the target's */
	int throttled;          /* reading stopped: the other side's output is full */
};

struct plisten {
	int fd;
	struct event *ev, *retry;
	enum egress_proxy_mode mode;
	char scope[128], actor[128], client[128], pack[64];
	struct egress_target fixed;     /* FIXED mode: the template, copied per connection */
	struct pconn *conns;
	int nconns;
	int warned_full;
};

struct pconn {
	struct plisten *l;      /* NULL once ended */
	struct pconn *prev, *next;
	struct pside s[2];
	struct event *timer;    /* head deadline, relay idle, linger */
	enum px_state state;
	int vetting;            /* egress_vet holds &t: the struct outlives an early close */
	int ended;
	int audit;              /* the sandbox sent something or a vet ran: worth a record */
	int flushed;
	struct egress_target t;
	int ai;                 /* next address to try */
	int last_err;
	struct evbuffer *fwd;   /* absolute form: the rewritten head for the origin */
	const char *result, *code;
	uint64_t t0, last_ms, up, down;
};

static struct plisten *listeners[PX_LISTENERS_MAX];
static int px_total;

static void conn_connect_next(struct pconn *c);

/* ---- ending ---- */

static void conn_audit(struct pconn *c)
{
	const char *res = c->result ? c->result : "closed";
	const char *outcome = !strcmp(res, "relayed")   ? "ok"
			      : !strcmp(res, "blocked") ? "blocked"
			      : !strcmp(res, "closed") || !strcmp(res, "client_gone") ? "cancelled"
								    : "error";
	json_t *o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:s}", "scope", c->l->scope, "host", c->t.host, "port",
			      (int)c->t.port, "bytes_up", (json_int_t)c->up, "bytes_down", (json_int_t)c->down,
			      "duration_ms", (json_int_t)(now_ms_mono() - c->t0), "result", res);
	/* every field is ASCII we checked; a NULL here would be a bug of ours,
	 * and the record still goes out without its payload */
	char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	egress_audit("egress_proxy_closed", c->l->actor, c->l->client, c->l->pack, outcome, c->code, payload);
	free(payload);
}

/* Free everything but the struct while a vet still points into it; the
 * vet's callback frees it then. */
static void conn_end(struct pconn *c)
{
	if (c->ended)
		return;
	c->ended = 1;
	for (int i = 0; i < 2; i++)
		if (c->s[i].bev) {
			bufferevent_free(c->s[i].bev);
			c->s[i].bev = NULL;
		}
	if (c->fwd)
		evbuffer_free(c->fwd);
	c->fwd = NULL;
	event_free(c->timer);
	c->timer = NULL;
	if (c->audit)
		conn_audit(c);
	struct plisten *l = c->l;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	px_total--;
	c->l = NULL;
	if (!c->vetting)
		free(c);
}

static void conn_set_result(struct pconn *c, const char *result, const char *code)
{
	c->result = result;
	c->code = code;
}

static void timer_in(struct pconn *c, int secs)
{
	struct timeval tv = {secs, 0};
	evtimer_add(c->timer, &tv);
}

/* ---- the last bytes: flush one side, FIN, read what is left, close ---- */

static void drain_flushed(struct pconn *c)
{
	struct pside *s = &c->s[c->s[0].bev ? 0 : 1];
	c->flushed = 1;
	/* a close with unread input sends RST, and the peer may lose our
	 * reply to it: FIN first, then read until it closes or we stop waiting */
	shutdown(bufferevent_getfd(s->bev), SHUT_WR);
	timer_in(c, PX_LINGER_S);
}

static void drain_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void drain_write(struct bufferevent *bev, void *arg)
{
	struct pside *s = arg;
	if (!s->c->flushed && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		drain_flushed(s->c);
}

static void drain_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev; (void)what;
	struct pside *s = arg;
	conn_end(s->c);
}

/* Keep side k only, until what is queued for it has been written. */
static void conn_drain(struct pconn *c, int k)
{
	struct pside *s = &c->s[k];
	if (c->s[!k].bev) {
		bufferevent_free(c->s[!k].bev);
		c->s[!k].bev = NULL;
	}
	if (!s->bev) {
		conn_end(c);
		return;
	}
	c->state = PX_DRAIN;
	evtimer_del(c->timer);
	bufferevent_setcb(s->bev, drain_read, drain_write, drain_event, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(s->bev, EV_READ, 0, PX_HEAD_MAX);
	struct timeval wt = {PX_FLUSH_TIMEOUT_S, 0};
	bufferevent_set_timeouts(s->bev, NULL, &wt);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->throttled = 0;
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		drain_flushed(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	default: return "Error";
	}
}

/* An HTTP-mode refusal: the status, one line saying why, and close. */
static void conn_fail(struct pconn *c, int status, const char *result, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void conn_fail(struct pconn *c, int status, const char *result, const char *code, const char *fmt, ...)
{
	char body[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	conn_set_result(c, result, code);
	if (c->l->mode != EGRESS_PROXY_HTTP || !c->s[0].bev) {
		conn_end(c);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(c->s[0].bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n%s\n",
			    status, status_text(status), strlen(body) + 1, body);
	conn_drain(c, 0);
}

/* ---- relaying ---- */

static void relay_read(struct bufferevent *bev, void *arg)
{
	struct pside *s = arg;
	struct pconn *c = s->c;
	struct pside *o = &c->s[!s->idx];
	struct evbuffer *in = bufferevent_get_input(bev), *out = bufferevent_get_output(o->bev);
	size_t n = evbuffer_get_length(in);
	if (s->idx == 0)
		c->up += n;
	else
		c->down += n;
	evbuffer_add_buffer(out, in);
	c->last_ms = now_ms_mono();
	/* a slow reader on the other side holds this one back, not our memory */
	if (evbuffer_get_length(out) >= PX_HIGH_WATER) {
		bufferevent_disable(bev, EV_READ);
		s->throttled = 1;
	}
}

/* Runs when this side's output fell to the low watermark (half the high). */
static void relay_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct pside *s = arg;
	struct pside *o = &s->c->s[!s->idx];
	if (o->throttled) {
		o->throttled = 0;
		bufferevent_enable(o->bev, EV_READ);
	}
}

static void relay_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	struct pside *s = arg;
	struct pconn *c = s->c;
	struct pside *o = &c->s[!s->idx];
	/* whatever arrived before the close still goes across */
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	if (s->idx == 0)
		c->up += n;
	else
		c->down += n;
	evbuffer_add_buffer(bufferevent_get_output(o->bev), in);
	/* one side gone (EOF, error, half-close): flush the other and end */
	conn_drain(c, o->idx);
}

static void conn_relay(struct pconn *c)
{
	struct bufferevent *cli = c->s[0].bev, *srv = c->s[1].bev;
	c->state = PX_RELAY;
	conn_set_result(c, "relayed", NULL);
	bufferevent_set_timeouts(srv, NULL, NULL);
	struct evbuffer *sout = bufferevent_get_output(srv);
	if (c->l->mode == EGRESS_PROXY_HTTP && c->fwd) {
		c->up += evbuffer_get_length(c->fwd);
		evbuffer_add_buffer(sout, c->fwd);
		evbuffer_free(c->fwd);
		c->fwd = NULL;
	} else if (c->l->mode == EGRESS_PROXY_HTTP) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		bufferevent_write(cli, ok, sizeof ok - 1);
	}
	/* body bytes (or an eager client's first bytes) read with the head */
	struct evbuffer *cin = bufferevent_get_input(cli);
	c->up += evbuffer_get_length(cin);
	evbuffer_add_buffer(sout, cin);
	for (int i = 0; i < 2; i++) {
		bufferevent_setcb(c->s[i].bev, relay_read, relay_write, relay_event, &c->s[i]);
		bufferevent_setwatermark(c->s[i].bev, EV_READ, 0, 0);
		bufferevent_setwatermark(c->s[i].bev, EV_WRITE, PX_HIGH_WATER / 2, 0);
		bufferevent_enable(c->s[i].bev, EV_READ | EV_WRITE);
	}
	c->last_ms = now_ms_mono();
	timer_in(c, PX_IDLE_TIMEOUT_S);
}

/* ---- connecting to the vetted addresses, one after another ---- */

static void connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct pside *s = arg;
	struct pconn *c = s->c;
	if (what & BEV_EVENT_CONNECTED) {
		conn_relay(c);
		return;
	}
	/* libevent took SO_ERROR and left it in errno */
	c->last_err = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
	if (!c->last_err)
		c->last_err = ECONNREFUSED;
	bufferevent_free(bev);
	s->bev = NULL;
	conn_connect_next(c);
}

static void conn_connect_next(struct pconn *c)
{
	c->state = PX_CONNECT;
	while (c->ai < c->t.naddrs) {
		struct sockaddr_storage ss = c->t.addrs[c->ai++];
		socklen_t len;
		if (ss.ss_family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)c->t.port);
			len = sizeof(struct sockaddr_in);
		} else if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)c->t.port);
			len = sizeof(struct sockaddr_in6);
		} else {
			continue;
		}
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->last_err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct bufferevent *b = bufferevent_socket_new(eg.base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!b)
			fatal("bufferevent_socket_new");
		c->s[1].bev = b;
		bufferevent_setcb(b, NULL, NULL, connect_event, &c->s[1]);
		struct timeval tv = {PX_CONNECT_TIMEOUT_S, 0};
		bufferevent_set_timeouts(b, NULL, &tv);
		/* libevent reports even an immediate refusal later, from the loop */
		if (bufferevent_socket_connect(b, (struct sockaddr *)&ss, (int)len) == 0)
			return;
		c->last_err = errno;
		bufferevent_free(b);
		c->s[1].bev = NULL;
	}
	conn_fail(c, 502, "connect_failed", "handler_failed", "could not connect to %s port %u: %s", c->t.host, c->t.port,
		  strerror(c->last_err ? c->last_err : EHOSTUNREACH));
}

static void conn_vetted(void *arg, int ok, const char *code, const char *why)
{
	(void)code;
	struct pconn *c = arg;
	c->vetting = 0;
	if (c->ended) {
		/* the sandbox ended while the name was resolving */
		free(c);
		return;
	}
	if (!ok) {
		/* egress_vet wrote the egress_blocked record */
		conn_fail(c, 403, "blocked", "invalid_input", "%s", why ? why : "refused");
		return;
	}
	conn_connect_next(c);
}

/* Must be the caller's last use of c: the callback may run, and free c,
 * before egress_vet returns. */
static void conn_vet(struct pconn *c)
{
	c->state = PX_VET;
	c->vetting = 1;
	c->audit = 1;
	egress_vet(&c->t, c->l->actor, c->l->client, c->l->pack, 0, conn_vetted, c);
}

/* ---- reading the request head ---- */

static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The host as egress_parse_url reads curl's: a literal in any form the
 * guard knows (t->addrs[0] filled), else a name that must normalize. */
static int parse_host(const char *h, struct egress_target *t, const char **why)
{
	int lit = guard_host_literal(h, &t->addrs[0]);
	if (lit < 0) {
		*why = "the host is a malformed address";
		return -1;
	}
	if (lit == 1) {
		t->literal = 1;
		t->naddrs = 1;
		snprintf(t->host, sizeof t->host, "%s", h);
	} else if (guard_host_normalize(h, t->host, sizeof t->host) < 0) {
		*why = "the host is not a valid name";
		return -1;
	}
	return 0;
}

/* host[:port] or [v6][:port]; defport 0 means the port is required. */
static int parse_hostport(const char *s, size_t n, unsigned defport, struct egress_target *t, const char **why)
{
	const char *hend, *pstart = NULL;
	*why = "the host is malformed";
	if (n == 0 || n > 300)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb)
			return -1;
		hend = rb + 1;
		if (hend < s + n) {
			if (*hend != ':')
				return -1;
			pstart = hend + 1;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		hend = colon ? colon : s + n;
		if (colon) {
			/* a bare IPv6 literal is ambiguous with a port: brackets only */
			if (memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
				return -1;
			pstart = colon + 1;
		}
	}
	size_t hl = (size_t)(hend - s);
	if (hl == 0 || hl >= sizeof t->host)
		return -1;
	unsigned port = defport;
	if (pstart) {
		size_t pl = (size_t)(s + n - pstart);
		unsigned long p = 0;
		*why = "the port is not a number from 1 to 65535";
		if (pl == 0 || pl > 5)
			return -1;
		for (size_t i = 0; i < pl; i++) {
			if (pstart[i] < '0' || pstart[i] > '9')
				return -1;
			p = p * 10 + (unsigned long)(pstart[i] - '0');
		}
		if (p == 0 || p > 65535)
			return -1;
		port = (unsigned)p;
	}
	if (port == 0) {
		*why = "CONNECT needs host:port";
		return -1;
	}
	char h[sizeof t->host];
	memcpy(h, s, hl);
	h[hl] = '\0';
	if (parse_host(h, t, why) < 0)
		return -1;
	t->port = port;
	return 0;
}

struct hline { const char *p; size_t n; };

static int hop_by_hop(const char *name, size_t n, const struct hline *tok, int ntok)
{
	static const char *const drop[] = {"proxy-connection", "proxy-authorization", "connection", "keep-alive",
					   "host"};
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (strlen(drop[i]) == n && !strncasecmp(name, drop[i], n))
			return 1;
	/* what Connection names is hop-by-hop too, but never the framing */
	if ((n == 14 && !strncasecmp(name, "content-length", n)) || (n == 17 && !strncasecmp(name, "transfer-encoding", n)))
		return 0;
	for (int i = 0; i < ntok; i++)
		if (tok[i].n == n && !strncasecmp(tok[i].p, name, n))
			return 1;
	return 0;
}

/* The head is hlen bytes ending in CRLF CRLF, NUL-terminated. 0 and c->t
 * (plus c->fwd for the absolute form) filled, or -1 with why. */
static int parse_head(struct pconn *c, const char *head, size_t hlen, const char **why)
{
	struct egress_target *t = &c->t;
	*why = "malformed request";
	/* CRLF only, no NUL: where our reading and the origin's differ, a
	 * second request hides */
	for (size_t i = 0; i < hlen; i++) {
		char ch = head[i];
		if (ch == '\0' || (ch == '\r' && (i + 1 >= hlen || head[i + 1] != '\n')) ||
		    (ch == '\n' && (i == 0 || head[i - 1] != '\r')))
			return -1;
	}
	struct hline lines[PX_HEADERS_MAX + 1];
	int nl = 0;
	for (const char *p = head; p < head + hlen;) {
		const char *e = strstr(p, "\r\n");
		if (e == p)
			break; /* the empty line */
		if (nl == PX_HEADERS_MAX + 1) {
			*why = "too many header lines";
			return -1;
		}
		lines[nl++] = (struct hline){p, (size_t)(e - p)};
		p = e + 2;
	}
	if (nl == 0)
		return -1;
	/* method SP target SP version, nothing else */
	const char *rl = lines[0].p, *rend = rl + lines[0].n;
	const char *sp1 = memchr(rl, ' ', lines[0].n);
	if (!sp1)
		return -1;
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(rend - sp1 - 1));
	if (!sp2 || memchr(sp2 + 1, ' ', (size_t)(rend - sp2 - 1)))
		return -1;
	size_t ml = (size_t)(sp1 - rl), tl = (size_t)(sp2 - sp1 - 1), vl = (size_t)(rend - sp2 - 1);
	const char *tg = sp1 + 1, *ver = sp2 + 1;
	if (ml == 0 || ml > 32 || tl == 0 || tl > PX_TARGET_MAX)
		return -1;
	for (size_t i = 0; i < ml; i++)
		if (!is_tchar((unsigned char)rl[i]))
			return -1;
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)tg[i] <= 0x20 || (unsigned char)tg[i] >= 0x7f)
			return -1;
	if (vl != 8 || (memcmp(ver, "HTTP/1.1", 8) && memcmp(ver, "HTTP/1.0", 8))) {
		*why = "only HTTP/1.0 and HTTP/1.1 are proxied";
		return -1;
	}
	/* headers: name ":" OWS value OWS; no folding */
	struct hline hname[PX_HEADERS_MAX], hval[PX_HEADERS_MAX], tok[16];
	int nh = 0, ntok = 0;
	for (int i = 1; i < nl; i++) {
		const char *p = lines[i].p, *e = p + lines[i].n;
		const char *colon = memchr(p, ':', lines[i].n);
		if (!colon || colon == p || colon - p > 128)
			return -1;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return -1;
		const char *v = colon + 1;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		for (const char *q = v; q < e; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
				return -1;
		hname[nh] = (struct hline){p, (size_t)(colon - p)};
		hval[nh] = (struct hline){v, (size_t)(e - v)};
		if (hname[nh].n == 10 && !strncasecmp(p, "connection", 10)) {
			for (const char *q = v; q < e && ntok < 16;) {
				while (q < e && (*q == ',' || *q == ' ' || *q == '\t'))
					q++;
				const char *s0 = q;
				while (q < e && *q != ',' && *q != ' ' && *q != '\t')
					q++;
				if (q > s0)
					tok[ntok++] = (struct hline){s0, (size_t)(q - s0)};
			}
		}
		nh++;
	}

	if (ml == 7 && !memcmp(rl, "CONNECT", 7)) {
		if (parse_hostport(tg, tl, 0, t, why) < 0)
			return -1;
		snprintf(t->scheme, sizeof t->scheme, "connect");
		snprintf(t->path, sizeof t->path, "/");
		return 0;
	}
	if (tl >= 8 && !strncasecmp(tg, "https://", 8)) {
		*why = "https:// in absolute form is not proxied: use CONNECT";
		return -1;
	}
	if (tl < 7 || strncasecmp(tg, "http://", 7)) {
		*why = "not a proxy request: CONNECT host:port or an absolute http:// URL";
		return -1;
	}
	const char *auth = tg + 7, *tend = tg + tl, *ae = auth;
	while (ae < tend && *ae != '/' && *ae != '?' && *ae != '#')
		ae++;
	if (memchr(auth, '@', (size_t)(ae - auth))) {
		*why = "credentials in the URL are not proxied";
		return -1;
	}
	if (parse_hostport(auth, (size_t)(ae - auth), 80, t, why) < 0)
		return -1;
	snprintf(t->scheme, sizeof t->scheme, "http");
	const char *frag = memchr(ae, '#', (size_t)(tend - ae));
	if (frag)
		tend = frag;
	const char *q = memchr(ae, '?', (size_t)(tend - ae));
	int pl = (int)((q ? q : tend) - ae);
	snprintf(t->path, sizeof t->path, "%s%.*s", *ae == '/' ? "" : "/", pl, ae);
	/* origin form, the Host the URL named, our Connection: close */
	struct evbuffer *b = evbuffer_new();
	if (!b)
		fatal("evbuffer_new");
	evbuffer_add_printf(b, "%.*s %s%.*s %.*s\r\nHost: %.*s\r\n", (int)ml, rl, *ae == '/' ? "" : "/",
			    (int)(tend - ae), ae, (int)vl, ver, (int)(ae - auth), auth);
	for (int i = 0; i < nh; i++) {
		if (hop_by_hop(hname[i].p, hname[i].n, tok, ntok))
			continue;
		evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)hname[i].n, hname[i].p, (int)hval[i].n, hval[i].p);
	}
	evbuffer_add_printf(b, "Connection: close\r\n\r\n");
	c->fwd = b;
	return 0;
}

static void head_read(struct bufferevent *bev, void *arg)
{
	struct pside *s = arg;
	struct pconn *c = s->c;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	c->audit = 1;
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (e.pos < 0) {
		/* the read watermark stops us at PX_HEAD_MAX */
		if (len >= PX_HEAD_MAX)
			conn_fail(c, 431, "head_too_large", "invalid_input", "the request head is over %u bytes",
				  PX_HEAD_MAX);
		return;
	}
	size_t hlen = (size_t)e.pos + 4;
	char *head = xmalloc(hlen + 1);
	if (evbuffer_remove(in, head, hlen) != (int)hlen)
		fatal("evbuffer_remove");
	head[hlen] = '\0';
	bufferevent_disable(bev, EV_READ);
	evtimer_del(c->timer);
	const char *why;
	int rc = parse_head(c, head, hlen, &why);
	free(head);
	if (rc < 0) {
		conn_fail(c, 400, "bad_request", "invalid_input", "%s", why);
		return;
	}
	conn_vet(c);
}

static void head_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev; (void)what;
	struct pside *s = arg;
	conn_set_result(s->c, "client_gone", NULL);
	conn_end(s->c);
}

/* Fires for the head deadline, the relay's idle check and the linger. */
static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct pconn *c = arg;
	if (c->state == PX_HEAD) {
		conn_fail(c, 408, "head_timeout", "timeout", "no complete request head in %d s", PX_HEAD_TIMEOUT_S);
	} else if (c->state == PX_RELAY) {
		uint64_t idle = now_ms_mono() - c->last_ms;
		if (idle >= (uint64_t)PX_IDLE_TIMEOUT_S * 1000) {
			conn_end(c);
			return;
		}
		uint64_t left = (uint64_t)PX_IDLE_TIMEOUT_S * 1000 - idle;
		struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
		evtimer_add(c->timer, &tv);
	} else if (c->state == PX_DRAIN) {
		conn_end(c);
	}
}

/* ---- accepting ---- */

static int scope_conns(const char *scope)
{
	int n = 0;
	for (int i = 0; i < PX_LISTENERS_MAX; i++)
		if (listeners[i] && !strcmp(listeners[i]->scope, scope))
			n += listeners[i]->nconns;
	return n;
}

static void conn_start(struct plisten *l, int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct pconn *c = xcalloc(1, sizeof *c);
	c->l = l;
	c->t0 = c->last_ms = now_ms_mono();
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	px_total++;
	for (int i = 0; i < 2; i++)
		c->s[i] = (struct pside){.c = c, .idx = i};
	c->timer = evtimer_new(eg.base, conn_timer, c);
	c->s[0].bev = bufferevent_socket_new(eg.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->timer || !c->s[0].bev)
		fatal("event for a proxy connection");
	if (l->mode == EGRESS_PROXY_FIXED) {
		/* no parsing: the sandbox's bytes wait in the kernel until the
		 * target is vetted and connected */
		c->t = l->fixed;
		conn_vet(c);
		return;
	}
	c->state = PX_HEAD;
	bufferevent_setcb(c->s[0].bev, head_read, NULL, head_event, &c->s[0]);
	bufferevent_setwatermark(c->s[0].bev, EV_READ, 0, PX_HEAD_MAX);
	bufferevent_enable(c->s[0].bev, EV_READ);
	timer_in(c, PX_HEAD_TIMEOUT_S);
}

static void listen_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct plisten *l = arg;
	event_add(l->ev, NULL);
}

static void listen_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct plisten *l = arg;
	for (int k = 0; k < PX_ACCEPT_BATCH; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* EMFILE and the like: the listener stays readable and
				 * would spin, so pause it */
				log_warn("proxy %s: accept: %s; pausing for 1 s", l->scope, strerror(errno));
				event_del(l->ev);
				struct timeval tv = {1, 0};
				evtimer_add(l->retry, &tv);
			}
			return;
		}
		if (scope_conns(l->scope) >= PX_SCOPE_CONNS_MAX || px_total >= PX_CONNS_TOTAL_MAX) {
			if (!l->warned_full)
				log_warn("proxy %s: connection limit reached; refusing new connections", l->scope);
			l->warned_full = 1;
			close(fd);
			continue;
		}
		l->warned_full = 0;
		conn_start(l, fd);
	}
}

static void listener_free(struct plisten *l)
{
	for (struct pconn *c = l->conns, *next; c; c = next) {
		next = c->next;
		conn_end(c);
	}
	event_free(l->ev);
	event_free(l->retry);
	close(l->fd);
	free(l);
}

void egress_proxy_listen(int fd, enum egress_proxy_mode mode, const char *scope, const char *actor,
			 const char *client, const char *purpose, const char *fixed_host, unsigned fixed_port)
{
	if (fd < 0)
		return;
	int slot = -1;
	for (int i = 0; i < PX_LISTENERS_MAX && slot < 0; i++)
		if (!listeners[i])
			slot = i;
	if (slot < 0) {
		log_warn("proxy %s: already %d proxy listeners; refused", scope ? scope : "?", PX_LISTENERS_MAX);
		close(fd);
		return;
	}
	int acc = 0;
	socklen_t al = sizeof acc;
	if (!scope || !*scope || strlen(scope) >= sizeof listeners[0]->scope ||
	    (mode != EGRESS_PROXY_HTTP && mode != EGRESS_PROXY_FIXED) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc) {
		log_warn("proxy %s: not a listening socket or a bad scope; refused", scope ? scope : "?");
		close(fd);
		return;
	}
	struct plisten *l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->mode = mode;
	snprintf(l->scope, sizeof l->scope, "%s", scope);
	snprintf(l->actor, sizeof l->actor, "%s", actor ? actor : "");
	snprintf(l->client, sizeof l->client, "%s", client ? client : "");
	snprintf(l->pack, sizeof l->pack, "proxy:%s", purpose && *purpose ? purpose : "sandbox");
	if (mode == EGRESS_PROXY_FIXED) {
		const char *why;
		if (!fixed_host || !*fixed_host || strlen(fixed_host) >= sizeof l->fixed.host || fixed_port == 0 ||
		    fixed_port > 65535 || parse_host(fixed_host, &l->fixed, &why) < 0) {
			log_warn("proxy %s: fixed target %s port %u is not usable; refused", scope,
				 fixed_host ? fixed_host : "(none)", fixed_port);
			free(l);
			close(fd);
			return;
		}
		l->fixed.port = fixed_port;
		snprintf(l->fixed.scheme, sizeof l->fixed.scheme, "tcp");
		snprintf(l->fixed.path, sizeof l->fixed.path, "/");
	}
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	l->ev = event_new(eg.base, fd, EV_READ | EV_PERSIST, listen_accept, l);
	l->retry = evtimer_new(eg.base, listen_retry, l);
	if (!l->ev || !l->retry || event_add(l->ev, NULL) < 0)
		fatal("event for a proxy listener");
	listeners[slot] = l;
	log_debug("proxy %s: listening (%s)", l->scope, mode == EGRESS_PROXY_HTTP ? "http" : "fixed");
}

void egress_proxy_close(const char *scope)
{
	if (!scope)
		return;
	for (int i = 0; i < PX_LISTENERS_MAX; i++) {
		struct plisten *l = listeners[i];
		if (l && !strcmp(l->scope, scope)) {
			listeners[i] = NULL;
			listener_free(l);
		}
	}
}
