/*
 * The context envelope repo.fetch returns beside the clone: a bounded file
 * tree, the README, the build entry points, and signals an agent plans
 * with (languages, a test command guess, CI present). The envelope is a
 * pure function of the tracked paths and a reader for top-level files, so
 * it is tested without git.
 */
#ifndef HD_REPO_CONTEXT_H
#define HD_REPO_CONTEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define REPO_TREE_MAX 500
#define REPO_README_MAX (16u * 1024)

/* Read at most max bytes of the file at path (relative to the clone).
 * 0 with *data (malloc'd, NUL-terminated after *len) and *total (the whole
 * size), or -1 when it is absent, not a regular file or unreadable. */
typedef int (*repo_read_fn)(void *arg, const char *path, size_t max, uint8_t **data, size_t *len,
			    size_t *total);

/* {tree, tree_truncated, readme, entrypoints, signals} as repo.fetch's
 * output schema names them. paths are raw bytes as git lists them. */
json_t *repo_context_build(const char *const *paths, size_t n, repo_read_fn rd, void *arg);

/* The parts, for the tests. */
json_t *repo_context_languages(const char *const *paths, size_t n);
/* "make test", "npm test", ... or NULL when nothing suggests one. */
const char *repo_context_test_command(const char *const *paths, size_t n, repo_read_fn rd, void *arg);
int repo_context_has_ci(const char *const *paths, size_t n);

/* Split `git ls-files -z` output in place: *out gets pointers into buf
 * (caller frees the array, not the strings). A last entry without its
 * NUL (cut by the capture cap) is dropped. */
size_t repo_split_z(char *buf, size_t len, const char ***out);

/* A repo_read_fn over a directory descriptor (arg points to the int):
 * resolves beneath it only, so a symlinked README cannot leave the clone. */
int repo_read_at(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, size_t *total);

#endif
