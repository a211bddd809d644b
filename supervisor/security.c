/*
 * GET /api/v1/security: what each live process actually runs with, read
 * from /proc, never from configuration.
 */
#define _GNU_SOURCE
#include "supervisor.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "workers/egress/guard.h"
#include "supervisor/landlock.h"
#include "supervisor/seccomp_policy.h"
#include "supervisor/session.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ns_names[] = {"mnt", "pid", "net", "ipc", "uts", "user"};

static void status_field(const char *status, const char *key, char *out, size_t n)
{
	out[0] = '\0';
	size_t kl = strlen(key);
	for (const char *l = status; l && *l;) {
		if (!strncmp(l, key, kl) && l[kl] == ':') {
			const char *v = l + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t len = strcspn(v, "\n");
			if (len >= n)
				len = n - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
}

static json_t *proc_report(const char *role, pid_t pid, const char *self_missing)
{
	json_t *o = json_object();
	json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "pid", json_integer(pid));
	char path[64], *status;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (pid <= 0 || read_file(path, &status, 65536) < 0) {
		json_object_set_new(o, "running", json_false());
		return o;
	}
	json_object_set_new(o, "running", json_true());
	char v[256];
	status_field(status, "Uid", v, sizeof v);
	json_object_set_new(o, "uid", json_integer(atoi(v)));
	status_field(status, "Gid", v, sizeof v);
	json_object_set_new(o, "gid", json_integer(atoi(v)));
	status_field(status, "NoNewPrivs", v, sizeof v);
	json_object_set_new(o, "no_new_privs", json_boolean(atoi(v) == 1));
	status_field(status, "Seccomp", v, sizeof v);
	int sm = atoi(v);
	json_object_set_new(o, "seccomp", json_string(sm == 2 ? "filter" : sm == 1 ? "strict" : "disabled"));
	status_field(status, "Seccomp_filters", v, sizeof v);
	json_object_set_new(o, "seccomp_filters", json_integer(atoi(v)));
	const char *capkeys[][2] = {{"CapEff", "effective"}, {"CapPrm", "permitted"},
				    {"CapBnd", "bounding"}, {"CapAmb", "ambient"}};
	json_t *caps = json_object();
	int anycap = 0;
	for (int i = 0; i < 4; i++) {
		status_field(status, capkeys[i][0], v, sizeof v);
		json_object_set_new(caps, capkeys[i][1], json_string(v));
		if (strtoull(v, NULL, 16) != 0)
			anycap = 1;
	}
	json_object_set_new(o, "capabilities", caps);
	json_object_set_new(o, "capabilities_none", json_boolean(!anycap));
	free(status);
	/* namespaces: own = differs from the supervisor's */
	json_t *ns = json_object();
	json_t *missing = json_array();
	for (size_t i = 0; i < sizeof ns_names / sizeof ns_names[0]; i++) {
		char a[64], b[64], la[128] = "", lb[128] = "";
		snprintf(a, sizeof a, "/proc/%d/ns/%s", (int)pid, ns_names[i]);
		snprintf(b, sizeof b, "/proc/self/ns/%s", ns_names[i]);
		ssize_t na = readlink(a, la, sizeof la - 1), nb = readlink(b, lb, sizeof lb - 1);
		if (na > 0)
			la[na] = '\0';
		if (nb > 0)
			lb[nb] = '\0';
		int own = na > 0 && nb > 0 && strcmp(la, lb) != 0;
		json_object_set_new(ns, ns_names[i], json_boolean(own));
		/* a separate user namespace matters only when we are not root;
		 * egress shares the host network by design: it is the way out */
		int by_design = !strcmp(ns_names[i], "net") && !strcmp(role, "egress");
		if (!own && !by_design && (strcmp(ns_names[i], "user") != 0 || geteuid() != 0))
			json_array_append_new(missing, json_sprintf("%s-namespace", ns_names[i]));
	}
	json_object_set_new(o, "namespaces", ns);
	char root[PATH_MAX] = "";
	snprintf(path, sizeof path, "/proc/%d/root", (int)pid);
	ssize_t rn = readlink(path, root, sizeof root - 1);
	if (rn > 0)
		root[rn] = '\0';
	json_object_set_new(o, "root", json_string(root));
	json_object_set_new(o, "chroot", json_boolean(rn > 0 && strcmp(root, "/") != 0));
	if (sm != 2)
		json_array_append_new(missing, json_string("seccomp"));
	if (anycap)
		json_array_append_new(missing, json_string("capability-drop"));
	/* what /proc cannot show (Landlock), as the process itself reported it */
	char selfm[256];
	snprintf(selfm, sizeof selfm, "%s", self_missing ? self_missing : "");
	char *save = NULL;
	for (char *t = strtok_r(selfm, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int dup = 0;
		for (size_t i = 0; i < json_array_size(missing); i++)
			dup |= !strcmp(json_string_value(json_array_get(missing, i)), t);
		if (!dup)
			json_array_append_new(missing, json_string(t));
	}
	json_object_set_new(o, "missing", missing);
	return o;
}

/* What the egress guard refuses and what the operator opened. */
static json_t *egress_report(void)
{
	char err[256];
	struct guard_list *l = guard_allowlist_parse(getenv("HELMDECK_EGRESS_ALLOWLIST"), err, sizeof err);
	char *allow = l ? guard_allowlist_str(l) : xstrdup("");
	guard_allowlist_free(l);
	char *blocked = guard_blocked_str();
	json_t *bl = json_array(), *al = json_array();
	char *save = NULL;
	for (char *t = strtok_r(blocked, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
		json_array_append_new(bl, json_string(t));
	for (char *t = strtok_r(allow, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(al, json_string(t));
	free(blocked);
	free(allow);
	const char *res = getenv("HELMDECK_EGRESS_RESOLVER");
	return json_pack("{s:o,s:o,s:s,s:s,s:i,s:s}", "blocked", bl, "allowlist", al, "resolver",
			 res && *res ? res : "/etc/resolv.conf (never /etc/hosts)", "connect",
			 "only to the addresses the guard vetted; no second lookup", "redirects_max", 5, "redirects",
			 "every hop resolved and vetted again");
}

char *security_report(void)
{
	json_t *o = json_object();
	json_object_set_new(o, "version", json_string(HELMDECK_VERSION));
	json_object_set_new(o, "supervisor_uid", json_integer((json_int_t)geteuid()));
	json_object_set_new(o, "uid_separation", json_boolean(geteuid() == 0));
	json_object_set_new(o, "cgroups", json_string(cgroup_mode()));
	json_object_set_new(o, "seccomp_default_action", json_string(sc_policy_mode()));
	json_object_set_new(o, "landlock_abi", json_integer(landlock_abi()));
	json_t *roles = json_array();
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (i == ROLE_WORKER)
			continue;
		json_t *r = proc_report(role_table[i].name, sup.roles[i].pid, sup.roles[i].self_missing);
		json_object_set_new(r, "cgroup_limits", json_string(cgroup_limits(sup.roles[i].cg)));
		json_object_set_new(r, "restarts", json_integer(sup.roles[i].restarts));
		json_array_append_new(roles, r);
	}
	for (int i = 0; i < sup.nworkers; i++) {
		json_t *r = proc_report("worker", sup.workers[i].pid, sup.workers[i].self_missing);
		json_object_set_new(r, "slot", json_integer(i));
		json_object_set_new(r, "cgroup_limits", json_string(cgroup_limits(sup.workers[i].cg)));
		json_object_set_new(r, "class", json_string(sup.workers[i].cls));
		json_array_append_new(roles, r);
	}
	json_object_set_new(o, "processes", roles);
	/* exec-class sandboxes exist only while a command runs */
	json_t *ex = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:i}",
			       "root", "tmpfs: read-only /usr, synthetic /etc, /dev nodes, own /proc and /tmp",
			       "network", "own network namespace (loopback down), AF_UNIX sockets only, Landlock TCP deny",
			       "forbidden_calls", "answered EPERM and audited as sandbox_denied",
			       "memory_max", (json_int_t)cfg.exec_mem_max, "pids_max", (json_int_t)cfg.exec_pids_max,
			       "workspace_max_bytes", (json_int_t)cfg.workspace_max_bytes,
			       "workspace_ttl_s", (json_int_t)(cfg.workspace_ttl_ms / 1000),
			       "concurrency", cfg.exec_workers);
	json_t *roots = json_array();
	for (int i = 0; i < cfg.nrepo_roots; i++)
		json_array_append_new(roots, json_string(cfg.repo_roots[i]));
	json_object_set_new(ex, "repo_roots", roots);
	json_t *exm = json_array();
	char em[256];
	snprintf(em, sizeof em, "%s", pool_exec_missing);
	char *esave = NULL;
	for (char *t = strtok_r(em, ",", &esave); t; t = strtok_r(NULL, ",", &esave))
		json_array_append_new(exm, json_string(t));
	json_object_set_new(ex, "last_run_missing", pool_exec_seen ? exm : (json_decref(exm), json_null()));
	json_object_set_new(o, "exec_sandbox", ex);
	char *sr = session_report_json();
	json_error_t je;
	json_t *sj = json_loads(sr, 0, &je);  /* our own text, never a peer's */
	free(sr);
	json_object_set_new(o, "browser_sessions", sj ? sj : json_null());
	json_object_set_new(o, "egress", egress_report());
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		fatal("json_dumps");
	return s;
}
