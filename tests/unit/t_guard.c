/* TAP tests for workers/egress/guard.c: block ranges, IPv4-in-IPv6
 * unwrapping, URL host literals, the allowlist, host names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "workers/egress/guard.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static char reason[512];

/* Build a sockaddr with inet_pton, independent of the literal parser. */
static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		printf("# test bug: bad address %s\n", s);
		abort();
	}
	return ss;
}

static int check(const struct guard_list *l, const char *host, const char *a)
{
	struct sockaddr_storage ss = addr(a);
	reason[0] = '\0';
	return guard_check_addr(l, host, (struct sockaddr *)&ss, reason, sizeof reason);
}

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Render what guard_host_literal parsed, "-" when it was not a literal. */
static const char *lit(const char *host, int *rc, struct sockaddr_storage *ss)
{
	static char buf[INET6_ADDRSTRLEN];
	*rc = guard_host_literal(host, ss);
	if (*rc != 1)
		return "-";
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, buf, sizeof buf);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof buf);
	return buf;
}

struct want {
	const char *addr;
	int blocked;
	const char *in; /* expected in the reason */
};

static const struct want ranges[] = {
	{ "0.0.0.0", 1, "0.0.0.0/8" }, { "0.1.2.3", 1, "0.0.0.0/8" }, { "0.255.255.255", 1, "0.0.0.0/8" },
	{ "10.0.0.0", 1, "10.0.0.0/8" }, { "10.20.30.40", 1, "10.0.0.0/8" }, { "10.255.255.255", 1, "10.0.0.0/8" },
	{ "100.64.0.0", 1, "100.64.0.0/10" }, { "100.90.1.2", 1, "100.64.0.0/10" },
	{ "100.127.255.255", 1, "100.64.0.0/10" },
	{ "127.0.0.0", 1, "127.0.0.0/8 (loopback)" }, { "127.0.0.1", 1, "127.0.0.0/8" },
	{ "127.255.255.255", 1, "127.0.0.0/8" },
	{ "169.254.0.0", 1, "169.254.0.0/16" }, { "169.254.1.1", 1, "169.254.0.0/16" },
	{ "169.254.255.255", 1, "169.254.0.0/16" },
	{ "172.16.0.0", 1, "172.16.0.0/12" }, { "172.20.1.1", 1, "172.16.0.0/12" },
	{ "172.31.255.255", 1, "172.16.0.0/12" },
	{ "192.168.0.0", 1, "192.168.0.0/16" }, { "192.168.1.1", 1, "192.168.0.0/16" },
	{ "192.168.255.255", 1, "192.168.0.0/16" },
	{ "192.0.0.0", 1, "192.0.0.0/24" }, { "192.0.0.170", 1, "192.0.0.0/24" }, { "192.0.0.255", 1, "192.0.0.0/24" },
	{ "198.18.0.0", 1, "198.18.0.0/15" }, { "198.19.0.1", 1, "198.18.0.0/15" },
	{ "198.19.255.255", 1, "198.18.0.0/15" },
	{ "224.0.0.0", 1, "224.0.0.0/4" }, { "230.1.2.3", 1, "224.0.0.0/4" }, { "239.255.255.255", 1, "224.0.0.0/4" },
	{ "240.0.0.0", 1, "240.0.0.0/4" }, { "250.1.2.3", 1, "240.0.0.0/4" }, { "255.255.255.255", 1, "240.0.0.0/4" },
	{ "168.63.129.16", 1, "168.63.129.16/32 (Azure" },
	/* just outside */
	{ "9.255.255.255", 0, "public" }, { "11.0.0.0", 0, "public" },
	{ "100.63.255.255", 0, "public" }, { "100.128.0.0", 0, "public" },
	{ "126.255.255.255", 0, "public" }, { "128.0.0.0", 0, "public" },
	{ "169.253.255.255", 0, "public" }, { "169.255.0.0", 0, "public" },
	{ "172.15.255.255", 0, "public" }, { "172.32.0.0", 0, "public" },
	{ "192.167.255.255", 0, "public" }, { "192.169.0.0", 0, "public" },
	{ "192.0.1.0", 0, "public" }, { "191.255.255.255", 0, "public" },
	{ "198.17.255.255", 0, "public" }, { "198.20.0.0", 0, "public" },
	{ "223.255.255.255", 0, "public" }, { "1.0.0.0", 0, "public" },
	{ "168.63.129.15", 0, "public" }, { "168.63.129.17", 0, "public" },
	{ "8.8.8.8", 0, "public" }, { "93.184.216.34", 0, "public" },
	/* IPv6 */
	{ "::", 1, "::/128 (unspecified" }, { "::1", 1, "::1/128 (loopback)" },
	{ "fc00::", 1, "fc00::/7" }, { "fd12:3456::1", 1, "fc00::/7" },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "fc00::/7" },
	{ "fe80::", 1, "fe80::/10" }, { "fe80::1", 1, "fe80::/10" }, { "febf:ffff::1", 1, "fe80::/10" },
	{ "fec0::", 1, "fec0::/10 (deprecated site-local)" }, { "feff:ffff::1", 1, "fec0::/10" },
	{ "ff00::", 1, "ff00::/8" }, { "ff02::1", 1, "ff00::/8" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "ff00::/8" },
	{ "100::", 1, "100::/64" }, { "100::ffff:ffff:ffff:ffff", 1, "100::/64" },
	{ "100:0:0:1::", 0, "public" },
	{ "2606:4700::1", 0, "public" }, { "2001:4860:4860::8888", 0, "public" },
	/* IPv4 inside IPv6 */
	{ "::ffff:127.0.0.1", 1, "embeds 127.0.0.1 (IPv4-mapped ::ffff:0:0/96), which is in 127.0.0.0/8" },
	{ "::ffff:7f00:1", 1, "embeds 127.0.0.1" },
	{ "::ffff:10.0.0.1", 1, "10.0.0.0/8" },
	{ "::ffff:8.8.8.8", 0, "public" },
	{ "::127.0.0.1", 1, "IPv4-compatible" },
	{ "::0.0.0.2", 1, "0.0.0.0/8" },
	{ "::8.8.8.8", 0, "public" },
	{ "::ffff:0:169.254.169.254", 1, "IPv4-translated" },
	{ "::ffff:0:8.8.8.8", 0, "public" },
	{ "64:ff9b::a9fe:a9fe", 1, "embeds 169.254.169.254 (NAT64" },
	{ "64:ff9b::8.8.8.8", 0, "public" },
	{ "64:ff9b:1::1", 1, "64:ff9b:1::/48" },
	{ "64:ff9b:1:ffff:ffff:ffff:808:808", 1, "local-use NAT64" },
	{ "64:ff9b:2::808:808", 0, "public" },
	{ "2002:a9fe:a9fe::1", 1, "embeds 169.254.169.254 (6to4 2002::/16)" },
	{ "2002:c0a8:101::1", 1, "192.168.0.0/16" },
	{ "2002:0808:0808::1", 0, "public" },
	{ "2001:0:1::1", 1, "2001::/32 (Teredo" },
	{ "2001::", 1, "Teredo" },
	{ "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", 1, "Teredo" },
	{ "2001:1::1", 0, "public" },
};

