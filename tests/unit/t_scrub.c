/* TAP tests for workers/egress/scrub.c and placeholder.c. Expected encodings
 * are written out by hand (checked against Python's base64/urllib), not
 * computed with the code under test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/b64.h"
#include "workers/egress/placeholder.h"
#include "workers/egress/scrub.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static unsigned cnt;
static size_t outn;

/* Scrub NUL-terminated text of a NUL-terminated secret; resets cnt. */
static char *sc(const char *in, const char *secret)
{
	cnt = 0;
	return (char *)scrub_secret((const uint8_t *)in, strlen(in), (const uint8_t *)secret, strlen(secret), &outn,
				    &cnt);
}

/* One scrub case: the result and the count must both match. */
static void sc_is(const char *in, const char *secret, const char *want, unsigned want_cnt, const char *name)
{
	char *got = sc(in, secret);
	is_str(got, want, name);
	if (!ok(cnt == want_cnt && outn == strlen(want), "%s: count %u", name, want_cnt))
		printf("#   count %u, outlen %zu\n", cnt, outn);
	free(got);
}

static void test_scrub(void)
{
	sc_is("token=s3cr3t;", "s3cr3t", "token=[redacted];", 1, "raw form");
	sc_is("Basic aHVudGVyMg==", "hunter2", "Basic [redacted]", 1, "base64 padded, padding included");
	sc_is("{\"k\":\"aHVudGVyMg\"}", "hunter2", "{\"k\":\"[redacted]\"}", 1, "base64 unpadded");
	sc_is("x=68756e74657232", "hunter2", "x=[redacted]", 1, "lowercase hex");
	sc_is("x=68756E74657232", "hunter2", "x=[redacted]", 1, "uppercase hex");
	sc_is("a +/+//g== b", "\xfb\xff\xbf\xfe", "a [redacted] b", 1, "base64 of binary secret");
	sc_is("a +/+//g b", "\xfb\xff\xbf\xfe", "a [redacted] b", 1, "base64 unpadded of binary secret");
	sc_is("a -_-__g== b", "\xfb\xff\xbf\xfe", "a [redacted] b", 1, "base64url padded");
	sc_is("a -_-__g b", "\xfb\xff\xbf\xfe", "a [redacted] b", 1, "base64url unpadded");
	sc_is("a %FB%FF%BF%FE %fb%ff%bf%fe", "\xfb\xff\xbf\xfe", "a [redacted] [redacted]", 2,
	      "percent-encoded binary, both hex cases");

	const char *pw = "p@ss w/rd+=&";
	sc_is("u=p%40ss%20w%2Frd%2B%3D%26&x", pw, "u=[redacted]&x", 1, "RFC 3986 uppercase");
	sc_is("u=p%40ss%20w%2frd%2b%3d%26&x", pw, "u=[redacted]&x", 1, "RFC 3986 lowercase");
	sc_is("u=p%40ss+w%2Frd%2B%3D%26&x", pw, "u=[redacted]&x", 1, "form-urlencoded, space as '+'");
	sc_is("u=p%40ss+w%2frd%2b%3d%26&x", pw, "u=[redacted]&x", 1, "form-urlencoded lowercase");
	sc_is("raw p@ss w/rd+=& b64 cEBzcyB3L3JkKz0m hex 7040737320772f72642b3d26 end", pw,
	      "raw [redacted] b64 [redacted] hex [redacted] end", 3, "spaces, '&', '+', '=' in every form at once");

	const char *sub = "a!b*c'd(e)f~g";
	sc_is("q=a%21b%2Ac%27d%28e%29f~g", sub, "q=[redacted]", 1, "strict set encodes !*'()");
	sc_is("q=a%21b%2ac%27d%28e%29f~g", sub, "q=[redacted]", 1, "strict set, lowercase hex");
	sc_is("q=a!b%20c&", "a!b c", "q=[redacted]&", 1, "encodeURIComponent set leaves '!'");
	sc_is("q=a!b%20c&a%21b+c", "a!b c", "q=[redacted]&[redacted]", 2, "encodeURIComponent and form forms together");
	sc_is("q=a%21b*c%27d%28e%29f%7Eg", sub, "q=[redacted]", 1, "WHATWG form set keeps '*', encodes '~'");

	sc_is("n=p%C3%A4ssw%C3%B6rd, b=cMOkc3N3w7ZyZA==, r=p\xC3\xA4ssw\xC3\xB6rd", "p\xC3\xA4ssw\xC3\xB6rd",
	      "n=[redacted], b=[redacted], r=[redacted]", 3, "non-ASCII secret, encoded and raw");

	sc_is("s3cr3ts3cr3t", "s3cr3t", "[redacted][redacted]", 2, "adjacent occurrences: one mark each");
	sc_is("xababab y", "abab", "x[redacted] y", 1, "overlapping occurrences merge, nothing left behind");
	sc_is("banana", "a", "b[redacted]n[redacted]n[redacted]", 3, "one-byte secret");
	sc_is("x=UQ==", "Q", "x=[redacted]", 1, "raw match inside an encoded one does not leave half of it");
	sc_is("a=b%3dc PQ== 3D", "=", "a[redacted]b[redacted]c [redacted] [redacted]", 4, "secret '=' in 4 forms");
	sc_is("s3cr3 s3cr4t S3CR3T czNjcjN s3c r3t", "s3cr3t", "s3cr3 s3cr4t S3CR3T czNjcjN s3c r3t", 0,
	      "near misses are left alone");
	sc_is("short", "longer secret", "short", 0, "secret longer than input");

	cnt = 0;
	uint8_t *o = scrub_secret((const uint8_t *)"", 0, (const uint8_t *)"x", 1, &outn, &cnt);
	ok(o && o[0] == '\0' && outn == 0 && cnt == 0, "empty input gives empty output");
	free(o);

	static const uint8_t bin[] = { 0, 1, 'S', 'E', 'C', 0, 'R', 'E', 'T', 2, 0 };
	static const uint8_t bsec[] = { 'S', 'E', 'C', 0, 'R', 'E', 'T' };
	static const uint8_t bwant[] = "\0\1[redacted]\2";
	cnt = 0;
	o = scrub_secret(bin, sizeof bin, bsec, sizeof bsec, &outn, &cnt);
	ok(outn == sizeof bwant && !memcmp(o, bwant, sizeof bwant) && cnt == 1,
	   "binary input and secret with NUL bytes");
	free(o);

	cnt = 5;
	o = scrub_secret((const uint8_t *)"a s3cr3t b", 10, (const uint8_t *)"s3cr3t", 6, &outn, &cnt);
	ok(cnt == 6 && o[outn] == '\0', "count is added to, output NUL-terminated");
	free(o);

	/* 68656c6c6f = hex("hello"): both hex and raw */
	sc_is("hello 68656C6C6F 68656c6c6f aGVsbG8= aGVsbG8", "hello", "[redacted] [redacted] [redacted] [redacted] [redacted]", 5,
	      "every distinct form of an alphanumeric secret");
}

