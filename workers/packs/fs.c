/*
 * fs.list / fs.read / fs.write / fs.patch / fs.delete: file operations in a
 * workspace the worker holds only as a directory descriptor (ctx->ws_fd).
 * Every path an agent names passes ws_relpath_ok() and then resolves with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so
 * neither ".." nor a symlink reaches outside. Calls that change an entry
 * go through its resolved parent directory and the final name, so the last
 * component is never followed. Writes are atomic: a temp file in the same
 * directory, fsync, rename.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry.h"
#include "wsutil.h"
#include "common/b64.h"
#include "common/utf8.h"
#include "common/util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FS_PATH_MAX     4096
#define FS_LIST_MAX     5000
#define FS_LIST_DEPTH   32          /* one descriptor per level; workers get 64 */
#define FS_RM_DEPTH     40
#define FS_READ_DEFAULT (1u << 20)
#define FS_READ_MAX     (8u << 20)
#define FS_PATCH_MAX    (64u << 20) /* a patched file is held in memory twice */
#define FS_CHUNK        65536

/* ---------- paths ---------- */

struct fs_path {
	char rel[FS_PATH_MAX + 1];    /* no empty or "." components; "." = the root */
	char parent[FS_PATH_MAX + 1]; /* rel without its last component */
	const char *name;             /* the last component, inside rel */
};

static int fs_path_is_root(const struct fs_path *p) { return !strcmp(p->rel, "."); }

/* Dropping empty and "." components is exact because ".." never gets this
 * far; the result is the one name both resolved and shown back. */
static void fs_path_normalize(const char *s, struct fs_path *p)
{
	size_t o = 0;
	for (const char *c = s; *c;) {
		const char *end = strchrnul(c, '/');
		size_t len = (size_t)(end - c);
		if (len && !(len == 1 && c[0] == '.')) {
			if (o)
				p->rel[o++] = '/';
			memcpy(p->rel + o, c, len);
			o += len;
		}
		c = *end ? end + 1 : end;
	}
	if (!o)
		p->rel[o++] = '.';
	p->rel[o] = '\0';
	char *slash = strrchr(p->rel, '/');
	if (slash) {
		memcpy(p->parent, p->rel, (size_t)(slash - p->rel));
		p->parent[slash - p->rel] = '\0';
		p->name = slash + 1;
	} else {
		snprintf(p->parent, sizeof p->parent, ".");
		p->name = p->rel;
	}
}

/* The lexical checks; 0, or -1 with the error set. */
static int fs_path_parse(struct pack_ctx *ctx, const json_t *v, const char *dflt, struct fs_path *p)
{
	const char *s = v ? json_string_value(v) : dflt;
	if (!s) {
		pack_fail(ctx, "invalid_input", v ? "path must be a string" : "path is required");
		return -1;
	}
	size_t n = v ? json_string_length(v) : strlen(s);
	if (n == 0) {
		pack_fail(ctx, "invalid_input", "path is empty");
		return -1;
	}
	if (strlen(s) != n) {
		pack_fail(ctx, "invalid_input", "path contains a NUL byte");
		return -1;
	}
	if (n > FS_PATH_MAX) {
		pack_fail(ctx, "invalid_input", "path is longer than %d bytes", FS_PATH_MAX);
		return -1;
	}
	if (!ws_relpath_ok(s)) {
		pack_fail(ctx, "invalid_input", "path leaves the workspace: %s (absolute paths and '..' are refused)", s);
		return -1;
	}
	fs_path_normalize(s, p);
	return 0;
}

/* openat2 beneath dirfd. EAGAIN means a concurrent rename raced the
 * resolution: one retry, then it counts as an escape. */
static int fs_open_beneath(int dirfd, const char *path, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno == EINTR || (errno == EAGAIN && tries == 0))
			continue;
		return -1;
	}
}

static int fs_errno_escapes(int e) { return e == EXDEV || e == ELOOP || e == EAGAIN; }

static json_t *fs_fail_errno(struct pack_ctx *ctx, const char *path, int e)
{
	if (fs_errno_escapes(e))
		return pack_fail(ctx, "invalid_input", "path leaves the workspace: %s", path);
	switch (e) {
	case ENOENT:
		return pack_fail(ctx, "invalid_input", "no such file: %s", path);
	case ENOTDIR:
		return pack_fail(ctx, "invalid_input", "a component of the path is not a directory: %s", path);
	case EISDIR:
		return pack_fail(ctx, "invalid_input", "path is a directory: %s", path);
	case EACCES:
	case EPERM:
		return pack_fail(ctx, "invalid_input", "permission denied: %s", path);
	case ENAMETOOLONG:
		return pack_fail(ctx, "invalid_input", "a component of the path is too long: %s", path);
	case ENOSPC:
	case EDQUOT:
		return pack_fail(ctx, "resource_exhausted", "no space left for %s: %s", path, strerror(e));
	default:
		return pack_fail(ctx, "handler_failed", "%s: %s", path, strerror(e));
	}
}

