/* state.h - files laid out like a program's parameter block: states
 * (every weight and alpha tensor of the program) and gradients (the same
 * tensors, the same names, the same order).
 *
 * A block is nparams reals of the program's real_size (float or double),
 * tensor after tensor at the offsets of the program's table.  Files store
 * the tensors in table order, under the table's names, with metadata
 * naming the spec, its config and the nasc version. */
#ifndef NASC_STATE_H
#define NASC_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "nasrt.h"
#include "safetensors.h"

/* Element i of a block of reals of size real_size (4 or 8). */
static inline double nas_real_get(const void *block, int real_size, int64_t i)
{
	return real_size == 8 ? ((const double *)block)[i] : ((const float *)block)[i];
}

/* Element i of such a block = v (rounded to float when real_size is 4). */
static inline void nas_real_set(void *block, int real_size, int64_t i, double v)
{
	if (real_size == 8)
		((double *)block)[i] = v;
	else
		((float *)block)[i] = (float)v;
}

/* "[16,1,3,3]" into buf; "[]" for a scalar. */
void nas_format_shape(char *buf, size_t n, int rank, const int64_t *shape);

/* The initial values of every tensor of p for seed, into params (nparams
 * floats: initialization is float whatever the build's real).  Tensor i of
 * the table draws from stream i of the seed. */
void state_init(const NasProgram *p, uint64_t seed, float *params);

/* Reads path as a state of p into params (nparams reals of p->real_size)
 * and, when running is not NULL, its batch-norm running statistics into
 * running (nrunning reals).  The file must hold every tensor of p's table,
 * found by name, each F32 or F64 with the compiled shape and finite
 * values, the running statistics too when they are asked for, and nothing
 * else (running statistics that are not asked for are skipped).  Returns
 * 0, or -1 with "PATH: message" in err. */
int state_load(const NasProgram *p, const char *path, void *params, void *running, char *err,
	       size_t errlen);

/* state_load without running statistics, for a file that may hold more
 * than a state (a checkpoint): tensors named in allow[0..nallow) are
 * tolerated besides, not read.  On success f holds the file, for the
 * caller to read those from (st_free it); on failure f is empty.  Returns
 * 0, or -1 with "PATH: message" in err. */
int state_load_file(const NasProgram *p, const char *path, StFile *f, void *params,
		    const char *const *allow, int nallow, char *err, size_t errlen);

/* The pieces of state_load and state_save, for files that hold more (a
 * checkpoint).  state_read_tensors loads the n tensors of table into
 * block (at their offsets) from f, checked as state_load checks them;
 * state_begin sets f's metadata spec, config, nasc_version and the nkv
 * pairs of kv; state_add_tensors appends the n tensors of table from
 * block (reals of real_size) as dt.  Each returns 0, or -1 with "PATH:
 * message" in err. */
int state_read_tensors(const NasProgram *p, const char *path, const StFile *f,
		       const NasTensor *table, int n, void *block, char *err, size_t errlen);
int state_begin(const NasProgram *p, StFile *f, const char *path, const char *const *kv, int nkv,
		char *err, size_t errlen);
int state_add_tensors(StFile *f, const char *path, const NasTensor *table, int n,
		      const void *block, int real_size, StDtype dt, char *err, size_t errlen);

/* Running statistics as PyTorch starts them, means 0 and variances 1, into
 * nrunning reals of real_size. */
void state_init_running(const NasProgram *p, void *running, int real_size);

/* Writes block (nparams reals of real_size) to path: every tensor of the
 * table under its name, in table order, then (when running is not NULL,
 * nrunning reals) the running statistics, as dt (ST_F32 or ST_F64), with
 * metadata spec, config and nasc_version followed by the nkv pairs
 * kv[0] = kv[1], kv[2] = kv[3], ...  Atomic.  Returns 0, or -1 with
 * "PATH: message" in err. */
int state_save(const NasProgram *p, const char *path, const void *block, const void *running,
	       int real_size, StDtype dt, const char *const *kv, int nkv, char *err,
	       size_t errlen);

#endif
