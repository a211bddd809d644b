#include "utf8.h"
#include "common/util.h"

#include <string.h>

size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c >= 0x01 && c < 0x80)
		return 1;
	size_t len;
	uint32_t min, cp;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2; min = 0x80; cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3; min = 0x800; cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4; min = 0x10000; cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

int utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

char *utf8_sanitize(const uint8_t *s, size_t n, size_t *outlen)
{
	/* worst case: every byte becomes the 3-byte replacement */
	if (n > (SIZE_MAX - 1) / 3)
		n = (SIZE_MAX - 1) / 3;
	char *out = xmalloc(n * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (k) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

size_t utf8_cut(const uint8_t *s, size_t n)
{
	/* step back over at most 3 continuation bytes to a lead byte */
	size_t k = n;
	for (int back = 0; back < 4 && k > 0; back++) {
		uint8_t c = s[k - 1];
		if ((c & 0xC0) != 0x80) {
			size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
			/* the sequence starting at k-1 is complete only if it fits */
			return (n - (k - 1) >= need) ? n : k - 1;
		}
		k--;
	}
	return n;
}
