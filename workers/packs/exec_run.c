/*
 * fork + execve one command under a deadline, with bounded output capture
 * and a guaranteed cleanup of everything it started. See exec_run.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "exec_run.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_CHUNK (64u * 1024)
#define EXEC_DRAIN_MS 1000      /* reading what is left in the pipes after the kill */
#define EXEC_REAP_MS 2000       /* pid 1: collecting what the kill left as zombies */
#define EXEC_POLL_MAX_MS 1000
#define EXEC_POLL_NOPIDFD_MS 20 /* without a pidfd we notice the exit by polling */
#define EXEC_PATH_DEFAULT "/usr/bin:/bin"
#define EXEC_CHILD_FD_BASE 10   /* above 0-3, so the fd shuffle cannot clobber */

/* One captured output stream: what is kept, and whether some was dropped. */
struct exec_sink {
	int fd;
	uint8_t *buf;
	size_t len, cap, max;
	int truncated;
};

/* The execve candidates, built before fork so the child never allocates. */
struct exec_paths {
	char **v;
	size_t n;
};

static void exec_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int exec_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void sink_take(struct exec_sink *k, const uint8_t *p, size_t n)
{
	size_t room = k->max - k->len;
	if (n > room) {
		k->truncated = 1;
		n = room;
	}
	if (n == 0)
		return;
	if (k->len + n + 1 > k->cap) {
		size_t c = k->cap ? k->cap : 4096;
		while (c < k->len + n + 1)
			c *= 2;
		if (c > k->max + 1)
			c = k->max + 1;
		k->buf = xrealloc(k->buf, c);
		k->cap = c;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

/* One read; EOF or a hard error closes the stream. */
static void sink_read(struct exec_sink *k, uint8_t *scratch)
{
	ssize_t n = read(k->fd, scratch, EXEC_CHUNK);
	if (n > 0)
		sink_take(k, scratch, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		exec_close(&k->fd);
}

/* Hand the buffer over to the result, always NUL-terminated. */
static uint8_t *sink_finish(struct exec_sink *k, size_t *len, int *truncated)
{
	exec_close(&k->fd);
	if (!k->buf)
		k->buf = xmalloc(1);
	k->buf[k->len] = 0;
	*len = k->len;
	*truncated = k->truncated;
	return k->buf;
}

static const char *exec_env_path(const char *const *envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			return envp[i] + 5;
	return EXEC_PATH_DEFAULT;
}

/* Our own PATH search: no fallback to sh for ENOEXEC, unlike execvpe. */
static void exec_paths_build(const char *argv0, const char *const *envp, struct exec_paths *p)
{
	p->v = NULL;
	p->n = 0;
	if (!*argv0)
		return;
	if (strchr(argv0, '/')) {
		p->v = xcalloc(1, sizeof *p->v);
		p->v[p->n++] = xstrdup(argv0);
		return;
	}
	const char *path = exec_env_path(envp);
	size_t max = 1;
	for (const char *c = path; *c; c++)
		max += *c == ':';
	p->v = xcalloc(max, sizeof *p->v);
	for (const char *s = path; *s;) {
		const char *e = strchr(s, ':');
		size_t dl = e ? (size_t)(e - s) : strlen(s);
		if (dl > 0)  /* an empty element would mean ".": never search the cwd */
			p->v[p->n++] = xasprintf("%.*s/%s", (int)dl, s, argv0);
		if (!e)
			break;
		s = e + 1;
	}
}

static void exec_paths_free(struct exec_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
}

static void exec_child_close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < 65536 ? (long)rl.rlim_max : 65536;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

static int exec_child_rlimits(const struct exec_spec *s)
{
	for (int i = 0; i < s->nrlimits && i < EXEC_MAX_RLIMITS; i++) {
		struct rlimit cur;
		if (getrlimit(s->rlimits[i].res, &cur) < 0)
			return -1;
		/* the soft limit may rise to the new hard one, which only falls */
		rlim_t v = s->rlimits[i].max < cur.rlim_max ? s->rlimits[i].max : cur.rlim_max;
		struct rlimit nl = {v, v};
		if (setrlimit(s->rlimits[i].res, &nl) < 0)
			return -1;
	}
	return 0;
}

/* The kernel's struct for rt_sigaction: glibc's sigaction() refuses its
 * own reserved real-time signals (32, 33), which an ignoring parent would
 * otherwise pass on to the command. */
struct exec_kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static void exec_child_signals_default(void)
{
	struct exec_kernel_sigaction ksa = {.handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void exec_child_execve(const struct exec_spec *s, const struct exec_paths *cands)
{
	int saw_eacces = 0, e = ENOENT;
	for (size_t i = 0; i < cands->n; i++) {
		execve(cands->v[i], (char *const *)s->argv, (char *const *)s->envp);
		e = errno;
		if (e == EACCES)
			saw_eacces = 1;
		else if (e != ENOENT && e != ENOTDIR && e != ELOOP && e != ENAMETOOLONG)
			break;
	}
	if (saw_eacces && (e == ENOENT || e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG))
		e = EACCES;
	errno = e;
}

/* Between fork and execve: async-signal-safe calls only. Any failure goes
 * to the parent as an errno over the CLOEXEC status pipe (fd 3 here). */
__attribute__((noreturn)) static void exec_child(const struct exec_spec *s, const struct exec_paths *cands,
						 int fd_in, int fd_out, int fd_err, int fd_status)
{
	int stfd = fd_status;
	setpgid(0, 0);
	int in = fcntl(fd_in, F_DUPFD, EXEC_CHILD_FD_BASE);
	int out = fcntl(fd_out, F_DUPFD, EXEC_CHILD_FD_BASE);
	int err = fcntl(fd_err, F_DUPFD, EXEC_CHILD_FD_BASE);
	int st = fcntl(fd_status, F_DUPFD_CLOEXEC, EXEC_CHILD_FD_BASE);
	if (in < 0 || out < 0 || err < 0 || st < 0)
		goto fail;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup3(st, 3, O_CLOEXEC) < 0)
		goto fail;
	stfd = 3;
	exec_child_close_from(4);
	if (s->cwd && chdir(s->cwd) < 0)
		goto fail;
	if (exec_child_rlimits(s) < 0)
		goto fail;
	exec_child_signals_default();
	exec_child_execve(s, cands);
fail:;
	int e = errno;
	if (write(stfd, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/* 0 once execve succeeded (EOF on the CLOEXEC pipe), else the child's errno. */
static int exec_wait_started(int fd)
{
	int e = 0;
	size_t got = 0;
	while (got < sizeof e) {
		ssize_t n = read(fd, (char *)&e + got, sizeof e - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof e ? (e ? e : EIO) : 0;
}

static int exec_child_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* As the init of our pid namespace everything else dies; anywhere else only
 * the command's group (kill(-1) there would hit all of this user's
 * processes). The main child is still unreaped, so its pid cannot have been
 * reused for the group id. */
static void exec_kill_all(pid_t pid)
{
	if (getpid() == 1)
		kill(-1, SIGKILL);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);  /* in case it left its group */
}

static void exec_reap_namespace(void)
{
	uint64_t end = now_ms_mono() + EXEC_REAP_MS;
	for (;;) {
		pid_t w = waitpid(-1, NULL, WNOHANG);
		if (w > 0 || (w < 0 && errno == EINTR))
			continue;
		if (w < 0 || now_ms_mono() >= end)
			return;
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

struct exec_io {
	int in_fd;
	size_t in_off;
	int pidfd;
	struct exec_sink out, err;
	uint8_t *scratch;
};

static void exec_io_write_stdin(const struct exec_spec *s, struct exec_io *io)
{
	ssize_t n = write(io->in_fd, s->stdin_data + io->in_off, s->stdin_len - io->in_off);
	if (n > 0)
		io->in_off += (size_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		io->in_off = s->stdin_len;  /* EPIPE: the command does not want the rest */
	if (io->in_off >= s->stdin_len)
		exec_close(&io->in_fd);
}

/* One round of poll over the pipes (and the pidfd when with_pid).
 * Returns 1 when the pidfd reports the exit. */
static int exec_io_round(const struct exec_spec *s, struct exec_io *io, int wait_ms, int with_pid)
{
	struct pollfd pf[4];
	int n = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
	if (io->in_fd >= 0) {
		i_in = n;
		pf[n++] = (struct pollfd){.fd = io->in_fd, .events = POLLOUT};
	}
	if (io->out.fd >= 0) {
		i_out = n;
		pf[n++] = (struct pollfd){.fd = io->out.fd, .events = POLLIN};
	}
	if (io->err.fd >= 0) {
		i_err = n;
		pf[n++] = (struct pollfd){.fd = io->err.fd, .events = POLLIN};
	}
	if (with_pid && io->pidfd >= 0) {
		i_pid = n;
		pf[n++] = (struct pollfd){.fd = io->pidfd, .events = POLLIN};
	}
	if (poll(pf, (nfds_t)n, wait_ms) < 0)
		return 0;
	if (i_in >= 0 && pf[i_in].revents)
		exec_io_write_stdin(s, io);
	if (i_out >= 0 && pf[i_out].revents)
		sink_read(&io->out, io->scratch);
	if (i_err >= 0 && pf[i_err].revents)
		sink_read(&io->err, io->scratch);
	return i_pid >= 0 && pf[i_pid].revents;
}

/* Until the main child exits or the deadline passes; 1 on exit. */
static int exec_supervise(const struct exec_spec *s, struct exec_io *io, pid_t pid, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms_mono();
		if (now >= deadline)
			return 0;
		uint64_t left = deadline - now;
		int wait_ms = left > EXEC_POLL_MAX_MS ? EXEC_POLL_MAX_MS : (int)left;
		if (io->pidfd < 0 && wait_ms > EXEC_POLL_NOPIDFD_MS)
			wait_ms = EXEC_POLL_NOPIDFD_MS;
		if (exec_io_round(s, io, wait_ms, 1))
			return 1;
		if (io->pidfd < 0 && exec_child_exited(pid))
			return 1;
	}
}

static void exec_drain(const struct exec_spec *s, struct exec_io *io)
{
	exec_close(&io->in_fd);
	uint64_t end = now_ms_mono() + EXEC_DRAIN_MS;
	while (io->out.fd >= 0 || io->err.fd >= 0) {
		uint64_t now = now_ms_mono();
		if (now >= end)
			break;
		exec_io_round(s, io, (int)(end - now), 0);
	}
}

static void exec_status(struct exec_result *r, pid_t pid)
{
	int st = 0;
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	r->exit_code = -1;
	if (w == pid && WIFEXITED(st))
		r->exit_code = WEXITSTATUS(st);
	else if (w == pid && WIFSIGNALED(st))
		r->signal = WTERMSIG(st);
}

static int exec_pipes(int p[4][2])
{
	for (int i = 0; i < 4; i++)
		p[i][0] = p[i][1] = -1;
	for (int i = 0; i < 4; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return -1;
	return 0;
}

static void exec_pipes_close(int p[4][2])
{
	for (int i = 0; i < 4; i++) {
		exec_close(&p[i][0]);
		exec_close(&p[i][1]);
	}
}

enum { P_IN, P_OUT, P_ERR, P_ST };

int exec_run(const struct exec_spec *s, struct exec_result *r)
{
	memset(r, 0, sizeof *r);
	if (!s->argv || !s->argv[0]) {
		errno = EINVAL;
		return -1;
	}
	int p[4][2];
	if (exec_pipes(p) < 0) {
		int e = errno;
		exec_pipes_close(p);
		errno = e;
		return -1;
	}
	struct exec_paths cands;
	exec_paths_build(s->argv[0], s->envp, &cands);

	/* Writes to a closed stdin pipe must not kill us, and the exit status
	 * must not be auto-reaped; restored on the way out. Signals stay
	 * blocked across fork so no handler of ours runs in the child. */
	struct sigaction ign, dfl, old_pipe, old_chld;
	memset(&ign, 0, sizeof ign);
	memset(&dfl, 0, sizeof dfl);
	ign.sa_handler = SIG_IGN;
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &ign, &old_pipe);
	sigaction(SIGCHLD, &dfl, &old_chld);
	sigset_t all, old_mask;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old_mask);

	uint64_t t0 = now_ms_mono();
	pid_t pid = fork();
	if (pid == 0)
		exec_child(s, &cands, p[P_IN][0], p[P_OUT][1], p[P_ERR][1], p[P_ST][1]);
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	exec_paths_free(&cands);
	exec_close(&p[P_IN][0]);
	exec_close(&p[P_OUT][1]);
	exec_close(&p[P_ERR][1]);
	exec_close(&p[P_ST][1]);
	if (pid < 0) {
		exec_pipes_close(p);
		sigaction(SIGPIPE, &old_pipe, NULL);
		sigaction(SIGCHLD, &old_chld, NULL);
		errno = fork_errno;
		return -1;
	}
	setpgid(pid, pid);  /* both sides, against the race; fails after exec */

	struct exec_io io = {
		.in_fd = p[P_IN][1], .in_off = 0, .pidfd = -1,
		.out = {.fd = p[P_OUT][0], .max = s->stdout_max},
		.err = {.fd = p[P_ERR][0], .max = s->stderr_max},
	};
	int started_errno = exec_wait_started(p[P_ST][0]);
	exec_close(&p[P_ST][0]);
	if (started_errno) {
		r->exec_errno = started_errno;
		exec_close(&io.in_fd);
		exec_status(r, pid);
		r->exit_code = 127;
		r->signal = 0;
	} else {
		io.scratch = xmalloc(EXEC_CHUNK);
#ifdef SYS_pidfd_open
		io.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
		if (s->stdin_len == 0 || exec_set_nonblock(io.in_fd) < 0)
			exec_close(&io.in_fd);
		exec_set_nonblock(io.out.fd);
		exec_set_nonblock(io.err.fd);
		uint64_t deadline = s->timeout_ms ? t0 + s->timeout_ms : UINT64_MAX;
		int exited = exec_supervise(s, &io, pid, deadline);
		r->timed_out = !exited;
		exec_kill_all(pid);
		exec_drain(s, &io);
		exec_close(&io.pidfd);
		exec_status(r, pid);
		if (getpid() == 1)
			exec_reap_namespace();
		free(io.scratch);
	}
	r->out = sink_finish(&io.out, &r->out_len, &r->out_truncated);
	r->err = sink_finish(&io.err, &r->err_len, &r->err_truncated);
	exec_close(&io.in_fd);
	r->duration_ms = now_ms_mono() - t0;
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigaction(SIGCHLD, &old_chld, NULL);
	return 0;
}

void exec_result_free(struct exec_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}
