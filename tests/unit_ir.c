/* unit_ir.c - the graph IR: the shape rule of every primitive, the FLOP
 * counts, ir_verify against injected faults, saturating sizes and the
 * textual dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir.h"

static Arena A;
static IrGraph G;
static char err[256];
static const Loc nowhere;

static int setup(void **state)
{
	(void)state;
	arena_init(&A);
	ir_init(&G, &A);
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&A);
	return 0;
}

static IrShape shape1(int64_t a)
{
	return (IrShape){.rank = 1, .d = {a}};
}

static IrShape shape2(int64_t a, int64_t b)
{
	return (IrShape){.rank = 2, .d = {a, b}};
}

static int leaf(IrOp op, IrShape s, IrDtype dt)
{
	return ir_leaf(&G, op, s, dt, NULL, NULL, nowhere);
}

static int input(int64_t n, int64_t c, int64_t h, int64_t w)
{
	return leaf(IR_INPUT, ir_shape4(n, c, h, w), DT_F32);
}

/* A weight with a unique name and an initialization, as sema makes them. */
static int weight(IrShape s)
{
	int w = ir_leaf(&G, IR_WEIGHT, s, DT_F32, arena_printf(&A, "w%d", G.n), NULL, nowhere);
	G.node[w].wkind = W_CONV;
	return w;
}

static int add(IrOp op, const int *in, int nin, IrAttr at)
{
	return ir_add(&G, op, in, nin, &at, NULL, nowhere, err, sizeof err);
}

static int add1(IrOp op, int x, IrAttr at)
{
	return add(op, &x, 1, at);
}

static int conv_w(int x, int w, int k, int stride, int pad, int dil, int groups)
{
	IrAttr at = {.kh = k, .kw = k, .stride = stride, .pad = pad, .dilation = dil, .groups = groups};
	return add(IR_CONV2D, (int[]){x, w}, 2, at);
}

/* A conv with a fitting [cout, cin/groups, k, k] weight. */
static int conv(int x, int64_t cout, int k, int stride, int pad, int dil, int groups)
{
	int64_t cin = G.node[x].shape.d[1];
	return conv_w(x, weight(ir_shape4(cout, cin / groups, k, k)), k, stride, pad, dil, groups);
}

static IrAttr pool_at(int k, int stride, int pad)
{
	return (IrAttr){.kh = k, .kw = k, .stride = stride, .pad = pad};
}

static void assert_shape4(int v, int64_t n, int64_t c, int64_t h, int64_t w)
{
	assert_true(v >= 0);
	IrShape s = G.node[v].shape;
	if (!ir_shape_eq(s, ir_shape4(n, c, h, w)))
		fail_msg("%%%d is %s, want %lldx%lldx%lldx%lld", v, ir_shape_str(&A, s, false),
			 (long long)n, (long long)c, (long long)h, (long long)w);
}

/* ir_add must refuse with a reason containing `msg`, appending nothing. */
static void refused(int v, int n_before, const char *msg)
{
	if (v != -1 || G.n != n_before || !strstr(err, msg))
		fail_msg("want refusal \"%s\", got %d (%d nodes, were %d), err \"%s\"", msg, v, G.n,
			 n_before, err);
}

/* Conv output size is floor((H + 2p - d(k-1) - 1) / s) + 1 per side, with
 * the weight's out channels and the input's batch. */
