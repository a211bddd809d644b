#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "supervisor.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/spawn.h"
#include "supervisor/session.h"
#include "supervisor/workspace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct sup sup;

/* Requests forwarded to another role, waiting for the reply (struct fwd
 * is in supervisor.h). */
#define FWD_MAX 4096
static struct fwd fwd_table[FWD_MAX];
static uint32_t fwd_next = 1;

/* Audit records held while the store is down (bounded). */
#define AUDIT_QUEUE_MAX 10000
struct queued_audit {
	struct queued_audit *next;
	struct buf b;
};
static struct queued_audit *aq_head, *aq_tail;
static int aq_len;

void sup_spawn_proc(struct proc *p);

uint32_t fwd_add_pid(int to, int from, uint32_t orig_id, uint32_t reply_type, pid_t pid)
{
	for (int tries = 0; tries < FWD_MAX; tries++) {
		uint32_t id = fwd_next++;
		if (fwd_next == 0 || fwd_next >= 0x7fffffff)
			fwd_next = 1;
		struct fwd *f = &fwd_table[id % FWD_MAX];
		if (f->used)
			continue;
		*f = (struct fwd){1, to, from, orig_id, reply_type, pid};
		return id;
	}
	return 0;
}

/* The reply must match an outstanding request to that role, of that type. */
uint32_t fwd_add(int to, int from, uint32_t orig_id, uint32_t reply_type)
{
	return fwd_add_pid(to, from, orig_id, reply_type, 0);
}

/* The reply must match an outstanding request to that role, of that type. */
struct fwd *fwd_take(int to, uint32_t id, uint32_t type)
{
	struct fwd *f = &fwd_table[id % FWD_MAX];
	if (!id || !f->used || f->to != to || f->reply_type != type)
		return NULL;
	f->used = 0;
	return f;
}

int sup_send_role(enum role_id r, uint32_t type, uint32_t id, const struct buf *b)
{
	struct proc *p = &sup.roles[r];
	if (!p->ch || !p->ready)
		return -1;
	return chan_send(p->ch, type, id, b, -1);
}

void sup_reply_error(int from, uint32_t orig_id, uint32_t reply_type, pid_t pid)
{
	if (reply_type == MSG_AGENT_OPENED) {
		pool_agent_failed(orig_id);
		return;
	}
	if (reply_type == MSG_VAULT_REPLY || reply_type == MSG_EGRESS_RESULT || reply_type == MSG_VAULT_INJECTED) {
		secrets_reply_error(from, orig_id, reply_type, pid);
		return;
	}
	struct buf b;
	buf_init(&b);
	if (reply_type == MSG_AUTH_TOKEN) {
		struct p_token t = {0, "internal", "", "", 0};
		p_token_enc(&b, &t);
		if (from == FWD_CTL)
			control_token_reply(orig_id, NULL);
		else
			sup_send_role(ROLE_API, MSG_AUTH_TOKEN, orig_id, &b);
	} else if (reply_type == MSG_AUDIT_ROWS) {
		struct p_blob r = {0, (const uint8_t *)"", 0};
		p_blob_enc(&b, &r);
		sup_send_role(ROLE_API, MSG_AUDIT_ROWS, orig_id, &b);
	}
	buf_free(&b);
}

/* A role went away: everyone waiting on it gets an error now. */
static void fwd_fail_to(int to)
{
	for (int i = 0; i < FWD_MAX; i++) {
		struct fwd *f = &fwd_table[i];
		if (!f->used || f->to != to)
			continue;
		f->used = 0;
		if (f->reply_type != MSG_HEAD_SIGNED)
			sup_reply_error(f->from, f->orig_id, f->reply_type, f->pid);
	}
}

int sup_forward_pid(enum role_id to, int from, uint32_t orig_id, uint32_t type, uint32_t reply_type,
		    const struct buf *b, pid_t pid)
{
	if (!sup.roles[to].ready) {
		sup_reply_error(from, orig_id, reply_type, pid);
		return 0;
	}
	uint32_t id = fwd_add_pid(to, from, orig_id, reply_type, pid);
	if (!id || sup_send_role(to, type, id, b) < 0) {
		if (id)
			fwd_table[id % FWD_MAX].used = 0;
		sup_reply_error(from, orig_id, reply_type, pid);
	}
	return 0;
}

int sup_forward(enum role_id to, int from, uint32_t orig_id, uint32_t type, uint32_t reply_type,
		const struct buf *b)
{
	return sup_forward_pid(to, from, orig_id, type, reply_type, b, 0);
}

