/*
 * http.fetch (class "net"): the worker has no network and no secret. It
 * hands the request template, ${vault:NAME} placeholders and all, to the
 * egress role through the supervisor; egress vets the target, gets the
 * secrets from the vault, sends the request, scrubs the answer of them and
 * sends it back. What the agent gets is that scrubbed answer.
 */
#include "registry.h"

#include <string.h>

static json_t *http_fetch(const json_t *input, struct pack_ctx *ctx)
{
	if (!ctx->egress)
		return pack_fail(ctx, "internal", "this worker has no egress channel");
	/* the schema checked the shape; egress checks everything that matters
	 * (the target, the headers, the placeholders) because it is the one
	 * that acts on it */
	char *req = json_dumps(input, JSON_COMPACT);
	if (!req)
		return pack_fail(ctx, "internal", "request could not be serialized");
	json_t *resp = NULL;
	int rc = ctx->egress(ctx, req, strlen(req), &resp);
	free(req);
	return rc < 0 ? NULL : resp;
}

const struct pack_def http_packs[] = {
	{
		.name = "http.fetch", .version = 1, .cls = "net",
		.description = "Make one HTTP(S) request and return status, headers and body. ${vault:NAME} in the url, "
			       "a header value or the body is replaced by that vault credential (if it is granted to the "
			       "caller and meant for this host) outside the sandbox; the secret is never returned. Targets on "
			       "private, loopback, link-local and metadata addresses are refused unless the operator allowed them.",
		.input_schema =
			"{\"type\":\"object\",\"required\":[\"url\"],\"additionalProperties\":false,\"properties\":{"
			"\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":8192,\"description\":\"http:// or https:// URL\"},"
			"\"method\":{\"type\":\"string\",\"enum\":[\"GET\",\"HEAD\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\",\"OPTIONS\"],"
			"\"description\":\"default GET\"},"
			"\"headers\":{\"type\":\"object\",\"maxProperties\":64,\"additionalProperties\":{\"type\":\"string\",\"maxLength\":8192},"
			"\"description\":\"request headers; values may hold ${vault:NAME}\"},"
			"\"body\":{\"type\":\"string\",\"maxLength\":4194304,\"description\":\"request body (text)\"},"
			"\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":8388608,\"description\":\"largest response body "
			"accepted, default 1048576; a larger one is resource_exhausted\"},"
			"\"follow_redirects\":{\"type\":\"boolean\",\"description\":\"follow up to 5 redirects, each target vetted "
			"again; default true\"},"
			"\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":300,\"description\":\"default 30\"}}}",
		.output_schema =
			"{\"type\":\"object\",\"required\":[\"status\",\"headers\",\"url\",\"bytes\"],\"additionalProperties\":false,"
			"\"properties\":{"
			"\"status\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":599},"
			"\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
			"\"body\":{\"type\":\"string\",\"description\":\"the body, when it is UTF-8 text\"},"
			"\"body_base64\":{\"type\":\"string\",\"description\":\"the body, when it is not text\"},"
			"\"url\":{\"type\":\"string\",\"description\":\"the URL that answered, after redirects\"},"
			"\"redirects\":{\"type\":\"integer\",\"minimum\":0},"
			"\"bytes\":{\"type\":\"integer\",\"minimum\":0},"
			"\"redacted\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"secrets scrubbed from the answer\"}}}",
		/* the ceiling for timeout_s plus the sandbox; egress itself stops
		 * a request at timeout_s (default 30 s) */
		.timeout_ms = 310000, .open_world = 1, .fn = http_fetch, .egress = 1, .timeout_arg = "timeout_s",
	},
};
const size_t http_packs_n = sizeof http_packs / sizeof http_packs[0];
