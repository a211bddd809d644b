#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "chan.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHAN_MAX_FDQ 8
#define CHAN_MAX_OUT (256u << 20)  /* a peer that stops reading is dead */

struct outmsg {
	struct outmsg *next;
	uint8_t *data;
	size_t len, off;
	int fd;
};

struct queued_fd {
	int fd;
	uint64_t at;  /* stream offset of the first byte that came with it */
};

struct chan {
	struct event_base *base;
	int fd;
	char peer[32];
	struct event *ev_read, *ev_write;
	const struct allow_entry *allow;
	size_t nallow;
	uint8_t *permit;  /* per allow entry */
	chan_close_cb on_close;
	void *arg;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint64_t rstream;  /* stream offset of rbuf[0] */
	struct queued_fd fdq[CHAN_MAX_FDQ];
	int nfdq;
	struct outmsg *out_head, *out_tail;
	size_t out_bytes;
	int dead;
	int in_dispatch, free_pending;
};

static void chan_read_cb(evutil_socket_t fd, short what, void *arg);
static void chan_write_cb(evutil_socket_t fd, short what, void *arg);

struct chan *chan_new(struct event_base *base, int fd, const char *peer,
		      const struct allow_entry *allow, size_t nallow,
		      chan_close_cb on_close, void *arg)
{
	struct chan *c = xcalloc(1, sizeof *c);
	c->base = base;
	c->fd = fd;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	c->allow = allow;
	c->nallow = nallow;
	c->permit = xcalloc(nallow ? nallow : 1, 1);
	for (size_t i = 0; i < nallow; i++)
		c->permit[i] = (allow[i].flags & AL_PERMIT) != 0;
	c->on_close = on_close;
	c->arg = arg;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatalx("chan %s: fcntl", peer);
	if (base) {
		c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
		c->ev_write = event_new(base, fd, EV_WRITE, chan_write_cb, c);
		if (!c->ev_read || !c->ev_write)
			fatal("chan %s: event_new", peer);
		event_add(c->ev_read, NULL);
	}
	return c;
}

static void chan_close_fds(struct chan *c)
{
	for (int i = 0; i < c->nfdq; i++)
		close(c->fdq[i].fd);
	c->nfdq = 0;
}

void chan_free(struct chan *c)
{
	if (!c)
		return;
	if (c->in_dispatch) {
		/* freed from inside its own handler: finish after dispatch */
		c->free_pending = 1;
		c->dead = 1;
		if (c->ev_read)
			event_del(c->ev_read);
		if (c->ev_write)
			event_del(c->ev_write);
		return;
	}
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	chan_close_fds(c);
	struct outmsg *m = c->out_head;
	while (m) {
		struct outmsg *n = m->next;
		if (m->fd >= 0)
			close(m->fd);
		explicit_bzero(m->data, m->len);
		free(m->data);
		free(m);
		m = n;
	}
	if (c->rbuf) {
		explicit_bzero(c->rbuf, c->rcap);
		free(c->rbuf);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->permit);
	free(c);
}

const char *chan_peer(const struct chan *c) { return c->peer; }
int chan_fd(const struct chan *c) { return c->fd; }
void *chan_arg(const struct chan *c) { return c->arg; }
size_t chan_pending_out(const struct chan *c) { return c->out_bytes; }

static int chan_find(const struct chan *c, uint32_t type)
{
	for (size_t i = 0; i < c->nallow; i++)
		if (c->allow[i].type == type)
			return (int)i;
	return -1;
}

void chan_permit(struct chan *c, uint32_t type, int on)
{
	int i = chan_find(c, type);
	if (i < 0)
		fatal("chan %s: permit of undeclared %s", c->peer, msg_name(type));
	c->permit[i] = on ? 1 : 0;
}

int chan_permitted(const struct chan *c, uint32_t type)
{
	int i = chan_find(c, type);
	return i >= 0 && c->permit[i];
}

/* Stop reading, report once. The owner decides what to do with the peer. */
static void chan_die(struct chan *c, enum chan_end why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void chan_die(struct chan *c, enum chan_end why, const char *fmt, ...)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->ev_read)
		event_del(c->ev_read);
	if (c->ev_write)
		event_del(c->ev_write);
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (why == CHAN_VIOLATION)
		log_warn("ipc: protocol violation from %s: %s", c->peer, reason);
	if (c->on_close)
		c->on_close(c, why, reason, c->arg);
}

