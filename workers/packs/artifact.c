/*
 * artifact.put / artifact.get / artifact.list over a local content-addressed
 * store: objects/<sha256> holds the bytes, index/<sha256>.json the metadata.
 * The worker reaches the store only through the directory descriptor the
 * supervisor passed with the run; every path is relative to it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry.h"
#include "common/b64.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARTIFACT_MAX (8u << 20)
#define ARTIFACT_GET_DEFAULT (1u << 20)

static int artifact_write_at(int dirfd, const char *dir, const char *name, const void *data, size_t len)
{
	uint8_t rnd[8];
	char tmp[64], hex[17], final[200];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		return -1;
	hex_encode(rnd, sizeof rnd, hex);
	snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, hex);
	snprintf(final, sizeof final, "%s/%s", dir, name);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	const uint8_t *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlinkat(dirfd, tmp, 0);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || renameat(dirfd, tmp, dirfd, final) < 0) {
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

static ssize_t artifact_read_at(int dirfd, const char *path, uint8_t **out, size_t max, size_t *total)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	*total = (size_t)st.st_size;
	size_t want = *total < max ? *total : max;
	uint8_t *buf = xmalloc(want + 1);
	size_t got = read_upto(fd, buf, want, NULL);
	close(fd);
	buf[got] = 0;
	*out = buf;
	return (ssize_t)got;
}

static int artifact_valid_key(const char *k)
{
	if (strlen(k) != 64)
		return 0;
	for (; *k; k++)
		if (!((*k >= '0' && *k <= '9') || (*k >= 'a' && *k <= 'f')))
			return 0;
	return 1;
}

static json_t *artifact_meta_load(int dirfd, const char *key)
{
	char path[128];
	snprintf(path, sizeof path, "index/%s.json", key);
	uint8_t *text;
	size_t total;
	if (artifact_read_at(dirfd, path, &text, 65536, &total) < 0)
		return NULL;
	json_t *m = json_loads((const char *)text, 0, NULL);
	free(text);
	return json_is_object(m) ? m : (json_decref(m), NULL);
}

static json_t *artifact_put(const json_t *in, struct pack_ctx *ctx)
{
	const char *name = json_string_value(json_object_get(in, "name"));
	const char *ctype = json_string_value(json_object_get(in, "content_type"));
	json_t *text = json_object_get(in, "content");
	json_t *b64 = json_object_get(in, "content_base64");
	if ((text != NULL) == (b64 != NULL))
		return pack_fail(ctx, "invalid_input", "give exactly one of content or content_base64");
	uint8_t *data;
	size_t len;
	if (text) {
		len = json_string_length(text);
		data = xmalloc(len + 1);
		memcpy(data, json_string_value(text), len);
		if (!ctype)
			ctype = "text/plain; charset=utf-8";
	} else {
		const char *s = json_string_value(b64);
		size_t sl = strlen(s);
		data = xmalloc(sl / 4 * 3 + 4);
		ssize_t n = b64_decode(s, sl, data, 0);
		if (n < 0) {
			free(data);
			return pack_fail(ctx, "invalid_input", "content_base64 is not valid base64");
		}
		len = (size_t)n;
		if (!ctype)
			ctype = "application/octet-stream";
	}
	json_t *out = artifact_store(ctx, name, ctype, data, len);
	free(data);
	return out;
}

json_t *artifact_store(struct pack_ctx *ctx, const char *name, const char *ctype, const void *data, size_t len)
{
	if (len > ARTIFACT_MAX)
		return pack_fail(ctx, "resource_exhausted", "artifact of %zu bytes exceeds the %u byte cap", len, ARTIFACT_MAX);
	if (ctx->artifacts_fd < 0)
		return pack_fail(ctx, "artifact_failed", "this worker has no artifact store");
	uint8_t digest[32];
	char key[65];
	SHA256(data, len, digest);
	hex_encode(digest, 32, key);
	int rc = artifact_write_at(ctx->artifacts_fd, "objects", key, data, len);
	if (rc < 0)
		return pack_fail(ctx, "artifact_failed", "cannot store the artifact: %s", strerror(errno));
	json_t *meta = json_pack("{s:s,s:s,s:I,s:s,s:I,s:s,s:s}", "key", key, "name", name, "size", (json_int_t)len,
				 "content_type", ctype, "created_at", (json_int_t)now_unix(), "pack", ctx->pack,
				 "sha256", key);
	char *ms = json_dumps(meta, JSON_COMPACT);
	char iname[80];
	snprintf(iname, sizeof iname, "%s.json", key);
	rc = ms ? artifact_write_at(ctx->artifacts_fd, "index", iname, ms, strlen(ms)) : -1;
	free(ms);
	if (rc < 0) {
		json_decref(meta);
		return pack_fail(ctx, "artifact_failed", "cannot index the artifact: %s", strerror(errno));
	}
	json_array_append(ctx->artifacts, meta);
	json_t *out = json_pack("{s:s,s:s,s:I,s:s,s:s}", "key", key, "name", name, "size", (json_int_t)len,
				"content_type", ctype, "sha256", key);
	json_decref(meta);
	return out;
}

static json_t *artifact_get(const json_t *in, struct pack_ctx *ctx)
{
	const char *key = json_string_value(json_object_get(in, "key"));
	json_t *mb = json_object_get(in, "max_bytes");
	size_t max = mb ? (size_t)json_integer_value(mb) : ARTIFACT_GET_DEFAULT;
	if (!artifact_valid_key(key))
		return pack_fail(ctx, "invalid_input", "key must be 64 lowercase hex characters");
	json_t *meta = artifact_meta_load(ctx->artifacts_fd, key);
	if (!meta)
		return pack_fail(ctx, "invalid_input", "no artifact with key %s", key);
	char path[128];
	snprintf(path, sizeof path, "objects/%s", key);
	uint8_t *data;
	size_t total;
	ssize_t n = artifact_read_at(ctx->artifacts_fd, path, &data, max, &total);
	if (n < 0) {
		json_decref(meta);
		return pack_fail(ctx, "artifact_failed", "artifact %s is indexed but unreadable", key);
	}
	/* integrity: the key is the digest of the whole object */
	if ((size_t)n == total) {
		uint8_t digest[32];
		char hex[65];
		SHA256(data, (size_t)n, digest);
		hex_encode(digest, 32, hex);
		if (strcmp(hex, key)) {
			free(data);
			json_decref(meta);
			return pack_fail(ctx, "artifact_failed", "artifact %s failed its integrity check", key);
		}
	}
	char *enc = xmalloc(b64_encoded_len((size_t)n, 0) + 1);
	b64_encode(data, (size_t)n, enc, 0);
	json_t *out = json_pack("{s:s,s:O,s:O,s:I,s:s,s:b}", "key", key, "name", json_object_get(meta, "name"),
				"content_type", json_object_get(meta, "content_type"), "size", (json_int_t)total,
				"content_base64", enc, "truncated", (size_t)n < total);
	const char *ct = json_string_value(json_object_get(meta, "content_type"));
	if (ct && (!strncmp(ct, "text/", 5) || strstr(ct, "json"))) {
		json_t *s = json_stringn((const char *)data, (size_t)n);  /* NULL when not UTF-8 */
		if (s)
			json_object_set_new(out, "content", s);
	}
	free(enc);
	free(data);
	json_decref(meta);
	return out;
}

