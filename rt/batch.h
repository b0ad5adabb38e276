/* batch.h - batch files: the images and labels a program runs on.
 *
 * A batch holds two tensors, x (F32 [B, C, H, W]) and y (I64 [B]), with B,
 * C, H and W those the program was compiled for (the batch size is
 * compiled in) and every label in [0, classes). */
#ifndef NASC_BATCH_H
#define NASC_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "nasrt.h"

typedef struct NasBatch {
	void *x;        /* batch * in_c * in_h * in_w reals of the program's real_size */
	int64_t *y;     /* batch labels */
} NasBatch;

/* Reads and validates path as a batch for p into *b (x converted to the
 * program's real).  Returns 0, or -1 with b empty and "PATH: message" in
 * err. */
int batch_load(const NasProgram *p, const char *path, NasBatch *b, char *err, size_t errlen);
void batch_free(NasBatch *b);

#endif
