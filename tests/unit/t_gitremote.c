/* The git remote parser: which URLs are ssh or https, and what the
 * sandbox dials instead. */
#include "tap.h"
#include "supervisor/git_ssh.h"

#include <string.h>

static void parses(const char *url, const char *user, const char *host, unsigned port, const char *path,
		   const char *alias)
{
	struct git_ssh g;
	char why[256] = "";
	int rc = git_ssh_parse(url, &g, why, sizeof why);
	ok(rc == 1 && !strcmp(g.user, user) && !strcmp(g.host, host) && g.port == port && !strcmp(g.path, path) &&
		   !strcmp(g.alias, alias),
	   "%s -> %s@%s:%u %s (%s)", url, user, host, port, path, alias);
	if (rc != 1)
		printf("#   rc %d: %s\n", rc, why);
}

static void refused(const char *url, const char *what)
{
	struct git_ssh g;
	char why[256] = "";
	int rc = git_ssh_parse(url, &g, why, sizeof why);
	ok(rc == -1 && why[0], "refused: %s (%s)", what, why);
}

static void not_ssh(const char *url)
{
	struct git_ssh g;
	char why[256];
	ok(git_ssh_parse(url, &g, why, sizeof why) == 0, "%s is not ssh", url);
}

static void https(const char *url, int want)
{
	char why[256] = "";
	ok(git_https_check(url, why, sizeof why) == want, "https check %s -> %d %s", url, want, why);
}

int main(void)
{
	parses("ssh://git@github.com/org/repo.git", "git", "github.com", 22, "/org/repo.git", "github.com");
	parses("ssh://github.com/org/repo.git", "git", "github.com", 22, "/org/repo.git", "github.com");
	parses("ssh://deploy@Git.Example.COM:2222/srv/r.git", "deploy", "git.example.com", 2222, "/srv/r.git",
	       "[git.example.com]:2222");
	parses("git+ssh://git@host.example/a/b", "git", "host.example", 22, "/a/b", "host.example");
	parses("git@github.com:org/repo.git", "git", "github.com", 22, "org/repo.git", "github.com");
	parses("alice@host.example:~/r.git", "alice", "host.example", 22, "~/r.git", "host.example");
	parses("ssh://root@127.0.0.2:41592/tmp/x/repo.git", "root", "127.0.0.2", 41592, "/tmp/x/repo.git",
	       "[127.0.0.2]:41592");
	parses("ssh://git@[::1]:2200/r.git", "git", "[::1]", 2200, "/r.git", "[[::1]]:2200");

	not_ssh("/srv/git/repo.git");
	not_ssh("file:///srv/git/repo.git");
	not_ssh("https://github.com/org/repo.git");
	not_ssh("./relative/path");

	refused("ssh://git@host", "no path");
	refused("ssh://git@host:0/r.git", "port 0");
	refused("ssh://git@host:70000/r.git", "port out of range");
	refused("ssh://git@host:22x/r.git", "port with letters");
	refused("ssh://bad user@host/r.git", "user with a space");
	refused("ssh://git@ho$t/r.git", "host with a $");
	refused("ssh://git@host/r.git;rm -rf /", "shell characters in the path");
	refused("ssh://git@host/r.git`id`", "backquotes in the path");
	refused("git@host:r.git\nX", "a newline");
	refused("ssh://git@256.1.1.1/r.git", "an all-numeric host that is not an address");
	refused("git@[::1]:r.git", "scp-like with an IPv6 host");

	struct git_ssh g;
	char why[256], out[1200];
	git_ssh_parse("git@github.com:org/repo.git", &g, why, sizeof why);
	git_ssh_forward_url(&g, out, sizeof out);
	is_str(out, "git@127.0.0.1:org/repo.git", "the sandbox dials its own forward, path kept relative");
	git_ssh_command(&g, out, sizeof out);
	ok(strstr(out, "-p 2222") && strstr(out, "StrictHostKeyChecking=yes") && strstr(out, "HostKeyAlias=github.com") &&
		   strstr(out, "UserKnownHostsFile=/run/helmdeck/known_hosts") && strstr(out, "BatchMode=yes") &&
		   strstr(out, "-F /dev/null"),
	   "GIT_SSH_COMMAND pins the host key, uses no config, never prompts");

	https("https://github.com/org/repo.git", 1);
	https("https://git.example:8443/r.git", 1);
	https("http://github.com/org/repo.git", -1);
	https("https://user:token@github.com/r.git", -1);
	https("https:///r.git", -1);
	https("https://host/r .git", -1);
	https("/srv/git/r.git", 0);
	https("ssh://git@host/r.git", 0);
	return done_testing();
}
