/* alloc.h - the runtime's big buffers (parameter blocks, gradients,
 * batches, the activation arena): 64-byte aligned, so generated kernels
 * may assume cache-line alignment of every buffer they are given. */
#ifndef NASC_ALLOC_H
#define NASC_ALLOC_H

#include <stddef.h>

/* size bytes (at least 64: a zero size still gives a buffer), aligned to
 * 64 and zeroed, or NULL; release with free(). */
void *nas_alloc64(size_t size);

/* n elements of size bytes through nas_alloc64, or NULL when n * size
 * overflows or memory runs out. */
void *nas_alloc64_array(size_t n, size_t size);

#endif
