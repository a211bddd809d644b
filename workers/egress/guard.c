#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "guard.h"
#include "common/glob.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One prefix, either family. IPv4 uses a[0..3]. */
struct cidr {
	int v6;
	uint8_t a[16];
	unsigned plen;
};

#define ENTRY_TEXT_MAX 256 /* a host glob (<= 253) or "v6addr/128" */
#define ALLOW_MAX_ENTRIES 1024

struct guard_entry {
	int is_host;
	struct cidr c;
	char text[ENTRY_TEXT_MAX]; /* canonical form, for reports and reasons */
};

struct guard_list {
	size_t n, cap;
	struct guard_entry *e;
};

/* ---- block tables: data, not chains of ifs -------------------------------- */

struct range {
	uint8_t a[16];
	unsigned plen;
	const char *label;
};

static const struct range block_v4[] = {
	{ { 0, 0, 0, 0 }, 8, "\"this\" network" },
	{ { 10, 0, 0, 0 }, 8, "private network, RFC 1918" },
	{ { 100, 64, 0, 0 }, 10, "carrier-grade NAT shared space, RFC 6598" },
	{ { 127, 0, 0, 0 }, 8, "loopback" },
	{ { 169, 254, 0, 0 }, 16, "link-local / cloud metadata" },
	{ { 172, 16, 0, 0 }, 12, "private network, RFC 1918" },
	{ { 192, 0, 0, 0 }, 24, "IETF protocol assignments, RFC 6890" },
	{ { 192, 168, 0, 0 }, 16, "private network, RFC 1918" },
	{ { 198, 18, 0, 0 }, 15, "benchmarking, RFC 2544" },
	{ { 224, 0, 0, 0 }, 4, "multicast" },
	{ { 240, 0, 0, 0 }, 4, "reserved / limited broadcast" },
	{ { 168, 63, 129, 16 }, 32, "Azure WireServer / host metadata" },
};

static const struct range block_v6[] = {
	{ { 0 }, 128, "unspecified address" },
	{ { [15] = 1 }, 128, "loopback" },
	{ { 0xfc }, 7, "unique local address, RFC 4193" },
	{ { 0xfe, 0x80 }, 10, "link-local" },
	{ { 0xfe, 0xc0 }, 10, "deprecated site-local" },
	{ { 0xff }, 8, "multicast" },
	{ { 0x01, 0x00 }, 64, "discard-only prefix, RFC 6666" },
	/* the Teredo client address is obfuscated: nothing to unwrap and check */
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, "Teredo tunnel, client address obfuscated" },
	/* RFC 8215 local-use translation may map to anything the operator chose */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, "local-use NAT64 prefix, RFC 8215" },
};

/* IPv6 prefixes that carry an IPv4 address at byte offset off. */
struct embed {
	struct range r;
	unsigned off;
	const char *cidr; /* as written in RFCs: inet_ntop shows ::ffff:0.0.0.0 */
};

static const struct embed embeds_v6[] = {
	{ { { [10] = 0xff, [11] = 0xff }, 96, "IPv4-mapped" }, 12, "::ffff:0:0/96" },
	{ { { 0 }, 96, "IPv4-compatible" }, 12, "::/96" },
	{ { { [8] = 0xff, [9] = 0xff }, 96, "IPv4-translated" }, 12, "::ffff:0:0:0/96" },
	{ { { 0x00, 0x64, 0xff, 0x9b }, 96, "NAT64" }, 12, "64:ff9b::/96" },
	{ { { 0x20, 0x02 }, 16, "6to4" }, 2, "2002::/16" },
};

/* Single addresses worth naming inside their range. */
struct note {
	int v6;
	uint8_t a[16];
	const char *text;
};

