/*
 * The confinement order, applied by every role right after exec and never
 * reordered: (files already open) -> user namespace when unprivileged ->
 * new namespaces -> chroot -> setgroups -> setresgid -> setresuid (verified)
 * -> capabilities and bounding set dropped -> rlimits -> no_new_privs ->
 * Landlock -> seccomp (last). Workers apply their class's filter right after
 * confine_apply, before they report ready; Landlock for a worker's run
 * directory comes per run and can only narrow further.
 * As root every failure is fatal; unprivileged, a layer the kernel refuses
 * is skipped and logged so /api/v1/security can say it is missing.
 */
#ifndef HD_CONFINE_H
#define HD_CONFINE_H

#include <sys/resource.h>
#include <sys/types.h>

#include "supervisor/sandbox_root.h"
#include "supervisor/seccomp_policy.h"

#define CONFINE_MAX_RLIMITS 8

struct confine_spec {
	const char *role;
	uid_t uid;               /* used when started as root */
	gid_t gid;
	const char *chroot_dir;  /* NULL: stay */
	/* Host directories made visible at the same path inside the new root
	 * (a read-only tmpfs mounted over chroot_dir in our mount namespace). */
	const char *binds[4];
	int nbinds;
	int unshare_flags;       /* CLONE_NEWNS | CLONE_NEWNET | ... */
	struct { int res; rlim_t max; } rlimits[CONFINE_MAX_RLIMITS];
	int nrlimits;
	int landlock_deny_all;           /* no filesystem access at all (Landlock) */
	/* exec class: a root built around the run's workspace instead of the
	 * empty chroot, with its own Landlock rules */
	const struct sandbox_root *root;
	const struct sc_policy *policy;  /* NULL: caller applies later */
};

/* Returns 0; fatal() on a failure that must not be survived. */
int confine_apply(const struct confine_spec *s);
/* Seccomp step on its own (the worker calls it when the class is known). */
int confine_seccomp(const struct sc_policy *p, int *notify_fd);
/* Landlock beneath dirfd (or nothing when dirfd < 0); notes the layer missing. */
void confine_landlock(int dirfd, unsigned rights);
/* The runtime layers this process could not get, comma-separated ("" if none). */
const char *confine_missing(void);

#endif
