#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "secmem.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *secmem_alloc(size_t n, size_t *maplen)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	*maplen = (n ? n + pg - 1 : pg) / pg * pg;
	void *p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatalx("mmap");
	static int warned;
	if (mlock(p, *maplen) < 0 && !warned++)
		log_warn("mlock failed (%s): secrets may reach swap", strerror(errno));
	madvise(p, *maplen, MADV_DONTDUMP);
	return p;
}

void secmem_free(void *p, size_t maplen)
{
	if (!p)
		return;
	explicit_bzero(p, maplen);
	munlock(p, maplen);
	munmap(p, maplen);
}
