/* The vault role's parts: the master key (vault_master.c) and the
 * credentials it guards (vault_creds.c), beside the token signing in
 * vault_main.c. */
#ifndef HD_VAULT_H
#define HD_VAULT_H

#include <stddef.h>
#include <sys/types.h>

#include "ipc/chan.h"
#include "workers/vault/credstore.h"

/* Before confinement: the master key into a locked page (generated on first
 * run, a file owned by owner). -1 with why in locked: the store stays shut,
 * nothing is changed, and credential calls answer that reason. */
int vault_master_load(const char *vault_dir, uid_t owner, char *locked, size_t llen);
/* After confinement: open vault.db with the key, finishing an interrupted
 * rekey. NULL with why in locked (a wrong key changes nothing). */
struct credstore *vault_master_open_db(const char *vault_dir, char *locked, size_t llen);
/* Re-seal everything under a fresh key and replace the key file. 0 with the
 * old key id in msg, -1 with why. */
int vault_master_rekey(struct credstore *cs, char *msg, size_t mlen);
const char *vault_master_key_id(void);
void vault_master_wipe(void);

/* vault_creds.c */
void vault_creds_init(struct credstore *cs, const char *locked_reason);
int vault_dispatch_req(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int vault_dispatch_link(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
struct credstore *vault_creds_store(void);      /* NULL while locked */
const char *vault_creds_locked(void);           /* why it is locked */
/* An audit record from the vault (payload stolen, may be NULL). */
struct json_t;
void vault_audit(const char *event, const char *actor, const char *client, const char *outcome,
		 const char *code, struct json_t *payload);

/* vault_inject.c: cookies and logins put into a browser session */
int vault_dispatch_inject(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
/* vault_agent.c: the ssh-agent oracle for git runs */
int vault_dispatch_agent_open(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
int vault_dispatch_agent_close(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);

#endif
