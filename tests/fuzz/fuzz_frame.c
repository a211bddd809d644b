/*
 * libFuzzer target for the IPC framing and payload decoders.
 *
 * Each input is treated as a raw byte stream from a peer: it is written to
 * one end of a socketpair whose other end is a chan with an allow table of
 * many types, whose handlers run the real proto decoders on the cursor.
 * The stream is fed twice, once in one write and once in 7-byte pieces,
 * and both runs must end the same way. Every decoder also runs directly on
 * the raw input. Any decoder success must re-encode to exactly the bytes it
 * consumed (the format is canonical), and every decoded string must be a
 * NUL-terminated string inside the frame (ASan checks the strlen).
 *
 * Build:
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -I/work/main \
 *     -o /tmp/fuzz_frame tests/fuzz/fuzz_frame.c ipc/buf.c ipc/chan.c \
 *     ipc/msg.c ipc/proto.c common/log.c common/util.c -levent_core
 * Run:
 *   /tmp/fuzz_frame -max_total_time=60 -max_len=4096 tests/fuzz/corpus_frame
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ipc/buf.h"
#include "ipc/chan.h"
#include "ipc/msg.h"
#include "ipc/proto.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define must(x)                          \
	do {                             \
		if (!(x))                \
			__builtin_trap(); \
	} while (0)

enum kind {
	K_READY, K_PACK_RUN, K_PACK_RESULT, K_LOGIN, K_TOKEN, K_MINT, K_AUDIT,
	K_AUDIT_QUERY, K_BLOB, K_HEAD0, K_HEAD1, K_EMPTY, K_PUBKEY, K_COUNT
};

static volatile size_t sink;

static void touch(const char *s)
{
	must(s != NULL);
	sink += strlen(s);
}

static void touch_mem(const uint8_t *p, size_t n)
{
	if (n)
		must(p != NULL);
	for (size_t i = 0; i < n; i++)
		sink += p[i];
}

/* Decode one payload from c; on success re-encode and compare. */
static int run_dec(int kind, struct cursor *c)
{
	const uint8_t *start = c->p + c->off;
	size_t n = c->len - c->off;
	struct buf b;
	buf_init(&b);
	int rc = -1;
	switch (kind) {
	case K_READY: {
		struct p_ready m;
		rc = p_ready_dec(c, &m);
		if (rc == 0) {
			touch(m.role);
			touch_mem(m.pubkey, m.pubkey_len);
			must(m.pubkey_len <= 64);
			p_ready_enc(&b, &m);
		}
		break;
	}
	case K_PACK_RUN: {
		struct p_pack_run m;
		rc = p_pack_run_dec(c, &m);
		if (rc == 0) {
			touch(m.pack);
			touch(m.cls);
			touch(m.actor);
			touch(m.client);
			touch_mem(m.input, m.input_len);
			p_pack_run_enc(&b, &m);
		}
		break;
	}
	case K_PACK_RESULT: {
		struct p_pack_result m;
		rc = p_pack_result_dec(c, &m);
		if (rc == 0) {
			must(m.ok <= 1);
			touch(m.code);
			touch(m.message);
			touch(m.detail);
			touch_mem(m.output, m.output_len);
			touch_mem(m.artifacts, m.artifacts_len);
			p_pack_result_enc(&b, &m);
		}
		break;
	}
	case K_LOGIN: {
		struct p_login m;
		rc = p_login_dec(c, &m);
		if (rc == 0) {
			touch(m.username);
			touch(m.password);
			p_login_enc(&b, &m);
		}
		break;
	}
	case K_TOKEN: {
		struct p_token m;
		rc = p_token_dec(c, &m);
		if (rc == 0) {
			must(m.ok <= 1);
			touch(m.code);
			touch(m.token);
			touch(m.subject);
			p_token_enc(&b, &m);
		}
		break;
	}
	case K_MINT: {
		struct p_mint m;
		rc = p_mint_dec(c, &m);
		if (rc == 0) {
			touch(m.sub);
			touch(m.client);
			touch(m.scopes);
			p_mint_enc(&b, &m);
		}
		break;
	}
	case K_AUDIT: {
		struct p_audit m;
		rc = p_audit_dec(c, &m);
		if (rc == 0) {
			touch(m.actor);
			touch(m.client);
			touch(m.event_type);
			touch(m.method);
			touch(m.path);
			touch(m.session_id);
			touch(m.pack);
			touch(m.outcome);
			touch(m.error_code);
			touch_mem(m.payload, m.payload_len);
			p_audit_enc(&b, &m);
		}
		break;
	}
	case K_AUDIT_QUERY: {
		struct p_audit_query m;
		rc = p_audit_query_dec(c, &m);
		if (rc == 0) {
			touch(m.event_type);
			touch(m.actor);
			touch(m.session_id);
			p_audit_query_enc(&b, &m);
		}
		break;
	}
	case K_BLOB: {
		struct p_blob m;
		rc = p_blob_dec(c, &m);
		if (rc == 0) {
			touch_mem(m.data, m.len);
			p_blob_enc(&b, &m);
		}
		break;
	}
	case K_HEAD0:
	case K_HEAD1: {
		int sig = kind == K_HEAD1;
		struct p_head m;
		rc = p_head_dec(c, &m, sig);
		if (rc == 0) {
			must(m.seq >= 0);
			touch_mem(m.hash, 32);
			if (sig)
				touch_mem(m.sig, 64);
			else
				must(m.sig == NULL);
			p_head_enc(&b, &m, sig);
		}
		break;
	}
	case K_EMPTY:
		rc = p_empty_dec(c);
		break;
	case K_PUBKEY: {
		const uint8_t *k = NULL;
		rc = p_pubkey_dec(c, &k);
		if (rc == 0) {
			touch_mem(k, 32);
			p_pubkey_enc(&b, k);
		}
		break;
	}
	}
	if (rc == 0) {
		/* exact decoders: success means every byte consumed, canonically */
		must(b.len == n);
		must(n == 0 || memcmp(b.data, start, n) == 0);
	} else {
		must(rc == -1);
		must(cursor_end(c) != 0 || kind == K_PACK_RESULT || kind == K_TOKEN || kind == K_HEAD0 ||
		     kind == K_HEAD1);
	}
	buf_free(&b);
	return rc;
}

