/*
 * Packs that exist to attack our own sandbox in tests. They are registered
 * only when the operator sets HELMDECK_ENABLE_TEST_PACKS=1, run under the
 * same confinement as every other pack (class "test"), and let the test
 * suite prove that a forbidden syscall kills the worker, a timeout kills
 * it, and a worker speaking garbage on its channel is killed while the
 * supervisor carries on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static json_t *test_sleep(const json_t *in, struct pack_ctx *ctx)
{
	(void)ctx;
	json_int_t ms = json_integer_value(json_object_get(in, "ms"));
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return json_pack("{s:I}", "slept_ms", ms);
}

/* Try one syscall; the allowed ones return, the forbidden ones never do. */
static json_t *test_syscall(const json_t *in, struct pack_ctx *ctx)
{
	const char *call = json_string_value(json_object_get(in, "call"));
	long rc = -1;
	if (!strcmp(call, "getpid"))
		rc = getpid();
	else if (!strcmp(call, "openat")) {
		rc = openat(ctx->artifacts_fd, "index", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rc >= 0)
			close((int)rc);
	} else if (!strcmp(call, "socket"))
		rc = socket(AF_INET, SOCK_STREAM, 0);
	else if (!strcmp(call, "ptrace"))
		rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	else if (!strcmp(call, "mount"))
		rc = mount("none", "/", "tmpfs", 0, NULL);
	else if (!strcmp(call, "execve")) {
		char *argv[] = {(char *)"/bin/true", NULL};
		rc = execve("/bin/true", argv, NULL);
	} else if (!strcmp(call, "fork"))
		rc = syscall(SYS_fork);
	else if (!strcmp(call, "escape_dotdot")) {
		/* the artifact descriptor was opened outside our root: climbing
		 * from it is what Landlock must stop */
		rc = openat(ctx->artifacts_fd, "../../../../../../../../../../etc/passwd", O_RDONLY | O_CLOEXEC);
		if (rc >= 0)
			close((int)rc);
	} else if (!strcmp(call, "open_etc_passwd")) {
		/* allowed syscall, but the chroot has no /etc */
		rc = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		if (rc >= 0)
			close((int)rc);
	}
	return json_pack("{s:s,s:I,s:i}", "call", call, "result", (json_int_t)rc, "errno", rc < 0 ? errno : 0);
}

static json_t *test_rogue_ipc(const json_t *in, struct pack_ctx *ctx)
{
	(void)ctx;
	const char *mode = json_string_value(json_object_get(in, "mode"));
	uint8_t frame[12] = {0};
	if (!strcmp(mode, "unknown_type")) {
		frame[7] = 200;  /* type 200, empty */
	} else if (!strcmp(mode, "oversize")) {
		frame[0] = 0x7f;  /* 2 GiB length */
		frame[7] = 3;     /* PACK_RESULT */
	} else {
		/* a PACK_RESULT header announcing 5 bytes of garbage */
		frame[3] = 5;
		frame[7] = 3;
	}
	ssize_t w = write(3, frame, sizeof frame);
	if (!strcmp(mode, "garbage"))
		w = write(3, "\xff\xff\xff\xff\xff", 5);
	(void)w;
	/* wait to be killed */
	struct timespec ts = {30, 0};
	nanosleep(&ts, NULL);
	return json_pack("{s:s}", "mode", mode);
}

static json_t *test_crash(const json_t *in, struct pack_ctx *ctx)
{
	(void)in; (void)ctx;
	abort();
}

static json_t *test_output(const json_t *in, struct pack_ctx *ctx)
{
	(void)ctx;
	json_int_t n = json_integer_value(json_object_get(in, "bytes"));
	char *s = xmalloc((size_t)n + 1);
	memset(s, 'x', (size_t)n);
	s[n] = 0;
	json_t *o = json_pack("{s:s}", "data", s);
	free(s);
	return o;
}

static json_t *test_bad_output(const json_t *in, struct pack_ctx *ctx)
{
	(void)in; (void)ctx;
	return json_pack("{s:i}", "unexpected", 1);
}

const struct pack_def test_packs[] = {
	{.name = "test.sleep", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 60000,
	 .description = "Sleep for ms milliseconds (timeout tests).",
	 .input_schema = "{\"type\":\"object\",\"required\":[\"ms\"],\"properties\":{\"ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":600000}}}",
	 .output_schema = "{\"type\":\"object\",\"required\":[\"slept_ms\"]}", .read_only = 1, .fn = test_sleep},
	{.name = "test.syscall", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 10000,
	 .description = "Try one system call inside the worker sandbox.",
	 .input_schema = "{\"type\":\"object\",\"required\":[\"call\"],\"properties\":{\"call\":{\"enum\":[\"getpid\",\"openat\",\"socket\",\"ptrace\",\"mount\",\"execve\",\"fork\",\"open_etc_passwd\",\"escape_dotdot\"]}}}",
	 .output_schema = "{\"type\":\"object\",\"required\":[\"call\",\"result\"]}", .read_only = 1, .fn = test_syscall},
	{.name = "test.rogue_ipc", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 10000,
	 .description = "Write a malformed frame to the supervisor channel.",
	 .input_schema = "{\"type\":\"object\",\"required\":[\"mode\"],\"properties\":{\"mode\":{\"enum\":[\"garbage\",\"oversize\",\"unknown_type\"]}}}",
	 .output_schema = "{\"type\":\"object\"}", .fn = test_rogue_ipc},
	{.name = "test.crash", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 10000,
	 .description = "abort() inside the handler.", .input_schema = "{\"type\":\"object\"}",
	 .output_schema = "{\"type\":\"object\"}", .fn = test_crash},
	{.name = "test.output", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 10000,
	 .description = "Return a string of the given size (output cap tests).",
	 .input_schema = "{\"type\":\"object\",\"required\":[\"bytes\"],\"properties\":{\"bytes\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":16000000}}}",
	 .output_schema = "{\"type\":\"object\",\"required\":[\"data\"]}", .read_only = 1, .fn = test_output},
	{.name = "test.bad_output", .version = 1, .cls = "test", .test_only = 1, .timeout_ms = 10000,
	 .description = "Return output that breaks its own schema.", .input_schema = "{\"type\":\"object\"}",
	 .output_schema = "{\"type\":\"object\",\"required\":[\"expected\"],\"additionalProperties\":false,\"properties\":{\"expected\":{\"type\":\"string\"}}}",
	 .read_only = 1, .fn = test_bad_output},
	{.name = "test.sleep", .version = 2, .cls = "test", .test_only = 1, .timeout_ms = 1000,
	 .description = "Version 2 of test.sleep with a 1 s pack timeout (version routing tests).",
	 .input_schema = "{\"type\":\"object\",\"required\":[\"ms\"],\"properties\":{\"ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":600000}}}",
	 .output_schema = "{\"type\":\"object\",\"required\":[\"slept_ms\"]}", .read_only = 1, .fn = test_sleep},
};
const size_t test_packs_n = sizeof test_packs / sizeof test_packs[0];