static const char *fs_type_name(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

/* A JSON string for a name from the disk, which need not be UTF-8. */
static json_t *fs_json_name(const char *s)
{
	size_t n = strlen(s);
	if (utf8_valid((const uint8_t *)s, n))
		return json_stringn(s, n);
	size_t ol;
	char *clean = utf8_sanitize((const uint8_t *)s, n, &ol);
	json_t *j = json_stringn(clean, ol);
	free(clean);
	return j;
}

/* ---------- hashing and I/O ---------- */

static int fs_sha256_hex(const uint8_t *data, size_t len, char hex[65])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	if (EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
		return -1;
	hex_encode(d, 32, hex);
	return 0;
}

static int fs_write_all(int fd, const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Up to want bytes into buf: fewer only at end of file. */
static ssize_t fs_read_full(int fd, uint8_t *buf, size_t want)
{
	int err = 0;
	size_t got = read_upto(fd, buf, want, &err);
	return err ? -1 : (ssize_t)got;
}

/* The first `want` bytes into buf, and the digest and length of the whole
 * file, streamed so a large file never sits in memory. */
static int fs_read_hashed(int fd, uint8_t *buf, size_t want, size_t *got, uint64_t *total, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		errno = EIO;
		return -1;
	}
	int rc = -1;
	uint8_t *chunk = NULL;
	ssize_t n = fs_read_full(fd, buf, want);
	if (n < 0 || EVP_DigestUpdate(md, buf, (size_t)n) != 1)
		goto out;
	*got = (size_t)n;
	*total = (uint64_t)n;
	chunk = xmalloc(FS_CHUNK);
	for (;;) {
		ssize_t r = fs_read_full(fd, chunk, FS_CHUNK);
		if (r < 0 || EVP_DigestUpdate(md, chunk, (size_t)r) != 1)
			goto out;
		if (r == 0)
			break;
		*total += (uint64_t)r;
	}
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	if (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32)
		goto out;
	hex_encode(d, 32, hex);
	rc = 0;
out:
	if (rc < 0 && !errno)
		errno = EIO;
	free(chunk);
	EVP_MD_CTX_free(md);
	return rc;
}

static int fs_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of a directory, without "." and "..". Read through a fresh
 * open of "." so the caller's descriptor keeps its own offset. NULL with
 * errno on failure. */
static char **fs_dir_names(int dirfd, size_t *count)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	size_t n = 0, cap = 32;
	char **v = xmalloc(cap * sizeof *v);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		v[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof *v, fs_name_cmp);
	*count = n;
	return v;
}

static void fs_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---------- the file an operation replaces ---------- */

struct fs_target {
	int pfd;            /* parent directory; -1 while it does not exist */
	int exists;
	mode_t mode;        /* permission bits the new file gets */
	uint64_t old_disk;  /* bytes the replaced file occupies on disk */
};

/* Resolve the parent and look at the last component without following it.
 * A missing parent is not an error here (pfd stays -1): fs.write may
 * create it. A symlink is refused rather than replaced by a file. */
static int fs_target_open(struct pack_ctx *ctx, const struct fs_path *p, struct fs_target *t)
{
	*t = (struct fs_target){.pfd = -1, .mode = 0644};
	if (fs_path_is_root(p)) {
		pack_fail(ctx, "invalid_input", "path names the workspace root, not a file");
		return -1;
	}
	t->pfd = fs_open_beneath(ctx->ws_fd, p->parent, O_RDONLY | O_DIRECTORY);
	if (t->pfd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		if (e == ENOTDIR)
			pack_fail(ctx, "invalid_input", "parent is not a directory: %s", p->parent);
		else
			fs_fail_errno(ctx, p->rel, e);
		return -1;
	}
	struct stat st;
	if (fstatat(t->pfd, p->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		fs_fail_errno(ctx, p->rel, errno);
	} else if (S_ISDIR(st.st_mode)) {
		pack_fail(ctx, "invalid_input", "path is a directory: %s", p->rel);
	} else if (S_ISLNK(st.st_mode)) {
		int fd = fs_open_beneath(ctx->ws_fd, p->rel, O_PATH);
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (fd < 0 && fs_errno_escapes(e))
			fs_fail_errno(ctx, p->rel, e);
		else
			pack_fail(ctx, "invalid_input", "path is a symlink: %s (name the file it points to)", p->rel);
	} else if (!S_ISREG(st.st_mode)) {
		pack_fail(ctx, "invalid_input", "not a regular file: %s", p->rel);
	} else {
		t->exists = 1;
		/* set-id and sticky bits are not carried over to rewritten content */
		t->mode = st.st_mode & 0777;
		t->old_disk = (uint64_t)st.st_blocks * 512u;
		return 0;
	}
	close(t->pfd);
	t->pfd = -1;
	return -1;
}

/* mkdirat each missing component of the parent; every step resolves the
 * whole prefix from the root again, so a symlink planted on the way still
 * cannot lead outside. */
static int fs_make_parent(struct pack_ctx *ctx, const struct fs_path *p, struct fs_target *t)
{
	char prefix[FS_PATH_MAX + 1];
	int fd = fs_open_beneath(ctx->ws_fd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		fs_fail_errno(ctx, ".", errno);
		return -1;
	}
	size_t n = strlen(p->parent), start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (p->parent[i] != '/' && p->parent[i] != '\0')
			continue;
		memcpy(prefix, p->parent, i);
		prefix[i] = '\0';
		int next = fs_open_beneath(ctx->ws_fd, prefix, O_RDONLY | O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(fd, prefix + start, 0755) < 0 && errno != EEXIST) {
				fs_fail_errno(ctx, prefix, errno);
				close(fd);
				return -1;
			}
			next = fs_open_beneath(ctx->ws_fd, prefix, O_RDONLY | O_DIRECTORY);
		}
		if (next < 0) {
			if (errno == ENOTDIR)
				pack_fail(ctx, "invalid_input", "not a directory: %s", prefix);
			else
				fs_fail_errno(ctx, prefix, errno);
			close(fd);
			return -1;
		}
		close(fd);
		fd = next;
		start = i + 1;
	}
	t->pfd = fd;
	return 0;
}

