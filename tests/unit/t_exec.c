/* TAP tests for the exec class: the process runner (workers/packs/exec_run.c),
 * the repo.fetch envelope (repo_context.c) and the six packs run against
 * temp dirs with the real git, outside any sandbox. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/util.h"
#include "workers/packs/exec_run.h"
#include "workers/packs/jsonschema.h"
#include "workers/packs/registry.h"
#include "workers/packs/repo_context.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const plain_env[] = {"PATH=/usr/bin:/bin", NULL};
static char root[64];

static int run(struct exec_result *r, const char *const *argv, const char *const *envp, const char *in,
	       uint32_t timeout_ms)
{
	struct exec_spec s = {
		.argv = argv, .envp = envp ? envp : plain_env, .stdin_data = (const uint8_t *)in,
		.stdin_len = in ? strlen(in) : 0, .timeout_ms = timeout_ms, .stdout_max = 1 << 20, .stderr_max = 1 << 20,
	};
	return exec_run(&s, r);
}

/* Dead, or a zombie waiting for us (we are the subreaper). */
static int pid_gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD && kill(pid, 0) < 0))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void test_runner_basics(void)
{
	struct exec_result r;
	const char *echo[] = {"echo", "hello", NULL};
	ok(run(&r, echo, NULL, NULL, 5000) == 0 && r.exit_code == 0 && r.signal == 0, "echo runs and exits 0");
	is_str((const char *)r.out, "hello\n", "stdout captured");
	ok(r.err_len == 0 && !r.out_truncated && !r.timed_out && !r.exec_errno, "nothing else reported");
	exec_result_free(&r);

	const char *both[] = {"sh", "-c", "echo out; echo err >&2", NULL};
	run(&r, both, NULL, NULL, 5000);
	ok(!strcmp((const char *)r.out, "out\n") && !strcmp((const char *)r.err, "err\n"), "stdout and stderr apart");
	exec_result_free(&r);

	const char *cat[] = {"cat", NULL};
	run(&r, cat, NULL, "via stdin", 5000);
	is_str((const char *)r.out, "via stdin", "stdin passed through");
	exec_result_free(&r);

	/* more than a pipe holds both ways: no deadlock between feeding and reading */
	size_t big = 3u << 20;
	char *data = xmalloc(big + 1);
	memset(data, 'x', big);
	data[big] = 0;
	run(&r, cat, NULL, data, 20000);
	ok(r.out_len == 1u << 20 && r.out_truncated && r.exit_code == 0, "3 MiB through cat: cap kept, rest drained");
	exec_result_free(&r);
	free(data);

	const char *head[] = {"head", "-c", "1", NULL};
	data = xmalloc(big + 1);
	memset(data, 'y', big);
	data[big] = 0;
	run(&r, head, NULL, data, 5000);
	ok(r.exit_code == 0 && r.out_len == 1 && !r.timed_out, "a command that stops reading stdin: EPIPE ignored");
	exec_result_free(&r);
	free(data);

	const char *three[] = {"sh", "-c", "exit 3", NULL};
	run(&r, three, NULL, NULL, 5000);
	ok(r.exit_code == 3 && r.signal == 0, "exit code 3");
	exec_result_free(&r);

	const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
	run(&r, killed, NULL, NULL, 5000);
	ok(r.exit_code == -1 && r.signal == SIGKILL, "killed by a signal: exit -1, signal 9");
	exec_result_free(&r);
}

static void test_runner_kills(void)
{
	struct exec_result r;
	const char *stubborn[] = {"sh", "-c", "trap '' TERM; sleep 30", NULL};
	uint64_t t0 = now_ms_mono();
	run(&r, stubborn, NULL, NULL, 1000);
	uint64_t took = now_ms_mono() - t0;
	ok(r.timed_out && r.signal == SIGKILL, "timeout: timed_out, SIGKILL even though TERM is ignored");
	ok(took >= 1000 && took < 2500, "timeout returns within the timeout + 1 s (%llu ms)", (unsigned long long)took);
	exec_result_free(&r);

	const char *bg[] = {"sh", "-c", "sleep 300 & echo $!", NULL};
	t0 = now_ms_mono();
	run(&r, bg, NULL, NULL, 10000);
	pid_t left = (pid_t)atoi((const char *)r.out);
	ok(left > 0 && now_ms_mono() - t0 < 2000, "main exit returns at once although a child holds the pipes");
	ok(left > 0 && pid_gone_within(left, 2000), "the background leftover %d was killed", (int)left);
	exec_result_free(&r);

	const char *zero[] = {"head", "-c", "2000000", "/dev/zero", NULL};
	struct exec_spec s = {.argv = zero, .envp = plain_env, .timeout_ms = 10000, .stdout_max = 100000, .stderr_max = 100};
	exec_run(&s, &r);
	ok(r.out_len == 100000 && r.out_truncated && r.exit_code == 0 && !r.timed_out,
	   "output cap: exactly the cap kept, truncated, the writer never blocked");
	exec_result_free(&r);
}

/* The worker's case: the handler is pid 1 of its own pid namespace, so
 * kill(-1) reaches even what left the command's process group. */