static void test_conv2d_output_size(void **state)
{
	(void)state;
	static const struct { int h, k, s, p, d, want; } cases[] = {
		{32, 3, 1, 1, 1, 32}, {32, 3, 2, 1, 1, 16}, {32, 3, 1, 2, 2, 32},
		{32, 5, 2, 0, 1, 14}, {31, 7, 3, 3, 1, 11}, {10, 3, 1, 0, 3, 4},
		{7, 1, 2, 0, 1, 4},   {3, 3, 1, 0, 1, 1},   {8, 5, 1, 4, 2, 8},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int x = input(2, 16, cases[i].h, cases[i].h);
		int y = conv(x, 24, cases[i].k, cases[i].s, cases[i].p, cases[i].d, 1);
		assert_shape4(y, 2, 24, cases[i].want, cases[i].want);
	}
	/* Height and width separately. */
	assert_shape4(conv(input(1, 3, 32, 15), 8, 3, 2, 0, 1, 1), 1, 8, 15, 7);

	/* Every small case against the formula, or refused when nothing fits. */
	int x = input(1, 4, 1, 1);
	for (int h = 1; h <= 12; h++)
		for (int k = 1; k <= 5; k += 2)
			for (int s = 1; s <= 3; s++)
				for (int p = 0; p <= 2; p++)
					for (int d = 1; d <= 2; d++) {
						G.node[x].shape = ir_shape4(1, 4, h, h);
						int room = h + 2 * p - d * (k - 1) - 1;
						int n = G.n;
						int y = conv(x, 4, k, s, p, d, 1);
						if (room < 0)
							refused(y, n + 1, "does not fit");
						else
							assert_shape4(y, 1, 4, room / s + 1, room / s + 1);
					}
}

/* groups must divide both channel counts, and the weight must be
 * [out, in/groups, kh, kw]; bad attributes and bias are refused. */
static void test_conv2d_groups_and_errors(void **state)
{
	(void)state;
	int x = input(2, 16, 8, 8);
	assert_shape4(conv(x, 16, 3, 1, 1, 1, 16), 2, 16, 8, 8);
	assert_shape4(conv(x, 32, 3, 1, 1, 1, 4), 2, 32, 8, 8);

	int n = G.n;
	refused(conv_w(x, weight(ir_shape4(30, 5, 3, 3)), 3, 1, 1, 1, 3), n + 1,
		"conv groups=3 does not divide its 16 input channels");
	n = G.n;
	refused(conv_w(x, weight(ir_shape4(30, 4, 3, 3)), 3, 1, 1, 1, 4), n + 1,
		"conv groups=4 does not divide its 30 output channels");
	n = G.n;
	refused(conv_w(x, weight(ir_shape4(32, 16, 3, 3)), 3, 1, 1, 1, 4), n + 1,
		"conv weight does not match its input");
	n = G.n;
	refused(conv_w(x, weight(ir_shape4(32, 16, 3, 3)), 5, 1, 1, 1, 1), n + 1,
		"conv weight does not match its input");
	n = G.n;
	refused(conv_w(x, weight(ir_shape4(32, 16, 3, 3)), 3, 1, 1, 1, 0), n + 1, "groups=0");
	n = G.n;
	refused(conv_w(x, weight(ir_shape4(32, 16, 3, 3)), 3, 0, 1, 1, 1), n + 1,
		"stride and dilation of at least 1");
	n = G.n;
	refused(conv(input(1, 16, 3, 3), 8, 5, 1, 0, 1, 1), n + 2,
		"conv 5x5 (dilation 1, pad 0) does not fit a 3x3 input");
	n = G.n;
	refused(conv(leaf(IR_INPUT, shape2(2, 16), DT_F32), 8, 1, 1, 0, 1, 1), n + 2,
		"conv needs a 4-d image tensor, got rank 2");

	IrAttr at = {.kh = 3, .kw = 3, .stride = 1, .pad = 1, .dilation = 1, .groups = 1};
	int w = weight(ir_shape4(32, 16, 3, 3));
	assert_shape4(add(IR_CONV2D, (int[]){x, w, weight(shape1(32))}, 3, at), 2, 32, 8, 8);
	n = G.n;
	refused(add(IR_CONV2D, (int[]){x, w, weight(shape1(31))}, 3, at), n + 1,
		"conv bias does not match its output channels");
}

/* Pools keep channels, use the window formula without dilation, and pad
 * at most half the window. */
