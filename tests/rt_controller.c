/* rt_controller.c - the DARTS-ES and DARTS-ADA controllers (rt/controller.c)
 * on synthetic eigenvalue traces: each decision against a brute-force
 * reading of the rule written again here and against values worked out by
 * hand (or in Python, where a comment says so), ADA's rollbacks played out
 * as a search would, the edges of the windows, and every refusal with its
 * message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller.h"

#define NMAX 64

static NasSchedule base(NasController kind)
{
	NasSchedule s;
	memset(&s, 0, sizeof s);
	s.controller.kind = kind;
	s.controller.factor = 1.3;
	s.controller.window = 5;
	s.controller.k = 4;
	s.controller.start = 10;
	s.controller.eta = 10;
	s.controller.max = 3e-2;
	return s;
}

static void start(Controller *c, const NasSchedule *s)
{
	char err[256] = "";
	if (ctrl_init(c, s, err, sizeof err))
		fail_msg("ctrl_init: %s", err);
}

static void near(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("got %.17g, want %.17g", got, want);
}

/* ---- the rule, read again from its definition ---- */

/* The mean of lam[t] over t in [j - h, j + h] that lie in [0, i]. */
static double ref_mean(const double *lam, int i, int j, int h)
{
	double sum = 0;
	int cnt = 0;
	for (int t = j - h; t <= j + h; t++) {
		if (t < 0 || t > i)
			continue;
		sum += lam[t];
		cnt++;
	}
	return sum / cnt;
}

typedef struct Ref {
	int i;                  /* the evaluation that triggers first, or -1 */
	int64_t stop;
	double now, then;
} Ref;

/* The first trigger of the rule over the whole trace, as ES sees it. */
static Ref ref_first(const int64_t *ep, const double *lam, int n, const NasSchedule *s)
{
	int h = (int)s->controller.window / 2, k = (int)s->controller.k;
	for (int i = 0; i < n; i++) {
		int j = i - h, j0 = i - h - k;
		if (j0 < 0 || ep[j0] < s->controller.start)
			continue;
		double now = ref_mean(lam, i, j, h), then = ref_mean(lam, i, j0, h);
		if (then > 0 && now > s->controller.factor * then)
			return (Ref){i, ep[j0], now, then};
	}
	return (Ref){-1, -1, 0, 0};
}

/* A trace and what a controller decided on it. */
typedef struct Trace {
	int n;
	int64_t ep[NMAX];
	double lam[NMAX];
	CtrlDecision d[NMAX];
} Trace;

/* Evaluations every 2 epochs, 0 to 48: 25 of them, lambda still to fill. */
static Trace every2(void)
{
	Trace t = {0};
	for (int64_t e = 0; e <= 48; e += 2)
		t.ep[t.n++] = e;
	return t;
}

/* Feeds the trace to a controller of s's kind (reg 3e-4), stopping at the
 * first decision that acts; returns that evaluation's index or -1, the
 * decisions in t->d. */
static int feed(const NasSchedule *s, Trace *t)
{
	Controller c;
	char err[256];
	start(&c, s);
	int acted = -1;
	for (int i = 0; i < t->n && acted < 0; i++) {
		if (ctrl_update(&c, t->ep[i], t->lam[i], 3e-4, &t->d[i], err, sizeof err))
			fail_msg("epoch %d: %s", (int)t->ep[i], err);
		if (t->d[i].action != CTRL_CONTINUE)
			acted = i;
	}
	ctrl_free(&c);
	return acted;
}

/* ES on the trace stops where the reference says, with its averages;
 * returns the evaluation it stopped at, or -1, the decisions in t->d. */
static int es_agrees(const NasSchedule *s, Trace *t)
{
	Ref r = ref_first(t->ep, t->lam, t->n, s);
	int i = feed(s, t);
	assert_int_equal(i, r.i);
	if (i < 0)
		return -1;
	const CtrlDecision *d = &t->d[i];
	assert_int_equal(d->action, CTRL_STOP);
	assert_true(d->checked && d->triggered && !d->at_max);
	assert_int_equal(d->epoch, t->ep[i]);
	assert_int_equal(d->stop_epoch, r.stop);
	near(d->la_now, r.now, 1e-14);
	near(d->la_then, r.then, 1e-14);
	near(d->ratio, r.now / r.then, 1e-13);
	return i;
}