static int pid1_child(void)
{
	if (getpid() != 1)
		return 3;
	const char *argv[] = {"sh", "-c", "setsid sleep 301 & sleep 302 & echo started", NULL};
	struct exec_result r;
	if (run(&r, argv, NULL, NULL, 10000) < 0)
		return 4;
	int good = !strcmp((const char *)r.out, "started\n") && r.exit_code == 0;
	exec_result_free(&r);
	if (!good)
		return 5;
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD ? 0 : 6;
}

static void test_runner_pid1(void)
{
	pid_t c = fork();
	if (c == 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0)
			_exit(77);
		pid_t g = fork();
		if (g == 0)
			_exit(pid1_child());
		int st = 0;
		if (g < 0 || waitpid(g, &st, 0) != g)
			_exit(2);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
	}
	int st = 0;
	waitpid(c, &st, 0);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code == 77) {
		ok(1, "# SKIP no user and pid namespaces here");
		return;
	}
	ok(code == 0, "as pid 1: everything left behind, even outside the group, is killed and reaped (%d)", code);
}

/* The worker may run with 0-2 closed: the pipes then take those numbers. */
static void test_runner_low_fds(void)
{
	int saved = fcntl(0, F_DUPFD_CLOEXEC, 10);
	close(0);
	struct exec_result r;
	const char *cat[] = {"cat", NULL};
	int rc = run(&r, cat, NULL, "low", 5000);
	dup2(saved, 0);
	close(saved);
	ok(rc == 0 && !strcmp((const char *)r.out, "low"), "works with fd 0 closed in the parent");
	exec_result_free(&r);
}

static void test_runner_start(void)
{
	struct exec_result r;
	const char *none[] = {"no-such-command-t-exec", NULL};
	ok(run(&r, none, NULL, NULL, 5000) == 0 && r.exec_errno == ENOENT && r.exit_code == 127,
	   "command not found: exec_errno ENOENT, exit 127");
	exec_result_free(&r);

	char path[128];
	snprintf(path, sizeof path, "%s/noexec", root);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok(fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10, "made a non-executable file");
	close(fd);
	const char *noexec[] = {path, NULL};
	run(&r, noexec, NULL, NULL, 5000);
	ok(r.exec_errno == EACCES, "not executable: EACCES");
	exec_result_free(&r);

	/* no PATH fallback to sh (execvpe's ENOEXEC retry) */
	chmod(path, 0755);
	snprintf(path + strlen(path), sizeof path - strlen(path), "2");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ok(fd >= 0 && write(fd, "echo hi\n", 8) == 8, "made a script without #!");
	close(fd);
	const char *script[] = {path, NULL};
	run(&r, script, NULL, NULL, 5000);
	ok(r.exec_errno == ENOEXEC, "no #!: ENOEXEC, not a silent sh");
	exec_result_free(&r);

	const char *env_argv[] = {"env", NULL};
	const char *envp[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
	run(&r, env_argv, envp, NULL, 5000);
	is_str((const char *)r.out, "FOO=bar baz\nPATH=/usr/bin:/bin\n", "exactly the given environment");
	exec_result_free(&r);

	const char *limits[] = {"sh", "-c", "ulimit -n; ulimit -f", NULL};
	struct exec_spec s = {
		.argv = limits, .envp = plain_env, .timeout_ms = 5000, .stdout_max = 4096, .stderr_max = 4096,
		.rlimits = {{RLIMIT_NOFILE, 77}, {RLIMIT_FSIZE, 512 * 1024}}, .nrlimits = 2,
	};
	exec_run(&s, &r);
	/* dash counts -f in 512-byte blocks, bash in 1024 */
	ok(!strcmp((const char *)r.out, "77\n1024\n") || !strcmp((const char *)r.out, "77\n512\n"),
	   "rlimits applied in the child");
	exec_result_free(&r);

	/* a descriptor we leak without CLOEXEC must not reach the command */
	int leak = open("/dev/null", O_RDONLY);
	const char *fds[] = {"ls", "/proc/self/fd", NULL};
	run(&r, fds, NULL, NULL, 5000);
	is_str((const char *)r.out, "0\n1\n2\n3\n", "only 0-2 inherited (3 is ls's own)");
	exec_result_free(&r);
	close(leak);

	/* an ignored and a blocked signal of ours do not carry over */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGINT, &ign, &old);
	sigset_t m, oldm;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, &oldm);
	const char *status[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
	run(&r, status, NULL, NULL, 5000);
	is_str((const char *)r.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
	       "default dispositions, empty mask in the child");
	exec_result_free(&r);
	sigprocmask(SIG_SETMASK, &oldm, NULL);
	sigaction(SIGINT, &old, NULL);

	const char *stat[] = {"sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$", NULL};
	run(&r, stat, NULL, NULL, 5000);
	char pg[32] = "", me[32] = "";
	sscanf((const char *)r.out, "%31s %31s", pg, me);
	ok(*pg && !strcmp(pg, me), "the command leads its own process group");
	exec_result_free(&r);

	const char *pwd[] = {"pwd", NULL};
	s = (struct exec_spec){.argv = pwd, .envp = plain_env, .cwd = root, .timeout_ms = 5000, .stdout_max = 4096,
			       .stderr_max = 4096};
	exec_run(&s, &r);
	char want[96];
	snprintf(want, sizeof want, "%s\n", root);
	is_str((const char *)r.out, want, "cwd applied");
	exec_result_free(&r);
}

