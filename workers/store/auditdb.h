/* Tamper-evident audit log owned by the store process.
 *
 * Every record is chained to its predecessor by SHA-256 (see
 * docs/audit-log.md for the exact encoding); the chain head can be signed
 * with Ed25519 and the signature is stored next to the log.  auditdb_verify()
 * re-derives the whole chain from the raw columns and checks the signed head.
 */
#ifndef HD_AUDITDB_H
#define HD_AUDITDB_H

#include <sqlite3.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct audit_rec {            /* input to append; NULL strings stored as NULL */
	int64_t ts_ms;            /* 0 = now; negative is rejected */
	const char *actor, *client, *event_type, *method, *path, *session_id, *pack, *outcome, *error_code;
	int status;
	int64_t duration_ms;
	const char *payload_json; /* already-serialized JSON (will be redacted again defensively), may be NULL */
};

struct audit_filter {
	int64_t from_ms, to_ms;   /* inclusive bounds on ts_ms; 0 = unbounded */
	const char *event_type, *actor, *session_id; /* NULL or "" = any */
	int limit;                /* <=0 -> 100, capped at 1000 */
};

struct audit_verify_result {
	int ok;
	int64_t records;          /* records verified intact (all of them when ok) */
	int64_t bad_seq;          /* first bad record seq, or -1 */
	char reason[256];         /* "" when ok */
	int head_signed;          /* 1 when a stored head signature was verified */
	int64_t head_seq;         /* seq covered by the verified signature, 0 if none
	                           * (may be < records: later appends not yet signed) */
};

/* Open (create, mode 0600) the db: WAL, synchronous=FULL, foreign_keys,
 * busy_timeout, temp_store=MEMORY, defensive mode, trusted_schema=OFF; runs
 * migrations tracked in schema_migrations(version).  0 / -1 with log_warn. */
int auditdb_open(const char *path, sqlite3 **out);

/* Append in one transaction.  The payload is parsed and redacted
 * (audit_redact) before storage; unparseable or oversized payloads are
 * replaced by a small marker object.  Sensitive query-string parameters in
 * path are redacted too.  seq_out / hash_out may be NULL.  0 / -1. */
int auditdb_append(sqlite3 *db, const struct audit_rec *r, int64_t *seq_out, uint8_t hash_out[32]);

/* Last record's seq and stored hash; seq 0 + zero hash when empty.  0 / -1. */
int auditdb_head(sqlite3 *db, int64_t *seq, uint8_t hash[32]);

/* Message to sign: "helmdeck-audit-head-v1" || be64(seq) || hash (62 bytes).
 * msg buffer must be >= 64 bytes.  0 / -1. */
int auditdb_head_message(int64_t seq, const uint8_t hash[32], uint8_t *msg, size_t *len);

/* Store the signed head (replaces the previous one).  Refused (-1) when no
 * public key is set, the signature does not verify with the current key,
 * (seq, hash) is not an existing record, or seq is older than the stored head. */
int auditdb_store_head_sig(sqlite3 *db, int64_t seq, const uint8_t hash[32], const uint8_t sig[64]);

/* meta 'audit_pubkey' = hex of the current key; every key ever set is kept
 * in meta 'audit_pubkey_history' (space-separated hex) for verification. */
int auditdb_set_pubkey(sqlite3 *db, const uint8_t pub[32]);

/* Newest first, JSON array of objects {seq, ts, ts_ms, actor, client,
 * event_type, method, path, status, session_id, pack, outcome, error_code,
 * duration_ms, payload, hash}; NULL fields are JSON null.  f may be NULL.
 * NULL on error. */
json_t *auditdb_query(sqlite3 *db, const struct audit_filter *f);

/* Offline verification of the chain and the signed head, against the public
 * keys stored in the db.  Returns 0 when the verification ran (look at
 * res->ok), -1 on a database error (res->ok = 0 as well). */
int auditdb_verify(sqlite3 *db, struct audit_verify_result *res);

/* As auditdb_verify(), but the head signature must verify with the given,
 * externally pinned key; keys stored in the db are ignored.  Use this when
 * the db itself may be in an attacker's hands (they could swap the key). */
int auditdb_verify_pinned(sqlite3 *db, const uint8_t pub[32], struct audit_verify_result *res);

/* New JSON value with sensitive values replaced by "[REDACTED]" and
 * vault references by "[REDACTED:vault-ref]".  NULL in -> NULL out. */
json_t *audit_redact(const json_t *v);

#endif