static void test_pools(void **state)
{
	(void)state;
	int x = input(2, 8, 32, 32);
	assert_shape4(add1(IR_MAX_POOL, x, pool_at(3, 2, 1)), 2, 8, 16, 16);
	assert_shape4(add1(IR_AVG_POOL, x, pool_at(3, 1, 1)), 2, 8, 32, 32);
	assert_shape4(add1(IR_MAX_POOL, input(1, 4, 7, 7), pool_at(2, 2, 0)), 1, 4, 3, 3);
	assert_shape4(add1(IR_AVG_POOL, x, pool_at(2, 2, 1)), 2, 8, 17, 17);

	int n = G.n;
	refused(add1(IR_MAX_POOL, x, pool_at(3, 1, 2)), n, "pooling pad 2 is more than half its 3x3 window");
	refused(add1(IR_AVG_POOL, x, pool_at(1, 1, 1)), n, "more than half");
	refused(add1(IR_AVG_POOL, x, pool_at(3, 0, 1)), n, "stride of at least 1");
	int small = input(1, 4, 3, 3);
	n = G.n;
	refused(add1(IR_MAX_POOL, small, pool_at(5, 1, 0)), n,
		"pooling window 5x5 does not fit a 3x3 input");
}

/* add takes two or more inputs of exactly one shape. */
static void test_add(void **state)
{
	(void)state;
	int a = input(2, 8, 4, 4), b = input(2, 8, 4, 4), c = input(2, 8, 4, 4);
	assert_shape4(add(IR_ADD, (int[]){a, b}, 2, (IrAttr){0}), 2, 8, 4, 4);
	assert_shape4(add(IR_ADD, (int[]){a, b, c}, 3, (IrAttr){0}), 2, 8, 4, 4);
	int d = input(2, 8, 4, 5), e = leaf(IR_INPUT, shape2(2, 8), DT_F32);
	int n = G.n;
	refused(add(IR_ADD, (int[]){a, b, d}, 3, (IrAttr){0}), n, "add of different shapes");
	refused(add(IR_ADD, (int[]){a, e}, 2, (IrAttr){0}), n, "add of different shapes");
}

/* batch_norm: x alone, or x with gamma and beta of [C]; never one of
 * them. */
static void test_batch_norm(void **state)
{
	(void)state;
	int x = input(2, 8, 4, 4);
	IrAttr at = {.eps = 1e-5, .momentum = 0.1};
	assert_shape4(add1(IR_BATCH_NORM, x, at), 2, 8, 4, 4);
	int g = weight(shape1(8)), b = weight(shape1(8)), g9 = weight(shape1(9));
	assert_shape4(add(IR_BATCH_NORM, (int[]){x, g, b}, 3, at), 2, 8, 4, 4);
	int n = G.n;
	refused(add(IR_BATCH_NORM, (int[]){x, g}, 2, at), n, "takes both gamma and beta, or neither");
	refused(add(IR_BATCH_NORM, (int[]){x, g9, b}, 3, at), n,
		"batch norm parameters do not match its channels");
	refused(add1(IR_BATCH_NORM, leaf(IR_INPUT, shape2(2, 8), DT_F32), at), n + 1,
		"batch norm needs a 4-d image tensor");
}

/* concat adds up channels; batch, height and width must agree. */
static void test_concat(void **state)
{
	(void)state;
	int a = input(2, 8, 16, 16), b = input(2, 4, 16, 16), c = input(2, 4, 16, 16);
	assert_shape4(add(IR_CONCAT, (int[]){a, b, c}, 3, (IrAttr){0}), 2, 16, 16, 16);
	assert_shape4(add(IR_CONCAT, &a, 1, (IrAttr){0}), 2, 8, 16, 16);
	int h = input(2, 4, 8, 16), n1 = input(1, 4, 16, 16);
	int n = G.n;
	refused(add(IR_CONCAT, (int[]){a, h}, 2, (IrAttr){0}), n,
		"concat of 16x16 and 8x16 images: their sizes must agree");
	refused(add(IR_CONCAT, (int[]){a, n1}, 2, (IrAttr){0}), n, "their sizes must agree");
}

