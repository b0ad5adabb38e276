/* unit_ad.c - the differentiation rules against finite differences, in
 * double precision on the reference interpreter.
 *
 * Every primitive, on small random inputs: the scalar L = <op(inputs), R>
 * is differentiated by reverse mode (ad_grad) and by forward mode (ad_jvp),
 * one input at a time along a random direction, and both must agree with a
 * central difference of L to a relative error below 1e-6.  Then whole
 * supernets (tiny, s2, darts): the gradient program of the loss, tensor by
 * tensor, against central differences of the forward pass, also with a
 * drop-path mask in place, and the Hessian-vector products of them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad.h"
#include "fixture.h"
#include "interp.h"
#include "model.h"
#include "rng.h"

static Arena arena;

enum { MAXIN = 8 };

/* ---- numbers -------------------------------------------------------------- */

static Rng rng;

static double normal(void)
{
	double u = rng_uniform(&rng), v = rng_uniform(&rng);
	return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static void fill_normal(double *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = normal();
}

static double dot(const double *a, const double *b, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* Noise for graphs that have it: a fixed function of the value's index,
 * so every evaluation sees the same sample. */
static void fixed_noise(double *out, int64_t n, int value, void *ctx)
{
	(void)ctx;
	for (int64_t i = 0; i < n; i++)
		out[i] = sin(0.7 * (double)(i + 1) + value);
}

static void run(Interp *it)
{
	char err[256];
	it->noise = fixed_noise;
	if (interp_run(it, err, sizeof err) != 0)
		fail_msg("interp_run: %s", err);
}

/* Relative error, with derivatives that are both zero to rounding passing. */
static double rel_err(double a, double b)
{
	double m = fmax(fabs(a), fabs(b));
	if (m < 1e-11)
		return 0;
	return fabs(a - b) / m;
}

/* The derivative of out (a scalar) when leaves p[k] move along dir[k],
 * by central differences with Richardson extrapolation, compared with
 * want.  Steps shrink when a kink (a relu, a max) falls inside the step: a
 * wrong rule is wrong at every step, so the best agreement over steps is
 * the fair measure. */
static double fd_error_multi(Interp *it, int out, int np, const int *p, double *const *dir,
			     double want)
{
	double **x0 = malloc((size_t)np * sizeof *x0);
	assert_non_null(x0);
	for (int k = 0; k < np; k++) {
		int64_t n = ir_numel(it->g->node[p[k]].shape);
		x0[k] = malloc((size_t)n * sizeof **x0);
		assert_non_null(x0[k]);
		memcpy(x0[k], interp_value(it, p[k]), (size_t)n * sizeof **x0);
	}
	double best = INFINITY;
	for (double h = 1e-4; h > 1e-7 && best >= 1e-7; h /= 10) {
		double d[2];
		for (int r = 0; r < 2; r++) {
			double hr = r ? h / 2 : h, f[2];
			for (int s = 0; s < 2; s++) {
				for (int k = 0; k < np; k++) {
					double *x = interp_value(it, p[k]);
					int64_t n = ir_numel(it->g->node[p[k]].shape);
					for (int64_t i = 0; i < n; i++)
						x[i] = x0[k][i] + (s ? -hr : hr) * dir[k][i];
				}
				run(it);
				f[s] = interp_value(it, out)[0];
			}
			d[r] = (f[0] - f[1]) / (2 * hr);
		}
		double e = rel_err((4 * d[1] - d[0]) / 3, want);
		best = e < best ? e : best;
	}
	for (int k = 0; k < np; k++) {
		memcpy(interp_value(it, p[k]), x0[k],
		       (size_t)ir_numel(it->g->node[p[k]].shape) * sizeof **x0);
		free(x0[k]);
	}
	free(x0);
	run(it); /* leave every value as it was */
	return best;
}

static double fd_error(Interp *it, int out, int p, double *dir, double want)
{
	return fd_error_multi(it, out, 1, &p, &dir, want);
}

/* ---- one primitive ----------------------------------------------------------- */

typedef struct Case {
	IrGraph g;
	int node;
	int nin, in[MAXIN];
	bool positive[MAXIN]; /* the input must be > 0 (rsqrt) */
} Case;

static int leaf(Case *c, IrShape s)
{
	int j = c->nin++;
	assert_true(j < MAXIN);
	c->in[j] = ir_leaf(&c->g, IR_WEIGHT, s, DT_F32, arena_printf(&arena, "p%d", j), NULL,
			   (Loc){0});
	c->g.node[c->in[j]].wkind = W_CONV;
	return c->in[j];
}

static int labels(Case *c, int64_t n)
{
	IrShape s = {.rank = 1, .d = {n}};
	int j = c->nin++;
	c->in[j] = ir_leaf(&c->g, IR_LABELS, s, DT_I64, NULL, NULL, (Loc){0});
	return c->in[j];
}

static IrShape s1(int64_t a)
{
	return (IrShape){.rank = 1, .d = {a}};
}

static IrShape s2(int64_t a, int64_t b)
{
	return (IrShape){.rank = 2, .d = {a, b}};
}

static const IrShape s0 = {.rank = 0};

static void make(Case *c, IrOp op, const IrAttr *at)
{
	char err[256];
	int v = ir_add(&c->g, op, c->in, c->nin, at, NULL, (Loc){0}, err, sizeof err);
	if (v < 0)
		fail_msg("%s: %s", ir_prims[op].name, err);
	c->node = v;
}

static const IrAttr conv_at = {.kh = 3, .kw = 2, .stride = 2, .pad = 1, .dilation = 2, .groups = 2};
static const IrAttr pool_at = {.kh = 3, .kw = 3, .stride = 2, .pad = 1};

/* One instance of each primitive (a variant picks another attribute set).
 * Returns false when op has no instance with that variant. */
/* How many attribute sets build() knows for each primitive (0: a leaf). */
static const int variants[IR_OP_COUNT] = {
	[IR_CONV2D] = 2,
	[IR_MAX_POOL] = 2,
	[IR_AVG_POOL] = 2,
	[IR_RELU] = 1,
	[IR_SCALE] = 1,
	[IR_RSQRT] = 1,
	[IR_ADD] = 1,
	[IR_BATCH_NORM] = 2,
	[IR_BN_INFER] = 2,
	[IR_SAMPLE_SCALE] = 2,
	[IR_SAMPLE_DOT] = 1,
	[IR_CONCAT] = 1,
	[IR_SHIFT] = 1,
	[IR_ZERO] = 1,
	[IR_NOISE] = 1,
	[IR_GLOBAL_AVG_POOL] = 1,
	[IR_LINEAR] = 2,
	[IR_SOFTMAX] = 1,
	[IR_MIXED] = 2,
	[IR_MIXED_DOT] = 2,
	[IR_CROSS_ENTROPY] = 1,
	[IR_CE_GRAD] = 1,
	[IR_MUL] = 1,
	[IR_DOT] = 1,
	[IR_RELU_MASK] = 1,
	[IR_BN_GRAD] = 1,
	[IR_BN_GRAD_JVP] = 1,
	[IR_SOFTMAX_GRAD] = 1,
	[IR_SCALE_BY] = 1,
	[IR_CHANNEL_SUM] = 2,
	[IR_BCAST_C] = 2,
	[IR_ROW_SUM] = 1,
	[IR_ROW_BCAST] = 1,
	[IR_CONV2D_BWD_DATA] = 1,
	[IR_CONV2D_BWD_FILTER] = 1,
	[IR_MAX_POOL_BWD] = 1,
	[IR_MAX_POOL_SELECT] = 1,
	[IR_AVG_POOL_BWD] = 2,
	[IR_UNSHIFT] = 1,
	[IR_SLICE_C] = 1,
	[IR_PAD_C] = 1,
	[IR_GAP_BWD] = 1,
	[IR_MATMUL] = 4,
};

/* One instance of op; variant (below variants[op]) picks its attributes. */
static void build(Case *c, IrOp op, int variant)
{
	IrAttr a = {0};
	IrShape img = ir_shape4(2, 4, 5, 6);
	switch (op) {
	case IR_INPUT:
	case IR_LABELS:
	case IR_WEIGHT:
	case IR_ALPHA:
	case IR_TANGENT:
	case IR_FILL:
	case IR_RUNNING:
	case IR_DROP:
	case IR_OP_COUNT:
		fail_msg("%s is a leaf", ir_prims[op].name);
		return;
	case IR_CONV2D:
		a = conv_at;
		leaf(c, img);
		leaf(c, ir_shape4(6, 2, 3, 2));
		if (variant == 1)
			leaf(c, s1(6));
		break;
	case IR_MAX_POOL:
	case IR_AVG_POOL:
		a = pool_at;
		a.count_pad = variant == 1;
		if (variant == 1)
			a.stride = 1;
		leaf(c, img);
		break;
	case IR_RELU:
	case IR_SCALE:
	case IR_RSQRT:
		a.scale = -0.7;
		a.eps = 1e-5;
		leaf(c, img);
		c->positive[0] = op == IR_RSQRT;
		break;
	case IR_ADD:
		for (int i = 0; i < 3; i++)
			leaf(c, img);
		break;
	case IR_BATCH_NORM:
		a.eps = 1e-5;
		leaf(c, ir_shape4(3, 2, 3, 3));
		if (variant == 1) {
			leaf(c, s1(2));
			leaf(c, s1(2));
		}
		break;
	case IR_BN_INFER:
		/* x, mean, var (> 0) [, gamma, beta] */
		a.eps = 1e-5;
		leaf(c, ir_shape4(3, 2, 3, 3));
		leaf(c, s1(2));
		leaf(c, s1(2));
		c->positive[2] = true;
		if (variant == 1) {
			leaf(c, s1(2));
			leaf(c, s1(2));
		}
		break;
	case IR_SAMPLE_SCALE:
		/* a batch of 2 scaled by row 1 of a 3-row mask */
		a.row = 1;
		leaf(c, variant == 0 ? img : s2(2, 5));
		leaf(c, s2(3, 2));
		break;
	case IR_SAMPLE_DOT:
		a.row = 2;
		a.shape = s2(3, 2);
		leaf(c, img);
		leaf(c, img);
		break;
	case IR_CONCAT:
		leaf(c, ir_shape4(2, 2, 3, 3));
		leaf(c, ir_shape4(2, 3, 3, 3));
		break;
	case IR_SHIFT:
		a.shift = 1;
		leaf(c, img);
		break;
	case IR_ZERO:
	case IR_NOISE:
		a.stride = 2;
		leaf(c, img);
		break;
	case IR_GLOBAL_AVG_POOL:
		leaf(c, img);
		break;
	case IR_LINEAR:
		leaf(c, s2(3, 5));
		leaf(c, s2(4, 5));
		if (variant == 1)
			leaf(c, s1(4));
		break;
	case IR_SOFTMAX:
		leaf(c, s2(3, 4));
		break;
	case IR_MIXED:
		a.row = 1;
		a.col = variant == 0 ? 0 : 1;
		leaf(c, s2(3, 4));
		for (int i = 0; i < (variant == 0 ? 4 : 2); i++)
			leaf(c, ir_shape4(2, 2, 3, 3));
		break;
	case IR_MIXED_DOT:
		a.row = 2;
		a.col = variant == 0 ? 0 : 1;
		a.shape = s2(3, 4);
		for (int i = 0; i < (variant == 0 ? 5 : 3); i++)
			leaf(c, ir_shape4(2, 2, 3, 3));
		break;
	case IR_CROSS_ENTROPY:
	case IR_CE_GRAD:
		leaf(c, s2(3, 5));
		labels(c, 3);
		break;
	case IR_MUL:
	case IR_DOT:
	case IR_RELU_MASK:
	case IR_BN_GRAD:
		a.eps = 1e-5;
		leaf(c, ir_shape4(3, 2, 3, 3));
		leaf(c, ir_shape4(3, 2, 3, 3));
		break;
	case IR_BN_GRAD_JVP:
		a.eps = 1e-5;
		for (int i = 0; i < 3; i++)
			leaf(c, ir_shape4(3, 2, 3, 3));
		break;
	case IR_SOFTMAX_GRAD:
		leaf(c, s2(3, 4));
		leaf(c, s2(3, 4));
		break;
	case IR_SCALE_BY:
		leaf(c, img);
		leaf(c, s0);
		break;
	case IR_CHANNEL_SUM:
		leaf(c, variant == 0 ? img : s2(3, 4));
		break;
	case IR_BCAST_C:
		a.shape = variant == 0 ? img : s2(3, 4);
		leaf(c, s1(4));
		break;
	case IR_ROW_SUM:
		leaf(c, s2(3, 4));
		break;
	case IR_ROW_BCAST:
		a.shape = s2(3, 4);
		leaf(c, s1(3));
		break;
	case IR_CONV2D_BWD_DATA:
		a = conv_at;
		a.shape = img;
		leaf(c, ir_shape4(2, 6, 2, 3)); /* the conv's output */
		leaf(c, ir_shape4(6, 2, 3, 2));
		break;
	case IR_CONV2D_BWD_FILTER:
		a = conv_at;
		leaf(c, img);
		leaf(c, ir_shape4(2, 6, 2, 3));
		break;
	case IR_MAX_POOL_BWD:
		a = pool_at;
		leaf(c, img);
		leaf(c, ir_shape4(2, 4, 3, 3));
		break;
	case IR_MAX_POOL_SELECT:
		a = pool_at;
		leaf(c, img);
		leaf(c, img);
		break;
	case IR_AVG_POOL_BWD:
		a = pool_at;
		a.count_pad = variant == 1;
		a.shape = img;
		leaf(c, ir_shape4(2, 4, 3, 3));
		break;
	case IR_UNSHIFT:
		a.shift = 1;
		a.shape = img;
		leaf(c, ir_shape4(2, 4, 4, 5));
		break;
	case IR_SLICE_C:
		a.offset = 1;
		a.count = 2;
		leaf(c, img);
		break;
	case IR_PAD_C:
		a.offset = 1;
		a.shape = img;
		leaf(c, ir_shape4(2, 2, 5, 6));
		break;
	case IR_GAP_BWD:
		a.shape = img;
		leaf(c, s2(2, 4));
		break;
	case IR_MATMUL:
		a.ta = variant & 1;
		a.tb = variant & 2;
		leaf(c, a.ta ? s2(5, 3) : s2(3, 5));
		leaf(c, a.tb ? s2(4, 5) : s2(5, 4));
		break;
	}
	make(c, op, &a);
}

/* Differentiate one instance both ways and compare with finite differences;
 * returns the worst relative error. */
static double check_case(IrOp op, int variant)
{
	Case c = {0};
	ir_init(&c.g, &arena);
	build(&c, op, variant);
	IrGraph *g = &c.g;
	int r = ir_leaf(g, IR_INPUT, g->node[c.node].shape, DT_F32, NULL, NULL, (Loc){0});
	int in2[2] = {c.node, r};
	char err[256];
	int loss = ir_add(g, IR_DOT, in2, 2, NULL, NULL, (Loc){0}, err, sizeof err);
	assert_true(loss >= 0);

	int wrt[MAXIN], nwrt = 0, grads[MAXIN], tan_leaf[MAXIN], jvp[MAXIN];
	for (int j = 0; j < c.nin; j++)
		if (g->node[c.in[j]].dtype == DT_F32)
			wrt[nwrt++] = c.in[j];
	ad_grad(g, loss, wrt, nwrt, grads);
	for (int j = 0; j < nwrt; j++)
		tan_leaf[j] = ir_leaf(g, IR_TANGENT, g->node[wrt[j]].shape, DT_F32, NULL, NULL, (Loc){0});
	for (int j = 0; j < nwrt; j++)
		ad_jvp(g, &wrt[j], &tan_leaf[j], 1, &loss, 1, &jvp[j]);
	if (ir_verify(g, stderr) != 0)
		fail_msg("%s: the derivative program does not verify", ir_prims[op].name);

	Interp it;
	assert_int_equal(interp_init(&it, g), 0);
	for (int j = 0; j < c.nin; j++) {
		const IrNode *n = &g->node[c.in[j]];
		double *x = interp_value(&it, c.in[j]);
		int64_t cnt = ir_numel(n->shape);
		if (n->dtype == DT_I64) {
			int64_t k = g->node[c.node].shape.rank == 0 ? 5 : g->node[c.node].shape.d[1];
			for (int64_t i = 0; i < cnt; i++)
				x[i] = (double)rng_below(&rng, (uint32_t)k);
			continue;
		}
		fill_normal(x, cnt);
		if (c.positive[j])
			for (int64_t i = 0; i < cnt; i++)
				x[i] = 0.5 + x[i] * x[i];
	}
	fill_normal(interp_value(&it, r), ir_numel(g->node[r].shape));
	for (int j = 0; j < nwrt; j++)
		fill_normal(interp_value(&it, tan_leaf[j]), ir_numel(g->node[wrt[j]].shape));
	run(&it);

	double worst = 0;
	for (int j = 0; j < nwrt; j++) {
		int64_t cnt = ir_numel(g->node[wrt[j]].shape);
		double *dir = interp_value(&it, tan_leaf[j]);
		double rev = dot(interp_value(&it, grads[j]), dir, cnt);
		double fwd = interp_value(&it, jvp[j])[0];
		double e_rev = fd_error(&it, loss, wrt[j], dir, rev);
		double e_fwd = fd_error(&it, loss, wrt[j], dir, fwd);
		if (e_rev > 1e-6 || e_fwd > 1e-6)
			print_message("# %s variant %d input %d: vjp %.3g, jvp %.3g (rev %.12g fwd %.12g)\n",
				      ir_prims[op].name, variant, j, e_rev, e_fwd, rev, fwd);
		worst = fmax(worst, fmax(e_rev, e_fwd));
	}
	interp_free(&it);
	return worst;
}

static void test_every_primitive(void **state)
{
	(void)state;
	rng_seed(&rng, 11, 0);
	double worst = 0;
	int cases = 0;
	for (int op = 0; op < IR_OP_COUNT; op++) {
		int nv = variants[op];
		double op_worst = 0;
		for (int v = 0; v < nv; v++)
			op_worst = fmax(op_worst, check_case((IrOp)op, v));
		bool is_leaf = ir_prims[op].min_in == 0 && ir_prims[op].max_in == 0;
		if (!is_leaf && nv == 0)
			fail_msg("primitive %s has no test case", ir_prims[op].name);
		if (nv)
			print_message("# %-18s %d case%s, worst relative error %.2g\n", ir_prims[op].name,
				      nv, nv > 1 ? "s" : "", op_worst);
		cases += nv;
		worst = fmax(worst, op_worst);
	}
	print_message("# %d cases, worst relative error %.3g\n", cases, worst);
	assert_true(worst < 1e-6);
}

/* ---- whole supernets ------------------------------------------------------------- */

/* Random leaves for a whole network: a batch with labels, weights (halved,
 * but BN scales about 1), alphas and tangents from N(0, 1), and with
 * drop_p > 0 a drop-path mask of zeros and 1/(1 - drop_p).  The same values
 * go to `part`, an interpreter of a prefix of the same graph. */
static void fill_leaves(Interp *it, Interp *part, double drop_p)
{
	const IrGraph *g = it->g;
	int classes = (int)g->node[g->logits].shape.d[1];
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		int64_t cnt = ir_numel(n->shape);
		double *x = interp_value(it, v);
		if (n->op == IR_LABELS)
			for (int64_t i = 0; i < cnt; i++)
				x[i] = (double)rng_below(&rng, (uint32_t)classes);
		else if (n->op == IR_INPUT || n->op == IR_WEIGHT || n->op == IR_ALPHA ||
			 n->op == IR_TANGENT)
			fill_normal(x, cnt);
		else if (n->op == IR_DROP && drop_p > 0)
			for (int64_t i = 0; i < cnt; i++)
				x[i] = rng_uniform(&rng) < drop_p ? 0.0 : 1.0 / (1.0 - drop_p);
		else
			continue;
		if (n->op == IR_WEIGHT && n->wkind != W_BN_GAMMA)
			for (int64_t i = 0; i < cnt; i++)
				x[i] *= 0.5;
		if (v < part->g->n)
			memcpy(interp_value(part, v), x, (size_t)cnt * sizeof *x);
	}
}

/* Small configurations of the example spaces. */
static const char *const tiny_cfg[] = {"C=4", "input=1x8x8", "classes=5", "batch=3"};
static const char *const darts_cfg[] = {"C=2", "layers=3", "nodes=2", "input=3x8x8",
					"classes=10", "batch=2"};

static void check_network(const char *space, const char *const *ov, int nov, double drop_p)
{
	Arena a;
	arena_init(&a);
	Model *m = fixture_space_with(&a, space, ov, nov);
	IrGraph *g = &m->g;
	int n_forward = g->n;
	int ngrad = ad_gradient_program(g);
	assert_true(ngrad > 0);
	assert_int_equal(ir_verify(g, stderr), 0);

	/* one gradient per weight and alpha tensor, in canonical order */
	int k = 0;
	for (int v = 0; v < n_forward; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_WEIGHT && n->op != IR_ALPHA)
			continue;
		assert_true(k < g->nout);
		const char *want = arena_printf(&a, AD_GRAD_PREFIX "%s", n->name);
		assert_string_equal(g->out[k].name, want);
		assert_true(ir_shape_eq(g->node[g->out[k].v].shape, n->shape));
		k++;
	}
	assert_int_equal(k, g->nout);

	Interp it, fwd;
	assert_int_equal(interp_init(&it, g), 0);
	IrGraph fg = *g; /* the forward pass alone: the gradient program only appends */
	fg.n = n_forward;
	assert_int_equal(interp_init(&fwd, &fg), 0);
	rng_seed(&rng, 5, 0);
	fill_leaves(&it, &fwd, drop_p);
	run(&it);

	double worst_w = 0, worst_a = 0;
	for (int i = 0; i < g->nout; i++) {
		const char *name = g->out[i].name + strlen(AD_GRAD_PREFIX);
		int leafv = -1;
		for (int v = 0; v < n_forward && leafv < 0; v++)
			if (g->node[v].name && strcmp(g->node[v].name, name) == 0)
				leafv = v;
		assert_true(leafv >= 0);
		int64_t cnt = ir_numel(g->node[leafv].shape);
		double *dir = malloc((size_t)cnt * sizeof *dir);
		assert_non_null(dir);
		fill_normal(dir, cnt);
		double want = dot(interp_value(&it, g->out[i].v), dir, cnt);
		double e = fd_error(&fwd, g->loss, leafv, dir, want);
		if (e > 1e-6)
			print_message("# %s: %s: relative error %.3g (gradient says %.12g)\n", space,
				      name, e, want);
		if (g->node[leafv].op == IR_ALPHA)
			worst_a = fmax(worst_a, e);
		else
			worst_w = fmax(worst_w, e);
		free(dir);
	}
	print_message("# %s%s: %d tensors, %d forward + %d gradient values; worst relative error "
		      "weights %.3g, alpha %.3g\n",
		      space, drop_p > 0 ? " with drop-path" : "", g->nout, n_forward,
		      g->n - n_forward, worst_w, worst_a);
	assert_true(worst_w < 1e-6);
	assert_true(worst_a < 1e-6);
	interp_free(&it);
	interp_free(&fwd);
	arena_free(&a);
}

