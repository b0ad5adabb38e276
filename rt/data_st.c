/* data_st.c - the simple dataset format, for any image set that is not
 * MNIST- or CIFAR-shaped: DIR/train.safetensors and DIR/test.safetensors,
 * each holding `x`, U8 or F32 [N, C, H, W], and `y`, any integer type
 * [N].  The class count is the metadata value "classes" when the file
 * has one, else the largest label + 1.  The pixels st_read allocated
 * become the dataset's (a big dataset is not copied); the labels are
 * widened to int64. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"
#include "safetensors.h"
#include "state.h"

static const char st_layout[] =
	"a dataset file holds x, U8 or F32 [N,C,H,W], and y, an integer type [N]";

/* Label k of y; -1 when it does not fit an int64 (a U64 above 2^63 - 1). */
static int label_at(const StTensor *y, int64_t k, int64_t *v)
{
	const void *p = y->data;
	switch (y->dtype) {
	case ST_U8: *v = ((const uint8_t *)p)[k]; return 0;
	case ST_I8: *v = ((const int8_t *)p)[k]; return 0;
	case ST_U16: *v = ((const uint16_t *)p)[k]; return 0;
	case ST_I16: *v = ((const int16_t *)p)[k]; return 0;
	case ST_U32: *v = ((const uint32_t *)p)[k]; return 0;
	case ST_I32: *v = ((const int32_t *)p)[k]; return 0;
	case ST_I64: *v = ((const int64_t *)p)[k]; return 0;
	case ST_U64: {
		uint64_t u = ((const uint64_t *)p)[k];
		*v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
		return u > INT64_MAX ? -1 : 0;
	}
	default: return -1;
	}
}

/* The "classes" metadata value: 0 when there is none, -1 when it is not a
 * class count. */
static int64_t meta_classes(const StFile *f, const char *path, char *err, size_t errlen)
{
	const char *s = st_meta(f, "classes");
	if (!s)
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || v < 1 || v > DATA_MAX_CLASSES)
		return st_errorf(err, errlen, path,
				 "metadata classes = \"%s\": expected a whole number, 1 to %" PRId64,
				 s, DATA_MAX_CLASSES);
	return v;
}

static int check_labels(const char *path, const StFile *f, const StTensor *y, Dataset *d,
			char *err, size_t errlen)
{
	int64_t classes = meta_classes(f, path, err, errlen), top = -1;
	if (classes < 0)
		return -1;
	char why[96];
	if (classes)
		snprintf(why, sizeof why, "the metadata says %" PRId64 " classes", classes);
	else
		snprintf(why, sizeof why, "a dataset has at most %" PRId64 " classes",
			 DATA_MAX_CLASSES);
	int64_t limit = classes ? classes : DATA_MAX_CLASSES;
	for (int64_t k = 0; k < y->numel; k++) {
		int64_t v;
		if (label_at(y, k, &v) != 0)
			return st_errorf(err, errlen, path,
					 "image %" PRId64 " has label %" PRIu64 ", out of range: %s (0 to %"
					 PRId64 ")", k, ((const uint64_t *)y->data)[k], why, limit - 1);
		if (v < 0 && !classes)
			return st_errorf(err, errlen, path,
					 "image %" PRId64 " has label %" PRId64 ", out of range: labels "
					 "are class numbers, 0 or more", k, v);
		if (v < 0 || v >= limit)
			return data_bad_label(err, errlen, path, "image", k, v, limit, why);
		top = v > top ? v : top;
		d->y[k] = v;
	}
	d->classes = classes ? classes : top + 1;
	return 0;
}

/* Moves x and y of f into d, checked. */
static int take(const char *path, StFile *f, Dataset *d, char *err, size_t errlen)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (strcmp(f->tensors[i].name, "x") != 0 && strcmp(f->tensors[i].name, "y") != 0)
			return st_errorf(err, errlen, path, "unexpected tensor %s (%s, nothing else)",
					 f->tensors[i].name, st_layout);
	/* f is ours: its tensors may be taken. */
	StTensor *x = (StTensor *)st_find(f, "x"), *y = (StTensor *)st_find(f, "y");
	if (!x || !y)
		return st_errorf(err, errlen, path, "tensor %s is missing (%s)", !x ? "x" : "y",
				 st_layout);
	char shape[128];
	if (x->dtype != ST_U8 && x->dtype != ST_F32)
		return st_errorf(err, errlen, path, "tensor x has dtype %s: expected U8 or F32",
				 st_dtype_name(x->dtype));
	if (x->rank != 4) {
		nas_format_shape(shape, sizeof shape, x->rank, x->shape);
		return st_errorf(err, errlen, path, "tensor x has shape %s: expected [N,C,H,W]",
				 shape);
	}
	if (!st_dtype_is_int(y->dtype))
		return st_errorf(err, errlen, path, "tensor y has dtype %s: expected an integer "
				 "type (U8, I8, U16, I16, U32, I32, U64 or I64)",
				 st_dtype_name(y->dtype));
	if (y->rank != 1) {
		nas_format_shape(shape, sizeof shape, y->rank, y->shape);
		return st_errorf(err, errlen, path, "tensor y has shape %s: expected [N]", shape);
	}
	if (y->shape[0] != x->shape[0])
		return st_errorf(err, errlen, path, "tensor y holds %" PRId64 " labels, but x holds %"
				 PRId64 " images", y->shape[0], x->shape[0]);
	if (data_check_shape(path, x->shape[0], x->shape[1], x->shape[2], x->shape[3],
			     (int64_t)st_dtype_size(x->dtype), err, errlen) != 0)
		return -1;
	if (x->dtype == ST_F32) {
		const float *v = x->data;
		for (int64_t k = 0; k < x->numel; k++)
			if (!isfinite(v[k]))
				return st_errorf(err, errlen, path,
						 "tensor x holds %s at element %" PRId64
						 " (pixels must be finite)",
						 isnan(v[k]) ? "NaN" : v[k] > 0 ? "+inf" : "-inf", k);
	}
	d->n = x->shape[0];
	d->c = x->shape[1];
	d->h = x->shape[2];
	d->w = x->shape[3];
	d->y = malloc((size_t)d->n * sizeof *d->y);
	if (!d->y)
		return st_errorf(err, errlen, path, "out of memory");
	if (check_labels(path, f, y, d, err, errlen) != 0)
		return -1;
	if (x->dtype == ST_U8)
		d->u8 = x->data;
	else
		d->f32 = x->data;
	x->data = NULL;
	return 0;
}

int data_load_st(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen)
{
	char path[DATA_PATH_MAX];
	if (data_join(path, dir, which == DATA_TRAIN ? "train.safetensors" : "test.safetensors",
		      err, errlen) != 0)
		return -1;
	StFile f;
	if (st_read(path, &f, err, errlen) != 0)
		return -1;
	int rc = take(path, &f, d, err, errlen);
	st_free(&f);
	return rc;
}
