/* Minimal TAP producer for the unit tests: ok(), is_str(), done_testing(). */
#ifndef HD_TAP_H
#define HD_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

static int tap_run, tap_fail;

__attribute__((format(printf, 2, 3), unused)) static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_run++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		tap_fail++;
	return cond;
}

__attribute__((unused)) static int is_str(const char *got, const char *want, const char *name)
{
	int c = got && want && !strcmp(got, want);
	ok(c, "%s", name);
	if (!c)
		printf("#   got: '%s'\n#   expected: '%s'\n", got ? got : "(null)", want ? want : "(null)");
	return c;
}

/* Wait for a child that ran packs under a real seccomp policy: it must exit
 * 0; a SIGSYS says the policy lacks a call. */
__attribute__((unused)) static int ok_sandboxed_child(pid_t pid, const char *what)
{
	int status = 0;
	waitpid(pid, &status, 0);
	int good = ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (%s %d)", what,
		      WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		printf("#   killed by SIGSYS: the policy lacks a syscall (build with SECCOMP_DEBUG=1 to name it)\n");
	return good;
}

/* Print the plan at the end and exit non-zero on any failure. */
__attribute__((unused)) static int done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_fail ? 1 : 0;
}

#endif