/* ---------- repo_context, without git ---------- */

/* A string member, "" when absent, so a failed call fails its checks. */
static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

struct mem_file {
	const char *path, *text;
};

static int mem_read(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, size_t *total)
{
	for (const struct mem_file *f = arg; f->path; f++) {
		if (strcmp(f->path, path))
			continue;
		size_t n = strlen(f->text);
		*total = n;
		*len = n < max ? n : max;
		*data = xmalloc(*len + 1);
		memcpy(*data, f->text, *len);
		(*data)[*len] = 0;
		return 0;
	}
	return -1;
}

static void test_repo_context(void)
{
	const char *paths[] = {".github/workflows/ci.yml", "Makefile", "README.md", "lib/a.c", "lib/a.h",
			       "lib/b.cpp", "tool.py", ".bashrc", "x/README.md"};
	size_t n = sizeof paths / sizeof paths[0];
	struct mem_file files[] = {
		{"Makefile", "CFLAGS := -O2\n.PHONY: all test\nall test: build\n\tcc -o x x.c\n"},
		{"README.md", "# Title\n"},
		{NULL, NULL},
	};
	json_t *lang = repo_context_languages(paths, n);
	ok(json_integer_value(json_object_get(lang, "C")) == 2 && json_integer_value(json_object_get(lang, "C++")) == 1 &&
	   json_integer_value(json_object_get(lang, "Python")) == 1 && json_object_size(lang) == 3,
	   "languages counted by extension (dotfiles have none)");
	const char *first;
	json_t *v;
	json_object_foreach(lang, first, v) break;
	is_str(first, "C", "the most used language comes first");
	json_decref(lang);
	is_str(repo_context_test_command(paths, n, mem_read, files), "make test", "a rule with test among its targets");
	ok(repo_context_has_ci(paths, n), "GitHub workflows count as CI");

	struct mem_file noteset[] = {{"Makefile", "test := 1\n\techo test:\n# test:\nall:\n"}, {NULL, NULL}};
	const char *mk[] = {"Makefile", "CMakeLists.txt"};
	is_str(repo_context_test_command(mk, 2, mem_read, noteset), "ctest",
	       "assignment, recipe and comment are no test target: falls through to ctest");
	ok(!repo_context_has_ci(mk, 2), "no CI files: no CI");

	struct mem_file npm[] = {{"package.json", "{\"scripts\":{\"test\":\"jest\"}}"}, {NULL, NULL}};
	struct mem_file npm_default[] = {
		{"package.json", "{\"scripts\":{\"test\":\"echo \\\"Error: no test specified\\\" && exit 1\"}}"},
		{NULL, NULL}};
	const char *pj[] = {"package.json", "go.mod"};
	is_str(repo_context_test_command(pj, 1, mem_read, npm), "npm test", "package.json test script");
	is_str(repo_context_test_command(pj, 2, mem_read, npm_default), "go test ./...",
	       "npm's placeholder is no test; go.mod next");
	const char *rs[] = {"Cargo.toml"}, *py[] = {"setup.py"}, *nothing[] = {"notes.txt"};
	is_str(repo_context_test_command(rs, 1, mem_read, NULL), "cargo test", "Cargo.toml: cargo test");
	is_str(repo_context_test_command(py, 1, mem_read, NULL), "pytest", "setup.py: pytest");
	ok(repo_context_test_command(nothing, 1, mem_read, NULL) == NULL, "nothing to go on: null");

	json_t *env = repo_context_build(paths, n, mem_read, files);
	json_t *readme = json_object_get(env, "readme");
	is_str(json_string_value(json_object_get(readme, "path")), "README.md", "top-level README found");
	is_str(json_string_value(json_object_get(readme, "content")), "# Title\n", "README content");
	json_t *ep = json_object_get(env, "entrypoints");
	ok(json_array_size(ep) == 1 && !strcmp(json_string_value(json_array_get(ep, 0)), "Makefile"), "entrypoints");
	ok(json_array_size(json_object_get(env, "tree")) == n && json_is_false(json_object_get(env, "tree_truncated")),
	   "whole tree listed");
	json_decref(env);

	/* a long README is cut on a character boundary; lowercase name */
	char *longtext = xmalloc(REPO_README_MAX + 10);
	memset(longtext, 'a', REPO_README_MAX - 1);
	memcpy(longtext + REPO_README_MAX - 1, "\xC3\xA9tail", 7);
	struct mem_file lf[] = {{"readme.md", longtext}, {NULL, NULL}};
	const char **many = xcalloc(REPO_TREE_MAX + 5, sizeof *many);
	char (*names)[16] = xcalloc(REPO_TREE_MAX + 5, 16);
	many[0] = "readme.md";
	for (size_t i = 1; i < REPO_TREE_MAX + 5; i++) {
		snprintf(names[i], 16, "f%zu.go", i);
		many[i] = names[i];
	}
	env = repo_context_build(many, REPO_TREE_MAX + 5, mem_read, lf);
	readme = json_object_get(env, "readme");
	ok(json_is_true(json_object_get(readme, "truncated")) &&
	   json_string_length(json_object_get(readme, "content")) == REPO_README_MAX - 1,
	   "README cut at the cap without splitting a character");
	ok(json_array_size(json_object_get(env, "tree")) == REPO_TREE_MAX && json_is_true(json_object_get(env, "tree_truncated")),
	   "tree capped at %d", REPO_TREE_MAX);
	ok(json_integer_value(json_object_get(json_object_get(json_object_get(env, "signals"), "languages"), "Go")) ==
	   REPO_TREE_MAX + 4, "languages count the whole list, not only the shown tree");
	json_decref(env);
	free(names);
	free(many);
	free(longtext);

	/* the real reader: a README that points out of the clone is skipped */
	char dir[128], lnk[160], txt[160];
	snprintf(dir, sizeof dir, "%s/rc", root);
	snprintf(lnk, sizeof lnk, "%s/README.md", dir);
	snprintf(txt, sizeof txt, "%s/README.txt", dir);
	mkdir(dir, 0700);
	int fd = open(txt, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok(fd >= 0 && write(fd, "plain\n", 6) == 6 && symlink("/etc/passwd", lnk) == 0, "a clone with an escaping README.md");
	close(fd);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *rp[] = {"README.md", "README.txt"};
	env = repo_context_build(rp, 2, repo_read_at, &dfd);
	readme = json_object_get(env, "readme");
	ok(!strcmp(jstr(readme, "path"), "README.txt") && !strcmp(jstr(readme, "content"), "plain\n"),
	   "a symlink out of the clone is not read; the next README is");
	json_decref(env);
	close(dfd);

	char z[] = "a\0bb\0partial";
	const char **sp;
	size_t zn = repo_split_z(z, sizeof z - 1, &sp);
	ok(zn == 2 && !strcmp(sp[0], "a") && !strcmp(sp[1], "bb"), "split -z drops a cut last entry");
	free(sp);
}

/* ---------- the packs, with real git ---------- */

static const struct pack_def *find_pack(const char *name)
{
	for (size_t i = 0; i < exec_packs_n; i++)
		if (!strcmp(exec_packs[i].name, name))
			return &exec_packs[i];
	return NULL;
}

static void test_schemas(void)
{
	int good = exec_packs_n == 6;
	for (size_t i = 0; i < exec_packs_n; i++) {
		const struct pack_def *d = &exec_packs[i];
		json_t *in = json_loads(d->input_schema, 0, NULL), *out = json_loads(d->output_schema, 0, NULL);
		js_error e;
		if (!in || !out || jsonschema_check(in, &e) < 0 || jsonschema_check(out, &e) < 0) {
			good = 0;
			printf("# %s: schema refused: %s at %s\n", d->name, in && out ? e.msg : "not JSON", in && out ? e.path : "");
		}
		if (strcmp(d->cls, "exec") || d->version != 1 || !d->description || strlen(d->description) < 20)
			good = 0;
		json_decref(in);
		json_decref(out);
	}
	ok(good, "six exec packs, class exec, version 1, schemas the validator accepts");
}

/* Run a pack as the worker would: input validated first, output after. */
static json_t *call(const char *name, struct pack_ctx *ctx, json_t *in)
{
	const struct pack_def *d = find_pack(name);
	json_t *is = json_loads(d->input_schema, 0, NULL), *os = json_loads(d->output_schema, 0, NULL);
	js_error e;
	if (!in || jsonschema_validate(is, in, &e) < 0)
		ok(0, "%s: input passes its schema (%s at %s)", name, in ? e.msg : "no input", in ? e.path : "");
	ctx->err_code[0] = ctx->err_msg[0] = ctx->err_detail[0] = 0;
	ctx->pack = name;
	json_t *out = in ? d->fn(in, ctx) : NULL;
	if (out && jsonschema_validate(os, out, &e) < 0) {
		char *s = json_dumps(out, JSON_COMPACT);
		ok(0, "%s: output matches its schema (%s at %s): %.300s", name, e.msg, e.path, s);
		free(s);
	}
	if (!out && !ctx->err_code[0])
		ok(0, "%s: a failure sets its error code", name);
	json_decref(is);
	json_decref(os);
	json_decref(in);
	return out;
}

static int fails_with(const struct pack_ctx *ctx, json_t *out, const char *code, const char *label)
{
	int c = !out && !strcmp(ctx->err_code, code);
	ok(c, "%s: %s", label, code);
	if (!c)
		printf("#   got %s: %s\n", out ? "success" : ctx->err_code, ctx->err_msg);
	json_decref(out);
	return c;
}


/* A shell script for the test's own git setup (a fixed identity). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *script;
	if (vasprintf(&script, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *home = xasprintf("HOME=%s", root);
	const char *envp[] = {"PATH=/usr/bin:/bin", home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			      "GIT_AUTHOR_NAME=Seed", "GIT_AUTHOR_EMAIL=seed@example.org", "GIT_COMMITTER_NAME=Seed",
			      "GIT_COMMITTER_EMAIL=seed@example.org", NULL};
	const char *argv[] = {"sh", "-ec", script, NULL};
	struct exec_result r;
	struct exec_spec s = {.argv = argv, .envp = envp, .cwd = root, .timeout_ms = 30000, .stdout_max = 65536,
			      .stderr_max = 65536};
	int rc = exec_run(&s, &r) == 0 ? r.exit_code : -1;
	if (rc != 0)
		printf("# sh failed (%d): %s\n# %s\n", rc, script, r.err);
	exec_result_free(&r);
	free(script);
	free(home);
	return rc;
}

static char *sh_out(const char *script)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	const char *envp[] = {"PATH=/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", NULL};
	struct exec_result r;
	struct exec_spec s = {.argv = argv, .envp = envp, .cwd = root, .timeout_ms = 30000, .stdout_max = 65536,
			      .stderr_max = 65536};
	if (exec_run(&s, &r) < 0)
		return xstrdup("");
	char *o = xstrdup((const char *)r.out);
	exec_result_free(&r);
	size_t n = strlen(o);
	while (n && o[n - 1] == '\n')
		o[--n] = 0;
	return o;
}

struct fixture {
	char bare[96], ws[96], url[128];
	struct pack_ctx ctx;
};

static void fixture_ctx(struct fixture *f, const char *ws)
{
	snprintf(f->ws, sizeof f->ws, "%s/%s", root, ws);
	mkdir(f->ws, 0700);
	memset(&f->ctx, 0, sizeof f->ctx);
	f->ctx.ws_fd = f->ctx.artifacts_fd = -1;
	f->ctx.ws_path = f->ws;
	f->ctx.ws_id = "ws-test";
	f->ctx.remote_url = f->url;
	f->ctx.remote_display = f->bare;
}

static void seed_remote(struct fixture *f)
{
	snprintf(f->bare, sizeof f->bare, "%s/remote.git", root);
	snprintf(f->url, sizeof f->url, "file://%s", f->bare);
	ok(sh("git init -q --bare -b main remote.git\n"
	      "git init -q -b main seed && cd seed\n"
	      "printf '# Demo\\nA demo project.\\n' > README.md\n"
	      "printf 'all:\\n\\tcc -o demo src/main.c\\ntest: all\\n\\t./demo\\n' > Makefile\n"
	      "mkdir -p src .github/workflows\n"
	      "echo 'int main(void){return 0;}' > src/main.c\n"
	      "echo '#pragma once' > src/util.h\n"
	      "echo 'print(1)' > tool.py\n"
	      "echo 'on: push' > .github/workflows/ci.yml\n"
	      "git add -A && git commit -q -m seed && git tag v1\n"
	      "git push -q ../remote.git main v1\n") == 0,
	   "seeded a bare remote");
}

static void test_fetch(struct fixture *f)
{
	fixture_ctx(f, "ws");
	json_t *out = call("repo.fetch", &f->ctx, json_pack("{s:s}", "url", f->bare));
	ok(out != NULL, "repo.fetch clones (%s %s)", f->ctx.err_msg, f->ctx.err_detail);
	is_str(jstr(out, "clone_path"), "ws-test", "clone_path is the workspace handle");
	is_str(jstr(out, "url"), f->bare, "url as the caller named it");
	is_str(jstr(out, "branch"), "main", "on branch main");
	char *seed = sh_out("git -C seed rev-parse HEAD");
	is_str(jstr(out, "commit"), seed, "commit is the seed's");
	json_t *readme = json_object_get(out, "readme");
	is_str(jstr(readme, "path"), "README.md", "README found");
	is_str(jstr(readme, "content"), "# Demo\nA demo project.\n", "README content");
	json_t *sig = json_object_get(out, "signals");
	is_str(jstr(sig, "test_command"), "make test", "Makefile with test: gives make test");
	ok(json_integer_value(json_object_get(json_object_get(sig, "languages"), "C")) == 2 &&
	   json_integer_value(json_object_get(json_object_get(sig, "languages"), "Python")) == 1, "languages C 2, Python 1");
	ok(json_is_true(json_object_get(sig, "has_ci")), "has_ci from .github/workflows");
	json_t *ep = json_object_get(out, "entrypoints");
	ok(json_array_size(ep) == 1 && !strcmp(json_string_value(json_array_get(ep, 0)), "Makefile"), "Makefile entrypoint");
	ok(json_array_size(json_object_get(out, "tree")) == 6, "tree lists the 6 tracked files");
	json_decref(out);

	struct fixture g = *f;
	fixture_ctx(&g, "ws-tag");
	out = call("repo.fetch", &g.ctx, json_pack("{s:s,s:s}", "url", g.bare, "ref", "v1"));
	ok(out && json_is_null(json_object_get(out, "branch")) && !strcmp(jstr(out, "commit"), seed),
	   "ref v1 (a tag): detached at the seed");
	json_decref(out);
	fixture_ctx(&g, "ws-sha");
	out = call("repo.fetch", &g.ctx, json_pack("{s:s,s:s}", "url", g.bare, "ref", seed));
	ok(out && !strcmp(jstr(out, "commit"), seed), "ref as a sha");
	json_decref(out);
	fixture_ctx(&g, "ws-depth");
	out = call("repo.fetch", &g.ctx, json_pack("{s:s,s:s,s:i}", "url", g.bare, "ref", "main", "depth", 1));
	ok(out && !strcmp(jstr(out, "branch"), "main"), "depth 1 with a branch");
	json_decref(out);
	fixture_ctx(&g, "ws-noref");
	fails_with(&g.ctx, call("repo.fetch", &g.ctx, json_pack("{s:s,s:s}", "url", g.bare, "ref", "no-such-ref")),
		   "invalid_input", "unknown ref");
	ok(strstr(g.ctx.err_detail, "no-such-ref") != NULL, "the detail is git's line (%s)", g.ctx.err_detail);
	fixture_ctx(&g, "ws-pathref");
	fails_with(&g.ctx, call("repo.fetch", &g.ctx, json_pack("{s:s,s:s}", "url", g.bare, "ref", "README.md")),
		   "invalid_input", "a file name is no ref");
	fixture_ctx(&g, "ws-dash");
	fails_with(&g.ctx, call("repo.fetch", &g.ctx, json_pack("{s:s,s:s}", "url", g.bare, "ref", "--upload-pack=x")),
		   "invalid_input", "a ref starting with '-'");
	fixture_ctx(&g, "ws-norepo");
	snprintf(g.url, sizeof g.url, "file://%s/seed/src", root);
	g.ctx.remote_url = g.url;
	fails_with(&g.ctx, call("repo.fetch", &g.ctx, json_pack("{s:s}", "url", "elsewhere")), "invalid_input",
		   "fetch of a non-repository");
	ok(strstr(g.ctx.err_detail, "does not appear to be a git repository") != NULL, "detail: %s", g.ctx.err_detail);
	snprintf(g.url, sizeof g.url, "%s", f->url);
	fixture_ctx(&g, "ws-cap");
	g.ctx.ws_max_bytes = 8192;
	fails_with(&g.ctx, call("repo.fetch", &g.ctx, json_pack("{s:s}", "url", g.bare)), "resource_exhausted",
		   "clone over the size cap");
	free(seed);
}

static json_t *cmd(struct fixture *f, json_t *extra, const char *const *argv)
{
	json_t *in = json_pack("{s:s,s:[]}", "clone_path", "ws-test", "command");
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(json_object_get(in, "command"), json_string(argv[i]));
	if (extra) {
		json_object_update(in, extra);
		json_decref(extra);
	}
	return call("cmd.run", &f->ctx, in);
}

static void test_cmd_run(struct fixture *f)
{
	const char *mk[] = {"sh", "-c", "echo made > new.txt; echo oops >&2; echo added >> README.md; exit 4", NULL};
	json_t *out = cmd(f, NULL, mk);
	ok(out && json_integer_value(json_object_get(out, "exit_code")) == 4 &&
	   json_integer_value(json_object_get(out, "signal")) == 0, "cmd.run: a non-zero exit is a result");
	is_str(jstr(out, "stderr"), "oops\n", "stderr");
	char path[160];
	snprintf(path, sizeof path, "%s/new.txt", f->ws);
	ok(access(path, F_OK) == 0, "the command wrote into the workspace");
	json_decref(out);

	const char *bin[] = {"printf", "a\\377b", NULL};
	out = cmd(f, NULL, bin);
	is_str(jstr(out, "stdout"), "a\xEF\xBF\xBD" "b", "non-UTF-8 output sanitized");
	json_decref(out);

	const char *missing[] = {"no-such-program-t-exec", NULL};
	out = cmd(f, NULL, missing);
	ok(out && json_integer_value(json_object_get(out, "exit_code")) == 127 &&
	   !strcmp(jstr(out, "stderr"), "helmdeck: cannot execute no-such-program-t-exec: No such file or directory"),
	   "a command that cannot start: exit 127 and why");
	json_decref(out);

	setenv("T_EXEC_OURS", "secret", 1);
	const char *envcmd[] = {"sh", "-c", "echo \"$FOO|$HOME|$LANG|$GIT_CONFIG_GLOBAL|${T_EXEC_OURS:-unset}\"", NULL};
	out = cmd(f, json_pack("{s:{s:s}}", "env", "FOO", "bar"), envcmd);
	is_str(jstr(out, "stdout"), "bar|/tmp|C.UTF-8|/etc/helmdeck-git.conf|unset\n", "env given, fixed env present, ours absent");
	json_decref(out);
	unsetenv("T_EXEC_OURS");
	fails_with(&f->ctx, cmd(f, json_pack("{s:{s:s}}", "env", "1BAD", "x"), envcmd), "invalid_input", "bad env name");

	const char *pwd[] = {"pwd", NULL};
	out = cmd(f, json_pack("{s:s}", "cwd", "src"), pwd);
	char want[160];
	snprintf(want, sizeof want, "%s/src\n", f->ws);
	is_str(jstr(out, "stdout"), want, "cwd inside the workspace");
	json_decref(out);
	fails_with(&f->ctx, cmd(f, json_pack("{s:s}", "cwd", "../x"), pwd), "invalid_input", "cwd ../x");
	fails_with(&f->ctx, cmd(f, json_pack("{s:s}", "cwd", "nope"), pwd), "invalid_input", "cwd that does not exist");

	const char *cat[] = {"cat", NULL};
	out = cmd(f, json_pack("{s:s}", "stdin", "fed"), cat);
	is_str(jstr(out, "stdout"), "fed", "stdin");
	json_decref(out);

	const char *flood[] = {"sh", "-c", "yes | head -c 600000", NULL};
	out = cmd(f, NULL, flood);
	ok(out && json_is_true(json_object_get(out, "stdout_truncated")) &&
	   json_string_length(json_object_get(out, "stdout")) == 512 * 1024, "stdout capped at 512 KiB");
	json_decref(out);

	const char *slow[] = {"sh", "-c", "echo waiting-for-godot >&2; trap '' TERM; sleep 30", NULL};
	fails_with(&f->ctx, cmd(f, json_pack("{s:i}", "timeout_s", 1), slow), "timeout", "cmd.run over its timeout");
	ok(strstr(f->ctx.err_detail, "waiting-for-godot") && strstr(f->ctx.err_msg, "1 s timeout"),
	   "timeout names the limit, stderr tail in the detail");

	json_t *bad = json_pack("{s:s,s:[s],s:b}", "clone_path", "ws-test", "command", "true", "shell", 1);
	const struct pack_def *d = find_pack("cmd.run");
	json_t *is = json_loads(d->input_schema, 0, NULL);
	ok(jsonschema_validate(is, bad, NULL) < 0, "the input schema refuses unknown fields");
	json_decref(is);
	json_decref(bad);

	uint64_t saved = f->ctx.ws_max_bytes;
	f->ctx.ws_max_bytes = 4096;
	const char *t[] = {"true", NULL};
	fails_with(&f->ctx, cmd(f, NULL, t), "resource_exhausted", "workspace over its cap after the command");
	ok(strstr(f->ctx.err_msg, "fs.delete") != NULL, "the message says how to get under the cap");
	f->ctx.ws_max_bytes = saved;
}

static json_t *ws_in(json_t *o)
{
	json_object_set_new(o, "clone_path", json_string("ws-test"));
	return o;
}

static void test_git_local(struct fixture *f)
{
	json_t *out = call("git.diff", &f->ctx, ws_in(json_object()));
	ok(out && strstr(jstr(out, "diff"), "+added") && json_array_size(json_object_get(out, "files")) == 1 &&
	   !strcmp(json_string_value(json_array_get(json_object_get(out, "files"), 0)), "README.md"),
	   "git.diff shows the change (not the untracked file)");
	ok(out && json_is_false(json_object_get(out, "truncated")), "diff not truncated");
	json_decref(out);
	out = call("git.diff", &f->ctx, ws_in(json_pack("{s:b}", "staged", 1)));
	ok(out && !strcmp(jstr(out, "diff"), "") && json_array_size(json_object_get(out, "files")) == 0,
	   "nothing staged yet");
	json_decref(out);
	fails_with(&f->ctx, call("git.diff", &f->ctx, ws_in(json_pack("{s:[s]}", "paths", "../x"))), "invalid_input",
		   "git.diff path ../x");

	fails_with(&f->ctx, call("git.commit", &f->ctx, ws_in(json_pack("{s:s,s:[s]}", "message", "m", "paths", "../x"))),
		   "invalid_input", "git.commit path ../x");
	fails_with(&f->ctx, call("git.commit", &f->ctx, ws_in(json_pack("{s:s,s:[s]}", "message", "m", "paths", "missing"))),
		   "invalid_input", "git.commit of a path that matches nothing");
	setenv("HELMDECK_GIT_AUTHOR_NAME", "Test Agent", 1);
	out = call("git.commit", &f->ctx, ws_in(json_pack("{s:s}", "message", "\nsecond commit  \n\nthe body")));
	unsetenv("HELMDECK_GIT_AUTHOR_NAME");
	ok(out && strlen(jstr(out, "commit")) == 40, "git.commit commits (%s %s)", f->ctx.err_msg, f->ctx.err_detail);
	is_str(jstr(out, "branch"), "main", "on main");
	is_str(jstr(out, "summary"), "second commit", "summary is the subject line");
	json_t *files = json_object_get(out, "files");
	ok(json_array_size(files) == 2 && !strcmp(json_string_value(json_array_get(files, 0)), "README.md") &&
	   !strcmp(json_string_value(json_array_get(files, 1)), "new.txt"), "files: the changed paths");
	json_decref(out);
	fails_with(&f->ctx, call("git.commit", &f->ctx, ws_in(json_pack("{s:s}", "message", "again"))), "invalid_input",
		   "nothing to commit");
	is_str(f->ctx.err_msg, "nothing to commit", "says so");

	out = call("git.log", &f->ctx, ws_in(json_pack("{s:i}", "limit", 10)));
	json_t *c = json_object_get(out, "commits");
	ok(json_array_size(c) == 2, "git.log lists 2 commits");
	is_str(jstr(json_array_get(c, 0), "subject"), "second commit", "newest first");
	is_str(jstr(json_array_get(c, 0), "author"), "Test Agent", "author from HELMDECK_GIT_AUTHOR_NAME");
	is_str(jstr(json_array_get(c, 0), "email"), "helmdeck-agent@localhost", "default author email");
	is_str(jstr(json_array_get(c, 1), "subject"), "seed", "then the seed");
	const char *date = jstr(json_array_get(c, 1), "date");
	ok(date && strlen(date) >= 20 && date[4] == '-' && date[10] == 'T', "strict ISO 8601 date (%s)", date);
	json_decref(out);
	out = call("git.log", &f->ctx, ws_in(json_pack("{s:i}", "limit", 1)));
	ok(json_array_size(json_object_get(out, "commits")) == 1, "limit respected");
	json_decref(out);

	struct fixture e = *f;
	fixture_ctx(&e, "ws-empty");
	ok(sh("git init -q ws-empty") == 0, "an empty repository");
	out = call("git.log", &e.ctx, ws_in(json_object()));
	ok(out && json_array_size(json_object_get(out, "commits")) == 0, "git.log of an empty repository: []");
	json_decref(out);
	fixture_ctx(&e, "ws-plain");
	fails_with(&e.ctx, call("git.log", &e.ctx, ws_in(json_object())), "invalid_input", "git.log outside a repository");
	fails_with(&e.ctx, call("git.diff", &e.ctx, ws_in(json_object())), "invalid_input",
		   "git.diff outside a repository (no silent --no-index)");
	fails_with(&e.ctx, call("git.commit", &e.ctx, ws_in(json_pack("{s:s}", "message", "m"))), "invalid_input",
		   "git.commit outside a repository");
}

static void test_push(struct fixture *f)
{
	json_t *out = call("repo.push", &f->ctx, ws_in(json_object()));
	ok(out != NULL, "repo.push (%s %s)", f->ctx.err_msg, f->ctx.err_detail);
	is_str(jstr(out, "url"), f->bare, "url as the caller named it");
	is_str(jstr(out, "branch"), "main", "pushed the current branch");
	char *seen = sh_out("git clone -q remote.git check && git -C check log -1 --format=%H");
	is_str(seen, jstr(out, "commit"), "a fresh clone of the remote sees the commit");
	free(seen);
	json_decref(out);

	ok(sh("git clone -q remote.git other && cd other && echo x > other.txt && git add other.txt && "
	      "git commit -q -m diverge && git push -q origin main") == 0, "a diverging commit pushed from elsewhere");
	const char *local[] = {"sh", "-c", "echo local > local.txt", NULL};
	json_decref(cmd(f, NULL, local));
	json_decref(call("git.commit", &f->ctx, ws_in(json_pack("{s:s}", "message", "local"))));
	fails_with(&f->ctx, call("repo.push", &f->ctx, ws_in(json_object())), "schema_mismatch", "non-fast-forward push");
	ok(strstr(f->ctx.err_detail, "[rejected]") != NULL, "detail has the rejection (%s)", f->ctx.err_detail);
	out = call("repo.push", &f->ctx, ws_in(json_pack("{s:b}", "force", 1)));
	ok(out != NULL, "force push goes through");
	json_decref(out);

	fails_with(&f->ctx, call("repo.push", &f->ctx, ws_in(json_pack("{s:s}", "branch", "-delete"))), "invalid_input",
		   "branch starting with '-'");
	fails_with(&f->ctx, call("repo.push", &f->ctx, ws_in(json_pack("{s:s}", "branch", "a..b"))), "invalid_input",
		   "invalid branch name");
	const char *detach[] = {"git", "checkout", "-q", "--detach", NULL};
	json_decref(cmd(f, NULL, detach));
	fails_with(&f->ctx, call("repo.push", &f->ctx, ws_in(json_object())), "invalid_input",
		   "detached HEAD and no branch");
	out = call("repo.push", &f->ctx, ws_in(json_pack("{s:s}", "branch", "feature")));
	char *feat = sh_out("git -C remote.git rev-parse -q --verify refs/heads/feature");
	ok(out && !strcmp(feat, jstr(out, "commit")), "detached HEAD pushed to a named branch");
	free(feat);
	json_decref(out);
	f->ctx.remote_url = NULL;
	fails_with(&f->ctx, call("repo.push", &f->ctx, ws_in(json_object())), "invalid_input", "no remote mounted");
	f->ctx.remote_url = f->url;
}

static void test_diff_cap(struct fixture *f)
{
	const char *grow[] = {"sh", "-c", "yes 'a line of text' | head -c 1300000 >> README.md", NULL};
	json_decref(cmd(f, NULL, grow));
	json_t *out = call("git.diff", &f->ctx, ws_in(json_object()));
	ok(out && json_is_true(json_object_get(out, "truncated")) &&
	   json_string_length(json_object_get(out, "diff")) <= 1024 * 1024 &&
	   json_string_length(json_object_get(out, "diff")) > 1000 * 1000, "a diff over 1 MiB is cut at 1 MiB");
	json_decref(out);
}

int main(void)
{
	/* orphans of our commands come to us, so we can prove none is left */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(root, sizeof root, "/tmp/t_exec.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_runner_basics();
	test_runner_kills();
	test_runner_start();
	test_runner_pid1();
	test_runner_low_fds();
	test_repo_context();
	test_schemas();
	struct fixture f;
	memset(&f, 0, sizeof f);
	seed_remote(&f);
	test_fetch(&f);
	test_cmd_run(&f);
	test_git_local(&f);
	test_push(&f);
	test_diff_cap(&f);

	const char *rm[] = {"rm", "-rf", root, NULL};
	struct exec_result r;
	run(&r, rm, NULL, NULL, 30000);
	exec_result_free(&r);
	ok(access(root, F_OK) < 0, "temp dirs removed");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "no process left behind");
	return done_testing();
}