/* The workspace cap: usage now, minus the file replaced, plus the new
 * content. Counting stops once it passes cap + old, which is already over. */
static int fs_cap_ok(struct pack_ctx *ctx, uint64_t old_disk, uint64_t new_len)
{
	uint64_t cap = ctx->ws_max_bytes;
	if (!cap)
		return 1;
	uint64_t limit = cap + old_disk < cap ? UINT64_MAX : cap + old_disk;
	uint64_t used = ws_usage_bytes(ctx->ws_fd, limit);
	uint64_t rest = used > old_disk ? used - old_disk : 0;
	uint64_t after = rest + new_len < rest ? UINT64_MAX : rest + new_len;
	if (after <= cap)
		return 1;
	char detail[160];
	snprintf(detail, sizeof detail, "used=%llu new=%llu cap=%llu", (unsigned long long)used,
		 (unsigned long long)new_len, (unsigned long long)cap);
	pack_fail_detail(ctx, "resource_exhausted", detail,
			 "writing %llu bytes would bring the workspace to %llu bytes, above its cap of %llu (%llu in use)",
			 (unsigned long long)new_len, (unsigned long long)after, (unsigned long long)cap,
			 (unsigned long long)used);
	return 0;
}

/* Atomic replace: a temp file beside the target (O_EXCL, random name), the
 * mode, fsync, renameat over the name. Nothing changes on failure. */
static int fs_commit(struct pack_ctx *ctx, const struct fs_target *t, const struct fs_path *p,
		     const uint8_t *data, size_t len)
{
	uint8_t rnd[8];
	char hex[17], tmp[32];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		fs_fail_errno(ctx, p->rel, errno);
		return -1;
	}
	hex_encode(rnd, sizeof rnd, hex);
	snprintf(tmp, sizeof tmp, ".hd-tmp-%s", hex);
	int fd = openat(t->pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fs_fail_errno(ctx, p->rel, errno);
		return -1;
	}
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, t->mode) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(t->pfd, tmp, 0);
		fs_fail_errno(ctx, p->rel, e);
		return -1;
	}
	if (close(fd) < 0 || renameat(t->pfd, tmp, t->pfd, p->name) < 0) {
		int e = errno;
		unlinkat(t->pfd, tmp, 0);
		fs_fail_errno(ctx, p->rel, e);
		return -1;
	}
	/* the rename is durable once the directory is; some filesystems
	 * refuse fsync on a directory, and the data is already safe */
	(void)fsync(t->pfd);
	return 0;
}

/* ---------- fs.list ---------- */

struct fs_entry {
	char *path;
	const char *type;
	uint64_t size;
};

struct fs_walk {
	const char *root;     /* the listed directory, workspace-relative */
	const char *glob;
	int glob_path;        /* the glob has a '/': match the relative path */
	int recursive;
	dev_t dev;
	struct fs_entry *v;
	size_t n, cap;
	int truncated;
};

static int fs_walk_match(const struct fs_walk *w, const char *name, const char *rel)
{
	if (!w->glob)
		return 1;
	return w->glob_path ? fnmatch(w->glob, rel, FNM_PATHNAME) == 0 : fnmatch(w->glob, name, 0) == 0;
}

/* 1 when the entry cap is reached and the walk must stop. */
static int fs_walk_add(struct fs_walk *w, const char *rel, const struct stat *st)
{
	if (w->n == FS_LIST_MAX) {
		w->truncated = 1;
		return 1;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = xrealloc(w->v, w->cap * sizeof *w->v);
	}
	struct fs_entry *e = &w->v[w->n++];
	e->path = strcmp(w->root, ".") ? xasprintf("%s/%s", w->root, rel) : xstrdup(rel);
	e->type = fs_type_name(st->st_mode);
	e->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? (uint64_t)st->st_size : 0;
	return 0;
}

static int fs_walk_dir(struct fs_walk *w, int dirfd, const char *rel, int depth);

/* Never through a symlink (O_NOFOLLOW), into .git, or across a mount. */
static int fs_walk_descend(struct fs_walk *w, int dirfd, const char *name, const char *rel,
			   const struct stat *st, int depth)
{
	if (!w->recursive || !S_ISDIR(st->st_mode) || !strcmp(name, ".git") || st->st_dev != w->dev)
		return 0;
	if (depth + 1 >= FS_LIST_DEPTH) {
		w->truncated = 1;
		return 0;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;  /* unreadable below the listed directory: skipped */
	int stop = fs_walk_dir(w, fd, rel, depth + 1);
	close(fd);
	return stop;
}

static int fs_walk_dir(struct fs_walk *w, int dirfd, const char *rel, int depth)
{
	size_t n;
	char **names = fs_dir_names(dirfd, &n);
	if (!names)
		return 0;
	int stop = 0;
	for (size_t i = 0; i < n && !stop; i++) {
		char *sub = rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		struct stat st;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (fs_walk_match(w, names[i], sub))
				stop = fs_walk_add(w, sub, &st);
			if (!stop)
				stop = fs_walk_descend(w, dirfd, names[i], sub, &st, depth);
		}
		free(sub);
	}
	fs_names_free(names, n);
	return stop;
}

static int fs_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fs_entry *)a)->path, ((const struct fs_entry *)b)->path);
}

