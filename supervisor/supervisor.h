/* The privileged parent: spawns the process table, routes messages between
 * roles, runs the worker pool, and never parses network input. */
#ifndef HD_SUPERVISOR_H
#define HD_SUPERVISOR_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/chan.h"
#include "supervisor/cgroup.h"
#include "supervisor/proctable.h"

struct run;

struct proc {
	const struct role_def *def;
	int slot;                 /* worker slot, or 0 */
	char cls[32];             /* worker: the pack class it is confined for */
	pid_t pid;
	int pidns;
	struct chan *ch;
	struct cgroup *cg;
	int ready;
	int restarts;
	uint64_t started_ms;
	struct event *restart_ev;
	/* worker only */
	struct run *run;
	int notify_fd;
	struct event *notify_ev;
	char violation[96];       /* syscall named by the seccomp listener */
	int denied;               /* calls refused (and audited) without a kill */
	int killed_timeout;
	int protocol_violation;
	int reaped;               /* waited for: its pid may already be reused */
	char self_missing[256];   /* layers the role reported it could not get */
};

struct sup {
	struct event_base *base;
	struct proc roles[ROLE_COUNT];   /* singletons; [ROLE_WORKER] unused */
	struct proc *workers;
	int nworkers;
	int listen_fd;
	int shutting_down;
	uint8_t pubkey[32];
	int have_pubkey;
};

extern struct sup sup;

int supervisor_main(void);

/* Routing helpers shared by the dispatch files. */
#define FWD_CTL (-2)
#define FWD_WORKER 1000   /* from = FWD_WORKER + worker slot */
#define FWD_RUN (-3)      /* a queued run (orig_id = its api id) */
struct fwd {
	int used;
	int to;              /* role answering */
	int from;            /* ROLE_API, ROLE_STORE, FWD_CTL or FWD_WORKER + slot */
	uint32_t orig_id;
	uint32_t reply_type;
	pid_t pid;           /* worker origin: the process that asked */
};
uint32_t fwd_add(int to, int from, uint32_t orig_id, uint32_t reply_type);
uint32_t fwd_add_pid(int to, int from, uint32_t orig_id, uint32_t reply_type, pid_t pid);
struct fwd *fwd_take(int to, uint32_t id, uint32_t type);
int sup_forward(enum role_id to, int from, uint32_t orig_id, uint32_t type, uint32_t reply_type,
		const struct buf *b);
int sup_forward_pid(enum role_id to, int from, uint32_t orig_id, uint32_t type, uint32_t reply_type,
		    const struct buf *b, pid_t pid);
void sup_reply_error(int from, uint32_t orig_id, uint32_t reply_type, pid_t pid);
/* Copy a validated payload into a fresh buffer for forwarding. */
void buf_from_cursor(struct buf *b, const struct cursor *c);
void audit_submit(struct buf *b);

/* route_secrets.c: the vault and egress channels, their link, http egress
 * for workers, and the credentials calls of the api and control socket */
extern const struct allow_entry egress_allow[];
#define EGRESS_ALLOW_N 4
int secrets_api_vault_req(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int secrets_vault_reply(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int secrets_role_audit(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int secrets_peer_broken(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
void control_vault_reply(uint32_t id, const struct cursor *cur);
void secrets_reply_error(int from, uint32_t orig_id, uint32_t reply_type, pid_t pid);
void secrets_role_ready(struct proc *p);
void sup_role_ready(struct proc *p);
int sup_dispatch_ready(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int secrets_worker_request(struct proc *w, uint32_t id, struct cursor *cur);
int secrets_worker_inject(struct proc *w, uint32_t id, struct cursor *cur);
int secrets_vault_injected(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
/* pool.c: the CDP socket lent to w's run, or -1 */
int pool_run_cdp(const struct proc *w);
int secrets_ctl_request(uint32_t ctl_id, const struct buf *b);
void sup_kill_proc(struct proc *p, const char *why);
void sup_spawn_proc(struct proc *p);
/* The supervisor's end of p's channel, with p's allow table. */
struct chan *sup_attach(struct proc *p, int fd);
int sup_forward_mint(uint32_t ctl_id, const struct buf *b);
void sup_audit(const char *event_type, const char *actor, const char *outcome,
	       const char *error_code, const char *pack, int64_t duration_ms, const char *payload_json);
int sup_send_role(enum role_id r, uint32_t type, uint32_t id, const struct buf *b);

/* pool.c */
void pool_init(void);
void pool_fill(void);
struct spawn_req;
void pool_spawn_extra(struct proc *w, struct spawn_req *req);
struct spawned;
/* A bound worker exists but has not run: set up its namespace's forward. */
void pool_spawned(struct proc *w, const struct spawned *s);
int pool_agent_opened(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
void pool_agent_failed(uint32_t api_id);
int pool_proc_bound(const struct proc *w);
extern char pool_exec_missing[256];
extern int pool_exec_seen;
int pool_run_caller_any(const struct proc *w, const char **actor, const char **client, const char **pack,
			uint32_t *timeout_ms);
int pool_run_caller(const struct proc *w, const char **actor, const char **client, const char **pack,
		    uint32_t *timeout_ms);
int pool_run(uint32_t api_id, const uint8_t *frame, size_t len, struct cursor *cur);
void pool_worker_exited(struct proc *p, int status);
/* The api's caller gave up on run api_id: drop it or kill its worker. */
void pool_cancel(uint32_t api_id);
void pool_fail_all(void);
extern const struct allow_entry worker_allow[];
extern const size_t worker_allow_n;

/* artifact_janitor.c */
void artifact_janitor_init(void);
int artifact_expire(void);

/* security.c */
char *security_report(void);

/* control.c */
int control_init(void);
void control_shutdown(void);
void control_token_reply(uint32_t id, struct cursor *cur);

#endif