int sup_forward_mint(uint32_t ctl_id, const struct buf *b)
{
	return sup_forward(ROLE_VAULT, FWD_CTL, ctl_id, MSG_TOKEN_MINT, MSG_AUTH_TOKEN, b);
}

/* Copy a validated payload into a fresh buffer for forwarding. */
void buf_from_cursor(struct buf *b, const struct cursor *c)
{
	buf_init(b);
	buf_put(b, c->p, c->len);
}

static void audit_flush_queue(void)
{
	while (aq_head && sup.roles[ROLE_STORE].ready) {
		struct queued_audit *q = aq_head;
		if (sup_send_role(ROLE_STORE, MSG_AUDIT_APPEND, 0, &q->b) < 0)
			return;
		aq_head = q->next;
		if (!aq_head)
			aq_tail = NULL;
		aq_len--;
		buf_free(&q->b);
		free(q);
	}
}

void audit_submit(struct buf *b)
{
	if (sup.roles[ROLE_STORE].ready && !aq_head && sup_send_role(ROLE_STORE, MSG_AUDIT_APPEND, 0, b) == 0) {
		buf_free(b);
		return;
	}
	if (aq_len >= AUDIT_QUEUE_MAX) {
		log_warn("audit: store unavailable and %d records queued; dropping oldest", aq_len);
		struct queued_audit *o = aq_head;
		aq_head = o->next;
		buf_free(&o->b);
		free(o);
		aq_len--;
	}
	struct queued_audit *q = xcalloc(1, sizeof *q);
	q->b = *b;
	if (aq_tail)
		aq_tail->next = q;
	else
		aq_head = q;
	aq_tail = q;
	aq_len++;
}

void sup_audit(const char *event_type, const char *actor, const char *outcome,
	       const char *error_code, const char *pack, int64_t duration_ms, const char *payload_json)
{
	struct p_audit a = {
		.ts_ms = now_unix_ms(), .duration_ms = duration_ms, .status = 0,
		.actor = actor ? actor : "system", .client = "", .event_type = event_type,
		.method = "", .path = "", .session_id = "", .pack = pack ? pack : "",
		.outcome = outcome ? outcome : "", .error_code = error_code ? error_code : "",
		.payload = (const uint8_t *)payload_json, .payload_len = payload_json ? strlen(payload_json) : 0,
	};
	struct buf b;
	buf_init(&b);
	p_audit_enc(&b, &a);
	audit_submit(&b);
}

/* ---- dispatch: api ---- */

void sup_role_ready(struct proc *p);

/* READY of a role that sends nothing else with it (api, store, egress):
 * it must name itself, and says which layers it could not get. */
int sup_dispatch_ready(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd;
	struct proc *p = arg;
	struct p_ready r;
	if (p_ready_dec(cur, &r) < 0 || strcmp(r.role, p->def->name))
		return -1;
	snprintf(p->self_missing, sizeof p->self_missing, "%s", r.missing);
	sup_role_ready(p);
	return 0;
}

static int sup_dispatch_api_packrun(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct cursor copy = *cur;
	struct p_pack_run m;
	if (p_pack_run_dec(cur, &m) < 0)
		return -1;
	return pool_run(id, copy.p, copy.len, &copy);
}

static int sup_dispatch_api_cancel(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	if (p_empty_dec(cur) < 0)
		return -1;
	pool_cancel(id);
	return 0;
}

static void sup_session_reply(struct chan *c, uint32_t id, int status, char *json)
{
	struct p_blob r = {(uint32_t)status, (const uint8_t *)json, strlen(json)};
	struct buf b;
	buf_init(&b);
	p_blob_enc(&b, &r);
	chan_send(c, MSG_SESSION_REPLY, id, &b, -1);
	buf_free(&b);
	free(json);
}

static char *sup_json_error(const char *code, const char *msg)
{
	json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		fatal("json_dumps");
	return s;
}