static json_t *fs_list(const json_t *in, struct pack_ctx *ctx)
{
	struct fs_path p;
	if (fs_path_parse(ctx, json_object_get(in, "path"), ".", &p) < 0)
		return NULL;
	const json_t *g = json_object_get(in, "glob");
	const json_t *r = json_object_get(in, "recursive");
	if ((g && !json_is_string(g)) || (r && !json_is_boolean(r)))
		return pack_fail(ctx, "invalid_input", "glob must be a string and recursive a boolean");
	if (g && (json_string_length(g) == 0 || strlen(json_string_value(g)) != json_string_length(g)))
		return pack_fail(ctx, "invalid_input", "glob must be a non-empty string without NUL bytes");
	int fd = fs_open_beneath(ctx->ws_fd, p.rel, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (errno == ENOTDIR)
			return pack_fail(ctx, "invalid_input", "not a directory: %s", p.rel);
		return fs_fail_errno(ctx, p.rel, errno);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fs_fail_errno(ctx, p.rel, e);
	}
	struct fs_walk w = {
		.root = p.rel,
		.glob = json_string_value(g),
		.glob_path = g && strchr(json_string_value(g), '/') != NULL,
		.recursive = json_is_true(r),
		.dev = st.st_dev,
	};
	fs_walk_dir(&w, fd, NULL, 0);
	close(fd);
	if (w.n)
		qsort(w.v, w.n, sizeof *w.v, fs_entry_cmp);
	json_t *arr = json_array();
	for (size_t i = 0; i < w.n; i++) {
		json_t *e = json_pack("{s:o,s:s,s:I}", "path", fs_json_name(w.v[i].path), "type", w.v[i].type,
				      "size", (json_int_t)w.v[i].size);
		if (e)
			json_array_append_new(arr, e);
		free(w.v[i].path);
	}
	free(w.v);
	return json_pack("{s:s,s:o,s:I,s:b}", "path", p.rel, "entries", arr, "count",
			 (json_int_t)json_array_size(arr), "truncated", w.truncated);
}

/* ---------- fs.read ---------- */

/* Text when the bytes returned are UTF-8 (cut back to a whole character
 * when the cap split one), else base64 of everything read. */
static json_t *fs_read_content(const uint8_t *buf, size_t got, int truncated, const char **enc)
{
	size_t k = truncated ? utf8_cut(buf, got) : got;
	if (utf8_valid(buf, k)) {
		json_t *s = json_stringn((const char *)buf, k);
		if (s) {
			*enc = "utf-8";
			return s;
		}
	}
	char *b = xmalloc(b64_encoded_len(got, 0) + 1);
	b64_encode(buf, got, b, 0);
	json_t *s = json_string(b);
	free(b);
	*enc = "base64";
	return s;
}

static json_t *fs_read(const json_t *in, struct pack_ctx *ctx)
{
	struct fs_path p;
	if (fs_path_parse(ctx, json_object_get(in, "path"), NULL, &p) < 0)
		return NULL;
	size_t max = FS_READ_DEFAULT;
	const json_t *mb = json_object_get(in, "max_bytes");
	if (mb) {
		json_int_t v = json_integer_value(mb);
		if (!json_is_integer(mb) || v < 1 || v > (json_int_t)FS_READ_MAX)
			return pack_fail(ctx, "invalid_input", "max_bytes must be an integer from 1 to %u", FS_READ_MAX);
		max = (size_t)v;
	}
	/* O_NONBLOCK: opening a FIFO must not hang the run */
	int fd = fs_open_beneath(ctx->ws_fd, p.rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fs_fail_errno(ctx, p.rel, errno);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fs_fail_errno(ctx, p.rel, e);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (S_ISDIR(st.st_mode))
			return pack_fail(ctx, "invalid_input", "path is a directory: %s (use fs.list)", p.rel);
		return pack_fail(ctx, "invalid_input", "not a regular file: %s", p.rel);
	}
	size_t want = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
	uint8_t *buf = xmalloc(want + 1);
	size_t got = 0;
	uint64_t total = 0;
	char hex[65];
	errno = 0;
	int rc = fs_read_hashed(fd, buf, want, &got, &total, hex);
	int e = errno;
	close(fd);
	if (rc < 0) {
		free(buf);
		return fs_fail_errno(ctx, p.rel, e);
	}
	const char *enc;
	json_t *content = fs_read_content(buf, got, total > got, &enc);
	free(buf);
	return json_pack("{s:s,s:o,s:s,s:I,s:s,s:b}", "path", p.rel, "content", content, "encoding", enc,
			 "size", (json_int_t)total, "sha256", hex, "truncated", total > got);
}

/* ---------- fs.write ---------- */

static int fs_content_decode(struct pack_ctx *ctx, const json_t *cv, const char *enc, uint8_t **out, size_t *len)
{
	const char *s = json_string_value(cv);
	if (!s) {
		pack_fail(ctx, "invalid_input", "content must be a string");
		return -1;
	}
	size_t n = json_string_length(cv);
	if (!strcmp(enc, "utf-8")) {
		*out = xmalloc(n + 1);
		memcpy(*out, s, n);
		*len = n;
		return 0;
	}
	if (!strcmp(enc, "base64")) {
		uint8_t *b = xmalloc(n / 4 * 3 + 6);
		ssize_t dl = b64_decode(s, n, b, 0);
		if (dl < 0) {
			free(b);
			pack_fail(ctx, "invalid_input", "content is not valid base64");
			return -1;
		}
		*out = b;
		*len = (size_t)dl;
		return 0;
	}
	pack_fail(ctx, "invalid_input", "encoding must be \"utf-8\" or \"base64\"");
	return -1;
}

