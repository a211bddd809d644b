/*
 * The exec class: packs that start processes (the agent's command, git)
 * inside the worker's per-invocation root, on the workspace mounted at
 * ctx->ws_path and, for repo.fetch/repo.push, the git remote mounted at
 * ctx->remote_url. Every process gets the same small, fixed environment;
 * nothing of ours leaks into it. The confinement (namespaces, seccomp,
 * Landlock, no network) is the worker's; what these handlers add is
 * bounded output, deadlines and the workspace size cap.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry.h"
#include "exec_run.h"
#include "repo_context.h"
#include "wsutil.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CMD_OUT_MAX (512u * 1024)
#define CMD_STDIN_MAX (1024u * 1024)
#define CMD_TIMEOUT_DEFAULT_S 60
#define CMD_TIMEOUT_MAX_S 600
#define CMD_NOFILE 1024
#define CMD_DETAIL_TAIL 1024
#define CMD_ENV_MAX 64
#define GIT_OUT_MAX (16u << 20)       /* ls-files, log: bounded, parsed */
#define GIT_ERR_MAX (64u * 1024)
#define GIT_DIFF_MAX (1024u * 1024)
#define GIT_FILES_MAX 1000
#define GIT_ARG_MAX 4096
#define WS_FSIZE_FLOOR (1024u * 1024)
/* Handlers finish (and say "timeout") before the supervisor's deadline. */
#define GIT_LOCAL_TIMEOUT_MS 60000
#define GIT_REMOTE_TIMEOUT_MS 300000
#define PK_MARGIN_MS 5000

/* ---------- the environment every process gets ---------- */

#define PK_ENV_MAX (32 + CMD_ENV_MAX)

struct pk_env {
	char *v[PK_ENV_MAX + 1];
	size_t n;
};

