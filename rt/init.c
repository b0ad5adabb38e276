/* init.c - initial values (see init.h). */
#include "init.h"

#include <math.h>

#include "rng.h"

double init_fan_in_bound(int64_t fan_in)
{
	return fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
}

void init_uniform(float *w, int64_t n, double bound, uint64_t seed, uint64_t stream)
{
	rng_fill_uniform(w, n, seed, stream, 0);
	for (int64_t i = 0; i < n; i++)
		w[i] = (float)((2.0 * w[i] - 1.0) * bound);
}

void init_normal(float *w, int64_t n, double std, uint64_t seed, uint64_t stream)
{
	rng_fill_normal(w, n, seed, stream, 0);
	for (int64_t i = 0; i < n; i++)
		w[i] = (float)(w[i] * std);
}

void init_constant(float *w, int64_t n, float v)
{
	for (int64_t i = 0; i < n; i++)
		w[i] = v;
}
