/* TAP tests for workers/packs/fs.c: every fs pack against a temp workspace
 * held as a descriptor, every escape and error path, outputs checked
 * against the output schemas, and one run of each pack under the real
 * worker-fs seccomp policy. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "workers/packs/registry.h"
#include "workers/packs/jsonschema.h"
#include "workers/packs/wsutil.h"
#include "supervisor/landlock.h"
#include "supervisor/seccomp_policy.h"
#include "common/b64.h"
#include "common/util.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int ws = -1;
static char ws_dir[64], out_dir[64];
static struct pack_ctx ctx;

static const struct pack_def *find(const char *name)
{
	for (size_t i = 0; i < fs_packs_n; i++)
		if (!strcmp(fs_packs[i].name, name))
			return &fs_packs[i];
	printf("Bail out! no pack %s\n", name);
	exit(2);
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	if (!v) {
		printf("Bail out! bad test JSON (%s): %s\n", e.text, text);
		exit(2);
	}
	return v;
}

static int schema_valid(const char *schema_text, const json_t *v, js_error *err)
{
	json_t *s = J(schema_text);
	int rc = jsonschema_validate(s, v, err);
	json_decref(s);
	return rc == 0;
}

static void ctx_reset(void)
{
	ctx = (struct pack_ctx){.ws_fd = ws, .artifacts_fd = -1, .actor = "t", .ws_id = "ws-test",
				.ws_max_bytes = ctx.ws_max_bytes};
}

/* As the api runs a pack: the input must pass input_schema (unless raw,
 * for inputs the api would refuse, to show the handler refuses them too)
 * and a result must pass output_schema. Takes the input's reference. */
static json_t *run_as(const char *name, json_t *in, int raw)
{
	const struct pack_def *p = find(name);
	js_error err;
	if (!in) {
		printf("Bail out! test input for %s did not build\n", name);
		exit(2);
	}
	if (!raw && !schema_valid(p->input_schema, in, &err))
		ok(0, "%s: test input passes the input schema (%s: %s)", name, err.path, err.msg);
	ctx_reset();
	ctx.pack = name;
	json_t *out = p->fn(in, &ctx);
	json_decref(in);
	if (out && !schema_valid(p->output_schema, out, &err))
		ok(0, "%s: output passes the output schema (%s: %s)", name, err.path, err.msg);
	return out;
}

static json_t *run(const char *name, json_t *in) { return run_as(name, in, 0); }

/* The pack fails with exactly this code and a message containing frag. */
static void expect_fail_as(const char *name, json_t *in, int raw, const char *code, const char *frag, const char *label)
{
	json_t *out = run_as(name, in, raw);
	int good = !out && !strcmp(ctx.err_code, code) && strstr(ctx.err_msg, frag);
	ok(good, "%s", label);
	if (!good)
		printf("#   got: %s '%s' (%s)\n#   expected: %s '...%s...'\n", out ? "success" : ctx.err_code, ctx.err_msg,
		       ctx.err_detail, code, frag);
	json_decref(out);
}

static void expect_fail(const char *name, json_t *in, const char *code, const char *frag, const char *label)
{
	expect_fail_as(name, in, 0, code, frag, label);
}

