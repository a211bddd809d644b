/*
 * The worker pool: pre-forked, confined workers, each used for exactly one
 * pack invocation and then destroyed with its cgroup. The supervisor times
 * the run, names a forbidden syscall through the worker's seccomp listener,
 * and turns every way a worker can end into one typed result.
 */
#define _GNU_SOURCE
#include "supervisor.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/seccomp_policy.h"
#include "supervisor/session.h"
#include "supervisor/spawn.h"
#include "supervisor/workspace.h"
#include "supervisor/git_ssh.h"
#include "supervisor/netns_proxy.h"
#include "workers/packs/registry.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_QUEUE_MAX 256

struct run {
	struct run *next;
	uint32_t api_id;
	char pack[128];
	char actor[128];
	char client[128];
	char cls[32];
	struct buf frame;        /* the validated PACK_RUN payload */
	uint64_t start_us;
	uint32_t timeout_ms;
	struct event *timer;
	struct proc *worker;
	int answered;
	const struct pack_def *def;
	int dir_fd;              /* handed with PACK_RUN (prefork classes) */
	int own_dir_fd;          /* dir_fd is this run's workspace, close it */
	int remote_fd, remote_rw;
	char ws_id[WS_ID_LEN + 1];
	int ws_created, ws_failed;
	char remote_display[WS_URL_MAX];
	char session_id[SESSION_ID_LEN + 1];  /* browser packs */
	int cdp_fd;                           /* lent for this run, or -1 */
	int ephemeral;                        /* the session was made for this run */
	/* ssh remotes: the vault serves an agent in agent_dir, egress forwards
	 * the sandbox's 127.0.0.1:2222 to the vetted sshd */
	int ssh, https;          /* https: egress's HTTP proxy on 3128, a CA bundle */
	struct git_ssh gs;
	char agent_name[48];
	int agent_dir_fd, agent_pending, agent_open, proxy_served;
};

static struct run *rq_head, *rq_tail;
static int rq_len;
static int artifacts_fd = -1;

static void pool_dispatch_queue(void);

/* A bound class gets no pre-forked workers: each of its runs spawns a worker
 * whose root is built around that run's workspace and remote. */
static int pool_class_bound(const char *cls) { return !strcmp(cls, "exec"); }

/* Per class, from its policy file: how a forbidden call is answered. */
static struct { char cls[32]; int violation_errno; } class_policy[16];
static int nclass_policy;

static int pool_violation_errno(const char *cls)
{
	for (int i = 0; i < nclass_policy; i++)
		if (!strcmp(class_policy[i].cls, cls))
			return class_policy[i].violation_errno;
	return 0;
}

#define DENIALS_AUDITED 16  /* per worker; the rest are counted */

/* exec workers live for one run: the security report shows what the last
 * one reported it could not get */
char pool_exec_missing[256];
int pool_exec_seen;
int pool_proc_bound(const struct proc *w) { return pool_class_bound(w->cls); }

/* HELMDECK_WORKER_POOL workers for every pack class in use: a worker is
 * confined for its class (seccomp included) before it is ever handed work. */
void pool_init(void)
{
	const char *classes[16];
	int ncls = 0;
	for (size_t i = 0; i < pack_count(); i++) {
		const struct pack_def *d = pack_at(i);
		if (d->test_only && !cfg.test_packs)
			continue;
		int seen = 0;
		for (int k = 0; k < ncls; k++)
			seen |= !strcmp(classes[k], d->cls);
		if (!seen && ncls < 16)
			classes[ncls++] = d->cls;
	}
	/* every class policy must compile here, before any worker needs it */
	for (int k = 0; k < ncls; k++) {
		char name[64], err[256];
		snprintf(name, sizeof name, "worker-%s", classes[k]);
		struct sc_policy *pol = sc_policy_load(cfg.policy_dir, name, err, sizeof err);
		if (!pol)
			fatal("policy %s: %s", name, err);
		snprintf(class_policy[k].cls, sizeof class_policy[k].cls, "%s", classes[k]);
		class_policy[k].violation_errno = sc_policy_violation_errno(pol);
		sc_policy_free(pol);
	}
	nclass_policy = ncls;
	sup.nworkers = 0;
	for (int k = 0; k < ncls; k++)
		sup.nworkers += pool_class_bound(classes[k]) ? cfg.exec_workers : cfg.pool_size;
	sup.workers = xcalloc((size_t)sup.nworkers, sizeof *sup.workers);
	int i = 0;
	for (int k = 0; k < ncls; k++) {
		int n = pool_class_bound(classes[k]) ? cfg.exec_workers : cfg.pool_size;
		for (int j = 0; j < n; j++, i++) {
			sup.workers[i].def = &role_table[ROLE_WORKER];
			sup.workers[i].slot = i;
			sup.workers[i].notify_fd = -1;
			snprintf(sup.workers[i].cls, sizeof sup.workers[i].cls, "%s", classes[k]);
		}
	}
	char p[1200];
	snprintf(p, sizeof p, "%s/artifacts", cfg.state_dir);
	artifacts_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (artifacts_fd < 0)
		fatalx("open %s", p);
}

