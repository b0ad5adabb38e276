/* hessian.h - the curvature of a program's loss in alpha on one batch:
 * the Hessian-vector products of the generated program (hvp_prepare once,
 * then hvp per vector) handed to curvature.c, in training mode (batch
 * statistics), without drop-path, leaving the running statistics alone.
 * `BIN hessian` and the search's curvature tracking both use it. */
#ifndef NASC_HESSIAN_H
#define NASC_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#include "curvature.h"
#include "nasrt.h"

typedef struct HessConfig {
	NasHessian mode;        /* NAS_HESS_EXACT or NAS_HESS_LANCZOS */
	double weight_decay;    /* on the diagonal: the arch weight decay */
	int k;                  /* Lanczos: eigenvalues wanted */
	int iters;              /* Lanczos: most iterations */
	double tol;             /* Lanczos: see CurvLanczos */
	uint64_t seed, stream;  /* Lanczos: the starting vector */
	/* called after every product, when not NULL */
	void (*progress)(void *ctx, int done, int total);
	void *progress_ctx;
} HessConfig;

/* What the products need, allocated once: the program's curvature arena,
 * room for `block` tangents and as many products, and where alpha lies in
 * the parameters. */
typedef struct Hessian {
	const NasProgram *p;
	void *arena, *tangent, *grads;
	int64_t *at;            /* n: the parameter index of flattened alpha entry i */
	int *tensor_of;         /* n: the index in p->tensors of entry i's tensor */
	int n;                  /* alpha entries */
	int block;              /* tangents per program call (its hvp_block) */
	int *row_len;           /* the rows of the alpha tensors, each summing */
	CurvRows rows;          /* to a null direction of H (n 0: not known) */
	NasRun run;
	const HessConfig *c;
	int done, total;        /* products so far, and expected */
} Hessian;

/* Allocates h for program p.  Returns 0, or -1 with a message in err: no
 * memory, or a program compiled without the curvature entries. */
int hess_init(Hessian *h, const NasProgram *p, char *err, size_t errlen);
void hess_free(Hessian *h);

/* The eigenvalues of H + wd I at params (the program's reals) on the
 * batch x, y (noise candidates from seed, step), into r (curv_free it);
 * the batch's loss into *loss.  Returns 0, or -1 with a message in err. */
int hess_eval(Hessian *h, const HessConfig *c, const void *params, const void *x,
	      const int64_t *y, uint64_t seed, uint64_t step, CurvResult *r, double *loss,
	      char *err, size_t errlen);

/* "exact" or "lanczos". */
const char *hess_method_name(NasHessian mode);

#endif
