/*
 * The store role: the only process that opens helmdeck.db. It appends audit
 * records to the hash chain, answers audit queries, and asks the vault
 * (through the supervisor) to sign each new chain head.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/landlock.h"
#include "supervisor/proctable.h"
#include "workers/role.h"
#include "workers/store/auditdb.h"

#include <jansson.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static sqlite3 *store_db;
static int store_sign_pending;
static int64_t store_signed_seq;
static uint32_t store_sign_id = 1;
static uint64_t store_sign_sent_ms;
static struct event *store_sign_timer;

static void store_request_sign(void)
{
	if (store_sign_pending)
		return;
	int64_t seq;
	uint8_t hash[32];
	if (auditdb_head(store_db, &seq, hash) < 0 || seq == 0 || seq <= store_signed_seq)
		return;
	struct p_head h = {seq, hash, NULL};
	struct buf b;
	buf_init(&b);
	p_head_enc(&b, &h, 0);
	if (chan_send(role.sup, MSG_HEAD_SIGN, store_sign_id++, &b, -1) == 0) {
		store_sign_pending = 1;
		store_sign_sent_ms = now_ms_mono();
	}
	buf_free(&b);
}

/* A request the vault never saw (it was restarting) must not block signing
 * forever: ask again after two seconds without an answer. */
static void store_sign_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (store_sign_pending && now_ms_mono() - store_sign_sent_ms > 2000)
		store_sign_pending = 0;
	store_request_sign();
}

static int store_dispatch_append(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	struct p_audit m;
	if (p_audit_dec(cur, &m) < 0)
		return -1;
	char *payload = NULL;
	if (m.payload_len) {
		payload = xmalloc(m.payload_len + 1);
		memcpy(payload, m.payload, m.payload_len);
		payload[m.payload_len] = '\0';
	}
#define OPT(s) ((s) && *(s) ? (s) : NULL)
	struct audit_rec r = {
		.ts_ms = m.ts_ms, .actor = OPT(m.actor), .client = OPT(m.client), .event_type = OPT(m.event_type),
		.method = OPT(m.method), .path = OPT(m.path), .session_id = OPT(m.session_id),
		.pack = OPT(m.pack), .outcome = OPT(m.outcome), .error_code = OPT(m.error_code),
		.status = m.status, .duration_ms = m.duration_ms, .payload_json = payload,
	};
	int64_t seq;
	uint8_t hash[32];
	if (auditdb_append(store_db, &r, &seq, hash) < 0)
		log_warn("audit append failed for %s", m.event_type);
	free(payload);
	store_request_sign();
	return 0;
}

static int store_dispatch_query(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_audit_query q;
	if (p_audit_query_dec(cur, &q) < 0)
		return -1;
	struct audit_filter f = {q.from_ms, q.to_ms, OPT(q.event_type), OPT(q.actor), OPT(q.session_id), (int)q.limit};
	json_t *rows = auditdb_query(store_db, &f);
	char *s = rows ? json_dumps(rows, JSON_COMPACT) : NULL;
	json_decref(rows);
	struct p_blob r = {s != NULL, (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0};
	if (r.len > PROTO_BLOB_MAX)
		r = (struct p_blob){0, (const uint8_t *)"", 0};
	struct buf b;
	buf_init(&b);
	p_blob_enc(&b, &r);
	chan_send(c, MSG_AUDIT_ROWS, id, &b, -1);
	buf_free(&b);
	free(s);
	return 0;
}

static int store_dispatch_pubkey(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	const uint8_t *key;
	if (p_pubkey_dec(cur, &key) < 0)
		return -1;
	if (auditdb_set_pubkey(store_db, key) < 0)
		log_warn("cannot record the audit public key");
	store_sign_pending = 0;  /* a new vault answers afresh */
	store_request_sign();
	return 0;
}

static int store_dispatch_signed(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)c; (void)id; (void)fd; (void)arg;
	struct p_head h;
	if (p_head_dec(cur, &h, 1) < 0)
		return -1;
	store_sign_pending = 0;
	if (auditdb_store_head_sig(store_db, h.seq, h.hash, h.sig) == 0)
		store_signed_seq = h.seq;
	else
		log_warn("audit head signature for seq %lld rejected", (long long)h.seq);
	store_request_sign();
	return 0;
}

static const struct allow_entry store_from_sup[] = {
	{MSG_AUDIT_APPEND, AL_PERMIT, store_dispatch_append},
	{MSG_AUDIT_QUERY, AL_PERMIT, store_dispatch_query},
	{MSG_PUBKEY, AL_PERMIT, store_dispatch_pubkey},
	{MSG_HEAD_SIGNED, AL_PERMIT, store_dispatch_signed},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};

int store_main(void)
{
	role_init("store");
	struct sc_policy *pol = role_policy("store");
	char dbdir[1100], empty[1200];
	snprintf(dbdir, sizeof dbdir, "%s", cfg.db_path);
	char *slash = strrchr(dbdir, '/');
	if (slash && slash != dbdir)
		*slash = '\0';
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	/* confine first (the db dir follows us into the new root), then open
	 * as the store uid so every file it creates is the store's */
	struct confine_spec s = {
		.chroot_dir = empty,
		.binds = {dbdir},
		.nbinds = 1,
		.unshare_flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
		.rlimits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 64}},
		.nrlimits = 2,
		.policy = NULL,
	};
	role_spec_ids(&s, role_table[ROLE_STORE].uid_offset);
	role_connect(store_from_sup, sizeof store_from_sup / sizeof store_from_sup[0]);
	confine_apply(&s);
	int dbfd = open(dbdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dbfd < 0)
		fatalx("open %s", dbdir);
	confine_landlock(dbfd, LL_READ | LL_WRITE);
	close(dbfd);
	if (auditdb_open(cfg.db_path, &store_db) < 0)
		fatal("cannot open %s", cfg.db_path);
	confine_seccomp(pol, NULL);
	role_ready(NULL, 0);
	store_sign_timer = event_new(role.base, -1, EV_PERSIST, store_sign_tick, NULL);
	struct timeval tv = {1, 0};
	event_add(store_sign_timer, &tv);
	store_request_sign();
	event_base_dispatch(role.base);
	sqlite3_close(store_db);
	return 0;
}
