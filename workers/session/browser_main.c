/*
 * One browser session: started by the supervisor (`helmdeckd -R browser`)
 * with the CDP socket at fd 3 and a log pipe at fd 4, already in its own
 * cgroup and pid namespace. It confines itself — mount, ipc, uts and (unless
 * the operator opened direct network) net namespaces; the sandbox root of
 * the exec class (read-only /usr, synthetic /etc plus fonts, own /proc,
 * /tmp and /dev/shm) with this session's profile at /workspace; its own uid;
 * no capabilities; no_new_privs; Landlock with write access only to the
 * profile, /tmp and /dev — and then
 * becomes chromium, whose own sandbox (user and pid namespaces, seccomp for
 * the renderers) stays on. Chromium, as pid 1 of the namespace, takes every
 * process it starts with it when it dies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/log.h"
#include "common/util.h"
#include "supervisor/confine.h"
#include "supervisor/config.h"
#include "supervisor/sandbox_root.h"
#include "supervisor/netns_proxy.h"
#include "supervisor/session.h"
#include "workers/role.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int browser_main(void)
{
	role_init("browser");
	const char *shm = getenv("HELMDECK_RUN_SHM");
	const char *net = getenv("HELMDECK_RUN_NET");
	int net_direct = net && !strcmp(net, "direct");
	int net_proxy = net && !strcmp(net, "proxy");
	/* born in a namespace of its own, with the proxy listener in it: a new
	 * one now would leave that behind */
	int own_netns = netns_is_own();
	unsigned long shm_bytes = shm ? strtoul(shm, NULL, 10) : 64ul << 20;
	if (shm_bytes < (16ul << 20))
		shm_bytes = 16ul << 20;
	char empty[1200];
	snprintf(empty, sizeof empty, "%s/empty", cfg.state_dir);
	/* fonts and chromium's own config; the host resolver only when the
	 * operator gave sessions the host's network */
	static const char *const extra[] = {"/etc/fonts", "/etc/chromium", "/etc/chromium.d", NULL};
	static const char *const extra_direct[] = {"/etc/fonts", "/etc/chromium", "/etc/chromium.d",
						   "/etc/resolv.conf", "/etc/hosts", NULL};
	struct confine_spec s = {
		.unshare_flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (net_direct || own_netns ? 0 : CLONE_NEWNET),
		.rlimits = {{RLIMIT_CORE, 0}},
		.nrlimits = 1,
	};
	role_spec_ids(&s, BROWSER_UID_OFFSET);
	struct sandbox_root root = {
		.mnt = empty, .ws_fd = BROWSER_FD_PROFILE, .remote_fd = -1, .agent_fd = -1,
		.uid = geteuid() == 0 ? s.uid : geteuid(), .gid = geteuid() == 0 ? s.gid : getegid(),
		.tmp_bytes = 256ul << 20, .extra_ro = net_direct ? extra_direct : extra,
		.shm_bytes = shm_bytes, .allow_tcp = net_direct, .proc_writable = 1,
		/* the proxy is the one TCP port it may dial */
		.tcp_connect_port = net_proxy && own_netns ? NETNS_PROXY_PORT : 0,
	};
	s.root = &root;
	confine_apply(&s);
	/* chromium reads CDP on 3 and writes on 4: both are our socket; the
	 * log pipe becomes stderr */
	if (dup2(BROWSER_FD_LOG, 2) < 0 || dup2(BROWSER_FD_CDP, 4) < 0)
		fatalx("dup2");
	char *argv[] = {
		(char *)"chromium", (char *)"--headless=new", (char *)"--remote-debugging-pipe",
		(char *)"--user-data-dir=" SANDBOX_WS, (char *)"--no-first-run", (char *)"--no-default-browser-check",
		(char *)"--disable-background-networking", (char *)"--disable-component-update", (char *)"--disable-sync",
		(char *)"--disable-gpu", (char *)"--disable-breakpad", (char *)"--disable-crash-reporter",
		(char *)"--mute-audio", (char *)"--password-store=basic", (char *)"--use-mock-keychain",
		(char *)"--disable-quic", (char *)"about:blank", NULL, NULL, NULL,
	};
	if (net_proxy && own_netns) {
		/* everything, loopback included, through egress: chromium's own
		 * bypass of localhost would otherwise reach its empty namespace */
		argv[sizeof argv / sizeof argv[0] - 4] = (char *)"--proxy-server=http://127.0.0.1:3128";
		argv[sizeof argv / sizeof argv[0] - 3] = (char *)"--proxy-bypass-list=<-loopback>";
		argv[sizeof argv / sizeof argv[0] - 2] = (char *)"about:blank";
	}
	char *const envp[] = {(char *)"HOME=" SANDBOX_WS, (char *)"PATH=/usr/bin:/bin", (char *)"LANG=C.UTF-8",
			      (char *)"TMPDIR=/tmp", NULL};
	execve(BROWSER_CHROMIUM, argv, envp);
	fatalx("execve %s", BROWSER_CHROMIUM);
}
