#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "wsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WS_WALK_DEPTH 64

/* One descriptor per level (the DIR owns it): workers have few to spare. */
static uint64_t ws_walk(DIR *d, dev_t dev, int depth, uint64_t acc, uint64_t limit)
{
	int fd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) && !(limit && acc > limit)) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		acc += (uint64_t)st.st_blocks * 512u;
		if (!S_ISDIR(st.st_mode) || st.st_dev != dev || depth >= WS_WALK_DEPTH)
			continue;
		int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *sd = sub >= 0 ? fdopendir(sub) : NULL;
		if (!sd) {
			if (sub >= 0)
				close(sub);
			continue;
		}
		acc = ws_walk(sd, dev, depth + 1, acc, limit);
		closedir(sd);
	}
	return acc;
}

uint64_t ws_usage_bytes(int dirfd, uint64_t limit)
{
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return 0;
	/* a fresh open: the caller's descriptor keeps its own position */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	uint64_t n = ws_walk(d, st.st_dev, 0, 0, limit);
	closedir(d);
	return n;
}

int ws_relpath_ok(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n == 0 || n > 4096 || p[0] == '/')
		return 0;
	for (const char *s = p; *s;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return 0;
		if (!slash)
			break;
		s = slash + 1;
	}
	return 1;
}
