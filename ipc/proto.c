#include "proto.h"

#include <string.h>

#define S(c) cursor_str((c), PROTO_STR_MAX)

void p_ready_enc(struct buf *b, const struct p_ready *m)
{
	buf_put_str(b, m->role);
	buf_put_blob(b, m->pubkey, m->pubkey ? m->pubkey_len : 0);
	buf_put_str(b, m->missing);
}

int p_ready_dec(struct cursor *c, struct p_ready *m)
{
	m->role = S(c);
	m->pubkey = cursor_blob(c, &m->pubkey_len, 64);
	m->missing = cursor_str(c, 256);
	return cursor_end(c);
}

void p_pack_run_enc(struct buf *b, const struct p_pack_run *m)
{
	buf_put_str(b, m->pack);
	buf_put_u32(b, m->version);
	buf_put_str(b, m->cls);
	buf_put_u32(b, m->timeout_ms);
	buf_put_u32(b, m->max_output);
	buf_put_str(b, m->actor);
	buf_put_str(b, m->client);
	buf_put_str(b, m->workspace ? m->workspace : "");
	buf_put_str(b, m->remote ? m->remote : "");
	buf_put_str(b, m->session ? m->session : "");
	buf_put_blob(b, m->input, m->input_len);
}

int p_pack_run_dec(struct cursor *c, struct p_pack_run *m)
{
	m->pack = S(c);
	m->version = cursor_u32(c);
	m->cls = S(c);
	m->timeout_ms = cursor_u32(c);
	m->max_output = cursor_u32(c);
	m->actor = S(c);
	m->client = S(c);
	m->workspace = S(c);
	m->remote = S(c);
	m->session = S(c);
	m->input = cursor_blob(c, &m->input_len, PROTO_BLOB_MAX);
	return cursor_end(c);
}

void p_pack_result_enc(struct buf *b, const struct p_pack_result *m)
{
	buf_put_u32(b, m->ok);
	buf_put_str(b, m->code);
	buf_put_str(b, m->message);
	buf_put_str(b, m->detail);
	buf_put_blob(b, m->output, m->output_len);
	buf_put_blob(b, m->artifacts, m->artifacts_len);
	buf_put_u64(b, m->duration_us);
}

int p_pack_result_dec(struct cursor *c, struct p_pack_result *m)
{
	m->ok = cursor_u32(c);
	m->code = S(c);
	m->message = S(c);
	m->detail = S(c);
	m->output = cursor_blob(c, &m->output_len, PROTO_BLOB_MAX);
	m->artifacts = cursor_blob(c, &m->artifacts_len, PROTO_BLOB_MAX);
	m->duration_us = cursor_u64(c);
	if (m->ok > 1)
		return -1;
	return cursor_end(c);
}

void p_login_enc(struct buf *b, const struct p_login *m)
{
	buf_put_str(b, m->username);
	buf_put_str(b, m->password);
}

int p_login_dec(struct cursor *c, struct p_login *m)
{
	m->username = S(c);
	m->password = S(c);
	return cursor_end(c);
}

void p_token_enc(struct buf *b, const struct p_token *m)
{
	buf_put_u32(b, m->ok);
	buf_put_str(b, m->code);
	buf_put_str(b, m->token);
	buf_put_str(b, m->subject);
	buf_put_i64(b, m->expires_at);
}

int p_token_dec(struct cursor *c, struct p_token *m)
{
	m->ok = cursor_u32(c);
	m->code = S(c);
	m->token = S(c);
	m->subject = S(c);
	m->expires_at = cursor_i64(c);
	if (m->ok > 1)
		return -1;
	return cursor_end(c);
}

void p_mint_enc(struct buf *b, const struct p_mint *m)
{
	buf_put_str(b, m->sub);
	buf_put_str(b, m->client);
	buf_put_str(b, m->scopes);
	buf_put_i64(b, m->ttl_s);
}

int p_mint_dec(struct cursor *c, struct p_mint *m)
{
	m->sub = S(c);
	m->client = S(c);
	m->scopes = S(c);
	m->ttl_s = cursor_i64(c);
	return cursor_end(c);
}

void p_audit_enc(struct buf *b, const struct p_audit *m)
{
	buf_put_i64(b, m->ts_ms);
	buf_put_i64(b, m->duration_ms);
	buf_put_u32(b, (uint32_t)m->status);
	buf_put_str(b, m->actor);
	buf_put_str(b, m->client);
	buf_put_str(b, m->event_type);
	buf_put_str(b, m->method);
	buf_put_str(b, m->path);
	buf_put_str(b, m->session_id);
	buf_put_str(b, m->pack);
	buf_put_str(b, m->outcome);
	buf_put_str(b, m->error_code);
	buf_put_blob(b, m->payload, m->payload ? m->payload_len : 0);
}

