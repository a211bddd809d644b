#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "scrub.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Per input byte: inside some match, and inside one match together with the
 * byte before it (so a new "[redacted]" starts where that bit is clear). */
#define M_COV 1u
#define M_JOIN 2u

#define NFORMS 21

struct form {
	uint8_t *p;
	size_t n, cap;
};

struct pct_set {
	const char *keep; /* besides A-Za-z0-9 */
	int plus;	  /* space as '+' */
};

static const struct pct_set pct_sets[] = {
	{ "-._~", 0 },	   /* RFC 3986 unreserved */
	{ "-._~!*'()", 0 }, /* encodeURIComponent */
	{ "*-._", 1 },	   /* WHATWG application/x-www-form-urlencoded */
	{ "-._~", 1 },	   /* form encoding as Go, Python and PHP 8 write it */
};

static int is_alnum(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void pct_encode(const uint8_t *s, size_t n, const struct pct_set *set, int upper, struct form *f)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	f->cap = n * 3 + 1;
	f->p = xmalloc(f->cap);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (is_alnum(c) || (c && strchr(set->keep, c))) {
			f->p[o++] = c;
		} else if (c == ' ' && set->plus) {
			f->p[o++] = '+';
		} else {
			f->p[o++] = '%';
			f->p[o++] = (uint8_t)digits[c >> 4];
			f->p[o++] = (uint8_t)digits[c & 15];
		}
	}
	f->n = o;
}

static void b64_form(const uint8_t *s, size_t n, int url, int padded, struct form *f)
{
	size_t el = b64_encoded_len(n, url);
	f->cap = el + 4;
	f->p = xmalloc(f->cap);
	b64_encode(s, n, (char *)f->p, url);
	f->n = el;
	/* b64_encode pads the standard form and never the url one */
	if (!url && !padded)
		while (f->n && f->p[f->n - 1] == '=')
			f->n--;
	if (url && padded)
		while (f->n % 4)
			f->p[f->n++] = '=';
}

/* The secret inside a larger base64 text (a Basic-auth "user:secret", a
 * JSON blob): it starts at some byte offset k (mod 3) of the decoded
 * stream, so only the characters made of its bits alone are the same
 * whatever surrounds it. Encode k placeholder bytes + the secret and keep
 * exactly those characters. Shorter than 8 characters (6 bytes) matches
 * too much to be worth it: f->n is then 0. */
static void b64_core_form(const uint8_t *s, size_t n, int url, unsigned k, struct form *f)
{
	uint8_t *buf = xmalloc(n + 3);
	memset(buf, 0, k);
	memcpy(buf + k, s, n);
	size_t el = b64_encoded_len(n + k, url);
	char *enc = xmalloc(el + 1);
	b64_encode(buf, n + k, enc, url);
	size_t first = (8 * k + 5) / 6, last = 8 * (k + n) / 6;  /* [first, last) */
	f->cap = el + 1;
	f->p = xmalloc(f->cap);
	f->n = last > first && last - first >= 8 ? last - first : 0;
	memcpy(f->p, enc + first, f->n);
	explicit_bzero(buf, n + 3);
	explicit_bzero(enc, el + 1);
	free(buf);
	free(enc);
}

static void hex_form(const uint8_t *s, size_t n, int upper, struct form *f)
{
	f->cap = n * 2 + 1;
	f->p = xmalloc(f->cap);
	hex_encode(s, n, (char *)f->p);
	f->n = n * 2;
	for (size_t i = 0; upper && i < f->n; i++)
		if (f->p[i] >= 'a' && f->p[i] <= 'f')
			f->p[i] = (uint8_t)(f->p[i] - 'a' + 'A');
}

/* KMP over in: every match, overlapping ones too, in O(len + m), and each
 * byte marked at most once per form. fail has m slots. */
