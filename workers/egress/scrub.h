/* Redact a secret from bytes the egress role hands back (response bodies,
 * headers, error text), in the encodings a server is likely to echo it in. */
#ifndef HD_EGRESS_SCRUB_H
#define HD_EGRESS_SCRUB_H

#include <stddef.h>
#include <stdint.h>

#define SCRUB_MARK "[redacted]"

/* Replace every occurrence of secret (slen >= 1) in in[0..len) with
 * "[redacted]", in each of these forms: raw; percent-encoded with the RFC 3986
 * unreserved set, with encodeURIComponent's set (also !*'()), and as
 * application/x-www-form-urlencoded (space as '+'; both the WHATWG set and the
 * RFC 3986 one), each with upper- and lowercase hex; base64 and base64url,
 * padded and not, and for a secret of 6 bytes or more also its base64 and
 * base64url inside a larger encoded text at each of the 3 alignments (the
 * characters made of its bits alone: "user:secret" of Basic auth is caught);
 * lower- and uppercase hex. Identical forms are searched once.
 * Matches of all forms are merged: bytes covered by overlapping matches become
 * one "[redacted]", and touching but separate matches one each, so a raw match
 * inside an encoded one leaves nothing behind.
 * Returns a malloc'd copy, NUL-terminated (*outlen excludes the NUL), and adds
 * the number of "[redacted]" written to *count. Time is linear in len per form.
 * Known limit: a transformed or partial secret (another encoding, a
 * substring) is not recognised; shorter than 6 bytes, embedded base64 is not
 * looked for (too many false matches). */
uint8_t *scrub_secret(const uint8_t *in, size_t len, const uint8_t *secret, size_t slen, size_t *outlen,
		      unsigned *count);

#endif