/* Deterministic noise in [-1, 1): a 64-bit LCG's top 53 bits. */
static void noise(double *u, int n)
{
	uint64_t x = 12345;
	for (int i = 0; i < n; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		u[i] = (double)(x >> 11) * 0x1p-53 * 2 - 1;
	}
}

/* ---- the tests ---- */

static void test_local_average(void **state)
{
	(void)state;
	NasSchedule s = base(NAS_CTRL_ES);
	Controller c;
	char err[256];
	start(&c, &s);
	for (int i = 0; i < 6; i++)
		assert_int_equal(ctrl_record(&c, i, i + 1, err, sizeof err), 0);
	/* 1..6, h = 2: windows cut short at both ends */
	static const double want[] = {2, 2.5, 3, 4, 4.5, 5};
	for (int j = 0; j < 6; j++)
		near(ctrl_local_average(&c, j), want[j], 1e-15);
	assert_true(isnan(ctrl_local_average(&c, -1)));
	assert_true(isnan(ctrl_local_average(&c, 6)));
	ctrl_free(&c);

	/* an even window averages one more: 4 is 5's */
	s.controller.window = 4;
	start(&c, &s);
	assert_int_equal(c.h, 2);
	for (int i = 0; i < 6; i++)
		ctrl_record(&c, i, i + 1, err, sizeof err);
	for (int j = 0; j < 6; j++)
		near(ctrl_local_average(&c, j), want[j], 1e-15);
	ctrl_free(&c);

	/* window 1: the eigenvalue itself */
	s.controller.window = 1;
	start(&c, &s);
	for (int i = 0; i < 6; i++)
		ctrl_record(&c, i, i + 1, err, sizeof err);
	for (int j = 0; j < 6; j++)
		assert_true(ctrl_local_average(&c, j) == j + 1);
	ctrl_free(&c);
}

static void test_es_rising(void **state)
{
	(void)state;
	Trace t = every2();
	const CtrlDecision *d = t.d;
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.1 * pow(1.1, (double)t.ep[i]);
	NasSchedule s = base(NAS_CTRL_ES);
	/* The first comparison allowed is at epoch 22 (i = 11): centre 18 (j =
	 * 9) against centre 10 (j0 = 5), both full windows, a ratio of 1.1^8. */
	int i = es_agrees(&s, &t);
	assert_int_equal(i, 11);
	assert_int_equal(d[i].centre_epoch, 18);
	assert_int_equal(d[i].stop_epoch, 10);
	double now = 0, then = 0;
	for (int e = 14; e <= 22; e += 2)
		now += 0.1 * pow(1.1, e) / 5;
	for (int e = 6; e <= 14; e += 2)
		then += 0.1 * pow(1.1, e) / 5;
	near(d[i].la_now, now, 1e-15);
	near(d[i].la_then, then, 1e-15);
	near(d[i].la_now, 0.5764032704738297, 1e-15);  /* Python */
	near(d[i].la_then, 0.26889637965306845, 1e-15);
	near(d[i].ratio, pow(1.1, 8), 1e-12);
	/* before: no centres, then no earlier centre, then one before start */
	for (int e = 0; e < i; e++) {
		assert_int_equal(d[e].action, CTRL_CONTINUE);
		assert_false(d[e].checked || d[e].triggered);
		assert_int_equal(d[e].centre_epoch, e >= 2 ? t.ep[e - 2] : -1);
		assert_int_equal(d[e].stop_epoch, e >= 6 ? t.ep[e - 6] : -1);
	}
	near(d[10].ratio, pow(1.1, 8), 1e-12);  /* 8 < start: not checked, but reported */

	/* from epoch 0 on, the first is a cut window: (1 + 1.21 + 1.4641) / 30 */
	s.controller.start = 0;
	i = es_agrees(&s, &t);
	assert_int_equal(i, 6);
	assert_int_equal(d[i].stop_epoch, 0);
	near(d[i].la_then, 0.12247, 1e-15);
	near(d[i].la_now, 0.22222841293642018, 1e-15);  /* Python */
}

