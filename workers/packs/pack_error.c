/* The typed-error setters every pack handler returns through. On their own
 * so a unit test can link one pack family without the whole registry. */
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>

static json_t *pack_vfail(struct pack_ctx *ctx, const char *code, const char *detail, const char *fmt, va_list ap)
{
	snprintf(ctx->err_code, sizeof ctx->err_code, "%s", code);
	if (detail)
		snprintf(ctx->err_detail, sizeof ctx->err_detail, "%s", detail);
	vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
	return NULL;
}

json_t *pack_fail(struct pack_ctx *ctx, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pack_vfail(ctx, code, NULL, fmt, ap);
	va_end(ap);
	return NULL;
}

json_t *pack_fail_detail(struct pack_ctx *ctx, const char *code, const char *detail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pack_vfail(ctx, code, detail ? detail : "", fmt, ap);
	va_end(ap);
	return NULL;
}
