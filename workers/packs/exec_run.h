/*
 * The process runner of the exec class: start one command with a complete,
 * given environment, feed it stdin, collect bounded stdout/stderr, enforce a
 * deadline, and leave nothing behind. Every process it starts is SIGKILLed
 * when the main one exits or times out: as the init of its own pid namespace
 * (the worker) everything else in the namespace, otherwise the command's
 * process group.
 */
#ifndef HD_EXEC_RUN_H
#define HD_EXEC_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#define EXEC_MAX_RLIMITS 8

struct exec_spec {
	const char *const *argv;   /* argv[0] searched in PATH (from envp) when it has no '/' */
	const char *const *envp;   /* the complete environment */
	const char *cwd;           /* NULL: the caller's */
	const uint8_t *stdin_data;
	size_t stdin_len;
	uint32_t timeout_ms;       /* 0: no deadline */
	size_t stdout_max, stderr_max;   /* bytes kept; the rest is read and dropped */
	struct {
		int res;
		rlim_t max;
	} rlimits[EXEC_MAX_RLIMITS];
	int nrlimits;              /* set in the child; a hard limit is only ever lowered */
};

struct exec_result {
	int exit_code;      /* -1 when killed by a signal */
	int signal;         /* terminating signal, 0 if none */
	int timed_out;
	int exec_errno;     /* the command could not be started (ENOENT, EACCES...) */
	uint8_t *out;       /* NUL-terminated after out_len */
	size_t out_len;
	int out_truncated;
	uint8_t *err;       /* NUL-terminated after err_len */
	size_t err_len;
	int err_truncated;
	uint64_t duration_ms;
};

/* 0 with *r filled (a failed exec is a result too); -1 only when we could
 * not start at all (pipe, fork), with errno set and *r empty. */
int exec_run(const struct exec_spec *s, struct exec_result *r);
void exec_result_free(struct exec_result *r);

#endif
