/* unit_interp.c - the reference semantics of the graph IR: primitives on
 * cases small enough to work out by hand, then whole supernets against
 * PyTorch (tests/reference/forward_*.safetensors, written by
 * gen_forward.py: a float64 state, a batch, and PyTorch's logits and loss
 * in training mode), and their running statistics and eval mode
 * (tests/reference/eval_darts.safetensors, written by gen_eval.py). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interp.h"
#include "model.h"
#include "passes.h"
#include "parse.h"
#include "fixture.h"

static Arena arena;

static int leaf(IrGraph *g, IrOp op, IrShape s)
{
	return ir_leaf(g, op, s, op == IR_LABELS ? DT_I64 : DT_F32, op == IR_WEIGHT ? "w" : NULL,
		       NULL, (Loc){0});
}

static int node(IrGraph *g, IrOp op, const int *in, int nin, const IrAttr *at)
{
	char err[256];
	int v = ir_add(g, op, in, nin, at, NULL, (Loc){0}, err, sizeof err);
	if (v < 0)
		fail_msg("ir_add: %s", err);
	return v;
}

static void run(Interp *it)
{
	char err[256];
	if (interp_run(it, err, sizeof err) != 0)
		fail_msg("interp_run: %s", err);
}

/* A 3x3 kernel of ones with pad 1 sums each 3x3 neighbourhood; with
 * stride 2 it keeps every other one; a 2-group 1x1 conv keeps groups apart. */
static void test_conv_by_hand(void **state)
{
	(void)state;
	IrGraph g;
	ir_init(&g, &arena);
	int x = leaf(&g, IR_INPUT, ir_shape4(1, 1, 3, 3));
	int w = leaf(&g, IR_WEIGHT, ir_shape4(1, 1, 3, 3));
	IrAttr a = {.kh = 3, .kw = 3, .stride = 1, .pad = 1, .dilation = 1, .groups = 1};
	int in[2] = {x, w};
	int y = node(&g, IR_CONV2D, in, 2, &a);
	a.stride = 2;
	int y2 = node(&g, IR_CONV2D, in, 2, &a);
	Interp it;
	assert_int_equal(interp_init(&it, &g), 0);
	for (int i = 0; i < 9; i++) {
		interp_value(&it, x)[i] = i + 1; /* 1..9 */
		interp_value(&it, w)[i] = 1;
	}
	run(&it);
	const double want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
	for (int i = 0; i < 9; i++)
		assert_true(interp_value(&it, y)[i] == want[i]);
	const double want2[4] = {12, 16, 24, 28};
	for (int i = 0; i < 4; i++)
		assert_true(interp_value(&it, y2)[i] == want2[i]);
	interp_free(&it);
}

/* At a corner a padded 3x3 window sees 4 pixels: the average divides by 4
 * without count_pad and by 9 with it; the max never picks the padding. */
static void test_pools_by_hand(void **state)
{
	(void)state;
	IrGraph g;
	ir_init(&g, &arena);
	int x = leaf(&g, IR_INPUT, ir_shape4(1, 1, 2, 2));
	IrAttr a = {.kh = 3, .kw = 3, .stride = 1, .pad = 1};
	int avg = node(&g, IR_AVG_POOL, &x, 1, &a);
	a.count_pad = true;
	int avg_pad = node(&g, IR_AVG_POOL, &x, 1, &a);
	int mx = node(&g, IR_MAX_POOL, &x, 1, &a);
	Interp it;
	assert_int_equal(interp_init(&it, &g), 0);
	double *xv = interp_value(&it, x);
	xv[0] = -1, xv[1] = -2, xv[2] = -3, xv[3] = -4;
	run(&it);
	for (int i = 0; i < 4; i++) {
		assert_true(fabs(interp_value(&it, avg)[i] - (-10.0 / 4)) < 1e-15);
		assert_true(fabs(interp_value(&it, avg_pad)[i] - (-10.0 / 9)) < 1e-15);
		assert_true(interp_value(&it, mx)[i] == -1);
	}
	interp_free(&it);
}