static int artifact_cmp(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_at"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_at"));
	return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *artifact_list(const json_t *in, struct pack_ctx *ctx)
{
	json_t *lim = json_object_get(in, "limit");
	size_t limit = lim ? (size_t)json_integer_value(lim) : 100;
	const char *pack = json_string_value(json_object_get(in, "pack"));
	int fd = openat(ctx->artifacts_fd, "index", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return pack_fail(ctx, "artifact_failed", "cannot read the artifact index");
	}
	size_t n = 0, cap = 64;
	json_t **items = xcalloc(cap, sizeof *items);
	struct dirent *e;
	while ((e = readdir(d)) && n < 100000) {
		size_t nl = strlen(e->d_name);
		if (nl != 69 || strcmp(e->d_name + 64, ".json"))
			continue;
		char key[65];
		memcpy(key, e->d_name, 64);
		key[64] = 0;
		json_t *m = artifact_meta_load(ctx->artifacts_fd, key);
		if (!m)
			continue;
		if (pack && strcmp(pack, json_string_value(json_object_get(m, "pack")) ?: "")) {
			json_decref(m);
			continue;
		}
		if (n == cap)
			items = xrealloc(items, (cap *= 2) * sizeof *items);
		items[n++] = m;
	}
	closedir(d);
	qsort(items, n, sizeof *items, artifact_cmp);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (i < limit)
			json_array_append(arr, items[i]);
		json_decref(items[i]);
	}
	free(items);
	return json_pack("{s:o,s:I}", "artifacts", arr, "total", (json_int_t)n);
}

