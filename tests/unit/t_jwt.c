/* TAP tests for common/jwt.c: round trips and an adversarial token zoo. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/b64.h"
#include "common/jwt.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define PLAN 136

#define ISS "https://helmdeck.test"
#define HDR "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define NOW ((int64_t)1700000000)
#define LEEWAY 30

static int n_run, n_fail;
static EVP_PKEY *key, *key2;
static uint8_t pub[32], pub2[32];

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

/* ---- token construction helpers (independent of jwt_sign) ---- */

static char *b64u(const void *p, size_t n)
{
	size_t l = b64_encoded_len(n, 1);
	char *s = xmalloc(l + 1);
	b64_encode(p, n, s, 1);
	return s;
}

static char *sinput(const char *h, const char *p)
{
	char *a = b64u(h, strlen(h)), *b = b64u(p, strlen(p));
	char *r = xasprintf("%s.%s", a, b);
	free(a);
	free(b);
	return r;
}

/* Consumes si. */
static char *with_sig(char *si, const uint8_t *sig, size_t n)
{
	char *s = b64u(sig, n);
	char *r = xasprintf("%s.%s", si, s);
	free(si);
	free(s);
	return r;
}

static void ed_sign_raw(EVP_PKEY *k, const char *m, uint8_t sig[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sl = 64;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &sl, (const uint8_t *)m, strlen(m)) != 1 || sl != 64) {
		fprintf(stderr, "test signing failed\n");
		exit(2);
	}
	EVP_MD_CTX_free(ctx);
}

static char *tok_ed(EVP_PKEY *k, const char *h, const char *p)
{
	char *si = sinput(h, p);
	uint8_t sig[64];
	ed_sign_raw(k, si, sig);
	return with_sig(si, sig, sizeof sig);
}

static char *pl_times(int64_t iat, int64_t nbf, int64_t exp, const char *extra)
{
	return xasprintf("{\"sub\":\"alice\",\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,"
			 "\"exp\":%lld%s}",
			 (long long)iat, (long long)nbf, (long long)exp, extra);
}

static char *pl_std(const char *extra) { return pl_times(NOW, NOW, NOW + 300, extra); }

/* Sign payload p (consumed) with the main key under the standard header. */
static char *tok_pl(char *p)
{
	char *t = tok_ed(key, HDR, p);
	free(p);
	return t;
}

