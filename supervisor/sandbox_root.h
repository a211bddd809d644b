/*
 * The root an exec-class worker runs in, built fresh for every invocation in
 * the worker's own mount namespace (step 4 of the confinement order, instead
 * of the empty chroot): a tmpfs holding read-only host /usr and its /bin,
 * /lib, /sbin links, a synthetic /etc (no host users, no host secrets), the
 * harmless /dev nodes, a fresh /proc for the worker's pid namespace, a
 * private /tmp, the workspace read-write at /workspace and, for repo.fetch
 * and repo.push, the git remote at /remote. Then the tmpfs is made
 * read-only and the process pivots into it (the host tree is detached).
 */
#ifndef HD_SANDBOX_ROOT_H
#define HD_SANDBOX_ROOT_H

#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_WS "/workspace"
#define SANDBOX_REMOTE "/remote"
#define SANDBOX_AGENT "/run/helmdeck"   /* ssh-agent socket + known_hosts of a git run */

struct sandbox_root {
	const char *mnt;      /* an empty directory to build on */
	int ws_fd;            /* the workspace, or -1 */
	int remote_fd;        /* the remote repository, or -1 */
	int remote_rw;
	int agent_fd;         /* ssh remotes: the run's agent directory, or -1 */
	uid_t uid;            /* the ids the worker will run as (for /etc/passwd) */
	gid_t gid;
	unsigned long tmp_bytes;
	/* browser sessions: more read-only host paths (NULL-terminated), the
	 * /dev/shm size (0: 16 MiB), and TCP allowed (direct network) */
	const char *const *extra_ro;
	unsigned long shm_bytes;
	int allow_tcp;
	unsigned tcp_connect_port;   /* with allow_tcp off: the one port it may dial */
	/* chromium's sandbox writes its children's uid_map/gid_map in /proc */
	int proc_writable;
};

/* Build and enter. Returns 0; -1 (errno set) when a mount was refused, which
 * is fatal as root. A layer that only an unprivileged kernel refuses
 * (/proc in a user namespace) is left out and named in *missing. */
int sandbox_root_enter(const struct sandbox_root *s, char *missing, size_t missing_len);
/* Landlock inside that root: read and execute everywhere (all of it is
 * read-only mounts), write only in /workspace, /tmp, /dev (and /remote for
 * a push); no TCP; no signals out of the domain. -1 without Landlock. */
int sandbox_root_landlock(const struct sandbox_root *s, unsigned *applied);

#endif
