/* controller.c - DARTS-ES and DARTS-ADA's decisions from the eigenvalue
 * trace (see controller.h for the rule). */
#include "controller.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* window and k stay below this, so that h + k + 1 and the trace's indices
 * fit an int (the spec allows 1000). */
#define CTRL_SPAN_MAX (1 << 20)

/* r counts as at max within this relative distance: r is max times a
 * product of etas, rounded at each step. */
#define CTRL_MAX_RTOL 1e-9

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int ctrl_init(Controller *c, const NasSchedule *s, char *err, size_t errlen)
{
	NasController kind = s->controller.kind;
	int64_t window = s->controller.window, k = s->controller.k, start = s->controller.start;
	double factor = s->controller.factor, eta = s->controller.eta, max = s->controller.max;
	*c = (Controller){.kind = kind, .start = start, .factor = factor, .eta = eta, .max = max};
	if (kind != NAS_CTRL_NONE && kind != NAS_CTRL_ES && kind != NAS_CTRL_ADA)
		return fail(err, errlen, "controller.kind %d is none of none, es, ada", (int)kind);
	/* none still averages and compares, for the log */
	if (window < 1 || window > CTRL_SPAN_MAX)
		return fail(err, errlen, "controller.window must be from 1 to %d, not %" PRId64,
			    CTRL_SPAN_MAX, window);
	if (k < 1 || k > CTRL_SPAN_MAX)
		return fail(err, errlen, "controller.k must be from 1 to %d, not %" PRId64,
			    CTRL_SPAN_MAX, k);
	c->window = (int)window;
	c->h = c->window / 2;
	c->k = (int)k;
	if (kind == NAS_CTRL_NONE)
		return 0;
	if (!(factor > 0) || !isfinite(factor))
		return fail(err, errlen, "controller.factor must be a number above 0, not %g", factor);
	if (start < 0)
		return fail(err, errlen, "controller.start must be 0 or more, not %" PRId64, start);
	if (kind == NAS_CTRL_ADA && (!(eta > 1) || !isfinite(eta)))
		return fail(err, errlen, "controller.eta must be a number above 1, not %g", eta);
	if (kind == NAS_CTRL_ADA && (!(max > 0) || !isfinite(max)))
		return fail(err, errlen, "controller.max must be a number above 0, not %g", max);
	return 0;
}

void ctrl_free(Controller *c)
{
	free(c->epoch);
	free(c->lambda);
	*c = (Controller){0};
}

static bool at_max(const Controller *c, double r)
{
	return r >= c->max * (1 - CTRL_MAX_RTOL);
}

/* The regularization after a rollback from r: r * eta, or max when that
 * reaches it. */
static double raised(const Controller *c, double r)
{
	double up = r * c->eta;
	return at_max(c, up) ? c->max : up;
}

static int check_reg(const Controller *c, double reg, char *err, size_t errlen)
{
	if (c->kind == NAS_CTRL_ADA && (!(reg > 0) || !isfinite(reg)))
		return fail(err, errlen, "ada multiplies the regularization by controller.eta: "
			    "it must be a number above 0, not %g", reg);
	return 0;
}

int ctrl_record(Controller *c, int64_t epoch, double lambda, char *err, size_t errlen)
{
	if (epoch < 0)
		return fail(err, errlen, "evaluation at epoch %" PRId64 ": epochs count from 0",
			    epoch);
	if (c->n > 0 && epoch <= c->epoch[c->n - 1])
		return fail(err, errlen, "evaluation at epoch %" PRId64 " after one at epoch %"
			    PRId64 ": evaluations must come in increasing epochs", epoch,
			    c->epoch[c->n - 1]);
	if (!isfinite(lambda))
		return fail(err, errlen, "the eigenvalue at epoch %" PRId64 " is not finite (%g)",
			    epoch, lambda);
	if (c->n == c->cap) {
		if (c->cap > INT_MAX / 4)
			return fail(err, errlen, "too many evaluations (%d)", c->n);
		int cap = c->cap ? 2 * c->cap : 32;
		int64_t *e = realloc(c->epoch, (size_t)cap * sizeof *e);
		if (e)
			c->epoch = e;
		double *l = realloc(c->lambda, (size_t)cap * sizeof *l);
		if (l)
			c->lambda = l;
		if (!e || !l)
			return fail(err, errlen, "out of memory for %d evaluations", cap);
		c->cap = cap;
	}
	c->epoch[c->n] = epoch;
	c->lambda[c->n] = lambda;
	c->n++;
	return 0;
}

