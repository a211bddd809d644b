/* Tamper-evident audit log: SQLite storage, SHA-256 hash chain, Ed25519
 * signed head, offline verification and payload redaction.
 * See docs/audit-log.md for the format. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr, mkdtemp */
#endif
#include "workers/store/auditdb.h"
#include "common/utf8.h"
#include "common/util.h"
#include "common/log.h"
#include "common/sqlutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define HASH_DOMAIN "helmdeck-audit-v1"
#define HEAD_DOMAIN "helmdeck-audit-head-v1"
#define HEAD_DOMAIN_LEN (sizeof HEAD_DOMAIN - 1)
#define HEAD_MSG_LEN (HEAD_DOMAIN_LEN + 8 + 32)

#define MAX_FIELD_BYTES 16384          /* per text field, after sanitizing */
#define MAX_PAYLOAD_BYTES (1024 * 1024) /* serialized, after redaction */
#define MAX_REDACT_DEPTH 128
#define MAX_PUBKEYS 64
#define BUSY_TIMEOUT_MS 5000

/* Text columns in hash order; SELECT_COLS lists them at indexes 2..11. */
#define NTEXT 10
static const char *const text_cols[NTEXT] = {
	"actor", "client", "event_type", "method", "path",
	"session_id", "pack", "outcome", "error_code", "payload",
};
#define SELECT_COLS                                                           \
	"seq, ts_ms, actor, client, event_type, method, path, session_id, pack, " \
	"outcome, error_code, payload, status, duration_ms, prev_hash, hash"
enum { C_SEQ = 0, C_TS = 1, C_TEXT0 = 2, C_STATUS = 12, C_DUR = 13, C_PREV = 14, C_HASH = 15 };

static const uint8_t zero_hash[32];

/* ------------------------------------------------------------------ */
/* small sqlite helpers                                                */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) { return sql_prep(db, "auditdb", sql); }
static int exec(sqlite3 *db, const char *sql) { return sql_exec(db, "auditdb", sql); }
static void rollback(sqlite3 *db) { sql_rollback(db); }

/* 1 when column i is a BLOB of exactly n bytes (copied to out if non-NULL). */
static int col_blob_n(sqlite3_stmt *st, int i, uint8_t *out, int n)
{
	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return 0;
	const void *p = sqlite3_column_blob(st, i);
	if (sqlite3_column_bytes(st, i) != n || !p)
		return 0;
	if (out)
		memcpy(out, p, (size_t)n);
	return 1;
}

/* ------------------------------------------------------------------ */
/* canonical record hash                                               */

struct fieldval {
	int present;
	const unsigned char *p;
	size_t n;
};

struct hasher {
	EVP_MD_CTX *ctx;
	int err;
};

static void h_bytes(struct hasher *h, const void *p, size_t n)
{
	if (!h->err && n && EVP_DigestUpdate(h->ctx, p, n) != 1)
		h->err = 1;
}

static void h_u32(struct hasher *h, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	h_bytes(h, b, 4);
}

static void be64(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static void h_i64(struct hasher *h, int64_t v)
{
	uint8_t b[8];
	be64(b, (uint64_t)v);
	h_bytes(h, b, 8);
}

static void h_str(struct hasher *h, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		h->err = 1;
		return;
	}
	h_u32(h, (uint32_t)n);
	h_bytes(h, p, n);
}

/* SHA-256( u32len "helmdeck-audit-v1" || be64 seq || be64 ts_ms ||
 *          for each text field: 0x00 | 0x01 u32len bytes ||
 *          be64 status || be64 duration_ms || prev_hash[32] ) */
static int record_hash(int64_t seq, int64_t ts_ms, const struct fieldval f[NTEXT],
		       int64_t status, int64_t duration_ms, const uint8_t prev[32],
		       uint8_t out[32])
{
	struct hasher h = { EVP_MD_CTX_new(), 0 };
	if (!h.ctx)
		return -1;
	if (EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) != 1)
		h.err = 1;
	h_str(&h, HASH_DOMAIN, sizeof HASH_DOMAIN - 1);
	h_i64(&h, seq);
	h_i64(&h, ts_ms);
	for (int i = 0; i < NTEXT; i++) {
		uint8_t flag = f[i].present ? 1 : 0;
		h_bytes(&h, &flag, 1);
		if (flag)
			h_str(&h, f[i].p, f[i].n);
	}
	h_i64(&h, status);
	h_i64(&h, duration_ms);
	h_bytes(&h, prev, 32);
	unsigned int len = 0;
	if (!h.err && (EVP_DigestFinal_ex(h.ctx, out, &len) != 1 || len != 32))
		h.err = 1;
	EVP_MD_CTX_free(h.ctx);
	return h.err ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Ed25519                                                             */

