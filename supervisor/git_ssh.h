#ifndef HD_GIT_SSH_H
#define HD_GIT_SSH_H

#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_AGENT_DIR "/run/helmdeck"   /* = SANDBOX_AGENT, as the sandbox sees it */

struct git_ssh {
	char user[64], host[256], path[1024];
	unsigned port;
	char alias[300];     /* host, or [host]:port: the known_hosts name */
};

/* ssh://[user@]host[:port]/path, git+ssh://, or scp-like [user@]host:path.
 * 1 = an ssh remote (g filled, user "git" when absent), 0 = not ssh, -1 =
 * malformed (why). */
int git_ssh_parse(const char *url, struct git_ssh *g, char *why, size_t wlen);
/* What git dials inside the sandbox: user@127.0.0.1:path. */
void git_ssh_forward_url(const struct git_ssh *g, char *out, size_t n);
/* GIT_SSH_COMMAND: port 2222, batch mode, the pinned known_hosts, the agent. */
void git_ssh_command(const struct git_ssh *g, char *out, size_t n);
/* <state>/agents/<name>/ (0700, the run uid's), bound at /run/helmdeck. */
int git_run_dir(const char *name, uid_t uid, int *dir_fd);
/* 1 = an https remote git may use (host present, no userinfo, no control
 * characters), 0 = not https, -1 = refused (why; also plain http). */
int git_https_check(const char *url, char *why, size_t wlen);
/* ca.pem in the run directory: the system bundle + HELMDECK_EGRESS_CA_FILE. */
int git_https_write_ca(int dir_fd);
/* <state>/agents/<name>/ (0700, uid's) with agent.sock listening in it. */
int git_ssh_agent_dir(const char *name, uid_t uid, int *dir_fd, int *listen_fd);
int git_ssh_write_known_hosts(int dir_fd, const char *text);
void git_ssh_agent_dir_remove(const char *name);

#endif