static const char *sget(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_int_t iget(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static int bget(const json_t *o, const char *k) { return json_is_true(json_object_get(o, k)); }

static void put_file(const char *rel, const void *data, size_t len)
{
	int fd = openat(ws, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		printf("Bail out! cannot create %s: %s\n", rel, strerror(errno));
		exit(2);
	}
	close(fd);
}

static void put_text(const char *rel, const char *text) { put_file(rel, text, strlen(text)); }

static void put_dir(const char *rel)
{
	if (mkdirat(ws, rel, 0755) < 0 && errno != EEXIST) {
		printf("Bail out! cannot mkdir %s: %s\n", rel, strerror(errno));
		exit(2);
	}
}

static void put_link(const char *target, const char *rel)
{
	if (symlinkat(target, ws, rel) < 0) {
		printf("Bail out! cannot symlink %s: %s\n", rel, strerror(errno));
		exit(2);
	}
}

/* The file's content as a NUL-terminated string, or NULL. */
static char *slurp_at(int dirfd, const char *rel, size_t *len)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	char *buf = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	if (len)
		*len = (size_t)n;
	return buf;
}

static char *slurp(const char *rel) { return slurp_at(ws, rel, NULL); }

static int exists(const char *rel)
{
	struct stat st;
	return fstatat(ws, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static mode_t mode_of(const char *rel)
{
	struct stat st;
	return fstatat(ws, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & 07777 : 0;
}

static void sha256_hex(const void *d, size_t n, char hex[65])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned ml;
	EVP_Digest(d, n, md, &ml, EVP_sha256(), NULL);
	hex_encode(md, 32, hex);
}

/* Temp files a failed or finished write must not leave behind. */
static int temp_files_in(const char *rel)
{
	int fd = openat(ws, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, ".hd-tmp-", 8);
	closedir(d);
	return n;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---------- the packs under the real seccomp policy ---------- */

/* 1 when the pack did not end as expected (success, or the error code). */
static int sandboxed_run(const char *name, const char *input, const char *want_code)
{
	json_t *in = J(input);
	ctx_reset();
	json_t *out = find(name)->fn(in, &ctx);
	json_decref(in);
	int bad = want_code ? out || strcmp(ctx.err_code, want_code) : !out;
	if (bad)
		fprintf(stderr, "# sandboxed %s: %s: %s\n", name, out ? "succeeded" : ctx.err_code, ctx.err_msg);
	json_decref(out);
	return bad;
}

/* A forked child puts itself under worker-fs.policy (default: kill the
 * process) and Landlock, as a worker does, and runs every pack, so a
 * syscall the policy lacks shows up as SIGSYS. Run first, before OpenSSL
 * or jansson are warmed up in this process. */
static void test_seccomp_policy(void)
{
	const char *dir = getenv("HELMDECK_POLICY_DIR");
	if (!dir || !*dir)
		dir = "policy";
	char err[256];
	struct sc_policy *pol = sc_policy_load(dir, "worker-fs", err, sizeof err);
	if (!ok(pol != NULL, "worker-fs policy loads from %s", dir)) {
		printf("#   %s\n", err);
		return;
	}
	char tmpl[] = "/tmp/t_fs_sc.XXXXXX";
	if (!mkdtemp(tmpl)) {
		ok(0, "sandbox temp dir");
		sc_policy_free(pol);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		ws = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		put_file("seed.bin", "\x00\x01\x02\xff", 4);
		put_link("/", "up");
		if (sc_policy_apply(pol, NULL, err, sizeof err) < 0) {
			fprintf(stderr, "# %s\n", err);
			_exit(3);
		}
		/* then Landlock beneath the workspace, in the worker's order */
		if (landlock_restrict(ws, LL_READ | LL_WRITE) < 0)
			fprintf(stderr, "# no Landlock in this kernel: seccomp only\n");
		ctx.ws_max_bytes = 1u << 30;  /* so ws_usage_bytes walks too */
		int bad = 0;
		bad += sandboxed_run("fs.write", "{\"clone_path\":\"w\",\"path\":\"d/e/f.txt\",\"content\":\"one two two\",\"create_dirs\":true}", NULL);
		bad += sandboxed_run("fs.write", "{\"clone_path\":\"w\",\"path\":\"d/e/f.txt\",\"content\":\"b25lIHR3byB0d28=\",\"encoding\":\"base64\"}", NULL);
		bad += sandboxed_run("fs.read", "{\"clone_path\":\"w\",\"path\":\"d/e/f.txt\"}", NULL);
		bad += sandboxed_run("fs.read", "{\"clone_path\":\"w\",\"path\":\"seed.bin\",\"max_bytes\":2}", NULL);
		bad += sandboxed_run("fs.list", "{\"clone_path\":\"w\",\"recursive\":true,\"glob\":\"*.txt\"}", NULL);
		bad += sandboxed_run("fs.patch", "{\"clone_path\":\"w\",\"path\":\"d/e/f.txt\",\"search\":\"two\",\"replace\":\"2\",\"occurrences\":0}", NULL);
		bad += sandboxed_run("fs.patch", "{\"clone_path\":\"w\",\"path\":\"d/e/f.txt\",\"edits\":[{\"oldText\":\"one\",\"newText\":\"1\"}]}", NULL);
		bad += sandboxed_run("fs.read", "{\"clone_path\":\"w\",\"path\":\"up/etc/passwd\"}", "invalid_input");
		bad += sandboxed_run("fs.delete", "{\"clone_path\":\"w\",\"path\":\"seed.bin\"}", NULL);
		bad += sandboxed_run("fs.delete", "{\"clone_path\":\"w\",\"path\":\"d\",\"recursive\":true}", NULL);
		_exit(bad ? 1 : 0);  /* _exit: no leak check, whose tracer the policy forbids */
	}
	ok_sandboxed_child(pid, "every fs pack runs under worker-fs.policy");
	sc_policy_free(pol);
	rm_tree(tmpl);
}

/* ---------- table and schemas ---------- */

static void test_table(void)
{
	ok(fs_packs_n == 5, "five fs packs");
	for (size_t i = 0; i < fs_packs_n; i++) {
		const struct pack_def *p = &fs_packs[i];
		json_error_t je;
		js_error err = {{0}, {0}};
		json_t *in = json_loads(p->input_schema, 0, &je), *out = json_loads(p->output_schema, 0, &je);
		ok(in && out && jsonschema_check(in, &err) == 0 && jsonschema_check(out, &err) == 0,
		   "%s: schemas are JSON and use only supported keywords %s%s", p->name, err.path, err.msg);
		json_t *ap = json_object_get(in, "additionalProperties");
		json_t *req = json_object_get(in, "required");
		ok(json_is_false(ap) && json_is_array(req) && json_is_string(json_array_get(req, 0)) &&
		   !strcmp(json_string_value(json_array_get(req, 0)), "clone_path"),
		   "%s: closed input schema requiring clone_path", p->name);
		int writes = strcmp(p->name, "fs.list") && strcmp(p->name, "fs.read");
		ok(!strcmp(p->cls, "fs") && p->version == 1 && p->timeout_ms == 30000 && p->ws == PACK_WS_USE &&
		   p->ws_write == writes && p->read_only == !writes && p->destructive == !strcmp(p->name, "fs.delete") &&
		   p->description && strlen(p->description) > 20 && p->fn,
		   "%s: class, version, timeout, workspace flags", p->name);
		json_decref(in);
		json_decref(out);
	}
}

/* ---------- fs.write ---------- */

static void test_write(void)
{
	json_t *o = run("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "abc.txt", "content", "abc"));
	ok(o && bget(o, "created") && iget(o, "bytes_written") == 3, "write creates a file");
	is_str(o ? sget(o, "sha256") : NULL, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 of \"abc\"");
	is_str(o ? sget(o, "path") : NULL, "abc.txt", "path echoed");
	json_decref(o);
	char *s = slurp("abc.txt");
	is_str(s, "abc", "content on disk");
	free(s);
	ok(mode_of("abc.txt") == 0644, "new file has mode 0644");

	ok(fchmodat(ws, "abc.txt", 0600, 0) == 0, "chmod 0600 for the next write");
	o = run("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "./abc.txt", "content", "replaced"));
	ok(o && !bget(o, "created") && iget(o, "bytes_written") == 8, "rewrite reports created=false");
	is_str(o ? sget(o, "path") : NULL, "abc.txt", "path normalized (./ dropped)");
	json_decref(o);
	s = slurp("abc.txt");
	is_str(s, "replaced", "rewritten content");
	free(s);
	ok(mode_of("abc.txt") == 0600, "rewrite keeps the old mode");
	ok(temp_files_in(".") == 0, "no temp file left behind");

	o = run("fs.write", json_pack("{s:s,s:s,s:s,s:s}", "clone_path", "ws-test", "path", "bin.dat", "content", "AAH/gA==",
				      "encoding", "base64"));
	size_t len = 0;
	s = slurp_at(ws, "bin.dat", &len);
	ok(o && iget(o, "bytes_written") == 4 && s && len == 4 && !memcmp(s, "\x00\x01\xff\x80", 4), "base64 content decoded");
	json_decref(o);
	free(s);
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s,s:s}", "clone_path", "ws-test", "path", "bad.dat", "content", "AAH/g",
					  "encoding", "base64"),
		    "invalid_input", "not valid base64", "bad base64 is invalid_input");
	ok(!exists("bad.dat"), "nothing written for bad base64");

	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "no/such/dir/f.txt", "content", "x"),
		    "invalid_input", "parent directory does not exist", "missing parent without create_dirs");
	o = run("fs.write", json_pack("{s:s,s:s,s:s,s:b}", "clone_path", "ws-test", "path", "deep/er/est/f.txt", "content", "x",
				      "create_dirs", 1));
	ok(o && bget(o, "created"), "create_dirs makes the parents");
	json_decref(o);
	s = slurp("deep/er/est/f.txt");
	is_str(s, "x", "file under created directories");
	free(s);
	o = run("fs.write", json_pack("{s:s,s:s,s:s,s:b}", "clone_path", "ws-test", "path", "deep/er/two.txt", "content", "y",
				      "create_dirs", 1));
	ok(o != NULL, "create_dirs with parents that already exist");
	json_decref(o);

	put_dir("adir");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "adir", "content", "x"),
		    "invalid_input", "is a directory", "write onto a directory");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", ".", "content", "x"),
		    "invalid_input", "workspace root", "write onto the workspace root");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "abc.txt/x", "content", "x"),
		    "invalid_input", "not a directory", "parent that is a file");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s,s:b}", "clone_path", "ws-test", "path", "abc.txt/x/y", "content", "x",
					  "create_dirs", 1),
		    "invalid_input", "not a directory", "create_dirs through a file");
	expect_fail_as("fs.write", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "nocontent.txt"), 1,
		       "invalid_input", "content must be a string", "missing content refused by the handler too");
	expect_fail_as("fs.write", json_pack("{s:s,s:s,s:s,s:s}", "clone_path", "ws-test", "path", "e.txt", "content", "x",
					     "encoding", "latin1"), 1,
		       "invalid_input", "encoding must be", "unknown encoding refused by the handler too");

	/* the workspace cap: refused before anything changes */
	uint64_t used = ws_usage_bytes(ws, 0);
	ctx.ws_max_bytes = used + 16384;
	char *big = xmalloc(100001);
	memset(big, 'z', 100000);
	big[100000] = 0;
	json_t *in = json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "abc.txt", "content", big);
	json_t *r = run("fs.write", in);
	ok(!r && !strcmp(ctx.err_code, "resource_exhausted") && strstr(ctx.err_msg, "cap"), "write past the cap: resource_exhausted");
	ok(strstr(ctx.err_msg, "100000") != NULL && strstr(ctx.err_detail, "cap=") != NULL, "the message gives the numbers (%s)",
	   ctx.err_msg);
	s = slurp("abc.txt");
	is_str(s, "replaced", "the file is unchanged after a refused write");
	free(s);
	r = run("fs.write", json_pack("{s:s,s:s,s:s,s:b}", "clone_path", "ws-test", "path", "capdir/sub/big.txt",
				      "content", big, "create_dirs", 1));
	ok(!r && !strcmp(ctx.err_code, "resource_exhausted") && !exists("capdir"), "a refused write creates no directories");
	ok(temp_files_in(".") == 0, "no temp file after a refused write");
	r = run("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "small.txt", "content", "fits"));
	ok(r != NULL, "a small write under the cap succeeds");
	json_decref(r);
	ctx.ws_max_bytes = 0;
	free(big);
}

