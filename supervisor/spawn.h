/* fork + exec of a role: IPC on fixed fds, everything else closed, a clean
 * environment, new pid namespace where possible, and a release handshake
 * so the supervisor can place the child in its cgroup before it runs. */
#ifndef HD_SPAWN_H
#define HD_SPAWN_H

#include <sys/types.h>

#define SPAWN_MAX_FDS 4
#define SPAWN_FD_IPC 3    /* the supervisor channel */
#define SPAWN_FD_EXTRA 4  /* the api's listening socket; an exec worker's workspace */
#define SPAWN_MAX_ENV 8

struct spawn_req {
	const char *role;
	int fds[SPAWN_MAX_FDS];  /* placed at 3, 4, ... */
	int nfds;
	int pass_admin_password; /* only the vault sees it */
	/* more NAME=value entries (NULL-terminated); HELMDECK_RUN_* names are
	 * only ever set here, never inherited */
	const char *extra_env[SPAWN_MAX_ENV + 1];
	int cgroup_fd;           /* v2 group to be born into, or -1 */
	/* born in its own network namespace (root only), so the supervisor
	 * can set it up before the child runs */
	int new_netns;
};

struct spawned {
	pid_t pid;
	int release_fd;  /* write one byte to let the child exec */
	int pidns;       /* child got its own pid namespace */
	int netns;       /* and its own network namespace (new_netns) */
	int in_cgroup;   /* child was born in cgroup_fd */
};

void spawn_init(void);
int spawn_role(const struct spawn_req *r, struct spawned *out);
/* Let the child exec (after cgroup placement). */
void spawn_release(struct spawned *s);

#endif
