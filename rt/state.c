/* state.c - states and gradient files (see state.h). */
#include "state.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"


void nas_format_shape(char *buf, size_t n, int rank, const int64_t *shape)
{
	/* Room for ST_MAX_RANK 20-digit dimensions, their commas and brackets. */
	char tmp[8 + ST_MAX_RANK * 21];
	size_t k = 0;
	tmp[k++] = '[';
	for (int i = 0; i < rank && i < ST_MAX_RANK; i++)
		k += (size_t)sprintf(tmp + k, "%s%" PRId64, i ? "," : "", shape[i]);
	tmp[k++] = ']';
	tmp[k] = '\0';
	snprintf(buf, n, "%s", tmp);
}

void state_init(const NasProgram *p, uint64_t seed, float *params)
{
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		float *w = params + t->offset;
		switch (t->kind) {
		case NAS_CONV:
		case NAS_LINEAR:
		case NAS_BIAS:
			init_uniform(w, t->numel, init_fan_in_bound(t->fan_in), seed, (uint64_t)i);
			break;
		case NAS_BN_GAMMA:
			init_constant(w, t->numel, 1.0f);
			break;
		case NAS_BN_BETA:
			init_constant(w, t->numel, 0.0f);
			break;
		case NAS_ALPHA:
			init_normal(w, t->numel, 1e-3, seed, (uint64_t)i);
			break;
		case NAS_BN_MEAN:
		case NAS_BN_VAR:
			break;  /* never in the parameter table */
		}
	}
}

/* ---- loading ---- */

static int same_shape(const NasTensor *t, const StTensor *s)
{
	if (t->rank != s->rank)
		return 0;
	for (int d = 0; d < t->rank; d++)
		if (t->shape[d] != s->shape[d])
			return 0;
	return 1;
}

/* The index in p's table of the tensor called name, or -1.  Only error
 * paths ask, so a linear search is fine. */
static int table_index(const NasProgram *p, const char *name)
{
	for (int i = 0; i < p->ntensors; i++)
		if (strcmp(p->tensors[i].name, name) == 0)
			return i;
	return -1;
}

static int is_running(const NasProgram *p, const char *name)
{
	for (int i = 0; i < p->nrunning_tensors; i++)
		if (strcmp(p->running_tensors[i].name, name) == 0)
			return 1;
	return 0;
}

static int is_allowed(const char *name, const char *const *allow, int nallow)
{
	for (int i = 0; i < nallow; i++)
		if (strcmp(allow[i], name) == 0)
			return 1;
	return 0;
}

/* The first tensor of f that p does not have and allow does not name, or
 * NULL. */
static const StTensor *first_extra(const NasProgram *p, const StFile *f, const char *const *allow,
				   int nallow)
{
	for (size_t j = 0; j < f->ntensors; j++) {
		const char *name = f->tensors[j].name;
		if (table_index(p, name) < 0 && !is_running(p, name) &&
		    !is_allowed(name, allow, nallow))
			return &f->tensors[j];
	}
	return NULL;
}

/* Copies s (F32 or F64, shape already checked) into the block, refusing
 * values that are not finite or do not fit the block's real. */