static void test_tiny_gradient(void **state)
{
	(void)state;
	check_network("tiny", tiny_cfg, 4, 0);
}

static void test_s2_gradient(void **state)
{
	(void)state;
	const char *ov[] = {"C=4", "layers=3", "nodes=2", "input=3x8x8", "classes=7", "batch=2"};
	check_network("s2", ov, 6, 0);
}

static void test_darts_gradient(void **state)
{
	(void)state;
	check_network("darts", darts_cfg, 6, 0);
}

/* Drop-path: a third of the mixed edges' samples dropped, the rest scaled
 * by 1.5; batch 3, so a row of the mask is rarely all zeros or all kept. */
static const char *const darts_drop_cfg[] = {"C=2", "layers=3", "nodes=2", "input=3x8x8",
					     "classes=10", "batch=3"};

static void test_darts_gradient_drop_path(void **state)
{
	(void)state;
	check_network("darts", darts_drop_cfg, 6, 1.0 / 3);
}

/* Forward over reverse: the tangent of the gradient program, seeded on the
 * architecture tensors (the Hessian-vector products of curvature tracking)
 * or on the weights (the mixed derivative of second-order DARTS), against
 * central differences of the gradient.  S = sum_i <u_i, grad_i> for random
 * u_i folds every gradient into one scalar; its tangent is u . H v. */
