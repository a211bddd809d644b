/*
 * Every message type on every channel. A type that carries a descriptor
 * says so here; the channel refuses descriptors on every other type.
 */
#ifndef HD_IPC_MSG_H
#define HD_IPC_MSG_H

#include <stdint.h>

#define IPC_FRAME_MAX (16u << 20)   /* payload bytes; header not included */
#define IPC_HDR_LEN 12u             /* u32 len, u32 type, u32 id */

enum msg_type {
	MSG_NONE = 0,
	/* child -> supervisor: role started and confined */
	MSG_READY,
	/* api -> sup -> worker, worker -> sup -> api */
	MSG_PACK_RUN,          /* worker copy carries the artifact dir fd */
	MSG_PACK_RESULT,
	/* api -> sup -> vault, and back */
	MSG_AUTH_LOGIN,
	MSG_AUTH_TOKEN,
	/* sup -> vault (control socket mint), and back */
	MSG_TOKEN_MINT,
	/* sup -> vault -> sup -> api/store */
	MSG_PUBKEY_GET,
	MSG_PUBKEY,
	/* api -> sup -> store */
	MSG_AUDIT_APPEND,
	MSG_AUDIT_QUERY,
	MSG_AUDIT_ROWS,
	/* store -> sup -> vault -> sup -> store */
	MSG_HEAD_SIGN,
	MSG_HEAD_SIGNED,
	/* api -> sup, sup -> api */
	MSG_SECURITY_GET,
	MSG_SECURITY,
	/* control socket (CLI) <-> sup */
	MSG_CTL_MINT,
	MSG_CTL_REPLY,
	/* sup -> any child: finish and exit */
	MSG_SHUTDOWN,
	/* worker -> sup: the seccomp listener, so the supervisor can name a
	 * forbidden call before it kills the worker */
	MSG_SECCOMP_LISTENER,
	/* api -> sup: stop the pack run that PACK_RUN id started (empty body);
	 * the run is answered as usual, with detail "cancelled" */
	MSG_PACK_CANCEL,
	/* sup -> browser worker, right before its PACK_RUN (which carries the
	 * session's CDP socket): the artifact directory */
	MSG_PACK_AUX_FD,
	/* api -> sup: a sessions REST call; sup -> api: its JSON answer */
	MSG_SESSION_REQ,
	MSG_SESSION_REPLY,
	/* api -> sup -> vault (as TOKEN_MINT), answered AUTH_TOKEN: a share link
	 * token for one artifact; the supervisor allows nothing else */
	MSG_SHARE_MINT,
	/* sup -> vault and sup -> egress (descriptor): their direct link, made
	 * whenever both run, so a secret never passes through the supervisor */
	MSG_PEER_LINK,
	/* egress -> vault over the link: a secret for one request; and back */
	MSG_VAULT_RESOLVE,
	MSG_VAULT_SECRET,
	/* vault or egress -> sup: the peer on the link broke the protocol */
	MSG_PEER_BROKEN,
	/* api or control socket -> sup -> vault: a credentials REST call
	 * (op, caller, body); vault -> sup -> api: a p_blob (HTTP status, JSON) */
	MSG_VAULT_REQ,
	MSG_VAULT_REPLY,
	/* worker -> sup: an outbound request template (p_blob); sup -> egress as
	 * EGRESS_FETCH with the caller the supervisor knows; egress -> sup ->
	 * worker: EGRESS_RESULT */
	MSG_EGRESS_REQ,
	MSG_EGRESS_FETCH,
	MSG_EGRESS_RESULT,
	/* sup -> egress: a listening socket inside a sandbox's network
	 * namespace (descriptor), to be served as its only way out; and the
	 * end of it when the sandbox goes */
	MSG_PROXY_LISTEN,
	MSG_PROXY_CLOSE,
	/* sup -> vault: serve the ssh-agent protocol on this listening socket
	 * (descriptor) for one git run, with the caller's ssh credential for
	 * the host; vault -> sup: AGENT_OPENED (p_blob: status, JSON with the
	 * pinned known_hosts); sup -> vault: AGENT_CLOSE when the run ends */
	MSG_AGENT_OPEN,
	MSG_AGENT_OPENED,
	MSG_AGENT_CLOSE,
	/* browser worker -> sup: put the caller's cookies (before a navigation)
	 * or a login (into a page) into its session (p_vault_req, the worker's
	 * caller fields ignored); sup -> vault as VAULT_INJECT with the
	 * session's CDP socket; vault -> sup -> worker: the p_blob answer */
	MSG_BROWSER_INJECT,
	MSG_VAULT_INJECT,
	MSG_VAULT_INJECTED,
	MSG_BROWSER_INJECTED,
	MSG_TYPE_COUNT
};

const char *msg_name(uint32_t type);
int msg_carries_fd(uint32_t type);

#endif
