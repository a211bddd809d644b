/* TAP tests for workers/store/auditdb: append, query, redaction, signed
 * head and offline verification against raw-SQL tampering. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr, mkdtemp */
#endif
#include "workers/store/auditdb.h"
#include "common/util.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static int ntest, nfail;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		nfail++;
	fflush(stdout);
	return cond;
}

static char tmpdir[] = "/tmp/t_auditdb.XXXXXX";
static char master[512];
#define BASE_TS INT64_C(1700000000000)

static char *tpath(const char *name)
{
	static char buf[8][512];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

/* ---------- record generator ---------- */

static const char *gen_event(int i)
{
	static const char *const ev[] = { "session.create", "http.request", "pack.run", "auth.fail" };
	return ev[i % 4];
}
static const char *gen_actor(int i) { return i % 3 == 0 ? "alice" : i % 3 == 1 ? "bob" : NULL; }
static const char *gen_session(int i)
{
	if (i > 10)
		return "sess-B";
	return i % 2 == 0 ? "sess-A" : NULL;
}
static int64_t gen_ts(int i) { return BASE_TS + i * 1000 + i; }

static const char *payload5 =
	"{\"headers\":{\"Authorization\":\"Bearer abc.def\",\"X-Trace\":\"t1\","
	"\"Cookie\":\"sid=1\"},"
	"\"user\":{\"profile\":{\"password\":\"hunter2\",\"name\":\"zed\"}},"
	"\"items\":[{\"api_key\":\"k-live-1\"},{\"ok\":1}],"
	"\"ref\":\"${vault:db/pass}\",\"n\":5}";

static void gen_rec(int i, struct audit_rec *r)
{
	memset(r, 0, sizeof *r);
	r->ts_ms = gen_ts(i);
	r->actor = gen_actor(i);
	r->client = i % 2 ? "cli/1.0" : NULL;
	r->event_type = gen_event(i);
	r->method = i % 4 == 1 ? "POST" : NULL;
	r->path = i == 8 ? "/v1/x?api_key=SECRET&x=1" : i % 4 == 1 ? "/v1/sessions" : NULL;
	r->session_id = gen_session(i);
	r->pack = i % 4 == 2 ? "browser" : NULL;
	r->outcome = i % 4 == 3 ? "denied" : "ok";
	r->error_code = i % 4 == 3 ? "E_AUTH" : NULL;
	r->status = i % 4 == 3 ? 401 : 200;
	r->duration_ms = i * 7;
	if (i == 5)
		r->payload_json = payload5;
	else if (i == 9)
		r->payload_json = "{not json";
	else if (i % 2 == 0)
		r->payload_json = NULL;
	else
		r->payload_json = "{\"n\":1}";
}

/* ---------- independent implementation of the documented hash ---------- */

struct hb {
	uint8_t *p;
	size_t n, cap;
};
static void hb_put(struct hb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}
static void hb_u32(struct hb *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	hb_put(b, x, 4);
}
static void hb_i64(struct hb *b, int64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	hb_put(b, x, 8);
}

/* Hash of row `seq` of a raw connection, chained onto `prev`. -1 if absent. */
static int spec_hash(sqlite3 *db, int64_t seq, const uint8_t prev[32], uint8_t out[32])
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT ts_ms, actor, client, event_type, method, path, session_id,"
			       " pack, outcome, error_code, payload, status, duration_ms"
			       " FROM audit_log WHERE seq = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	struct hb b = { 0 };
	hb_u32(&b, 17);
	hb_put(&b, "helmdeck-audit-v1", 17);
	hb_i64(&b, seq);
	hb_i64(&b, sqlite3_column_int64(st, 0));
	for (int c = 1; c <= 10; c++) {
		uint8_t flag = sqlite3_column_type(st, c) != SQLITE_NULL;
		hb_put(&b, &flag, 1);
		if (flag) {
			const unsigned char *t = sqlite3_column_text(st, c);
			uint32_t n = (uint32_t)sqlite3_column_bytes(st, c);
			hb_u32(&b, n);
			hb_put(&b, t, n);
		}
	}
	hb_i64(&b, sqlite3_column_int64(st, 11));
	hb_i64(&b, sqlite3_column_int64(st, 12));
	hb_put(&b, prev, 32);
	sqlite3_finalize(st);
	unsigned len = 0;
	int rc = EVP_Digest(b.p, b.n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
	free(b.p);
	return rc;
}

static int row_blob(sqlite3 *db, const char *sql, int64_t seq, uint8_t *out, int n)
{
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == n) {
		memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Attacker: recompute prev_hash/hash for rows from..to (inclusive). */
static int rehash_rows(sqlite3 *db, int64_t from, int64_t to)
{
	uint8_t prev[32] = { 0 };
	if (from > 1 && row_blob(db, "SELECT hash FROM audit_log WHERE seq = ?", from - 1, prev, 32))
		return -1;
	for (int64_t s = from; s <= to; s++) {
		uint8_t h[32];
		if (spec_hash(db, s, prev, h))
			return -1;
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_blob(st, 1, prev, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 2, h, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, s);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return -1;
		memcpy(prev, h, 32);
	}
	return 0;
}

/* ---------- Ed25519 ---------- */

static EVP_PKEY *gen_key(uint8_t pub[32])
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &pk) != 1)
		fatal("keygen");
	EVP_PKEY_CTX_free(c);
	size_t n = 32;
	if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != 32)
		fatal("raw pubkey");
	return pk;
}

