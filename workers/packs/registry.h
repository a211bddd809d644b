/*
 * The pack registry: one table shared by the api (schemas, versions,
 * metadata) and the worker (handlers). A pack's class names its seccomp
 * policy (policy/worker-<class>.policy).
 */
#ifndef HD_PACK_REGISTRY_H
#define HD_PACK_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

struct pack_ctx {
	int artifacts_fd;
	const char *actor;
	const char *pack;
	json_t *artifacts;    /* handler appends {key,name,size,content_type} */
	char err_code[32];
	char err_msg[512];
};

/* Returns the output object, or NULL with ctx->err_code/err_msg set. */
typedef json_t *(*pack_fn)(const json_t *input, struct pack_ctx *ctx);

struct pack_def {
	const char *name;
	int version;
	const char *description;
	const char *cls;
	const char *input_schema;
	const char *output_schema;
	uint32_t timeout_ms;
	int read_only, destructive, open_world;
	int test_only;        /* registered only with HELMDECK_ENABLE_TEST_PACKS=1 */
	pack_fn fn;
};

size_t pack_count(void);
const struct pack_def *pack_at(size_t i);
/* version 0 = latest; NULL if absent or not enabled */
const struct pack_def *pack_find(const char *name, int version, int test_packs);
int pack_latest_version(const char *name, int test_packs);
/* Set the typed error; returns NULL for `return pack_fail(...)`. */
json_t *pack_fail(struct pack_ctx *ctx, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Pack families. */
extern const struct pack_def artifact_packs[];
extern const size_t artifact_packs_n;
extern const struct pack_def test_packs[];
extern const size_t test_packs_n;

#endif
