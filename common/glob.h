/* Host-name globs for credential patterns and the egress allowlist: '*'
 * matches any run of characters (dots included), everything else matches
 * itself ignoring ASCII case, anchored at both ends. */
#ifndef HD_GLOB_H
#define HD_GLOB_H

int glob_host_match(const char *pattern, const char *host);
/* How many '*' the pattern has: fewer is more specific. */
unsigned glob_wildcards(const char *pattern);

#endif
