/*
 * The ssh-agent oracle: for one git run over ssh, the supervisor hands the
 * vault a listening unix socket that the run's sandbox sees as
 * SSH_AUTH_SOCK. The vault picks the caller's ssh credential for the host
 * (grants and patterns decide, as for every secret), loads the key here,
 * and answers the agent protocol — list the one identity, sign — until the
 * run ends. The private key never leaves this process; each signature is
 * audited.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "vault.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "ipc/proto_json.h"
#include "workers/role.h"
#include "workers/vault/ssh_agent.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AGENT_SCOPES 16
#define AGENT_CONNS 8

struct agent_scope {
	int used;
	char scope[65], subject[129], client[129], host[256], name[129];
	struct agent_key *key;
	int listen_fd;
	struct event *ev;
	struct bufferevent *conns[AGENT_CONNS];
	unsigned signatures;
};

static struct agent_scope scopes[AGENT_SCOPES];

static void agent_reply(struct chan *c, uint32_t id, int status, json_t *body)
{
	chan_send_json(c, MSG_AGENT_OPENED, id, status, body);
}

static void agent_conn_drop(struct agent_scope *sc, struct bufferevent *bev)
{
	for (int i = 0; i < AGENT_CONNS; i++)
		if (sc->conns[i] == bev)
			sc->conns[i] = NULL;
	bufferevent_free(bev);
}

static void agent_read_cb(struct bufferevent *bev, void *arg)
{
	struct agent_scope *sc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (evbuffer_get_length(in) >= 4) {
		uint8_t hdr[4];
		evbuffer_copyout(in, hdr, 4);
		uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > AGENT_MSG_MAX) {
			agent_conn_drop(sc, bev);
			return;
		}
		if (evbuffer_get_length(in) < 4 + (size_t)len)
			return;
		uint8_t *req = xmalloc(len);
		evbuffer_drain(in, 4);
		evbuffer_remove(in, req, len);
		uint8_t *out = NULL;
		size_t olen = 0;
		int signed_out = 0;
		int rc = agent_handle(sc->key, sc->name, req, len, &out, &olen, &signed_out);
		free(req);
		if (rc < 0) {
			free(out);
			agent_conn_drop(sc, bev);
			return;
		}
		uint8_t oh[4] = {(uint8_t)(olen >> 24), (uint8_t)(olen >> 16), (uint8_t)(olen >> 8), (uint8_t)olen};
		bufferevent_write(bev, oh, 4);
		bufferevent_write(bev, out, olen);
		free(out);
		if (signed_out) {
			sc->signatures++;
			vault_audit("vault_ssh_sign", sc->subject, sc->client, "allowed", NULL,
				    json_pack("{s:s,s:s,s:s}", "name", sc->name, "host", sc->host, "scope", sc->scope));
		}
	}
}

static void agent_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	agent_conn_drop(arg, bev);
}

static void agent_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct agent_scope *sc = arg;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		int slot = -1;
		for (int i = 0; i < AGENT_CONNS && slot < 0; i++)
			if (!sc->conns[i])
				slot = i;
		if (slot < 0) {
			close(c);
			continue;
		}
		struct bufferevent *bev = bufferevent_socket_new(role.base, c, BEV_OPT_CLOSE_ON_FREE);
		if (!bev) {
			close(c);
			continue;
		}
		sc->conns[slot] = bev;
		bufferevent_setcb(bev, agent_read_cb, NULL, agent_event_cb, sc);
		/* a stuck client holds nothing for long */
		struct timeval tv = {60, 0};
		bufferevent_set_timeouts(bev, &tv, &tv);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
}

static void agent_scope_free(struct agent_scope *sc)
{
	for (int i = 0; i < AGENT_CONNS; i++)
		if (sc->conns[i])
			bufferevent_free(sc->conns[i]);
	if (sc->ev)
		event_free(sc->ev);
	if (sc->listen_fd >= 0)
		close(sc->listen_fd);
	agent_key_free(sc->key);
	memset(sc, 0, sizeof *sc);
	sc->listen_fd = -1;
}

/* Resolve the credential and load its key; the plaintext lives only in a
 * locked page for the length of the parse. */