/* Flat at 0.2 to epoch 20, then 8% more each epoch. */
static void knee(Trace *t)
{
	for (int i = 0; i < t->n; i++)
		t->lam[i] = 0.2 * pow(1.08, t->ep[i] > 20 ? (double)(t->ep[i] - 20) : 0);
}

static void test_es_knee(void **state)
{
	(void)state;
	Trace t = every2();
	knee(&t);
	NasSchedule s = base(NAS_CTRL_ES);
	/* Python: at epoch 28, mean(epochs 20..28) = 0.27859 over 0.2, 1.393;
	 * at 26 it was 1.3 * 0.2 > 0.2 (1 + 1.08^2 + ... + 1.08^6) / 5 */
	int i = es_agrees(&s, &t);
	assert_int_equal(t.ep[i], 28);
	assert_int_equal(t.d[i].stop_epoch, 16);
	near(t.d[i].la_now, 0.2785877397290354, 1e-15);
	assert_true(t.d[i].la_then == 0.2);
	assert_true(t.d[i - 1].checked && !t.d[i - 1].triggered);
}

static void test_flat(void **state)
{
	(void)state;
	Trace t = every2();
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.3;
	NasSchedule s = base(NAS_CTRL_ES);
	assert_int_equal(es_agrees(&s, &t), -1);
	for (int i = 0; i < t.n; i++) {
		assert_false(t.d[i].triggered);
		assert_int_equal(t.d[i].checked, t.ep[i] >= 22);
		if (i >= 6)
			near(t.d[i].ratio, 1, 1e-15);
	}
}

static void test_noisy(void **state)
{
	(void)state;
	Trace t = every2();
	double u[NMAX];
	noise(u, t.n);
	NasSchedule s = base(NAS_CTRL_ES);
	/* 0.5 +- 20%: the averages' ratio stays below 1.11 (Python) */
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.5 * (1 + 0.2 * u[i]);
	assert_int_equal(es_agrees(&s, &t), -1);
	s.controller.start = 0;
	assert_int_equal(es_agrees(&s, &t), -1);
	/* the knee under 6% growth, with the same noise: epoch 30 (Python) */
	s.controller.start = 10;
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.2 * pow(1.06, t.ep[i] > 20 ? (double)(t.ep[i] - 20) : 0) *
			   (1 + 0.2 * u[i]);
	int i = es_agrees(&s, &t);
	assert_int_equal(t.ep[i], 30);
	assert_int_equal(t.d[i].stop_epoch, 18);
	near(t.d[i].ratio, 1.326145891055838, 1e-13);
}

static void test_rise_before_start(void **state)
{
	(void)state;
	Trace t = every2();
	/* 0.05 doubling to 0.4 at epoch 6, then flat */
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.05 * pow(2, t.ep[i] < 6 ? (double)t.ep[i] / 2 : 3);
	NasSchedule s = base(NAS_CTRL_ES);
	/* from 10 on, both centres see 0.4 alone */
	assert_int_equal(es_agrees(&s, &t), -1);
	/* from 0 on: at epoch 12, (0.2 + 4 * 0.4) / 5 against 0.35 / 3 */
	s.controller.start = 0;
	int i = es_agrees(&s, &t);
	assert_int_equal(t.ep[i], 12);
	near(t.d[i].la_now, 0.36, 1e-15);
	near(t.d[i].la_then, 0.35 / 3, 1e-15);
}

static void test_last_epoch(void **state)
{
	(void)state;
	Trace t = every2();
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.3;
	/* the last epoch of 50 is evaluated too, one epoch after 48 */
	t.ep[t.n] = 49;
	t.lam[t.n++] = 3;
	NasSchedule s = base(NAS_CTRL_ES);
	int i = es_agrees(&s, &t);
	assert_int_equal(i, t.n - 1);
	assert_int_equal(t.d[i].epoch, 49);
	assert_int_equal(t.d[i].centre_epoch, 46);
	assert_int_equal(t.d[i].stop_epoch, 38);
	near(t.d[i].la_now, (4 * 0.3 + 3) / 5, 1e-15);
	near(t.d[i].la_then, 0.3, 1e-15);
}

