/*
 * A pack worker: started by the pool for one pack class, confined
 * (namespaces, empty root, own uid, no capabilities, rlimits,
 * no_new_privs) and put under the class's seccomp filter before it reports
 * ready; the filter's listener goes to the supervisor, which names any
 * forbidden call and kills us. Exactly one PACK_RUN arrives with the
 * artifact directory; Landlock narrows the filesystem to beneath it, the
 * input is parsed, the handler runs, the result goes back, and we exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/proctable.h"
#include "workers/packs/registry.h"
#include "supervisor/landlock.h"
#include "supervisor/sandbox_root.h"
#include "supervisor/netns_proxy.h"
#include "supervisor/spawn.h"
#include "workers/role.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char worker_cls[32];
/* exec class: this worker was spawned for one run, with its directories */
static struct sandbox_root worker_root = {.ws_fd = -1, .remote_fd = -1, .agent_fd = -1};
static const char *worker_ws_id, *worker_remote, *worker_ssh_url, *worker_https_url;

static int worker_is(const char *cls) { return !strcmp(worker_cls, cls); }

/* browser class: the artifact directory arrives just before the run */
static int worker_aux_fd = -1;

static int worker_dispatch_aux(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)arg;
	if (p_empty_dec(cur) < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	worker_aux_fd = fd;
	return 0;
}
static void worker_send_result(uint32_t id, struct p_pack_result *r)
{
	struct buf b;
	buf_init(&b);
	p_pack_result_enc(&b, r);
	chan_send(role.sup, MSG_PACK_RESULT, id, &b, -1);
	buf_free(&b);
	chan_flush_blocking(role.sup);
}

static int worker_egress_call(struct pack_ctx *ctx, const char *req, size_t len, json_t **resp);
static int worker_inject_call(struct pack_ctx *ctx, const char *op, const char *page_session, json_t *args,
			      json_t **resp);

static void worker_run(uint32_t id, struct cursor *cur, int fd)
{
	struct p_pack_run m;
	if (p_pack_run_dec(cur, &m) < 0)
		fatal("PACK_RUN no longer decodes");
	const struct pack_def *def = pack_find(m.pack, (int)m.version, cfg.test_packs);
	struct p_pack_result r = {.ok = 0, .code = "invalid_input", .message = "", .detail = ""};
	/* a worker confined for one class runs only packs of that class */
	if (!def || strcmp(def->cls, m.cls) || strcmp(def->cls, worker_cls)) {
		r.message = "unknown pack for this worker";
		worker_send_result(id, &r);
		exit(0);
	}
	/* the seccomp filter is already on; Landlock now narrows the
	 * filesystem to beneath this run's directory (artifact store or
	 * workspace). The exec class got its Landlock with its root. */
	if (worker_is("browser")) {
		/* the CDP socket needs no path; files only beneath the store */
		confine_landlock(worker_aux_fd, LL_READ | LL_WRITE);
	} else if (!worker_is("exec") && !worker_is("net")) {
		confine_landlock(fd, LL_READ | LL_WRITE);
	}
	/* the input is parsed only inside the finished sandbox */
	json_error_t jerr;
	json_t *input = json_loadb((const char *)m.input, m.input_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!input) {
		r.message = "input is not valid JSON";
		worker_send_result(id, &r);
		exit(0);
	}
	struct pack_ctx ctx = {.artifacts_fd = -1, .ws_fd = -1, .cdp_fd = -1, .actor = m.actor, .pack = def->name,
			       .artifacts = json_array(), .ws_max_bytes = cfg.workspace_max_bytes};
	ctx.egress = worker_egress_call;
	ctx.inject = worker_inject_call;
	if (worker_is("fs")) {
		ctx.ws_fd = fd;
		ctx.ws_id = m.workspace;
	} else if (worker_is("browser")) {
		ctx.cdp_fd = fd;
		ctx.artifacts_fd = worker_aux_fd;
		ctx.session_id = m.session[0] ? m.session : NULL;
	} else if (worker_is("exec")) {
		ctx.ws_path = worker_root.ws_fd >= 0 ? SANDBOX_WS : NULL;
		ctx.ws_id = worker_ws_id;
		ctx.remote_url = worker_root.remote_fd >= 0 ? "file://" SANDBOX_REMOTE : NULL;
		if (worker_ssh_url) {
			ctx.remote_url = worker_ssh_url;
			ctx.git_ssh_command = getenv("HELMDECK_RUN_SSH_COMMAND");
		} else if (worker_https_url) {
			ctx.remote_url = worker_https_url;
			ctx.git_https = 1;
		}
		ctx.remote_display = worker_remote;
	} else {
		ctx.artifacts_fd = fd;
	}
	if (def->ws && !ctx.ws_path && ctx.ws_fd < 0) {
		r.message = "no workspace was handed to this worker";
		worker_send_result(id, &r);
		exit(0);
	}
	json_t *out = def->fn(input, &ctx);
	char *outs = out ? json_dumps(out, JSON_COMPACT) : NULL;
	char *arts = json_dumps(ctx.artifacts, JSON_COMPACT);
	if (out && !outs) {
		snprintf(ctx.err_code, sizeof ctx.err_code, "internal");
		snprintf(ctx.err_msg, sizeof ctx.err_msg, "output could not be serialized");
	}
	if (outs && strlen(outs) > m.max_output) {
		snprintf(ctx.err_code, sizeof ctx.err_code, "resource_exhausted");
		snprintf(ctx.err_msg, sizeof ctx.err_msg, "output of %zu bytes exceeds the %u byte cap", strlen(outs), m.max_output);
		free(outs);
		outs = NULL;
	}
	r.ok = outs != NULL;
	r.code = outs ? "" : (ctx.err_code[0] ? ctx.err_code : "handler_failed");
	/* a message can quote a tool's output: make it a valid JSON string */
	char *msg = utf8_sanitize((const uint8_t *)ctx.err_msg, strlen(ctx.err_msg), NULL);
	char *detail = NULL;
	if (ctx.err_detail[0]) {
		char *d = utf8_sanitize((const uint8_t *)ctx.err_detail, strlen(ctx.err_detail), NULL);
		detail = xasprintf("pack:%s", d);
		free(d);
	}
	r.message = outs ? "" : msg;
	r.detail = outs || !detail ? "" : detail;
	r.output = (const uint8_t *)outs;
	r.output_len = outs ? strlen(outs) : 0;
	r.artifacts = (const uint8_t *)arts;
	r.artifacts_len = arts ? strlen(arts) : 0;
	worker_send_result(id, &r);
	exit(0);
}

