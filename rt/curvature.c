/* curvature.c - eigenvalues of the Hessian in the architecture parameters
 * from Hessian-vector products (see curvature.h).
 *
 * Both ways check every product for NaN and infinity as it arrives: a
 * non-finite entry would otherwise come out of LAPACK as a plausible
 * number, or as a convergence failure far from its cause. */
#include "curvature.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "rng.h"

/* Below this fraction of ||T||, the next Lanczos vector is rounding noise:
 * the Krylov space is invariant. */
#define INVARIANT_BETA 1e-12

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Whether rows x n doubles can be sized without overflowing size_t. */
static int fits(int rows, int n)
{
	return (size_t)rows <= SIZE_MAX / sizeof(double) / (size_t)n;
}

/* out = H v for nv vectors v, checked finite.  The vectors are named
 * `what`_first, `what`_(first+1), ... in messages. */
static int apply(CurvHvp hvp, void *ctx, int n, int nv, const double *v, double *out,
		 const char *what, int first, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (hvp(ctx, nv, v, out, err, errlen) != 0) {
		if (errlen && !err[0])
			snprintf(err, errlen, "the Hessian-vector product failed");
		return -1;
	}
	for (size_t i = 0; i < (size_t)nv * (size_t)n; i++)
		if (!isfinite(out[i]))
			return fail(err, errlen,
				    "the Hessian-vector product is not finite (NaN or Inf) at "
				    "entry %d of H %s_%d", (int)(i % (size_t)n), what,
				    first + (int)(i / (size_t)n));
	return 0;
}

static int check_common(int n, CurvHvp hvp, double wd, char *err, size_t errlen)
{
	if (n < 1)
		return fail(err, errlen, "the Hessian needs at least one parameter, not %d", n);
	if (!hvp)
		return fail(err, errlen, "no Hessian-vector product to compute the Hessian from");
	if (!isfinite(wd))
		return fail(err, errlen, "the weight decay on the Hessian's diagonal is %g, not finite",
			    wd);
	return 0;
}

void curv_free(CurvResult *r)
{
	free(r->eig);
	free(r->H);
	*r = (CurvResult){0};
}

/* ---- exact ---- */

int curv_exact(int n, CurvHvp hvp, void *ctx, int block, double wd, CurvResult *r,
	       char *err, size_t errlen)
{
	return curv_exact_rows(n, hvp, ctx, block, NULL, wd, r, err, errlen);
}

/* Whether rows (see curv_exact_rows) splits n entries, each row at least one. */
static int rows_ok(int n, const CurvRows *rows)
{
	long sum = 0;
	for (int i = 0; i < rows->n; i++) {
		if (rows->len[i] < 1)
			return 0;
		sum += rows->len[i];
	}
	return sum == n;
}

