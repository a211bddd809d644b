/* TAP tests for the IPC layer: ipc/buf.c, ipc/proto.c, ipc/chan.c. */
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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define PLAN (139 + 25)

static int n_run, n_fail;

static int vreport(int cond, const char *todo, const char *fmt, va_list ap)
{
	n_run++;
	printf("%s %d - ", cond ? "ok" : "not ok", n_run);
	vprintf(fmt, ap);
	if (todo)
		printf(" # TODO %s", todo);
	putchar('\n');
	fflush(stdout);
	/* a failing TODO test is an expected failure, not a failure */
	if (!cond && !todo)
		n_fail++;
	return cond;
}

__attribute__((format(printf, 2, 3))) static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vreport(cond, NULL, fmt, ap);
	va_end(ap);
	return r;
}


static void *xmem(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

/* A private copy of exactly n bytes, so ASan catches any read past the end. */
static uint8_t *dupmem(const void *p, size_t n)
{
	uint8_t *d = xmem(n);
	if (n)
		memcpy(d, p, n);
	return d;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;  /* the directory's own descriptor */
}

static void writeall(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n) {
		ssize_t w = write(fd, q, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("write");
			abort();
		}
		q += w;
		n -= (size_t)w;
	}
}

/* Raw sendmsg with any number of descriptors on the first byte. */
static ssize_t send_fds(int s, const void *p, size_t n, const int *fds, int nfds)
{
	struct iovec iov = {(void *)(uintptr_t)p, n};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} cm;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL);
}

static void put_hdr(struct buf *b, uint32_t len, uint32_t type, uint32_t id)
{
	buf_put_u32(b, len);
	buf_put_u32(b, type);
	buf_put_u32(b, id);
}

static void put_frame(struct buf *b, uint32_t type, uint32_t id, const void *p, size_t n)
{
	put_hdr(b, (uint32_t)n, type, id);
	buf_put(b, p, n);
}

/* ------------------------------------------------------------------ */
/* buf / cursor                                                        */
/* ------------------------------------------------------------------ */

static const uint8_t fixed32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void build_mixed(struct buf *b)
{
	static const uint8_t blob[5] = {0, 0xff, 0, 7, 0};
	buf_put_u32(b, 0);
	buf_put_u32(b, 0xdeadbeefu);
	buf_put_u32(b, UINT32_MAX);
	buf_put_u64(b, 0x0102030405060708ull);
	buf_put_u64(b, UINT64_MAX);
	buf_put_i64(b, INT64_MIN);
	buf_put_i64(b, -1);
	buf_put_i64(b, INT64_MAX);
	buf_put_str(b, "hello");
	buf_put_str(b, "");
	buf_put_str(b, NULL);
	buf_put_blob(b, blob, sizeof blob);
	buf_put_blob(b, NULL, 0);
	buf_put(b, fixed32, sizeof fixed32);
}

/* Decode what build_mixed wrote; 1 when every value matched. */
static int read_mixed(struct cursor *c)
{
	static const uint8_t blob[5] = {0, 0xff, 0, 7, 0};
	int good = 1;
	good &= cursor_u32(c) == 0;
	good &= cursor_u32(c) == 0xdeadbeefu;
	good &= cursor_u32(c) == UINT32_MAX;
	good &= cursor_u64(c) == 0x0102030405060708ull;
	good &= cursor_u64(c) == UINT64_MAX;
	good &= cursor_i64(c) == INT64_MIN;
	good &= cursor_i64(c) == -1;
	good &= cursor_i64(c) == INT64_MAX;
	const char *s = cursor_str(c, 100);
	good &= s && strcmp(s, "hello") == 0;
	s = cursor_str(c, 100);
	good &= s && strcmp(s, "") == 0;
	s = cursor_str(c, 100);
	good &= s && strcmp(s, "") == 0;
	size_t bl = 99;
	const uint8_t *bp = cursor_blob(c, &bl, 100);
	good &= bp && bl == sizeof blob && memcmp(bp, blob, sizeof blob) == 0;
	bp = cursor_blob(c, &bl, 100);
	good &= bp != NULL && bl == 0;
	const uint8_t *fx = cursor_fixed(c, 32);
	good &= fx && memcmp(fx, fixed32, 32) == 0;
	return good;
}

