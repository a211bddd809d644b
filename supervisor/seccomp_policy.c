#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "seccomp_policy.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SC_MAX_RULES 512
#define SC_MAX_ARGS 3
#define SC_MAX_DEPTH 4

struct sc_rule {
	int nr;
	int action_errno;  /* 0 = allow */
	int nargs;
	/* mask 0: equality; otherwise (arg & mask) == val */
	struct { unsigned idx; unsigned long long mask, val; } args[SC_MAX_ARGS];
};

struct sc_policy {
	struct sc_rule rules[SC_MAX_RULES];
	size_t n;
	int violation_errno;  /* @violation errno E: answer, don't kill */
};

static const struct { const char *name; unsigned long long val; } sc_symbols[] = {
	{"AF_UNIX", AF_UNIX}, {"AF_INET", AF_INET}, {"AF_INET6", AF_INET6},
	{"AF_NETLINK", AF_NETLINK},
};

static const struct { const char *name; int val; } sc_errnos[] = {
	{"EPERM", EPERM}, {"EACCES", EACCES}, {"ENOSYS", ENOSYS}, {"EINVAL", EINVAL},
	{"ENOENT", ENOENT}, {"EAFNOSUPPORT", EAFNOSUPPORT}, {"ENOTTY", ENOTTY},
};