/* The sessions REST calls; the api checked the token and the body. */
static int sup_dispatch_api_session(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_session_req m;
	if (p_session_req_dec(cur, &m) < 0)
		return -1;
	char why[256] = "";
	char *json;
	if (!strcmp(m.op, "create")) {
		struct session_opts o = {.label = m.label, .memory_limit = m.memory_limit, .shm_size = m.shm_size,
					 .cpu_limit_milli = m.cpu_limit_milli, .timeout_s = m.timeout_s, .max_tasks = m.max_tasks};
		const char *sid = session_create(m.owner, &o, why, sizeof why);
		if (!sid) {
			sup_session_reply(c, id, 503, sup_json_error("session_unavailable", why));
			return 0;
		}
		char payload[160];
		snprintf(payload, sizeof payload, "{\"session_id\":\"%s\"}", sid);
		sup_audit("session_created", m.owner, "ok", NULL, NULL, 0, payload);
		sup_session_reply(c, id, 201, session_json(sid, m.owner));
	} else if (!strcmp(m.op, "list")) {
		sup_session_reply(c, id, 200, session_list_json(m.owner));
	} else if (!strcmp(m.op, "get") && (json = session_json(m.id, m.owner))) {
		sup_session_reply(c, id, 200, json);
	} else if (!strcmp(m.op, "logs") && (json = session_logs_json(m.id, m.owner))) {
		sup_session_reply(c, id, 200, json);
	} else if (!strcmp(m.op, "delete") && session_terminate(m.id, m.owner, "deleted by its owner") == 0) {
		json_t *o = json_pack("{s:s,s:b}", "id", m.id, "terminated", 1);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!s)
			fatal("json_dumps");
		sup_session_reply(c, id, 200, s);
	} else if (!strcmp(m.op, "get") || !strcmp(m.op, "logs") || !strcmp(m.op, "delete")) {
		sup_session_reply(c, id, 404, sup_json_error("not_found", "no such session for this caller"));
	} else {
		return -1;
	}
	return 0;
}

/* The api may mint exactly one kind of token: share-<key>, scope
 * artifact:share, at most 7 days, naming the subject that shared it. */
static int sup_dispatch_api_share(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_mint m;
	if (p_mint_dec(cur, &m) < 0)
		return -1;
	int ok = strlen(m.sub) == 70 && !strncmp(m.sub, "share-", 6) && !strcmp(m.scopes, "artifact:share") &&
		 m.ttl_s >= 60 && m.ttl_s <= 7 * 24 * 3600;
	for (const char *p = m.sub + 6; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	if (!ok)
		return -1;  /* the api never asks for anything else: it is broken */
	struct buf b;
	buf_init(&b);
	p_mint_enc(&b, &m);
	sup_forward(ROLE_VAULT, ROLE_API, id, MSG_TOKEN_MINT, MSG_AUTH_TOKEN, &b);
	buf_free(&b);
	char payload[200];
	snprintf(payload, sizeof payload, "{\"artifact\":\"%s\",\"ttl_s\":%lld}", m.sub + 6, (long long)m.ttl_s);
	sup_audit("artifact_shared", m.client, "ok", NULL, NULL, 0, payload);
	return 0;
}

static int sup_dispatch_api_login(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_login m;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_login_dec(cur, &m) < 0) {
		buf_free(&b);
		return -1;
	}
	sup_forward(ROLE_VAULT, ROLE_API, id, MSG_AUTH_LOGIN, MSG_AUTH_TOKEN, &b);
	buf_free(&b);
	return 0;
}

static int sup_dispatch_api_audit(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
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

static int sup_dispatch_api_query(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_audit_query m;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_audit_query_dec(cur, &m) < 0) {
		buf_free(&b);
		return -1;
	}
	sup_forward(ROLE_STORE, ROLE_API, id, MSG_AUDIT_QUERY, MSG_AUDIT_ROWS, &b);
	buf_free(&b);
	return 0;
}

static int sup_dispatch_api_security(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	if (p_empty_dec(cur) < 0)
		return -1;
	char *json = security_report();
	struct p_blob r = {1, (const uint8_t *)json, strlen(json)};
	struct buf b;
	buf_init(&b);
	p_blob_enc(&b, &r);
	chan_send(c, MSG_SECURITY, id, &b, -1);
	buf_free(&b);
	free(json);
	return 0;
}

const struct allow_entry api_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, sup_dispatch_ready},
	{MSG_PACK_RUN, 0, sup_dispatch_api_packrun},
	{MSG_PACK_CANCEL, 0, sup_dispatch_api_cancel},
	{MSG_SESSION_REQ, 0, sup_dispatch_api_session},
	{MSG_SHARE_MINT, 0, sup_dispatch_api_share},
	{MSG_AUTH_LOGIN, 0, sup_dispatch_api_login},
	{MSG_AUDIT_APPEND, 0, sup_dispatch_api_audit},
	{MSG_AUDIT_QUERY, 0, sup_dispatch_api_query},
	{MSG_SECURITY_GET, 0, sup_dispatch_api_security},
	{MSG_VAULT_REQ, 0, secrets_api_vault_req},
};

