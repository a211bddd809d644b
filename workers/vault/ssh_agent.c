#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, explicit_bzero */
#endif
#include "workers/vault/ssh_agent.h"
#include "common/b64.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

/* Agent message numbers (draft-miller-ssh-agent section 6). */
enum {
	AGENT_FAILURE = 5,
	AGENTC_REQUEST_IDENTITIES = 11,
	AGENT_IDENTITIES_ANSWER = 12,
	AGENTC_SIGN_REQUEST = 13,
	AGENT_SIGN_RESPONSE = 14,
};
#define AGENT_RSA_SHA2_256 2u
#define AGENT_RSA_SHA2_512 4u

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define ENCRYPTED_MSG "the key is passphrase-protected; store it decrypted"

enum key_type { KT_ED25519, KT_ECDSA, KT_RSA };

struct curve {
	const char *ssh_type, *ssh_curve, *ossl_group;
	int nid;
	size_t coord; /* bytes per coordinate */
	const char *md;
};

static const struct curve curves[] = {
	{ "ecdsa-sha2-nistp256", "nistp256", "prime256v1", NID_X9_62_prime256v1, 32, "SHA256" },
	{ "ecdsa-sha2-nistp384", "nistp384", "secp384r1", NID_secp384r1, 48, "SHA384" },
	{ "ecdsa-sha2-nistp521", "nistp521", "secp521r1", NID_secp521r1, 66, "SHA512" },
};
#define N_CURVES (sizeof curves / sizeof curves[0])

struct agent_key {
	enum key_type type;
	const struct curve *ec; /* KT_ECDSA only */
	EVP_PKEY *pkey;
	uint8_t *blob;
	size_t bloblen;
};


/* ---------- SSH wire reader: exact, bounded; any field past the end fails ---------- */

struct rd {
	const uint8_t *p;
	size_t n;
};

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->n < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return 0;
}

/* A string: points into the input, never copies. */
static int rd_str(struct rd *r, const uint8_t **s, size_t *len)
{
	uint32_t l;
	if (rd_u32(r, &l) < 0 || l > r->n)
		return -1;
	*s = r->p;
	*len = l;
	r->p += l;
	r->n -= l;
	return 0;
}

/* A string that must equal want exactly. */
static int rd_expect(struct rd *r, const char *want)
{
	const uint8_t *s;
	size_t l;
	if (rd_str(r, &s, &l) < 0)
		return -1;
	return l == strlen(want) && !memcmp(s, want, l) ? 0 : -1;
}

/* A non-negative mpint in canonical form (RFC 4251 section 5); the
 * magnitude without its sign byte. Zero is the empty string. */
static int rd_mpint(struct rd *r, const uint8_t **m, size_t *len)
{
	const uint8_t *s;
	size_t l;
	if (rd_str(r, &s, &l) < 0)
		return -1;
	if (l && (s[0] & 0x80))
		return -1; /* negative */
	if (l && s[0] == 0) {
		if (l == 1 || !(s[1] & 0x80))
			return -1; /* an unnecessary leading zero */
		s++;
		l--;
	}
	*m = s;
	*len = l;
	return 0;
}

/* ---------- SSH wire writer (public data only: it reallocs) ---------- */

struct wr {
	uint8_t *p;
	size_t n, cap;
};

static void wr_put(struct wr *w, const void *d, size_t n)
{
	if (n > w->cap - w->n) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap - w->n < n)
			cap *= 2;
		w->p = xrealloc(w->p, cap);
		w->cap = cap;
	}
	if (n)
		memcpy(w->p + w->n, d, n);
	w->n += n;
}

static void wr_u8(struct wr *w, uint8_t v) { wr_put(w, &v, 1); }

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	wr_put(w, b, 4);
}

static void wr_str(struct wr *w, const void *s, size_t n)
{
	wr_u32(w, (uint32_t)n);
	wr_put(w, s, n);
}

static void wr_cstr(struct wr *w, const char *s) { wr_str(w, s, strlen(s)); }

