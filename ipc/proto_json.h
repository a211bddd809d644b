/* JSON answers in a p_blob (status + body), the shape of every REST-ish
 * reply between roles (vault, sessions, agent, injection). */
#ifndef HD_PROTO_JSON_H
#define HD_PROTO_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "ipc/buf.h"
#include "ipc/chan.h"

/* Encode {status, compact JSON of body} into b (body is stolen). */
void p_blob_json_enc(struct buf *b, int status, json_t *body);
/* Encode and send in one go (body stolen). */
int chan_send_json(struct chan *c, uint32_t type, uint32_t id, int status, json_t *body);
/* {"error": code, "message": msg}. */
json_t *json_error_body(const char *code, const char *msg);

#endif