/* Part i (0..2) of a token, malloc'd. */
static char *part(const char *tok, int i)
{
	const char *s = tok;
	for (int k = 0; k < i; k++) {
		s = strchr(s, '.');
		if (!s)
			return xstrdup("");
		s++;
	}
	const char *e = strchr(s, '.');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	char *r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static int vr(const char *tok) { return jwt_verify(pub, tok, ISS, NOW, LEEWAY, NULL); }

static const char *ename(int e)
{
	static const char *n[] = {"JWT_OK", "JWT_MALFORMED", "JWT_BAD_ALG", "JWT_BAD_SIG",
				  "JWT_EXPIRED", "JWT_NOT_YET_VALID", "JWT_BAD_ISSUER",
				  "JWT_MISSING_CLAIM"};
	return e >= 0 && e < (int)(sizeof n / sizeof n[0]) ? n[e] : "?";
}

/* Verify tok (freed) and require exactly want. */
static void expect(char *tok, int want, const char *desc)
{
	int r = vr(tok);
	if (!ok(r == want, "%s -> %s", desc, ename(want)))
		printf("#   got %s (%s)\n", ename(r), jwt_err_str(r));
	free(tok);
}

static jwt_claims base_claims(void)
{
	jwt_claims c;
	memset(&c, 0, sizeof c);
	snprintf(c.sub, sizeof c.sub, "alice");
	snprintf(c.client, sizeof c.client, "cli-7");
	snprintf(c.iss, sizeof c.iss, "%s", ISS);
	snprintf(c.scopes[0], sizeof c.scopes[0], "read");
	snprintf(c.scopes[1], sizeof c.scopes[1], "write");
	c.nscopes = 2;
	c.iat = NOW;
	c.nbf = NOW;
	c.exp = NOW + 300;
	return c;
}

/* ---- sections ---- */

static void test_keys(void)
{
	ok(key && key2, "jwt_key_generate gives two keys");
	ok(memcmp(pub, pub2, 32) != 0, "distinct keys have distinct public keys");

	uint8_t seed[32], seed2[32], p[32];
	ok(jwt_key_seed(key, seed) == 0, "jwt_key_seed extracts the seed");
	EVP_PKEY *r = jwt_key_from_seed(seed);
	int good = r && jwt_key_public(r, p) == 0 && memcmp(p, pub, 32) == 0 &&
		   jwt_key_seed(r, seed2) == 0 && memcmp(seed, seed2, 32) == 0;
	ok(good, "seed -> key -> public/seed round trip");
	if (r) {
		jwt_claims c = base_claims();
		char *t = jwt_sign(r, &c);
		ok(t && jwt_verify(pub, t, ISS, NOW, 0, NULL) == JWT_OK,
		   "token from restored key verifies under original public key");
		free(t);
	} else {
		ok(0, "token from restored key verifies under original public key");
	}
	EVP_PKEY_free(r);
	explicit_bzero(seed, sizeof seed);
	explicit_bzero(seed2, sizeof seed2);

	/* RFC 8032 section 7.1, test 1 */
	uint8_t s1[32], p1[32], got[32];
	hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", s1, 32);
	hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", p1, 32);
	r = jwt_key_from_seed(s1);
	ok(r && jwt_key_public(r, got) == 0 && memcmp(got, p1, 32) == 0,
	   "RFC 8032 test 1 seed gives the expected public key");
	EVP_PKEY_free(r);

	EVP_PKEY *po = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	memset(seed, 0xAA, sizeof seed);
	int z = 1;
	int rc = jwt_key_seed(po, seed);
	for (int i = 0; i < 32; i++)
		z &= seed[i] == 0;
	ok(po && rc == -1 && z, "jwt_key_seed fails on a public-only key and zeroes output");
	EVP_PKEY_free(po);
	ok(jwt_key_seed(NULL, seed) == -1 && jwt_key_public(NULL, got) == -1 &&
		   jwt_key_from_seed(NULL) == NULL,
	   "key helpers reject NULL");
	ERR_clear_error();
}

static void test_sign_roundtrip(void)
{
	jwt_claims c = base_claims(), out;
	char *t = jwt_sign(key, &c);
	ok(t != NULL, "jwt_sign returns a token");
	if (!t)
		t = xstrdup("");
	int dots = 0;
	for (char *s = t; *s; s++)
		dots += *s == '.';
	ok(dots == 2 && strlen(t) <= JWT_MAX_LEN && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							      "abcdefghijklmnopqrstuvwxyz"
							      "0123456789-_.") == strlen(t),
	   "token is three base64url parts");
	char *h = part(t, 0), *hj = NULL;
	{
		uint8_t buf[256];
		ssize_t n = strlen(h) < 300 ? b64_decode(h, strlen(h), buf, 1) : -1;
		if (n >= 0) {
			hj = xmalloc((size_t)n + 1);
			memcpy(hj, buf, (size_t)n);
			hj[n] = '\0';
		}
	}
	ok(hj && strcmp(hj, HDR) == 0, "header is exactly %s", HDR);
	free(h);
	free(hj);

	memset(&out, 0x55, sizeof out);
	int rc = jwt_verify(pub, t, ISS, NOW, 0, &out);
	ok(rc == JWT_OK, "round trip verifies (got %s)", jwt_err_str(rc));
	ok(!strcmp(out.sub, "alice") && !strcmp(out.client, "cli-7") && !strcmp(out.iss, ISS),
	   "sub, client, iss preserved");
	ok(out.nscopes == 2 && !strcmp(out.scopes[0], "read") && !strcmp(out.scopes[1], "write"),
	   "scopes preserved in order");
	ok(out.iat == NOW && out.nbf == NOW && out.exp == NOW + 300, "iat, nbf, exp preserved");
	ok(strlen(out.jti) == 32 && strspn(out.jti, "0123456789abcdef") == 32,
	   "jti is 32 hex chars (16 random bytes)");
	char jti1[64];
	memcpy(jti1, out.jti, sizeof jti1);
	ok(jwt_verify(pub, t, ISS, NOW, 0, NULL) == JWT_OK, "verify with out == NULL");
	ok(jwt_verify(pub2, t, ISS, NOW, 0, NULL) == JWT_BAD_SIG, "wrong public key -> BAD_SIG");

	char *t2 = jwt_sign(key, &c);
	ok(t2 && jwt_verify(pub, t2, ISS, NOW, 0, &out) == JWT_OK && strcmp(out.jti, jti1) != 0,
	   "second token gets a fresh jti");
	free(t2);
	free(t);

	/* no scopes, no client */
	c = base_claims();
	c.nscopes = 0;
	c.client[0] = '\0';
	t = jwt_sign(key, &c);
	ok(t && jwt_verify(pub, t, ISS, NOW, 0, &out) == JWT_OK && out.nscopes == 0 &&
		   out.client[0] == '\0',
	   "token without scopes or client round trips");
	free(t);

	/* maximum sized fields */
	c = base_claims();
	memset(c.sub, 's', 127);
	c.sub[127] = '\0';
	memset(c.client, 'c', 127);
	c.client[127] = '\0';
	memset(c.iss, 'i', 127);
	c.iss[127] = '\0';
	for (int i = 0; i < 16; i++) {
		memset(c.scopes[i], 'a' + i, 63);
		c.scopes[i][63] = '\0';
	}
	c.nscopes = 16;
	t = jwt_sign(key, &c);
	rc = t ? jwt_verify(pub, t, c.iss, NOW, 0, &out) : -1;
	ok(rc == JWT_OK && out.nscopes == 16 && strlen(out.sub) == 127 &&
		   strlen(out.scopes[15]) == 63 && !memcmp(out.scopes[15], c.scopes[15], 64),
	   "maximum-size claims (127-char strings, 16x63-char scopes) round trip");
	free(t);

	/* unicode and escapes survive */
	c = base_claims();
	snprintf(c.sub, sizeof c.sub, "b\xc3\xb6rk \"quoted\" \\ /");
	t = jwt_sign(key, &c);
	ok(t && jwt_verify(pub, t, ISS, NOW, 0, &out) == JWT_OK && !strcmp(out.sub, c.sub),
	   "UTF-8 and JSON escapes in sub round trip");
	free(t);
}

