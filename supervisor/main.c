/* helmdeckd: with -R <role> it is one confined role, started by the
 * supervisor; without, it is the supervisor. */
#include "common/log.h"
#include "supervisor/proctable.h"
#include "supervisor/supervisor.h"

#include <stdio.h>

int browser_main(void);
#include <string.h>

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("helmdeckd %s\n", HELMDECK_VERSION);
		return 0;
	}
	/* a browser session is not a role: it talks CDP, not our IPC */
	if (argc == 3 && !strcmp(argv[1], "-R") && !strcmp(argv[2], "browser"))
		return browser_main();
	if (argc == 3 && !strcmp(argv[1], "-R")) {
		const struct role_def *r = role_by_name(argv[2]);
		if (!r)
			fatal("unknown role %s", argv[2]);
		return r->entry();
	}
	if (argc != 1) {
		fprintf(stderr, "usage: helmdeckd            (run the platform in the foreground)\n"
				"       helmdeckd --version\n"
				"configuration comes from HELMDECK_* environment variables; see README.md\n");
		return 2;
	}
	return supervisor_main();
}