static const struct note notes[] = {
	{ 0, { 169, 254, 169, 254 }, "the cloud instance metadata service (AWS, GCP, Azure, OCI, OpenStack)" },
	{ 0, { 169, 254, 170, 2 }, "the AWS ECS task metadata / credentials endpoint" },
	{ 0, { 100, 100, 100, 200 }, "the Alibaba Cloud metadata service" },
	{ 1, { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 }, "the AWS instance metadata service over IPv6" },
};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

static int prefix_match(const uint8_t *net, unsigned plen, const uint8_t *a)
{
	unsigned full = plen / 8, rem = plen % 8;
	if (memcmp(net, a, full))
		return 0;
	if (rem) {
		uint8_t mask = (uint8_t)(0xFFu << (8 - rem));
		if ((net[full] ^ a[full]) & mask)
			return 0;
	}
	return 1;
}

static int cidr_match(const struct cidr *c, int v6, const uint8_t *a)
{
	return c->v6 == v6 && prefix_match(c->a, c->plen, a);
}

static void mask_host_bits(uint8_t *a, unsigned plen, unsigned bits)
{
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
		a[i] &= (uint8_t)(0xFF00u >> keep);
	}
}

static void ntop(int v6, const uint8_t *a, char *buf, size_t len)
{
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static const struct range *find_range(const struct range *t, size_t n, const uint8_t *a)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_match(t[i].a, t[i].plen, a))
			return &t[i];
	return NULL;
}

static const char *find_note(int v6, const uint8_t *a)
{
	for (size_t i = 0; i < NELEM(notes); i++)
		if (notes[i].v6 == v6 && !memcmp(notes[i].a, a, v6 ? 16 : 4))
			return notes[i].text;
	return NULL;
}

/* "169.254.0.0/16 (link-local / cloud metadata)" plus a note on a. */
static void describe(int v6, const struct range *r, const uint8_t *a, char *buf, size_t len)
{
	char net[INET6_ADDRSTRLEN];
	ntop(v6, r->a, net, sizeof net);
	const char *note = find_note(v6, a);
	snprintf(buf, len, "%s/%u (%s)%s%s", net, r->plen, r->label, note ? ": " : "", note ? note : "");
}

/* ---- allowlist ---------------------------------------------------------- */

static void set_err(char *err, size_t errlen, size_t idx, const char *s, size_t n, const char *why)
{
	if (!err || !errlen)
		return;
	int shown = n > 80 ? 80 : (int)n;
	snprintf(err, errlen, "HELMDECK_EGRESS_ALLOWLIST entry %zu \"%.*s%s\": %s", idx, shown, s,
		 n > 80 ? "..." : "", why);
}

/* Same rules for names and globs; globs may also hold '*'. */
static int name_check(const char *in, size_t n, char *out, size_t outlen, int allow_star)
{
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n > GUARD_HOST_MAX || n >= outlen)
		return -1;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (lab == 0 || out[i - 1] == '-')
				return -1;
			lab = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
			   (allow_star && c == '*')) {
			if (c == '-' && lab == 0)
				return -1;
			if (++lab > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = c;
	}
	if (lab == 0 || out[n - 1] == '-')
		return -1;
	out[n] = '\0';
	return 0;
}