/* Batch norm leaves each channel with mean 0 and (biased) variance
 * var/(var+eps); cross entropy of equal logits is log K; a mixed edge
 * weighs its candidates by the alpha row it names. */
static void test_bn_ce_mixed_by_hand(void **state)
{
	(void)state;
	IrGraph g;
	ir_init(&g, &arena);
	int x = leaf(&g, IR_INPUT, ir_shape4(2, 1, 1, 2));
	IrAttr bn = {.eps = 1e-5, .momentum = 0.1};
	int y = node(&g, IR_BATCH_NORM, &x, 1, &bn);
	IrShape ls = {.rank = 2, .d = {2, 5}}, ys = {.rank = 1, .d = {2}};
	int logits = leaf(&g, IR_INPUT, ls);
	int labels = leaf(&g, IR_LABELS, ys);
	int ce_in[2] = {logits, labels};
	int ce = node(&g, IR_CROSS_ENTROPY, ce_in, 2, NULL);
	IrShape as = {.rank = 2, .d = {2, 2}};
	int alpha = leaf(&g, IR_INPUT, as);
	int w = node(&g, IR_SOFTMAX, &alpha, 1, NULL);
	int mixed_in[3] = {w, x, y};
	IrAttr row = {.row = 1};
	int mixed = node(&g, IR_MIXED, mixed_in, 3, &row);

	Interp it;
	assert_int_equal(interp_init(&it, &g), 0);
	double *xv = interp_value(&it, x);
	xv[0] = 1, xv[1] = 2, xv[2] = 3, xv[3] = 6; /* mean 3, variance 3.5 */
	interp_value(&it, labels)[0] = 3;
	interp_value(&it, labels)[1] = 0;
	double *av = interp_value(&it, alpha);
	av[0] = 5, av[1] = 5, av[2] = 0, av[3] = log(3.0); /* row 1: weights 1/4, 3/4 */
	run(&it);
	double s = 1 / sqrt(3.5 + 1e-5);
	const double want[4] = {-2 * s, -1 * s, 0, 3 * s};
	for (int i = 0; i < 4; i++)
		assert_true(fabs(interp_value(&it, y)[i] - want[i]) < 1e-12);
	assert_true(fabs(interp_value(&it, ce)[0] - log(5.0)) < 1e-14);
	for (int i = 0; i < 4; i++)
		assert_true(fabs(interp_value(&it, mixed)[i] - (0.25 * xv[i] + 0.75 * want[i])) < 1e-12);
	interp_free(&it);
}

/* Labels arrive as doubles: NaN, a fraction or a huge value is refused by
 * name, not converted (which would be undefined); a pool window narrower
 * than its padding is refused when the graph is built. */
static void test_bad_labels_and_windows(void **state)
{
	(void)state;
	const double bad[] = {NAN, 2.5, 1e300, -1, 5};
	for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
		IrGraph g;
		ir_init(&g, &arena);
		IrShape ls = {.rank = 2, .d = {2, 5}}, ys = {.rank = 1, .d = {2}};
		int logits = leaf(&g, IR_INPUT, ls);
		int labels = leaf(&g, IR_LABELS, ys);
		int in[2] = {logits, labels};
		node(&g, IR_CROSS_ENTROPY, in, 2, NULL);
		node(&g, IR_CE_GRAD, in, 2, NULL);
		Interp it;
		assert_int_equal(interp_init(&it, &g), 0);
		interp_value(&it, labels)[0] = 1;
		interp_value(&it, labels)[1] = bad[b];
		char err[256] = "";
		assert_int_equal(interp_run(&it, err, sizeof err), -1);
		assert_non_null(strstr(err, "of sample 1 is not a class 0..4"));
		interp_free(&it);
	}
	IrGraph g;
	ir_init(&g, &arena);
	int x = leaf(&g, IR_INPUT, ir_shape4(1, 1, 4, 4));
	IrAttr a = {.kh = 3, .kw = 1, .stride = 1, .pad = 1};
	char err[256];
	assert_int_equal(ir_add(&g, IR_MAX_POOL, &x, 1, &a, NULL, (Loc){0}, err, sizeof err), -1);
	a.kw = 0;
	a.pad = 0;
	assert_int_equal(ir_add(&g, IR_AVG_POOL, &x, 1, &a, NULL, (Loc){0}, err, sizeof err), -1);
}