static int load_tensor(const NasProgram *p, const char *path, const StTensor *s, void *block,
		       int64_t offset, char *err, size_t errlen)
{
	for (int64_t k = 0; k < s->numel; k++) {
		double v = s->dtype == ST_F32 ? (double)((const float *)s->data)[k]
					      : ((const double *)s->data)[k];
		if (!isfinite(v))
			return st_errorf(err, errlen, path, "tensor %s holds %s at element %" PRId64
				    " (a state must be finite)", s->name,
				    isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf", k);
		if (p->real_size == 8) {
			((double *)block)[offset + k] = v;
		} else {
			float f = (float)v;
			if (!isfinite(f))
				return st_errorf(err, errlen, path, "tensor %s element %" PRId64
					    " = %g does not fit in f32", s->name, k, v);
			((float *)block)[offset + k] = f;
		}
	}
	return 0;
}

int state_read_tensors(const NasProgram *p, const char *path, const StFile *f,
		      const NasTensor *table, int n, void *block, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		const NasTensor *t = &table[i];
		/* A state written by nasc has the table's order: try there first. */
		const StTensor *s = (size_t)i < f->ntensors && strcmp(f->tensors[i].name, t->name) == 0
					    ? &f->tensors[i]
					    : st_find(f, t->name);
		if (!s) {
			const StTensor *x = first_extra(p, f, NULL, 0);
			if (x)
				return st_errorf(err, errlen, path,
					    "tensor %s is missing, and the file has a tensor %s that "
					    "the program does not (is it a state of another spec?)",
					    t->name, x->name);
			if (t->kind == NAS_BN_MEAN || t->kind == NAS_BN_VAR)
				return st_errorf(err, errlen, path,
					    "tensor %s is missing: the state has no batch-norm running "
					    "statistics (states written by init and search have them)",
					    t->name);
			return st_errorf(err, errlen, path, "tensor %s is missing (the program has %d "
				    "tensors, the file %zu)", t->name, p->ntensors, f->ntensors);
		}
		if (s->dtype != ST_F32 && s->dtype != ST_F64)
			return st_errorf(err, errlen, path,
				    "tensor %s has dtype %s, the program expects F32 (or F64)",
				    t->name, st_dtype_name(s->dtype));
		if (!same_shape(t, s)) {
			char want[128], got[128];
			nas_format_shape(want, sizeof want, t->rank, t->shape);
			nas_format_shape(got, sizeof got, s->rank, s->shape);
			return st_errorf(err, errlen, path,
				    "tensor %s has shape %s, the program expects %s", t->name, got,
				    want);
		}
		if (load_tensor(p, path, s, block, t->offset, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static int check_tensors(const NasProgram *p, const char *path, const StFile *f, void *params,
			 void *running, const char *const *allow, int nallow, char *err,
			 size_t errlen)
{
	if (state_read_tensors(p, path, f, p->tensors, p->ntensors, params, err, errlen) != 0 ||
	    (running && state_read_tensors(p, path, f, p->running_tensors, p->nrunning_tensors, running,
				   err, errlen) != 0))
		return -1;
	const StTensor *x = first_extra(p, f, allow, nallow);
	if (x)
		return st_errorf(err, errlen, path,
			    "unexpected tensor %s: the program has no tensor of that name (is "
			    "this a state of another spec?)", x->name);
	return 0;
}

int state_load(const NasProgram *p, const char *path, void *params, void *running, char *err,
	       size_t errlen)
{
	StFile f;
	if (st_read(path, &f, err, errlen) != 0)
		return -1;
	int rc = check_tensors(p, path, &f, params, running, NULL, 0, err, errlen);
	st_free(&f);
	return rc;
}

int state_load_file(const NasProgram *p, const char *path, StFile *f, void *params,
		    const char *const *allow, int nallow, char *err, size_t errlen)
{
	if (st_read(path, f, err, errlen) != 0)
		return -1;
	if (check_tensors(p, path, f, params, NULL, allow, nallow, err, errlen) != 0) {
		st_free(f);
		return -1;
	}
	return 0;
}

/* ---- saving ---- */

static int64_t max_numel(const NasTensor *table, int n, int64_t m)
{
	for (int i = 0; i < n; i++)
		if (table[i].numel > m)
			m = table[i].numel;
	return m;
}

int state_add_tensors(StFile *f, const char *path, const NasTensor *table, int n,
		      const void *block, int real_size, StDtype dt, char *err, size_t errlen)
{
	size_t es = st_dtype_size(dt);
	void *buf = malloc((size_t)max_numel(table, n, 1) * es);
	if (!buf)
		return st_errorf(err, errlen, path, "out of memory");
	for (int i = 0; i < n; i++) {
		const NasTensor *t = &table[i];
		for (int64_t k = 0; k < t->numel; k++) {
			double v = nas_real_get(block, real_size, t->offset + k);
			if (dt == ST_F64)
				((double *)buf)[k] = v;
			else
				((float *)buf)[k] = (float)v;
		}
		if (st_add(f, t->name, dt, t->rank, t->shape, buf) != 0) {
			free(buf);
			return st_errorf(err, errlen, path, "cannot store tensor %s (out of memory?)",
				    t->name);
		}
	}
	free(buf);
	return 0;
}

int state_save(const NasProgram *p, const char *path, const void *block, const void *running,
	       int real_size, StDtype dt, const char *const *kv, int nkv, char *err,
	       size_t errlen)
{
	StFile f;
	st_init(&f);
	int rc = state_begin(p, &f, path, kv, nkv, err, errlen);
	if (rc == 0)
		rc = state_add_tensors(&f, path, p->tensors, p->ntensors, block, real_size, dt, err,
				       errlen);
	if (rc == 0 && running)
		rc = state_add_tensors(&f, path, p->running_tensors, p->nrunning_tensors, running,
				       real_size, dt, err, errlen);
	if (rc == 0)
		rc = st_write(path, &f, err, errlen);
	st_free(&f);
	return rc;
}

int state_begin(const NasProgram *p, StFile *f, const char *path, const char *const *kv, int nkv,
		char *err, size_t errlen)
{
	if (st_set_meta(f, "spec", p->spec) != 0 || st_set_meta(f, "config", p->config) != 0 ||
	    st_set_meta(f, "nasc_version", p->nasc_version) != 0)
		return st_errorf(err, errlen, path, "out of memory");
	for (int i = 0; i < nkv; i++)
		if (st_set_meta(f, kv[2 * i], kv[2 * i + 1]) != 0)
			return st_errorf(err, errlen, path, "out of memory");
	return 0;
}

void state_init_running(const NasProgram *p, void *running, int real_size)
{
	for (int i = 0; i < p->nrunning_tensors; i++) {
		const NasTensor *t = &p->running_tensors[i];
		double v = t->kind == NAS_BN_VAR ? 1.0 : 0.0;
		for (int64_t k = 0; k < t->numel; k++)
			if (real_size == 8)
				((double *)running)[t->offset + k] = v;
			else
				((float *)running)[t->offset + k] = (float)v;
	}
}