static void check_hvp(const char *space, const char *const *ov, int nov, IrOp seed_op,
		      double drop_p)
{
	Arena a;
	arena_init(&a);
	Model *m = fixture_space_with(&a, space, ov, nov);
	IrGraph *g = &m->g;
	int n_forward = g->n;
	ad_gradient_program(g);
	int *u = malloc((size_t)g->nout * sizeof *u), *terms = malloc((size_t)g->nout * sizeof *terms);
	assert_true(u && terms);
	char err[256];
	for (int i = 0; i < g->nout; i++) {
		u[i] = ir_leaf(g, IR_INPUT, g->node[g->out[i].v].shape, DT_F32, NULL, NULL, (Loc){0});
		int in[2] = {g->out[i].v, u[i]};
		terms[i] = ir_add(g, IR_DOT, in, 2, NULL, NULL, (Loc){0}, err, sizeof err);
		assert_true(terms[i] >= 0);
	}
	int sum = ir_add(g, IR_ADD, terms, g->nout, NULL, NULL, (Loc){0}, err, sizeof err);
	assert_true(sum >= 0);
	int n_grad = g->n;
	int nseed = 0;
	int *seeds = malloc((size_t)n_forward * sizeof *seeds);
	int *tans = malloc((size_t)n_forward * sizeof *tans);
	assert_true(seeds && tans);
	for (int v = 0; v < n_forward; v++)
		if (g->node[v].op == seed_op) {
			seeds[nseed] = v;
			tans[nseed++] = ir_leaf(g, IR_TANGENT, g->node[v].shape, DT_F32, NULL, NULL, (Loc){0});
		}
	int hvp;
	ad_jvp(g, seeds, tans, nseed, &sum, 1, &hvp);
	assert_int_equal(ir_verify(g, stderr), 0);

	Interp it, grad;
	assert_int_equal(interp_init(&it, g), 0);
	IrGraph gg = *g;
	gg.n = n_grad;
	assert_int_equal(interp_init(&grad, &gg), 0);
	rng_seed(&rng, 9, 0);
	fill_leaves(&it, &grad, drop_p);
	run(&it);
	double want = interp_value(&it, hvp)[0];

	double **dirs = malloc((size_t)nseed * sizeof *dirs);
	assert_non_null(dirs);
	for (int k = 0; k < nseed; k++)
		dirs[k] = interp_value(&it, tans[k]);
	double e = fd_error_multi(&grad, sum, nseed, seeds, dirs, want);
	print_message("# %s%s: u.Hv seeded on %s (%d tensors): %.12g, relative error %.3g against "
		      "finite differences; %d values in all\n",
		      space, drop_p > 0 ? " with drop-path" : "", ir_prims[seed_op].name, nseed, want,
		      e, g->n);
	assert_true(e < 1e-6);
	free(dirs);
	free(seeds);
	free(tans);
	free(u);
	free(terms);
	interp_free(&it);
	interp_free(&grad);
	arena_free(&a);
}