/* "addr" or "addr/len" in canonical notation. 0 ok, else -1 with why set. */
static int parse_cidr(const char *s, size_t n, struct cidr *c, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	if (alen == 0 || alen >= sizeof addr) {
		*why = "not an IP address";
		return -1;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET, addr, c->a) == 1) {
		c->v6 = 0;
	} else if (inet_pton(AF_INET6, addr, c->a) == 1) {
		c->v6 = 1;
	} else {
		*why = "not an IP address in canonical notation (dotted quad or IPv6)";
		return -1;
	}
	unsigned max = c->v6 ? 128 : 32;
	c->plen = max;
	if (slash) {
		const char *p = slash + 1;
		size_t plen_chars = n - alen - 1;
		unsigned v = 0;
		if (plen_chars == 0 || plen_chars > 3) {
			*why = c->v6 ? "prefix length must be 0..128" : "prefix length must be 0..32";
			return -1;
		}
		for (size_t i = 0; i < plen_chars; i++) {
			if (p[i] < '0' || p[i] > '9') {
				*why = c->v6 ? "prefix length must be 0..128" : "prefix length must be 0..32";
				return -1;
			}
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (v > max) {
			*why = c->v6 ? "prefix length must be 0..128" : "prefix length must be 0..32";
			return -1;
		}
		c->plen = v;
	}
	/* "10.1.2.3/16" means 10.1.0.0/16: forgive set host bits */
	mask_host_bits(c->a, c->plen, max);
	/* "::ffff:10.0.0.0/104" is an IPv4 range: store it as one so it admits
	 * plain IPv4 sockets too (mapped ones match via the embedded check) */
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (c->v6 && c->plen >= 96 && !memcmp(c->a, mapped, 12)) {
		memmove(c->a, c->a + 12, 4);
		memset(c->a + 4, 0, 12);
		c->v6 = 0;
		c->plen -= 96;
	}
	return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int parse_entry(const char *s, size_t n, struct guard_entry *e, const char **why)
{
	memset(e, 0, sizeof *e);
	if (n >= ENTRY_TEXT_MAX) {
		*why = "entry too long";
		return -1;
	}
	int has_star = memchr(s, '*', n) != NULL;
	if (!has_star && (memchr(s, '/', n) || memchr(s, ':', n))) {
		if (parse_cidr(s, n, &e->c, why) < 0)
			return -1;
	} else if (!has_star && parse_cidr(s, n, &e->c, why) == 0) {
		/* a bare canonical address */
	} else {
		char tmp[ENTRY_TEXT_MAX];
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		/* "10.1" or "0x7f.1" would be read as an address by a URL parser:
		 * refuse the guess rather than admit a surprise */
		if (!has_star && guard_host_literal(tmp, NULL) != 0) {
			*why = "not an IP address in canonical notation (dotted quad or IPv6)";
			return -1;
		}
		if (name_check(s, n, e->text, sizeof e->text, 1) < 0) {
			*why = "not a CIDR or a host glob (LDH labels of 1..63 chars, '*' allowed)";
			return -1;
		}
		e->is_host = 1;
		return 0;
	}
	char a[INET6_ADDRSTRLEN];
	ntop(e->c.v6, e->c.a, a, sizeof a);
	snprintf(e->text, sizeof e->text, "%s/%u", a, e->c.plen);
	return 0;
}

struct guard_list *guard_allowlist_parse(const char *spec, char *err, size_t errlen)
{
	struct guard_list *l = xcalloc(1, sizeof *l);
	if (err && errlen)
		err[0] = '\0';
	if (!spec)
		return l;
	size_t idx = 0;
	const char *p = spec;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (n && is_space(*s)) {
			s++;
			n--;
		}
		while (n && is_space(s[n - 1]))
			n--;
		idx++;
		if (n) {
			const char *why = NULL;
			if (l->n == ALLOW_MAX_ENTRIES) {
				set_err(err, errlen, idx, s, n, "too many entries");
				guard_allowlist_free(l);
				return NULL;
			}
			if (l->n == l->cap) {
				l->cap = l->cap ? l->cap * 2 : 8;
				l->e = xrealloc(l->e, l->cap * sizeof *l->e);
			}
			if (parse_entry(s, n, &l->e[l->n], &why) < 0) {
				set_err(err, errlen, idx, s, n, why);
				guard_allowlist_free(l);
				return NULL;
			}
			l->n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return l;
}

void guard_allowlist_free(struct guard_list *l)
{
	if (!l)
		return;
	free(l->e);
	free(l);
}

char *guard_allowlist_str(const struct guard_list *l)
{
	size_t total = 1;
	for (size_t i = 0; l && i < l->n; i++)
		total += strlen(l->e[i].text) + 1;
	char *out = xmalloc(total), *w = out;
	for (size_t i = 0; l && i < l->n; i++) {
		size_t k = strlen(l->e[i].text);
		if (i)
			*w++ = ',';
		memcpy(w, l->e[i].text, k);
		w += k;
	}
	*w = '\0';
	return out;
}

/* ---- the decision ------------------------------------------------------- */

static const struct guard_entry *allow_cidr(const struct guard_list *l, int v6, const uint8_t *a)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (!l->e[i].is_host && cidr_match(&l->e[i].c, v6, a))
			return &l->e[i];
	return NULL;
}


int guard_check_addr(const struct guard_list *allow, const char *host, const struct sockaddr *sa, char *reason,
		     size_t rlen)
{
	uint8_t a[16], v4[4];
	int v6, have_v4 = 0;
	const struct embed *emb = NULL;
	char as[INET6_ADDRSTRLEN], v4s[INET_ADDRSTRLEN], what[256];

	if (!sa) {
		set_msg(reason, rlen, "no address");
		return 1;
	}
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof sin); /* sa may be under-aligned */
		memcpy(a, &sin.sin_addr, 4);
		v6 = 0;
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof sin6);
		memcpy(a, &sin6.sin6_addr, 16);
		v6 = 1;
	} else {
		set_msg(reason, rlen, "address family %d is not IPv4 or IPv6", (int)sa->sa_family);
		return 1;
	}
	ntop(v6, a, as, sizeof as);

	/* the v4 inside a v6 wrapper is what the translator will really dial */
	if (v6 && !find_range(block_v6, NELEM(block_v6), a)) {
		for (size_t i = 0; i < NELEM(embeds_v6); i++) {
			if (prefix_match(embeds_v6[i].r.a, embeds_v6[i].r.plen, a)) {
				emb = &embeds_v6[i];
				memcpy(v4, a + emb->off, 4);
				have_v4 = 1;
				ntop(0, v4, v4s, sizeof v4s);
				break;
			}
		}
	}

	/* allowlist first: operators list internal services on purpose */
	for (size_t i = 0; host && allow && i < allow->n; i++) {
		if (allow->e[i].is_host && glob_host_match(allow->e[i].text, host)) {
			set_msg(reason, rlen, "host %s allowed by allowlist entry %s", host, allow->e[i].text);
			return 0;
		}
	}
	const struct guard_entry *ae = allow_cidr(allow, v6, a);
	if (ae) {
		set_msg(reason, rlen, "%s allowed by allowlist entry %s", as, ae->text);
		return 0;
	}
	if (have_v4 && (ae = allow_cidr(allow, 0, v4))) {
		set_msg(reason, rlen, "%s (embedding %s) allowed by allowlist entry %s", as, v4s, ae->text);
		return 0;
	}

	const struct range *r = v6 ? find_range(block_v6, NELEM(block_v6), a) : find_range(block_v4, NELEM(block_v4), a);
	if (r) {
		describe(v6, r, a, what, sizeof what);
		set_msg(reason, rlen, "%s is in %s", as, what);
		return 1;
	}
	if (have_v4 && (r = find_range(block_v4, NELEM(block_v4), v4))) {
		describe(0, r, v4, what, sizeof what);
		set_msg(reason, rlen, "%s embeds %s (%s %s), which is in %s", as, v4s, emb->r.label, emb->cidr,
			   what);
		return 1;
	}
	set_msg(reason, rlen, "public address");
	return 0;
}

