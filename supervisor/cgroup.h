/*
 * One small interface over two cgroup layouts: pure v2 (modern hosts) and
 * the hybrid of v1 controllers (memory, pids) with an empty v2 tree that
 * still offers cgroup.kill (the development and CI machines).
 */
#ifndef HD_CGROUP_H
#define HD_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

struct cgroup;

/* Detect the layout and create this daemon's parent groups. */
int cgroup_init(const char *instance);
const char *cgroup_mode(void);  /* "v2", "hybrid", "none" */
void cgroup_shutdown(void);

/* A leaf with limits (0 = no limit). NULL when cgroups are unavailable. */
struct cgroup *cgroup_create(const char *name, uint64_t mem_max, uint64_t pids_max);
/* Move pid in. born_in_v2: the process was cloned straight into the v2
 * group (CLONE_INTO_CGROUP), so only the v1 controllers remain. */
int cgroup_attach(struct cgroup *cg, pid_t pid, int born_in_v2);
/* A descriptor of the v2 group for clone3(CLONE_INTO_CGROUP), or -1. */
int cgroup_v2_fd(struct cgroup *cg);
/* Kill every process in the leaf (cgroup.kill, or SIGKILL each member). */
int cgroup_kill(struct cgroup *cg);
int cgroup_nprocs(struct cgroup *cg);
/* Kill, wait briefly for the leaf to empty, remove. */
void cgroup_destroy(struct cgroup *cg);
/* Where the limits were applied: "memory,pids" or "" */
const char *cgroup_limits(const struct cgroup *cg);

#endif