int curv_exact_rows(int n, CurvHvp hvp, void *ctx, int block, const CurvRows *rows, double wd,
		    CurvResult *r, char *err, size_t errlen)
{
	*r = (CurvResult){0};
	if (check_common(n, hvp, wd, err, errlen))
		return -1;
	if (block < 1)
		return fail(err, errlen, "the basis vectors per product must be at least 1, not %d",
			    block);
	if (!fits(n, n))
		return fail(err, errlen, "a %d x %d Hessian does not fit in memory", n, n);
	if (rows && !rows_ok(n, rows))
		return fail(err, errlen, "the rows of the Hessian's null directions do not split "
					 "its %d entries", n);
	if (block > n)
		block = n;
	const size_t nn = (size_t)n * (size_t)n;
	double *H = malloc(nn * sizeof *H), *a = malloc(nn * sizeof *a);
	double *v = calloc((size_t)block * (size_t)n, sizeof *v), *eig = malloc((size_t)n * sizeof *eig);
	double *out = malloc((size_t)block * (size_t)n * sizeof *out);
	int *col = malloc((size_t)n * sizeof *col);
	char *derived = calloc((size_t)n, 1);
	if (!H || !a || !v || !eig || !out || !col || !derived) {
		fail(err, errlen, "out of memory for a %d x %d Hessian", n, n);
		goto bad;
	}

	/* the last entry of each row is derived, not a product */
	for (int i = 0, at = 0; rows && i < rows->n; i++) {
		at += rows->len[i];
		derived[at - 1] = 1;
	}
	int ncol = 0;
	for (int j = 0; j < n; j++)
		if (!derived[j])
			col[ncol++] = j;

	/* Row j of H gets H e_j, column j of the Hessian: the products fill
	 * the transpose, which symmetrizing makes no matter. */
	for (int c0 = 0; c0 < ncol; c0 += block) {
		int nb = ncol - c0 < block ? ncol - c0 : block;
		memset(v, 0, (size_t)nb * (size_t)n * sizeof *v);
		for (int b = 0; b < nb; b++)
			v[(size_t)b * n + col[c0 + b]] = 1;
		if (apply(hvp, ctx, n, nb, v, out, "e", col[c0], err, errlen))
			goto bad;
		for (int b = 0; b < nb; b++)
			memcpy(H + (size_t)col[c0 + b] * n, out + (size_t)b * n, (size_t)n * sizeof *H);
		r->hvps += nb;
	}
	/* H 1_row = 0: the derived column is minus the sum of its row's others */
	for (int i = 0, at = 0; rows && i < rows->n; i++) {
		int last = at + rows->len[i] - 1;
		double *h = H + (size_t)last * n;
		memset(h, 0, (size_t)n * sizeof *h);
		for (int j = at; j < last; j++)
			for (int k = 0; k < n; k++)
				h[k] -= H[(size_t)j * n + k];
		at = last + 1;
	}

	double skew = 0, all = 0;
	for (int i = 0; i < n; i++) {
		all += H[(size_t)i * n + i] * H[(size_t)i * n + i];
		for (int j = i + 1; j < n; j++) {
			double x = H[(size_t)i * n + j], y = H[(size_t)j * n + i];
			skew += 2 * (x - y) * (x - y);
			all += x * x + y * y;
			H[(size_t)i * n + j] = H[(size_t)j * n + i] = (x + y) / 2;
		}
		H[(size_t)i * n + i] += wd;
	}
	r->asymmetry = all > 0 ? sqrt(skew / all) : 0;

	memcpy(a, H, nn * sizeof *a);
	lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', n, a, n, eig);
	if (info != 0) {
		fail(err, errlen, "LAPACKE_dsyevd failed on the %d x %d Hessian (info %d)", n, n,
		     (int)info);
		goto bad;
	}
	free(a);
	free(v);
	free(out);
	free(col);
	free(derived);
	r->n = n;
	r->neig = n;
	r->eig = eig;
	r->lambda_max = eig[n - 1];
	r->converged = 1;
	r->H = H;
	return 0;
bad:
	free(H);
	free(a);
	free(v);
	free(eig);
	free(out);
	free(col);
	free(derived);
	*r = (CurvResult){0};
	return -1;
}

/* ---- Lanczos ---- */

/* The working set of one run. */
typedef struct Lanczos {
	int n, maxit, k;
	double *Q;              /* maxit rows of n: the orthonormal basis */
	double *w;              /* the next vector */
	double *alpha, *beta;   /* T's diagonal and off-diagonal; beta[m-1] is the
				 * norm of the vector after the m-th */
	double *g, *h;          /* Gram-Schmidt coefficients: one pass, the total */
	double *d, *e;          /* copies of alpha, beta that dstevr overwrites */
	double *theta, *z;      /* the top Ritz values (ascending), their vectors of T:
				 * the top k, and below them the next one when
				 * there is one (for the gap) */
	lapack_int *isuppz;
	float *draw;            /* N(0, 1) draws for a new starting vector */
	uint64_t ndraws;
} Lanczos;

static double dot(const double *x, const double *y, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += x[i] * y[i];
	return s;
}

/* x minus its projection on rows 0..m-1 of Q, by classical Gram-Schmidt
 * done twice (once leaves O(eps cond) of Q in x; twice is enough for an
 * orthogonal Q); L->h gets the coefficient on each row, both passes
 * summed. */
static void orthogonalize(Lanczos *L, int m, double *x)
{
	const int n = L->n;
	for (int i = 0; i < m; i++)
		L->h[i] = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < m; i++)
			L->g[i] = dot(L->Q + (size_t)i * n, x, n);
		for (int i = 0; i < m; i++) {
			const double *q = L->Q + (size_t)i * n;
			for (int j = 0; j < n; j++)
				x[j] -= L->g[i] * q[j];
			L->h[i] += L->g[i];
		}
	}
}

