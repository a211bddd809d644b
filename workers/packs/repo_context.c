/*
 * repo.fetch's context envelope, computed from the tracked paths and a few
 * top-level files. See repo_context.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "repo_context.h"
#include "common/utf8.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REPO_MAKEFILE_MAX (256u * 1024)
#define REPO_PACKAGE_JSON_MAX (1024u * 1024)

static const char *const repo_readmes[] = {"README.md", "README.adoc", "README.rst", "README.txt", "README"};

static const char *const repo_entrypoints[] = {
	"Makefile", "GNUmakefile", "CMakeLists.txt", "meson.build", "package.json", "go.mod",
	"Cargo.toml", "pyproject.toml", "setup.py", "requirements.txt", "pom.xml", "build.gradle",
	"Gemfile", "composer.json", "Dockerfile", "justfile",
};

/* Extension (case-insensitive) to language; a language may have several. */
static const struct {
	const char *ext, *lang;
} repo_langs[] = {
	{"c", "C"}, {"h", "C"},
	{"cc", "C++"}, {"cpp", "C++"}, {"cxx", "C++"}, {"hpp", "C++"}, {"hh", "C++"}, {"hxx", "C++"},
	{"cs", "C#"}, {"go", "Go"}, {"rs", "Rust"}, {"py", "Python"}, {"pyi", "Python"},
	{"js", "JavaScript"}, {"mjs", "JavaScript"}, {"cjs", "JavaScript"}, {"jsx", "JavaScript"},
	{"ts", "TypeScript"}, {"tsx", "TypeScript"}, {"mts", "TypeScript"}, {"cts", "TypeScript"},
	{"java", "Java"}, {"kt", "Kotlin"}, {"kts", "Kotlin"}, {"scala", "Scala"}, {"groovy", "Groovy"},
	{"rb", "Ruby"}, {"php", "PHP"}, {"sh", "Shell"}, {"bash", "Shell"}, {"zsh", "Shell"},
	{"ps1", "PowerShell"}, {"swift", "Swift"}, {"m", "Objective-C"}, {"mm", "Objective-C++"},
	{"lua", "Lua"}, {"pl", "Perl"}, {"pm", "Perl"}, {"r", "R"}, {"jl", "Julia"},
	{"hs", "Haskell"}, {"ml", "OCaml"}, {"mli", "OCaml"}, {"ex", "Elixir"}, {"exs", "Elixir"},
	{"erl", "Erlang"}, {"clj", "Clojure"}, {"dart", "Dart"}, {"zig", "Zig"}, {"nim", "Nim"},
	{"f90", "Fortran"}, {"f", "Fortran"}, {"s", "Assembly"}, {"asm", "Assembly"},
	{"vue", "Vue"}, {"svelte", "Svelte"}, {"html", "HTML"}, {"htm", "HTML"}, {"css", "CSS"},
	{"scss", "SCSS"}, {"sql", "SQL"}, {"tf", "HCL"}, {"proto", "Protocol Buffers"},
};
#define REPO_NLANGS (sizeof repo_langs / sizeof repo_langs[0])

/* The top-level names, found once: every lookup below is over these few. */
struct repo_top {
	const char **v;
	size_t n;
};

static void repo_top_collect(const char *const *paths, size_t n, struct repo_top *t)
{
	t->v = xcalloc(n ? n : 1, sizeof *t->v);
	t->n = 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr(paths[i], '/'))
			t->v[t->n++] = paths[i];
}

static const char *repo_top_find(const struct repo_top *t, const char *name, int nocase)
{
	for (size_t i = 0; i < t->n; i++)
		if (nocase ? !strcasecmp(t->v[i], name) : !strcmp(t->v[i], name))
			return t->v[i];
	return NULL;
}

static json_t *repo_json_bytes(const uint8_t *s, size_t n)
{
	size_t len;
	char *clean = utf8_sanitize(s, n, &len);
	json_t *j = json_stringn_nocheck(clean, len);
	free(clean);
	return j;
}

static json_t *repo_json_str(const char *s) { return repo_json_bytes((const uint8_t *)s, strlen(s)); }

