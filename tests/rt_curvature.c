/* rt_curvature.c - the Hessian's eigenvalues (rt/curvature.c) on matrices
 * whose spectrum is known because the test made them: Q diag(d) Q^T,
 * with Q a product of Householder reflections of random vectors.  The
 * products H v come from a callback that counts its calls, can add a
 * skew-symmetric part, fail, or return NaN; the exact way is checked for
 * every eigenvalue, the block sizes it asks for and the asymmetry it
 * reports, Lanczos for the top eigenvalues, its iteration counts (printed
 * as TAP comments), degenerate and negative-dominant spectra, and its
 * determinism. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "curvature.h"

/* ---- matrices with a known spectrum ---- */

/* splitmix64: the test's own draws, apart from the runtime's rng.h. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double unif(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * (double)(mix(s) >> 11) * 0x1p-53;
}

/* A = Q diag(d) Q^T, n x n row-major, Q the product of 4 reflections
 * I - 2 u u^T / u^T u of random u: A <- P A P, twice a rank-one update. */
static double *known(int n, const double *d, uint64_t seed)
{
	double *a = calloc((size_t)n * n, sizeof *a), *u = malloc(n * sizeof *u);
	double *au = malloc(n * sizeof *au);
	assert_non_null(a);
	assert_non_null(u);
	assert_non_null(au);
	for (int i = 0; i < n; i++)
		a[(size_t)i * n + i] = d[i];
	for (int r = 0; r < 4 && n > 1; r++) {
		double uu = 0;
		for (int i = 0; i < n; i++) {
			u[i] = unif(&seed, -1, 1);
			uu += u[i] * u[i];
		}
		/* A P = A - (2/uu) (A u) u^T */
		for (int i = 0; i < n; i++) {
			au[i] = 0;
			for (int j = 0; j < n; j++)
				au[i] += a[(size_t)i * n + j] * u[j];
		}
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				a[(size_t)i * n + j] -= 2 / uu * au[i] * u[j];
		/* P (A P) = A P - (2/uu) u (u^T A P) */
		for (int j = 0; j < n; j++) {
			au[j] = 0;
			for (int i = 0; i < n; i++)
				au[j] += u[i] * a[(size_t)i * n + j];
		}
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				a[(size_t)i * n + j] -= 2 / uu * u[i] * au[j];
	}
	free(u);
	free(au);
	return a;
}

static int ascending(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* n distinct values in [lo, hi), ascending. */
static double *spectrum(int n, double lo, double hi, uint64_t seed)
{
	double *d = malloc(n * sizeof *d);
	assert_non_null(d);
	for (int i = 0; i < n; i++)
		d[i] = unif(&seed, lo, hi);
	qsort(d, n, sizeof *d, ascending);
	return d;
}

static double maxabs(const double *d, int n)
{
	double m = 0;
	for (int i = 0; i < n; i++)
		m = fmax(m, fabs(d[i]));
	return m;
}

/* ---- the products ---- */

typedef struct Op {
	int n;
	const double *a;        /* the matrix the products apply */
	int calls, vectors, max_block;
	int fail_at;            /* > 0: call number fail_at fails */
	const char *fail_msg;   /* its message (NULL: none written) */
	int nan_at;             /* > 0: call number nan_at returns NaN ... */
	int nan_entry;          /* ... at this entry of its first vector */
	double nan_value;
} Op;

static int hvp(void *ctx, int nv, const double *v, double *out, char *err, size_t errlen)
{
	Op *op = ctx;
	const int n = op->n;
	op->calls++;
	op->vectors += nv;
	if (nv > op->max_block)
		op->max_block = nv;
	if (op->calls == op->fail_at) {
		if (op->fail_msg)
			snprintf(err, errlen, "%s", op->fail_msg);
		return -1;
	}
	for (int b = 0; b < nv; b++)
		for (int i = 0; i < n; i++) {
			double s = 0;
			for (int j = 0; j < n; j++)
				s += op->a[(size_t)i * n + j] * v[(size_t)b * n + j];
			out[(size_t)b * n + i] = s;
		}
	if (op->calls == op->nan_at)
		out[op->nan_entry] = op->nan_value;
	return 0;
}

static Op op_of(int n, const double *a)
{
	return (Op){.n = n, .a = a};
}

/* ---- exact ---- */

static const int sizes[] = {1, 2, 7, 60, 224};

static void test_exact_spectrum(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		const int n = sizes[s];
		double *d = spectrum(n, -1, 1, 100 + n), *a = known(n, d, 200 + n);
		const double tol = 1e-12 * maxabs(d, n);
		const int blocks[] = {1, 5, n};
		for (int bi = 0; bi < 3; bi++) {
			const int block = blocks[bi];
			Op op = op_of(n, a);
			CurvResult r;
			char err[256] = "";
			assert_int_equal(curv_exact(n, hvp, &op, block, 0, &r, err, sizeof err), 0);
			assert_int_equal(r.n, n);
			assert_int_equal(r.neig, n);
			for (int i = 0; i < n; i++)
				assert_true(fabs(r.eig[i] - d[i]) <= tol);
			assert_true(r.lambda_max == r.eig[n - 1]);
			assert_int_equal(r.hvps, n);
			assert_int_equal(r.iters, 0);
			assert_true(r.residual == 0);
			assert_int_equal(r.converged, 1);
			/* Q D Q^T is symmetric up to its rounding. */
			assert_true(r.asymmetry < 1e-14);
			assert_int_equal(op.vectors, n);
			const int nb = block < n ? block : n;
			assert_int_equal(op.max_block, nb);
			assert_int_equal(op.calls, (n + nb - 1) / nb);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++) {
					assert_true(r.H[i * n + j] == r.H[j * n + i]);
					assert_true(fabs(r.H[i * n + j] - a[i * n + j]) <= 1e-14);
				}
			curv_free(&r);
			assert_null(r.eig);
			assert_null(r.H);
		}
		free(a);
		free(d);
	}
}