/* ---- dispatch: store ---- */

static int sup_dispatch_store_rows(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_blob r;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_blob_dec(cur, &r) < 0) {
		buf_free(&b);
		return -1;
	}
	struct fwd *f = fwd_take(ROLE_STORE, id, MSG_AUDIT_ROWS);
	if (!f) {
		buf_free(&b);
		return -1;  /* an answer nobody asked for */
	}
	sup_send_role(ROLE_API, MSG_AUDIT_ROWS, f->orig_id, &b);
	buf_free(&b);
	return 0;
}

static int sup_dispatch_store_sign(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_head h;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_head_dec(cur, &h, 0) < 0) {
		buf_free(&b);
		return -1;
	}
	if (sup.roles[ROLE_VAULT].ready) {
		uint32_t fid = fwd_add(ROLE_VAULT, ROLE_STORE, id, MSG_HEAD_SIGNED);
		if (fid)
			sup_send_role(ROLE_VAULT, MSG_HEAD_SIGN, fid, &b);
	}
	buf_free(&b);
	return 0;
}

const struct allow_entry store_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, sup_dispatch_ready},
	{MSG_AUDIT_ROWS, 0, sup_dispatch_store_rows},
	{MSG_HEAD_SIGN, 0, sup_dispatch_store_sign},
};

/* ---- dispatch: vault ---- */

static int sup_dispatch_vault_ready(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd;
	struct p_ready r;
	if (p_ready_dec(cur, &r) < 0 || strcmp(r.role, "vault") || r.pubkey_len != 32)
		return -1;
	memcpy(sup.pubkey, r.pubkey, 32);
	sup.have_pubkey = 1;
	snprintf(((struct proc *)arg)->self_missing, sizeof ((struct proc *)arg)->self_missing, "%s", r.missing);
	sup_role_ready(arg);
	return 0;
}

static int sup_dispatch_vault_token(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct cursor copy = *cur;
	struct p_token t;
	if (p_token_dec(cur, &t) < 0)
		return -1;
	struct fwd *f = fwd_take(ROLE_VAULT, id, MSG_AUTH_TOKEN);
	if (!f)
		return -1;
	if (f->from == FWD_CTL) {
		control_token_reply(f->orig_id, &copy);
	} else {
		struct buf b;
		buf_from_cursor(&b, &copy);
		sup_send_role(ROLE_API, MSG_AUTH_TOKEN, f->orig_id, &b);
		buf_free(&b);
	}
	return 0;
}

static int sup_dispatch_vault_signed(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_head h;
	struct buf b;
	buf_from_cursor(&b, cur);
	if (p_head_dec(cur, &h, 1) < 0) {
		buf_free(&b);
		return -1;
	}
	struct fwd *f = fwd_take(ROLE_VAULT, id, MSG_HEAD_SIGNED);
	if (!f) {
		buf_free(&b);
		return -1;
	}
	sup_send_role(ROLE_STORE, MSG_HEAD_SIGNED, f->orig_id, &b);
	buf_free(&b);
	return 0;
}

const struct allow_entry vault_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, sup_dispatch_vault_ready},
	{MSG_AUTH_TOKEN, 0, sup_dispatch_vault_token},
	{MSG_HEAD_SIGNED, 0, sup_dispatch_vault_signed},
	{MSG_VAULT_REPLY, 0, secrets_vault_reply},
	{MSG_AUDIT_APPEND, 0, secrets_role_audit},
	{MSG_PEER_BROKEN, 0, secrets_peer_broken},
	{MSG_AGENT_OPENED, 0, pool_agent_opened},
	{MSG_VAULT_INJECTED, 0, secrets_vault_injected},
};

static const struct {
	const struct allow_entry *t;
	size_t n;
} allow_for[ROLE_COUNT] = {
	[ROLE_API] = {api_allow, sizeof api_allow / sizeof api_allow[0]},
	[ROLE_STORE] = {store_allow, sizeof store_allow / sizeof store_allow[0]},
	[ROLE_VAULT] = {vault_allow, sizeof vault_allow / sizeof vault_allow[0]},
	[ROLE_EGRESS] = {egress_allow, EGRESS_ALLOW_N},
};

