/* TAP tests for workers/vault/ssh_agent: keys made by ssh-keygen in every
 * supported form, public lines and fingerprints against ssh-keygen's, the
 * real ssh-add and ssh-keygen -Y sign/verify talking to a forked agent,
 * refusals (encrypted, small RSA, corrupt) and a malformed-request zoo. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, setenv */
#endif
#include "workers/vault/ssh_agent.h"
#include "common/b64.h"
#include "common/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define COMMENT "test@helmdeck"
#define ENC_MSG "the key is passphrase-protected; store it decrypted"

static char dir[] = "/tmp/t_sshagent.XXXXXX";

/* ---------- shell helpers ---------- */

/* Run cmd under sh with stderr folded into stdout; *out (may be NULL) gets
 * the output. Returns the exit status, or -1. */
__attribute__((format(printf, 2, 3))) static int sh(char **out, const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = xasprintf("(%s) 2>&1", cmd);
	free(cmd);
	FILE *f = popen(full, "r");
	free(full);
	if (!f)
		return -1;
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	int st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The first n space-separated fields of the first line of s (malloc'd). */
static char *fields(const char *s, int n)
{
	size_t i = 0;
	int seen = 0;
	while (s[i] && s[i] != '\n') {
		if (s[i] == ' ' && ++seen == n)
			break;
		i++;
	}
	return strndup(s, i);
}

/* Field k (0-based) of the first line of s (malloc'd). */
static char *field(const char *s, int k)
{
	for (int i = 0; i < k; i++) {
		const char *sp = strchr(s, ' ');
		if (!sp)
			return xstrdup("");
		s = sp + 1;
	}
	size_t l = strcspn(s, " \n");
	return strndup(s, l);
}

static void diag(const char *s)
{
	if (!s)
		return;
	for (const char *p = s; *p;) {
		size_t l = strcspn(p, "\n");
		printf("#   %.*s\n", (int)l, p);
		p += l + (p[l] == '\n');
	}
}

static struct agent_key *load_path(const char *path, char *err, size_t errlen)
{
	char *buf;
	ssize_t n = read_file(path, &buf, 1u << 20);
	if (n < 0) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct agent_key *k = agent_key_load((const uint8_t *)buf, (size_t)n, err, errlen);
	explicit_bzero(buf, (size_t)n);
	free(buf);
	return k;
}

/* ---------- the forked agent ---------- */

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve_conn(int c, const struct agent_key *k, int report)
{
	for (;;) {
		uint8_t hdr[4];
		if (read_full(c, hdr, 4) < 0)
			return;
		uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > AGENT_MSG_MAX)
			return;
		uint8_t *req = xmalloc(len);
		uint8_t *out = NULL;
		size_t outlen = 0;
		int sig = 0;
		int rc = read_full(c, req, len) < 0 ? -1 : agent_handle(k, COMMENT, req, len, &out, &outlen, &sig);
		free(req);
		if (rc < 0)
			return;
		uint8_t oh[4] = { (uint8_t)(outlen >> 24), (uint8_t)(outlen >> 16), (uint8_t)(outlen >> 8),
				  (uint8_t)outlen };
		rc = write_full(c, oh, 4) < 0 || write_full(c, out, outlen) < 0 ? -1 : 0;
		free(out);
		if (sig)
			(void)!write(report, "S", 1);
		if (rc < 0)
			return;
	}
}

/* Fork an agent for k on sock; *report gets a pipe with one byte per signature. */
static pid_t agent_start(const struct agent_key *k, const char *sock, int *report)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	unlink(sock);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int pfd[2];
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 8) < 0 ||
	    pipe2(pfd, O_CLOEXEC) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		for (;;) {
			int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EINTR)
					continue;
				_exit(2);
			}
			serve_conn(c, k, pfd[1]);
			close(c);
		}
	}
	close(s);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -1;
	}
	*report = pfd[0];
	return pid;
}

static int agent_stop(pid_t pid, int report, const char *sock)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	int n = 0;
	char b[64];
	ssize_t r;
	while ((r = read(report, b, sizeof b)) > 0)
		n += (int)r;
	close(report);
	unlink(sock);
	return n;
}

/* ---------- wire helpers for hand-made requests ---------- */

struct msg {
	uint8_t b[4096];
	size_t n;
};