static void test_sign_rejects(void)
{
	jwt_claims c = base_claims();
	c.nscopes = 17;
	ok(jwt_sign(key, &c) == NULL, "jwt_sign rejects nscopes 17");
	c.nscopes = -1;
	ok(jwt_sign(key, &c) == NULL, "jwt_sign rejects nscopes -1");
	c = base_claims();
	memset(c.sub, 'a', sizeof c.sub);
	ok(jwt_sign(key, &c) == NULL, "jwt_sign rejects unterminated sub");
	c = base_claims();
	memset(c.scopes[1], 'a', sizeof c.scopes[1]);
	ok(jwt_sign(key, &c) == NULL, "jwt_sign rejects unterminated scope");
	c = base_claims();
	snprintf(c.sub, sizeof c.sub, "\xff\xfe");
	ok(jwt_sign(key, &c) == NULL, "jwt_sign rejects invalid UTF-8");
	c = base_claims();
	ok(jwt_sign(NULL, &c) == NULL && jwt_sign(key, NULL) == NULL, "jwt_sign rejects NULL");

	EVP_PKEY *x = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
		EVP_PKEY_keygen(ctx, &x);
	EVP_PKEY_CTX_free(ctx);
	ok(x && jwt_sign(x, &c) == NULL, "jwt_sign rejects a non-Ed25519 key");
	EVP_PKEY_free(x);

	/* control chars expand 6x as \u00XX: payload cannot fit JWT_MAX_LEN */
	memset(c.sub, 1, 127);
	c.sub[127] = '\0';
	memset(c.client, 1, 127);
	c.client[127] = '\0';
	for (int i = 0; i < 16; i++) {
		memset(c.scopes[i], 1, 63);
		c.scopes[i][63] = '\0';
	}
	c.nscopes = 16;
	ok(jwt_sign(key, &c) == NULL, "jwt_sign refuses a token over JWT_MAX_LEN");
	ERR_clear_error();
}