/* A whole supernet against PyTorch in float64: compile the space with the
 * fixture's configuration, load its weights, alpha and batch by name, and
 * compare the logits and the loss. */
static void check_forward(const char *space)
{
	char name[64];
	snprintf(name, sizeof name, "forward_%s.safetensors", space);
	StFile f;
	fixture_read(&f, name);
	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, space);
	Interp it;
	assert_int_equal(interp_init(&it, &m->g), 0);
	int loaded = fixture_load(&it, &f);
	run(&it);
	const StTensor *logits = st_find(&f, "expect.logits"), *loss = st_find(&f, "expect.loss");
	assert_non_null(logits);
	assert_non_null(loss);
	assert_int_equal(logits->numel, ir_numel(m->g.node[m->g.logits].shape));
	double maxdiff = 0;
	for (int64_t i = 0; i < logits->numel; i++) {
		double want = ((const double *)logits->data)[i];
		double got = interp_value(&it, m->g.logits)[i];
		double diff = fabs(got - want) / (1 + fabs(want));
		maxdiff = diff > maxdiff ? diff : maxdiff;
	}
	double want = ((const double *)loss->data)[0], got = interp_value(&it, m->g.loss)[0];
	printf("# %s: %d tensors loaded, loss %.15g (PyTorch %.15g), max logit difference %.3g\n",
	       space, loaded, got, want, maxdiff);
	assert_true(maxdiff < 1e-10);
	assert_true(fabs(got - want) <= 1e-10 * fabs(want));
	interp_free(&it);
	arena_free(&a);
	st_free(&f);
}

/* Eval mode by hand: bn_infer normalizes with the statistics it is given;
 * a drop-path scale multiplies each sample by its entry of the mask row. */
static void test_eval_mode_and_drop_by_hand(void **state)
{
	(void)state;
	IrGraph g;
	ir_init(&g, &arena);
	int x = leaf(&g, IR_INPUT, ir_shape4(2, 1, 1, 2));
	IrShape c1 = {.rank = 1, .d = {1}};
	int mean = ir_leaf(&g, IR_RUNNING, c1, DT_F32, "bn.running_mean", NULL, (Loc){0});
	int var = ir_leaf(&g, IR_RUNNING, c1, DT_F32, "bn.running_var", NULL, (Loc){0});
	g.node[mean].wkind = W_BN_MEAN;
	g.node[var].wkind = W_BN_VAR;
	IrShape ms = {.rank = 2, .d = {2, 2}};
	int mask = leaf(&g, IR_DROP, ms);
	IrAttr eps = {.eps = 1};
	int y = node(&g, IR_BN_INFER, (int[]){x, mean, var}, 3, &eps);
	IrAttr row = {.row = 1};
	int d = node(&g, IR_SAMPLE_SCALE, (int[]){x, mask}, 2, &row);
	Interp it;
	assert_int_equal(interp_init(&it, &g), 0);
	/* the defaults: variance 1 and a mask of ones */
	assert_true(interp_value(&it, var)[0] == 1 && interp_value(&it, mask)[3] == 1);
	memcpy(interp_value(&it, x), (double[]){1, 3, 5, -1}, 4 * sizeof(double));
	interp_value(&it, mean)[0] = 1;
	interp_value(&it, var)[0] = 3; /* (x - 1) / sqrt(3 + 1) */
	memcpy(interp_value(&it, mask), (double[]){7, 7, 0.5, 0}, 4 * sizeof(double));
	run(&it);
	const double want_y[] = {0, 1, 2, -1}, want_d[] = {0.5, 1.5, 0, 0};
	for (int i = 0; i < 4; i++) {
		assert_true(interp_value(&it, y)[i] == want_y[i]);
		assert_true(interp_value(&it, d)[i] == want_d[i]);
	}
	interp_free(&it);
}

