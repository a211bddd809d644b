/*
 * The vault's master key: from HELMDECK_VAULT_KEY, HELMDECK_VAULT_KEY_FILE,
 * or <state>/vault/master.key, generated on first run (0600, the vault
 * uid's). It lives in one locked, undumpable page and is wiped on exit.
 *
 * Rotation is crash-safe without a window where no key opens the records:
 * the new key is written to master.key.new, the records are re-sealed in
 * one transaction, then the file is renamed over master.key. At start, a
 * leftover .new that opens the database means the rename was interrupted;
 * one that does not means the transaction never committed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "vault.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *master;          /* [0..32) current key, [32..64) scratch for a new one */
static char master_path[1200];   /* the key file, "" when the key came from the environment */
static int master_from_env, master_in_vault_dir;
static char master_id[17];

static size_t master_len;

static void master_page(void) { master = secmem_alloc(64, &master_len); }

/* 64 hex digits (surrounding whitespace ignored) or exactly 32 raw bytes */
static int parse_key(const char *text, size_t n, uint8_t out[32])
{
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	while (n && (*text == ' ' || *text == '\n')) {
		text++;
		n--;
	}
	if (n == 64) {
		char hex[65];
		memcpy(hex, text, 64);
		hex[64] = '\0';
		int rc = hex_decode(hex, out, 32);
		explicit_bzero(hex, sizeof hex);
		return rc == 0 ? 0 : -1;
	}
	if (n == 32) {
		memcpy(out, text, 32);
		return 0;
	}
	return -1;
}