/* After READY every other declared request becomes permitted. */
void sup_role_ready(struct proc *p)
{
	p->ready = 1;
	log_info("%s ready (pid %d)", p->def->name, (int)p->pid);
	if (p->def->id == ROLE_WORKER)
		return;
	const struct allow_entry *t = allow_for[p->def->id].t;
	for (size_t i = 0; i < allow_for[p->def->id].n; i++)
		if (t[i].type != MSG_READY)
			chan_permit(p->ch, t[i].type, 1);
	struct buf b;
	buf_init(&b);
	if (sup.have_pubkey) {
		p_pubkey_enc(&b, sup.pubkey);
		if (p->def->id == ROLE_VAULT) {
			sup_send_role(ROLE_API, MSG_PUBKEY, 0, &b);
			sup_send_role(ROLE_STORE, MSG_PUBKEY, 0, &b);
		} else if (p->def->id != ROLE_EGRESS) {
			sup_send_role(p->def->id, MSG_PUBKEY, 0, &b);
		}
	}
	buf_free(&b);
	if (p->def->id == ROLE_STORE)
		audit_flush_queue();
	char payload[128];
	snprintf(payload, sizeof payload, "{\"role\":\"%s\",\"pid\":%d,\"restarts\":%d}", p->def->name,
		 (int)p->pid, p->restarts);
	sup_audit("role_start", "system", "ok", NULL, NULL, 0, payload);
	secrets_role_ready(p);
}

/* ---- process lifecycle ---- */

void sup_kill_proc(struct proc *p, const char *why)
{
	if (p->pid <= 0 || p->reaped)
		return;
	if (p->def->id == ROLE_WORKER && !strcmp(why, "invocation finished"))
		log_debug("tearing down worker %d", (int)p->pid);
	else
		log_warn("killing %s (pid %d): %s", p->def->name, (int)p->pid, why);
	kill(p->pid, SIGKILL);
	if (p->cg)
		cgroup_kill(p->cg);
}

static void sup_chan_closed(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	(void)c;
	struct proc *p = arg;
	if (why == CHAN_VIOLATION) {
		p->protocol_violation = 1;
		char payload[400];
		snprintf(payload, sizeof payload, "{\"role\":\"%s\",\"pid\":%d,\"reason\":\"%.200s\"}",
			 p->def->name, (int)p->pid, reason);
		for (char *q = payload; *q; q++)
			if (*q == '\\')
				*q = '/';
		sup_audit("ipc_violation", "system", "killed", "internal", NULL, 0, payload);
		sup_kill_proc(p, reason);
	} else if (!sup.shutting_down && p->pid > 0 && !p->reaped) {
		/* channel gone but process alive: it is useless, end it */
		kill(p->pid, SIGKILL);
	}
}

static void sup_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct proc *p = arg;
	if (!sup.shutting_down)
		sup_spawn_proc(p);
}

struct chan *sup_attach(struct proc *p, int fd)
{
	const struct allow_entry *t = p->def->id == ROLE_WORKER ? worker_allow : allow_for[p->def->id].t;
	size_t n = p->def->id == ROLE_WORKER ? worker_allow_n : allow_for[p->def->id].n;
	return chan_new(sup.base, fd, p->def->name, t, n, sup_chan_closed, p);
}

/* Out of processes or descriptors is a state of the machine, not a bug:
 * try again in a second instead of taking the whole platform down. */
static void sup_spawn_later(struct proc *p, const char *why)
{
	log_warn("cannot start %s (%s): %s; retrying in 1 s", p->def->name, why, strerror(errno));
	if (!p->restart_ev)
		p->restart_ev = evtimer_new(sup.base, sup_restart_cb, p);
	struct timeval tv = {1, 0};
	evtimer_add(p->restart_ev, &tv);
}

