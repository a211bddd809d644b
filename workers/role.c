#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "role.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/proctable.h"

#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct role_ctx role;

static void role_sigterm(evutil_socket_t s, short w, void *a)
{
	(void)s; (void)w; (void)a;
	event_base_loopexit(role.base, NULL);
}

static void role_preload_libraries(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL);
	unsigned char rnd[32];
	RAND_keep_random_devices_open(1);
	tzset();
	if (RAND_bytes(rnd, sizeof rnd) != 1 || RAND_priv_bytes(rnd, sizeof rnd) != 1)
		fatal("no entropy");
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, rnd, sizeof rnd);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY_CTX_free(kc);
	evutil_secure_rng_init();
}

void role_init(const char *name)
{
	log_init(name);
	config_load();
	role.name = name;
	signal(SIGPIPE, SIG_IGN);
	/* Libraries load config, providers and entropy lazily; do it now,
	 * while files can still be opened, not after the root is empty. A
	 * worker skips it: it signs nothing, and it is on the hot path of
	 * every pack call (its digests work without the config file). */
	if (strcmp(name, "worker") != 0)
		role_preload_libraries();
	role.base = event_base_new();
	if (!role.base)
		fatal("event_base_new");
	/* pid 1 of its namespace ignores signals it has no handler for */
	struct event *ev = evsignal_new(role.base, SIGTERM, role_sigterm, NULL);
	evsignal_add(ev, NULL);
}

void role_spec_ids(struct confine_spec *s, unsigned uid_offset)
{
	s->uid = cfg.uid_base + uid_offset;
	s->gid = cfg.uid_base + uid_offset;
	s->role = role.name;
}

static void role_sup_closed(struct chan *c, enum chan_end why, const char *reason, void *arg)
{
	(void)c; (void)arg;
	if (why == CHAN_EOF)
		exit(0);  /* supervisor gone: nothing left to serve */
	fatal("channel to supervisor: %s", reason);
}

void role_connect(const struct allow_entry *allow, size_t n)
{
	role.sup = chan_new(role.base, 3, "supervisor", allow, n, role_sup_closed, NULL);
}

void role_ready(const uint8_t *pubkey, size_t len)
{
	struct p_ready r = {role.name, pubkey, len, confine_missing()};
	struct buf b;
	buf_init(&b);
	p_ready_enc(&b, &r);
	chan_send(role.sup, MSG_READY, 0, &b, -1);
	buf_free(&b);
}

int role_dispatch_shutdown(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)id; (void)fd; (void)arg;
	if (p_empty_dec(cur) < 0)
		return -1;
	chan_flush_blocking(c);
	event_base_loopexit(role.base, NULL);
	return 0;
}

struct sc_policy *role_policy(const char *name)
{
	char err[512];
	struct sc_policy *p = sc_policy_load(cfg.policy_dir, name, err, sizeof err);
	if (!p)
		fatal("seccomp policy: %s", err);
	return p;
}
