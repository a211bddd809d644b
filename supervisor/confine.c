#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "confine.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

static char confine_missing_buf[256];

static void confine_note_missing(const char *layer)
{
	size_t n = strlen(confine_missing_buf);
	snprintf(confine_missing_buf + n, sizeof confine_missing_buf - n, "%s%s", n ? "," : "", layer);
	log_warn("confinement layer unavailable: %s", layer);
}

const char *confine_missing(void) { return confine_missing_buf; }

static int confine_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Unprivileged: a user namespace gives us the capabilities to build the rest. */
static int confine_userns(void)
{
	if (getenv("HELMDECK_IN_USERNS"))
		return 0;  /* created by the spawn, mapped by the supervisor */
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	char map[64];
	if (confine_write("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (confine_write("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (confine_write("/proc/self/gid_map", map) < 0)
		return -1;
	return 0;
}

static void confine_drop_caps(int privileged)
{
	/* The bounding set needs CAP_SETPCAP, which KEEPCAPS kept in permitted. */
	cap_t c = cap_get_proc();
	if (!c)
		fatalx("cap_get_proc");
	cap_value_t setpcap = CAP_SETPCAP;
	cap_flag_value_t have = CAP_CLEAR;
	cap_get_flag(c, CAP_SETPCAP, CAP_PERMITTED, &have);
	if (have == CAP_SET) {
		cap_set_flag(c, CAP_EFFECTIVE, 1, &setpcap, CAP_SET);
		if (cap_set_proc(c) < 0)
			fatalx("raise CAP_SETPCAP");
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				fatalx("PR_CAPBSET_DROP %d", cap);
	} else if (privileged) {
		fatal("CAP_SETPCAP lost before the bounding set was dropped");
	} else {
		confine_note_missing("capability-bounding-set");
	}
	cap_free(c);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	c = cap_init();
	if (!c || cap_set_proc(c) < 0)
		fatalx("clear capabilities");
	cap_free(c);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	/* verify: nothing effective or permitted remains */
	c = cap_get_proc();
	for (int cap = 0; c && cap <= CAP_LAST_CAP; cap++) {
		cap_flag_value_t e = CAP_CLEAR, p = CAP_CLEAR;
		cap_get_flag(c, (cap_value_t)cap, CAP_EFFECTIVE, &e);
		cap_get_flag(c, (cap_value_t)cap, CAP_PERMITTED, &p);
		if (e == CAP_SET || p == CAP_SET)
			fatal("capability %d still held after drop", cap);
	}
	cap_free(c);
}

void confine_landlock(int dirfd, unsigned rights)
{
	/* an absent Landlock was noted when the process confined itself */
	landlock_restrict(dirfd, rights);
}

int confine_seccomp(const struct sc_policy *p, int *notify_fd)
{
	char err[256];
	if (sc_policy_apply(p, notify_fd, err, sizeof err) < 0)
		fatal("%s", err);
	return 0;
}

int confine_apply(const struct confine_spec *s)
{
	int privileged = geteuid() == 0 && !getenv("HELMDECK_IN_USERNS");

	if (!privileged && confine_userns() < 0)
		confine_note_missing("user-namespace");

	if (s->unshare_flags) {
		if (unshare(s->unshare_flags) < 0) {
			if (privileged)
				fatalx("unshare");
			confine_note_missing("namespaces");
		} else if ((s->unshare_flags & CLONE_NEWNS) &&
			   mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			fatalx("make mounts private");
		}
	}

	int skip_chroot = 0;
	int have_mntns = s->unshare_flags & CLONE_NEWNS && !strstr(confine_missing_buf, "namespaces");
	if (s->root) {
		/* no host root view is ever acceptable for running commands */
		if (!have_mntns)
			fatal("the exec sandbox needs a mount namespace");
		char miss[64] = "";
		if (sandbox_root_enter(s->root, miss, sizeof miss) < 0)
			fatalx("build the exec sandbox root");
		if (miss[0])
			confine_note_missing(miss);
		skip_chroot = 1;
	} else if (s->chroot_dir && s->nbinds > 0 && have_mntns) {
		if (mount("tmpfs", s->chroot_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0)
			fatalx("mount tmpfs root");
		for (int i = 0; i < s->nbinds; i++) {
			char inner[4096];
			snprintf(inner, sizeof inner, "%s%s", s->chroot_dir, s->binds[i]);
			if (mkdir_p(inner, 0755) < 0 ||
			    mount(s->binds[i], inner, NULL, MS_BIND | MS_REC, NULL) < 0)
				fatalx("bind %s", s->binds[i]);
		}
		if (mount(NULL, s->chroot_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			fatalx("remount root read-only");
	} else if (s->chroot_dir && s->nbinds > 0) {
		/* without a mount namespace the bound paths cannot follow us in */
		confine_note_missing("chroot");
		skip_chroot = 1;
	}

	if (s->chroot_dir && !skip_chroot) {
		if (chroot(s->chroot_dir) < 0 || chdir("/") < 0) {
			if (privileged)
				fatalx("chroot %s", s->chroot_dir);
			confine_note_missing("chroot");
		}
	}

	if (privileged) {
		gid_t g = s->gid;
		if (setgroups(1, &g) < 0)
			fatalx("setgroups");
		if (setresgid(s->gid, s->gid, s->gid) < 0)
			fatalx("setresgid");
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			fatalx("PR_SET_KEEPCAPS");
		if (setresuid(s->uid, s->uid, s->uid) < 0)
			fatalx("setresuid");
		/* the old ids must be gone for good */
		uid_t r, e, sv;
		gid_t rg, eg, sg;
		if (getresuid(&r, &e, &sv) < 0 || r != s->uid || e != s->uid || sv != s->uid)
			fatal("uid did not stick");
		if (getresgid(&rg, &eg, &sg) < 0 || rg != s->gid || eg != s->gid || sg != s->gid)
			fatal("gid did not stick");
	}
	confine_drop_caps(privileged);
	if (privileged && (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0))
		fatal("root could be regained after the drop");

	/* credential changes clear the parent-death signal: arm it again */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (!privileged && getppid() == 1 && !(s->unshare_flags & CLONE_NEWPID))
		fatal("supervisor is gone");
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	for (int i = 0; i < s->nrlimits; i++) {
		struct rlimit rl;
		if (getrlimit(s->rlimits[i].res, &rl) < 0)
			fatalx("getrlimit");
		rlim_t want = s->rlimits[i].max;
		/* only ever lower: root here lacks CAP_SYS_RESOURCE anyway */
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
			want = rl.rlim_max;
		rl.rlim_cur = rl.rlim_max = want;
		if (setrlimit(s->rlimits[i].res, &rl) < 0)
			fatalx("setrlimit %d", s->rlimits[i].res);
	}

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatalx("PR_SET_NO_NEW_PRIVS");
	if (landlock_abi() < 1)
		confine_note_missing("landlock");

	if (s->landlock_deny_all)
		confine_landlock(-1, 0);
	if (s->root && landlock_abi() >= 1) {
		unsigned applied = 0;
		if (sandbox_root_landlock(s->root, &applied) < 0)
			fatalx("landlock for the exec sandbox");
		if (!(applied & LL_DENY_TCP) && !s->root->allow_tcp)
			confine_note_missing("landlock-net");
		if (!(applied & LL_SCOPE))
			confine_note_missing("landlock-scope");
	}
	if (s->policy)
		confine_seccomp(s->policy, NULL);
	return 0;
}