/* Rows with H 1_row = 0, as alpha's rows are: A = P B P, B of a known
 * spectrum and P the projection that removes each row's mean.  Knowing the
 * rows, curv_exact_rows asks for one product fewer per row, never for a
 * row's last entry, and still gets every eigenvalue and every entry of A;
 * rows that do not split the entries are refused. */
static void test_exact_rows(void **state)
{
	(void)state;
	const int len[] = {8, 8, 8, 1, 3, 8, 2}, nrows = 7;
	int n = 0;
	for (int i = 0; i < nrows; i++)
		n += len[i];
	double *d = spectrum(n, -1, 1, 41), *b = known(n, d, 42);
	/* P = I - blockdiag(1 1^T / len) */
	double *p = calloc((size_t)n * n, sizeof *p), *pb = calloc((size_t)n * n, sizeof *pb);
	double *a = calloc((size_t)n * n, sizeof *a);
	assert_non_null(p);
	assert_non_null(pb);
	assert_non_null(a);
	for (int r = 0, at = 0; r < nrows; at += len[r], r++)
		for (int i = at; i < at + len[r]; i++)
			for (int j = at; j < at + len[r]; j++)
				p[(size_t)i * n + j] = (i == j) - 1.0 / len[r];
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			for (int k = 0; k < n; k++)
				pb[(size_t)i * n + j] += p[(size_t)i * n + k] * b[(size_t)k * n + j];
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			for (int k = 0; k < n; k++)
				a[(size_t)i * n + j] += pb[(size_t)i * n + k] * p[(size_t)k * n + j];
	/* made symmetric to the last bit, as the products then are */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			a[(size_t)i * n + j] = a[(size_t)j * n + i];
	CurvRows rows = {.n = nrows, .len = len};
	CurvResult all, some;
	char err[256];
	Op op_all = op_of(n, a), op_some = op_of(n, a);
	assert_int_equal(curv_exact(n, hvp, &op_all, 4, 0.25, &all, err, sizeof err), 0);
	assert_int_equal(curv_exact_rows(n, hvp, &op_some, 4, &rows, 0.25, &some, err, sizeof err),
			 0);
	assert_int_equal(all.hvps, n);
	assert_int_equal(some.hvps, n - nrows);
	assert_int_equal(op_some.vectors, n - nrows);
	assert_int_equal(op_some.max_block, 4);
	for (int i = 0; i < n; i++)
		assert_true(fabs(some.eig[i] - all.eig[i]) <= 1e-13);
	for (int i = 0; i < n * n; i++)
		assert_true(fabs(some.H[i] - all.H[i]) <= 1e-13);
	/* a null direction per row: nrows eigenvalues at wd */
	int at_wd = 0;
	for (int i = 0; i < n; i++)
		at_wd += fabs(some.eig[i] - 0.25) <= 1e-12;
	assert_true(at_wd >= nrows);
	curv_free(&all);
	curv_free(&some);

	const int short_len[] = {8, 8}, zero_len[] = {8, 0, 30};
	CurvRows bad[] = {{.n = 2, .len = short_len}, {.n = 3, .len = zero_len}};
	for (int i = 0; i < 2; i++) {
		Op op = op_of(n, a);
		assert_int_equal(curv_exact_rows(n, hvp, &op, 1, &bad[i], 0, &some, err, sizeof err),
				 -1);
		assert_non_null(strstr(err, "do not split"));
		assert_int_equal(op.calls, 0);
		assert_null(some.eig);
	}
	free(a);
	free(pb);
	free(p);
	free(b);
	free(d);
}