static void test_tiny_hvp(void **state)
{
	(void)state;
	check_hvp("tiny", tiny_cfg, 4, IR_ALPHA, 0);
}

static void test_darts_hvp(void **state)
{
	(void)state;
	check_hvp("darts", darts_cfg, 6, IR_ALPHA, 0);
}

static void test_darts_hvp_drop_path(void **state)
{
	(void)state;
	check_hvp("darts", darts_drop_cfg, 6, IR_ALPHA, 1.0 / 3);
}

static const char *const s2_cfg[] = {"C=2", "layers=3", "nodes=2", "input=1x8x8", "classes=5",
				      "batch=2"};
static const char *const s3_cfg[] = {"C=2", "layers=3", "nodes=3", "input=1x8x8", "classes=6",
				      "batch=3"};

static void test_s2_mixed_second_derivative(void **state)
{
	(void)state;
	check_hvp("s2", s2_cfg, 6, IR_WEIGHT, 0);
}

static void test_s2_hvp(void **state)
{
	(void)state;
	check_hvp("s2", s2_cfg, 6, IR_ALPHA, 0);
}

static void test_s3_hvp(void **state)
{
	(void)state;
	check_hvp("s3", s3_cfg, 6, IR_ALPHA, 0);
}

static void test_s3_mixed_second_derivative(void **state)
{
	(void)state;
	check_hvp("s3", s3_cfg, 6, IR_WEIGHT, 0);
}