/* ---- literals and names ------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* digits, or "0x" and hex digits (none counts: it looks numeric, then fails) */
static int numeric_label(const char *s, size_t n)
{
	size_t i = 0;
	if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		for (i = 2; i < n; i++)
			if (!is_hex(s[i]))
				return 0;
		return 1;
	}
	if (n == 0)
		return 0;
	for (; i < n; i++)
		if (!is_digit(s[i]))
			return 0;
	return 1;
}

/* The WHATWG "ends in a number" test, widened to anything of only digits
 * and dots: such a host is an IPv4 literal or an error, never a name. */
static int looks_numeric(const char *h, size_t n)
{
	int only = n > 0;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(h[i]) && h[i] != '.')
			only = 0;
	if (only)
		return 1;
	if (n && h[n - 1] == '.')
		n--;
	size_t start = n;
	while (start && h[start - 1] != '.')
		start--;
	return numeric_label(h + start, n - start);
}

/* One inet_aton part: decimal, 0-led octal, or 0x hex; at most 2^32-1. */
static int v4_part(const char *s, size_t n, uint64_t *out)
{
	unsigned base = 10;
	if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		base = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		s++;
		n--;
	}
	if (n == 0)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (is_digit(s[i]))
			d = (unsigned)(s[i] - '0');
		else if (base == 16 && is_hex(s[i]))
			d = (unsigned)((s[i] | 0x20) - 'a' + 10);
		else
			return -1;
		if (d >= base)
			return -1;
		v = v * base + d;
		if (v > 0xFFFFFFFFu)
			return -1;
	}
	*out = v;
	return 0;
}