static int ed25519_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
			  const uint8_t sig[64])
{
	int ok = 0;
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, sig, 64, msg, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ok;
}

int auditdb_head_message(int64_t seq, const uint8_t hash[32], uint8_t *msg, size_t *len)
{
	if (seq < 0 || !hash || !msg || !len)
		return -1;
	memcpy(msg, HEAD_DOMAIN, HEAD_DOMAIN_LEN);
	be64(msg + HEAD_DOMAIN_LEN, (uint64_t)seq);
	memcpy(msg + HEAD_DOMAIN_LEN + 8, hash, 32);
	*len = HEAD_MSG_LEN;
	return 0;
}

/* ------------------------------------------------------------------ */
/* redaction                                                           */

static int key_sensitive(const char *k, size_t klen)
{
	static const char *const exact[] = {
		"authorization", "proxy-authorization", "cookie", "set-cookie",
	};
	static const char *const sub[] = {
		"password", "passwd", "secret", "token", "api_key", "apikey",
		"api-key", "private_key", "private-key", "privatekey", "credential",
	};
	if (strlen(k) != klen) /* embedded NUL: cannot be matched reliably */
		return 1;
	for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
		if (!strcasecmp(k, exact[i]))
			return 1;
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++)
		if (strcasestr(k, sub[i]))
			return 1;
	return 0;
}

static int has_vault_ref(const char *s, size_t n)
{
	static const char pat[] = "${vault:";
	const size_t m = sizeof pat - 1;
	for (size_t i = 0; i + m <= n; i++)
		if (s[i] == '$' && !strncasecmp(s + i, pat, m))
			return 1;
	return 0;
}

static json_t *jchk(json_t *v)
{
	if (!v)
		fatal("auditdb: out of memory (json)");
	return v;
}

static json_t *redact_rec(const json_t *v, int depth)
{
	if (depth > MAX_REDACT_DEPTH)
		return jchk(json_string("[REDACTED:too-deep]"));
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		json_t *out = jchk(json_object());
		const char *key;
		size_t klen;
		json_t *val;
		json_t *obj = (json_t *)v; /* iteration does not modify */
		json_object_keylen_foreach(obj, key, klen, val) {
			json_t *nv = key_sensitive(key, klen)
					     ? jchk(json_string("[REDACTED]"))
					     : redact_rec(val, depth + 1);
			if (json_object_setn_new_nocheck(out, key, klen, nv) != 0)
				fatal("auditdb: out of memory (json)");
		}
		return out;
	}
	case JSON_ARRAY: {
		json_t *out = jchk(json_array());
		for (size_t i = 0; i < json_array_size(v); i++)
			if (json_array_append_new(out, redact_rec(json_array_get(v, i), depth + 1)))
				fatal("auditdb: out of memory (json)");
		return out;
	}
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (has_vault_ref(s, n))
			return jchk(json_string("[REDACTED:vault-ref]"));
		return jchk(json_stringn_nocheck(s, n));
	}
	default:
		return jchk(json_deep_copy(v));
	}
}

json_t *audit_redact(const json_t *v)
{
	return v ? redact_rec(v, 0) : NULL;
}

/* ------------------------------------------------------------------ */
/* input sanitizing                                                    */

/* Copy of s as valid UTF-8 (invalid bytes -> U+FFFD), at most max bytes of
 * content followed by a truncation marker.  NULL in -> NULL out. */