static void sign_head(EVP_PKEY *pk, int64_t seq, const uint8_t hash[32], uint8_t sig[64])
{
	uint8_t msg[64];
	size_t len = 0, slen = 64;
	if (auditdb_head_message(seq, hash, msg, &len))
		fatal("head message");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig, &slen, msg, len) != 1 || slen != 64)
		fatal("sign");
	EVP_MD_CTX_free(ctx);
}

/* ---------- db helpers ---------- */

static int raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		printf("# sql error: %s (%s)\n", err ? err : "?", sql);
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void copy_file(const char *from, const char *to)
{
	char *data;
	ssize_t n = read_file(from, &data, 64u << 20);
	if (n < 0)
		fatalx("read %s", from);
	if (write_file_atomic(to, data, (size_t)n, 0600))
		fatalx("write %s", to);
	free(data);
	char side[600];
	snprintf(side, sizeof side, "%s-wal", to);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", to);
	unlink(side);
}

/* Fresh copy of the master db, tampered with raw SQL through a plain sqlite3
 * connection (as with the sqlite3 CLI), then opened and verified. */
static int tamper_verify(const char *name, const char *sql, struct audit_verify_result *res,
			 const uint8_t *pinned)
{
	char *p = tpath(name);
	copy_file(master, p);
	sqlite3 *raw;
	if (sqlite3_open(p, &raw) != SQLITE_OK)
		fatal("open raw");
	int rc = 0;
	if (sql) {
		/* the attacker first drops the append-only triggers */
		rc = raw_exec(raw, "DROP TRIGGER IF EXISTS audit_log_no_update;"
				   "DROP TRIGGER IF EXISTS audit_log_no_delete;");
		if (!rc)
			rc = raw_exec(raw, sql);
	}
	sqlite3_close(raw);
	if (rc)
		return -1;
	sqlite3 *db;
	if (auditdb_open(p, &db))
		return -1;
	rc = pinned ? auditdb_verify_pinned(db, pinned, res) : auditdb_verify(db, res);
	sqlite3_close(db);
	printf("# %s: ok=%d records=%" PRId64 " bad_seq=%" PRId64 " head_signed=%d head_seq=%"
	       PRId64 " reason=\"%s\"\n", name, res->ok, res->records, res->bad_seq,
	       res->head_signed, res->head_seq, res->reason);
	return rc;
}

static void expect_bad(const char *name, const char *sql, int64_t bad, const char *why)
{
	struct audit_verify_result res;
	int rc = tamper_verify(name, sql, &res, NULL);
	ok(rc == 0 && !res.ok && res.bad_seq == bad && strstr(res.reason, why),
	   "tamper %s: detected, bad_seq=%" PRId64 " (got %" PRId64 "), reason mentions '%s'",
	   name, bad, res.bad_seq, why);
}

static int64_t jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int query_count(sqlite3 *db, const struct audit_filter *f)
{
	json_t *a = auditdb_query(db, f);
	int n = a ? (int)json_array_size(a) : -1;
	json_decref(a);
	return n;
}

/* ---------- tests ---------- */

