/* TAP tests for workers/vault/credstore: validation, redaction, keyed
 * fingerprints, default-deny ACL, usage log, ranking, rotation, raw-SQL
 * tampering, wrong key and rekey, against a real sqlite file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, memmem */
#endif
#include "workers/vault/credstore.h"
#include "common/b64.h"
#include "common/util.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static char dir[] = "/tmp/t_credstore.XXXXXX";
static char dbpath[600];
static uint8_t key1[32], key2[32], key3[32];

static const char login_secret[] = "{\"username\":\"octocat\",\"password\":\"hunter2-Sup3r\"}";
static const char cookie_secret[] = "[{\"name\":\"sid\",\"value\":\"c00kie-val-9f8e\"},{\"name\":\"x\",\"value\":\"y\"}]";
static const char api_secret[] = "sk-live-0123456789abcdefXYZ";
static const char oauth_secret[] = "{\"refresh_token\":\"rt-abcdef-123456\"}";
static const char ssh_secret[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
				 "-----END OPENSSH PRIVATE KEY-----\n";

/* ---------- helpers ---------- */

static int mk(struct credstore *cs, const char *name, const char *type, const char *host,
	      const char *path, const char *meta, const char *secret, struct cs_cred *out,
	      char *err, size_t errlen)
{
	struct cs_cred in;
	memset(&in, 0, sizeof in);
	snprintf(in.name, sizeof in.name, "%s", name);
	snprintf(in.type, sizeof in.type, "%s", type);
	snprintf(in.host_pattern, sizeof in.host_pattern, "%s", host);
	snprintf(in.path_pattern, sizeof in.path_pattern, "%s", path);
	snprintf(in.metadata_json, sizeof in.metadata_json, "%s", meta);
	char e[512];
	if (!err) {
		err = e;
		errlen = sizeof e;
	}
	return cs_create(cs, &in, (const uint8_t *)secret, strlen(secret), out, err, errlen);
}

/* CS_INVALID and the message names field. */
static void bad(struct credstore *cs, const char *what, const char *field, const char *name,
		const char *type, const char *host, const char *path, const char *meta, const char *secret)
{
	char err[512] = "";
	int rc = mk(cs, name, type, host, path, meta, secret, NULL, err, sizeof err);
	ok(rc == CS_INVALID && strstr(err, field) != NULL, "invalid %s -> CS_INVALID naming %s (%d: %s)",
	   what, field, rc, err);
}

static int jcontains(json_t *j, const char *needle)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	int r = s && strstr(s, needle) != NULL;
	free(s);
	return r;
}

/* 1 when the JSON text holds none of the secrets (raw or base64), nor "plain". */
static int jclean(json_t *j)
{
	static const char *const secrets[] = { login_secret, cookie_secret, api_secret, oauth_secret,
					       ssh_secret, "hunter2-Sup3r", "c00kie-val-9f8e",
					       "rotated-S3cret-v2" };
	if (!j)
		return 0;
	for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
		size_t n = strlen(secrets[i]);
		char *b = xmalloc(b64_encoded_len(n, 0) + 1);
		b64_encode((const uint8_t *)secrets[i], n, b, 0);
		int hit = jcontains(j, secrets[i]) || jcontains(j, b);
		b64_encode((const uint8_t *)secrets[i], n, b, 1);
		hit |= jcontains(j, b);
		free(b);
		if (hit) {
			printf("#   JSON holds secret #%zu or its base64\n", i);
			return 0;
		}
	}
	if (jcontains(j, "plaintext") || jcontains(j, "plain_len")) {
		printf("#   JSON names the plaintext\n");
		return 0;
	}
	return 1;
}

static void sha256_file(const char *path, uint8_t out[32])
{
	char *buf = NULL;
	ssize_t n = read_file(path, &buf, 64u << 20);
	unsigned int len = 0;
	memset(out, 0, 32);
	if (n >= 0)
		EVP_Digest(buf, (size_t)n, out, &len, EVP_sha256(), NULL);
	free(buf);
}

static int file_has(const char *path, const void *needle, size_t n)
{
	char *buf = NULL;
	ssize_t len = read_file(path, &buf, 64u << 20);
	int r = len > 0 && memmem(buf, (size_t)len, needle, n) != NULL;
	free(buf);
	return r;
}

static sqlite3 *raw_open(void)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(db, 2000);
	return db;
}

