/*
 * The artifact TTL janitor: an artifact whose index entry is older than
 * HELMDECK_ARTIFACT_TTL is removed, object and index. Only names and mtimes
 * are read (the index JSON is a worker's text and stays unparsed here).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "supervisor/supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct event *janitor_ev;
static int art_fd = -1;

static int artifact_hex_key(const char *s, size_t n)
{
	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int artifact_expire(void)
{
	if (art_fd < 0)
		return 0;
	int idx = openat(art_fd, "index", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int obj = openat(art_fd, "objects", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = idx >= 0 ? fdopendir(dup(idx)) : NULL;
	int n = 0;
	if (d && obj >= 0) {
		int64_t now = now_unix_ms();
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			struct stat st;
			if (len != 69 || strcmp(e->d_name + 64, ".json") || !artifact_hex_key(e->d_name, 64) ||
			    fstatat(idx, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
				continue;
			int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
			if (now - mt <= cfg.artifact_ttl_ms)
				continue;
			char key[65];
			memcpy(key, e->d_name, 64);
			key[64] = '\0';
			unlinkat(obj, key, 0);
			if (unlinkat(idx, e->d_name, 0) == 0)
				n++;
		}
	}
	if (d)
		closedir(d);
	if (idx >= 0)
		close(idx);
	if (obj >= 0)
		close(obj);
	if (n) {
		char payload[64];
		snprintf(payload, sizeof payload, "{\"removed\":%d}", n);
		sup_audit("artifact_expired", "system", "removed", NULL, NULL, 0, payload);
		log_info("artifact janitor: removed %d expired artifacts", n);
	}
	return n;
}

static void artifact_janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	artifact_expire();
}

void artifact_janitor_init(void)
{
	char p[1200];
	snprintf(p, sizeof p, "%s/artifacts", cfg.state_dir);
	art_fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (art_fd < 0)
		fatalx("open %s", p);
	artifact_expire();
	/* a tenth of the TTL, between 1 s and an hour */
	int64_t every = cfg.artifact_ttl_ms / 10;
	every = every < 1000 ? 1000 : every > 3600000 ? 3600000 : every;
	janitor_ev = event_new(sup.base, -1, EV_PERSIST, artifact_janitor_cb, NULL);
	struct timeval tv = {(time_t)(every / 1000), (suseconds_t)(every % 1000) * 1000};
	event_add(janitor_ev, &tv);
}
