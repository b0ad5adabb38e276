/* optim.h - the optimizers of the search step, with PyTorch's semantics,
 * on a program's parameter block:
 *   SGD        as torch.optim.SGD (momentum, dampening, weight decay,
 *              nesterov), on the weights;
 *   Adam       as torch.optim.Adam (L2 weight decay added to the
 *              gradient, not AdamW's decoupled decay), on alpha;
 *   clipping   as torch.nn.utils.clip_grad_norm_ with the 2-norm.
 *
 * Each works on one set of tensors of the program's table: the weights
 * (every tensor whose kind is not NAS_ALPHA) or the architecture (the
 * NAS_ALPHA tensors), and leaves the other set alone.  Parameters,
 * gradients and optimizer state are reals of the program's real_size
 * (float or double); each element is updated in double and rounded once
 * to the block's real.  The state of an optimizer holds its selected
 * tensors alone, back to back in table order.  Loops are serial, so a
 * step is the same bit for bit whatever the thread count. */
#ifndef NASC_OPTIM_H
#define NASC_OPTIM_H

#include <stdint.h>

#include "nasrt.h"

/* Which tensors an optimizer or a clip applies to. */
typedef enum NasParamSet {
	NAS_WEIGHTS, /* every tensor whose kind is not NAS_ALPHA */
	NAS_ALPHAS,  /* the NAS_ALPHA tensors */
} NasParamSet;

/* Whether t belongs to set. */
int nas_in_set(const NasTensor *t, NasParamSet set);
/* The number of reals of p's tensors in set. */
int64_t nas_set_numel(const NasProgram *p, NasParamSet set);

/* ---- SGD ---- */

typedef struct NasSgdConfig {
	double lr, momentum, dampening, weight_decay;
	int nesterov;           /* needs momentum > 0 and dampening 0 */
} NasSgdConfig;

/* Per element, with g the gradient and w the parameter:
 *   d = g + weight_decay * w
 *   with momentum: buf = d on the first step, else
 *                  buf = momentum * buf + (1 - dampening) * d;
 *                  d = nesterov ? d + momentum * buf : buf
 *   w -= lr * d */
typedef struct NasSgd {
	const NasProgram *p;
	NasParamSet set;
	NasSgdConfig c;
	void *buf;              /* the momentum buffers, or NULL without momentum */
	int64_t steps;          /* steps taken (0: buf is not set yet) */
} NasSgd;

/* 0, or -1 with s empty when the configuration is one PyTorch refuses
 * (a negative lr, momentum or weight decay; nesterov without momentum or
 * with dampening) or memory runs out. */
int nas_sgd_init(NasSgd *s, const NasProgram *p, NasParamSet set, const NasSgdConfig *c);
/* One step of s's tensors of params (nparams reals) from grads (the same
 * layout; only read). */
void nas_sgd_step(NasSgd *s, void *params, const void *grads);
void nas_sgd_free(NasSgd *s);

/* ---- Adam ---- */

typedef struct NasAdamConfig {
	double lr, beta1, beta2, eps, weight_decay;
} NasAdamConfig;

/* Per element, at step t = 1, 2, ...:
 *   g' = g + weight_decay * w
 *   m  = beta1 * m + (1 - beta1) * g'
 *   v  = beta2 * v + (1 - beta2) * g'^2
 *   w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) */
typedef struct NasAdam {
	const NasProgram *p;
	NasParamSet set;
	NasAdamConfig c;
	void *m, *v;            /* first and second moments, zero at first */
	int64_t t;              /* steps taken */
} NasAdam;

/* 0, or -1 with a empty when the configuration is one PyTorch refuses (a
 * negative lr, eps or weight decay, a beta outside [0, 1)) or memory runs
 * out. */
int nas_adam_init(NasAdam *a, const NasProgram *p, NasParamSet set, const NasAdamConfig *c);
void nas_adam_step(NasAdam *a, void *params, const void *grads);
void nas_adam_free(NasAdam *a);

/* ---- clipping ---- */

/* The 2-norm of the gradient over set, total = sqrt(sum g^2), summed in
 * double; when clip = max_norm / (total + 1e-6) is below 1, every
 * gradient of set is multiplied by clip (so a total just at max_norm is
 * scaled a little, as in PyTorch; a NaN total makes the gradients NaN).
 * Returns total. */
double nas_clip_grad_norm(const NasProgram *p, NasParamSet set, void *grads, double max_norm);

#endif
