/*
 * The supervisor's side of the vault and egress roles: the direct
 * vault<->egress link (made whenever both run, so a secret never passes
 * through here), the credentials calls of the api and the control socket,
 * and the outbound requests of workers, which go to egress stamped with
 * the caller the supervisor knows, never one the worker names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "supervisor.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "ipc/proto_json.h"
#include "supervisor/session.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the link ---- */

static void secrets_link(void)
{
	struct proc *v = &sup.roles[ROLE_VAULT], *e = &sup.roles[ROLE_EGRESS];
	if (!v->ready || !e->ready || !v->ch || !e->ch)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("vault-egress link: socketpair: %s", strerror(errno));
		return;
	}
	/* each side replaces any link it had: the old peer is gone */
	chan_send(v->ch, MSG_PEER_LINK, 0, NULL, sv[0]);
	chan_send(e->ch, MSG_PEER_LINK, 0, NULL, sv[1]);
	close(sv[0]);
	close(sv[1]);
	log_info("vault-egress link made");
}

void secrets_role_ready(struct proc *p)
{
	if (p->def->id == ROLE_VAULT || p->def->id == ROLE_EGRESS)
		secrets_link();
	if (p->def->id == ROLE_EGRESS)
		session_proxy_resend();
}

/* The reporter saw its peer break the link's protocol: that peer is
 * broken, and it is ended like any role that misbehaves. */
int secrets_peer_broken(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd;
	struct proc *from = arg;
	if (p_empty_dec(cur) < 0)
		return -1;
	struct proc *peer = &sup.roles[from->def->id == ROLE_VAULT ? ROLE_EGRESS : ROLE_VAULT];
	char payload[160];
	snprintf(payload, sizeof payload, "{\"role\":\"%s\",\"pid\":%d,\"reported_by\":\"%s\"}", peer->def->name,
		 (int)peer->pid, from->def->name);
	sup_audit("ipc_violation", "system", "killed", "internal", NULL, 0, payload);
	sup_kill_proc(peer, "broke the vault-egress link protocol");
	return 0;
}

/* vault and egress write their own decisions to the audit log; the
 * record is checked to be well formed, like the api's */
int secrets_role_audit(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	struct p_audit m;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_audit_dec(cur, &m) < 0) {
		buf_free(&b);
		return -1;
	}
	audit_submit(&b);
	return 0;
}

/* ---- credentials calls ---- */

static const char *const api_vault_ops[] = {"list", "create", "get", "update", "delete",
					     "grant", "grants", "revoke", "usage"};

static void secrets_blob_reply(int from, uint32_t orig_id, int status, const char *code, const char *msg)
{
	struct buf b;
	buf_init(&b);
	p_blob_json_enc(&b, status, json_error_body(code, msg));
	struct cursor cur;
	cursor_init(&cur, b.data, b.len);
	if (from == FWD_CTL)
		control_vault_reply(orig_id, &cur);
	else
		sup_send_role(ROLE_API, MSG_VAULT_REPLY, orig_id, &b);
	buf_free(&b);
}

int secrets_api_vault_req(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_vault_req m;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_vault_req_dec(cur, &m) < 0) {
		buf_free(&b);
		return -1;
	}
	int known = 0;
	for (size_t i = 0; i < sizeof api_vault_ops / sizeof api_vault_ops[0]; i++)
		known |= !strcmp(m.op, api_vault_ops[i]);
	if (!known || !*m.actor) {
		buf_free(&b);
		return -1;  /* rekey is the operator's, from the control socket */
	}
	sup_forward(ROLE_VAULT, ROLE_API, id, MSG_VAULT_REQ, MSG_VAULT_REPLY, &b);
	buf_free(&b);  /* wipes: a create or update carries a secret */
	return 0;
}

int secrets_ctl_request(uint32_t ctl_id, const struct buf *b)
{
	return sup_forward(ROLE_VAULT, FWD_CTL, ctl_id, MSG_VAULT_REQ, MSG_VAULT_REPLY, b);
}

int secrets_vault_reply(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct cursor copy = *cur;
	struct p_blob r;
	if (p_blob_dec(cur, &r) < 0 || r.ok < 100 || r.ok > 599)
		return -1;
	struct fwd *f = fwd_take(ROLE_VAULT, id, MSG_VAULT_REPLY);
	if (!f)
		return -1;
	if (f->from == FWD_CTL) {
		control_vault_reply(f->orig_id, &copy);
	} else {
		struct buf b;
		buf_from_cursor(&b, &copy);
		sup_send_role(ROLE_API, MSG_VAULT_REPLY, f->orig_id, &b);
		buf_free(&b);
	}
	return 0;
}

/* ---- egress for workers ---- */

static struct proc *secrets_worker(int from, pid_t pid)
{
	int slot = from - FWD_WORKER;
	if (slot < 0 || slot >= sup.nworkers)
		return NULL;
	struct proc *w = &sup.workers[slot];
	/* the worker that asked may be gone and its slot refilled */
	if (w->pid != pid || w->reaped || !w->ch || !w->run)
		return NULL;
	return w;
}