/* wd I shifts every eigenvalue by wd and sits on H's diagonal. */
static void test_exact_weight_decay(void **state)
{
	(void)state;
	const int n = 60;
	const double wd = 0.3;
	double *d = spectrum(n, -2, 2, 7), *a = known(n, d, 8);
	Op op = op_of(n, a);
	CurvResult r;
	char err[256];
	assert_int_equal(curv_exact(n, hvp, &op, 8, wd, &r, err, sizeof err), 0);
	for (int i = 0; i < n; i++)
		assert_true(fabs(r.eig[i] - (d[i] + wd)) <= 1e-12 * 2);
	assert_true(fabs(r.lambda_max - (d[n - 1] + wd)) <= 1e-12 * 2);
	for (int i = 0; i < n; i++)
		assert_true(fabs(r.H[i * n + i] - (a[i * n + i] + wd)) <= 1e-15);
	curv_free(&r);
	free(a);
	free(d);
}

/* Products of S + K, K skew: the asymmetry is ||2K|| / ||S + K|| (S and K
 * are orthogonal under the Frobenius product), the eigenvalues S's. */
static void test_exact_asymmetric(void **state)
{
	(void)state;
	const int n = 30;
	double *d = spectrum(n, -1, 1, 11), *s = known(n, d, 12);
	double *m = malloc((size_t)n * n * sizeof *m);
	assert_non_null(m);
	uint64_t seed = 13;
	double ss = 0, kk = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++) {
			/* S exactly symmetric, K exactly skew */
			double sym = (s[i * n + j] + s[j * n + i]) / 2, k = i == j ? 0 : unif(&seed, -1e-3, 1e-3);
			m[i * n + j] = sym + k;
			m[j * n + i] = sym - k;
			ss += (i == j ? 1 : 2) * sym * sym;
			kk += 2 * k * k;
		}
	Op op = op_of(n, m);
	CurvResult r;
	char err[256];
	assert_int_equal(curv_exact(n, hvp, &op, 4, 0, &r, err, sizeof err), 0);
	double want = 2 * sqrt(kk) / sqrt(ss + kk);
	assert_true(want > 1e-4);
	assert_true(fabs(r.asymmetry - want) <= 1e-12 * want);
	for (int i = 0; i < n; i++)
		assert_true(fabs(r.eig[i] - d[i]) <= 1e-12);
	curv_free(&r);
	free(m);
	free(s);
	free(d);
}

/* ---- Lanczos ---- */

static CurvLanczos lz(int k, int max_iters, double tol, uint64_t seed)
{
	return (CurvLanczos){.k = k, .max_iters = max_iters, .tol = tol, .seed = seed, .stream = 5};
}

static void run_lanczos(int n, const double *a, double wd, CurvLanczos c, CurvResult *r,
			const char *what)
{
	Op op = op_of(n, a);
	char err[256] = "";
	assert_int_equal(curv_lanczos(n, hvp, &op, wd, &c, r, err, sizeof err), 0);
	assert_int_equal(op.calls, r->iters);
	assert_int_equal(op.vectors, r->iters);
	assert_int_equal(op.max_block, 1);
	assert_int_equal(r->hvps, r->iters);
	assert_int_equal(r->neig, c.k);
	assert_null(r->H);
	assert_true(isnan(r->asymmetry));
	for (int i = 1; i < r->neig; i++)
		assert_true(r->eig[i - 1] <= r->eig[i]);
	assert_true(r->lambda_max == r->eig[r->neig - 1]);
	/* the error bound is at most the residual, which bounds the error too */
	assert_true(r->bound <= r->residual);
	printf("# Lanczos, %s: n %d, k %d: %d iterations, residual %.3g, error bound %.3g, "
	       "converged %d\n", what, n, c.k, r->iters, r->residual, r->bound, r->converged);
}

