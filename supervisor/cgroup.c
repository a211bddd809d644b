#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cgroup.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

enum cg_mode { CG_NONE, CG_V2, CG_HYBRID };

static enum cg_mode cg_mode = CG_NONE;
static char cg_v2_parent[512];   /* v2 dir for this instance (kill/freeze, limits on pure v2) */
static char cg_mem_parent[512];  /* v1 memory dir (hybrid) */
static char cg_pids_parent[512]; /* v1 pids dir (hybrid) */

struct cgroup {
	char v2[600], mem[600], pids[600];
	char limits[32];
};

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[700];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static int is_cgroup2(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == (unsigned long)CGROUP2_SUPER_MAGIC;
}

static int cg_mkdir(char *out, size_t outlen, const char *base, const char *name)
{
	snprintf(out, outlen, "%s/%s", base, name);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* This process's own v2 cgroup path (the "0::" line). */
static void cg_self_v2(char *out, size_t n)
{
	char *text;
	snprintf(out, n, "/");
	if (read_file("/proc/self/cgroup", &text, 65536) < 0)
		return;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "0::", 3)) {
			snprintf(out, n, "%s", l + 3);
			break;
		}
	free(text);
}

/* Groups left by a daemon that was SIGKILLed: their processes died with it
 * (parent-death signal), so the empty leaves and the parent can go. */
static void cg_reap_stale(const char *base)
{
	DIR *d = opendir(base);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid;
		char tail;
		if (sscanf(e->d_name, "helmdeck-%d%c", &pid, &tail) != 1 || pid <= 0)
			continue;
		if (kill(pid, 0) == 0 || errno == EPERM)
			continue;  /* that daemon is alive */
		char dir[600];
		snprintf(dir, sizeof dir, "%s/%s", base, e->d_name);
		DIR *sub = opendir(dir);
		struct dirent *l;
		while (sub && (l = readdir(sub))) {
			if (l->d_type != DT_DIR || l->d_name[0] == '.')
				continue;
			char leaf[900];
			snprintf(leaf, sizeof leaf, "%s/%s", dir, l->d_name);
			cg_write(leaf, "cgroup.kill", "1");
			rmdir(leaf);
		}
		if (sub)
			closedir(sub);
		if (rmdir(dir) == 0)
			log_info("removed stale cgroup %s", dir);
	}
	closedir(d);
}

int cgroup_init(const char *instance)
{
	cg_reap_stale("/sys/fs/cgroup/unified");
	cg_reap_stale("/sys/fs/cgroup/memory");
	cg_reap_stale("/sys/fs/cgroup/pids");
	if (is_cgroup2("/sys/fs/cgroup")) {
		/* pure v2: a child of our own group; move ourselves into a leaf
		 * so the parent may enable controllers for its children */
		char self[256], base[600];
		cg_self_v2(self, sizeof self);
		snprintf(base, sizeof base, "/sys/fs/cgroup%s", strcmp(self, "/") ? self : "");
		if (cg_mkdir(cg_v2_parent, sizeof cg_v2_parent, base, instance) < 0) {
			log_warn("cgroup v2: cannot create %s/%s: %s", base, instance, strerror(errno));
			return -1;
		}
		char sup[700], pid[32];
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		if (cg_mkdir(sup, sizeof sup, cg_v2_parent, "supervisor") == 0)
			cg_write(sup, "cgroup.procs", pid);
		if (cg_write(cg_v2_parent, "cgroup.subtree_control", "+memory +pids") < 0)
			log_warn("cgroup v2: cannot enable memory/pids controllers: %s", strerror(errno));
		cg_mode = CG_V2;
		return 0;
	}
	if (is_cgroup2("/sys/fs/cgroup/unified") && access("/sys/fs/cgroup/memory", W_OK) == 0 &&
	    access("/sys/fs/cgroup/pids", W_OK) == 0) {
		if (cg_mkdir(cg_v2_parent, sizeof cg_v2_parent, "/sys/fs/cgroup/unified", instance) < 0 ||
		    cg_mkdir(cg_mem_parent, sizeof cg_mem_parent, "/sys/fs/cgroup/memory", instance) < 0 ||
		    cg_mkdir(cg_pids_parent, sizeof cg_pids_parent, "/sys/fs/cgroup/pids", instance) < 0) {
			log_warn("cgroup hybrid: cannot create groups: %s", strerror(errno));
			return -1;
		}
		cg_mode = CG_HYBRID;
		return 0;
	}
	log_warn("cgroups: no writable v2 tree or v1 memory/pids controllers; limits off");
	return -1;
}

const char *cgroup_mode(void)
{
	return cg_mode == CG_V2 ? "v2" : cg_mode == CG_HYBRID ? "hybrid" : "none";
}

