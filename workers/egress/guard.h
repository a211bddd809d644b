/* The SSRF guard's pure decision functions: which hosts are literals, how
 * names are normalized, and whether one resolved address may be dialled.
 * Nothing here resolves or connects; the egress role calls these on every
 * address getaddrinfo returns, and again on every redirect. */
#ifndef HD_EGRESS_GUARD_H
#define HD_EGRESS_GUARD_H

#include <stddef.h>
#include <sys/socket.h>

#define GUARD_HOST_MAX 253

struct guard_list; /* parsed HELMDECK_EGRESS_ALLOWLIST */

/* spec: comma-separated entries, each a CIDR ("10.1.0.0/16", "fd00::/8"; a
 * bare address is /32 or /128; host bits are masked off) or a host glob
 * ("*.corp.example", "api.internal": LDH labels plus '*'). Whitespace around
 * entries and empty entries are ignored; NULL or "" gives an empty list.
 * Addresses must be in canonical notation (dotted quad or inet_pton IPv6):
 * "10.1" is refused rather than guessed at.
 * Returns NULL and a message naming the bad entry in err on any error. */
struct guard_list *guard_allowlist_parse(const char *spec, char *err, size_t errlen);
void guard_allowlist_free(struct guard_list *l);
/* Canonical comma-separated rendering for the security report (malloc'd;
 * "" for an empty list). */
char *guard_allowlist_str(const struct guard_list *l);

/* Decide one resolved address. host is the normalized name it came from, or
 * NULL for a literal. 1 = blocked, 0 = allowed; reason is always written.
 * The allowlist wins over the block list: an allow host glob matching host,
 * or an allow CIDR matching the address (or the IPv4 address embedded in an
 * IPv6 one) admits it. */
int guard_check_addr(const struct guard_list *allow, const char *host, const struct sockaddr *sa,
		     char *reason, size_t rlen);

/* Parse a URL host as an IP literal in every form a URL parser or inet_aton
 * accepts (dotted, decimal, octal, hex, short forms, one trailing dot,
 * bracketed or bare IPv6 with an optional "%25zone"/"%zone").
 * 1: a literal, *ss filled (port 0). 0: not literal-looking, validate it
 * with guard_host_normalize. -1: looks like a literal but is not a valid
 * one ("1.2.3.4.5", "256.0.0.1", "0x", "[::1", "foo.0x10"): refuse it.
 * ss may be NULL when only the verdict matters. */
int guard_host_literal(const char *host, struct sockaddr_storage *ss);

/* Lowercase, strip one trailing dot, check labels (1..63 of [a-z0-9_-], no
 * '-' at either end) and total length (<= 253). 0 ok, -1 invalid (also when
 * out cannot hold the result). */
int guard_host_normalize(const char *in, char *out, size_t outlen);

/* "localhost" and "*.localhost", any case, one trailing dot (RFC 6761:
 * always loopback, never asked of DNS). */
int guard_host_is_localhost(const char *normalized_host);
/* 1 when an allow entry (host glob or CIDR, also on an embedded IPv4)
 * admits this address: an operator-opened target, which may use any port. */
int guard_allowlisted(const struct guard_list *allow, const char *host, const struct sockaddr *sa);
/* The block list, one "cidr (label)" per line, malloc'd. */
char *guard_blocked_str(void);

#endif
