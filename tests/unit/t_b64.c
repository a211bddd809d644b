/* TAP tests for common/b64.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/b64.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN 30

static int n_run, n_fail;

__attribute__((format(printf, 2, 3))) static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	n_run++;
	printf("%s %d - ", cond ? "ok" : "not ok", n_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond)
		n_fail++;
	return cond;
}

/* Decode the NUL-terminated string s into a buffer sized exactly as the API demands. */
static ssize_t dec(const char *s, int url, uint8_t **outp)
{
	size_t len = strlen(s);
	uint8_t *out = malloc((len * 3) / 4 + 3);
	if (!out)
		abort();
	ssize_t r = b64_decode(s, len, out, url);
	if (outp)
		*outp = out;
	else
		free(out);
	return r;
}

static int enc_is(const void *in, size_t n, int url, const char *want)
{
	size_t el = b64_encoded_len(n, url);
	char *out = malloc(el + 1);
	if (!out)
		abort();
	b64_encode(in, n, out, url);
	int good = el == strlen(want) && strcmp(out, want) == 0;
	if (!good)
		printf("# encode got '%s' want '%s'\n", out, want);
	free(out);
	return good;
}

static int dec_is(const char *s, int url, const void *want, size_t n)
{
	uint8_t *out;
	ssize_t r = dec(s, url, &out);
	int good = r == (ssize_t)n && (n == 0 || memcmp(out, want, n) == 0);
	free(out);
	return good;
}

struct vec {
	const char *raw;
	size_t n;
	const char *std, *url;
};

