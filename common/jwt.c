#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "jwt.h"
#include "b64.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#define JWT_HEADER "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define ED_SIG_LEN 64
#define ED_KEY_LEN 32
#define JWT_MAX_SCOPES 16
/* Decode buffer for one part: b64_decode needs (len * 3) / 4 + 3. */
#define PART_BUF ((JWT_MAX_LEN * 3) / 4 + 3)

_Static_assert(sizeof(json_int_t) <= sizeof(int64_t), "json_int_t wider than int64_t");
_Static_assert(sizeof(((jwt_claims *)0)->scopes) / sizeof(((jwt_claims *)0)->scopes[0]) ==
		       JWT_MAX_SCOPES, "scope count");

const char *jwt_err_str(int e)
{
	switch (e) {
	case JWT_OK:
		return "ok";
	case JWT_MALFORMED:
		return "malformed token";
	case JWT_BAD_ALG:
		return "unsupported or forbidden algorithm";
	case JWT_BAD_SIG:
		return "bad signature";
	case JWT_EXPIRED:
		return "token expired";
	case JWT_NOT_YET_VALID:
		return "token not yet valid";
	case JWT_BAD_ISSUER:
		return "wrong issuer";
	case JWT_MISSING_CLAIM:
		return "missing required claim";
	}
	return "unknown error";
}

/* ---- signing ---- */

static int terminated(const char *s, size_t cap) { return strnlen(s, cap) < cap; }

static int ed_sign(EVP_PKEY *k, const void *m, size_t n, uint8_t sig[ED_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	size_t sl = ED_SIG_LEN;
	int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(ctx, sig, &sl, m, n) == 1 && sl == ED_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

static int set_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v));
}

static int set_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* Serialise the payload into buf; returns its length or 0. */
static size_t build_payload(const jwt_claims *c, const char *jti, char *buf, size_t cap)
{
	json_t *o = json_object(), *sc = json_array();
	size_t n = 0;
	if (!o || !sc)
		goto out;
	for (int i = 0; i < c->nscopes; i++)
		if (json_array_append_new(sc, json_string(c->scopes[i])) < 0)
			goto out;
	if (set_str(o, "sub", c->sub) < 0)
		goto out;
	if (c->client[0] && set_str(o, "client", c->client) < 0)
		goto out;
	if (json_object_set(o, "scopes", sc) < 0 || set_str(o, "iss", c->iss) < 0 ||
	    set_int(o, "iat", c->iat) < 0 ||
	    set_int(o, "nbf", c->nbf) < 0 || set_int(o, "exp", c->exp) < 0 ||
	    set_str(o, "jti", jti) < 0)
		goto out;
	n = json_dumpb(o, buf, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (n > cap)
		n = 0;
out:
	json_decref(sc);
	json_decref(o);
	return n;
}

char *jwt_sign(EVP_PKEY *priv, const jwt_claims *c)
{
	if (!priv || !c || EVP_PKEY_get_id(priv) != EVP_PKEY_ED25519)
		return NULL;
	if (!terminated(c->sub, sizeof c->sub) || !terminated(c->client, sizeof c->client) ||
	    !terminated(c->iss, sizeof c->iss))
		return NULL;
	if (c->nscopes < 0 || c->nscopes > JWT_MAX_SCOPES)
		return NULL;
	for (int i = 0; i < c->nscopes; i++)
		if (!terminated(c->scopes[i], sizeof c->scopes[i]))
			return NULL;

	uint8_t rnd[16];
	char jti[2 * sizeof rnd + 1];
	static const char hexd[] = "0123456789abcdef";
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		ERR_clear_error();
		return NULL;
	}
	for (size_t i = 0; i < sizeof rnd; i++) {
		jti[2 * i] = hexd[rnd[i] >> 4];
		jti[2 * i + 1] = hexd[rnd[i] & 15];
	}
	jti[2 * sizeof rnd] = '\0';

	char payload[JWT_MAX_LEN];
	size_t plen = build_payload(c, jti, payload, sizeof payload);
	if (plen == 0)
		return NULL;

	size_t hlen = strlen(JWT_HEADER);
	size_t he = b64_encoded_len(hlen, 1), pe = b64_encoded_len(plen, 1);
	size_t se = b64_encoded_len(ED_SIG_LEN, 1);
	size_t total = he + 1 + pe + 1 + se;
	if (total > JWT_MAX_LEN)
		return NULL;
	char *tok = malloc(total + 1);
	if (!tok)
		return NULL;
	b64_encode((const uint8_t *)JWT_HEADER, hlen, tok, 1);
	tok[he] = '.';
	b64_encode((const uint8_t *)payload, plen, tok + he + 1, 1);
	tok[he + 1 + pe] = '.';
	uint8_t sig[ED_SIG_LEN];
	if (ed_sign(priv, tok, he + 1 + pe, sig) < 0) {
		free(tok);
		return NULL;
	}
	b64_encode(sig, sizeof sig, tok + he + 1 + pe + 1, 1);
	return tok;
}