/* ---------- escapes ---------- */

static void test_escapes(void)
{
	char outside[128];
	snprintf(outside, sizeof outside, "%s/secret", out_dir);
	put_link("/", "rootlink");
	put_link(outside, "outfile");
	put_link(out_dir, "outdir");
	put_link("../../../../../../etc", "updir");
	put_link("abc.txt", "inlink");

	static const char *const reads[] = {
		"../../etc/passwd", "/etc/passwd", "rootlink/etc/passwd", "outfile", "outdir/secret", "updir/passwd",
		"adir/../../etc/passwd", "adir/../abc.txt", "rootlink",
	};
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
		expect_fail("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", reads[i]), "invalid_input",
			    "path leaves the workspace", reads[i]);
	expect_fail("fs.list", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "outdir"), "invalid_input",
		    "path leaves the workspace", "list through a symlink to an outside directory");
	expect_fail("fs.list", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", ".."), "invalid_input",
		    "path leaves the workspace", "list ..");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "outfile", "content", "pwned"),
		    "invalid_input", "path leaves the workspace", "write to a symlink pointing outside");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "outdir/new.txt", "content", "pwned"),
		    "invalid_input", "path leaves the workspace", "write beneath a symlink to an outside directory");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s,s:b}", "clone_path", "ws-test", "path", "outdir/x/new.txt",
					  "content", "pwned", "create_dirs", 1),
		    "invalid_input", "path leaves the workspace", "create_dirs through a symlink to outside");
	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "../escape.txt", "content", "x"),
		    "invalid_input", "path leaves the workspace", "write ../");
	expect_fail("fs.patch", json_pack("{s:s,s:s,s:s,s:s}", "clone_path", "ws-test", "path", "outfile", "search", "s",
					  "replace", "x"),
		    "invalid_input", "path leaves the workspace", "patch a symlink pointing outside");
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "outdir/secret"), "invalid_input",
		    "path leaves the workspace", "delete through a symlink to outside");
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "/tmp"), "invalid_input",
		    "path leaves the workspace", "delete an absolute path");
	char *s = slurp_at(AT_FDCWD, outside, NULL);
	is_str(s, "top secret", "the outside file is untouched");
	free(s);
	struct stat st;
	char probe[160];
	snprintf(probe, sizeof probe, "%s/new.txt", out_dir);
	ok(stat(probe, &st) < 0, "nothing was created outside");

	expect_fail("fs.write", json_pack("{s:s,s:s,s:s}", "clone_path", "ws-test", "path", "inlink", "content", "x"),
		    "invalid_input", "is a symlink", "write to an inside symlink is refused, not replaced");
	json_t *o = run("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "inlink"));
	is_str(o ? sget(o, "content") : NULL, "replaced", "read follows a symlink that stays inside");
	json_decref(o);

	expect_fail_as("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", ""), 1, "invalid_input",
		       "path is empty", "empty path");
	expect_fail_as("fs.read", json_pack("{s:s,s:s%}", "clone_path", "ws-test", "path", "abc.txt\0x", (size_t)9), 1,
		       "invalid_input", "NUL", "path with a NUL byte");
	expect_fail_as("fs.read", json_pack("{s:s,s:i}", "clone_path", "ws-test", "path", 7), 1, "invalid_input",
		       "path must be a string", "path that is not a string");
	expect_fail_as("fs.read", json_pack("{s:s}", "clone_path", "ws-test"), 1, "invalid_input", "path is required",
		       "missing path");
	char *longp = xmalloc(5000);
	memset(longp, 'a', 4999);
	longp[4999] = 0;
	expect_fail_as("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", longp), 1, "invalid_input",
		       "longer than", "path over 4096 bytes");
	free(longp);
	expect_fail_as("fs.read", J("[1,2]"), 1, "invalid_input", "path", "input that is not an object");
}