void pool_fill(void)
{
	if (sup.shutting_down)
		return;
	for (int i = 0; i < sup.nworkers; i++)
		if (sup.workers[i].pid <= 0 && !pool_class_bound(sup.workers[i].cls))
			sup_spawn_proc(&sup.workers[i]);
	/* a bound slot just came free */
	pool_dispatch_queue();
}

/* The spawn of a bound worker carries its run: the workspace at fd 4, the
 * remote at fd 5, and what the worker must know in HELMDECK_RUN_*. */
void pool_spawn_extra(struct proc *w, struct spawn_req *req)
{
	static char env[5][WS_URL_MAX + 64];
	struct run *r = w->run;
	if (!r || !pool_class_bound(w->cls))
		return;
	int e = 1;  /* [0] is the class */
	if (r->dir_fd >= 0) {
		req->fds[req->nfds++] = r->dir_fd;
		snprintf(env[0], sizeof env[0], "HELMDECK_RUN_WS_ID=%s", r->ws_id);
		req->extra_env[e++] = env[0];
	}
	if (r->ssh && r->dir_fd >= 0) {
		static char cmd[1024];
		req->fds[req->nfds++] = r->agent_dir_fd;
		snprintf(env[1], sizeof env[1], "HELMDECK_RUN_REMOTE=%s", r->remote_display);
		char fwd[WS_URL_MAX];
		git_ssh_forward_url(&r->gs, fwd, sizeof fwd);
		snprintf(env[2], sizeof env[2], "HELMDECK_RUN_SSH_URL=%s", fwd);
		git_ssh_command(&r->gs, cmd, sizeof cmd - 32);
		snprintf(env[3], sizeof env[3], "HELMDECK_RUN_SSH_COMMAND=%s", cmd);
		req->extra_env[e++] = env[1];
		req->extra_env[e++] = env[2];
		req->extra_env[e++] = env[3];
		req->new_netns = 1;
	} else if (r->https && r->dir_fd >= 0) {
		req->fds[req->nfds++] = r->agent_dir_fd;
		snprintf(env[1], sizeof env[1], "HELMDECK_RUN_REMOTE=%s", r->remote_display);
		snprintf(env[2], sizeof env[2], "HELMDECK_RUN_HTTPS_URL=%s", r->remote_display);
		req->extra_env[e++] = env[1];
		req->extra_env[e++] = env[2];
		req->new_netns = 1;
	} else if (r->remote_fd >= 0 && r->dir_fd >= 0) {
		req->fds[req->nfds++] = r->remote_fd;
		snprintf(env[1], sizeof env[1], "HELMDECK_RUN_REMOTE=%s", r->remote_display);
		snprintf(env[2], sizeof env[2], "HELMDECK_RUN_REMOTE_RW=%d", r->remote_rw);
		req->extra_env[e++] = env[1];
		req->extra_env[e++] = env[2];
	}
	req->extra_env[e] = NULL;
}

static void run_answer(struct run *r, const struct p_pack_result *res)
{
	if (r->answered)
		return;
	r->answered = 1;
	r->ws_failed = !res->ok;
	struct buf b;
	buf_init(&b);
	p_pack_result_enc(&b, res);
	sup_send_role(ROLE_API, MSG_PACK_RESULT, r->api_id, &b);
	buf_free(&b);
	/* built, never parsed: the detail is a worker's text and may hold
	 * anything, so it goes through a real JSON encoder */
	char detail[301];
	size_t dn = 0;
	for (const char *q = res->detail ? res->detail : ""; *q && dn < sizeof detail - 1; q++)
		detail[dn++] = (unsigned char)*q < 0x20 ? ' ' : *q;
	dn = utf8_cut((const uint8_t *)detail, dn);
	detail[dn] = '\0';
	json_t *pl = json_pack("{s:i,s:s,s:s?}", "worker_pid", r->worker ? (int)r->worker->pid : 0,
			       "workspace", r->ws_id, "detail", utf8_valid((const uint8_t *)detail, dn) ? detail : NULL);
	char *payload = pl ? json_dumps(pl, JSON_COMPACT) : NULL;
	json_decref(pl);
	int cancelled = !res->ok && res->detail && !strcmp(res->detail, "cancelled");
	sup_audit("pack_call", r->actor, res->ok ? "ok" : cancelled ? "cancelled" : "error", res->ok ? NULL : res->code, r->pack,
		  (int64_t)(res->duration_us / 1000), payload ? payload : "{}");
	free(payload);
}