/* ---- verification ---- */

static int ed_verify(const uint8_t pub[ED_KEY_LEN], const void *m, size_t n,
		     const uint8_t sig[ED_SIG_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, ED_KEY_LEN);
	EVP_MD_CTX *ctx = k ? EVP_MD_CTX_new() : NULL;
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(ctx, sig, ED_SIG_LEN, m, n) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

static int check_header(const uint8_t *buf, size_t n)
{
	json_error_t jerr;
	json_t *h = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!h)
		return JWT_MALFORMED;
	int rc = JWT_OK;
	if (!json_is_object(h)) {
		rc = JWT_MALFORMED;
	} else {
		json_t *alg = json_object_get(h, "alg");
		if (!json_is_string(alg) || json_string_length(alg) != 5 ||
		    memcmp(json_string_value(alg), "EdDSA", 5) != 0)
			rc = JWT_BAD_ALG;
		else if (json_object_get(h, "crit"))
			rc = JWT_BAD_ALG; /* we understand no extensions */
	}
	json_decref(h);
	return rc;
}

/* Copy string claim key into dst[cap]. */
static int get_str(json_t *o, const char *key, char *dst, size_t cap, int required)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return required ? JWT_MISSING_CLAIM : JWT_OK;
	if (!json_is_string(v))
		return JWT_MALFORMED;
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (!s || n >= cap || memchr(s, '\0', n))
		return JWT_MALFORMED;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return JWT_OK;
}

static int get_int(json_t *o, const char *key, int64_t *dst)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return JWT_MISSING_CLAIM;
	if (!json_is_integer(v))
		return JWT_MALFORMED;
	*dst = (int64_t)json_integer_value(v);
	return JWT_OK;
}

static int get_scopes(json_t *o, jwt_claims *c)
{
	json_t *sc = json_object_get(o, "scopes");
	if (!sc)
		return JWT_OK;
	if (!json_is_array(sc))
		return JWT_MALFORMED;
	size_t n = json_array_size(sc);
	if (n > JWT_MAX_SCOPES)
		return JWT_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(sc, i);
		if (!json_is_string(v))
			return JWT_MALFORMED;
		size_t l = json_string_length(v);
		const char *s = json_string_value(v);
		if (!s || l >= sizeof c->scopes[i] || memchr(s, '\0', l))
			return JWT_MALFORMED;
		memcpy(c->scopes[i], s, l);
		c->scopes[i][l] = '\0';
	}
	c->nscopes = (int)n;
	return JWT_OK;
}

static int check_claims(const uint8_t *buf, size_t n, const char *expected_iss, int64_t now,
			int64_t leeway, jwt_claims *c)
{
	json_error_t jerr;
	json_t *p = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!p)
		return JWT_MALFORMED;
	int rc = JWT_MALFORMED;
	if (!json_is_object(p))
		goto out;
	if ((rc = get_str(p, "sub", c->sub, sizeof c->sub, 1)) ||
	    (rc = get_str(p, "iss", c->iss, sizeof c->iss, 1)) ||
	    (rc = get_str(p, "client", c->client, sizeof c->client, 0)) ||
	    (rc = get_str(p, "jti", c->jti, sizeof c->jti, 0)) ||
	    (rc = get_int(p, "exp", &c->exp)) || (rc = get_int(p, "nbf", &c->nbf)) ||
	    (rc = get_int(p, "iat", &c->iat)) || (rc = get_scopes(p, c)))
		goto out;
	if (!expected_iss || strcmp(c->iss, expected_iss) != 0) {
		rc = JWT_BAD_ISSUER;
		goto out;
	}
	if (leeway < 0)
		leeway = 0;
	int64_t nbf_lim = c->nbf < INT64_MIN + leeway ? INT64_MIN : c->nbf - leeway;
	int64_t exp_lim = c->exp > INT64_MAX - leeway ? INT64_MAX : c->exp + leeway;
	if (now < nbf_lim)
		rc = JWT_NOT_YET_VALID;
	else if (now >= exp_lim)
		rc = JWT_EXPIRED;
	else
		rc = JWT_OK;
