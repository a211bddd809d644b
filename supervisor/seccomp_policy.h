/*
 * Seccomp policies are data: policy/<name>.policy files, read before the
 * process confines itself and compiled with libseccomp. Format, one rule a
 * line ('#' comments):
 *   @include <name>                      another policy file
 *   allow <syscall> [argN == V ...]      allow (all conditions must hold)
 *   errno <ERRNO> <syscall>              fail harmless probes quietly
 *   conditions: argN == V  or  argN & MASK == V (V may be a symbol: AF_UNIX...)
 *   @violation errno <ERRNO>             with notify: the supervisor audits a
 *                                        forbidden call and answers ERRNO
 *                                        instead of killing (exec class: a
 *                                        command's probe must not end the run)
 * Default: kill the process (SCMP_ACT_KILL_PROCESS), or, with notify set,
 * hand the call to the supervisor, which names it and kills the process.
 * Built with SECCOMP_DEBUG, the default is a trap that logs the name.
 */
#ifndef HD_SECCOMP_POLICY_H
#define HD_SECCOMP_POLICY_H

#include <stddef.h>

struct sc_policy;

/* Load <dir>/<name>.policy with includes. NULL + message on error. */
struct sc_policy *sc_policy_load(const char *dir, const char *name, char *err, size_t errlen);
void sc_policy_free(struct sc_policy *p);
size_t sc_policy_rules(const struct sc_policy *p);
int sc_policy_violation_errno(const struct sc_policy *p);
/* Compile and install. Returns 0; with notify_fd != NULL the default action
 * is a user notification and *notify_fd receives the listener. */
int sc_policy_apply(const struct sc_policy *p, int *notify_fd, char *err, size_t errlen);
/* "trap" (debug build) or "kill". */
const char *sc_policy_mode(void);

#endif
