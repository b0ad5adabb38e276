/* batch.c - batch files (see batch.h). */
#include "batch.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "safetensors.h"
#include "state.h"


static const char batch_layout[] = "a batch holds x, F32 [B,C,H,W], and y, I64 [B]";

/* The tensor called name, with dtype dt and shape want (rank 1 or 4); the
 * leading dimension is the batch size and gets its own message. */
static const StTensor *expect(const NasProgram *p, const char *path, const StFile *f,
			      const char *name, StDtype dt, int rank, const int64_t *want,
			      char *err, size_t errlen)
{
	const StTensor *t = st_find(f, name);
	if (!t) {
		st_errorf(err, errlen, path, "tensor %s is missing (%s)", name, batch_layout);
		return NULL;
	}
	if (t->dtype != dt) {
		st_errorf(err, errlen, path, "tensor %s has dtype %s, the program expects %s", name,
		     st_dtype_name(t->dtype), st_dtype_name(dt));
		return NULL;
	}
	int rest_same = t->rank == rank; /* all but the batch dimension */
	for (int d = 1; rest_same && d < rank; d++)
		rest_same = t->shape[d] == want[d];
	if (rest_same && t->shape[0] == want[0])
		return t;
	if (rest_same) {
		st_errorf(err, errlen, path,
		     "tensor %s holds a batch of %" PRId64 ", but the program was compiled for "
		     "batch %" PRId64 " (the batch size is compiled in)", name, t->shape[0],
		     p->batch);
		return NULL;
	}
	char w[128], g[128];
	nas_format_shape(w, sizeof w, rank, want);
	nas_format_shape(g, sizeof g, t->rank, t->shape);
	st_errorf(err, errlen, path, "tensor %s has shape %s, the program expects %s", name, g, w);
	return NULL;
}

static int check_batch(const NasProgram *p, const char *path, const StFile *f, NasBatch *b,
		       char *err, size_t errlen)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (strcmp(f->tensors[i].name, "x") != 0 && strcmp(f->tensors[i].name, "y") != 0)
			return st_errorf(err, errlen, path, "unexpected tensor %s (%s, nothing else)",
				    f->tensors[i].name, batch_layout);
	const int64_t xshape[4] = {p->batch, p->in_c, p->in_h, p->in_w};
	const StTensor *x = expect(p, path, f, "x", ST_F32, 4, xshape, err, errlen);
	if (!x)
		return -1;
	const StTensor *y = expect(p, path, f, "y", ST_I64, 1, xshape, err, errlen);
	if (!y)
		return -1;

	const float *xs = x->data;
	for (int64_t k = 0; k < x->numel; k++)
		if (!isfinite(xs[k]))
			return st_errorf(err, errlen, path, "tensor x holds %s at element %" PRId64
				    " (images must be finite)",
				    isnan(xs[k]) ? "NaN" : xs[k] > 0 ? "+inf" : "-inf", k);
	const int64_t *ys = y->data;
	for (int64_t k = 0; k < y->numel; k++)
		if (ys[k] < 0 || ys[k] >= p->classes)
			return st_errorf(err, errlen, path,
				    "label y[%" PRId64 "] = %" PRId64 " is out of range: the program "
				    "has %" PRId64 " classes, 0 to %" PRId64, k, ys[k], p->classes,
				    p->classes - 1);

	b->x = nas_alloc64_array((size_t)x->numel, (size_t)p->real_size);
	b->y = nas_alloc64_array((size_t)y->numel, sizeof *b->y);
	if (!b->x || !b->y)
		return st_errorf(err, errlen, path, "out of memory");
	for (int64_t k = 0; k < x->numel; k++) {
		if (p->real_size == 8)
			((double *)b->x)[k] = xs[k];
		else
			((float *)b->x)[k] = xs[k];
	}
	memcpy(b->y, ys, y->nbytes);
	return 0;
}

int batch_load(const NasProgram *p, const char *path, NasBatch *b, char *err, size_t errlen)
{
	b->x = NULL;
	b->y = NULL;
	StFile f;
	if (st_read(path, &f, err, errlen) != 0)
		return -1;
	int rc = check_batch(p, path, &f, b, err, errlen);
	st_free(&f);
	if (rc != 0)
		batch_free(b);
	return rc;
}

void batch_free(NasBatch *b)
{
	free(b->x);
	free(b->y);
	b->x = NULL;
	b->y = NULL;
}