/* Top eigenvalue 1, the rest in [0, 0.9): a 10% gap. */
static void test_lanczos_gap(void **state)
{
	(void)state;
	const int n = 224;
	double *d = spectrum(n, 0, 0.9, 21), *a;
	d[n - 1] = 1;
	a = known(n, d, 22);
	CurvResult r;
	run_lanczos(n, a, 0, lz(1, n, 1e-10, 1), &r, "10% gap");
	assert_true(fabs(r.lambda_max - 1) <= 1e-10);
	assert_true(r.converged);
	/* tol is met by the error bound, which holds: the gap is known */
	assert_true(r.bound <= 1e-10);
	assert_true(fabs(r.lambda_max - 1) <= r.bound);
	assert_true(r.iters < 40);
	curv_free(&r);

	/* wd shifts it, in as many iterations (the Krylov space is the same). */
	run_lanczos(n, a, 0.25, lz(1, n, 1e-10, 1), &r, "10% gap, wd 0.25");
	assert_true(fabs(r.lambda_max - 1.25) <= 1e-10 * 1.25);
	assert_true(r.iters < 40);
	curv_free(&r);
	free(a);
	free(d);
}

/* The top 5, spaced 0.1 apart above the rest. */
static void test_lanczos_top5(void **state)
{
	(void)state;
	const int n = 224;
	double *d = spectrum(n, -0.5, 0.5, 31), *a;
	for (int i = 0; i < 5; i++)
		d[n - 5 + i] = 0.6 + 0.1 * i;
	a = known(n, d, 32);
	CurvResult r;
	run_lanczos(n, a, 0, lz(5, n, 1e-10, 2), &r, "top 5");
	assert_true(r.converged);
	for (int i = 0; i < 5; i++)
		assert_true(fabs(r.eig[i] - d[n - 5 + i]) <= 1e-10 * fabs(d[n - 5 + i]));
	assert_true(r.iters < 60);
	curv_free(&r);
	free(a);
	free(d);
}

/* A top eigenvalue three times over, and a cluster 1e-9 wide. */
static void test_lanczos_degenerate(void **state)
{
	(void)state;
	const int n = 100;
	double *d = spectrum(n, -1, 0.8, 41), *a;
	d[n - 1] = d[n - 2] = d[n - 3] = 1;
	a = known(n, d, 42);
	CurvResult r;
	run_lanczos(n, a, 0, lz(1, n, 1e-10, 3), &r, "top eigenvalue x3");
	assert_true(fabs(r.lambda_max - 1) <= 1e-10);
	curv_free(&r);
	free(a);

	d[n - 2] = 1 - 0.5e-9;
	d[n - 3] = 1 - 1e-9;
	a = known(n, d, 43);
	run_lanczos(n, a, 0, lz(1, n, 1e-10, 3), &r, "cluster 1e-9 wide");
	assert_true(fabs(r.lambda_max - 1) <= 2e-9);
	curv_free(&r);
	free(a);
	free(d);
}

/* The largest in magnitude is -10, the largest algebraic 0.5: the answer
 * is 0.5. */
static void test_lanczos_negative_dominant(void **state)
{
	(void)state;
	const int n = 100;
	double *d = spectrum(n, -9, 0.25, 51), *a;
	d[0] = -10;
	d[n - 1] = 0.5;
	a = known(n, d, 52);
	CurvResult r;
	run_lanczos(n, a, 0, lz(1, n, 1e-10, 4), &r, "negative dominant");
	assert_true(r.converged);
	assert_true(fabs(r.lambda_max - 0.5) <= 1e-10 * 0.5);
	curv_free(&r);
	free(a);
	free(d);
}

static void test_lanczos_one(void **state)
{
	(void)state;
	const double a = 3.5;
	CurvResult r;
	run_lanczos(1, &a, 0.5, lz(1, 10, 1e-10, 5), &r, "n = 1");
	assert_true(r.lambda_max == 4);
	assert_int_equal(r.iters, 1);
	assert_true(r.converged);
	curv_free(&r);

	Op op = op_of(1, &a);
	char err[256];
	assert_int_equal(curv_exact(1, hvp, &op, 1, 0.5, &r, err, sizeof err), 0);
	assert_true(r.lambda_max == 4);
	curv_free(&r);
}

