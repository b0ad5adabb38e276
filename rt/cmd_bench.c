/* cmd_bench.c - `BIN bench`: how fast the program runs, the numbers
 * bench/torch_step.py gives for PyTorch.  Two measurements on random
 * batches, each the median and minimum wall-clock time of --iters
 * iterations after --warmup untimed ones:
 *   fwd_bwd  the loss and its gradient on the training batch (p->grad);
 *   step     one first-order DARTS search step: the gradient of alpha on
 *            the validation batch (p->grad_alpha: the weights' gradients
 *            are not needed there, so they are not computed) and Adam on
 *            alpha, then the gradient on the training batch, its norm
 *            over the weights clipped to 5, and SGD with momentum on the
 *            weights;
 *   second   (--only second) the same step in second order: the exact
 *            unrolled alpha gradient (unrolled.h) with xi the weights'
 *            lr and their momentum buffer, instead of the first-order
 *            gradient of alpha.
 * Everything is allocated before the clock starts; an iteration allocates
 * nothing. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "commands.h"
#include "hessian.h"
#include "optim.h"
#include "rng.h"
#include "state.h"
#include "unrolled.h"

/* The search step's hyper-parameters: DARTS (Liu et al.), first order. */
static const NasAdamConfig ARCH_OPT = {
	.lr = 3e-4, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-3,
};
static const NasSgdConfig WEIGHT_OPT = {
	.lr = 0.025, .momentum = 0.9, .dampening = 0, .weight_decay = 3e-4, .nesterov = 0,
};
static const double WEIGHT_CLIP = 5.0;

/* FLOPs as bench/torch_step.py counts them: p->flops per sample for the
 * forward pass, 3x that for forward + backward, 6x for a step. */
#define FLOP_CONVENTION "3x forward conv+linear"
enum { FWD_BWD_FACTOR = 3, STEP_FACTOR = 6 };

/* The batches draw from streams 2^62 + k of the seed: apart from the
 * initialization's (stream i for tensor i) and the noise's (top bit set).
 * k = 0, 1: x and y of the training batch; 2, 3: of the validation one. */
#define STREAM_BATCH (UINT64_C(1) << 62)
enum { TRAIN, VAL };

typedef struct Bench {
	const NasProgram *p;
	const BenchOptions *o;
	void *params, *grads, *arena;
	void *x[2];
	int64_t *y[2];
	NasAdam arch;
	NasSgd weights;
	NasUnrolled unrolled;   /* --only second */
	double *ms;             /* the timed iterations of a measurement */
	uint64_t runs;          /* evaluations so far: run k draws noise at step k */
	double loss;            /* of the latest evaluation */
} Bench;

typedef struct Timing {
	int done;
	double median, min;     /* ms per iteration */
} Timing;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- setting up ---- */

/* A random batch: x N(0, 1), y uniform over the classes. */
static void make_batch(Bench *b, int which, float *tmp)
{
	const NasProgram *p = b->p;
	int64_t n = p->batch * p->in_c * p->in_h * p->in_w;
	uint64_t stream = STREAM_BATCH + 2 * (uint64_t)which;
	if (p->real_size == 4) {
		rng_fill_normal(b->x[which], n, b->o->seed, stream, 0);
	} else {
		rng_fill_normal(tmp, n, b->o->seed, stream, 0);
		for (int64_t i = 0; i < n; i++)
			((double *)b->x[which])[i] = tmp[i];
	}
	Rng r;
	rng_seed(&r, b->o->seed, stream + 1);
	for (int64_t i = 0; i < p->batch; i++)
		b->y[which][i] = rng_below(&r, (uint32_t)p->classes);
}

/* Allocates everything and initializes parameters and batches; 0, or -1
 * when memory runs out. */