/* ---------- fs.read ---------- */

static void test_read(void)
{
	put_text("hello.txt", "hello world\n");
	json_t *o = run("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "hello.txt"));
	is_str(o ? sget(o, "content") : NULL, "hello world\n", "text content");
	is_str(o ? sget(o, "encoding") : NULL, "utf-8", "encoding utf-8");
	is_str(o ? sget(o, "sha256") : NULL, "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
	       "sha256 of the file");
	ok(o && iget(o, "size") == 12 && !bget(o, "truncated"), "size and not truncated");
	json_decref(o);

	put_file("bin.dat", "\x00\x01\xff\x80", 4);
	o = run("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "bin.dat"));
	is_str(o ? sget(o, "encoding") : NULL, "base64", "binary file is base64");
	is_str(o ? sget(o, "content") : NULL, "AAH/gA==", "base64 content");
	json_decref(o);

	/* "ab€cd": the euro sign is bytes 2..4; a cap of 3 or 4 must not split it */
	put_text("euro.txt", "ab\xE2\x82\xAC" "cd");
	char whole[65];
	sha256_hex("ab\xE2\x82\xAC" "cd", 7, whole);
	for (int cap = 3; cap <= 4; cap++) {
		o = run("fs.read", json_pack("{s:s,s:s,s:i}", "clone_path", "ws-test", "path", "euro.txt", "max_bytes", cap));
		is_str(o ? sget(o, "content") : NULL, "ab", "truncation stops before a split character");
		ok(o && bget(o, "truncated") && iget(o, "size") == 7 && !strcmp(sget(o, "encoding"), "utf-8"),
		   "truncated, whole size, still utf-8 (max_bytes %d)", cap);
		is_str(o ? sget(o, "sha256") : NULL, whole, "sha256 is of the whole file");
		json_decref(o);
	}
	o = run("fs.read", json_pack("{s:s,s:s,s:i}", "clone_path", "ws-test", "path", "euro.txt", "max_bytes", 5));
	is_str(o ? sget(o, "content") : NULL, "ab\xE2\x82\xAC", "a cap at a boundary keeps the whole character");
	json_decref(o);

	/* a file larger than the streaming chunk, read with a small cap */
	size_t n = 300000;
	char *big = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	put_file("big.txt", big, n);
	sha256_hex(big, n, whole);
	o = run("fs.read", json_pack("{s:s,s:s,s:i}", "clone_path", "ws-test", "path", "big.txt", "max_bytes", 10));
	is_str(o ? sget(o, "sha256") : NULL, whole, "streamed sha256 of a 300000-byte file");
	is_str(o ? sget(o, "content") : NULL, "abcdefghij", "first max_bytes bytes");
	ok(o && iget(o, "size") == (json_int_t)n && bget(o, "truncated"), "size of the whole file, truncated");
	json_decref(o);
	free(big);

	put_text("empty.txt", "");
	o = run("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "empty.txt"));
	ok(o && !strcmp(sget(o, "content"), "") && iget(o, "size") == 0 && !bget(o, "truncated"), "empty file");
	is_str(o ? sget(o, "sha256") : NULL, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256 of nothing");
	json_decref(o);

	put_file("nul.txt", "a\0b", 3);
	o = run("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "nul.txt"));
	is_str(o ? sget(o, "encoding") : NULL, "base64", "text with a NUL byte comes back as base64");
	json_decref(o);

	expect_fail("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "adir"), "invalid_input",
		    "is a directory", "read a directory");
	ok(mkfifoat(ws, "fifo", 0644) == 0, "make a FIFO");
	expect_fail("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "fifo"), "invalid_input",
		    "not a regular file", "read a FIFO (without hanging)");
	expect_fail("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "missing.txt"), "invalid_input",
		    "no such file: missing.txt", "read a missing file");
	expect_fail("fs.read", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "hello.txt/x"), "invalid_input",
		    "not a directory", "read below a file");
	expect_fail_as("fs.read", json_pack("{s:s,s:s,s:i}", "clone_path", "ws-test", "path", "hello.txt", "max_bytes", 0), 1,
		       "invalid_input", "max_bytes", "max_bytes 0 refused by the handler too");
	expect_fail_as("fs.read", json_pack("{s:s,s:s,s:I}", "clone_path", "ws-test", "path", "hello.txt", "max_bytes",
					    (json_int_t)9000000), 1,
		       "invalid_input", "max_bytes", "max_bytes above 8 MiB refused by the handler too");
}

/* ---------- fs.list ---------- */

static json_t *list(const char *path, const char *glob, int recursive)
{
	json_t *in = json_pack("{s:s,s:b}", "clone_path", "ws-test", "recursive", recursive);
	if (path)
		json_object_set_new(in, "path", json_string(path));
	if (glob)
		json_object_set_new(in, "glob", json_string(glob));
	return run("fs.list", in);
}

/* The entries' paths joined by spaces, for one comparison. */
static char *paths_of(const json_t *o)
{
	size_t cap = 1, len = 0, i;
	const json_t *e;
	json_array_foreach(json_object_get(o, "entries"), i, e)
		cap += strlen(sget(e, "path")) + 1;
	char *s = xmalloc(cap);
	s[0] = 0;
	json_array_foreach(json_object_get(o, "entries"), i, e) {
		len += (size_t)sprintf(s + len, "%s%s", i ? " " : "", sget(e, "path"));
	}
	return s;
}

static const json_t *entry(const json_t *o, const char *path)
{
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(o, "entries"), i, e)
		if (!strcmp(sget(e, "path"), path))
			return e;
	return NULL;
}

static void test_list(void)
{
	put_dir("proj");
	put_dir("proj/src");
	put_dir("proj/src/sub");
	put_dir("proj/.git");
	put_dir("proj/.git/objects");
	put_text("proj/.git/HEAD", "ref\n");
	put_text("proj/README.md", "readme");
	put_text("proj/src/a.c", "int a;");
	put_text("proj/src/b.h", "int b;");
	put_text("proj/src/sub/c.c", "int c;");
	put_text("proj/a-b.c", "x");
	put_link(out_dir, "proj/out");

	json_t *o = list("proj", NULL, 0);
	char *s = o ? paths_of(o) : NULL;
	is_str(s, "proj/.git proj/README.md proj/a-b.c proj/out proj/src", "list a directory, sorted");
	free(s);
	ok(o && iget(o, "count") == 5 && !bget(o, "truncated"), "count and truncated");
	is_str(o ? sget(o, "path") : NULL, "proj", "path echoed");
	const json_t *e = o ? entry(o, "proj/README.md") : NULL;
	ok(e && !strcmp(sget(e, "type"), "file") && iget(e, "size") == 6, "file entry: type and size");
	e = o ? entry(o, "proj/src") : NULL;
	ok(e && !strcmp(sget(e, "type"), "dir"), "dir entry");
	e = o ? entry(o, "proj/out") : NULL;
	ok(e && !strcmp(sget(e, "type"), "symlink") && iget(e, "size") == (json_int_t)strlen(out_dir), "symlink entry");
	json_decref(o);

	o = list("proj", NULL, 1);
	s = o ? paths_of(o) : NULL;
	is_str(s, "proj/.git proj/README.md proj/a-b.c proj/out proj/src proj/src/a.c proj/src/b.h proj/src/sub "
		  "proj/src/sub/c.c",
	       "recursive: .git listed but not entered, the symlink not followed, sorted by path");
	free(s);
	json_decref(o);

	o = list("proj", "*.c", 1);
	s = o ? paths_of(o) : NULL;
	is_str(s, "proj/a-b.c proj/src/a.c proj/src/sub/c.c", "glob without '/' matches base names");
	free(s);
	json_decref(o);

	o = list("proj", "src/*.c", 1);
	s = o ? paths_of(o) : NULL;
	is_str(s, "proj/src/a.c", "glob with '/' matches the path below the listed directory");
	free(s);
	json_decref(o);

	o = list("./proj/src/", "*.h", 0);
	s = o ? paths_of(o) : NULL;
	is_str(s, "proj/src/b.h", "non-recursive glob, path normalized");
	free(s);
	json_decref(o);

	o = list(NULL, "README.md", 1);
	s = o ? paths_of(o) : NULL;
	is_str(s, "proj/README.md", "default path is the root; entries relative to the root");
	free(s);
	json_decref(o);

	o = list("proj/src/sub", "*.none", 0);
	ok(o && iget(o, "count") == 0 && json_array_size(json_object_get(o, "entries")) == 0, "no match: empty list");
	json_decref(o);

	expect_fail("fs.list", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "proj/README.md"), "invalid_input",
		    "not a directory", "list a file");
	expect_fail("fs.list", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "nowhere"), "invalid_input",
		    "no such file", "list a missing directory");
	expect_fail_as("fs.list", json_pack("{s:s,s:i}", "clone_path", "ws-test", "recursive", 1), 1, "invalid_input",
		       "recursive a boolean", "recursive that is not a boolean");

	/* a name that is not UTF-8 still lists, as valid JSON */
	put_dir("odd");
	put_text("odd/\xff.bin", "");
	o = list("odd", NULL, 0);
	e = o ? json_array_get(json_object_get(o, "entries"), 0) : NULL;
	is_str(e ? sget(e, "path") : NULL, "odd/\xEF\xBF\xBD.bin", "a non-UTF-8 name is listed with U+FFFD");
	json_decref(o);

	/* deeper than the walk goes: listed as far as it goes, marked truncated */
	char deep[512] = "nest";
	put_dir(deep);
	for (int i = 0; i < 45; i++) {
		strcat(deep, "/n");
		put_dir(deep);
	}
	o = list("nest", NULL, 1);
	ok(o && bget(o, "truncated") && iget(o, "count") > 20 && iget(o, "count") < 45,
	   "a tree deeper than the walk: truncated (%lld entries)", o ? (long long)iget(o, "count") : -1LL);
	json_decref(o);
	expect_fail("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "nest", "recursive", 1),
		    "invalid_input", "nested deeper than", "recursive delete refuses a tree deeper than its descriptor budget");
	o = run("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "nest/n/n/n/n/n/n/n/n/n/n",
				       "recursive", 1));
	ok(o && !exists("nest/n/n/n/n/n/n/n/n/n/n") && exists("nest/n/n/n/n/n/n/n/n/n"), "its deepest part can be deleted first");
	json_decref(o);
	o = run("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "nest", "recursive", 1));
	ok(o && !exists("nest"), "and then the rest");
	json_decref(o);

	/* the cap: 5001 entries, 5000 listed */
	put_dir("many");
	char name[64];
	for (int i = 0; i < 5001; i++) {
		snprintf(name, sizeof name, "many/f%05d", i);
		put_text(name, "");
	}
	o = list("many", NULL, 0);
	ok(o && iget(o, "count") == 5000 && json_array_size(json_object_get(o, "entries")) == 5000 && bget(o, "truncated"),
	   "5001 files: 5000 listed, truncated");
	e = o ? json_array_get(json_object_get(o, "entries"), 0) : NULL;
	is_str(e ? sget(e, "path") : NULL, "many/f00000", "truncated listing is still sorted");
	json_decref(o);
	o = list("many", "f0000*", 0);
	ok(o && iget(o, "count") == 10 && !bget(o, "truncated"), "a glob brings it under the cap");
	json_decref(o);
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "many"), "invalid_input",
		    "not empty", "delete a non-empty directory without recursive");
	o = run("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "many", "recursive", 1));
	ok(o && !exists("many"), "recursive delete of 5001 files");
	json_decref(o);
}

