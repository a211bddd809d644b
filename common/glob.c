#include "glob.h"

#include <ctype.h>

/* Iterative with one backtrack point: linear in practice, never recursive,
 * so a hostile pattern like "*a*a*a*b" cannot blow the stack. */
int glob_host_match(const char *p, const char *s)
{
	const char *star = 0, *resume = 0;
	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
		} else if (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

unsigned glob_wildcards(const char *p)
{
	unsigned n = 0;
	for (; *p; p++)
		n += *p == '*';
	return n;
}
