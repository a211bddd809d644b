/* Logging to stderr, tagged with the process role. systemd-friendly. */
#ifndef HD_LOG_H
#define HD_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

void log_init(const char *role);
const char *log_role(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An internal invariant broke: log and exit(1). Never for external input. */
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As fatal(), appending strerror(errno). */
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