static const char *repo_ext_lang(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base || !dot[1])  /* ".bashrc" has no extension */
		return NULL;
	for (size_t i = 0; i < REPO_NLANGS; i++)
		if (!strcasecmp(dot + 1, repo_langs[i].ext))
			return repo_langs[i].lang;
	return NULL;
}

struct repo_lang_count {
	const char *lang;
	size_t n;
};

static int repo_lang_cmp(const void *a, const void *b)
{
	const struct repo_lang_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->lang, y->lang);
}

json_t *repo_context_languages(const char *const *paths, size_t n)
{
	struct repo_lang_count c[REPO_NLANGS];
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *lang = repo_ext_lang(paths[i]);
		if (!lang)
			continue;
		size_t k = 0;
		while (k < nc && strcmp(c[k].lang, lang))
			k++;
		if (k == nc)
			c[nc++] = (struct repo_lang_count){lang, 0};
		c[k].n++;
	}
	qsort(c, nc, sizeof c[0], repo_lang_cmp);  /* most files first */
	json_t *o = json_object();
	for (size_t k = 0; k < nc; k++)
		json_object_set_new(o, c[k].lang, json_integer((json_int_t)c[k].n));
	return o;
}

/* A rule line whose targets include "test" (not a recipe, comment or
 * variable assignment such as "test := x"). */
static int repo_make_line_has_test(const char *line, size_t len)
{
	if (!len || line[0] == '\t' || line[0] == '#')
		return 0;
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return 0;
	size_t tl = (size_t)(colon - line);
	if ((tl + 1 < len && colon[1] == '=') || memchr(line, '=', tl))
		return 0;
	for (size_t i = 0; i < tl;) {
		while (i < tl && (line[i] == ' ' || line[i] == '\t'))
			i++;
		size_t s = i;
		while (i < tl && line[i] != ' ' && line[i] != '\t')
			i++;
		if (i - s == 4 && !memcmp(line + s, "test", 4))
			return 1;
	}
	return 0;
}

static int repo_make_has_test(const char *text, size_t len)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (text + i)) : len - i;
		if (repo_make_line_has_test(text + i, ll))
			return 1;
		i += ll + 1;
	}
	return 0;
}

static int repo_read_with(repo_read_fn rd, void *arg, const char *path, size_t max, uint8_t **data, size_t *len,
			  size_t *total)
{
	*data = NULL;
	*len = *total = 0;
	return rd ? rd(arg, path, max, data, len, total) : -1;
}

static int repo_makefile_tests(const char *name, repo_read_fn rd, void *arg)
{
	uint8_t *d;
	size_t len, total;
	if (repo_read_with(rd, arg, name, REPO_MAKEFILE_MAX, &d, &len, &total) < 0)
		return 0;
	int yes = repo_make_has_test((const char *)d, len);
	free(d);
	return yes;
}

/* npm's own placeholder ("no test specified" && exit 1) is no test. */
static int repo_package_json_tests(repo_read_fn rd, void *arg)
{
	uint8_t *d;
	size_t len, total;
	if (repo_read_with(rd, arg, "package.json", REPO_PACKAGE_JSON_MAX, &d, &len, &total) < 0)
		return 0;
	json_t *pkg = json_loadb((const char *)d, len, 0, NULL);
	free(d);
	const char *t = json_string_value(json_object_get(json_object_get(pkg, "scripts"), "test"));
	int yes = t && *t && !strstr(t, "no test specified");
	json_decref(pkg);
	return yes;
}

static const char *repo_test_guess(const struct repo_top *top, repo_read_fn rd, void *arg)
{
	static const char *const makefiles[] = {"GNUmakefile", "Makefile"};
	for (size_t i = 0; i < 2; i++)
		if (repo_top_find(top, makefiles[i], 0) && repo_makefile_tests(makefiles[i], rd, arg))
			return "make test";
	if (repo_top_find(top, "package.json", 0) && repo_package_json_tests(rd, arg))
		return "npm test";
	if (repo_top_find(top, "go.mod", 0))
		return "go test ./...";
	if (repo_top_find(top, "Cargo.toml", 0))
		return "cargo test";
	if (repo_top_find(top, "pyproject.toml", 0) || repo_top_find(top, "setup.py", 0))
		return "pytest";
	if (repo_top_find(top, "CMakeLists.txt", 0))
		return "ctest";
	return NULL;
}