static void test_tiny_mixed_second_derivative(void **state)
{
	(void)state;
	check_hvp("tiny", tiny_cfg, 4, IR_WEIGHT, 0);
}

static void test_darts_mixed_second_derivative(void **state)
{
	(void)state;
	check_hvp("darts", darts_cfg, 6, IR_WEIGHT, 0);
}

/* The curvature program weighs the moving candidates of an edge together.
 * DARTS's `none` is a constant zero with no tangent; it must not split the
 * tangent of each mixed and mixed_dot into one node per candidate, each a
 * pass over the edge's weights or cotangent. */
static void test_darts_tangent_candidates_together(void **state)
{
	(void)state;
	Arena a;
	arena_init(&a);
	Model *m = fixture_space_with(&a, "darts", darts_cfg, 6);
	IrGraph *g = &m->g;
	int forward_mixed = 0, candidates = 0;
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_MIXED) {
			forward_mixed++;
			candidates = g->node[v].nin - 1;
		}
	ad_gradient_program(g);
	int from = g->n;
	assert_true(ad_curvature_program(g) > 0);
	assert_int_equal(ir_verify(g, stderr), 0);
	int single = 0, wide = 0;
	for (int v = from; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_MIXED_DOT && !(n->op == IR_MIXED && n->nin > 2))
			continue;
		single += n->nin == 2;
		wide += n->nin == candidates; /* every candidate but `none` */
	}
	print_message("# darts: %d edges of %d candidates; the curvature program has %d mixed and "
		      "mixed_dot nodes over %d candidates, %d over one\n",
		      forward_mixed, candidates, wide, candidates - 1, single);
	assert_true(forward_mixed > 0 && candidates == 8);
	assert_true(wide >= forward_mixed);
	assert_int_equal(single, 0);
	arena_free(&a);
}

