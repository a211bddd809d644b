#include "registry.h"

#include <string.h>

static const struct {
	const struct pack_def *t;
	const size_t *n;
} families[] = {
	{artifact_packs, &artifact_packs_n},
	{test_packs, &test_packs_n},
	{fs_packs, &fs_packs_n},
	{exec_packs, &exec_packs_n},
	{browser_packs, &browser_packs_n},
	{http_packs, &http_packs_n},
};

size_t pack_count(void)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		n += *families[i].n;
	return n;
}

const struct pack_def *pack_at(size_t i)
{
	for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
		if (i < *families[f].n)
			return &families[f].t[i];
		i -= *families[f].n;
	}
	return NULL;
}

int pack_latest_version(const char *name, int test_packs_on)
{
	int best = 0;
	for (size_t i = 0; i < pack_count(); i++) {
		const struct pack_def *p = pack_at(i);
		if (strcmp(p->name, name) || (p->test_only && !test_packs_on))
			continue;
		if (p->version > best)
			best = p->version;
	}
	return best;
}

const struct pack_def *pack_find(const char *name, int version, int test_packs_on)
{
	if (version == 0)
		version = pack_latest_version(name, test_packs_on);
	for (size_t i = 0; i < pack_count(); i++) {
		const struct pack_def *p = pack_at(i);
		if (!strcmp(p->name, name) && p->version == version && (!p->test_only || test_packs_on))
			return p;
	}
	return NULL;
}
