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
	h->block = p->hvp_block > 1 ? p->hvp_block : 1;
	size_t reals = (size_t)p->nparams * (size_t)h->block;
	h->arena = nas_alloc64((size_t)p->hvp_arena_bytes);
	h->tangent = nas_alloc64_array(reals, (size_t)p->real_size);
	h->grads = nas_alloc64_array(reals, (size_t)p->real_size);
	h->at = malloc((size_t)h->n * sizeof *h->at);
	h->tensor_of = malloc((size_t)h->n * sizeof *h->tensor_of);
	if (!h->arena || !h->tangent || !h->grads || !h->at || !h->tensor_of) {
		snprintf(err, errlen, "out of memory for the Hessian (an arena of %lld bytes)",
			 (long long)p->hvp_arena_bytes);
		hess_free(h);
		return -1;
	}
	memset(h->tangent, 0, reals * (size_t)p->real_size);
	int k = 0;
	for (int i = 0; i < p->ntensors; i++)
		if (p->tensors[i].kind == NAS_ALPHA)
			for (int64_t j = 0; j < p->tensors[i].numel; j++) {
				h->tensor_of[k] = i;
				h->at[k++] = p->tensors[i].offset + j;
			}
	/* Each row of an alpha tensor [edges, ops] reaches the loss through
	 * its softmax alone (docs/dsl.md), so H maps the row's ones to zero. */
	int nrows = 0;
	for (int i = 0; i < p->ntensors; i++)
		if (p->tensors[i].kind == NAS_ALPHA) {
			if (p->tensors[i].rank != 2) {
				nrows = -1;
				break;
			}
			nrows += (int)p->tensors[i].shape[0];
		}
	if (nrows > 0 && (h->row_len = malloc((size_t)nrows * sizeof *h->row_len))) {
		int r = 0;
		for (int i = 0; i < p->ntensors; i++)
			if (p->tensors[i].kind == NAS_ALPHA)
				for (int64_t e = 0; e < p->tensors[i].shape[0]; e++)
					h->row_len[r++] = (int)p->tensors[i].shape[1];
		h->rows = (CurvRows){.n = nrows, .len = h->row_len};
	}
	return 0;
}

void hess_free(Hessian *h)
{
	free(h->arena);
	free(h->tangent);
	free(h->grads);
	free(h->at);
	free(h->tensor_of);
	free(h->row_len);
	memset(h, 0, sizeof *h);
}

const char *hess_method_name(NasHessian mode)
{
	return mode == NAS_HESS_LANCZOS ? "lanczos" : mode == NAS_HESS_EXACT ? "exact" : "none";
}

/* The program's entry for tangents v[0..m n): hvp_on[i] when they are
 * all zero outside alpha tensor i and the program has one for it (an
 * exact Hessian's columns), else hvp. */
static void (*entry_for(const Hessian *h, int m, const double *v))(NasRun *)
{
	const NasProgram *p = h->p;
	if (!p->hvp_on)
		return p->hvp;
	int only = -1;
	for (size_t k = 0; k < (size_t)m * (size_t)h->n; k++)
		if (v[k] != 0) {
			int t = h->tensor_of[k % (size_t)h->n];
			if (only >= 0 && t != only)
				return p->hvp;
			only = t;
		}
	return only >= 0 && p->hvp_on[only] ? p->hvp_on[only] : p->hvp;
}

/* CurvHvp: the vectors through the program's reals, up to h->block of
 * them per call of the program. */
static int product(void *ctx, int nv, const double *v, double *out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	Hessian *h = ctx;
	int rs = h->p->real_size;
	size_t n = (size_t)h->n, np = (size_t)h->p->nparams;
	for (int b0 = 0; b0 < nv; b0 += h->block) {
		int m = nv - b0 < h->block ? nv - b0 : h->block;
		for (int b = 0; b < m; b++)
			for (size_t i = 0; i < n; i++)
				nas_real_set(h->tangent, rs, (int64_t)(b * np) + h->at[i],
					     v[(size_t)(b0 + b) * n + i]);
		h->run.ntangents = m;
		entry_for(h, m, v + (size_t)b0 * n)(&h->run);
		for (int b = 0; b < m; b++)
			for (size_t i = 0; i < n; i++)
				out[(size_t)(b0 + b) * n + i] =
					nas_real_get(h->grads, rs, (int64_t)(b * np) + h->at[i]);
		h->done += m;
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
	h->total = c->mode == NAS_HESS_LANCZOS ? (c->iters < h->n ? c->iters : h->n)
						: h->n - h->rows.n;
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
	return curv_exact_rows(h->n, product, h, h->block, h->rows.n ? &h->rows : NULL,
			       c->weight_decay, r, err, errlen);
}