static json_t *fs_write(const json_t *in, struct pack_ctx *ctx)
{
	struct fs_path p;
	if (fs_path_parse(ctx, json_object_get(in, "path"), NULL, &p) < 0)
		return NULL;
	const json_t *ev = json_object_get(in, "encoding");
	const json_t *cd = json_object_get(in, "create_dirs");
	if ((ev && !json_is_string(ev)) || (cd && !json_is_boolean(cd)))
		return pack_fail(ctx, "invalid_input", "encoding must be a string and create_dirs a boolean");
	uint8_t *data;
	size_t len;
	if (fs_content_decode(ctx, json_object_get(in, "content"), ev ? json_string_value(ev) : "utf-8", &data, &len) < 0)
		return NULL;
	json_t *out = NULL;
	struct fs_target t;
	char hex[65];
	if (fs_target_open(ctx, &p, &t) < 0)
		goto done;
	if (t.pfd < 0 && !json_is_true(cd)) {
		pack_fail(ctx, "invalid_input", "parent directory does not exist: %s (set create_dirs to create it)", p.parent);
		goto done;
	}
	/* the cap is checked before any directory is made: refused means untouched */
	if (!fs_cap_ok(ctx, t.old_disk, len))
		goto done;
	if (t.pfd < 0 && fs_make_parent(ctx, &p, &t) < 0)
		goto done;
	if (fs_commit(ctx, &t, &p, data, len) < 0)
		goto done;
	if (fs_sha256_hex(data, len, hex) < 0) {
		pack_fail(ctx, "handler_failed", "SHA-256 failed");
		goto done;
	}
	out = json_pack("{s:s,s:I,s:s,s:b}", "path", p.rel, "bytes_written", (json_int_t)len, "sha256", hex,
			"created", !t.exists);
done:
	if (t.pfd >= 0)
		close(t.pfd);
	free(data);
	return out;
}

/* ---------- fs.patch ---------- */

/* Non-overlapping occurrences, left to right. */
static size_t fs_count(const uint8_t *h, size_t hl, const uint8_t *s, size_t sl)
{
	size_t c = 0;
	const uint8_t *end = h + hl;
	for (const uint8_t *q = h; (q = memmem(q, (size_t)(end - q), s, sl)) != NULL; q += sl)
		c++;
	return c;
}

/* h with its `count` occurrences of s replaced by r; NULL when the result
 * would pass FS_PATCH_MAX. */
static uint8_t *fs_replace(const uint8_t *h, size_t hl, const uint8_t *s, size_t sl, const uint8_t *r, size_t rl,
			   size_t count, size_t *outlen)
{
	size_t base = hl - count * sl;  /* count * sl <= hl: the matches are disjoint */
	if (rl && count > (FS_PATCH_MAX - base) / rl)
		return NULL;
	size_t n = base + count * rl;
	uint8_t *out = xmalloc(n + 1), *o = out;
	const uint8_t *q = h, *end = h + hl;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *m = memmem(q, (size_t)(end - q), s, sl);
		if (!m)
			break;
		memcpy(o, q, (size_t)(m - q));
		o += m - q;
		memcpy(o, r, rl);
		o += rl;
		q = m + sl;
	}
	memcpy(o, q, (size_t)(end - q));
	o += end - q;
	*outlen = (size_t)(o - out);
	return out;
}

struct fs_buf {
	uint8_t *p;
	size_t n;
};

static json_t *fs_fail_too_big(struct pack_ctx *ctx, const char *path)
{
	return pack_fail(ctx, "resource_exhausted", "patched %s would be larger than %u bytes", path, FS_PATCH_MAX);
}

static int fs_patch_search(struct pack_ctx *ctx, struct fs_buf *b, const json_t *search, const json_t *replace,
			   json_int_t want, const char *path, size_t *replaced)
{
	const uint8_t *s = (const uint8_t *)json_string_value(search);
	size_t sl = json_string_length(search);
	size_t found = fs_count(b->p, b->n, s, sl);
	if ((want == 0 && found == 0) || (want > 0 && found != (size_t)want)) {
		char detail[64];
		snprintf(detail, sizeof detail, "found=%zu", found);
		if (want == 0)
			pack_fail_detail(ctx, "schema_mismatch", detail, "search text found 0 times, expected at least 1");
		else
			pack_fail_detail(ctx, "schema_mismatch", detail, "search text found %zu times, expected %lld",
					 found, (long long)want);
		return -1;
	}
	size_t nl;
	uint8_t *n = fs_replace(b->p, b->n, s, sl, (const uint8_t *)json_string_value(replace),
				json_string_length(replace), found, &nl);
	if (!n) {
		fs_fail_too_big(ctx, path);
		return -1;
	}
	free(b->p);
	b->p = n;
	b->n = nl;
	*replaced = found;
	return 0;
}

/* In order, each on the result of the one before; any failure leaves the
 * file as it was because nothing is written until all have applied. */