static void test_buf(void)
{
	struct buf b;
	struct cursor c;

	buf_init(&b);
	buf_put_u32(&b, 0x01020304u);
	buf_put_u64(&b, 0x05060708090a0b0cull);
	static const uint8_t be[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	ok(b.len == 12 && memcmp(b.data, be, 12) == 0, "buf: integers are big-endian on the wire");
	buf_reset(&b);
	buf_put_str(&b, "ab");
	static const uint8_t se[7] = {0, 0, 0, 2, 'a', 'b', 0};
	ok(b.len == 7 && memcmp(b.data, se, 7) == 0, "buf: string is u32 length, bytes, NUL");
	buf_reset(&b);
	ok(b.len == 0, "buf_reset empties the builder");

	/* large enough to force several regrowths */
	for (int i = 0; i < 5000; i++)
		buf_put_u32(&b, (uint32_t)i);
	cursor_init(&c, b.data, b.len);
	int seq = 1;
	for (int i = 0; i < 5000; i++)
		seq &= cursor_u32(&c) == (uint32_t)i;
	ok(seq && cursor_end(&c) == 0, "buf: growth keeps earlier contents (20000 bytes)");
	buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "buf_free resets the builder");

	buf_init(&b);
	build_mixed(&b);
	uint8_t *p = dupmem(b.data, b.len);
	size_t n = b.len;
	cursor_init(&c, p, n);
	ok(read_mixed(&c) && cursor_end(&c) == 0, "cursor: round trip of u32/u64/i64/str/blob/fixed");
	free(p);

	/* one trailing byte */
	buf_put(&b, "", 1);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	int vals = read_mixed(&c);
	ok(vals && cursor_end(&c) != 0, "cursor_end fails on one trailing byte");
	free(p);

	/* every truncation of the valid payload */
	int bad = 0;
	for (size_t k = 0; k < n; k++) {
		p = dupmem(b.data, k);
		cursor_init(&c, p, k);
		(void)read_mixed(&c);
		if (cursor_end(&c) == 0)
			bad++;
		free(p);
	}
	ok(bad == 0, "cursor_end fails on every truncation (%zu lengths, %d accepted)", n, bad);
	buf_free(&b);

	cursor_init(&c, "", 0);
	ok(cursor_end(&c) == 0, "cursor: empty payload, nothing read -> cursor_end ok");
	ok(cursor_u32(&c) == 0 && c.err && cursor_end(&c) != 0, "cursor_u32 on empty payload fails");

	/* missing NUL terminator */
	static const uint8_t nonul[] = {0, 0, 0, 3, 'a', 'b', 'c', 'x'};
	p = dupmem(nonul, sizeof nonul);
	cursor_init(&c, p, sizeof nonul);
	ok(cursor_str(&c, 100) == NULL && cursor_end(&c) != 0, "cursor_str rejects a missing NUL terminator");
	free(p);

	/* NUL absent because the payload ends right after the bytes */
	static const uint8_t shortnul[] = {0, 0, 0, 3, 'a', 'b', 'c'};
	p = dupmem(shortnul, sizeof shortnul);
	cursor_init(&c, p, sizeof shortnul);
	ok(cursor_str(&c, 100) == NULL && cursor_end(&c) != 0, "cursor_str rejects a string cut before its NUL");
	free(p);

	static const uint8_t embnul[] = {0, 0, 0, 3, 'a', 0, 'c', 0};
	p = dupmem(embnul, sizeof embnul);
	cursor_init(&c, p, sizeof embnul);
	ok(cursor_str(&c, 100) == NULL && cursor_end(&c) != 0, "cursor_str rejects an embedded NUL");
	free(p);

	static const uint8_t three[] = {0, 0, 0, 3, 'a', 'b', 'c', 0};
	p = dupmem(three, sizeof three);
	cursor_init(&c, p, sizeof three);
	ok(cursor_str(&c, 2) == NULL && cursor_end(&c) != 0, "cursor_str rejects length 3 above maxlen 2");
	cursor_init(&c, p, sizeof three);
	const char *s = cursor_str(&c, 3);
	ok(s && strcmp(s, "abc") == 0 && cursor_end(&c) == 0, "cursor_str accepts length == maxlen");
	free(p);

	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a', 0};
	p = dupmem(huge, sizeof huge);
	cursor_init(&c, p, sizeof huge);
	ok(cursor_str(&c, SIZE_MAX) == NULL && cursor_end(&c) != 0,
	   "cursor_str rejects length 0xffffffff even with maxlen SIZE_MAX");
	cursor_init(&c, p, sizeof huge);
	ok(cursor_str(&c, PROTO_STR_MAX) == NULL && c.err, "cursor_str rejects length 0xffffffff (PROTO_STR_MAX)");
	free(p);

	static const uint8_t bl4[] = {0, 0, 0, 4, 1, 2, 3, 4};
	p = dupmem(bl4, sizeof bl4);
	size_t blen = 77;
	cursor_init(&c, p, sizeof bl4);
	ok(cursor_blob(&c, &blen, 3) == NULL && blen == 0 && cursor_end(&c) != 0,
	   "cursor_blob rejects length 4 above maxlen 3");
	cursor_init(&c, p, sizeof bl4);
	const uint8_t *bp = cursor_blob(&c, &blen, 4);
	ok(bp && blen == 4 && bp[3] == 4 && cursor_end(&c) == 0, "cursor_blob accepts length == maxlen");
	free(p);
	static const uint8_t blshort[] = {0, 0, 0, 5, 1, 2, 3, 4};
	p = dupmem(blshort, sizeof blshort);
	cursor_init(&c, p, sizeof blshort);
	ok(cursor_blob(&c, &blen, 100) == NULL && blen == 0 && cursor_end(&c) != 0,
	   "cursor_blob rejects a length beyond the payload");
	free(p);

	static const uint8_t four[4] = {9, 9, 9, 9};
	p = dupmem(four, 4);
	cursor_init(&c, p, 4);
	ok(cursor_fixed(&c, 5) == NULL && cursor_end(&c) != 0, "cursor_fixed beyond the payload fails");
	free(p);

	/* latching: a failed field, then reads that would succeed on their own */
	static const uint8_t latch[] = {0, 0, 0, 9, 'x', 0, 0, 0, 0, 7, 0, 0, 0, 8};
	p = dupmem(latch, sizeof latch);
	cursor_init(&c, p, sizeof latch);
	s = cursor_str(&c, 4);  /* 9 > 4: error */
	uint32_t v1 = cursor_u32(&c);
	ok(s == NULL && v1 == 0 && c.err, "error latches: a u32 after a failed string reads 0");
	const uint8_t *fx = cursor_fixed(&c, 1);
	ok(fx == NULL && cursor_end(&c) != 0, "error latches: cursor_fixed after the error fails, cursor_end fails");
	free(p);

	/* latch even when the later reads consume exactly the rest */
	static const uint8_t latch2[] = {0, 0, 0, 1, 'a', 'b', 0, 0, 0, 1};
	p = dupmem(latch2, sizeof latch2);
	cursor_init(&c, p, sizeof latch2);
	(void)cursor_str(&c, 100);  /* "a" then 'b' instead of NUL: error after consuming 6 bytes */
	(void)cursor_u32(&c);
	ok(cursor_end(&c) != 0, "error latches even if the remaining reads would consume every byte");
	free(p);
}

/* ------------------------------------------------------------------ */
/* proto                                                               */
/* ------------------------------------------------------------------ */

static int d_ready(struct cursor *c) { struct p_ready m; return p_ready_dec(c, &m); }
static int d_pack_run(struct cursor *c) { struct p_pack_run m; return p_pack_run_dec(c, &m); }
static int d_pack_result(struct cursor *c) { struct p_pack_result m; return p_pack_result_dec(c, &m); }
static int d_login(struct cursor *c) { struct p_login m; return p_login_dec(c, &m); }
static int d_token(struct cursor *c) { struct p_token m; return p_token_dec(c, &m); }
static int d_mint(struct cursor *c) { struct p_mint m; return p_mint_dec(c, &m); }
static int d_audit(struct cursor *c) { struct p_audit m; return p_audit_dec(c, &m); }
static int d_audit_query(struct cursor *c) { struct p_audit_query m; return p_audit_query_dec(c, &m); }
static int d_blob(struct cursor *c) { struct p_blob m; return p_blob_dec(c, &m); }
static int d_head0(struct cursor *c) { struct p_head m; return p_head_dec(c, &m, 0); }
static int d_head1(struct cursor *c) { struct p_head m; return p_head_dec(c, &m, 1); }
static int d_empty(struct cursor *c) { return p_empty_dec(c); }
static int d_pubkey(struct cursor *c) { const uint8_t *k; return p_pubkey_dec(c, &k); }
static int d_vault_req(struct cursor *c) { struct p_vault_req m; return p_vault_req_dec(c, &m); }
static int d_vault_resolve(struct cursor *c) { struct p_vault_resolve m; return p_vault_resolve_dec(c, &m); }
static int d_vault_secret(struct cursor *c) { struct p_vault_secret m; return p_vault_secret_dec(c, &m); }
static int d_egress_fetch(struct cursor *c) { struct p_egress_fetch m; return p_egress_fetch_dec(c, &m); }
static int d_egress_result(struct cursor *c) { struct p_egress_result m; return p_egress_result_dec(c, &m); }
static int d_proxy(struct cursor *c) { struct p_proxy m; return p_proxy_dec(c, &m); }
static int d_agent_open(struct cursor *c) { struct p_agent_open m; return p_agent_open_dec(c, &m); }


/* Every strict prefix and the encoding plus one byte must fail. */
static void check_exact(const char *name, const struct buf *b, int (*dec)(struct cursor *))
{
	int accepted = 0;
	for (size_t k = 0; k < b->len; k++) {
		uint8_t *p = dupmem(b->data, k);
		struct cursor c;
		cursor_init(&c, p, k);
		if (dec(&c) == 0)
			accepted++;
		free(p);
	}
	ok(accepted == 0, "%s: all %zu truncations fail (%d accepted)", name, b->len, accepted);
	uint8_t *p = xmem(b->len + 1);
	if (b->len)
		memcpy(p, b->data, b->len);
	p[b->len] = 0;
	struct cursor c;
	cursor_init(&c, p, b->len + 1);
	ok(dec(&c) != 0, "%s: one extra trailing byte fails", name);
	free(p);
}

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* The vault and egress payloads: a round trip each, exact length, and the
 * bounds a peer must not pass. */