static void test_edges(void **state)
{
	(void)state;
	NasSchedule s = base(NAS_CTRL_ES);
	Trace t = {.n = 5, .ep = {0, 1, 2, 3, 4}, .lam = {1, 1, 1, 1.3, 1.7}};

	/* window 1, k 1: each eigenvalue against the one before, strictly */
	s.controller.window = 1;
	s.controller.k = 1;
	s.controller.start = 0;
	int i = es_agrees(&s, &t);
	assert_int_equal(i, 4);
	assert_true(t.d[3].checked && !t.d[3].triggered); /* 1.3 is not above 1.3 * 1 */
	assert_false(t.d[0].checked);
	assert_int_equal(t.d[1].stop_epoch, 0);
	assert_int_equal(t.d[i].stop_epoch, 3);
	assert_true(t.d[i].la_now == 1.7 && t.d[i].la_then == 1.3); /* 1.7 > 1.69 */

	/* window 4 decides as 5 does */
	t = every2();
	knee(&t);
	Trace t5 = t;
	s = base(NAS_CTRL_ES);
	int i5 = feed(&s, &t5);
	s.controller.window = 4;
	assert_int_equal(feed(&s, &t), i5);
	for (i = 0; i <= i5; i++) {
		assert_int_equal(t.d[i].action, t5.d[i].action);
		assert_int_equal(t.d[i].checked, t5.d[i].checked);
		assert_int_equal(t.d[i].stop_epoch, t5.d[i].stop_epoch);
		assert_true(t.d[i].la_now == t5.d[i].la_now && t.d[i].la_then == t5.d[i].la_then);
	}

	/* too few evaluations: the first h + k = 6 are never checked, however
	 * steep */
	s = base(NAS_CTRL_ES);
	s.controller.start = 0;
	for (i = 0; i < t.n; i++)
		t.lam[i] = pow(10, i);
	assert_int_equal(feed(&s, &t), 6);
	for (i = 0; i < 6; i++)
		assert_false(t.d[i].checked);
}

static void test_nonpositive(void **state)
{
	(void)state;
	NasSchedule s = base(NAS_CTRL_ES);
	s.controller.window = 1;
	s.controller.k = 1;
	s.controller.start = 0;
	static const double cases[][2] = {
		{-1, 5},  /* from below zero to well above */
		{0, 5},   /* from zero */
		{-2, -1}, /* -1 > 1.3 * -2 read literally, yet the average rose */
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		Trace t = {.n = 2, .ep = {0, 2}, .lam = {cases[c][0], cases[c][1]}};
		assert_int_equal(feed(&s, &t), -1);
		assert_true(t.d[1].checked && !t.d[1].triggered);
		assert_true(t.d[1].ratio == 0);
		assert_true(t.d[1].la_then == cases[c][0]);
	}
}

/* A search under ADA, as the loop will run it: evaluations every 2 epochs
 * to 48, the eigenvalue flat at 0.2 until a knee and 8% up per epoch after
 * it, the knee the later the stronger the regularization; a rollback
 * resumes from its stop epoch. */
static int knee_at(double reg)
{
	return reg < 1e-3 ? 20 : reg < 1e-2 ? 30 : 36;
}

