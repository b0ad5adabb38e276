/* unrolled.h - the exact second-order DARTS gradient of the architecture
 * (DESIGN.md §4), from a program's gradient and mixed-product entries.
 *
 * With the training batch t, the validation batch v, step xi, SGD
 * momentum mu with buffer m and weight decay lambda, the virtual step
 *   w' = w - xi (mu m + grad_w L_t(w, alpha) + lambda w)     (weights only)
 * and then
 *   g = grad_alpha L_v(w', alpha) - xi [d/dw grad_alpha L_t(w, alpha)] . u,
 *   u = grad_w L_v(w', alpha),
 * which is the exact gradient of L_v(w'(alpha), alpha) with respect to
 * alpha: three program runs, no finite differences: p->mixed_prepare at
 * w on t, which gives grad L_t(w) and keeps the forward and backward
 * passes that the mixed product needs; p->grad at w' on v, in an arena of
 * its own; p->mixed along u, which runs the tangent's part alone.
 *
 * Every run is in training mode with running = NULL: neither the virtual
 * step nor the products touch the batch norms' running statistics (the
 * weight step that follows, as in first order, is the caller's).  Values
 * are the program's reals (f32 or f64); w' is computed in double per
 * element and rounded once.  A search makes one workspace and calls
 * nas_unrolled_grad once per step: a step allocates nothing. */
#ifndef NASC_UNROLLED_H
#define NASC_UNROLLED_H

#include <stdint.h>

#include "nasrt.h"

/* One side of the step: a batch and what its runs draw. */
typedef struct NasUnrolledBatch {
	const void *x;          /* batch x in_c x in_h x in_w reals */
	const int64_t *y;       /* batch labels, each in [0, classes) */
	const void *drop;       /* its drop-path mask (NasRun.drop), or NULL */
	uint64_t step;          /* the noise step (NasRun.step) of its runs */
} NasUnrolledBatch;

/* The inputs of one gradient. */
typedef struct NasUnrolledStep {
	const void *params;     /* w and alpha: nparams reals */
	/* m: nas_set_numel(p, NAS_WEIGHTS) reals, the weights back to back in
	 * table order (NasSgd.buf, and a checkpoint's optim.sgd.momentum), or
	 * NULL for zero (no momentum, or an SGD that has taken no step yet:
	 * NasSgd.steps == 0, whose buf is not set). */
	const void *momentum;
	double xi, mu, lambda;  /* the virtual step's lr, momentum, weight decay */
	uint64_t seed;          /* NasRun.seed, for noise candidates */
	NasUnrolledBatch train; /* L_t: the virtual step and the mixed product */
	NasUnrolledBatch val;   /* L_v: at w' */
} NasUnrolledStep;

/* The buffers of the three runs, allocated once. */
typedef struct NasUnrolled {
	const NasProgram *p;
	void *arena;            /* mixed_arena_bytes: the mixed product's, kept
				   from mixed_prepare to mixed */
	void *arena_val;        /* arena_bytes: the gradient at w', the
				   caller's when it lent one */
	int own_val;            /* arena_val was allocated here */
	void *w1;               /* w' and alpha: nparams reals */
	void *g;                /* grad L_t(w), then grad L_v(w'): nparams reals */
} NasUnrolled;

/* Allocates u for p.  val_arena, when not NULL, is an arena of
 * p->arena_bytes that u borrows for the gradient at w' rather than
 * allocating its own: any arena whose contents the caller does not need
 * across nas_unrolled_grad (the search lends its training arena, which
 * the weight step rewrites anyway).  Returns 0, or -1 with u empty when p
 * has no mixed entry (compiled without it: no second order) or memory runs
 * out. */
int nas_unrolled_init(NasUnrolled *u, const NasProgram *p, void *val_arena);
void nas_unrolled_free(NasUnrolled *u);

/* Writes the second-order gradient g into the alpha tensors of grads
 * (nparams reals, apart from s's buffers and u's); the rest of grads is
 * left as it was.  *loss_train gets L_t(w, alpha) and *loss_val
 * L_v(w', alpha), the objective g is the gradient of (either pointer may
 * be NULL).  Non-finite values are passed through: the caller checks. */
void nas_unrolled_grad(NasUnrolled *u, const NasUnrolledStep *s, void *grads, double *loss_train,
		       double *loss_val);

#endif
