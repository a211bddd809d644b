/* Small checked helpers shared by every role. */
#ifndef HD_UTIL_H
#define HD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic and wall clocks. */
uint64_t now_ms_mono(void);
uint64_t now_us_mono(void);
int64_t now_unix(void);
int64_t now_unix_ms(void);

/* Read a whole file, at most max bytes (-1 and errno=EFBIG past it). NUL-terminated. */
ssize_t read_file(const char *path, char **out, size_t max);
/* Up to want bytes from fd into buf, fewer only at end of file or on an
 * error (then *err = 1; err may be NULL). Returns the bytes read. */
size_t read_upto(int fd, void *buf, size_t want, int *err);
/* Write via temp file + rename, with the given mode. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int mkdir_p(const char *path, mode_t mode);

void hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);
int hex_decode(const char *in, uint8_t *out, size_t outlen);

/* Parse a duration like "30s", "12h", "7d", "1500ms" or plain seconds. -1 on error. */
int64_t parse_duration_ms(const char *s);

/* Environment helpers: value of NAME, or of the file named by NAME_FILE (trimmed). Caller frees. */
char *env_or_file(const char *name);
const char *env_default(const char *name, const char *def);

/* Format into an optional message buffer (NULL or size 0: nothing). */
void set_msg(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Constant-time memory compare: 0 when equal. */
int ct_memcmp(const void *a, const void *b, size_t n);

#endif