static void test_ranges(void)
{
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		const struct want *w = &ranges[i];
		int r = check(NULL, NULL, w->addr);
		if (!ok(r == w->blocked && has(reason, w->in), "%s %s (%s)", w->addr, w->blocked ? "blocked" : "allowed",
			w->in))
			printf("#   got %d: %s\n", r, reason);
	}

	check(NULL, NULL, "169.254.169.254");
	ok(!strncmp(reason, "169.254.169.254 is in 169.254.0.0/16 (link-local / cloud metadata)", 66) &&
		   has(reason, "instance metadata service"),
	   "metadata address is named: %s", reason);
	check(NULL, NULL, "169.254.170.2");
	ok(has(reason, "ECS"), "ECS credentials endpoint is named: %s", reason);
	check(NULL, NULL, "169.254.1.1");
	ok(!has(reason, "ECS") && !has(reason, "instance metadata service"), "other link-local has no note: %s",
	   reason);
	check(NULL, NULL, "fd00:ec2::254");
	ok(has(reason, "fc00::/7") && has(reason, "over IPv6"), "AWS IPv6 metadata is named: %s", reason);
	check(NULL, NULL, "8.8.8.8");
	is_str(reason, "public address", "public reason text");

	struct sockaddr_un sun;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ok(guard_check_addr(NULL, NULL, (struct sockaddr *)&sun, reason, sizeof reason) == 1 &&
		   has(reason, "not IPv4 or IPv6"),
	   "non-IP family blocked: %s", reason);
	ok(guard_check_addr(NULL, "example.com", NULL, reason, sizeof reason) == 1, "NULL address blocked");
	char tiny[8];
	struct sockaddr_storage ss = addr("127.0.0.1");
	ok(guard_check_addr(NULL, NULL, (struct sockaddr *)&ss, tiny, sizeof tiny) == 1 && strlen(tiny) == 7,
	   "reason truncated to its buffer");
}

