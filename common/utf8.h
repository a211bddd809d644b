/* UTF-8 checks for bytes that must become JSON strings (jansson refuses
 * invalid UTF-8): file content, command output. */
#ifndef HD_UTF8_H
#define HD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the well-formed sequence at s, n bytes available, or 0
 * when it is ill-formed or a NUL byte. */
size_t utf8_seq(const uint8_t *s, size_t n);
/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF,
 * and no NUL byte, which a JSON consumer in C would cut at). */
int utf8_valid(const uint8_t *s, size_t n);
/* A NUL-terminated copy with every ill-formed sequence (and NUL) replaced by
 * U+FFFD; *outlen gets its length. Never fails (aborts on OOM). */
char *utf8_sanitize(const uint8_t *s, size_t n, size_t *outlen);
/* Largest k <= n such that s[0..k) does not end inside a sequence: used to
 * truncate at a cap without splitting a character. */
size_t utf8_cut(const uint8_t *s, size_t n);

#endif