static void run_fail(struct run *r, const char *code, const char *msg, const char *detail)
{
	struct p_pack_result res = {
		.ok = 0, .code = code, .message = msg, .detail = detail ? detail : "",
		.output = NULL, .output_len = 0, .artifacts = NULL, .artifacts_len = 0,
		.duration_us = now_us_mono() - r->start_us,
	};
	run_answer(r, &res);
}

/* The run's agent and forward end with it. */
static void pool_ssh_end(struct run *r)
{
	if (!r->ssh && !r->https)
		return;
	struct buf b;
	buf_init(&b);
	if (r->agent_open && sup.roles[ROLE_VAULT].ready) {
		struct p_agent_open m = {r->agent_name, "", "", "", "", ""};
		p_agent_open_enc(&b, &m);
		sup_send_role(ROLE_VAULT, MSG_AGENT_CLOSE, 0, &b);
	}
	if (r->proxy_served && sup.roles[ROLE_EGRESS].ready) {
		buf_reset(&b);
		struct p_proxy m = {r->agent_name, "", "", "", "", 0, 0};
		p_proxy_enc(&b, &m);
		sup_send_role(ROLE_EGRESS, MSG_PROXY_CLOSE, 0, &b);
	}
	buf_free(&b);
	if (r->agent_dir_fd >= 0)
		close(r->agent_dir_fd);
	if (r->agent_name[0])
		git_ssh_agent_dir_remove(r->agent_name);
	r->ssh = r->https = 0;
}

static void run_free(struct run *r)
{
	if (r->timer)
		event_free(r->timer);
	if (r->own_dir_fd && r->dir_fd >= 0)
		close(r->dir_fd);
	if (r->remote_fd >= 0)
		close(r->remote_fd);
	pool_ssh_end(r);
	if (r->cdp_fd >= 0) {
		close(r->cdp_fd);
		session_return(r->session_id);
	} else if (r->ephemeral) {
		/* a session made for a run that never got to use it */
		session_return(r->session_id);
	}
	if (r->ws_id[0]) {
		if (r->worker)
			ws_set_running(r->ws_id, 0);
		ws_hold(r->ws_id, -1);
		/* a clone that failed leaves nothing behind */
		if (r->ws_created && r->ws_failed)
			ws_remove(r->ws_id);
	}
	buf_free(&r->frame);
	free(r);
}

static void rq_unlink(struct run *r)
{
	struct run **pp = &rq_head, *prev = NULL;
	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != r)
			continue;
		*pp = r->next;
		if (rq_tail == r)
			rq_tail = prev;
		rq_len--;
		return;
	}
}

static void run_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	struct run *r = arg;
	struct proc *w = r->worker;
	if (!w) {
		/* still queued: no worker of its class became free in time */
		rq_unlink(r);
		char msg[256];
		snprintf(msg, sizeof msg, "pack %s waited %u ms for a worker", r->pack, r->timeout_ms);
		run_fail(r, "timeout", msg, "queued until timeout");
		run_free(r);
		return;
	}
	w->killed_timeout = 1;
	char msg[256];
	snprintf(msg, sizeof msg, "pack %s exceeded its %u ms timeout", r->pack, r->timeout_ms);
	run_fail(r, "timeout", msg, "worker killed at timeout");
	sup_kill_proc(w, "pack timeout");
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct proc *w = arg;
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	if (seccomp_notify_alloc(&req, &resp) < 0)
		return;
	int deny = pool_violation_errno(w->cls);
	int got = seccomp_notify_receive(fd, req) == 0;
	if (got && deny) {
		/* refused, not fatal: the program sees the errno, the audit log
		 * sees the attempt */
		char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
		resp->id = req->id;
		resp->error = -deny;
		resp->val = 0;
		resp->flags = 0;
		if (seccomp_notify_respond(fd, resp) < 0 && errno != ENOENT)
			log_warn("seccomp notify respond: %s", strerror(errno));
		if (w->denied++ < DENIALS_AUDITED) {
			char payload[256];
			snprintf(payload, sizeof payload,
				 "{\"syscall\":\"%s\",\"nr\":%d,\"pid\":%u,\"worker_pid\":%d,\"answer\":\"%s\"}",
				 name ? name : "unknown", req->data.nr, req->pid, (int)w->pid, strerrorname_np(deny));
			sup_audit("sandbox_denied", w->run ? w->run->actor : "system", "denied", "sandbox_violation",
				  w->run ? w->run->pack : NULL, 0, payload);
			log_info("worker %d: denied %s to pid %u", (int)w->pid, name ? name : "?", req->pid);
		}
		free(name);
	} else if (got) {
		char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
		snprintf(w->violation, sizeof w->violation, "%s", name ? name : "unknown");
		free(name);
		log_warn("worker %d: forbidden syscall %s (%d); killing", (int)w->pid, w->violation, req->data.nr);
		if (w->run) {
			char msg[160];
			snprintf(msg, sizeof msg, "the pack attempted a forbidden system call: %s", w->violation);
			char detail[128];
			snprintf(detail, sizeof detail, "syscall=%s nr=%d", w->violation, req->data.nr);
			run_fail(w->run, "sandbox_violation", msg, detail);
		}
		sup_kill_proc(w, "seccomp violation");
	} else {
		/* the listener closes when the worker dies */
		event_del(w->notify_ev);
	}
	seccomp_notify_free(req, resp);
}