static const struct vec vecs[] = {
	/* RFC 4648 section 10 */
	{"", 0, "", ""},
	{"f", 1, "Zg==", "Zg"},
	{"fo", 2, "Zm8=", "Zm8"},
	{"foo", 3, "Zm9v", "Zm9v"},
	{"foob", 4, "Zm9vYg==", "Zm9vYg"},
	{"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
	/* the two alphabet-specific characters (62 and 63) */
	{"\xfb\xef\xbe", 3, "++++", "----"},
	{"\xff\xff\xff", 3, "////", "____"},
	{"\xfb\xff", 2, "+/8=", "-_8"},
	{"\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97"
	 "\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
	 "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf",
	 48, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"},
};

/* xorshift, deterministic */
static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rnd(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static int round_trip(int url)
{
	int good = 1;
	for (size_t n = 0; n <= 300; n++) {
		uint8_t *in = malloc(n ? n : 1);
		size_t el = b64_encoded_len(n, url);
		char *e = malloc(el + 1);
		uint8_t *d = malloc((el * 3) / 4 + 3);
		if (!in || !e || !d)
			abort();
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rnd();
		b64_encode(in, n, e, url);
		ssize_t r = b64_decode(e, el, d, url);
		if (strlen(e) != el || r != (ssize_t)n || (n && memcmp(in, d, n) != 0)) {
			printf("# round trip failed at n=%zu url=%d\n", n, url);
			good = 0;
		}
		/* the other alphabet's decoder must not silently accept it, except
		 * when the encoding uses neither padding nor chars 62/63 */
		int neutral = strcspn(e, "+/-_=") == el;
		ssize_t r2 = b64_decode(e, el, d, !url);
		if (!neutral && r2 != -1) {
			printf("# cross-alphabet accepted at n=%zu url=%d\n", n, url);
			good = 0;
		}
		free(in);
		free(e);
		free(d);
	}
	return good;
}

int main(void)
{
	printf("1..%d\n", PLAN);
	size_t nv = sizeof vecs / sizeof vecs[0];

	int g = 1;
	for (size_t i = 0; i < 7; i++)
		g &= enc_is(vecs[i].raw, vecs[i].n, 0, vecs[i].std);
	ok(g, "RFC 4648 vectors encode (base64)");
	g = 1;
	for (size_t i = 0; i < 7; i++)
		g &= dec_is(vecs[i].std, 0, vecs[i].raw, vecs[i].n);
	ok(g, "RFC 4648 vectors decode (base64)");
	g = 1;
	for (size_t i = 0; i < 7; i++)
		g &= enc_is(vecs[i].raw, vecs[i].n, 1, vecs[i].url);
	ok(g, "RFC 4648 vectors encode (base64url, unpadded)");
	g = 1;
	for (size_t i = 0; i < 7; i++)
		g &= dec_is(vecs[i].url, 1, vecs[i].raw, vecs[i].n);
	ok(g, "RFC 4648 vectors decode (base64url)");
	g = 1;
	for (size_t i = 7; i < nv; i++)
		g &= enc_is(vecs[i].raw, vecs[i].n, 0, vecs[i].std) &&
		     dec_is(vecs[i].std, 0, vecs[i].raw, vecs[i].n);
	ok(g, "full alphabet incl. + and / (base64)");
	g = 1;
	for (size_t i = 7; i < nv; i++)
		g &= enc_is(vecs[i].raw, vecs[i].n, 1, vecs[i].url) &&
		     dec_is(vecs[i].url, 1, vecs[i].raw, vecs[i].n);
	ok(g, "full alphabet incl. - and _ (base64url)");

	ok(b64_encoded_len(0, 0) == 0 && b64_encoded_len(1, 0) == 4 &&
		   b64_encoded_len(2, 0) == 4 && b64_encoded_len(3, 0) == 4 &&
		   b64_encoded_len(4, 0) == 8 && b64_encoded_len(64, 0) == 88,
	   "encoded_len base64");
	ok(b64_encoded_len(0, 1) == 0 && b64_encoded_len(1, 1) == 2 &&
		   b64_encoded_len(2, 1) == 3 && b64_encoded_len(3, 1) == 4 &&
		   b64_encoded_len(4, 1) == 6 && b64_encoded_len(64, 1) == 86,
	   "encoded_len base64url");

	ok(round_trip(0), "random round trip sizes 0..300 (base64)");
	ok(round_trip(1), "random round trip sizes 0..300 (base64url)");

	/* invalid input: base64url */
	ok(dec("Zg==", 1, NULL) == -1 && dec("Zm8=", 1, NULL) == -1 && dec("Zg=", 1, NULL) == -1,
	   "url: padding rejected");
	ok(dec("Z", 1, NULL) == -1 && dec("Zm9vY", 1, NULL) == -1 && dec("Zm9vYmFyZ", 1, NULL) == -1,
	   "url: length 1 mod 4 rejected");
	ok(dec("Zm9v!A", 1, NULL) == -1 && dec("Zm9*", 1, NULL) == -1 && dec("Zm9.", 1, NULL) == -1,
	   "url: punctuation rejected");
	ok(dec("Zm 9v", 1, NULL) == -1 && dec("Zm9v\n", 1, NULL) == -1 &&
		   dec("\tZm9v", 1, NULL) == -1 && dec("Zm9v\r", 1, NULL) == -1,
	   "url: whitespace rejected");
	ok(dec("Zm9+", 1, NULL) == -1 && dec("Zm9/", 1, NULL) == -1,
	   "url: standard-alphabet + and / rejected");
	ok(dec("Zm9\x80", 1, NULL) == -1 && dec("Zm9\xff", 1, NULL) == -1,
	   "url: high-bit bytes rejected");
	{
		uint8_t out[16];
		ok(b64_decode("Zm\0v", 4, out, 1) == -1, "url: embedded NUL rejected");
	}
	ok(dec("Zh", 1, NULL) == -1 && dec("Zm9", 1, NULL) == -1 && dec("Zm-", 1, NULL) == -1,
	   "url: non-canonical trailing bits rejected");
	ok(dec("Zg", 1, NULL) == 1 && dec("Zm8", 1, NULL) == 2, "url: canonical tails accepted");

	/* invalid input: base64 */
	ok(dec("Zg", 0, NULL) == -1 && dec("Zm8", 0, NULL) == -1 && dec("Z", 0, NULL) == -1 &&
		   dec("Zm9vY", 0, NULL) == -1,
	   "std: length not multiple of 4 rejected");
	ok(dec("Z===", 0, NULL) == -1 && dec("====", 0, NULL) == -1 && dec("Zg=a", 0, NULL) == -1 &&
		   dec("=Zg=", 0, NULL) == -1 && dec("Zg==Zg==", 0, NULL) == -1 &&
		   dec("Z=g=", 0, NULL) == -1,
	   "std: misplaced or excess padding rejected");
	ok(dec("Zm9v!A==", 0, NULL) == -1 && dec("Zm 9", 0, NULL) == -1 &&
		   dec("Zm9v\n", 0, NULL) == -1 && dec("Zm9-", 0, NULL) == -1 &&
		   dec("Zm9_", 0, NULL) == -1,
	   "std: bad chars, whitespace and url alphabet rejected");
	ok(dec("Zh==", 0, NULL) == -1 && dec("Zm9=", 0, NULL) == -1,
	   "std: non-canonical trailing bits rejected");

	/* failure wipes partial output */
	{
		uint8_t out[16];
		memset(out, 0xAA, sizeof out);
		ssize_t r = b64_decode("Zm9vYmF!", 8, out, 1);
		int zero = 1;
		for (int i = 0; i < 6; i++)
			zero &= out[i] == 0;
		ok(r == -1 && zero, "failed decode wipes written output");
	}
	{
		uint8_t out[4];
		ok(b64_decode("", 0, out, 0) == 0 && b64_decode("", 0, out, 1) == 0 &&
			   b64_decode(NULL, 0, out, 1) == 0,
		   "empty input decodes to 0 bytes");
		ok(b64_decode(NULL, 4, out, 1) == -1 && b64_decode("Zm9v", 4, NULL, 1) == -1,
		   "NULL pointers rejected");
	}
	{
		char e[8];
		b64_encode(NULL, 0, e, 1);
		ok(e[0] == '\0', "encode of nothing is empty string");
	}

	/* exhaustive single-char tables */
	{
		int good = 1;
		const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		for (int u = 0; u < 2; u++) {
			const char *alpha = u ? url : std;
			for (int c = 0; c < 256; c++) {
				/* "c" followed by 'A' repeated keeps the first char in the high bits */
				char in[4] = {(char)c, 'A', 'A', 'A'};
				uint8_t out[8];
				ssize_t r = b64_decode(in, 4, out, u);
				const char *p = c ? memchr(alpha, c, 64) : NULL;
				if (p) {
					int v = (int)(p - alpha);
					good &= r == 3 && out[0] == (uint8_t)(v << 2) && out[1] == 0 &&
						out[2] == 0;
				} else {
					good &= r == -1;
				}
			}
		}
		ok(good, "every byte value maps correctly (both alphabets)");
	}
	{
		int good = 1;
		for (int v = 0; v < 256; v++) {
			uint8_t b = (uint8_t)v;
			char e0[8], e1[8];
			uint8_t d[8];
			b64_encode(&b, 1, e0, 0);
			b64_encode(&b, 1, e1, 1);
			good &= b64_decode(e0, 4, d, 0) == 1 && d[0] == b;
			good &= b64_decode(e1, 2, d, 1) == 1 && d[0] == b;
		}
		ok(good, "all single bytes round trip");
	}
	{
		/* decode buffer bound: (len*3)/4+3 is enough for every length */
		int good = 1;
		for (size_t len = 0; len <= 64; len++) {
			char *s = malloc(len + 1);
			uint8_t *out = malloc((len * 3) / 4 + 3);
			if (!s || !out)
				abort();
			memset(s, 'A', len);
			s[len] = '\0';
			ssize_t r = b64_decode(s, len, out, 1);
			good &= (len % 4 == 1) ? r == -1 : r == (ssize_t)((len * 3) / 4);
			free(s);
			free(out);
		}
		ok(good, "decoded lengths for 0..64 'A's");
	}

	if (n_run != PLAN) {
		printf("# planned %d tests but ran %d\n", PLAN, n_run);
		return 1;
	}
	return n_fail ? 1 : 0;
}
