/*
 * A small synchronous Chrome DevTools Protocol client over chromium's
 * --remote-debugging-pipe transport, carried on one stream socket: each
 * message is a JSON object ended by a NUL byte. Requests carry an id the
 * client picks; a call sends one and reads until the response with that
 * id, queueing the events it was told to watch (bounded) and dropping the
 * rest. Every wait has a deadline on the monotonic clock (now_ms_mono());
 * nothing blocks past it. The client does not own the descriptor.
 */
#ifndef HD_CDP_H
#define HD_CDP_H

#include <jansson.h>
#include <stdint.h>

#define CDP_MSG_MAX (64u << 20)   /* a full-page screenshot is one message */

enum cdp_status {
	CDP_OK = 0,
	CDP_TIMEOUT = -1,   /* the deadline passed first */
	CDP_CLOSED = -2,    /* EOF, I/O error, or our page's target went away */
	CDP_PROTOCOL = -3,  /* chromium sent something that is not the protocol */
	CDP_REMOTE = -4,    /* chromium answered with an error object */
};

struct cdp;

struct cdp *cdp_open(int fd);
void cdp_free(struct cdp *c);

/* Queue events with this method (at most 8 methods) from now on. */
void cdp_watch(struct cdp *c, const char *method);
/* Forget queued events with this method (NULL: all of them). */
void cdp_discard(struct cdp *c, const char *method);

/* Send {id, method, params, sessionId?} (params is stolen; NULL = {}) and
 * read until its response. CDP_OK with *result the "result" object (a new
 * reference; result may be NULL when not wanted), or a status with the
 * reason in cdp_error(). */
int cdp_call(struct cdp *c, const char *session, const char *method, json_t *params, uint64_t deadline_ms,
	     json_t **result);
/* The next watched event with this method for this session (NULL = the
 * browser's own session): from the queue, or read until it comes. */
int cdp_wait_event(struct cdp *c, const char *session, const char *method, uint64_t deadline_ms, json_t **params);
/* Read and queue or drop messages until the deadline: a sleep that notices
 * the browser going away. CDP_OK when the time passed quietly. */
int cdp_idle(struct cdp *c, uint64_t until_ms);

/* The last failure in words, e.g. "Page.navigate: Cannot navigate (-32000)". */
const char *cdp_error(const struct cdp *c);

#endif
