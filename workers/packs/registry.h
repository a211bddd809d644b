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
	int artifacts_fd;     /* artifact class: the artifact store; -1 otherwise */
	const char *actor;
	const char *pack;
	json_t *artifacts;    /* handler appends {key,name,size,content_type} */
	/* Workspace packs. fs class: ws_fd is the workspace directory and every
	 * path resolves beneath it. exec class: ws_path is where the workspace
	 * is mounted in the worker's own root ("/workspace"). */
	int ws_fd;
	const char *ws_path;
	const char *ws_id;          /* the clone_path handle the agent uses */
	uint64_t ws_max_bytes;      /* size cap of one workspace */
	const char *remote_url;     /* git url of the mounted remote, or NULL */
	const char *remote_display; /* the remote as the caller named it */
	/* ssh remotes: GIT_SSH_COMMAND (the agent and pinned host key are
	 * under /run/helmdeck); NULL otherwise */
	const char *git_ssh_command;
	int git_https;              /* https remotes: egress's proxy, the run's CA bundle */
	/* Browser packs: the session's CDP channel, a stream socket carrying
	 * chromium's --remote-debugging-pipe protocol (JSON messages, each
	 * ended by a NUL byte), for the length of this invocation; -1 otherwise.
	 * session_id names that session (to return as _session_id). */
	int cdp_fd;
	const char *session_id;
	/* Net packs: one request to the egress role (the template as JSON); 0
	 * with the response, or -1 with the typed error already set. */
	int (*egress)(struct pack_ctx *ctx, const char *req, size_t len, json_t **resp);
	/* Browser packs: the vault puts the caller's secrets into the session
	 * (op "cookies" with {url} before a navigation, "login" with the page's
	 * CDP session and selectors); 0 with its answer (counts and names,
	 * never a value), or -1 with the typed error set. */
	int (*inject)(struct pack_ctx *ctx, const char *op, const char *page_session, json_t *args, json_t **resp);
	char err_code[32];
	char err_msg[512];
	char err_detail[512];       /* optional, e.g. the count of matches */
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
	int ws;               /* PACK_WS_*: how the pack uses a workspace */
	int ws_write;         /* changes the workspace: the size cap applies */
	int remote;           /* PACK_REMOTE_*: which input names a git remote */
	const char *timeout_arg;  /* input field (seconds) that sets the run timeout */
	int session;          /* needs a browser session: ephemeral, or _session_id */
	int egress;           /* sends requests out through the egress role */
};

enum pack_ws { PACK_WS_NONE = 0, PACK_WS_USE, PACK_WS_CREATE };
/* repo.fetch names its remote in "url" (read-only mount); repo.push in
 * "remote" (read-write mount; absent = the url the workspace came from). */
enum pack_remote { PACK_REMOTE_NONE = 0, PACK_REMOTE_FETCH, PACK_REMOTE_PUSH };

size_t pack_count(void);
const struct pack_def *pack_at(size_t i);
/* version 0 = latest; NULL if absent or not enabled */
const struct pack_def *pack_find(const char *name, int version, int test_packs);
int pack_latest_version(const char *name, int test_packs);
/* Set the typed error; returns NULL for `return pack_fail(...)`. */
json_t *pack_fail(struct pack_ctx *ctx, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, with a detail string (shown as "detail" beside the message). */
json_t *pack_fail_detail(struct pack_ctx *ctx, const char *code, const char *detail, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Store bytes in the artifact store (ctx->artifacts_fd) and list them in
 * ctx->artifacts. Returns {key,name,size,content_type,sha256}, or NULL with
 * the typed error set (artifact.c). */
json_t *artifact_store(struct pack_ctx *ctx, const char *name, const char *ctype, const void *data, size_t len);

/* Pack families. */
extern const struct pack_def artifact_packs[];
extern const size_t artifact_packs_n;
extern const struct pack_def test_packs[];
extern const size_t test_packs_n;
extern const struct pack_def fs_packs[];       /* fs.c: class "fs" */
extern const size_t fs_packs_n;
extern const struct pack_def exec_packs[];     /* exec_packs.c: class "exec" */
extern const size_t exec_packs_n;
extern const struct pack_def browser_packs[];  /* browser_packs.c: class "browser" */
extern const size_t browser_packs_n;
extern const struct pack_def http_packs[];     /* http_packs.c: class "net" */
extern const size_t http_packs_n;

#endif
