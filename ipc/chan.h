/*
 * A framed channel over a unix stream socket, driven by libevent.
 *
 * Each receiving side declares an allow table: which message types it
 * accepts from this peer, whether a type carries a descriptor, whether it is
 * permitted now, and whether it may be used only once. Anything else — an
 * unknown type, a frame above IPC_FRAME_MAX, a descriptor on a type that
 * does not carry one, a handler that rejects the payload — is a protocol
 * violation: the channel stops reading and reports it, and the owner kills
 * the peer.
 */
#ifndef HD_IPC_CHAN_H
#define HD_IPC_CHAN_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/buf.h"
#include "ipc/msg.h"

struct chan;

/* Return 0 when the message was good, -1 to declare a violation. fd is -1
 * unless the allow entry says AL_FD; the handler owns it. */
typedef int (*chan_handler)(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);

#define AL_PERMIT 0x1  /* permitted from the start */
#define AL_ONCE 0x2    /* unpermitted again after one use */
#define AL_FD 0x4      /* carries exactly one descriptor */

struct allow_entry {
	uint32_t type;
	uint32_t flags;
	chan_handler fn;
};

enum chan_end { CHAN_EOF, CHAN_ERROR, CHAN_VIOLATION };
typedef void (*chan_close_cb)(struct chan *c, enum chan_end why, const char *reason, void *arg);

struct chan *chan_new(struct event_base *base, int fd, const char *peer,
		      const struct allow_entry *allow, size_t nallow,
		      chan_close_cb on_close, void *arg);
void chan_free(struct chan *c);
/* Queue a frame. fd >= 0 is duplicated and sent with the frame's first byte. */
int chan_send(struct chan *c, uint32_t type, uint32_t id, const struct buf *payload, int fd);
int chan_send_raw(struct chan *c, const void *bytes, size_t n);  /* tests: arbitrary bytes */
void chan_permit(struct chan *c, uint32_t type, int on);
int chan_permitted(const struct chan *c, uint32_t type);
const char *chan_peer(const struct chan *c);
int chan_fd(const struct chan *c);
void *chan_arg(const struct chan *c);
size_t chan_pending_out(const struct chan *c);
/* Read and dispatch whatever the peer left before it died. */
void chan_drain(struct chan *c);
/* Block (at most timeout_ms) dispatching frames until done(arg); 0 when it
 * became true, -1 on timeout or a dead channel. Not from inside dispatch. */
int chan_wait(struct chan *c, int (*done)(void *arg), void *arg, int timeout_ms);
/* Block until every queued byte is written (used before exit). */
void chan_flush_blocking(struct chan *c);

#endif