/* Unsigned big-endian magnitude as an mpint: no unnecessary leading zeros,
 * one zero byte when the high bit is set. */
static void wr_mpint(struct wr *w, const uint8_t *m, size_t n)
{
	while (n && m[0] == 0) {
		m++;
		n--;
	}
	int pad = n && (m[0] & 0x80);
	wr_u32(w, (uint32_t)(n + (size_t)pad));
	if (pad)
		wr_u8(w, 0);
	wr_put(w, m, n);
}

static int wr_bn(struct wr *w, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	if (n < 0 || n > RSA_MAX_BITS / 8 + 1)
		return -1;
	uint8_t *b = xmalloc((size_t)n);
	BN_bn2bin(bn, b);
	wr_mpint(w, b, (size_t)n);
	free(b);
	return 0;
}

/* ---------- public blob from an EVP_PKEY ---------- */

static int blob_ed25519(EVP_PKEY *pk, struct wr *w)
{
	uint8_t pub[32];
	size_t n = sizeof pub;
	if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != sizeof pub)
		return -1;
	wr_cstr(w, "ssh-ed25519");
	wr_str(w, pub, n);
	return 0;
}

/* The point as SEC1 uncompressed 04||X||Y, whatever form the key came in. */
static int blob_ecdsa(EVP_PKEY *pk, const struct curve *c, struct wr *w)
{
	BIGNUM *x = NULL, *y = NULL;
	uint8_t pt[1 + 2 * 66];
	int ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
		 EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
	if (ok) {
		pt[0] = 0x04;
		ok = BN_bn2binpad(x, pt + 1, (int)c->coord) == (int)c->coord &&
		     BN_bn2binpad(y, pt + 1 + c->coord, (int)c->coord) == (int)c->coord;
	}
	BN_free(x);
	BN_free(y);
	if (!ok)
		return -1;
	wr_cstr(w, c->ssh_type);
	wr_cstr(w, c->ssh_curve);
	wr_str(w, pt, 1 + 2 * c->coord);
	return 0;
}

static int blob_rsa(EVP_PKEY *pk, struct wr *w)
{
	BIGNUM *n = NULL, *e = NULL;
	int ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
		 EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1;
	if (ok) {
		wr_cstr(w, "ssh-rsa");
		ok = wr_bn(w, e) == 0 && wr_bn(w, n) == 0;
	}
	BN_free(n);
	BN_free(e);
	return ok ? 0 : -1;
}

/* ---------- signing ---------- */

/* Raw EVP signature (DER for ECDSA); md NULL for Ed25519. */
static int evp_sign(EVP_PKEY *pk, const char *md, const uint8_t *data, size_t n, uint8_t **sig,
		    size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sl = 0;
	uint8_t *s = NULL;
	int ok = ctx && EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pk, NULL) == 1 &&
		 EVP_DigestSign(ctx, NULL, &sl, data, n) == 1 && sl > 0 && sl <= 2048;
	if (ok) {
		s = xmalloc(sl);
		ok = EVP_DigestSign(ctx, s, &sl, data, n) == 1;
	}
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		free(s);
		ERR_clear_error();
		return -1;
	}
	*sig = s;
	*siglen = sl;
	return 0;
}

static int evp_verify(EVP_PKEY *pk, const char *md, const uint8_t *data, size_t n, const uint8_t *sig,
		      size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pk, NULL) == 1 &&
		 EVP_DigestVerify(ctx, sig, siglen, data, n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

/* The SSH signature blob: string alg, string sig; ECDSA's sig is the mpint
 * pair r, s (RFC 5656 section 3.1.2). */
static int ssh_sign(const struct agent_key *k, const char *alg, const char *md, const uint8_t *data,
		    size_t n, struct wr *w)
{
	uint8_t *sig;
	size_t sl;
	if (evp_sign(k->pkey, md, data, n, &sig, &sl) < 0)
		return -1;
	int rc = 0;
	wr_cstr(w, alg);
	if (k->type == KT_ECDSA) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
		if (!es || p != sig + sl) {
			rc = -1;
		} else {
			struct wr rs = { 0 };
			rc = wr_bn(&rs, ECDSA_SIG_get0_r(es)) | wr_bn(&rs, ECDSA_SIG_get0_s(es));
			if (rc == 0)
				wr_str(w, rs.p, rs.n);
			free(rs.p);
		}
		ECDSA_SIG_free(es);
		ERR_clear_error();
	} else {
		wr_str(w, sig, sl);
	}
	free(sig);
	return rc;
}