struct lit_case {
	const char *host;
	int rc;
	const char *addr; /* what it parses to, "-" for none */
	int blocked;	  /* for rc 1 */
};

static const struct lit_case lits[] = {
	{ "2130706433", 1, "127.0.0.1", 1 },
	{ "0177.0.0.1", 1, "127.0.0.1", 1 },
	{ "0x7f.1", 1, "127.0.0.1", 1 },
	{ "0x7f000001", 1, "127.0.0.1", 1 },
	{ "0X7F000001", 1, "127.0.0.1", 1 },
	{ "127.1", 1, "127.0.0.1", 1 },
	{ "10.1.1", 1, "10.1.0.1", 1 },
	{ "017700000001", 1, "127.0.0.1", 1 },
	{ "0x7F.0.0.1", 1, "127.0.0.1", 1 },
	{ "127.0.0.1.", 1, "127.0.0.1", 1 },
	{ "0xa9.0376.0xa9fe", 1, "169.254.169.254", 1 },
	{ "0", 1, "0.0.0.0", 1 },
	{ "4294967295", 1, "255.255.255.255", 1 },
	{ "127.16777215", 1, "127.255.255.255", 1 },
	{ "0x08080808", 1, "8.8.8.8", 0 },
	{ "8.8.8.8", 1, "8.8.8.8", 0 },
	{ "134744072", 1, "8.8.8.8", 0 },
	{ "[::1]", 1, "::1", 1 },
	{ "::1", 1, "::1", 1 },
	{ "[::ffff:127.0.0.1]", 1, "::ffff:127.0.0.1", 1 },
	{ "[::ffff:7f00:1]", 1, "::ffff:127.0.0.1", 1 },
	{ "[fe80::1%25eth0]", 1, "fe80::1", 1 },
	{ "[fe80::1%eth0]", 1, "fe80::1", 1 },
	{ "[2606:4700::1]", 1, "2606:4700::1", 0 },
	{ "1.2.3.4.5", -1, "-", 0 },
	{ "256.0.0.1", -1, "-", 0 },
	{ "1.256.0.1", -1, "-", 0 },
	{ "127.16777216", -1, "-", 0 },
	{ "4294967296", -1, "-", 0 },
	{ "08.0.0.1", -1, "-", 0 },
	{ "0x", -1, "-", 0 },
	{ "0xg", 0, "-", 0 },
	{ "1..2", -1, "-", 0 },
	{ "127.0.0.1..", -1, "-", 0 },
	{ "www.123", -1, "-", 0 },
	{ "foo.0x10", -1, "-", 0 },
	{ "[::1", -1, "-", 0 },
	{ "::1]", -1, "-", 0 },
	{ "[]", -1, "-", 0 },
	{ "[127.0.0.1]", -1, "-", 0 },
	{ "[fe80::1%]", -1, "-", 0 },
	{ "[fe80::1%eth0/x]", -1, "-", 0 },
	{ "[v1.abc]", -1, "-", 0 },
	{ "[::1]:80", -1, "-", 0 },
	{ "1:2:3", -1, "-", 0 },
	{ "", -1, "-", 0 },
	{ "example.com", 0, "-", 0 },
	{ "1e100.net", 0, "-", 0 },
	{ "dead.beef", 0, "-", 0 },
	{ "0x10.example", 0, "-", 0 },
};

static void test_literals(void)
{
	for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
		const struct lit_case *c = &lits[i];
		struct sockaddr_storage ss;
		int rc;
		const char *got = lit(c->host, &rc, &ss);
		if (!ok(rc == c->rc && !strcmp(got, c->addr), "literal \"%s\" -> %d %s", c->host, c->rc, c->addr))
			printf("#   got %d %s\n", rc, got);
		if (c->rc == 1) {
			int b = guard_check_addr(NULL, NULL, (struct sockaddr *)&ss, reason, sizeof reason);
			ok(b == c->blocked, "literal \"%s\" %s: %s", c->host, c->blocked ? "blocked" : "allowed", reason);
		}
	}
	struct sockaddr_storage ss;
	ok(guard_host_literal("[fe80::1%253]", &ss) == 1 && ((struct sockaddr_in6 *)&ss)->sin6_scope_id == 3,
	   "numeric zone \"%%253\" sets scope id 3");
	ok(guard_host_literal("8.8.8.8", &ss) == 1 && ((struct sockaddr_in *)&ss)->sin_port == 0, "port is 0");
	ok(guard_host_literal("127.1", NULL) == 1, "ss may be NULL");
}

