#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"
#include "workers/egress/guard.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config cfg;

static int64_t env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	long long x = strtoll(v, &end, 10);
	if (*end || x < min || x > max)
		fatal("%s=%s: expected an integer in [%lld, %lld]", name, v, (long long)min, (long long)max);
	return x;
}

/* Bytes with an optional k/m/g suffix (powers of 1024). */
static uint64_t env_size(const char *name, uint64_t def, uint64_t min, uint64_t max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == v || *end || v[0] == '-' || x > (max >> shift) || (x << shift) < min)
		fatal("%s=%s: expected a size in bytes (suffix k, m or g) in [%llu, %llu]", name, v,
		      (unsigned long long)min, (unsigned long long)max);
	return (uint64_t)x << shift;
}

/* HELMDECK_REPO_ROOTS: colon-separated absolute directories, resolved now so
 * a later symlink swap cannot move them. */
static void config_repo_roots(void)
{
	const char *v = getenv("HELMDECK_REPO_ROOTS");
	if (!v || !*v)
		return;
	char *copy = xstrdup(v), *save = NULL;
	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
		if (t[0] != '/')
			fatal("HELMDECK_REPO_ROOTS: %s is not an absolute path", t);
		if (cfg.nrepo_roots == CONFIG_MAX_REPO_ROOTS)
			fatal("HELMDECK_REPO_ROOTS: at most %d directories", CONFIG_MAX_REPO_ROOTS);
		char real[PATH_MAX];
		if (!realpath(t, real))
			fatalx("HELMDECK_REPO_ROOTS: %s", t);
		snprintf(cfg.repo_roots[cfg.nrepo_roots++], sizeof cfg.repo_roots[0], "%s", real);
	}
	free(copy);
}