static int fs_patch_edits(struct pack_ctx *ctx, struct fs_buf *b, const json_t *edits, const char *path,
			  size_t *replaced)
{
	size_t i;
	const json_t *e;
	json_array_foreach(edits, i, e) {
		const json_t *o = json_object_get(e, "oldText"), *nw = json_object_get(e, "newText");
		const uint8_t *s = (const uint8_t *)json_string_value(o);
		size_t sl = json_string_length(o);
		size_t found = fs_count(b->p, b->n, s, sl);
		if (found != 1) {
			char detail[64];
			snprintf(detail, sizeof detail, "edit=%zu found=%zu", i, found);
			pack_fail_detail(ctx, "schema_mismatch", detail, "edits[%zu]: oldText found %zu times, expected 1",
					 i, found);
			return -1;
		}
		size_t nl;
		uint8_t *n = fs_replace(b->p, b->n, s, sl, (const uint8_t *)json_string_value(nw),
					json_string_length(nw), 1, &nl);
		if (!n) {
			fs_fail_too_big(ctx, path);
			return -1;
		}
		free(b->p);
		b->p = n;
		b->n = nl;
	}
	*replaced = json_array_size(edits);
	return 0;
}

/* Which of the two shapes the input has; -1 with the error set when it
 * has neither, both, or a malformed one. */
enum fs_patch_shape { FS_PATCH_SEARCH, FS_PATCH_EDITS };

static int fs_patch_shape(struct pack_ctx *ctx, const json_t *in, json_int_t *want)
{
	const json_t *search = json_object_get(in, "search"), *replace = json_object_get(in, "replace");
	const json_t *occ = json_object_get(in, "occurrences"), *edits = json_object_get(in, "edits");
	int simple = search || replace || occ;
	if (simple == (edits != NULL)) {
		pack_fail(ctx, "invalid_input", "give either search and replace (with optional occurrences) or edits, not %s",
			  simple ? "both" : "neither");
		return -1;
	}
	if (simple) {
		if (!json_is_string(search) || !json_is_string(replace)) {
			pack_fail(ctx, "invalid_input", "search and replace must both be given as strings");
			return -1;
		}
		if (json_string_length(search) == 0) {
			pack_fail(ctx, "invalid_input", "search must not be empty");
			return -1;
		}
		*want = occ ? json_integer_value(occ) : 1;
		if (occ && (!json_is_integer(occ) || *want < 0)) {
			pack_fail(ctx, "invalid_input", "occurrences must be an integer >= 0");
			return -1;
		}
		return FS_PATCH_SEARCH;
	}
	if (!json_is_array(edits) || json_array_size(edits) == 0) {
		pack_fail(ctx, "invalid_input", "edits must be a non-empty array");
		return -1;
	}
	size_t i;
	const json_t *e;
	json_array_foreach(edits, i, e) {
		const json_t *o = json_object_get(e, "oldText"), *nw = json_object_get(e, "newText");
		if (!json_is_string(o) || !json_is_string(nw)) {
			pack_fail(ctx, "invalid_input", "edits[%zu] needs oldText and newText strings", i);
			return -1;
		}
		if (json_string_length(o) == 0) {
			pack_fail(ctx, "invalid_input", "edits[%zu].oldText must not be empty", i);
			return -1;
		}
	}
	return FS_PATCH_EDITS;
}

/* The whole current content, at most FS_PATCH_MAX bytes. */
static int fs_patch_load(struct pack_ctx *ctx, const struct fs_target *t, const struct fs_path *p, struct fs_buf *b)
{
	int fd = openat(t->pfd, p->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		fs_fail_errno(ctx, p->rel, errno);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		pack_fail(ctx, "invalid_input", "not a regular file: %s", p->rel);
		return -1;
	}
	if ((uint64_t)st.st_size > FS_PATCH_MAX) {
		close(fd);
		pack_fail(ctx, "resource_exhausted", "%s is %lld bytes; fs.patch handles files up to %u bytes", p->rel,
			  (long long)st.st_size, FS_PATCH_MAX);
		return -1;
	}
	b->p = xmalloc((size_t)st.st_size + 1);
	ssize_t n = fs_read_full(fd, b->p, (size_t)st.st_size);
	int e = errno;
	close(fd);
	if (n < 0) {
		free(b->p);
		b->p = NULL;
		fs_fail_errno(ctx, p->rel, e);
		return -1;
	}
	b->n = (size_t)n;
	return 0;
}

static json_t *fs_patch(const json_t *in, struct pack_ctx *ctx)
{
	struct fs_path p;
	if (fs_path_parse(ctx, json_object_get(in, "path"), NULL, &p) < 0)
		return NULL;
	json_int_t want = 1;
	int shape = fs_patch_shape(ctx, in, &want);
	if (shape < 0)
		return NULL;
	struct fs_target t;
	if (fs_target_open(ctx, &p, &t) < 0)
		return NULL;
	json_t *out = NULL;
	struct fs_buf b = {0};
	size_t replaced = 0;
	char hex[65];
	if (!t.exists) {
		pack_fail(ctx, "invalid_input", "no such file: %s", p.rel);
		goto done;
	}
	if (fs_patch_load(ctx, &t, &p, &b) < 0)
		goto done;
	int rc = shape == FS_PATCH_SEARCH
		? fs_patch_search(ctx, &b, json_object_get(in, "search"), json_object_get(in, "replace"), want, p.rel, &replaced)
		: fs_patch_edits(ctx, &b, json_object_get(in, "edits"), p.rel, &replaced);
	if (rc < 0 || !fs_cap_ok(ctx, t.old_disk, b.n) || fs_commit(ctx, &t, &p, b.p, b.n) < 0)
		goto done;
	if (fs_sha256_hex(b.p, b.n, hex) < 0) {
		pack_fail(ctx, "handler_failed", "SHA-256 failed");
		goto done;
	}
	out = json_pack("{s:s,s:I,s:s,s:I}", "path", p.rel, "replacements", (json_int_t)replaced, "sha256", hex,
			"size", (json_int_t)b.n);
done:
	free(b.p);
	if (t.pfd >= 0)
		close(t.pfd);
	return out;
}