/* The gradient program against PyTorch's gradients (gen_grad.py: an f32
 * state and batch, the loss and gradients computed from them in f64). */
static void check_fixture(const char *space)
{
	char name[64];
	snprintf(name, sizeof name, "grad_%s.safetensors", space);
	StFile f;
	fixture_read(&f, name);
	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, space);
	IrGraph *g = &m->g;
	ad_gradient_program(g);
	Interp it;
	assert_int_equal(interp_init(&it, g), 0);
	int loaded = fixture_load(&it, &f);
	run(&it);
	const StTensor *loss = st_find(&f, "expect.loss");
	assert_non_null(loss);
	double want_loss = ((const double *)loss->data)[0];
	double loss_err = rel_err(interp_value(&it, g->loss)[0], want_loss);
	double worst = 0;
	for (int i = 0; i < g->nout; i++) {
		const char *tname = g->out[i].name + strlen(AD_GRAD_PREFIX);
		const StTensor *t = st_find(&f, arena_printf(&a, "expect.grad.%s", tname));
		if (!t)
			fail_msg("%s: no expected gradient for `%s`", space, tname);
		assert_int_equal(t->numel, ir_numel(g->node[g->out[i].v].shape));
		const double *want = (const double *)t->data, *got = interp_value(&it, g->out[i].v);
		double num = 0, den = 0;
		for (int64_t k = 0; k < t->numel; k++) {
			num += (got[k] - want[k]) * (got[k] - want[k]);
			den += want[k] * want[k];
		}
		double e = den > 0 ? sqrt(num / den) : sqrt(num);
		if (e > 1e-9)
			print_message("# %s: %s: relative L2 error %.3g\n", space, tname, e);
		worst = fmax(worst, e);
	}
	print_message("# %s: %d tensors loaded, loss %.15g (PyTorch %.15g), %d gradients, "
		      "worst relative L2 error %.3g\n",
		      space, loaded, interp_value(&it, g->loss)[0], want_loss, g->nout, worst);
	assert_true(loss_err < 1e-12);
	assert_true(worst < 1e-9);
	interp_free(&it);
	arena_free(&a);
	st_free(&f);
}