static void test_allowlist(void)
{
	char err[256];
	struct guard_list *l = guard_allowlist_parse(NULL, err, sizeof err);
	char *s = guard_allowlist_str(l);
	ok(l && !strcmp(s, ""), "NULL spec is an empty list");
	free(s);
	guard_allowlist_free(l);

	l = guard_allowlist_parse("  ", err, sizeof err);
	ok(l != NULL && check(l, NULL, "10.0.0.1") == 1, "blank spec is an empty list that allows nothing private");
	guard_allowlist_free(l);

	l = guard_allowlist_parse(" 10.1.2.3/16 , *.Corp.Example,api.internal,\tfd12:3456::1/16, 127.0.0.2,, ", err,
				  sizeof err);
	s = l ? guard_allowlist_str(l) : NULL;
	is_str(s, "10.1.0.0/16,*.corp.example,api.internal,fd12::/16,127.0.0.2/32",
	       "good spec parses, host bits masked, globs lowercased");
	free(s);

	ok(check(l, NULL, "10.1.255.255") == 0 && has(reason, "allowlist entry 10.1.0.0/16"),
	   "allow CIDR admits 10.1.255.255: %s", reason);
	ok(check(l, NULL, "10.2.0.0") == 1, "10.2.0.0 outside the allow CIDR is still blocked");
	ok(check(l, NULL, "127.0.0.2") == 0 && has(reason, "127.0.0.2/32"), "127.0.0.2 admitted: %s", reason);
	ok(check(l, NULL, "127.0.0.1") == 1, "127.0.0.1 still blocked");
	ok(check(l, NULL, "::ffff:127.0.0.2") == 0 && has(reason, "embedding 127.0.0.2"),
	   "v4 allow CIDR admits ::ffff:127.0.0.2: %s", reason);
	ok(check(l, NULL, "64:ff9b::7f00:2") == 0, "v4 allow CIDR admits NAT64 of 127.0.0.2");
	ok(check(l, NULL, "::ffff:127.0.0.1") == 1, "::ffff:127.0.0.1 still blocked");
	ok(check(l, NULL, "fd12:ffff::1") == 0, "v6 allow CIDR admits fd12:ffff::1");
	ok(check(l, NULL, "fd13::1") == 1, "fd13::1 outside it is blocked");
	ok(check(l, "api.corp.example", "10.9.9.9") == 0 && has(reason, "*.corp.example"),
	   "host glob admits api.corp.example: %s", reason);
	ok(check(l, "a.b.corp.example", "192.168.1.1") == 0, "host glob '*' spans labels");
	ok(check(l, "api.internal", "169.254.169.254") == 0, "exact host entry admits");
	ok(check(l, "corp.example", "10.9.9.9") == 1, "glob *.corp.example does not admit corp.example");
	ok(check(l, "evil.example", "10.9.9.9") == 1, "other host blocked");
	ok(check(l, NULL, "10.9.9.9") == 1, "literal (no host) is not admitted by a host glob");
	ok(check(l, "api.corp.example", "8.8.8.8") == 0, "public address with an allowed host is allowed");
	ok(check(l, "x.example", "8.8.8.8") == 0 && !strcmp(reason, "public address"), "public stays public");
	guard_allowlist_free(l);

	l = guard_allowlist_parse("::ffff:127.0.0.0/104", err, sizeof err);
	s = l ? guard_allowlist_str(l) : NULL;
	is_str(s, "127.0.0.0/8", "IPv4-mapped allow CIDR is stored as IPv4");
	ok(l && check(l, NULL, "127.0.0.1") == 0, "and admits plain 127.0.0.1");
	free(s);
	guard_allowlist_free(l);

	struct bad {
		const char *spec, *in1, *in2;
	} bads[] = {
		{ "10.0.0.0/33", "\"10.0.0.0/33\"", "0..32" },
		{ "fd00::/129", "fd00::/129", "0..128" },
		{ "10.0.0.0/", "10.0.0.0/", "0..32" },
		{ "10.0.0.0/abc", "10.0.0.0/abc", "0..32" },
		{ "10.0.0.0/-1", "10.0.0.0/-1", "0..32" },
		{ "1.2.3.4/8/8", "1.2.3.4/8/8", "prefix" },
		{ "good.example, bad_host!", "entry 2 \"bad_host!\"", "host glob" },
		{ "10.1", "\"10.1\"", "canonical" },
		{ "0x7f.0.0.1", "0x7f.0.0.1", "canonical" },
		{ "a..b", "a..b", "host glob" },
		{ "300.1.1.1/8", "300.1.1.1", "canonical" },
		{ "gggg::/16", "gggg::/16", "canonical" },
		{ "-bad.example", "-bad.example", "host glob" },
	};
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		err[0] = '\0';
		l = guard_allowlist_parse(bads[i].spec, err, sizeof err);
		ok(!l && has(err, bads[i].in1) && has(err, bads[i].in2), "bad spec \"%s\" refused: %s", bads[i].spec,
		   err);
		guard_allowlist_free(l);
	}
}