void sup_spawn_proc(struct proc *p)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		sup_spawn_later(p, "socketpair");
		return;
	}
	struct spawn_req r = {.role = p->def->name, .nfds = 1};
	r.fds[0] = sv[1];
	if (p->def->id == ROLE_API) {
		r.fds[1] = sup.listen_fd;
		r.nfds = 2;
	}
	r.pass_admin_password = p->def->id == ROLE_VAULT;
	char clsenv[64];
	if (p->def->id == ROLE_WORKER) {
		snprintf(clsenv, sizeof clsenv, "HELMDECK_WORKER_CLASS=%s", p->cls);
		r.extra_env[0] = clsenv;
		pool_spawn_extra(p, &r);
	}
	static unsigned spawn_seq;
	char cgname[64];
	if (p->def->id == ROLE_WORKER)
		snprintf(cgname, sizeof cgname, "worker-%d-%u", p->slot, spawn_seq++);
	else
		snprintf(cgname, sizeof cgname, "%s", p->def->name);
	if (!p->cg) {
		int exec = p->def->id == ROLE_WORKER && pool_proc_bound(p);
		uint64_t mem = exec ? cfg.exec_mem_max : p->def->id == ROLE_WORKER ? cfg.worker_mem_max : 1024ull << 20;
		uint64_t pids = exec ? cfg.exec_pids_max : p->def->id == ROLE_WORKER ? cfg.worker_pids_max : 64;
		p->cg = cgroup_create(cgname, mem, pids);
	}
	r.cgroup_fd = cgroup_v2_fd(p->cg);
	struct spawned s;
	int rc = spawn_role(&r, &s);
	if (r.cgroup_fd >= 0)
		close(r.cgroup_fd);
	if (rc < 0) {
		close(sv[0]);
		close(sv[1]);
		sup_spawn_later(p, "clone");
		return;
	}
	close(sv[1]);
	if (p->cg && cgroup_attach(p->cg, s.pid, s.in_cgroup) < 0)
		log_warn("cgroup attach %s: %s", cgname, strerror(errno));
	p->pid = s.pid;
	p->pidns = s.pidns;
	p->ready = 0;
	p->started_ms = now_ms_mono();
	p->protocol_violation = 0;
	p->reaped = 0;
	p->self_missing[0] = '\0';
	p->killed_timeout = 0;
	p->denied = 0;
	p->violation[0] = '\0';
	p->ch = sup_attach(p, sv[0]);
	/* before it runs: its network namespace may need its way out */
	if (p->def->id == ROLE_WORKER)
		pool_spawned(p, &s);
	spawn_release(&s);
	log_debug("spawned %s pid %d", p->def->name, (int)s.pid);
}


static void sup_proc_exited(struct proc *p, int status)
{
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
	/* the exit can be seen before the last frames are read: a worker's
	 * result is often still in the socket when SIGCHLD arrives */
	p->reaped = 1;
	if (p->ch)
		chan_drain(p->ch);
	if (p->ch) {
		chan_free(p->ch);
		p->ch = NULL;
	}
	int was_ready = p->ready;
	p->ready = 0;
	pid_t pid = p->pid;
	if (p->def->id == ROLE_WORKER) {
		pool_worker_exited(p, status);
		p->pid = 0;
		if (p->cg) {
			cgroup_destroy(p->cg);
			p->cg = NULL;
		}
		if (!sup.shutting_down)
			pool_fill();
		return;
	}
	p->pid = 0;
	fwd_fail_to(p->def->id);
	if (sup.shutting_down) {
		log_info("%s (pid %d) %s", p->def->name, (int)pid, how);
		return;
	}
	log_warn("%s (pid %d) %s%s", p->def->name, (int)pid, how, was_ready ? "" : " before ready");
	char payload[160];
	snprintf(payload, sizeof payload, "{\"role\":\"%s\",\"pid\":%d,\"how\":\"%s\"}", p->def->name, (int)pid, how);
	sup_audit("role_crash", "system", "restarting", "internal", NULL, 0, payload);
	if (p->def->id == ROLE_VAULT)
		sup.have_pubkey = 0;
	/* backoff: 250 ms doubling to 30 s; a role that ran a minute starts over */
	if (now_ms_mono() - p->started_ms > 60000)
		p->restarts = 0;
	uint64_t delay = 250u << (p->restarts < 7 ? p->restarts : 7);
	if (delay > 30000)
		delay = 30000;
	p->restarts++;
	struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
	if (!p->restart_ev)
		p->restart_ev = evtimer_new(sup.base, sup_restart_cb, p);
	evtimer_add(p->restart_ev, &tv);
	log_info("restarting %s in %llu ms", p->def->name, (unsigned long long)delay);
}

static struct proc *sup_find_pid(pid_t pid)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (i != ROLE_WORKER && sup.roles[i].pid == pid)
			return &sup.roles[i];
	for (int i = 0; i < sup.nworkers; i++)
		if (sup.workers[i].pid == pid)
			return &sup.workers[i];
	return NULL;
}

static void sup_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct proc *p = sup_find_pid(pid);
		if (p)
			sup_proc_exited(p, status);
		else
			session_reaped(pid, status);
	}
}

static int sup_alive_count(void)
{
	int n = 0;
	for (int i = 0; i < ROLE_COUNT; i++)
		if (i != ROLE_WORKER && sup.roles[i].pid > 0)
			n++;
	for (int i = 0; i < sup.nworkers; i++)
		if (sup.workers[i].pid > 0)
			n++;
	return n + session_alive();
}

