/*
 * The vault role: holds the Ed25519 signing key and the admin password, and
 * answers narrow questions — "is this login right? then sign a token",
 * "sign this token for the operator", "sign this audit chain head". No key
 * byte ever leaves; answers have sizes fixed by the key, not the request.
 * It also keeps the credential vault (vault_creds.c): secrets go in over
 * REST and come out only to egress, for one request at a time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/jwt.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "supervisor/config.h"
#include "supervisor/landlock.h"
#include "supervisor/proctable.h"
#include "workers/role.h"
#include "workers/store/auditdb.h"
#include "workers/vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define LOGIN_TTL_S (12 * 3600)
#define MINT_TTL_MAX_S (30 * 86400)

static EVP_PKEY *vault_key;
static uint8_t vault_pub[32];
/* SHA-256 of the admin username and password: compared in constant time
 * and of fixed length, so timing says nothing about either. */
static uint8_t *vault_secret;  /* 64 bytes, locked page */
static int vault_login_enabled;

static void vault_load_key(void)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/vault/jwt.ed25519", cfg.state_dir);
	char *seed;
	ssize_t n = read_file(path, &seed, 64);
	if (n == 32) {
		vault_key = jwt_key_from_seed((uint8_t *)seed);
		explicit_bzero(seed, 32);
		free(seed);
	} else {
		if (n >= 0) {
			log_warn("%s has %zd bytes, expected 32; refusing to overwrite", path, n);
			fatal("signing key file is damaged");
		}
		if (errno != ENOENT)
			fatalx("read %s", path);
		vault_key = jwt_key_generate();
		uint8_t s[32];
		if (!vault_key || jwt_key_seed(vault_key, s) < 0)
			fatal("cannot generate the signing key");
		if (write_file_atomic(path, s, 32, 0600) < 0)
			fatalx("write %s", path);
		explicit_bzero(s, sizeof s);
		log_info("generated a new token signing key in %s", path);
	}
	if (!vault_key || jwt_key_public(vault_key, vault_pub) < 0)
		fatal("signing key unusable");
}

static void vault_load_login(void)
{
	size_t maplen;
	vault_secret = secmem_alloc(64, &maplen);
	char *pw = env_or_file("HELMDECK_ADMIN_PASSWORD");
	const char *user = env_default("HELMDECK_ADMIN_USERNAME", "admin");
	if (!pw || !*pw) {
		free(pw);
		log_info("HELMDECK_ADMIN_PASSWORD not set: password login disabled (use `helmdeck token mint`)");
		return;
	}
	SHA256((const uint8_t *)user, strlen(user), vault_secret);
	SHA256((const uint8_t *)pw, strlen(pw), vault_secret + 32);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	unsetenv("HELMDECK_ADMIN_PASSWORD");
	vault_login_enabled = 1;
}

static void vault_reply_token(struct chan *c, uint32_t id, int ok, const char *code, const char *token,
			      const char *sub, int64_t exp)
{
	struct p_token t = {(uint32_t)ok, code, token ? token : "", sub ? sub : "", exp};
	struct buf b;
	buf_init(&b);
	p_token_enc(&b, &t);
	chan_send(c, MSG_AUTH_TOKEN, id, &b, -1);
	buf_free(&b);
}

static char *vault_sign(const char *sub, const char *client, const char *scopes_csv, int64_t ttl, int64_t *exp)
{
	jwt_claims cl;
	memset(&cl, 0, sizeof cl);
	snprintf(cl.sub, sizeof cl.sub, "%s", sub);
	snprintf(cl.client, sizeof cl.client, "%s", client);
	snprintf(cl.iss, sizeof cl.iss, "%s", cfg.issuer);
	char tmp[1024];
	snprintf(tmp, sizeof tmp, "%s", scopes_csv);
	char *save = NULL;
	for (char *s = strtok_r(tmp, ",", &save); s && cl.nscopes < 16; s = strtok_r(NULL, ",", &save)) {
		if (!*s || strlen(s) >= sizeof cl.scopes[0])
			return NULL;
		snprintf(cl.scopes[cl.nscopes++], sizeof cl.scopes[0], "%s", s);
	}
	cl.iat = now_unix();
	cl.nbf = cl.iat;
	cl.exp = cl.iat + ttl;
	*exp = cl.exp;
	return jwt_sign(vault_key, &cl);
}

static int vault_dispatch_login(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_login m;
	if (p_login_dec(cur, &m) < 0)
		return -1;
	if (!vault_login_enabled) {
		vault_reply_token(c, id, 0, "login_disabled", NULL, NULL, 0);
		return 0;
	}
	uint8_t got[64];
	SHA256((const uint8_t *)m.username, strlen(m.username), got);
	SHA256((const uint8_t *)m.password, strlen(m.password), got + 32);
	int bad = ct_memcmp(got, vault_secret, 64);
	explicit_bzero(got, sizeof got);
	explicit_bzero((void *)m.password, strlen(m.password));
	if (bad) {
		vault_reply_token(c, id, 0, "unauthorized", NULL, NULL, 0);
		return 0;
	}
	int64_t exp;
	char *tok = vault_sign(m.username, "ui", "admin", LOGIN_TTL_S, &exp);
	vault_reply_token(c, id, tok != NULL, tok ? "" : "internal", tok, m.username, exp);
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	return 0;
}

