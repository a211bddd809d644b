#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "session.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "supervisor/cgroup.h"
#include "supervisor/config.h"
#include "supervisor/netns_proxy.h"
#include "ipc/proto.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"
#include "supervisor/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SESSION_MAX 64
#define SESSION_LOG_MAX 16384

struct session {
	int used;
	char id[SESSION_ID_LEN + 1];
	char owner[128];          /* "" while warm */
	char label[128];
	pid_t pid;
	int reaped;
	struct cgroup *cg;
	int cdp;                  /* our end of the CDP socketpair */
	int log_fd;
	struct event *log_ev;
	char log[SESSION_LOG_MAX];
	size_t log_len;
	int64_t created_at;       /* unix seconds */
	uint64_t started_ms;      /* monotonic, at spawn */
	uint64_t deadline_ms;     /* monotonic */
	uint32_t timeout_s, max_tasks, tasks;
	uint64_t memory_limit, shm_size;
	uint32_t cpu_limit_milli;
	int busy, warm, ephemeral, terminating;
	char reason[64];
	int proxy_fd;             /* listener in its network namespace, or -1 */
	int proxy_served;         /* egress was given it */
};

static struct session sessions[SESSION_MAX];
static int sessions_root = -1;  /* <state>/sessions */
static struct event *watchdog_ev, *refill_ev;
static int chromium_ok;
static uint64_t session_backoff_until;  /* warm refill pauses after a failed start */
static unsigned spawn_seq;

int session_available(void) { return chromium_ok; }

static struct session *session_by_id(const char *id)
{
	for (int i = 0; i < SESSION_MAX; i++)
		if (sessions[i].used && !strcmp(sessions[i].id, id))
			return &sessions[i];
	return NULL;
}

static int sessions_live(uint64_t *mem)
{
	int n = 0;
	*mem = 0;
	for (int i = 0; i < SESSION_MAX; i++)
		if (sessions[i].used && !sessions[i].terminating) {
			n++;
			*mem += sessions[i].memory_limit;
		}
	return n;
}

static void session_log_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct session *s = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			event_del(s->log_ev);
		return;
	}
	/* keep the newest bytes: drop the oldest half when full */
	if (s->log_len + (size_t)n > sizeof s->log) {
		size_t keep = sizeof s->log / 2;
		if ((size_t)n > keep)
			n = (ssize_t)keep;
		memmove(s->log, s->log + s->log_len - (s->log_len > keep ? keep : s->log_len),
			s->log_len > keep ? keep : s->log_len);
		s->log_len = s->log_len > keep ? keep : s->log_len;
	}
	memcpy(s->log + s->log_len, buf, (size_t)n);
	s->log_len += (size_t)n;
}

static void session_free(struct session *s)
{
	if (s->log_ev)
		event_free(s->log_ev);
	if (s->log_fd >= 0)
		close(s->log_fd);
	if (s->cdp >= 0)
		close(s->cdp);
	if (s->proxy_fd >= 0)
		close(s->proxy_fd);
	if (s->cg)
		cgroup_destroy(s->cg);
	if (sessions_root >= 0 && s->id[0])
		ws_rm_tree(sessions_root, s->id);
	memset(s, 0, sizeof *s);
	s->cdp = s->log_fd = s->proxy_fd = -1;
}

/* Egress serves the session's listener as its only way out, on behalf of
 * its owner. Sent at claim, and again whenever egress restarts. */
static void session_proxy_serve(struct session *s)
{
	struct proc *e = &sup.roles[ROLE_EGRESS];
	if (s->proxy_fd < 0 || !s->owner[0] || s->terminating || !e->ready || !e->ch)
		return;
	char scope[64];
	snprintf(scope, sizeof scope, "session:%s", s->id);
	struct p_proxy m = {scope, s->owner, "", "browser", "", 0, 0};
	struct buf b;
	buf_init(&b);
	p_proxy_enc(&b, &m);
	s->proxy_served = chan_send(e->ch, MSG_PROXY_LISTEN, 0, &b, s->proxy_fd) == 0;
	buf_free(&b);
}