static void pool_start(struct proc *w, struct run *r);

static int worker_ready(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd;
	struct proc *w = arg;
	struct p_ready r;
	if (p_ready_dec(cur, &r) < 0 || strcmp(r.role, "worker"))
		return -1;
	snprintf(w->self_missing, sizeof w->self_missing, "%s", r.missing);
	w->ready = 1;
	log_debug("worker %d (%s) ready %llu ms after spawn", (int)w->pid, w->cls,
		  (unsigned long long)(now_ms_mono() - w->started_ms));
	if (pool_class_bound(w->cls)) {
		snprintf(pool_exec_missing, sizeof pool_exec_missing, "%s", r.missing);
		pool_exec_seen = 1;
		/* spawned for one run, which is waiting for it */
		if (!w->run || w->run->answered)
			sup_kill_proc(w, "run already answered");
		else
			pool_start(w, w->run);
		return 0;
	}
	pool_dispatch_queue();
	return 0;
}

static int worker_listener(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id;
	struct proc *w = arg;
	if (p_empty_dec(cur) < 0) {
		close(fd);
		return -1;
	}
	w->notify_fd = fd;
	w->notify_ev = event_new(sup.base, fd, EV_READ | EV_PERSIST, notify_cb, w);
	event_add(w->notify_ev, NULL);
	return 0;
}

static int worker_result(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd;
	struct proc *w = arg;
	struct p_pack_result res;
	if (p_pack_result_dec(cur, &res) < 0 || !w->run)
		return -1;
	struct run *r = w->run;
	res.duration_us = now_us_mono() - r->start_us;
	if (res.output_len > cfg.pack_max_output) {
		char msg[128];
		snprintf(msg, sizeof msg, "output of %zu bytes exceeds the %u byte cap", res.output_len,
			 cfg.pack_max_output);
		run_fail(r, "resource_exhausted", msg, "output cap");
	} else {
		run_answer(r, &res);
	}
	/* one invocation per worker: tear it down now */
	sup_kill_proc(w, "invocation finished");
	return 0;
}

static int worker_egress(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd;
	return secrets_worker_request(arg, id, cur);
}

static int worker_inject(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd;
	return secrets_worker_inject(arg, id, cur);
}

int pool_run_cdp(const struct proc *w)
{
	return w->run && !w->run->answered ? w->run->cdp_fd : -1;
}

/* Who w's run is for. */
int pool_run_caller_any(const struct proc *w, const char **actor, const char **client, const char **pack,
			uint32_t *timeout_ms)
{
	const struct run *r = w->run;
	if (!r || r->answered || !r->def)
		return -1;
	*actor = r->actor;
	*client = r->client;
	*pack = r->pack;
	uint64_t spent = (now_us_mono() - r->start_us) / 1000;
	*timeout_ms = spent + 200 < r->timeout_ms ? r->timeout_ms - (uint32_t)spent - 200 : 100;
	return 0;
}

/* Only a pack that declares it goes out may ask egress, for its own run. */
int pool_run_caller(const struct proc *w, const char **actor, const char **client, const char **pack,
		    uint32_t *timeout_ms)
{
	if (!w->run || !w->run->def || !w->run->def->egress)
		return -1;
	return pool_run_caller_any(w, actor, client, pack, timeout_ms);
}

