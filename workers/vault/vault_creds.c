/*
 * The credentials the vault guards: the REST calls the supervisor relays
 * (plaintext goes in, never comes out), and the egress link, where a
 * secret is released for one request — to the caller the supervisor
 * vouched for, for the host the request goes to, if a grant admits it.
 * Every decision is written to the usage log and the audit log.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "vault.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "ipc/proto_json.h"
#include "workers/role.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct credstore *creds;
static char creds_locked[512];
static uint8_t *scratch;          /* locked: decrypted secrets pass through here */
#define SCRATCH_LEN (CS_SECRET_MAX + 4096)
static struct chan *link_ch;

void vault_creds_init(struct credstore *cs, const char *locked_reason)
{
	creds = cs;
	snprintf(creds_locked, sizeof creds_locked, "%s", locked_reason ? locked_reason : "");
	size_t maplen;
	scratch = secmem_alloc(SCRATCH_LEN, &maplen);
}

struct credstore *vault_creds_store(void) { return creds; }
const char *vault_creds_locked(void) { return creds_locked; }

void vault_audit(const char *event, const char *actor, const char *client, const char *outcome,
		 const char *code, json_t *payload)
{
	char *p = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	struct p_audit a = {
		.ts_ms = now_unix_ms(), .actor = actor && *actor ? actor : "system", .client = client ? client : "",
		.event_type = event, .method = "", .path = "", .session_id = "", .pack = "",
		.outcome = outcome, .error_code = code ? code : "",
		.payload = (const uint8_t *)p, .payload_len = p ? strlen(p) : 0,
	};
	struct buf b;
	buf_init(&b);
	p_audit_enc(&b, &a);
	chan_send(role.sup, MSG_AUDIT_APPEND, 0, &b, -1);
	buf_free(&b);
	free(p);
}

/* ---- REST ---- */

static void reply(struct chan *c, uint32_t id, int status, json_t *body)
{
	chan_send_json(c, MSG_VAULT_REPLY, id, status, body);
}

static void reply_error(struct chan *c, uint32_t id, int status, const char *code, const char *msg)
{
	reply(c, id, status, json_error_body(code, msg));
}

static int cs_status(int rc)
{
	switch (rc) {
	case CS_NOT_FOUND: return 404;
	case CS_EXISTS: return 409;
	case CS_INVALID: return 400;
	default: return 500;
	}
}

/* The secret arrives base64'd; it is decoded into the locked scratch and
 * the JSON copies of it are wiped before they are freed. */
static int take_plaintext(json_t *body, size_t *len, char *err, size_t elen)
{
	json_t *p = json_object_get(body, "plaintext_b64");
	if (!p)
		return 0;
	const char *s = json_string_value(p);
	size_t n = s ? json_string_length(p) : 0;
	ssize_t got = -1;
	if (s && n <= b64_encoded_len(CS_SECRET_MAX, 0))
		got = b64_decode(s, n, scratch, 0);
	if (s)
		explicit_bzero((char *)s, n);
	if (got <= 0) {
		snprintf(err, elen, "plaintext_b64 must be standard base64 of 1 to %d bytes", CS_SECRET_MAX);
		return -1;
	}
	*len = (size_t)got;
	return 1;
}