/* H = 0: the first product is 0, the space invariant at once; for k = 3,
 * fresh vectors go on in its complement. */
static void test_lanczos_zero(void **state)
{
	(void)state;
	const int n = 60;
	double *a = calloc((size_t)n * n, sizeof *a);
	assert_non_null(a);
	CurvResult r;
	run_lanczos(n, a, 0, lz(1, n, 1e-10, 6), &r, "zero");
	assert_int_equal(r.iters, 1);
	assert_true(r.lambda_max == 0);
	assert_true(r.residual == 0);
	assert_true(r.converged);
	curv_free(&r);

	run_lanczos(n, a, 0, lz(3, n, 1e-10, 6), &r, "zero, k = 3");
	assert_int_equal(r.iters, 3);
	for (int i = 0; i < 3; i++)
		assert_true(r.eig[i] == 0);
	curv_free(&r);

	/* wd I alone: still invariant at once */
	run_lanczos(n, a, 0.2, lz(1, n, 1e-10, 6), &r, "wd I");
	assert_int_equal(r.iters, 1);
	assert_true(fabs(r.lambda_max - 0.2) <= 1e-15);
	curv_free(&r);
	free(a);
}

/* n iterations span everything: T's eigenvalues are all of A's, tol 0
 * or not. */
static void test_lanczos_full(void **state)
{
	(void)state;
	const int n = 60;
	double *d = spectrum(n, -3, 1, 61), *a = known(n, d, 62);
	CurvResult r, e;
	run_lanczos(n, a, 0, lz(n, n + 10, 0, 7), &r, "max_iters = n, k = n");
	assert_int_equal(r.iters, n);
	assert_true(r.converged);
	Op op = op_of(n, a);
	char err[256];
	assert_int_equal(curv_exact(n, hvp, &op, n, 0, &e, err, sizeof err), 0);
	double worst = 0;
	for (int i = 0; i < n; i++) {
		worst = fmax(worst, fabs(r.eig[i] - d[i]));
		assert_true(fabs(r.eig[i] - e.eig[i]) <= 1e-12 * 3);
	}
	printf("# Lanczos, all %d eigenvalues: largest error %.3g\n", n, worst);
	assert_true(worst <= 1e-12 * 3);
	curv_free(&r);
	curv_free(&e);
	free(a);
	free(d);
}

static void test_lanczos_deterministic(void **state)
{
	(void)state;
	const int n = 80;
	double *d = spectrum(n, -1, 1, 71), *a = known(n, d, 72);
	CurvResult r1, r2, r3;
	run_lanczos(n, a, 0, lz(3, n, 1e-8, 99), &r1, "seed 99");
	run_lanczos(n, a, 0, lz(3, n, 1e-8, 99), &r2, "seed 99 again");
	run_lanczos(n, a, 0, lz(3, n, 1e-8, 100), &r3, "seed 100");
	assert_int_equal(r1.iters, r2.iters);
	assert_memory_equal(r1.eig, r2.eig, 3 * sizeof *r1.eig);
	assert_memory_equal(&r1.residual, &r2.residual, sizeof r1.residual);
	/* another seed: another start, the same answer */
	assert_true(r1.residual != r3.residual);
	assert_true(fabs(r1.lambda_max - r3.lambda_max) <= 1e-8);
	assert_true(fabs(r1.lambda_max - d[n - 1]) <= 1e-8);
	curv_free(&r1);
	curv_free(&r2);
	curv_free(&r3);
	free(a);
	free(d);
}

/* ---- refusals ---- */

/* A call that must have failed with a message containing want, r left
 * empty. */
static void refused(int rc, const CurvResult *r, const char *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_null(r->eig);
	assert_null(r->H);
	assert_int_equal(r->neig, 0);
	if (!strstr(err, want))
		fail_msg("\"%s\" does not say \"%s\"", err, want);
}