/* The vault opened (or refused) the agent a queued ssh run waits for. */
int pool_agent_opened(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_blob res;
	if (p_blob_dec(cur, &res) < 0)
		return -1;
	struct fwd *f = fwd_take(ROLE_VAULT, id, MSG_AGENT_OPENED);
	if (!f)
		return -1;
	struct run *r = rq_head;
	while (r && !(r->api_id == f->orig_id && r->agent_pending))
		r = r->next;
	if (!r)
		return 0;  /* cancelled meanwhile: the vault's agent closes with the run's end */
	r->agent_pending = 0;
	r->agent_open = res.ok == 200;
	json_error_t je;
	json_t *o = json_loadb((const char *)res.data, res.len, 0, &je);
	const char *kh = json_string_value(json_object_get(o, "known_hosts"));
	if (res.ok != 200 || !kh || !*kh || git_ssh_write_known_hosts(r->agent_dir_fd, kh) < 0) {
		const char *code = json_string_value(json_object_get(o, "error"));
		const char *msg = json_string_value(json_object_get(o, "message"));
		char m2[400];
		if (res.ok == 200)
			snprintf(m2, sizeof m2, "the ssh credential %s pins no known_hosts: store the server's keys "
				 "(ssh-keyscan output) as metadata.known_hosts", json_string_value(json_object_get(o, "name")));
		rq_unlink(r);
		run_fail(r, res.ok == 200 ? "credential_invalid" : code ? code : "internal",
			 res.ok == 200 ? m2 : msg ? msg : "the vault refused the ssh agent", "pack:ssh credential");
		json_decref(o);
		run_free(r);
		return 0;
	}
	json_decref(o);
	pool_dispatch_queue();
	return 0;
}

/* The vault went away before it answered. */
void pool_agent_failed(uint32_t api_id)
{
	struct run *r = rq_head;
	while (r && !(r->api_id == api_id && r->agent_pending))
		r = r->next;
	if (!r)
		return;
	r->agent_pending = 0;
	rq_unlink(r);
	run_fail(r, "internal", "the vault went away before it opened the ssh agent; try again", "pack:no vault");
	run_free(r);
}

void pool_spawned(struct proc *w, const struct spawned *s)
{
	struct run *r = w->run;
	if (!r || (!r->ssh && !r->https))
		return;
	/* ssh: a fixed forward to the vetted sshd; https: the HTTP proxy */
	int lfd = s->netns ? netns_listener(s->pid, r->ssh ? NETNS_SSH_PORT : NETNS_PROXY_PORT) : -1;
	struct proc *e = &sup.roles[ROLE_EGRESS];
	if (lfd >= 0 && e->ready && e->ch) {
		struct p_proxy m = {r->agent_name, r->actor, r->client, "git", r->ssh ? r->gs.host : "",
				    r->ssh ? 1 : 0, r->ssh ? r->gs.port : 0};
		struct buf b;
		buf_init(&b);
		p_proxy_enc(&b, &m);
		r->proxy_served = chan_send(e->ch, MSG_PROXY_LISTEN, 0, &b, lfd) == 0;
		buf_free(&b);
	}
	if (lfd >= 0)
		close(lfd);
	if (!r->proxy_served)
		log_warn("run %u: no way out for its %s remote (%s): git will fail", r->api_id, r->ssh ? "ssh" : "https",
			 lfd < 0 ? strerror(errno) : "egress not ready");
}

const struct allow_entry worker_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, worker_ready},
	{MSG_SECCOMP_LISTENER, AL_PERMIT | AL_FD | AL_ONCE, worker_listener},
	{MSG_PACK_RESULT, AL_ONCE, worker_result},
	{MSG_EGRESS_REQ, 0, worker_egress},
	{MSG_BROWSER_INJECT, 0, worker_inject},
};
const size_t worker_allow_n = sizeof worker_allow / sizeof worker_allow[0];

static struct proc *pool_idle(const char *cls)
{
	for (int i = 0; i < sup.nworkers; i++) {
		struct proc *w = &sup.workers[i];
		if (w->pid > 0 && w->ready && !w->run && w->ch && !w->protocol_violation && !strcmp(w->cls, cls))
			return w;
	}
	return NULL;
}

static int pool_has_class(const char *cls)
{
	for (int i = 0; i < sup.nworkers; i++)
		if (!strcmp(sup.workers[i].cls, cls))
			return 1;
	return 0;
}

