/* curvature.h - the curvature of the validation loss in the architecture
 * parameters (RobustDARTS): eigenvalues of A = H + wd I, with H the
 * Hessian d2 L_val / d alpha2 and wd the arch weight decay (A is the
 * Hessian of L_val + wd/2 ||alpha||^2, as the reference code has it).
 *
 * H is only seen through Hessian-vector products that the caller
 * supplies, so this file knows nothing of programs or batches:
 *   curv_exact    n products on the basis vectors, H symmetrized, every
 *                 eigenvalue (LAPACKE_dsyevd);
 *   curv_lanczos  Lanczos on A with full reorthogonalization, the k
 *                 largest eigenvalues, one product per iteration.
 * The value to log is lambda_max, the largest algebraic eigenvalue (not
 * the largest in magnitude). */
#ifndef NASC_CURVATURE_H
#define NASC_CURVATURE_H

#include <stddef.h>
#include <stdint.h>

/* out[b*n .. b*n+n) = H v_b for b < nv, where v holds nv rows of n
 * doubles.  Returns 0, or -1 with a message in err (which the curv_
 * functions then return as it is). */
typedef int (*CurvHvp)(void *ctx, int nv, const double *v, double *out, char *err, size_t errlen);

typedef struct CurvResult {
	int n;
	double lambda_max;      /* the largest algebraic eigenvalue of A */
	int neig;
	double *eig;            /* ascending: all n (exact), the top k (Lanczos) */
	int hvps;               /* vectors H was applied to */
	int iters;              /* Lanczos iterations (exact: 0) */
	int converged;          /* exact: 1; Lanczos: the top k met tol, or the
				 * space was invariant, or m = n */
	double residual;        /* Lanczos: |beta_m s_m| of lambda_max's Ritz pair, a
				 * bound on ||A y - lambda_max y||; exact: 0 */
	double bound;           /* Lanczos: the error bound of lambda_max that tol
				 * is checked against (see CurvLanczos); exact: 0 */
	double asymmetry;       /* exact: ||H - H^T||_F / ||H||_F of the products
				 * before symmetrizing, wd left out (0 when H = 0);
				 * Lanczos: NaN, not measured */
	double *H;              /* exact: (H + H^T)/2 + wd I, n x n row-major; else NULL */
} CurvResult;

/* Every eigenvalue of A: the products H e_j, asked for block (>= 1; at
 * most n are used) basis vectors per call, make H's columns; H is
 * symmetrized, wd added on the diagonal, and the eigenvalues come from
 * LAPACKE_dsyevd on a copy.  0, or -1 with a message in err and r
 * empty: a bad argument, a failed or non-finite product, no memory. */
int curv_exact(int n, CurvHvp hvp, void *ctx, int block, double wd, CurvResult *r,
	       char *err, size_t errlen);

/* Consecutive rows of the entries, len[0] + ... + len[n-1] of them in
 * all, each of which H maps its all-ones vector to zero: H 1_row = 0.  A
 * loss that reads a row only through its softmax is such a row, since
 * adding a constant to the row changes nothing. */
typedef struct CurvRows {
	int n;
	const int *len;
} CurvRows;

/* curv_exact, knowing rows (NULL: none): the column of the last entry of
 * each row is minus the sum of the row's others, which saves one product
 * per row.  Also refused: rows that do not split the n entries. */
int curv_exact_rows(int n, CurvHvp hvp, void *ctx, int block, const CurvRows *rows, double wd,
		    CurvResult *r, char *err, size_t errlen);

typedef struct CurvLanczos {
	int k;                  /* eigenvalues wanted, 1 <= k <= n */
	int max_iters;          /* clamped to n; must be >= k */
	double tol;             /* stop when each of the top k has an error bound
				 * <= tol * max(|theta|, eps ||T||): its residual
				 * r, or r^2 / gap when the gap to the next Ritz
				 * value (less its residual) is larger than r */
	uint64_t seed, stream;  /* the starting vector: N(0, 1) draws of rng.h */
} CurvLanczos;

/* The k largest eigenvalues of A by Lanczos, each new vector
 * orthogonalized against all the previous ones twice (classical
 * Gram-Schmidt, "twice is enough"), the Ritz pairs of the tridiagonal T
 * from LAPACKE_dstevr.  Stops when the top k have converged, at
 * max_iters, or at m = n (where T holds the whole spectrum).  When the
 * Krylov space is invariant (the next beta <= 1e-12 ||T||) before that,
 * the top k of it are exact and it stops; if fewer than k are found, it
 * goes on from a fresh random vector orthogonal to the space.  A
 * repeated eigenvalue may show up once only among the top k: one
 * starting vector sees one direction of each eigenspace.  0 (converged
 * or not: see r->converged), or -1 with a message in err and r empty. */
int curv_lanczos(int n, CurvHvp hvp, void *ctx, double wd, const CurvLanczos *c, CurvResult *r,
		 char *err, size_t errlen);

/* Frees r's arrays and empties it; safe on an empty result. */
void curv_free(CurvResult *r);

#endif