static char *clean_text(const char *s, size_t max)
{
	static const char mark[] = "...[truncated]";
	if (!s)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;
	char *out = xmalloc(max + sizeof mark + 4);
	for (size_t i = 0; i < n;) {
		/* s came through strlen: no NUL for utf8_seq to refuse */
		size_t l = utf8_seq(p + i, n - i);
		size_t emit = l ? l : 3;
		if (o + emit > max) {
			memcpy(out + o, mark, sizeof mark - 1);
			o += sizeof mark - 1;
			break;
		}
		if (l) {
			memcpy(out + o, p + i, l);
			i += l;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			i++;
		}
		o += emit;
	}
	out[o] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Redact the values of sensitive query/fragment parameters in a path:
 * "/x?a=1&api_key=abc" -> "/x?a=1&api_key=[REDACTED]".  Returns a new string. */
static char *redact_path(const char *path)
{
	static const char red[] = "[REDACTED]";
	const char *q = strpbrk(path, "?#");
	if (!q)
		return xstrdup(path);
	size_t n = strlen(path);
	/* each segment grows by at most 20 bytes ("[REDACTED:vault-ref]") */
	char *out = xmalloc(n + (n + 1) * 21 + 1);
	size_t o = (size_t)(q - path);
	memcpy(out, path, o);
	const char *p = q;
	while (*p) {
		out[o++] = *p++; /* separator: ? # & ; */
		const char *end = p + strcspn(p, "&;#?");
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int sens = 0;
		if (eq) {
			size_t nl = (size_t)(eq - p);
			char *name = xmalloc(nl + 1), *w = name;
			for (size_t i = 0; i < nl; i++) {
				int h, l;
				if (p[i] == '%' && i + 2 < nl && (h = hexval(p[i + 1])) >= 0 &&
				    (l = hexval(p[i + 2])) >= 0) {
					*w++ = (char)(h << 4 | l);
					i += 2;
				} else {
					*w++ = p[i] == '+' ? ' ' : p[i];
				}
			}
			*w = '\0';
			sens = key_sensitive(name, (size_t)(w - name));
			free(name);
		}
		int vault = !sens && has_vault_ref(p, (size_t)(end - p));
		if ((sens || vault) && eq) {
			size_t nl = (size_t)(eq - p) + 1;
			const char *rv = sens ? red : "[REDACTED:vault-ref]";
			memcpy(out + o, p, nl);
			o += nl;
			memcpy(out + o, rv, strlen(rv));
			o += strlen(rv);
		} else if (vault) {
			memcpy(out + o, "[REDACTED:vault-ref]", 20);
			o += 20;
		} else {
			memcpy(out + o, p, (size_t)(end - p));
			o += (size_t)(end - p);
		}
		p = end;
	}
	out[o] = '\0';
	return out;
}

/* Parse, redact and re-serialize a payload.  Never returns the raw input. */
static char *prepare_payload(const char *raw)
{
	if (!raw)
		return NULL;
	json_error_t jerr;
	json_t *v = json_loads(raw, JSON_DECODE_ANY, &jerr);
	if (!v) {
		/* jerr.text may quote payload bytes: log the position only */
		log_warn("auditdb: payload is not valid JSON (line %d, column %d); replaced by a marker",
			 jerr.line, jerr.column);
		return xstrdup("{\"_audit\":\"payload omitted: invalid JSON\"}");
	}
	json_t *r = audit_redact(v);
	json_decref(v);
	char *s = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(r);
	if (!s) {
		log_warn("auditdb: payload could not be serialized; replaced by a marker");
		return xstrdup("{\"_audit\":\"payload omitted: not serializable\"}");
	}
	size_t len = strlen(s);
	if (len > MAX_PAYLOAD_BYTES) {
		free(s);
		return xasprintf("{\"_audit\":\"payload omitted: too large\",\"bytes\":%zu}", len);
	}
	char *out = xstrdup(s);
	free(s); /* jansson uses malloc by default; keep ownership uniform */
	return out;
}

/* ------------------------------------------------------------------ */
/* open + migrations                                                   */

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE audit_log ("
	" seq INTEGER PRIMARY KEY,"
	" ts_ms INTEGER NOT NULL,"
	" actor TEXT, client TEXT, event_type TEXT, method TEXT, path TEXT,"
	" status INTEGER NOT NULL DEFAULT 0,"
	" session_id TEXT, pack TEXT, outcome TEXT, error_code TEXT,"
	" duration_ms INTEGER NOT NULL DEFAULT 0,"
	" payload TEXT,"
	" prev_hash BLOB NOT NULL,"
	" hash BLOB NOT NULL);"
	"CREATE INDEX audit_log_ts ON audit_log(ts_ms);"
	"CREATE INDEX audit_log_event ON audit_log(event_type);"
	"CREATE INDEX audit_log_actor ON audit_log(actor);"
	"CREATE INDEX audit_log_session ON audit_log(session_id);"
	/* append-only at the SQL level too (defence in depth; the hash chain
	 * is what detects an attacker who drops these) */
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
	"CREATE TABLE audit_head ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL,"
	" hash BLOB NOT NULL,"
	" sig BLOB NOT NULL);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

static int run_migrations(sqlite3 *db)
{
	if (exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"))
		return -1;
	for (int v = 1; v <= NMIGRATIONS; v++) {
		if (exec(db, "BEGIN IMMEDIATE"))
			return -1;
		sqlite3_stmt *st = prep(db, "SELECT 1 FROM schema_migrations WHERE version = ?");
		if (!st)
			goto fail;
		sqlite3_bind_int(st, 1, v);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			log_warn("auditdb: reading schema_migrations: %s", sqlite3_errmsg(db));
			goto fail;
		}
		if (rc == SQLITE_DONE) {
			if (exec(db, migrations[v - 1]))
				goto fail;
			st = prep(db, "INSERT INTO schema_migrations(version, applied_ms) VALUES (?, ?)");
			if (!st)
				goto fail;
			sqlite3_bind_int(st, 1, v);
			sqlite3_bind_int64(st, 2, now_unix_ms());
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE) {
				log_warn("auditdb: recording migration %d: %s", v, sqlite3_errmsg(db));
				goto fail;
			}
		}
		if (exec(db, "COMMIT"))
			goto fail;
	}
	/* refuse a schema newer than this code understands */
	sqlite3_stmt *st = prep(db, "SELECT max(version) FROM schema_migrations");
	if (!st)
		return -1;
	int64_t maxv = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		maxv = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (maxv > NMIGRATIONS) {
		log_warn("auditdb: schema version %" PRId64 " is newer than supported (%d)",
			 maxv, NMIGRATIONS);
		return -1;
	}
	return 0;
fail:
	rollback(db);
	return -1;
}

int auditdb_open(const char *path, sqlite3 **out)
{
	if (!out)
		return -1;
	*out = NULL;
	if (!path || !*path) {
		log_warn("auditdb: empty path");
		return -1;
	}
	if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0) {
		/* create owner-only before sqlite does (it copies this mode to -wal/-shm) */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_warn("auditdb: cannot open %s: %s", path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		log_warn("auditdb: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);

	sqlite3_stmt *st = prep(db, "PRAGMA journal_mode=WAL");
	if (!st)
		goto fail;
	rc = sqlite3_step(st);
	const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	int wal_ok = mode && (!strcasecmp((const char *)mode, "wal") ||
			      !strcasecmp((const char *)mode, "memory"));
	sqlite3_finalize(st);
	if (!wal_ok) {
		log_warn("auditdb: cannot enable WAL on %s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
		     " PRAGMA temp_store=MEMORY; PRAGMA trusted_schema=OFF;"))
		goto fail;
	if (run_migrations(db))
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}

/* ------------------------------------------------------------------ */
/* append / head                                                       */

static void fv_set(struct fieldval *f, const char *s)
{
	f->present = s != NULL;
	f->p = (const unsigned char *)s;
	f->n = s ? strlen(s) : 0;
}

int auditdb_append(sqlite3 *db, const struct audit_rec *r, int64_t *seq_out, uint8_t hash_out[32])
{
	if (!db || !r)
		return -1;
	int64_t ts = r->ts_ms ? r->ts_ms : now_unix_ms();
	if (ts < 0) {
		log_warn("auditdb: negative timestamp rejected");
		return -1;
	}
	const char *in[NTEXT] = {
		r->actor, r->client, r->event_type, r->method, r->path,
		r->session_id, r->pack, r->outcome, r->error_code, NULL,
	};
	char *txt[NTEXT];
	for (int i = 0; i < NTEXT - 1; i++)
		txt[i] = clean_text(in[i], MAX_FIELD_BYTES);
	if (txt[4]) {
		char *p = redact_path(txt[4]);
		free(txt[4]);
		txt[4] = p;
	}
	txt[NTEXT - 1] = prepare_payload(r->payload_json);

	struct fieldval f[NTEXT];
	for (int i = 0; i < NTEXT; i++)
		fv_set(&f[i], txt[i]);

	int ret = -1;
	sqlite3_stmt *st = NULL;
	if (exec(db, "BEGIN IMMEDIATE"))
		goto out;
	st = prep(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
	if (!st)
		goto out;
	int64_t seq = 1;
	uint8_t prev[32];
	memcpy(prev, zero_hash, 32);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t last = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || last < 1 || last == INT64_MAX ||
		    !col_blob_n(st, 1, prev, 32)) {
			log_warn("auditdb: chain tail is corrupt; refusing to append");
			goto out;
		}
		seq = last + 1;
	} else if (rc != SQLITE_DONE) {
		log_warn("auditdb: reading tail: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;

	uint8_t hash[32];
	if (record_hash(seq, ts, f, r->status, r->duration_ms, prev, hash)) {
		log_warn("auditdb: hashing failed");
		goto out;
	}
	st = prep(db, "INSERT INTO audit_log (" SELECT_COLS ") VALUES "
		      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1 + C_SEQ, seq);
	sqlite3_bind_int64(st, 1 + C_TS, ts);
	for (int i = 0; i < NTEXT; i++) {
		if (txt[i])
			sqlite3_bind_text(st, 1 + C_TEXT0 + i, txt[i], (int)f[i].n, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 1 + C_TEXT0 + i);
	}
	sqlite3_bind_int64(st, 1 + C_STATUS, r->status);
	sqlite3_bind_int64(st, 1 + C_DUR, r->duration_ms);
	sqlite3_bind_blob(st, 1 + C_PREV, prev, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 1 + C_HASH, hash, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warn("auditdb: insert failed: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (exec(db, "COMMIT"))
		goto out;
	if (seq_out)
		*seq_out = seq;
	if (hash_out)
		memcpy(hash_out, hash, 32);
	ret = 0;
out:
	sqlite3_finalize(st);
	if (ret)
		rollback(db);
	for (int i = 0; i < NTEXT; i++)
		free(txt[i]);
	return ret;
}

int auditdb_head(sqlite3 *db, int64_t *seq, uint8_t hash[32])
{
	if (!db || !seq || !hash)
		return -1;
	sqlite3_stmt *st = prep(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
	if (!st)
		return -1;
	int ret = -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*seq = 0;
		memcpy(hash, zero_hash, 32);
		ret = 0;
	} else if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_INTEGER && col_blob_n(st, 1, hash, 32)) {
			*seq = sqlite3_column_int64(st, 0);
			ret = 0;
		} else {
			log_warn("auditdb: chain tail is corrupt");
		}
	} else {
		log_warn("auditdb: reading head: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return ret;
}

/* ------------------------------------------------------------------ */
/* keys + signed head                                                  */

/* meta value (TEXT only) as a new string, or NULL. */
static char *meta_get(sqlite3 *db, const char *key, int *err)
{
	*err = 0;
	sqlite3_stmt *st = prep(db, "SELECT value FROM meta WHERE key = ?");
	if (!st) {
		*err = 1;
		return NULL;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	char *v = NULL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		*err = 1;
	sqlite3_finalize(st);
	return v;
}

static int meta_set(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *st = prep(db, "INSERT INTO meta(key, value) VALUES (?, ?)"
				    " ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warn("auditdb: meta write: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Parse whitespace/comma separated 64-hex-digit keys; garbage is skipped. */
static int parse_keys(const char *s, uint8_t keys[][32], int have, int max)
{
	while (s && *s && have < max) {
		s += strspn(s, " \t\r\n,");
		size_t n = strcspn(s, " \t\r\n,");
		if (n == 64) {
			char tok[65];
			memcpy(tok, s, 64);
			tok[64] = '\0';
			if (hex_decode(tok, keys[have], 32) == 0)
				have++;
		}
		s += n;
	}
	return have;
}

int auditdb_set_pubkey(sqlite3 *db, const uint8_t pub[32])
{
	if (!db || !pub)
		return -1;
	char hex[65];
	hex_encode(pub, 32, hex);
	if (exec(db, "BEGIN IMMEDIATE"))
		return -1;
	int err;
	char *hist = meta_get(db, "audit_pubkey_history", &err);
	if (err)
		goto fail;
	int ret = meta_set(db, "audit_pubkey", hex);
	if (!ret) {
		uint8_t keys[MAX_PUBKEYS][32];
		int n = parse_keys(hist, keys, 0, MAX_PUBKEYS), found = 0;
		for (int i = 0; i < n; i++)
			if (!memcmp(keys[i], pub, 32))
				found = 1;
		if (!found) {
			char *nh = hist && *hist ? xasprintf("%s %s", hist, hex) : xstrdup(hex);
			ret = meta_set(db, "audit_pubkey_history", nh);
			free(nh);
		}
	}
	free(hist);
	if (ret || exec(db, "COMMIT"))
		goto fail;
	return 0;
fail:
	rollback(db);
	return -1;
}

int auditdb_store_head_sig(sqlite3 *db, int64_t seq, const uint8_t hash[32], const uint8_t sig[64])
{
	if (!db || !hash || !sig || seq < 1)
		return -1;
	sqlite3_stmt *st = NULL;
	char *pubhex = NULL;
	if (exec(db, "BEGIN IMMEDIATE"))
		return -1;
	int err;
	uint8_t pub[32];
	pubhex = meta_get(db, "audit_pubkey", &err);
	if (err)
		goto fail;
	if (!pubhex || hex_decode(pubhex, pub, 32)) {
		log_warn("auditdb: no valid audit public key set; head signature refused");
		goto fail;
	}
	st = prep(db, "SELECT hash FROM audit_log WHERE seq = ?");
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, seq);
	uint8_t stored[32];
	if (sqlite3_step(st) != SQLITE_ROW || !col_blob_n(st, 0, stored, 32) ||
	    memcmp(stored, hash, 32)) {
		log_warn("auditdb: head %" PRId64 " does not match a stored record", seq);
		goto fail;
	}
	sqlite3_finalize(st);
	st = prep(db, "SELECT seq FROM audit_head WHERE id = 1");
	if (!st)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > seq) {
		log_warn("auditdb: refusing to roll the signed head back from %" PRId64 " to %" PRId64,
			 (int64_t)sqlite3_column_int64(st, 0), seq);
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	uint8_t msg[64];
	size_t len;
	auditdb_head_message(seq, hash, msg, &len);
	if (!ed25519_verify(pub, msg, len, sig)) {
		log_warn("auditdb: head signature does not verify with the current key");
		goto fail;
	}
	st = prep(db, "INSERT INTO audit_head(id, seq, hash, sig) VALUES (1, ?, ?, ?)"
		      " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq,"
		      " hash = excluded.hash, sig = excluded.sig");
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, sig, 64, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warn("auditdb: storing head: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (exec(db, "COMMIT"))
		goto fail;
	free(pubhex);
	return 0;
fail:
	sqlite3_finalize(st);
	free(pubhex);
	rollback(db);
	return -1;
}

/* ------------------------------------------------------------------ */
/* query                                                               */

static json_t *col_json_text(sqlite3_stmt *st, int i) { return sql_col_json_text(st, i); }

static json_t *col_json_int(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return jchk(json_integer(sqlite3_column_int64(st, i)));
}

static int fmt_rfc3339(int64_t ms, char out[80])
{
	int64_t sec = ms / 1000, rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		sec--;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	if ((int64_t)t != sec || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0)
		return -1;
	snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
	return 0;
}

static void obj_set(json_t *o, const char *k, json_t *v)
{
	if (json_object_set_new(o, k, jchk(v)))
		fatal("auditdb: out of memory (json)");
}

json_t *auditdb_query(sqlite3 *db, const struct audit_filter *f)
{
	if (!db)
		return NULL;
	struct audit_filter none = { 0 };
	if (!f)
		f = &none;
	char sql[512];
	int n = snprintf(sql, sizeof sql, "SELECT " SELECT_COLS " FROM audit_log WHERE 1");
	/* only constant fragments are appended; every value is bound */
	if (f->from_ms)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " AND ts_ms >= ?");
	if (f->to_ms)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " AND ts_ms <= ?");
	if (f->event_type && *f->event_type)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " AND event_type = ?");
	if (f->actor && *f->actor)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " AND actor = ?");
	if (f->session_id && *f->session_id)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " AND session_id = ?");
	snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY seq DESC LIMIT ?");

	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return NULL;
	int b = 1;
	if (f->from_ms)
		sqlite3_bind_int64(st, b++, f->from_ms);
	if (f->to_ms)
		sqlite3_bind_int64(st, b++, f->to_ms);
	if (f->event_type && *f->event_type)
		sqlite3_bind_text(st, b++, f->event_type, -1, SQLITE_STATIC);
	if (f->actor && *f->actor)
		sqlite3_bind_text(st, b++, f->actor, -1, SQLITE_STATIC);
	if (f->session_id && *f->session_id)
		sqlite3_bind_text(st, b++, f->session_id, -1, SQLITE_STATIC);
	int limit = f->limit <= 0 ? 100 : f->limit > 1000 ? 1000 : f->limit;
	sqlite3_bind_int(st, b, limit);

	json_t *arr = jchk(json_array());
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = jchk(json_object());
		int64_t ts = sqlite3_column_int64(st, C_TS);
		char tsbuf[80];
		obj_set(o, "seq", col_json_int(st, C_SEQ));
		obj_set(o, "ts", sqlite3_column_type(st, C_TS) == SQLITE_INTEGER &&
					 !fmt_rfc3339(ts, tsbuf)
				     ? json_string(tsbuf)
				     : json_null());
		obj_set(o, "ts_ms", col_json_int(st, C_TS));
		static const struct { const char *name; int col; } cols[] = {
			{ "actor", C_TEXT0 + 0 }, { "client", C_TEXT0 + 1 },
			{ "event_type", C_TEXT0 + 2 }, { "method", C_TEXT0 + 3 },
			{ "path", C_TEXT0 + 4 }, { "status", C_STATUS },
			{ "session_id", C_TEXT0 + 5 }, { "pack", C_TEXT0 + 6 },
			{ "outcome", C_TEXT0 + 7 }, { "error_code", C_TEXT0 + 8 },
			{ "duration_ms", C_DUR },
		};
		for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
			obj_set(o, cols[i].name, cols[i].col == C_STATUS || cols[i].col == C_DUR
							 ? col_json_int(st, cols[i].col)
							 : col_json_text(st, cols[i].col));
		json_t *payload = NULL;
		if (sqlite3_column_type(st, C_TEXT0 + 9) == SQLITE_TEXT)
			payload = json_loads((const char *)sqlite3_column_text(st, C_TEXT0 + 9),
					     JSON_DECODE_ANY, NULL);
		obj_set(o, "payload", payload ? payload : json_null());
		uint8_t h[32];
		char hex[65];
		if (col_blob_n(st, C_HASH, h, 32)) {
			hex_encode(h, 32, hex);
			obj_set(o, "hash", json_string(hex));
		} else {
			obj_set(o, "hash", json_null());
		}
		if (json_array_append_new(arr, o))
			fatal("auditdb: out of memory (json)");
	}
	if (rc != SQLITE_DONE) {
		log_warn("auditdb: query failed: %s", sqlite3_errmsg(db));
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_finalize(st);
	return arr;
}

/* ------------------------------------------------------------------ */
/* verification                                                        */

__attribute__((format(printf, 3, 4)))
static void vfail(struct audit_verify_result *res, int64_t bad, const char *fmt, ...)
{
	va_list ap;
	res->ok = 0;
	res->bad_seq = bad;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
}

static int verify_impl(sqlite3 *db, const uint8_t *pinned, struct audit_verify_result *res)
{
	memset(res, 0, sizeof *res);
	res->bad_seq = -1;
	if (!db) {
		snprintf(res->reason, sizeof res->reason, "no database");
		return -1;
	}
	int own_txn = sqlite3_get_autocommit(db);
	if (own_txn && exec(db, "BEGIN")) { /* one read snapshot for everything */
		snprintf(res->reason, sizeof res->reason, "cannot start read transaction");
		return -1;
	}
	int ret = -1;
	sqlite3_stmt *st = NULL;

	/* 1. the signed head (checked after the chain walk) */
	int have_head = 0, head_bad = 0;
	int64_t head_seq = 0;
	uint8_t head_hash[32], head_sig[64], head_row_hash[32];
	int head_row_found = 0;
	st = prep(db, "SELECT id, seq, hash, sig FROM audit_head");
	if (!st)
		goto dberr;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have_head++) {
			head_bad = 1; /* more than one head row */
			continue;
		}
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) != 1 ||
		    sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
		    !col_blob_n(st, 2, head_hash, 32) || !col_blob_n(st, 3, head_sig, 64))
			head_bad = 1;
		head_seq = sqlite3_column_int64(st, 1);
		if (head_seq < 1)
			head_bad = 1;
	}
	if (rc != SQLITE_DONE)
		goto dberr;
	sqlite3_finalize(st);

	/* 2. walk the chain from raw columns */
	st = prep(db, "SELECT " SELECT_COLS " FROM audit_log ORDER BY seq");
	if (!st)
		goto dberr;
	int64_t expect = 1;
	uint8_t prev[32];
	memcpy(prev, zero_hash, 32);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, C_SEQ) != SQLITE_INTEGER) {
			vfail(res, expect, "record after %" PRId64 " has a non-integer seq", expect - 1);
			goto done;
		}
		int64_t seq = sqlite3_column_int64(st, C_SEQ);
		if (seq > expect) {
			vfail(res, expect, "record %" PRId64 " missing (next present record is %" PRId64
					   "): records deleted", expect, seq);
			goto done;
		}
		if (seq < expect) {
			vfail(res, seq, "unexpected record seq %" PRId64 " (expected %" PRId64 ")",
			      seq, expect);
			goto done;
		}
		struct fieldval f[NTEXT];
		for (int i = 0; i < NTEXT; i++) {
			int c = C_TEXT0 + i, t = sqlite3_column_type(st, c);
			if (t == SQLITE_NULL) {
				f[i].present = 0;
				f[i].p = NULL;
				f[i].n = 0;
			} else if (t == SQLITE_TEXT) {
				f[i].present = 1;
				f[i].p = sqlite3_column_text(st, c);
				f[i].n = (size_t)sqlite3_column_bytes(st, c);
			} else {
				vfail(res, seq, "record %" PRId64 ": column %s has unexpected type",
				      seq, text_cols[i]);
				goto done;
			}
		}
		static const struct { int col; const char *name; } ints[] = {
			{ C_TS, "ts_ms" }, { C_STATUS, "status" }, { C_DUR, "duration_ms" },
		};
		for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
			if (sqlite3_column_type(st, ints[i].col) != SQLITE_INTEGER) {
				vfail(res, seq, "record %" PRId64 ": column %s has unexpected type",
				      seq, ints[i].name);
				goto done;
			}
		}
		uint8_t sprev[32], shash[32], calc[32];
		if (!col_blob_n(st, C_PREV, sprev, 32)) {
			vfail(res, seq, "record %" PRId64 ": prev_hash is not a 32-byte blob", seq);
			goto done;
		}
		if (!col_blob_n(st, C_HASH, shash, 32)) {
			vfail(res, seq, "record %" PRId64 ": hash is not a 32-byte blob", seq);
			goto done;
		}
		if (memcmp(sprev, prev, 32)) {
			if (seq == 1)
				vfail(res, seq, "record 1: prev_hash is not the genesis (zero) hash");
			else
				vfail(res, seq, "record %" PRId64 ": prev_hash does not link to record %"
						PRId64 " (records replaced, reordered or re-hashed)",
				      seq, seq - 1);
			goto done;
		}
		if (record_hash(seq, sqlite3_column_int64(st, C_TS), f,
				sqlite3_column_int64(st, C_STATUS), sqlite3_column_int64(st, C_DUR),
				prev, calc)) {
			snprintf(res->reason, sizeof res->reason, "hashing failed");
			goto out;
		}
		if (memcmp(calc, shash, 32)) {
			vfail(res, seq, "record %" PRId64 ": hash mismatch (record contents altered)", seq);
			goto done;
		}
		if (have_head && seq == head_seq) {
			memcpy(head_row_hash, calc, 32);
			head_row_found = 1;
		}
		memcpy(prev, calc, 32);
		expect++;
		res->records++;
	}
	if (rc != SQLITE_DONE)
		goto dberr;
	sqlite3_finalize(st);
	st = NULL;
	int64_t last = expect - 1;

	/* 3. the signed head */
	if (!have_head) {
		if (pinned && last > 0) {
			vfail(res, last, "no signed head, but a pinned key was given (%" PRId64
					 " unsigned records)", last);
			goto done;
		}
		res->ok = 1;
		goto done;
	}
	if (head_bad) {
		vfail(res, last, "signed head row is malformed");
		goto done;
	}
	if (head_seq > last) {
		vfail(res, last + 1, "signed head seq %" PRId64 " is beyond last record %" PRId64
				     ": records deleted from the tail", head_seq, last);
		goto done;
	}
	if (!head_row_found || memcmp(head_row_hash, head_hash, 32)) {
		vfail(res, head_seq, "signed head hash does not match record %" PRId64, head_seq);
		goto done;
	}
	uint8_t keys[MAX_PUBKEYS][32];
	int nkeys = 0;
	if (pinned) {
		memcpy(keys[0], pinned, 32);
		nkeys = 1;
	} else {
		int err1, err2;
		char *cur = meta_get(db, "audit_pubkey", &err1);
		char *hist = meta_get(db, "audit_pubkey_history", &err2);
		nkeys = parse_keys(cur, keys, 0, MAX_PUBKEYS);
		nkeys = parse_keys(hist, keys, nkeys, MAX_PUBKEYS);
		free(cur);
		free(hist);
		if (err1 || err2)
			goto dberr;
		if (!nkeys) {
			vfail(res, head_seq, "signed head present but no public key is stored");
			goto done;
		}
	}
	uint8_t msg[64];
	size_t mlen;
	auditdb_head_message(head_seq, head_hash, msg, &mlen);
	int good = 0;
	for (int i = 0; i < nkeys && !good; i++)
		good = ed25519_verify(keys[i], msg, mlen, head_sig);
	if (!good) {
		vfail(res, head_seq, "head signature does not verify with %s",
		      pinned ? "the pinned key" : "any stored public key");
		goto done;
	}
	res->ok = 1;
	res->head_signed = 1;
	res->head_seq = head_seq;
done:
	ret = 0;
	goto out;
dberr:
	res->ok = 0;
	snprintf(res->reason, sizeof res->reason, "database error: %s", sqlite3_errmsg(db));
	log_warn("auditdb: verify: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	if (own_txn)
		rollback(db); /* read-only transaction */
	if (ret)
		res->ok = 0;
	if (res->ok) {
		res->reason[0] = '\0';
		res->bad_seq = -1;
	}
	return ret;
}

int auditdb_verify(sqlite3 *db, struct audit_verify_result *res)
{
	if (!res)
		return -1;
	return verify_impl(db, NULL, res);
}

int auditdb_verify_pinned(sqlite3 *db, const uint8_t pub[32], struct audit_verify_result *res)
{
	if (!res)
		return -1;
	if (!pub) {
		memset(res, 0, sizeof *res);
		res->bad_seq = -1;
		snprintf(res->reason, sizeof res->reason, "no pinned key");
		return -1;
	}
	return verify_impl(db, pub, res);
}
