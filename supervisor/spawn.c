#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "spawn.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static char spawn_exe[PATH_MAX];
static int spawn_ns_flags = -1;  /* learned on first spawn */

void spawn_init(void)
{
	ssize_t n = readlink("/proc/self/exe", spawn_exe, sizeof spawn_exe - 1);
	if (n <= 0)
		fatalx("readlink /proc/self/exe");
	spawn_exe[n] = '\0';
}

/* The child's environment: HELMDECK_* settings minus secrets, sanitizer
 * options for the check build, nothing else. */
static char **spawn_env(const struct spawn_req *r, int in_userns)
{
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	char **env = xcalloc(n + 4 + SPAWN_MAX_ENV, sizeof *env);
	size_t k = 0;
	for (char **e = environ; *e; e++) {
		const char *v = *e;
		int keep = !strncmp(v, "HELMDECK_", 9) || !strncmp(v, "ASAN_OPTIONS=", 13) ||
			   !strncmp(v, "UBSAN_OPTIONS=", 14) || !strncmp(v, "LSAN_OPTIONS=", 14);
		if (!strncmp(v, "HELMDECK_ADMIN_PASSWORD", 23) && !r->pass_admin_password)
			keep = 0;
		if (!strncmp(v, "HELMDECK_VAULT_KEY", 18) && strcmp(r->role, "vault"))
			keep = 0;
		if (!strncmp(v, "HELMDECK_IN_USERNS=", 19) || !strncmp(v, "HELMDECK_WORKER_CLASS=", 22) ||
		    !strncmp(v, "HELMDECK_RUN_", 13))
			keep = 0;
		if (keep)
			env[k++] = (char *)v;
	}
	env[k++] = (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	if (r->new_netns && geteuid() == 0 && !getenv("HELMDECK_IN_USERNS"))
		env[k++] = (char *)"HELMDECK_RUN_NETNS=1";
	if (in_userns)
		env[k++] = (char *)"HELMDECK_IN_USERNS=1";
	for (int i = 0; i < SPAWN_MAX_ENV && r->extra_env[i]; i++)
		env[k++] = (char *)r->extra_env[i];
	env[k] = NULL;
	return env;
}

static int spawn_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static pid_t spawn_clone(int flags, int cgroup_fd, int *in_cgroup)
{
	*in_cgroup = 0;
	if (cgroup_fd >= 0) {
		struct clone_args ca;
		memset(&ca, 0, sizeof ca);
		ca.flags = (uint64_t)flags | CLONE_INTO_CGROUP;
		ca.exit_signal = SIGCHLD;
		ca.cgroup = (uint64_t)cgroup_fd;
		pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
		if (pid >= 0) {
			*in_cgroup = 1;
			return pid;
		}
		/* older kernel or no permission on the group: move it later */
	}
	return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
}

int spawn_role(const struct spawn_req *r, struct spawned *out)
{
	int rel[2];
	if (pipe2(rel, O_CLOEXEC) < 0)
		return -1;
	int flags = geteuid() == 0 ? CLONE_NEWPID : CLONE_NEWUSER | CLONE_NEWPID;
	if (spawn_ns_flags == 0)
		flags = 0;
	if (r->new_netns && geteuid() == 0 && !getenv("HELMDECK_IN_USERNS"))
		flags |= CLONE_NEWNET;
	pid_t parent = getpid();
	/* built before the clone: the child does only async-signal-safe work */
	char **env = spawn_env(r, flags & CLONE_NEWUSER);
	int in_cg = 0;
	pid_t pid = spawn_clone(flags, r->cgroup_fd, &in_cg);
	if (pid < 0 && flags) {
		log_warn("clone with a new pid namespace failed (%s); roles share the pid namespace",
			 strerror(errno));
		/* a network namespace asked for is kept: never fall back to the host's */
		spawn_ns_flags = 0;
		flags &= CLONE_NEWNET;
		free(env);
		env = spawn_env(r, 0);
		pid = spawn_clone(flags, r->cgroup_fd, &in_cg);
	}
	if (pid < 0) {
		free(env);
		close(rel[0]);
		close(rel[1]);
		return -1;
	}
	if (pid == 0) {
		/* child: only async-signal-safe work until exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (!(flags & CLONE_NEWPID) && getppid() != parent)
			_exit(1);
		int hi[SPAWN_MAX_FDS];
		for (int i = 0; i < r->nfds; i++) {
			hi[i] = fcntl(r->fds[i], F_DUPFD, 64);
			if (hi[i] < 0)
				_exit(1);
		}
		int relfd = fcntl(rel[0], F_DUPFD, 64 + SPAWN_MAX_FDS);
		for (int i = 0; i < r->nfds; i++)
			if (dup2(hi[i], 3 + i) < 0)
				_exit(1);
		char c;
		ssize_t got;
		do
			got = read(relfd, &c, 1);
		while (got < 0 && errno == EINTR);
		if (got != 1)
			_exit(1);
		syscall(SYS_close_range, 3 + r->nfds, ~0U, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		char *argv[] = {(char *)"helmdeckd", (char *)"-R", (char *)r->role, NULL};
		execve(spawn_exe, argv, env);
		_exit(127);
	}
	free(env);
	if (spawn_ns_flags < 0)
		spawn_ns_flags = flags;
	close(rel[0]);
	if (flags & CLONE_NEWUSER) {
		/* map our own ids to root inside, before the child may exec, so
		 * it keeps the in-namespace capabilities it needs to confine
		 * itself (an unmapped uid would lose them at exec) */
		char path[64], map[64];
		snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
		int ok = spawn_write(path, "deny") == 0;
		snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)geteuid());
		ok = ok && spawn_write(path, map) == 0;
		snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)getegid());
		ok = ok && spawn_write(path, map) == 0;
		if (!ok)
			log_warn("cannot write the user namespace maps of %s: %s", r->role, strerror(errno));
	}
	out->pid = pid;
	out->release_fd = rel[1];
	out->pidns = (flags & CLONE_NEWPID) != 0;
	out->netns = (flags & CLONE_NEWNET) != 0;
	out->in_cgroup = in_cg;
	return 0;
}

void spawn_release(struct spawned *s)
{
	if (s->release_fd < 0)
		return;
	ssize_t w = write(s->release_fd, "g", 1);
	(void)w;
	close(s->release_fd);
	s->release_fd = -1;
}
