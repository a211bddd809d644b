/* Helpers shared by the workspace packs (fs and exec classes). */
#ifndef HD_WSUTIL_H
#define HD_WSUTIL_H

#include <stdint.h>

/* Bytes a directory tree occupies on disk (st_blocks), walked through
 * descriptors without following symlinks or crossing mount points.
 * Stops counting (returns what it has) past `limit` when limit > 0. */
uint64_t ws_usage_bytes(int dirfd, uint64_t limit);
/* A relative path an agent may name inside a workspace: not empty, not
 * absolute, no "..", no NUL, at most 4096 bytes. The lexical check in front
 * of openat2(RESOLVE_BENEATH), which refuses symlinks that leave. */
int ws_relpath_ok(const char *p);

#endif
