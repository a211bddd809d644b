#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "buf.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Hard ceiling for any builder: above the frame maximum, below overflow. */
#define BUF_HARD_MAX (64u << 20)

void buf_init(struct buf *b) { memset(b, 0, sizeof *b); }

void buf_free(struct buf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof *b);
}

void buf_reset(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	b->len = 0;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (n > BUF_HARD_MAX || b->len > BUF_HARD_MAX - n)
		fatal("buf: %zu + %zu exceeds the hard maximum", b->len, n);
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		/* grow by copy so the old region can be wiped */
		uint8_t *d = xmalloc(cap);
		if (b->len)
			memcpy(d, b->data, b->len);
		if (b->data) {
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {v >> 24, v >> 16, v >> 8, v};
	buf_put(b, x, 4);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	buf_put_u32(b, (uint32_t)(v >> 32));
	buf_put_u32(b, (uint32_t)v);
}

void buf_put_i64(struct buf *b, int64_t v) { buf_put_u64(b, (uint64_t)v); }

void buf_put_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > UINT32_MAX - 1)
		fatal("buf: string too long");
	buf_put_u32(b, (uint32_t)n);
	buf_put(b, s ? s : "", n);
	buf_put(b, "", 1);
}

void buf_put_blob(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		fatal("buf: blob too long");
	buf_put_u32(b, (uint32_t)n);
	buf_put(b, p, n);
}

void cursor_init(struct cursor *c, const void *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
	c->err = 0;
}

static const uint8_t *cursor_take(struct cursor *c, size_t n)
{
	if (c->err || n > c->len - c->off) {
		c->err = 1;
		return NULL;
	}
	const uint8_t *r = c->p + c->off;
	c->off += n;
	return r;
}

uint32_t cursor_u32(struct cursor *c)
{
	const uint8_t *x = cursor_take(c, 4);
	if (!x)
		return 0;
	return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 | (uint32_t)x[2] << 8 | x[3];
}

uint64_t cursor_u64(struct cursor *c)
{
	uint64_t hi = cursor_u32(c);
	uint64_t lo = cursor_u32(c);
	return hi << 32 | lo;
}

int64_t cursor_i64(struct cursor *c) { return (int64_t)cursor_u64(c); }

const char *cursor_str(struct cursor *c, size_t maxlen)
{
	uint32_t n = cursor_u32(c);
	if (c->err)
		return NULL;
	if (n > maxlen || n == UINT32_MAX) {
		c->err = 1;
		return NULL;
	}
	const uint8_t *s = cursor_take(c, (size_t)n + 1);
	if (!s)
		return NULL;
	if (s[n] != '\0' || memchr(s, '\0', n) != NULL) {
		c->err = 1;
		return NULL;
	}
	return (const char *)s;
}

const uint8_t *cursor_blob(struct cursor *c, size_t *len, size_t maxlen)
{
	uint32_t n = cursor_u32(c);
	*len = 0;
	if (c->err)
		return NULL;
	if (n > maxlen) {
		c->err = 1;
		return NULL;
	}
	const uint8_t *p = cursor_take(c, n);
	if (p)
		*len = n;
	return p;
}

const uint8_t *cursor_fixed(struct cursor *c, size_t n) { return cursor_take(c, n); }

int cursor_end(const struct cursor *c) { return (c->err || c->off != c->len) ? -1 : 0; }