static void test_refusals(void **state)
{
	(void)state;
	const int n = 7;
	double *d = spectrum(n, -1, 1, 81), *a = known(n, d, 82);
	Op op = op_of(n, a);
	CurvResult r;
	char err[256];
	CurvLanczos c = lz(8, n, 1e-10, 1);
	refused(curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"cannot find 8 eigenvalues of a 7 x 7 Hessian");
	c = lz(0, n, 1e-10, 1);
	refused(curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"cannot find 0 eigenvalues");
	c = lz(3, 2, 1e-10, 1);
	refused(curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"at least k = 3 iterations, not 2");
	c = lz(1, n, -1, 1);
	refused(curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"tolerance must be >= 0");
	c = lz(1, n, NAN, 1);
	refused(curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"tolerance must be >= 0");
	c = lz(1, n, 1e-10, 1);
	refused(curv_lanczos(0, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"at least one parameter, not 0");
	refused(curv_exact(0, hvp, &op, 1, 0, &r, err, sizeof err), &r, err,
		"at least one parameter, not 0");
	refused(curv_exact(-3, hvp, &op, 1, 0, &r, err, sizeof err), &r, err,
		"at least one parameter, not -3");
	refused(curv_exact(n, hvp, &op, 0, 0, &r, err, sizeof err), &r, err,
		"basis vectors per product must be at least 1, not 0");
	refused(curv_exact(n, hvp, &op, 1, NAN, &r, err, sizeof err), &r, err,
		"weight decay on the Hessian's diagonal is nan");
	refused(curv_lanczos(n, NULL, &op, 0, &c, &r, err, sizeof err), &r, err,
		"no Hessian-vector product");
	/* Sizes that overflow are refused before anything is allocated. */
	refused(curv_exact(INT_MAX, hvp, &op, 1, 0, &r, err, sizeof err), &r, err,
		"does not fit in memory");
	c = lz(1, INT_MAX, 1e-10, 1);
	refused(curv_lanczos(INT_MAX, hvp, &op, 0, &c, &r, err, sizeof err), &r, err,
		"do not fit in memory");
	assert_int_equal(op.calls, 0);
	free(a);
	free(d);
}

/* Faulty products: the callback's own message comes back as it is
 * (without one, a generic one), a NaN or an infinity is named by its
 * entry and vector, and nothing more is asked of the callback. */
static const struct Fault {
	int lanczos, block;     /* Lanczos, or exact with this block */
	int fail_at;            /* Op's fields */
	const char *fail_msg;
	int nan_at, nan_entry;
	double nan_value;
	const char *want;       /* the whole message */
} faults[] = {
	{0, 2, 3, "grad_alpha: out of arena", 0, 0, 0, "grad_alpha: out of arena"},
	{1, 1, 2, "batch 4: label 11 is not a class", 0, 0, 0, "batch 4: label 11 is not a class"},
	{1, 1, 1, NULL, 0, 0, 0, "the Hessian-vector product failed"},
	/* call 2 of blocks of 3 holds e_3, e_4, e_5: entry 4 of e_3 */
	{0, 3, 0, NULL, 2, 4, NAN,
	 "the Hessian-vector product is not finite (NaN or Inf) at entry 4 of H e_3"},
	{1, 1, 0, NULL, 3, 0, -INFINITY,
	 "the Hessian-vector product is not finite (NaN or Inf) at entry 0 of H q_2"},
};

static void test_faulty_products(void **state)
{
	(void)state;
	const int n = 7;
	double *d = spectrum(n, -1, 1, 91), *a = known(n, d, 92);
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		const struct Fault *f = &faults[i];
		Op op = op_of(n, a);
		op.fail_at = f->fail_at;
		op.fail_msg = f->fail_msg;
		op.nan_at = f->nan_at;
		op.nan_entry = f->nan_entry;
		op.nan_value = f->nan_value;
		CurvResult r;
		char err[256];
		CurvLanczos c = lz(1, n, 0, 1);
		int rc = f->lanczos ? curv_lanczos(n, hvp, &op, 0, &c, &r, err, sizeof err)
				    : curv_exact(n, hvp, &op, f->block, 0, &r, err, sizeof err);
		refused(rc, &r, err, f->want);
		assert_string_equal(err, f->want);
		assert_int_equal(op.calls, f->fail_at ? f->fail_at : f->nan_at);
	}
	free(a);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_spectrum),
		cmocka_unit_test(test_exact_weight_decay),
		cmocka_unit_test(test_exact_rows),
		cmocka_unit_test(test_exact_asymmetric),
		cmocka_unit_test(test_lanczos_gap),
		cmocka_unit_test(test_lanczos_top5),
		cmocka_unit_test(test_lanczos_degenerate),
		cmocka_unit_test(test_lanczos_negative_dominant),
		cmocka_unit_test(test_lanczos_one),
		cmocka_unit_test(test_lanczos_zero),
		cmocka_unit_test(test_lanczos_full),
		cmocka_unit_test(test_lanczos_deterministic),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_faulty_products),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
