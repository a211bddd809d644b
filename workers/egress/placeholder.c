#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "placeholder.h"
#include "common/util.h"

#include <limits.h>
#include <string.h>

static const char ph_open[] = "${vault:";
#define PH_OPEN_LEN (sizeof ph_open - 1)

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

/* The next placeholder at or after *pos: 1 with [*start, *end) spanning
 * "${vault:NAME}" and name/nlen set, 0 when there is none, -1 if malformed. */
static int ph_next(const char *s, size_t len, size_t pos, size_t *start, size_t *end, const char **name,
		   size_t *nlen)
{
	if (pos >= len)
		return 0;
	const char *p = memmem(s + pos, len - pos, ph_open, PH_OPEN_LEN);
	if (!p)
		return 0;
	size_t i = (size_t)(p - s) + PH_OPEN_LEN, n = 0;
	/* bounded: never look further than one name past the opener */
	while (i + n < len && n <= PH_NAME_MAX && name_char(s[i + n]))
		n++;
	if (n == 0 || n > PH_NAME_MAX || i + n >= len || s[i + n] != '}')
		return -1;
	*start = (size_t)(p - s);
	*end = i + n + 1;
	*name = s + i;
	*nlen = n;
	return 1;
}

int ph_scan(const char *s, size_t len, int (*cb)(const char *name, size_t nlen, void *arg), void *arg)
{
	size_t pos = 0, start, end, nlen;
	const char *name;
	int found = 0, r;
	if (!s)
		return 0;
	while ((r = ph_next(s, len, pos, &start, &end, &name, &nlen)) == 1) {
		if (found == INT_MAX)
			return -1;
		if (cb && cb(name, nlen, arg) == -1)
			return -1;
		found++;
		pos = end;
	}
	return r < 0 ? -1 : found;
}

static const struct ph_value *lookup(const struct ph_value *vals, size_t nvals, const char *name, size_t nlen)
{
	for (size_t i = 0; i < nvals; i++)
		if (vals[i].name && strlen(vals[i].name) == nlen && !memcmp(vals[i].name, name, nlen))
			return &vals[i];
	return NULL;
}

char *ph_substitute(const char *s, size_t len, const struct ph_value *vals, size_t nvals, size_t *outlen)
{
	size_t pos = 0, start, end, nlen, total = 0;
	const char *name;
	int r;
	if (!s && len)
		return NULL;
	/* first pass: validate everything and size the result, so no partial
	 * copy holding secrets is ever left behind */
	while ((r = ph_next(s, len, pos, &start, &end, &name, &nlen)) == 1) {
		const struct ph_value *v = lookup(vals, nvals, name, nlen);
		if (!v || (!v->value && v->vlen))
			return NULL;
		size_t add = (start - pos) + v->vlen;
		if (total > SIZE_MAX - 1 - add)
			return NULL;
		total += add;
		pos = end;
	}
	if (r < 0 || total > SIZE_MAX - 1 - (len - pos))
		return NULL;
	total += len - pos;

	char *out = xmalloc(total + 1), *w = out;
	pos = 0;
	while (ph_next(s, len, pos, &start, &end, &name, &nlen) == 1) {
		const struct ph_value *v = lookup(vals, nvals, name, nlen);
		memcpy(w, s + pos, start - pos);
		w += start - pos;
		if (v->vlen)
			memcpy(w, v->value, v->vlen);
		w += v->vlen;
		pos = end;
	}
	if (len > pos)
		memcpy(w, s + pos, len - pos);
	w += len - pos;
	*w = '\0';
	if (outlen)
		*outlen = total;
	return out;
}