static void test_alg(void)
{
	char *si;

	{
		char *p = pl_std("");
		si = sinput("{\"alg\":\"none\",\"typ\":\"JWT\"}", p);
		free(p);
		expect(with_sig(si, NULL, 0), JWT_BAD_ALG, "alg none with empty signature");
	}
	{
		char *p = pl_std("");
		si = sinput("{\"alg\":\"none\"}", p);
		uint8_t sig[64];
		ed_sign_raw(key, si, sig);
		free(p);
		expect(with_sig(si, sig, 64), JWT_BAD_ALG, "alg none with a valid Ed25519 signature");
	}
	{
		/* key confusion: HMAC keyed with the public key bytes */
		char *p = pl_std("");
		si = sinput("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p);
		free(p);
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned ml = 0;
		HMAC(EVP_sha256(), pub, 32, (const uint8_t *)si, strlen(si), mac, &ml);
		expect(with_sig(si, mac, ml), JWT_BAD_ALG, "alg HS256 keyed with the public key");
	}
	{
		/* HS512 gives exactly 64 bytes, the Ed25519 signature size */
		char *p = pl_std("");
		si = sinput("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p);
		free(p);
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned ml = 0;
		HMAC(EVP_sha512(), pub, 32, (const uint8_t *)si, strlen(si), mac, &ml);
		ok(ml == 64, "HS512 MAC is 64 bytes");
		expect(with_sig(si, mac, ml), JWT_BAD_ALG, "alg HS512 keyed with the public key");
	}
	{
		char *p = pl_std("");
		si = sinput("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", p);
		free(p);
		uint8_t sig[256];
		RAND_bytes(sig, sizeof sig);
		expect(with_sig(si, sig, sizeof sig), JWT_BAD_ALG, "alg RS256");
	}
	expect(tok_ed(key, "{\"typ\":\"JWT\"}", "{}"), JWT_BAD_ALG, "missing alg (signed)");
	{
		char *p = pl_std("");
		expect(tok_ed(key, "{\"typ\":\"JWT\"}", p), JWT_BAD_ALG, "missing alg, good payload");
		expect(tok_ed(key, "{\"alg\":\"eddsa\"}", p), JWT_BAD_ALG, "alg lower-case eddsa");
		expect(tok_ed(key, "{\"alg\":\"Ed25519\"}", p), JWT_BAD_ALG, "alg Ed25519");
		expect(tok_ed(key, "{\"alg\":\"EdDSA \"}", p), JWT_BAD_ALG, "alg with trailing space");
		expect(tok_ed(key, "{\"alg\":null}", p), JWT_BAD_ALG, "alg null");
		expect(tok_ed(key, "{\"alg\":[\"EdDSA\"]}", p), JWT_BAD_ALG, "alg as array");
		expect(tok_ed(key, "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}", p),
		       JWT_BAD_ALG, "crit header");
		expect(tok_ed(key, "{\"alg\":\"EdDSA\",\"crit\":[]}", p), JWT_BAD_ALG,
		       "crit header, empty list");
		expect(tok_ed(key, "{\"alg\":\"none\",\"alg\":\"EdDSA\"}", p), JWT_MALFORMED,
		       "duplicate alg keys");
		expect(tok_ed(key, "{\"alg\":\"EdDSA\"}", p), JWT_OK,
		       "minimal header {\"alg\":\"EdDSA\"} accepted");
		expect(tok_ed(key, "{\"alg\":\"EdDSA\",\"kid\":\"x\",\"typ\":\"at+jwt\"}", p),
		       JWT_OK, "extra harmless header fields accepted");
		free(p);
	}
}

static void test_times(void)
{
	expect(tok_pl(pl_times(NOW - 1000, NOW - 1000, NOW - 100, "")), JWT_EXPIRED, "expired");
	expect(tok_pl(pl_times(NOW, NOW + 100, NOW + 1000, "")), JWT_NOT_YET_VALID,
	       "nbf in the future");

	char *t = tok_pl(pl_times(NOW - 100, NOW - 100, NOW - 10, ""));
	ok(jwt_verify(pub, t, ISS, NOW, 30, NULL) == JWT_OK, "expired 10s ago, leeway 30 -> OK");
	ok(jwt_verify(pub, t, ISS, NOW, 5, NULL) == JWT_EXPIRED,
	   "expired 10s ago, leeway 5 -> EXPIRED");
	ok(jwt_verify(pub, t, ISS, NOW, 10, NULL) == JWT_EXPIRED &&
		   jwt_verify(pub, t, ISS, NOW, 11, NULL) == JWT_OK,
	   "exp boundary: now == exp + leeway is expired, one second less is not");
	free(t);

	t = tok_pl(pl_times(NOW, NOW + 10, NOW + 100, ""));
	ok(jwt_verify(pub, t, ISS, NOW, 30, NULL) == JWT_OK, "nbf 10s ahead, leeway 30 -> OK");
	ok(jwt_verify(pub, t, ISS, NOW, 5, NULL) == JWT_NOT_YET_VALID,
	   "nbf 10s ahead, leeway 5 -> NOT_YET_VALID");
	ok(jwt_verify(pub, t, ISS, NOW, 10, NULL) == JWT_OK &&
		   jwt_verify(pub, t, ISS, NOW, 9, NULL) == JWT_NOT_YET_VALID,
	   "nbf boundary: now == nbf - leeway is valid, one second earlier is not");
	ok(jwt_verify(pub, t, ISS, NOW, -100, NULL) == JWT_NOT_YET_VALID &&
		   jwt_verify(pub, t, ISS, NOW + 10, -100, NULL) == JWT_OK,
	   "negative leeway treated as zero");
	free(t);

	t = tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":0,"
			     "\"nbf\":-9223372036854775808,\"exp\":9223372036854775807}"));
	ok(jwt_verify(pub, t, ISS, NOW, INT64_MAX, NULL) == JWT_OK &&
		   jwt_verify(pub, t, ISS, INT64_MIN, INT64_MAX, NULL) == JWT_OK &&
		   jwt_verify(pub, t, ISS, INT64_MAX, 0, NULL) == JWT_EXPIRED,
	   "extreme nbf/exp/leeway saturate without overflow");
	free(t);
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":0,\"nbf\":0,"
				"\"exp\":9223372036854775808}")),
	       JWT_MALFORMED, "exp beyond int64 range");
}