struct fctx {
	struct chan *ch;
	int dead, freed, nframes;
	enum chan_end why;
};

static int dispatch(int kind, struct chan *c, struct cursor *cur, int fd, void *arg)
{
	struct fctx *x = arg;
	must(x->ch == c);
	must(fd == -1);  /* raw bytes never carry descriptors */
	x->nframes++;
	return run_dec(kind, cur);
}

#define H(name, kind)                                                                        \
	static int name(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg) \
	{                                                                                    \
		(void)id;                                                                    \
		return dispatch(kind, c, cur, fd, arg);                                      \
	}
H(h_pack_run, K_PACK_RUN)
H(h_pack_result, K_PACK_RESULT)
H(h_login, K_LOGIN)
H(h_token, K_TOKEN)
H(h_mint, K_MINT)
H(h_pubkey, K_PUBKEY)
H(h_audit, K_AUDIT)
H(h_audit_query, K_AUDIT_QUERY)
H(h_blob, K_BLOB)
H(h_head0, K_HEAD0)
H(h_head1, K_HEAD1)

/* READY unlocks HEAD_SIGN, as a real owner would after a handshake. */
static int h_ready(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)id;
	int rc = dispatch(K_READY, c, cur, fd, arg);
	if (rc == 0)
		chan_permit(c, MSG_HEAD_SIGN, 1);
	return rc;
}

/* SECURITY_GET toggles HEAD_SIGN and answers on the channel. */
static int h_security_get(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	int rc = dispatch(K_EMPTY, c, cur, fd, arg);
	if (rc < 0)
		return rc;
	chan_permit(c, MSG_HEAD_SIGN, !chan_permitted(c, MSG_HEAD_SIGN));
	struct buf b;
	buf_init(&b);
	struct p_blob r = {1, (const uint8_t *)"{}", 2};
	p_blob_enc(&b, &r);
	chan_send(c, MSG_SECURITY, id, &b, -1);
	buf_free(&b);
	return 0;
}

