#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "workspace.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "supervisor/proctable.h"
#include "supervisor/supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WS_META_MAX 8192
#define WS_HOLD_MAX 512
#define WS_RM_DEPTH 256

static int ws_root = -1;          /* <state>/workspaces */
static struct event *ws_janitor;
static struct { char id[WS_ID_LEN + 1]; int holds; int running; } ws_holds[WS_HOLD_MAX];

int ws_id_valid(const char *s)
{
	if (!s || strlen(s) != WS_ID_LEN || strncmp(s, "ws-", 3))
		return 0;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* Depth-first removal through descriptors: a symlink is unlinked, never
 * followed, so a tree a sandboxed command built cannot steer us outside. */
static void ws_rm_at(int dirfd, const char *name, int depth);

void ws_rm_tree(int dirfd, const char *name) { ws_rm_at(dirfd, name, 0); }

static void ws_rm_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (depth > WS_RM_DEPTH)
		return;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* a read-only directory (git objects) still has to go */
	fchmod(fd, 0700);
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			ws_rm_at(fd, e->d_name, depth + 1);
	closedir(d);
	close(fd);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		log_warn("workspace cleanup: rmdir %s: %s", name, strerror(errno));
}

void ws_remove(const char *id)
{
	if (!ws_id_valid(id) || ws_root < 0)
		return;
	char meta[64];
	snprintf(meta, sizeof meta, "%s.meta", id);
	/* the meta file goes first: a half-removed tree is no longer usable */
	unlinkat(ws_root, meta, 0);
	ws_rm_at(ws_root, id, 0);
}

static int ws_hold_slot(const char *id, int create)
{
	int free_slot = -1;
	for (int i = 0; i < WS_HOLD_MAX; i++) {
		if (ws_holds[i].holds && !strcmp(ws_holds[i].id, id))
			return i;
		if (!ws_holds[i].holds && free_slot < 0)
			free_slot = i;
	}
	if (!create || free_slot < 0)
		return -1;
	snprintf(ws_holds[free_slot].id, sizeof ws_holds[free_slot].id, "%s", id);
	ws_holds[free_slot].running = 0;
	return free_slot;
}

void ws_hold(const char *id, int delta)
{
	int i = ws_hold_slot(id, delta > 0);
	if (i < 0)
		return;
	ws_holds[i].holds += delta;
	if (ws_holds[i].holds <= 0) {
		ws_holds[i].holds = 0;
		ws_holds[i].running = 0;
	}
}

int ws_running(const char *id)
{
	int i = ws_hold_slot(id, 0);
	return i >= 0 && ws_holds[i].running;
}

void ws_set_running(const char *id, int on)
{
	int i = ws_hold_slot(id, 0);
	if (i >= 0)
		ws_holds[i].running = on;
}

static int ws_held(const char *id) { return ws_hold_slot(id, 0) >= 0; }