int p_audit_dec(struct cursor *c, struct p_audit *m)
{
	m->ts_ms = cursor_i64(c);
	m->duration_ms = cursor_i64(c);
	m->status = (int32_t)cursor_u32(c);
	m->actor = S(c);
	m->client = S(c);
	m->event_type = S(c);
	m->method = S(c);
	m->path = S(c);
	m->session_id = S(c);
	m->pack = S(c);
	m->outcome = S(c);
	m->error_code = S(c);
	m->payload = cursor_blob(c, &m->payload_len, 1u << 20);
	return cursor_end(c);
}

void p_audit_query_enc(struct buf *b, const struct p_audit_query *m)
{
	buf_put_i64(b, m->from_ms);
	buf_put_i64(b, m->to_ms);
	buf_put_str(b, m->event_type);
	buf_put_str(b, m->actor);
	buf_put_str(b, m->session_id);
	buf_put_u32(b, m->limit);
}

int p_audit_query_dec(struct cursor *c, struct p_audit_query *m)
{
	m->from_ms = cursor_i64(c);
	m->to_ms = cursor_i64(c);
	m->event_type = S(c);
	m->actor = S(c);
	m->session_id = S(c);
	m->limit = cursor_u32(c);
	return cursor_end(c);
}

void p_session_req_enc(struct buf *b, const struct p_session_req *m)
{
	buf_put_str(b, m->op);
	buf_put_str(b, m->owner);
	buf_put_str(b, m->id ? m->id : "");
	buf_put_str(b, m->label ? m->label : "");
	buf_put_u64(b, m->memory_limit);
	buf_put_u64(b, m->shm_size);
	buf_put_u32(b, m->cpu_limit_milli);
	buf_put_u32(b, m->timeout_s);
	buf_put_u32(b, m->max_tasks);
}

int p_session_req_dec(struct cursor *c, struct p_session_req *m)
{
	m->op = S(c);
	m->owner = S(c);
	m->id = S(c);
	m->label = S(c);
	m->memory_limit = cursor_u64(c);
	m->shm_size = cursor_u64(c);
	m->cpu_limit_milli = cursor_u32(c);
	m->timeout_s = cursor_u32(c);
	m->max_tasks = cursor_u32(c);
	return cursor_end(c);
}

void p_blob_enc(struct buf *b, const struct p_blob *m)
{
	buf_put_u32(b, m->ok);
	buf_put_blob(b, m->data, m->len);
}

int p_blob_dec(struct cursor *c, struct p_blob *m)
{
	m->ok = cursor_u32(c);
	m->data = cursor_blob(c, &m->len, PROTO_BLOB_MAX);
	return cursor_end(c);
}

void p_head_enc(struct buf *b, const struct p_head *m, int with_sig)
{
	buf_put_i64(b, m->seq);
	buf_put(b, m->hash, 32);
	if (with_sig)
		buf_put(b, m->sig, 64);
}

int p_head_dec(struct cursor *c, struct p_head *m, int with_sig)
{
	m->seq = cursor_i64(c);
	m->hash = cursor_fixed(c, 32);
	m->sig = with_sig ? cursor_fixed(c, 64) : NULL;
	if (m->seq < 0)
		return -1;
	return cursor_end(c);
}

int p_empty_dec(struct cursor *c) { return cursor_end(c); }

void p_pubkey_enc(struct buf *b, const uint8_t key[32]) { buf_put(b, key, 32); }

int p_pubkey_dec(struct cursor *c, const uint8_t **key)
{
	*key = cursor_fixed(c, 32);
	return cursor_end(c);
}

void p_vault_req_enc(struct buf *b, const struct p_vault_req *m)
{
	buf_put_str(b, m->op);
	buf_put_str(b, m->actor);
	buf_put_str(b, m->client);
	buf_put_str(b, m->id);
	buf_put_str(b, m->arg);
	buf_put_blob(b, m->body, m->body ? m->body_len : 0);
}

int p_vault_req_dec(struct cursor *c, struct p_vault_req *m)
{
	m->op = cursor_str(c, 16);
	m->actor = cursor_str(c, 128);
	m->client = cursor_str(c, 128);
	m->id = cursor_str(c, 64);
	m->arg = cursor_str(c, 256);
	m->body = cursor_blob(c, &m->body_len, 1u << 20);
	return cursor_end(c);
}

