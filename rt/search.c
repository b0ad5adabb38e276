/* search.c - the bilevel search loop (DESIGN.md §4), first or second
 * order.
 *
 * One step of epoch e, as DARTS's train_search.py takes it:
 *   1. a validation batch; the gradient of the loss with respect to alpha
 *      and an Adam step on alpha.  First order: the gradient at w
 *      (p->grad_alpha: the weights' gradients are not needed).  Second
 *      order: the exact gradient through the virtual step on the training
 *      batch of step 2 (unrolled.h), with xi the epoch's learning rate, the
 *      SGD's momentum buffer and weight decay, as DARTS's architect does;
 *   2. a training batch; the gradient with respect to the weights, its
 *      norm clipped to weights.clip, and an SGD step (momentum, nesterov,
 *      weight decay l2) at the epoch's cosine learning rate.
 * Both batches are augmented (DARTS draws both from the training set with
 * its training transform), and the forward passes run in training mode,
 * drawing drop-path masks when drop-path is on: one per batch, which the
 * second order's runs on the training batch share with its weight step.
 * The batch-norm running statistics are updated by the first order's
 * architecture pass and by every weight step; the second order's three
 * architecture runs leave them alone (in DARTS they update a throwaway
 * copy, or update them twice more on the training batch).  After the
 * steps, every validation image is evaluated in eval mode.
 *
 * Reproducibility.  Every random draw is a function of the seed, the epoch
 * and the step: each epoch shuffles with its own streams, each batch
 * augments and each mask drops with its own, noise candidates draw from
 * the step's number.  So the state at an epoch's end (parameters, running
 * statistics, both optimizers, the epoch) is all a checkpoint needs, and a
 * run resumed from it computes what the uninterrupted run computes. */
#include "search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "rng.h"
#include "schedule.h"
#include "state.h"
#include "unrolled.h"

/* Streams of the seed, apart from the initialization's (tensor i draws
 * from stream i), bench's (2^62 + k) and the noise's (top bit set). */
#define STREAM(kind) ((UINT64_C(1) << 61) | ((uint64_t)(kind) << 56))
enum { S_SUBSET = 1, S_SPLIT, S_PERM_TRAIN, S_PERM_VAL, S_AUG, S_DROP, S_CURV };

/* Noise steps (NasRun.step) of evaluations: training-mode ones count two
 * per step; eval-mode ones count from EVAL_STEPS. */
#define EVAL_STEPS (UINT64_C(1) << 40)