static void test_proto_secrets(void)
{
	struct buf b;
	struct cursor c;
	uint8_t *p;

	buf_init(&b);
	struct p_vault_req vr = {"create", "alice", "cli", "cred_x", "bob", (const uint8_t *)"{\"a\":1}", 7};
	p_vault_req_enc(&b, &vr);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_vault_req vr2;
	ok(p_vault_req_dec(&c, &vr2) == 0 && streq(vr2.op, "create") && streq(vr2.arg, "bob") && vr2.body_len == 7 &&
	   !memcmp(vr2.body, "{\"a\":1}", 7), "p_vault_req_dec: round trip");
	free(p);
	check_exact("p_vault_req_dec", &b, d_vault_req);
	buf_reset(&b);
	struct p_vault_req vlong = {"a-long-op-name-over-16", "", "", "", "", NULL, 0};
	p_vault_req_enc(&b, &vlong);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_vault_req_dec(&c, &vr2) != 0, "p_vault_req_dec: an op over 16 bytes is refused");
	free(p);
	buf_free(&b);

	buf_init(&b);
	struct p_vault_resolve rs = {"k", "", "alice", "cli", "api.example", "/v1", "http.fetch"};
	p_vault_resolve_enc(&b, &rs);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_vault_resolve rs2;
	ok(p_vault_resolve_dec(&c, &rs2) == 0 && streq(rs2.host, "api.example") && streq(rs2.purpose, "http.fetch"),
	   "p_vault_resolve_dec: round trip");
	free(p);
	check_exact("p_vault_resolve_dec", &b, d_vault_resolve);
	buf_free(&b);

	buf_init(&b);
	struct p_vault_secret sc = {1, "", "", "cred_x", "k", "api_key", (const uint8_t *)"s3cr3t", 6};
	p_vault_secret_enc(&b, &sc);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_vault_secret sc2;
	ok(p_vault_secret_dec(&c, &sc2) == 0 && sc2.ok == 1 && sc2.secret_len == 6 && !memcmp(sc2.secret, "s3cr3t", 6),
	   "p_vault_secret_dec: round trip");
	free(p);
	check_exact("p_vault_secret_dec", &b, d_vault_secret);
	p = dupmem(b.data, b.len);
	p[3] = 2;  /* ok is a u32 (little-endian): 0x02000001 */
	cursor_init(&c, p, b.len);
	ok(p_vault_secret_dec(&c, &sc2) != 0, "p_vault_secret_dec: ok other than 0/1 is refused");
	free(p);
	buf_free(&b);

	buf_init(&b);
	struct p_egress_fetch ef = {"alice", "cli", "http.fetch", 5000, (const uint8_t *)"{}", 2};
	p_egress_fetch_enc(&b, &ef);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_egress_fetch ef2;
	ok(p_egress_fetch_dec(&c, &ef2) == 0 && ef2.timeout_ms == 5000 && ef2.req_len == 2, "p_egress_fetch_dec: round trip");
	free(p);
	check_exact("p_egress_fetch_dec", &b, d_egress_fetch);
	buf_free(&b);

	buf_init(&b);
	struct p_egress_result er = {0, "invalid_input", "refused", NULL, 0};
	p_egress_result_enc(&b, &er);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_egress_result er2;
	ok(p_egress_result_dec(&c, &er2) == 0 && er2.ok == 0 && streq(er2.code, "invalid_input") && er2.resp_len == 0,
	   "p_egress_result_dec: round trip");
	free(p);
	check_exact("p_egress_result_dec", &b, d_egress_result);
	buf_free(&b);

	buf_init(&b);
	struct p_proxy px = {"session:s", "alice", "", "browser", "", 0, 0};
	p_proxy_enc(&b, &px);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_proxy px2;
	ok(p_proxy_dec(&c, &px2) == 0 && streq(px2.scope, "session:s") && px2.mode == 0, "p_proxy_dec: round trip");
	free(p);
	check_exact("p_proxy_dec", &b, d_proxy);
	buf_reset(&b);
	struct p_proxy pbad = {"run:1", "a", "", "git", "h", 2, 22};
	p_proxy_enc(&b, &pbad);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_proxy_dec(&c, &px2) != 0, "p_proxy_dec: an unknown mode is refused");
	free(p);
	buf_reset(&b);
	struct p_proxy pport = {"run:1", "a", "", "git", "h", 1, 70000};
	p_proxy_enc(&b, &pport);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_proxy_dec(&c, &px2) != 0, "p_proxy_dec: a port past 65535 is refused");
	free(p);
	buf_free(&b);

	buf_init(&b);
	struct p_agent_open ao = {"run-1-0", "alice", "cli", "git.example", "/org/r.git", ""};
	p_agent_open_enc(&b, &ao);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	struct p_agent_open ao2;
	ok(p_agent_open_dec(&c, &ao2) == 0 && streq(ao2.host, "git.example") && streq(ao2.name, ""),
	   "p_agent_open_dec: round trip");
	free(p);
	check_exact("p_agent_open_dec", &b, d_agent_open);
	buf_free(&b);
}