static int read_key_file(const char *path, uint8_t out[32])
{
	char *s;
	ssize_t n = read_file(path, &s, 256);
	if (n < 0)
		return -1;
	int rc = parse_key(s, (size_t)n, out);
	explicit_bzero(s, (size_t)n);
	free(s);
	if (rc < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int write_key_file(const char *path, const uint8_t key[32], uid_t owner)
{
	char hex[66];
	hex_encode(key, 32, hex);
	hex[64] = '\n';
	hex[65] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = -1;
	if (fd >= 0) {
		rc = write(fd, hex, 65) == 65 && fsync(fd) == 0 ? 0 : -1;
		if (rc == 0 && geteuid() == 0 && !getenv("HELMDECK_IN_USERNS") && fchown(fd, owner, owner) < 0)
			rc = -1;
		close(fd);
		if (rc < 0)
			unlink(path);
	}
	explicit_bzero(hex, sizeof hex);
	return rc;
}

static void sync_dir_of(const char *path)
{
	char d[1200];
	snprintf(d, sizeof d, "%s", path);
	char *slash = strrchr(d, '/');
	if (!slash)
		return;
	*slash = '\0';
	int fd = open(*d ? d : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int vault_master_load(const char *vault_dir, uid_t owner, char *locked, size_t llen)
{
	master_page();
	locked[0] = '\0';
	char *envkey = env_or_file("HELMDECK_VAULT_KEY");
	const char *file = getenv("HELMDECK_VAULT_KEY_FILE");
	if (envkey && *envkey && !(file && *file)) {
		master_from_env = 1;
		if (parse_key(envkey, strlen(envkey), master) < 0) {
			explicit_bzero(envkey, strlen(envkey));
			free(envkey);
			snprintf(locked, llen, "HELMDECK_VAULT_KEY is not 64 hex digits");
			return -1;
		}
		explicit_bzero(envkey, strlen(envkey));
	} else {
		if (file && *file)
			snprintf(master_path, sizeof master_path, "%s", file);
		else
			snprintf(master_path, sizeof master_path, "%s/master.key", vault_dir);
		size_t dl = strlen(vault_dir);
		master_in_vault_dir = !strncmp(master_path, vault_dir, dl) && master_path[dl] == '/' &&
				      !strchr(master_path + dl + 1, '/');
		if (read_key_file(master_path, master) < 0) {
			if (errno != ENOENT || (file && *file)) {
				snprintf(locked, llen, "cannot read the master key %s: %s", master_path,
					 errno == EINVAL ? "not 64 hex digits" : strerror(errno));
				free(envkey);
				return -1;
			}
			/* first run: a fresh key, unless records exist that it cannot open */
			if (RAND_priv_bytes(master, 32) != 1)
				fatal("no entropy for the master key");
			char db[1300];
			snprintf(db, sizeof db, "%s/vault.db", vault_dir);
			struct stat st;
			if (stat(db, &st) == 0) {
				snprintf(locked, llen, "%s exists but its master key %s is missing; restore the key file "
					 "(nothing was changed)", db, master_path);
				free(envkey);
				return -1;
			}
			if (write_key_file(master_path, master, owner) < 0)
				fatalx("write %s", master_path);
			sync_dir_of(master_path);
			log_info("generated a new vault master key in %s", master_path);
		}
	}
	free(envkey);
	unsetenv("HELMDECK_VAULT_KEY");
	return 0;
}

/* After confinement, as the vault uid: the files it creates are its own. */
struct credstore *vault_master_open_db(const char *vault_dir, char *locked, size_t llen)
{
	char db[1300], err[512];
	snprintf(db, sizeof db, "%s/vault.db", vault_dir);
	struct credstore *cs = NULL;
	int rc = cs_open(db, master, &cs, err, sizeof err);
	if (rc == CS_WRONG_KEY && master_path[0]) {
		char pending[1300];
		snprintf(pending, sizeof pending, "%s.new", master_path);
		if (read_key_file(pending, master + 32) == 0 && cs_open(db, master + 32, &cs, NULL, 0) == CS_OK) {
			/* a rotation committed but was not renamed into place */
			memcpy(master, master + 32, 32);
			if (rename(pending, master_path) < 0)
				fatalx("finish the interrupted rekey: rename %s", pending);
			sync_dir_of(master_path);
			log_warn("finished an interrupted vault rekey: %s is now the master key", master_path);
			rc = CS_OK;
		}
		explicit_bzero(master + 32, 32);
	} else if (rc == CS_OK && master_path[0]) {
		char pending[1300];
		snprintf(pending, sizeof pending, "%s.new", master_path);
		if (unlink(pending) == 0)
			log_warn("removed %s: a rekey that never committed", pending);
	}
	if (rc != CS_OK) {
		snprintf(locked, llen, "%s", err);
		return NULL;
	}
	cs_key_id(master, master_id);
	return cs;
}

const char *vault_master_key_id(void) { return master_id; }

int vault_master_rekey(struct credstore *cs, char *msg, size_t mlen)
{
	if (master_from_env) {
		snprintf(msg, mlen, "the master key comes from HELMDECK_VAULT_KEY; give it as HELMDECK_VAULT_KEY_FILE "
			 "inside the vault directory to rotate it here");
		return -1;
	}
	if (!master_in_vault_dir) {
		snprintf(msg, mlen, "the master key file %s is outside the vault directory, which is all the vault "
			 "may write", master_path);
		return -1;
	}
	uint8_t *next = master + 32;
	if (RAND_priv_bytes(next, 32) != 1) {
		snprintf(msg, mlen, "no entropy");
		return -1;
	}
	char pending[1300];
	snprintf(pending, sizeof pending, "%s.new", master_path);
	unlink(pending);
	char err[512];
	if (write_key_file(pending, next, geteuid()) < 0) {
		snprintf(msg, mlen, "cannot write %s: %s", pending, strerror(errno));
		explicit_bzero(next, 32);
		return -1;
	}
	if (cs_rekey(cs, next, err, sizeof err) != CS_OK) {
		unlink(pending);
		explicit_bzero(next, 32);
		snprintf(msg, mlen, "%s", err);
		return -1;
	}
	if (rename(pending, master_path) < 0) {
		/* the records are sealed with the new key: the next start finishes this */
		snprintf(msg, mlen, "records re-sealed, but rename %s failed (%s); it completes at the next start",
			 pending, strerror(errno));
		memcpy(master, next, 32);
		explicit_bzero(next, 32);
		return -1;
	}
	sync_dir_of(master_path);
	char old[17];
	snprintf(old, sizeof old, "%s", master_id);
	memcpy(master, next, 32);
	explicit_bzero(next, 32);
	cs_key_id(master, master_id);
	snprintf(msg, mlen, "%s", old);
	return 0;
}

void vault_master_wipe(void)
{
	if (master)
		explicit_bzero(master, master_len);
}