struct SearchRun {
	const Dataset *d;
	int64_t *pool;          /* the images used: a subset of d, or all of it */
	int64_t *train, *val;   /* the split, indices into d */
	int64_t ntrain, nval;
	int64_t *perm_train, *perm_val;
	void *x;                /* one batch */
	int64_t *y;
	int64_t *idx;           /* the images of the batch */
	void *grads, *arena, *logits, *drop;
	float *uniform;         /* ndrop * batch draws for a mask */
	/* second order: the training batch and its mask, live from the
	 * architecture step to the weight step, and the unrolled gradient's
	 * workspace */
	void *x2, *drop2;
	int64_t *y2;
	NasUnrolled un;
	int second;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- setting up ---- */

static NasSgdConfig sgd_config(const NasSchedule *s, double lr)
{
	return (NasSgdConfig){.lr = lr, .momentum = s->weights.momentum, .dampening = 0,
			      .weight_decay = s->l2, .nesterov = s->weights.nesterov};
}

static NasAdamConfig adam_config(const NasSchedule *s)
{
	return (NasAdamConfig){.lr = s->arch.lr, .beta1 = s->arch.beta1, .beta2 = s->arch.beta2,
			       .eps = s->arch.eps, .weight_decay = s->arch.weight_decay};
}

int search_init(Search *s, const NasProgram *p, const SearchConfig *cfg)
{
	memset(s, 0, sizeof *s);
	s->p = p;
	s->cfg = *cfg;
	s->params = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	s->running = nas_alloc64_array((size_t)p->nrunning, (size_t)p->real_size);
	NasSgdConfig sc = sgd_config(&cfg->s, cfg->s.weights.lr);
	NasAdamConfig ac = adam_config(&cfg->s);
	if (!s->params || !s->running || nas_sgd_init(&s->sgd, p, NAS_WEIGHTS, &sc) != 0 ||
	    nas_adam_init(&s->adam, p, NAS_ALPHAS, &ac) != 0) {
		search_free(s);
		return -1;
	}
	return 0;
}

void search_free(Search *s)
{
	free(s->params);
	free(s->running);
	nas_sgd_free(&s->sgd);
	nas_adam_free(&s->adam);
	free(s->robust);
	memset(s, 0, sizeof *s);
}

int search_start(Search *s)
{
	const NasProgram *p = s->p;
	if (p->real_size == 4) {
		state_init(p, (uint64_t)s->cfg.s.seed, s->params);
	} else {
		/* Initialization is float: an f64 build widens it. */
		float *tmp = malloc(sizeof *tmp * (size_t)(p->nparams ? p->nparams : 1));
		if (!tmp)
			return -1;
		state_init(p, (uint64_t)s->cfg.s.seed, tmp);
		for (int64_t i = 0; i < p->nparams; i++)
			((double *)s->params)[i] = tmp[i];
		free(tmp);
	}
	state_init_running(p, s->running, p->real_size);
	s->epoch = 0;
	s->wall = 0;
	return 0;
}

/* A uniform permutation of v[0..n) in place, Fisher-Yates from r. */
static void shuffle(int64_t *v, int64_t n, Rng *r)
{
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)rng_below(r, (uint32_t)(i + 1));
		int64_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* The buffers a step runs in, for data d. */
static SearchRun *run_alloc(const Search *s, const Dataset *d)
{
	const NasProgram *p = s->p;
	SearchRun *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->d = d;
	size_t rs = (size_t)p->real_size;
	size_t nx = (size_t)(p->batch * p->in_c * p->in_h * p->in_w);
	r->x = nas_alloc64_array(nx, rs);
	r->y = nas_alloc64_array((size_t)p->batch, sizeof *r->y);
	r->idx = nas_alloc64_array((size_t)p->batch, sizeof *r->idx);
	r->grads = nas_alloc64_array((size_t)p->nparams, rs);
	r->arena = nas_alloc64((size_t)p->arena_bytes);
	r->logits = nas_alloc64_array((size_t)(p->batch * p->classes), rs);
	r->drop = nas_alloc64_array((size_t)(p->ndrop * p->batch), rs);
	r->uniform = nas_alloc64_array((size_t)(p->ndrop * p->batch), sizeof *r->uniform);
	if (!r->x || !r->y || !r->idx || !r->grads || !r->arena || !r->logits || !r->drop ||
	    !r->uniform) {
		search_run_free(r);
		return NULL;
	}
	return r;
}

SearchRun *search_run_eval(const Search *s, const Dataset *d)
{
	return run_alloc(s, d);
}

/* The second order's buffers of r: 0, or -1 when memory runs out or the
 * program has no mixed entry. */
static int run_alloc_second(const Search *s, SearchRun *r)
{
	const NasProgram *p = s->p;
	size_t rs = (size_t)p->real_size;
	r->second = 1;
	r->x2 = nas_alloc64_array((size_t)(p->batch * p->in_c * p->in_h * p->in_w), rs);
	r->y2 = nas_alloc64_array((size_t)p->batch, sizeof *r->y2);
	r->drop2 = nas_alloc64_array((size_t)(p->ndrop * p->batch), rs);
	if (!r->x2 || !r->y2 || !r->drop2)
		return -1;
	/* the training arena: the weight step after it recomputes all of it */
	return nas_unrolled_init(&r->un, p, r->arena);
}

SearchRun *search_run_new(const Search *s, const Dataset *d)
{
	const SearchConfig *c = &s->cfg;
	SearchRun *r = run_alloc(s, d);
	if (!r)
		return NULL;
	int64_t npool = c->subset > 0 && c->subset < d->n ? c->subset : d->n;
	int64_t *tr = NULL, *va = NULL;
	r->pool = malloc(sizeof *r->pool * (size_t)d->n);
	if (!r->pool || data_split(npool, c->s.split, (uint64_t)c->s.seed, STREAM(S_SPLIT), &tr,
				   &r->ntrain, &va, &r->nval) != 0) {
		search_run_free(r);
		return NULL;
	}
	/* The pool: every image, or the first `subset` of a permutation. */
	for (int64_t i = 0; i < d->n; i++)
		r->pool[i] = i;
	if (npool < d->n) {
		Rng g;
		rng_seed(&g, (uint64_t)c->s.seed, STREAM(S_SUBSET));
		shuffle(r->pool, d->n, &g);
	}
	for (int64_t i = 0; i < r->ntrain; i++)
		tr[i] = r->pool[tr[i]];
	for (int64_t i = 0; i < r->nval; i++)
		va[i] = r->pool[va[i]];
	r->train = tr;
	r->val = va;
	r->perm_train = malloc(sizeof *r->perm_train * (size_t)r->ntrain);
	r->perm_val = malloc(sizeof *r->perm_val * (size_t)r->nval);
	if (!r->perm_train || !r->perm_val ||
	    (c->s.second_order && run_alloc_second(s, r) != 0)) {
		search_run_free(r);
		return NULL;
	}
	return r;
}

void search_run_free(SearchRun *r)
{
	if (!r)
		return;
	free(r->pool);
	free(r->train);
	free(r->val);
	free(r->perm_train);
	free(r->perm_val);
	free(r->x);
	free(r->y);
	free(r->idx);
	free(r->grads);
	free(r->arena);
	free(r->logits);
	free(r->drop);
	free(r->uniform);
	free(r->x2);
	free(r->y2);
	free(r->drop2);
	if (r->second)
		nas_unrolled_free(&r->un);
	free(r);
}

/* ---- a step ---- */

/* The cross entropy of sample i's logits against label y, in double. */
static double sample_loss(const NasProgram *p, const void *logits, int64_t i, int64_t y)
{
	const int64_t C = p->classes;
	double m = -INFINITY, z = 0;
	for (int64_t k = 0; k < C; k++) {
		double v = nas_real_get(logits, p->real_size, i * C + k);
		m = v > m ? v : m;
	}
	for (int64_t k = 0; k < C; k++)
		z += exp(nas_real_get(logits, p->real_size, i * C + k) - m);
	return log(z) + m - nas_real_get(logits, p->real_size, i * C + y);
}

/* Correct predictions among the batch's logits. */
static int64_t correct(const NasProgram *p, const void *logits, const int64_t *y, int64_t n)
{
	int64_t c = 0;
	for (int64_t i = 0; i < n; i++) {
		int64_t best = 0;
		double bv = nas_real_get(logits, p->real_size, i * p->classes);
		for (int64_t k = 1; k < p->classes; k++) {
			double v = nas_real_get(logits, p->real_size, i * p->classes + k);
			if (v > bv) {
				bv = v;
				best = k;
			}
		}
		c += best == y[i];
	}
	return c;
}

/* The drop-path mask of evaluation `eval`, written to `mask` (ndrop *
 * batch reals) and returned (NULL when nothing is dropped): each mixed
 * edge of each sample kept with probability 1 - prob and then scaled by
 * 1 / (1 - prob). */
static const void *drop_mask(const NasProgram *p, SearchRun *r, void *mask, double prob,
			     uint64_t seed, uint64_t eval)
{
	if (prob <= 0 || p->ndrop == 0)
		return NULL;
	int64_t n = p->ndrop * p->batch;
	rng_fill_uniform(r->uniform, n, seed, STREAM(S_DROP) | eval, 0);
	double keep = 1 - prob;
	for (int64_t i = 0; i < n; i++) {
		double v = r->uniform[i] < keep ? 1 / keep : 0;
		if (p->real_size == 8)
			((double *)mask)[i] = v;
		else
			((float *)mask)[i] = (float)v;
	}
	return mask;
}

/* Batch b of epoch e: the images perm[(b*B + k) mod n], augmented, into
 * x and y. */
static void load_batch(const Search *s, SearchRun *r, const int64_t *perm, int64_t n, int64_t b,
		       uint64_t aug_stream, double cutout, void *x, int64_t *y)
{
	const NasProgram *p = s->p;
	int64_t *idx = r->idx;
	for (int64_t k = 0; k < p->batch; k++)
		idx[k] = perm[(b * p->batch + k) % n];
	Augment aug = {.crop = s->cfg.s.crop, .flip = s->cfg.s.flip, .cutout_prob = cutout,
		       .cutout = s->cfg.s.cutout.length};
	Rng g;
	rng_seed(&g, (uint64_t)s->cfg.s.seed, aug_stream);
	data_batch(r->d, idx, p->batch, s->cfg.mean, s->cfg.std, &aug, &g, x, p->real_size, y);
}

/* Step 1 of the second order: the exact gradient of L_val(w'(alpha),
 * alpha) into r->grads' alpha tensors, L_val(w') its return; the training
 * batch stays in x2 and y2 for step 2, and *train_drop is its mask. */
static double arch_grad_second(Search *s, SearchRun *r, const EpochStats *st, int64_t i,
			       uint64_t ev, const void **train_drop)
{
	const NasProgram *p = s->p;
	const uint64_t seed = (uint64_t)s->cfg.s.seed;
	load_batch(s, r, r->perm_train, r->ntrain, i, STREAM(S_AUG) | (ev + 1), st->cutout, r->x2,
		   r->y2);
	const void *dt = drop_mask(p, r, r->drop2, st->drop_path, seed, ev + 1);
	load_batch(s, r, r->perm_val, r->nval, i, STREAM(S_AUG) | ev, st->cutout, r->x, r->y);
	const void *dv = drop_mask(p, r, r->drop, st->drop_path, seed, ev);
	NasUnrolledStep u = {.params = s->params,
			     .momentum = s->sgd.steps && s->sgd.buf ? s->sgd.buf : NULL,
			     .xi = st->lr, .mu = s->sgd.c.momentum, .lambda = s->sgd.c.weight_decay,
			     .seed = seed,
			     .train = {.x = r->x2, .y = r->y2, .drop = dt, .step = ev + 1},
			     .val = {.x = r->x, .y = r->y, .drop = dv, .step = ev}};
	double loss_val;
	nas_unrolled_grad(&r->un, &u, r->grads, NULL, &loss_val);
	*train_drop = dt;
	return loss_val;
}

void search_epoch(Search *s, SearchRun *r, EpochStats *st, StepHook hook, void *ctx)
{
	const NasProgram *p = s->p;
	const NasSchedule *sc = &s->cfg.s;
	const uint64_t seed = (uint64_t)sc->seed;
	const int64_t e = s->epoch;
	double t0 = now_s();
	memset(st, 0, sizeof *st);
	st->epoch = e;
	st->steps = r->ntrain / p->batch;
	st->lr = sched_lr(sc, e);
	st->drop_path = sched_ramp(sc->drop_path.prob, sc->drop_path.ramp, e, sc->epochs);
	st->cutout = sched_ramp(sc->cutout.prob, sc->cutout.ramp, e, sc->epochs);
	st->l2 = sc->l2;
	st->arch_weight_decay = sc->arch.weight_decay;
	s->sgd.c.lr = st->lr;
	s->sgd.c.weight_decay = sc->l2;
	s->adam.c.weight_decay = sc->arch.weight_decay;

	Rng g;
	memcpy(r->perm_train, r->train, sizeof *r->train * (size_t)r->ntrain);
	rng_seed(&g, seed, STREAM(S_PERM_TRAIN) | (uint64_t)e);
	shuffle(r->perm_train, r->ntrain, &g);
	memcpy(r->perm_val, r->val, sizeof *r->val * (size_t)r->nval);
	rng_seed(&g, seed, STREAM(S_PERM_VAL) | (uint64_t)e);
	shuffle(r->perm_val, r->nval, &g);

	double train_loss = 0, search_loss = 0;
	int64_t right = 0;
	for (int64_t i = 0; i < st->steps; i++) {
		uint64_t ev = 2 * (uint64_t)(e * st->steps + i);
		NasRun run = {.params = s->params, .x = r->x, .y = r->y, .arena = r->arena,
			      .seed = seed, .grads = r->grads, .running = s->running,
			      .bn_momentum = 0.1};
		/* 1. the architecture, on a validation batch */
		if (r->second) {
			search_loss += arch_grad_second(s, r, st, i, ev, &run.drop);
			run.x = r->x2;
			run.y = r->y2;
		} else {
			load_batch(s, r, r->perm_val, r->nval, i, STREAM(S_AUG) | ev, st->cutout, r->x,
				   r->y);
			run.step = ev;
			run.drop = drop_mask(p, r, r->drop, st->drop_path, seed, ev);
			p->grad_alpha(&run);
			search_loss += run.loss;
		}
		nas_adam_step(&s->adam, s->params, r->grads);
		/* 2. the weights, on a training batch (second order: already
		 * loaded, with its mask) */
		if (!r->second) {
			load_batch(s, r, r->perm_train, r->ntrain, i, STREAM(S_AUG) | (ev + 1),
				   st->cutout, r->x, r->y);
			run.drop = drop_mask(p, r, r->drop, st->drop_path, seed, ev + 1);
		}
		run.step = ev + 1;
		run.logits = r->logits;
		p->grad(&run);
		nas_clip_grad_norm(p, NAS_WEIGHTS, r->grads, sc->weights.clip);
		nas_sgd_step(&s->sgd, s->params, r->grads);
		train_loss += run.loss;
		right += correct(p, r->logits, run.y, p->batch);
		if (hook)
			hook(ctx, s, i + 1, st->steps, train_loss / (double)(i + 1),
			     (double)right / (double)((i + 1) * p->batch));
	}
	st->train_loss = train_loss / (double)st->steps;
	st->search_loss = search_loss / (double)st->steps;
	st->train_acc = (double)right / (double)(st->steps * p->batch);
	search_evaluate(s, r, r->d, r->val, r->nval, &st->val_loss, &st->val_acc);
	s->epoch = e + 1;
	st->seconds = now_s() - t0;
	s->wall += st->seconds;
}

void search_curvature_batch(const Search *s, SearchRun *r, int64_t epoch, const void **x,
			    const int64_t **y)
{
	Rng g;
	memcpy(r->perm_val, r->val, sizeof *r->val * (size_t)r->nval);
	rng_seed(&g, (uint64_t)s->cfg.s.seed, STREAM(S_CURV) | (uint64_t)epoch);
	shuffle(r->perm_val, r->nval, &g);
	const NasProgram *p = s->p;
	for (int64_t k = 0; k < p->batch; k++)
		r->idx[k] = r->perm_val[k % r->nval];
	Augment none = {0};
	data_batch(r->d, r->idx, p->batch, s->cfg.mean, s->cfg.std, &none, &g, r->x, p->real_size,
		   r->y);
	*x = r->x;
	*y = r->y;
}

void search_evaluate(const Search *s, SearchRun *r, const Dataset *d, const int64_t *idx,
		     int64_t n, double *loss, double *acc)
{
	const NasProgram *p = s->p;
	const int64_t B = p->batch;
	double sum = 0;
	int64_t right = 0;
	int64_t *bidx = r->idx;
	for (int64_t b = 0; b * B < n; b++) {
		int64_t real = n - b * B < B ? n - b * B : B;
		for (int64_t k = 0; k < B; k++)
			bidx[k] = idx[b * B + (k < real ? k : 0)];
		data_batch(d, bidx, B, s->cfg.mean, s->cfg.std, NULL, NULL, r->x, p->real_size, r->y);
		NasRun run = {.params = s->params, .x = r->x, .y = r->y, .arena = r->arena,
			      .seed = (uint64_t)s->cfg.s.seed, .step = EVAL_STEPS + (uint64_t)b,
			      .logits = r->logits};
		/* Eval mode reads the running statistics; the training-mode
		 * fallback must not update them. */
		if (p->infer) {
			run.running = s->running;
			p->infer(&run);
		} else {
			p->loss(&run);
		}
		right += correct(p, r->logits, r->y, real);
		/* The mean over the batch includes the padding: the loss of the
		 * real samples alone comes from their logits. */
		for (int64_t k = 0; k < real; k++)
			sum += sample_loss(p, r->logits, k, r->y[k]);
	}
	*loss = sum / (double)n;
	*acc = (double)right / (double)n;
}

void search_alpha_softmax(const NasProgram *p, const void *params, const NasTensor *t,
			  double *out)
{
	int64_t rows = t->rank == 2 ? t->shape[0] : 1, cols = t->numel / (rows ? rows : 1);
	for (int64_t i = 0; i < rows; i++) {
		double m = -INFINITY, z = 0;
		for (int64_t j = 0; j < cols; j++) {
			double v = nas_real_get(params, p->real_size, t->offset + i * cols + j);
			m = v > m ? v : m;
		}
		for (int64_t j = 0; j < cols; j++) {
			out[i * cols + j] = exp(nas_real_get(params, p->real_size,
							     t->offset + i * cols + j) - m);
			z += out[i * cols + j];
		}
		for (int64_t j = 0; j < cols; j++)
			out[i * cols + j] /= z;
	}
}
