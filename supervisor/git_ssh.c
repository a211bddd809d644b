/*
 * ssh remotes for git runs: which URLs are ssh, what the sandbox dials
 * instead (its own 127.0.0.1:2222, forwarded by egress to the vetted
 * sshd), how ssh is told to use the vault's agent and the credential's
 * pinned host key, and the per-run directory that holds the agent socket.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "git_ssh.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "supervisor/netns_proxy.h"
#include "supervisor/workspace.h"
#include "workers/egress/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int agents_root(void)
{
	char p[1200];
	snprintf(p, sizeof p, "%s/agents", cfg.state_dir);
	if (mkdir(p, 0711) < 0 && errno != EEXIST)
		return -1;
	return open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int git_run_dir(const char *name, uid_t uid, int *dir_fd)
{
	*dir_fd = -1;
	int root = agents_root();
	if (root < 0)
		return -1;
	/* only the run's uid may enter: on the host nobody else reaches the agent */
	int rc = mkdirat(root, name, 0700);
	int d = rc == 0 ? openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	close(root);
	if (d < 0)
		return -1;
	if (geteuid() == 0 && !getenv("HELMDECK_IN_USERNS") && fchown(d, uid, uid) < 0) {
		int e = errno;
		close(d);
		git_ssh_agent_dir_remove(name);
		errno = e;
		return -1;
	}
	*dir_fd = d;
	return 0;
}

int git_ssh_agent_dir(const char *name, uid_t uid, int *dir_fd, int *listen_fd)
{
	*listen_fd = -1;
	int d;
	if (git_run_dir(name, uid, &d) < 0)
		return -1;
	*dir_fd = -1;
	int privileged = geteuid() == 0 && !getenv("HELMDECK_IN_USERNS");
	char path[1300];
	snprintf(path, sizeof path, "%s/agents/%s/agent.sock", cfg.state_dir, name);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		goto fail;
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 8) < 0 ||
	    (privileged && fchownat(d, "agent.sock", uid, uid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    fchmodat(d, "agent.sock", 0600, 0) < 0) {
		close(s);
		goto fail;
	}
	*dir_fd = d;
	*listen_fd = s;
	return 0;
fail:;
	int e = errno;
	close(d);
	git_ssh_agent_dir_remove(name);
	errno = e;
	return -1;
}

int git_ssh_write_known_hosts(int dir_fd, const char *text)
{
	int fd = openat(dir_fd, "known_hosts", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int rc = write(fd, text, n) == (ssize_t)n && (n == 0 || text[n - 1] == '\n' || write(fd, "\n", 1) == 1) ? 0 : -1;
	close(fd);
	return rc;
}

void git_ssh_agent_dir_remove(const char *name)
{
	int root = agents_root();
	if (root < 0)
		return;
	ws_rm_tree(root, name);
	close(root);
}

/* What git in the sandbox trusts: the system bundle and the operator's
 * HELMDECK_EGRESS_CA_FILE, the same CAs egress trusts for http.fetch. */
int git_https_write_ca(int dir_fd)
{
	const char *files[] = {"/etc/ssl/certs/ca-certificates.crt", getenv("HELMDECK_EGRESS_CA_FILE")};
	int fd = openat(dir_fd, "ca.pem", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char *text;
		if (!files[i] || !*files[i])
			continue;
		ssize_t n = read_file(files[i], &text, 16u << 20);
		if (n < 0)
			continue;
		if (write(fd, text, (size_t)n) != n || write(fd, "\n", 1) != 1)
			rc = -1;
		free(text);
	}
	close(fd);
	return rc;
}