/* AL_FD type: a raw stream can never satisfy it; must not get here. */
static int h_listener(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)cur; (void)arg;
	if (fd >= 0)
		close(fd);
	__builtin_trap();
}

/* SHUTDOWN: the handler frees its own channel (deferred free path). */
static int h_shutdown(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)id;
	struct fctx *x = arg;
	int rc = dispatch(K_EMPTY, c, cur, fd, arg);
	if (rc == 0) {
		chan_free(c);
		x->freed = 1;
	}
	return rc;
}

static const struct allow_entry fuzz_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, h_ready},
	{MSG_PACK_RUN, AL_PERMIT, h_pack_run},
	{MSG_PACK_RESULT, AL_PERMIT, h_pack_result},
	{MSG_AUTH_LOGIN, AL_PERMIT, h_login},
	{MSG_AUTH_TOKEN, AL_PERMIT, h_token},
	{MSG_TOKEN_MINT, AL_PERMIT, h_mint},
	{MSG_PUBKEY, AL_PERMIT, h_pubkey},
	{MSG_AUDIT_APPEND, AL_PERMIT, h_audit},
	{MSG_AUDIT_QUERY, AL_PERMIT, h_audit_query},
	{MSG_AUDIT_ROWS, AL_PERMIT, h_blob},
	{MSG_HEAD_SIGN, 0, h_head0},
	{MSG_HEAD_SIGNED, AL_PERMIT, h_head1},
	{MSG_SECURITY_GET, AL_PERMIT, h_security_get},
	{MSG_SECURITY, AL_PERMIT | AL_ONCE, h_blob},
	{MSG_CTL_MINT, AL_PERMIT, h_mint},
	{MSG_CTL_REPLY, AL_PERMIT, h_blob},
	{MSG_SECCOMP_LISTENER, AL_PERMIT | AL_FD, h_listener},
	{MSG_SHUTDOWN, AL_PERMIT, h_shutdown},
};

static void on_close(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	struct fctx *x = arg;
	must(x->ch == c);
	must(!x->dead);  /* reported once */
	must(reason != NULL);
	sink += strlen(reason);
	x->dead = 1;
	x->why = why;
}

static struct event_base *base;

/* Feed data in pieces of `chunk` bytes, then EOF; run until the chan ends. */
static void feed(const uint8_t *data, size_t size, size_t chunk, struct fctx *x)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	memset(x, 0, sizeof *x);
	x->ch = chan_new(base, sv[0], "fuzz", fuzz_allow, sizeof fuzz_allow / sizeof fuzz_allow[0], on_close, x);
	int fl = fcntl(sv[1], F_GETFL);
	fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
	size_t off = 0;
	int spins = 0;
	while (off < size && !x->dead && !x->freed) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = write(sv[1], data + off, n);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		event_base_loop(base, EVLOOP_NONBLOCK);
		must(++spins < 1000000);
	}
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; !x->dead && !x->freed; i++) {
		must(i < 10000);  /* EOF always ends a live channel */
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	if (!x->freed)
		chan_free(x->ch);  /* closes sv[0] */
	close(sv[1]);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd_base = -1;
	static unsigned long iter;
	static const uint8_t empty[1];
	if (!data)
		data = empty;

	/* every decoder, directly on the raw input */
	for (int k = 0; k < K_COUNT; k++) {
		struct cursor c;
		cursor_init(&c, data, size);
		run_dec(k, &c);
	}

	/* the same bytes as a stream from a peer, whole and in pieces */
	struct fctx a, b;
	feed(data, size, size ? size : 1, &a);
	feed(data, size, 7, &b);
	must(a.nframes == b.nframes);
	must(a.freed == b.freed);
	must(a.freed || (a.dead && b.dead));
	if (!a.freed)
		must(a.why == b.why);

	/* no descriptor may leak across iterations */
	if (fd_base < 0)
		fd_base = count_fds();
	else if (++iter % 4096 == 0)
		must(count_fds() <= fd_base + 8);
	return 0;
}