static struct event *shutdown_timer;

static void sup_shutdown_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	static int ticks;
	sup_reap();
	if (sup_alive_count() == 0) {
		event_base_loopexit(sup.base, NULL);
		return;
	}
	if (++ticks == 50) {  /* 5 s of grace, then no more asking */
		log_warn("children still alive after 5 s; killing");
		for (int i = 0; i < ROLE_COUNT; i++)
			if (i != ROLE_WORKER)
				sup_kill_proc(&sup.roles[i], "shutdown timeout");
		for (int i = 0; i < sup.nworkers; i++)
			sup_kill_proc(&sup.workers[i], "shutdown timeout");
	}
}

static void sup_begin_shutdown(void)
{
	if (sup.shutting_down)
		return;
	sup.shutting_down = 1;
	log_info("shutting down");
	control_shutdown();
	pool_fail_all();
	session_shutdown();
	for (int i = 0; i < sup.nworkers; i++)
		sup_kill_proc(&sup.workers[i], "shutdown");
	/* api first so no new work arrives, then the rest */
	for (int i = 0; i < ROLE_COUNT; i++) {
		struct proc *p = &sup.roles[i];
		if (i == ROLE_WORKER || p->pid <= 0)
			continue;
		if (p->ch && p->ready) {
			chan_send(p->ch, MSG_SHUTDOWN, 0, NULL, -1);
		} else {
			kill(p->pid, SIGTERM);
		}
	}
	struct timeval tv = {0, 100000};
	shutdown_timer = event_new(sup.base, -1, EV_PERSIST, sup_shutdown_check, NULL);
	event_add(shutdown_timer, &tv);
}

static void sup_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what; (void)arg;
	if (sig == SIGCHLD)
		sup_reap();
	else
		sup_begin_shutdown();
}

static int sup_listen(const char *addr)
{
	char host[256];
	snprintf(host, sizeof host, "%s", addr);
	char *colon = strrchr(host, ':');
	if (!colon)
		fatal("HELMDECK_ADDR=%s: expected host:port", addr);
	*colon = '\0';
	const char *port = colon + 1;
	const char *h = host;
	if (*h == '[') {
		h++;
		char *rb = strchr(host, ']');
		if (rb)
			*rb = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	int rc = getaddrinfo(*h ? h : NULL, port, &hints, &res);
	if (rc != 0)
		fatal("HELMDECK_ADDR=%s: %s", addr, gai_strerror(rc));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatalx("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
		fatalx("bind %s", addr);
	if (listen(fd, 512) < 0)
		fatalx("listen");
	freeaddrinfo(res);
	return fd;
}

/* Directories each role owns, created before anything is spawned. */
static void sup_prepare_state(void)
{
	int root = geteuid() == 0;
	if (mkdir_p(cfg.state_dir, 0755) < 0)
		fatalx("create %s", cfg.state_dir);
	const struct { const char *sub; int role; mode_t mode; } dirs[] = {
		{"empty", -1, 0555}, {"vault", ROLE_VAULT, 0700},
		{"artifacts", ROLE_WORKER, 0700},
	};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char p[1200];
		snprintf(p, sizeof p, "%s/%s", cfg.state_dir, dirs[i].sub);
		if (mkdir_p(p, dirs[i].mode) < 0)
			fatalx("create %s", p);
		chmod(p, dirs[i].mode);
		if (root && dirs[i].role >= 0) {
			uid_t u = cfg.uid_base + role_table[dirs[i].role].uid_offset;
			if (chown(p, u, u) < 0)
				fatalx("chown %s", p);
		}
	}
	char subdirs[][16] = {"objects", "index"};
	for (int i = 0; i < 2; i++) {
		char p[1200];
		snprintf(p, sizeof p, "%s/artifacts/%s", cfg.state_dir, subdirs[i]);
		mkdir_p(p, 0700);
		if (root) {
			uid_t u = cfg.uid_base + role_table[ROLE_WORKER].uid_offset;
			if (chown(p, u, u) < 0)
				fatalx("chown %s", p);
		}
	}
	/* the database directory belongs to the store */
	char dbdir[1100];
	snprintf(dbdir, sizeof dbdir, "%s", cfg.db_path);
	char *slash = strrchr(dbdir, '/');
	if (slash && slash != dbdir)
		*slash = '\0';
	if (mkdir_p(dbdir, 0700) < 0)
		fatalx("create %s", dbdir);
	if (root) {
		uid_t u = cfg.uid_base + role_table[ROLE_STORE].uid_offset;
		/* compare resolved paths: ".." or a symlink must not pass as inside */
		char rdb[PATH_MAX], rstate[PATH_MAX];
		int inside = 0;
		if (realpath(dbdir, rdb) && realpath(cfg.state_dir, rstate)) {
			size_t sl = strlen(rstate);
			inside = !strncmp(rdb, rstate, sl) && rdb[sl] == '/';
		}
		struct stat st;
		/* never take over a directory we did not make for ourselves */
		if (!inside && (stat(dbdir, &st) < 0 || st.st_uid != u))
			fatal("HELMDECK_DB=%s: its directory %s is outside HELMDECK_STATE_DIR and not owned by the "
			      "store uid %u; give the database a directory of its own: mkdir -p %s && chown %u:%u %s",
			      cfg.db_path, dbdir, (unsigned)u, dbdir, (unsigned)u, (unsigned)u, dbdir);
		if (chown(dbdir, u, u) < 0)
			fatalx("chown %s", dbdir);
		const char *suffix[] = {"", "-wal", "-shm"};
		for (int i = 0; i < 3; i++) {
			char f[1200];
			snprintf(f, sizeof f, "%s%s", cfg.db_path, suffix[i]);
			if (chown(f, u, u) < 0 && errno != ENOENT)
				fatalx("chown %s", f);
		}
	}
}

/* The allow tables must say exactly what the declared process table says. */
static void sup_check_table(void)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		const struct allow_entry *t = r == ROLE_WORKER ? worker_allow : allow_for[r].t;
		size_t n = r == ROLE_WORKER ? worker_allow_n : allow_for[r].n;
		const struct role_def *d = &role_table[r];
		for (size_t i = 0; i < n; i++) {
			int found = 0;
			for (int k = 0; k < d->nroutes; k++)
				found |= d->routes[k].type == t[i].type;
			if (!found)
				fatal("process table: %s accepts %s from %s but declares no such route", "supervisor",
				      msg_name(t[i].type), d->name);
		}
		for (int k = 0; k < d->nroutes; k++) {
			int found = 0;
			for (size_t i = 0; i < n; i++)
				found |= d->routes[k].type == t[i].type;
			if (!found)
				fatal("process table: route %s from %s has no handler", msg_name(d->routes[k].type), d->name);
		}
	}
}

