/*
 * Image artifacts in tool results, and resources/read of artifacts. The api
 * cannot read the artifact store (Landlock denies it every file), so the
 * bytes come from the artifact.get pack, run on an internal api_req that
 * carries the caller's identity. That run is not a separate api call: it
 * writes no mcp_call audit record of its own, while the supervisor still
 * writes its pack_call record, under the caller's name. An image of at most
 * HELMDECK_MCP_INLINE_IMAGE_MAX bytes (default 1 MiB) becomes an image
 * content block; a larger one, or one that could not be read, a
 * resource_link to helmdeck://artifacts/<key>.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MCP_INLINE_DEFAULT (1u << 20)
#define MCP_INLINE_COUNT 8          /* images inlined per result, at most */
#define MCP_READ_MAX (8u << 20)     /* artifact.get's own cap */

static size_t inline_max(void)
{
	static size_t v;
	static int known;
	if (known)
		return v;
	known = 1;
	v = MCP_INLINE_DEFAULT;
	const char *e = getenv("HELMDECK_MCP_INLINE_IMAGE_MAX");
	if (e && *e) {
		char *end;
		unsigned long long n = strtoull(e, &end, 10);
		if (*end || e[0] == '-' || n > MCP_READ_MAX)
			log_warn("HELMDECK_MCP_INLINE_IMAGE_MAX=%s: not a byte count up to %u; using %u", e, MCP_READ_MAX,
				 MCP_INLINE_DEFAULT);
		else
			v = (size_t)n;
	}
	return v;
}

void mcp_image_init(void)
{
	inline_max();
}

/* What one artifact.get may return: its base64 must fit the output cap. */
static size_t fetch_cap(void)
{
	size_t cap = cfg.pack_max_output > 8192 ? (cfg.pack_max_output - 8192) / 4 * 3 : 0;
	return cap < MCP_READ_MAX ? cap : MCP_READ_MAX;
}

static int is_image(const char *ct)
{
	static const char *types[] = {"image/png", "image/jpeg", "image/gif", "image/webp"};
	for (size_t i = 0; ct && i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(ct, types[i]))
			return 1;
	return 0;
}

static int valid_key(const char *k)
{
	if (!k || strlen(k) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
			return 0;
	return 1;
}

/* Run artifact.get for r; the answer comes to mcp_image_fetched. */
static void fetch(struct api_req *r, const char *key, size_t max)
{
	struct api_req *ir = mcp_req_new(&r->claims, r->path, "FETCH");
	ir->mcpx->parent = r;
	const struct pack_def *p = pack_find("artifact.get", 0, cfg.test_packs);
	json_t *in = json_pack("{s:s,s:I}", "key", key, "max_bytes", (json_int_t)max);
	char err[600];
	int rc = p ? routes_pack_dispatch(ir, p, in, err, sizeof err) : -1;
	json_decref(in);
	if (rc < 0)
		mcp_image_fetched(ir, 0, NULL);
	/* else parked, or already answered through mcp_pack_done */
}

static json_t *link_block(json_t *a)
{
	const char *key = json_string_value(json_object_get(a, "key"));
	const char *name = json_string_value(json_object_get(a, "name"));
	json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "type", "resource_link", "uri", "", "name", name ? name : key,
			      "mimeType", json_string_value(json_object_get(a, "content_type")));
	json_object_set_new(b, "uri", json_sprintf("helmdeck://artifacts/%s", key));
	json_t *size = json_object_get(a, "size");
	if (json_is_integer(size))
		json_object_set(b, "size", size);
	return b;
}

/* Walk the artifacts from x->next: links now, one fetch at a time. */
static void step(struct api_req *r)
{
	struct mcp_req *x = r->mcpx;
	json_t *content = json_object_get(x->result, "content");
	while (x->next < json_array_size(x->todo)) {
		json_t *a = json_array_get(x->todo, x->next++);
		const char *key = json_string_value(json_object_get(a, "key"));
		json_t *size = json_object_get(a, "size");
		if (!json_is_object(a) || !valid_key(key) || !is_image(json_string_value(json_object_get(a, "content_type"))) ||
		    !json_is_integer(size) || json_integer_value(size) < 0)
			continue;
		size_t n = (size_t)json_integer_value(size);
		if (n <= inline_max() && n <= fetch_cap() && x->inlined < MCP_INLINE_COUNT && !r->cancelled) {
			fetch(r, key, n);
			return;
		}
		json_array_append_new(content, link_block(a));
	}
	json_t *res = x->result;
	x->result = NULL;
	mcp_finish(r, res, NULL);
}

void mcp_image_answer(struct api_req *r, json_t *result, json_t *artifacts)
{
	struct mcp_req *x = r->mcpx;
	if (!json_is_array(artifacts) || !json_array_size(artifacts) || !x) {
		json_decref(artifacts);
		mcp_finish(r, result, NULL);
		return;
	}
	x->result = result;
	x->todo = artifacts;
	x->next = 0;
	step(r);
}

void mcp_image_read(struct api_req *r, const char *uri)
{
	const char *key = uri + strlen("helmdeck://artifacts/");
	if (!valid_key(key) || !r->mcpx) {
		mcp_send(r, 200, mcp_error(r->mcp_id, -32002, "resource not found"), NULL);
		return;
	}
	snprintf(r->mcpx->read_uri, sizeof r->mcpx->read_uri, "%s", uri);
	fetch(r, key, fetch_cap());
}

static void read_done(struct api_req *r, int ok, json_t *out)
{
	const char *b64 = json_string_value(json_object_get(out, "content_base64"));
	if (!ok || !b64) {
		mcp_finish(r, NULL, mcp_error(r->mcp_id, -32002, "resource not found"));
		return;
	}
	json_t *c = json_pack("{s:s,s:O,s:O}", "uri", r->mcpx->read_uri, "mimeType", json_object_get(out, "content_type"),
			      "blob", json_object_get(out, "content_base64"));
	if (json_is_true(json_object_get(out, "truncated")))
		json_object_set_new(c, "_meta", json_pack("{s:b,s:O}", "helmdeck/truncated", 1, "helmdeck/size",
							  json_object_get(out, "size")));
	mcp_finish(r, json_pack("{s:[o]}", "contents", c), NULL);
}

void mcp_image_fetched(struct api_req *ir, int ok, json_t *output)
{
	struct api_req *r = ir->mcpx->parent;
	ir->mcpx->parent = NULL;
	api_req_free(ir);
	if (r->mcpx->read_uri[0]) {
		read_done(r, ok, output);
		json_decref(output);
		return;
	}
	struct mcp_req *x = r->mcpx;
	json_t *a = json_array_get(x->todo, x->next - 1);
	json_t *content = json_object_get(x->result, "content");
	json_t *data = json_object_get(output, "content_base64");
	if (ok && json_is_string(data) && !json_is_true(json_object_get(output, "truncated"))) {
		json_array_append_new(content, json_pack("{s:s,s:O,s:O}", "type", "image", "data", data, "mimeType",
							 json_object_get(a, "content_type")));
		x->inlined++;
	} else {
		json_array_append_new(content, link_block(a));
	}
	json_decref(output);
	step(r);
}