/* shift crops n rows and columns; it must leave at least one of each. */
static void test_shift(void **state)
{
	(void)state;
	int x = input(2, 4, 32, 32);
	assert_shape4(add1(IR_SHIFT, x, (IrAttr){.shift = 1}), 2, 4, 31, 31);
	assert_shape4(add1(IR_SHIFT, x, (IrAttr){.shift = 0}), 2, 4, 32, 32);
	assert_shape4(add1(IR_SHIFT, x, (IrAttr){.shift = 31}), 2, 4, 1, 1);
	int n = G.n;
	refused(add1(IR_SHIFT, x, (IrAttr){.shift = 32}), n, "shift by 32 does not fit a 32x32 input");
	refused(add1(IR_SHIFT, x, (IrAttr){.shift = -1}), n, "shift by -1");
	int wide = input(1, 4, 32, 8);
	n = G.n;
	refused(add1(IR_SHIFT, wide, (IrAttr){.shift = 8}), n, "does not fit a 32x8 input");
}

/* zero and noise subsample to ceil(H/s) x ceil(W/s), keeping channels. */
static void test_zero_noise_subsample(void **state)
{
	(void)state;
	int x = input(2, 6, 7, 7);
	assert_shape4(add1(IR_ZERO, x, (IrAttr){.stride = 2}), 2, 6, 4, 4);
	assert_shape4(add1(IR_ZERO, x, (IrAttr){.stride = 1}), 2, 6, 7, 7);
	assert_shape4(add1(IR_NOISE, input(1, 3, 32, 31), (IrAttr){.stride = 3}), 1, 3, 11, 11);
	assert_shape4(add1(IR_NOISE, x, (IrAttr){.stride = 7}), 2, 6, 1, 1);
	int n = G.n;
	refused(add1(IR_ZERO, x, (IrAttr){.stride = 0}), n, "zero needs a stride of at least 1");
	refused(add1(IR_NOISE, x, (IrAttr){.stride = 0}), n, "noise needs a stride of at least 1");
}

/* global_avg_pool turns [N,C,H,W] into [N,C]. */
static void test_global_avg_pool(void **state)
{
	(void)state;
	int y = add1(IR_GLOBAL_AVG_POOL, input(2, 64, 8, 8), (IrAttr){0});
	assert_true(y >= 0);
	assert_true(ir_shape_eq(G.node[y].shape, shape2(2, 64)));
	int n = G.n;
	refused(add1(IR_GLOBAL_AVG_POOL, y, (IrAttr){0}), n, "4-d image tensor, got rank 2");
}

/* linear maps [N,in] with w [out,in] (and bias [out]) to [N,out]; an
 * image input gets a hint to pool first. */
static void test_linear(void **state)
{
	(void)state;
	int x = leaf(IR_INPUT, shape2(2, 64), DT_F32);
	int w = weight(shape2(10, 64));
	int y = add(IR_LINEAR, (int[]){x, w}, 2, (IrAttr){0});
	assert_true(y >= 0);
	assert_true(ir_shape_eq(G.node[y].shape, shape2(2, 10)));
	y = add(IR_LINEAR, (int[]){x, w, weight(shape1(10))}, 3, (IrAttr){0});
	assert_true(ir_shape_eq(G.node[y].shape, shape2(2, 10)));

	int b9 = weight(shape1(9)), w63 = weight(shape2(10, 63)), img = input(2, 64, 1, 1);
	int n = G.n;
	refused(add(IR_LINEAR, (int[]){x, w, b9}, 3, (IrAttr){0}), n,
		"linear bias does not match its outputs");
	refused(add(IR_LINEAR, (int[]){x, w63}, 2, (IrAttr){0}), n,
		"linear weight does not match its input");
	refused(add(IR_LINEAR, (int[]){img, w}, 2, (IrAttr){0}), n,
		"got rank 4 (pool it first: global_avg_pool -> linear)");
}

/* softmax keeps its input's shape. */
static void test_softmax(void **state)
{
	(void)state;
	int a = ir_leaf(&G, IR_ALPHA, shape2(14, 8), DT_F32, "alpha.normal", NULL, nowhere);
	int s = add1(IR_SOFTMAX, a, (IrAttr){0});
	assert_true(s >= 0);
	assert_true(ir_shape_eq(G.node[s].shape, shape2(14, 8)));
}