/* count(*) style query with one optional text parameter. */
static int64_t raw_int(const char *sql, const char *arg)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (arg)
			sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int raw_exec(const char *sql, const char *a1, const char *a2)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (a1)
			sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
		if (a2)
			sqlite3_bind_text(st, 2, a2, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Copy of the ciphertext blob of id. */
static size_t raw_ct(const char *id, uint8_t *out, size_t cap)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	if (db && sqlite3_prepare_v2(db, "SELECT ciphertext FROM credentials WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) <= cap) {
			n = (size_t)sqlite3_column_bytes(st, 0);
			memcpy(out, sqlite3_column_blob(st, 0), n);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Flip one bit of byte i of id's ciphertext, through a separate connection. */
static int raw_flip(const char *id, size_t i)
{
	uint8_t ct[CS_SECRET_MAX + 16];
	size_t n = raw_ct(id, ct, sizeof ct);
	if (n <= i)
		return 0;
	ct[i] ^= 1;
	sqlite3 *db = raw_open();
	sqlite3_stmt *st = NULL;
	int good = 0;
	if (db && sqlite3_prepare_v2(db, "UPDATE credentials SET ciphertext = ? WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, ct, (int)n, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		good = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return good;
}

static int64_t usage_rows(void) { return raw_int("SELECT count(*) FROM credential_usage_log", NULL); }

/* Newest usage row for id (NULL = any): result and reason. */
static int last_usage(struct credstore *cs, const char *id, const char *result, const char *reason_part)
{
	json_t *u = cs_usage(cs, id, 1);
	json_t *r = json_array_get(u, 0);
	const char *res = json_string_value(json_object_get(r, "result"));
	const char *why = json_string_value(json_object_get(r, "reason"));
	int good = res && !strcmp(res, result) && (!reason_part || (why && strstr(why, reason_part)));
	if (!good)
		printf("#   last usage: result=%s reason=%s\n", res ? res : "(none)", why ? why : "(none)");
	json_decref(u);
	return good;
}

static int resolve(struct credstore *cs, const char *name, const char *subj, const char *client,
		   const char *host, const char *path, char *out, size_t cap, size_t *olen, char *reason)
{
	struct cs_cred meta;
	return cs_resolve_name(cs, name, subj, client, host, path, "test", (uint8_t *)out, cap, olen,
			       &meta, reason, 512);
}

static int resolve_h(struct credstore *cs, const char *type, const char *host, const char *path,
		     const char *subj, struct cs_cred *meta)
{
	uint8_t out[CS_SECRET_MAX];
	size_t olen = 0;
	char reason[512];
	return cs_resolve_host(cs, type, host, path, subj, "cli", "inject", out, sizeof out, &olen, meta,
			       reason, sizeof reason);
}

/* ---------- sections ---------- */

static struct cs_cred c_login, c_cookie, c_api, c_oauth, c_ssh, c_api2, c_same;

static void t_open_and_create(struct credstore **csp)
{
	char err[512];
	struct credstore *cs = NULL;
	ok(cs_open(dbpath, key1, &cs, err, sizeof err) == CS_OK && cs, "open creates a new vault (%s)", err);
	*csp = cs;
	struct stat sb;
	ok(stat(dbpath, &sb) == 0 && (sb.st_mode & 0777) == 0600, "vault.db is mode 0600");
	ok(cs_count(cs) == 0, "new vault is empty");
	ok(raw_int("SELECT length(v) FROM meta WHERE k = 'check'", NULL) == 12 + 32 + 16,
	   "check record is nonce || sealed 32 bytes || tag");
	ok(raw_int("SELECT v FROM meta WHERE k = 'schema'", NULL) == 1, "schema is 1");
	ok(raw_int("SELECT length(v) FROM meta WHERE k = 'fp_salt'", NULL) == 60,
	   "fp_salt is stored sealed, not in the clear");

	char k1[17], k1b[17], k2[17];
	cs_key_id(key1, k1);
	cs_key_id(key1, k1b);
	cs_key_id(key2, k2);
	ok(strlen(k1) == 16 && !strcmp(k1, k1b) && strcmp(k1, k2), "key id is 16 hex, stable, key-specific");

	int rc = mk(cs, "github", "login", "GitHub.COM", "", "", login_secret, &c_login, err, sizeof err);
	ok(rc == CS_OK, "create login (%s)", err);
	ok(strlen(c_login.id) == 37 && !strncmp(c_login.id, "cred_", 5) &&
	   strspn(c_login.id + 5, "0123456789abcdef") == 32, "id is cred_<32 lowercase hex>");
	is_str(c_login.host_pattern, "github.com", "host_pattern stored lowercase");
	is_str(c_login.path_pattern, "/", "empty path_pattern defaults to /");
	is_str(c_login.metadata_json, "{}", "empty metadata stored as {}");
	ok(strlen(c_login.fingerprint) == 16 && strspn(c_login.fingerprint, "0123456789abcdef") == 16,
	   "fingerprint is 16 lowercase hex");
	ok(c_login.created_at > 0 && c_login.updated_at == c_login.created_at && c_login.last_used_at == 0,
	   "timestamps set, never used");
	ok(c_login.plain_len == strlen(login_secret), "plain_len is the secret length");

	ok(mk(cs, "session", "cookie", "*.example.com", "/", "{\"note\":\"web\"}", cookie_secret, &c_cookie,
	      err, sizeof err) == CS_OK, "create cookie array (%s)", err);
	ok(mk(cs, "single-cookie", "cookie", "one.example.com", "/", "", "{\"name\":\"a\",\"value\":\"b\"}",
	      NULL, err, sizeof err) == CS_OK, "create cookie object (%s)", err);
	ok(mk(cs, "stripe", "api_key", "api.stripe.com", "/v1", "", api_secret, &c_api, err, sizeof err) == CS_OK,
	   "create api_key (%s)", err);
	ok(mk(cs, "google", "oauth", "*.googleapis.com", "/", "{\"token_url\":\"https://oauth2.googleapis.com/token\"}",
	      oauth_secret, &c_oauth, err, sizeof err) == CS_OK, "create oauth (%s)", err);
	ok(mk(cs, "deploy", "ssh", "git.example.com", "/", "", ssh_secret, &c_ssh, err, sizeof err) == CS_OK,
	   "create ssh (%s)", err);
	ok(mk(cs, "unicode-login", "login", "u.example", "/", "",
	      "{\"username\":\"j\\u00e9r\\u00f4me\",\"password\":\"p\\ud83d\\ude00\xc3\xa9\",\"extra\":[1,2.5e3,true,null,{}]}",
	      NULL, err, sizeof err) == CS_OK, "create login with escapes, UTF-8 and extra members (%s)", err);

	/* invalid inputs, each naming its field */
	bad(cs, "name with space", "name", "bad name", "api_key", "a.com", "/", "", "x");
	bad(cs, "empty name", "name", "", "api_key", "a.com", "/", "", "x");
	struct cs_cred raw;
	memset(&raw, 0, sizeof raw);
	memset(raw.name, 'n', sizeof raw.name); /* 129 chars, no terminator */
	snprintf(raw.type, sizeof raw.type, "api_key");
	snprintf(raw.host_pattern, sizeof raw.host_pattern, "a.com");
	ok(cs_create(cs, &raw, (const uint8_t *)"x", 1, NULL, err, sizeof err) == CS_INVALID && strstr(err, "name"),
	   "unterminated 129-char name -> CS_INVALID naming name (%s)", err);
	raw.name[128] = '\0';
	ok(cs_create(cs, &raw, (const uint8_t *)"x", 1, NULL, err, sizeof err) == CS_OK,
	   "128-char name accepted (%s)", err);
	bad(cs, "type", "type", "t1", "password", "a.com", "/", "", "x");
	bad(cs, "host with space", "host_pattern", "t2", "api_key", "exa mple.com", "/", "", "x");
	bad(cs, "empty host", "host_pattern", "t3", "api_key", "", "/", "", "x");
	char longhost[260];
	memset(longhost, 'h', 254);
	longhost[254] = '\0';
	bad(cs, "254-char host", "host_pattern", "t4", "api_key", longhost, "/", "", "x");
	bad(cs, "host with '/'", "host_pattern", "t4b", "api_key", "a.com/x", "/", "", "x");
	bad(cs, "relative path", "path_pattern", "t5", "api_key", "a.com", "api", "", "x");
	bad(cs, "path with space", "path_pattern", "t6", "api_key", "a.com", "/a b", "", "x");
	bad(cs, "metadata array", "metadata_json", "t7", "api_key", "a.com", "/", "[1]", "x");
	bad(cs, "metadata broken", "metadata_json", "t8", "api_key", "a.com", "/", "{bad", "x");
	bad(cs, "empty secret", "secret", "t9", "api_key", "a.com", "/", "", "");
	bad(cs, "login not JSON", "secret", "t10", "login", "a.com", "/", "", "hunter2");
	bad(cs, "login without password", "secret", "t11", "login", "a.com", "/", "", "{\"username\":\"u\"}");
	bad(cs, "login password not a string", "secret", "t12", "login", "a.com", "/", "",
	    "{\"username\":\"u\",\"password\":5}");
	bad(cs, "login duplicate password", "secret", "t13", "login", "a.com", "/", "",
	    "{\"username\":\"u\",\"password\":\"a\",\"password\":\"b\"}");
	bad(cs, "login trailing garbage", "secret", "t14", "login", "a.com", "/", "",
	    "{\"username\":\"u\",\"password\":\"a\"} x");
	bad(cs, "login invalid UTF-8", "secret", "t15", "login", "a.com", "/", "",
	    "{\"username\":\"u\",\"password\":\"\xc3\x28\"}");
	bad(cs, "login lone surrogate", "secret", "t16", "login", "a.com", "/", "",
	    "{\"username\":\"u\",\"password\":\"\\ud800\"}");
	bad(cs, "cookie element without value", "secret", "t17", "cookie", "a.com", "/", "",
	    "[{\"name\":\"a\",\"value\":\"b\"},{\"name\":\"c\"}]");
	bad(cs, "cookie empty array", "secret", "t18", "cookie", "a.com", "/", "", "[]");
	bad(cs, "cookie string", "secret", "t19", "cookie", "a.com", "/", "", "\"sid=1\"");
	bad(cs, "ssh not PEM", "secret", "t20", "ssh", "a.com", "/", "", "hello");
	bad(cs, "ssh public key", "secret", "t21", "ssh", "a.com", "/", "", "-----BEGIN PUBLIC KEY-----\nAAA\n");

	struct cs_cred in;
	memset(&in, 0, sizeof in);
	snprintf(in.name, sizeof in.name, "big");
	snprintf(in.type, sizeof in.type, "api_key");
	snprintf(in.host_pattern, sizeof in.host_pattern, "a.com");
	uint8_t *big = xcalloc(1, CS_SECRET_MAX + 1);
	memset(big, 'a', CS_SECRET_MAX + 1);
	ok(cs_create(cs, &in, big, CS_SECRET_MAX + 1, NULL, err, sizeof err) == CS_INVALID && strstr(err, "secret"),
	   "65537-byte secret -> CS_INVALID naming secret");
	ok(cs_create(cs, &in, big, CS_SECRET_MAX, NULL, err, sizeof err) == CS_OK, "65536-byte secret accepted");
	free(big);

	err[0] = '\0';
	ok(mk(cs, "github", "api_key", "x.com", "/", "", "zzz", NULL, err, sizeof err) == CS_EXISTS &&
	   strstr(err, "name"), "duplicate name -> CS_EXISTS (%s)", err);
	ok(cs_count(cs) == 9, "9 credentials stored (got %d)", cs_count(cs));
}

static void t_redaction(struct credstore *cs)
{
	json_t *list = cs_list(cs);
	ok(json_is_array(list) && json_array_size(list) == 9, "list returns every credential");
	const char *first = json_string_value(json_object_get(json_array_get(list, 0), "name"));
	const char *second = json_string_value(json_object_get(json_array_get(list, 1), "name"));
	ok(first && second && !strcmp(first, "big") && !strcmp(second, "deploy"), "list is ordered by name");
	ok(jclean(list), "list JSON has no secret, base64 of one, or plaintext field");
	json_decref(list);

	struct cs_cred g;
	ok(cs_get(cs, c_login.id, &g) == CS_OK && !strcmp(g.name, "github"), "get by id");
	json_t *j = cs_cred_json(&g);
	ok(jclean(j), "get JSON is redacted");
	ok(json_is_null(json_object_get(j, "last_used_at")), "last_used_at null when never used");
	const char *ca = json_string_value(json_object_get(j, "created_at"));
	ok(ca && strlen(ca) == 20 && ca[4] == '-' && ca[10] == 'T' && ca[19] == 'Z', "created_at is ISO-8601 UTC");
	ok(json_is_object(json_object_get(j, "metadata")) && json_object_get(j, "fingerprint"),
	   "metadata is an object, fingerprint present");
	json_decref(j);

	struct cs_cred t;
	memset(&t, 0, sizeof t);
	t.created_at = 1796169600;
	j = cs_cred_json(&t);
	is_str(json_string_value(json_object_get(j, "created_at")), "2026-12-02T00:00:00Z", "ISO format exact");
	json_decref(j);

	ok(cs_get(cs, "cred_00000000000000000000000000000000", &g) == CS_NOT_FOUND, "unknown id -> CS_NOT_FOUND");
	ok(cs_get(cs, "github'; DROP TABLE credentials;--", &g) == CS_NOT_FOUND, "malformed id -> CS_NOT_FOUND");
}

static void t_fingerprints(struct credstore *cs)
{
	char err[512];
	ok(mk(cs, "stripe-copy", "api_key", "api.stripe.com", "/", "", api_secret, &c_same, err, sizeof err) == CS_OK,
	   "create second credential with the same secret");
	ok(!strcmp(c_same.fingerprint, c_api.fingerprint), "same secret -> same fingerprint");
	ok(mk(cs, "stripe-test", "api_key", "api.stripe.com", "/", "", "sk-test-other", &c_api2, err, sizeof err) == CS_OK &&
	   strcmp(c_api2.fingerprint, c_api.fingerprint), "different secret -> different fingerprint");
	uint8_t h[32];
	char hex[65];
	unsigned int len;
	EVP_Digest(api_secret, strlen(api_secret), h, &len, EVP_sha256(), NULL);
	hex_encode(h, 8, hex);
	ok(strcmp(hex, c_api.fingerprint), "fingerprint is not a bare SHA-256 of the secret");
}

static void t_acl(struct credstore *cs)
{
	char out[1024], reason[512], err[512];
	size_t olen = 99;
	int64_t before = usage_rows();
	memset(out, 0xAA, sizeof out);
	int rc = resolve(cs, "github", "alice", "cli", "github.com", "/login", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED && olen == 0, "default deny: no grant -> CS_DENIED (%s)", reason);
	ok((unsigned char)out[0] == 0xAA, "nothing written to out when denied");
	ok(last_usage(cs, c_login.id, "denied", "no grant for alice"), "usage row: denied, no grant for alice");
	ok(usage_rows() == before + 1, "exactly one usage row per call");

	ok(cs_grant(cs, c_login.id, "alice", "cli", err, sizeof err) == CS_OK, "grant alice via cli");
	ok(cs_grant(cs, c_login.id, "alice", "cli", err, sizeof err) == CS_OK, "grant is idempotent");
	json_t *g = cs_grants(cs, c_login.id);
	ok(json_array_size(g) == 1 && jclean(g), "one grant listed, redacted");
	const char *gs = json_string_value(json_object_get(json_array_get(g, 0), "actor_subject"));
	ok(gs && !strcmp(gs, "alice"), "grant subject is alice");
	json_decref(g);

	struct cs_cred meta;
	rc = cs_resolve_name(cs, "github", "alice", "cli", "github.com", "/login", "browser.login",
			     (uint8_t *)out, sizeof out, &olen, &meta, reason, sizeof reason);
	ok(rc == CS_OK && olen == strlen(login_secret) && !memcmp(out, login_secret, olen),
	   "granted subject+client resolves to the secret (%s)", reason);
	ok(!strcmp(meta.id, c_login.id) && meta.last_used_at > 0, "meta filled, last_used_at stamped");
	ok(last_usage(cs, c_login.id, "allowed", NULL), "usage row: allowed");
	struct cs_cred g2;
	cs_get(cs, c_login.id, &g2);
	json_t *j = cs_cred_json(&g2);
	ok(g2.last_used_at > 0 && json_is_string(json_object_get(j, "last_used_at")), "last_used_at persisted");
	json_decref(j);

	rc = resolve(cs, "github", "alice", "other-client", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "client-specific grant does not admit another client");
	rc = resolve(cs, "github", "bob", "cli", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "another subject is denied");

	ok(cs_grant(cs, c_login.id, "bob", "", err, sizeof err) == CS_OK, "grant bob from any client");
	rc = resolve(cs, "github", "bob", "whatever", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_OK, "empty client grant admits any client");

	ok(cs_grant(cs, c_login.id, "*", "", err, sizeof err) == CS_OK, "grant * (any subject)");
	rc = resolve(cs, "github", "carol", "x", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_OK, "wildcard subject admits carol");
	rc = resolve(cs, "github", "", "x", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "an empty subject is never admitted, not even by *");
	ok(cs_revoke(cs, c_login.id, "*") == CS_OK, "revoke *");
	rc = resolve(cs, "github", "carol", "x", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "after revoke carol is denied");
	ok(cs_revoke(cs, c_login.id, "nobody") == CS_NOT_FOUND, "revoke without grant -> CS_NOT_FOUND");

	ok(cs_grant(cs, c_login.id, "a b", "", err, sizeof err) == CS_INVALID && strstr(err, "subject"),
	   "bad subject -> CS_INVALID naming subject");
	ok(cs_grant(cs, c_login.id, "ali*", "", err, sizeof err) == CS_INVALID && strstr(err, "subject"),
	   "'*' inside a subject is refused");
	ok(cs_grant(cs, c_login.id, "dave", "x y", err, sizeof err) == CS_INVALID && strstr(err, "client"),
	   "bad client -> CS_INVALID naming client");
	ok(cs_grant(cs, "cred_00000000000000000000000000000000", "dave", "", err, sizeof err) == CS_NOT_FOUND,
	   "grant on unknown credential -> CS_NOT_FOUND");
	ok(cs_grants(cs, "cred_00000000000000000000000000000000") == NULL, "grants of unknown credential -> NULL");

	/* target checks */
	rc = resolve(cs, "github", "alice", "cli", "evil.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED && strstr(reason, "credential is for github.com, not evil.com"),
	   "host mismatch denied (%s)", reason);
	ok(last_usage(cs, c_login.id, "denied", "credential is for github.com"), "usage row: host mismatch");
	rc = resolve(cs, "github", "alice", "cli", "evil.com#.github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "crafted host with '#' cannot match");
	rc = resolve(cs, "github", "alice", "cli", "GITHUB.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_OK, "host match ignores case");

	cs_grant(cs, c_api.id, "alice", "", err, sizeof err);
	rc = resolve(cs, "stripe", "alice", "cli", "api.stripe.com", "/v1/charges", out, sizeof out, &olen, reason);
	ok(rc == CS_OK && olen == strlen(api_secret), "path under the prefix resolves");
	rc = resolve(cs, "stripe", "alice", "cli", "api.stripe.com", "/v2/charges", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED && strstr(reason, "credential is for"), "path outside the prefix denied (%s)", reason);
	rc = resolve(cs, "stripe", "alice", "cli", "api.stripe.com", "/v1/../admin", out, sizeof out, &olen, reason);
	ok(rc == CS_DENIED, "dot segments cannot climb out of the prefix");
	rc = resolve(cs, "stripe", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason);
	ok(rc == CS_OK, "no host given: no target check");
	rc = resolve(cs, "stripe", "alice", "cli", "api.stripe.com", "/v1/x?key=topsecret", out, sizeof out, &olen, reason);
	json_t *u = cs_usage(cs, c_api.id, 1);
	const char *lp = json_string_value(json_object_get(json_array_get(u, 0), "path"));
	ok(rc == CS_OK && lp && !strcmp(lp, "/v1/x"), "query string is not written to the usage log");
	json_decref(u);

	before = usage_rows();
	rc = resolve(cs, "nope", "alice", "cli", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_NO_MATCH && usage_rows() == before + 1, "unknown name -> CS_NO_MATCH, one row");
	ok(last_usage(cs, "", "no_match", "nope"), "no_match row with empty credential_id");

	before = usage_rows();
	rc = resolve(cs, "github", "alice", "cli", "github.com", "/", out, 4, &olen, reason);
	ok(rc == CS_ERR && olen == 0 && usage_rows() == before + 1, "too small a buffer -> CS_ERR, one row");

	u = cs_usage(cs, NULL, 1000);
	ok(json_array_size(u) == 18 && jclean(u), "usage JSON has no secrets");
	json_t *u0 = json_array_get(u, 0), *u1 = json_array_get(u, 1);
	ok(json_object_get(u0, "ts") && json_object_get(u0, "purpose") && json_object_get(u0, "actor_client"),
	   "usage rows carry ts, purpose and actor fields");
	const char *r0 = json_string_value(json_object_get(u0, "result"));
	const char *r1 = json_string_value(json_object_get(u1, "result"));
	ok(r0 && r1 && !strcmp(r0, "denied") && !strcmp(r1, "no_match"), "usage is newest first");
	json_decref(u);
}

static void t_delete(struct credstore *cs)
{
	char out[256], reason[512], err[512];
	size_t olen;
	struct cs_cred tmp, g;
	ok(mk(cs, "doomed", "api_key", "d.example", "/", "", "doomed-secret", &tmp, err, sizeof err) == CS_OK,
	   "create a credential to delete");
	cs_grant(cs, tmp.id, "alice", "", err, sizeof err);
	resolve(cs, "doomed", "alice", "cli", "d.example", "/", out, sizeof out, &olen, reason);
	ok(cs_delete(cs, tmp.id) == CS_OK, "delete");
	ok(cs_get(cs, tmp.id, &g) == CS_NOT_FOUND && cs_grants(cs, tmp.id) == NULL, "record gone");
	ok(raw_int("SELECT count(*) FROM credential_acl WHERE credential_id = ?", tmp.id) == 0, "its grants are gone");
	json_t *u = cs_usage(cs, tmp.id, 10);
	ok(json_array_size(u) == 1, "usage survives delete");
	json_decref(u);
	ok(cs_delete(cs, tmp.id) == CS_NOT_FOUND, "second delete -> CS_NOT_FOUND");
	ok(resolve(cs, "doomed", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_NO_MATCH,
	   "deleted name no longer resolves");
}

static void t_resolve_host(struct credstore *cs)
{
	char err[512];
	struct cs_cred star, wild, lit, litpath, m, first, second;
	mk(cs, "ck-star", "cookie", "*", "/", "", "{\"name\":\"s\",\"value\":\"star\"}", &star, err, sizeof err);
	mk(cs, "ck-wild", "cookie", "*.shop.test", "/", "", "{\"name\":\"s\",\"value\":\"wild\"}", &wild, err, sizeof err);
	mk(cs, "ck-lit", "cookie", "app.shop.test", "/", "", "{\"name\":\"s\",\"value\":\"lit\"}", &lit, err, sizeof err);
	ok(mk(cs, "ck-lit-admin", "cookie", "app.shop.test", "/admin", "", "{\"name\":\"s\",\"value\":\"adm\"}",
	      &litpath, err, sizeof err) == CS_OK, "four cookie candidates created");
	const struct cs_cred *all[] = { &star, &wild, &lit, &litpath };
	for (int i = 0; i < 4; i++)
		cs_grant(cs, all[i]->id, "alice", "", err, sizeof err);

	ok(resolve_h(cs, "cookie", "app.shop.test", "/cart", "alice", &m) == CS_OK && !strcmp(m.id, lit.id),
	   "literal host beats *.shop.test and *");
	ok(resolve_h(cs, "cookie", "app.shop.test", "/admin/users", "alice", &m) == CS_OK && !strcmp(m.id, litpath.id),
	   "longer path_pattern wins");
	ok(resolve_h(cs, "cookie", "www.shop.test", "/", "alice", &m) == CS_OK && !strcmp(m.id, wild.id),
	   "*.shop.test beats *");
	ok(resolve_h(cs, "cookie", "elsewhere.org", "/", "alice", &m) == CS_OK && !strcmp(m.id, star.id),
	   "* catches the rest");
	ok(m.plain_len > 0 && m.last_used_at > 0, "meta of the winner filled");

	cs_revoke(cs, lit.id, "alice");
	ok(resolve_h(cs, "cookie", "app.shop.test", "/cart", "alice", &m) == CS_OK && !strcmp(m.id, wild.id),
	   "ACL skips to the next candidate");
	ok(last_usage(cs, wild.id, "allowed", NULL), "allowed logged for the winner");

	int64_t before = usage_rows();
	ok(cs_has_target(cs, "cookie", "app.shop.test", "/cart") && cs_has_target(cs, "cookie", "x.shop.test", "/"),
	   "cs_has_target: a cookie is meant for these hosts");
	ok(!cs_has_target(cs, "login", "app.shop.test", "/cart") && !cs_has_target(cs, "ssh", "app.shop.test", "/"),
	   "cs_has_target: not for another type");
	ok(!cs_has_target(cs, "cookie", "bad host", "/") && !cs_has_target(cs, "cookie", "evil.com#.shop.test", "/") &&
		   !cs_has_target(cs, "nope", "app.shop.test", "/"),
	   "cs_has_target: the same target rules as a lookup (a malformed host, an unknown type)");
	ok(usage_rows() == before, "cs_has_target writes no usage row");
	ok(resolve_h(cs, "cookie", "app.shop.test", "/cart", "mallory", &m) == CS_DENIED, "nobody admitted -> CS_DENIED");
	ok(usage_rows() == before + 1 && last_usage(cs, lit.id, "denied", "no grant for mallory"),
	   "denied logged once, for the best candidate");

	before = usage_rows();
	ok(resolve_h(cs, "ssh", "nowhere.invalid", "/", "alice", &m) == CS_NO_MATCH, "no candidate -> CS_NO_MATCH");
	ok(usage_rows() == before + 1 && last_usage(cs, "", "no_match", NULL), "no_match logged with empty id");

	mk(cs, "tie-a", "login", "tie.test", "/", "", "{\"username\":\"a\",\"password\":\"1\"}", &first, err, sizeof err);
	mk(cs, "tie-b", "login", "tie.test", "/", "", "{\"username\":\"b\",\"password\":\"2\"}", &second, err, sizeof err);
	cs_grant(cs, first.id, "alice", "", err, sizeof err);
	cs_grant(cs, second.id, "alice", "", err, sizeof err);
	ok(resolve_h(cs, "login", "tie.test", "/", "alice", &m) == CS_OK && !strcmp(m.id, first.id),
	   "equal rank: the oldest wins");
	ok(resolve_h(cs, "cookie", "app.shop.test", "/x", "", &m) == CS_DENIED, "empty subject denied");
}

static void t_rotate(struct credstore *cs)
{
	char err[512], out[512], reason[512];
	size_t olen;
	uint8_t oldct[512];
	size_t oldn = raw_ct(c_api.id, oldct, sizeof oldct);
	char wal[700];
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	ok(oldn > 16 && (file_has(dbpath, oldct, oldn) || file_has(wal, oldct, oldn)),
	   "control: the current ciphertext is findable in the files");
	struct cs_cred up;
	static const char rot[] = "rotated-S3cret-v2";
	int rc = cs_update(cs, c_api.id, NULL, NULL, "{\"env\":\"prod\"}", (const uint8_t *)rot, strlen(rot), &up,
			   err, sizeof err);
	ok(rc == CS_OK, "rotate secret and metadata (%s)", err);
	ok(strcmp(up.fingerprint, c_api.fingerprint) && !strcmp(up.host_pattern, "api.stripe.com") &&
	   !strcmp(up.metadata_json, "{\"env\":\"prod\"}"), "fingerprint changed, patterns kept, metadata set");
	rc = resolve(cs, "stripe", "alice", "cli", "api.stripe.com", "/v1", out, sizeof out, &olen, reason);
	ok(rc == CS_OK && olen == strlen(rot) && !memcmp(out, rot, olen), "new secret resolves");
	ok(!(olen == strlen(api_secret) && !memcmp(out, api_secret, olen)), "old secret is gone");
	ok(oldn > 16 && !file_has(dbpath, oldct, oldn) && !file_has(wal, oldct, oldn),
	   "old ciphertext left neither vault.db nor its WAL");

	ok(cs_update(cs, c_api.id, "bad host!", NULL, NULL, NULL, 0, NULL, err, sizeof err) == CS_INVALID &&
	   strstr(err, "host_pattern"), "update validates host_pattern");
	ok(cs_update(cs, c_api.id, NULL, "nope", NULL, NULL, 0, NULL, err, sizeof err) == CS_INVALID &&
	   strstr(err, "path_pattern"), "update validates path_pattern");
	ok(cs_update(cs, c_login.id, NULL, NULL, NULL, (const uint8_t *)"{\"username\":\"x\"}", 16, NULL, err,
		     sizeof err) == CS_INVALID && strstr(err, "secret"), "update validates the secret by type");
	ok(cs_update(cs, "cred_00000000000000000000000000000000", "a.com", NULL, NULL, NULL, 0, NULL, err,
		     sizeof err) == CS_NOT_FOUND, "update unknown -> CS_NOT_FOUND");
	char fp[17];
	snprintf(fp, sizeof fp, "%s", up.fingerprint);
	ok(cs_update(cs, c_api.id, "API.Stripe.com", "/v1", NULL, NULL, 0, &up, err, sizeof err) == CS_OK &&
	   !strcmp(up.host_pattern, "api.stripe.com") && !strcmp(up.fingerprint, fp),
	   "update of patterns only keeps the secret");
}

static void t_tamper(struct credstore *cs)
{
	char out[1024], reason[512], err[512];
	size_t olen = 77;
	/* flip one ciphertext byte */
	ok(raw_flip(c_login.id, 5), "flip one ciphertext byte of the login in sqlite");
	memset(out, 0, sizeof out);
	int rc = resolve(cs, "github", "alice", "cli", "github.com", "/", out, sizeof out, &olen, reason);
	ok(rc == CS_ERR && olen == 0, "tampered ciphertext -> CS_ERR (%s)", reason);
	int zero = 1;
	for (size_t i = 0; i < sizeof out; i++)
		zero &= out[i] == 0;
	ok(zero, "no garbage left in out");
	ok(last_usage(cs, c_login.id, "denied", "authentication"), "tamper logged as denied");

	/* swap the sealed secrets of two rows */
	struct cs_cred a, b;
	mk(cs, "swap-a", "api_key", "s.test", "/", "", "secret-of-a", &a, err, sizeof err);
	mk(cs, "swap-b", "api_key", "s.test", "/", "", "secret-of-b", &b, err, sizeof err);
	cs_grant(cs, a.id, "alice", "", err, sizeof err);
	cs_grant(cs, b.id, "alice", "", err, sizeof err);
	ok(resolve(cs, "swap-a", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_OK,
	   "swap-a resolves before the swap");
	ok(raw_exec("UPDATE credentials SET nonce = (SELECT nonce FROM credentials WHERE id = ?2),"
		    " ciphertext = (SELECT ciphertext FROM credentials WHERE id = ?2) WHERE id = ?1", a.id, b.id) == 0,
	   "copy b's nonce+ciphertext onto a");
	ok(resolve(cs, "swap-a", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_ERR,
	   "moved ciphertext -> CS_ERR (AAD binds the id)");
	ok(raw_exec("UPDATE credentials SET name = 'swap-b2' WHERE id = ?", b.id, NULL) == 0 &&
	   resolve(cs, "swap-b2", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_ERR,
	   "renamed in sqlite -> CS_ERR (AAD binds the name)");
	ok(cs_delete(cs, a.id) == CS_OK && cs_delete(cs, b.id) == CS_OK, "delete the swapped rows");
}

static void t_rekey_and_keys(struct credstore *cs)
{
	char err[512], out[1024], reason[512];
	size_t olen;
	struct credstore *cs2 = NULL;

	/* rekey is all or nothing: the tampered login blocks it */
	ok(cs_rekey(cs, key2, err, sizeof err) == CS_ERR && strstr(err, "github"),
	   "rekey refuses while a record does not decrypt (%s)", err);
	ok(resolve(cs, "stripe", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_OK,
	   "after a failed rekey records still resolve with the old key");
	ok(cs_delete(cs, c_login.id) == CS_OK, "drop the tampered record");
	int count = cs_count(cs);
	cs_close(cs);

	uint8_t h1[32], h2[32];
	sha256_file(dbpath, h1);
	err[0] = '\0';
	int rc = cs_open(dbpath, key2, &cs2, err, sizeof err);
	char kid[17];
	cs_key_id(key2, kid);
	ok(rc == CS_WRONG_KEY && cs2 == NULL, "wrong key -> CS_WRONG_KEY");
	ok(strstr(err, "does not open") && strstr(err, kid) && strstr(err, "nothing was changed"),
	   "message names the key id (%s)", err);
	sha256_file(dbpath, h2);
	ok(!memcmp(h1, h2, 32), "db file bytes unchanged by the wrong-key open");

	ok(cs_open(dbpath, key1, &cs, err, sizeof err) == CS_OK, "reopen with the right key");
	struct cs_cred before;
	cs_get(cs, c_ssh.id, &before);
	ok(cs_rekey(cs, key2, err, sizeof err) == CS_OK, "rekey to key2 (%s)", err);
	ok(resolve(cs, "stripe", "alice", "cli", NULL, NULL, out, sizeof out, &olen, reason) == CS_OK &&
	   olen == strlen("rotated-S3cret-v2") && !memcmp(out, "rotated-S3cret-v2", olen),
	   "records resolve on the same handle after rekey");
	cs_close(cs);

	ok(cs_open(dbpath, key1, &cs, err, sizeof err) == CS_WRONG_KEY, "old key no longer opens");
	ok(cs_open(dbpath, key2, &cs, err, sizeof err) == CS_OK, "new key opens");
	ok(cs_count(cs) == count, "every record survived the rekey");
	struct cs_cred after;
	ok(cs_get(cs, c_ssh.id, &after) == CS_OK && !strcmp(after.fingerprint, before.fingerprint),
	   "fingerprints are stable across rekey");
	cs_grant(cs, c_ssh.id, "deployer", "", err, sizeof err);
	struct cs_cred m;
	uint8_t buf[1024];
	rc = cs_resolve_host(cs, "ssh", "git.example.com", NULL, "deployer", "ci", "git.clone", buf, sizeof buf,
			     &olen, &m, reason, sizeof reason);
	ok(rc == CS_OK && olen == strlen(ssh_secret) && !memcmp(buf, ssh_secret, olen),
	   "ssh key intact after rekey and reopen");
	ok(cs_rekey(cs, key3, err, sizeof err) == CS_OK, "a second rekey works");
	cs_close(cs);
	ok(cs_open(dbpath, key3, &cs, err, sizeof err) == CS_OK && cs_count(cs) == count, "key3 opens, records intact");
	cs_close(cs);

	/* not a vault */
	char junk[700];
	snprintf(junk, sizeof junk, "%s/junk.db", dir);
	write_file_atomic(junk, "this is not sqlite at all, just some bytes.......", 48, 0600);
	ok(cs_open(junk, key1, &cs2, err, sizeof err) == CS_ERR && !cs2, "garbage file -> CS_ERR (%s)", err);
	snprintf(junk, sizeof junk, "%s/other.db", dir);
	sqlite3 *o = NULL;
	sqlite3_open(junk, &o);
	sqlite3_exec(o, "CREATE TABLE t(a)", NULL, NULL, NULL);
	sqlite3_close(o);
	ok(cs_open(junk, key1, &cs2, err, sizeof err) == CS_ERR && strstr(err, "not a helmdeck vault"),
	   "foreign sqlite db -> CS_ERR (%s)", err);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof dbpath, "%s/vault.db", dir);
	for (int i = 0; i < 32; i++) {
		key1[i] = (uint8_t)(i * 7 + 1);
		key2[i] = (uint8_t)(0xA5 ^ i);
		key3[i] = (uint8_t)(255 - i);
	}
	struct credstore *cs = NULL;
	t_open_and_create(&cs);
	if (!cs)
		return done_testing();
	t_redaction(cs);
	t_fingerprints(cs);
	t_acl(cs);
	t_delete(cs);
	t_resolve_host(cs);
	t_rotate(cs);
	t_tamper(cs);
	t_rekey_and_keys(cs); /* closes cs */

	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return done_testing();
}
