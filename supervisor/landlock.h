/*
 * Landlock: filesystem access for a confined process, limited to beneath
 * one directory descriptor (or to nothing). This closes what chroot cannot:
 * a descriptor opened outside the new root (the artifact directory handed to
 * a worker) would otherwise let `..` climb to the host's real root.
 */
#ifndef HD_LANDLOCK_H
#define HD_LANDLOCK_H

#include <stdint.h>

#define LL_READ  0x1
#define LL_WRITE 0x2   /* create, write, remove, rename below the directory */

/* dirfd < 0: no filesystem access at all. Returns 0, or -1 when the kernel
 * has no Landlock (the caller reports the missing layer). */
int landlock_restrict(int dirfd, unsigned rights);
#define LL_EXEC  0x4   /* execute files below the directory */

#define LL_DENY_TCP 0x1  /* ABI 4+: no TCP bind or connect at all */
#define LL_SCOPE    0x2  /* ABI 6+: no signals or abstract sockets outside the domain */

struct ll_path {
	int fd;             /* O_PATH or O_DIRECTORY descriptor */
	unsigned rights;    /* LL_READ | LL_WRITE | LL_EXEC */
};

/* Several directories with their rights, plus the network and scope limits
 * the kernel supports; what it lacks is silently not applied and reported
 * through *applied (LL_DENY_TCP | LL_SCOPE bits that took). -1: no Landlock. */
int landlock_restrict_paths(const struct ll_path *paths, int n, unsigned flags, unsigned *applied);
/* The same, and with LL_DENY_TCP still one TCP port that may be connected
 * to (0 = none). */
int landlock_restrict_paths_port(const struct ll_path *paths, int n, unsigned flags, unsigned connect_port,
				 unsigned *applied);

/* The kernel's Landlock ABI version, 0 if absent. */
int landlock_abi(void);

#endif