static int parse_v4_any(const char *h, size_t n, uint8_t out[4])
{
	uint64_t part[4];
	size_t np = 0, i = 0;
	if (n && h[n - 1] == '.')
		n--; /* one trailing dot, as in a fully qualified name */
	if (n == 0)
		return -1;
	for (;;) {
		size_t j = i;
		while (j < n && h[j] != '.')
			j++;
		if (np == 4 || v4_part(h + i, j - i, &part[np]) < 0)
			return -1;
		np++;
		if (j == n)
			break;
		i = j + 1;
	}
	uint32_t v = 0;
	for (size_t k = 0; k + 1 < np; k++) {
		if (part[k] > 255)
			return -1;
		v |= (uint32_t)part[k] << (24 - 8 * k);
	}
	/* the last part fills every byte left: "127.1" is 127.0.0.1 */
	uint64_t lim = 0xFFFFFFFFu >> (8 * (np - 1));
	if (part[np - 1] > lim)
		return -1;
	v |= (uint32_t)part[np - 1];
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
	return 0;
}

#define ZONE_MAX 64

/* "addr", "addr%zone" or "addr%25zone" (RFC 6874). */
static int parse_v6(const char *s, size_t n, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN];
	const char *pct = memchr(s, '%', n);
	size_t alen = pct ? (size_t)(pct - s) : n;
	if (alen == 0 || alen >= sizeof buf)
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(sin6, 0, sizeof *sin6);
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return -1;
	sin6->sin6_family = AF_INET6;
	if (!pct)
		return 0;
	const char *z = pct + 1;
	size_t zn = n - alen - 1;
	if (zn > 2 && z[0] == '2' && z[1] == '5') {
		z += 2;
		zn -= 2;
	}
	if (zn == 0 || zn > ZONE_MAX)
		return -1;
	int numeric = 1;
	uint64_t id = 0;
	for (size_t i = 0; i < zn; i++) {
		char c = z[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
		      c == '_' || c == '~'))
			return -1;
		if (!is_digit(c))
			numeric = 0;
		else if (numeric && (id = id * 10 + (uint64_t)(c - '0')) > 0xFFFFFFFFu)
			return -1;
	}
	/* a named zone needs if_nametoindex(), which is not ours to call here */
	if (numeric)
		sin6->sin6_scope_id = (uint32_t)id;
	return 0;
}