/* mixed: weights [E,K] with K the number of candidates, 0 <= row < E, all
 * candidates of one shape, which is the output's. */
static void test_mixed(void **state)
{
	(void)state;
	int a = ir_leaf(&G, IR_ALPHA, shape2(14, 3), DT_F32, "alpha.normal", NULL, nowhere);
	int w = add1(IR_SOFTMAX, a, (IrAttr){0});
	int o0 = input(2, 16, 8, 8), o1 = input(2, 16, 8, 8), o2 = input(2, 16, 8, 8);
	int odd = input(2, 16, 4, 4);
	assert_shape4(add(IR_MIXED, (int[]){w, o0, o1, o2}, 4, (IrAttr){.row = 13}), 2, 16, 8, 8);
	assert_shape4(add(IR_MIXED, (int[]){w, o0, o1, o2}, 4, (IrAttr){.row = 0}), 2, 16, 8, 8);
	int n = G.n;
	refused(add(IR_MIXED, (int[]){w, o0, o1, o2}, 4, (IrAttr){.row = 14}), n,
		"mixed weights do not match its 3 candidates");
	refused(add(IR_MIXED, (int[]){w, o0, o1, o2}, 4, (IrAttr){.row = -1}), n, "mixed weights");
	/* fewer candidates weigh a window of columns starting at col */
	assert_shape4(add(IR_MIXED, (int[]){w, o0, o1}, 3, (IrAttr){.row = 0, .col = 1}), 2, 16, 8, 8);
	n = G.n;
	refused(add(IR_MIXED, (int[]){w, o0, o1}, 3, (IrAttr){.row = 0, .col = 2}), n,
		"mixed weights do not match its 2 candidates");
	refused(add(IR_MIXED, (int[]){w, o0}, 2, (IrAttr){.row = 0, .col = -1}), n,
		"mixed weights do not match its 1 candidates");
	refused(add(IR_MIXED, (int[]){w, o0, o1, odd}, 4, (IrAttr){.row = 0}), n,
		"mixed candidates of different shapes");
	refused(add(IR_MIXED, (int[]){o0, o1, o2, o0}, 4, (IrAttr){.row = 0}), n, "mixed weights");
}

/* cross_entropy: [N,K] logits and [N] i64 labels give a scalar. */
static void test_cross_entropy(void **state)
{
	(void)state;
	int logits = leaf(IR_INPUT, shape2(4, 10), DT_F32);
	int labels = leaf(IR_LABELS, shape1(4), DT_I64);
	int l = add(IR_CROSS_ENTROPY, (int[]){logits, labels}, 2, (IrAttr){0});
	assert_true(l >= 0);
	assert_int_equal(G.node[l].shape.rank, 0);
	assert_int_equal(ir_numel(G.node[l].shape), 1);

	int f32 = leaf(IR_LABELS, shape1(4), DT_F32), three = leaf(IR_LABELS, shape1(3), DT_I64);
	int img = input(4, 10, 1, 1);
	int n = G.n;
	refused(add(IR_CROSS_ENTROPY, (int[]){logits, f32}, 2, (IrAttr){0}), n,
		"cross entropy labels must be integers");
	refused(add(IR_CROSS_ENTROPY, (int[]){logits, three}, 2, (IrAttr){0}), n,
		"needs [batch, classes] logits and [batch] labels");
	refused(add(IR_CROSS_ENTROPY, (int[]){img, labels}, 2, (IrAttr){0}), n,
		"needs [batch, classes] logits");
}

static int64_t flops(int v)
{
	assert_true(v >= 0);
	return ir_prims[G.node[v].op].flops(&G, &G.node[v]);
}

/* Per sample: conv 2*Cout*Ho*Wo*(Cin/g)*kh*kw, linear 2*in*out, and 0 for
 * ops without multiply-adds; the batch size does not enter. */
