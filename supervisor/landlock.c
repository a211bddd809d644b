#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "landlock.h"
#include "common/log.h"

#include <errno.h>
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
