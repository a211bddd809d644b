/* TAP tests for common/utf8.c. */
#include "common/utf8.h"
#include "tap.h"

#include <stdlib.h>

static int valid(const char *s, size_t n) { return utf8_valid((const uint8_t *)s, n); }

int main(void)
{
	ok(valid("", 0), "empty is valid");
	ok(valid("hello", 5), "ascii is valid");
	ok(valid("h\xC3\xA9llo", 6), "2-byte sequence");
	ok(valid("\xE2\x82\xAC", 3), "3-byte sequence (euro)");
	ok(valid("\xF0\x9F\x98\x80", 4), "4-byte sequence (emoji)");
	ok(!valid("a\0b", 3), "NUL is refused");
	ok(!valid("\xC0\xAF", 2), "overlong 2-byte refused");
	ok(!valid("\xE0\x80\xAF", 3), "overlong 3-byte refused");
	ok(!valid("\xED\xA0\x80", 3), "surrogate refused");
	ok(!valid("\xF4\x90\x80\x80", 4), "above U+10FFFF refused");
	ok(!valid("\xC3", 1), "truncated sequence refused");
	ok(!valid("\x80", 1), "lone continuation refused");
	ok(!valid("\xFF", 1), "0xFF refused");

	size_t n;
	char *s = utf8_sanitize((const uint8_t *)"a\xFF" "b", 3, &n);
	is_str(s, "a\xEF\xBF\xBD" "b", "invalid byte becomes U+FFFD");
	ok(n == 5, "sanitized length counts the replacement");
	free(s);
	s = utf8_sanitize((const uint8_t *)"x\0y", 3, &n);
	is_str(s, "x\xEF\xBF\xBDy", "NUL becomes U+FFFD");
	free(s);
	s = utf8_sanitize((const uint8_t *)"\xE2\x82", 2, &n);
	is_str(s, "\xEF\xBF\xBD\xEF\xBF\xBD", "truncated tail becomes one U+FFFD per byte");
	free(s);
	s = utf8_sanitize((const uint8_t *)"h\xC3\xA9", 3, &n);
	is_str(s, "h\xC3\xA9", "valid input is copied unchanged");
	ok(valid(s, n), "sanitized output is valid");
	free(s);

	const uint8_t e[] = "ab\xE2\x82\xAC";
	ok(utf8_cut(e, 5) == 5, "cut keeps a complete trailing sequence");
	ok(utf8_cut(e, 4) == 2, "cut drops a split 3-byte sequence (2 of 3)");
	ok(utf8_cut(e, 3) == 2, "cut drops a split 3-byte sequence (1 of 3)");
	ok(utf8_cut(e, 2) == 2, "cut at an ascii boundary is unchanged");
	ok(utf8_cut(e, 0) == 0, "cut of nothing is nothing");
	const uint8_t f[] = "\xF0\x9F\x98\x80";
	ok(utf8_cut(f, 3) == 0, "cut drops a split 4-byte sequence");
	return done_testing();
}