struct names {
	char got[4][PH_NAME_MAX + 1];
	int n;
};

static int collect(const char *name, size_t nlen, void *arg)
{
	struct names *nm = arg;
	if (nm->n < 4) {
		memcpy(nm->got[nm->n], name, nlen);
		nm->got[nm->n][nlen] = '\0';
	}
	nm->n++;
	return 0;
}

static int refuse_b(const char *name, size_t nlen, void *arg)
{
	(void)arg;
	return nlen == 1 && name[0] == 'b' ? -1 : 0;
}

static int scan(const char *s) { return ph_scan(s, strlen(s), NULL, NULL); }

static void test_placeholders(void)
{
	struct names nm = { .n = 0 };
	const char *t = "Bearer ${vault:gh.token} and ${vault:api_key-2}, ${vault:gh.token}";
	ok(ph_scan(t, strlen(t), collect, &nm) == 3 && nm.n == 3, "three placeholders found");
	ok(!strcmp(nm.got[0], "gh.token") && !strcmp(nm.got[1], "api_key-2") && !strcmp(nm.got[2], "gh.token"),
	   "names passed in order, repeated name twice");
	t = "${vault:a}${vault:b}${vault:c}";
	ok(ph_scan(t, strlen(t), refuse_b, NULL) == -1, "callback returning -1 aborts the scan");
	ok(scan("hello ${HOME} $vault {vault:x} ${vault") == 0, "text without \"${vault:\" has none");
	ok(scan("") == 0, "empty text has none");
	ok(scan("x ${vault:") == -1, "unterminated at the end");
	ok(scan("${vault:abc") == -1, "unterminated name");
	ok(scan("${vault:}") == -1, "empty name");
	ok(scan("${vault:a b}") == -1, "space in name");
	ok(scan("${vault:a/b}") == -1, "'/' in name");
	ok(scan("${vault:ok} ${vault:bad!}") == -1, "one bad placeholder among good ones");
	ok(scan("${VAULT:x}") == 0, "prefix is case-sensitive");
	char big[PH_NAME_MAX + 32];
	strcpy(big, "${vault:");
	memset(big + 8, 'n', PH_NAME_MAX);
	strcpy(big + 8 + PH_NAME_MAX, "}");
	ok(scan(big) == 1, "128-char name accepted");
	memset(big + 8, 'n', PH_NAME_MAX + 1);
	strcpy(big + 8 + PH_NAME_MAX + 1, "}");
	ok(scan(big) == -1, "129-char name refused");
	ok(ph_scan("${vault:a}", 9, NULL, NULL) == -1, "len is honoured: '}' past len is unterminated");
	ok(ph_scan("${vault:a}", 5, NULL, NULL) == 0, "len is honoured: partial opener is plain text");

	static const uint8_t other[] = { 'x', 0, 'y' };
	struct ph_value vals[] = {
		{ "tok", (const uint8_t *)"abc", 3 },
		{ "other", other, sizeof other },
		{ "empty", NULL, 0 },
		{ "loop", (const uint8_t *)"${vault:tok}", 12 },
		{ "tok", (const uint8_t *)"SHADOWED", 8 },
	};
	size_t n;
	t = "A: ${vault:tok}; B ${vault:tok}; C=${vault:other}.";
	char *r = ph_substitute(t, strlen(t), vals, 5, &n);
	static const char want[] = "A: abc; B abc; C=x\0y.";
	ok(r && n == sizeof want - 1 && !memcmp(r, want, sizeof want), "repeated and binary values substituted");
	free(r);
	t = "[${vault:empty}] ${vault:loop}";
	r = ph_substitute(t, strlen(t), vals, 5, &n);
	is_str(r, "[] ${vault:tok}", "empty value; values are not rescanned");
	free(r);
	t = "no placeholders ${HOME}";
	r = ph_substitute(t, strlen(t), vals, 5, &n);
	ok(r && !strcmp(r, t) && r != t && n == strlen(t), "text without placeholders copied unchanged");
	free(r);
	t = "${vault:tok} ${vault:missing}";
	ok(ph_substitute(t, strlen(t), vals, 5, &n) == NULL, "missing value gives NULL");
	t = "${vault:tok} ${vault:bad";
	ok(ph_substitute(t, strlen(t), vals, 5, &n) == NULL, "malformed text gives NULL");
	ok(ph_substitute("${vault:tok}", 12, NULL, 0, &n) == NULL, "no values at all gives NULL");
	r = ph_substitute("", 0, NULL, 0, &n);
	ok(r && r[0] == '\0' && n == 0, "empty text gives empty result");
	free(r);
}