static void test_proto(void)
{
	struct buf b;
	struct cursor c;
	uint8_t *p;
	static const uint8_t key64[64] = {[0] = 0xaa, [63] = 0x55};
	static const uint8_t input[] = "{\"x\":1}";
	static const uint8_t sig[64] = {[0] = 1, [31] = 2, [63] = 3};

	/* READY */
	buf_init(&b);
	struct p_ready r = {"worker", key64, 64, "landlock"};
	p_ready_enc(&b, &r);
	p = dupmem(b.data, b.len);
	struct p_ready r2;
	memset(&r2, 0, sizeof r2);
	cursor_init(&c, p, b.len);
	ok(p_ready_dec(&c, &r2) == 0 && streq(r2.role, "worker") && r2.pubkey_len == 64 &&
	   memcmp(r2.pubkey, key64, 64) == 0 && streq(r2.missing, "landlock"), "p_ready_dec: round trip");
	free(p);
	check_exact("p_ready_dec", &b, d_ready);
	buf_reset(&b);
	struct p_ready rn = {NULL, NULL, 5, NULL};
	p_ready_enc(&b, &rn);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_ready_dec(&c, &r2) == 0 && streq(r2.role, "") && r2.pubkey_len == 0,
	   "p_ready: NULL role and NULL pubkey encode as empty");
	free(p);
	buf_reset(&b);
	uint8_t key65[65] = {0};
	buf_put_str(&b, "x");
	buf_put_blob(&b, key65, 65);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_ready_dec(&c, &r2) != 0, "p_ready_dec: pubkey of 65 bytes rejected (max 64)");
	free(p);
	buf_free(&b);

	/* PACK_RUN */
	buf_init(&b);
	struct p_pack_run pr = {.pack = "echo", .cls = "default", .actor = "alice", .client = "cli",
				.version = 3, .timeout_ms = 30000, .max_output = 65536,
				.input = input, .input_len = sizeof input - 1};
	p_pack_run_enc(&b, &pr);
	p = dupmem(b.data, b.len);
	struct p_pack_run pr2;
	memset(&pr2, 0, sizeof pr2);
	cursor_init(&c, p, b.len);
	ok(p_pack_run_dec(&c, &pr2) == 0 && streq(pr2.pack, "echo") && streq(pr2.cls, "default") &&
	   streq(pr2.actor, "alice") && streq(pr2.client, "cli") && pr2.version == 3 &&
	   pr2.timeout_ms == 30000 && pr2.max_output == 65536 && pr2.input_len == sizeof input - 1 &&
	   memcmp(pr2.input, input, pr2.input_len) == 0, "p_pack_run_dec: round trip");
	free(p);
	check_exact("p_pack_run_dec", &b, d_pack_run);
	buf_free(&b);

	/* PACK_RESULT */
	buf_init(&b);
	static const uint8_t out[] = "{\"ok\":true}", arts[] = "[]";
	struct p_pack_result res = {.ok = 1, .code = "ok", .message = "done", .detail = "",
				    .output = out, .output_len = sizeof out - 1,
				    .artifacts = arts, .artifacts_len = sizeof arts - 1,
				    .duration_us = 0x123456789ull};
	p_pack_result_enc(&b, &res);
	p = dupmem(b.data, b.len);
	struct p_pack_result res2;
	memset(&res2, 0, sizeof res2);
	cursor_init(&c, p, b.len);
	ok(p_pack_result_dec(&c, &res2) == 0 && res2.ok == 1 && streq(res2.code, "ok") &&
	   streq(res2.message, "done") && streq(res2.detail, "") && res2.output_len == sizeof out - 1 &&
	   memcmp(res2.output, out, res2.output_len) == 0 && res2.artifacts_len == 2 &&
	   memcmp(res2.artifacts, "[]", 2) == 0 && res2.duration_us == 0x123456789ull,
	   "p_pack_result_dec: round trip");
	free(p);
	check_exact("p_pack_result_dec", &b, d_pack_result);
	buf_reset(&b);
	res.ok = 2;
	p_pack_result_enc(&b, &res);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_pack_result_dec(&c, &res2) != 0, "p_pack_result_dec: ok=2 rejected");
	free(p);
	buf_free(&b);

	/* AUTH_LOGIN */
	buf_init(&b);
	struct p_login lg = {"admin", "s3cret pass"};
	p_login_enc(&b, &lg);
	p = dupmem(b.data, b.len);
	struct p_login lg2;
	memset(&lg2, 0, sizeof lg2);
	cursor_init(&c, p, b.len);
	ok(p_login_dec(&c, &lg2) == 0 && streq(lg2.username, "admin") && streq(lg2.password, "s3cret pass"),
	   "p_login_dec: round trip");
	free(p);
	check_exact("p_login_dec", &b, d_login);
	buf_free(&b);

	/* AUTH_TOKEN */
	buf_init(&b);
	struct p_token tk = {.ok = 1, .code = "", .token = "eyJhbGciOi.x.y", .subject = "admin",
			     .expires_at = -5};
	p_token_enc(&b, &tk);
	p = dupmem(b.data, b.len);
	struct p_token tk2;
	memset(&tk2, 0, sizeof tk2);
	cursor_init(&c, p, b.len);
	ok(p_token_dec(&c, &tk2) == 0 && tk2.ok == 1 && streq(tk2.code, "") &&
	   streq(tk2.token, "eyJhbGciOi.x.y") && streq(tk2.subject, "admin") && tk2.expires_at == -5,
	   "p_token_dec: round trip (negative expires_at preserved)");
	free(p);
	check_exact("p_token_dec", &b, d_token);
	buf_reset(&b);
	tk.ok = 7;
	p_token_enc(&b, &tk);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_token_dec(&c, &tk2) != 0, "p_token_dec: ok=7 rejected");
	free(p);
	buf_free(&b);

	/* TOKEN_MINT / CTL_MINT */
	buf_init(&b);
	struct p_mint mt = {"svc", "ci", "packs:run audit:read", 3600};
	p_mint_enc(&b, &mt);
	p = dupmem(b.data, b.len);
	struct p_mint mt2;
	memset(&mt2, 0, sizeof mt2);
	cursor_init(&c, p, b.len);
	ok(p_mint_dec(&c, &mt2) == 0 && streq(mt2.sub, "svc") && streq(mt2.client, "ci") &&
	   streq(mt2.scopes, "packs:run audit:read") && mt2.ttl_s == 3600, "p_mint_dec: round trip");
	free(p);
	check_exact("p_mint_dec", &b, d_mint);
	buf_free(&b);

	/* AUDIT_APPEND */
	buf_init(&b);
	static const uint8_t js[] = "{\"k\":\"v\"}";
	struct p_audit au = {.ts_ms = 1700000000123, .duration_ms = 42, .status = -1,
			     .actor = "alice", .client = "cli", .event_type = "pack.run", .method = "POST",
			     .path = "/v1/packs/echo", .session_id = "s-1", .pack = "echo", .outcome = "ok",
			     .error_code = "", .payload = js, .payload_len = sizeof js - 1};
	p_audit_enc(&b, &au);
	p = dupmem(b.data, b.len);
	struct p_audit au2;
	memset(&au2, 0, sizeof au2);
	cursor_init(&c, p, b.len);
	ok(p_audit_dec(&c, &au2) == 0 && au2.ts_ms == 1700000000123 && au2.duration_ms == 42 &&
	   au2.status == -1 && streq(au2.actor, "alice") && streq(au2.client, "cli") &&
	   streq(au2.event_type, "pack.run") && streq(au2.method, "POST") &&
	   streq(au2.path, "/v1/packs/echo") && streq(au2.session_id, "s-1") && streq(au2.pack, "echo") &&
	   streq(au2.outcome, "ok") && streq(au2.error_code, "") && au2.payload_len == sizeof js - 1 &&
	   memcmp(au2.payload, js, au2.payload_len) == 0, "p_audit_dec: round trip (status -1 preserved)");
	free(p);
	check_exact("p_audit_dec", &b, d_audit);
	buf_free(&b);

	/* AUDIT_QUERY */
	buf_init(&b);
	struct p_audit_query aq = {.from_ms = -1000, .to_ms = INT64_MAX, .event_type = "login",
				   .actor = "", .session_id = "abc", .limit = 500};
	p_audit_query_enc(&b, &aq);
	p = dupmem(b.data, b.len);
	struct p_audit_query aq2;
	memset(&aq2, 0, sizeof aq2);
	cursor_init(&c, p, b.len);
	ok(p_audit_query_dec(&c, &aq2) == 0 && aq2.from_ms == -1000 && aq2.to_ms == INT64_MAX &&
	   streq(aq2.event_type, "login") && streq(aq2.actor, "") && streq(aq2.session_id, "abc") &&
	   aq2.limit == 500, "p_audit_query_dec: round trip");
	free(p);
	check_exact("p_audit_query_dec", &b, d_audit_query);
	buf_free(&b);

	/* BLOB (AUDIT_ROWS, SECURITY, CTL_REPLY, ...) */
	buf_init(&b);
	static const uint8_t rows[] = {'[', 0, ']', 0xff};
	struct p_blob bb = {1, rows, sizeof rows};
	p_blob_enc(&b, &bb);
	p = dupmem(b.data, b.len);
	struct p_blob bb2;
	memset(&bb2, 0, sizeof bb2);
	cursor_init(&c, p, b.len);
	ok(p_blob_dec(&c, &bb2) == 0 && bb2.ok == 1 && bb2.len == sizeof rows &&
	   memcmp(bb2.data, rows, sizeof rows) == 0, "p_blob_dec: round trip (binary data)");
	free(p);
	check_exact("p_blob_dec", &b, d_blob);
	buf_free(&b);

	/* HEAD_SIGN (no signature) */
	buf_init(&b);
	struct p_head hd = {12345, fixed32, sig};
	p_head_enc(&b, &hd, 0);
	p = dupmem(b.data, b.len);
	struct p_head hd2;
	memset(&hd2, 0, sizeof hd2);
	cursor_init(&c, p, b.len);
	ok(b.len == 40 && p_head_dec(&c, &hd2, 0) == 0 && hd2.seq == 12345 && hd2.sig == NULL &&
	   memcmp(hd2.hash, fixed32, 32) == 0, "p_head_dec(with_sig=0): round trip");
	cursor_init(&c, p, b.len);
	ok(p_head_dec(&c, &hd2, 1) != 0, "p_head_dec(with_sig=1) rejects a HEAD_SIGN payload");
	free(p);
	check_exact("p_head_dec(0)", &b, d_head0);
	buf_free(&b);

	/* HEAD_SIGNED */
	buf_init(&b);
	p_head_enc(&b, &hd, 1);
	p = dupmem(b.data, b.len);
	memset(&hd2, 0, sizeof hd2);
	cursor_init(&c, p, b.len);
	ok(b.len == 104 && p_head_dec(&c, &hd2, 1) == 0 && hd2.seq == 12345 &&
	   memcmp(hd2.hash, fixed32, 32) == 0 && hd2.sig && memcmp(hd2.sig, sig, 64) == 0,
	   "p_head_dec(with_sig=1): round trip");
	cursor_init(&c, p, b.len);
	ok(p_head_dec(&c, &hd2, 0) != 0, "p_head_dec(with_sig=0) rejects a HEAD_SIGNED payload");
	free(p);
	check_exact("p_head_dec(1)", &b, d_head1);
	buf_reset(&b);
	hd.seq = -1;
	p_head_enc(&b, &hd, 1);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_head_dec(&c, &hd2, 1) != 0, "p_head_dec: negative seq rejected");
	free(p);
	buf_free(&b);

	/* empty */
	buf_init(&b);
	p = dupmem("", 0);
	cursor_init(&c, p, 0);
	ok(p_empty_dec(&c) == 0, "p_empty_dec: empty payload accepted");
	free(p);
	check_exact("p_empty_dec", &b, d_empty);
	buf_free(&b);

	/* PUBKEY */
	buf_init(&b);
	p_pubkey_enc(&b, fixed32);
	p = dupmem(b.data, b.len);
	const uint8_t *k = NULL;
	cursor_init(&c, p, b.len);
	ok(b.len == 32 && p_pubkey_dec(&c, &k) == 0 && k && memcmp(k, fixed32, 32) == 0,
	   "p_pubkey_dec: round trip");
	free(p);
	check_exact("p_pubkey_dec", &b, d_pubkey);
	buf_free(&b);

	/* string limits through a real decoder */
	char *big = xmem(PROTO_STR_MAX + 2);
	memset(big, 'u', PROTO_STR_MAX + 1);
	big[PROTO_STR_MAX] = '\0';
	buf_init(&b);
	struct p_login lb = {big, "p"};
	p_login_enc(&b, &lb);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_login_dec(&c, &lg2) == 0 && strlen(lg2.username) == PROTO_STR_MAX,
	   "p_login_dec: username of PROTO_STR_MAX bytes accepted");
	free(p);
	buf_reset(&b);
	big[PROTO_STR_MAX] = 'u';
	big[PROTO_STR_MAX + 1] = '\0';
	p_login_enc(&b, &lb);
	p = dupmem(b.data, b.len);
	cursor_init(&c, p, b.len);
	ok(p_login_dec(&c, &lg2) != 0, "p_login_dec: username of PROTO_STR_MAX+1 bytes rejected");
	free(p);
	buf_free(&b);
	free(big);
}