static void test_redact(void)
{
	json_error_t e;
	json_t *in = json_loads(
		"{\"AUTHORIZATION\":\"Bearer x\",\"Proxy-Authorization\":\"Basic y\","
		"\"set-cookie\":\"a=b\",\"cookies_enabled\":true,"
		"\"X-Api-Key\":\"k\",\"client_secret\":\"s\",\"refreshToken\":\"t\","
		"\"db\":{\"nested\":{\"Password\":\"p\",\"passwd_hint\":{\"x\":1},\"user\":\"u\"}},"
		"\"list\":[{\"apikey\":\"a\"},{\"api_key\":[1,2]},\"${vault:secret/x}\",[[\"pre ${VAULT:y} post\"]],3],"
		"\"credentials\":{\"a\":1},\"private_key\":\"pk\",\"keep\":\"plain\",\"num\":1.5,\"nul\":null}",
		0, &e);
	if (!in)
		fatal("test json: %s", e.text);
	char *before = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *r = audit_redact(in);
	char *after_in = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
	ok(r && strcmp(before, after_in) == 0, "redact: input is not modified");
	ok(!strcmp(jstr(r, "AUTHORIZATION"), "[REDACTED]") &&
		   !strcmp(jstr(r, "Proxy-Authorization"), "[REDACTED]") &&
		   !strcmp(jstr(r, "set-cookie"), "[REDACTED]"),
	   "redact: authorization / proxy-authorization / set-cookie (case-insensitive)");
	ok(json_is_true(json_object_get(r, "cookies_enabled")),
	   "redact: 'cookie' matches exactly, not as a substring");
	ok(!strcmp(jstr(r, "X-Api-Key"), "[REDACTED]") && !strcmp(jstr(r, "client_secret"), "[REDACTED]") &&
		   !strcmp(jstr(r, "refreshToken"), "[REDACTED]"),
	   "redact: api-key / secret / token substrings");
	json_t *nested = json_object_get(json_object_get(r, "db"), "nested");
	ok(!strcmp(jstr(nested, "Password"), "[REDACTED]") &&
		   !strcmp(jstr(nested, "passwd_hint"), "[REDACTED]") && !strcmp(jstr(nested, "user"), "u"),
	   "redact: nested password, non-string sensitive value replaced, others kept");
	json_t *list = json_object_get(r, "list");
	ok(!strcmp(jstr(json_array_get(list, 0), "apikey"), "[REDACTED]") &&
		   !strcmp(jstr(json_array_get(list, 1), "api_key"), "[REDACTED]"),
	   "redact: api_key inside array elements");
	ok(!strcmp(json_string_value(json_array_get(list, 2)), "[REDACTED:vault-ref]") &&
		   !strcmp(json_string_value(json_array_get(json_array_get(json_array_get(list, 3), 0), 0)),
			   "[REDACTED:vault-ref]") &&
		   json_integer_value(json_array_get(list, 4)) == 3,
	   "redact: ${vault:...} strings anywhere (nested arrays, embedded)");
	ok(!strcmp(jstr(r, "credentials"), "[REDACTED]") && !strcmp(jstr(r, "private_key"), "[REDACTED]") &&
		   !strcmp(jstr(r, "keep"), "plain") && json_real_value(json_object_get(r, "num")) == 1.5 &&
		   json_is_null(json_object_get(r, "nul")),
	   "redact: credential / private_key; plain values preserved");
	ok(audit_redact(NULL) == NULL, "redact: NULL -> NULL");
	json_t *s = json_string("x ${vault:a} y");
	json_t *rs = audit_redact(s);
	ok(rs && !strcmp(json_string_value(rs), "[REDACTED:vault-ref]"), "redact: top-level string");
	/* deep nesting does not recurse without bound */
	json_t *deep = json_array(), *cur = deep;
	for (int i = 0; i < 1000; i++) {
		json_t *n = json_array();
		json_array_append_new(cur, n);
		cur = n;
	}
	json_t *rd = audit_redact(deep);
	ok(rd != NULL, "redact: 1000-deep nesting is bounded");
	json_decref(rd);
	json_decref(deep);
	json_decref(s);
	json_decref(rs);
	free(before);
	free(after_in);
	json_decref(r);
	json_decref(in);
}

