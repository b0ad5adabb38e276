/* cmd_grad.c - `BIN grad --load STATE --batch BATCH`: the loss and the
 * gradient of a state on a batch, in training mode, as a summary or one
 * JSON object, and optionally the gradient as a file. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "batch.h"
#include "commands.h"
#include "state.h"

/* Global L2 norms of the gradient over the weights (every tensor that is
 * not alpha) and over alpha. */
typedef struct Norms {
	double w, alpha;
	int nw, nalpha;        /* tensors */
	int64_t vw, valpha;    /* values */
} Norms;

/* Fills n; returns the index of the first tensor whose gradient is not
 * finite (its first such element in *bad), or -1. */
static int grad_norms(const NasProgram *p, const void *grads, Norms *n, int64_t *bad)
{
	double sw = 0, sa = 0;
	*n = (Norms){0};
	for (int i = 0; i < p->ntensors; i++) {
		const NasTensor *t = &p->tensors[i];
		double s = 0;
		for (int64_t k = 0; k < t->numel; k++) {
			double g = nas_real_get(grads, p->real_size, t->offset + k);
			if (!isfinite(g)) {
				*bad = k;
				return i;
			}
			s += g * g;
		}
		if (t->kind == NAS_ALPHA) {
			sa += s;
			n->nalpha++;
			n->valpha += t->numel;
		} else {
			sw += s;
			n->nw++;
			n->vw += t->numel;
		}
	}
	n->w = sqrt(sw);
	n->alpha = sqrt(sa);
	return -1;
}

static const char *nonfinite(double v)
{
	return isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf";
}

/* Runs the program; 0, or 1 with the reason on stderr. */
static int run_grad(const NasProgram *p, const char *bin, const GradOptions *o,
		    void *params, void *grads, void *arena)
{
	char err[1024];
	NasBatch b;
	if (state_load(p, o->load, params, NULL, err, sizeof err) != 0 ||
	    batch_load(p, o->batch, &b, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		return 1;
	}
	NasRun run = {
		.params = params, .x = b.x, .y = b.y, .arena = arena,
		.seed = o->seed, .step = 0, .grads = grads, .logits = NULL, .loss = 0,
	};
	if (o->alpha_only && p->grad_alpha)
		p->grad_alpha(&run);
	else
		p->grad(&run);
	batch_free(&b);

	Norms n;
	int64_t k = 0;
	int bad = grad_norms(p, grads, &n, &k);
	if (!isfinite(run.loss)) {
		fprintf(stderr, "%s: %s: the loss on batch %s is %s\n", bin, o->load, o->batch,
			nonfinite(run.loss));
		return 1;
	}
	if (bad >= 0) {
		const NasTensor *t = &p->tensors[bad];
		fprintf(stderr, "%s: %s: the gradient of tensor %s on batch %s is %s at element %"
			PRId64 "\n", bin, o->load, t->name, o->batch,
			nonfinite(nas_real_get(grads, p->real_size, t->offset + k)), k);
		return 1;
	}
	if (!isfinite(n.w) || !isfinite(n.alpha)) {
		fprintf(stderr, "%s: %s: the gradient norm on batch %s overflows\n", bin, o->load,
			o->batch);
		return 1;
	}

	if (o->save_grad) {
		char loss[32];
		snprintf(loss, sizeof loss, "%.17g", run.loss);
		const char *const kv[] = {"state", o->load, "batch", o->batch, "loss", loss};
		if (state_save(p, o->save_grad, grads, NULL, p->real_size,
			       p->real_size == 8 ? ST_F64 : ST_F32, kv, 3, err, sizeof err) != 0) {
			fprintf(stderr, "%s: %s\n", bin, err);
			return 1;
		}
	}
	if (o->json)
		printf("{\"loss\": %.17g, \"grad_norm_w\": %.17g, \"grad_norm_alpha\": %.17g, "
		       "\"tensors\": %d, \"batch\": %" PRId64 "}\n", run.loss, n.w, n.alpha,
		       p->ntensors, p->batch);
	else
		printf("loss             %.9g\n"
		       "grad norm w      %.9g  (%d tensor%s, %" PRId64 " values)\n"
		       "grad norm alpha  %.9g  (%d tensor%s, %" PRId64 " values)\n",
		       run.loss, n.w, n.nw, n.nw == 1 ? "" : "s", n.vw, n.alpha, n.nalpha,
		       n.nalpha == 1 ? "" : "s", n.valpha);
	return 0;
}

int cmd_grad(const NasProgram *p, const char *bin, const GradOptions *o)
{
	/* Everything a step needs is allocated here, once. */
	void *params = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	void *grads = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	void *arena = nas_alloc64((size_t)p->arena_bytes);
	int rc;
	if (!params || !grads || !arena) {
		fprintf(stderr, "%s: out of memory (%" PRId64 " parameters, an arena of %" PRId64
			" bytes)\n", bin, p->nparams, p->arena_bytes);
		rc = 1;
	} else {
		rc = run_grad(p, bin, o, params, grads, arena);
	}
	free(params);
	free(grads);
	free(arena);
	return rc;
}