static void test_flops(void **state)
{
	(void)state;
	int x8 = input(8, 16, 32, 32), x1 = input(1, 16, 32, 32);
	assert_int_equal(flops(conv(x8, 32, 3, 1, 1, 1, 1)), 2LL * 32 * 32 * 32 * 16 * 9);
	assert_int_equal(flops(conv(x1, 32, 3, 1, 1, 1, 1)), 2LL * 32 * 32 * 32 * 16 * 9);
	assert_int_equal(flops(conv(x8, 32, 3, 1, 1, 1, 4)), 2LL * 32 * 32 * 32 * 4 * 9);
	assert_int_equal(flops(conv(x8, 16, 3, 1, 1, 1, 16)), 2LL * 16 * 32 * 32 * 1 * 9);
	assert_int_equal(flops(conv(x8, 24, 5, 2, 2, 1, 1)), 2LL * 24 * 16 * 16 * 16 * 25);
	assert_int_equal(flops(conv(x8, 32, 1, 1, 0, 1, 1)), 2LL * 32 * 32 * 32 * 16);

	int f = leaf(IR_INPUT, shape2(8, 64), DT_F32);
	assert_int_equal(flops(add(IR_LINEAR, (int[]){f, weight(shape2(10, 64))}, 2, (IrAttr){0})),
			 2 * 64 * 10);
	assert_int_equal(flops(add1(IR_RELU, x8, (IrAttr){0})), 0);
	assert_int_equal(flops(add1(IR_MAX_POOL, x8, pool_at(3, 1, 1))), 0);
	assert_int_equal(flops(x8), 0);
}

/* A complete little network: input, conv+bn+relu, pool, linear, loss. */
typedef struct Net { int x, w, conv, relu, fcw, labels, loss; } Net;

static Net build_net(void)
{
	Net t;
	ir_init(&G, &A);
	t.x = input(4, 3, 8, 8);
	G.input = t.x;
	t.conv = conv(t.x, 8, 3, 1, 1, 1, 1);
	t.w = G.node[t.conv].in[1];
	int g = weight(shape1(8)), b = weight(shape1(8));
	G.node[g].wkind = W_BN_GAMMA;
	G.node[b].wkind = W_BN_BETA;
	int bn = add(IR_BATCH_NORM, (int[]){t.conv, g, b}, 3, (IrAttr){.eps = 1e-5});
	t.relu = add1(IR_RELU, bn, (IrAttr){0});
	int pooled = add1(IR_GLOBAL_AVG_POOL, t.relu, (IrAttr){0});
	t.fcw = weight(shape2(10, 8));
	G.logits = add(IR_LINEAR, (int[]){pooled, t.fcw}, 2, (IrAttr){0});
	t.labels = leaf(IR_LABELS, shape1(4), DT_I64);
	G.labels = t.labels;
	t.loss = add(IR_CROSS_ENTROPY, (int[]){G.logits, t.labels}, 2, (IrAttr){0});
	G.loss = t.loss;
	assert_true(t.loss >= 0);
	return t;
}

static int verify(const char **report)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int bad = ir_verify(&G, f);
	fclose(f);
	*report = arena_strdup(&A, buf);
	free(buf);
	return bad;
}

/* ir_verify accepts a well-formed graph silently and finds each injected
 * fault, saying what it is. */