int supervisor_main(void)
{
	log_init("helmdeckd");
	config_load();
	config_export();
	spawn_init();
	sup_check_table();
	signal(SIGPIPE, SIG_IGN);
	memset(&sup, 0, sizeof sup);
	sup_prepare_state();
	char inst[64];
	snprintf(inst, sizeof inst, "helmdeck-%d", (int)getpid());
	cgroup_init(inst);
	sup.listen_fd = sup_listen(cfg.addr);
	sup.base = event_base_new();
	if (!sup.base)
		fatal("event_base_new");
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct event *ev = evsignal_new(sup.base, sigs[i], sup_signal_cb, NULL);
		if (!ev || evsignal_add(ev, NULL) < 0)
			fatal("signal event");
	}
	if (control_init() < 0)
		fatal("control socket %s unavailable", cfg.control_sock);
	log_info("helmdeck %s starting: state %s, db %s, listening on %s, cgroups %s, uid %s",
		 HELMDECK_VERSION, cfg.state_dir, cfg.db_path, cfg.addr, cgroup_mode(),
		 geteuid() == 0 ? "per-role" : "unprivileged (user namespace)");
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (i == ROLE_WORKER)
			continue;
		sup.roles[i].def = &role_table[i];
		sup.roles[i].notify_fd = -1;
	}
	/* vault first: api and store need its public key */
	sup_spawn_proc(&sup.roles[ROLE_VAULT]);
	sup_spawn_proc(&sup.roles[ROLE_STORE]);
	sup_spawn_proc(&sup.roles[ROLE_EGRESS]);
	sup_spawn_proc(&sup.roles[ROLE_API]);
	pool_init();
	ws_init();
	session_init();
	artifact_janitor_init();
	pool_fill();
	event_base_dispatch(sup.base);
	ws_shutdown();
	for (int i = 0; i < ROLE_COUNT; i++)
		if (i != ROLE_WORKER && sup.roles[i].cg)
			cgroup_destroy(sup.roles[i].cg);
	for (int i = 0; i < sup.nworkers; i++)
		if (sup.workers[i].cg)
			cgroup_destroy(sup.workers[i].cg);
	cgroup_shutdown();
	log_info("stopped");
	return 0;
}
