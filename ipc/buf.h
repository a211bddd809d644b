/*
 * Message payloads: a growable builder for encoding and a cursor for exact
 * decoding. The cursor latches an error on the first short or malformed
 * field; cursor_end() succeeds only when every byte was consumed, so a
 * frame with trailing bytes is as bad as a truncated one.
 */
#ifndef HD_IPC_BUF_H
#define HD_IPC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len, cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);      /* wipes before freeing: payloads may hold tokens */
void buf_reset(struct buf *b);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_i64(struct buf *b, int64_t v);
/* String: u32 length (excluding NUL), bytes, NUL. NULL is encoded as empty. */
void buf_put_str(struct buf *b, const char *s);
/* Blob: u32 length, bytes. */
void buf_put_blob(struct buf *b, const void *p, size_t n);

struct cursor {
	const uint8_t *p;
	size_t len, off;
	int err;
};

void cursor_init(struct cursor *c, const void *p, size_t len);
uint32_t cursor_u32(struct cursor *c);
uint64_t cursor_u64(struct cursor *c);
int64_t cursor_i64(struct cursor *c);
/* Points into the frame; valid while the frame is. Fails unless the stored
 * NUL is present and no NUL occurs inside, and length <= maxlen. */
const char *cursor_str(struct cursor *c, size_t maxlen);
const uint8_t *cursor_blob(struct cursor *c, size_t *len, size_t maxlen);
/* Fixed-size field (e.g. a 32-byte key). */
const uint8_t *cursor_fixed(struct cursor *c, size_t n);
/* 0 when no error happened and every byte was consumed. */
int cursor_end(const struct cursor *c);

#endif