void session_proxy_resend(void)
{
	for (int i = 0; i < SESSION_MAX; i++)
		if (sessions[i].used)
			session_proxy_serve(&sessions[i]);
}

static void session_proxy_close(struct session *s)
{
	struct proc *e = &sup.roles[ROLE_EGRESS];
	if (!s->proxy_served || !e->ready || !e->ch)
		return;
	char scope[64];
	snprintf(scope, sizeof scope, "session:%s", s->id);
	struct p_proxy m = {scope, "", "", "", "", 0, 0};
	struct buf b;
	buf_init(&b);
	p_proxy_enc(&b, &m);
	chan_send(e->ch, MSG_PROXY_CLOSE, 0, &b, -1);
	buf_free(&b);
	s->proxy_served = 0;
}

static int session_spawn(struct session *s, const struct session_opts *o)
{
	uint8_t rnd[15];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		return -1;
	char hex[31];
	hex_encode(rnd, sizeof rnd, hex);
	memset(s, 0, sizeof *s);
	s->cdp = s->log_fd = s->proxy_fd = -1;
	s->used = 1;
	snprintf(s->id, sizeof s->id, "sess-%s", hex);
	s->memory_limit = o && o->memory_limit ? o->memory_limit : cfg.session_memory;
	s->shm_size = o && o->shm_size ? o->shm_size : 64ull << 20;
	s->cpu_limit_milli = o ? o->cpu_limit_milli : 0;
	if (mkdirat(sessions_root, s->id, 0700) < 0)
		goto fail;
	int pfd = openat(sessions_root, s->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		goto fail;
	if (geteuid() == 0 && fchown(pfd, cfg.uid_base + BROWSER_UID_OFFSET, cfg.uid_base + BROWSER_UID_OFFSET) < 0) {
		close(pfd);
		goto fail;
	}
	int sv[2], lp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		close(pfd);
		goto fail;
	}
	if (pipe2(lp, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(pfd);
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	char cgname[64];
	snprintf(cgname, sizeof cgname, "browser-%u", spawn_seq++);
	s->cg = cgroup_create(cgname, s->memory_limit, cfg.session_pids);
	char shm[64], net[64];
	snprintf(shm, sizeof shm, "HELMDECK_RUN_SHM=%llu", (unsigned long long)s->shm_size);
	snprintf(net, sizeof net, "HELMDECK_RUN_NET=%s", cfg.browser_net_direct ? "direct" : cfg.browser_net_proxy ? "proxy" : "none");
	/* born in its own network namespace, so its proxy listener is there
	 * before chromium runs; where we cannot (no root), it makes one itself */
	struct spawn_req r = {.role = "browser", .nfds = 3, .fds = {sv[1], lp[1], pfd},
			      .extra_env = {shm, net, NULL, NULL}, .cgroup_fd = cgroup_v2_fd(s->cg),
			      .new_netns = !cfg.browser_net_direct};
	struct spawned sp;
	int rc = spawn_role(&r, &sp);
	if (r.cgroup_fd >= 0)
		close(r.cgroup_fd);
	close(sv[1]);
	close(lp[1]);
	close(pfd);
	if (rc < 0) {
		close(sv[0]);
		close(lp[0]);
		goto fail;
	}
	if (s->cg && cgroup_attach(s->cg, sp.pid, sp.in_cgroup) < 0)
		log_warn("cgroup attach %s: %s", cgname, strerror(errno));
	if (cfg.browser_net_proxy && sp.netns) {
		s->proxy_fd = netns_listener(sp.pid, NETNS_PROXY_PORT);
		if (s->proxy_fd < 0)
			log_warn("browser %s: no proxy listener in its namespace (%s): it has no way out", s->id,
				 strerror(errno));
	}
	s->pid = sp.pid;
	s->started_ms = now_ms_mono();
	s->cdp = sv[0];
	s->log_fd = lp[0];
	s->log_ev = event_new(sup.base, s->log_fd, EV_READ | EV_PERSIST, session_log_cb, s);
	event_add(s->log_ev, NULL);
	spawn_release(&sp);
	log_debug("browser %s started (pid %d)", s->id, (int)s->pid);
	return 0;
fail:
	log_warn("cannot start a browser: %s", strerror(errno));
	session_free(s);
	return -1;
}

static struct session *session_slot(void)
{
	for (int i = 0; i < SESSION_MAX; i++)
		if (!sessions[i].used)
			return &sessions[i];
	return NULL;
}

/* Keep HELMDECK_BROWSER_POOL warm browsers, inside the memory budget. */
static void session_refill(void)
{
	if (!chromium_ok || sup.shutting_down)
		return;
	if (now_ms_mono() < session_backoff_until) {
		struct timeval tv = {5, 0};
		event_add(refill_ev, &tv);
		return;
	}
	int warm = 0;
	for (int i = 0; i < SESSION_MAX; i++)
		warm += sessions[i].used && sessions[i].warm && !sessions[i].terminating;
	while (warm < cfg.browser_pool) {
		uint64_t mem;
		int live = sessions_live(&mem);
		if (live >= cfg.max_sessions || mem + cfg.session_memory > cfg.browser_pool_memory)
			return;
		struct session *s = session_slot();
		if (!s || session_spawn(s, NULL) < 0)
			return;
		s->warm = 1;
		warm++;
	}
}

static void session_refill_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	session_refill();
}

static void session_kill(struct session *s, const char *reason)
{
	if (s->terminating)
		return;
	s->terminating = 1;
	snprintf(s->reason, sizeof s->reason, "%s", reason);
	session_proxy_close(s);
	if (s->pid > 0 && !s->reaped)
		kill(s->pid, SIGKILL);
	if (s->cg)
		cgroup_kill(s->cg);
	if (s->owner[0]) {
		char payload[256];
		snprintf(payload, sizeof payload, "{\"session_id\":\"%s\",\"reason\":\"%s\",\"tasks\":%u}", s->id,
			 reason, s->tasks);
		sup_audit("session_terminated", s->owner, "terminated", NULL, NULL, 0, payload);
	}
}

int session_alive(void)
{
	int n = 0;
	for (int i = 0; i < SESSION_MAX; i++)
		n += sessions[i].used && sessions[i].pid > 0 && !sessions[i].reaped;
	return n;
}

int session_reaped(pid_t pid, int status)
{
	for (int i = 0; i < SESSION_MAX; i++) {
		struct session *s = &sessions[i];
		if (!s->used || s->pid != pid)
			continue;
		s->reaped = 1;
		if (!s->terminating) {
			/* its last words: chromium explains itself on stderr */
			session_log_cb(s->log_fd, EV_READ, s);
			size_t from = s->log_len > 600 ? s->log_len - 600 : 0;
			char *tail = utf8_sanitize((const uint8_t *)s->log + from, s->log_len - from, NULL);
			log_warn("browser %s (pid %d) died: %s %d; its log ends: %s", s->id, (int)pid,
				 WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), tail);
			free(tail);
			/* a browser that cannot start must not respawn in a tight loop */
			if (now_ms_mono() - s->started_ms < 5000)
				session_backoff_until = now_ms_mono() + 5000;
		}
		/* the cgroup takes whatever chromium left behind */
		session_free(s);
		if (refill_ev)
			event_active(refill_ev, EV_TIMEOUT, 0);
		return 1;
	}
	return 0;
}

