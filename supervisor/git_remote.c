/*
 * Which git remotes are ssh or https, and what the sandbox uses instead: a
 * pure parser (unit-tested in t_gitremote), apart from the run directories
 * in git_ssh.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "git_ssh.h"
#include "supervisor/netns_proxy.h"
#include "workers/egress/guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int git_ssh_token_ok(const char *s, size_t n, const char *extra)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr(extra, s[i])))
			return 0;
	return 1;
}

int git_ssh_parse(const char *url, struct git_ssh *g, char *why, size_t wlen)
{
	memset(g, 0, sizeof *g);
	g->port = 22;
	const char *rest, *path;
	char hostport[300];
	if (!strncmp(url, "ssh://", 6) || !strncmp(url, "git+ssh://", 10)) {
		rest = strstr(url, "://") + 3;
		path = strchr(rest, '/');
		if (!path) {
			snprintf(why, wlen, "ssh URL without a path");
			return -1;
		}
		snprintf(hostport, sizeof hostport, "%.*s", (int)(path - rest), rest);
	} else {
		/* scp-like user@host:path: a ':' before any '/', and no "://" */
		const char *colon = strchr(url, ':');
		const char *slash = strchr(url, '/');
		if (!colon || strstr(url, "://") || (slash && slash < colon) || url[0] == '/')
			return 0;
		snprintf(hostport, sizeof hostport, "%.*s", (int)(colon - url), url);
		path = colon + 1;
		if (strchr(hostport, '[')) {
			snprintf(why, wlen, "scp-like remotes cannot name an IPv6 address; use ssh://");
			return -1;
		}
	}
	char *at = strrchr(hostport, '@');
	const char *hp = hostport;
	if (at) {
		*at = '\0';
		if (!git_ssh_token_ok(hostport, strlen(hostport), "._-") || strlen(hostport) >= sizeof g->user) {
			snprintf(why, wlen, "ssh user must be letters, digits, '.', '_' or '-'");
			return -1;
		}
		snprintf(g->user, sizeof g->user, "%s", hostport);
		hp = at + 1;
	} else {
		snprintf(g->user, sizeof g->user, "git");
	}
	char host[260];
	snprintf(host, sizeof host, "%s", hp);
	char *pc = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
	if (pc) {
		char *port = pc + (host[0] == '[' ? 2 : 1);
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (*end || p == 0 || p > 65535) {
			snprintf(why, wlen, "ssh port %.20s is out of range", port);
			return -1;
		}
		g->port = (unsigned)p;
		*(host[0] == '[' ? pc + 1 : pc) = '\0';
	}
	if (host[0] == '[') {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']') {
			snprintf(why, wlen, "malformed IPv6 host");
			return -1;
		}
	}
	struct sockaddr_storage ss;
	int lit = guard_host_literal(host, &ss);
	if (lit < 0 || (lit == 0 && guard_host_normalize(host, g->host, sizeof g->host) < 0)) {
		snprintf(why, wlen, "ssh host %.100s is not a valid name or address", host);
		return -1;
	}
	if (lit == 1)
		snprintf(g->host, sizeof g->host, "%s", host);
	size_t pl = strlen(path);
	if (pl == 0 || pl >= sizeof g->path || !git_ssh_token_ok(path, pl, "/._-~+@")) {
		snprintf(why, wlen, "ssh repository path must be 1..1023 of letters, digits and / . _ - ~ + @");
		return -1;
	}
	snprintf(g->path, sizeof g->path, "%s", path);
	/* the name known_hosts files use for this server */
	if (g->port == 22)
		snprintf(g->alias, sizeof g->alias, "%s", g->host);
	else
		snprintf(g->alias, sizeof g->alias, "[%s]:%u", g->host, g->port);
	return 1;
}

void git_ssh_forward_url(const struct git_ssh *g, char *out, size_t n)
{
	/* scp-like, so a relative path stays relative to the account's home;
	 * the port is in GIT_SSH_COMMAND */
	snprintf(out, n, "%s@127.0.0.1:%s", g->user, g->path);
}

void git_ssh_command(const struct git_ssh *g, char *out, size_t n)
{
	snprintf(out, n,
		 "ssh -F /dev/null -p %d -o BatchMode=yes -o StrictHostKeyChecking=yes -o CheckHostIP=no "
		 "-o UserKnownHostsFile=" SANDBOX_AGENT_DIR "/known_hosts -o GlobalKnownHostsFile=/dev/null "
		 "-o HostKeyAlias=%s -o UpdateHostKeys=no -o PreferredAuthentications=publickey "
		 "-o IdentityAgent=" SANDBOX_AGENT_DIR "/agent.sock -o ControlMaster=no",
		 NETNS_SSH_PORT, g->alias);
}

int git_https_check(const char *url, char *why, size_t wlen)
{
	if (strncmp(url, "https://", 8))
		return strncmp(url, "http://", 7) ? 0 : (snprintf(why, wlen, "plain http remotes are refused: use https"), -1);
	const char *auth = url + 8;
	size_t n = strcspn(auth, "/?#");
	if (n == 0 || memchr(auth, '@', n)) {
		snprintf(why, wlen, "https remote without a host, or with credentials in it");
		return -1;
	}
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '\\' || *p == 0x7f) {
			snprintf(why, wlen, "https remote with spaces or control characters");
			return -1;
		}
	if (strlen(url) >= 2048) {
		snprintf(why, wlen, "https remote too long");
		return -1;
	}
	return 1;
}