static void test_fixture_darts(void **state)
{
	(void)state;
	check_fixture("darts");
}

static void test_fixture_s1(void **state)
{
	(void)state;
	check_fixture("s1");
}

static void test_fixture_s2(void **state)
{
	(void)state;
	check_fixture("s2");
}

static void test_fixture_s3(void **state)
{
	(void)state;
	check_fixture("s3");
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
		cmocka_unit_test(test_every_primitive),
		cmocka_unit_test(test_tiny_gradient),
		cmocka_unit_test(test_s2_gradient),
		cmocka_unit_test(test_darts_gradient),
		cmocka_unit_test(test_darts_gradient_drop_path),
		cmocka_unit_test(test_fixture_darts),
		cmocka_unit_test(test_fixture_s1),
		cmocka_unit_test(test_fixture_s2),
		cmocka_unit_test(test_fixture_s3),
		cmocka_unit_test(test_tiny_hvp),
		cmocka_unit_test(test_darts_hvp),
		cmocka_unit_test(test_darts_hvp_drop_path),
		cmocka_unit_test(test_s2_mixed_second_derivative),
		cmocka_unit_test(test_s2_hvp),
		cmocka_unit_test(test_s3_hvp),
		cmocka_unit_test(test_s3_mixed_second_derivative),
		cmocka_unit_test(test_tiny_mixed_second_derivative),
		cmocka_unit_test(test_darts_mixed_second_derivative),
		cmocka_unit_test(test_darts_tangent_candidates_together),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