static void test_verify(void **state)
{
	(void)state;
	const char *report;
	build_net();
	assert_int_equal(verify(&report), 0);
	assert_string_equal(report, "");

	enum { F_SELF, F_LATER, F_SHAPE, F_UNNAMED, F_DUP_NAME, F_NIN, F_LOSS, F_LABELS, F_INIT, NF };
	static const char *const want[NF] = {
		"not an earlier value", "not an earlier value", "recorded shape is not the inferred one",
		"weight without a name", "tensor name `w1` is used twice", "relu with 0 inputs",
		"the loss is not a cross entropy", "labels must be integers",
		"weight without an initialization",
	};
	for (int fault = 0; fault < NF; fault++) {
		Net t = build_net();
		switch (fault) {
		case F_SELF: G.node[t.relu].in[0] = t.relu; break;
		case F_LATER: G.node[t.conv].in[0] = t.relu; break;
		case F_SHAPE: G.node[t.conv].shape.d[2] = 7; break;
		case F_UNNAMED: G.node[t.fcw].name = NULL; break;
		case F_DUP_NAME: G.node[t.fcw].name = G.node[t.w].name; break;
		case F_NIN: G.node[t.relu].nin = 0; break;
		case F_LOSS: G.loss = t.relu; break;
		case F_LABELS: G.node[t.labels].dtype = DT_F32; break;
		case F_INIT: G.node[t.w].wkind = W_NONE; break;
		}
		int bad = verify(&report);
		if (bad < 1 || !strstr(report, want[fault]))
			fail_msg("fault %d: %d problems, want \"%s\" in:\n%s", fault, bad, want[fault],
				 report);
	}
	/* Without a stream it still counts. */
	build_net();
	G.node[1].name = NULL;
	assert_true(ir_verify(&G, NULL) > 0);
}

/* ir_numel multiplies out, and saturates at INT64_MAX instead of
 * overflowing. */
static void test_numel_saturates(void **state)
{
	(void)state;
	assert_int_equal(ir_numel(ir_shape4(2, 3, 4, 5)), 120);
	assert_int_equal(ir_numel((IrShape){.rank = 0}), 1);
	assert_int_equal(ir_numel(shape2((int64_t)1 << 31, (int64_t)1 << 31)), (int64_t)1 << 62);
	int64_t big = (int64_t)1 << 20;
	assert_true(ir_numel(ir_shape4(big, big, big, big)) == INT64_MAX);
	assert_true(ir_numel(shape2(INT64_MAX, 2)) == INT64_MAX);
	assert_true(ir_numel(ir_shape4(INT64_MAX, 2, 2, 1)) == INT64_MAX);
}

/* One line per value: op, name, inputs, attributes, type and shape, scope. */
static void test_dump(void **state)
{
	(void)state;
	int x = input(1, 3, 8, 8);
	G.input = x;
	int w = ir_leaf(&G, IR_WEIGHT, ir_shape4(4, 3, 3, 3), DT_F32, "stem.0.weight", NULL, nowhere);
	IrAttr at = {.kh = 3, .kw = 3, .stride = 1, .pad = 1, .dilation = 1, .groups = 1};
	assert_int_equal(ir_add(&G, IR_CONV2D, (int[]){x, w}, 2, &at, "stem", nowhere, err,
				sizeof err), 2);
	add1(IR_MAX_POOL, 2, pool_at(3, 2, 1));
	add1(IR_ZERO, 3, (IrAttr){.stride = 2});

	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ir_dump(f, &G);
	fclose(f);
	const char *out = arena_strdup(&A, buf);
	free(buf);
	assert_non_null(strstr(out, "%0 = input : f32[1,3,8,8]\n"));
	assert_non_null(strstr(out, "%1 = weight \"stem.0.weight\" : f32[4,3,3,3]\n"));
	assert_non_null(strstr(out, "%2 = conv2d %0, %1 {k=3x3 stride=1 pad=1 dilation=1 groups=1}"
				    " : f32[1,4,8,8]  # stem\n"));
	assert_non_null(strstr(out, "%3 = max_pool %2 {k=3x3 stride=2 pad=1} : f32[1,4,4,4]\n"));
	assert_non_null(strstr(out, "%4 = zero %3 {stride=2} : f32[1,4,2,2]\n"));
	assert_non_null(strstr(out, "# input %0,"));
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_conv2d_output_size),
		T(test_conv2d_groups_and_errors),
		T(test_pools),
		T(test_add),
		T(test_batch_norm),
		T(test_concat),
		T(test_shift),
		T(test_zero_noise_subsample),
		T(test_global_avg_pool),
		T(test_linear),
		T(test_softmax),
		T(test_mixed),
		T(test_cross_entropy),
		T(test_flops),
		T(test_verify),
		T(test_numel_saturates),
		T(test_dump),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
