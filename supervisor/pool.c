/*
 * The worker pool: pre-forked, confined workers, each used for exactly one
 * pack invocation and then destroyed with its cgroup. The supervisor times
 * the run, names a forbidden syscall through the worker's seccomp listener,
 * and turns every way a worker can end into one typed result.
 */
#define _GNU_SOURCE
#include "supervisor.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "workers/packs/registry.h"

#include <errno.h>
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
	char cls[32];
	struct buf frame;        /* the validated PACK_RUN payload */
	uint64_t start_us;
	uint32_t timeout_ms;
	struct event *timer;
	struct proc *worker;
	int answered;
};

static struct run *rq_head, *rq_tail;
static int rq_len;
static int artifacts_fd = -1;

static void pool_dispatch_queue(void);

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
	sup.nworkers = cfg.pool_size * ncls;
	sup.workers = xcalloc((size_t)sup.nworkers, sizeof *sup.workers);
	for (int i = 0; i < sup.nworkers; i++) {
		sup.workers[i].def = &role_table[ROLE_WORKER];
		sup.workers[i].slot = i;
		sup.workers[i].notify_fd = -1;
		snprintf(sup.workers[i].cls, sizeof sup.workers[i].cls, "%s", classes[i / cfg.pool_size]);
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
		if (sup.workers[i].pid <= 0)
			sup_spawn_proc(&sup.workers[i]);
}

static void run_answer(struct run *r, const struct p_pack_result *res)
{
	if (r->answered)
		return;
	r->answered = 1;
	struct buf b;
	buf_init(&b);
	p_pack_result_enc(&b, res);
	sup_send_role(ROLE_API, MSG_PACK_RESULT, r->api_id, &b);
	buf_free(&b);
	char payload[512];
	snprintf(payload, sizeof payload, "{\"worker_pid\":%d,\"detail\":\"%.300s\"}",
		 r->worker ? (int)r->worker->pid : 0, res->detail ? res->detail : "");
	for (char *q = payload + 1; *q; q++)
		if (*q == '\\')
			*q = '/';
	sup_audit("pack_call", r->actor, res->ok ? "ok" : "error", res->ok ? NULL : res->code, r->pack,
		  (int64_t)(res->duration_us / 1000), payload);
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

static void run_free(struct run *r)
{
	if (r->timer)
		event_free(r->timer);
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
	if (seccomp_notify_receive(fd, req) == 0) {
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

const struct allow_entry worker_allow[] = {
	{MSG_READY, AL_PERMIT | AL_ONCE, worker_ready},
	{MSG_SECCOMP_LISTENER, AL_PERMIT | AL_FD | AL_ONCE, worker_listener},
	{MSG_PACK_RESULT, AL_ONCE, worker_result},
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
	r->start_us = now_us_mono();
	chan_permit(w->ch, MSG_PACK_RESULT, 1);
	if (chan_send(w->ch, MSG_PACK_RUN, r->api_id, &r->frame, artifacts_fd) < 0) {
		run_fail(r, "internal", "worker unavailable", "send failed");
		sup_kill_proc(w, "send failed");
		return;
	}
}

/* First come, first served, per class: a run waits only for a worker of
 * its own class. */
static void pool_dispatch_queue(void)
{
	struct run **pp = &rq_head, *prev = NULL;
	while (*pp) {
		struct run *r = *pp;
		struct proc *w = pool_idle(r->cls);
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
		pool_start(w, r);
	}
}

int pool_run(uint32_t api_id, const uint8_t *frame, size_t len, struct cursor *cur)
{
	struct p_pack_run m;
	if (p_pack_run_dec(cur, &m) < 0)
		return -1;
	struct run *r = xcalloc(1, sizeof *r);
	r->api_id = api_id;
	snprintf(r->pack, sizeof r->pack, "%s", m.pack);
	snprintf(r->actor, sizeof r->actor, "%s", m.actor);
	snprintf(r->cls, sizeof r->cls, "%s", m.cls);
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
	if (!pool_has_class(r->cls)) {
		run_fail(r, "invalid_input", "no worker pool for that pack class", NULL);
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
