/*
 * The declared process table: every role, its entry point, its uid, and the
 * routes its messages may take. Every channel is a socketpair with the
 * supervisor; there is no channel between roles, so a route is the only way
 * one role's words reach another (the api never talks to the vault).
 */
#ifndef HD_PROCTABLE_H
#define HD_PROCTABLE_H

#include <stdint.h>

enum role_id { ROLE_API, ROLE_STORE, ROLE_VAULT, ROLE_WORKER, ROLE_EGRESS, ROLE_COUNT };

struct role_route {
	uint32_t type;      /* message the role may send */
	int to;             /* role it is routed to, or -1: answered by the supervisor */
};

struct role_def {
	enum role_id id;
	const char *name;
	int (*entry)(void);         /* runs after exec as `helmdeckd -R name` */
	unsigned uid_offset;        /* uid = HELMDECK_UID_BASE + offset */
	const struct role_route *routes;
	int nroutes;
};

extern const struct role_def role_table[ROLE_COUNT];

/* The one exception to "every channel ends at the supervisor": egress asks
 * the vault for a secret over a direct link, so no secret ever passes
 * through the supervisor. Only these types travel on it. */
struct role_link {
	int a, b;
	uint32_t a_sends, b_sends;
};
extern const struct role_link role_links[];
extern const int role_nlinks;
const struct role_def *role_by_name(const char *name);

int api_main(void);
int store_main(void);
int vault_main(void);
int worker_main(void);
int egress_main(void);

#endif