static void test_query(sqlite3 *db, const uint8_t hashes[21][32])
{
	json_t *all = auditdb_query(db, NULL);
	int n = all ? (int)json_array_size(all) : -1;
	ok(n == 20 && jint(json_array_get(all, 0), "seq") == 20 && jint(json_array_get(all, 19), "seq") == 1,
	   "query: all 20, newest first");
	json_t *r5 = json_array_get(all, 15);
	char hex[65];
	hex_encode(hashes[5], 32, hex);
	ok(jint(r5, "seq") == 5 && jint(r5, "ts_ms") == gen_ts(5) &&
		   jstr(r5, "ts") && !strcmp(jstr(r5, "ts"), "2023-11-14T22:13:25.005Z") &&
		   !strcmp(jstr(r5, "hash"), hex),
	   "query: seq/ts_ms/RFC3339 ts/hash of record 5 (%s)", jstr(r5, "ts") ? jstr(r5, "ts") : "null");
	ok(!strcmp(jstr(r5, "event_type"), "http.request") && !strcmp(jstr(r5, "method"), "POST") &&
		   !strcmp(jstr(r5, "path"), "/v1/sessions") && jint(r5, "status") == 200 &&
		   jint(r5, "duration_ms") == 35 && !strcmp(jstr(r5, "outcome"), "ok") &&
		   !strcmp(jstr(r5, "client"), "cli/1.0"),
	   "query: record 5 fields");
	ok(json_is_null(json_object_get(r5, "actor")) && json_is_null(json_object_get(r5, "session_id")) &&
		   json_is_null(json_object_get(r5, "pack")) && json_is_null(json_object_get(r5, "error_code")),
	   "query: NULL fields are JSON null");

	/* stored payload redaction */
	json_t *p5 = json_object_get(r5, "payload");
	ok(json_is_object(p5) &&
		   !strcmp(jstr(json_object_get(p5, "headers"), "Authorization"), "[REDACTED]") &&
		   !strcmp(jstr(json_object_get(p5, "headers"), "Cookie"), "[REDACTED]") &&
		   !strcmp(jstr(json_object_get(p5, "headers"), "X-Trace"), "t1"),
	   "stored payload: authorization header redacted, others kept");
	ok(!strcmp(jstr(json_object_get(json_object_get(p5, "user"), "profile"), "password"), "[REDACTED]") &&
		   !strcmp(jstr(json_object_get(json_object_get(p5, "user"), "profile"), "name"), "zed"),
	   "stored payload: nested password redacted");
	ok(!strcmp(jstr(json_array_get(json_object_get(p5, "items"), 0), "api_key"), "[REDACTED]") &&
		   jint(json_array_get(json_object_get(p5, "items"), 1), "ok") == 1,
	   "stored payload: api_key in array element redacted");
	ok(!strcmp(jstr(p5, "ref"), "[REDACTED:vault-ref]") && jint(p5, "n") == 5,
	   "stored payload: ${vault:...} reference redacted");
	ok(scalar(db, "SELECT count(*) FROM audit_log WHERE payload LIKE '%hunter2%' OR payload LIKE"
		      " '%k-live-1%' OR payload LIKE '%Bearer%' OR payload LIKE '%db/pass%'") == 0,
	   "stored payload: no secret reaches the db file");
	json_t *r8 = json_array_get(all, 12), *r9 = json_array_get(all, 11), *r6 = json_array_get(all, 14);
	ok(jint(r8, "seq") == 8 && !strcmp(jstr(r8, "path"), "/v1/x?api_key=[REDACTED]&x=1"),
	   "stored path: sensitive query parameter redacted (%s)", jstr(r8, "path"));
	ok(jint(r9, "seq") == 9 && json_is_object(json_object_get(r9, "payload")) &&
		   jstr(json_object_get(r9, "payload"), "_audit") &&
		   scalar(db, "SELECT count(*) FROM audit_log WHERE payload LIKE '%not json%'") == 0,
	   "stored payload: invalid JSON replaced by a marker, raw text not stored");
	ok(json_is_null(json_object_get(r6, "payload")), "query: NULL payload is null");
	json_decref(all);

	/* filters */
	int ev = 0, ac = 0, se = 0, combo = 0;
	for (int i = 1; i <= 20; i++) {
		ev += !strcmp(gen_event(i), "pack.run");
		ac += gen_actor(i) && !strcmp(gen_actor(i), "alice");
		se += gen_session(i) && !strcmp(gen_session(i), "sess-A");
		combo += gen_actor(i) && !strcmp(gen_actor(i), "bob") && gen_session(i) &&
			 !strcmp(gen_session(i), "sess-B");
	}
	struct audit_filter f = { .event_type = "pack.run" };
	json_t *a = auditdb_query(db, &f);
	int allmatch = a != NULL;
	for (size_t i = 0; a && i < json_array_size(a); i++)
		allmatch &= !strcmp(jstr(json_array_get(a, i), "event_type"), "pack.run");
	ok(a && (int)json_array_size(a) == ev && allmatch, "query: event_type filter (%d)", ev);
	json_decref(a);
	f = (struct audit_filter){ .actor = "alice" };
	ok(query_count(db, &f) == ac, "query: actor filter (%d)", ac);
	f = (struct audit_filter){ .session_id = "sess-A" };
	ok(query_count(db, &f) == se, "query: session_id filter (%d)", se);
	f = (struct audit_filter){ .actor = "bob", .session_id = "sess-B" };
	ok(query_count(db, &f) == combo, "query: actor + session_id (%d)", combo);
	f = (struct audit_filter){ .from_ms = gen_ts(5), .to_ms = gen_ts(9) };
	a = auditdb_query(db, &f);
	ok(a && json_array_size(a) == 5 && jint(json_array_get(a, 0), "seq") == 9 &&
		   jint(json_array_get(a, 4), "seq") == 5,
	   "query: from/to inclusive range");
	json_decref(a);
	f = (struct audit_filter){ .from_ms = gen_ts(18) };
	ok(query_count(db, &f) == 3, "query: from only");
	f = (struct audit_filter){ .to_ms = gen_ts(2) };
	ok(query_count(db, &f) == 2, "query: to only");
	f = (struct audit_filter){ .limit = 4 };
	a = auditdb_query(db, &f);
	ok(a && json_array_size(a) == 4 && jint(json_array_get(a, 0), "seq") == 20 &&
		   jint(json_array_get(a, 3), "seq") == 17,
	   "query: limit 4 returns the newest 4");
	json_decref(a);
	f = (struct audit_filter){ .actor = "alice' OR '1'='1" };
	ok(query_count(db, &f) == 0, "query: quotes in filter values are data, not SQL");
	f = (struct audit_filter){ .event_type = "", .actor = "" };
	ok(query_count(db, &f) == 20, "query: empty-string filters mean 'any'");
}