static void pool_start(struct proc *w, struct run *r)
{
	w->run = r;
	r->worker = w;
	if (r->ws_id[0])
		ws_set_running(r->ws_id, 1);
	chan_permit(w->ch, MSG_PACK_RESULT, 1);
	if (r->def && r->def->egress)
		chan_permit(w->ch, MSG_EGRESS_REQ, 1);
	if (r->cdp_fd >= 0)
		chan_permit(w->ch, MSG_BROWSER_INJECT, 1);
	/* a bound worker got its directories at spawn; a browser worker gets
	 * the artifact store first and the session's CDP socket with the run */
	int fd = pool_class_bound(w->cls) || !strcmp(w->cls, "net") ? -1 : r->dir_fd;
	if (r->cdp_fd >= 0) {
		if (chan_send(w->ch, MSG_PACK_AUX_FD, r->api_id, NULL, r->dir_fd) < 0) {
			run_fail(r, "internal", "worker unavailable", "send failed");
			sup_kill_proc(w, "send failed");
			return;
		}
		fd = r->cdp_fd;
	}
	if (chan_send(w->ch, MSG_PACK_RUN, r->api_id, &r->frame, fd) < 0) {
		run_fail(r, "internal", "worker unavailable", "send failed");
		sup_kill_proc(w, "send failed");
		return;
	}
}

static struct proc *pool_free_bound_slot(const char *cls)
{
	for (int i = 0; i < sup.nworkers; i++) {
		struct proc *w = &sup.workers[i];
		if (w->pid <= 0 && !w->run && !strcmp(w->cls, cls))
			return w;
	}
	return NULL;
}

/* First come, first served, per class: a run waits only for a worker of
 * its own class, and for the run before it in the same workspace. */