static struct agent_key *agent_load(const struct p_agent_open *m, struct cs_cred *meta, char *why, size_t wlen)
{
	struct credstore *cs = vault_creds_store();
	size_t cap = CS_SECRET_MAX, maplen;
	uint8_t *buf = secmem_alloc(cap, &maplen);
	size_t n = 0;
	char reason[256] = "";
	memset(meta, 0, sizeof *meta);
	int rc = *m->name ? cs_resolve_name(cs, m->name, m->subject, m->client, m->host, m->path, "ssh-agent", buf,
					    cap, &n, meta, reason, sizeof reason)
			  : cs_resolve_host(cs, "ssh", m->host, m->path, m->subject, m->client, "ssh-agent", buf, cap, &n,
					    meta, reason, sizeof reason);
	struct agent_key *k = NULL;
	if (rc == CS_OK && strcmp(meta->type, "ssh")) {
		snprintf(why, wlen, "credential %s is a %s credential, not an ssh key", meta->name, meta->type);
	} else if (rc == CS_OK) {
		char err[256];
		k = agent_key_load(buf, n, err, sizeof err);
		if (!k)
			snprintf(why, wlen, "credential %s holds no usable private key: %s", meta->name, err);
	} else if (rc == CS_NO_MATCH) {
		snprintf(why, wlen, "no ssh credential %s%s is stored", *m->name ? "named " : "for ",
			 *m->name ? m->name : m->host);
	} else if (rc == CS_DENIED) {
		snprintf(why, wlen, "the ssh credential for %s may not be used here: %s", m->host, reason);
	} else {
		snprintf(why, wlen, "the ssh credential for %s could not be opened", m->host);
	}
	secmem_free(buf, maplen);
	vault_audit("vault_read", m->subject, m->client, k ? "allowed" : rc == CS_NO_MATCH ? "no_match" : "denied",
		    k ? NULL : "credential_invalid",
		    json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", *m->name ? m->name : meta->name, "vault_id", meta->id,
			      "host", m->host, "purpose", "ssh-agent", "reason", k ? "" : why));
	return k;
}

int vault_dispatch_agent_open(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)arg;
	struct p_agent_open m;
	if (fd < 0 || p_agent_open_dec(cur, &m) < 0 || !*m.scope || !*m.subject || !*m.host) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!vault_creds_store()) {
		close(fd);
		char msg[600];
		snprintf(msg, sizeof msg, "the credential store is locked: %s", vault_creds_locked());
		agent_reply(c, id, 503, json_error_body("internal", msg));
		return 0;
	}
	struct agent_scope *sc = NULL;
	for (int i = 0; i < AGENT_SCOPES && !sc; i++)
		if (!scopes[i].used)
			sc = &scopes[i];
	if (!sc) {
		close(fd);
		agent_reply(c, id, 503, json_error_body("resource_exhausted", "too many git runs hold an ssh agent now"));
		return 0;
	}
	struct cs_cred meta;
	char why[400];
	struct agent_key *k = agent_load(&m, &meta, why, sizeof why);
	if (!k) {
		close(fd);
		agent_reply(c, id, 403, json_error_body("credential_invalid", why));
		return 0;
	}
	memset(sc, 0, sizeof *sc);
	sc->used = 1;
	sc->key = k;
	sc->listen_fd = fd;
	snprintf(sc->scope, sizeof sc->scope, "%s", m.scope);
	snprintf(sc->subject, sizeof sc->subject, "%s", m.subject);
	snprintf(sc->client, sizeof sc->client, "%s", m.client);
	snprintf(sc->host, sizeof sc->host, "%s", m.host);
	snprintf(sc->name, sizeof sc->name, "%s", meta.name);
	evutil_make_socket_nonblocking(fd);
	sc->ev = event_new(role.base, fd, EV_READ | EV_PERSIST, agent_accept_cb, sc);
	if (!sc->ev || event_add(sc->ev, NULL) < 0)
		fatal("agent listener event");
	/* what the sandbox needs to pin the server: never anything secret */
	json_error_t je;
	json_t *md = json_loads(meta.metadata_json, 0, &je);
	json_t *kh = md ? json_object_get(md, "known_hosts") : NULL;
	char *fp = agent_key_fingerprint(k), *pub = agent_key_public_line(k, meta.name);
	agent_reply(c, id, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "credential_id", meta.id, "name", meta.name,
					  "fingerprint", fp, "public_key", pub, "known_hosts",
					  json_is_string(kh) ? json_string_value(kh) : ""));
	free(fp);
	free(pub);
	json_decref(md);
	return 0;
}

int vault_dispatch_agent_close(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	struct p_agent_open m;
	if (p_agent_open_dec(cur, &m) < 0)
		return -1;
	for (int i = 0; i < AGENT_SCOPES; i++)
		if (scopes[i].used && !strcmp(scopes[i].scope, m.scope))
			agent_scope_free(&scopes[i]);
	return 0;
}
