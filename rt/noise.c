/* noise.c - the random values of noise candidates (nas_noise_f32/f64 of
 * nasrt.h).
 *
 * Noise number `value` of a program at step `step` of a search seeded
 * `seed` is stream
 *
 *     2^63 | step << 20 | value
 *
 * of the seed, from its start: different values and different steps never
 * share a stream, a value's noise does not depend on how many other noise
 * candidates the program has, and the top bit keeps every noise stream
 * apart from the initialization streams (stream i for tensor i), so a
 * search that reuses its init seed draws noise unrelated to its initial
 * weights.  Hence value < 2^20 and step < 2^43, which are asserted. */
#include "nasrt.h"

#include <assert.h>

#include "rng.h"

enum { NOISE_VALUE_BITS = 20 };
#define NOISE_TAG (UINT64_C(1) << 63)
#define NOISE_MAX_STEP (UINT64_C(1) << (63 - NOISE_VALUE_BITS))

static uint64_t noise_stream(const NasRun *run, int value)
{
	assert(value >= 0 && value < (1 << NOISE_VALUE_BITS));
	assert(run->step < NOISE_MAX_STEP);
	return NOISE_TAG | run->step << NOISE_VALUE_BITS | (uint64_t)value;
}

void nas_noise_f32(float *out, int64_t n, const NasRun *run, int value)
{
	rng_fill_normal(out, n, run->seed, noise_stream(run, value), 0);
}

void nas_noise_f64(double *out, int64_t n, const NasRun *run, int value)
{
	/* The same samples as the f32 build, widened: an f64 build is for
	 * checking an f32 one, so both must see the same noise. */
	uint64_t stream = noise_stream(run, value);
	float chunk[256];
	for (int64_t i = 0; i < n; i += 256) {
		int64_t m = n - i < 256 ? n - i : 256;
		rng_fill_normal(chunk, m, run->seed, stream, (uint64_t)i);
		for (int64_t k = 0; k < m; k++)
			out[i + k] = chunk[k];
	}
}