static void pool_dispatch_queue(void)
{
	if (sup.shutting_down)
		return;
	struct run **pp = &rq_head, *prev = NULL;
	while (*pp) {
		struct run *r = *pp;
		if (r->agent_pending) {
			prev = r;
			pp = &r->next;
			continue;
		}
		int bound = pool_class_bound(r->cls);
		struct proc *w = r->ws_id[0] && ws_running(r->ws_id) ? NULL :
				 bound ? pool_free_bound_slot(r->cls) : pool_idle(r->cls);
		if (w && r->session_id[0] && r->cdp_fd < 0) {
			/* one invocation at a time drives a session */
			char why[256];
			int busy;
			r->cdp_fd = session_lend(r->session_id, r->actor, r->timeout_ms, &busy, why, sizeof why);
			if (r->cdp_fd < 0 && !busy) {
				struct run *bad = r;
				*pp = r->next;
				if (rq_tail == r)
					rq_tail = prev;
				rq_len--;
				run_fail(bad, "invalid_input", why, "pack:session refused");
				run_free(bad);
				continue;
			}
			if (r->cdp_fd < 0)
				w = NULL;
		}
		if (!w) {
			prev = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (rq_tail == r)
			rq_tail = prev;
		rq_len--;
		r->next = NULL;
		if (bound) {
			/* reserved now, started when the worker reports ready */
			w->run = r;
			r->worker = w;
			if (r->ws_id[0])
				ws_set_running(r->ws_id, 1);
			sup_spawn_proc(w);
		} else {
			pool_start(w, r);
		}
	}
}

/* Resolve what the run's pack needs on disk: its workspace (opened for the
 * caller, or created for repo.fetch) and its git remote. 0, or -1 with the
 * run answered. */
/* An https remote: the run's directory holds the CA bundle git trusts (the
 * system's and HELMDECK_EGRESS_CA_FILE's); the proxy comes at spawn. */
static int pool_https_begin(struct run *r)
{
	static unsigned seq;
	snprintf(r->agent_name, sizeof r->agent_name, "run-%u-h%u", r->api_id, seq++);
	uid_t wuid = cfg.uid_base + role_table[ROLE_WORKER].uid_offset;
	if (git_run_dir(r->agent_name, wuid, &r->agent_dir_fd) < 0 || git_https_write_ca(r->agent_dir_fd) < 0) {
		run_fail(r, "internal", "could not prepare this run's CA bundle", strerror(errno));
		return -1;
	}
	return 0;
}

/* An ssh remote: the run waits for the vault to open an agent with the
 * caller's key for that host (AGENT_OPENED), then runs. */
static int pool_ssh_begin(struct run *r)
{
	static unsigned seq;
	r->ssh = 1;
	snprintf(r->agent_name, sizeof r->agent_name, "run-%u-%u", r->api_id, seq++);
	int lfd;
	uid_t wuid = cfg.uid_base + role_table[ROLE_WORKER].uid_offset;
	if (git_ssh_agent_dir(r->agent_name, wuid, &r->agent_dir_fd, &lfd) < 0) {
		run_fail(r, "internal", "could not prepare the ssh agent for this run", strerror(errno));
		return -1;
	}
	struct proc *v = &sup.roles[ROLE_VAULT];
	uint32_t fid = v->ready ? fwd_add(ROLE_VAULT, FWD_RUN, r->api_id, MSG_AGENT_OPENED) : 0;
	struct p_agent_open m = {r->agent_name, r->actor, r->client, r->gs.host, r->gs.path, ""};
	struct buf b;
	buf_init(&b);
	p_agent_open_enc(&b, &m);
	int rc = fid ? chan_send(v->ch, MSG_AGENT_OPEN, fid, &b, lfd) : -1;
	buf_free(&b);
	close(lfd);
	if (rc < 0) {
		if (fid)
			fwd_take(ROLE_VAULT, fid, MSG_AGENT_OPENED);
		run_fail(r, "internal", "the vault is not available; try again", "pack:no vault");
		return -1;
	}
	r->agent_pending = 1;
	return 0;
}

static int pool_prepare_dirs(struct run *r, const struct p_pack_run *m)
{
	const struct pack_def *d = r->def;
	char url[WS_URL_MAX] = "", why[512];
	if (d->ws == PACK_WS_USE) {
		if (ws_open(m->workspace, r->actor, &r->dir_fd, url, sizeof url, why, sizeof why) < 0) {
			char msg[200];
			snprintf(msg, sizeof msg, "no workspace '%.40s' for this caller; repo.fetch creates one", m->workspace);
			run_fail(r, "invalid_input", msg, why);
			return -1;
		}
		r->own_dir_fd = 1;
		snprintf(r->ws_id, sizeof r->ws_id, "%s", m->workspace);
		ws_hold(r->ws_id, 1);
	}
	if (d->remote == PACK_REMOTE_FETCH || d->remote == PACK_REMOTE_PUSH) {
		/* a push without a remote goes back where the clone came from */
		const char *remote = m->remote;
		if (d->remote == PACK_REMOTE_PUSH && (!*remote || !strcmp(remote, "origin")))
			remote = url;
		int ssh = *remote ? git_ssh_parse(remote, &r->gs, why, sizeof why) : 0;
		if (ssh < 0) {
			run_fail(r, "invalid_input", why, "pack:remote refused");
			return -1;
		}
		int https = !ssh && *remote ? git_https_check(remote, why, sizeof why) : 0;
		if (https < 0) {
			run_fail(r, "invalid_input", why, "pack:remote refused");
			return -1;
		}
		if (ssh) {
			snprintf(r->remote_display, sizeof r->remote_display, "%s", remote);
			r->ssh = 1;  /* the agent is asked for once the workspace is ready */
		} else if (https) {
			snprintf(r->remote_display, sizeof r->remote_display, "%s", remote);
			r->https = 1;
		} else if (!*remote || ws_remote_open(remote, &r->remote_fd, why, sizeof why) < 0) {
			run_fail(r, "invalid_input", *remote ? why : "this workspace has no remote to push to", "pack:remote refused");
			return -1;
		}
		r->remote_rw = d->remote == PACK_REMOTE_PUSH;
		snprintf(r->remote_display, sizeof r->remote_display, "%s", remote);
	}
	if (d->session) {
		if (*m->session) {
			snprintf(r->session_id, sizeof r->session_id, "%.*s", SESSION_ID_LEN, m->session);
		} else {
			/* no _session_id: a session for this call alone, from the warm pool */
			const char *sid = session_create(r->actor, NULL, why, sizeof why);
			if (!sid) {
				run_fail(r, "session_unavailable", why, "pack:no browser");
				return -1;
			}
			snprintf(r->session_id, sizeof r->session_id, "%s", sid);
			session_mark_ephemeral(sid);
			r->ephemeral = 1;
		}
	}
	if (d->ws == PACK_WS_CREATE) {
		if (ws_create(r->actor, m->remote, r->ws_id, &r->dir_fd) < 0) {
			run_fail(r, "internal", "could not create a workspace", strerror(errno));
			return -1;
		}
		r->own_dir_fd = 1;
		r->ws_created = 1;
		ws_hold(r->ws_id, 1);
	}
	return r->ssh ? pool_ssh_begin(r) : r->https ? pool_https_begin(r) : 0;
}

int pool_run(uint32_t api_id, const uint8_t *frame, size_t len, struct cursor *cur)
{
	struct p_pack_run m;
	if (p_pack_run_dec(cur, &m) < 0)
		return -1;
	struct run *r = xcalloc(1, sizeof *r);
	r->api_id = api_id;
	r->dir_fd = artifacts_fd;
	r->remote_fd = -1;
	r->cdp_fd = -1;
	r->agent_dir_fd = -1;
	snprintf(r->pack, sizeof r->pack, "%s", m.pack);
	snprintf(r->actor, sizeof r->actor, "%s", m.actor);
	snprintf(r->client, sizeof r->client, "%s", m.client);
	/* the class comes from our own registry, not from the api's word */
	r->def = pack_find(m.pack, (int)m.version, cfg.test_packs);
	snprintf(r->cls, sizeof r->cls, "%s", r->def ? r->def->cls : m.cls);
	/* the api asks, the operator's ceiling decides */
	r->timeout_ms = m.timeout_ms && m.timeout_ms < cfg.pack_timeout_ms ? m.timeout_ms : (uint32_t)cfg.pack_timeout_ms;
	buf_init(&r->frame);
	buf_put(&r->frame, frame, len);
	r->start_us = now_us_mono();
	if (sup.shutting_down) {
		run_fail(r, "internal", "shutting down", NULL);
		run_free(r);
		return 0;
	}
	if (!r->def || strcmp(r->def->cls, m.cls) || !pool_has_class(r->cls)) {
		run_fail(r, "invalid_input", "no worker pool for that pack", NULL);
		run_free(r);
		return 0;
	}
	if (pool_prepare_dirs(r, &m) < 0) {
		run_free(r);
		return 0;
	}
	if (rq_len >= RUN_QUEUE_MAX) {
		run_fail(r, "resource_exhausted", "too many pack invocations queued", NULL);
		run_free(r);
		return 0;
	}
	if (rq_tail)
		rq_tail->next = r;
	else
		rq_head = r;
	rq_tail = r;
	rq_len++;
	/* the clock runs from the request, queueing included */
	r->timer = evtimer_new(sup.base, run_timeout_cb, r);
	struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
	evtimer_add(r->timer, &tv);
	pool_dispatch_queue();
	return 0;
}

void pool_cancel(uint32_t api_id)
{
	for (struct run *r = rq_head; r; r = r->next) {
		if (r->api_id != api_id)
			continue;
		rq_unlink(r);
		run_fail(r, "internal", "cancelled by the caller", "cancelled");
		run_free(r);
		return;
	}
	for (int i = 0; i < sup.nworkers; i++) {
		struct proc *w = &sup.workers[i];
		if (!w->run || w->run->api_id != api_id || w->run->answered)
			continue;
		run_fail(w->run, "internal", "cancelled by the caller", "cancelled");
		/* a bound worker still being spawned is killed when it reports ready */
		sup_kill_proc(w, "cancelled");
		return;
	}
	/* already answered: nothing to stop */
}

void pool_worker_exited(struct proc *w, int status)
{
	if (w->notify_ev) {
		event_free(w->notify_ev);
		w->notify_ev = NULL;
	}
	if (w->notify_fd >= 0) {
		close(w->notify_fd);
		w->notify_fd = -1;
	}
	struct run *r = w->run;
	w->run = NULL;
	if (!r)
		return;
	if (!r->answered) {
		char detail[160];
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
			snprintf(detail, sizeof detail, "killed by seccomp (SIGSYS)");
			run_fail(r, "sandbox_violation", "the pack attempted a forbidden system call", detail);
#ifdef SECCOMP_DEBUG
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 159) {
			/* the trap handler logged the call and left */
			run_fail(r, "sandbox_violation", "the pack attempted a forbidden system call (see the log)", "debug trap");
#endif
		} else if (w->protocol_violation) {
			run_fail(r, "internal", "the worker broke the IPC protocol and was killed", "ipc violation");
		} else if (WIFSIGNALED(status)) {
			snprintf(detail, sizeof detail, "worker killed by signal %d", WTERMSIG(status));
			run_fail(r, "handler_failed", "the pack's worker crashed", detail);
		} else {
			snprintf(detail, sizeof detail, "worker exited with status %d", WEXITSTATUS(status));
			run_fail(r, "handler_failed", "the pack's worker ended without a result", detail);
		}
	}
	run_free(r);
}

void pool_fail_all(void)
{
	while (rq_head) {
		struct run *r = rq_head;
		rq_head = r->next;
		run_fail(r, "internal", "shutting down", NULL);
		run_free(r);
	}
	rq_tail = NULL;
	rq_len = 0;
}
