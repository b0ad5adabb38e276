/* ad.h - automatic differentiation as graph transformations.
 *
 * Every primitive has two rules (ad.c): a JVP rule, which emits the IR of
 * the output's tangent from the inputs' tangents, and a VJP rule, which
 * emits the IR of the inputs' cotangents from the output's.  Rules emit only
 * primitives that have rules themselves, so a derivative program is ordinary
 * IR and can be differentiated again: forward over reverse gives
 * Hessian-vector products.
 *
 * Both transforms append to the graph they are given; the values they read
 * (the forward pass, for a gradient) are shared, not copied.  A zero
 * derivative is not materialised inside a transform; only results that are
 * identically zero become a FILL of zeros. */
#ifndef NASC_AD_H
#define NASC_AD_H

#include "ir.h"

/* Reverse mode: grads[i] = d y / d wrt[i] for a scalar value y. */
void ad_grad(IrGraph *g, int y, const int *wrt, int nwrt, int *grads);

/* Forward mode: tans[i] = the tangent of outs[i] when each seed[j] moves
 * along seed_tan[j] (a value of the same shape, typically a TANGENT leaf). */
void ad_jvp(IrGraph *g, const int *seed, const int *seed_tan, int nseed, const int *outs,
	    int nouts, int *tans);

/* The training program: the gradient of the loss with respect to every
 * weight and architecture tensor, in canonical order, recorded as outputs
 * named "grad.<tensor name>".  Returns the number of gradients. */
int ad_gradient_program(IrGraph *g);

/* The prefix of gradient outputs. */
#define AD_GRAD_PREFIX "grad."

/* The curvature programs, after the gradient program: the tangents of the
 * architecture gradients, with one TANGENT leaf per architecture tensor
 * and one per weight tensor, each named after its tensor.
 *   hvp.<alpha>    seeded on the architecture tensors: H v, H the
 *                  Hessian of the loss with respect to alpha;
 *   hvp@<a>:<alpha>  with more than one architecture tensor, for each
 *                  one, a: seeded on a alone, H v for a v that is zero
 *                  outside a.  Where a's tangent starts later in the
 *                  network than the others', these need fewer values
 *                  (an exact Hessian goes column by column);
 *   mixed.<alpha>  seeded on the weights: d/dw (grad_alpha L) v, the
 *                  mixed second derivative of second-order DARTS.
 * Returns the number of architecture tensors (0: no program appended). */
int ad_curvature_program(IrGraph *g);
#define AD_HVP_PREFIX "hvp."
#define AD_HVP_ON_PREFIX "hvp@"
#define AD_HVP_ON_SEP ":"
#define AD_MIXED_PREFIX "mixed."

#endif