static int sc_parse_value(const char *s, unsigned long long *out)
{
	for (size_t i = 0; i < sizeof sc_symbols / sizeof sc_symbols[0]; i++)
		if (!strcmp(s, sc_symbols[i].name)) {
			*out = sc_symbols[i].val;
			return 0;
		}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

static int sc_load_file(struct sc_policy *p, const char *dir, const char *name, int depth,
			char *err, size_t errlen)
{
	if (depth > SC_MAX_DEPTH) {
		snprintf(err, errlen, "%s: includes nested too deep", name);
		return -1;
	}
	for (const char *q = name; *q; q++)
		if (!(*q == '-' || *q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'))) {
			snprintf(err, errlen, "bad policy name '%s'", name);
			return -1;
		}
	char path[4096], *text;
	snprintf(path, sizeof path, "%s/%s.policy", dir, name);
	if (read_file(path, &text, 1 << 20) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int lineno = 0, rc = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *tok[16];
		int nt = 0;
		char *ts = NULL;
		for (char *t = strtok_r(line, " \t\r", &ts); t && nt < 16; t = strtok_r(NULL, " \t\r", &ts))
			tok[nt++] = t;
		if (nt == 0)
			continue;
		if (!strcmp(tok[0], "@violation") && nt == 3 && !strcmp(tok[1], "errno")) {
			for (size_t i = 0; i < sizeof sc_errnos / sizeof sc_errnos[0]; i++)
				if (!strcmp(tok[2], sc_errnos[i].name))
					p->violation_errno = sc_errnos[i].val;
			if (!p->violation_errno) {
				snprintf(err, errlen, "%s:%d: unknown errno %s", path, lineno, tok[2]);
				rc = -1;
				break;
			}
			continue;
		}
		if (!strcmp(tok[0], "@include") && nt == 2) {
			if ((rc = sc_load_file(p, dir, tok[1], depth + 1, err, errlen)) < 0)
				break;
			continue;
		}
		if (p->n == SC_MAX_RULES) {
			snprintf(err, errlen, "%s:%d: too many rules", path, lineno);
			rc = -1;
			break;
		}
		struct sc_rule *r = &p->rules[p->n];
		memset(r, 0, sizeof *r);
		int ai;
		if (!strcmp(tok[0], "allow") && nt >= 2) {
			ai = 2;
			r->nr = seccomp_syscall_resolve_name(tok[1]);
		} else if (!strcmp(tok[0], "errno") && nt == 3) {
			ai = 3;
			r->nr = seccomp_syscall_resolve_name(tok[2]);
			for (size_t i = 0; i < sizeof sc_errnos / sizeof sc_errnos[0]; i++)
				if (!strcmp(tok[1], sc_errnos[i].name))
					r->action_errno = sc_errnos[i].val;
			if (!r->action_errno) {
				snprintf(err, errlen, "%s:%d: unknown errno %s", path, lineno, tok[1]);
				rc = -1;
				break;
			}
		} else {
			snprintf(err, errlen, "%s:%d: cannot parse rule", path, lineno);
			rc = -1;
			break;
		}
		if (r->nr == __NR_SCMP_ERROR) {
			snprintf(err, errlen, "%s:%d: unknown syscall", path, lineno);
			rc = -1;
			break;
		}
		/* conditions: argN == V, or argN & MASK == V */
		while (ai < nt) {
			unsigned idx;
			int masked = ai + 1 < nt && !strcmp(tok[ai + 1], "&");
			int width = masked ? 5 : 3;
			if (ai + width - 1 >= nt) {
				snprintf(err, errlen, "%s:%d: incomplete condition", path, lineno);
				rc = -1;
				break;
			}
			unsigned long long mask = 0;
			if (r->nargs == SC_MAX_ARGS || sscanf(tok[ai], "arg%u", &idx) != 1 || idx > 5 ||
			    (masked && (sc_parse_value(tok[ai + 2], &mask) < 0 || mask == 0)) ||
			    strcmp(tok[ai + width - 2], "==") != 0 ||
			    sc_parse_value(tok[ai + width - 1], &r->args[r->nargs].val) < 0) {
				snprintf(err, errlen, "%s:%d: bad condition", path, lineno);
				rc = -1;
				break;
			}
			r->args[r->nargs].idx = idx;
			r->args[r->nargs].mask = mask;
			r->nargs++;
			ai += width;
		}
		if (rc < 0)
			break;
		p->n++;
	}
	free(text);
	return rc;
}

struct sc_policy *sc_policy_load(const char *dir, const char *name, char *err, size_t errlen)
{
	struct sc_policy *p = xcalloc(1, sizeof *p);
	if (sc_load_file(p, dir, name, 0, err, errlen) < 0) {
		free(p);
		return NULL;
	}
#ifdef HELMDECK_SANITIZED
	/* the ASan/UBSan runtime's report path probes files and terminals:
	 * refuse those quietly so a crash still reads as a crash */
	if (sc_load_file(p, dir, "sanitizer", 0, err, errlen) < 0) {
		free(p);
		return NULL;
	}
#endif
	return p;
}

void sc_policy_free(struct sc_policy *p) { free(p); }
size_t sc_policy_rules(const struct sc_policy *p) { return p->n; }
int sc_policy_violation_errno(const struct sc_policy *p) { return p->violation_errno; }

#ifdef SECCOMP_DEBUG
static void sc_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	char *name = seccomp_syscall_resolve_num_arch(si->si_arch, si->si_syscall);
	char line[160];
	int n = snprintf(line, sizeof line, "%s[%d] seccomp: forbidden syscall %s (%d)\n",
			 log_role(), (int)getpid(), name ? name : "?", si->si_syscall);
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
	_exit(159);
}
const char *sc_policy_mode(void) { return "trap"; }
#else
const char *sc_policy_mode(void) { return "kill"; }
#endif

int sc_policy_apply(const struct sc_policy *p, int *notify_fd, char *err, size_t errlen)
{
	uint32_t def = SCMP_ACT_KILL_PROCESS;
#ifdef SECCOMP_DEBUG
	struct sigaction sa = {.sa_sigaction = sc_sigsys, .sa_flags = SA_SIGINFO};
	sigaction(SIGSYS, &sa, NULL);
	def = SCMP_ACT_TRAP;
	notify_fd = NULL;
#else
	if (notify_fd)
		def = SCMP_ACT_NOTIFY;
#endif
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		const struct sc_rule *r = &p->rules[i];
		uint32_t act = r->action_errno ? SCMP_ACT_ERRNO((uint32_t)r->action_errno) : SCMP_ACT_ALLOW;
		struct scmp_arg_cmp cmp[SC_MAX_ARGS];
		for (int a = 0; a < r->nargs; a++)
			cmp[a] = r->args[a].mask ?
				 (struct scmp_arg_cmp){r->args[a].idx, SCMP_CMP_MASKED_EQ, r->args[a].mask, r->args[a].val} :
				 (struct scmp_arg_cmp){r->args[a].idx, SCMP_CMP_EQ, r->args[a].val, 0};
		rc = seccomp_rule_add_array(ctx, act, r->nr, (unsigned)r->nargs, cmp);
		if (rc == -EEXIST)
			rc = 0;  /* listed twice through includes */
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	if (rc == 0 && notify_fd) {
		*notify_fd = seccomp_notify_fd(ctx);
		if (*notify_fd < 0)
			rc = *notify_fd;
	}
	seccomp_release(ctx);
	if (rc != 0) {
		snprintf(err, errlen, "seccomp: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
