/* rt_noise.c - the noise of noise candidates (rt/noise.c): which stream
 * it comes from, that values and steps never share one, that it stays
 * apart from the initialization streams, and that an f64 build sees the
 * very samples of an f32 one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nasrt.h"
#include "rng.h"

enum { N = 1000 };

static NasRun run_at(uint64_t seed, uint64_t step)
{
	NasRun r;
	memset(&r, 0, sizeof r);
	r.seed = seed;
	r.step = step;
	return r;
}

/* The stream is 2^63 | step << 20 | value, as noise.c documents. */
static void test_stream_formula(void **state)
{
	(void)state;
	static float a[N], b[N];
	NasRun r = run_at(42, 7);
	nas_noise_f32(a, N, &r, 5);
	rng_fill_normal(b, N, 42, UINT64_C(1) << 63 | UINT64_C(7) << 20 | 5, 0);
	assert_memory_equal(a, b, sizeof a);
}

static void test_deterministic(void **state)
{
	(void)state;
	static float a[N], b[N];
	NasRun r = run_at(3, 2);
	nas_noise_f32(a, N, &r, 1);
	nas_noise_f32(b, N, &r, 1);
	assert_memory_equal(a, b, sizeof a);
}

static int differs(const float *a, const float *b, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += a[i] != b[i];
	return k == n;
}

/* Each of these pairs would collide under a careless packing such as
 * step + value or step * 2^k + value with a small k. */
static void test_distinct_streams(void **state)
{
	(void)state;
	static float base[N], other[N];
	NasRun r0 = run_at(9, 0), r1 = run_at(9, 1), r2 = run_at(9, 2);
	nas_noise_f32(base, N, &r1, 0);
	nas_noise_f32(other, N, &r0, 1);
	assert_true(differs(base, other, N));
	nas_noise_f32(other, N, &r1, 1);
	assert_true(differs(base, other, N));
	nas_noise_f32(other, N, &r2, 0);
	assert_true(differs(base, other, N));
	nas_noise_f32(other, N, &r0, (1 << 20) - 1);
	assert_true(differs(base, other, N));
	NasRun s = run_at(10, 1);
	nas_noise_f32(other, N, &s, 0);
	assert_true(differs(base, other, N));
}

/* Tensor i is initialized from stream i of the seed: noise never is. */
static void test_apart_from_init(void **state)
{
	(void)state;
	static float a[N], b[N];
	NasRun r = run_at(1, 0);
	for (int v = 0; v < 4; v++) {
		nas_noise_f32(a, N, &r, v);
		rng_fill_normal(b, N, 1, (uint64_t)v, 0);
		assert_true(differs(a, b, N));
	}
}

/* Across the f64 version's chunks (N is not a multiple of them). */
static void test_f64_widens_f32(void **state)
{
	(void)state;
	static float a[N];
	static double d[N];
	NasRun r = run_at(77, 12345);
	nas_noise_f32(a, N, &r, 3);
	nas_noise_f64(d, N, &r, 3);
	for (int i = 0; i < N; i++)
		assert_true(d[i] == (double)a[i]);
}

static void test_looks_normal(void **state)
{
	(void)state;
	static float a[100000];
	NasRun r = run_at(5, 1);
	nas_noise_f32(a, 100000, &r, 0);
	double s = 0, ss = 0;
	for (int i = 0; i < 100000; i++) {
		s += a[i];
		ss += (double)a[i] * a[i];
	}
	double mean = s / 100000, var = ss / 100000 - mean * mean;
	/* Standard errors: 0.003 for the mean, 0.0045 for the variance. */
	assert_true(mean > -0.02 && mean < 0.02);
	assert_true(var > 0.97 && var < 1.03);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_formula),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_distinct_streams),
		cmocka_unit_test(test_apart_from_init),
		cmocka_unit_test(test_f64_widens_f32),
		cmocka_unit_test(test_looks_normal),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
