#include "proctable.h"
#include "ipc/msg.h"

#include <string.h>

static const struct role_route api_routes[] = {
	{MSG_READY, -1},
	{MSG_PACK_RUN, ROLE_WORKER},
	{MSG_PACK_CANCEL, -1},
	{MSG_SESSION_REQ, -1},
	{MSG_SHARE_MINT, ROLE_VAULT},
	{MSG_AUTH_LOGIN, ROLE_VAULT},
	{MSG_AUDIT_APPEND, ROLE_STORE},
	{MSG_AUDIT_QUERY, ROLE_STORE},
	{MSG_SECURITY_GET, -1},
	{MSG_VAULT_REQ, ROLE_VAULT},
};
static const struct role_route store_routes[] = {
	{MSG_READY, -1},
	{MSG_AUDIT_ROWS, ROLE_API},
	{MSG_HEAD_SIGN, ROLE_VAULT},
};
static const struct role_route vault_routes[] = {
	{MSG_READY, -1},
	{MSG_AUTH_TOKEN, ROLE_API},
	{MSG_HEAD_SIGNED, ROLE_STORE},
	{MSG_VAULT_REPLY, ROLE_API},
	{MSG_AUDIT_APPEND, ROLE_STORE},
	{MSG_PEER_BROKEN, -1},
	{MSG_AGENT_OPENED, -1},
	{MSG_VAULT_INJECTED, ROLE_WORKER},
};
static const struct role_route worker_routes[] = {
	{MSG_READY, -1},
	{MSG_SECCOMP_LISTENER, -1},
	{MSG_PACK_RESULT, ROLE_API},
	{MSG_EGRESS_REQ, ROLE_EGRESS},
	{MSG_BROWSER_INJECT, ROLE_VAULT},
};
static const struct role_route egress_routes[] = {
	{MSG_READY, -1},
	{MSG_EGRESS_RESULT, ROLE_WORKER},
	{MSG_AUDIT_APPEND, ROLE_STORE},
	{MSG_PEER_BROKEN, -1},
};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

const struct role_def role_table[ROLE_COUNT] = {
	[ROLE_API] = {ROLE_API, "api", api_main, 1, api_routes, N(api_routes)},
	[ROLE_STORE] = {ROLE_STORE, "store", store_main, 2, store_routes, N(store_routes)},
	[ROLE_VAULT] = {ROLE_VAULT, "vault", vault_main, 3, vault_routes, N(vault_routes)},
	[ROLE_WORKER] = {ROLE_WORKER, "worker", worker_main, 4, worker_routes, N(worker_routes)},
	[ROLE_EGRESS] = {ROLE_EGRESS, "egress", egress_main, 6, egress_routes, N(egress_routes)},
};

const struct role_link role_links[] = {
	{ROLE_EGRESS, ROLE_VAULT, MSG_VAULT_RESOLVE, MSG_VAULT_SECRET},
};
const int role_nlinks = N(role_links);

const struct role_def *role_by_name(const char *name)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (!strcmp(role_table[i].name, name))
			return &role_table[i];
	return 0;
}