/* ---------- fs.patch ---------- */

static json_t *patch(const char *path, const char *search, const char *replace, int occ)
{
	json_t *in = json_pack("{s:s,s:s,s:s,s:s}", "clone_path", "ws-test", "path", path, "search", search, "replace", replace);
	if (occ >= 0)
		json_object_set_new(in, "occurrences", json_integer(occ));
	return in;
}

static void test_patch(void)
{
	put_text("p.txt", "alpha beta gamma beta\n");
	ok(fchmodat(ws, "p.txt", 0640, 0) == 0, "chmod 0640 for the patch");
	json_t *o = run("fs.patch", patch("p.txt", "alpha", "ALPHA", -1));
	char want[65];
	sha256_hex("ALPHA beta gamma beta\n", 22, want);
	ok(o && iget(o, "replacements") == 1 && iget(o, "size") == 22, "search/replace once");
	is_str(o ? sget(o, "sha256") : NULL, want, "sha256 of the patched file");
	json_decref(o);
	char *s = slurp("p.txt");
	is_str(s, "ALPHA beta gamma beta\n", "patched content");
	free(s);
	ok(mode_of("p.txt") == 0640, "patch keeps the mode");

	json_t *r = run("fs.patch", patch("p.txt", "delta", "x", -1));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch"), "absent search text: schema_mismatch");
	is_str(ctx.err_msg, "search text found 0 times, expected 1", "message says how many were found");
	is_str(ctx.err_detail, "found=0", "detail found=0");
	r = run("fs.patch", patch("p.txt", "beta", "x", -1));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch"), "ambiguous search text: schema_mismatch");
	is_str(ctx.err_msg, "search text found 2 times, expected 1", "found 2 times");
	is_str(ctx.err_detail, "found=2", "detail found=2");
	r = run("fs.patch", patch("p.txt", "beta", "x", 3));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch") && strstr(ctx.err_msg, "found 2 times, expected 3"),
	   "occurrences must match exactly");
	s = slurp("p.txt");
	is_str(s, "ALPHA beta gamma beta\n", "unchanged after failed patches");
	free(s);

	o = run("fs.patch", patch("p.txt", "beta", "BETA", 2));
	ok(o && iget(o, "replacements") == 2, "occurrences 2");
	json_decref(o);
	put_text("q.txt", "aaaa x aa");
	o = run("fs.patch", patch("q.txt", "aa", "b", 0));
	ok(o && iget(o, "replacements") == 3, "occurrences 0: every non-overlapping match");
	json_decref(o);
	s = slurp("q.txt");
	is_str(s, "bb x b", "all replaced");
	free(s);
	r = run("fs.patch", patch("q.txt", "zz", "b", 0));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch") && !strcmp(ctx.err_detail, "found=0"), "occurrences 0 with no match");
	o = run("fs.patch", patch("q.txt", "b", "", 0));
	ok(o && iget(o, "size") == 3, "replace with nothing");
	json_decref(o);
	s = slurp("q.txt");
	is_str(s, " x ", "deleted by replacement");
	free(s);
	o = run("fs.patch", patch("q.txt", "x", "a.*b", 1));
	s = slurp("q.txt");
	is_str(s, " a.*b ", "literal, not a regex");
	free(s);
	json_decref(o);
	o = run("fs.patch", patch("q.txt", ".*", "!", 1));
	s = slurp("q.txt");
	is_str(s, " a!b ", "search text is literal too");
	free(s);
	json_decref(o);

	/* edits: in order on the evolving content, all or nothing */
	put_text("e.txt", "one two three\n");
	o = run("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":["
			      "{\"oldText\":\"one\",\"newText\":\"1 uno\"},{\"oldText\":\"uno two\",\"newText\":\"2\"}]}"));
	ok(o && iget(o, "replacements") == 2, "two edits, the second on the result of the first");
	json_decref(o);
	s = slurp("e.txt");
	is_str(s, "1 2 three\n", "edited content");
	free(s);
	r = run("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":["
			      "{\"oldText\":\"three\",\"newText\":\"3 3\"},{\"oldText\":\"3\",\"newText\":\"x\"}]}"));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch"), "an edit matching twice: schema_mismatch");
	is_str(ctx.err_msg, "edits[1]: oldText found 2 times, expected 1", "message names the edit and the count");
	is_str(ctx.err_detail, "edit=1 found=2", "detail names the edit");
	r = run("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":[{\"oldText\":\"nine\",\"newText\":\"9\"}]}"));
	ok(!r && !strcmp(ctx.err_code, "schema_mismatch") && strstr(ctx.err_msg, "edits[0]: oldText found 0 times"),
	   "an absent edit");
	s = slurp("e.txt");
	is_str(s, "1 2 three\n", "all or nothing: unchanged");
	free(s);

	expect_fail("fs.patch", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "e.txt"), "invalid_input", "neither",
		    "neither shape");
	expect_fail("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"search\":\"1\",\"replace\":\"2\","
				  "\"edits\":[{\"oldText\":\"1\",\"newText\":\"2\"}]}"),
		    "invalid_input", "both", "both shapes");
	expect_fail("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"search\":\"1\"}"), "invalid_input",
		    "search and replace", "search without replace");
	expect_fail("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"occurrences\":1,"
				  "\"edits\":[{\"oldText\":\"1\",\"newText\":\"2\"}]}"),
		    "invalid_input", "both", "occurrences with edits");
	expect_fail_as("fs.patch", patch("e.txt", "", "x", -1), 1, "invalid_input", "must not be empty",
		       "empty search refused by the handler too");
	expect_fail_as("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":[{\"oldText\":\"\",\"newText\":\"2\"}]}"),
		       1, "invalid_input", "edits[0].oldText must not be empty", "empty oldText");
	expect_fail_as("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":[]}"), 1, "invalid_input",
		       "non-empty array", "empty edits");
	expect_fail_as("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"edits\":[{\"oldText\":\"1\"}]}"), 1,
		       "invalid_input", "edits[0] needs", "edit without newText");
	expect_fail_as("fs.patch", J("{\"clone_path\":\"ws-test\",\"path\":\"e.txt\",\"search\":\"1\",\"replace\":\"2\",\"occurrences\":-1}"),
		       1, "invalid_input", "occurrences", "negative occurrences");
	expect_fail("fs.patch", patch("nofile.txt", "a", "b", -1), "invalid_input", "no such file", "patch a missing file");
	expect_fail("fs.patch", patch("nodir/nofile.txt", "a", "b", -1), "invalid_input", "no such file",
		    "patch in a missing directory");
	expect_fail("fs.patch", patch("adir", "a", "b", -1), "invalid_input", "is a directory", "patch a directory");

	/* the cap applies to patches too */
	put_text("grow.txt", "X");
	ctx.ws_max_bytes = ws_usage_bytes(ws, 0) + 8192;
	char *big = xmalloc(50001);
	memset(big, 'y', 50000);
	big[50000] = 0;
	r = run("fs.patch", patch("grow.txt", "X", big, 1));
	ok(!r && !strcmp(ctx.err_code, "resource_exhausted"), "patch past the cap: resource_exhausted");
	s = slurp("grow.txt");
	is_str(s, "X", "unchanged after the refused patch");
	free(s);
	ctx.ws_max_bytes = 0;
	free(big);
}

