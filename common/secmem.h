/* Pages for secrets: locked in RAM (best effort: RLIMIT_MEMLOCK may say
 * no), left out of core dumps, wiped before they are given back. */
#ifndef HD_SECMEM_H
#define HD_SECMEM_H

#include <stddef.h>

/* At least n bytes, zeroed; *maplen gets the mapped size for secmem_free. */
void *secmem_alloc(size_t n, size_t *maplen);
void secmem_free(void *p, size_t maplen);

#endif
