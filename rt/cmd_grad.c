/* cmd_grad.c - `BIN grad --load STATE --batch BATCH`: the loss and the
 * gradient of a state on a batch, in training mode, as a summary or one
 * JSON object, and optionally the gradient as a file.  With --order
 * second, the second-order DARTS gradient of alpha instead (unrolled.h),
 * from a training and a validation batch. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "batch.h"
#include "commands.h"
#include "optim.h"
#include "state.h"
#include "unrolled.h"

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

/* What a checkpoint holds besides a state (checkpoint.c): grad reads
 * checkpoints too, and takes the momentum buffer from one. */
static const char *const checkpoint_extras[] = {"optim.sgd.momentum", "optim.adam.m",
						"optim.adam.v"};

/* The inputs and results of one command. */
typedef struct Grad {
	const NasProgram *p;
	const GradOptions *o;
	void *params, *grads, *arena;  /* arena: first order */
	void *momentum;                /* second order: the weights' buffer, or NULL */
	NasUnrolled u;                 /* second order */
	NasBatch train, val;
	int has_momentum;              /* the state file held optim.sgd.momentum */
	double loss, loss_train;       /* second order: L_val(w'), L_train(w) */
} Grad;

/* Reads the state (and, for the second order, the momentum buffer when
 * the file has one) and the batches; 0, or -1 with the reason in err. */
static int load_inputs(Grad *g, char *err, size_t errlen)
{
	const NasProgram *p = g->p;
	const GradOptions *o = g->o;
	StFile f;
	if (state_load_file(p, o->load, &f, g->params, checkpoint_extras, 3, err, errlen) != 0)
		return -1;
	int rc = 0;
	if (o->second && st_find(&f, checkpoint_extras[0])) {
		int64_t nw = nas_set_numel(p, NAS_WEIGHTS);
		NasTensor m = {.name = checkpoint_extras[0], .kind = NAS_CONV, .rank = 1,
			       .shape = {nw}, .numel = nw};
		rc = state_read_tensors(p, o->load, &f, &m, 1, g->momentum, err, errlen);
		g->has_momentum = 1;
	}
	st_free(&f);
	if (rc != 0 || batch_load(p, o->batch, &g->train, err, errlen) != 0)
		return -1;
	if (o->second && batch_load(p, o->val_batch, &g->val, err, errlen) != 0)
		return -1;
	return 0;
}

static void compute(Grad *g)
{
	const NasProgram *p = g->p;
	const GradOptions *o = g->o;
	if (!o->second) {
		NasRun run = {
			.params = g->params, .x = g->train.x, .y = g->train.y, .arena = g->arena,
			.seed = o->seed, .step = 0, .grads = g->grads, .logits = NULL, .loss = 0,
		};
		if (o->alpha_only && p->grad_alpha)
			p->grad_alpha(&run);
		else
			p->grad(&run);
		g->loss = run.loss;
		return;
	}
	/* No drop-path; the training batch's runs draw noise step 0, the
	 * validation batch's step 1. */
	NasUnrolledStep s = {
		.params = g->params, .momentum = g->has_momentum ? g->momentum : NULL,
		.xi = o->lr, .mu = o->momentum, .lambda = o->weight_decay, .seed = o->seed,
		.train = {.x = g->train.x, .y = g->train.y, .step = 0},
		.val = {.x = g->val.x, .y = g->val.y, .step = 1},
	};
	nas_unrolled_grad(&g->u, &s, g->grads, &g->loss_train, &g->loss);
}

/* 0, or 1 with the reason on stderr when a loss or the gradient is not
 * finite. */
static int check_finite(const Grad *g, const char *bin, Norms *n)
{
	const NasProgram *p = g->p;
	const GradOptions *o = g->o;
	int64_t k = 0;
	int bad = grad_norms(p, g->grads, n, &k);
	if (o->second && !isfinite(g->loss_train)) {
		fprintf(stderr, "%s: %s: the loss on batch %s is %s\n", bin, o->load, o->batch,
			nonfinite(g->loss_train));
		return 1;
	}
	if (!isfinite(g->loss)) {
		if (o->second)
			fprintf(stderr, "%s: %s: the loss on validation batch %s after the virtual "
				"step is %s\n", bin, o->load, o->val_batch, nonfinite(g->loss));
		else
			fprintf(stderr, "%s: %s: the loss on batch %s is %s\n", bin, o->load, o->batch,
				nonfinite(g->loss));
		return 1;
	}
	if (bad >= 0) {
		const NasTensor *t = &p->tensors[bad];
		fprintf(stderr, "%s: %s: the %sgradient of tensor %s on batch %s is %s at element %"
			PRId64 "\n", bin, o->load, o->second ? "second-order " : "", t->name,
			o->batch, nonfinite(nas_real_get(g->grads, p->real_size, t->offset + k)), k);
		return 1;
	}
	if (!isfinite(n->w) || !isfinite(n->alpha)) {
		fprintf(stderr, "%s: %s: the gradient norm on batch %s overflows\n", bin, o->load,
			o->batch);
		return 1;
	}
	return 0;
}

