#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "b64.h"

#include <limits.h>
#include <string.h>

/* Constant-time comparisons on values in 0..255: 0xFF when true, else 0. */
static unsigned ct_gt(unsigned x, unsigned y) { return ((y - x) >> 8) & 0xFFu; }
static unsigned ct_ge(unsigned x, unsigned y) { return ct_gt(y, x) ^ 0xFFu; }
static unsigned ct_lt(unsigned x, unsigned y) { return ct_gt(y, x); }
static unsigned ct_le(unsigned x, unsigned y) { return ct_ge(y, x); }
static unsigned ct_eq(unsigned x, unsigned y) { return (((0u - (x ^ y)) >> 8) & 0xFFu) ^ 0xFFu; }

/* 6-bit value -> alphabet char. */
static char enc_char(unsigned x, int url)
{
	unsigned c62 = url ? '-' : '+', c63 = url ? '_' : '/';
	unsigned c = (ct_lt(x, 26) & (x + 'A')) |
		     (ct_ge(x, 26) & ct_lt(x, 52) & (x + ('a' - 26))) |
		     (ct_ge(x, 52) & ct_lt(x, 62) & (x - 4u)) | /* '0' = 52 - 4 */
		     (ct_eq(x, 62) & c62) | (ct_eq(x, 63) & c63);
	return (char)c;
}

/* Alphabet char -> 6-bit value, or 0xFF when c is not in the alphabet. */
static unsigned dec_char(unsigned char ch, int url)
{
	unsigned c = ch;
	unsigned c62 = url ? '-' : '+', c63 = url ? '_' : '/';
	unsigned up = ct_ge(c, 'A') & ct_le(c, 'Z');
	unsigned lo = ct_ge(c, 'a') & ct_le(c, 'z');
	unsigned di = ct_ge(c, '0') & ct_le(c, '9');
	unsigned e62 = ct_eq(c, c62), e63 = ct_eq(c, c63);
	unsigned v = (up & (c - 'A')) | (lo & (c - ('a' - 26))) | (di & (c + 4u)) |
		     (e62 & 62u) | (e63 & 63u);
	unsigned valid = up | lo | di | e62 | e63;
	return (v | (valid ^ 0xFFu)) & 0xFFu;
}

size_t b64_encoded_len(size_t n, int url)
{
	size_t full = n / 3, rem = n % 3;
	if (url)
		return full * 4 + (rem ? rem + 1 : 0);
	return (full + (rem != 0)) * 4;
}

void b64_encode(const uint8_t *in, size_t n, char *out, int url)
{
	size_t i = 0, o = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = enc_char(v >> 18 & 63u, url);
		out[o++] = enc_char(v >> 12 & 63u, url);
		out[o++] = enc_char(v >> 6 & 63u, url);
		out[o++] = enc_char(v & 63u, url);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = enc_char(v >> 18 & 63u, url);
		out[o++] = enc_char(v >> 12 & 63u, url);
		if (!url) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = enc_char(v >> 18 & 63u, url);
		out[o++] = enc_char(v >> 12 & 63u, url);
		out[o++] = enc_char(v >> 6 & 63u, url);
		if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
}

/* 0x80 when x (0..255) is non-zero, else 0. */
static unsigned ct_nonzero(unsigned x) { return ((0u - x) >> 8) & 0x80u; }

ssize_t b64_decode(const char *in, size_t len, uint8_t *out, int url)
{
	if (len == 0)
		return 0;
	if (!in || !out || len > (size_t)SSIZE_MAX)
		return -1;
	size_t core = len;
	if (!url) {
		if (len % 4)
			return -1;
		if (in[len - 1] == '=') {
			core--;
			if (in[len - 2] == '=')
				core--;
		}
	}
	size_t rem = core % 4;
	if (rem == 1)
		return -1;

	/* Invalid chars decode to 0xFF, so bits 6-7 of bad flag any error. */
	unsigned bad = 0;
	size_t i = 0, o = 0;
	const unsigned char *s = (const unsigned char *)in;
	for (; core - i >= 4; i += 4) {
		unsigned a = dec_char(s[i], url), b = dec_char(s[i + 1], url);
		unsigned c = dec_char(s[i + 2], url), d = dec_char(s[i + 3], url);
		bad |= a | b | c | d;
		uint32_t v = (uint32_t)(a & 63u) << 18 | (uint32_t)(b & 63u) << 12 |
			     (uint32_t)(c & 63u) << 6 | (d & 63u);
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (rem == 2) {
		unsigned a = dec_char(s[i], url), b = dec_char(s[i + 1], url);
		bad |= a | b | ct_nonzero(b & 0x0Fu);
		out[o++] = (uint8_t)((a & 63u) << 2 | (b & 63u) >> 4);
	} else if (rem == 3) {
		unsigned a = dec_char(s[i], url), b = dec_char(s[i + 1], url);
		unsigned c = dec_char(s[i + 2], url);
		bad |= a | b | c | ct_nonzero(c & 0x03u);
		out[o++] = (uint8_t)((a & 63u) << 2 | (b & 63u) >> 4);
		out[o++] = (uint8_t)(((b & 63u) << 4 | (c & 63u) >> 2) & 0xFFu);
	}
	if (bad & 0xC0u) {
		explicit_bzero(out, o);
		return -1;
	}
	return (ssize_t)o;
}