/* Sign-then-verify once at load: the blob we advertise (derived from the
 * same EVP_PKEY) must verify what the private half produces, so a
 * mismatched or corrupt key fails here, not in the middle of a git push. */
static int pairwise_test(const struct agent_key *k)
{
	static const uint8_t msg[] = "helmdeck ssh-agent pairwise consistency test";
	const char *md = k->type == KT_ED25519 ? NULL : k->type == KT_ECDSA ? k->ec->md : "SHA256";
	uint8_t *sig;
	size_t sl;
	if (evp_sign(k->pkey, md, msg, sizeof msg, &sig, &sl) < 0)
		return -1;
	int rc = evp_verify(k->pkey, md, msg, sizeof msg, sig, sl);
	free(sig);
	return rc;
}

/* ---------- key construction ---------- */

static const struct curve *curve_by_ssh_type(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < N_CURVES; i++)
		if (strlen(curves[i].ssh_type) == n && !memcmp(curves[i].ssh_type, s, n))
			return &curves[i];
	return NULL;
}

/* Derive the blob, run the pairwise test and wrap pk (consumed). */
static struct agent_key *key_finish(EVP_PKEY *pk, enum key_type t, const struct curve *c, char *err,
				    size_t errlen)
{
	struct agent_key *k = xcalloc(1, sizeof *k);
	k->type = t;
	k->ec = c;
	k->pkey = pk;
	struct wr w = { 0 };
	int rc = t == KT_ED25519 ? blob_ed25519(pk, &w) : t == KT_ECDSA ? blob_ecdsa(pk, c, &w) : blob_rsa(pk, &w);
	k->blob = w.p;
	k->bloblen = w.n;
	if (rc < 0) {
		set_msg(err, errlen, "cannot derive the public key");
		agent_key_free(k);
		return NULL;
	}
	if (pairwise_test(k) < 0) {
		set_msg(err, errlen, "the private and public halves of the key do not match");
		agent_key_free(k);
		return NULL;
	}
	return k;
}

/* Classify an EVP_PKEY from PEM and bound it. */
static struct agent_key *key_from_evp(EVP_PKEY *pk, char *err, size_t errlen)
{
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return key_finish(pk, KT_ED25519, NULL, err, errlen);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);
		if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
			set_msg(err, errlen, "RSA key of %d bits; %d..%d are accepted", bits, RSA_MIN_BITS, RSA_MAX_BITS);
			EVP_PKEY_free(pk);
			return NULL;
		}
		return key_finish(pk, KT_RSA, NULL, err, errlen);
	}
	if (EVP_PKEY_is_a(pk, "EC")) {
		char g[64];
		size_t gl = 0;
		int nid = NID_undef;
		if (EVP_PKEY_get_group_name(pk, g, sizeof g, &gl) == 1) {
			nid = OBJ_sn2nid(g);
			if (nid == NID_undef)
				nid = EC_curve_nist2nid(g);
		}
		for (size_t i = 0; i < N_CURVES; i++)
			if (curves[i].nid == nid)
				return key_finish(pk, KT_ECDSA, &curves[i], err, errlen);
		ERR_clear_error();
		set_msg(err, errlen, "unsupported EC curve; nistp256, nistp384 and nistp521 are accepted");
		EVP_PKEY_free(pk);
		return NULL;
	}
	set_msg(err, errlen, "unsupported key type; ed25519, ecdsa and rsa are accepted");
	EVP_PKEY_free(pk);
	return NULL;
}

/* EVP_PKEY_fromdata for a keypair; NULL on failure. */
static EVP_PKEY *from_params(const char *alg, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *pk = NULL;
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* private values sit in its secure, cleared block */
	ERR_clear_error();
	return pk;
}

