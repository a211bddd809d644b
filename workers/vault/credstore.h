/* Credential vault storage: vault.db, owned by the confined vault process.
 *
 * Secrets are sealed with AES-256-GCM under the master key; the AAD binds
 * each ciphertext to its row id and name.  Every lookup that could release a
 * secret goes through a default-deny ACL and writes exactly one usage row.
 * Plaintext is only ever written into caller buffers.  A handle is not
 * thread-safe; the vault uses one from its single event loop.
 */
#ifndef HD_CREDSTORE_H
#define HD_CREDSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CS_OK = 0,
	CS_ERR = -1,        /* I/O, corruption, a record that fails authentication */
	CS_WRONG_KEY = -2,
	CS_NOT_FOUND = -3,
	CS_EXISTS = -4,
	CS_INVALID = -5,    /* bad input; err names the field */
	CS_DENIED = -6,
	CS_NO_MATCH = -7,
};

#define CS_SECRET_MAX 65536
#define CS_METADATA_MAX 8192

struct credstore;

struct cs_cred {
	char id[40], name[129], type[16], host_pattern[256], path_pattern[512], fingerprint[17];
	char metadata_json[8193];
	int64_t created_at, updated_at, last_used_at; /* unix seconds; last_used 0 = never */
	size_t plain_len; /* filled by lookups: length of the stored secret */
};

/* Open or create (mode 0600).  CS_WRONG_KEY when the check record does not decrypt
 * (the file is then only read, never written); CS_ERR on I/O or corruption; err says why. */
int cs_open(const char *path, const uint8_t key[32], struct credstore **out, char *err, size_t errlen);
/* Close and wipe the key copies.  NULL is fine. */
void cs_close(struct credstore *cs);
/* Public id of a key: hex of the first 8 bytes of SHA-256("helmdeck-vault-key-id" || key). */
void cs_key_id(const uint8_t key[32], char out[17]);

/* Validate in and the secret, then insert.  CS_INVALID (err names the field),
 * CS_EXISTS (name taken); out (may be NULL) gets the stored record. */
int cs_create(struct credstore *cs, const struct cs_cred *in, const uint8_t *plain, size_t plen,
	      struct cs_cred *out, char *err, size_t errlen);
/* Record by id (never the secret).  CS_NOT_FOUND, also for a malformed id. */
int cs_get(struct credstore *cs, const char *id, struct cs_cred *out);
/* Change patterns / metadata (NULL = keep) and/or rotate the secret (plain
 * NULL = keep), validated as in create.  No renaming.  out may be NULL. */
int cs_update(struct credstore *cs, const char *id, const char *host_pattern, const char *path_pattern,
	      const char *metadata_json, const uint8_t *plain, size_t plen, struct cs_cred *out,
	      char *err, size_t errlen);
/* Delete the record and its grants; its usage rows stay.  CS_NOT_FOUND. */
int cs_delete(struct credstore *cs, const char *id);

/* Redacted view: id, name, type, patterns, metadata object, fingerprint, ISO-8601
 * UTC times (last_used_at null when never).  Never the secret or its length. */
json_t *cs_cred_json(const struct cs_cred *c);
/* Every record as cs_cred_json, ordered by name.  NULL on a db error. */
json_t *cs_list(struct credstore *cs);

/* Admit subject ("*" = any) from client ("" or "*" = any) to the credential.
 * Idempotent.  CS_INVALID (err names subject/client) / CS_NOT_FOUND. */
int cs_grant(struct credstore *cs, const char *id, const char *subject, const char *client,
	     char *err, size_t errlen);
/* Drop every grant of subject (all clients).  CS_NOT_FOUND when there was none. */
int cs_revoke(struct credstore *cs, const char *id, const char *subject);
/* [{actor_subject, actor_client, created_at}], or NULL when no such credential. */
json_t *cs_grants(struct credstore *cs, const char *id);
/* Usage rows of id (NULL = all, "" = no_match rows), newest first; limit <= 0 -> 100,
 * max 1000.  Works for deleted ids.  NULL on a db error. */
json_t *cs_usage(struct credstore *cs, const char *id, int limit);

/* Release secret name to (subject, client) for host/path (host NULL = no target check):
 * CS_OK, CS_NO_MATCH, CS_DENIED, CS_ERR (small buffer, tampered record); one usage row per call. */
int cs_resolve_name(struct credstore *cs, const char *name, const char *subject, const char *client,
		    const char *host, const char *path, const char *purpose, uint8_t *out, size_t cap,
		    size_t *outlen, struct cs_cred *meta, char *reason, size_t rlen);
/* 1 when some credential of type is meant for host/path (the same pattern
 * test as cs_resolve_host), without a grant check and without writing the
 * usage log: whether a lookup is worth making at all. */
int cs_has_target(struct credstore *cs, const char *type, const char *host, const char *path);
/* Best credential of type for host/path (fewer '*', more literal host, longer path, oldest)
 * whose ACL admits the caller; returns and logs as cs_resolve_name. */
int cs_resolve_host(struct credstore *cs, const char *type, const char *host, const char *path,
		    const char *subject, const char *client, const char *purpose, uint8_t *out, size_t cap,
		    size_t *outlen, struct cs_cred *meta, char *reason, size_t rlen);

/* Re-seal every record, the check value and the fingerprint key under newkey in one
 * transaction (all or nothing); the handle then uses newkey. */
int cs_rekey(struct credstore *cs, const uint8_t newkey[32], char *err, size_t errlen);
/* Number of credentials, or -1 on a db error. */
int cs_count(struct credstore *cs);

#endif