/* The run is handled after its frame is consumed, so a pack may make a
 * blocking call on the channel (http.fetch asks egress). */
static struct {
	struct buf frame;
	uint32_t id;
	int fd;
	struct event *ev;
} worker_pending;

static void worker_run_cb(evutil_socket_t s, short what, void *arg)
{
	(void)s; (void)what; (void)arg;
	struct cursor cur;
	cursor_init(&cur, worker_pending.frame.data, worker_pending.frame.len);
	worker_run(worker_pending.id, &cur, worker_pending.fd);
}

static int worker_dispatch_run(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)arg;
	struct cursor copy = *cur;
	struct p_pack_run m;
	if (p_pack_run_dec(cur, &m) < 0 || (worker_is("browser") && worker_aux_fd < 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf_init(&worker_pending.frame);
	buf_put(&worker_pending.frame, copy.p, copy.len);
	worker_pending.id = id;
	worker_pending.fd = fd;
	worker_pending.ev = evtimer_new(role.base, worker_run_cb, NULL);
	if (!worker_pending.ev)
		fatal("evtimer_new");
	struct timeval now = {0, 0};
	evtimer_add(worker_pending.ev, &now);
	return 0;
}

/* A pack's blocking call through the supervisor (http.fetch to egress, a
 * browser pack's injection by the vault): one at a time, answered before
 * the run ends. */
static struct {
	int waiting, done;
	uint32_t id, reply_type;
	struct buf reply;
} worker_rpc;

static int worker_dispatch_reply(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	if (!worker_rpc.waiting || id != worker_rpc.id)
		return -1;
	struct cursor copy = *cur;
	struct p_egress_result er;
	struct p_blob br;
	if (worker_rpc.reply_type == MSG_EGRESS_RESULT ? p_egress_result_dec(cur, &er) < 0 : p_blob_dec(cur, &br) < 0)
		return -1;
	buf_init(&worker_rpc.reply);
	buf_put(&worker_rpc.reply, copy.p, copy.len);
	worker_rpc.waiting = 0;
	worker_rpc.done = 1;
	return 0;
}

static int worker_rpc_done(void *arg)
{
	(void)arg;
	return worker_rpc.done;
}

/* Send and wait; 0 with the reply in worker_rpc.reply. */
static int worker_rpc_call(struct pack_ctx *ctx, uint32_t type, const struct buf *b, uint32_t reply_type,
			   const char *peer)
{
	worker_rpc.id++;
	worker_rpc.reply_type = reply_type;
	worker_rpc.waiting = 1;
	worker_rpc.done = 0;
	chan_permit(role.sup, reply_type, 1);
	chan_send(role.sup, type, worker_rpc.id, b, -1);
	/* the run's own timeout kills us first; this is a backstop */
	if (chan_wait(role.sup, worker_rpc_done, NULL, 24 * 3600 * 1000) < 0) {
		pack_fail(ctx, "internal", "no answer from the %s", peer);
		return -1;
	}
	chan_permit(role.sup, reply_type, 0);
	return 0;
}

static int worker_egress_call(struct pack_ctx *ctx, const char *req, size_t len, json_t **resp)
{
	struct p_blob m = {0, (const uint8_t *)req, len};
	struct buf b;
	buf_init(&b);
	p_blob_enc(&b, &m);
	int rc = worker_rpc_call(ctx, MSG_EGRESS_REQ, &b, MSG_EGRESS_RESULT, "egress role");
	buf_free(&b);
	if (rc < 0)
		return -1;
	struct cursor cur;
	cursor_init(&cur, worker_rpc.reply.data, worker_rpc.reply.len);
	struct p_egress_result r;
	if (p_egress_result_dec(&cur, &r) < 0)
		fatal("EGRESS_RESULT no longer decodes");
	if (!r.ok) {
		pack_fail(ctx, r.code, "%s", r.message);
		buf_free(&worker_rpc.reply);
		return -1;
	}
	json_error_t je;
	*resp = json_loadb((const char *)r.resp, r.resp_len, 0, &je);
	buf_free(&worker_rpc.reply);
	if (!*resp) {
		pack_fail(ctx, "internal", "egress answered malformed JSON");
		return -1;
	}
	return 0;
}

static int worker_inject_call(struct pack_ctx *ctx, const char *op, const char *page_session, json_t *args,
			      json_t **resp)
{
	char *body = json_dumps(args, JSON_COMPACT);
	if (!body) {
		pack_fail(ctx, "internal", "injection request could not be serialized");
		return -1;
	}
	struct p_vault_req m = {op, "", "", "", page_session ? page_session : "", (const uint8_t *)body, strlen(body)};
	struct buf b;
	buf_init(&b);
	p_vault_req_enc(&b, &m);
	free(body);
	int rc = worker_rpc_call(ctx, MSG_BROWSER_INJECT, &b, MSG_BROWSER_INJECTED, "vault");
	buf_free(&b);
	if (rc < 0)
		return -1;
	struct cursor cur;
	cursor_init(&cur, worker_rpc.reply.data, worker_rpc.reply.len);
	struct p_blob r;
	if (p_blob_dec(&cur, &r) < 0)
		fatal("BROWSER_INJECTED no longer decodes");
	json_error_t je;
	json_t *o = json_loadb((const char *)r.data, r.len, 0, &je);
	buf_free(&worker_rpc.reply);
	if (!o) {
		pack_fail(ctx, "internal", "the vault answered malformed JSON");
		return -1;
	}
	if (r.ok != 200) {
		const char *code = json_string_value(json_object_get(o, "error"));
		const char *msg = json_string_value(json_object_get(o, "message"));
		pack_fail(ctx, code ? code : "internal", "%s", msg ? msg : "the vault refused");
		json_decref(o);
		return -1;
	}
	*resp = o;
	return 0;
}

static const struct allow_entry worker_from_sup[] = {
	{MSG_PACK_RUN, AL_PERMIT | AL_ONCE | AL_FD, worker_dispatch_run},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};
static const struct allow_entry browser_worker_from_sup[] = {
	{MSG_PACK_AUX_FD, AL_PERMIT | AL_ONCE | AL_FD, worker_dispatch_aux},
	{MSG_BROWSER_INJECTED, 0, worker_dispatch_reply},
	{MSG_PACK_RUN, AL_PERMIT | AL_ONCE | AL_FD, worker_dispatch_run},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};
/* a net worker holds no directory: it only talks to egress */
static const struct allow_entry net_worker_from_sup[] = {
	{MSG_PACK_RUN, AL_PERMIT | AL_ONCE, worker_dispatch_run},
	{MSG_EGRESS_RESULT, 0, worker_dispatch_reply},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};
/* an exec worker got its directories at spawn: its run carries none */
static const struct allow_entry exec_worker_from_sup[] = {
	{MSG_PACK_RUN, AL_PERMIT | AL_ONCE, worker_dispatch_run},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};

int worker_main(void)
{
	role_init("worker");
	const char *cls = getenv("HELMDECK_WORKER_CLASS");
	if (!cls || !*cls || strlen(cls) >= sizeof worker_cls)
		fatal("HELMDECK_WORKER_CLASS not set");
	snprintf(worker_cls, sizeof worker_cls, "%s", cls);
	char pname[64];
	snprintf(pname, sizeof pname, "worker-%s", worker_cls);
	struct sc_policy *pol = role_policy(pname);
	char empty[1200];
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	struct confine_spec s = {
		.chroot_dir = empty,
		/* an exec worker may be born in its own network namespace with
		 * its egress forward in it: then it keeps that one */
		.unshare_flags = CLONE_NEWNS | (netns_is_own() ? 0 : CLONE_NEWNET) | CLONE_NEWIPC | CLONE_NEWUTS,
		.rlimits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 64}, {RLIMIT_CPU, 600}},
		.nrlimits = 3,
		.policy = NULL,
	};
	role_spec_ids(&s, role_table[ROLE_WORKER].uid_offset);
	if (worker_is("exec")) {
		/* the supervisor placed the workspace at fd 4 and the remote at 5 */
		worker_ws_id = getenv("HELMDECK_RUN_WS_ID");
		worker_remote = getenv("HELMDECK_RUN_REMOTE");
		/* an ssh remote: no /remote, but the run's agent directory at 5
		 * and the forward to its sshd on 127.0.0.1:2222 */
		worker_ssh_url = getenv("HELMDECK_RUN_SSH_URL");
		worker_https_url = getenv("HELMDECK_RUN_HTTPS_URL");
		int ssh = worker_ws_id && worker_ssh_url && netns_is_own();
		int https = worker_ws_id && worker_https_url && !ssh && netns_is_own();
		/* what the run does with its remote follows from what it was given */
		if (!ssh)
			worker_ssh_url = NULL;
		if (!https)
			worker_https_url = NULL;
		worker_root = (struct sandbox_root){
			.mnt = empty, .ws_fd = worker_ws_id ? SPAWN_FD_EXTRA : -1,
			.remote_fd = worker_ws_id && worker_remote && !ssh && !https ? SPAWN_FD_EXTRA + 1 : -1,
			.agent_fd = ssh || https ? SPAWN_FD_EXTRA + 1 : -1,
			.tcp_connect_port = ssh ? NETNS_SSH_PORT : https ? NETNS_PROXY_PORT : 0,
			.remote_rw = worker_remote && getenv("HELMDECK_RUN_REMOTE_RW") &&
				     !strcmp(getenv("HELMDECK_RUN_REMOTE_RW"), "1"),
			.uid = geteuid() == 0 ? s.uid : geteuid(), .gid = geteuid() == 0 ? s.gid : getegid(),
			.tmp_bytes = 256ul << 20,
		};
		s.root = &worker_root;
		/* commands need room: toolchains open many files; the cgroup's
		 * pids.max, not RLIMIT_NPROC (shared by uid), bounds forks */
		s.rlimits[1].max = 4096;
		s.rlimits[2].max = 3600;
		/* a uid-wide backstop behind pids.max, only where the worker uid
		 * is ours alone: unprivileged it is the operator's own uid */
		if (geteuid() == 0 && !getenv("HELMDECK_IN_USERNS")) {
			s.rlimits[s.nrlimits].res = RLIMIT_NPROC;
			s.rlimits[s.nrlimits++].max = (rlim_t)(cfg.exec_pids_max * (uint64_t)cfg.exec_workers + 64);
		}
	}
	/* nothing on disk is a net worker's business */
	s.landlock_deny_all = worker_is("net");
	if (worker_is("exec"))
		role_connect(exec_worker_from_sup, sizeof exec_worker_from_sup / sizeof exec_worker_from_sup[0]);
	else if (worker_is("net"))
		role_connect(net_worker_from_sup, sizeof net_worker_from_sup / sizeof net_worker_from_sup[0]);
	else if (worker_is("browser"))
		role_connect(browser_worker_from_sup, sizeof browser_worker_from_sup / sizeof browser_worker_from_sup[0]);
	else
		role_connect(worker_from_sup, sizeof worker_from_sup / sizeof worker_from_sup[0]);
	confine_apply(&s);
	/* jansson seeds its hash from /dev/urandom on first use: now, while
	 * the net class can still open it, not under its filter */
	json_object_seed(0);
	/* seccomp last, before any work arrives; the listener lets the
	 * supervisor name a forbidden call before it kills us */
	int listener = -1;
	confine_seccomp(pol, &listener);
	if (listener >= 0) {  /* none in a SECCOMP_DEBUG build: the trap logs instead */
		chan_send(role.sup, MSG_SECCOMP_LISTENER, 0, NULL, listener);
		close(listener);
		chan_flush_blocking(role.sup);
	}
	role_ready(NULL, 0);
	event_base_dispatch(role.base);
	return 0;
}