/* "key value" lines; values are single-line (checked on the way in). */
static int ws_meta_get(const char *text, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) || l[kl] != ' ')
			continue;
		const char *v = l + kl + 1, *end = strchr(v, '\n');
		size_t n = end ? (size_t)(end - v) : strlen(v);
		if (n >= outlen)
			return -1;
		memcpy(out, v, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

static int ws_meta_read(const char *id, char *buf, size_t buflen)
{
	char name[64];
	snprintf(name, sizeof name, "%s.meta", id);
	int fd = openat(ws_root, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, buflen - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int ws_create(const char *owner, const char *url, char id[WS_ID_LEN + 1], int *dirfd)
{
	if (ws_root < 0 || strchr(owner, '\n') || strchr(url, '\n') || strlen(url) >= WS_URL_MAX) {
		errno = EINVAL;
		return -1;
	}
	uint8_t rnd[12];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		return -1;
	char hex[25];
	hex_encode(rnd, sizeof rnd, hex);
	snprintf(id, WS_ID_LEN + 1, "ws-%s", hex);
	if (mkdirat(ws_root, id, 0700) < 0)
		return -1;
	int fd = openat(ws_root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ws_remove(id);
		return -1;
	}
	/* the worker uid writes the tree; as root the dir is handed to it */
	if (geteuid() == 0) {
		uid_t wuid = cfg.uid_base + role_table[ROLE_WORKER].uid_offset;
		if (fchown(fd, wuid, wuid) < 0) {
			close(fd);
			ws_remove(id);
			return -1;
		}
	}
	char *meta = xasprintf("owner %s\nurl %s\ncreated %lld\n", owner, url, (long long)now_unix());
	char name[64];
	snprintf(name, sizeof name, "%s.meta", id);
	int mfd = openat(ws_root, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int ok = mfd >= 0 && write(mfd, meta, strlen(meta)) == (ssize_t)strlen(meta) && fsync(mfd) == 0;
	if (mfd >= 0)
		close(mfd);
	free(meta);
	if (!ok) {
		close(fd);
		ws_remove(id);
		return -1;
	}
	*dirfd = fd;
	return 0;
}

int ws_open(const char *id, const char *owner, int *dirfd, char *url, size_t urllen, char *why, size_t whylen)
{
	char meta[WS_META_MAX], who[512];
	if (!ws_id_valid(id)) {
		snprintf(why, whylen, "malformed id");
		return -1;
	}
	if (ws_meta_read(id, meta, sizeof meta) < 0) {
		snprintf(why, whylen, "no such workspace");
		return -1;
	}
	if (ws_meta_get(meta, "owner", who, sizeof who) < 0 || strcmp(who, owner)) {
		snprintf(why, whylen, "owned by another subject");
		return -1;
	}
	if (ws_meta_get(meta, "url", url, urllen) < 0)
		url[0] = '\0';
	int fd = openat(ws_root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "directory missing");
		return -1;
	}
	/* last use: the TTL counts from here */
	char name[64];
	snprintf(name, sizeof name, "%s.meta", id);
	utimensat(ws_root, name, NULL, AT_SYMLINK_NOFOLLOW);
	*dirfd = fd;
	return 0;
}

int ws_expire(void)
{
	if (ws_root < 0)
		return 0;
	int dfd = dup(ws_root);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	/* a dup shares the offset the last sweep left at the end */
	rewinddir(d);
	int64_t now = now_unix_ms();
	char expired[64][WS_ID_LEN + 1];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		char id[WS_ID_LEN + 1];
		size_t len = strlen(e->d_name);
		if (len == WS_ID_LEN + 5 && !strcmp(e->d_name + WS_ID_LEN, ".meta")) {
			memcpy(id, e->d_name, WS_ID_LEN);
			id[WS_ID_LEN] = '\0';
			struct stat st;
			if (!ws_id_valid(id) || ws_held(id) || fstatat(ws_root, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			int64_t last = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
			if (now - last > cfg.workspace_ttl_ms)
				snprintf(expired[n++], WS_ID_LEN + 1, "%s", id);
		} else if (len == WS_ID_LEN && ws_id_valid(e->d_name) && !ws_held(e->d_name)) {
			/* a tree whose meta is gone was being removed when we stopped */
			char name[64];
			struct stat st;
			snprintf(name, sizeof name, "%s.meta", e->d_name);
			if (fstatat(ws_root, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
				snprintf(expired[n++], WS_ID_LEN + 1, "%s", e->d_name);
		}
	}
	closedir(d);
	for (int i = 0; i < n; i++) {
		char meta[WS_META_MAX], owner[512] = "";
		if (ws_meta_read(expired[i], meta, sizeof meta) == 0)
			ws_meta_get(meta, "owner", owner, sizeof owner);
		ws_remove(expired[i]);
		/* the owner goes into a JSON string: nothing that could end it */
		for (char *q = owner; *q; q++)
			if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
				*q = '_';
		char payload[700];
		snprintf(payload, sizeof payload, "{\"workspace\":\"%s\",\"owner\":\"%.400s\"}", expired[i], owner);
		sup_audit("workspace_expired", "system", "removed", NULL, NULL, 0, payload);
		log_info("workspace %s expired", expired[i]);
	}
	return n;
}

static void ws_janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	ws_expire();
}

int ws_init(void)
{
	char p[1200];
	snprintf(p, sizeof p, "%s/workspaces", cfg.state_dir);
	if (mkdir(p, 0711) < 0 && errno != EEXIST)
		fatalx("mkdir %s", p);
	ws_root = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ws_root < 0)
		fatalx("open %s", p);
	ws_expire();
	/* sweep at a tenth of the TTL, between 1 s and a minute */
	int64_t every = cfg.workspace_ttl_ms / 10;
	if (every < 1000)
		every = 1000;
	if (every > 60000)
		every = 60000;
	ws_janitor = event_new(sup.base, -1, EV_PERSIST, ws_janitor_cb, NULL);
	struct timeval tv = {(time_t)(every / 1000), (suseconds_t)(every % 1000) * 1000};
	event_add(ws_janitor, &tv);
	return 0;
}

void ws_shutdown(void)
{
	if (ws_janitor)
		event_free(ws_janitor);
	ws_janitor = NULL;
	if (ws_root >= 0)
		close(ws_root);
	ws_root = -1;
}

/* "/a/b" or "file:///a/b", canonical: no empty, "." or ".." segments. */
static const char *ws_remote_path(const char *url)
{
	const char *p = !strncmp(url, "file://", 7) ? url + 7 : url;
	if (p[0] != '/' || strlen(p) >= WS_URL_MAX)
		return NULL;
	for (const char *s = p + 1;; ) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		if ((len == 0 && slash) || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
			return NULL;
		if (!slash)
			break;
		s = slash + 1;
	}
	return p;
}

int ws_remote_open(const char *url, int *fd, char *why, size_t whylen)
{
	const char *path = ws_remote_path(url);
	if (!path) {
		if (strstr(url, "://") || strchr(url, '@'))
			snprintf(why, whylen, "only local and file:// remotes are served by this build; "
					      "https and ssh remotes need the egress role");
		else
			snprintf(why, whylen, "remote must be an absolute path or a file:// URL without "
					      "empty, '.' or '..' segments");
		return -1;
	}
	size_t plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	for (int i = 0; i < cfg.nrepo_roots; i++) {
		const char *root = cfg.repo_roots[i];
		size_t rl = strlen(root);
		if (plen < rl || strncmp(path, root, rl) || (plen > rl && path[rl] != '/' && rl > 1))
			continue;
		int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rfd < 0)
			continue;
		char rel[WS_URL_MAX];
		snprintf(rel, sizeof rel, "%.*s", (int)(plen - rl), path + rl);
		const char *r = rel;
		while (*r == '/')
			r++;
		/* beneath the root even through symlinks inside it */
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
		int f = (int)syscall(SYS_openat2, rfd, *r ? r : ".", &how, sizeof how);
		int e = errno;
		close(rfd);
		if (f < 0) {
			snprintf(why, whylen, "remote %s: %s", url, e == EXDEV ? "leaves its repository root" : strerror(e));
			return -1;
		}
		*fd = f;
		return 0;
	}
	snprintf(why, whylen, "local remote %s is not beneath a directory in HELMDECK_REPO_ROOTS", url);
	return -1;
}