static const char *opt_str(json_t *body, const char *k, int *bad)
{
	json_t *v = json_object_get(body, k);
	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static char *opt_metadata(json_t *body, int *bad)
{
	json_t *m = json_object_get(body, "metadata");
	if (!m)
		return NULL;
	if (!json_is_object(m)) {
		*bad = 1;
		return NULL;
	}
	return json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
}

static json_t *cred_payload(const struct cs_cred *c)
{
	/* key names the store's redaction leaves alone: these are not secret */
	return json_pack("{s:s,s:s,s:s,s:s}", "vault_id", c->id, "name", c->name, "type", c->type,
			 "host_pattern", c->host_pattern);
}

static void op_create(struct chan *ch, uint32_t id, const struct p_vault_req *m, json_t *body)
{
	char err[256] = "";
	int bad = 0;
	struct cs_cred in;
	memset(&in, 0, sizeof in);
	const char *name = opt_str(body, "name", &bad), *type = opt_str(body, "type", &bad);
	const char *hp = opt_str(body, "host_pattern", &bad), *pp = opt_str(body, "path_pattern", &bad);
	char *meta = opt_metadata(body, &bad);
	size_t plen = 0;
	int have = take_plaintext(body, &plen, err, sizeof err);
	if (bad || !name || !type || have <= 0) {
		free(meta);
		reply_error(ch, id, 400, "invalid_input", have < 0 ? err :
			    "name, type and plaintext_b64 are required strings; host_pattern, path_pattern strings; "
			    "metadata an object");
		return;
	}
	snprintf(in.name, sizeof in.name, "%s", name);
	snprintf(in.type, sizeof in.type, "%s", type);
	snprintf(in.host_pattern, sizeof in.host_pattern, "%s", hp ? hp : "");
	snprintf(in.path_pattern, sizeof in.path_pattern, "%s", pp ? pp : "");
	snprintf(in.metadata_json, sizeof in.metadata_json, "%s", meta ? meta : "");
	int too_long = strlen(name) >= sizeof in.name || strlen(type) >= sizeof in.type ||
		       (hp && strlen(hp) >= sizeof in.host_pattern) || (pp && strlen(pp) >= sizeof in.path_pattern) ||
		       (meta && strlen(meta) >= sizeof in.metadata_json);
	free(meta);
	struct cs_cred out;
	int rc = too_long ? CS_INVALID : cs_create(creds, &in, scratch, plen, &out, err, sizeof err);
	explicit_bzero(scratch, plen);
	if (too_long)
		snprintf(err, sizeof err, "a field is longer than allowed (name 128, host_pattern 253, path_pattern 511, "
			 "metadata 8192)");
	if (rc != CS_OK) {
		reply_error(ch, id, cs_status(rc), "invalid_input", rc == CS_EXISTS ? "a credential with that name exists" : err);
		return;
	}
	vault_audit("vault_credential_created", m->actor, m->client, "ok", NULL, cred_payload(&out));
	reply(ch, id, 201, cs_cred_json(&out));
}

static void op_update(struct chan *ch, uint32_t id, const struct p_vault_req *m, json_t *body)
{
	char err[256] = "";
	int bad = 0;
	const char *hp = opt_str(body, "host_pattern", &bad), *pp = opt_str(body, "path_pattern", &bad);
	char *meta = opt_metadata(body, &bad);
	size_t plen = 0;
	int have = take_plaintext(body, &plen, err, sizeof err);
	if (bad || have < 0 || (!hp && !pp && !meta && !have)) {
		free(meta);
		reply_error(ch, id, 400, "invalid_input", have < 0 ? err :
			    "give plaintext_b64 to rotate the secret, and/or host_pattern, path_pattern, metadata");
		return;
	}
	struct cs_cred out;
	int rc = cs_update(creds, m->id, hp, pp, meta, have ? scratch : NULL, plen, &out, err, sizeof err);
	explicit_bzero(scratch, plen);
	free(meta);
	if (rc != CS_OK) {
		reply_error(ch, id, cs_status(rc), rc == CS_NOT_FOUND ? "not_found" : "invalid_input",
			    rc == CS_NOT_FOUND ? "no such credential" : err);
		return;
	}
	json_t *p = cred_payload(&out);
	json_object_set_new(p, "rotated", json_boolean(have));
	vault_audit(have ? "key_rotated" : "vault_credential_updated", m->actor, m->client, "ok", NULL, p);
	reply(ch, id, 200, cs_cred_json(&out));
}

static void op_grant(struct chan *ch, uint32_t id, const struct p_vault_req *m, json_t *body)
{
	int bad = 0;
	const char *sub = opt_str(body, "actor_subject", &bad), *cli = opt_str(body, "actor_client", &bad);
	char err[256] = "";
	if (bad || !sub) {
		reply_error(ch, id, 400, "invalid_input", "actor_subject is required (\"*\" = any); actor_client optional");
		return;
	}
	int rc = cs_grant(creds, m->id, sub, cli ? cli : "", err, sizeof err);
	if (rc != CS_OK) {
		reply_error(ch, id, cs_status(rc), rc == CS_NOT_FOUND ? "not_found" : "invalid_input",
			    rc == CS_NOT_FOUND ? "no such credential" : err);
		return;
	}
	vault_audit("vault_grant_added", m->actor, m->client, "ok", NULL,
		    json_pack("{s:s,s:s,s:s}", "vault_id", m->id, "actor_subject", sub, "actor_client", cli ? cli : ""));
	reply(ch, id, 201, json_pack("{s:s,s:o}", "credential_id", m->id, "grants", cs_grants(creds, m->id)));
}

static void op_rekey(struct chan *ch, uint32_t id, const struct p_vault_req *m)
{
	char msg[512];
	int n = cs_count(creds);
	if (vault_master_rekey(creds, msg, sizeof msg) < 0) {
		vault_audit("key_rotated", m->actor, m->client, "error", "internal", json_pack("{s:s}", "reason", msg));
		reply_error(ch, id, 409, "invalid_input", msg);
		return;
	}
	vault_audit("key_rotated", m->actor, m->client, "ok", NULL,
		    json_pack("{s:s,s:s,s:s,s:i}", "what", "vault master key", "old_key_id", msg, "key_id",
			      vault_master_key_id(), "records", n));
	reply(ch, id, 200, json_pack("{s:s,s:s,s:i}", "old_key_id", msg, "key_id", vault_master_key_id(), "records", n));
}

int vault_dispatch_req(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_vault_req m;
	if (p_vault_req_dec(cur, &m) < 0)
		return -1;
	if (!creds) {
		char msg[600];
		snprintf(msg, sizeof msg, "the credential store is locked: %s", creds_locked);
		reply_error(c, id, 503, "internal", msg);
		return 0;
	}
	json_t *body = NULL;
	if (m.body_len) {
		json_error_t je;
		body = json_loadb((const char *)m.body, m.body_len, JSON_REJECT_DUPLICATES, &je);
		explicit_bzero((void *)m.body, m.body_len);
		if (!body || !json_is_object(body)) {
			json_decref(body);
			reply_error(c, id, 400, "invalid_input", "the body must be a JSON object");
			return 0;
		}
	}
	json_t *o;
	struct cs_cred cr;
	if (!strcmp(m.op, "list")) {
		o = cs_list(creds);
		if (o)
			reply(c, id, 200, json_pack("{s:o,s:i}", "credentials", o, "count", (int)json_array_size(o)));
		else
			reply_error(c, id, 500, "internal", "the credential store failed");
	} else if (!strcmp(m.op, "create") && body) {
		op_create(c, id, &m, body);
	} else if (!strcmp(m.op, "get")) {
		if (cs_get(creds, m.id, &cr) == CS_OK)
			reply(c, id, 200, cs_cred_json(&cr));
		else
			reply_error(c, id, 404, "not_found", "no such credential");
	} else if (!strcmp(m.op, "update") && body) {
		op_update(c, id, &m, body);
	} else if (!strcmp(m.op, "delete")) {
		int have = cs_get(creds, m.id, &cr) == CS_OK;
		if (have && cs_delete(creds, m.id) == CS_OK) {
			vault_audit("vault_credential_deleted", m.actor, m.client, "ok", NULL, cred_payload(&cr));
			reply(c, id, 200, json_pack("{s:s,s:b}", "id", m.id, "deleted", 1));
		} else {
			reply_error(c, id, 404, "not_found", "no such credential");
		}
	} else if (!strcmp(m.op, "grant") && body) {
		op_grant(c, id, &m, body);
	} else if (!strcmp(m.op, "grants")) {
		o = cs_grants(creds, m.id);
		if (o)
			reply(c, id, 200, json_pack("{s:s,s:o}", "credential_id", m.id, "grants", o));
		else
			reply_error(c, id, 404, "not_found", "no such credential");
	} else if (!strcmp(m.op, "revoke")) {
		if (cs_revoke(creds, m.id, m.arg) == CS_OK) {
			vault_audit("vault_grant_removed", m.actor, m.client, "ok", NULL,
				    json_pack("{s:s,s:s}", "vault_id", m.id, "actor_subject", m.arg));
			reply(c, id, 200, json_pack("{s:s,s:s,s:b}", "credential_id", m.id, "actor_subject", m.arg, "revoked", 1));
		} else {
			reply_error(c, id, 404, "not_found", "no such grant");
		}
	} else if (!strcmp(m.op, "usage")) {
		o = cs_usage(creds, m.id, 200);
		if (o)
			reply(c, id, 200, json_pack("{s:s,s:o}", "credential_id", m.id, "usage", o));
		else
			reply_error(c, id, 500, "internal", "the credential store failed");
	} else if (!strcmp(m.op, "rekey")) {
		op_rekey(c, id, &m);
	} else if (!strcmp(m.op, "create") || !strcmp(m.op, "update") || !strcmp(m.op, "grant")) {
		reply_error(c, id, 400, "invalid_input", "this call needs a JSON body");
	} else {
		json_decref(body);
		return -1;
	}
	json_decref(body);
	return 0;
}

/* ---- the egress link ---- */

static void link_secret(uint32_t id, int ok, const char *code, const char *msg, const struct cs_cred *c,
			const uint8_t *s, size_t n)
{
	struct p_vault_secret r = {(uint32_t)ok, ok ? "" : code, ok ? "" : msg, c ? c->id : "", c ? c->name : "",
				   c ? c->type : "", s, ok ? n : 0};
	struct buf b;
	buf_init(&b);
	p_vault_secret_enc(&b, &r);
	chan_send(link_ch, MSG_VAULT_SECRET, id, &b, -1);
	buf_free(&b);  /* wipes */
}

/* What a placeholder becomes: the token itself, a login's password, a
 * cookie's Cookie-header form. An ssh key only ever signs. */
static int substitution_value(const struct cs_cred *c, const uint8_t *plain, size_t n, size_t *vlen, char *why,
			      size_t wlen)
{
	if (!strcmp(c->type, "api_key") || !strcmp(c->type, "oauth")) {
		*vlen = n;
		return 0;
	}
	if (!strcmp(c->type, "ssh")) {
		snprintf(why, wlen, "credential %s is an ssh key: it signs for git, it is never put into a request", c->name);
		return -1;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)plain, n, 0, &je);
	size_t out = 0;
	int rc = -1;
	uint8_t *dst = scratch + CS_SECRET_MAX;  /* the value is built after the plaintext, then moved */
	size_t room = SCRATCH_LEN - CS_SECRET_MAX;
	if (j && !strcmp(c->type, "login")) {
		const char *pw = json_string_value(json_object_get(j, "password"));
		size_t pl = pw ? strlen(pw) : 0;
		if (pw && pl <= room) {
			memcpy(dst, pw, pl);
			out = pl;
			rc = 0;
			explicit_bzero((char *)pw, pl);
		}
	} else if (j && !strcmp(c->type, "cookie")) {
		json_t *arr = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
		size_t i;
		json_t *ck;
		rc = 0;
		json_array_foreach(arr, i, ck) {
			const char *nm = json_string_value(json_object_get(ck, "name"));
			const char *vl = json_string_value(json_object_get(ck, "value"));
			size_t need = (nm ? strlen(nm) : 0) + (vl ? strlen(vl) : 0) + 3;
			if (!nm || !vl || out + need > room) {
				rc = -1;
				break;
			}
			out += (size_t)snprintf((char *)dst + out, room - out, "%s%s=%s", i ? "; " : "", nm, vl);
			explicit_bzero((char *)vl, strlen(vl));
		}
		json_decref(arr);
	}
	json_decref(j);
	if (rc < 0) {
		explicit_bzero(dst, room);
		snprintf(why, wlen, "credential %s holds no usable %s value", c->name, c->type);
		return -1;
	}
	explicit_bzero(scratch, n);
	memmove(scratch, dst, out);
	explicit_bzero(dst, room);
	*vlen = out;
	return 0;
}