/* The running statistics after one training pass from mean 0 and variance
 * 1, and the eval-mode logits and loss with them, against PyTorch. */
static void test_darts_eval_matches_pytorch(void **state)
{
	(void)state;
	StFile f;
	fixture_read(&f, "eval_darts.safetensors");
	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, "darts");
	IrGraph *g = &m->g;
	pass_infer(g);
	Interp it;
	assert_int_equal(interp_init(&it, g), 0);
	fixture_load(&it, &f);
	run(&it);
	interp_update_running(&it, atof(st_meta(&f, "momentum")));
	double worst_run = 0;
	int nrun = 0;
	for (int v = 0; v < g->n; v++) {
		if (g->node[v].op != IR_RUNNING)
			continue;
		char key[512];
		snprintf(key, sizeof key, "expect.running.%s", g->node[v].name);
		const StTensor *t = st_find(&f, key);
		if (!t)
			fail_msg("the fixture has no `%s`", key);
		for (int64_t i = 0; i < t->numel; i++) {
			double want = ((const double *)t->data)[i], got = interp_value(&it, v)[i];
			worst_run = fmax(worst_run, fabs(got - want) / (1e-3 + fabs(want)));
		}
		nrun++;
	}
	run(&it); /* eval mode on the statistics just updated */
	int il = -1, ig = -1;
	for (int i = 0; i < g->nout; i++) {
		il = strcmp(g->out[i].name, INFER_LOSS) == 0 ? g->out[i].v : il;
		ig = strcmp(g->out[i].name, INFER_LOGITS) == 0 ? g->out[i].v : ig;
	}
	const StTensor *logits = st_find(&f, "expect.eval.logits"), *loss = st_find(&f, "expect.eval.loss");
	assert_true(il >= 0 && ig >= 0 && logits && loss);
	double maxdiff = 0;
	for (int64_t i = 0; i < logits->numel; i++) {
		double want = ((const double *)logits->data)[i];
		maxdiff = fmax(maxdiff, fabs(interp_value(&it, ig)[i] - want) / (1 + fabs(want)));
	}
	double want = ((const double *)loss->data)[0], got = interp_value(&it, il)[0];
	printf("# darts: %d running statistics, max relative difference %.3g; eval mode: loss %.15g "
	       "(PyTorch %.15g), max logit difference %.3g\n", nrun, worst_run, got, want, maxdiff);
	assert_int_equal(nrun, 2 * g->nstat);
	assert_true(worst_run < 1e-12);
	assert_true(maxdiff < 1e-10);
	assert_true(fabs(got - want) <= 1e-10 * fabs(want));
	interp_free(&it);
	arena_free(&a);
	st_free(&f);
}

static void test_darts_forward_matches_pytorch(void **state)
{
	(void)state;
	check_forward("darts");
}

static void test_s3_forward_matches_pytorch(void **state)
{
	(void)state;
	check_forward("s3");
}

static int setup(void **state)
{
	(void)state;
	arena_init(&arena);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&arena);
	return 0;
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_by_hand),
		cmocka_unit_test(test_pools_by_hand),
		cmocka_unit_test(test_bn_ce_mixed_by_hand),
		cmocka_unit_test(test_bad_labels_and_windows),
		cmocka_unit_test(test_darts_forward_matches_pytorch),
		cmocka_unit_test(test_s3_forward_matches_pytorch),
		cmocka_unit_test(test_eval_mode_and_drop_by_hand),
		cmocka_unit_test(test_darts_eval_matches_pytorch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
