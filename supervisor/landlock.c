#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "landlock.h"
#include "common/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/landlock.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int landlock_abi(void)
{
	long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

int landlock_restrict(int dirfd, unsigned rights)
{
	int abi = landlock_abi();
	if (abi < 1)
		return -1;
	/* every right the headers know (ABI 1-2); newer kernels only add more */
	uint64_t all = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		       LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
		       LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
		       LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
		       LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
		       LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		       LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	struct landlock_ruleset_attr attr = {.handled_access_fs = all};
	int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0)
		fatalx("landlock_create_ruleset");
	if (dirfd >= 0) {
		uint64_t allow = 0;
		if (rights & LL_READ)
			allow |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
		if (rights & LL_WRITE)
			allow |= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
				 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
				 LANDLOCK_ACCESS_FS_MAKE_DIR | (abi >= 2 ? LANDLOCK_ACCESS_FS_REFER : 0);
		struct landlock_path_beneath_attr pb = {.allowed_access = allow, .parent_fd = dirfd};
		if (syscall(__NR_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
			fatalx("landlock_add_rule");
	}
	if (syscall(__NR_landlock_restrict_self, rs, 0) < 0)
		fatalx("landlock_restrict_self");
	close(rs);
	return 0;
}

/* Newer than the Debian 12 headers: the values are the kernel's ABI. */
#define HD_LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define HD_LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define HD_LL_NET_CONNECT_TCP (1ULL << 1)
#define HD_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)  /* ABI 6 */
#define HD_LL_SCOPE_SIGNAL (1ULL << 1)

struct hd_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

int landlock_restrict_paths(const struct ll_path *paths, int n, unsigned flags, unsigned *applied)
{
	return landlock_restrict_paths_port(paths, n, flags, 0, applied);
}

struct hd_ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};
#define HD_LL_RULE_NET_PORT 2

int landlock_restrict_paths_port(const struct ll_path *paths, int n, unsigned flags, unsigned connect_port,
				 unsigned *applied)
{
	int abi = landlock_abi();
	*applied = 0;
	if (abi < 1)
		return -1;
	const uint64_t rd = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t wr = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
		      LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |
		      LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SOCK;
	uint64_t all = rd | wr | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		       LANDLOCK_ACCESS_FS_MAKE_BLOCK;
	if (abi >= 2) {
		all |= LANDLOCK_ACCESS_FS_REFER;
		wr |= LANDLOCK_ACCESS_FS_REFER;
	}
	if (abi >= 3) {
		all |= HD_LL_FS_TRUNCATE;
		wr |= HD_LL_FS_TRUNCATE;
	}
	struct hd_ll_ruleset_attr attr = {.handled_access_fs = all};
	size_t size = sizeof attr.handled_access_fs;
	if ((flags & LL_DENY_TCP) && abi >= 4) {
		/* handled and never granted: every TCP bind and connect fails */
		attr.handled_access_net = HD_LL_NET_BIND_TCP | HD_LL_NET_CONNECT_TCP;
		size = offsetof(struct hd_ll_ruleset_attr, scoped);
		*applied |= LL_DENY_TCP;
	}
	if ((flags & LL_SCOPE) && abi >= 6) {
		attr.scoped = HD_LL_SCOPE_ABSTRACT_UNIX | HD_LL_SCOPE_SIGNAL;
		size = sizeof attr;
		*applied |= LL_SCOPE;
	}
	int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		fatalx("landlock_create_ruleset");
	for (int i = 0; i < n; i++) {
		uint64_t allow = 0;
		if (paths[i].rights & LL_READ)
			allow |= rd;
		if (paths[i].rights & LL_WRITE)
			allow |= wr;
		if (paths[i].rights & LL_EXEC)
			allow |= LANDLOCK_ACCESS_FS_EXECUTE;
		struct landlock_path_beneath_attr pb = {.allowed_access = allow, .parent_fd = paths[i].fd};
		if (syscall(__NR_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
			fatalx("landlock_add_rule %d", i);
	}
	if (connect_port && (*applied & LL_DENY_TCP)) {
		/* the one port this domain may dial (its proxy) */
		struct hd_ll_net_port_attr np = {.allowed_access = HD_LL_NET_CONNECT_TCP, .port = connect_port};
		if (syscall(__NR_landlock_add_rule, rs, HD_LL_RULE_NET_PORT, &np, 0) < 0)
			fatalx("landlock_add_rule net port %u", connect_port);
	}
	if (syscall(__NR_landlock_restrict_self, rs, 0) < 0)
		fatalx("landlock_restrict_self");
	close(rs);
	return 0;
}