static void test_limits(void)
{
	sqlite3 *db;
	if (auditdb_open(tpath("bulk.db"), &db)) {
		ok(0, "bulk db open");
		return;
	}
	raw_exec(db, "PRAGMA synchronous=OFF"); /* speed only; test-local */
	int fails = 0;
	for (int i = 0; i < 1005; i++) {
		struct audit_rec r = { .event_type = "bulk", .actor = "x", .status = 200 };
		fails += auditdb_append(db, &r, NULL, NULL) != 0;
	}
	ok(fails == 0, "bulk: 1005 appends (ts_ms 0 -> now)");
	struct audit_filter f = { 0 };
	ok(query_count(db, &f) == 100, "query: limit 0 -> default 100");
	f.limit = -5;
	ok(query_count(db, &f) == 100, "query: negative limit -> default 100");
	f.limit = 5000;
	ok(query_count(db, &f) == 1000, "query: limit 5000 clamped to 1000");
	f.limit = 1000;
	ok(query_count(db, &f) == 1000, "query: limit 1000");
	f.limit = 1001;
	ok(query_count(db, &f) == 1000, "query: limit 1001 clamped to 1000");
	json_t *a = auditdb_query(db, &f);
	int64_t ts = jint(json_array_get(a, 0), "ts_ms");
	ok(ts > BASE_TS && llabs(ts - now_unix_ms()) < 600000, "append: ts_ms 0 is stamped with now");
	json_decref(a);
	struct audit_verify_result res;
	ok(auditdb_verify(db, &res) == 0 && res.ok && res.records == 1005 && !res.head_signed &&
		   res.head_seq == 0 && res.bad_seq == -1 && res.reason[0] == '\0',
	   "verify: unsigned db (never signed) -> ok=1, head_signed=0");
	sqlite3_close(db);
}