static void mark_form(const uint8_t *in, size_t len, const struct form *f, size_t *fail, uint8_t *mask)
{
	const uint8_t *pat = f->p;
	size_t m = f->n, k = 0, cov_end = 0, join_end = 0;
	fail[0] = 0;
	for (size_t i = 1; i < m; i++) {
		while (k && pat[i] != pat[k])
			k = fail[k - 1];
		if (pat[i] == pat[k])
			k++;
		fail[i] = k;
	}
	k = 0;
	for (size_t i = 0; i < len; i++) {
		while (k && in[i] != pat[k])
			k = fail[k - 1];
		if (in[i] == pat[k])
			k++;
		if (k < m)
			continue;
		size_t s = i + 1 - m, e = i + 1;
		for (size_t j = s > cov_end ? s : cov_end; j < e; j++)
			mask[j] |= M_COV;
		cov_end = e;
		for (size_t j = s + 1 > join_end ? s + 1 : join_end; j < e; j++)
			mask[j] |= M_JOIN;
		join_end = e;
		k = fail[k - 1];
	}
}

static uint8_t *copy_out(const uint8_t *in, size_t len, size_t *outlen)
{
	uint8_t *out = xmalloc(len + 1);
	if (len)
		memcpy(out, in, len);
	out[len] = '\0';
	if (outlen)
		*outlen = len;
	return out;
}

uint8_t *scrub_secret(const uint8_t *in, size_t len, const uint8_t *secret, size_t slen, size_t *outlen,
		      unsigned *count)
{
	/* every encoded form is at least slen long */
	if (!secret || slen == 0 || slen > len || slen > SIZE_MAX / 4)
		return copy_out(in, len, outlen);

	struct form forms[NFORMS];
	size_t nf = 0;
	forms[nf].p = xmalloc(slen);
	forms[nf].n = forms[nf].cap = slen;
	memcpy(forms[nf++].p, secret, slen);
	for (size_t i = 0; i < sizeof pct_sets / sizeof pct_sets[0]; i++)
		for (int upper = 1; upper >= 0; upper--)
			pct_encode(secret, slen, &pct_sets[i], upper, &forms[nf++]);
	for (int url = 0; url <= 1; url++)
		for (int padded = 1; padded >= 0; padded--)
			b64_form(secret, slen, url, padded, &forms[nf++]);
	for (int url = 0; url <= 1; url++)
		for (unsigned k = 0; k < 3; k++)
			b64_core_form(secret, slen, url, k, &forms[nf++]);
	hex_form(secret, slen, 0, &forms[nf++]);
	hex_form(secret, slen, 1, &forms[nf++]);

	size_t maxm = 0;
	for (size_t i = 0; i < nf; i++)
		if (forms[i].n > maxm)
			maxm = forms[i].n;
	size_t *fail = xcalloc(maxm, sizeof *fail);
	uint8_t *mask = xcalloc(len, 1);
	for (size_t i = 0; i < nf; i++) {
		int dup = forms[i].n > len || forms[i].n == 0;
		for (size_t j = 0; !dup && j < i; j++)
			dup = forms[j].n == forms[i].n && !memcmp(forms[j].p, forms[i].p, forms[i].n);
		if (!dup)
			mark_form(in, len, &forms[i], fail, mask);
	}
	explicit_bzero(fail, maxm * sizeof *fail);
	free(fail);
	for (size_t i = 0; i < nf; i++) {
		explicit_bzero(forms[i].p, forms[i].cap);
		free(forms[i].p);
	}

	const size_t mk = sizeof SCRUB_MARK - 1;
	size_t n = 0;
	unsigned marks = 0;
	for (size_t i = 0; i < len; i++) {
		size_t add = !(mask[i] & M_COV) ? 1 : !(mask[i] & M_JOIN) ? mk : 0;
		if (n > SIZE_MAX - 1 - add)
			fatal("scrub: output size overflows");
		n += add;
	}
	uint8_t *out = xmalloc(n + 1), *w = out;
	for (size_t i = 0; i < len; i++) {
		if (!(mask[i] & M_COV)) {
			*w++ = in[i];
		} else if (!(mask[i] & M_JOIN)) {
			memcpy(w, SCRUB_MARK, mk);
			w += mk;
			marks++;
		}
	}
	*w = '\0';
	free(mask);
	if (outlen)
		*outlen = n;
	if (count)
		*count += marks;
	return out;
}