const char *repo_context_test_command(const char *const *paths, size_t n, repo_read_fn rd, void *arg)
{
	struct repo_top top;
	repo_top_collect(paths, n, &top);
	const char *t = repo_test_guess(&top, rd, arg);
	free(top.v);
	return t;
}

int repo_context_has_ci(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = paths[i];
		if (!strncmp(p, ".github/workflows/", 18) || !strncmp(p, ".circleci/", 10) ||
		    !strcmp(p, ".gitlab-ci.yml") || !strcmp(p, "Jenkinsfile"))
			return 1;
	}
	return 0;
}

/* The first README that reads as a regular file; matched case-blind
 * ("readme.md" is common), in the order of repo_readmes. */
static json_t *repo_readme(const struct repo_top *top, repo_read_fn rd, void *arg)
{
	for (size_t i = 0; i < sizeof repo_readmes / sizeof repo_readmes[0]; i++) {
		const char *path = repo_top_find(top, repo_readmes[i], 1);
		uint8_t *d;
		size_t len, total;
		if (!path || repo_read_with(rd, arg, path, REPO_README_MAX, &d, &len, &total) < 0)
			continue;
		int truncated = total > len;
		if (truncated)
			len = utf8_cut(d, len);
		json_t *o = json_pack("{s:o,s:o,s:b}", "path", repo_json_str(path), "content", repo_json_bytes(d, len),
				      "truncated", truncated);
		free(d);
		return o;
	}
	return json_null();
}

static json_t *repo_entrypoints_found(const struct repo_top *top)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sizeof repo_entrypoints / sizeof repo_entrypoints[0]; i++)
		if (repo_top_find(top, repo_entrypoints[i], 0))
			json_array_append_new(a, json_string(repo_entrypoints[i]));
	return a;
}

json_t *repo_context_build(const char *const *paths, size_t n, repo_read_fn rd, void *arg)
{
	struct repo_top top;
	repo_top_collect(paths, n, &top);
	json_t *tree = json_array();
	for (size_t i = 0; i < n && i < REPO_TREE_MAX; i++)
		json_array_append_new(tree, repo_json_str(paths[i]));
	const char *test = repo_test_guess(&top, rd, arg);
	json_t *signals = json_pack("{s:o,s:o,s:b}", "languages", repo_context_languages(paths, n), "test_command",
				    test ? json_string(test) : json_null(), "has_ci", repo_context_has_ci(paths, n));
	json_t *o = json_pack("{s:o,s:b,s:o,s:o,s:o}", "tree", tree, "tree_truncated", n > REPO_TREE_MAX, "readme",
			      repo_readme(&top, rd, arg), "entrypoints", repo_entrypoints_found(&top), "signals",
			      signals);
	free(top.v);
	return o;
}

size_t repo_split_z(char *buf, size_t len, const char ***out)
{
	size_t cnt = 0;
	for (size_t i = 0; i < len; i++)
		cnt += buf[i] == 0;
	const char **v = xcalloc(cnt ? cnt : 1, sizeof *v);
	size_t n = 0, start = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i])
			continue;
		if (i > start)
			v[n++] = buf + start;
		start = i + 1;
	}
	*out = v;
	return n;
}

static int repo_open_beneath(int dirfd, const char *path)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	/* O_NONBLOCK: a FIFO named README must not hang the open */
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	return fd;
}

int repo_read_at(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, size_t *total)
{
	int fd = repo_open_beneath(*(const int *)arg, path);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	size_t want = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
	uint8_t *buf = xmalloc(want + 1);
	size_t got = read_upto(fd, buf, want, NULL);
	close(fd);
	buf[got] = 0;
	*data = buf;
	*len = got;
	*total = (size_t)st.st_size;
	return 0;
}