/* ------------------------------------------------------------------ */
/* chan                                                                */
/* ------------------------------------------------------------------ */

#define MAXCALLS 8

struct call {
	uint32_t type, id;
	size_t len;
	uint8_t data[128];
	uint32_t sum;
	int fd;        /* the number received, already closed by the handler */
	int cloexec;
	char fdtext[32];
};

struct env {
	struct event_base *base;
	int sv[2];
	struct chan *ch;   /* receiver, on sv[0]; NULL once freed */
	int peer;          /* sv[1], raw writer end; -1 once closed */
	int ncalls;
	struct call calls[MAXCALLS];
	int nclose;
	enum chan_end why;
	char reason[256];
	int free_in_close;
};

static int record(struct env *e, uint32_t type, uint32_t id, struct cursor *cur, int fd)
{
	if (e->ncalls == MAXCALLS) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	struct call *k = &e->calls[e->ncalls++];
	memset(k, 0, sizeof *k);
	k->type = type;
	k->id = id;
	k->fd = fd;
	k->len = cur->len - cur->off;
	const uint8_t *d = cursor_fixed(cur, k->len);
	memcpy(k->data, d, k->len < sizeof k->data ? k->len : sizeof k->data);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < k->len; i++)
		h = (h ^ d[i]) * 16777619u;
	k->sum = h;
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFD);
		k->cloexec = fl >= 0 && (fl & FD_CLOEXEC);
		ssize_t n = read(fd, k->fdtext, sizeof k->fdtext - 1);
		if (n > 0)
			k->fdtext[n] = '\0';
		close(fd);
	}
	return 0;
}

#define HANDLER(name, TYPE)                                                                \
	static int name(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg) \
	{                                                                                   \
		(void)c;                                                                    \
		return record(arg, TYPE, id, cur, fd);                                      \
	}
HANDLER(h_ready, MSG_READY)
HANDLER(h_audit, MSG_AUDIT_APPEND)
HANDLER(h_headsign, MSG_HEAD_SIGN)
HANDLER(h_login, MSG_AUTH_LOGIN)
HANDLER(h_packrun, MSG_PACK_RUN)
HANDLER(h_listener, MSG_SECCOMP_LISTENER)

static int h_reject(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c;
	record(arg, MSG_SHUTDOWN, id, cur, fd);
	return -1;
}

static int h_selffree(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	struct env *e = arg;
	record(e, MSG_PUBKEY_GET, id, cur, fd);
	chan_free(c);
	e->ch = NULL;
	return 0;
}

/* A handler that sends on its own channel and then rejects the frame. */
static int h_echo(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	struct env *e = arg;
	record(e, MSG_SECURITY_GET, id, cur, fd);
	struct buf b;
	buf_init(&b);
	buf_put_str(&b, "pong");
	int rc = chan_send(c, MSG_SECURITY, id, &b, -1);
	buf_free(&b);
	return rc;
}

static const struct allow_entry allow_main[] = {
	{MSG_READY, AL_PERMIT, h_ready},
	{MSG_AUDIT_APPEND, AL_PERMIT, h_audit},
	{MSG_HEAD_SIGN, 0, h_headsign},                 /* declared, not permitted */
	{MSG_AUTH_LOGIN, AL_PERMIT | AL_ONCE, h_login},
	{MSG_PACK_RUN, AL_PERMIT | AL_FD, h_packrun},
	{MSG_SECCOMP_LISTENER, AL_FD, h_listener},      /* fd type, not permitted yet */
	{MSG_SHUTDOWN, AL_PERMIT, h_reject},
	{MSG_PUBKEY_GET, AL_PERMIT, h_selffree},
	{MSG_SECURITY_GET, AL_PERMIT, h_echo},
};

static void on_close(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	struct env *e = arg;
	e->nclose++;
	e->why = why;
	snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
	if (e->free_in_close) {
		chan_free(c);
		e->ch = NULL;
	}
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof *e);
	e->base = event_base_new();
	if (!e->base)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sv) < 0) {
		perror("socketpair");
		abort();
	}
	e->peer = e->sv[1];
	e->ch = chan_new(e->base, e->sv[0], "tpeer", allow_main, sizeof allow_main / sizeof allow_main[0],
			 on_close, e);
}

static void env_close_peer(struct env *e)
{
	if (e->peer >= 0)
		close(e->peer);
	e->peer = -1;
}

static void env_free(struct env *e)
{
	if (e->ch)
		chan_free(e->ch);  /* closes sv[0] */
	e->ch = NULL;
	env_close_peer(e);
	event_base_free(e->base);
	e->base = NULL;
}

/* Run the loop without blocking until it settles. */
static void pump(struct env *e)
{
	for (int i = 0; i < 20; i++)
		event_base_loop(e->base, EVLOOP_NONBLOCK);
}

static void send_buf(struct env *e, const struct buf *b) { writeall(e->peer, b->data, b->len); }

static int violated(const struct env *e) { return e->nclose == 1 && e->why == CHAN_VIOLATION; }