int main(void)
{
	log_init("t_auditdb");
	if (!mkdtemp(tmpdir))
		fatalx("mkdtemp");
	snprintf(master, sizeof master, "%s/audit.db", tmpdir);

	test_redact();

	sqlite3 *db;
	ok(auditdb_open(master, &db) == 0, "open creates the db");
	struct stat sb;
	int st_rc = stat(master, &sb);
	ok(st_rc == 0 && (sb.st_mode & 077) == 0, "db file is owner-only (0%o)",
	   st_rc == 0 ? (unsigned)(sb.st_mode & 0777) : 0u);
	ok(scalar(db, "SELECT count(*) FROM schema_migrations WHERE version = 1") == 1,
	   "migration 1 recorded");
	sqlite3_stmt *jm;
	int wal = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK) {
		if (sqlite3_step(jm) == SQLITE_ROW)
			wal = !strcmp((const char *)sqlite3_column_text(jm, 0), "wal");
		sqlite3_finalize(jm);
	}
	ok(wal && scalar(db, "PRAGMA synchronous") == 2 && scalar(db, "PRAGMA foreign_keys") == 1 &&
		   scalar(db, "PRAGMA temp_store") == 2,
	   "pragmas: WAL, synchronous=FULL, foreign_keys, temp_store=MEMORY");
	int64_t hs = -1;
	uint8_t hh[32], zero[32] = { 0 };
	memset(hh, 0xAA, 32);
	ok(auditdb_head(db, &hs, hh) == 0 && hs == 0 && !memcmp(hh, zero, 32), "empty head: seq 0, zero hash");
	struct audit_verify_result res;
	ok(auditdb_verify(db, &res) == 0 && res.ok && res.records == 0 && !res.head_signed,
	   "verify: empty db ok");

	uint8_t hashes[21][32];
	int append_ok = 1;
	for (int i = 1; i <= 20; i++) {
		struct audit_rec r;
		gen_rec(i, &r);
		int64_t seq = 0;
		if (auditdb_append(db, &r, &seq, hashes[i]) || seq != i)
			append_ok = 0;
	}
	ok(append_ok, "append 20 records, seq 1..20");
	ok(auditdb_head(db, &hs, hh) == 0 && hs == 20 && !memcmp(hh, hashes[20], 32),
	   "head is record 20 and its hash");
	uint8_t prev1[32];
	ok(row_blob(db, "SELECT prev_hash FROM audit_log WHERE seq = ?", 1, prev1, 32) == 0 &&
		   !memcmp(prev1, zero, 32),
	   "record 1 prev_hash is 32 zero bytes");
	int spec_ok = 1;
	for (int i = 1; i <= 20; i++) {
		uint8_t h[32], p[32];
		if (row_blob(db, "SELECT prev_hash FROM audit_log WHERE seq = ?", i, p, 32) ||
		    spec_hash(db, i, i == 1 ? zero : hashes[i - 1], h) || memcmp(h, hashes[i], 32) ||
		    memcmp(p, i == 1 ? zero : hashes[i - 1], 32))
			spec_ok = 0;
	}
	ok(spec_ok, "hashes match an independent implementation of the documented encoding");
	struct audit_rec neg = { .ts_ms = -5, .event_type = "x" };
	ok(auditdb_append(db, &neg, NULL, NULL) == -1, "append: negative ts rejected");
	ok(auditdb_append(db, NULL, NULL, NULL) == -1, "append: NULL record rejected");
	ok(sqlite3_exec(db, "UPDATE audit_log SET actor = 'x' WHERE seq = 1", NULL, NULL, NULL) != SQLITE_OK &&
		   sqlite3_exec(db, "DELETE FROM audit_log WHERE seq = 1", NULL, NULL, NULL) != SQLITE_OK,
	   "triggers: UPDATE/DELETE on audit_log refused at SQL level");

	test_query(db, (const uint8_t (*)[32])hashes);

	ok(auditdb_verify(db, &res) == 0 && res.ok && res.records == 20 && !res.head_signed,
	   "verify: unsigned chain ok, head_signed=0");

	/* signing */
	uint8_t pub[32], pub2[32], sig[64], badsig[64];
	EVP_PKEY *key = gen_key(pub), *other = gen_key(pub2);
	uint8_t msg[64];
	size_t mlen = 0;
	ok(auditdb_head_message(20, hashes[20], msg, &mlen) == 0 && mlen == 62 &&
		   !memcmp(msg, "helmdeck-audit-head-v1", 22) && msg[22 + 7] == 20 && msg[22] == 0 &&
		   !memcmp(msg + 30, hashes[20], 32),
	   "head message: prefix || be64 seq || hash (62 bytes)");
	sign_head(key, 20, hashes[20], sig);
	ok(auditdb_store_head_sig(db, 20, hashes[20], sig) == -1, "store head sig refused without a pubkey");
	ok(auditdb_set_pubkey(db, pub) == 0, "set pubkey");
	sign_head(other, 20, hashes[20], badsig);
	ok(auditdb_store_head_sig(db, 20, hashes[20], badsig) == -1, "store head sig: wrong key refused");
	ok(auditdb_store_head_sig(db, 20, hashes[19], sig) == -1, "store head sig: hash not matching record refused");
	ok(auditdb_store_head_sig(db, 21, hashes[20], sig) == -1, "store head sig: nonexistent seq refused");
	ok(auditdb_store_head_sig(db, 20, hashes[20], sig) == 0, "store head sig for seq 20");
	uint8_t sig19[64];
	sign_head(key, 19, hashes[19], sig19);
	ok(auditdb_store_head_sig(db, 19, hashes[19], sig19) == -1, "store head sig: rollback to older seq refused");
	ok(auditdb_set_pubkey(db, pub) == 0 &&
		   scalar(db, "SELECT length(value) FROM meta WHERE key = 'audit_pubkey_history'") == 64,
	   "set same pubkey twice keeps one history entry");
	ok(auditdb_verify(db, &res) == 0 && res.ok && res.records == 20 && res.head_signed &&
		   res.head_seq == 20 && res.bad_seq == -1 && res.reason[0] == '\0',
	   "verify: signed db ok (head_signed=1, head_seq=20)");
	ok(auditdb_verify_pinned(db, pub, &res) == 0 && res.ok && res.head_signed,
	   "verify_pinned with the real key ok");
	ok(auditdb_verify_pinned(db, pub2, &res) == 0 && !res.ok && res.bad_seq == 20,
	   "verify_pinned with another key fails");
	sqlite3_close(db);
	char side[600];
	snprintf(side, sizeof side, "%s-wal", master);
	ok(access(side, F_OK) != 0, "closing checkpoints the WAL (single-file copies are complete)");

	/* tampering, each on a fresh copy */
	expect_bad("edit-payload-7", "UPDATE audit_log SET payload = '{\"n\":99}' WHERE seq = 7", 7, "hash mismatch");
	expect_bad("edit-actor-3", "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3, "hash mismatch");
	expect_bad("null-payload-7", "UPDATE audit_log SET payload = NULL WHERE seq = 7", 7, "hash mismatch");
	expect_bad("edit-status-12", "UPDATE audit_log SET status = 500 WHERE seq = 12", 12, "hash mismatch");
	/* a deleted middle record is reported at the missing seq (10), not 11 */
	expect_bad("delete-10", "DELETE FROM audit_log WHERE seq = 10", 10, "missing");
	expect_bad("reorder-4-5",
		   "UPDATE audit_log SET seq = -4 WHERE seq = 4;"
		   "UPDATE audit_log SET seq = 4 WHERE seq = 5;"
		   "UPDATE audit_log SET seq = 5 WHERE seq = -4;",
		   4, "prev_hash does not link");
	expect_bad("swap-contents-6-7",
		   "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE seq IN (6, 7);"
		   "UPDATE audit_log SET (ts_ms, actor, client, event_type, method, path, status,"
		   " session_id, pack, outcome, error_code, duration_ms, payload, prev_hash, hash) ="
		   " (SELECT ts_ms, actor, client, event_type, method, path, status, session_id, pack,"
		   " outcome, error_code, duration_ms, payload, prev_hash, hash FROM t"
		   " WHERE t.seq = 13 - audit_log.seq) WHERE seq IN (6, 7);",
		   6, "prev_hash does not link");
	expect_bad("delete-tail", "DELETE FROM audit_log WHERE seq = 20", 20, "beyond last record");
	expect_bad("delete-tail-3", "DELETE FROM audit_log WHERE seq >= 18", 18, "beyond last record");
	expect_bad("delete-all-rows", "DELETE FROM audit_log", 1, "beyond last record");
	expect_bad("edit-head-hash", "UPDATE audit_head SET hash = zeroblob(32)", 20, "does not match record 20");
	expect_bad("head-rollback-unsigned",
		   "UPDATE audit_head SET seq = 19, hash = (SELECT hash FROM audit_log WHERE seq = 19)",
		   19, "signature does not verify");
	expect_bad("head-seq-beyond", "UPDATE audit_head SET seq = 25", 21, "beyond last record");
	expect_bad("garbage-sig", "UPDATE audit_head SET sig = randomblob(64)", 20, "signature does not verify");
	expect_bad("text-sig", "UPDATE audit_head SET sig = 'garbage'", 20, "malformed");
	expect_bad("no-pubkey", "DELETE FROM meta", 20, "no public key");
	/* odd types / NULLs written with the CLI must not crash verification */
	expect_bad("text-ts-6", "UPDATE audit_log SET ts_ms = 'yesterday' WHERE seq = 6", 6, "ts_ms");
	expect_bad("real-status-6", "UPDATE audit_log SET status = 3.5 WHERE seq = 6", 6, "status");
	expect_bad("blob-actor-6", "UPDATE audit_log SET actor = x'414243' WHERE seq = 6", 6, "actor");
	expect_bad("text-hash-6", "UPDATE audit_log SET hash = 'abc' WHERE seq = 6", 6, "hash is not");
	expect_bad("short-prev-6", "UPDATE audit_log SET prev_hash = x'00' WHERE seq = 6", 6, "prev_hash is not");
	expect_bad("null-duration-2",
		   "CREATE TABLE x AS SELECT * FROM audit_log; DROP TABLE audit_log;"
		   " CREATE TABLE audit_log AS SELECT * FROM x; DROP TABLE x;"
		   " UPDATE audit_log SET duration_ms = NULL WHERE seq = 2",
		   2, "duration_ms");
	expect_bad("forged-seq-0",
		   "INSERT INTO audit_log (seq, ts_ms, status, duration_ms, prev_hash, hash)"
		   " VALUES (0, 1, 0, 0, zeroblob(32), zeroblob(32))",
		   0, "unexpected record seq");

	/* attacker edits record 3 and fixes that row's hash: caught at record 4 */
	{
		char *p = tpath("rehash-one.db");
		copy_file(master, p);
		sqlite3 *raw;
		sqlite3_open(p, &raw);
		int rc = raw_exec(raw, "DROP TRIGGER audit_log_no_update;"
				       "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
		rc |= rehash_rows(raw, 3, 3);
		sqlite3_close(raw);
		sqlite3 *d;
		rc |= auditdb_open(p, &d);
		rc |= auditdb_verify(d, &res);
		sqlite3_close(d);
		printf("# rehash-one: bad_seq=%" PRId64 " reason=\"%s\"\n", res.bad_seq, res.reason);
		ok(rc == 0 && !res.ok && res.bad_seq == 4 && strstr(res.reason, "prev_hash does not link"),
		   "tamper rehash-one: edited row with recomputed hash detected at the next row (4)");
	}
	/* ... and re-hashes the whole tail: caught by the signed head */
	{
		char *p = tpath("rehash-tail.db");
		copy_file(master, p);
		sqlite3 *raw;
		sqlite3_open(p, &raw);
		int rc = raw_exec(raw, "DROP TRIGGER audit_log_no_update;"
				       "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
		rc |= rehash_rows(raw, 3, 20);
		sqlite3_close(raw);
		sqlite3 *d;
		rc |= auditdb_open(p, &d);
		rc |= auditdb_verify(d, &res);
		printf("# rehash-tail: bad_seq=%" PRId64 " reason=\"%s\"\n", res.bad_seq, res.reason);
		ok(rc == 0 && !res.ok && res.bad_seq == 20 && strstr(res.reason, "does not match record 20"),
		   "tamper rehash-tail: fully re-hashed chain detected by the signed head (20)");
		/* limitation: if the attacker also deletes the head, only the
		 * pinned-key verification notices */
		raw_exec(d, "DELETE FROM audit_head");
		rc = auditdb_verify(d, &res);
		ok(rc == 0 && res.ok && !res.head_signed,
		   "limitation: re-hashed chain + deleted head passes in-db verification (documented)");
		rc = auditdb_verify_pinned(d, pub, &res);
		printf("# rehash-tail pinned: reason=\"%s\"\n", res.reason);
		ok(rc == 0 && !res.ok && strstr(res.reason, "no signed head"),
		   "verify_pinned: missing head detected");
		sqlite3_close(d);
	}
	/* attacker swaps the stored pubkey and re-signs a re-hashed chain */
	{
		char *p = tpath("resign.db");
		copy_file(master, p);
		sqlite3 *raw;
		sqlite3_open(p, &raw);
		int rc = raw_exec(raw, "DROP TRIGGER audit_log_no_update;"
				       "UPDATE audit_log SET outcome = 'ok' WHERE seq = 3;"
				       "DELETE FROM meta");
		rc |= rehash_rows(raw, 3, 20);
		uint8_t nh[32], nsig[64];
		rc |= row_blob(raw, "SELECT hash FROM audit_log WHERE seq = ?", 20, nh, 32);
		sign_head(other, 20, nh, nsig);
		sqlite3_stmt *st;
		sqlite3_prepare_v2(raw, "UPDATE audit_head SET hash = ?, sig = ?", -1, &st, NULL);
		sqlite3_bind_blob(st, 1, nh, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 2, nsig, 64, SQLITE_TRANSIENT);
		rc |= sqlite3_step(st) != SQLITE_DONE;
		sqlite3_finalize(st);
		char hex[65], sql[200];
		hex_encode(pub2, 32, hex);
		snprintf(sql, sizeof sql, "INSERT INTO meta VALUES ('audit_pubkey', '%s')", hex);
		rc |= raw_exec(raw, sql);
		sqlite3_close(raw);
		sqlite3 *d;
		rc |= auditdb_open(p, &d);
		rc |= auditdb_verify(d, &res);
		ok(rc == 0 && res.ok, "limitation: key swap + re-sign passes in-db verification (documented)");
		rc = auditdb_verify_pinned(d, pub, &res);
		printf("# resign pinned: bad_seq=%" PRId64 " reason=\"%s\"\n", res.bad_seq, res.reason);
		ok(rc == 0 && !res.ok && res.bad_seq == 20 && strstr(res.reason, "pinned key"),
		   "verify_pinned: key swap + re-sign detected");
		sqlite3_close(d);
	}

	/* no head at all -> ok, head_signed = 0 */
	ok(tamper_verify("no-head", "DELETE FROM audit_head", &res, NULL) == 0 && res.ok &&
		   !res.head_signed && res.head_seq == 0 && res.records == 20,
	   "unsigned db (head removed): ok=1, head_signed=0");
	/* untouched copy still verifies */
	ok(tamper_verify("pristine", NULL, &res, NULL) == 0 && res.ok && res.head_signed,
	   "pristine copy verifies");

	/* records appended after the head signature: still ok, head lags */
	{
		char *p = tpath("lagging.db");
		copy_file(master, p);
		sqlite3 *d;
		int rc = auditdb_open(p, &d);
		for (int i = 21; i <= 23; i++) {
			struct audit_rec r;
			gen_rec(i, &r);
			rc |= auditdb_append(d, &r, NULL, NULL);
		}
		rc |= auditdb_verify(d, &res);
		ok(rc == 0 && res.ok && res.records == 23 && res.head_signed && res.head_seq == 20 &&
			   res.reason[0] == '\0' && res.bad_seq == -1,
		   "appends after the signed head: ok, head_seq=20 < records=23");
		/* key rotation: old head still verifies via the key history */
		rc = auditdb_set_pubkey(d, pub2);
		rc |= auditdb_verify(d, &res);
		ok(rc == 0 && res.ok && res.head_signed, "key rotation: head signed by the previous key still verifies");
		uint8_t h23[32], s23[64];
		int64_t s;
		rc = auditdb_head(d, &s, h23);
		sign_head(other, s, h23, s23);
		rc |= auditdb_store_head_sig(d, s, h23, s23);
		rc |= auditdb_verify(d, &res);
		ok(rc == 0 && s == 23 && res.ok && res.head_seq == 23, "re-signed with the new key at seq 23");
		/* a later edit is still caught */
		raw_exec(d, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET path = '/x' WHERE seq = 22");
		rc = auditdb_verify(d, &res);
		ok(rc == 0 && !res.ok && res.bad_seq == 22, "edit after rotation detected at 22");
		sqlite3_close(d);
	}

	test_limits();

	EVP_PKEY_free(key);
	EVP_PKEY_free(other);

	/* clean up the temp dir */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);

	printf("1..%d\n", ntest);
	return nfail ? 1 : 0;
}