/* Private BIGNUMs live in secure (cleared-on-free) memory, so their copies
 * in the OSSL_PARAM block are secure too. */
static BIGNUM *secure_bn(const uint8_t *m, size_t n)
{
	BIGNUM *b = BN_secure_new();
	if (!b || !BN_bin2bn(m, (int)n, b)) {
		BN_clear_free(b);
		return NULL;
	}
	BN_set_flags(b, BN_FLG_CONSTTIME);
	return b;
}

static EVP_PKEY *ossh_ed25519(struct rd *r)
{
	const uint8_t *pub, *sk;
	size_t pl, sl;
	if (rd_str(r, &pub, &pl) < 0 || pl != 32 || rd_str(r, &sk, &sl) < 0 || sl != 64)
		return NULL;
	/* sk is seed || public; the public copies must agree. */
	if (memcmp(sk + 32, pub, 32))
		return NULL;
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
	uint8_t derived[32];
	size_t dl = sizeof derived;
	if (pk && (EVP_PKEY_get_raw_public_key(pk, derived, &dl) != 1 || dl != 32 || memcmp(derived, pub, 32))) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	ERR_clear_error();
	return pk;
}

static EVP_PKEY *ossh_ecdsa(struct rd *r, const struct curve *c)
{
	const uint8_t *q, *d;
	size_t ql, dl;
	if (rd_expect(r, c->ssh_curve) < 0 || rd_str(r, &q, &ql) < 0 || ql != 1 + 2 * c->coord ||
	    q[0] != 0x04 || rd_mpint(r, &d, &dl) < 0 || dl == 0 || dl > c->coord)
		return NULL;
	BIGNUM *bd = secure_bn(d, dl);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;
	if (bd && bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->ossl_group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, ql) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd))
		pk = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bd);
	return pk;
}

/* n, e, d, iqmp, p, q; OpenSSL wants the CRT exponents too, so derive them. */
static EVP_PKEY *ossh_rsa(struct rd *r, char *err, size_t errlen)
{
	const uint8_t *m[6];
	size_t ml[6];
	for (int i = 0; i < 6; i++)
		if (rd_mpint(r, &m[i], &ml[i]) < 0 || ml[i] == 0 || ml[i] > RSA_MAX_BITS / 8)
			return NULL;
	BIGNUM *b[6] = { 0 }; /* n e d iqmp p q */
	BIGNUM *dmp1 = BN_secure_new(), *dmq1 = BN_secure_new(), *t = BN_secure_new();
	BN_CTX *bc = BN_CTX_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;
	int ok = dmp1 && dmq1 && t && bc && bld;
	for (int i = 0; ok && i < 6; i++)
		ok = (b[i] = secure_bn(m[i], ml[i])) != NULL;
	if (ok) {
		int bits = BN_num_bits(b[0]);
		if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
			set_msg(err, errlen, "RSA key of %d bits; %d..%d are accepted", bits, RSA_MIN_BITS, RSA_MAX_BITS);
			ok = 0;
		}
	}
	if (ok) {
		BN_set_flags(dmp1, BN_FLG_CONSTTIME);
		BN_set_flags(dmq1, BN_FLG_CONSTTIME);
		BN_set_flags(t, BN_FLG_CONSTTIME);
	}
	/* n = p q, else the CRT parameters describe some other key. */
	ok = ok && BN_mul(t, b[4], b[5], bc) && !BN_cmp(t, b[0]);
	ok = ok && BN_sub(t, b[4], BN_value_one()) && BN_mod(dmp1, b[2], t, bc) &&
	     BN_sub(t, b[5], BN_value_one()) && BN_mod(dmq1, b[2], t, bc);
	ok = ok && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, b[0]) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, b[1]) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, b[2]) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, b[4]) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, b[5]) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, b[3]);
	if (ok)
		pk = from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	for (int i = 0; i < 6; i++)
		BN_clear_free(b[i]);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	BN_clear_free(t);
	BN_CTX_free(bc);
	ERR_clear_error();
	return pk;
}