static int setup(Bench *b)
{
	const NasProgram *p = b->p;
	size_t rs = (size_t)p->real_size;
	size_t nx = (size_t)(p->batch * p->in_c * p->in_h * p->in_w);
	b->params = nas_alloc64_array((size_t)p->nparams, rs);
	b->grads = nas_alloc64_array((size_t)p->nparams, rs);
	b->arena = nas_alloc64((size_t)p->arena_bytes);
	b->ms = malloc(sizeof *b->ms * (size_t)b->o->iters);
	/* Initialization is float: an f64 build widens it. */
	float *tmp = rs == 8 ? nas_alloc64_array(nx > (size_t)p->nparams ? nx : (size_t)p->nparams,
						  sizeof *tmp) : NULL;
	for (int k = TRAIN; k <= VAL; k++) {
		b->x[k] = nas_alloc64_array(nx, rs);
		b->y[k] = nas_alloc64_array((size_t)p->batch, sizeof *b->y[k]);
	}
	int ok = b->params && b->grads && b->arena && b->ms && (rs == 4 || tmp) && b->x[TRAIN] &&
		 b->x[VAL] && b->y[TRAIN] && b->y[VAL] &&
		 nas_adam_init(&b->arch, p, NAS_ALPHAS, &ARCH_OPT) == 0 &&
		 nas_sgd_init(&b->weights, p, NAS_WEIGHTS, &WEIGHT_OPT) == 0;
	if (ok) {
		if (rs == 4) {
			state_init(p, b->o->seed, b->params);
		} else {
			state_init(p, b->o->seed, tmp);
			for (int64_t i = 0; i < p->nparams; i++)
				((double *)b->params)[i] = tmp[i];
		}
		make_batch(b, TRAIN, tmp);
		make_batch(b, VAL, tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

static void teardown(Bench *b)
{
	free(b->params);
	free(b->grads);
	free(b->arena);
	free(b->ms);
	for (int k = TRAIN; k <= VAL; k++) {
		free(b->x[k]);
		free(b->y[k]);
	}
	nas_adam_free(&b->arch);
	nas_sgd_free(&b->weights);
	nas_unrolled_free(&b->unrolled);
}

/* ---- the measurements ---- */

/* The loss and the gradient of the current parameters on a batch (of
 * alpha alone with alpha_only). */
static void grad(Bench *b, int which, bool alpha_only)
{
	NasRun run = {
		.params = b->params, .x = b->x[which], .y = b->y[which], .arena = b->arena,
		.seed = b->o->seed, .step = b->runs++, .grads = b->grads, .logits = NULL,
		.loss = 0,
	};
	if (alpha_only && b->p->grad_alpha)
		b->p->grad_alpha(&run);
	else
		b->p->grad(&run);
	b->loss = run.loss;
}

static void fwd_bwd(Bench *b)
{
	grad(b, TRAIN, false);
}

/* (b) of a search step: the weights, from the training batch */
static void weight_step(Bench *b)
{
	grad(b, TRAIN, false);
	nas_clip_grad_norm(b->p, NAS_WEIGHTS, b->grads, WEIGHT_CLIP);
	nas_sgd_step(&b->weights, b->params, b->grads);
}

static void search_step(Bench *b)
{
	/* (a) the architecture, from the validation batch (first order) */
	grad(b, VAL, true);
	nas_adam_step(&b->arch, b->params, b->grads);
	weight_step(b);
}

static void second_step(Bench *b)
{
	/* (a) the architecture, through the virtual step on the training
	 * batch, as a second-order search takes it */
	NasUnrolledStep s = {
		.params = b->params,
		.momentum = b->weights.steps && b->weights.buf ? b->weights.buf : NULL,
		.xi = WEIGHT_OPT.lr, .mu = WEIGHT_OPT.momentum, .lambda = WEIGHT_OPT.weight_decay,
		.seed = b->o->seed,
		.train = {.x = b->x[TRAIN], .y = b->y[TRAIN], .step = b->runs},
		.val = {.x = b->x[VAL], .y = b->y[VAL], .step = b->runs + 1},
	};
	b->runs += 2;
	nas_unrolled_grad(&b->unrolled, &s, b->grads, NULL, &b->loss);
	nas_adam_step(&b->arch, b->params, b->grads);
	weight_step(b);
}

static void progress(const char *bin, const BenchOptions *o, const char *what)
{
	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "%s: bench: %s, %d warmup + %d timed iteration%s\n", bin, what,
			o->warmup, o->iters, o->iters == 1 ? "" : "s");
		fflush(stderr);
	}
}

static Timing measure(Bench *b, void (*fn)(Bench *))
{
	for (int i = 0; i < b->o->warmup; i++)
		fn(b);
	for (int i = 0; i < b->o->iters; i++) {
		double t0 = now_ms();
		fn(b);
		b->ms[i] = now_ms() - t0;
	}
	int n = b->o->iters;
	qsort(b->ms, (size_t)n, sizeof *b->ms, cmp_double);
	Timing t = {.done = 1, .min = b->ms[0]};
	t.median = n % 2 ? b->ms[n / 2] : (b->ms[n / 2 - 1] + b->ms[n / 2]) / 2;
	return t;
}

/* ---- the report ---- */


static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_timing(const Timing *t)
{
	if (t->done)
		printf("{\"median\": %.9g, \"min\": %.9g}", t->median, t->min);
	else
		fputs("null", stdout);
}

/* GFLOP/s at the median time, or a negative number when there is none. */
static double gflops(double flops, const Timing *t)
{
	return t->done && t->median > 0 ? flops / (t->median * 1e-3) / 1e9 : -1;
}

static void json_number(double v)
{
	if (v >= 0)
		printf("%.9g", v);
	else
		fputs("null", stdout);
}

static const char *only_name(BenchOnly only)
{
	return only == BENCH_FWD_BWD ? "fwd_bwd" : only == BENCH_STEP ? "step"
	       : only == BENCH_CURVATURE ? "curvature" : only == BENCH_SECOND ? "second" : NULL;
}

/* The curvature measurements: the exact Hessian once, Lanczos over the
 * timed iterations. */
typedef struct CurvReport {
	int done;
	double exact_s, lambda_exact, lambda_lanczos, lanczos_rel;
	int n, exact_hvps, lanczos_iters, lanczos_converged;
	Timing lanczos;
} CurvReport;

static int measure_curvature(Bench *b, CurvReport *cr, char *err, size_t errlen)
{
	Hessian h;
	if (hess_init(&h, b->p, err, errlen) != 0)
		return -1;
	HessConfig exact = {.mode = NAS_HESS_EXACT, .weight_decay = ARCH_OPT.weight_decay};
	HessConfig lz = {.mode = NAS_HESS_LANCZOS, .weight_decay = ARCH_OPT.weight_decay, .k = 1,
			 .iters = 20, .tol = 1e-5, .seed = b->o->seed};
	CurvResult r = {0};
	double loss, t0 = now_ms();
	int rc = hess_eval(&h, &exact, b->params, b->x[VAL], b->y[VAL], b->o->seed, 0, &r, &loss,
			   err, errlen);
	cr->exact_s = (now_ms() - t0) / 1e3;
	cr->lambda_exact = r.lambda_max;
	cr->n = r.n;
	cr->exact_hvps = r.hvps;
	curv_free(&r);
	for (int i = 0; rc == 0 && i < b->o->warmup + b->o->iters; i++) {
		t0 = now_ms();
		rc = hess_eval(&h, &lz, b->params, b->x[VAL], b->y[VAL], b->o->seed, 0, &r, &loss, err,
			       errlen);
		if (i >= b->o->warmup)
			b->ms[i - b->o->warmup] = now_ms() - t0;
		cr->lambda_lanczos = r.lambda_max;
		cr->lanczos_iters = r.iters;
		cr->lanczos_converged = r.converged;
		curv_free(&r);
	}
	hess_free(&h);
	if (rc != 0)
		return -1;
	int n = b->o->iters;
	qsort(b->ms, (size_t)n, sizeof *b->ms, cmp_double);
	cr->lanczos = (Timing){.done = 1, .min = b->ms[0],
			       .median = n % 2 ? b->ms[n / 2] : (b->ms[n / 2 - 1] + b->ms[n / 2]) / 2};
	cr->lanczos_rel = fabs(cr->lambda_lanczos - cr->lambda_exact) / fabs(cr->lambda_exact);
	cr->done = 1;
	b->loss = loss;
	return 0;
}

typedef struct Report {
	int threads;
	Timing fb, step, second;
	CurvReport curv;
	double fwd_flops;       /* one batch's forward pass */
	double rss_mib;
	int64_t weight_params, alpha_size;
	double loss;
} Report;

static void print_json(const NasProgram *p, const BenchOptions *o, const Report *r)
{
	const char *only = only_name(o->only);
	printf("{\"impl\": \"nasc\", \"nasc\": ");
	json_string(p->nasc_version);
	printf(", \"threads\": %d, \"config\": {\"spec\": ", r->threads);
	json_string(p->spec);
	printf(", \"config\": ");
	json_string(p->config);
	printf(", \"input\": \"%" PRId64 "x%" PRId64 "x%" PRId64 "\", \"classes\": %" PRId64
	       ", \"batch\": %" PRId64 ", \"real_size\": %d, \"dtype\": \"%s\", \"warmup\": %d"
	       ", \"iters\": %d, \"seed\": %" PRIu64 ", \"only\": %s%s%s, \"mode\": \"train\""
	       ", \"nparams\": %" PRId64 ", \"arena_bytes\": %" PRId64 "}",
	       p->in_c, p->in_h, p->in_w, p->classes, p->batch, p->real_size,
	       p->real_size == 8 ? "float64" : "float32", o->warmup, o->iters, o->seed,
	       only ? "\"" : "", only ? only : "null", only ? "\"" : "", p->nparams,
	       p->arena_bytes);
	printf(", \"flop_convention\": \"" FLOP_CONVENTION "\", \"forward_flops_per_sample\": %"
	       PRId64 ", \"fwd_bwd_flops\": %.0f, \"step_flops\": %.0f", p->flops,
	       FWD_BWD_FACTOR * r->fwd_flops, STEP_FACTOR * r->fwd_flops);
	printf(", \"fwd_bwd_ms\": ");
	json_timing(&r->fb);
	printf(", \"step_ms\": ");
	json_timing(&r->step);
	printf(", \"second_order_step_ms\": ");
	json_timing(&r->second);
	printf(", \"fwd_bwd_gflops\": ");
	json_number(gflops(FWD_BWD_FACTOR * r->fwd_flops, &r->fb));
	printf(", \"step_gflops\": ");
	json_number(gflops(STEP_FACTOR * r->fwd_flops, &r->step));
	const CurvReport *c = &r->curv;
	if (c->done)
		printf(", \"hessian_exact_s\": %.9g, \"hessian_n\": %d, \"hessian_exact_hvps\": %d"
		       ", \"lambda_max_exact\": %.17g"
		       ", \"lanczos_ms\": {\"median\": %.9g, \"min\": %.9g}, \"lanczos_iters\": %d"
		       ", \"lanczos_converged\": %s, \"lambda_max_lanczos\": %.17g"
		       ", \"lanczos_rel_error\": %.3g", c->exact_s, c->n, c->exact_hvps, c->lambda_exact,
		       c->lanczos.median, c->lanczos.min, c->lanczos_iters,
		       c->lanczos_converged ? "true" : "false", c->lambda_lanczos, c->lanczos_rel);
	printf(", \"peak_rss_mib\": %.3f, \"weight_params\": %" PRId64 ", \"alpha_size\": %" PRId64
	       ", \"loss\": %.17g}\n", r->rss_mib, r->weight_params, r->alpha_size, r->loss);
}

static void print_table(const NasProgram *p, const BenchOptions *o, const Report *r)
{
	printf("nasc %s, %d thread%s: %s (%s), %s, batch %" PRId64 "\n", p->nasc_version,
	       r->threads, r->threads == 1 ? "" : "s", p->spec, p->config,
	       p->real_size == 8 ? "f64" : "f32", p->batch);
	printf("%" PRId64 " weight parameters, %" PRId64 " alphas; forward conv+linear %.2f "
	       "MFLOP/sample, fwd+bwd counted as 3x, step as 6x\n", r->weight_params,
	       r->alpha_size, (double)p->flops / 1e6);
	printf("%-8s %11s %11s %9s\n", "", "median ms", "min ms", "GFLOP/s");
	const Timing *t[2] = {&r->fb, &r->step};
	const char *name[2] = {"fwd_bwd", "step"};
	const double factor[2] = {FWD_BWD_FACTOR, STEP_FACTOR};
	for (int k = 0; k < 2; k++)
		if (t[k]->done) {
			double g = gflops(factor[k] * r->fwd_flops, t[k]);
			printf("%-8s %11.2f %11.2f %9.2f\n", name[k], t[k]->median, t[k]->min,
			       g >= 0 ? g : 0.0);
		}
	if (r->second.done)
		printf("%-8s %11.2f %11.2f %9s  (a second-order step, exact)\n", "second",
		       r->second.median, r->second.min, "-");
	const CurvReport *c = &r->curv;
	if (c->done)
		printf("exact %dx%d Hessian, %d products and LAPACKE: %.2f s, lambda_max %.6g\n"
		       "lambda_max by Lanczos: median %.2f ms, min %.2f ms, %d products%s, %.2g "
		       "from the exact one\n", c->n, c->n, c->exact_hvps, c->exact_s, c->lambda_exact, c->lanczos.median,
		       c->lanczos.min, c->lanczos_iters, c->lanczos_converged ? "" : " (not converged)",
		       c->lanczos_rel);
	printf("peak RSS %.1f MiB (%d warmup + %d timed iterations); last loss %.6g\n",
	       r->rss_mib, o->warmup, o->iters, r->loss);
}

int cmd_bench(const NasProgram *p, const char *bin, const BenchOptions *o)
{
	Report r = {
		.threads = nas_set_threads(bin, o->threads),
		.fwd_flops = (double)p->flops * (double)p->batch,
		.weight_params = nas_set_numel(p, NAS_WEIGHTS),
		.alpha_size = nas_set_numel(p, NAS_ALPHAS),
	};
	Bench b = {.p = p, .o = o};
	int rc = 0;
	if (setup(&b) != 0) {
		fprintf(stderr, "%s: out of memory (%" PRId64 " parameters, an arena of %" PRId64
			" bytes)\n", bin, p->nparams, p->arena_bytes);
		rc = 1;
		goto out;
	}
	if (o->only == BENCH_CURVATURE) {
		char err[1024];
		progress(bin, o, "curvature");
		if (measure_curvature(&b, &r.curv, err, sizeof err) != 0) {
			fprintf(stderr, "%s: bench: %s\n", bin, err);
			rc = 1;
			goto out;
		}
	}
	if (o->only == BENCH_BOTH || o->only == BENCH_FWD_BWD) {
		progress(bin, o, "fwd_bwd");
		r.fb = measure(&b, fwd_bwd);
	}
	if (isfinite(b.loss) && (o->only == BENCH_BOTH || o->only == BENCH_STEP)) {
		progress(bin, o, "step");
		r.step = measure(&b, search_step);
	}
	if (o->only == BENCH_SECOND) {
		if (nas_unrolled_init(&b.unrolled, p, b.arena) != 0) {
			fprintf(stderr, "%s: bench: no second order: the program has no mixed "
				"product, or memory ran out\n", bin);
			rc = 1;
			goto out;
		}
		progress(bin, o, "second-order step");
		r.second = measure(&b, second_step);
	}
	if (!isfinite(b.loss)) {
		fprintf(stderr, "%s: bench: the loss is %s after %" PRIu64 " evaluations\n", bin,
			isnan(b.loss) ? "NaN" : "infinite", b.runs);
		rc = 1;
		goto out;
	}
	r.loss = b.loss;
	struct rusage ru;
	r.rss_mib = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
	if (o->json)
		print_json(p, o, &r);
	else
		print_table(p, o, &r);
out:
	teardown(&b);
	return rc;
}
