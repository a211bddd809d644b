/*
 * The egress role's process: confinement, the libcurl multi interface
 * driven from libevent, the channel to the supervisor and the link to the
 * vault. The network namespace is the host's — this is the one role that
 * goes out — but the root is empty, the uid its own, and seccomp allows
 * only inet sockets beside the descriptors it was given.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "egress.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "supervisor/proctable.h"
#include "workers/egress/guard.h"
#include "workers/role.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

struct egress_ctx eg;

/* ---- libcurl multi on libevent ---- */

struct egress_sock {
	struct event *ev;
};

static void egress_check_done(void)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(eg.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(eg.multi, easy);
		egress_http_done(easy, rc);
	}
}

static void egress_sock_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)arg;
	int action = (kind & EV_READ ? CURL_CSELECT_IN : 0) | (kind & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(eg.multi, fd, action, &running);
	egress_check_done();
}

static int egress_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)e; (void)userp;
	struct egress_sock *es = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (es) {
			event_free(es->ev);
			free(es);
		}
		curl_multi_assign(eg.multi, s, NULL);
		return 0;
	}
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
	if (!es) {
		es = xcalloc(1, sizeof *es);
		curl_multi_assign(eg.multi, s, es);
	} else {
		event_free(es->ev);
	}
	es->ev = event_new(eg.base, s, kind, egress_sock_cb, NULL);
	if (!es->ev || event_add(es->ev, NULL) < 0)
		fatal("event for a curl socket");
	return 0;
}

static void egress_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd; (void)kind; (void)arg;
	int running;
	curl_multi_socket_action(eg.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	egress_check_done();
}

static int egress_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	(void)m; (void)userp;
	if (timeout_ms < 0) {
		evtimer_del(eg.timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(eg.timer, &tv);
	return 0;
}

void egress_add_easy(CURL *easy)
{
	CURLMcode mc = curl_multi_add_handle(eg.multi, easy);
	if (mc != CURLM_OK)
		fatal("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

/* ---- the supervisor ---- */

void egress_audit(const char *event, const char *actor, const char *client, const char *pack,
		  const char *outcome, const char *code, const char *payload_json)
{
	struct p_audit a = {
		.ts_ms = now_unix_ms(), .actor = actor && *actor ? actor : "system", .client = client ? client : "",
		.event_type = event, .method = "", .path = "", .session_id = "", .pack = pack ? pack : "",
		.outcome = outcome, .error_code = code ? code : "",
		.payload = (const uint8_t *)payload_json, .payload_len = payload_json ? strlen(payload_json) : 0,
	};
	struct buf b;
	buf_init(&b);
	p_audit_enc(&b, &a);
	chan_send(role.sup, MSG_AUDIT_APPEND, 0, &b, -1);
	buf_free(&b);
}

void egress_reply(uint32_t sup_id, int ok, const char *code, const char *msg, const char *resp)
{
	struct p_egress_result r = {(uint32_t)(ok != 0), ok ? "" : code, ok ? "" : msg, (const uint8_t *)resp,
				    resp ? strlen(resp) : 0};
	if (resp && r.resp_len > PROTO_BLOB_MAX) {
		r = (struct p_egress_result){0, "resource_exhausted", "the response is too large to return", NULL, 0};
	}
	struct buf b;
	buf_init(&b);
	p_egress_result_enc(&b, &r);
	chan_send(role.sup, MSG_EGRESS_RESULT, sup_id, &b, -1);
	buf_free(&b);
}

static int egress_dispatch_fetch(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_egress_fetch m;
	if (p_egress_fetch_dec(cur, &m) < 0)
		return -1;
	egress_http_start(id, &m);
	return 0;
}

/* ---- the vault link ---- */

static void egress_link_closed(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	(void)arg;
	if (why == CHAN_VIOLATION) {
		log_warn("vault link: %s", reason);
		chan_send(role.sup, MSG_PEER_BROKEN, 0, NULL, -1);
	}
	if (eg.vault == c) {
		eg.vault = NULL;
		egress_http_link_lost();
	}
	chan_free(c);
}

static int egress_link_secret(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)fd; (void)arg;
	struct p_vault_secret s;
	if (p_vault_secret_dec(cur, &s) < 0)
		return -1;
	return egress_http_secret(id, &s);
}

static const struct allow_entry egress_from_vault[] = {
	{MSG_VAULT_SECRET, AL_PERMIT, egress_link_secret},
};

static int egress_dispatch_link(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)arg;
	if (p_empty_dec(cur) < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (eg.vault) {
		chan_free(eg.vault);
		eg.vault = NULL;
		egress_http_link_lost();
	}
	evutil_make_socket_nonblocking(fd);
	eg.vault = chan_new(eg.base, fd, "vault", egress_from_vault, 1, egress_link_closed, NULL);
	return 0;
}

int egress_vault_resolve(const struct p_vault_resolve *q, uint32_t *link_id)
{
	if (!eg.vault)
		return -1;
	if (++eg.vault_seq == 0)
		eg.vault_seq = 1;
	*link_id = eg.vault_seq;
	struct buf b;
	buf_init(&b);
	p_vault_resolve_enc(&b, q);
	int rc = chan_send(eg.vault, MSG_VAULT_RESOLVE, *link_id, &b, -1);
	buf_free(&b);
	return rc;
}

static int egress_dispatch_proxy(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)arg;
	struct p_proxy m;
	if (p_proxy_dec(cur, &m) < 0 || fd < 0 || !*m.scope || !*m.actor) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	egress_proxy_listen(fd, m.mode ? EGRESS_PROXY_FIXED : EGRESS_PROXY_HTTP, m.scope, m.actor, m.client,
			    m.purpose, m.host, m.port);
	return 0;
}

static int egress_dispatch_proxy_close(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	struct p_proxy m;
	if (p_proxy_dec(cur, &m) < 0)
		return -1;
	egress_proxy_close(m.scope);
	return 0;
}

static const struct allow_entry egress_from_sup[] = {
	{MSG_PROXY_LISTEN, AL_PERMIT | AL_FD, egress_dispatch_proxy},
	{MSG_PROXY_CLOSE, AL_PERMIT, egress_dispatch_proxy_close},
	{MSG_EGRESS_FETCH, AL_PERMIT, egress_dispatch_fetch},
	{MSG_PEER_LINK, AL_PERMIT | AL_FD, egress_dispatch_link},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};

/* ---- start ---- */

/* The system bundle plus HELMDECK_EGRESS_CA_FILE, held in memory: after
 * the root is empty no path can be opened. */
static void egress_load_ca(void)
{
	const char *sys[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"};
	char *bundle = NULL;
	size_t len = 0;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0] && !bundle; i++) {
		ssize_t n = read_file(sys[i], &bundle, 16u << 20);
		if (n >= 0)
			len = (size_t)n;
		else
			bundle = NULL;
	}
	if (!bundle)
		log_warn("no system CA bundle found: https works only for HELMDECK_EGRESS_CA_FILE's CAs");
	const char *extra = getenv("HELMDECK_EGRESS_CA_FILE");
	if (extra && *extra) {
		char *x;
		ssize_t n = read_file(extra, &x, 4u << 20);
		if (n < 0)
			fatalx("HELMDECK_EGRESS_CA_FILE=%s", extra);
		bundle = xrealloc(bundle, len + (size_t)n + 2);
		bundle[len++] = '\n';
		memcpy(bundle + len, x, (size_t)n);
		len += (size_t)n;
		bundle[len] = '\0';
		free(x);
	}
	eg.ca = (struct curl_blob){bundle, len, CURL_BLOB_NOCOPY};
}

