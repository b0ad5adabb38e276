/* optim.c - SGD, Adam and gradient-norm clipping (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "alloc.h"

int nas_in_set(const NasTensor *t, NasParamSet set)
{
	return (t->kind == NAS_ALPHA) == (set == NAS_ALPHAS);
}

int64_t nas_set_numel(const NasProgram *p, NasParamSet set)
{
	int64_t n = 0;
	for (int i = 0; i < p->ntensors; i++)
		if (nas_in_set(&p->tensors[i], set))
			n += p->tensors[i].numel;
	return n;
}

/* Element i of a block of reals, in double, and back. */
static inline double get(const void *b, int real_size, int64_t i)
{
	return real_size == 8 ? ((const double *)b)[i] : (double)((const float *)b)[i];
}

static inline void put(void *b, int real_size, int64_t i, double v)
{
	if (real_size == 8)
		((double *)b)[i] = v;
	else
		((float *)b)[i] = (float)v;
}

/* A zeroed state block for the reals of set, or NULL. */
static void *state_block(const NasProgram *p, NasParamSet set)
{
	return nas_alloc64_array((size_t)nas_set_numel(p, set), (size_t)p->real_size);
}

/* ---- SGD ---- */

int nas_sgd_init(NasSgd *s, const NasProgram *p, NasParamSet set, const NasSgdConfig *c)
{
	*s = (NasSgd){.p = p, .set = set, .c = *c};
	if (!(c->lr >= 0) || !(c->momentum >= 0) || !(c->weight_decay >= 0) ||
	    (c->nesterov && (c->momentum <= 0 || c->dampening != 0)))
		return -1;
	if (c->momentum != 0 && !(s->buf = state_block(p, set)))
		return -1;
	return 0;
}

void nas_sgd_step(NasSgd *s, void *params, const void *grads)
{
	const NasProgram *p = s->p;
	const NasSgdConfig *c = &s->c;
	const int rs = p->real_size;
	const int first = s->steps == 0;
	int64_t k = 0;  /* into buf */
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		if (!nas_in_set(t, s->set))
			continue;
		for (int64_t j = t->offset; j < t->offset + t->numel; j++, k++) {
			double w = get(params, rs, j);
			double d = get(grads, rs, j);
			if (c->weight_decay != 0)
				d += c->weight_decay * w;
			if (s->buf) {
				double b = first ? d
						 : c->momentum * get(s->buf, rs, k) + (1 - c->dampening) * d;
				put(s->buf, rs, k, b);
				b = get(s->buf, rs, k);  /* as stored */
				d = c->nesterov ? d + c->momentum * b : b;
			}
			put(params, rs, j, w - c->lr * d);
		}
	}
	s->steps++;
}

void nas_sgd_free(NasSgd *s)
{
	free(s->buf);
	s->buf = NULL;
}

/* ---- Adam ---- */

int nas_adam_init(NasAdam *a, const NasProgram *p, NasParamSet set, const NasAdamConfig *c)
{
	*a = (NasAdam){.p = p, .set = set, .c = *c};
	if (!(c->lr >= 0) || !(c->eps >= 0) || !(c->weight_decay >= 0) ||
	    !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
		return -1;
	a->m = state_block(p, set);
	a->v = state_block(p, set);
	if (!a->m || !a->v) {
		nas_adam_free(a);
		return -1;
	}
	return 0;
}

void nas_adam_step(NasAdam *a, void *params, const void *grads)
{
	const NasProgram *p = a->p;
	const NasAdamConfig *c = &a->c;
	const int rs = p->real_size;
	a->t++;
	const double bc1 = 1 - pow(c->beta1, (double)a->t);
	const double bc2 = 1 - pow(c->beta2, (double)a->t);
	const double step_size = c->lr / bc1, bc2_sqrt = sqrt(bc2);
	int64_t k = 0;  /* into m and v */
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		if (!nas_in_set(t, a->set))
			continue;
		for (int64_t j = t->offset; j < t->offset + t->numel; j++, k++) {
			double w = get(params, rs, j);
			double g = get(grads, rs, j);
			if (c->weight_decay != 0)
				g += c->weight_decay * w;
			put(a->m, rs, k, c->beta1 * get(a->m, rs, k) + (1 - c->beta1) * g);
			put(a->v, rs, k, c->beta2 * get(a->v, rs, k) + (1 - c->beta2) * g * g);
			double m = get(a->m, rs, k), v = get(a->v, rs, k);
			put(params, rs, j, w - step_size * (m / (sqrt(v) / bc2_sqrt + c->eps)));
		}
	}
}

void nas_adam_free(NasAdam *a)
{
	free(a->m);
	free(a->v);
	a->m = a->v = NULL;
}

/* ---- clipping ---- */

double nas_clip_grad_norm(const NasProgram *p, NasParamSet set, void *grads, double max_norm)
{
	const int rs = p->real_size;
	double ss = 0;
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		if (nas_in_set(t, set))
			for (int64_t j = t->offset; j < t->offset + t->numel; j++) {
				double g = get(grads, rs, j);
				ss += g * g;
			}
	}
	double total = sqrt(ss);
	double clip = max_norm / (total + 1e-6);
	/* PyTorch multiplies by min(clip, 1): nothing to do at 1, and a NaN
	 * clip (from a NaN total) spreads to the gradients as it does there. */
	if (!(clip >= 1.0))
		for (int i = 0; i < p->ntensors; i++) {
			const NasTensor *t = &p->tensors[i];
			if (nas_in_set(t, set))
				for (int64_t j = t->offset; j < t->offset + t->numel; j++)
					put(grads, rs, j, get(grads, rs, j) * clip);
		}
	return total;
}