/* The decoded openssh-key-v1 container (PROTOCOL.key). */
static struct agent_key *ossh_parse(const uint8_t *bin, size_t n, char *err, size_t errlen)
{
	static const char magic[] = "openssh-key-v1"; /* with its NUL */
	struct rd r = { bin, n };
	const uint8_t *cipher, *kdf, *kdfopt, *pubblob, *priv;
	size_t cl, kl, kol, pbl, pvl;
	uint32_t nkeys;
	if (n < sizeof magic || memcmp(bin, magic, sizeof magic)) {
		set_msg(err, errlen, "not an openssh-key-v1 private key");
		return NULL;
	}
	r.p += sizeof magic;
	r.n -= sizeof magic;
	if (rd_str(&r, &cipher, &cl) < 0 || rd_str(&r, &kdf, &kl) < 0 || rd_str(&r, &kdfopt, &kol) < 0) {
		set_msg(err, errlen, "truncated openssh private key");
		return NULL;
	}
	if (cl != 4 || memcmp(cipher, "none", 4)) {
		set_msg(err, errlen, ENCRYPTED_MSG);
		return NULL;
	}
	if (kl != 4 || memcmp(kdf, "none", 4) || kol != 0) {
		set_msg(err, errlen, "unsupported openssh key derivation for an unencrypted key");
		return NULL;
	}
	if (rd_u32(&r, &nkeys) < 0 || nkeys != 1) {
		set_msg(err, errlen, "the file must hold exactly one key");
		return NULL;
	}
	if (rd_str(&r, &pubblob, &pbl) < 0 || rd_str(&r, &priv, &pvl) < 0 || r.n != 0) {
		set_msg(err, errlen, "malformed openssh private key");
		return NULL;
	}

	/* Private section: checkint x2, key, comment, padding 1, 2, 3, ... up
	 * to a multiple of the cipher block size (8 for "none"). */
	struct rd p = { priv, pvl };
	uint32_t c1, c2;
	const uint8_t *type, *comment;
	size_t tl, coml;
	if (pvl % 8 || rd_u32(&p, &c1) < 0 || rd_u32(&p, &c2) < 0 || rd_str(&p, &type, &tl) < 0) {
		set_msg(err, errlen, "malformed openssh private section");
		return NULL;
	}
	if (c1 != c2) {
		set_msg(err, errlen, "the check-ints differ: corrupt key");
		return NULL;
	}
	EVP_PKEY *pk = NULL;
	enum key_type kt;
	const struct curve *c = NULL;
	char why[128] = "";
	if (tl == 11 && !memcmp(type, "ssh-ed25519", 11)) {
		kt = KT_ED25519;
		pk = ossh_ed25519(&p);
	} else if ((c = curve_by_ssh_type(type, tl)) != NULL) {
		kt = KT_ECDSA;
		pk = ossh_ecdsa(&p, c);
	} else if (tl == 7 && !memcmp(type, "ssh-rsa", 7)) {
		kt = KT_RSA;
		pk = ossh_rsa(&p, why, sizeof why);
	} else {
		set_msg(err, errlen, "unsupported key type \"%.*s\"; ed25519, ecdsa and rsa are accepted",
		       (int)(tl > 40 ? 40 : tl), (const char *)type);
		return NULL;
	}
	if (!pk) {
		set_msg(err, errlen, "%s", why[0] ? why : "malformed or inconsistent private key fields");
		return NULL;
	}
	/* OpenSSH checks the pattern and the block multiple, not the length. */
	int bad = rd_str(&p, &comment, &coml) < 0 || p.n > 255;
	for (size_t i = 0; !bad && i < p.n; i++)
		bad = p.p[i] != (uint8_t)(i + 1);
	if (bad) {
		set_msg(err, errlen, "malformed openssh private section");
		EVP_PKEY_free(pk);
		return NULL;
	}
	struct agent_key *k = key_finish(pk, kt, c, err, errlen);
	if (k && (k->bloblen != pbl || memcmp(k->blob, pubblob, pbl))) {
		set_msg(err, errlen, "the public key does not match the private key");
		agent_key_free(k);
		return NULL;
	}
	return k;
}