static int save(const Grad *g, char *err, size_t errlen)
{
	const NasProgram *p = g->p;
	const GradOptions *o = g->o;
	char loss[32], loss_train[32], xi[32], mu[32], wd[32];
	snprintf(loss, sizeof loss, "%.17g", g->loss);
	snprintf(loss_train, sizeof loss_train, "%.17g", g->loss_train);
	snprintf(xi, sizeof xi, "%.17g", o->lr);
	snprintf(mu, sizeof mu, "%.17g", o->momentum);
	snprintf(wd, sizeof wd, "%.17g", o->weight_decay);
	const char *const kv[] = {
		"state", o->load, "batch", o->batch, "loss", loss,
		"order", "second", "val_batch", o->val_batch, "loss_train", loss_train,
		"xi", xi, "momentum", mu, "weight_decay", wd,
		"momentum_buffer", g->has_momentum ? "state" : "zero",
	};
	return state_save(p, o->save_grad, g->grads, NULL, p->real_size,
			  p->real_size == 8 ? ST_F64 : ST_F32, kv, o->second ? 10 : 3, err, errlen);
}

static void print(const Grad *g, const Norms *n)
{
	const NasProgram *p = g->p;
	const GradOptions *o = g->o;
	if (!o->second && o->json)
		printf("{\"loss\": %.17g, \"grad_norm_w\": %.17g, \"grad_norm_alpha\": %.17g, "
		       "\"tensors\": %d, \"batch\": %" PRId64 "}\n", g->loss, n->w, n->alpha,
		       p->ntensors, p->batch);
	else if (!o->second)
		printf("loss             %.9g\n"
		       "grad norm w      %.9g  (%d tensor%s, %" PRId64 " values)\n"
		       "grad norm alpha  %.9g  (%d tensor%s, %" PRId64 " values)\n",
		       g->loss, n->w, n->nw, n->nw == 1 ? "" : "s", n->vw, n->alpha, n->nalpha,
		       n->nalpha == 1 ? "" : "s", n->valpha);
	else if (o->json)
		printf("{\"order\": \"second\", \"loss\": %.17g, \"loss_train\": %.17g, "
		       "\"grad_norm_alpha\": %.17g, \"xi\": %.17g, \"momentum\": %.17g, "
		       "\"weight_decay\": %.17g, \"momentum_buffer\": %s, \"tensors\": %d, "
		       "\"batch\": %" PRId64 "}\n", g->loss, g->loss_train, n->alpha, o->lr,
		       o->momentum, o->weight_decay, g->has_momentum ? "true" : "false",
		       p->ntensors, p->batch);
	else
		printf("second order     xi %g, momentum %g (buffer %s), weight decay %g\n"
		       "loss train       %.9g  (at w, on %s)\n"
		       "loss unrolled    %.9g  (at w', on %s)\n"
		       "grad norm alpha  %.9g  (%d tensor%s, %" PRId64 " values)\n",
		       o->lr, o->momentum, g->has_momentum ? "from the state" : "zero",
		       o->weight_decay, g->loss_train, o->batch, g->loss, o->val_batch, n->alpha,
		       n->nalpha, n->nalpha == 1 ? "" : "s", n->valpha);
}

static int run_grad(Grad *g, const char *bin)
{
	char err[1024];
	if (load_inputs(g, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		return 1;
	}
	compute(g);
	Norms n;
	if (check_finite(g, bin, &n) != 0)
		return 1;
	if (g->o->save_grad && save(g, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		return 1;
	}
	print(g, &n);
	return 0;
}

int cmd_grad(const NasProgram *p, const char *bin, const GradOptions *o)
{
	if (o->second && !p->mixed) {
		fprintf(stderr, "%s: this program was compiled without the mixed product "
			"d/dw (grad_alpha L) . v, which the second order needs; rebuild it with "
			"this version of nasc\n", bin);
		return 1;
	}
	/* Everything a step needs is allocated here, once. */
	Grad g = {.p = p, .o = o};
	size_t np = (size_t)p->nparams, rs = (size_t)p->real_size;
	g.params = nas_alloc64_array(np, rs);
	g.grads = nas_alloc64_array(np, rs);  /* zeroed: the weights' entries stay 0 */
	int ok = g.params && g.grads;
	if (o->second)
		ok = ok && (g.momentum = nas_alloc64_array((size_t)nas_set_numel(p, NAS_WEIGHTS), rs)) &&
		     nas_unrolled_init(&g.u, p, NULL) == 0;
	else
		ok = ok && (g.arena = nas_alloc64((size_t)p->arena_bytes));
	int rc;
	if (!ok) {
		fprintf(stderr, "%s: out of memory (%" PRId64 " parameters, arenas of %" PRId64
			" bytes)\n", bin, p->nparams,
			p->arena_bytes + (o->second ? p->mixed_arena_bytes : 0));
		rc = 1;
	} else {
		rc = run_grad(&g, bin);
	}
	batch_free(&g.train);
	batch_free(&g.val);
	free(g.params);
	free(g.grads);
	free(g.arena);
	free(g.momentum);
	nas_unrolled_free(&g.u);
	return rc;
}
