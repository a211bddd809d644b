#ifndef HD_NETNS_PROXY_H
#define HD_NETNS_PROXY_H

#include <stdint.h>
#include <sys/types.h>

#define NETNS_PROXY_PORT 3128   /* what a sandbox dials: its own 127.0.0.1 */

/* A listening socket on 127.0.0.1:port inside pid's network namespace,
 * with that namespace's loopback up. Refuses (EINVAL) when pid shares the
 * supervisor's namespace. -1 with errno. */
int netns_listener(pid_t pid, uint16_t port);

#define NETNS_SSH_PORT 2222     /* a git run's forward to its vetted sshd */

/* In a child: 1 when spawn_role gave it a network namespace of its own at
 * birth, so it must not make another and lose the listener put there. */
int netns_is_own(void);

#endif
