/* cmd_hessian.c - `BIN hessian --load STATE --batch BATCH`: the curvature
 * of the loss in alpha on one batch, in training mode, as RobustDARTS
 * tracks it: the eigenvalues of H + wd I, H the Hessian of the mean
 * cross-entropy in the architecture parameters and wd the arch weight
 * decay.  Exact (every eigenvalue, from n Hessian-vector products) or by
 * Lanczos (the top k).  A summary, or one JSON object. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "batch.h"
#include "commands.h"
#include "hessian.h"
#include "progress.h"
#include "state.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Progress on a terminal: the products so far, redrawn at most 10 times a
 * second. */
typedef struct Shown {
	const char *bin;
	double t0, last;
	int tty;
} Shown;

static void show(void *ctx, int done, int total)
{
	Shown *s = ctx;
	double t = now_s();
	if (!s->tty || (t - s->last < 0.1 && done < total))
		return;
	s->last = t;
	char eta[32];
	progress_duration(eta, sizeof eta, done > 0 ? (t - s->t0) / done * (total - done) : 0);
	fprintf(stderr, "\r%s: Hessian-vector product %d of %d, %s left   ", s->bin, done, total,
		eta);
	if (done == total)
		fputs("\r\033[K", stderr);
}

static void json_array(const double *v, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++)
		printf("%s%.17g", i ? ", " : "", v[i]);
	putchar(']');
}

static void print(const NasProgram *p, const HessianOptions *o, const HessConfig *c,
		  const CurvResult *r, double loss, double seconds)
{
	const char *method = hess_method_name(c->mode);
	if (o->json) {
		printf("{\"lambda_max\": %.17g, \"eigenvalues\": ", r->lambda_max);
		json_array(r->eig, r->neig);
		printf(", \"method\": \"%s\", \"arch_weight_decay\": %.17g, \"n\": %d, "
		       "\"hvps\": %d, \"iters\": %d, \"converged\": %s, \"residual\": %.17g, "
		       "\"error_bound\": %.17g, \"asymmetry\": ",
		       method, c->weight_decay, r->n, r->hvps, r->iters,
		       r->converged ? "true" : "false", r->residual, r->bound);
		if (isfinite(r->asymmetry))
			printf("%.17g", r->asymmetry);
		else
			fputs("null", stdout);
		printf(", \"loss\": %.17g, \"seconds\": %.6g, \"batch\": %" PRId64 "}\n", loss,
		       seconds, p->batch);
		return;
	}
	printf("lambda_max          %.9g\n", r->lambda_max);
	printf("method              %s", method);
	if (c->mode == NAS_HESS_LANCZOS)
		printf(", %d iterations, top %d, %s (residual %.3g, error bound %.3g)\n", r->iters,
		       r->neig, r->converged ? "converged" : "not converged", r->residual, r->bound);
	else
		printf(", all %d eigenvalues (asymmetry before symmetrizing %.3g)\n", r->n,
		       r->asymmetry);
	printf("arch weight decay   %g (added on the diagonal)\n", c->weight_decay);
	printf("loss                %.9g\n", loss);
	printf("products            %d in %.3g s (%.3g ms each)\n", r->hvps, seconds,
	       r->hvps ? 1e3 * seconds / r->hvps : 0.0);
	printf("eigenvalues         (ascending)\n");
	for (int i = 0; i < r->neig; i++)
		printf("%s%12.6g%s", i % 6 == 0 ? "  " : " ", r->eig[i],
		       i % 6 == 5 || i == r->neig - 1 ? "\n" : "");
}

int cmd_hessian(const NasProgram *p, const char *bin, const HessianOptions *o)
{
	char err[1024];
	nas_set_threads(bin, o->threads);
	HessConfig c = {
		.mode = o->lanczos > 0 ? NAS_HESS_LANCZOS : NAS_HESS_EXACT,
		.weight_decay = o->weight_decay >= 0 ? o->weight_decay : p->schedule.arch.weight_decay,
		.k = o->lanczos, .iters = o->iters, .tol = o->tol, .seed = o->seed, .stream = 0,
	};
	Hessian h;
	if (hess_init(&h, p, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		return 1;
	}
	if (c.mode == NAS_HESS_LANCZOS && c.k > h.n) {
		fprintf(stderr, "%s: --lanczos %d asks for more eigenvalues than the %d of alpha\n",
			bin, c.k, h.n);
		hess_free(&h);
		return 1;
	}
	if (c.iters > h.n)
		c.iters = h.n;
	if (c.mode == NAS_HESS_LANCZOS && c.iters < c.k)
		c.iters = c.k;
	void *params = nas_alloc64_array((size_t)p->nparams, (size_t)p->real_size);
	NasBatch b = {0};
	int rc = 1;
	if (!params) {
		fprintf(stderr, "%s: out of memory (%" PRId64 " parameters)\n", bin, p->nparams);
	} else if (state_load(p, o->load, params, NULL, err, sizeof err) != 0 ||
		   batch_load(p, o->batch, &b, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
	} else {
		Shown s = {.bin = bin, .t0 = now_s(), .tty = isatty(STDERR_FILENO)};
		c.progress = show;
		c.progress_ctx = &s;
		CurvResult r = {0};
		double loss = 0;
		if (hess_eval(&h, &c, params, b.x, b.y, o->seed, 0, &r, &loss, err, sizeof err) != 0) {
			fprintf(stderr, "%s: %s on batch %s: %s\n", bin, o->load, o->batch, err);
		} else {
			print(p, o, &c, &r, loss, now_s() - s.t0);
			rc = 0;
		}
		curv_free(&r);
	}
	batch_free(&b);
	free(params);
	hess_free(&h);
	return rc;
}