static void session_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	uint64_t now = now_ms_mono();
	for (int i = 0; i < SESSION_MAX; i++) {
		struct session *s = &sessions[i];
		if (s->used && s->owner[0] && !s->terminating && now >= s->deadline_ms)
			session_kill(s, "timeout");
	}
}

int session_init(void)
{
	chromium_ok = access(BROWSER_CHROMIUM, X_OK) == 0;
	char p[1200];
	snprintf(p, sizeof p, "%s/sessions", cfg.state_dir);
	if (mkdir(p, 0711) < 0 && errno != EEXIST)
		fatalx("mkdir %s", p);
	sessions_root = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sessions_root < 0)
		fatalx("open %s", p);
	/* profiles left by a daemon that was killed */
	int d = dup(sessions_root);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	if (dir) {
		struct dirent *e;
		while ((e = readdir(dir)))
			if (!strncmp(e->d_name, "sess-", 5))
				ws_rm_tree(sessions_root, e->d_name);
		closedir(dir);
	} else if (d >= 0) {
		close(d);
	}
	for (int i = 0; i < SESSION_MAX; i++)
		sessions[i].cdp = sessions[i].log_fd = sessions[i].proxy_fd = -1;
	watchdog_ev = event_new(sup.base, -1, EV_PERSIST, session_watchdog_cb, NULL);
	struct timeval tv = {0, 250000};
	event_add(watchdog_ev, &tv);
	refill_ev = event_new(sup.base, -1, 0, session_refill_cb, NULL);
	if (!chromium_ok)
		log_warn("%s not found: browser sessions are unavailable (scripts/deps.sh installs chromium)",
			 BROWSER_CHROMIUM);
	session_refill();
	return 0;
}

