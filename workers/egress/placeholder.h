/* ${vault:NAME} placeholders in outbound requests: the egress role asks the
 * vault for each NAME and splices the value in at the last moment, so the
 * model and the packs only ever see the placeholder. */
#ifndef HD_EGRESS_PLACEHOLDER_H
#define HD_EGRESS_PLACEHOLDER_H

#include <stddef.h>
#include <stdint.h>

#define PH_NAME_MAX 128 /* NAME is [A-Za-z0-9_.-]{1,128} */

/* Call cb for each placeholder, in order (name is not NUL-terminated).
 * Returns how many were found, or -1 when one is malformed: "${vault:" not
 * followed by a valid name and '}' (unterminated, empty, bad char, too long),
 * or when cb returns -1. Text without "${vault:" gives 0; other "${...}" is
 * left alone. */
int ph_scan(const char *s, size_t len, int (*cb)(const char *name, size_t nlen, void *arg), void *arg);

struct ph_value {
	const char *name; /* NUL-terminated */
	const uint8_t *value;
	size_t vlen;
};

/* A malloc'd copy of s with every placeholder replaced by its value
 * (NUL-terminated, *outlen without the NUL). Values are not rescanned, so a
 * value holding "${vault:x}" stays literal. NULL when the text is malformed or
 * a name has no entry in vals (the first entry of a name wins). The caller
 * wipes the result. */
char *ph_substitute(const char *s, size_t len, const struct ph_value *vals, size_t nvals, size_t *outlen);

#endif
