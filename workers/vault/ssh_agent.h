/* A one-key ssh-agent (draft-miller-ssh-agent) for the vault: it holds a
 * user's SSH private key for one git invocation and answers the agent
 * protocol, so the private key never leaves the vault process.
 *
 * Keys: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa (2048..8192
 * bits), from an unencrypted openssh-key-v1 file or PKCS#8 / traditional PEM.
 * A key handle is immutable after load and holds no global state. */
#ifndef HD_SSH_AGENT_H
#define HD_SSH_AGENT_H

#include <stddef.h>
#include <stdint.h>

/* Largest agent message body accepted by agent_handle (and its data field). */
#define AGENT_MSG_MAX (256u << 10)
/* Largest key file accepted by agent_key_load. */
#define AGENT_KEY_FILE_MAX (64u << 10)

struct agent_key;

/* Parse an unencrypted private key (OpenSSH, PKCS#8, RSA or EC PEM); NULL
 * with why in err. Encrypted keys are refused; private scratch is wiped. */
struct agent_key *agent_key_load(const uint8_t *pem, size_t len, char *err, size_t errlen);
/* Free the key (the EVP_PKEY clears its private parts). NULL is fine. */
void agent_key_free(struct agent_key *k);
/* The public key in SSH wire format (the "key blob"), owned by k. */
const uint8_t *agent_key_blob(const struct agent_key *k, size_t *len);
/* "ssh-ed25519 AAAA... comment" (malloc'd), as in a .pub line; control
 * characters in comment become '?', a NULL or empty comment is left off. */
char *agent_key_public_line(const struct agent_key *k, const char *comment);
/* "SHA256:<base64 without padding>" of the blob, as ssh-keygen -lf (malloc'd). */
char *agent_key_fingerprint(const struct agent_key *k);
/* Answer one request body (no length prefix) into *out (malloc'd): 0, or -1 when
 * malformed (drop the connection); *signed_out = 1 iff a signature was made. */
int agent_handle(const struct agent_key *k, const char *comment, const uint8_t *req, size_t len,
		 uint8_t **out, size_t *outlen, int *signed_out);

#endif