static void chan_dispatch(struct chan *c)
{
	while (!c->dead && c->rlen >= IPC_HDR_LEN) {
		struct cursor h;
		cursor_init(&h, c->rbuf, IPC_HDR_LEN);
		uint32_t len = cursor_u32(&h), type = cursor_u32(&h), id = cursor_u32(&h);
		if (len > IPC_FRAME_MAX) {
			chan_die(c, CHAN_VIOLATION, "frame of %u bytes exceeds %u", len, IPC_FRAME_MAX);
			return;
		}
		int ai = chan_find(c, type);
		if (ai < 0) {
			chan_die(c, CHAN_VIOLATION, "message type %u (%s) not accepted", type, msg_name(type));
			return;
		}
		if (!c->permit[ai]) {
			chan_die(c, CHAN_VIOLATION, "%s not permitted now", msg_name(type));
			return;
		}
		if (c->rlen < IPC_HDR_LEN + (size_t)len)
			return;  /* wait for the rest */
		const struct allow_entry *ae = &c->allow[ai];
		uint64_t start = c->rstream, end = c->rstream + IPC_HDR_LEN + len;
		int fd = -1;
		if (ae->flags & AL_FD) {
			if (c->nfdq == 0 || c->fdq[0].at != start) {
				chan_die(c, CHAN_VIOLATION, "%s without its descriptor", msg_name(type));
				return;
			}
			fd = c->fdq[0].fd;
			memmove(c->fdq, c->fdq + 1, sizeof c->fdq[0] * (size_t)--c->nfdq);
		}
		if (c->nfdq > 0 && c->fdq[0].at < end) {
			if (fd >= 0)
				close(fd);
			chan_die(c, CHAN_VIOLATION, "descriptor on %s, which carries none", msg_name(type));
			return;
		}
		if (ae->flags & AL_ONCE)
			c->permit[ai] = 0;
		struct cursor cur;
		cursor_init(&cur, c->rbuf + IPC_HDR_LEN, len);
		int rc = ae->fn(c, id, &cur, fd, c->arg);
		if (c->dead)
			return;
		if (rc < 0) {
			chan_die(c, CHAN_VIOLATION, "malformed %s", msg_name(type));
			return;
		}
		size_t flen = IPC_HDR_LEN + len;
		memmove(c->rbuf, c->rbuf + flen, c->rlen - flen);
		c->rlen -= flen;
		/* a frame may have carried a secret: no stale copy past the end */
		explicit_bzero(c->rbuf + c->rlen, flen);
		c->rstream += flen;
	}
}

static ssize_t chan_read_some(struct chan *c, int fd);

/* Callbacks may free the channel; defer that until we are back here. */
static void chan_leave(struct chan *c)
{
	if (--c->in_dispatch == 0 && c->free_pending) {
		c->free_pending = 0;
		chan_free(c);
	}
}

static void chan_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct chan *c = arg;
	c->in_dispatch++;
	if (!c->dead)
		chan_read_some(c, fd);
	chan_leave(c);
}

static ssize_t chan_read_some(struct chan *c, int fd)
{
	if (c->rcap - c->rlen < 65536) {
		size_t want = c->rlen + 65536;
		size_t cap = c->rcap ? c->rcap : 65536;
		while (cap < want)
			cap *= 2;
		if (cap > IPC_FRAME_MAX + IPC_HDR_LEN + 65536)
			cap = IPC_FRAME_MAX + IPC_HDR_LEN + 65536;
		if (cap > c->rcap) {
			uint8_t *n = xmalloc(cap);
			if (c->rlen)
				memcpy(n, c->rbuf, c->rlen);
			if (c->rbuf) {
				explicit_bzero(c->rbuf, c->rcap);
				free(c->rbuf);
			}
			c->rbuf = n;
			c->rcap = cap;
		}
	}
	struct iovec iov = {c->rbuf + c->rlen, c->rcap - c->rlen};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		chan_die(c, CHAN_ERROR, "recvmsg: %s", strerror(errno));
		return -1;
	}
	/* Linux ends a read right after the chunk that carried descriptors, and
	 * a sender attaches them to the first chunk of their frame: so they
	 * belong to the frame holding the last byte of this read. */
	uint64_t at = c->rstream;
	if (n > 0) {
		size_t o = 0, last = c->rlen + (size_t)n - 1;
		while (o + IPC_HDR_LEN <= c->rlen + (size_t)n) {
			struct cursor h;
			cursor_init(&h, c->rbuf + o, IPC_HDR_LEN);
			uint64_t flen = IPC_HDR_LEN + (uint64_t)cursor_u32(&h);
			if (o + flen > last)
				break;
			o += (size_t)flen;
		}
		at = c->rstream + o;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(h);
		for (size_t i = 0; i < nfd; i++) {
			if (c->nfdq == CHAN_MAX_FDQ) {
				close(fds[i]);
				chan_die(c, CHAN_VIOLATION, "too many descriptors queued");
				continue;
			}
			c->fdq[c->nfdq].fd = fds[i];
			c->fdq[c->nfdq].at = at;
			c->nfdq++;
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		chan_die(c, CHAN_VIOLATION, "descriptor control data truncated");
	if (c->dead)
		return -1;
	if (n == 0) {
		chan_die(c, c->rlen ? CHAN_VIOLATION : CHAN_EOF,
			 c->rlen ? "eof inside a frame" : "eof");
		return 0;
	}
	c->rlen += (size_t)n;
	chan_dispatch(c);
	return n;
}

void chan_drain(struct chan *c)
{
	c->in_dispatch++;
	while (!c->dead && chan_read_some(c, c->fd) > 0)
		;
	chan_leave(c);
}

static int chan_write_some(struct chan *c)
{
	while (c->out_head) {
		struct outmsg *m = c->out_head;
		struct iovec iov = {m->data + m->off, m->len - m->off};
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cm;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (m->off == 0 && m->fd >= 0) {
			memset(&cm, 0, sizeof cm);
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof cm.buf;
			struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
			h->cmsg_level = SOL_SOCKET;
			h->cmsg_type = SCM_RIGHTS;
			h->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(h), &m->fd, sizeof(int));
		}
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		if (m->off == 0 && m->fd >= 0) {
			close(m->fd);
			m->fd = -1;
		}
		m->off += (size_t)n;
		c->out_bytes -= (size_t)n;
		if (m->off == m->len) {
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			explicit_bzero(m->data, m->len);
			free(m->data);
			free(m);
		}
	}
	return 0;
}

