#include "proto_json.h"
#include "common/log.h"
#include "ipc/proto.h"

#include <stdlib.h>
#include <string.h>

void p_blob_json_enc(struct buf *b, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s)
		fatal("json_dumps");
	struct p_blob r = {(uint32_t)status, (const uint8_t *)s, strlen(s)};
	p_blob_enc(b, &r);
	free(s);
}

int chan_send_json(struct chan *c, uint32_t type, uint32_t id, int status, json_t *body)
{
	struct buf b;
	buf_init(&b);
	p_blob_json_enc(&b, status, body);
	int rc = chan_send(c, type, id, &b, -1);
	buf_free(&b);
	return rc;
}

json_t *json_error_body(const char *code, const char *msg)
{
	json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
	if (!o)
		fatal("json_pack");
	return o;
}