static void abspath(char *out, size_t n, const char *p)
{
	if (p[0] == '/') {
		snprintf(out, n, "%s", p);
		return;
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		fatalx("getcwd");
	if (snprintf(out, n, "%s/%s", cwd, p) >= (int)n)
		fatal("path too long: %s", p);
}

void config_load(void)
{
	memset(&cfg, 0, sizeof cfg);
	abspath(cfg.state_dir, sizeof cfg.state_dir, env_default("HELMDECK_STATE_DIR", "./var"));
	const char *db = getenv("HELMDECK_DB");
	if (db && *db)
		abspath(cfg.db_path, sizeof cfg.db_path, db);
	else
		snprintf(cfg.db_path, sizeof cfg.db_path, "%s/db/helmdeck.db", cfg.state_dir);
	const char *pd = getenv("HELMDECK_POLICY_DIR");
	if (pd && *pd) {
		abspath(cfg.policy_dir, sizeof cfg.policy_dir, pd);
	} else {
		/* next to the binary in a build tree, else the installed copy */
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n > 0) {
			exe[n] = '\0';
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = '\0';
			snprintf(cfg.policy_dir, sizeof cfg.policy_dir, "%s/../policy", exe);
		}
		if (access(cfg.policy_dir, R_OK) != 0)
			snprintf(cfg.policy_dir, sizeof cfg.policy_dir, "/usr/share/helmdeck/policy");
	}
	snprintf(cfg.addr, sizeof cfg.addr, "%s", env_default("HELMDECK_ADDR", "127.0.0.1:3000"));
	snprintf(cfg.control_sock, sizeof cfg.control_sock, "%s/control.sock", cfg.state_dir);
	cfg.uid_base = (uid_t)env_int("HELMDECK_UID_BASE", 61000, 1000, 2000000000);
	cfg.pool_size = (int)env_int("HELMDECK_WORKER_POOL", 2, 1, 64);
	const char *t = getenv("HELMDECK_PACK_TIMEOUT");
	cfg.pack_timeout_ms = t && *t ? parse_duration_ms(t) : 60000;
	if (cfg.pack_timeout_ms <= 0 || cfg.pack_timeout_ms > 3600000)
		fatal("HELMDECK_PACK_TIMEOUT=%s: expected a duration up to 1h", t);
	const char *ht = getenv("HELMDECK_HTTP_TIMEOUT");
	cfg.http_timeout_ms = ht && *ht ? parse_duration_ms(ht) : 60000;
	if (cfg.http_timeout_ms < 1000 || cfg.http_timeout_ms > 3600000)
		fatal("HELMDECK_HTTP_TIMEOUT=%s: expected a duration from 1s to 1h", ht);
	cfg.pack_max_output = (uint32_t)env_int("HELMDECK_PACK_MAX_OUTPUT", 8 << 20, 1024, 15 << 20);
	cfg.worker_mem_max = (uint64_t)env_int("HELMDECK_WORKER_MEMORY", 512ll << 20, 16 << 20, 1ll << 40);
	cfg.worker_pids_max = (uint64_t)env_int("HELMDECK_WORKER_PIDS", 64, 1, 1 << 20);
	cfg.test_packs = (int)env_int("HELMDECK_ENABLE_TEST_PACKS", 0, 0, 1);
	snprintf(cfg.issuer, sizeof cfg.issuer, "helmdeck");
	const char *wt = getenv("HELMDECK_WORKSPACE_TTL");
	cfg.workspace_ttl_ms = wt && *wt ? parse_duration_ms(wt) : 24ll * 3600 * 1000;
	if (cfg.workspace_ttl_ms < 1000 || cfg.workspace_ttl_ms > 365ll * 24 * 3600 * 1000)
		fatal("HELMDECK_WORKSPACE_TTL=%s: expected a duration between 1s and 365d", wt);
	cfg.workspace_max_bytes = env_size("HELMDECK_WORKSPACE_MAX_BYTES", 1ull << 30, 1ull << 20, 1ull << 40);
	config_repo_roots();
	cfg.exec_workers = (int)env_int("HELMDECK_EXEC_WORKERS", 4, 1, 64);
	cfg.exec_mem_max = env_size("HELMDECK_EXEC_MEMORY", 1ull << 30, 64ull << 20, 1ull << 40);
	cfg.exec_pids_max = (uint64_t)env_int("HELMDECK_EXEC_PIDS", 256, 8, 1 << 20);
	cfg.browser_pool = (int)env_int("HELMDECK_BROWSER_POOL", 1, 0, 16);
	cfg.session_memory = env_size("HELMDECK_SESSION_MEMORY", 1ull << 30, 128ull << 20, 1ull << 40);
	cfg.browser_pool_memory = env_size("HELMDECK_BROWSER_POOL_MEMORY", 4ull << 30, 128ull << 20, 1ull << 42);
	cfg.session_pids = (uint64_t)env_int("HELMDECK_SESSION_PIDS", 512, 32, 1 << 20);
	const char *st = getenv("HELMDECK_SESSION_TIMEOUT");
	cfg.session_timeout_ms = st && *st ? parse_duration_ms(st) : 300000;
	if (cfg.session_timeout_ms < 1000 || cfg.session_timeout_ms > 24ll * 3600 * 1000)
		fatal("HELMDECK_SESSION_TIMEOUT=%s: expected a duration between 1s and 24h", st);
	char gerr[256];
	struct guard_list *gl = guard_allowlist_parse(getenv("HELMDECK_EGRESS_ALLOWLIST"), gerr, sizeof gerr);
	if (!gl)
		fatal("HELMDECK_EGRESS_ALLOWLIST: %s", gerr);
	guard_allowlist_free(gl);
	const char *bn = env_default("HELMDECK_BROWSER_NETWORK", "proxy");
	if (strcmp(bn, "none") && strcmp(bn, "direct") && strcmp(bn, "proxy"))
		fatal("HELMDECK_BROWSER_NETWORK=%s: expected proxy, none or direct", bn);
	cfg.browser_net_direct = !strcmp(bn, "direct");
	cfg.browser_net_proxy = !strcmp(bn, "proxy");
	cfg.max_sessions = (int)env_int("HELMDECK_MAX_SESSIONS", 16, 1, 64);
	const char *at = getenv("HELMDECK_ARTIFACT_TTL");
	cfg.artifact_ttl_ms = at && *at ? parse_duration_ms(at) : 7ll * 24 * 3600 * 1000;
	if (cfg.artifact_ttl_ms < 1000 || cfg.artifact_ttl_ms > 3650ll * 24 * 3600 * 1000)
		fatal("HELMDECK_ARTIFACT_TTL=%s: expected a duration between 1s and 3650d", at);
}

void config_export(void)
{
	char v[32];
	setenv("HELMDECK_STATE_DIR", cfg.state_dir, 1);
	setenv("HELMDECK_DB", cfg.db_path, 1);
	setenv("HELMDECK_POLICY_DIR", cfg.policy_dir, 1);
	setenv("HELMDECK_ADDR", cfg.addr, 1);
	snprintf(v, sizeof v, "%u", (unsigned)cfg.uid_base);
	setenv("HELMDECK_UID_BASE", v, 1);
	snprintf(v, sizeof v, "%lldms", (long long)cfg.pack_timeout_ms);
	setenv("HELMDECK_PACK_TIMEOUT", v, 1);
}