static void egress_setup_dns(void)
{
	eg.dns = evdns_base_new(eg.base, 0);
	if (!eg.dns)
		fatal("evdns_base_new");
	const char *servers = getenv("HELMDECK_EGRESS_RESOLVER");
	if (servers && *servers) {
		char tmp[512];
		snprintf(tmp, sizeof tmp, "%s", servers);
		char *save = NULL;
		for (char *s = strtok_r(tmp, ", ", &save); s; s = strtok_r(NULL, ", ", &save))
			if (evdns_base_nameserver_ip_add(eg.dns, s) != 0)
				fatal("HELMDECK_EGRESS_RESOLVER: cannot use nameserver %s", s);
	} else if (evdns_base_resolv_conf_parse(eg.dns, DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC, "/etc/resolv.conf") != 0) {
		log_warn("/etc/resolv.conf unreadable: names resolve through 127.0.0.1");
	}
	/* no search list: a bare name is looked up as given, and /etc/hosts is
	 * never read, so an entry there cannot smuggle an internal address */
	evdns_base_search_clear(eg.dns);
	evdns_base_set_option(eg.dns, "timeout:", "2");
	evdns_base_set_option(eg.dns, "attempts:", "2");
	evdns_base_set_option(eg.dns, "randomize-case:", "0");
}

int egress_main(void)
{
	role_init("egress");
	/* secrets pass through here: no core, no ptrace by our own uid */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	char err[256];
	eg.allow = guard_allowlist_parse(getenv("HELMDECK_EGRESS_ALLOWLIST"), err, sizeof err);
	if (!eg.allow)
		fatal("HELMDECK_EGRESS_ALLOWLIST: %s", err);
	char ports[256];
	snprintf(ports, sizeof ports, "%s", env_default("HELMDECK_EGRESS_PORTS", "22,80,443"));
	char *save = NULL;
	for (char *t = strtok_r(ports, ", ", &save); t && eg.nports < 32; t = strtok_r(NULL, ", ", &save)) {
		char *end;
		unsigned long p = strtoul(t, &end, 10);
		if (*end || p == 0 || p > 65535)
			fatal("HELMDECK_EGRESS_PORTS: %s is not a port", t);
		eg.ports[eg.nports++] = (unsigned)p;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("curl_global_init");
	eg.base = role.base;
	egress_load_ca();
	egress_setup_dns();
	eg.multi = curl_multi_init();
	eg.timer = evtimer_new(eg.base, egress_timer_cb, NULL);
	if (!eg.multi || !eg.timer)
		fatal("curl multi");
	curl_multi_setopt(eg.multi, CURLMOPT_SOCKETFUNCTION, egress_curl_socket);
	curl_multi_setopt(eg.multi, CURLMOPT_TIMERFUNCTION, egress_curl_timer);
	curl_multi_setopt(eg.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 64L);
	struct sc_policy *pol = role_policy("egress");
	char empty[1200];
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	struct confine_spec s = {
		.chroot_dir = empty,
		/* no CLONE_NEWNET: going out is this role's job */
		.unshare_flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS,
		.rlimits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 512}},
		.nrlimits = 2,
		.landlock_deny_all = 1,
		.policy = pol,
	};
	role_spec_ids(&s, role_table[ROLE_EGRESS].uid_offset);
	role_connect(egress_from_sup, sizeof egress_from_sup / sizeof egress_from_sup[0]);
	confine_apply(&s);
	role_ready(NULL, 0);
	event_base_dispatch(role.base);
	return 0;
}