void session_shutdown(void)
{
	for (int i = 0; i < SESSION_MAX; i++)
		if (sessions[i].used)
			session_kill(&sessions[i], "shutdown");
}

const char *session_create(const char *owner, const struct session_opts *o, char *why, size_t whylen)
{
	if (!chromium_ok) {
		snprintf(why, whylen, "chromium is not installed on this host");
		return NULL;
	}
	if (strlen(owner) >= sizeof sessions[0].owner) {
		snprintf(why, whylen, "subject too long");
		return NULL;
	}
	uint64_t want = o && o->memory_limit ? o->memory_limit : cfg.session_memory;
	uint64_t want_shm = o && o->shm_size ? o->shm_size : 64ull << 20;
	struct session *s = NULL;
	/* a warm browser has the default limits; anything else starts fresh */
	for (int i = 0; i < SESSION_MAX && want == cfg.session_memory && want_shm == (64ull << 20) &&
			(!o || !o->cpu_limit_milli); i++)
		if (sessions[i].used && sessions[i].warm && !sessions[i].terminating) {
			s = &sessions[i];
			break;
		}
	if (!s) {
		uint64_t mem;
		if (sessions_live(&mem) >= cfg.max_sessions) {
			snprintf(why, whylen, "%d sessions are running, the most HELMDECK_MAX_SESSIONS allows", cfg.max_sessions);
			return NULL;
		}
		s = session_slot();
		if (!s || session_spawn(s, o) < 0) {
			snprintf(why, whylen, "could not start a browser");
			return NULL;
		}
	}
	s->warm = 0;
	snprintf(s->owner, sizeof s->owner, "%s", owner);
	snprintf(s->label, sizeof s->label, "%s", o && o->label ? o->label : "");
	s->created_at = now_unix();
	s->timeout_s = o && o->timeout_s ? o->timeout_s : (uint32_t)(cfg.session_timeout_ms / 1000);
	s->deadline_ms = now_ms_mono() + (uint64_t)s->timeout_s * 1000;
	s->max_tasks = o ? o->max_tasks : 0;
	s->tasks = 0;
	session_proxy_serve(s);
	/* the pool refills after this reply, not before it */
	if (refill_ev)
		event_active(refill_ev, EV_TIMEOUT, 0);
	return s->id;
}

int session_lend(const char *id, const char *owner, uint32_t run_ms, int *busy, char *why, size_t whylen)
{
	*busy = 0;
	struct session *s = session_by_id(id);
	if (!s || s->warm || strcmp(s->owner, owner)) {
		snprintf(why, whylen, "no session '%.40s' for this caller", id);
		return -1;
	}
	if (s->terminating || s->reaped) {
		snprintf(why, whylen, "session %s has ended (%s)", id, s->reason[0] ? s->reason : "browser exited");
		return -1;
	}
	if (s->busy) {
		*busy = 1;
		return -1;
	}
	if (s->max_tasks && s->tasks >= s->max_tasks) {
		snprintf(why, whylen, "session %s has run its max_tasks (%u)", id, s->max_tasks);
		return -1;
	}
	int fd = fcntl(s->cdp, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		snprintf(why, whylen, "cannot lend the session: %s", strerror(errno));
		return -1;
	}
	s->busy = 1;
	s->tasks++;
	/* a pinned session must not be killed under a call it is running */
	uint64_t need = now_ms_mono() + run_ms + 1000;
	if (need > s->deadline_ms)
		s->deadline_ms = need;
	return fd;
}

