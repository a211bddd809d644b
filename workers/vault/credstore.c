/* Credential vault storage (see credstore.h): SQLite tables, AES-256-GCM
 * sealing bound to (id, name), keyed fingerprints, default-deny ACL and a
 * usage log that outlives the credentials it mentions. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, memmem, MADV_DONTDUMP */
#endif
#include "workers/vault/credstore.h"
#include "common/glob.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/sqlutil.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define SEALED32_LEN (NONCE_LEN + 32 + TAG_LEN)
#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define LOG_FIELD_MAX 512
#define REASON_MAX 1200
#define JS_DEPTH 32

#define AAD_CRED "helmdeck-cred-v1"
#define AAD_CHECK "helmdeck-vault-check-v1"
#define AAD_FPKEY "helmdeck-vault-fp-salt-v1"
#define KEY_ID_DOMAIN "helmdeck-vault-key-id"
/* "helmdeck-cred-v1" NUL id NUL name */
#define AAD_MAX (sizeof AAD_CRED + 40 + 129)

struct secrets {       /* on a locked page that core dumps leave out */
	uint8_t key[32];   /* master key */
	uint8_t fpkey[32]; /* fingerprint HMAC key (meta "fp_salt", sealed) */
};

struct credstore {
	sqlite3 *db;
	struct secrets *sec;   /* locked page (common/secmem.c) */
	size_t sec_len;
};

static const char *const cred_types[] = { "login", "cookie", "api_key", "oauth", "ssh" };


static json_t *jchk(json_t *v)
{
	if (!v)
		fatal("credstore: out of memory (json)");
	return v;
}

static void oset(json_t *o, const char *k, json_t *v)
{
	if (json_object_set_new(o, k, jchk(v)))
		fatal("credstore: out of memory (json)");
}

static void apush(json_t *a, json_t *v)
{
	if (json_array_append_new(a, jchk(v)))
		fatal("credstore: out of memory (json)");
}

/* Stored text can be altered behind our back: never let it abort us. */
static json_t *jstrn(const char *s, size_t n)
{
	json_t *v = json_stringn(s, n);
	return v ? v : jchk(json_string("[invalid utf-8]"));
}

/* ------------------------------------------------------------------ */
/* sqlite helpers                                                      */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) { return sql_prep(db, "credstore", sql); }
static int exec(sqlite3 *db, const char *sql) { return sql_exec(db, "credstore", sql); }
static void rollback(sqlite3 *db) { sql_rollback(db); }

static int begin(sqlite3 *db) { return exec(db, "BEGIN IMMEDIATE"); }

static int commit(sqlite3 *db)
{
	if (exec(db, "COMMIT")) {
		rollback(db);
		return -1;
	}
	return 0;
}

/* Step a write statement to completion and finalize it.  0 / -1. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		log_warn("credstore: write failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when column i is a BLOB of exactly n bytes (copied to out). */
static int col_blob_n(sqlite3_stmt *st, int i, uint8_t *out, int n)
{
	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return 0;
	const void *p = sqlite3_column_blob(st, i);
	if (sqlite3_column_bytes(st, i) != n || !p)
		return 0;
	memcpy(out, p, (size_t)n);
	return 1;
}

/* Copy a TEXT column into dst[cap]; -1 when NULL, too long or holding a NUL. */
static int col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return -1;
	const unsigned char *s = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	if (!s || n < 0 || (size_t)n >= cap || memchr(s, 0, (size_t)n))
		return -1;
	memcpy(dst, s, (size_t)n);
	dst[n] = '\0';
	return 0;
}

static json_t *col_json_text(sqlite3_stmt *st, int i) { return sql_col_json_text(st, i); }

/* Flush the WAL into the file and truncate it, so superseded ciphertext
 * does not linger in old frames (secure_delete zeroes freed cells). */
static void wal_flush(struct credstore *cs)
{
	int rc = sqlite3_wal_checkpoint_v2(cs->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK)
		log_warn("credstore: WAL checkpoint failed: %s", sqlite3_errmsg(cs->db));
}

/* ------------------------------------------------------------------ */
/* crypto                                                              */

/* out = AES-256-GCM(in) || tag; out holds len + TAG_LEN bytes.  0 / -1. */
static int gcm_seal(const uint8_t key[32], const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
		    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	if (len > INT_MAX / 2 || aadlen > INT_MAX / 2)
		return -1;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, f = 0;
	int good = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		   EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
		   EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
		   EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1 && (size_t)n == len &&
		   EVP_EncryptFinal_ex(ctx, out + len, &f) == 1 && f == 0 &&
		   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + len) == 1;
	EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
	return good ? 0 : -1;
}

/* Inverse of gcm_seal: out gets inlen - TAG_LEN bytes, wiped when the tag
 * does not verify (OpenSSL writes plaintext before it checks). */
static int gcm_open(const uint8_t key[32], const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
		    size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
	if (inlen <= TAG_LEN || inlen > INT_MAX / 2 || aadlen > INT_MAX / 2)
		return -1;
	size_t len = inlen - TAG_LEN;
	uint8_t tag[TAG_LEN];
	memcpy(tag, in + len, TAG_LEN);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, f = 0;
	int good = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		   EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
		   EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
		   EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1 && (size_t)n == len &&
		   EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
		   EVP_DecryptFinal_ex(ctx, out + len, &f) == 1 && f == 0;
	EVP_CIPHER_CTX_free(ctx);
	if (!good)
		explicit_bzero(out, len);
	return good ? 0 : -1;
}

/* Meta values: nonce || GCM(32 bytes) under a domain-specific AAD. */
static int seal32(const uint8_t key[32], const char *aad, const uint8_t in[32], uint8_t out[SEALED32_LEN])
{
	if (RAND_bytes(out, NONCE_LEN) != 1)
		return -1;
	return gcm_seal(key, out, (const uint8_t *)aad, strlen(aad), in, 32, out + NONCE_LEN);
}

static int open32(const uint8_t key[32], const char *aad, const uint8_t in[SEALED32_LEN], uint8_t out[32])
{
	return gcm_open(key, in, (const uint8_t *)aad, strlen(aad), in + NONCE_LEN,
			SEALED32_LEN - NONCE_LEN, out);
}

static size_t cred_aad(const char *id, const char *name, uint8_t out[AAD_MAX])
{
	size_t a = sizeof AAD_CRED, i = strnlen(id, 39), n = strnlen(name, 128);
	memcpy(out, AAD_CRED, a); /* with its NUL */
	memcpy(out + a, id, i);
	out[a + i] = '\0';
	memcpy(out + a + i + 1, name, n);
	return a + i + 1 + n;
}

/* First 8 bytes of HMAC-SHA256(fpkey, secret) as hex: keyed, so a weak
 * password cannot be confirmed offline from the fingerprint alone. */
static int fingerprint(const uint8_t fpkey[32], const uint8_t *p, size_t n, char out[17])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int good = HMAC(EVP_sha256(), fpkey, 32, p, n, mac, &len) && len == 32;
	if (good)
		hex_encode(mac, 8, out);
	explicit_bzero(mac, sizeof mac);
	return good ? 0 : -1;
}

void cs_key_id(const uint8_t key[32], char out[17])
{
	uint8_t h[32];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int good = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		   EVP_DigestUpdate(ctx, KEY_ID_DOMAIN, sizeof KEY_ID_DOMAIN - 1) == 1 &&
		   EVP_DigestUpdate(ctx, key, 32) == 1 && EVP_DigestFinal_ex(ctx, h, &len) == 1 &&
		   len == 32;
	EVP_MD_CTX_free(ctx);
	if (!good)
		fatal("credstore: SHA-256 failed");
	hex_encode(h, 8, out);
}

static int new_id(char out[40])
{
	uint8_t r[16];
	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	memcpy(out, "cred_", 5);
	hex_encode(r, sizeof r, out + 5);
	return 0;
}