static int vault_valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("-_.@:", *s)))
			return 0;
	return 1;
}

static int vault_dispatch_mint(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_mint m;
	if (p_mint_dec(cur, &m) < 0)
		return -1;
	int scopes_ok = strlen(m.scopes) < 1000;
	for (const char *s = m.scopes; *s; s++)
		if (!(*s == ',' || *s == ':' || *s == '*' || *s == '_' || *s == '-' || (*s >= 'a' && *s <= 'z')))
			scopes_ok = 0;
	if (!vault_valid_name(m.sub, 100) || !(m.client[0] == '\0' || vault_valid_name(m.client, 100)) ||
	    !scopes_ok || m.ttl_s < 60 || m.ttl_s > MINT_TTL_MAX_S) {
		vault_reply_token(c, id, 0, "invalid_input", NULL, NULL, 0);
		return 0;
	}
	int64_t exp;
	char *tok = vault_sign(m.sub, m.client[0] ? m.client : "cli", m.scopes, m.ttl_s, &exp);
	vault_reply_token(c, id, tok != NULL, tok ? "" : "invalid_input", tok, m.sub, exp);
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	return 0;
}

static int vault_dispatch_head(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)fd; (void)arg;
	struct p_head h;
	if (p_head_dec(cur, &h, 0) < 0)
		return -1;
	uint8_t msg[128], sig[64];
	size_t mlen = sizeof msg, slen = sizeof sig;
	if (auditdb_head_message(h.seq, h.hash, msg, &mlen) < 0)
		return -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, vault_key) != 1 ||
	    EVP_DigestSign(md, sig, &slen, msg, mlen) != 1 || slen != 64)
		fatal("ed25519 sign failed");
	EVP_MD_CTX_free(md);
	struct p_head out = {h.seq, h.hash, sig};
	struct buf b;
	buf_init(&b);
	p_head_enc(&b, &out, 1);
	chan_send(c, MSG_HEAD_SIGNED, id, &b, -1);
	buf_free(&b);
	return 0;
}

static const struct allow_entry vault_from_sup[] = {
	{MSG_AUTH_LOGIN, AL_PERMIT, vault_dispatch_login},
	{MSG_TOKEN_MINT, AL_PERMIT, vault_dispatch_mint},
	{MSG_HEAD_SIGN, AL_PERMIT, vault_dispatch_head},
	{MSG_VAULT_REQ, AL_PERMIT, vault_dispatch_req},
	{MSG_PEER_LINK, AL_PERMIT | AL_FD, vault_dispatch_link},
	{MSG_AGENT_OPEN, AL_PERMIT | AL_FD, vault_dispatch_agent_open},
	{MSG_AGENT_CLOSE, AL_PERMIT, vault_dispatch_agent_close},
	{MSG_VAULT_INJECT, AL_PERMIT | AL_FD, vault_dispatch_inject},
	{MSG_SHUTDOWN, AL_PERMIT, role_dispatch_shutdown},
};

int vault_main(void)
{
	role_init("vault");
	/* before any key is read: no core, no ptrace by our own uid */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	OPENSSL_init_crypto(0, NULL);
	vault_load_key();
	vault_load_login();
	char vdir[1100], empty[1200], locked[512] = "";
	snprintf(vdir, sizeof vdir, "%s/vault", cfg.state_dir);
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	uid_t vuid = cfg.uid_base + role_table[ROLE_VAULT].uid_offset;
	int key_ok = vault_master_load(vdir, vuid, locked, sizeof locked) == 0;
	struct sc_policy *pol = role_policy("vault");
	/* the vault directory follows us into the empty root: vault.db and the
	 * key files, and nothing else, are reachable from here on */
	struct confine_spec s = {
		.chroot_dir = empty,
		.binds = {vdir},
		.nbinds = 1,
		.unshare_flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
		/* no RLIMIT_FSIZE: stderr may be a log file */
		.rlimits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 64}},
		.nrlimits = 2,
		.policy = NULL,
	};
	role_spec_ids(&s, role_table[ROLE_VAULT].uid_offset);
	role_connect(vault_from_sup, sizeof vault_from_sup / sizeof vault_from_sup[0]);
	confine_apply(&s);
	int dfd = open(vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		fatalx("open %s", vdir);
	confine_landlock(dfd, LL_READ | LL_WRITE);
	close(dfd);
	struct credstore *cs = key_ok ? vault_master_open_db(vdir, locked, sizeof locked) : NULL;
	if (!cs)
		log_warn("credential store locked: %s", locked);
	vault_creds_init(cs, locked);
	confine_seccomp(pol, NULL);
	role_ready(vault_pub, sizeof vault_pub);
	event_base_dispatch(role.base);
	cs_close(cs);
	vault_master_wipe();
	explicit_bzero(vault_secret, 64);
	EVP_PKEY_free(vault_key);
	return 0;
}
