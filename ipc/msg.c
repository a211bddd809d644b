#include "msg.h"

static const struct {
	const char *name;
	int fd;
} msg_table[MSG_TYPE_COUNT] = {
	[MSG_NONE] = {"NONE", 0},
	[MSG_READY] = {"READY", 0},
	[MSG_PACK_RUN] = {"PACK_RUN", 1},
	[MSG_PACK_RESULT] = {"PACK_RESULT", 0},
	[MSG_AUTH_LOGIN] = {"AUTH_LOGIN", 0},
	[MSG_AUTH_TOKEN] = {"AUTH_TOKEN", 0},
	[MSG_TOKEN_MINT] = {"TOKEN_MINT", 0},
	[MSG_PUBKEY_GET] = {"PUBKEY_GET", 0},
	[MSG_PUBKEY] = {"PUBKEY", 0},
	[MSG_AUDIT_APPEND] = {"AUDIT_APPEND", 0},
	[MSG_AUDIT_QUERY] = {"AUDIT_QUERY", 0},
	[MSG_AUDIT_ROWS] = {"AUDIT_ROWS", 0},
	[MSG_HEAD_SIGN] = {"HEAD_SIGN", 0},
	[MSG_HEAD_SIGNED] = {"HEAD_SIGNED", 0},
	[MSG_SECURITY_GET] = {"SECURITY_GET", 0},
	[MSG_SECURITY] = {"SECURITY", 0},
	[MSG_CTL_MINT] = {"CTL_MINT", 0},
	[MSG_CTL_REPLY] = {"CTL_REPLY", 0},
	[MSG_SHUTDOWN] = {"SHUTDOWN", 0},
	[MSG_SECCOMP_LISTENER] = {"SECCOMP_LISTENER", 1},
	[MSG_PACK_CANCEL] = {"PACK_CANCEL", 0},
	[MSG_PACK_AUX_FD] = {"PACK_AUX_FD", 1},
	[MSG_SESSION_REQ] = {"SESSION_REQ", 0},
	[MSG_SESSION_REPLY] = {"SESSION_REPLY", 0},
	[MSG_SHARE_MINT] = {"SHARE_MINT", 0},
	[MSG_PEER_LINK] = {"PEER_LINK", 1},
	[MSG_VAULT_RESOLVE] = {"VAULT_RESOLVE", 0},
	[MSG_VAULT_SECRET] = {"VAULT_SECRET", 0},
	[MSG_PEER_BROKEN] = {"PEER_BROKEN", 0},
	[MSG_VAULT_REQ] = {"VAULT_REQ", 0},
	[MSG_VAULT_REPLY] = {"VAULT_REPLY", 0},
	[MSG_EGRESS_REQ] = {"EGRESS_REQ", 0},
	[MSG_EGRESS_FETCH] = {"EGRESS_FETCH", 0},
	[MSG_EGRESS_RESULT] = {"EGRESS_RESULT", 0},
	[MSG_PROXY_LISTEN] = {"PROXY_LISTEN", 1},
	[MSG_PROXY_CLOSE] = {"PROXY_CLOSE", 0},
	[MSG_AGENT_OPEN] = {"AGENT_OPEN", 1},
	[MSG_AGENT_OPENED] = {"AGENT_OPENED", 0},
	[MSG_AGENT_CLOSE] = {"AGENT_CLOSE", 0},
	[MSG_BROWSER_INJECT] = {"BROWSER_INJECT", 0},
	[MSG_VAULT_INJECT] = {"VAULT_INJECT", 1},
	[MSG_VAULT_INJECTED] = {"VAULT_INJECTED", 0},
	[MSG_BROWSER_INJECTED] = {"BROWSER_INJECTED", 0},
};

const char *msg_name(uint32_t type)
{
	if (type >= MSG_TYPE_COUNT || !msg_table[type].name)
		return "UNKNOWN";
	return msg_table[type].name;
}

/* The upper bound; each receiving side's allow table says whether a type
 * carries a descriptor on that channel (a PACK_RUN from the api never does). */
int msg_carries_fd(uint32_t type)
{
	return type < MSG_TYPE_COUNT && msg_table[type].fd;
}
