/*
 * The local control socket ($HELMDECK_STATE_DIR/control.sock) that
 * `helmdeck token mint` and `helmdeck vault rekey` talk to. Only a peer with the supervisor's uid (or
 * root) is accepted; it speaks the same framed IPC with its own allow table.
 */
#define _GNU_SOURCE
#include "supervisor.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_MAX_CLIENTS 16

struct ctl_client {
	struct chan *ch;
	uint32_t pending;  /* request id being answered by the vault, 0 = none */
	char sub[128], scopes[512];
};

static int ctl_fd = -1;
static struct event *ctl_ev;
static struct ctl_client ctl_clients[CTL_MAX_CLIENTS];
static uint32_t ctl_next_id = 1;

static void ctl_closed(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	(void)why; (void)reason;
	struct ctl_client *cl = arg;
	if (cl->ch == c) {
		cl->ch = NULL;
		cl->pending = 0;
	}
	chan_free(c);
}

/* A request from cl goes out under one id: the client's slot and a
 * sequence number, so a late answer to a closed client finds no one. */
static uint32_t ctl_begin(struct ctl_client *cl)
{
	cl->pending = ctl_next_id++;
	if (!ctl_next_id)
		ctl_next_id = 1;
	return (uint32_t)((cl - ctl_clients) << 24 | (cl->pending & 0xffffff));
}

static struct ctl_client *ctl_take(uint32_t id)
{
	uint32_t slot = id >> 24;
	if (slot >= CTL_MAX_CLIENTS)
		return NULL;
	struct ctl_client *cl = &ctl_clients[slot];
	if (!cl->ch || (cl->pending & 0xffffff) != (id & 0xffffff))
		return NULL;
	cl->pending = 0;
	return cl;
}

static int ctl_dispatch_mint(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)id; (void)c;
	struct ctl_client *cl = arg;
	struct cursor copy = *cur;
	struct p_mint m;
	if (p_mint_dec(cur, &m) < 0)
		return -1;
	snprintf(cl->sub, sizeof cl->sub, "%s", m.sub);
	snprintf(cl->scopes, sizeof cl->scopes, "%s", m.scopes);
	struct buf b;
	buf_init(&b);
	buf_put(&b, copy.p, copy.len);
	sup_forward_mint(ctl_begin(cl), &b);
	buf_free(&b);
	return 0;
}

/* `helmdeck vault rekey`: the operator's only vault call here */
static int ctl_dispatch_vault(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)id; (void)c;
	struct ctl_client *cl = arg;
	struct p_vault_req m;
	if (p_vault_req_dec(cur, &m) < 0 || strcmp(m.op, "rekey"))
		return -1;
	snprintf(cl->sub, sizeof cl->sub, "vault-rekey");
	cl->scopes[0] = '\0';
	struct buf b;
	buf_init(&b);
	struct p_vault_req fwd = {"rekey", "operator", "control-socket", "", "", NULL, 0};
	p_vault_req_enc(&b, &fwd);
	secrets_ctl_request(ctl_begin(cl), &b);
	buf_free(&b);
	return 0;
}

static const struct allow_entry ctl_allow[] = {
	{MSG_CTL_MINT, AL_PERMIT | AL_ONCE, ctl_dispatch_mint},
	{MSG_VAULT_REQ, AL_PERMIT | AL_ONCE, ctl_dispatch_vault},
};

void control_token_reply(uint32_t id, struct cursor *cur)
{
	struct ctl_client *cl = ctl_take(id);
	if (!cl)
		return;
	struct p_token t = {0, "internal", "", "", 0};
	if (cur && p_token_dec(cur, &t) < 0)
		t = (struct p_token){0, "internal", "", "", 0};
	struct buf b;
	buf_init(&b);
	p_token_enc(&b, &t);
	chan_send(cl->ch, MSG_CTL_REPLY, 0, &b, -1);
	buf_free(&b);
	char payload[800];
	snprintf(payload, sizeof payload, "{\"subject\":\"%.100s\",\"scopes\":\"%.400s\",\"via\":\"control-socket\"}",
		 cl->sub, cl->scopes);
	for (char *q = payload + 1; *q; q++)
		if (*q == '\\')
			*q = '/';
	sup_audit("token_mint", "operator", t.ok ? "ok" : "error", t.ok ? NULL : t.code, NULL, 0, payload);
}

static void ctl_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what; (void)arg;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	struct ucred cr;
	socklen_t len = sizeof cr;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		log_warn("control: refused peer uid %d", (int)cr.uid);
		close(c);
		return;
	}
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl_clients[i].ch)
			continue;
		ctl_clients[i].ch = chan_new(sup.base, c, "control", ctl_allow, sizeof ctl_allow / sizeof ctl_allow[0], ctl_closed,
					      &ctl_clients[i]);
		return;
	}
	log_warn("control: too many clients");
	close(c);
}

int control_init(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(cfg.control_sock) >= sizeof sa.sun_path) {
		log_warn("control socket path too long: %s", cfg.control_sock);
		return -1;
	}
	strcpy(sa.sun_path, cfg.control_sock);
	unlink(cfg.control_sock);
	ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl_fd < 0)
		return -1;
	mode_t old = umask(0077);
	int rc = bind(ctl_fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || listen(ctl_fd, 16) < 0) {
		log_warn("control socket %s: %s", cfg.control_sock, strerror(errno));
		return -1;
	}
	ctl_ev = event_new(sup.base, ctl_fd, EV_READ | EV_PERSIST, ctl_accept_cb, NULL);
	event_add(ctl_ev, NULL);
	return 0;
}

void control_shutdown(void)
{
	if (ctl_ev) {
		event_free(ctl_ev);
		ctl_ev = NULL;
	}
	if (ctl_fd >= 0) {
		close(ctl_fd);
		ctl_fd = -1;
		unlink(cfg.control_sock);
	}
}

void control_vault_reply(uint32_t id, const struct cursor *cur)
{
	struct ctl_client *cl = ctl_take(id);
	if (!cl)
		return;
	struct buf b;
	buf_init(&b);
	buf_put(&b, cur->p, cur->len);
	chan_send(cl->ch, MSG_VAULT_REPLY, 0, &b, -1);
	buf_free(&b);
}