static void test_names(void)
{
	char out[256];
	ok(guard_host_normalize("Example.COM.", out, sizeof out) == 0 && !strcmp(out, "example.com"),
	   "normalize lowercases and strips one trailing dot");
	ok(guard_host_normalize("example.com..", out, sizeof out) == -1, "two trailing dots refused");
	ok(guard_host_normalize("a..b", out, sizeof out) == -1, "empty label refused");
	ok(guard_host_normalize(".example", out, sizeof out) == -1, "leading dot refused");
	ok(guard_host_normalize("", out, sizeof out) == -1 && guard_host_normalize(".", out, sizeof out) == -1,
	   "empty and \".\" refused");
	char lab[80];
	memset(lab, 'a', 64);
	strcpy(lab + 64, ".com");
	ok(guard_host_normalize(lab, out, sizeof out) == -1, "64-char label refused");
	ok(guard_host_normalize(lab + 1, out, sizeof out) == 0, "63-char label accepted");
	ok(guard_host_normalize("my-host.ex-ample.com", out, sizeof out) == 0 && !strcmp(out, "my-host.ex-ample.com"),
	   "'-' inside labels is fine");
	ok(guard_host_normalize("-host.example", out, sizeof out) == -1 &&
		   guard_host_normalize("host-.example", out, sizeof out) == -1,
	   "'-' at a label edge refused");
	ok(guard_host_normalize("_dmarc.Example.com", out, sizeof out) == 0 && !strcmp(out, "_dmarc.example.com"),
	   "underscore accepted");
	ok(guard_host_normalize("has space.example", out, sizeof out) == -1, "space refused");
	ok(guard_host_normalize("a*b.example", out, sizeof out) == -1, "'*' refused in a name");
	ok(guard_host_normalize("exa\xC3\xA9mple.com", out, sizeof out) == -1, "non-ASCII refused (use punycode)");
	ok(guard_host_normalize("xn--bcher-kva.example", out, sizeof out) == 0, "punycode accepted");
	/* 4 x 63 + 3 dots = 255 > 253; trim to exactly 253 */
	char big[300];
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		memset(big + o, 'b', 63);
		o += 63;
		big[o++] = '.';
	}
	big[o - 1] = '\0'; /* 255 chars */
	ok(guard_host_normalize(big, out, sizeof out) == -1, "255-char name refused");
	big[253] = '\0';
	ok(guard_host_normalize(big, out, sizeof out) == 0 && strlen(out) == 253, "253-char name accepted");
	big[253] = '.';
	big[254] = '\0';
	ok(guard_host_normalize(big, out, sizeof out) == 0 && strlen(out) == 253, "253 chars plus a trailing dot");
	ok(guard_host_normalize("example.com", out, 11) == -1, "output buffer too small refused");
	ok(guard_host_normalize("example.com", out, 12) == 0, "output buffer exactly big enough");

	ok(guard_host_is_localhost("localhost"), "localhost");
	ok(guard_host_is_localhost("localhost."), "localhost.");
	ok(guard_host_is_localhost("LOCALHOST"), "LOCALHOST");
	ok(guard_host_is_localhost("foo.localhost"), "foo.localhost");
	ok(guard_host_is_localhost("foo.LOCALHOST"), "foo.LOCALHOST");
	ok(guard_host_is_localhost("foo.localhost."), "foo.localhost.");
	ok(!guard_host_is_localhost("localhostx.com"), "localhostx.com is not localhost");
	ok(!guard_host_is_localhost("xlocalhost"), "xlocalhost is not localhost");
	ok(!guard_host_is_localhost("localhost.com"), "localhost.com is not localhost");
	ok(!guard_host_is_localhost("") && !guard_host_is_localhost("."), "empty is not localhost");
}

int main(void)
{
	test_ranges();
	test_literals();
	test_allowlist();
	test_names();
	return done_testing();
}