static void test_ada(void **state)
{
	(void)state;
	NasSchedule s = base(NAS_CTRL_ADA);
	Controller c;
	CtrlDecision d, acts[8];
	char err[256];
	int nacts = 0;
	double reg = 3e-4;
	start(&c, &s);
	assert_int_equal(ctrl_history_needed(&c, reg), 2 * (2 + 4 - 1) + 2);
	for (int64_t e = 0; e <= 48; e += 2) {
		double lam = 0.2 * pow(1.08, e > knee_at(reg) ? (double)(e - knee_at(reg)) : 0);
		if (ctrl_update(&c, e, lam, reg, &d, err, sizeof err))
			fail_msg("epoch %d: %s", (int)e, err);
		if (!d.triggered) {
			assert_int_equal(d.action, CTRL_CONTINUE);
			continue;
		}
		assert_true(nacts < 8);
		acts[nacts++] = d;
		if (d.action == CTRL_ROLLBACK) {
			/* cut back to the stop epoch, the newest kept */
			assert_int_equal(c.epoch[c.n - 1], d.stop_epoch);
			e = d.stop_epoch;
			reg = d.new_reg;
		}
		/* the first trigger outlives the rollbacks */
		assert_true(c.first.seen);
		assert_int_equal(c.first.epoch, 28);
		assert_int_equal(c.first.stop_epoch, 16);
		near(c.first.la_now, 0.2785877397290354, 1e-15);
	}
	/* Python played the same search out: two rollbacks, then three triggers
	 * at max */
	assert_int_equal(nacts, 5);
	static const struct { CtrlAction a; int64_t epoch, stop; } want[] = {
		{CTRL_ROLLBACK, 28, 16}, {CTRL_ROLLBACK, 38, 26},
		{CTRL_CONTINUE, 44, 32}, {CTRL_CONTINUE, 46, 34}, {CTRL_CONTINUE, 48, 36},
	};
	for (int t = 0; t < nacts; t++) {
		assert_int_equal(acts[t].action, want[t].a);
		assert_int_equal(acts[t].epoch, want[t].epoch);
		assert_int_equal(acts[t].stop_epoch, want[t].stop);
		assert_int_equal(acts[t].at_max, t >= 2);
	}
	assert_true(acts[0].old_reg == 3e-4 && acts[0].new_reg == 3e-4 * 10);
	/* 3e-4 * 10 * 10 falls short of 3e-2 by a rounding: it is max */
	assert_true(acts[1].old_reg == 3e-4 * 10 && acts[1].new_reg == 3e-2);
	assert_true(3e-4 * 10 * 10 != 3e-2);
	assert_true(acts[2].old_reg == 3e-2 && acts[2].new_reg == 3e-2);
	/* evaluations at 0..26 once, then 28..48 */
	assert_int_equal(c.n, 25);
	assert_int_equal(c.epoch[24], 48);
	assert_int_equal(ctrl_history_needed(&c, 3e-4 * 10), 2 + 4 + 1);
	assert_int_equal(ctrl_history_needed(&c, 3e-2), 2 + 4 + 1);
	ctrl_free(&c);

	/* starting at max, reached by products: the first trigger continues */
	start(&c, &s);
	for (int64_t e = 0; e <= 22; e += 2)
		assert_int_equal(ctrl_update(&c, e, pow(1.1, e), 3e-4 * 10 * 10, &d, err, sizeof err),
				 0);
	assert_true(d.triggered && d.at_max);
	assert_int_equal(d.action, CTRL_CONTINUE);
	assert_true(d.new_reg == 3e-4 * 10 * 10);
	assert_int_equal(c.n, 12);
	assert_true(c.first.seen && c.first.epoch == 22 && c.first.stop_epoch == 10);
	/* ctrl_truncate keeps what it should and the first trigger */
	ctrl_truncate(&c, 15);
	assert_int_equal(c.n, 8);
	ctrl_truncate(&c, 14);
	assert_int_equal(c.n, 8);
	assert_true(c.first.seen && c.first.epoch == 22);
	ctrl_free(&c);
}

static void test_none(void **state)
{
	(void)state;
	Trace t = every2();
	for (int i = 0; i < t.n; i++)
		t.lam[i] = 0.1 * pow(1.1, (double)t.ep[i]);
	Trace es = t;
	NasSchedule s = base(NAS_CTRL_NONE);
	assert_int_equal(feed(&s, &t), -1);
	s.controller.kind = NAS_CTRL_ES;
	feed(&s, &es);
	for (int i = 0; i < t.n; i++) {
		assert_false(t.d[i].checked || t.d[i].triggered || t.d[i].at_max);
		assert_true(t.d[i].new_reg == 3e-4);
	}
	/* still averaged, for the log */
	assert_true(t.d[11].la_now == es.d[11].la_now && t.d[11].la_then == es.d[11].la_then);
	Controller c;
	s.controller.kind = NAS_CTRL_NONE;
	start(&c, &s);
	assert_int_equal(ctrl_history_needed(&c, 3e-4), 0);
	ctrl_free(&c);
	s.controller.kind = NAS_CTRL_ES;
	start(&c, &s);
	assert_int_equal(ctrl_history_needed(&c, 0), 7);
	ctrl_free(&c);
}