out:
	json_decref(p);
	return rc;
}

static int verify(const uint8_t pub[32], const char *token, const char *expected_iss,
		  int64_t now, int64_t leeway, jwt_claims *c)
{
	if (!token)
		return JWT_MALFORMED;
	size_t len = strnlen(token, JWT_MAX_LEN + 1);
	if (len == 0 || len > JWT_MAX_LEN)
		return JWT_MALFORMED;
	const char *d1 = memchr(token, '.', len);
	if (!d1)
		return JWT_MALFORMED;
	const char *p2 = d1 + 1;
	const char *d2 = memchr(p2, '.', len - (size_t)(p2 - token));
	if (!d2)
		return JWT_MALFORMED;
	const char *p3 = d2 + 1;
	size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - p2), sl = len - (size_t)(p3 - token);
	if (memchr(p3, '.', sl) || hl == 0 || pl == 0)
		return JWT_MALFORMED;

	uint8_t hdr[PART_BUF], pay[PART_BUF], sig[PART_BUF];
	ssize_t hn = b64_decode(token, hl, hdr, 1);
	ssize_t pn = b64_decode(p2, pl, pay, 1);
	ssize_t sn = b64_decode(p3, sl, sig, 1);
	if (hn <= 0 || pn <= 0 || sn < 0)
		return JWT_MALFORMED;

	int rc = check_header(hdr, (size_t)hn);
	if (rc)
		return rc;
	if (sn != ED_SIG_LEN || !pub)
		return JWT_BAD_SIG;
	if (ed_verify(pub, token, hl + 1 + pl, sig) < 0)
		return JWT_BAD_SIG;
	/* Only now is the payload authentic. */
	return check_claims(pay, (size_t)pn, expected_iss, now, leeway, c);
}

int jwt_verify(const uint8_t pub[32], const char *token, const char *expected_iss,
	       int64_t now, int64_t leeway, jwt_claims *out)
{
	jwt_claims c;
	memset(&c, 0, sizeof c);
	int rc = verify(pub, token, expected_iss, now, leeway, &c);
	if (out) {
		if (rc == JWT_OK)
			*out = c;
		else
			memset(out, 0, sizeof *out);
	}
	return rc;
}

int jwt_has_scope(const jwt_claims *c, const char *scope)
{
	if (!c || !scope)
		return 0;
	int n = c->nscopes < 0 ? 0 : c->nscopes > JWT_MAX_SCOPES ? JWT_MAX_SCOPES : c->nscopes;
	for (int i = 0; i < n; i++) {
		const char *s = c->scopes[i];
		if (!terminated(s, sizeof c->scopes[i]))
			continue;
		if (strcmp(s, "admin") == 0 || strcmp(s, scope) == 0)
			return 1;
	}
	return 0;
}

/* ---- keys ---- */

EVP_PKEY *jwt_key_generate(void)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx) {
		ERR_clear_error();
		return NULL;
	}
	if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
		ERR_clear_error();
	}
	EVP_PKEY_CTX_free(ctx);
	return k;
}

EVP_PKEY *jwt_key_from_seed(const uint8_t seed[32])
{
	if (!seed)
		return NULL;
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED_KEY_LEN);
	if (!k)
		ERR_clear_error();
	return k;
}

int jwt_key_seed(EVP_PKEY *k, uint8_t seed[32])
{
	if (!seed)
		return -1;
	uint8_t tmp[ED_KEY_LEN];
	size_t n = sizeof tmp;
	int ok = k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
		 EVP_PKEY_get_raw_private_key(k, tmp, &n) == 1 && n == ED_KEY_LEN;
	if (ok)
		memcpy(seed, tmp, ED_KEY_LEN);
	else
		explicit_bzero(seed, ED_KEY_LEN);
	explicit_bzero(tmp, sizeof tmp);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

int jwt_key_public(EVP_PKEY *k, uint8_t pub[32])
{
	if (!pub)
		return -1;
	size_t n = ED_KEY_LEN;
	int ok = k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
		 EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == ED_KEY_LEN;
	if (!ok) {
		memset(pub, 0, ED_KEY_LEN);
		ERR_clear_error();
	}
	return ok ? 0 : -1;
}