static void m_u8(struct msg *m, uint8_t v) { m->b[m->n++] = v; }
static void m_u32(struct msg *m, uint32_t v)
{
	m_u8(m, (uint8_t)(v >> 24));
	m_u8(m, (uint8_t)(v >> 16));
	m_u8(m, (uint8_t)(v >> 8));
	m_u8(m, (uint8_t)v);
}
static void m_str(struct msg *m, const void *s, size_t n)
{
	m_u32(m, (uint32_t)n);
	memcpy(m->b + m->n, s, n);
	m->n += n;
}

static void sign_req(struct msg *m, const struct agent_key *k, const char *data, uint32_t flags)
{
	size_t bl;
	const uint8_t *blob = agent_key_blob(k, &bl);
	m->n = 0;
	m_u8(m, 13);
	m_str(m, blob, bl);
	m_str(m, data, strlen(data));
	m_u32(m, flags);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Pull a string off (p, n); -1 when it runs past the end. */
static int get_str(const uint8_t **p, size_t *n, const uint8_t **s, size_t *l)
{
	if (*n < 4 || get_u32(*p) > *n - 4)
		return -1;
	*l = get_u32(*p);
	*s = *p + 4;
	*p += 4 + *l;
	*n -= 4 + *l;
	return 0;
}

static int canonical_mpint(const uint8_t *s, size_t l)
{
	if (l == 0)
		return 1;
	if (s[0] & 0x80)
		return 0;
	return s[0] != 0 || (l > 1 && (s[1] & 0x80));
}

/* Sign through agent_handle; the algorithm name of the answer, or "" on FAILURE. */
static char *sign_alg(const struct agent_key *k, uint32_t flags, int *sig, int *mp_ok)
{
	struct msg m;
	sign_req(&m, k, "hello", flags);
	uint8_t *out;
	size_t ol;
	*mp_ok = 1;
	if (agent_handle(k, COMMENT, m.b, m.n, &out, &ol, sig) < 0)
		return xstrdup("(malformed)");
	char *alg = xstrdup("");
	const uint8_t *p = out + 1, *sb, *a, *raw;
	size_t n = ol - 1, sl, al, rl;
	if (ol > 1 && out[0] == 14 && get_str(&p, &n, &sb, &sl) == 0 && n == 0 &&
	    get_str(&sb, &sl, &a, &al) == 0 && get_str(&sb, &sl, &raw, &rl) == 0 && sl == 0) {
		free(alg);
		alg = strndup((const char *)a, al);
		if (!strncmp(alg, "ecdsa-", 6)) {
			const uint8_t *r, *s;
			size_t rrl, ssl;
			*mp_ok = get_str(&raw, &rl, &r, &rrl) == 0 && get_str(&raw, &rl, &s, &ssl) == 0 && rl == 0 &&
				 canonical_mpint(r, rrl) && canonical_mpint(s, ssl);
		}
	}
	free(out);
	return alg;
}

/* One request that must be answered with SSH_AGENT_FAILURE and no signature. */
static void expect_failure(const struct agent_key *k, const uint8_t *req, size_t n, const char *what)
{
	uint8_t *out = NULL;
	size_t ol = 0;
	int sig = 1;
	int rc = agent_handle(k, COMMENT, req, n, &out, &ol, &sig);
	ok(rc == 0 && ol == 1 && out && out[0] == 5 && sig == 0, "%s -> SSH_AGENT_FAILURE", what);
	free(out);
}

static void expect_malformed(const struct agent_key *k, const uint8_t *req, size_t n, const char *what)
{
	uint8_t *out = (uint8_t *)"x";
	size_t ol = 9;
	int sig = 1;
	int rc = agent_handle(k, COMMENT, req, n, &out, &ol, &sig);
	ok(rc == -1 && out == NULL && sig == 0, "%s -> -1", what);
	if (rc == 0)
		free(out);
}

/* ---------- per-key end-to-end ---------- */

struct spec {
	const char *name, *args;
};

static const struct spec keys[] = {
	{ "ed25519", "-t ed25519" },
	{ "ecdsa256", "-t ecdsa -b 256" },
	{ "ecdsa384", "-t ecdsa -b 384" },
	{ "ecdsa521", "-t ecdsa -b 521" },
	{ "rsa", "-t rsa -b 2048" },
	{ "rsa_pem", "-t rsa -b 2048 -m PEM" },
	{ "rsa_pkcs8", "-t rsa -b 2048 -m PKCS8" },
	{ "ecdsa_pem", "-t ecdsa -b 256 -m PEM" },
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static struct agent_key *loaded[N_KEYS];

static void test_key(size_t i)
{
	const char *nm = keys[i].name;
	char path[512], err[256] = "";
	snprintf(path, sizeof path, "%s/%s", dir, nm);
	struct agent_key *k = load_path(path, err, sizeof err);
	if (!ok(k != NULL, "%s: agent_key_load", nm)) {
		printf("#   %s\n", err);
		return;
	}
	loaded[i] = k;

	char *pub = NULL;
	snprintf(path, sizeof path, "%s/%s.pub", dir, nm);
	read_file(path, &pub, 1u << 16);
	char *want = pub ? fields(pub, 2) : xstrdup("");
	char *line = agent_key_public_line(k, COMMENT);
	char *got = fields(line, 2);
	is_str(got, want, "public line matches the .pub file");
	free(got);
	is_str(line + strlen(line) - strlen(" " COMMENT), " " COMMENT, "public line carries the comment");
	free(line);

	char *lf = NULL;
	sh(&lf, "ssh-keygen -lf %s/%s.pub", dir, nm);
	char *fp_want = field(lf, 1), *fp = agent_key_fingerprint(k);
	is_str(fp, fp_want, "fingerprint matches ssh-keygen -lf");
	free(fp);
	free(fp_want);
	free(lf);

	char sock[256];
	snprintf(sock, sizeof sock, "%s/agent.sock", dir);
	int report = -1;
	pid_t pid = agent_start(k, sock, &report);
	if (!ok(pid > 0, "%s: agent started", nm)) {
		free(want);
		free(pub);
		return;
	}
	setenv("SSH_AUTH_SOCK", sock, 1);

	char *listing = NULL;
	int rc = sh(&listing, "ssh-add -L");
	char *lgot = listing ? fields(listing, 2) : NULL;
	ok(rc == 0, "ssh-add -L exits 0");
	if (!is_str(lgot, want, "ssh-add -L lists the key"))
		diag(listing);
	free(lgot);
	free(listing);

	/* Hide the private key: only the agent can sign now. */
	char *o = NULL;
	sh(NULL, "mv %s/%s %s/%s.hidden && printf 'commit payload %s\\n' > %s/%s.txt && "
		 "printf '%%s %%s\\n' %s '%s' > %s/%s.allowed",
	   dir, nm, dir, nm, nm, dir, nm, COMMENT, want, dir, nm);
	rc = sh(&o, "ssh-keygen -Y sign -f %s/%s.pub -n git %s/%s.txt", dir, nm, dir, nm);
	if (!ok(rc == 0, "ssh-keygen -Y sign through the agent"))
		diag(o);
	free(o);
	o = NULL;
	rc = sh(&o, "ssh-keygen -Y verify -f %s/%s.allowed -I " COMMENT " -n git -s %s/%s.txt.sig < %s/%s.txt", dir,
		nm, dir, nm, dir, nm);
	if (!ok(rc == 0, "ssh-keygen -Y verify accepts the signature"))
		diag(o);
	free(o);
	o = NULL;
	rc = sh(&o, "echo tampered >> %s/%s.txt && ssh-keygen -Y verify -f %s/%s.allowed -I " COMMENT
		    " -n git -s %s/%s.txt.sig < %s/%s.txt",
		dir, nm, dir, nm, dir, nm, dir, nm);
	ok(rc != 0, "ssh-keygen -Y verify rejects it for other data");
	free(o);

	unsetenv("SSH_AUTH_SOCK");
	int nsig = agent_stop(pid, report, sock);
	ok(nsig == 1, "%s: the agent produced the signature (%d)", nm, nsig);
	free(want);
	free(pub);
}

/* ---------- refusals ---------- */

/* want_err: the exact message, or with a leading '~' a substring of it. */
static void expect_refused(const char *nm, const char *want_err)
{
	char path[512], err[256] = "";
	snprintf(path, sizeof path, "%s/%s", dir, nm);
	struct agent_key *k = load_path(path, err, sizeof err);
	ok(k == NULL, "%s: refused", nm);
	if (want_err[0] != '~')
		is_str(err, want_err, "  with the passphrase message");
	else
		ok(strstr(err, want_err + 1) != NULL, "  saying so (%s)", err);
	agent_key_free(k);
}

/* Re-armor an openssh-key-v1 binary. */
static char *armor(const uint8_t *bin, size_t n)
{
	size_t el = b64_encoded_len(n, 0);
	char *b = xmalloc(el + 1), *s = xmalloc(el + el / 70 + 128), *q = s;
	b64_encode(bin, n, b, 0);
	q += sprintf(q, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	for (size_t i = 0; i < el; i += 70)
		q += sprintf(q, "%.70s\n", b + i);
	sprintf(q, "-----END OPENSSH PRIVATE KEY-----\n");
	free(b);
	return s;
}

static struct agent_key *load_str(const char *s, char *err, size_t errlen)
{
	return agent_key_load((const uint8_t *)s, strlen(s), err, errlen);
}

/* bin with pad appended to its private section (the tail at offset 94). */
static struct agent_key *load_padded(const uint8_t *bin, size_t n, const uint8_t *pad, size_t pn, char *err,
				     size_t errlen)
{
	uint8_t *b = xmalloc(n + pn);
	memcpy(b, bin, n);
	memcpy(b + n, pad, pn);
	uint32_t l = get_u32(b + 94) + (uint32_t)pn;
	b[94] = (uint8_t)(l >> 24), b[95] = (uint8_t)(l >> 16), b[96] = (uint8_t)(l >> 8), b[97] = (uint8_t)l;
	char *s = armor(b, n + pn);
	err[0] = '\0';
	struct agent_key *k = load_str(s, err, errlen);
	explicit_bzero(b, n + pn);
	explicit_bzero(s, strlen(s));
	free(b);
	free(s);
	return k;
}

static void test_corrupt(void)
{
	char path[512], err[256], *txt;
	snprintf(path, sizeof path, "%s/ed25519.hidden", dir);
	ssize_t n = read_file(path, &txt, 1u << 16);
	if (!ok(n > 0, "read the ed25519 key back"))
		return;
	/* Collect the base64 body and decode it. */
	char *b = xmalloc((size_t)n + 1);
	size_t bl = 0;
	const char *p = strstr(txt, "-----\n") + 6, *e = strstr(txt, "-----END");
	for (; p < e; p++)
		if (*p != '\n')
			b[bl++] = *p;
	uint8_t *bin = xmalloc(bl);
	ssize_t dl = b64_decode(b, bl, bin, 0);
	ok(dl > 100, "decoded the openssh-key-v1 body (%zd bytes)", dl);

	char *s = armor(bin, (size_t)dl);
	struct agent_key *k = load_str(s, err, sizeof err);
	ok(k != NULL, "re-armored key loads");
	agent_key_free(k);
	free(s);

	/* The private section starts after magic, cipher, kdf, kdfoptions,
	 * nkeys and the 51-byte public blob: 15+8+8+4+4+4+51 = 94, then its length. */
	bin[98] ^= 1;
	s = armor(bin, (size_t)dl);
	k = load_str(s, err, sizeof err);
	ok(k == NULL && strstr(err, "check-int"), "check-int mismatch refused (%s)", err);
	free(s);
	bin[98] ^= 1;

	bin[93] ^= 1; /* the last byte of the outer public key */
	s = armor(bin, (size_t)dl);
	k = load_str(s, err, sizeof err);
	ok(k == NULL && err[0], "outer public key mismatch refused (%s)", err);
	free(s);
	bin[93] ^= 1;

	/* Padding: the private section is the tail of the file; rebuild it
	 * with pad bytes appended. ed25519 with this comment needs none. */
	ok(dl == 98 + (ssize_t)get_u32(bin + 94) && get_u32(bin + 94) % 8 == 0, "private section is the tail");
	static const uint8_t pad_ok[] = { 1, 2, 3, 4, 5, 6, 7, 8 }, pad_bad[] = { 1, 2, 3, 4, 5, 6, 7, 9 };
	k = load_padded(bin, (size_t)dl, pad_ok, 8, err, sizeof err);
	ok(k != NULL, "a whole extra block of 1..8 padding is accepted, as OpenSSH does (%s)", err);
	agent_key_free(k);
	k = load_padded(bin, (size_t)dl, pad_bad, 8, err, sizeof err);
	ok(k == NULL && err[0], "padding out of sequence refused (%s)", err);
	k = load_padded(bin, (size_t)dl, pad_ok, 3, err, sizeof err);
	ok(k == NULL && err[0], "private section not a multiple of 8 refused (%s)", err);

	s = armor(bin, (size_t)dl - 8);
	k = load_str(s, err, sizeof err);
	ok(k == NULL && err[0], "truncated key refused (%s)", err);
	free(s);

	txt[n / 2] = '\0';
	k = load_str(txt, err, sizeof err);
	ok(k == NULL && err[0], "cut-off armor refused (%s)", err);

	k = load_str("not a key at all\n", err, sizeof err);
	ok(k == NULL && err[0], "garbage refused (%s)", err);
	k = load_str("-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n", err, sizeof err);
	ok(k == NULL && err[0], "DSA PEM refused (%s)", err);
	k = load_str("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", err, sizeof err);
	ok(k == NULL && err[0], "bad PKCS#8 refused (%s)", err);

	uint8_t *big = xcalloc(AGENT_KEY_FILE_MAX + 1, 1);
	memcpy(big, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36);
	k = agent_key_load(big, AGENT_KEY_FILE_MAX + 1, err, sizeof err);
	ok(k == NULL && err[0], "input over 64 KiB refused (%s)", err);
	free(big);

	explicit_bzero(bin, bl);
	explicit_bzero(b, bl);
	explicit_bzero(txt, (size_t)n);
	free(bin);
	free(b);
	free(txt);
}

/* ---------- the request zoo ---------- */

static void test_requests(void)
{
	const struct agent_key *ed = loaded[0], *ec = loaded[1], *rsa = loaded[4];
	if (!ed || !ec || !rsa) {
		ok(0, "keys for the request tests");
		return;
	}
	struct msg m;
	uint8_t *out;
	size_t ol;
	int sig;

	/* Identities answer: 12, one key, our blob and comment, nothing else. */
	uint8_t ident = 11;
	int rc = agent_handle(ed, COMMENT, &ident, 1, &out, &ol, &sig);
	size_t bl;
	const uint8_t *blob = agent_key_blob(ed, &bl);
	const uint8_t *p = out + 5, *sb, *cm;
	size_t n = ol - 5, sl, cl;
	ok(rc == 0 && ol > 5 && out[0] == 12 && get_u32(out + 1) == 1 && get_str(&p, &n, &sb, &sl) == 0 &&
	       sl == bl && !memcmp(sb, blob, bl) && get_str(&p, &n, &cm, &cl) == 0 && n == 0 &&
	       cl == strlen(COMMENT) && !memcmp(cm, COMMENT, cl) && sig == 0,
	   "REQUEST_IDENTITIES -> IDENTITIES_ANSWER with the key and comment");
	free(out);

	int mp;
	char *alg = sign_alg(ed, 0, &sig, &mp);
	ok(!strcmp(alg, "ssh-ed25519") && sig == 1, "ed25519 signs as ssh-ed25519 (%s)", alg);
	free(alg);
	for (size_t i = 1; i <= 3; i++) {
		if (!loaded[i])
			continue;
		alg = sign_alg(loaded[i], 0, &sig, &mp);
		ok(!strncmp(alg, "ecdsa-sha2-nistp", 16) && sig == 1 && mp, "%s signs as %s, canonical mpint r, s",
		   keys[i].name, alg);
		free(alg);
	}
	alg = sign_alg(rsa, 2, &sig, &mp);
	ok(!strcmp(alg, "rsa-sha2-256") && sig == 1, "RSA flags 2 -> rsa-sha2-256 (%s)", alg);
	free(alg);
	alg = sign_alg(rsa, 4, &sig, &mp);
	ok(!strcmp(alg, "rsa-sha2-512") && sig == 1, "RSA flags 4 -> rsa-sha2-512 (%s)", alg);
	free(alg);

	sign_req(&m, rsa, "hello", 0);
	expect_failure(rsa, m.b, m.n, "RSA with flags 0 (SHA-1)");
	sign_req(&m, ec, "hello", 0);
	expect_failure(ed, m.b, m.n, "sign request with another key's blob");
	uint8_t unk[] = { 200, 1, 2, 3 };
	expect_failure(ed, unk, sizeof unk, "unknown message type");
	uint8_t add[] = { 17, 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9' };
	expect_failure(ed, add, sizeof add, "ADD_IDENTITY");
	uint8_t rm_all[] = { 19 };
	expect_failure(ed, rm_all, sizeof rm_all, "REMOVE_ALL_IDENTITIES");
	uint8_t lock[] = { 22, 0, 0, 0, 1, 'x' };
	expect_failure(ed, lock, sizeof lock, "LOCK");
	uint8_t ext[] = { 27, 0, 0, 0, 5, 'q', 'u', 'e', 'r', 'y' };
	expect_failure(ed, ext, sizeof ext, "EXTENSION query");

	expect_malformed(ed, &ident, 0, "empty body");
	uint8_t ident2[] = { 11, 0 };
	expect_malformed(ed, ident2, sizeof ident2, "REQUEST_IDENTITIES with a trailing byte");
	sign_req(&m, ed, "hello", 0);
	expect_malformed(ed, m.b, m.n - 2, "sign request cut inside the flags");
	expect_malformed(ed, m.b, 1 + 4 + bl / 2, "sign request cut inside the key blob");
	expect_malformed(ed, m.b, 1, "sign request with no fields");
	m.b[m.n++] = 0xAA;
	expect_malformed(ed, m.b, m.n, "sign request with trailing garbage");
	uint8_t huge[] = { 13, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 };
	expect_malformed(ed, huge, sizeof huge, "huge key blob length field");
	sign_req(&m, ed, "hello", 0);
	m.b[1 + 4 + bl + 3] = 0x7F; /* data length past the end */
	expect_malformed(ed, m.b, m.n, "data length past the end");

	/* 256 KiB of data cannot fit in a body of at most 256 KiB. */
	size_t bigl = AGENT_MSG_MAX + 64;
	uint8_t *big = xcalloc(bigl, 1);
	size_t o = 0;
	big[o++] = 13;
	big[o++] = 0, big[o++] = 0, big[o++] = 0, big[o++] = (uint8_t)bl;
	memcpy(big + o, blob, bl);
	o += bl;
	uint32_t dlen = (uint32_t)(bigl - o - 8);
	big[o++] = (uint8_t)(dlen >> 24), big[o++] = (uint8_t)(dlen >> 16);
	big[o++] = (uint8_t)(dlen >> 8), big[o++] = (uint8_t)dlen;
	expect_malformed(ed, big, bigl, "sign request with data over 256 KiB");
	free(big);
}

int main(void)
{
	if (sh(NULL, "command -v ssh-keygen && command -v ssh-add") != 0) {
		printf("1..0 # SKIP openssh-client not installed\n");
		return 0;
	}
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
		return 0;
	}
	char *o = NULL;
	int rc = 0;
	for (size_t i = 0; i < N_KEYS && rc == 0; i++) {
		free(o);
		o = NULL;
		rc = sh(&o, "ssh-keygen -q -N '' %s -C " COMMENT " -f %s/%s", keys[i].args, dir, keys[i].name);
	}
	if (rc == 0) {
		free(o);
		o = NULL;
		rc = sh(&o, "ssh-keygen -q -N pass -t ed25519 -f %s/enc && "
			    "ssh-keygen -q -N passphrase -t rsa -b 2048 -m PEM -f %s/enc_pem && "
			    "ssh-keygen -q -N passphrase -t rsa -b 2048 -m PKCS8 -f %s/enc_pkcs8 && "
			    "ssh-keygen -q -N '' -t rsa -b 1024 -f %s/rsa1024",
			dir, dir, dir, dir);
	}
	if (!ok(rc == 0, "ssh-keygen made the test keys"))
		diag(o);
	free(o);

	for (size_t i = 0; i < N_KEYS; i++)
		test_key(i);

	expect_refused("enc", ENC_MSG);
	expect_refused("enc_pem", ENC_MSG);
	expect_refused("enc_pkcs8", ENC_MSG);
	expect_refused("rsa1024", "~RSA key of 1024 bits");
	test_corrupt();
	test_requests();

	char *pl = loaded[0] ? agent_key_public_line(loaded[0], "evil\ncomment") : NULL;
	ok(pl && !strchr(pl, '\n'), "a newline in the comment cannot split the public line");
	free(pl);
	pl = loaded[0] ? agent_key_public_line(loaded[0], NULL) : NULL;
	ok(pl && strchr(pl, ' ') == strrchr(pl, ' '), "no comment: two fields");
	free(pl);

	for (size_t i = 0; i < N_KEYS; i++)
		agent_key_free(loaded[i]);
	sh(NULL, "rm -rf %s", dir);
	return done_testing();
}