/* Row m of Q (m < n): a random unit vector orthogonal to rows 0..m-1.
 * Draw t of the run is positions t*n .. t*n+n-1 of (seed, stream). */
static int fresh(Lanczos *L, const CurvLanczos *c, int m)
{
	const int n = L->n;
	double *q = L->Q + (size_t)m * n;
	for (int tries = 0; tries < 8; tries++) {
		rng_fill_normal(L->draw, n, c->seed, c->stream, L->ndraws++ * (uint64_t)n);
		for (int i = 0; i < n; i++)
			q[i] = L->draw[i];
		double before = sqrt(dot(q, q, n));
		orthogonalize(L, m, q);
		double after = sqrt(dot(q, q, n));
		/* Mostly in the span: twice would not be enough; draw again. */
		if (after > 1e-6 * before) {
			for (int i = 0; i < n; i++)
				q[i] /= after;
			return 0;
		}
	}
	return -1;
}

/* ||T_m||_1 (rows of |beta_{i-1}| + |alpha_i| + |beta_i|), at least
 * ||T_m||_2. */
static double tnorm(const Lanczos *L, int m)
{
	double t = 0;
	for (int i = 0; i < m; i++) {
		double row = fabs(L->alpha[i]);
		if (i > 0)
			row += fabs(L->beta[i - 1]);
		if (i < m - 1)
			row += fabs(L->beta[i]);
		if (row > t)
			t = row;
	}
	return t;
}

/* The kk largest eigenpairs of T_m into theta (ascending) and z (column
 * major, m x kk). */
static int ritz(Lanczos *L, int m, int kk, char *err, size_t errlen)
{
	memcpy(L->d, L->alpha, (size_t)m * sizeof *L->d);
	memcpy(L->e, L->beta, (size_t)m * sizeof *L->e);
	lapack_int found = 0;
	lapack_int info = LAPACKE_dstevr(LAPACK_COL_MAJOR, 'V', 'I', m, L->d, L->e, 0, 0,
					 m - kk + 1, m, 0, &found, L->theta, L->z, m, L->isuppz);
	if (info != 0 || found != kk)
		return fail(err, errlen, "LAPACKE_dstevr failed on the %d x %d Lanczos matrix (info %d)",
			    m, m, (int)info);
	return 0;
}

/* A bound on the distance from Ritz value i (of the got found, at step m,
 * beta b) to an eigenvalue of A.  Its residual r = |b z_m| bounds it;
 * when no other eigenvalue of A is within delta of theta_i, so does
 * r^2 / delta (the Kato-Temple bound), which is far smaller once r is.
 * delta is estimated from the other Ritz values found, each of which has
 * an eigenvalue within its own residual: the top Ritz value's nearest
 * other eigenvalue is the second one, which is at least the second Ritz
 * value, so this is an estimate, not a guarantee, until the second has
 * converged too. */
static double eigen_bound(const Lanczos *L, int m, int got, int i, double b)
{
	const double r = fabs(b * L->z[(size_t)i * m + m - 1]);
	double delta = INFINITY;
	for (int j = 0; j < got; j++)
		if (j != i) {
			double rj = fabs(b * L->z[(size_t)j * m + m - 1]);
			delta = fmin(delta, fabs(L->theta[i] - L->theta[j]) - rj);
		}
	return isfinite(delta) && delta > r ? r * r / delta : r;
}

static void lanczos_free(Lanczos *L)
{
	free(L->Q);
	free(L->w);
	free(L->alpha);
	free(L->beta);
	free(L->g);
	free(L->h);
	free(L->d);
	free(L->e);
	free(L->theta);
	free(L->z);
	free(L->isuppz);
	free(L->draw);
}

static int lanczos_alloc(Lanczos *L)
{
	const size_t n = (size_t)L->n, mi = (size_t)L->maxit, k = (size_t)L->k;
	L->Q = malloc(mi * n * sizeof *L->Q);
	L->w = malloc(n * sizeof *L->w);
	L->alpha = malloc(mi * sizeof *L->alpha);
	L->beta = malloc(mi * sizeof *L->beta);
	L->g = malloc(mi * sizeof *L->g);
	L->h = malloc(mi * sizeof *L->h);
	L->d = malloc(mi * sizeof *L->d);
	L->e = malloc(mi * sizeof *L->e);
	L->theta = malloc(mi * sizeof *L->theta);
	L->z = malloc(mi * (k + 1) * sizeof *L->z);
	L->isuppz = malloc(2 * (k + 1) * sizeof *L->isuppz);
	L->draw = malloc(n * sizeof *L->draw);
	return L->Q && L->w && L->alpha && L->beta && L->g && L->h && L->d && L->e && L->theta &&
	       L->z && L->isuppz && L->draw ? 0 : -1;
}

