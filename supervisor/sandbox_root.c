#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox_root.h"
#include "common/log.h"
#include "supervisor/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RO_FLAGS (MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

static int sb_path(char *out, size_t n, const char *mnt, const char *rel)
{
	if (snprintf(out, n, "%s%s", mnt, rel) >= (int)n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int sb_write(const char *mnt, const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	if (sb_path(p, sizeof p, mnt, rel) < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, text, strlen(text));
	close(fd);
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* Bind host path src at the same place inside, read-only (remounted: the
 * flags of a bind are set by a second mount call). Missing sources are
 * skipped: not every host has every file. */
static int sb_bind_ro(const char *mnt, const char *src, int optional)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return optional ? 0 : -1;
	char p[PATH_MAX];
	if (sb_path(p, sizeof p, mnt, src) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (mount(src, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	return mount(NULL, p, NULL, RO_FLAGS, NULL);
}

/* /bin, /lib... are symlinks into /usr on a merged-/usr host, directories
 * on an older one: copy whichever the host has. */
static int sb_usr_links(const char *mnt)
{
	static const char *const tops[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
	for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
		struct stat st;
		if (lstat(tops[i], &st) < 0)
			continue;
		char p[PATH_MAX];
		if (sb_path(p, sizeof p, mnt, tops[i]) < 0)
			return -1;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(tops[i], target, sizeof target - 1);
			if (n <= 0)
				return -1;
			target[n] = '\0';
			if (symlink(target, p) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode) && sb_bind_ro(mnt, tops[i], 0) < 0) {
			return -1;
		}
	}
	return 0;
}

/* No host account, host name or resolver leaks in: the sandbox has its own. */
static int sb_etc(const struct sandbox_root *s)
{
	char p[PATH_MAX], text[512];
	if (sb_path(p, sizeof p, s->mnt, "/etc") < 0 || mkdir(p, 0755) < 0)
		return -1;
	snprintf(text, sizeof text,
		 "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
		 "helmdeck:x:%u:%u:helmdeck worker:/tmp:/bin/sh\n"
		 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		 (unsigned)s->uid, (unsigned)s->gid);
	if (sb_write(s->mnt, "/etc/passwd", text, 0644) < 0)
		return -1;
	snprintf(text, sizeof text, "root:x:0:\nhelmdeck:x:%u:\nnogroup:x:65534:\n", (unsigned)s->gid);
	if (sb_write(s->mnt, "/etc/group", text, 0644) < 0 ||
	    sb_write(s->mnt, "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0644) < 0 ||
	    sb_write(s->mnt, "/etc/hostname", "sandbox\n", 0644) < 0 ||
	    sb_write(s->mnt, "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n", 0644) < 0 ||
	    sb_write(s->mnt, "/etc/resolv.conf", "", 0644) < 0)
		return -1;
	/* git's global config (GIT_CONFIG_GLOBAL points here): the workspace and
	 * remote belong to other uids than the worker's, and git honours
	 * safe.directory only from global or system config */
	if (sb_write(s->mnt, "/etc/helmdeck-git.conf",
		     "[safe]\n\tdirectory = *\n[protocol \"file\"]\n\tallow = always\n"
		     "[init]\n\tdefaultBranch = main\n", 0644) < 0)
		return -1;
	/* what programs need to start and to verify TLS, nothing more */
	static const char *const ro[] = {
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
		"/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/mime.types",
	};
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
		if (sb_bind_ro(s->mnt, ro[i], 1) < 0)
			return -1;
	return 0;
}

static int sb_dev(const char *mnt, unsigned long shm_bytes)
{
	char p[PATH_MAX];
	if (sb_path(p, sizeof p, mnt, "/dev") < 0 || mkdir(p, 0755) < 0)
		return -1;
	static const char *const nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		if (sb_path(p, sizeof p, mnt, nodes[i]) < 0)
			return -1;
		int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd < 0)
			return -1;
		close(fd);
		/* writable on purpose: programs write to /dev/null */
		if (mount(nodes[i], p, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
			return -1;
	}
	static const struct { const char *link, *target; } links[] = {
		{"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
		{"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (sb_path(p, sizeof p, mnt, links[i].link) < 0 || symlink(links[i].target, p) < 0)
			return -1;
	char opt[64];
	snprintf(opt, sizeof opt, "size=%lu,mode=1777", shm_bytes ? shm_bytes : 16ul << 20);
	if (sb_path(p, sizeof p, mnt, "/dev/shm") < 0 || mkdir(p, 01777) < 0 ||
	    mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opt) < 0)
		return -1;
	return 0;
}

/* A directory we hold a descriptor for, bound at rel. The descriptor's
 * mount belongs to the supervisor's namespace, which a bind refuses, so we
 * bind the path it has now in our copy of that namespace and then prove it
 * is the same directory (device and inode): a rename in between fails. */
static int sb_bind_fd(const char *mnt, const char *rel, int fd, int rw, int exec)
{
	char p[PATH_MAX], link[64], src[PATH_MAX];
	if (sb_path(p, sizeof p, mnt, rel) < 0 || mkdir(p, 0755) < 0)
		return -1;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, src, sizeof src - 1);
	if (n <= 0 || src[0] != '/')
		return -1;
	src[n] = '\0';
	struct stat want, got;
	if (fstat(fd, &want) < 0 || mount(src, p, NULL, MS_BIND, NULL) < 0)
		return -1;
	if (stat(p, &got) < 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
		errno = ESTALE;
		return -1;
	}
	unsigned long fl = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY) | (exec ? 0 : MS_NOEXEC);
	return mount(NULL, p, NULL, fl, NULL);
}

static void sb_note(char *missing, size_t n, const char *what)
{
	size_t len = strlen(missing);
	snprintf(missing + len, n - len, "%s%s", len ? "," : "", what);
}

int sandbox_root_enter(const struct sandbox_root *s, char *missing, size_t missing_len)
{
	const char *m = s->mnt;
	char p[PATH_MAX], opt[64];
	if (mount("tmpfs", m, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
		return -1;
	if (sb_bind_ro(m, "/usr", 0) < 0 || sb_usr_links(m) < 0 || sb_etc(s) < 0 || sb_dev(m, s->shm_bytes) < 0)
		return -1;
	for (const char *const *x = s->extra_ro; x && *x; x++)
		if (sb_bind_ro(m, *x, 1) < 0)
			return -1;
	if (sb_path(p, sizeof p, m, "/tmp") < 0 || mkdir(p, 01777) < 0)
		return -1;
	snprintf(opt, sizeof opt, "size=%lu,mode=1777", s->tmp_bytes);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opt) < 0)
		return -1;
	if (sb_path(p, sizeof p, m, "/proc") < 0 || mkdir(p, 0555) < 0)
		return -1;
	/* the worker's own pid namespace: it sees only its own processes */
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		if (geteuid() == 0 && !getenv("HELMDECK_IN_USERNS"))
			return -1;
		sb_note(missing, missing_len, "proc");
	}
	/* the workspace runs its own scripts (tests), hence exec */
	if (s->ws_fd >= 0 && sb_bind_fd(m, SANDBOX_WS, s->ws_fd, 1, 1) < 0)
		return -1;
	if (s->remote_fd >= 0 && sb_bind_fd(m, SANDBOX_REMOTE, s->remote_fd, s->remote_rw, 0) < 0)
		return -1;
	/* read-only: connecting to the agent's socket needs no write access to
	 * the mount, and nothing else there may change */
	if (s->agent_fd >= 0 && (sb_path(p, sizeof p, m, "/run") < 0 || mkdir(p, 0755) < 0 ||
				 sb_bind_fd(m, SANDBOX_AGENT, s->agent_fd, 0, 0) < 0))
		return -1;
	/* the descriptors reach the real tree outside the new root: once bound,
	 * they go (the numbers stay in s to say what was bound) */
	if (s->ws_fd >= 0)
		close(s->ws_fd);
	if (s->remote_fd >= 0)
		close(s->remote_fd);
	if (s->agent_fd >= 0)
		close(s->agent_fd);
	/* pivot_root, not chroot: the host's tree is unmounted from this
	 * namespace altogether, and a process inside may still create its own
	 * user namespace (chromium's sandbox), which a chroot forbids */
	if (chdir(m) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return -1;
	if (chdir(s->ws_fd >= 0 ? SANDBOX_WS : "/") < 0)
		return -1;
	return 0;
}

int sandbox_root_landlock(const struct sandbox_root *s, unsigned *applied)
{
	static const struct { const char *path; unsigned rights; } dirs[] = {
		{"/", LL_READ | LL_EXEC},
		{"/dev", LL_READ | LL_WRITE},
		{"/tmp", LL_READ | LL_WRITE | LL_EXEC},
		{SANDBOX_WS, LL_READ | LL_WRITE | LL_EXEC},
		{SANDBOX_REMOTE, LL_READ},
		{"/proc", LL_READ | LL_WRITE},
	};
	struct ll_path p[8];
	int n = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if ((!strcmp(dirs[i].path, SANDBOX_WS) && s->ws_fd < 0) ||
		    (!strcmp(dirs[i].path, SANDBOX_REMOTE) && s->remote_fd < 0) ||
		    (!strcmp(dirs[i].path, "/proc") && !s->proc_writable))
			continue;
		int fd = open(dirs[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		unsigned rights = dirs[i].rights;
		if (!strcmp(dirs[i].path, SANDBOX_REMOTE) && s->remote_rw)
			rights |= LL_WRITE;
		p[n++] = (struct ll_path){fd, rights};
	}
	int rc = landlock_restrict_paths_port(p, n, (s->allow_tcp ? 0 : LL_DENY_TCP) | LL_SCOPE, s->tcp_connect_port,
					      applied);
	for (int i = 0; i < n; i++)
		close(p[i].fd);
	return rc;
}
