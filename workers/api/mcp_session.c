/*
 * MCP sessions: a fixed table of id -> subject that created it (nobody else
 * may use it), which transport made it, and the one server stream it owns:
 * the GET stream of streamable HTTP, the event stream of the legacy SSE
 * transport, or the WebSocket itself. A full table evicts the least recently
 * used session that has no live stream.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mcp.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define MCP_MAX_SESSIONS 256

static struct mcp_session {
	char id[MCP_SID_LEN + 1];
	char sub[128];
	enum mcp_session_kind kind;
	uint64_t last_ms;
	struct mcp_stream *stream;
} sessions[MCP_MAX_SESSIONS];

static struct mcp_session *find(const char *id)
{
	if (!id || strlen(id) != MCP_SID_LEN)
		return NULL;
	for (int i = 0; i < MCP_MAX_SESSIONS; i++)
		if (sessions[i].id[0] && !strcmp(sessions[i].id, id))
			return &sessions[i];
	return NULL;
}

static int live(const struct mcp_session *s)
{
	return s->stream && !s->stream->closed;
}

static void clear(struct mcp_session *s)
{
	struct mcp_stream *st = s->stream;
	memset(s, 0, sizeof *s);
	if (st) {
		mcp_stream_end(st);
		mcp_stream_unref(st);
	}
}

const char *mcp_session_new(const char *sub, enum mcp_session_kind kind)
{
	struct mcp_session *slot = NULL;
	for (int i = 0; i < MCP_MAX_SESSIONS && !slot; i++)
		if (!sessions[i].id[0])
			slot = &sessions[i];
	for (int i = 0; i < MCP_MAX_SESSIONS && !slot; i++) {
		struct mcp_session *s = &sessions[i];
		if (!live(s) && (!slot || s->last_ms < slot->last_ms))
			slot = s;
	}
	if (!slot)
		return NULL;
	if (slot->id[0])
		clear(slot);
	uint8_t rnd[MCP_SID_LEN / 2];
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		fatal("getrandom");
	hex_encode(rnd, sizeof rnd, slot->id);
	snprintf(slot->sub, sizeof slot->sub, "%s", sub);
	slot->kind = kind;
	slot->last_ms = now_ms_mono();
	return slot->id;
}

int mcp_session_check(const char *id, const char *sub, enum mcp_session_kind kind)
{
	struct mcp_session *s = find(id);
	if (!s || s->kind != kind)
		return -1;
	if (strcmp(s->sub, sub))
		return -2;
	s->last_ms = now_ms_mono();
	return 0;
}

void mcp_session_end(const char *id)
{
	struct mcp_session *s = find(id);
	if (s)
		clear(s);
}

struct mcp_stream *mcp_session_stream(const char *id)
{
	struct mcp_session *s = find(id);
	return s && live(s) ? s->stream : NULL;
}

void mcp_session_attach(const char *id, struct mcp_stream *st)
{
	struct mcp_session *s = find(id);
	if (!s)
		return;
	struct mcp_stream *old = s->stream;
	s->stream = mcp_stream_ref(st);
	s->last_ms = now_ms_mono();
	if (old) {
		mcp_stream_end(old);
		mcp_stream_unref(old);
	}
}