struct cgroup *cgroup_create(const char *name, uint64_t mem_max, uint64_t pids_max)
{
	if (cg_mode == CG_NONE)
		return NULL;
	struct cgroup *cg = xcalloc(1, sizeof *cg);
	char v[32];
	if (cg_mkdir(cg->v2, sizeof cg->v2, cg_v2_parent, name) < 0) {
		log_warn("cgroup %s: %s", name, strerror(errno));
		free(cg);
		return NULL;
	}
	int lim_mem = 0, lim_pids = 0;
	if (cg_mode == CG_V2) {
		if (mem_max) {
			snprintf(v, sizeof v, "%llu", (unsigned long long)mem_max);
			lim_mem = cg_write(cg->v2, "memory.max", v) == 0;
			cg_write(cg->v2, "memory.swap.max", "0");
		}
		if (pids_max) {
			snprintf(v, sizeof v, "%llu", (unsigned long long)pids_max);
			lim_pids = cg_write(cg->v2, "pids.max", v) == 0;
		}
	} else {
		if (cg_mkdir(cg->mem, sizeof cg->mem, cg_mem_parent, name) == 0 && mem_max) {
			snprintf(v, sizeof v, "%llu", (unsigned long long)mem_max);
			lim_mem = cg_write(cg->mem, "memory.limit_in_bytes", v) == 0;
		}
		if (cg_mkdir(cg->pids, sizeof cg->pids, cg_pids_parent, name) == 0 && pids_max) {
			snprintf(v, sizeof v, "%llu", (unsigned long long)pids_max);
			lim_pids = cg_write(cg->pids, "pids.max", v) == 0;
		}
	}
	snprintf(cg->limits, sizeof cg->limits, "%s%s%s", lim_mem ? "memory" : "",
		 lim_mem && lim_pids ? "," : "", lim_pids ? "pids" : "");
	return cg;
}

const char *cgroup_limits(const struct cgroup *cg) { return cg ? cg->limits : ""; }

int cgroup_v2_fd(struct cgroup *cg)
{
	return cg ? open(cg->v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}

int cgroup_attach(struct cgroup *cg, pid_t pid, int born_in_v2)
{
	if (!cg)
		return -1;
	char p[32];
	snprintf(p, sizeof p, "%d", (int)pid);
	/* moving a process between v2 groups waits for an RCU grace period
	 * (measured up to 24 ms here); being born there costs nothing */
	int rc = born_in_v2 ? 0 : cg_write(cg->v2, "cgroup.procs", p);
	if (cg->mem[0] && cg_write(cg->mem, "cgroup.procs", p) < 0)
		rc = -1;
	if (cg->pids[0] && cg_write(cg->pids, "cgroup.procs", p) < 0)
		rc = -1;
	return rc;
}

static int cg_each_proc(const char *dir, int sig)
{
	char path[700], *text;
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (read_file(path, &text, 1 << 20) < 0)
		return -1;
	int n = 0;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		pid_t pid = (pid_t)atoi(l);
		if (pid > 0) {
			n++;
			if (sig)
				kill(pid, sig);
		}
	}
	free(text);
	return n;
}

int cgroup_kill(struct cgroup *cg)
{
	if (!cg)
		return -1;
	if (cg_write(cg->v2, "cgroup.kill", "1") == 0)
		return 0;
	/* no cgroup.kill (old kernel): freeze-free best effort, repeated by destroy */
	cg_each_proc(cg->v2, SIGKILL);
	if (cg->pids[0])
		cg_each_proc(cg->pids, SIGKILL);
	return 0;
}

int cgroup_nprocs(struct cgroup *cg)
{
	if (!cg)
		return 0;
	int n = cg_each_proc(cg->v2, 0);
	return n < 0 ? 0 : n;
}

void cgroup_destroy(struct cgroup *cg)
{
	if (!cg)
		return;
	for (int i = 0; i < 200; i++) {
		cgroup_kill(cg);
		if (rmdir(cg->v2) == 0 || errno == ENOENT)
			break;
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (cg->mem[0])
		rmdir(cg->mem);
	if (cg->pids[0])
		rmdir(cg->pids);
	free(cg);
}

void cgroup_shutdown(void)
{
	if (cg_mode == CG_V2) {
		char sup[700];
		snprintf(sup, sizeof sup, "%s/supervisor", cg_v2_parent);
		/* we live in it: move back up before removing */
		char pid[32];
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		char parent[600];
		snprintf(parent, sizeof parent, "%s", cg_v2_parent);
		char *slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			cg_write(parent, "cgroup.procs", pid);
		}
		rmdir(sup);
	}
	if (cg_v2_parent[0])
		rmdir(cg_v2_parent);
	if (cg_mem_parent[0])
		rmdir(cg_mem_parent);
	if (cg_pids_parent[0])
		rmdir(cg_pids_parent);
	cg_mode = CG_NONE;
}