static void test_chan_basic(void)
{
	struct env e;
	struct buf b;

	env_init(&e);
	ok(strcmp(chan_peer(e.ch), "tpeer") == 0 && chan_fd(e.ch) == e.sv[0] && chan_arg(e.ch) == &e,
	   "chan: accessors return peer name, fd and arg");
	ok(fcntl(e.sv[0], F_GETFL) & O_NONBLOCK, "chan_new makes the socket non-blocking");
	buf_init(&b);
	put_frame(&b, MSG_READY, 0x11223344u, "payload-1", 9);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 1 && e.calls[0].type == MSG_READY && e.calls[0].id == 0x11223344u &&
	   e.calls[0].len == 9 && memcmp(e.calls[0].data, "payload-1", 9) == 0 && e.calls[0].fd == -1,
	   "chan: permitted frame reaches its handler with the right id and payload, fd -1");
	ok(e.nclose == 0, "chan: no close after a good frame");
	buf_reset(&b);
	put_frame(&b, MSG_AUDIT_APPEND, 0, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 2 && e.calls[1].type == MSG_AUDIT_APPEND && e.calls[1].len == 0 && e.nclose == 0,
	   "chan: zero-length payload dispatches");
	env_close_peer(&e);
	pump(&e);
	ok(e.nclose == 1 && e.why == CHAN_EOF, "chan: clean EOF between frames -> CHAN_EOF (got %d/%d)",
	   e.nclose, (int)e.why);
	env_free(&e);

	/* clean EOF with nothing ever sent */
	env_init(&e);
	env_close_peer(&e);
	pump(&e);
	ok(e.nclose == 1 && e.why == CHAN_EOF && e.ncalls == 0, "chan: immediate clean EOF -> CHAN_EOF");
	env_free(&e);

	/* unknown types */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, 999, 1, "x", 1);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: type 999 -> CHAN_VIOLATION, no handler");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_TOKEN_MINT, 1, "x", 1);  /* a real type, absent from this table */
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: known type missing from the allow table -> violation");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_hdr(&b, 100, MSG_NONE, 0);  /* header only: rejected before the body */
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e), "chan: unknown type rejected on the header alone");
	env_free(&e);

	/* declared but not permitted */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_HEAD_SIGN, 1, "h", 1);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: declared type not permitted now -> violation");
	env_free(&e);

	/* chan_permit toggling */
	env_init(&e);
	ok(!chan_permitted(e.ch, MSG_HEAD_SIGN) && chan_permitted(e.ch, MSG_READY) &&
	   !chan_permitted(e.ch, 999), "chan_permitted reflects the allow table");
	chan_permit(e.ch, MSG_HEAD_SIGN, 1);
	ok(chan_permitted(e.ch, MSG_HEAD_SIGN), "chan_permit(on) permits");
	buf_reset(&b);
	put_frame(&b, MSG_HEAD_SIGN, 5, "hh", 2);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 1 && e.calls[0].type == MSG_HEAD_SIGN && e.calls[0].id == 5 && e.nclose == 0,
	   "chan: frame dispatches once permitted");
	chan_permit(e.ch, MSG_HEAD_SIGN, 0);
	ok(!chan_permitted(e.ch, MSG_HEAD_SIGN), "chan_permit(off) revokes");
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 1, "chan: frame after revocation -> violation");
	env_free(&e);

	/* AL_ONCE */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_AUTH_LOGIN, 1, "a", 1);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 1 && e.nclose == 0 && !chan_permitted(e.ch, MSG_AUTH_LOGIN),
	   "chan: AL_ONCE first use dispatches and unpermits");
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 1, "chan: AL_ONCE type sent twice -> second is a violation");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_AUTH_LOGIN, 1, "a", 1);
	put_frame(&b, MSG_AUTH_LOGIN, 2, "b", 1);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 1 && e.calls[0].id == 1,
	   "chan: AL_ONCE twice in one write -> first dispatches, second is a violation");
	env_free(&e);

	/* length limits */
	env_init(&e);
	buf_reset(&b);
	put_hdr(&b, IPC_FRAME_MAX + 1, MSG_READY, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0 && strstr(e.reason, "exceeds"),
	   "chan: length IPC_FRAME_MAX+1 in the header -> violation without the body");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_hdr(&b, UINT32_MAX, MSG_READY, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: length 0xffffffff in the header -> violation");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_hdr(&b, IPC_FRAME_MAX, MSG_READY, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(e.nclose == 0 && e.ncalls == 0, "chan: length IPC_FRAME_MAX in the header waits for the body");
	env_close_peer(&e);
	pump(&e);
	ok(violated(&e) && strstr(e.reason, "eof"), "chan: EOF after a header only -> violation (eof inside a frame)");
	env_free(&e);

	/* handler returning -1 */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_SHUTDOWN, 3, NULL, 0);
	put_frame(&b, MSG_READY, 4, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 1 && e.calls[0].type == MSG_SHUTDOWN,
	   "chan: handler returning -1 -> violation, later frames not dispatched");
	env_free(&e);

	/* EOF mid-frame */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_READY, 1, "abcdef", 6);
	writeall(e.peer, b.data, 5);  /* inside the header */
	pump(&e);
	ok(e.nclose == 0, "chan: partial header waits");
	env_close_peer(&e);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: EOF inside the header -> violation");
	env_free(&e);

	env_init(&e);
	writeall(e.peer, b.data, b.len - 1);  /* inside the body */
	pump(&e);
	ok(e.nclose == 0 && e.ncalls == 0, "chan: partial body waits");
	env_close_peer(&e);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0, "chan: EOF inside the body -> violation");
	env_free(&e);

	/* reassembly */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_READY, 77, "split-into-bytes", 16);
	put_frame(&b, MSG_AUDIT_APPEND, 78, "second", 6);
	int waited = 1;
	for (size_t i = 0; i < b.len; i++) {
		writeall(e.peer, b.data + i, 1);
		pump(&e);
		if (i < 12 + 16 - 1 && e.ncalls != 0)
			waited = 0;
	}
	ok(waited && e.ncalls == 2 && e.nclose == 0 && e.calls[0].id == 77 && e.calls[0].len == 16 &&
	   memcmp(e.calls[0].data, "split-into-bytes", 16) == 0 && e.calls[1].id == 78 &&
	   e.calls[1].len == 6 && memcmp(e.calls[1].data, "second", 6) == 0,
	   "chan: frames split across 1-byte writes are reassembled");
	env_free(&e);

	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_READY, 1, "one", 3);
	put_frame(&b, MSG_AUDIT_APPEND, 2, "two", 3);
	put_frame(&b, MSG_READY, 3, "", 0);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 3 && e.nclose == 0 && e.calls[0].id == 1 && memcmp(e.calls[0].data, "one", 3) == 0 &&
	   e.calls[1].id == 2 && e.calls[1].type == MSG_AUDIT_APPEND && memcmp(e.calls[1].data, "two", 3) == 0 &&
	   e.calls[2].id == 3, "chan: several frames in one write all dispatch in order");
	env_free(&e);

	/* a good frame followed by garbage in the same write */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_READY, 1, "ok", 2);
	put_frame(&b, 4242, 2, "bad", 3);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ncalls == 1 && violated(&e), "chan: good frame then unknown type in one write -> 1 dispatch, violation");
	env_free(&e);

	buf_free(&b);
}