/* ---------- fs.delete ---------- */

static void test_delete(void)
{
	put_text("del.txt", "x");
	json_t *o = run("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "del.txt"));
	ok(o && bget(o, "deleted") && !strcmp(sget(o, "type"), "file") && !exists("del.txt"), "delete a file");
	json_decref(o);

	put_dir("emptydir");
	o = run("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "emptydir/"));
	ok(o && !strcmp(sget(o, "type"), "dir") && !exists("emptydir"), "delete an empty directory");
	is_str(o ? sget(o, "path") : NULL, "emptydir", "path normalized");
	json_decref(o);

	put_link("hello.txt", "hl");
	o = run("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "hl"));
	ok(o && !strcmp(sget(o, "type"), "symlink") && !exists("hl") && exists("hello.txt"),
	   "delete a symlink: the link goes, the target stays");
	json_decref(o);
	o = run("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "outdir"));
	char probe[160];
	snprintf(probe, sizeof probe, "%s/secret", out_dir);
	struct stat st;
	ok(o && !strcmp(sget(o, "type"), "symlink") && !exists("outdir") && stat(probe, &st) == 0,
	   "delete a symlink to an outside directory removes only the link");
	json_decref(o);

	/* a tree with a symlink to the outside directory inside it */
	put_dir("tree");
	put_dir("tree/a");
	put_dir("tree/a/b");
	put_text("tree/a/b/f.txt", "f");
	put_text("tree/g.txt", "g");
	char target[160];
	snprintf(target, sizeof target, "%s", out_dir);
	put_link(target, "tree/a/escape");
	put_link("/", "tree/root");
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "tree"), "invalid_input",
		    "directory is not empty: tree", "non-empty directory without recursive");
	ok(exists("tree/a/b/f.txt"), "and nothing was deleted");
	o = run("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "tree", "recursive", 1));
	ok(o && !strcmp(sget(o, "type"), "dir") && !exists("tree"), "recursive delete of a tree");
	json_decref(o);
	ok(stat(probe, &st) == 0 && stat(out_dir, &st) == 0, "the outside directory a symlink in the tree named survives");
	ok(stat("/etc", &st) == 0, "and so does the root it also named");

	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "."), "invalid_input",
		    "workspace root", "delete the workspace root");
	expect_fail("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", ".//./", "recursive", 1),
		    "invalid_input", "workspace root", "delete the root spelled differently");
	expect_fail("fs.delete", json_pack("{s:s,s:s,s:b}", "clone_path", "ws-test", "path", "adir/..", "recursive", 1),
		    "invalid_input", "path leaves the workspace", "delete adir/..");
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "gone.txt"), "invalid_input",
		    "no such file: gone.txt", "delete a missing file");
	expect_fail("fs.delete", json_pack("{s:s,s:s}", "clone_path", "ws-test", "path", "gone/x.txt"), "invalid_input",
		    "no such file: gone/x.txt", "delete in a missing directory");
	ok(fcntl(ws, F_GETFD) >= 0 && exists("hello.txt"), "the workspace is still there");
}

int main(void)
{
	test_seccomp_policy();

	snprintf(ws_dir, sizeof ws_dir, "/tmp/t_fs.XXXXXX");
	snprintf(out_dir, sizeof out_dir, "/tmp/t_fs_out.XXXXXX");
	if (!mkdtemp(ws_dir) || !mkdtemp(out_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 2;
	}
	char secret[128];
	snprintf(secret, sizeof secret, "%s/secret", out_dir);
	int fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "top secret", 10) != 10) {
		printf("Bail out! cannot create %s\n", secret);
		return 2;
	}
	close(fd);
	ws = open(ws_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ws < 0) {
		printf("Bail out! open %s: %s\n", ws_dir, strerror(errno));
		return 2;
	}
	ctx.ws_max_bytes = 0;

	test_table();
	test_write();
	test_escapes();
	test_read();
	test_list();
	test_patch();
	test_delete();

	close(ws);
	rm_tree(ws_dir);
	rm_tree(out_dir);
	return done_testing();
}