static void chan_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct chan *c = arg;
	c->in_dispatch++;
	if (!c->dead) {
		if (chan_write_some(c) < 0)
			chan_die(c, CHAN_ERROR, "sendmsg: %s", strerror(errno));
		else if (c->out_head)
			event_add(c->ev_write, NULL);
	}
	chan_leave(c);
}

static int chan_enqueue(struct chan *c, uint8_t *data, size_t len, int fd)
{
	if (c->dead) {
		explicit_bzero(data, len);
		free(data);
		return -1;
	}
	if (c->out_bytes + len > CHAN_MAX_OUT) {
		explicit_bzero(data, len);
		free(data);
		c->in_dispatch++;
		chan_die(c, CHAN_ERROR, "peer stopped reading (%zu bytes queued)", c->out_bytes);
		chan_leave(c);
		return -1;
	}
	struct outmsg *m = xcalloc(1, sizeof *m);
	m->data = data;
	m->len = len;
	m->fd = -1;
	if (fd >= 0) {
		m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (m->fd < 0) {
			explicit_bzero(data, len);
			free(data);
			free(m);
			return -1;
		}
	}
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_bytes += len;
	if (chan_write_some(c) < 0) {
		c->in_dispatch++;
		chan_die(c, CHAN_ERROR, "sendmsg: %s", strerror(errno));
		chan_leave(c);
		return -1;
	}
	if (c->out_head && c->ev_write)
		event_add(c->ev_write, NULL);
	return 0;
}

int chan_send(struct chan *c, uint32_t type, uint32_t id, const struct buf *payload, int fd)
{
	size_t plen = payload ? payload->len : 0;
	if (plen > IPC_FRAME_MAX) {
		log_warn("ipc: refusing to send %s of %zu bytes to %s", msg_name(type), plen, c->peer);
		return -1;
	}
	uint8_t *d = xmalloc(IPC_HDR_LEN + plen);
	struct buf h;
	buf_init(&h);
	buf_put_u32(&h, (uint32_t)plen);
	buf_put_u32(&h, type);
	buf_put_u32(&h, id);
	memcpy(d, h.data, IPC_HDR_LEN);
	buf_free(&h);
	if (plen)
		memcpy(d + IPC_HDR_LEN, payload->data, plen);
	return chan_enqueue(c, d, IPC_HDR_LEN + plen, fd);
}

int chan_send_raw(struct chan *c, const void *bytes, size_t n)
{
	uint8_t *d = xmalloc(n);
	memcpy(d, bytes, n);
	return chan_enqueue(c, d, n, -1);
}

void chan_flush_blocking(struct chan *c)
{
	while (c->out_head && !c->dead) {
		if (chan_write_some(c) < 0)
			return;
		if (c->out_head) {
			struct pollfd p = {c->fd, POLLOUT, 0};
			if (poll(&p, 1, 1000) <= 0)
				return;
		}
	}
}

/* A one-shot worker's blocking call: read and dispatch frames until the
 * handler that takes the answer makes done() true. Must not be called from
 * inside this channel's own dispatch (the frame being handled is still at
 * the head of the buffer). */
int chan_wait(struct chan *c, int (*done)(void *arg), void *arg, int timeout_ms)
{
	uint64_t until = now_ms_mono() + (uint64_t)timeout_ms;
	if (c->in_dispatch)
		fatal("chan_wait inside dispatch of %s", c->peer);
	chan_flush_blocking(c);
	c->in_dispatch++;
	while (!c->dead && !done(arg)) {
		uint64_t now = now_ms_mono();
		if (now >= until)
			break;
		struct pollfd p = {c->fd, POLLIN, 0};
		int n = poll(&p, 1, (int)(until - now));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			chan_read_some(c, c->fd);
	}
	int ok = !c->dead && done(arg);
	chan_leave(c);
	return ok ? 0 : -1;
}