void session_return(const char *id)
{
	struct session *s = session_by_id(id);
	if (!s)
		return;
	s->busy = 0;
	if (s->ephemeral)
		session_kill(s, "ephemeral session done");
}

void session_mark_ephemeral(const char *id)
{
	struct session *s = session_by_id(id);
	if (s)
		s->ephemeral = 1;
}

int session_terminate(const char *id, const char *owner, const char *reason)
{
	struct session *s = session_by_id(id);
	if (!s || s->warm || strcmp(s->owner, owner) || s->terminating)
		return -1;
	session_kill(s, reason);
	return 0;
}

static json_t *session_obj(const struct session *s)
{
	uint64_t now = now_ms_mono();
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:i,s:b}", "id", s->id, "label", s->label, "status",
			      s->terminating ? "terminating" : s->busy ? "busy" : "ready", "created_at",
			      (json_int_t)s->created_at, "timeout_seconds", (json_int_t)s->timeout_s, "expires_in_seconds",
			      (json_int_t)(s->deadline_ms > now ? (s->deadline_ms - now) / 1000 : 0), "memory_limit",
			      (json_int_t)s->memory_limit, "shm_size", (json_int_t)s->shm_size, "pid", (int)s->pid,
			      "chromium_sandbox", 1);
	json_object_set_new(o, "max_tasks", s->max_tasks ? json_integer(s->max_tasks) : json_null());
	json_object_set_new(o, "tasks", json_integer(s->tasks));
	json_object_set_new(o, "cgroup_limits", json_string(cgroup_limits(s->cg)));
	json_object_set_new(o, "network", json_string(cfg.browser_net_direct ? "direct" : s->proxy_fd >= 0 ? "proxy" : "none"));
	return o;
}

static char *session_dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		fatal("json_dumps");
	return s;
}

/* A terminated session is gone for its owner at once, even while its
 * processes are still being reaped. */
static int session_visible(const struct session *s, const char *owner)
{
	return s && !s->warm && !s->terminating && !strcmp(s->owner, owner);
}

char *session_json(const char *id, const char *owner)
{
	struct session *s = session_by_id(id);
	if (!session_visible(s, owner))
		return NULL;
	return session_dump(session_obj(s));
}

char *session_list_json(const char *owner)
{
	json_t *a = json_array();
	for (int i = 0; i < SESSION_MAX; i++)
		if (sessions[i].used && session_visible(&sessions[i], owner))
			json_array_append_new(a, session_obj(&sessions[i]));
	return session_dump(json_pack("{s:o}", "sessions", a));
}

char *session_logs_json(const char *id, const char *owner)
{
	struct session *s = session_by_id(id);
	if (!session_visible(s, owner))
		return NULL;
	/* chromium's stderr is its own text: only what JSON can carry */
	char *text = utf8_sanitize((const uint8_t *)s->log, s->log_len, NULL);
	json_t *o = json_pack("{s:s,s:s}", "id", s->id, "logs", text);
	free(text);
	return session_dump(o);
}

char *session_report_json(void)
{
	uint64_t mem;
	int live = sessions_live(&mem);
	int warm = 0;
	for (int i = 0; i < SESSION_MAX; i++)
		warm += sessions[i].used && sessions[i].warm;
	return session_dump(json_pack("{s:b,s:s,s:i,s:i,s:i,s:I,s:s,s:s,s:s}", "available", chromium_ok, "chromium",
				      BROWSER_CHROMIUM, "live", live, "warm", warm, "warm_target", cfg.browser_pool,
				      "memory_committed", (json_int_t)mem, "network",
				      cfg.browser_net_direct ? "direct (HELMDECK_BROWSER_NETWORK=direct)"
				      : cfg.browser_net_proxy ? "proxy (own network namespace; the egress proxy on its 127.0.0.1:3128 is the only way out)"
							      : "none (own network namespace, loopback down)",
				      "cdp", "--remote-debugging-pipe over a socketpair; no TCP port",
				      "chromium_sandbox", "on (its own user/pid namespaces and seccomp)"));
}
