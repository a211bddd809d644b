/*
 * Workspaces: directories under <state>/workspaces/ that live across pack
 * invocations (a clone an agent reads, patches, tests and pushes). Only the
 * supervisor creates, opens, checks and removes them; a worker gets the one
 * it may use as a descriptor or a bind mount. Each has an owner (the token
 * subject that created it) and expires HELMDECK_WORKSPACE_TTL after its
 * last use.
 */
#ifndef HD_WORKSPACE_H
#define HD_WORKSPACE_H

#include <stddef.h>

#define WS_ID_LEN 27      /* "ws-" + 24 hex */
#define WS_URL_MAX 4096

int ws_init(void);
void ws_shutdown(void);
/* 1 when s has the exact shape of a workspace id. */
int ws_id_valid(const char *s);
/* New empty workspace owned by owner, remembered with the url it is cloned
 * from. Returns 0 with id and an O_DIRECTORY descriptor, or -1. */
int ws_create(const char *owner, const char *url, char id[WS_ID_LEN + 1], int *dirfd);
/* Open a workspace for owner. -1 when it does not exist or belongs to
 * someone else (why says which, for the audit log only). */
int ws_open(const char *id, const char *owner, int *dirfd, char *url, size_t urllen, char *why, size_t whylen);
void ws_remove(const char *id);
/* Remove name below dirfd, depth first, through descriptors, never
 * following a symlink (also used for browser profiles). */
void ws_rm_tree(int dirfd, const char *name);
/* Queued and running invocations hold their workspace so the janitor
 * leaves it alone; one invocation runs in a workspace at a time. */
void ws_hold(const char *id, int delta);
int ws_running(const char *id);
void ws_set_running(const char *id, int on);
/* Remove every workspace unused for longer than the TTL; returns how many. */
int ws_expire(void);
/* Open a local git remote (an absolute path or file:// URL) beneath one of
 * HELMDECK_REPO_ROOTS as an O_PATH directory descriptor. -1 with the reason
 * for the caller in why. */
int ws_remote_open(const char *url, int *fd, char *why, size_t whylen);

#endif
