/* alloc.c - aligned buffers (see alloc.h). */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *nas_alloc64(size_t size)
{
	/* aligned_alloc wants a multiple of the alignment. */
	if (size > SIZE_MAX - 63)
		return NULL;
	size_t n = size ? (size + 63) / 64 * 64 : 64;
	void *p = aligned_alloc(64, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *nas_alloc64_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return nas_alloc64(n * size);
}
