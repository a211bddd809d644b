/* Base64 (RFC 4648 section 4) and base64url (section 5), strict.
 *
 * Standard form: encode pads with '='; decode requires a length that is a
 * multiple of 4 and at most two '=' only at the very end.
 * URL form: encode never pads; decode rejects '=', whitespace and any char
 * outside [A-Za-z0-9_-], and a length of 1 mod 4.
 * Both forms reject non-canonical encodings (non-zero unused trailing bits),
 * so every byte string has exactly one accepted encoding.
 * Character mapping is branch-free so secrets can pass through it. */
#ifndef HD_B64_H
#define HD_B64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Length of the encoding of n bytes, without the NUL. */
size_t b64_encoded_len(size_t n, int url);
/* out has b64_encoded_len(n, url) + 1 bytes; it is NUL-terminated. */
void b64_encode(const uint8_t *in, size_t n, char *out, int url);
/* Decode len chars of in. Returns the decoded length or -1 on any invalid
 * input (then the bytes written to out are wiped). out must hold
 * (len * 3) / 4 + 3 bytes. */
ssize_t b64_decode(const char *in, size_t len, uint8_t *out, int url);

#endif
