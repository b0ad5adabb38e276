/* hessian.c - a program's alpha-Hessian on a batch (see hessian.h). */
#include "hessian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "state.h"

int hess_init(Hessian *h, const NasProgram *p, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	if (!p->hvp_prepare || !p->hvp || p->hvp_arena_bytes <= 0) {
		snprintf(err, errlen, "the program was compiled without Hessian-vector products");
		return -1;
	}
	h->p = p;
	for (int i = 0; i < p->ntensors; i++)
		if (p->tensors[i].kind == NAS_ALPHA)
			h->n += (int)p->tensors[i].numel;
	if (h->n == 0) {
		snprintf(err, errlen, "the program has no architecture parameters");
		return -1;
	}
	h->arena = nas_alloc64((size_t)p->hvp_arena_bytes);
	h->tangent = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	h->grads = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	h->at = malloc((size_t)h->n * sizeof *h->at);
	if (!h->arena || !h->tangent || !h->grads || !h->at) {
		snprintf(err, errlen, "out of memory for the Hessian (an arena of %lld bytes)",
			 (long long)p->hvp_arena_bytes);
		hess_free(h);
		return -1;
	}
	memset(h->tangent, 0, (size_t)p->nparams * (size_t)p->real_size);
	int k = 0;
	for (int i = 0; i < p->ntensors; i++)
		if (p->tensors[i].kind == NAS_ALPHA)
			for (int64_t j = 0; j < p->tensors[i].numel; j++)
				h->at[k++] = p->tensors[i].offset + j;
	return 0;
}

void hess_free(Hessian *h)
{
	free(h->arena);
	free(h->tangent);
	free(h->grads);
	free(h->at);
	memset(h, 0, sizeof *h);
}

const char *hess_method_name(NasHessian mode)
{
	return mode == NAS_HESS_LANCZOS ? "lanczos" : mode == NAS_HESS_EXACT ? "exact" : "none";
}

/* CurvHvp: one program product per vector, through the program's reals. */
static int product(void *ctx, int nv, const double *v, double *out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	Hessian *h = ctx;
	int rs = h->p->real_size;
	for (int b = 0; b < nv; b++) {
		for (int i = 0; i < h->n; i++)
			nas_real_set(h->tangent, rs, h->at[i], v[(size_t)b * (size_t)h->n + (size_t)i]);
		h->p->hvp(&h->run);
		for (int i = 0; i < h->n; i++)
			out[(size_t)b * (size_t)h->n + (size_t)i] = nas_real_get(h->grads, rs, h->at[i]);
		h->done++;
		if (h->c->progress)
			h->c->progress(h->c->progress_ctx, h->done, h->total);
	}
	return 0;
}

int hess_eval(Hessian *h, const HessConfig *c, const void *params, const void *x,
	      const int64_t *y, uint64_t seed, uint64_t step, CurvResult *r, double *loss,
	      char *err, size_t errlen)
{
	h->run = (NasRun){
		.params = params, .x = x, .y = y, .arena = h->arena, .seed = seed, .step = step,
		.grads = h->grads, .tangent = h->tangent,
	};
	h->c = c;
	h->done = 0;
	h->total = c->mode == NAS_HESS_LANCZOS ? (c->iters < h->n ? c->iters : h->n) : h->n;
	h->p->hvp_prepare(&h->run);
	*loss = h->run.loss;
	if (!isfinite(h->run.loss)) {
		snprintf(err, errlen, "the loss on the batch is not finite (%g)", h->run.loss);
		return -1;
	}
	if (c->mode == NAS_HESS_LANCZOS) {
		CurvLanczos lc = {.k = c->k, .max_iters = c->iters, .tol = c->tol, .seed = c->seed,
				  .stream = c->stream};
		return curv_lanczos(h->n, product, h, c->weight_decay, &lc, r, err, errlen);
	}
	return curv_exact(h->n, product, h, 1, c->weight_decay, r, err, errlen);
}
