/*
 * The way out of a sandbox that has no network: the supervisor steps into
 * the child's network namespace just long enough to bring its loopback up
 * and open a listening socket on 127.0.0.1 there, then hands that socket
 * to egress. A socket keeps the namespace it was made in, so egress,
 * outside, accepts the sandbox's connections and vets where they go.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netns_proxy.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

static int netns_lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

static int netns_listen_here(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int netns_listener(pid_t pid, uint16_t port)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	struct stat a, b;
	int fd = -1, e = 0;
	/* never the host's own namespace: that would open a port on the host */
	if (self < 0 || target < 0 || fstat(self, &a) < 0 || fstat(target, &b) < 0 ||
	    (a.st_dev == b.st_dev && a.st_ino == b.st_ino)) {
		e = self < 0 || target < 0 ? errno : EINVAL;
		goto out;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		e = errno;
		goto out;
	}
	if (netns_lo_up() < 0)
		e = errno;
	else if ((fd = netns_listen_here(port)) < 0)
		e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		fatalx("cannot return to the supervisor's network namespace");
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	errno = e;
	return fd;
}

int netns_is_own(void)
{
	/* set by spawn_role alone (inherited HELMDECK_RUN_* never pass) */
	const char *v = getenv("HELMDECK_RUN_NETNS");
	return v && !strcmp(v, "1");
}
