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
/* The kernel's Landlock ABI version, 0 if absent. */
int landlock_abi(void);

#endif
