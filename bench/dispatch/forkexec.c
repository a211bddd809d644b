/*
 * forkexec: the physical floor for "a fresh process per call".
 *
 * Runs PROG (default /bin/true) N times with fork + execve + wait, keeping
 * C children in flight at once (C=1: strictly sequential). A call's latency
 * is from just before fork() until its child has been reaped with status 0;
 * any other exit status or a failed fork/exec counts as a failure and makes
 * the run invalid (exit 1).
 *
 * Output: one line of key=value pairs on stdout, same shape as loadgen:
 *   label=.. conc=C n=.. ok=.. fail=.. secs=.. rps=.. p50=.. p90=.. p99=.. max=..
 *
 * usage: forkexec [-c C] [-n N] [-l LABEL] [PROG [ARG...]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

extern char **environ;

struct slot {
	pid_t pid;
	double t0;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long num(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1) {
		fprintf(stderr, "forkexec: not a positive number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long n = 1000;
	int conc = 1, opt;
	const char *label = "forkexec";
	while ((opt = getopt(argc, argv, "+c:n:l:")) != -1) {
		switch (opt) {
		case 'c': conc = (int)num(optarg); break;
		case 'n': n = num(optarg); break;
		case 'l': label = optarg; break;
		default:
			fprintf(stderr, "usage: forkexec [-c C] [-n N] [-l LABEL] [PROG [ARG...]]\n");
			return 2;
		}
	}
	if (conc > 1024) {
		fprintf(stderr, "usage: forkexec [-c C] [-n N] [-l LABEL] [PROG [ARG...]]\n");
		return 2;
	}
	/* PROG and its arguments (bench/code runs bwrap with its own), or /bin/true */
	static char *dflt[] = {(char *)"/bin/true", NULL};
	char **cargv = optind < argc ? &argv[optind] : dflt;
	const char *prog = cargv[0];

	double *lat = calloc((size_t)n, sizeof *lat);
	struct slot *sl = calloc((size_t)conc, sizeof *sl);
	if (!lat || !sl) {
		fprintf(stderr, "forkexec: out of memory\n");
		return 2;
	}
	long started = 0, ok = 0, fail = 0, inflight = 0;
	double t_start = now_s();
	while (started < n || inflight > 0) {
		/* fill every free slot */
		for (int i = 0; i < conc && started < n; i++) {
			if (sl[i].pid)
				continue;
			sl[i].t0 = now_s();
			pid_t pid = fork();
			if (pid == 0) {
				execve(prog, cargv, environ);
				_exit(127);
			}
			started++;
			if (pid < 0) {
				fprintf(stderr, "forkexec: fork: %s\n", strerror(errno));
				fail++;
				continue;
			}
			sl[i].pid = pid;
			inflight++;
		}
		if (inflight == 0)
			continue;
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		double t1 = now_s();
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "forkexec: waitpid: %s\n", strerror(errno));
			return 2;
		}
		int i;
		for (i = 0; i < conc && sl[i].pid != pid; i++)
			;
		if (i == conc)
			continue; /* not ours */
		sl[i].pid = 0;
		inflight--;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			lat[ok++] = (t1 - sl[i].t0) * 1e3;
		} else {
			if (fail < 5)
				fprintf(stderr, "forkexec: %s: status 0x%x\n", prog, (unsigned)st);
			fail++;
		}
	}
	double secs = now_s() - t_start;
	qsort(lat, (size_t)ok, sizeof *lat, cmp_double);
	printf("label=%s conc=%d n=%ld ok=%ld fail=%ld secs=%.3f rps=%.1f p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	       label, conc, started, ok, fail, secs, secs > 0 ? (double)ok / secs : 0, pct(lat, ok, 50),
	       pct(lat, ok, 90), pct(lat, ok, 99), ok ? lat[ok - 1] : 0);
	free(lat);
	free(sl);
	return fail == 0 && ok > 0 ? 0 : 1;
}