/* ---------- fs.delete ---------- */

struct fs_rm {
	dev_t dev;
	int too_deep;
};

/* Empty the directory dirfd: entries by name, subdirectories opened
 * O_NOFOLLOW so a symlink is unlinked, never entered. Names are read
 * first, so each level holds one descriptor. -1 with errno on failure. */
static int fs_rmtree(struct fs_rm *rm, int dirfd, int depth)
{
	if (depth >= FS_RM_DEPTH) {
		rm->too_deep = 1;
		errno = ELOOP;
		return -1;
	}
	size_t n;
	char **names = fs_dir_names(dirfd, &n);
	if (!names)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct stat st;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = -1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(dirfd, names[i], 0) < 0 && errno != ENOENT)
				rc = -1;
			continue;
		}
		if (st.st_dev != rm->dev) {
			errno = EXDEV;
			rc = -1;
			continue;
		}
		int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = -1;
			continue;
		}
		rc = fs_rmtree(rm, sub, depth + 1);
		int e = errno;
		close(sub);
		errno = e;
		if (rc == 0 && unlinkat(dirfd, names[i], AT_REMOVEDIR) < 0)
			rc = -1;
	}
	int e = errno;
	fs_names_free(names, n);
	errno = e;
	return rc;
}

/* 0 when the directory is gone; -1 with the error set. */
static int fs_delete_dir(struct pack_ctx *ctx, int pfd, const struct fs_path *p, const struct stat *st, int recursive)
{
	if (unlinkat(pfd, p->name, AT_REMOVEDIR) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST) {
		fs_fail_errno(ctx, p->rel, errno);
		return -1;
	}
	if (!recursive) {
		pack_fail(ctx, "invalid_input", "directory is not empty: %s (set recursive to delete it and everything in it)",
			  p->rel);
		return -1;
	}
	int fd = openat(pfd, p->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fs_fail_errno(ctx, p->rel, errno);
		return -1;
	}
	struct fs_rm rm = {.dev = st->st_dev};
	int rc = fs_rmtree(&rm, fd, 0);
	int e = errno;
	close(fd);
	if (rc == 0 && unlinkat(pfd, p->name, AT_REMOVEDIR) < 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0)
		return 0;
	if (rm.too_deep)
		pack_fail(ctx, "invalid_input", "%s is nested deeper than %d levels; part of it was deleted, "
			  "delete its deepest directories first", p->rel, FS_RM_DEPTH);
	else
		pack_fail(ctx, "handler_failed", "deleted part of %s but not all of it: %s", p->rel, strerror(e));
	return -1;
}

