#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_tag[32] = "helmdeckd";
static int log_verbose = -1;

void log_init(const char *role)
{
	snprintf(log_tag, sizeof log_tag, "%s", role);
	const char *v = getenv("HELMDECK_LOG_DEBUG");
	log_verbose = (v && *v == '1');
}

const char *log_role(void) { return log_tag; }

static void log_emit(const char *level, const char *fmt, va_list ap, int err)
{
	char msg[2048];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	char line[2304];
	if (err)
		snprintf(line, sizeof line, "%s[%d] %s: %s: %s\n", log_tag,
			 (int)getpid(), level, msg, strerror(err));
	else
		snprintf(line, sizeof line, "%s[%d] %s: %s\n", log_tag,
			 (int)getpid(), level, msg);
	/* one write() per line so lines from many processes do not interleave */
	ssize_t w = write(STDERR_FILENO, line, strlen(line));
	(void)w;
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("info", fmt, ap, 0);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("warn", fmt, ap, 0);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (log_verbose != 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit("debug", fmt, ap, 0);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, err);
	va_end(ap);
	exit(1);
}