int main(void)
{
	test_scrub();
	test_placeholders();
		/* base64 inside a larger encoded text, at each alignment */
	{
		const char *sec = "sk-live-0123456789abcdef";
		const char *pre[] = {"", "u:", "ab:", "user:"};
		for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
			char plain[128], enc[256], body[300];
			snprintf(plain, sizeof plain, "%s%s;tail", pre[i], sec);
			b64_encode((const uint8_t *)plain, strlen(plain), enc, 0);
			snprintf(body, sizeof body, "Authorization: Basic %s\r\n", enc);
			size_t ol;
			unsigned marks = 0;
			uint8_t *o = scrub_secret((const uint8_t *)body, strlen(body), (const uint8_t *)sec, strlen(sec), &ol, &marks);
			/* the encoded text is broken where the secret was; the rest stays */
			ok(marks >= 1 && strstr((char *)o, SCRUB_MARK) && !strstr((char *)o, enc) &&
				   !strncmp((char *)o, "Authorization: Basic ", 21),
			   "embedded base64 at offset %zu (mod 3: %zu) is scrubbed", strlen(pre[i]), strlen(pre[i]) % 3);
			free(o);
		}
		size_t ol;
		unsigned marks = 0;
		const char *other = "Authorization: Basic dXNlcjpub3QtdGhlLXNlY3JldA==\r\n";
		uint8_t *o = scrub_secret((const uint8_t *)other, strlen(other), (const uint8_t *)sec, strlen(sec), &ol, &marks);
		ok(marks == 0 && !strcmp((char *)o, other), "other base64 text is left alone");
		free(o);
		marks = 0;
		const char *tiny = "QUJDREVG";
		o = scrub_secret((const uint8_t *)tiny, strlen(tiny), (const uint8_t *)"BCD", 3, &ol, &marks);
		ok(marks == 0, "a 3-byte secret is not hunted inside base64 (too many false matches)");
		free(o);
	}
	return done_testing();
}