static void secrets_send_result(struct proc *w, uint32_t wid, const struct p_egress_result *r)
{
	struct buf b;
	buf_init(&b);
	p_egress_result_enc(&b, r);
	chan_send(w->ch, MSG_EGRESS_RESULT, wid, &b, -1);
	buf_free(&b);
}

void secrets_reply_error(int from, uint32_t orig_id, uint32_t reply_type, pid_t pid)
{
	if (reply_type == MSG_VAULT_INJECTED) {
		struct proc *w = secrets_worker(from, pid);
		if (!w)
			return;
		chan_send_json(w->ch, MSG_BROWSER_INJECTED, orig_id, 503,
			       json_error_body("internal", "the vault is not available; try again"));
		return;
	}
	if (reply_type == MSG_VAULT_REPLY) {
		secrets_blob_reply(from, orig_id, 503, "internal", "the vault is not available; try again");
		return;
	}
	struct proc *w = secrets_worker(from, pid);
	if (!w)
		return;
	struct p_egress_result r = {0, "internal", "the egress role is not available; try again", NULL, 0};
	secrets_send_result(w, orig_id, &r);
}

/* From pool.c's worker table: the worker's request, with the caller of the
 * run it is doing. One request at a time per worker is all a pack needs. */
int secrets_worker_request(struct proc *w, uint32_t id, struct cursor *cur)
{
	struct p_blob m;
	if (p_blob_dec(cur, &m) < 0 || !w->run || m.len > (8u << 20))
		return -1;
	const char *actor, *client, *pack;
	uint32_t timeout_ms;
	if (pool_run_caller(w, &actor, &client, &pack, &timeout_ms) < 0)
		return -1;  /* only a pack that goes out may ask */
	struct p_egress_fetch f = {actor, client, pack, timeout_ms, m.data, m.len};
	struct buf b;
	buf_init(&b);
	p_egress_fetch_enc(&b, &f);
	sup_forward_pid(ROLE_EGRESS, FWD_WORKER + w->slot, id, MSG_EGRESS_FETCH, MSG_EGRESS_RESULT, &b, w->pid);
	buf_free(&b);
	return 0;
}

/* A browser worker asks the vault to put the caller's cookies or login
 * into the session it drives: the vault gets the session's CDP socket for
 * that one call, and the caller is the run's, never the worker's word. */
int secrets_worker_inject(struct proc *w, uint32_t id, struct cursor *cur)
{
	struct p_vault_req m;
	if (p_vault_req_dec(cur, &m) < 0 || !w->run || (strcmp(m.op, "cookies") && strcmp(m.op, "login")))
		return -1;
	int cdp = pool_run_cdp(w);
	const char *actor, *client, *pack;
	uint32_t t;
	if (cdp < 0 || pool_run_caller_any(w, &actor, &client, &pack, &t) < 0)
		return -1;
	struct p_vault_req q = {m.op, actor, client, "", m.arg, m.body, m.body_len};
	struct buf b;
	buf_init(&b);
	p_vault_req_enc(&b, &q);
	struct proc *v = &sup.roles[ROLE_VAULT];
	uint32_t fid = v->ready ? fwd_add_pid(ROLE_VAULT, FWD_WORKER + w->slot, id, MSG_VAULT_INJECTED, w->pid) : 0;
	if (!fid || chan_send(v->ch, MSG_VAULT_INJECT, fid, &b, cdp) < 0) {
		if (fid)
			fwd_take(ROLE_VAULT, fid, MSG_VAULT_INJECTED);
		secrets_reply_error(FWD_WORKER + w->slot, id, MSG_VAULT_INJECTED, w->pid);
	}
	buf_free(&b);
	return 0;
}

int secrets_vault_injected(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct cursor copy = *cur;
	struct p_blob r;
	if (p_blob_dec(cur, &r) < 0)
		return -1;
	struct fwd *f = fwd_take(ROLE_VAULT, id, MSG_VAULT_INJECTED);
	if (!f)
		return -1;
	struct proc *w = secrets_worker(f->from, f->pid);
	if (!w)
		return 0;
	struct buf b;
	buf_from_cursor(&b, &copy);
	chan_send(w->ch, MSG_BROWSER_INJECTED, f->orig_id, &b, -1);
	buf_free(&b);
	return 0;
}

static int secrets_egress_result(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct cursor copy = *cur;
	struct p_egress_result r;
	if (p_egress_result_dec(cur, &r) < 0)
		return -1;
	struct fwd *f = fwd_take(ROLE_EGRESS, id, MSG_EGRESS_RESULT);
	if (!f)
		return -1;
	struct proc *w = secrets_worker(f->from, f->pid);
	if (!w)
		return 0;  /* the worker ended meanwhile (timeout, cancel) */
	struct buf b;
	buf_from_cursor(&b, &copy);
	chan_send(w->ch, MSG_EGRESS_RESULT, f->orig_id, &b, -1);
	buf_free(&b);
	return 0;
}

const struct allow_entry egress_allow[EGRESS_ALLOW_N] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, sup_dispatch_ready},
	{MSG_EGRESS_RESULT, 0, secrets_egress_result},
	{MSG_AUDIT_APPEND, 0, secrets_role_audit},
	{MSG_PEER_BROKEN, 0, secrets_peer_broken},
};
