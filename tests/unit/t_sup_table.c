/*
 * The supervisor's allow tables, attacked: every message type, from every
 * peer role, in every state of that peer, sent with a malformed payload.
 * Each time the peer (a real child process standing in for the role) must
 * be SIGKILLed and the supervisor's code must carry on. Plus the messages
 * that are well-formed but not permitted in that state.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/supervisor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int t_n, t_fail;
static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++t_n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		t_fail++;
}

static void frame(int fd, uint32_t type, uint32_t id, const struct buf *payload)
{
	struct buf f;
	buf_init(&f);
	buf_put_u32(&f, payload ? (uint32_t)payload->len : 0);
	buf_put_u32(&f, type);
	buf_put_u32(&f, id);
	if (payload)
		buf_put(&f, payload->data, payload->len);
	if (write(fd, f.data, f.len) != (ssize_t)f.len)
		fatalx("write");
	buf_free(&f);
}

static void pump(struct proc *p, int rounds)
{
	for (int i = 0; i < rounds && !p->protocol_violation; i++)
		event_base_loop(sup.base, EVLOOP_NONBLOCK);
}

static void send_ready(int fd, enum role_id r)
{
	uint8_t key[32] = {1};
	struct p_ready m = {role_table[r].name, r == ROLE_VAULT ? key : NULL, r == ROLE_VAULT ? 32 : 0, ""};
	struct buf b;
	buf_init(&b);
	p_ready_enc(&b, &m);
	frame(fd, MSG_READY, 0, &b);
	buf_free(&b);
}

enum state { ST_BOOT, ST_READY, ST_RUNNING };
static const char *state_name[] = {"before READY", "after READY", "while running a pack"};

/* Returns 1 when the peer was killed for it. */
static int attack(enum role_id r, enum state st, uint32_t type, const struct buf *payload, const char *what)
{
	pid_t child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fatalx("socketpair");
	struct proc p;
	memset(&p, 0, sizeof p);
	p.def = &role_table[r];
	p.pid = child;
	p.notify_fd = -1;
	p.ch = sup_attach(&p, sv[0]);
	if (st >= ST_READY) {
		send_ready(sv[1], r);
		pump(&p, 20);
	}
	if (st == ST_RUNNING) {
		chan_permit(p.ch, MSG_SECCOMP_LISTENER, 1);
		chan_permit(p.ch, MSG_PACK_RESULT, 1);
	}
	int clean_before = !p.protocol_violation;
	frame(sv[1], type, 7, payload);
	pump(&p, 50);
	int status = 0;
	pid_t w = -1;
	if (p.protocol_violation) {
		/* the supervisor sent the SIGKILL; nobody else does */
		w = waitpid(child, &status, 0);
	} else {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	int killed = clean_before && p.protocol_violation && w == child && WIFSIGNALED(status) &&
		     WTERMSIG(status) == SIGKILL;
	(void)what;
	if (p.ch)
		chan_free(p.ch);
	close(sv[1]);
	return killed;
}

int main(void)
{
	log_init("t_sup_table");
	setenv("HELMDECK_STATE_DIR", "/nonexistent-state", 1);
	config_load();
	sup.base = event_base_new();
	signal(SIGPIPE, SIG_IGN);
	struct buf garbage;
	buf_init(&garbage);
	buf_put(&garbage, "\xff", 1);
	enum role_id roles[] = {ROLE_API, ROLE_STORE, ROLE_VAULT, ROLE_WORKER};
	for (size_t ri = 0; ri < 4; ri++) {
		enum role_id r = roles[ri];
		int nstates = r == ROLE_WORKER ? 3 : 2;
		for (int st = 0; st < nstates; st++) {
			int all = 1, n = 0;
			char failed[256] = "";
			for (uint32_t type = 0; type <= MSG_TYPE_COUNT; type++) {
				int k = attack(r, (enum state)st, type, &garbage, "garbage");
				n++;
				if (!k) {
					all = 0;
					size_t l = strlen(failed);
					snprintf(failed + l, sizeof failed - l, " %s", msg_name(type));
				}
			}
			int k = attack(r, (enum state)st, 0xdead, &garbage, "unknown type");
			ok(all && k, "%s peer %s: all %d message types with a malformed payload kill the peer%s%s",
			   role_table[r].name, state_name[st], n + 1, all ? "" : "; survived:", failed);
		}
	}
	/* well-formed, but not permitted in that state */
	struct buf b;
	buf_init(&b);
	struct p_pack_result res = {.ok = 1, .code = "", .message = "", .detail = "", .duration_us = 1};
	p_pack_result_enc(&b, &res);
	ok(attack(ROLE_WORKER, ST_READY, MSG_PACK_RESULT, &b, ""), "a worker's result with no run outstanding kills it");
	ok(attack(ROLE_WORKER, ST_BOOT, MSG_PACK_RESULT, &b, ""), "a worker's result before READY kills it");
	buf_reset(&b);
	struct p_ready rd = {"api", NULL, 0, ""};
	p_ready_enc(&b, &rd);
	ok(attack(ROLE_API, ST_READY, MSG_READY, &b, ""), "a second READY (ONCE) kills the api");
	ok(attack(ROLE_STORE, ST_BOOT, MSG_READY, &b, ""), "a store announcing itself as the api is killed");
	buf_reset(&b);
	struct p_token tk = {1, "", "tok", "sub", 1};
	p_token_enc(&b, &tk);
	ok(attack(ROLE_VAULT, ST_READY, MSG_AUTH_TOKEN, &b, ""), "a vault answer nobody asked for kills the vault");
	ok(attack(ROLE_API, ST_READY, MSG_AUTH_TOKEN, &b, ""), "the api sending a vault reply is killed");
	buf_reset(&b);
	ok(attack(ROLE_API, ST_BOOT, MSG_SECURITY_GET, &b, ""), "an api request before READY kills the api");
	ok(attack(ROLE_WORKER, ST_READY, MSG_AUDIT_APPEND, &b, ""), "a worker may not write the audit log");
	ok(attack(ROLE_STORE, ST_READY, MSG_PACK_RUN, &b, ""), "the store may not start packs");
	buf_free(&b);
	buf_free(&garbage);
	ok(1, "the supervisor's dispatch survived every attack");
	printf("1..%d\n", t_n);
	return t_fail ? 1 : 0;
}
