/* What every confined role shares: its event base, its one channel to the
 * supervisor, and the standard confinement for its uid. */
#ifndef HD_ROLE_H
#define HD_ROLE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/chan.h"
#include "supervisor/confine.h"

struct role_ctx {
	const char *name;
	struct event_base *base;
	struct chan *sup;
};

extern struct role_ctx role;

void role_init(const char *name);
/* Fill the spec's uid/gid for this role from HELMDECK_UID_BASE. */
void role_spec_ids(struct confine_spec *s, unsigned uid_offset);
/* Channel to the supervisor on fd 3. The supervisor is trusted: anything
 * malformed from it means we are broken, so the role exits. */
void role_connect(const struct allow_entry *allow, size_t n);
void role_ready(const uint8_t *pubkey, size_t len);
/* MSG_SHUTDOWN handler: flush and leave the loop. */
int role_dispatch_shutdown(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg);
/* Load <policy_dir>/<name>.policy or die. */
struct sc_policy *role_policy(const char *name);

#endif