static void refused_update(Controller *c, int64_t epoch, double lambda, double reg,
			   const char *needle)
{
	char err[256] = "";
	CtrlDecision d;
	int n = c->n;
	if (ctrl_update(c, epoch, lambda, reg, &d, err, sizeof err) != -1)
		fail_msg("epoch %d, %g, %g was accepted", (int)epoch, lambda, reg);
	if (!strstr(err, needle))
		fail_msg("message '%s' lacks '%s'", err, needle);
	assert_int_equal(c->n, n);
}

static void refused_config(NasSchedule s, const char *needle)
{
	Controller c;
	char err[256] = "";
	if (ctrl_init(&c, &s, err, sizeof err) != -1)
		fail_msg("a config was accepted; wanted '%s'", needle);
	if (!strstr(err, needle))
		fail_msg("message '%s' lacks '%s'", err, needle);
	ctrl_free(&c);
}

static void test_refusals(void **state)
{
	(void)state;
	NasSchedule s = base(NAS_CTRL_ADA);
	Controller c;
	CtrlDecision d;
	char err[256];
	start(&c, &s);
	assert_int_equal(ctrl_update(&c, 2, 0.5, 3e-4, &d, err, sizeof err), 0);
	refused_update(&c, 4, NAN, 3e-4, "eigenvalue at epoch 4 is not finite (nan)");
	refused_update(&c, 4, INFINITY, 3e-4, "epoch 4 is not finite (inf)");
	refused_update(&c, 4, -INFINITY, 3e-4, "epoch 4 is not finite");
	refused_update(&c, 2, 0.5, 3e-4, "evaluation at epoch 2 after one at epoch 2");
	refused_update(&c, 1, 0.5, 3e-4, "must come in increasing epochs");
	refused_update(&c, 4, 0.5, 0, "must be a number above 0, not 0");
	refused_update(&c, 4, 0.5, NAN, "regularization");
	assert_int_equal(ctrl_update(&c, 4, 0.5, 3e-4, &d, err, sizeof err), 0);
	ctrl_free(&c);
	s.controller.kind = NAS_CTRL_ES;
	start(&c, &s);
	refused_update(&c, -2, 0.5, 0, "epochs count from 0");
	assert_int_equal(ctrl_update(&c, 0, 0.5, 0, &d, err, sizeof err), 0); /* reg unused */
	ctrl_free(&c);

	s = base(NAS_CTRL_ES);
	s.controller.window = 0;
	refused_config(s, "controller.window must be from 1");
	s = base(NAS_CTRL_NONE);
	s.controller.k = 0;
	refused_config(s, "controller.k must be from 1");
	s = base(NAS_CTRL_ES);
	s.controller.factor = 0;
	refused_config(s, "controller.factor must be a number above 0");
	s.controller.factor = NAN;
	refused_config(s, "controller.factor");
	s = base(NAS_CTRL_ES);
	s.controller.start = -1;
	refused_config(s, "controller.start");
	s = base(NAS_CTRL_ADA);
	s.controller.eta = 1;
	refused_config(s, "controller.eta must be a number above 1, not 1");
	s = base(NAS_CTRL_ADA);
	s.controller.max = 0;
	refused_config(s, "controller.max must be a number above 0");
	s = base(NAS_CTRL_ADA);
	s.controller.kind = (NasController)7;
	refused_config(s, "controller.kind");
	/* what a kind does not use is not checked */
	s = base(NAS_CTRL_ES);
	s.controller.eta = 0;
	s.controller.max = 0;
	start(&c, &s);
	ctrl_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_average),
		cmocka_unit_test(test_es_rising),
		cmocka_unit_test(test_es_knee),
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_noisy),
		cmocka_unit_test(test_rise_before_start),
		cmocka_unit_test(test_last_epoch),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_nonpositive),
		cmocka_unit_test(test_ada),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_refusals),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