/* ---------- armor ---------- */

static const uint8_t *find(const uint8_t *h, size_t hl, const char *needle)
{
	return memmem(h, hl, needle, strlen(needle));
}

/* Base64 body between the BEGIN line (ending at body) and the END line,
 * whitespace dropped. Both scratch buffers hold private key bytes. */
static struct agent_key *ossh_armor(const uint8_t *body, size_t n, char *err, size_t errlen)
{
	const uint8_t *end = find(body, n, "-----END OPENSSH PRIVATE KEY-----");
	if (!end) {
		set_msg(err, errlen, "no END OPENSSH PRIVATE KEY line");
		return NULL;
	}
	size_t bl = (size_t)(end - body), tl = 0;
	char *text = xmalloc(bl + 1);
	for (size_t i = 0; i < bl; i++)
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
			text[tl++] = (char)body[i];
	size_t cap = tl / 4 * 3 + 3;
	uint8_t *bin = xmalloc(cap);
	ssize_t dl = b64_decode(text, tl, bin, 0);
	struct agent_key *k = NULL;
	if (dl < 0)
		set_msg(err, errlen, "invalid base64 in the openssh private key");
	else
		k = ossh_parse(bin, (size_t)dl, err, errlen);
	explicit_bzero(text, bl + 1);
	explicit_bzero(bin, cap);
	free(text);
	free(bin);
	return k;
}

/* Never prompt on a terminal: encrypted PEM simply fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static struct agent_key *pem_load(const uint8_t *pem, size_t len, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!pk) {
		set_msg(err, errlen, "cannot parse the PEM private key");
		return NULL;
	}
	return key_from_evp(pk, err, errlen);
}

struct agent_key *agent_key_load(const uint8_t *pem, size_t len, char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (!pem || len == 0 || len > AGENT_KEY_FILE_MAX) {
		set_msg(err, errlen, "key file empty or larger than %u bytes", AGENT_KEY_FILE_MAX);
		return NULL;
	}
	/* The first BEGIN line names the form; EC PARAMETERS may precede an
	 * EC PRIVATE KEY (openssl ecparam -genkey). */
	const uint8_t *p = pem;
	size_t left = len;
	for (;;) {
		const uint8_t *b = find(p, left, "-----BEGIN ");
		if (!b)
			break;
		b += 11;
		left -= (size_t)(b - p);
		const uint8_t *e = find(b, left, "-----");
		if (!e)
			break;
		size_t ll = (size_t)(e - b);
		const uint8_t *body = e + 5;
		size_t rest = left - ll - 5;
#define LABEL(s) (ll == sizeof(s) - 1 && !memcmp(b, s, ll))
		if (LABEL("EC PARAMETERS")) {
			p = body;
			left = rest;
			continue;
		}
		if (LABEL("OPENSSH PRIVATE KEY"))
			return ossh_armor(body, rest, err, errlen);
		if (LABEL("ENCRYPTED PRIVATE KEY") || find(body, rest, "Proc-Type: 4,ENCRYPTED")) {
			set_msg(err, errlen, ENCRYPTED_MSG);
			return NULL;
		}
		if (LABEL("PRIVATE KEY") || LABEL("RSA PRIVATE KEY") || LABEL("EC PRIVATE KEY"))
			return pem_load(pem, len, err, errlen);
#undef LABEL
		set_msg(err, errlen, "unsupported PEM block \"%.*s\"", (int)(ll > 40 ? 40 : ll), (const char *)b);
		return NULL;
	}
	set_msg(err, errlen, "no private key: expected an OPENSSH or PEM PRIVATE KEY block");
	return NULL;
}

void agent_key_free(struct agent_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->blob);
	free(k);
}

const uint8_t *agent_key_blob(const struct agent_key *k, size_t *len)
{
	*len = k->bloblen;
	return k->blob;
}