/* ------------------------------------------------------------------ */
/* input validation                                                    */

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int valid_id(const char *id)
{
	if (!id || strlen(id) != 37 || strncmp(id, "cred_", 5))
		return 0;
	for (const char *p = id + 5; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static int valid_type(const char *t)
{
	for (size_t i = 0; t && i < sizeof cred_types / sizeof *cred_types; i++)
		if (!strcmp(t, cred_types[i]))
			return 1;
	return 0;
}

/* A string field of a caller struct must be terminated inside its array. */
static int terminated(const char *a, size_t cap) { return strnlen(a, cap) < cap; }

static int check_name(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n < 1 || n > 128) {
		set_msg(err, errlen, "name: must be 1 to 128 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("_.-", s[i])) {
			set_msg(err, errlen, "name: only letters, digits, '_', '.' and '-' are allowed");
			return -1;
		}
	return 0;
}

/* Lowercased copy of a host glob into out[256]. */
static int norm_host_pattern(const char *s, char *out, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 253) {
		set_msg(err, errlen, "host_pattern: must be 1 to 253 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && !strchr(".*_-", c)) {
			set_msg(err, errlen, "host_pattern: only letters, digits, '.', '*', '_' and '-' are allowed");
			return -1;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	return 0;
}

/* Printable ASCII only: it is compared byte-wise and shown in JSON. */
static int norm_path_pattern(const char *s, char *out, char *err, size_t errlen)
{
	if (!s || !*s)
		s = "/";
	size_t n = strlen(s);
	if (s[0] != '/') {
		set_msg(err, errlen, "path_pattern: must start with '/'");
		return -1;
	}
	if (n > 511) {
		set_msg(err, errlen, "path_pattern: must be at most 511 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
			set_msg(err, errlen, "path_pattern: spaces, control and non-ASCII characters are not allowed");
			return -1;
		}
	memcpy(out, s, n + 1);
	return 0;
}

/* Parsed and re-serialized compact into out[CS_METADATA_MAX + 1]. */
static int norm_metadata(const char *s, char *out, char *err, size_t errlen)
{
	if (!s || !*s) {
		memcpy(out, "{}", 3);
		return 0;
	}
	size_t n = strlen(s);
	if (n > CS_METADATA_MAX) {
		set_msg(err, errlen, "metadata_json: must be at most %d bytes", CS_METADATA_MAX);
		return -1;
	}
	json_error_t je;
	json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		set_msg(err, errlen, "metadata_json: not valid JSON (line %d, column %d)", je.line, je.column);
		return -1;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		set_msg(err, errlen, "metadata_json: must be a JSON object");
		return -1;
	}
	size_t m = json_dumpb(v, out, CS_METADATA_MAX, JSON_COMPACT);
	json_decref(v);
	if (m == 0 || m > CS_METADATA_MAX) {
		set_msg(err, errlen, "metadata_json: must be at most %d bytes once serialized", CS_METADATA_MAX);
		return -1;
	}
	out[m] = '\0';
	return 0;
}

/* subject [A-Za-z0-9_.@:-]{1,128} or exactly "*"; client the same 0..128,
 * "" or "*" meaning any client (normalized to ""). */
static int check_actor(const char *s, int is_client, char *out, char *err, size_t errlen)
{
	const char *what = is_client ? "client" : "subject";
	if (!s)
		s = "";
	size_t n = strlen(s);
	if (is_client && !strcmp(s, "*"))
		n = 0;
	if ((!is_client && n < 1) || n > 128) {
		set_msg(err, errlen, "%s: must be %s to 128 characters", what, is_client ? "0" : "1");
		return -1;
	}
	if (!is_client && !strcmp(s, "*")) {
		memcpy(out, "*", 2);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '*') {
			set_msg(err, errlen, "%s: '*' is only allowed on its own (any %s)", what, what);
			return -1;
		}
		if (!is_alnum(c) && !strchr("_.@:-", c)) {
			set_msg(err, errlen, "%s: only letters, digits, '_', '.', '@', ':', '-' and '*' are allowed", what);
			return -1;
		}
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* secret shapes                                                       */

/* A strict RFC 8259 scanner for login and cookie secrets.  A JSON parser
 * would copy the secret into heap that it frees unwiped; this copies
 * nothing but the short member names it compares. */
struct js {
	const uint8_t *p, *end;
};

struct js_req {              /* two required string members of an object */
	const char *k[2];
	int seen[2];
	int bad;                 /* one of them twice, or not a string */
};

static void js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int js_at(const struct js *j, uint8_t c) { return j->p < j->end && *j->p == c; }

/* Length (1..4) of the UTF-8 sequence at p, 0 when invalid: no overlongs,
 * surrogates or code points past U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static int hex4(const uint8_t *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static size_t utf8_put(uint32_t cp, uint8_t out[4])
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* A string at j->p.  With key, its decoded bytes go to key[cap] and *klen
 * is their count, or cap when they did not fit. */
static int js_string(struct js *j, char *key, size_t cap, size_t *klen)
{
	size_t o = 0;
	int over = 0;
	if (!js_at(j, '"'))
		return -1;
	j->p++;
	while (j->p < j->end) {
		uint8_t c = *j->p, tmp[4];
		size_t tl;
		if (c == '"') {
			j->p++;
			if (key) {
				key[over ? 0 : o] = '\0';
				*klen = over ? cap : o;
			}
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (j->end - j->p < 2)
				return -1;
			uint8_t e = j->p[1];
			j->p += 2;
			tl = 1;
			switch (e) {
			case '"': case '\\': case '/': tmp[0] = e; break;
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (j->end - j->p < 4 || hex4(j->p, &cp))
					return -1;
				j->p += 4;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return -1;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
					    hex4(j->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						return -1;
					j->p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (cp == 0) /* jansson refuses \u0000 too */
					return -1;
				tl = key ? utf8_put(cp, tmp) : 0;
				break;
			}
			default:
				return -1;
			}
		} else {
			tl = utf8_len(j->p, (size_t)(j->end - j->p));
			if (!tl)
				return -1;
			if (key)
				memcpy(tmp, j->p, tl);
			j->p += tl;
		}
		if (key && !over) {
			if (o + tl < cap) {
				memcpy(key + o, tmp, tl);
				o += tl;
			} else {
				over = 1;
			}
		}
	}
	return -1;
}

static int js_digits(struct js *j)
{
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return -1;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return 0;
}

static int js_number(struct js *j)
{
	if (js_at(j, '-'))
		j->p++;
	if (js_at(j, '0'))
		j->p++;
	else if (js_digits(j))
		return -1;
	if (js_at(j, '.')) {
		j->p++;
		if (js_digits(j))
			return -1;
	}
	if (js_at(j, 'e') || js_at(j, 'E')) {
		j->p++;
		if (js_at(j, '+') || js_at(j, '-'))
			j->p++;
		if (js_digits(j))
			return -1;
	}
	return 0;
}

static int js_lit(struct js *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n))
		return -1;
	j->p += n;
	return 0;
}

static int js_value(struct js *j, int depth);

static int js_object(struct js *j, int depth, struct js_req *req)
{
	if (depth > JS_DEPTH || !js_at(j, '{'))
		return -1;
	j->p++;
	js_ws(j);
	if (js_at(j, '}')) {
		j->p++;
		return 0;
	}
	for (;;) {
		char key[16];
		size_t kl = 0;
		js_ws(j);
		if (js_string(j, key, sizeof key, &kl))
			return -1;
		js_ws(j);
		if (!js_at(j, ':'))
			return -1;
		j->p++;
		js_ws(j);
		for (int i = 0; req && i < 2; i++)
			if (kl == strlen(req->k[i]) && !memcmp(key, req->k[i], kl)) {
				if (req->seen[i]++ || !js_at(j, '"'))
					req->bad = 1;
			}
		explicit_bzero(key, sizeof key);
		if (js_value(j, depth))
			return -1;
		js_ws(j);
		if (js_at(j, ',')) {
			j->p++;
			continue;
		}
		if (js_at(j, '}')) {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int js_array(struct js *j, int depth)
{
	if (depth > JS_DEPTH || !js_at(j, '['))
		return -1;
	j->p++;
	js_ws(j);
	if (js_at(j, ']')) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (js_value(j, depth))
			return -1;
		js_ws(j);
		if (js_at(j, ',')) {
			j->p++;
			continue;
		}
		if (js_at(j, ']')) {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int js_value(struct js *j, int depth)
{
	js_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '"': return js_string(j, NULL, 0, NULL);
	case '{': return js_object(j, depth + 1, NULL);
	case '[': return js_array(j, depth + 1);
	case 't': return js_lit(j, "true");
	case 'f': return js_lit(j, "false");
	case 'n': return js_lit(j, "null");
	default: return js_number(j);
	}
}

/* One object with string members k1 and k2, each exactly once. */
static int js_required(struct js *j, const char *k1, const char *k2)
{
	struct js_req r = { { k1, k2 }, { 0, 0 }, 0 };
	js_ws(j);
	if (js_object(j, 1, &r))
		return -1;
	return r.bad || r.seen[0] != 1 || r.seen[1] != 1 ? -1 : 0;
}

static int js_login(const uint8_t *p, size_t n)
{
	struct js j = { p, p + n };
	if (js_required(&j, "username", "password"))
		return -1;
	js_ws(&j);
	return j.p == j.end ? 0 : -1;
}

/* An object, or a non-empty array of objects, with string name and value. */
static int js_cookie(const uint8_t *p, size_t n)
{
	struct js j = { p, p + n };
	js_ws(&j);
	if (js_at(&j, '[')) {
		j.p++;
		for (int first = 1;; first = 0) {
			js_ws(&j);
			if (first && js_at(&j, ']'))
				return -1;
			if (js_required(&j, "name", "value"))
				return -1;
			js_ws(&j);
			if (js_at(&j, ',')) {
				j.p++;
				continue;
			}
			if (!js_at(&j, ']'))
				return -1;
			j.p++;
			break;
		}
	} else if (js_required(&j, "name", "value")) {
		return -1;
	}
	js_ws(&j);
	return j.p == j.end ? 0 : -1;
}

static int check_secret(const char *type, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	if (!p || n < 1 || n > CS_SECRET_MAX) {
		set_msg(err, errlen, "secret: must be 1 to %d bytes", CS_SECRET_MAX);
		return -1;
	}
	if (!strcmp(type, "login") && js_login(p, n)) {
		set_msg(err, errlen, "secret: a login must be a JSON object with string \"username\" and "
				    "\"password\" members");
		return -1;
	}
	if (!strcmp(type, "cookie") && js_cookie(p, n)) {
		set_msg(err, errlen, "secret: a cookie must be a JSON object, or a non-empty array of "
				    "objects, each with string \"name\" and \"value\" members");
		return -1;
	}
	if (!strcmp(type, "ssh")) {
		static const char head[] = "-----BEGIN ", tail[] = "PRIVATE KEY-----";
		if (n < sizeof head - 1 || memcmp(p, head, sizeof head - 1) ||
		    !memmem(p, n, tail, sizeof tail - 1) || memchr(p, 0, n)) {
			set_msg(err, errlen, "secret: an ssh key must be a PEM private key "
					    "(\"-----BEGIN ... PRIVATE KEY-----\")");
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* open                                                                */

static const char schema_sql[] =
	"CREATE TABLE credentials ("
	" id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, type TEXT NOT NULL,"
	" host_pattern TEXT NOT NULL, path_pattern TEXT NOT NULL, metadata_json TEXT NOT NULL,"
	" nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, fingerprint TEXT NOT NULL,"
	" created_at INTEGER, updated_at INTEGER, last_used_at INTEGER);"
	"CREATE INDEX credentials_type ON credentials(type);"
	"CREATE TABLE credential_acl ("
	" credential_id TEXT, actor_subject TEXT, actor_client TEXT, created_at INTEGER,"
	" PRIMARY KEY (credential_id, actor_subject, actor_client));"
	"CREATE TABLE credential_usage_log ("
	" id INTEGER PRIMARY KEY, ts_ms INTEGER, credential_id TEXT, credential_name TEXT,"
	" actor_subject TEXT, actor_client TEXT, host TEXT, path TEXT, purpose TEXT,"
	" result TEXT, reason TEXT);"
	"CREATE INDEX credential_usage_log_cred ON credential_usage_log(credential_id, id);"
	"CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB);";

static sqlite3 *db_open(const char *path, int flags, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		set_msg(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	return db;
}

/* Judge key against an open db without writing: CS_OK (fpkey filled),
 * 1 for an empty (never initialised) db, CS_WRONG_KEY or CS_ERR. */
static int check_key(sqlite3 *db, const char *path, const uint8_t key[32], uint8_t fpkey[32],
		     char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(db, "SELECT count(*) FROM sqlite_master");
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		set_msg(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return CS_ERR;
	}
	int64_t objects = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (objects == 0)
		return 1;

	st = prep(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
		      " ('credentials', 'credential_acl', 'credential_usage_log', 'meta')");
	int tables = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (tables != 4) {
		set_msg(err, errlen, "%s is not a helmdeck vault, or is damaged (tables missing)", path);
		return CS_ERR;
	}
	uint8_t check[SEALED32_LEN], salt[SEALED32_LEN];
	int have_check = 0, have_salt = 0, rc;
	int64_t schema = -1;
	st = prep(db, "SELECT k, v FROM meta WHERE k IN ('check', 'fp_salt', 'schema')");
	if (!st) {
		set_msg(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(db));
		return CS_ERR;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (!k)
			continue;
		if (!strcmp(k, "check"))
			have_check = col_blob_n(st, 1, check, SEALED32_LEN);
		else if (!strcmp(k, "fp_salt"))
			have_salt = col_blob_n(st, 1, salt, SEALED32_LEN);
		else if (sqlite3_column_type(st, 1) == SQLITE_INTEGER)
			schema = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		set_msg(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(db));
		return CS_ERR;
	}
	if (!have_check || !have_salt || schema < 0) {
		set_msg(err, errlen, "%s is damaged: its %s record is missing or malformed", path,
		       !have_check ? "check" : !have_salt ? "fp_salt" : "schema");
		return CS_ERR;
	}
	if (schema != SCHEMA_VERSION) {
		set_msg(err, errlen, "%s has schema version %" PRId64 "; this build supports %d",
		       path, schema, SCHEMA_VERSION);
		return CS_ERR;
	}
	static const uint8_t zero[32];
	uint8_t plain[32];
	if (open32(key, AAD_CHECK, check, plain) || ct_memcmp(plain, zero, 32)) {
		char kid[17];
		cs_key_id(key, kid);
		set_msg(err, errlen, "the master key does not open %s (key id %s); nothing was changed",
		       path, kid);
		return CS_WRONG_KEY;
	}
	if (open32(key, AAD_FPKEY, salt, fpkey)) {
		set_msg(err, errlen, "%s is damaged: its fp_salt record does not decrypt", path);
		return CS_ERR;
	}
	return CS_OK;
}

/* Create the schema and the meta records in one transaction. */
static int init_db(sqlite3 *db, const char *path, const uint8_t key[32], uint8_t fpkey[32],
		   char *err, size_t errlen)
{
	static const uint8_t zero[32];
	uint8_t check[SEALED32_LEN], salt[SEALED32_LEN];
	if (RAND_bytes(fpkey, 32) != 1 || seal32(key, AAD_CHECK, zero, check) ||
	    seal32(key, AAD_FPKEY, fpkey, salt)) {
		set_msg(err, errlen, "cannot initialise %s: random or cipher failure", path);
		return CS_ERR;
	}
	if (begin(db))
		goto dberr;
	sqlite3_stmt *st = prep(db, "SELECT count(*) FROM sqlite_master");
	int64_t objects = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (objects != 0) {
		rollback(db);
		set_msg(err, errlen, "%s changed while it was being opened; try again", path);
		return CS_ERR;
	}
	if (exec(db, schema_sql))
		goto dberr;
	static const char *const keys[] = { "check", "fp_salt" };
	const uint8_t *vals[] = { check, salt };
	for (int i = 0; i < 2; i++) {
		st = prep(db, "INSERT INTO meta(k, v) VALUES (?, ?)");
		if (!st)
			goto dberr;
		sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, vals[i], SEALED32_LEN, SQLITE_STATIC);
		if (step_done(db, st))
			goto dberr;
	}
	st = prep(db, "INSERT INTO meta(k, v) VALUES ('schema', ?)");
	if (!st)
		goto dberr;
	sqlite3_bind_int(st, 1, SCHEMA_VERSION);
	if (step_done(db, st) || commit(db))
		goto dberr;
	return CS_OK;
dberr:
	set_msg(err, errlen, "cannot initialise %s: %s", path, sqlite3_errmsg(db));
	rollback(db);
	return CS_ERR;
}

static int set_pragmas(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(db, "PRAGMA journal_mode=WAL");
	const unsigned char *mode = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	int wal = mode && (!strcasecmp((const char *)mode, "wal") || !strcasecmp((const char *)mode, "memory"));
	sqlite3_finalize(st);
	/* secure_delete: freed cells (old ciphertext) are zeroed, not left behind */
	if (!wal || exec(db, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=OFF;"
			     " PRAGMA temp_store=MEMORY; PRAGMA trusted_schema=OFF;")) {
		set_msg(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(db));
		return CS_ERR;
	}
	return CS_OK;
}

int cs_open(const char *path, const uint8_t key[32], struct credstore **out, char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (out)
		*out = NULL;
	if (!path || !*path || !key || !out) {
		set_msg(err, errlen, "cs_open: path, key and out are required");
		return CS_INVALID;
	}
	int memdb = !strcmp(path, ":memory:");
	if (!memdb) {
		/* owner-only before sqlite creates it (it copies the mode to -wal/-shm) */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) < 0) {
			set_msg(err, errlen, "cannot open %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return CS_ERR;
		}
		close(fd);
		if (!S_ISREG(sb.st_mode)) {
			set_msg(err, errlen, "%s is not a regular file", path);
			return CS_ERR;
		}
		if (sb.st_mode & 077)
			log_warn("credstore: %s is accessible to group or others (mode %03o)", path,
				 (unsigned)(sb.st_mode & 0777));
	}
	struct credstore *cs = xcalloc(1, sizeof *cs);
	cs->sec = secmem_alloc(sizeof *cs->sec, &cs->sec_len);
	int v = 1;
	if (!memdb) {
		/* judge the key on a read-only connection first: a wrong key then
		 * cannot cause so much as a WAL checkpoint into the file */
		sqlite3 *ro = db_open(path, SQLITE_OPEN_READONLY, err, errlen);
		if (!ro) {
			v = CS_ERR;
			goto fail;
		}
		v = check_key(ro, path, key, cs->sec->fpkey, err, errlen);
		sqlite3_close(ro);
		if (v < 0)
			goto fail;
	}
	cs->db = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
	if (!cs->db) {
		v = CS_ERR;
		goto fail;
	}
	/* again on the writable handle: the file may have changed in between */
	v = check_key(cs->db, path, key, cs->sec->fpkey, err, errlen);
	if (v < 0)
		goto fail;
	if (set_pragmas(cs->db, path, err, errlen)) {
		v = CS_ERR;
		goto fail;
	}
	if (v == 1 && (v = init_db(cs->db, path, key, cs->sec->fpkey, err, errlen)) != CS_OK)
		goto fail;
	memcpy(cs->sec->key, key, 32);
	*out = cs;
	return CS_OK;
fail:
	cs_close(cs);
	return v;
}

void cs_close(struct credstore *cs)
{
	if (!cs)
		return;
	sqlite3_close(cs->db);
	secmem_free(cs->sec, cs->sec_len);
	free(cs);
}

/* ------------------------------------------------------------------ */
/* rows                                                                */

#define CRED_COLS                                                                   \
	"id, name, type, host_pattern, path_pattern, metadata_json, fingerprint, "   \
	"created_at, updated_at, last_used_at, nonce, ciphertext, rowid"
enum { K_ID, K_NAME, K_TYPE, K_HOST, K_PATH, K_META, K_FP, K_CREATED, K_UPDATED, K_USED, K_NONCE, K_CT, K_ROWID };

struct row {
	struct cs_cred c;
	uint8_t nonce[NONCE_LEN];
	uint8_t *ct;   /* ciphertext || tag, when asked for */
	size_t ctlen;
	int64_t rowid;
};

/* Current statement row into r; -1 when the stored row is malformed. */
static int row_read(sqlite3_stmt *st, struct row *r, int with_ct)
{
	memset(r, 0, sizeof *r);
	struct cs_cred *c = &r->c;
	if (col_text(st, K_ID, c->id, sizeof c->id) || col_text(st, K_NAME, c->name, sizeof c->name) ||
	    col_text(st, K_TYPE, c->type, sizeof c->type) ||
	    col_text(st, K_HOST, c->host_pattern, sizeof c->host_pattern) ||
	    col_text(st, K_PATH, c->path_pattern, sizeof c->path_pattern) ||
	    col_text(st, K_META, c->metadata_json, sizeof c->metadata_json) ||
	    col_text(st, K_FP, c->fingerprint, sizeof c->fingerprint) ||
	    !col_blob_n(st, K_NONCE, r->nonce, NONCE_LEN) || sqlite3_column_type(st, K_CT) != SQLITE_BLOB)
		return -1;
	c->created_at = sqlite3_column_int64(st, K_CREATED);
	c->updated_at = sqlite3_column_int64(st, K_UPDATED);
	c->last_used_at = sqlite3_column_int64(st, K_USED);
	r->rowid = sqlite3_column_int64(st, K_ROWID);
	const void *ct = sqlite3_column_blob(st, K_CT);
	int n = sqlite3_column_bytes(st, K_CT);
	if (!ct || n <= TAG_LEN || n > CS_SECRET_MAX + TAG_LEN)
		return -1;
	r->ctlen = (size_t)n;
	c->plain_len = (size_t)n - TAG_LEN;
	if (with_ct) {
		r->ct = xmalloc(r->ctlen);
		memcpy(r->ct, ct, r->ctlen);
	}
	return 0;
}

static void row_free(struct row *r)
{
	free(r->ct);
	r->ct = NULL;
}

/* By id or by name: CS_OK, CS_NOT_FOUND or CS_ERR (db error, malformed row). */
static int row_get(struct credstore *cs, int by_name, const char *v, struct row *r, int with_ct)
{
	sqlite3_stmt *st = prep(cs->db, by_name ? "SELECT " CRED_COLS " FROM credentials WHERE name = ?"
						: "SELECT " CRED_COLS " FROM credentials WHERE id = ?");
	r->ct = NULL;
	if (!st)
		return CS_ERR;
	sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), ret = CS_ERR;
	if (rc == SQLITE_DONE) {
		ret = CS_NOT_FOUND;
	} else if (rc == SQLITE_ROW) {
		ret = row_read(st, r, with_ct) ? CS_ERR : CS_OK;
		if (ret)
			log_warn("credstore: a stored credential record is malformed");
	} else {
		log_warn("credstore: read failed: %s", sqlite3_errmsg(cs->db));
	}
	sqlite3_finalize(st);
	if (ret)
		row_free(r);
	return ret;
}

int cs_get(struct credstore *cs, const char *id, struct cs_cred *out)
{
	if (!cs || !out)
		return CS_INVALID;
	memset(out, 0, sizeof *out);
	if (!valid_id(id))
		return CS_NOT_FOUND;
	struct row r;
	int rc = row_get(cs, 0, id, &r, 0);
	if (rc == CS_OK)
		*out = r.c;
	return rc;
}

int cs_count(struct credstore *cs)
{
	if (!cs)
		return -1;
	sqlite3_stmt *st = prep(cs->db, "SELECT count(*) FROM credentials");
	int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

/* ------------------------------------------------------------------ */
/* create / update / delete                                            */

/* Seal plain for row (id, name): fresh nonce, ct = plen + TAG_LEN bytes. */
static int seal_secret(struct credstore *cs, const char *id, const char *name, const uint8_t *plain,
		       size_t plen, uint8_t nonce[NONCE_LEN], uint8_t *ct, char fp[17])
{
	uint8_t aad[AAD_MAX];
	size_t alen = cred_aad(id, name, aad);
	if (RAND_bytes(nonce, NONCE_LEN) != 1 || gcm_seal(cs->sec->key, nonce, aad, alen, plain, plen, ct))
		return -1;
	return fingerprint(cs->sec->fpkey, plain, plen, fp);
}

int cs_create(struct credstore *cs, const struct cs_cred *in, const uint8_t *plain, size_t plen,
	      struct cs_cred *out, char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (out)
		memset(out, 0, sizeof *out);
	if (!cs || !in) {
		set_msg(err, errlen, "cs_create: no store or no input");
		return CS_INVALID;
	}
	static const struct { size_t off, cap; const char *what; } fields[] = {
		{ offsetof(struct cs_cred, name), sizeof in->name, "name" },
		{ offsetof(struct cs_cred, type), sizeof in->type, "type" },
		{ offsetof(struct cs_cred, host_pattern), sizeof in->host_pattern, "host_pattern" },
		{ offsetof(struct cs_cred, path_pattern), sizeof in->path_pattern, "path_pattern" },
		{ offsetof(struct cs_cred, metadata_json), sizeof in->metadata_json, "metadata_json" },
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		if (!terminated((const char *)in + fields[i].off, fields[i].cap)) {
			set_msg(err, errlen, "%s: too long", fields[i].what);
			return CS_INVALID;
		}
	char host[256], path[512], meta[CS_METADATA_MAX + 1];
	if (check_name(in->name, err, errlen))
		return CS_INVALID;
	if (!valid_type(in->type)) {
		set_msg(err, errlen, "type: must be one of login, cookie, api_key, oauth, ssh");
		return CS_INVALID;
	}
	if (norm_host_pattern(in->host_pattern, host, err, errlen) ||
	    norm_path_pattern(in->path_pattern, path, err, errlen) ||
	    norm_metadata(in->metadata_json, meta, err, errlen) ||
	    check_secret(in->type, plain, plen, err, errlen))
		return CS_INVALID;

	char id[40], fp[17];
	uint8_t nonce[NONCE_LEN];
	uint8_t *ct = xmalloc(plen + TAG_LEN);
	int ret = CS_ERR;
	sqlite3_stmt *st = NULL;
	if (new_id(id) || seal_secret(cs, id, in->name, plain, plen, nonce, ct, fp)) {
		set_msg(err, errlen, "random or cipher failure");
		goto out;
	}
	if (begin(cs->db))
		goto dberr;
	st = prep(cs->db, "SELECT 1 FROM credentials WHERE name = ?");
	if (!st)
		goto dberr;
	sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_ROW) {
		set_msg(err, errlen, "name: a credential named %s already exists", in->name);
		ret = CS_EXISTS;
		goto out;
	}
	if (rc != SQLITE_DONE)
		goto dberr;
	st = prep(cs->db, "INSERT INTO credentials (id, name, type, host_pattern, path_pattern,"
			  " metadata_json, nonce, ciphertext, fingerprint, created_at, updated_at,"
			  " last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)");
	if (!st)
		goto dberr;
	int64_t now = now_unix();
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, in->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, meta, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, nonce, NONCE_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, ct, (int)(plen + TAG_LEN), SQLITE_STATIC);
	sqlite3_bind_text(st, 9, fp, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_int64(st, 11, now);
	rc = step_done(cs->db, st);
	st = NULL;
	if (rc || commit(cs->db))
		goto dberr;
	ret = out ? cs_get(cs, id, out) : CS_OK;
	goto out;
dberr:
	set_msg(err, errlen, "database error: %s", sqlite3_errmsg(cs->db));
out:
	sqlite3_finalize(st);
	if (ret != CS_OK)
		rollback(cs->db);
	free(ct);
	return ret;
}

int cs_update(struct credstore *cs, const char *id, const char *host_pattern, const char *path_pattern,
	      const char *metadata_json, const uint8_t *plain, size_t plen, struct cs_cred *out,
	      char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (out)
		memset(out, 0, sizeof *out);
	if (!cs)
		return CS_INVALID;
	if (!valid_id(id))
		return CS_NOT_FOUND;
	char host[256], path[512], meta[CS_METADATA_MAX + 1];
	if ((host_pattern && norm_host_pattern(host_pattern, host, err, errlen)) ||
	    (path_pattern && norm_path_pattern(path_pattern, path, err, errlen)) ||
	    (metadata_json && norm_metadata(metadata_json, meta, err, errlen)))
		return CS_INVALID;
	if (!host_pattern && !path_pattern && !metadata_json && !plain)
		return out ? cs_get(cs, id, out) : CS_OK;

	struct row r;
	uint8_t nonce[NONCE_LEN];
	uint8_t *ct = NULL;
	char fp[17];
	int ret = CS_ERR;
	if (begin(cs->db))
		goto dberr;
	if ((ret = row_get(cs, 0, id, &r, 0)) != CS_OK) {
		if (ret == CS_ERR)
			set_msg(err, errlen, "the stored record is damaged or unreadable");
		goto out;
	}
	if (plain) {
		if (check_secret(r.c.type, plain, plen, err, errlen)) {
			ret = CS_INVALID;
			goto out;
		}
		ct = xmalloc(plen + TAG_LEN);
		if (seal_secret(cs, r.c.id, r.c.name, plain, plen, nonce, ct, fp)) {
			set_msg(err, errlen, "random or cipher failure");
			ret = CS_ERR;
			goto out;
		}
	}
	sqlite3_stmt *st = prep(cs->db, "UPDATE credentials SET host_pattern = coalesce(?1, host_pattern),"
					" path_pattern = coalesce(?2, path_pattern),"
					" metadata_json = coalesce(?3, metadata_json),"
					" nonce = coalesce(?4, nonce), ciphertext = coalesce(?5, ciphertext),"
					" fingerprint = coalesce(?6, fingerprint), updated_at = ?7 WHERE id = ?8");
	if (!st)
		goto dberr;
	if (host_pattern)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	if (path_pattern)
		sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	if (metadata_json)
		sqlite3_bind_text(st, 3, meta, -1, SQLITE_STATIC);
	if (plain) {
		sqlite3_bind_blob(st, 4, nonce, NONCE_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, ct, (int)(plen + TAG_LEN), SQLITE_STATIC);
		sqlite3_bind_text(st, 6, fp, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 7, now_unix());
	sqlite3_bind_text(st, 8, id, -1, SQLITE_STATIC);
	if (step_done(cs->db, st) || commit(cs->db))
		goto dberr;
	if (plain)
		wal_flush(cs); /* the old ciphertext must not outlive the rotation */
	ret = out ? cs_get(cs, id, out) : CS_OK;
	goto out;
dberr:
	ret = CS_ERR;
	set_msg(err, errlen, "database error: %s", sqlite3_errmsg(cs->db));
out:
	rollback(cs->db);
	free(ct);
	return ret;
}

int cs_delete(struct credstore *cs, const char *id)
{
	if (!cs)
		return CS_INVALID;
	if (!valid_id(id))
		return CS_NOT_FOUND;
	if (begin(cs->db))
		return CS_ERR;
	sqlite3_stmt *st = prep(cs->db, "DELETE FROM credentials WHERE id = ?");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (step_done(cs->db, st))
		goto fail;
	if (sqlite3_changes(cs->db) == 0) {
		rollback(cs->db);
		return CS_NOT_FOUND;
	}
	st = prep(cs->db, "DELETE FROM credential_acl WHERE credential_id = ?");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (step_done(cs->db, st) || commit(cs->db))
		goto fail;
	wal_flush(cs);
	return CS_OK;
fail:
	rollback(cs->db);
	return CS_ERR;
}

/* ------------------------------------------------------------------ */
/* JSON views                                                          */

/* ISO-8601 UTC; with ms >= 0 a ".mmm" fraction.  -1 when out of range. */
static int fmt_time(int64_t sec, int ms, char out[40])
{
	time_t t = (time_t)sec;
	struct tm tm;
	if ((int64_t)t != sec || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		return -1;
	if (ms >= 0)
		snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	else
		snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static json_t *jtime(int64_t sec)
{
	char b[40];
	return fmt_time(sec, -1, b) ? json_null() : json_string(b);
}

static json_t *jtime_ms(int64_t ms)
{
	int64_t sec = ms / 1000, rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		sec--;
	}
	char b[40];
	return fmt_time(sec, (int)rem, b) ? json_null() : json_string(b);
}

/* A caller's struct field: bounded by its array even when unterminated. */
#define JFIELD(c, f) jstrn((c)->f, strnlen((c)->f, sizeof (c)->f))

json_t *cs_cred_json(const struct cs_cred *c)
{
	if (!c)
		return NULL;
	json_t *o = jchk(json_object());
	oset(o, "id", JFIELD(c, id));
	oset(o, "name", JFIELD(c, name));
	oset(o, "type", JFIELD(c, type));
	oset(o, "host_pattern", JFIELD(c, host_pattern));
	oset(o, "path_pattern", JFIELD(c, path_pattern));
	json_t *m = json_loadb(c->metadata_json, strnlen(c->metadata_json, sizeof c->metadata_json), 0, NULL);
	if (m && !json_is_object(m)) {
		json_decref(m);
		m = NULL;
	}
	oset(o, "metadata", m ? m : json_object());
	oset(o, "fingerprint", JFIELD(c, fingerprint));
	oset(o, "created_at", jtime(c->created_at));
	oset(o, "updated_at", jtime(c->updated_at));
	oset(o, "last_used_at", c->last_used_at ? jtime(c->last_used_at) : json_null());
	return o;
}

json_t *cs_list(struct credstore *cs)
{
	if (!cs)
		return NULL;
	sqlite3_stmt *st = prep(cs->db, "SELECT " CRED_COLS " FROM credentials ORDER BY name");
	if (!st)
		return NULL;
	json_t *arr = jchk(json_array());
	struct row r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (row_read(st, &r, 0)) {
			log_warn("credstore: skipping a malformed credential record in the listing");
			continue;
		}
		apush(arr, cs_cred_json(&r.c));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warn("credstore: list failed: %s", sqlite3_errmsg(cs->db));
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* ------------------------------------------------------------------ */
/* ACL                                                                 */

static int cred_exists(struct credstore *cs, const char *id)
{
	if (!valid_id(id))
		return 0;
	sqlite3_stmt *st = prep(cs->db, "SELECT 1 FROM credentials WHERE id = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int cs_grant(struct credstore *cs, const char *id, const char *subject, const char *client,
	     char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (!cs)
		return CS_INVALID;
	char subj[129], cli[129];
	if (check_actor(subject, 0, subj, err, errlen) || check_actor(client, 1, cli, err, errlen))
		return CS_INVALID;
	if (begin(cs->db))
		return CS_ERR;
	int e = cred_exists(cs, id);
	if (e <= 0) {
		rollback(cs->db);
		if (e == 0)
			set_msg(err, errlen, "no credential %s", valid_id(id) ? id : "with that id");
		return e == 0 ? CS_NOT_FOUND : CS_ERR;
	}
	sqlite3_stmt *st = prep(cs->db, "INSERT OR IGNORE INTO credential_acl (credential_id,"
					" actor_subject, actor_client, created_at) VALUES (?, ?, ?, ?)");
	if (!st) {
		rollback(cs->db);
		return CS_ERR;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subj, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cli, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_unix());
	if (step_done(cs->db, st) || commit(cs->db)) {
		set_msg(err, errlen, "database error: %s", sqlite3_errmsg(cs->db));
		rollback(cs->db);
		return CS_ERR;
	}
	return CS_OK;
}

int cs_revoke(struct credstore *cs, const char *id, const char *subject)
{
	if (!cs || !subject)
		return CS_INVALID;
	if (!valid_id(id))
		return CS_NOT_FOUND;
	sqlite3_stmt *st = prep(cs->db, "DELETE FROM credential_acl WHERE credential_id = ? AND actor_subject = ?");
	if (!st)
		return CS_ERR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	if (step_done(cs->db, st))
		return CS_ERR;
	return sqlite3_changes(cs->db) ? CS_OK : CS_NOT_FOUND;
}

json_t *cs_grants(struct credstore *cs, const char *id)
{
	if (!cs || cred_exists(cs, id) != 1)
		return NULL;
	sqlite3_stmt *st = prep(cs->db, "SELECT actor_subject, actor_client, created_at FROM credential_acl"
					" WHERE credential_id = ? ORDER BY actor_subject, actor_client");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	json_t *arr = jchk(json_array());
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = jchk(json_object());
		oset(o, "actor_subject", col_json_text(st, 0));
		oset(o, "actor_client", col_json_text(st, 1));
		oset(o, "created_at", jtime(sqlite3_column_int64(st, 2)));
		apush(arr, o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* 1 when a grant admits (subject, client), 0 when none, -1 on a db error.
 * The most specific grant is described in how[]. */
static int acl_admits(struct credstore *cs, const char *id, const char *subject, const char *client,
		      char *how, size_t hlen)
{
	if (!*subject)
		return 0;
	sqlite3_stmt *st = prep(cs->db, "SELECT actor_subject, actor_client FROM credential_acl"
					" WHERE credential_id = ?1 AND (actor_subject = ?2 OR actor_subject = '*')"
					" AND (actor_client = ?3 OR actor_client = '')"
					" ORDER BY actor_subject = '*', actor_client = '' LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, client, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	if (ret == 1) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		const char *c = (const char *)sqlite3_column_text(st, 1);
		snprintf(how, hlen, "granted to %s%s%s", s ? s : "?", c && *c ? " via " : "", c && *c ? c : "");
	}
	sqlite3_finalize(st);
	return ret;
}

/* ------------------------------------------------------------------ */
/* usage log + resolution                                              */

struct caller {
	const char *subject, *client;       /* raw, for matching ("" when NULL) */
	const char *host, *path;            /* raw target; path "/" when NULL */
	char lsubject[LOG_FIELD_MAX], lclient[LOG_FIELD_MAX], lpurpose[LOG_FIELD_MAX];
	char lhost[LOG_FIELD_MAX], lpath[LOG_FIELD_MAX];
	int has_host;
	char reason[REASON_MAX];
	int logged, dberr;
	size_t released;                    /* bytes of out holding a secret */
};

/* Printable-ASCII copy for the log (others become '?'); strip drops a
 * path's query and fragment, which may carry tokens. */
static void clean(char *dst, size_t cap, const char *src, int strip)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p && o + 1 < cap; p++) {
		if (strip && (*p == '?' || *p == '#'))
			break;
		dst[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
	}
	dst[o] = '\0';
}

static void caller_init(struct caller *k, const char *subject, const char *client, const char *host,
			const char *path, const char *purpose)
{
	memset(k, 0, sizeof *k);
	k->subject = subject ? subject : "";
	k->client = client ? client : "";
	k->host = host;
	k->path = path ? path : "/";
	k->has_host = host != NULL;
	clean(k->lsubject, sizeof k->lsubject, k->subject, 0);
	clean(k->lclient, sizeof k->lclient, k->client, 0);
	clean(k->lpurpose, sizeof k->lpurpose, purpose, 0);
	clean(k->lhost, sizeof k->lhost, host, 0);
	clean(k->lpath, sizeof k->lpath, k->path, 1);
}

__attribute__((format(printf, 2, 3)))
static void why(struct caller *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->reason, sizeof k->reason, fmt, ap);
	va_end(ap);
}

static int log_usage(struct credstore *cs, struct caller *k, const char *cid, const char *cname,
		     const char *result)
{
	sqlite3_stmt *st = prep(cs->db, "INSERT INTO credential_usage_log (ts_ms, credential_id,"
					" credential_name, actor_subject, actor_client, host, path, purpose,"
					" result, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st) {
		k->dberr = 1;
		return -1;
	}
	sqlite3_bind_int64(st, 1, now_unix_ms());
	sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->lsubject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, k->lclient, -1, SQLITE_STATIC);
	if (k->has_host)
		sqlite3_bind_text(st, 6, k->lhost, -1, SQLITE_STATIC);
	if (k->has_host)
		sqlite3_bind_text(st, 7, k->lpath, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, k->lpurpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, k->reason, -1, SQLITE_STATIC);
	if (step_done(cs->db, st)) {
		k->dberr = 1;
		return -1;
	}
	k->logged = 1;
	return 0;
}

/* A target host is a DNS name of [A-Za-z0-9._-] or a bracketed IPv6
 * literal.  Anything else ("evil.com#.example.com") could be made to end
 * in a pattern's suffix, so it matches nothing. */
static int host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n < 1 || n > 253)
		return 0;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return 0;
		for (size_t i = 1; i + 1 < n; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h[i]))
				return 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)h[i]) && !strchr("._-", h[i]))
			return 0;
	return 1;
}

/* 1 when the path (before '?' or '#') has a "." or ".." segment, also
 * percent-encoded: "/api/../admin" must not pass for "/api". */
static int has_dot_segment(const char *p)
{
	while (*p && *p != '?' && *p != '#') {
		if (*p++ != '/')
			continue;
		int dots = 0, other = 0;
		while (*p && *p != '/' && *p != '?' && *p != '#') {
			if (*p == '.') {
				dots++;
				p++;
			} else if (p[0] == '%' && p[1] == '2' && (p[2] == 'e' || p[2] == 'E')) {
				dots++;
				p += 3;
			} else {
				other = 1;
				p++;
			}
		}
		if (!other && (dots == 1 || dots == 2))
			return 1;
	}
	return 0;
}

/* Is the credential's pattern pair good for the caller's target? */
static int target_ok(const struct cs_cred *c, const struct caller *k)
{
	size_t pl = strlen(c->path_pattern);
	if (!host_ok(k->host) || !glob_host_match(c->host_pattern, k->host))
		return 0;
	if (strncmp(k->path, c->path_pattern, pl))
		return 0;
	return pl <= 1 || !has_dot_segment(k->path);
}

/* Decrypt r into out, log allowed and stamp last_used_at (all inside the
 * caller's transaction).  Any failure is logged as denied. */
static int release(struct credstore *cs, struct caller *k, struct row *r, uint8_t *out, size_t cap,
		   size_t *outlen, struct cs_cred *meta)
{
	if (!out || cap < r->c.plain_len) {
		why(k, "output buffer too small for the secret");
		log_usage(cs, k, r->c.id, r->c.name, "denied");
		return CS_ERR;
	}
	uint8_t aad[AAD_MAX];
	size_t alen = cred_aad(r->c.id, r->c.name, aad);
	if (gcm_open(cs->sec->key, r->nonce, aad, alen, r->ct, r->ctlen, out)) {
		log_warn("credstore: credential %s failed authentication (tampered or damaged)", r->c.id);
		why(k, "stored secret failed authentication (tampered or damaged)");
		log_usage(cs, k, r->c.id, r->c.name, "denied");
		return CS_ERR;
	}
	k->released = r->c.plain_len;
	int64_t now = now_unix();
	if (log_usage(cs, k, r->c.id, r->c.name, "allowed"))
		return CS_ERR;
	sqlite3_stmt *st = prep(cs->db, "UPDATE credentials SET last_used_at = ? WHERE id = ?");
	if (!st) {
		k->dberr = 1;
		return CS_ERR;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, r->c.id, -1, SQLITE_STATIC);
	if (step_done(cs->db, st)) {
		k->dberr = 1;
		return CS_ERR;
	}
	*outlen = r->c.plain_len;
	r->c.last_used_at = now;
	if (meta)
		*meta = r->c;
	return CS_OK;
}

/* Commit the resolution; on any failure wipe what was released, and make
 * sure one usage row is written even if the transaction was lost. */
static int resolve_end(struct credstore *cs, struct caller *k, int rc, uint8_t *out, size_t *outlen,
		       struct cs_cred *meta, char *reason, size_t rlen)
{
	if (k->dberr || commit(cs->db)) {
		rollback(cs->db);
		rc = CS_ERR;
		k->logged = 0;
		k->dberr = 0;
		why(k, "internal error: %s", sqlite3_errmsg(cs->db));
	}
	if (rc != CS_OK) {
		if (k->released)
			explicit_bzero(out, k->released);
		*outlen = 0;
		if (meta)
			memset(meta, 0, sizeof *meta);
	}
	if (!k->logged)
		log_usage(cs, k, "", "", "denied");
	if (reason && rlen)
		snprintf(reason, rlen, "%s", k->reason);
	return rc;
}

static int resolve_name_txn(struct credstore *cs, struct caller *k, const char *name, uint8_t *out,
			    size_t cap, size_t *outlen, struct cs_cred *meta)
{
	char lname[LOG_FIELD_MAX];
	clean(lname, sizeof lname, name, 0);
	struct row r;
	int rc = row_get(cs, 1, name ? name : "", &r, 1);
	if (rc == CS_NOT_FOUND) {
		why(k, "no credential named %s", lname);
		log_usage(cs, k, "", lname, "no_match");
		return CS_NO_MATCH;
	}
	if (rc != CS_OK) {
		why(k, "credential %s is damaged or unreadable", lname);
		log_usage(cs, k, "", lname, "denied");
		return CS_ERR;
	}
	char how[REASON_MAX];
	int admit = acl_admits(cs, r.c.id, k->subject, k->client, how, sizeof how);
	if (admit < 0) {
		k->dberr = 1;
		rc = CS_ERR;
	} else if (!admit) {
		why(k, "no grant for %s", *k->lsubject ? k->lsubject : "(no subject)");
		log_usage(cs, k, r.c.id, r.c.name, "denied");
		rc = CS_DENIED;
	} else if (k->has_host && !target_ok(&r.c, k)) {
		if (host_ok(k->host) && glob_host_match(r.c.host_pattern, k->host))
			why(k, "credential is for %s%s, not %s%s", r.c.host_pattern, r.c.path_pattern,
			    k->lhost, k->lpath);
		else
			why(k, "credential is for %s, not %s", r.c.host_pattern, k->lhost);
		log_usage(cs, k, r.c.id, r.c.name, "denied");
		rc = CS_DENIED;
	} else {
		why(k, "%s", how);
		rc = release(cs, k, &r, out, cap, outlen, meta);
	}
	row_free(&r);
	return rc;
}

int cs_resolve_name(struct credstore *cs, const char *name, const char *subject, const char *client,
		    const char *host, const char *path, const char *purpose, uint8_t *out, size_t cap,
		    size_t *outlen, struct cs_cred *meta, char *reason, size_t rlen)
{
	size_t dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	if (meta)
		memset(meta, 0, sizeof *meta);
	if (reason && rlen)
		reason[0] = '\0';
	if (!cs)
		return CS_INVALID;
	struct caller *k = xmalloc(sizeof *k);
	caller_init(k, subject, client, host, path, purpose);
	int rc = CS_ERR;
	if (begin(cs->db))
		k->dberr = 1;
	else
		rc = resolve_name_txn(cs, k, name, out, cap, outlen, meta);
	rc = resolve_end(cs, k, rc, out, outlen, meta, reason, rlen);
	free(k);
	return rc;
}

struct cand {
	char id[40], name[129];
	unsigned wild;
	size_t literal, pplen; /* host chars other than '*'; path_pattern length */
	int64_t created, rowid;
};

/* Literal before wildcard, fewer '*', more literal host characters (so
 * "*.example.com" beats "*"), longer path, older, inserted first. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->wild != y->wild)
		return x->wild < y->wild ? -1 : 1;
	if (x->literal != y->literal)
		return x->literal > y->literal ? -1 : 1;
	if (x->pplen != y->pplen)
		return x->pplen > y->pplen ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

static int resolve_host_txn(struct credstore *cs, struct caller *k, const char *type, uint8_t *out,
			    size_t cap, size_t *outlen, struct cs_cred *meta)
{
	char ltype[32];
	clean(ltype, sizeof ltype, type, 0);
	if (!valid_type(type) || !k->host || !host_ok(k->host)) {
		why(k, !valid_type(type) ? "unknown credential type %s" : "no usable target host (%s)",
		    !valid_type(type) ? ltype : k->lhost);
		log_usage(cs, k, "", "", "no_match");
		return CS_NO_MATCH;
	}
	sqlite3_stmt *st = prep(cs->db, "SELECT " CRED_COLS " FROM credentials WHERE type = ?");
	if (!st) {
		k->dberr = 1;
		return CS_ERR;
	}
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	struct cand *cv = NULL;
	size_t n = 0, capn = 0;
	struct row r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (row_read(st, &r, 0)) {
			log_warn("credstore: skipping a malformed credential record");
			continue;
		}
		if (!target_ok(&r.c, k))
			continue;
		if (n == capn) {
			capn = capn ? capn * 2 : 16;
			cv = xrealloc(cv, capn * sizeof *cv);
		}
		struct cand *c = &cv[n++];
		memcpy(c->id, r.c.id, sizeof c->id);
		memcpy(c->name, r.c.name, sizeof c->name);
		c->wild = glob_wildcards(r.c.host_pattern);
		c->literal = strlen(r.c.host_pattern) - c->wild;
		c->pplen = strlen(r.c.path_pattern);
		c->created = r.c.created_at;
		c->rowid = r.rowid;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(cv);
		k->dberr = 1;
		return CS_ERR;
	}
	if (n == 0) {
		why(k, "no %s credential for %s%s", ltype, k->lhost, k->lpath);
		log_usage(cs, k, "", "", "no_match");
		return CS_NO_MATCH;
	}
	qsort(cv, n, sizeof *cv, cand_cmp);
	char how[REASON_MAX];
	rc = CS_DENIED;
	size_t i;
	for (i = 0; i < n; i++) {
		int admit = acl_admits(cs, cv[i].id, k->subject, k->client, how, sizeof how);
		if (admit < 0) {
			k->dberr = 1;
			rc = CS_ERR;
			break;
		}
		if (admit)
			break;
	}
	if (rc == CS_ERR) {
		/* db error: resolve_end logs */
	} else if (i == n) {
		why(k, "no grant for %s", *k->lsubject ? k->lsubject : "(no subject)");
		log_usage(cs, k, cv[0].id, cv[0].name, "denied");
	} else if ((rc = row_get(cs, 0, cv[i].id, &r, 1)) != CS_OK) {
		why(k, "credential %s is damaged or unreadable", cv[i].name);
		log_usage(cs, k, cv[i].id, cv[i].name, "denied");
		rc = CS_ERR;
	} else {
		why(k, "%s", how);
		rc = release(cs, k, &r, out, cap, outlen, meta);
		row_free(&r);
	}
	free(cv);
	return rc;
}

int cs_has_target(struct credstore *cs, const char *type, const char *host, const char *path)
{
	if (!cs || !host || !valid_type(type) || !host_ok(host))
		return 0;
	struct caller *k = xmalloc(sizeof *k);
	caller_init(k, "", "", host, path, "");
	sqlite3_stmt *st = prep(cs->db, "SELECT " CRED_COLS " FROM credentials WHERE type = ?");
	int any = 0;
	if (st) {
		sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
		struct row r;
		while (!any && sqlite3_step(st) == SQLITE_ROW)
			any = row_read(st, &r, 0) == 0 && target_ok(&r.c, k);
		sqlite3_finalize(st);
	}
	free(k);
	return any;
}

int cs_resolve_host(struct credstore *cs, const char *type, const char *host, const char *path,
		    const char *subject, const char *client, const char *purpose, uint8_t *out, size_t cap,
		    size_t *outlen, struct cs_cred *meta, char *reason, size_t rlen)
{
	size_t dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	if (meta)
		memset(meta, 0, sizeof *meta);
	if (reason && rlen)
		reason[0] = '\0';
	if (!cs)
		return CS_INVALID;
	struct caller *k = xmalloc(sizeof *k);
	caller_init(k, subject, client, host ? host : "", path, purpose);
	int rc = CS_ERR;
	if (begin(cs->db))
		k->dberr = 1;
	else
		rc = resolve_host_txn(cs, k, type, out, cap, outlen, meta);
	rc = resolve_end(cs, k, rc, out, outlen, meta, reason, rlen);
	free(k);
	return rc;
}

json_t *cs_usage(struct credstore *cs, const char *id, int limit)
{
	if (!cs)
		return NULL;
	sqlite3_stmt *st = prep(cs->db, id ? "SELECT ts_ms, credential_id, credential_name, actor_subject,"
					     " actor_client, host, path, purpose, result, reason FROM"
					     " credential_usage_log WHERE credential_id = ?1"
					     " ORDER BY id DESC LIMIT ?2"
					   : "SELECT ts_ms, credential_id, credential_name, actor_subject,"
					     " actor_client, host, path, purpose, result, reason FROM"
					     " credential_usage_log ORDER BY id DESC LIMIT ?2");
	if (!st)
		return NULL;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit <= 0 ? 100 : limit > 1000 ? 1000 : limit);
	static const char *const names[] = {
		"credential_id", "credential_name", "actor_subject", "actor_client",
		"host", "path", "purpose", "result", "reason",
	};
	json_t *arr = jchk(json_array());
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = jchk(json_object());
		oset(o, "ts", jtime_ms(sqlite3_column_int64(st, 0)));
		for (int i = 0; i < 9; i++)
			oset(o, names[i], col_json_text(st, i + 1));
		apush(arr, o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warn("credstore: usage query failed: %s", sqlite3_errmsg(cs->db));
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* ------------------------------------------------------------------ */
/* rekey                                                               */

static int meta_put(sqlite3 *db, const char *k, const uint8_t v[SEALED32_LEN])
{
	sqlite3_stmt *st = prep(db, "UPDATE meta SET v = ? WHERE k = ?");
	if (!st)
		return -1;
	sqlite3_bind_blob(st, 1, v, SEALED32_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k, -1, SQLITE_STATIC);
	return step_done(db, st) || sqlite3_changes(db) != 1 ? -1 : 0;
}

int cs_rekey(struct credstore *cs, const uint8_t newkey[32], char *err, size_t errlen)
{
	set_msg(err, errlen, "%s", "");
	if (!cs || !newkey) {
		set_msg(err, errlen, "cs_rekey: no store or no key");
		return CS_INVALID;
	}
	static const uint8_t zero[32];
	const size_t scratch_len = CS_SECRET_MAX + TAG_LEN;
	size_t plain_len;
	uint8_t *plain = secmem_alloc(scratch_len, &plain_len);
	uint8_t *ct = xmalloc(scratch_len);
	char (*ids)[40] = NULL;
	size_t n = 0, capn = 0;
	int ret = CS_ERR;
	if (begin(cs->db))
		goto dberr;
	sqlite3_stmt *st = prep(cs->db, "SELECT id FROM credentials ORDER BY rowid");
	if (!st)
		goto dberr;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == capn) {
			capn = capn ? capn * 2 : 64;
			ids = xrealloc(ids, capn * sizeof *ids);
		}
		if (col_text(st, 0, ids[n], sizeof *ids)) {
			sqlite3_finalize(st);
			set_msg(err, errlen, "a credential id is malformed; nothing was changed");
			goto out;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto dberr;
	for (size_t i = 0; i < n; i++) {
		struct row r;
		uint8_t aad[AAD_MAX], nonce[NONCE_LEN];
		if (row_get(cs, 0, ids[i], &r, 1) != CS_OK) {
			set_msg(err, errlen, "credential %s is unreadable; nothing was changed", ids[i]);
			goto out;
		}
		size_t alen = cred_aad(r.c.id, r.c.name, aad), len = r.c.plain_len;
		if (gcm_open(cs->sec->key, r.nonce, aad, alen, r.ct, r.ctlen, plain)) {
			set_msg(err, errlen, "credential %s (%s) does not decrypt; nothing was changed",
			       r.c.name, r.c.id);
			row_free(&r);
			goto out;
		}
		int sealed = RAND_bytes(nonce, NONCE_LEN) == 1 &&
			     !gcm_seal(newkey, nonce, aad, alen, plain, len, ct);
		explicit_bzero(plain, len);
		row_free(&r);
		if (!sealed) {
			set_msg(err, errlen, "random or cipher failure; nothing was changed");
			goto out;
		}
		st = prep(cs->db, "UPDATE credentials SET nonce = ?, ciphertext = ? WHERE id = ?");
		if (!st)
			goto dberr;
		sqlite3_bind_blob(st, 1, nonce, NONCE_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, ct, (int)(len + TAG_LEN), SQLITE_STATIC);
		sqlite3_bind_text(st, 3, ids[i], -1, SQLITE_STATIC);
		if (step_done(cs->db, st))
			goto dberr;
	}
	uint8_t check[SEALED32_LEN], salt[SEALED32_LEN];
	if (seal32(newkey, AAD_CHECK, zero, check) || seal32(newkey, AAD_FPKEY, cs->sec->fpkey, salt)) {
		set_msg(err, errlen, "random or cipher failure; nothing was changed");
		goto out;
	}
	if (meta_put(cs->db, "check", check) || meta_put(cs->db, "fp_salt", salt) || commit(cs->db))
		goto dberr;
	memcpy(cs->sec->key, newkey, 32);
	wal_flush(cs); /* no frame sealed under the old key stays behind */
	ret = CS_OK;
	goto out;
dberr:
	set_msg(err, errlen, "database error: %s; nothing was changed", sqlite3_errmsg(cs->db));
out:
	if (ret != CS_OK)
		rollback(cs->db);
	secmem_free(plain, plain_len);
	free(ct);
	free(ids);
	return ret;
}
