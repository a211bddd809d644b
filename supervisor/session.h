/*
 * Browser sessions: Debian chromium, one process tree per session, each in
 * its own cgroup leaf (memory.max, pids.max) and pid namespace, with its own
 * profile directory and uid, driven over --remote-debugging-pipe through a
 * socketpair whose other end the supervisor keeps and lends to one worker
 * at a time. No TCP debugging port exists. Teardown is the cgroup: kill,
 * reap, remove the profile. A warm pool of pre-started browsers (each used
 * for exactly one session) makes a session ready in milliseconds.
 */
#ifndef HD_SESSION_H
#define HD_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BROWSER_FD_CDP 3       /* in the browser process: the CDP socket */
#define BROWSER_FD_LOG 4       /* its stderr pipe */
#define BROWSER_FD_PROFILE 5   /* its profile directory (bound at /workspace) */
#define BROWSER_UID_OFFSET 5   /* uid = HELMDECK_UID_BASE + 5 */
#define BROWSER_CHROMIUM "/usr/lib/chromium/chromium"
#define SESSION_ID_LEN 35      /* "sess-" + 30 hex */

struct session_opts {
	const char *label;
	uint64_t memory_limit;     /* bytes; 0 = HELMDECK_SESSION_MEMORY */
	uint64_t shm_size;         /* bytes; 0 = 64 MiB */
	uint32_t cpu_limit_milli;  /* 1000 = one CPU; 0 = none (cpu.max needs v2) */
	uint32_t timeout_s;        /* 0 = HELMDECK_SESSION_TIMEOUT */
	uint32_t max_tasks;        /* 0 = unlimited */
};

int session_init(void);
void session_shutdown(void);
/* 1 when chromium is installed and sessions can be started. */
int session_available(void);
/* A process of ours that exited: 1 if it was a session's browser. */
int session_reaped(pid_t pid, int status);
/* Browsers not yet reaped (shutdown waits for them). */
int session_alive(void);

/* New session for owner. Returns its id (static buffer) or NULL with why. */
const char *session_create(const char *owner, const struct session_opts *o, char *why, size_t whylen);
/* The session's CDP descriptor for one invocation (a dup the caller closes),
 * counted as one task. -1 with why when unknown, someone else's, busy, dead
 * or past max_tasks; *busy set when it only has to wait. The session's
 * timeout is extended (never shortened) to outlast the run's run_ms. */
int session_lend(const char *id, const char *owner, uint32_t run_ms, int *busy, char *why, size_t whylen);
void session_return(const char *id);
/* egress (re)started: give it the proxy listener of every claimed session */
void session_proxy_resend(void);
/* Ended when its one invocation returns (a pack call without _session_id). */
void session_mark_ephemeral(const char *id);
int session_terminate(const char *id, const char *owner, const char *reason);
/* JSON texts (malloc'd) for the REST api: one session, or the owner's list. */
char *session_json(const char *id, const char *owner);
char *session_list_json(const char *owner);
char *session_logs_json(const char *id, const char *owner);
/* For the security report. */
char *session_report_json(void);

#endif