static void test_sig(void)
{
	jwt_claims c = base_claims();
	char *t = jwt_sign(key, &c);
	if (!t)
		t = xstrdup("x.y.z");

	expect(tok_pl(pl_std("")), JWT_OK, "control: hand-built token verifies");
	ok(jwt_verify(pub, t, "https://evil.test", NOW, 0, NULL) == JWT_BAD_ISSUER,
	   "wrong issuer -> BAD_ISSUER");
	ok(jwt_verify(pub, t, NULL, NOW, 0, NULL) == JWT_BAD_ISSUER,
	   "NULL expected issuer -> BAD_ISSUER");
	ok(jwt_verify(pub, t, ISS "x", NOW, 0, NULL) == JWT_BAD_ISSUER &&
		   jwt_verify(pub, t, "https://helmdeck.tes", NOW, 0, NULL) == JWT_BAD_ISSUER,
	   "issuer prefix/extension does not match");

	/* one bit flipped in the decoded signature */
	{
		char *h = part(t, 0), *p = part(t, 1), *s = part(t, 2);
		uint8_t sig[128];
		ssize_t n = b64_decode(s, strlen(s), sig, 1);
		int good = n == 64;
		for (int bit = 0; good && bit < 512; bit += 37) {
			sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			char *si = xasprintf("%s.%s", h, p);
			char *bad = with_sig(si, sig, 64);
			good &= vr(bad) == JWT_BAD_SIG;
			free(bad);
			sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		ok(good, "signature with one bit flipped -> BAD_SIG (14 positions)");

		/* payload edited after signing: grant admin */
		char *p2 = pl_std(",\"scopes\":[\"admin\"]");
		char *pe = b64u(p2, strlen(p2));
		expect(xasprintf("%s.%s.%s", h, pe, s), JWT_BAD_SIG, "payload edited after signing");
		free(p2);
		free(pe);

		char *he = b64u("{\"alg\":\"EdDSA\",\"typ\":\"jwt\"}", 27);
		expect(xasprintf("%s.%s.%s", he, p, s), JWT_BAD_SIG, "header edited after signing");
		free(he);

		/* wrong-length signatures */
		expect(with_sig(xasprintf("%s.%s", h, p), sig, 63), JWT_BAD_SIG, "63-byte signature");
		expect(with_sig(xasprintf("%s.%s", h, p), (uint8_t[65]){0}, 65), JWT_BAD_SIG,
		       "65-byte signature");
		expect(with_sig(xasprintf("%s.%s", h, p), (uint8_t[64]){0}, 64), JWT_BAD_SIG,
		       "all-zero signature");
		expect(xasprintf("%s.%s.", h, p), JWT_BAD_SIG, "empty signature part");

		/* structure */
		expect(xasprintf("%s.%s", h, p), JWT_MALFORMED, "2 parts");
		expect(xasprintf("%s.%s.%s.%s", h, p, s, s), JWT_MALFORMED, "4 parts");
		expect(xasprintf("%s.", t), JWT_MALFORMED, "trailing dot (4 parts, last empty)");
		expect(xasprintf("%s", h), JWT_MALFORMED, "1 part");
		expect(xstrdup(""), JWT_MALFORMED, "empty string");
		expect(xstrdup(".."), JWT_MALFORMED, "only dots");
		expect(xasprintf(".%s.%s", p, s), JWT_MALFORMED, "empty header part");
		expect(xasprintf("%s..%s", h, s), JWT_MALFORMED, "empty payload part");

		/* bad base64url */
		char *hb = xstrdup(h);
		hb[3] = '+';
		expect(xasprintf("%s.%s.%s", hb, p, s), JWT_MALFORMED, "'+' in header");
		free(hb);
		char *pb = xstrdup(p);
		pb[5] = '/';
		expect(xasprintf("%s.%s.%s", h, pb, s), JWT_MALFORMED, "'/' in payload");
		free(pb);
		expect(xasprintf("%s.%s.%s==", h, p, s), JWT_MALFORMED, "padded signature");
		expect(xasprintf("%s.%s.%s\n", h, p, s), JWT_MALFORMED, "trailing newline");
		expect(xasprintf(" %s.%s.%s", h, p, s), JWT_MALFORMED, "leading space");
		expect(xasprintf("%s.%sA.%s", h, p, s), JWT_MALFORMED,
		       "payload of length 1 mod 4");
		{
			/* sig encodes to 86 chars; last char carries 2 unused bits */
			char *sn = xstrdup(s);
			size_t l = strlen(sn);
			const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
			const char *pos = strchr(alpha, sn[l - 1]);
			sn[l - 1] = alpha[(pos - alpha) ^ 1];
			expect(xasprintf("%s.%s.%s", h, p, sn), JWT_MALFORMED,
			       "non-canonical signature encoding");
			free(sn);
		}
		free(h);
		free(p);
		free(s);
	}
	{
		char *p = pl_std("");
		expect(tok_ed(key2, HDR, p), JWT_BAD_SIG, "signed by a different key");
		free(p);
	}
	ok(jwt_verify(NULL, t, ISS, NOW, 0, NULL) == JWT_BAD_SIG, "NULL public key -> BAD_SIG");
	ok(jwt_verify(pub, NULL, ISS, NOW, 0, NULL) == JWT_MALFORMED, "NULL token -> MALFORMED");
	{
		jwt_claims out;
		memset(&out, 0xAA, sizeof out);
		int rc = jwt_verify(pub, t, "nope", NOW, 0, &out);
		const uint8_t *b = (const uint8_t *)&out;
		int z = 1;
		for (size_t i = 0; i < sizeof out; i++)
			z &= b[i] == 0;
		ok(rc == JWT_BAD_ISSUER && z, "claims output zeroed on failure");
	}

	/* every truncation and every single-char substitution must fail */
	{
		size_t l = strlen(t);
		int good = 1;
		for (size_t i = 0; i < l; i++) {
			char *x = xmalloc(i + 1);
			memcpy(x, t, i);
			x[i] = '\0';
			good &= vr(x) != JWT_OK;
			free(x);
		}
		ok(good, "all %zu truncations rejected", l);

		static const char subs[] = "AQgwZaz09-_+/=. \x01\x80";
		good = 1;
		size_t tried = 0;
		for (size_t i = 0; i < l; i++) {
			for (size_t k = 0; k < sizeof subs - 1; k++) {
				if (t[i] == subs[k])
					continue;
				char *x = xstrdup(t);
				x[i] = subs[k];
				int rc = jwt_verify(pub, x, ISS, NOW, LEEWAY, NULL);
				if (rc == JWT_OK) {
					printf("# mutation accepted at %zu -> 0x%02x\n", i,
					       (unsigned char)subs[k]);
					good = 0;
				}
				tried++;
				free(x);
			}
		}
		ok(good, "all %zu single-char substitutions rejected", tried);
	}
	/* random garbage never crashes and never verifies */
	{
		int good = 1;
		uint8_t r[600];
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_..";
		for (int it = 0; it < 500; it++) {
			RAND_bytes(r, sizeof r);
			size_t n = r[0] + ((size_t)(r[1] & 1) << 8);
			char *x = xmalloc(n + 1);
			for (size_t i = 0; i < n; i++)
				x[i] = (it & 1) ? (char)(r[i + 2] | 1) : al[r[i + 2] % (sizeof al - 1)];
			x[n] = '\0';
			good &= vr(x) != JWT_OK;
			free(x);
		}
		ok(good, "500 random strings rejected without crashing");
	}
	free(t);
}

static void test_parsing(void)
{
	expect(with_sig(sinput("not json", "{}"), (uint8_t[64]){1}, 64), JWT_MALFORMED,
	       "header not JSON");
	expect(with_sig(sinput("[\"EdDSA\"]", "{}"), (uint8_t[64]){1}, 64), JWT_MALFORMED,
	       "header JSON array");
	expect(with_sig(sinput("\"EdDSA\"", "{}"), (uint8_t[64]){1}, 64), JWT_MALFORMED,
	       "header JSON string");
	expect(with_sig(sinput("{\"alg\":\"EdDSA\"}x", "{}"), (uint8_t[64]){1}, 64),
	       JWT_MALFORMED, "header with trailing garbage");
	expect(with_sig(sinput("{\"alg\":\"EdDSA\"", "{}"), (uint8_t[64]){1}, 64), JWT_MALFORMED,
	       "header truncated JSON");

	expect(tok_ed(key, HDR, "not json"), JWT_MALFORMED, "payload not JSON (signed)");
	expect(tok_ed(key, HDR, "[1,2]"), JWT_MALFORMED, "payload JSON array (signed)");

	/* claims */
	expect(tok_pl(xasprintf("{\"sub\":42,\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,"
				"\"exp\":%lld}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "sub not a string");
	expect(tok_pl(xasprintf("{\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MISSING_CLAIM, "sub missing");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MISSING_CLAIM, "iss missing");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":7,\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "iss not a string");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld}",
				(long long)NOW, (long long)NOW)),
	       JWT_MISSING_CLAIM, "exp missing");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,"
				"\"exp\":\"%lld\"}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "exp as string");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,"
				"\"exp\":%lld.5}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "exp as non-integer number");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW + 60)),
	       JWT_MISSING_CLAIM, "nbf missing");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"nbf\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW + 60)),
	       JWT_MISSING_CLAIM, "iat missing");
	expect(tok_pl(xasprintf("{\"sub\":\"a\",\"iss\":\"" ISS "\",\"iat\":true,\"nbf\":%lld,"
				"\"exp\":%lld}",
				(long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "iat as boolean");
	expect(tok_pl(pl_std(",\"sub\":\"dup\"")), JWT_MALFORMED, "duplicate sub claim");
	expect(tok_pl(xasprintf("{\"sub\":\"a\\u0000b\",\"iss\":\"" ISS "\",\"iat\":%lld,"
				"\"nbf\":%lld,\"exp\":%lld}",
				(long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "NUL inside sub");

	/* sizes */
	char big[200];
	memset(big, 'x', sizeof big);
	big[127] = '\0';
	{
		char *t = tok_pl(xasprintf("{\"sub\":\"%s\",\"iss\":\"" ISS "\",\"iat\":%lld,"
					   "\"nbf\":%lld,\"exp\":%lld}",
					   big, (long long)NOW, (long long)NOW, (long long)NOW + 60));
		jwt_claims out;
		ok(jwt_verify(pub, t, ISS, NOW, 0, &out) == JWT_OK && strlen(out.sub) == 127,
		   "127-char sub accepted");
		free(t);
	}
	big[127] = 'x';
	big[128] = '\0';
	expect(tok_pl(xasprintf("{\"sub\":\"%s\",\"iss\":\"" ISS "\",\"iat\":%lld,\"nbf\":%lld,"
				"\"exp\":%lld}",
				big, (long long)NOW, (long long)NOW, (long long)NOW + 60)),
	       JWT_MALFORMED, "128-char sub");
	{
		char *e = xasprintf(",\"client\":\"%s\"", big);
		expect(tok_pl(pl_std(e)), JWT_MALFORMED, "128-char client");
		free(e);
	}
	expect(tok_pl(pl_std(",\"client\":5")), JWT_MALFORMED, "client not a string");
	{
		char j[80];
		memset(j, 'j', 64);
		j[64] = '\0';
		char *e = xasprintf(",\"jti\":\"%s\"", j);
		expect(tok_pl(pl_std(e)), JWT_MALFORMED, "64-char jti");
		free(e);
	}

	/* scopes */
	{
		char buf[2048] = ",\"scopes\":[";
		for (int i = 0; i < 16; i++)
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\"s%d\"", i ? "," : "", i);
		char *p16 = xasprintf("%s]", buf);
		char *p17 = xasprintf("%s,\"s16\"]", buf);
		char *t = tok_pl(pl_std(p16));
		jwt_claims out;
		ok(jwt_verify(pub, t, ISS, NOW, 0, &out) == JWT_OK && out.nscopes == 16 &&
			   !strcmp(out.scopes[15], "s15"),
		   "16 scopes accepted");
		free(t);
		expect(tok_pl(pl_std(p17)), JWT_MALFORMED, "17 scopes");
		free(p16);
		free(p17);
	}
	{
		char s[80];
		memset(s, 'q', 63);
		s[63] = '\0';
		char *e = xasprintf(",\"scopes\":[\"read\",\"%s\"]", s);
		char *t = tok_pl(pl_std(e));
		ok(vr(t) == JWT_OK, "63-char scope accepted");
		free(t);
		free(e);
		s[63] = 'q';
		s[64] = '\0';
		e = xasprintf(",\"scopes\":[\"read\",\"%s\"]", s);
		expect(tok_pl(pl_std(e)), JWT_MALFORMED, "64-char scope (too long)");
		free(e);
	}
	expect(tok_pl(pl_std(",\"scopes\":[\"read\",3]")), JWT_MALFORMED, "non-string scope");
	expect(tok_pl(pl_std(",\"scopes\":\"read write\"")), JWT_MALFORMED, "scopes as string");
	expect(tok_pl(pl_std(",\"scopes\":{\"read\":1}")), JWT_MALFORMED, "scopes as object");
	expect(tok_pl(pl_std(",\"scopes\":[]")), JWT_OK, "empty scopes array accepted");

	/* length limit: find pad sizes that land exactly on and just past JWT_MAX_LEN */
	{
		size_t hl = b64_encoded_len(strlen(HDR), 1), sl = b64_encoded_len(64, 1);
		long at = -1, over = -1;
		for (long pad = 0; pad < JWT_MAX_LEN && (at < 0 || over < 0); pad++) {
			char *p = pl_std("");
			size_t plen = strlen(p) + strlen(",\"pad\":\"\"") + (size_t)pad;
			free(p);
			size_t total = hl + 1 + b64_encoded_len(plen, 1) + 1 + sl;
			if (total == JWT_MAX_LEN && at < 0)
				at = pad;
			if (total > JWT_MAX_LEN && over < 0)
				over = pad;
		}
		char *padbuf = xmalloc(JWT_MAX_LEN);
		int good = at >= 0 && over >= 0;
		if (good) {
			memset(padbuf, 'p', (size_t)at);
			padbuf[at] = '\0';
			char *e = xasprintf(",\"pad\":\"%s\"", padbuf);
			char *t = tok_pl(pl_std(e));
			free(e);
			good = strlen(t) == JWT_MAX_LEN && vr(t) == JWT_OK;
			free(t);
		}
		ok(good, "token of exactly JWT_MAX_LEN accepted");
		good = over >= 0;
		if (good) {
			memset(padbuf, 'p', (size_t)over);
			padbuf[over] = '\0';
			char *e = xasprintf(",\"pad\":\"%s\"", padbuf);
			char *t = tok_pl(pl_std(e));
			free(e);
			good = strlen(t) > JWT_MAX_LEN && vr(t) == JWT_MALFORMED;
			free(t);
		}
		ok(good, "validly signed token longer than JWT_MAX_LEN -> MALFORMED");
		free(padbuf);
	}
}

static void test_scope(void)
{
	jwt_claims c;
	memset(&c, 0, sizeof c);
	snprintf(c.scopes[0], 64, "read");
	snprintf(c.scopes[1], 64, "adminx");
	c.nscopes = 2;
	ok(jwt_has_scope(&c, "read") == 1, "has_scope: held scope");
	ok(jwt_has_scope(&c, "write") == 0 && jwt_has_scope(&c, "rea") == 0 &&
		   jwt_has_scope(&c, "reads") == 0,
	   "has_scope: other/prefix/extension scopes not held");
	ok(jwt_has_scope(&c, "admin") == 0, "has_scope: 'adminx' is not admin");
	snprintf(c.scopes[2], 64, "admin");
	c.nscopes = 3;
	ok(jwt_has_scope(&c, "write") == 1 && jwt_has_scope(&c, "anything:at:all") == 1,
	   "has_scope: admin implies every scope");
	c.nscopes = 2;
	ok(jwt_has_scope(&c, "write") == 0, "has_scope: scopes past nscopes ignored");
	c.nscopes = 0;
	ok(jwt_has_scope(&c, "read") == 0, "has_scope: no scopes holds nothing");
	c.nscopes = 1000;
	ok(jwt_has_scope(&c, "zzz") == 1 && jwt_has_scope(NULL, "read") == 0 &&
		   jwt_has_scope(&c, NULL) == 0,
	   "has_scope: nscopes clamped, NULLs rejected");

	jwt_claims v = base_claims(), out;
	char *t = jwt_sign(key, &v);
	ok(t && jwt_verify(pub, t, ISS, NOW, 0, &out) == JWT_OK && jwt_has_scope(&out, "write") &&
		   !jwt_has_scope(&out, "admin") && !jwt_has_scope(&out, "delete"),
	   "has_scope on verified claims");
	free(t);
}

static void test_errstr(void)
{
	int good = 1;
	for (int a = JWT_OK; a <= JWT_MISSING_CLAIM; a++)
		for (int b = a + 1; b <= JWT_MISSING_CLAIM; b++)
			good &= strcmp(jwt_err_str(a), jwt_err_str(b)) != 0;
	ok(good, "jwt_err_str messages are distinct");
	ok(!strcmp(jwt_err_str(JWT_EXPIRED), "token expired") && jwt_err_str(-1) &&
		   jwt_err_str(99),
	   "jwt_err_str: 'token expired', unknown codes handled");
}

int main(void)
{
	printf("1..%d\n", PLAN);
	key = jwt_key_generate();
	key2 = jwt_key_generate();
	if (!key || !key2 || jwt_key_public(key, pub) || jwt_key_public(key2, pub2)) {
		printf("not ok 1 - key generation\n");
		return 1;
	}
	test_keys();
	test_sign_roundtrip();
	test_sign_rejects();
	test_alg();
	test_times();
	test_sig();
	test_parsing();
	test_scope();
	test_errstr();
	EVP_PKEY_free(key);
	EVP_PKEY_free(key2);

	if (n_run != PLAN) {
		printf("# planned %d tests but ran %d\n", PLAN, n_run);
		return 1;
	}
	return n_fail ? 1 : 0;
}