static int vault_link_resolve(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_vault_resolve q;
	if (p_vault_resolve_dec(cur, &q) < 0 || !*q.subject || (!*q.name && !*q.type))
		return -1;
	if (!creds) {
		char msg[600];
		snprintf(msg, sizeof msg, "the credential store is locked: %s", creds_locked);
		link_secret(id, 0, "internal", msg, NULL, NULL, 0);
		return 0;
	}
	struct cs_cred meta;
	memset(&meta, 0, sizeof meta);
	size_t n = 0;
	char reason[256] = "";
	int rc = *q.name ? cs_resolve_name(creds, q.name, q.subject, q.client, q.host, q.path, q.purpose, scratch,
					   CS_SECRET_MAX, &n, &meta, reason, sizeof reason)
			 : cs_resolve_host(creds, q.type, q.host, q.path, q.subject, q.client, q.purpose, scratch,
					   CS_SECRET_MAX, &n, &meta, reason, sizeof reason);
	const char *result = rc == CS_OK ? "allowed" : rc == CS_NO_MATCH ? "no_match" : rc == CS_DENIED ? "denied" : "error";
	char msg[400];
	if (rc == CS_OK) {
		size_t vlen = n;
		/* a placeholder gets the usable value; a host lookup (cookie,
		 * login, ssh) gets the record as stored */
		if (*q.name && substitution_value(&meta, scratch, n, &vlen, msg, sizeof msg) < 0) {
			explicit_bzero(scratch, SCRATCH_LEN);
			rc = CS_DENIED;
			result = "denied";
			snprintf(reason, sizeof reason, "%s", msg);
		} else {
			link_secret(id, 1, NULL, NULL, &meta, scratch, vlen);
			explicit_bzero(scratch, SCRATCH_LEN);
		}
	}
	if (rc != CS_OK) {
		if (rc == CS_NO_MATCH)
			snprintf(msg, sizeof msg, "no credential %s%s is stored", *q.name ? "named " : "for ",
				 *q.name ? q.name : q.host);
		else if (rc == CS_DENIED)
			snprintf(msg, sizeof msg, "credential %s may not be used here: %s", *q.name ? q.name : meta.name, reason);
		else
			snprintf(msg, sizeof msg, "credential %s could not be opened", *q.name ? q.name : q.host);
		link_secret(id, 0, rc == CS_ERR ? "internal" : "credential_invalid", msg, NULL, NULL, 0);
	}
	vault_audit("vault_read", q.subject, q.client, result, rc == CS_OK ? NULL : "credential_invalid",
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", *q.name ? q.name : meta.name, "vault_id",
			      meta.id, "host", q.host, "purpose", q.purpose, "result", result, "reason", rc == CS_OK ? "" : reason));
	return 0;
}

static void link_closed(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	(void)arg;
	if (why == CHAN_VIOLATION) {
		log_warn("egress link: %s", reason);
		chan_send(role.sup, MSG_PEER_BROKEN, 0, NULL, -1);
	}
	if (link_ch == c)
		link_ch = NULL;
	chan_free(c);
}

static const struct allow_entry vault_from_egress[] = {
	{MSG_VAULT_RESOLVE, AL_PERMIT, vault_link_resolve},
};

int vault_dispatch_link(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)arg;
	if (p_empty_dec(cur) < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (link_ch)
		chan_free(link_ch);
	evutil_make_socket_nonblocking(fd);
	link_ch = chan_new(role.base, fd, "egress", vault_from_egress, 1, link_closed, NULL);
	return 0;
}