static const char *ssh_type(const struct agent_key *k)
{
	return k->type == KT_ED25519 ? "ssh-ed25519" : k->type == KT_ECDSA ? k->ec->ssh_type : "ssh-rsa";
}

char *agent_key_public_line(const struct agent_key *k, const char *comment)
{
	size_t el = b64_encoded_len(k->bloblen, 0);
	char *b = xmalloc(el + 1);
	b64_encode(k->blob, k->bloblen, b, 0);
	char *line;
	if (comment && *comment) {
		/* One line, always: a newline in a comment would add a line to an authorized_keys. */
		char *c = xstrdup(comment);
		for (char *q = c; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		line = xasprintf("%s %s %s", ssh_type(k), b, c);
		free(c);
	} else {
		line = xasprintf("%s %s", ssh_type(k), b);
	}
	free(b);
	return line;
}

char *agent_key_fingerprint(const struct agent_key *k)
{
	uint8_t h[32];
	unsigned hl = 0;
	if (EVP_Digest(k->blob, k->bloblen, h, &hl, EVP_sha256(), NULL) != 1 || hl != sizeof h)
		return NULL;
	char b[64];
	b64_encode(h, sizeof h, b, 0);
	char *eq = strchr(b, '=');
	if (eq)
		*eq = '\0';
	return xasprintf("SHA256:%s", b);
}

/* ---------- protocol ---------- */

static int reply_failure(uint8_t **out, size_t *outlen)
{
	*out = xmalloc(1);
	(*out)[0] = AGENT_FAILURE;
	*outlen = 1;
	return 0;
}

int agent_handle(const struct agent_key *k, const char *comment, const uint8_t *req, size_t len,
		 uint8_t **out, size_t *outlen, int *signed_out)
{
	*out = NULL;
	*outlen = 0;
	*signed_out = 0;
	if (!req || len == 0 || len > AGENT_MSG_MAX)
		return -1;
	struct rd r = { req + 1, len - 1 };
	struct wr w = { 0 };

	if (req[0] == AGENTC_REQUEST_IDENTITIES) {
		if (r.n != 0)
			return -1;
		wr_u8(&w, AGENT_IDENTITIES_ANSWER);
		wr_u32(&w, 1);
		wr_str(&w, k->blob, k->bloblen);
		wr_cstr(&w, comment ? comment : "");
		*out = w.p;
		*outlen = w.n;
		return 0;
	}
	if (req[0] != AGENTC_SIGN_REQUEST)
		return reply_failure(out, outlen); /* add/remove, lock, extensions, unknown */

	const uint8_t *blob, *data;
	size_t bl, dl;
	uint32_t flags;
	if (rd_str(&r, &blob, &bl) < 0 || rd_str(&r, &data, &dl) < 0 || rd_u32(&r, &flags) < 0 || r.n != 0 ||
	    dl > AGENT_MSG_MAX)
		return -1;
	if (bl != k->bloblen || memcmp(blob, k->blob, bl))
		return reply_failure(out, outlen);

	const char *alg, *md;
	if (k->type == KT_ED25519) {
		alg = "ssh-ed25519";
		md = NULL;
	} else if (k->type == KT_ECDSA) {
		alg = k->ec->ssh_type;
		md = k->ec->md;
	} else if (flags & AGENT_RSA_SHA2_256) { /* 256 first, as OpenSSH's agent */
		alg = "rsa-sha2-256";
		md = "SHA256";
	} else if (flags & AGENT_RSA_SHA2_512) {
		alg = "rsa-sha2-512";
		md = "SHA512";
	} else {
		return reply_failure(out, outlen); /* ssh-rsa means SHA-1: refused */
	}
	struct wr sig = { 0 };
	if (ssh_sign(k, alg, md, data, dl, &sig) < 0) {
		free(sig.p);
		return reply_failure(out, outlen);
	}
	wr_u8(&w, AGENT_SIGN_RESPONSE);
	wr_str(&w, sig.p, sig.n);
	free(sig.p);
	*out = w.p;
	*outlen = w.n;
	*signed_out = 1;
	return 0;
}
