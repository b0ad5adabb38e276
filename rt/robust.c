/* robust.c - curvature tracking and the RobustDARTS controllers in a
 * search (see robust.h). */
#include "robust.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"

/* Streams of the Lanczos start vector: apart from search.c's. */
#define STREAM_LANCZOS ((UINT64_C(1) << 61) | (UINT64_C(15) << 56))

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void snapshot_path(char *buf, size_t n, const char *dir, int64_t e)
{
	snprintf(buf, n, "%s/snapshots/epoch-%06" PRId64 ".safetensors", dir, e);
}

/* The trace from s->robust: {"epoch": [...], "lambda": [...], "first":
 * [seen, epoch, stop_epoch, la_now, la_then], "stopped": E or -1,
 * "es_written": 0|1}. */
static int restore(Robust *rb, const char *text, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	json_t *ep = json_object_get(o, "epoch"), *la = json_object_get(o, "lambda");
	json_t *first = json_object_get(o, "first");
	int rc = 0;
	if (!json_is_array(ep) || !json_is_array(la) || json_array_size(ep) != json_array_size(la) ||
	    !json_is_array(first) || json_array_size(first) != 5) {
		snprintf(err, errlen, "the checkpoint's controller trace is damaged");
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(ep); i++)
		rc = ctrl_record(&rb->ctrl, json_integer_value(json_array_get(ep, i)),
				 json_number_value(json_array_get(la, i)), err, errlen);
	if (rc == 0) {
		rb->ctrl.first.seen = json_integer_value(json_array_get(first, 0)) != 0;
		rb->ctrl.first.epoch = json_integer_value(json_array_get(first, 1));
		rb->ctrl.first.stop_epoch = json_integer_value(json_array_get(first, 2));
		rb->ctrl.first.la_now = json_number_value(json_array_get(first, 3));
		rb->ctrl.first.la_then = json_number_value(json_array_get(first, 4));
		json_t *st = json_object_get(o, "stopped");
		rb->stopped = json_is_integer(st) && json_integer_value(st) >= 0;
		rb->stop_epoch = rb->stopped ? json_integer_value(st) : -1;
		rb->es_written = json_is_true(json_object_get(o, "es_written"));
	}
	json_decref(o);
	return rc;
}

static char *trace_json(const Robust *rb)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return NULL;
	const Controller *c = &rb->ctrl;
	fputs("{\"epoch\": [", out);
	for (int i = 0; i < c->n; i++)
		fprintf(out, "%s%" PRId64, i ? ", " : "", c->epoch[i]);
	fputs("], \"lambda\": [", out);
	for (int i = 0; i < c->n; i++)
		fprintf(out, "%s%.17g", i ? ", " : "", c->lambda[i]);
	fprintf(out, "], \"first\": [%d, %" PRId64 ", %" PRId64 ", %.17g, %.17g], \"stopped\": %" PRId64
		", \"es_written\": %d}", c->first.seen ? 1 : 0, c->first.epoch, c->first.stop_epoch,
		c->first.la_now, c->first.la_then, rb->stopped ? rb->stop_epoch : -1, rb->es_written);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int robust_init(Robust *rb, const Search *s, const char *dir, char *err, size_t errlen)
{
	memset(rb, 0, sizeof *rb);
	rb->p = s->p;
	rb->stop_epoch = -1;
	snprintf(rb->dir, sizeof rb->dir, "%s", dir);
	const NasSchedule *sc = &s->cfg.s;
	rb->tracking = sc->hessian.mode != NAS_HESS_NONE;
	if (!rb->tracking)
		return 0;
	if (hess_init(&rb->h, s->p, err, errlen) != 0)
		return -1;
	if (ctrl_init(&rb->ctrl, sc, err, errlen) != 0 ||
	    (s->robust && restore(rb, s->robust, err, errlen) != 0)) {
		robust_free(rb);
		return -1;
	}
	return 0;
}

void robust_free(Robust *rb)
{
	if (rb->tracking) {
		hess_free(&rb->h);
		ctrl_free(&rb->ctrl);
	}
	memset(rb, 0, sizeof *rb);
}

int robust_due(const Robust *rb, const Search *s, int64_t e)
{
	const NasSchedule *sc = &s->cfg.s;
	return rb->tracking && ((e + 1) % sc->hessian.every == 0 || e + 1 == sc->epochs);
}

const char *robust_knob(const Search *s)
{
	return s->cfg.s.controller.knob == NAS_KNOB_AUGMENT ? "drop_path" : "l2";
}

double robust_reg(const Search *s)
{
	const NasSchedule *sc = &s->cfg.s;
	return sc->controller.knob == NAS_KNOB_AUGMENT ? sc->drop_path.prob : sc->l2;
}