int curv_lanczos(int n, CurvHvp hvp, void *ctx, double wd, const CurvLanczos *c, CurvResult *r,
		 char *err, size_t errlen)
{
	*r = (CurvResult){0};
	if (check_common(n, hvp, wd, err, errlen))
		return -1;
	if (c->k < 1 || c->k > n)
		return fail(err, errlen, "Lanczos cannot find %d eigenvalues of a %d x %d Hessian "
			    "(k must be in 1..%d)", c->k, n, n, n);
	int maxit = c->max_iters < n ? c->max_iters : n;
	if (maxit < c->k)
		return fail(err, errlen, "Lanczos needs at least k = %d iterations, not %d", c->k,
			    c->max_iters);
	if (!(c->tol >= 0))
		return fail(err, errlen, "the Lanczos tolerance must be >= 0, not %g", c->tol);
	if (!fits(maxit, n))
		return fail(err, errlen, "%d Lanczos vectors of %d do not fit in memory", maxit, n);

	Lanczos L = {.n = n, .maxit = maxit, .k = c->k};
	double *eig = NULL;
	if (lanczos_alloc(&L) || !(eig = malloc((size_t)c->k * sizeof *eig))) {
		fail(err, errlen, "out of memory for %d Lanczos vectors of %d", maxit, n);
		goto bad;
	}
	if (fresh(&L, c, 0)) {
		fail(err, errlen, "no Lanczos starting vector from seed %llu",
		     (unsigned long long)c->seed);
		goto bad;
	}

	int m = 0, invariant = 0, converged = 0;
	double res = 0, bound = 0;
	for (;;) {
		const double *q = L.Q + (size_t)m * n;
		if (apply(hvp, ctx, n, 1, q, L.w, "q", m, err, errlen))
			goto bad;
		for (int i = 0; i < n; i++)
			L.w[i] += wd * q[i];
		m++;
		/* Against every earlier vector, not only the last two: in
		 * floating point the three-term recurrence loses orthogonality
		 * as soon as a Ritz value converges, and copies of it follow. */
		orthogonalize(&L, m, L.w);
		L.alpha[m - 1] = L.h[m - 1];
		L.beta[m - 1] = sqrt(dot(L.w, L.w, n));

		const int kk = m < c->k ? m : c->k, got = m > kk ? kk + 1 : kk;
		if (ritz(&L, m, got, err, errlen))
			goto bad;
		const double tn = tnorm(&L, m), b = L.beta[m - 1];
		converged = m >= c->k;
		for (int i = got - kk; i < got; i++) {
			double e = eigen_bound(&L, m, got, i, b);
			if (i == got - 1)
				bound = e;
			converged &= e <= c->tol * fmax(fabs(L.theta[i]), DBL_EPSILON * tn);
		}
		res = fabs(b * L.z[(size_t)(got - 1) * m + m - 1]);
		invariant = b <= INVARIANT_BETA * tn;
		if (converged || m == maxit || m == n || (invariant && m >= c->k))
			break;
		if (invariant) {
			/* The top of the space is exact but holds fewer than k
			 * values: go on in its complement; T is block diagonal. */
			L.beta[m - 1] = 0;
			if (fresh(&L, c, m)) {
				fail(err, errlen, "no new Lanczos vector outside a space of %d", m);
				goto bad;
			}
		} else {
			double *next = L.Q + (size_t)m * n;
			for (int i = 0; i < n; i++)
				next[i] = L.w[i] / b;
		}
	}

	memcpy(eig, L.theta + (m > c->k ? 1 : 0), (size_t)c->k * sizeof *eig);
	lanczos_free(&L);
	r->n = n;
	r->neig = c->k;
	r->eig = eig;
	r->lambda_max = eig[c->k - 1];
	r->hvps = m;
	r->iters = m;
	r->converged = converged || invariant || m == n;
	r->residual = res;
	r->bound = bound;
	r->asymmetry = NAN;
	return 0;
bad:
	lanczos_free(&L);
	free(eig);
	*r = (CurvResult){0};
	return -1;
}