int guard_host_literal(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_storage tmp;
	if (!ss)
		ss = &tmp;
	memset(ss, 0, sizeof *ss);
	if (!host || !*host)
		return -1;
	size_t n = strlen(host);
	struct sockaddr_in6 sin6;
	if (host[0] == '[') {
		if (n < 3 || host[n - 1] != ']' || parse_v6(host + 1, n - 2, &sin6) < 0)
			return -1;
		memcpy(ss, &sin6, sizeof sin6);
		return 1;
	}
	if (strchr(host, ']'))
		return -1;
	if (strchr(host, ':')) {
		if (parse_v6(host, n, &sin6) < 0)
			return -1;
		memcpy(ss, &sin6, sizeof sin6);
		return 1;
	}
	if (!looks_numeric(host, n))
		return 0;
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	if (parse_v4_any(host, n, (uint8_t *)&sin.sin_addr) < 0)
		return -1;
	sin.sin_family = AF_INET;
	memcpy(ss, &sin, sizeof sin);
	return 1;
}

int guard_host_normalize(const char *in, char *out, size_t outlen)
{
	if (!in || !out || !outlen)
		return -1;
	int r = name_check(in, strlen(in), out, outlen, 0);
	if (r < 0)
		out[0] = '\0';
	return r;
}

int guard_host_is_localhost(const char *h)
{
	static const char lh[] = "localhost";
	const size_t lhn = sizeof lh - 1;
	if (!h)
		return 0;
	size_t n = strlen(h);
	if (n && h[n - 1] == '.')
		n--;
	if (n < lhn || strncasecmp(h + n - lhn, lh, lhn))
		return 0;
	return n == lhn || h[n - lhn - 1] == '.';
}

struct strbuf { char *p; size_t len, cap; };

static void strbuf_add(struct strbuf *b, const char *s)
{
	size_t k = strlen(s);
	if (b->len + k + 1 > b->cap) {
		b->cap = (b->len + k + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, k + 1);
	b->len += k;
}

/* The block list as "cidr (what it is)" lines, for the security report:
 * the operator reads there exactly what the guard refuses. */
char *guard_blocked_str(void)
{
	struct strbuf b = {NULL, 0, 0};
	char line[160], a[INET6_ADDRSTRLEN];
	for (int v6 = 0; v6 < 2; v6++) {
		const struct range *t = v6 ? block_v6 : block_v4;
		size_t n = v6 ? sizeof block_v6 / sizeof block_v6[0] : sizeof block_v4 / sizeof block_v4[0];
		for (size_t i = 0; i < n; i++) {
			inet_ntop(v6 ? AF_INET6 : AF_INET, t[i].a, a, sizeof a);
			snprintf(line, sizeof line, "%s%s/%u (%s)", b.len ? "\n" : "", a, t[i].plen, t[i].label);
			strbuf_add(&b, line);
		}
	}
	for (size_t i = 0; i < sizeof embeds_v6 / sizeof embeds_v6[0]; i++) {
		snprintf(line, sizeof line, "\n%s (%s: the embedded IPv4 address is checked)", embeds_v6[i].cidr,
			 embeds_v6[i].r.label);
		strbuf_add(&b, line);
	}
	return b.p;
}

int guard_allowlisted(const struct guard_list *allow, const char *host, const struct sockaddr *sa)
{
	if (!allow || !sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return 0;
	for (size_t i = 0; host && i < allow->n; i++)
		if (allow->e[i].is_host && glob_host_match(allow->e[i].text, host))
			return 1;
	uint8_t a[16];
	int v6 = sa->sa_family == AF_INET6;
	if (v6) {
		struct sockaddr_in6 s6;
		memcpy(&s6, sa, sizeof s6);
		memcpy(a, &s6.sin6_addr, 16);
	} else {
		struct sockaddr_in s4;
		memcpy(&s4, sa, sizeof s4);
		memcpy(a, &s4.sin_addr, 4);
	}
	if (allow_cidr(allow, v6, a))
		return 1;
	for (size_t i = 0; v6 && i < NELEM(embeds_v6); i++)
		if (prefix_match(embeds_v6[i].r.a, embeds_v6[i].r.plen, a) && allow_cidr(allow, 0, a + embeds_v6[i].off))
			return 1;
	return 0;
}
