/*
 * helmdeck: the operator's command line.
 *   helmdeck token mint --sub NAME [--scopes a,b] [--ttl 12h] [--client NAME]
 *   helmdeck vault rekey
 *   helmdeck audit verify [--db PATH] [--pubkey HEX]
 *   helmdeck version
 * The daemon is found through HELMDECK_STATE_DIR (default ./var).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/jwt.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "workers/store/auditdb.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *state_dir(char *buf, size_t n)
{
	const char *s = env_default("HELMDECK_STATE_DIR", "./var");
	snprintf(buf, n, "%s", s);
	return buf;
}

static int usage(void)
{
	fprintf(stderr, "usage:\n"
			"  helmdeck token mint --sub NAME [--scopes a,b] [--ttl 12h] [--client NAME]\n"
			"  helmdeck vault rekey\n"
			"  helmdeck audit verify [--db PATH] [--pubkey HEX]\n"
			"  helmdeck version\n");
	return 2;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 15000) <= 0)
			return -1;
		ssize_t r = read(fd, p + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One request over the control socket and its one answer (allocated; the
 * caller wipes and frees it). Prints why and returns -1 on any failure. */
static int ctl_exchange(uint32_t type, const struct buf *payload, uint32_t want, uint8_t **body, size_t *blen)
{
	char sd[PATH_MAX];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s/control.sock", state_dir(sd, sizeof sd)) >= (int)sizeof sa.sun_path) {
		fprintf(stderr, "helmdeck: state directory path too long\n");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "helmdeck: cannot reach the daemon at %s: %s (is helmdeckd running with HELMDECK_STATE_DIR=%s?)\n",
			sa.sun_path, strerror(errno), sd);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct buf f;
	buf_init(&f);
	buf_put_u32(&f, (uint32_t)payload->len);
	buf_put_u32(&f, type);
	buf_put_u32(&f, 1);
	buf_put(&f, payload->data, payload->len);
	int bad = write(fd, f.data, f.len) != (ssize_t)f.len;
	buf_free(&f);
	uint8_t hdr[IPC_HDR_LEN];
	if (bad || read_full(fd, hdr, sizeof hdr) < 0) {
		fprintf(stderr, "helmdeck: no answer from the daemon\n");
		close(fd);
		return -1;
	}
	struct cursor hc;
	cursor_init(&hc, hdr, sizeof hdr);
	uint32_t len = cursor_u32(&hc), got = cursor_u32(&hc);
	if (got != want || len > 65536) {
		fprintf(stderr, "helmdeck: unexpected answer from the daemon\n");
		close(fd);
		return -1;
	}
	*body = xmalloc(len ? len : 1);
	*blen = len;
	if (read_full(fd, *body, len) < 0) {
		fprintf(stderr, "helmdeck: truncated answer\n");
		free(*body);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int cmd_mint(int argc, char **argv)
{
	const char *sub = NULL, *scopes = "packs:read,packs:call,audit:read", *ttl = "12h", *client = "cli";
	for (int i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--sub"))
			sub = argv[++i];
		else if (!strcmp(argv[i], "--scopes"))
			scopes = argv[++i];
		else if (!strcmp(argv[i], "--ttl"))
			ttl = argv[++i];
		else if (!strcmp(argv[i], "--client"))
			client = argv[++i];
		else
			return usage();
	}
	int64_t ttl_ms = parse_duration_ms(ttl);
	if (!sub || ttl_ms < 0) {
		fprintf(stderr, "helmdeck: --sub is required and --ttl must be a duration like 30m, 12h, 7d\n");
		return 2;
	}
	struct p_mint m = {sub, client, scopes, ttl_ms / 1000};
	struct buf b;
	buf_init(&b);
	p_mint_enc(&b, &m);
	uint8_t *body;
	size_t len;
	int rc = ctl_exchange(MSG_CTL_MINT, &b, MSG_CTL_REPLY, &body, &len);
	buf_free(&b);
	if (rc < 0)
		return 1;
	struct cursor c;
	cursor_init(&c, body, len);
	struct p_token t;
	if (p_token_dec(&c, &t) < 0) {
		fprintf(stderr, "helmdeck: malformed answer\n");
		return 1;
	}
	if (!t.ok) {
		fprintf(stderr, "helmdeck: token refused: %s (subject and client: letters, digits, -_.@:; scopes: a-z , : * _ -; ttl 1m..30d)\n", t.code);
		return 1;
	}
	printf("%s\n", t.token);
	explicit_bzero(body, len);
	free(body);
	return 0;
}

/* The running vault re-encrypts every record under a new master key. */
static int cmd_rekey(int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return usage();
	struct p_vault_req m = {"rekey", "operator", "cli", "", "", NULL, 0};
	struct buf b;
	buf_init(&b);
	p_vault_req_enc(&b, &m);
	uint8_t *body;
	size_t len;
	int rc = ctl_exchange(MSG_VAULT_REQ, &b, MSG_VAULT_REPLY, &body, &len);
	buf_free(&b);
	if (rc < 0)
		return 1;
	struct cursor c;
	cursor_init(&c, body, len);
	struct p_blob r;
	if (p_blob_dec(&c, &r) < 0) {
		fprintf(stderr, "helmdeck: malformed answer\n");
		return 1;
	}
	int ok = r.ok == 200;
	fprintf(ok ? stdout : stderr, "%s%.*s\n", ok ? "" : "helmdeck: rekey failed: ", (int)r.len, (const char *)r.data);
	free(body);
	return ok ? 0 : 1;
}

static int cmd_verify(int argc, char **argv)
{
	char sd[PATH_MAX], dbdef[PATH_MAX + 32];
	const char *db = getenv("HELMDECK_DB");
	if (!db || !*db) {
		snprintf(dbdef, sizeof dbdef, "%s/db/helmdeck.db", state_dir(sd, sizeof sd));
		db = dbdef;
	}
	const char *pubhex = NULL;
	for (int i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--db"))
			db = argv[++i];
		else if (!strcmp(argv[i], "--pubkey"))
			pubhex = argv[++i];
		else
			return usage();
	}
	if (access(db, R_OK) != 0) {
		fprintf(stderr, "helmdeck: cannot read %s: %s\n", db, strerror(errno));
		return 1;
	}
	sqlite3 *h;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "helmdeck: cannot open %s\n", db);
		return 1;
	}
	struct audit_verify_result res;
	int rc;
	if (pubhex) {
		uint8_t pub[32];
		if (hex_decode(pubhex, pub, 32) < 0) {
			fprintf(stderr, "helmdeck: --pubkey must be 64 hex characters\n");
			return 2;
		}
		rc = auditdb_verify_pinned(h, pub, &res);
	} else {
		rc = auditdb_verify(h, &res);
	}
	sqlite3_close(h);
	if (rc < 0) {
		fprintf(stderr, "helmdeck: %s: cannot be verified (not a helmdeck audit database?)\n", db);
		return 1;
	}
	if (!res.ok) {
		printf("FAIL: audit log %s: first bad record seq %lld: %s\n", db, (long long)res.bad_seq, res.reason);
		return 1;
	}
	printf("OK: audit log %s: %lld records, chain intact", db, (long long)res.records);
	if (res.head_signed)
		printf(", head signed at seq %lld%s\n", (long long)res.head_seq,
		       res.head_seq < res.records ? " (later records are chained but not yet signed)" : "");
	else
		printf(", head not signed\n");
	return 0;
}

int main(int argc, char **argv)
{
	log_init("helmdeck");
	if (argc >= 3 && !strcmp(argv[1], "token") && !strcmp(argv[2], "mint"))
		return cmd_mint(argc - 3, argv + 3);
	if (argc >= 3 && !strcmp(argv[1], "vault") && !strcmp(argv[2], "rekey"))
		return cmd_rekey(argc - 3, argv + 3);
	if (argc >= 3 && !strcmp(argv[1], "audit") && !strcmp(argv[2], "verify"))
		return cmd_verify(argc - 3, argv + 3);
	if (argc == 2 && !strcmp(argv[1], "version")) {
		printf("helmdeck %s\n", HELMDECK_VERSION);
		return 0;
	}
	return usage();
}