#define META_SCHEMA \
	"{\"type\":\"object\",\"required\":[\"key\",\"name\",\"size\",\"content_type\"],\"properties\":{" \
	"\"key\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\",\"minimum\":0}," \
	"\"content_type\":{\"type\":\"string\"},\"created_at\":{\"type\":\"integer\"},\"pack\":{\"type\":\"string\"}," \
	"\"sha256\":{\"type\":\"string\"}}}"

const struct pack_def artifact_packs[] = {
	{
		.name = "artifact.put", .version = 1, .cls = "artifact",
		.description = "Store bytes (UTF-8 text or base64) in the content-addressed artifact store; returns its key.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,\"properties\":{"
				"\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,\"description\":\"file name shown in listings\"},"
				"\"content\":{\"type\":\"string\",\"description\":\"UTF-8 text content\"},"
				"\"content_base64\":{\"type\":\"string\",\"description\":\"binary content, standard base64\"},"
				"\"content_type\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"key\",\"name\",\"size\",\"content_type\",\"sha256\"],\"properties\":{"
				 "\"key\":{\"type\":\"string\",\"minLength\":64,\"maxLength\":64},\"name\":{\"type\":\"string\"},"
				 "\"size\":{\"type\":\"integer\",\"minimum\":0},\"content_type\":{\"type\":\"string\"},\"sha256\":{\"type\":\"string\"}}}",
		.timeout_ms = 30000, .read_only = 0, .destructive = 0, .open_world = 0, .fn = artifact_put,
	},
	{
		.name = "artifact.get", .version = 1, .cls = "artifact",
		.description = "Read an artifact by key: metadata plus content (base64, and text for textual types).",
		.input_schema = "{\"type\":\"object\",\"required\":[\"key\"],\"additionalProperties\":false,\"properties\":{"
				"\"key\":{\"type\":\"string\",\"minLength\":64,\"maxLength\":64},"
				"\"max_bytes\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":8388608}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"key\",\"name\",\"content_type\",\"size\",\"content_base64\",\"truncated\"],\"properties\":{"
				 "\"key\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"content_type\":{\"type\":\"string\"},"
				 "\"size\":{\"type\":\"integer\",\"minimum\":0},\"content_base64\":{\"type\":\"string\"},"
				 "\"content\":{\"type\":\"string\"},\"truncated\":{\"type\":\"boolean\"}}}",
		.timeout_ms = 30000, .read_only = 1, .fn = artifact_get,
	},
	{
		.name = "artifact.list", .version = 1, .cls = "artifact",
		.description = "List stored artifacts, newest first, optionally only those a given pack produced.",
		.input_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
				"\"pack\":{\"type\":\"string\",\"minLength\":1},"
				"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"artifacts\",\"total\"],\"properties\":{"
				 "\"artifacts\":{\"type\":\"array\",\"items\":" META_SCHEMA "},\"total\":{\"type\":\"integer\",\"minimum\":0}}}",
		.timeout_ms = 30000, .read_only = 1, .fn = artifact_list,
	},
};
const size_t artifact_packs_n = sizeof artifact_packs / sizeof artifact_packs[0];