void ctrl_truncate(Controller *c, int64_t epoch)
{
	while (c->n > 0 && c->epoch[c->n - 1] > epoch)
		c->n--;
}

double ctrl_local_average(const Controller *c, int j)
{
	if (j < 0 || j >= c->n)
		return NAN;
	int lo = j - c->h > 0 ? j - c->h : 0;
	int hi = j < c->n - 1 - c->h ? j + c->h : c->n - 1;
	double sum = 0;
	for (int t = lo; t <= hi; t++)
		sum += c->lambda[t];
	return sum / (hi - lo + 1);
}

/* The decision the newest evaluation makes, with reg in force. */
static void decide(Controller *c, double reg, CtrlDecision *d)
{
	int i = c->n - 1, j = i - c->h, j0 = j - c->k;
	*d = (CtrlDecision){.action = CTRL_CONTINUE, .epoch = c->epoch[i], .centre_epoch = -1,
			    .stop_epoch = -1, .old_reg = reg, .new_reg = reg};
	if (j >= 0) {
		d->centre_epoch = c->epoch[j];
		d->la_now = ctrl_local_average(c, j);
	}
	if (j0 < 0)
		return;
	d->stop_epoch = c->epoch[j0];
	d->la_then = ctrl_local_average(c, j0);
	if (d->la_then > 0)
		d->ratio = d->la_now / d->la_then;
	if (c->kind == NAS_CTRL_NONE || d->stop_epoch < c->start)
		return;
	d->checked = true;
	d->triggered = d->la_then > 0 && d->la_now > c->factor * d->la_then;
	if (!d->triggered)
		return;
	if (!c->first.seen) {
		c->first.seen = true;
		c->first.epoch = d->epoch;
		c->first.stop_epoch = d->stop_epoch;
		c->first.la_now = d->la_now;
		c->first.la_then = d->la_then;
	}
	if (c->kind == NAS_CTRL_ES) {
		d->action = CTRL_STOP;
	} else if (at_max(c, reg)) {
		d->at_max = true;
	} else {
		d->action = CTRL_ROLLBACK;
		d->new_reg = raised(c, reg);
		ctrl_truncate(c, d->stop_epoch);
	}
}

int ctrl_update(Controller *c, int64_t epoch, double lambda, double reg, CtrlDecision *d,
		char *err, size_t errlen)
{
	if (check_reg(c, reg, err, errlen) || ctrl_record(c, epoch, lambda, err, errlen))
		return -1;
	decide(c, reg, d);
	return 0;
}

int ctrl_history_needed(const Controller *c, double reg)
{
	if (c->kind == NAS_CTRL_NONE)
		return 0;
	int64_t span = (int64_t)c->h + c->k, need = span + 1;
	if (c->kind == NAS_CTRL_ES || span == 1)
		return (int)need;
	if (check_reg(c, reg, NULL, 0))
		return INT_MAX;
	/* the rollbacks left: as many as raised() takes to reach max (past a
	 * million, more evaluations than any search makes) */
	int64_t left = 0;
	for (double r = reg; !at_max(c, r); r = raised(c, r))
		if (++left > 1000000)
			return INT_MAX;
	int64_t chain = left * (span - 1) + 2;
	if (chain > need)
		need = chain;
	return need > INT_MAX ? INT_MAX : (int)need;
}