static void pk_env_set(struct pk_env *e, const char *name, const char *value)
{
	size_t nl = strlen(name);
	char *kv = xasprintf("%s=%s", name, value);
	for (size_t i = 0; i < e->n; i++) {
		if (!strncmp(e->v[i], name, nl) && e->v[i][nl] == '=') {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	}
	if (e->n >= PK_ENV_MAX)
		fatal("exec environment overflow");
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

static void pk_env_base(struct pk_env *e)
{
	e->n = 0;
	e->v[0] = NULL;
	const char *name = env_default("HELMDECK_GIT_AUTHOR_NAME", "helmdeck-agent");
	const char *mail = env_default("HELMDECK_GIT_AUTHOR_EMAIL", "helmdeck-agent@localhost");
	static const char *const fixed[][2] = {
		{"PATH", "/usr/local/bin:/usr/bin:/bin"},
		{"HOME", "/tmp"},
		{"TMPDIR", "/tmp"},
		{"LANG", "C.UTF-8"},
		{"GIT_CONFIG_NOSYSTEM", "1"},
		/* written by the sandbox root (safe.directory = * among others):
		 * git reads safe.directory only from global or system config */
		{"GIT_CONFIG_GLOBAL", "/etc/helmdeck-git.conf"},
		{"GIT_TERMINAL_PROMPT", "0"},
		/* the workspace belongs to another uid; file:// remotes; main */
		{"GIT_CONFIG_COUNT", "3"},
		{"GIT_CONFIG_KEY_0", "safe.directory"},
		{"GIT_CONFIG_VALUE_0", "*"},
		{"GIT_CONFIG_KEY_1", "protocol.file.allow"},
		{"GIT_CONFIG_VALUE_1", "always"},
		{"GIT_CONFIG_KEY_2", "init.defaultBranch"},
		{"GIT_CONFIG_VALUE_2", "main"},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		pk_env_set(e, fixed[i][0], fixed[i][1]);
	pk_env_set(e, "GIT_AUTHOR_NAME", name);
	pk_env_set(e, "GIT_COMMITTER_NAME", name);
	pk_env_set(e, "GIT_AUTHOR_EMAIL", mail);
	pk_env_set(e, "GIT_COMMITTER_EMAIL", mail);
}

static void pk_env_free(struct pk_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

/* ---------- a growable argv ---------- */

struct pk_argv {
	const char **v;
	size_t n, cap;
};

static void argv_push(struct pk_argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* ---------- text helpers ---------- */

static json_t *pk_json_bytes(const uint8_t *s, size_t n)
{
	size_t len;
	char *clean = utf8_sanitize(s, n, &len);
	json_t *j = json_stringn_nocheck(clean, len);
	free(clean);
	if (!j)
		fatal("out of memory");
	return j;
}

/* Captured output as a JSON string: a cut capture loses its partial last
 * character rather than showing it as U+FFFD. */
static json_t *pk_json_capture(const uint8_t *s, size_t n, int truncated)
{
	return pk_json_bytes(s, truncated ? utf8_cut(s, n) : n);
}

/* The end of s as clean UTF-8 in out (at most outsz-1 bytes), trailing
 * whitespace dropped, starting on a character boundary. */
static void pk_tail(const uint8_t *s, size_t n, char *out, size_t outsz)
{
	size_t len;
	char *clean = utf8_sanitize(s, n, &len);
	while (len && isspace((unsigned char)clean[len - 1]))
		len--;
	size_t start = len > outsz - 1 ? len - (outsz - 1) : 0;
	while (start < len && ((unsigned char)clean[start] & 0xC0) == 0x80)
		start++;
	memcpy(out, clean + start, len - start);
	out[len - start] = 0;
	free(clean);
}

/* git's own verdict: its first "fatal:" line, else its first "error:"
 * line, else its last non-empty line (git often closes with advice). */
static void pk_git_verdict(const uint8_t *err, size_t n, char *out, size_t outsz)
{
	size_t len;
	char *clean = utf8_sanitize(err, n, &len);
	const char *fatal_l = NULL, *error_l = NULL, *last = NULL;
	size_t fatal_n = 0, error_n = 0, last_n = 0;
	for (size_t i = 0; i < len;) {
		const char *l = clean + i;
		const char *nl = memchr(l, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - l) : len - i;
		while (ll && isspace((unsigned char)l[ll - 1]))
			ll--;
		if (ll && !fatal_l && !strncmp(l, "fatal:", 6) && ll >= 6)
			fatal_l = l, fatal_n = ll;
		if (ll && !error_l && !strncmp(l, "error:", 6) && ll >= 6)
			error_l = l, error_n = ll;
		if (ll)
			last = l, last_n = ll;
		i += (nl ? (size_t)(nl - l) : len - i) + 1;
	}
	const char *pick = fatal_l ? fatal_l : error_l ? error_l : last;
	size_t pn = fatal_l ? fatal_n : error_l ? error_n : last_n;
	if (pn > outsz - 1)
		pn = utf8_cut((const uint8_t *)pick, outsz - 1);
	if (pick)
		memcpy(out, pick, pn);
	out[pick ? pn : 0] = 0;
	free(clean);
}

static void pk_chomp(uint8_t *s, size_t *n)
{
	while (*n && (s[*n - 1] == '\n' || s[*n - 1] == '\r'))
		s[--*n] = 0;
}

/* A string from JSON that C can pass on: no embedded NUL. */
static int pk_no_nul(const json_t *s)
{
	return json_is_string(s) && strlen(json_string_value(s)) == json_string_length(s);
}

/* ---------- the workspace ---------- */

static int pk_ws_open(const struct pack_ctx *ctx)
{
	return ctx->ws_path ? open(ctx->ws_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}

static uint64_t pk_ws_usage(const struct pack_ctx *ctx)
{
	int fd = pk_ws_open(ctx);
	if (fd < 0)
		return 0;
	uint64_t u = ws_usage_bytes(fd, ctx->ws_max_bytes);
	close(fd);
	return u;
}

/* What a single file may still grow to (RLIMIT_FSIZE); 0 = no cap. */
static rlim_t pk_ws_room(const struct pack_ctx *ctx)
{
	if (!ctx->ws_max_bytes)
		return 0;
	uint64_t used = pk_ws_usage(ctx);
	uint64_t room = used < ctx->ws_max_bytes ? ctx->ws_max_bytes - used : 0;
	return room < WS_FSIZE_FLOOR ? WS_FSIZE_FLOOR : (rlim_t)room;
}

/* 1 (with the error set) when a write left the workspace over its cap. */
static int pk_ws_over_cap(struct pack_ctx *ctx)
{
	if (!ctx->ws_max_bytes)
		return 0;
	uint64_t used = pk_ws_usage(ctx);
	if (used <= ctx->ws_max_bytes)
		return 0;
	pack_fail(ctx, "resource_exhausted", "workspace is %llu bytes, over its cap of %llu; delete files with fs.delete",
		  (unsigned long long)used, (unsigned long long)ctx->ws_max_bytes);
	return 1;
}

/* A directory beneath the workspace (symlinks may not leave it). */
static int pk_ws_dir_ok(const struct pack_ctx *ctx, const char *rel)
{
	int ws = pk_ws_open(ctx);
	if (ws < 0)
		return 0;
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	int fd = (int)syscall(SYS_openat2, ws, rel, &how, sizeof how);
	close(ws);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Paths an agent names: each must stay inside the workspace. NULL = ok,
 * else the offending string (for the message). */
static const char *pk_paths_bad(const json_t *paths)
{
	size_t i;
	const json_t *p;
	json_array_foreach(paths, i, p) {
		if (!pk_no_nul(p) || !ws_relpath_ok(json_string_value(p)))
			return json_is_string(p) ? json_string_value(p) : "?";
	}
	return NULL;
}

/* ---------- running git ---------- */

struct pk_job {
	struct pack_ctx *ctx;
	uint64_t deadline;   /* monotonic ms */
	rlim_t fsize;        /* RLIMIT_FSIZE for git; 0 = none */
	struct pk_env env;
};

static void pk_job_init(struct pk_job *j, struct pack_ctx *ctx, uint32_t pack_timeout_ms, int writes)
{
	j->ctx = ctx;
	j->deadline = now_ms_mono() + pack_timeout_ms - PK_MARGIN_MS;
	j->fsize = writes ? pk_ws_room(ctx) : 0;
	pk_env_base(&j->env);
	/* ssh remotes: ssh through the run's forward, signing with the vault's
	 * agent, checking the host key the credential pins */
	if (ctx->git_ssh_command) {
		pk_env_set(&j->env, "GIT_SSH_COMMAND", ctx->git_ssh_command);
		pk_env_set(&j->env, "SSH_AUTH_SOCK", "/run/helmdeck/agent.sock");
	}
	/* https remotes: through egress's proxy in the run's namespace, trusting
	 * the CAs egress trusts */
	if (ctx->git_https) {
		pk_env_set(&j->env, "https_proxy", "http://127.0.0.1:3128");
		pk_env_set(&j->env, "GIT_SSL_CAINFO", "/run/helmdeck/ca.pem");
	}
	/* git never takes a repository above the workspace for this one */
	const char *slash = strrchr(ctx->ws_path, '/');
	if (slash) {
		char *parent = slash == ctx->ws_path ? xstrdup("/")
						     : xasprintf("%.*s", (int)(slash - ctx->ws_path), ctx->ws_path);
		pk_env_set(&j->env, "GIT_CEILING_DIRECTORIES", parent);
		free(parent);
	}
}

static void pk_job_free(struct pk_job *j) { pk_env_free(&j->env); }

/* git <args> in the workspace. 0 when git ran to an exit of its own (any
 * code: the caller judges); -1 with the pack error set otherwise. */
static int pk_git(struct pk_job *j, const char *const *args, size_t out_max, struct exec_result *r)
{
	struct pk_argv a = {0};
	/* no hook, no fsmonitor: only the git we asked for runs */
	static const char *const pre[] = {"git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"};
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
		argv_push(&a, pre[i]);
	for (size_t i = 0; args[i]; i++)
		argv_push(&a, args[i]);
	uint64_t now = now_ms_mono();
	if (now >= j->deadline) {
		free(a.v);
		pack_fail(j->ctx, "timeout", "git %s: the pack ran out of time", args[0]);
		return -1;
	}
	struct exec_spec s = {
		.argv = a.v, .envp = (const char *const *)j->env.v, .cwd = j->ctx->ws_path,
		.timeout_ms = (uint32_t)(j->deadline - now), .stdout_max = out_max, .stderr_max = GIT_ERR_MAX,
		.rlimits = {{RLIMIT_CORE, 0}}, .nrlimits = 1,
	};
	if (j->fsize) {
		s.rlimits[s.nrlimits].res = RLIMIT_FSIZE;
		s.rlimits[s.nrlimits++].max = j->fsize;
	}
	int rc = exec_run(&s, r);
	free(a.v);
	if (rc < 0) {
		pack_fail(j->ctx, "handler_failed", "cannot start git: %s", strerror(errno));
		return -1;
	}
	const char *fail = NULL, *code = "handler_failed";
	if (r->timed_out) {
		fail = "ran out of time";
		code = "timeout";
	} else if (r->exec_errno) {
		fail = strerror(r->exec_errno);
	} else if (r->signal == SIGXFSZ) {
		fail = "outgrew the workspace size cap";
		code = "resource_exhausted";
	} else if (r->signal) {
		fail = strsignal(r->signal);
	}
	if (!fail)
		return 0;
	char tail[sizeof j->ctx->err_detail];
	pk_tail(r->err, r->err_len, tail, sizeof tail);
	pack_fail_detail(j->ctx, code, tail, "git %s: %s", args[0], fail);
	exec_result_free(r);
	return -1;
}

/* A failed git run becomes invalid_input when git blames what the agent
 * asked for (one of the markers), handler_failed otherwise. */
static json_t *pk_git_failed(struct pack_ctx *ctx, struct exec_result *r, const char *what,
			     const char *const *input_markers)
{
	const char *code = "handler_failed";
	for (size_t i = 0; input_markers && input_markers[i]; i++)
		if (strstr((const char *)r->err, input_markers[i]))
			code = "invalid_input";
	/* the agent gets git's one telling line; an operator the whole tail */
	char verdict[sizeof ctx->err_detail];
	if (!strcmp(code, "invalid_input"))
		pk_git_verdict(r->err, r->err_len, verdict, sizeof verdict);
	else
		pk_tail(r->err, r->err_len, verdict, sizeof verdict);
	int ec = r->exit_code;
	exec_result_free(r);
	return pack_fail_detail(ctx, code, verdict, "git %s failed (exit %d)", what, ec);
}

static const char *const pk_not_repo[] = {"not a git repository", NULL};

/* A git run that must succeed: 0 with its output in *r (the caller frees
 * it), or -1 with the typed error set and nothing left to free. */
static int pk_git_ok(struct pk_job *j, const char *const *args, size_t out_max, struct exec_result *r,
		     const char *what, const char *const *input_markers)
{
	if (pk_git(j, args, out_max, r) < 0)
		return -1;
	if (r->exit_code != 0) {
		pk_git_failed(j->ctx, r, what, input_markers);
		return -1;
	}
	return 0;
}

/* One line of output of a git query (trailing newline dropped), or NULL
 * when git exits non-zero with nothing on stderr (e.g. -q lookups). */
static int pk_git_line(struct pk_job *j, const char *const *args, char **line)
{
	struct exec_result r;
	*line = NULL;
	if (pk_git(j, args, GIT_ARG_MAX, &r) < 0)
		return -1;
	if (r.exit_code == 0) {
		pk_chomp(r.out, &r.out_len);
		*line = xstrdup((const char *)r.out);
	} else if (r.err_len) {
		pk_git_failed(j->ctx, &r, args[0], pk_not_repo);
		return -1;
	}
	exec_result_free(&r);
	return 0;
}

/* HEAD's commit, NULL on an unborn branch. */
static int pk_head_commit(struct pk_job *j, char **sha)
{
	static const char *const args[] = {"rev-parse", "-q", "--verify", "HEAD^{commit}", NULL};
	return pk_git_line(j, args, sha);
}

/* The current branch, NULL when HEAD is detached. */
static int pk_head_branch(struct pk_job *j, char **branch)
{
	static const char *const args[] = {"symbolic-ref", "--short", "-q", "HEAD", NULL};
	return pk_git_line(j, args, branch);
}

static json_t *pk_json_opt_str(const char *s) { return s ? pk_json_bytes((const uint8_t *)s, strlen(s)) : json_null(); }

/* NUL-separated names (git -z) as a JSON array of at most max entries. */
static json_t *pk_names_z(uint8_t *buf, size_t len, size_t max, int *truncated)
{
	const char **v;
	size_t n = repo_split_z((char *)buf, len, &v);
	json_t *a = json_array();
	for (size_t i = 0; i < n && i < max; i++)
		json_array_append_new(a, pk_json_bytes((const uint8_t *)v[i], strlen(v[i])));
	*truncated = n > max;
	free(v);
	return a;
}

/* ---------- cmd.run ---------- */

static int cmd_env_name_ok(const char *k)
{
	if (!(isalpha((unsigned char)*k) || *k == '_'))
		return 0;
	for (k++; *k; k++)
		if (!(isalnum((unsigned char)*k) || *k == '_'))
			return 0;
	return 1;
}

/* The agent's env on top of the fixed one (it may override a name of
 * ours). 0, or -1 with the error set. */
static int cmd_env_apply(const json_t *env, struct pk_env *e, struct pack_ctx *ctx)
{
	const char *k;
	const json_t *v;
	if (json_object_size(env) > CMD_ENV_MAX) {
		pack_fail(ctx, "invalid_input", "env has more than %d variables", CMD_ENV_MAX);
		return -1;
	}
	json_object_foreach((json_t *)env, k, v) {
		if (!cmd_env_name_ok(k)) {
			pack_fail(ctx, "invalid_input", "env name \"%.64s\" must match ^[A-Za-z_][A-Za-z0-9_]*$", k);
			return -1;
		}
		if (!pk_no_nul(v)) {
			pack_fail(ctx, "invalid_input", "env %.64s must be a string without NUL bytes", k);
			return -1;
		}
		pk_env_set(e, k, json_string_value(v));
	}
	return 0;
}

static int cmd_argv(const json_t *cmd, struct pk_argv *a, struct pack_ctx *ctx)
{
	size_t i;
	const json_t *s;
	if (!json_array_size(cmd)) {
		pack_fail(ctx, "invalid_input", "command must name a program");
		return -1;
	}
	json_array_foreach(cmd, i, s) {
		if (!pk_no_nul(s)) {
			pack_fail(ctx, "invalid_input", "command[%zu] must be a string without NUL bytes", i);
			return -1;
		}
		argv_push(a, json_string_value(s));
	}
	return 0;
}

static json_t *cmd_result(const struct exec_result *r, const char *argv0)
{
	json_t *err;
	if (r->exec_errno) {
		char *msg = xasprintf("helmdeck: cannot execute %s: %s", argv0, strerror(r->exec_errno));
		err = pk_json_bytes((const uint8_t *)msg, strlen(msg));
		free(msg);
	} else {
		err = pk_json_capture(r->err, r->err_len, r->err_truncated);
	}
	return json_pack("{s:o,s:o,s:i,s:i,s:b,s:b,s:I}", "stdout", pk_json_capture(r->out, r->out_len, r->out_truncated),
			 "stderr", err, "exit_code", r->exit_code, "signal", r->signal, "stdout_truncated",
			 r->out_truncated, "stderr_truncated", r->err_truncated, "duration_ms",
			 (json_int_t)r->duration_ms);
}

static json_t *cmd_run(const json_t *in, struct pack_ctx *ctx)
{
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	const json_t *jt = json_object_get(in, "timeout_s");
	json_int_t timeout_s = jt ? json_integer_value(jt) : CMD_TIMEOUT_DEFAULT_S;
	if (timeout_s < 1 || timeout_s > CMD_TIMEOUT_MAX_S)
		return pack_fail(ctx, "invalid_input", "timeout_s must be 1..%d", CMD_TIMEOUT_MAX_S);
	const json_t *jin = json_object_get(in, "stdin");
	if (jin && json_string_length(jin) > CMD_STDIN_MAX)
		return pack_fail(ctx, "invalid_input", "stdin is over %u bytes", CMD_STDIN_MAX);
	const json_t *jcwd = json_object_get(in, "cwd");
	const char *cwd = jcwd ? json_string_value(jcwd) : ".";
	if (!cwd || (jcwd && !pk_no_nul(jcwd)) || !ws_relpath_ok(cwd))
		return pack_fail(ctx, "invalid_input", "cwd must be a relative path inside the workspace");
	if (!pk_ws_dir_ok(ctx, cwd))
		return pack_fail(ctx, "invalid_input", "cwd %.256s is not a directory in the workspace", cwd);

	struct pk_argv a = {0};
	struct pk_env env;
	pk_env_base(&env);
	if (cmd_argv(json_object_get(in, "command"), &a, ctx) < 0 ||
	    cmd_env_apply(json_object_get(in, "env"), &env, ctx) < 0) {
		free(a.v);
		pk_env_free(&env);
		return NULL;
	}
	char *dir = xasprintf("%s/%s", ctx->ws_path, cwd);
	struct exec_spec s = {
		.argv = a.v, .envp = (const char *const *)env.v, .cwd = dir,
		.stdin_data = jin ? (const uint8_t *)json_string_value(jin) : NULL,
		.stdin_len = jin ? json_string_length(jin) : 0,
		.timeout_ms = (uint32_t)timeout_s * 1000u, .stdout_max = CMD_OUT_MAX, .stderr_max = CMD_OUT_MAX,
		.rlimits = {{RLIMIT_CPU, (rlim_t)timeout_s + 1}, {RLIMIT_NOFILE, CMD_NOFILE}, {RLIMIT_CORE, 0}},
		.nrlimits = 3,
	};
	rlim_t room = pk_ws_room(ctx);
	if (room) {
		s.rlimits[s.nrlimits].res = RLIMIT_FSIZE;
		s.rlimits[s.nrlimits++].max = room;
	}
	struct exec_result r;
	int rc = exec_run(&s, &r);
	free(dir);
	pk_env_free(&env);
	json_t *out = NULL;
	if (rc < 0) {
		pack_fail(ctx, "handler_failed", "cannot start the command: %s", strerror(errno));
	} else if (r.timed_out) {
		/* the end of stderr usually says what it was waiting for */
		char tail[sizeof ctx->err_detail];
		size_t keep = CMD_DETAIL_TAIL + 1 < sizeof tail ? CMD_DETAIL_TAIL + 1 : sizeof tail;
		pk_tail(r.err, r.err_len, tail, keep);
		pack_fail_detail(ctx, "timeout", tail, "command exceeded its %u s timeout", (unsigned)timeout_s);
	} else if (!pk_ws_over_cap(ctx)) {
		out = cmd_result(&r, a.v[0]);
	}
	if (rc == 0)
		exec_result_free(&r);
	free(a.v);
	return out;
}

/* ---------- git.commit ---------- */

static const char *const pk_bad_pathspec[] = {
	"did not match any", "is outside repository", "beyond a symbolic link", "not a git repository", NULL,
};

/* git's subject: the first line with something on it, trailing space dropped. */
static json_t *commit_summary(const char *msg)
{
	const char *l = msg;
	for (;;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		while (n && isspace((unsigned char)l[n - 1]))
			n--;
		size_t lead = 0;
		while (lead < n && isspace((unsigned char)l[lead]))
			lead++;
		if (n > lead || !nl)
			return pk_json_bytes((const uint8_t *)l + lead, n - lead);
		l = nl + 1;
	}
}

static int commit_has_text(const char *msg)
{
	for (; *msg; msg++)
		if (!isspace((unsigned char)*msg))
			return 1;
	return 0;
}

/* git add -A -- <paths>; then whether anything is staged (1), or not (0). */
static int commit_stage(struct pk_job *j, const json_t *paths)
{
	struct pk_argv a = {0};
	argv_push(&a, "add");
	argv_push(&a, "-A");
	argv_push(&a, "--");
	size_t i;
	const json_t *p;
	json_array_foreach(paths, i, p)
		argv_push(&a, json_string_value(p));
	if (!json_array_size(paths))
		argv_push(&a, ".");
	struct exec_result r;
	int rc = pk_git_ok(j, a.v, GIT_ARG_MAX, &r, "add", pk_bad_pathspec);
	free(a.v);
	if (rc < 0)
		return -1;
	exec_result_free(&r);
	static const char *const quiet[] = {"diff", "--cached", "--quiet", NULL};
	if (pk_git(j, quiet, GIT_ARG_MAX, &r) < 0)
		return -1;
	if (r.exit_code > 1) {
		pk_git_failed(j->ctx, &r, "diff --cached", pk_not_repo);
		return -1;
	}
	int staged = r.exit_code == 1;
	exec_result_free(&r);
	return staged;
}

static json_t *git_commit(const json_t *in, struct pack_ctx *ctx)
{
	const json_t *jm = json_object_get(in, "message");
	const json_t *paths = json_object_get(in, "paths");
	if (!pk_no_nul(jm) || !commit_has_text(json_string_value(jm)))
		return pack_fail(ctx, "invalid_input", "message must have text (and no NUL bytes)");
	const char *bad = pk_paths_bad(paths);
	if (bad)
		return pack_fail(ctx, "invalid_input", "path %.256s is not a relative path inside the workspace", bad);
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	struct pk_job j;
	pk_job_init(&j, ctx, GIT_LOCAL_TIMEOUT_MS, 1);
	json_t *out = NULL, *files = NULL;
	char *sha = NULL, *branch = NULL;
	struct exec_result r;
	int staged = commit_stage(&j, paths), files_truncated = 0;
	if (staged == 0)
		pack_fail(ctx, "invalid_input", "nothing to commit");
	if (staged != 1)
		goto done;
	/* the committed files, listed while the index still differs from HEAD */
	static const char *const names[] = {"diff", "--cached", "--name-only", "--no-renames", "-z", NULL};
	if (pk_git_ok(&j, names, GIT_OUT_MAX, &r, "diff --cached", NULL) < 0)
		goto done;
	files = pk_names_z(r.out, r.out_len, GIT_FILES_MAX, &files_truncated);
	exec_result_free(&r);
	const char *commit[] = {"commit", "-q", "--no-verify", "-m", json_string_value(jm), NULL};
	if (pk_git_ok(&j, commit, GIT_ARG_MAX, &r, "commit", NULL) < 0)
		goto done;
	exec_result_free(&r);
	if (pk_head_commit(&j, &sha) < 0 || pk_head_branch(&j, &branch) < 0)
		goto done;
	if (!sha) {
		pack_fail(ctx, "handler_failed", "the commit left no HEAD");
		goto done;
	}
	if (pk_ws_over_cap(ctx))
		goto done;
	out = json_pack("{s:s,s:o,s:O,s:b,s:o}", "commit", sha, "branch", pk_json_opt_str(branch), "files", files,
			"files_truncated", files_truncated, "summary", commit_summary(json_string_value(jm)));
done:
	json_decref(files);
	free(sha);
	free(branch);
	pk_job_free(&j);
	return out;
}

/* ---------- git.diff ---------- */

static void diff_args(struct pk_argv *a, int staged, const json_t *paths, const char *const *mode)
{
	argv_push(a, "diff");
	if (staged)
		argv_push(a, "--cached");
	for (size_t i = 0; mode[i]; i++)
		argv_push(a, mode[i]);
	argv_push(a, "--");
	size_t i;
	const json_t *p;
	json_array_foreach(paths, i, p)
		argv_push(a, json_string_value(p));
}

static json_t *git_diff(const json_t *in, struct pack_ctx *ctx)
{
	int staged = json_is_true(json_object_get(in, "staged"));
	const json_t *paths = json_object_get(in, "paths");
	const char *bad = pk_paths_bad(paths);
	if (bad)
		return pack_fail(ctx, "invalid_input", "path %.256s is not a relative path inside the workspace", bad);
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	static const char *const patch[] = {"--no-color", "--no-ext-diff", "--no-textconv", NULL};
	static const char *const names[] = {"--name-only", "-z", NULL};
	struct pk_job j;
	pk_job_init(&j, ctx, GIT_LOCAL_TIMEOUT_MS, 0);
	struct pk_argv a = {0}, b = {0};
	diff_args(&a, staged, paths, patch);
	diff_args(&b, staged, paths, names);
	struct exec_result rd, rn;
	json_t *out = NULL;
	char *head = NULL;
	/* outside a repository git diff would turn into diff --no-index */
	if (pk_head_commit(&j, &head) < 0 || pk_git_ok(&j, a.v, GIT_DIFF_MAX, &rd, "diff", pk_bad_pathspec) < 0)
		goto done;
	if (pk_git_ok(&j, b.v, GIT_OUT_MAX, &rn, "diff --name-only", pk_bad_pathspec) < 0) {
		exec_result_free(&rd);
		goto done;
	}
	int files_truncated;
	json_t *files = pk_names_z(rn.out, rn.out_len, GIT_FILES_MAX, &files_truncated);
	out = json_pack("{s:o,s:b,s:o,s:b}", "diff", pk_json_capture(rd.out, rd.out_len, rd.out_truncated), "truncated",
			rd.out_truncated, "files", files, "files_truncated", files_truncated);
	exec_result_free(&rd);
	exec_result_free(&rn);
done:
	free(head);
	free(a.v);
	free(b.v);
	pk_job_free(&j);
	return out;
}

/* ---------- git.log ---------- */

#define LOG_FIELDS 5

/* Records end in 0x1e, fields are split by 0x1f; the subject comes last,
 * so a stray separator in it stays part of it. */
static json_t *log_parse(uint8_t *buf, size_t len)
{
	static const char *const keys[LOG_FIELDS] = {"sha", "author", "email", "date", "subject"};
	json_t *commits = json_array();
	for (size_t i = 0; i < len;) {
		uint8_t *rec = buf + i;
		uint8_t *end = memchr(rec, 0x1e, len - i);
		if (!end)
			break;
		i = (size_t)(end - buf) + 1;
		while (rec < end && *rec == '\n')
			rec++;
		json_t *c = json_object();
		uint8_t *f = rec;
		for (int k = 0; k < LOG_FIELDS; k++) {
			uint8_t *sep = k < LOG_FIELDS - 1 ? memchr(f, 0x1f, (size_t)(end - f)) : NULL;
			uint8_t *fe = sep ? sep : end;
			if (!sep && k < LOG_FIELDS - 1) {
				json_decref(c);
				c = NULL;
				break;
			}
			json_object_set_new(c, keys[k], pk_json_bytes(f, (size_t)(fe - f)));
			f = fe + 1;
		}
		if (c)
			json_array_append_new(commits, c);
	}
	return commits;
}

static json_t *git_log(const json_t *in, struct pack_ctx *ctx)
{
	const json_t *jl = json_object_get(in, "limit");
	json_int_t limit = jl ? json_integer_value(jl) : 20;
	if (limit < 1 || limit > 500)
		return pack_fail(ctx, "invalid_input", "limit must be 1..500");
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	struct pk_job j;
	pk_job_init(&j, ctx, GIT_LOCAL_TIMEOUT_MS, 0);
	json_t *out = NULL;
	char *head = NULL, count[32];
	if (pk_head_commit(&j, &head) < 0)
		goto done;
	if (!head) {  /* unborn branch: no history yet */
		out = json_pack("{s:[]}", "commits");
		goto done;
	}
	snprintf(count, sizeof count, "--max-count=%lld", (long long)limit);
	const char *args[] = {"log", count, "--no-color", "--no-show-signature",
			      "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e", "HEAD", "--", NULL};
	struct exec_result r;
	if (pk_git_ok(&j, args, GIT_OUT_MAX, &r, "log", pk_not_repo) < 0)
		goto done;
	out = json_pack("{s:o}", "commits", log_parse(r.out, r.out_len));
	exec_result_free(&r);
done:
	free(head);
	pk_job_free(&j);
	return out;
}

/* ---------- repo.fetch ---------- */

static const char *const fetch_bad_remote[] = {
	"does not appear to be a git repository", "not found in upstream", "Could not find remote branch",
	"does not exist", "not a git repository", "did not match any", "invalid reference", "unknown revision",
	"couldn't find remote ref", NULL,
};

/* A ref git cannot take for an option. */
static int fetch_ref_ok(const json_t *ref)
{
	const char *s = json_string_value(ref);
	return !ref || (pk_no_nul(ref) && *s && *s != '-');
}

static int fetch_clone(struct pk_job *j, const json_t *ref, const json_t *depth)
{
	char dbuf[32];
	struct pk_argv a = {0};
	argv_push(&a, "clone");
	argv_push(&a, "--quiet");
	argv_push(&a, "--no-hardlinks");
	if (depth) {
		snprintf(dbuf, sizeof dbuf, "--depth=%lld", (long long)json_integer_value(depth));
		argv_push(&a, dbuf);
		if (ref) {
			argv_push(&a, "--branch");
			argv_push(&a, json_string_value(ref));
		}
	}
	argv_push(&a, "--");
	argv_push(&a, j->ctx->remote_url);
	argv_push(&a, j->ctx->ws_path);
	struct exec_result r;
	int rc = pk_git_ok(j, a.v, GIT_ARG_MAX, &r, "clone", fetch_bad_remote);
	free(a.v);
	if (rc < 0)
		return -1;
	exec_result_free(&r);
	if (!ref || depth)
		return 0;
	/* "--" makes the ref a revision (branch, tag or sha), never a path */
	const char *co[] = {"checkout", "--quiet", json_string_value(ref), "--", NULL};
	if (pk_git_ok(j, co, GIT_ARG_MAX, &r, "checkout", fetch_bad_remote) < 0)
		return -1;
	exec_result_free(&r);
	return 0;
}

static json_t *fetch_envelope(struct pk_job *j)
{
	static const char *const ls[] = {"ls-files", "-z", NULL};
	struct exec_result r;
	if (pk_git_ok(j, ls, GIT_OUT_MAX, &r, "ls-files", NULL) < 0)
		return NULL;
	const char **paths;
	size_t n = repo_split_z((char *)r.out, r.out_len, &paths);
	int wsfd = pk_ws_open(j->ctx);
	json_t *env = repo_context_build(paths, n, wsfd >= 0 ? repo_read_at : NULL, &wsfd);
	if (wsfd >= 0)
		close(wsfd);
	free(paths);
	exec_result_free(&r);
	return env;
}

static json_t *repo_fetch(const json_t *in, struct pack_ctx *ctx)
{
	const json_t *ref = json_object_get(in, "ref");
	const json_t *depth = json_object_get(in, "depth");
	if (!fetch_ref_ok(ref))
		return pack_fail(ctx, "invalid_input", "ref must be a branch, tag or commit (not starting with '-')");
	if (!ctx->remote_url)
		return pack_fail(ctx, "invalid_input", "no remote repository is available for this fetch");
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	struct pk_job j;
	pk_job_init(&j, ctx, GIT_REMOTE_TIMEOUT_MS, 1);
	json_t *out = NULL, *env = NULL;
	char *sha = NULL, *branch = NULL;
	if (fetch_clone(&j, ref, depth) < 0 || pk_ws_over_cap(ctx))
		goto done;
	if (pk_head_commit(&j, &sha) < 0 || pk_head_branch(&j, &branch) < 0)
		goto done;
	if (!(env = fetch_envelope(&j)))
		goto done;
	const char *shown = ctx->remote_display ? ctx->remote_display : json_string_value(json_object_get(in, "url"));
	out = json_pack("{s:s,s:o,s:o,s:o}", "clone_path", ctx->ws_id ? ctx->ws_id : ctx->ws_path, "url",
			pk_json_opt_str(shown), "commit", pk_json_opt_str(sha), "branch", pk_json_opt_str(branch));
	json_object_update(out, env);
done:
	json_decref(env);
	free(sha);
	free(branch);
	pk_job_free(&j);
	return out;
}

/* ---------- repo.push ---------- */

/* The porcelain "!" lines: one per ref the remote refused. */
static char *push_rejections(const struct exec_result *r)
{
	size_t len;
	char *clean = utf8_sanitize(r->out, r->out_len, &len);
	char *lines = xcalloc(1, len + 1);
	size_t o = 0;
	for (char *l = clean; l && *l;) {
		char *nl = strchr(l, '\n');
		size_t ll = nl ? (size_t)(nl - l) : strlen(l);
		if (ll && l[0] == '!') {
			if (o)
				lines[o++] = '\n';
			memcpy(lines + o, l, ll);
			o += ll;
		}
		l = nl ? nl + 1 : NULL;
	}
	lines[o] = 0;
	free(clean);
	return lines;
}

static json_t *push_failed(struct pack_ctx *ctx, struct exec_result *r)
{
	char *lines = push_rejections(r);
	int stale = strstr(lines, "non-fast-forward") || strstr(lines, "fetch first") ||
		    strstr((const char *)r->err, "non-fast-forward") || strstr((const char *)r->err, "fetch first");
	json_t *ret;
	if (stale) {
		char detail[sizeof ctx->err_detail];
		pk_tail((const uint8_t *)lines, strlen(lines), detail, sizeof detail);
		ret = pack_fail_detail(ctx, "schema_mismatch", detail,
				       "the remote branch has commits this workspace lacks; fetch and merge, or push with force");
	} else if (*lines) {
		char detail[sizeof ctx->err_detail];
		pk_tail((const uint8_t *)lines, strlen(lines), detail, sizeof detail);
		ret = pack_fail_detail(ctx, "handler_failed", detail, "the remote refused the push");
	} else {
		free(lines);
		return pk_git_failed(ctx, r, "push", pk_not_repo);
	}
	free(lines);
	exec_result_free(r);
	return ret;
}

static int push_branch_ok(struct pk_job *j, const char *branch)
{
	char *ref = xasprintf("refs/heads/%s", branch);
	const char *args[] = {"check-ref-format", ref, NULL};
	struct exec_result r;
	int rc = pk_git(j, args, GIT_ARG_MAX, &r);
	free(ref);
	if (rc < 0)
		return -1;
	int okb = r.exit_code == 0;
	exec_result_free(&r);
	if (!okb)
		pack_fail(j->ctx, "invalid_input", "branch %.255s is not a valid branch name", branch);
	return okb ? 0 : -1;
}

static json_t *repo_push(const json_t *in, struct pack_ctx *ctx)
{
	const json_t *jb = json_object_get(in, "branch");
	int force = json_is_true(json_object_get(in, "force"));
	if (jb && (!pk_no_nul(jb) || json_string_value(jb)[0] == '-' || !json_string_value(jb)[0]))
		return pack_fail(ctx, "invalid_input", "branch must be a branch name (not starting with '-')");
	if (!ctx->remote_url)
		return pack_fail(ctx, "invalid_input", "no remote to push to: name one, or fetch the workspace from one");
	if (!ctx->ws_path)
		return pack_fail(ctx, "handler_failed", "no workspace is mounted for this run");
	struct pk_job j;
	pk_job_init(&j, ctx, GIT_REMOTE_TIMEOUT_MS, 0);
	json_t *out = NULL;
	char *branch = NULL, *sha = NULL, *refspec = NULL;
	if (jb)
		branch = xstrdup(json_string_value(jb));
	else if (pk_head_branch(&j, &branch) < 0)
		goto done;
	if (!branch) {
		pack_fail(ctx, "invalid_input", "HEAD is detached: name the branch to push");
		goto done;
	}
	if (push_branch_ok(&j, branch) < 0 || pk_head_commit(&j, &sha) < 0)
		goto done;
	if (!sha) {
		pack_fail(ctx, "invalid_input", "nothing to push: the workspace has no commits");
		goto done;
	}
	refspec = xasprintf("HEAD:refs/heads/%s", branch);
	struct pk_argv a = {0};
	argv_push(&a, "push");
	argv_push(&a, "--porcelain");
	if (force)
		argv_push(&a, "--force");
	argv_push(&a, "--");
	argv_push(&a, ctx->remote_url);
	argv_push(&a, refspec);
	struct exec_result r;
	int rc = pk_git(&j, a.v, GIT_ARG_MAX, &r);
	free(a.v);
	if (rc < 0)
		goto done;
	if (r.exit_code != 0) {
		push_failed(ctx, &r);
		goto done;
	}
	exec_result_free(&r);
	const char *shown = ctx->remote_display ? ctx->remote_display : ctx->remote_url;
	out = json_pack("{s:o,s:o,s:s}", "url", pk_json_opt_str(shown), "branch", pk_json_opt_str(branch), "commit", sha);
done:
	free(refspec);
	free(branch);
	free(sha);
	pk_job_free(&j);
	return out;
}

/* ---------- the table ---------- */

#define CLONE_PATH_PROP "\"clone_path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096," \
			"\"description\":\"the workspace handle repo.fetch returned\"}"
#define PATHS_PROP(what) "\"paths\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":1000," \
			"\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096}," \
			"\"description\":\"" what "\"}"
#define SHA_SCHEMA "{\"type\":\"string\",\"minLength\":40,\"maxLength\":64}"
#define NAMES_SCHEMA "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"
#define OPT_STR_SCHEMA "{\"type\":[\"string\",\"null\"]}"

const struct pack_def exec_packs[] = {
	{
		.name = "cmd.run", .version = 1, .cls = "exec",
		.description = "Run a program (argv, no shell unless you name one) in the workspace with an optional stdin, "
			       "environment and timeout; a non-zero exit is a normal result with its stdout and stderr.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"command\"],\"additionalProperties\":false,"
				"\"properties\":{" CLONE_PATH_PROP ","
				"\"command\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":256,"
				"\"items\":{\"type\":\"string\",\"maxLength\":8192},"
				"\"description\":\"the program (searched in PATH) and its arguments\"},"
				"\"stdin\":{\"type\":\"string\",\"maxLength\":1048576},"
				"\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":600,\"default\":60},"
				"\"env\":{\"type\":\"object\",\"maxProperties\":64,"
				"\"additionalProperties\":{\"type\":\"string\",\"maxLength\":8192},"
				"\"description\":\"extra variables; names match ^[A-Za-z_][A-Za-z0-9_]*$\"},"
				"\"cwd\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,\"default\":\".\","
				"\"description\":\"directory relative to the workspace root\"}}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"stdout\",\"stderr\","
				 "\"exit_code\",\"signal\",\"stdout_truncated\",\"stderr_truncated\",\"duration_ms\"],"
				 "\"properties\":{\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"},"
				 "\"exit_code\":{\"type\":\"integer\",\"minimum\":-1,\"maximum\":255},"
				 "\"signal\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":64},"
				 "\"stdout_truncated\":{\"type\":\"boolean\"},\"stderr_truncated\":{\"type\":\"boolean\"},"
				 "\"duration_ms\":{\"type\":\"integer\",\"minimum\":0}}}",
		.timeout_ms = CMD_TIMEOUT_MAX_S * 1000u, .destructive = 1, .open_world = 0, .fn = cmd_run,
		.ws = PACK_WS_USE, .ws_write = 1, .timeout_arg = "timeout_s",
	},
	{
		.name = "git.commit", .version = 1, .cls = "exec",
		.description = "Stage the given paths (default: every change, including deletions and new files) and commit "
			       "them with the message; fails with invalid_input when there is nothing to commit.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\",\"message\"],\"additionalProperties\":false,"
				"\"properties\":{" CLONE_PATH_PROP ","
				"\"message\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536},"
				PATHS_PROP("paths relative to the workspace root to stage; default all") "}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,"
				 "\"required\":[\"commit\",\"branch\",\"files\",\"files_truncated\",\"summary\"],"
				 "\"properties\":{\"commit\":" SHA_SCHEMA ",\"branch\":" OPT_STR_SCHEMA ","
				 "\"files\":{\"type\":\"array\",\"maxItems\":1000,\"items\":{\"type\":\"string\"}},"
				 "\"files_truncated\":{\"type\":\"boolean\"},\"summary\":{\"type\":\"string\"}}}",
		.timeout_ms = GIT_LOCAL_TIMEOUT_MS, .destructive = 0, .fn = git_commit,
		.ws = PACK_WS_USE, .ws_write = 1,
	},
	{
		.name = "git.diff", .version = 1, .cls = "exec",
		.description = "Show the unstaged changes (working tree against the index) or, with staged, the staged ones "
			       "(index against HEAD), as plain git diff does: untracked files are not included.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\"],\"additionalProperties\":false,"
				"\"properties\":{" CLONE_PATH_PROP ",\"staged\":{\"type\":\"boolean\",\"default\":false},"
				PATHS_PROP("limit the diff to these paths relative to the workspace root") "}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,"
				 "\"required\":[\"diff\",\"truncated\",\"files\",\"files_truncated\"],"
				 "\"properties\":{\"diff\":{\"type\":\"string\"},\"truncated\":{\"type\":\"boolean\"},"
				 "\"files\":{\"type\":\"array\",\"maxItems\":1000,\"items\":{\"type\":\"string\"}},"
				 "\"files_truncated\":{\"type\":\"boolean\"}}}",
		.timeout_ms = GIT_LOCAL_TIMEOUT_MS, .read_only = 1, .fn = git_diff,
		.ws = PACK_WS_USE,
	},
	{
		.name = "git.log", .version = 1, .cls = "exec",
		.description = "List the most recent commits reachable from HEAD, newest first (empty for a repository "
			       "without commits).",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\"],\"additionalProperties\":false,"
				"\"properties\":{" CLONE_PATH_PROP ","
				"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":500,\"default\":20}}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"commits\"],"
				 "\"properties\":{\"commits\":{\"type\":\"array\",\"maxItems\":500,\"items\":"
				 "{\"type\":\"object\",\"additionalProperties\":false,"
				 "\"required\":[\"sha\",\"author\",\"email\",\"date\",\"subject\"],"
				 "\"properties\":{\"sha\":" SHA_SCHEMA ",\"author\":{\"type\":\"string\"},"
				 "\"email\":{\"type\":\"string\"},\"date\":{\"type\":\"string\",\"format\":\"date-time\"},"
				 "\"subject\":{\"type\":\"string\"}}}}}}",
		.timeout_ms = GIT_LOCAL_TIMEOUT_MS, .read_only = 1, .fn = git_log,
		.ws = PACK_WS_USE,
	},
	{
		.name = "repo.fetch", .version = 1, .cls = "exec",
		.description = "Clone a git repository into a new workspace and return its handle (clone_path) with a map "
			       "of the code: file tree, README, build entry points, languages, a test command guess and CI.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"url\"],\"additionalProperties\":false,\"properties\":{"
				"\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
				"\"ref\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,"
				"\"description\":\"branch, tag or commit to check out (with depth: branch or tag)\"},"
				"\"depth\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000}}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"clone_path\",\"url\","
				 "\"commit\",\"branch\",\"tree\",\"tree_truncated\",\"readme\",\"entrypoints\",\"signals\"],"
				 "\"properties\":{\"clone_path\":{\"type\":\"string\",\"minLength\":1},"
				 "\"url\":{\"type\":\"string\"},\"commit\":{\"type\":[\"string\",\"null\"],\"minLength\":40,"
				 "\"maxLength\":64},\"branch\":" OPT_STR_SCHEMA ","
				 "\"tree\":{\"type\":\"array\",\"maxItems\":500,\"items\":{\"type\":\"string\"}},"
				 "\"tree_truncated\":{\"type\":\"boolean\"},"
				 "\"readme\":{\"type\":[\"object\",\"null\"],\"additionalProperties\":false,"
				 "\"required\":[\"path\",\"content\",\"truncated\"],\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"},"
				 "\"truncated\":{\"type\":\"boolean\"}}},"
				 "\"entrypoints\":" NAMES_SCHEMA ","
				 "\"signals\":{\"type\":\"object\",\"additionalProperties\":false,"
				 "\"required\":[\"languages\",\"test_command\",\"has_ci\"],\"properties\":{"
				 "\"languages\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\"minimum\":1}},"
				 "\"test_command\":" OPT_STR_SCHEMA ",\"has_ci\":{\"type\":\"boolean\"}}}}}",
		.timeout_ms = GIT_REMOTE_TIMEOUT_MS, .open_world = 1, .fn = repo_fetch,
		.ws = PACK_WS_CREATE, .ws_write = 1, .remote = PACK_REMOTE_FETCH,
	},
	{
		.name = "repo.push", .version = 1, .cls = "exec",
		.description = "Push HEAD to a branch (default: the current one) of the remote the workspace came from or "
			       "the one named; a non-fast-forward is refused with schema_mismatch unless force is set.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"clone_path\"],\"additionalProperties\":false,"
				"\"properties\":{" CLONE_PATH_PROP ","
				"\"remote\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
				"\"branch\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255},"
				"\"force\":{\"type\":\"boolean\",\"default\":false}}}",
		.output_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\",\"branch\",\"commit\"],"
				 "\"properties\":{\"url\":{\"type\":\"string\"},\"branch\":{\"type\":\"string\",\"minLength\":1},"
				 "\"commit\":" SHA_SCHEMA "}}",
		.timeout_ms = GIT_REMOTE_TIMEOUT_MS, .destructive = 1, .open_world = 1, .fn = repo_push,
		.ws = PACK_WS_USE, .remote = PACK_REMOTE_PUSH,
	},
};
const size_t exec_packs_n = sizeof exec_packs / sizeof exec_packs[0];