static json_t *fs_delete(const json_t *in, struct pack_ctx *ctx)
{
	struct fs_path p;
	if (fs_path_parse(ctx, json_object_get(in, "path"), NULL, &p) < 0)
		return NULL;
	const json_t *r = json_object_get(in, "recursive");
	if (r && !json_is_boolean(r))
		return pack_fail(ctx, "invalid_input", "recursive must be a boolean");
	if (fs_path_is_root(&p))
		return pack_fail(ctx, "invalid_input", "refusing to delete the workspace root");
	int pfd = fs_open_beneath(ctx->ws_fd, p.parent, O_RDONLY | O_DIRECTORY);
	if (pfd < 0) {
		int e = errno;
		return fs_fail_errno(ctx, e == ENOENT ? p.rel : p.parent, e);
	}
	struct stat st;
	int rc = fstatat(pfd, p.name, &st, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		fs_fail_errno(ctx, p.rel, errno);
	else if (S_ISDIR(st.st_mode))
		rc = fs_delete_dir(ctx, pfd, &p, &st, json_is_true(r));
	else if ((rc = unlinkat(pfd, p.name, 0)) < 0)
		fs_fail_errno(ctx, p.rel, errno);
	close(pfd);
	if (rc < 0)
		return NULL;
	return json_pack("{s:s,s:b,s:s}", "path", p.rel, "deleted", 1, "type", fs_type_name(st.st_mode));
}

/* ---------- the table ---------- */

#define FS_CLONE_PATH \
	"\"clone_path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"the workspace handle the workspace was created with\"}"
#define FS_PATH_PROP(what) \
	"\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,\"description\":\"" what ", relative to the workspace root\"}"
#define FS_SHA256 "\"sha256\":{\"type\":\"string\",\"minLength\":64,\"maxLength\":64,\"description\":\"lowercase hex SHA-256\"}"

const struct pack_def fs_packs[] = {
	{
		.name = "fs.list", .version = 1, .cls = "fs",
		.description = "List a workspace directory (optionally recursive and filtered by a glob), sorted by path, "
			       "with each entry's type and size; symlinks are listed, never followed.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\"],\"additionalProperties\":false,\"properties\":{"
				FS_CLONE_PATH ","
				FS_PATH_PROP("directory to list (default \\\".\\\")") ","
				"\"glob\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,\"description\":\"fnmatch pattern: "
				"matched against the base name, or against the path below the listed directory when it contains '/'\"},"
				"\"recursive\":{\"type\":\"boolean\",\"description\":\"descend into subdirectories (not into .git); default false\"}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"path\",\"entries\",\"count\",\"truncated\"],\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\"},"
				 "\"entries\":{\"type\":\"array\",\"maxItems\":5000,\"items\":{\"type\":\"object\","
				 "\"required\":[\"path\",\"type\",\"size\"],\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\",\"description\":\"relative to the workspace root\"},"
				 "\"type\":{\"enum\":[\"file\",\"dir\",\"symlink\",\"other\"]},"
				 "\"size\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"bytes of a file or of a symlink's target text; 0 otherwise\"}}}},"
				 "\"count\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":5000},"
				 "\"truncated\":{\"type\":\"boolean\",\"description\":\"more entries exist than were listed\"}}}",
		.timeout_ms = 30000, .read_only = 1, .fn = fs_list, .ws = PACK_WS_USE,
	},
	{
		.name = "fs.read", .version = 1, .cls = "fs",
		.description = "Read a workspace file: UTF-8 text, or base64 when it is binary, up to max_bytes, "
			       "with the size and SHA-256 of the whole file.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"path\"],\"additionalProperties\":false,\"properties\":{"
				FS_CLONE_PATH ","
				FS_PATH_PROP("file to read") ","
				"\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":8388608,\"description\":\"most bytes of content to return; default 1048576\"}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"path\",\"content\",\"encoding\",\"size\",\"sha256\",\"truncated\"],"
				 "\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"},"
				 "\"encoding\":{\"enum\":[\"utf-8\",\"base64\"]},"
				 "\"size\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"bytes in the whole file\"},"
				 FS_SHA256 ","
				 "\"truncated\":{\"type\":\"boolean\",\"description\":\"content is only the start of the file\"}}}",
		.timeout_ms = 30000, .read_only = 1, .fn = fs_read, .ws = PACK_WS_USE,
	},
	{
		.name = "fs.write", .version = 1, .cls = "fs",
		.description = "Create or replace a workspace file atomically with the given text or base64 content, "
			       "keeping an existing file's mode; returns the bytes written and their SHA-256.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"path\",\"content\"],\"additionalProperties\":false,\"properties\":{"
				FS_CLONE_PATH ","
				FS_PATH_PROP("file to write") ","
				"\"content\":{\"type\":\"string\",\"description\":\"the new content, as text or base64 per encoding\"},"
				"\"encoding\":{\"enum\":[\"utf-8\",\"base64\"],\"description\":\"how content is given; default utf-8\"},"
				"\"create_dirs\":{\"type\":\"boolean\",\"description\":\"create missing parent directories; default false\"}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"path\",\"bytes_written\",\"sha256\",\"created\"],\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"bytes_written\":{\"type\":\"integer\",\"minimum\":0},"
				 FS_SHA256 ","
				 "\"created\":{\"type\":\"boolean\",\"description\":\"the file did not exist before\"}}}",
		.timeout_ms = 30000, .destructive = 0, .fn = fs_write, .ws = PACK_WS_USE, .ws_write = 1,
	},
	{
		.name = "fs.patch", .version = 1, .cls = "fs",
		.description = "Edit a workspace file by exact text replacement: search/replace with an expected number of "
			       "occurrences, or a list of edits that must each match exactly once; all or nothing.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"path\"],\"additionalProperties\":false,\"properties\":{"
				FS_CLONE_PATH ","
				FS_PATH_PROP("file to edit") ","
				"\"search\":{\"type\":\"string\",\"minLength\":1,\"description\":\"literal text to find (give with replace, not with edits)\"},"
				"\"replace\":{\"type\":\"string\",\"description\":\"text that replaces each match of search\"},"
				"\"occurrences\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"matches search must have; 0 = replace every one (at least one); default 1\"},"
				"\"edits\":{\"type\":\"array\",\"minItems\":1,\"description\":\"applied in order; each oldText must match exactly once\","
				"\"items\":{\"type\":\"object\",\"required\":[\"oldText\",\"newText\"],\"additionalProperties\":false,\"properties\":{"
				"\"oldText\":{\"type\":\"string\",\"minLength\":1},\"newText\":{\"type\":\"string\"}}}}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"path\",\"replacements\",\"sha256\",\"size\"],\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"replacements\":{\"type\":\"integer\",\"minimum\":1},"
				 FS_SHA256 ","
				 "\"size\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"bytes in the file after the edit\"}}}",
		.timeout_ms = 30000, .destructive = 0, .fn = fs_patch, .ws = PACK_WS_USE, .ws_write = 1,
	},
	{
		.name = "fs.delete", .version = 1, .cls = "fs",
		.description = "Delete a workspace file, symlink or empty directory, or with recursive a whole directory tree; "
			       "symlinks are removed, never followed.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"path\"],\"additionalProperties\":false,\"properties\":{"
				FS_CLONE_PATH ","
				FS_PATH_PROP("entry to delete") ","
				"\"recursive\":{\"type\":\"boolean\",\"description\":\"delete a non-empty directory with everything in it; default false\"}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"path\",\"deleted\",\"type\"],\"additionalProperties\":false,\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"deleted\":{\"const\":true},"
				 "\"type\":{\"enum\":[\"file\",\"dir\",\"symlink\",\"other\"]}}}",
		.timeout_ms = 30000, .destructive = 1, .fn = fs_delete, .ws = PACK_WS_USE, .ws_write = 1,
	},
};
const size_t fs_packs_n = sizeof fs_packs / sizeof fs_packs[0];
