/* Configuration from the environment (HELMDECK_*), read once at start. */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stdint.h>
#include <sys/types.h>

#define CONFIG_MAX_REPO_ROOTS 8

struct config {
	char state_dir[1024];
	char db_path[1024];
	char policy_dir[1024];
	char addr[256];
	char control_sock[1100];
	uid_t uid_base;
	int pool_size;
	int64_t pack_timeout_ms;
	int64_t http_timeout_ms;
	uint32_t pack_max_output;
	uint64_t worker_mem_max;
	uint64_t worker_pids_max;
	int test_packs;
	/* workspaces (code-edit packs) */
	int64_t workspace_ttl_ms;
	uint64_t workspace_max_bytes;
	char repo_roots[CONFIG_MAX_REPO_ROOTS][1024];  /* where local remotes may live */
	int nrepo_roots;
	int exec_workers;          /* concurrent exec-class sandboxes */
	uint64_t exec_mem_max;
	uint64_t exec_pids_max;
	/* browser sessions */
	int browser_pool;            /* warm browsers kept ready */
	uint64_t browser_pool_memory; /* budget: warm + live sessions' memory limits */
	uint64_t session_memory;     /* default memory_limit of a session */
	uint64_t session_pids;
	int64_t session_timeout_ms;  /* default timeout_seconds */
	int browser_net_direct;      /* sessions use the host network (HELMDECK_BROWSER_NETWORK=direct) */
	int browser_net_proxy;       /* sessions reach out only through the egress proxy (the default) */
	int max_sessions;
	int64_t artifact_ttl_ms;
	char issuer[64];
};

extern struct config cfg;

/* Fill cfg from the environment; fatal on a value that cannot be used. */
void config_load(void);
/* Exported to every child so each role reads the same values. */
void config_export(void);

#endif
