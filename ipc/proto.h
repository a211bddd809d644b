/*
 * The payload of every message, with one encoder and one exact decoder each,
 * shared by both ends. Decoders return -1 on any malformed payload; strings
 * point into the frame.
 */
#ifndef HD_IPC_PROTO_H
#define HD_IPC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/buf.h"

#define PROTO_STR_MAX 4096
#define PROTO_BLOB_MAX (IPC_FRAME_MAX - 65536)

/* missing: the confinement layers the role could not get, comma-separated */
struct p_ready { const char *role; const uint8_t *pubkey; size_t pubkey_len; const char *missing; };
struct p_pack_run {
	const char *pack, *cls, *actor, *client;
	/* workspace packs: the clone_path handle, and the git remote the
	 * caller named ("" when none); the supervisor resolves both */
	const char *workspace, *remote;
	const char *session;  /* browser packs: _session_id, "" = ephemeral */
	uint32_t version, timeout_ms, max_output;
	const uint8_t *input; size_t input_len;
};
struct p_pack_result {
	uint32_t ok;
	/* detail: "pack:<text>" was written by the pack and is shown to the
	 * caller; anything else is the supervisor's note for the audit log */
	const char *code, *message, *detail;
	const uint8_t *output; size_t output_len;
	const uint8_t *artifacts; size_t artifacts_len;
	uint64_t duration_us;
};
struct p_login { const char *username, *password; };
struct p_token { uint32_t ok; const char *code, *token, *subject; int64_t expires_at; };
struct p_mint { const char *sub, *client, *scopes; int64_t ttl_s; };
struct p_audit {
	int64_t ts_ms, duration_ms;
	int32_t status;
	const char *actor, *client, *event_type, *method, *path, *session_id, *pack, *outcome, *error_code;
	const uint8_t *payload; size_t payload_len;  /* JSON, may be empty */
};
struct p_audit_query { int64_t from_ms, to_ms; const char *event_type, *actor, *session_id; uint32_t limit; };
struct p_blob { uint32_t ok; const uint8_t *data; size_t len; };
/* SESSION_REQ: op is create|list|get|delete|logs; the answer is a p_blob
 * whose ok is the HTTP status and whose data is the JSON body. */
struct p_session_req {
	const char *op, *owner, *id, *label;
	uint64_t memory_limit, shm_size;
	uint32_t cpu_limit_milli, timeout_s, max_tasks;
};
struct p_head { int64_t seq; const uint8_t *hash; const uint8_t *sig; };
/* VAULT_REQ: op is list|create|get|update|delete|grant|grants|revoke|usage|rekey;
 * actor/client are the authenticated caller, id the credential, arg the
 * grant subject of a revoke, body the JSON the caller sent (it may hold a
 * secret: both ends wipe it). Answered VAULT_REPLY as a p_blob. */
struct p_vault_req { const char *op, *actor, *client, *id, *arg; const uint8_t *body; size_t body_len; };
/* VAULT_RESOLVE: by name (placeholder) or, with name "", by type + host
 * (cookie, login, ssh). host/path are the target the secret will go to. */
struct p_vault_resolve { const char *name, *type, *subject, *client, *host, *path, *purpose; };
/* VAULT_SECRET: ok=0 with code credential_invalid and a message, or the
 * secret; cred_id and type name what was used. */
struct p_vault_secret { uint32_t ok; const char *code, *message, *cred_id, *name, *type; const uint8_t *secret; size_t secret_len; };
/* EGRESS_FETCH: the request template (JSON) of one pack run, with the
 * caller the supervisor vouches for. */
struct p_egress_fetch { const char *actor, *client, *pack; uint32_t timeout_ms; const uint8_t *req; size_t req_len; };
/* PROXY_LISTEN / PROXY_CLOSE (only scope): mode 0 = HTTP proxy (CONNECT
 * and absolute-form), 1 = a fixed forward to host:port. */
struct p_proxy { const char *scope, *actor, *client, *purpose, *host; uint32_t mode, port; };
/* AGENT_OPEN / AGENT_CLOSE (only scope): name "" = the best ssh credential
 * for host (by pattern), else that credential, which must be of type ssh. */
struct p_agent_open { const char *scope, *subject, *client, *host, *path, *name; };
/* EGRESS_RESULT: ok=1 with the response JSON, or a typed error. */
struct p_egress_result { uint32_t ok; const char *code, *message; const uint8_t *resp; size_t resp_len; };

#include "ipc/msg.h"

void p_ready_enc(struct buf *b, const struct p_ready *m);
int p_ready_dec(struct cursor *c, struct p_ready *m);
void p_pack_run_enc(struct buf *b, const struct p_pack_run *m);
int p_pack_run_dec(struct cursor *c, struct p_pack_run *m);
void p_pack_result_enc(struct buf *b, const struct p_pack_result *m);
int p_pack_result_dec(struct cursor *c, struct p_pack_result *m);
void p_login_enc(struct buf *b, const struct p_login *m);
int p_login_dec(struct cursor *c, struct p_login *m);
void p_token_enc(struct buf *b, const struct p_token *m);
int p_token_dec(struct cursor *c, struct p_token *m);
void p_mint_enc(struct buf *b, const struct p_mint *m);
int p_mint_dec(struct cursor *c, struct p_mint *m);
void p_audit_enc(struct buf *b, const struct p_audit *m);
int p_audit_dec(struct cursor *c, struct p_audit *m);
void p_audit_query_enc(struct buf *b, const struct p_audit_query *m);
int p_audit_query_dec(struct cursor *c, struct p_audit_query *m);
void p_session_req_enc(struct buf *b, const struct p_session_req *m);
int p_session_req_dec(struct cursor *c, struct p_session_req *m);
void p_blob_enc(struct buf *b, const struct p_blob *m);
int p_blob_dec(struct cursor *c, struct p_blob *m);
/* HEAD_SIGN has no signature; HEAD_SIGNED has one. */
void p_head_enc(struct buf *b, const struct p_head *m, int with_sig);
int p_head_dec(struct cursor *c, struct p_head *m, int with_sig);
void p_vault_req_enc(struct buf *b, const struct p_vault_req *m);
int p_vault_req_dec(struct cursor *c, struct p_vault_req *m);
void p_vault_resolve_enc(struct buf *b, const struct p_vault_resolve *m);
int p_vault_resolve_dec(struct cursor *c, struct p_vault_resolve *m);
void p_vault_secret_enc(struct buf *b, const struct p_vault_secret *m);
int p_vault_secret_dec(struct cursor *c, struct p_vault_secret *m);
void p_egress_fetch_enc(struct buf *b, const struct p_egress_fetch *m);
int p_egress_fetch_dec(struct cursor *c, struct p_egress_fetch *m);
void p_proxy_enc(struct buf *b, const struct p_proxy *m);
int p_proxy_dec(struct cursor *c, struct p_proxy *m);
void p_agent_open_enc(struct buf *b, const struct p_agent_open *m);
int p_agent_open_dec(struct cursor *c, struct p_agent_open *m);
void p_egress_result_enc(struct buf *b, const struct p_egress_result *m);
int p_egress_result_dec(struct cursor *c, struct p_egress_result *m);
int p_empty_dec(struct cursor *c);
void p_pubkey_enc(struct buf *b, const uint8_t key[32]);
int p_pubkey_dec(struct cursor *c, const uint8_t **key);

#endif