static void test_chan_fds(void)
{
	struct env e;
	struct buf b;
	int p[2];
	buf_init(&b);

	/* descriptor on a type without AL_FD */
	int base_fds = count_fds();
	env_init(&e);
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	put_frame(&b, MSG_READY, 1, "r", 1);
	ssize_t sn = send_fds(e.peer, b.data, b.len, &p[0], 1);
	close(p[0]);
	pump(&e);
	ok(sn == (ssize_t)b.len && violated(&e) && e.ncalls == 0 && strstr(e.reason, "descriptor"),
	   "chan: descriptor on a type without AL_FD -> violation, no handler");
	env_free(&e);
	errno = 0;
	ssize_t wn = write(p[1], "x", 1);
	ok(wn < 0 && errno == EPIPE, "chan: the unwanted descriptor was closed (pipe has no reader left)");
	close(p[1]);
	ok(count_fds() == base_fds, "chan: /proc/self/fd count back to %d after the violation (now %d)",
	   base_fds, count_fds());

	/* AL_FD type without a descriptor */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_PACK_RUN, 1, "run", 3);
	send_buf(&e, &b);
	pump(&e);
	ok(violated(&e) && e.ncalls == 0 && strstr(e.reason, "without"),
	   "chan: AL_FD type without a descriptor -> violation");
	env_free(&e);

	/* AL_FD type with a descriptor, raw sendmsg */
	base_fds = count_fds();
	env_init(&e);
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	writeall(p[1], "hello", 5);
	close(p[1]);
	buf_reset(&b);
	put_frame(&b, MSG_PACK_RUN, 9, "run", 3);
	sn = send_fds(e.peer, b.data, b.len, &p[0], 1);
	close(p[0]);
	pump(&e);
	ok(sn == (ssize_t)b.len && e.ncalls == 1 && e.nclose == 0 && e.calls[0].fd >= 0 &&
	   strcmp(e.calls[0].fdtext, "hello") == 0 && e.calls[0].id == 9,
	   "chan: AL_FD type with a descriptor -> handler reads the pipe through it");
	ok(e.calls[0].cloexec, "chan: received descriptor is close-on-exec");
	env_free(&e);
	ok(count_fds() == base_fds, "chan: no descriptor leaked after an AL_FD exchange");

	/* AL_FD with a descriptor, sent through chan_send on a second channel */
	base_fds = count_fds();
	env_init(&e);
	struct chan *tx = chan_new(NULL, e.peer, "sender", NULL, 0, NULL, NULL);
	e.peer = -1;  /* owned by tx now */
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	writeall(p[1], "via-chan", 8);
	close(p[1]);
	buf_reset(&b);
	buf_put_str(&b, "pack");
	int before_send = count_fds();
	int rc = chan_send(tx, MSG_PACK_RUN, 21, &b, p[0]);
	ok(rc == 0 && count_fds() == before_send && chan_pending_out(tx) == 0,
	   "chan_send with fd: written at once, its duplicate closed after sending");
	close(p[0]);
	pump(&e);
	ok(e.ncalls == 1 && e.nclose == 0 && e.calls[0].type == MSG_PACK_RUN && e.calls[0].id == 21 &&
	   e.calls[0].len == b.len && memcmp(e.calls[0].data, b.data, b.len) == 0 &&
	   strcmp(e.calls[0].fdtext, "via-chan") == 0, "chan_send -> chan: AL_FD frame arrives with a working fd");
	/* the same descriptor type is refused while not permitted, accepted once permitted */
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	writeall(p[1], "lst", 3);
	close(p[1]);
	chan_permit(e.ch, MSG_SECCOMP_LISTENER, 1);
	rc = chan_send(tx, MSG_SECCOMP_LISTENER, 22, NULL, p[0]);
	close(p[0]);
	pump(&e);
	ok(rc == 0 && e.ncalls == 2 && e.calls[1].type == MSG_SECCOMP_LISTENER && e.calls[1].len == 0 &&
	   strcmp(e.calls[1].fdtext, "lst") == 0 && e.nclose == 0,
	   "chan_send -> chan: empty AL_FD frame (SECCOMP_LISTENER) with fd");
	chan_free(tx);
	pump(&e);
	ok(e.nclose == 1 && e.why == CHAN_EOF, "chan: sender chan_free -> receiver sees CHAN_EOF");
	env_free(&e);
	ok(count_fds() == base_fds, "chan: no descriptor leaked after chan_send exchanges");

	/* two descriptors on one AL_FD frame */
	base_fds = count_fds();
	env_init(&e);
	int p2[2];
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
		abort();
	int two[2] = {p[0], p2[0]};
	buf_reset(&b);
	put_frame(&b, MSG_PACK_RUN, 1, "x", 1);
	sn = send_fds(e.peer, b.data, b.len, two, 2);
	close(p[0]);
	close(p2[0]);
	pump(&e);
	ok(sn == (ssize_t)b.len && violated(&e) && e.ncalls == 0,
	   "chan: two descriptors on an AL_FD frame -> violation");
	env_free(&e);
	errno = 0;
	int gone1 = write(p[1], "x", 1) < 0 && errno == EPIPE;
	errno = 0;
	int gone2 = write(p2[1], "x", 1) < 0 && errno == EPIPE;
	close(p[1]);
	close(p2[1]);
	ok(gone1 && gone2 && count_fds() == base_fds, "chan: both descriptors closed, fd count restored");

	/* more descriptors than the receive control buffer holds (MSG_CTRUNC) */
	base_fds = count_fds();
	env_init(&e);
	int many[6];
	for (int i = 0; i < 6; i++)
		many[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	buf_reset(&b);
	put_frame(&b, MSG_PACK_RUN, 1, "x", 1);
	sn = send_fds(e.peer, b.data, b.len, many, 6);
	for (int i = 0; i < 6; i++)
		close(many[i]);
	pump(&e);
	ok(sn == (ssize_t)b.len && violated(&e) && e.ncalls == 0,
	   "chan: six descriptors in one message -> violation (%s)", e.reason);
	env_free(&e);
	ok(count_fds() == base_fds, "chan: truncated control data leaks no descriptor (%d vs %d)", count_fds(),
	   base_fds);

	/* descriptors piling up on an unfinished frame */
	base_fds = count_fds();
	env_init(&e);
	buf_reset(&b);
	put_hdr(&b, 64, MSG_PACK_RUN, 1);
	int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sn = send_fds(e.peer, b.data, b.len, &dn, 1);
	for (int i = 0; i < 10 && !e.nclose; i++) {
		send_fds(e.peer, "z", 1, &dn, 1);
		pump(&e);
	}
	close(dn);
	ok(violated(&e) && e.ncalls == 0 && strstr(e.reason, "too many"),
	   "chan: more than 8 queued descriptors -> violation (%s)", e.reason);
	env_free(&e);
	ok(count_fds() == base_fds, "chan: queued descriptors closed by chan_free");

	/*
	 * A frame without a descriptor followed by one with a descriptor, both
	 * queued before the receiver reads. Linux merges the first skb with the
	 * fd-carrying one in a single recvmsg, and chan records the descriptor
	 * at the offset where that read began (chan.c:291), i.e. on the first
	 * frame. The correct outcome is two dispatches.
	 */
	base_fds = count_fds();
	env_init(&e);
	tx = chan_new(NULL, e.peer, "sender", NULL, 0, NULL, NULL);
	e.peer = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	writeall(p[1], "late", 4);
	close(p[1]);
	buf_reset(&b);
	buf_put_str(&b, "ready");
	chan_send(tx, MSG_READY, 1, &b, -1);
	chan_send(tx, MSG_PACK_RUN, 2, &b, p[0]);
	close(p[0]);
	pump(&e);
	ok(e.ncalls == 2 && e.nclose == 0 && strcmp(e.calls[1].fdtext, "late") == 0,
		"chan: non-fd frame then fd frame queued together both dispatch (got %d calls, close='%s')",
		e.ncalls, e.nclose ? e.reason : "");
	chan_free(tx);
	env_free(&e);
	ok(count_fds() == base_fds, "chan: no descriptor leaked in the merged-read case");

	buf_free(&b);
}

