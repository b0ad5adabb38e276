/* unrolled.c - the second-order DARTS architecture gradient (see
 * unrolled.h). */
#include "unrolled.h"

#include <stdlib.h>

#include "alloc.h"
#include "optim.h"
#include "state.h"

static void put(void *block, int real_size, int64_t i, double v)
{
	if (real_size == 8)
		((double *)block)[i] = v;
	else
		((float *)block)[i] = (float)v;
}

int nas_unrolled_init(NasUnrolled *u, const NasProgram *p, void *val_arena)
{
	*u = (NasUnrolled){.p = p};
	if (!p->mixed || !p->mixed_prepare)
		return -1;
	/* Two arenas: the gradient at w' runs between the mixed product's
	 * preparation and the product, which must find its values intact. */
	u->arena = nas_alloc64((size_t)p->mixed_arena_bytes);
	u->own_val = val_arena == NULL;
	u->arena_val = val_arena ? val_arena : nas_alloc64((size_t)p->arena_bytes);
	u->w1 = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	u->g = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	if (!u->arena || !u->arena_val || !u->w1 || !u->g) {
		nas_unrolled_free(u);
		return -1;
	}
	return 0;
}

void nas_unrolled_free(NasUnrolled *u)
{
	free(u->arena);
	if (u->own_val)
		free(u->arena_val);
	free(u->w1);
	free(u->g);
	*u = (NasUnrolled){0};
}

static NasRun run_on(const NasUnrolled *u, const NasUnrolledStep *s, const NasUnrolledBatch *b,
		     const void *params, void *grads)
{
	return (NasRun){.params = params, .x = b->x, .y = b->y, .arena = u->arena,
			.seed = s->seed, .step = b->step, .grads = grads, .drop = b->drop};
}

/* u->w1 = w' from the weights of s->params and the gradient in u->g;
 * alpha copied. */
static void virtual_step(NasUnrolled *u, const NasUnrolledStep *s)
{
	const NasProgram *p = u->p;
	const int rs = p->real_size;
	int64_t k = 0;  /* into the momentum buffer: the weights alone */
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		int weight = nas_in_set(t, NAS_WEIGHTS);
		for (int64_t j = t->offset; j < t->offset + t->numel; j++) {
			double w = nas_real_get(s->params, rs, j);
			if (weight) {
				double m = s->momentum ? nas_real_get(s->momentum, rs, k++) : 0;
				w -= s->xi * (s->mu * m + nas_real_get(u->g, rs, j) + s->lambda * w);
			}
			put(u->w1, rs, j, w);
		}
	}
}

void nas_unrolled_grad(NasUnrolled *u, const NasUnrolledStep *s, void *grads, double *loss_train,
		       double *loss_val)
{
	const NasProgram *p = u->p;
	const int rs = p->real_size;

	/* grad_w L_t(w, alpha), and what the mixed product needs of the
	 * passes at w; then w' */
	NasRun train = run_on(u, s, &s->train, s->params, u->g);
	p->mixed_prepare(&train);
	if (loss_train)
		*loss_train = train.loss;
	virtual_step(u, s);

	/* grad L_v(w', alpha): its weight part is the direction u, its alpha
	 * part the first term */
	NasRun val = run_on(u, s, &s->val, u->w1, u->g);
	val.arena = u->arena_val;
	p->grad(&val);
	if (loss_val)
		*loss_val = val.loss;

	/* d/dw (grad_alpha L_t)(w, alpha) . u into grads' alpha tensors */
	train.grads = grads;
	train.tangent = u->g;
	p->mixed(&train);

	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		if (!nas_in_set(t, NAS_ALPHAS))
			continue;
		for (int64_t j = t->offset; j < t->offset + t->numel; j++)
			put(grads, rs, j, nas_real_get(u->g, rs, j) - s->xi * nas_real_get(grads, rs, j));
	}
}
