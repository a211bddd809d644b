/* JSON Web Tokens signed with EdDSA (Ed25519) only.
 *
 * Verification is deliberately narrow: the header must name alg "EdDSA"
 * (never "none", HMAC or RSA, whatever the caller's key looks like), no
 * "crit" extensions, a 64-byte signature checked against a raw 32-byte
 * public key, then a payload with string sub/iss and integer iat/nbf/exp.
 * Signature is checked before any claim is trusted. */
#ifndef HD_JWT_H
#define HD_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>

#define JWT_MAX_LEN 8192

typedef struct jwt_claims {
	char sub[128];
	char client[128];
	char iss[128];
	char jti[64];
	char scopes[16][64];
	int nscopes;
	int64_t iat, nbf, exp;
} jwt_claims;

enum jwt_err {
	JWT_OK = 0,
	JWT_MALFORMED,
	JWT_BAD_ALG,
	JWT_BAD_SIG,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID,
	JWT_BAD_ISSUER,
	JWT_MISSING_CLAIM
};

/* Short human message, e.g. "token expired". Never NULL. */
const char *jwt_err_str(int e);

/* Sign header {"alg":"EdDSA","typ":"JWT"} + claims from c: sub, client (only
 * when non-empty), scopes (JSON array, always present), iss, iat, nbf, exp,
 * and a fresh jti (16 random bytes, hex; c->jti is ignored). Every string in
 * c must be NUL-terminated inside its buffer and valid UTF-8, nscopes in
 * 0..16, and the token must fit JWT_MAX_LEN. Returns a malloc'd token or
 * NULL on any failure. */
char *jwt_sign(EVP_PKEY *priv, const jwt_claims *c);

/* Verify token against the raw Ed25519 public key. Returns JWT_OK and fills
 * *out (may be NULL), or an error code and zeroes *out. Checks, in order:
 * structure and base64url (MALFORMED), header (BAD_ALG), signature
 * (BAD_SIG), claim presence/types/sizes (MISSING_CLAIM / MALFORMED), issuer
 * (BAD_ISSUER; a NULL expected_iss never matches), then
 * now >= nbf - leeway (NOT_YET_VALID) and now < exp + leeway (EXPIRED).
 * Negative leeway counts as 0; time arithmetic saturates. */
int jwt_verify(const uint8_t pub[32], const char *token, const char *expected_iss,
	       int64_t now, int64_t leeway, jwt_claims *out);

/* 1 when the claims hold scope, or hold "admin" (admin implies all). */
int jwt_has_scope(const jwt_claims *c, const char *scope);

/* Key helpers. The int functions return 0 on success, -1 on failure (then
 * the output buffer is zeroed). Free keys with EVP_PKEY_free. */
EVP_PKEY *jwt_key_generate(void);
EVP_PKEY *jwt_key_from_seed(const uint8_t seed[32]);
int jwt_key_seed(EVP_PKEY *k, uint8_t seed[32]);
int jwt_key_public(EVP_PKEY *k, uint8_t pub[32]);

#endif