static void test_chan_lifetime(void)
{
	struct env e;
	struct buf b;
	buf_init(&b);

	/* handler frees its own channel; a second frame is in the same read */
	env_init(&e);
	put_frame(&b, MSG_PUBKEY_GET, 1, "k", 1);
	put_frame(&b, MSG_READY, 2, "r", 1);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ch == NULL && e.ncalls == 1 && e.calls[0].type == MSG_PUBKEY_GET && e.nclose == 0,
	   "chan: handler calling chan_free on its own channel: no crash, no further dispatch, no close cb");
	env_close_peer(&e);
	pump(&e);
	ok(e.nclose == 0, "chan: nothing fires after the deferred free");
	env_free(&e);

	/* owner frees the channel from its close callback */
	env_init(&e);
	e.free_in_close = 1;
	buf_reset(&b);
	put_frame(&b, 31337, 1, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	ok(e.ch == NULL && violated(&e), "chan: chan_free inside the close callback (violation) is safe");
	env_free(&e);

	env_init(&e);
	e.free_in_close = 1;
	env_close_peer(&e);
	pump(&e);
	ok(e.ch == NULL && e.nclose == 1 && e.why == CHAN_EOF, "chan: chan_free inside the close callback (EOF) is safe");
	env_free(&e);

	/* a handler that replies, then the peer reads the reply */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_SECURITY_GET, 55, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	uint8_t rep[64];
	ssize_t rn = read(e.peer, rep, sizeof rep);
	struct cursor c;
	cursor_init(&c, rep, rn > 0 ? (size_t)rn : 0);
	uint32_t rl = cursor_u32(&c), rt = cursor_u32(&c), ri = cursor_u32(&c);
	const char *s = cursor_str(&c, 16);
	ok(e.ncalls == 1 && e.nclose == 0 && rl == 9 && rt == MSG_SECURITY && ri == 55 && s &&
	   strcmp(s, "pong") == 0 && cursor_end(&c) == 0, "chan_send from a handler: reply is one well-formed frame");
	env_free(&e);

	/* handler replies into a dead peer: chan_send fails, channel reports */
	signal(SIGPIPE, SIG_IGN);
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, MSG_SECURITY_GET, 56, NULL, 0);
	send_buf(&e, &b);
	shutdown(e.peer, SHUT_RD);  /* the peer stops reading: replies hit EPIPE */
	pump(&e);
	ok(e.ncalls == 1 && e.nclose == 1 && (e.why == CHAN_ERROR || e.why == CHAN_VIOLATION),
	   "chan: handler whose reply fails -> channel closes once (why=%d)", (int)e.why);
	env_free(&e);

	/* sending on a dead channel */
	env_init(&e);
	env_close_peer(&e);
	pump(&e);
	buf_reset(&b);
	buf_put_u32(&b, 1);
	ok(e.nclose == 1 && chan_send(e.ch, MSG_READY, 1, &b, -1) == -1, "chan_send on a dead channel returns -1");
	env_free(&e);

	/* size limits for sending */
	env_init(&e);
	struct buf big = {xmem(IPC_FRAME_MAX + 1), IPC_FRAME_MAX + 1, IPC_FRAME_MAX + 1};
	memset(big.data, 0xab, big.len);
	ok(chan_send(e.ch, MSG_READY, 1, &big, -1) == -1 && chan_pending_out(e.ch) == 0,
	   "chan_send of IPC_FRAME_MAX+1 payload bytes returns -1 and queues nothing");
	env_free(&e);

	/* the maximum frame goes through end to end */
	env_init(&e);
	struct chan *tx = chan_new(e.base, e.peer, "sender", NULL, 0, NULL, NULL);
	e.peer = -1;
	big.len = IPC_FRAME_MAX;
	for (size_t i = 0; i < big.len; i++)
		big.data[i] = (uint8_t)(i * 31u + 7u);
	uint32_t want = 2166136261u;
	for (size_t i = 0; i < big.len; i++)
		want = (want ^ big.data[i]) * 16777619u;
	ok(chan_send(tx, MSG_AUDIT_APPEND, 0xabcdef, &big, -1) == 0, "chan_send of exactly IPC_FRAME_MAX is queued");
	for (int i = 0; i < 100000 && e.ncalls == 0 && !e.nclose; i++)
		event_base_loop(e.base, EVLOOP_NONBLOCK);
	ok(e.ncalls == 1 && e.nclose == 0 && e.calls[0].len == IPC_FRAME_MAX && e.calls[0].sum == want &&
	   e.calls[0].id == 0xabcdef && chan_pending_out(tx) == 0,
	   "chan: a frame of exactly IPC_FRAME_MAX bytes arrives intact");
	chan_free(tx);
	env_free(&e);
	free(big.data);

	/* chan_free with output still queued, one frame holding a descriptor */
	int base_fds = count_fds();
	env_init(&e);
	tx = chan_new(NULL, e.peer, "sender", NULL, 0, NULL, NULL);
	e.peer = -1;
	struct buf chunk = {xmem(65536), 65536, 65536};
	memset(chunk.data, 0x5a, chunk.len);
	for (int i = 0; i < 1000 && chan_pending_out(tx) == 0; i++)
		chan_send(tx, MSG_AUDIT_APPEND, (uint32_t)i, &chunk, -1);
	int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int fds_before = count_fds();
	int qrc = chan_send(tx, MSG_PACK_RUN, 1, NULL, dn);
	close(dn);
	ok(qrc == 0 && chan_pending_out(tx) > 0 && count_fds() == fds_before,
	   "chan_send with fd into a full socket queues a duplicate (pending %zu)", chan_pending_out(tx));
	chan_free(tx);
	env_free(&e);
	free(chunk.data);
	ok(count_fds() == base_fds, "chan_free closes the descriptor of an unsent frame");

	/* chan_send_raw: arbitrary bytes, here a valid frame in two halves */
	env_init(&e);
	tx = chan_new(NULL, e.peer, "sender", NULL, 0, NULL, NULL);
	e.peer = -1;
	buf_reset(&b);
	put_frame(&b, MSG_READY, 8, "rawframe", 8);
	ok(chan_send_raw(tx, b.data, 7) == 0, "chan_send_raw of a header fragment");
	pump(&e);
	ok(e.ncalls == 0 && e.nclose == 0, "chan: fragment alone does not dispatch");
	chan_send_raw(tx, b.data + 7, b.len - 7);
	pump(&e);
	ok(e.ncalls == 1 && e.calls[0].id == 8 && memcmp(e.calls[0].data, "rawframe", 8) == 0,
	   "chan: chan_send_raw halves reassemble");
	chan_free(tx);
	env_free(&e);

	/* after a violation the channel reads nothing further */
	env_init(&e);
	buf_reset(&b);
	put_frame(&b, 777, 1, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	buf_reset(&b);
	put_frame(&b, MSG_READY, 2, NULL, 0);
	send_buf(&e, &b);
	pump(&e);
	env_close_peer(&e);
	pump(&e);
	ok(e.nclose == 1 && e.ncalls == 0, "chan: close reported once, nothing dispatched after a violation");
	env_free(&e);

	buf_free(&b);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", PLAN);
	test_buf();
	test_proto_secrets();
	test_proto();
	test_chan_basic();
	test_chan_fds();
	test_chan_lifetime();
	if (n_run != PLAN) {
		printf("# planned %d tests but ran %d\n", PLAN, n_run);
		return 1;
	}
	return n_fail ? 1 : 0;
}