void robust_set_reg(Search *s, double reg)
{
	NasSchedule *sc = &s->cfg.s;
	if (sc->controller.knob == NAS_KNOB_AUGMENT) {
		double f = sc->drop_path.prob > 0 ? reg / sc->drop_path.prob : 1;
		sc->drop_path.prob = reg;
		sc->cutout.prob = sc->cutout.prob * f < 1 ? sc->cutout.prob * f : 1;
	} else {
		sc->l2 = reg;
	}
}

static const char *action_name(CtrlAction a)
{
	return a == CTRL_STOP ? "stop" : a == CTRL_ROLLBACK ? "rollback" : "continue";
}

int robust_measure(Robust *rb, Search *s, SearchRun *r, EpochStats *st, char *err,
		   size_t errlen)
{
	const NasSchedule *sc = &s->cfg.s;
	const void *x;
	const int64_t *y;
	search_curvature_batch(s, r, st->epoch, &x, &y);
	int ntop = sc->hessian.mode == NAS_HESS_LANCZOS ? 5 : 8;
	ntop = ntop < rb->h.n ? ntop : rb->h.n;
	int iters = (int)(sc->hessian.iters < rb->h.n ? sc->hessian.iters : rb->h.n);
	HessConfig hc = {.mode = sc->hessian.mode, .weight_decay = sc->arch.weight_decay,
			 .k = iters < ntop ? iters : ntop, .iters = iters, .tol = 1e-5,
			 .seed = (uint64_t)sc->seed, .stream = STREAM_LANCZOS | (uint64_t)st->epoch};
	CurvResult cr = {0};
	double t0 = now_s(), loss = 0;
	if (hess_eval(&rb->h, &hc, s->params, x, y, (uint64_t)sc->seed,
		      (UINT64_C(1) << 41) + (uint64_t)st->epoch, &cr, &loss, err, errlen) != 0)
		return -1;
	st->curv = 1;
	st->curv_method = hess_method_name(sc->hessian.mode);
	st->lambda_max = cr.lambda_max;
	st->curv_loss = loss;
	st->curv_seconds = now_s() - t0;
	st->curv_residual = cr.residual;
	st->curv_hvps = cr.hvps;
	st->curv_iters = cr.iters;
	st->curv_converged = cr.converged;
	st->ntop = cr.neig < (int)(sizeof st->top / sizeof st->top[0]) ? cr.neig : 8;
	for (int i = 0; i < st->ntop; i++)
		st->top[i] = cr.eig[cr.neig - 1 - i];
	curv_free(&cr);
	double reg = robust_reg(s);
	if (ctrl_update(&rb->ctrl, st->epoch, st->lambda_max, reg > 0 ? reg : 1, &rb->d, err,
			errlen) != 0)
		return -1;
	const CtrlDecision *d = &rb->d;
	st->checked = d->checked;
	st->triggered = d->triggered;
	st->at_max = d->at_max;
	st->action = action_name(d->action);
	st->stop_epoch = d->stop_epoch;
	st->la_now = d->la_now;
	st->la_then = d->la_then;
	return 0;
}

/* The epochs whose snapshot a decision may still need: the newest
 * `needed` evaluations of the trace. */
static int wanted(const Robust *rb, int64_t e, int needed)
{
	const Controller *c = &rb->ctrl;
	for (int i = c->n - 1; i >= 0 && i >= c->n - needed; i--)
		if (c->epoch[i] == e)
			return 1;
	return 0;
}

int robust_keep(Robust *rb, Search *s, int evaluated, char *err, size_t errlen)
{
	if (!rb->tracking)
		return 0;
	char path[4200];
	if (evaluated && rb->ctrl.kind != NAS_CTRL_NONE) {
		snprintf(path, sizeof path, "%s/snapshots", rb->dir);
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
			return -1;
		}
		snapshot_path(path, sizeof path, rb->dir, s->epoch - 1);
		if (checkpoint_save(s, path, err, errlen) != 0)
			return -1;
		/* prune what no decision can return to */
		double reg = robust_reg(s);
		int needed = ctrl_history_needed(&rb->ctrl, reg > 0 ? reg : 1);
		snprintf(path, sizeof path, "%s/snapshots", rb->dir);
		DIR *dp = opendir(path);
		struct dirent *de;
		while (dp && (de = readdir(dp))) {
			int64_t e;
			char tail[32];
			if (sscanf(de->d_name, "epoch-%" SCNd64 ".%31s", &e, tail) != 2 ||
			    strcmp(tail, "safetensors") != 0 || wanted(rb, e, needed))
				continue;
			char old[4600];
			snprintf(old, sizeof old, "%s/%s", path, de->d_name);
			unlink(old);
		}
		if (dp)
			closedir(dp);
	}
	char *text = trace_json(rb);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(s->robust);
	s->robust = text;
	return 0;
}

int robust_load(const Robust *rb, int64_t e, Search *out, char *err, size_t errlen)
{
	char path[4200];
	snapshot_path(path, sizeof path, rb->dir, e);
	return checkpoint_load(rb->p, path, out, err, errlen);
}