void p_vault_resolve_enc(struct buf *b, const struct p_vault_resolve *m)
{
	buf_put_str(b, m->name);
	buf_put_str(b, m->type);
	buf_put_str(b, m->subject);
	buf_put_str(b, m->client);
	buf_put_str(b, m->host);
	buf_put_str(b, m->path);
	buf_put_str(b, m->purpose);
}

int p_vault_resolve_dec(struct cursor *c, struct p_vault_resolve *m)
{
	m->name = cursor_str(c, 128);
	m->type = cursor_str(c, 16);
	m->subject = cursor_str(c, 128);
	m->client = cursor_str(c, 128);
	m->host = cursor_str(c, 255);
	m->path = cursor_str(c, 2048);
	m->purpose = cursor_str(c, 32);
	return cursor_end(c);
}

void p_vault_secret_enc(struct buf *b, const struct p_vault_secret *m)
{
	buf_put_u32(b, m->ok);
	buf_put_str(b, m->code);
	buf_put_str(b, m->message);
	buf_put_str(b, m->cred_id);
	buf_put_str(b, m->name);
	buf_put_str(b, m->type);
	buf_put_blob(b, m->secret, m->secret ? m->secret_len : 0);
}

int p_vault_secret_dec(struct cursor *c, struct p_vault_secret *m)
{
	m->ok = cursor_u32(c);
	m->code = cursor_str(c, 32);
	m->message = cursor_str(c, 512);
	m->cred_id = cursor_str(c, 64);
	m->name = cursor_str(c, 128);
	m->type = cursor_str(c, 16);
	m->secret = cursor_blob(c, &m->secret_len, 65536);
	if (m->ok > 1)
		return -1;
	return cursor_end(c);
}

void p_egress_fetch_enc(struct buf *b, const struct p_egress_fetch *m)
{
	buf_put_str(b, m->actor);
	buf_put_str(b, m->client);
	buf_put_str(b, m->pack);
	buf_put_u32(b, m->timeout_ms);
	buf_put_blob(b, m->req, m->req_len);
}

int p_egress_fetch_dec(struct cursor *c, struct p_egress_fetch *m)
{
	m->actor = cursor_str(c, 128);
	m->client = cursor_str(c, 128);
	m->pack = cursor_str(c, 128);
	m->timeout_ms = cursor_u32(c);
	m->req = cursor_blob(c, &m->req_len, 8u << 20);
	return cursor_end(c);
}

void p_egress_result_enc(struct buf *b, const struct p_egress_result *m)
{
	buf_put_u32(b, m->ok);
	buf_put_str(b, m->code);
	buf_put_str(b, m->message);
	buf_put_blob(b, m->resp, m->resp ? m->resp_len : 0);
}

int p_egress_result_dec(struct cursor *c, struct p_egress_result *m)
{
	m->ok = cursor_u32(c);
	m->code = cursor_str(c, 32);
	m->message = cursor_str(c, 1024);
	m->resp = cursor_blob(c, &m->resp_len, PROTO_BLOB_MAX);
	if (m->ok > 1)
		return -1;
	return cursor_end(c);
}

void p_proxy_enc(struct buf *b, const struct p_proxy *m)
{
	buf_put_str(b, m->scope);
	buf_put_str(b, m->actor);
	buf_put_str(b, m->client);
	buf_put_str(b, m->purpose);
	buf_put_str(b, m->host);
	buf_put_u32(b, m->mode);
	buf_put_u32(b, m->port);
}

int p_proxy_dec(struct cursor *c, struct p_proxy *m)
{
	m->scope = cursor_str(c, 64);
	m->actor = cursor_str(c, 128);
	m->client = cursor_str(c, 128);
	m->purpose = cursor_str(c, 32);
	m->host = cursor_str(c, 255);
	m->mode = cursor_u32(c);
	m->port = cursor_u32(c);
	if (m->mode > 1 || m->port > 65535)
		return -1;
	return cursor_end(c);
}

void p_agent_open_enc(struct buf *b, const struct p_agent_open *m)
{
	buf_put_str(b, m->scope);
	buf_put_str(b, m->subject);
	buf_put_str(b, m->client);
	buf_put_str(b, m->host);
	buf_put_str(b, m->path);
	buf_put_str(b, m->name);
}

int p_agent_open_dec(struct cursor *c, struct p_agent_open *m)
{
	m->scope = cursor_str(c, 64);
	m->subject = cursor_str(c, 128);
	m->client = cursor_str(c, 128);
	m->host = cursor_str(c, 255);
	m->path = cursor_str(c, 2048);
	m->name = cursor_str(c, 128);
	return cursor_end(c);
}
