/* ad.c - the differentiation rules of every primitive, and the forward
 * (JVP) and reverse (VJP) sweeps that apply them (see ad.h).
 *
 * A tangent or cotangent of -1 means "zero"; rules skip those terms.  Rules
 * for the few primitives whose derivative in one input is awkward to state
 * directly (bn_grad in x, softmax_grad in y) rewrite the primitive into
 * simpler ones first ("decompose") and differentiate that. */
#include "ad.h"

#include <stdlib.h>
#include <string.h>

/* Per-value state of a sweep, grown with the graph. */
typedef struct CtList {
	int *v;
	int n, cap;
} CtList;

typedef struct Ad {
	IrGraph *g;
	int cap;            /* entries in the arrays below */
	int *tan;           /* JVP: tangent of each value, -1 when zero */
	bool *need;         /* VJP: the value depends on a differentiated leaf */
	CtList *ct;         /* VJP: cotangent contributions, summed when used */
	const char *scope;  /* of the value whose rule is emitting */
} Ad;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	return q;
}

/* Make the per-value arrays cover every value of the graph. */
static void grow(Ad *ad)
{
	int n = ad->g->n;
	if (n <= ad->cap)
		return;
	int cap = ad->cap ? ad->cap : 256;
	while (cap < n)
		cap *= 2;
	ad->tan = xrealloc(ad->tan, (size_t)cap * sizeof *ad->tan);
	ad->need = xrealloc(ad->need, (size_t)cap * sizeof *ad->need);
	ad->ct = xrealloc(ad->ct, (size_t)cap * sizeof *ad->ct);
	for (int i = ad->cap; i < cap; i++) {
		ad->tan[i] = -1;
		ad->need[i] = false;
		ad->ct[i] = (CtList){0};
	}
	ad->cap = cap;
}

static void ad_free(Ad *ad)
{
	for (int i = 0; i < ad->cap; i++)
		free(ad->ct[i].v);
	free(ad->tan);
	free(ad->need);
	free(ad->ct);
}

/* Scratch room for a node's inputs; it lives as long as the graph. */
static int *ints(Ad *ad, int n)
{
	return arena_array(ad->g->arena, (size_t)(n > 0 ? n : 1), sizeof(int));
}

static const IrNode *N(const Ad *ad, int v)
{
	return &ad->g->node[v];
}

static IrShape shape_of(const Ad *ad, int v)
{
	return ad->g->node[v].shape;
}

/* ---- emitting ----------------------------------------------------------- */

static int emit(Ad *ad, IrOp op, const IrAttr *at, int nin, const int *in)
{
	int v = ir_emit(ad->g, op, in, nin, at, ad->scope);
	grow(ad);
	return v;
}

static int op1(Ad *ad, IrOp op, const IrAttr *at, int a)
{
	return emit(ad, op, at, 1, &a);
}

static int op2(Ad *ad, IrOp op, const IrAttr *at, int a, int b)
{
	int in[2] = {a, b};
	return emit(ad, op, at, 2, in);
}

static const IrAttr no_attr;

static IrAttr with_shape(const IrAttr *at, IrShape s)
{
	IrAttr a = at ? *at : no_attr;
	a.shape = s;
	return a;
}

static int fill(Ad *ad, IrShape s, double value)
{
	IrAttr a = with_shape(NULL, s);
	a.scale = value;
	return emit(ad, IR_FILL, &a, 0, NULL);
}

static bool is_fill(const Ad *ad, int v, double value)
{
	return N(ad, v)->op == IR_FILL && N(ad, v)->at.scale == value;
}

/* Sums where -1 is zero. */
static int add(Ad *ad, int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return op2(ad, IR_ADD, NULL, a, b);
}

static int add_list(Ad *ad, const int *v, int n)
{
	if (n == 0)
		return -1;
	if (n == 1)
		return v[0];
	return emit(ad, IR_ADD, NULL, n, v);
}

static int scale(Ad *ad, int x, double k)
{
	IrAttr a = no_attr;
	a.scale = k;
	return op1(ad, IR_SCALE, &a, x);
}

static int mul(Ad *ad, int a, int b)
{
	return op2(ad, IR_MUL, NULL, a, b);
}

static int scale_by(Ad *ad, int x, int s)
{
	if (is_fill(ad, s, 1.0))
		return x;
	return op2(ad, IR_SCALE_BY, NULL, x, s);
}

static int bcast_c(Ad *ad, int v, IrShape s)
{
	IrAttr a = with_shape(NULL, s);
	return op1(ad, IR_BCAST_C, &a, v);
}

static int channel_sum(Ad *ad, int x)
{
	return op1(ad, IR_CHANNEL_SUM, NULL, x);
}

/* The mean over all but the channel axis, as a [C] vector. */
static int channel_mean(Ad *ad, int x)
{
	IrShape s = shape_of(ad, x);
	return scale(ad, channel_sum(ad, x), 1.0 / (double)(ir_numel(s) / s.d[1]));
}

static int row_sum(Ad *ad, int x)
{
	return op1(ad, IR_ROW_SUM, NULL, x);
}

static int row_bcast(Ad *ad, int v, IrShape s)
{
	IrAttr a = with_shape(NULL, s);
	return op1(ad, IR_ROW_BCAST, &a, v);
}

static int sample_scale(Ad *ad, int x, int mask, int row)
{
	IrAttr a = no_attr;
	a.row = row;
	return op2(ad, IR_SAMPLE_SCALE, &a, x, mask);
}

static int matmul(Ad *ad, int a, int b, bool ta, bool tb)
{
	IrAttr at = no_attr;
	at.ta = ta;
	at.tb = tb;
	return op2(ad, IR_MATMUL, &at, a, b);
}

/* The same primitive and attributes as node v, on other inputs. */
static int like(Ad *ad, int v, int nin, const int *in)
{
	return emit(ad, N(ad, v)->op, &N(ad, v)->at, nin, in);
}

static int like1(Ad *ad, int v, int a)
{
	return like(ad, v, 1, &a);
}

static int like2(Ad *ad, int v, int a, int b)
{
	int in[2] = {a, b};
	return like(ad, v, 2, in);
}

/* Another primitive with node v's attributes (and result shape s). */
static int kin(Ad *ad, IrOp op, int v, IrShape s, int nin, const int *in)
{
	IrAttr a = with_shape(&N(ad, v)->at, s);
	return emit(ad, op, &a, nin, in);
}

static int kin1(Ad *ad, IrOp op, int v, IrShape s, int a)
{
	return kin(ad, op, v, s, 1, &a);
}

static int kin2(Ad *ad, IrOp op, int v, IrShape s, int a, int b)
{
	int in[2] = {a, b};
	return kin(ad, op, v, s, 2, in);
}

/* ---- decompositions ----------------------------------------------------- */

/* bn_grad(x, v) = r (v - mean(v) - xhat mean(v xhat)), per channel, with
 * xc = x - mean(x), r = (mean(xc^2) + eps)^(-1/2) and xhat = xc r. */
static int decompose_bn_grad(Ad *ad, int n)
{
	int x = N(ad, n)->in[0], v = N(ad, n)->in[1];
	IrShape s = shape_of(ad, x);
	int xc = add(ad, x, scale(ad, bcast_c(ad, channel_mean(ad, x), s), -1.0));
	IrAttr eps = no_attr;
	eps.eps = N(ad, n)->at.eps;
	int r = bcast_c(ad, op1(ad, IR_RSQRT, &eps, channel_mean(ad, mul(ad, xc, xc))), s);
	int xhat = mul(ad, xc, r);
	int mv = bcast_c(ad, channel_mean(ad, v), s);
	int mvx = bcast_c(ad, channel_mean(ad, mul(ad, v, xhat)), s);
	int terms[3] = {v, scale(ad, mv, -1.0), scale(ad, mul(ad, xhat, mvx), -1.0)};
	return mul(ad, r, add_list(ad, terms, 3));
}

/* bn_grad_jvp(x, v, t) = -r (mean(xhat t) g + mean(v xhat) u + xhat
 * mean(v u)), with g = bn_grad(x, v), u = bn_grad(x, t) as in
 * decompose_bn_grad, plus bn_grad(x, w) with a fourth input w; only ever
 * differentiated for third derivatives. */
static int decompose_bn_grad_jvp(Ad *ad, int n)
{
	int x = N(ad, n)->in[0], v = N(ad, n)->in[1], t = N(ad, n)->in[2];
	IrShape s = shape_of(ad, x);
	IrAttr eps = no_attr;
	eps.eps = N(ad, n)->at.eps;
	int xc = add(ad, x, scale(ad, bcast_c(ad, channel_mean(ad, x), s), -1.0));
	int r = bcast_c(ad, op1(ad, IR_RSQRT, &eps, channel_mean(ad, mul(ad, xc, xc))), s);
	int xhat = mul(ad, xc, r);
	int g = op2(ad, IR_BN_GRAD, &eps, x, v), u = op2(ad, IR_BN_GRAD, &eps, x, t);
	int mxt = bcast_c(ad, channel_mean(ad, mul(ad, xhat, t)), s);
	int mvx = bcast_c(ad, channel_mean(ad, mul(ad, v, xhat)), s);
	int mvu = bcast_c(ad, channel_mean(ad, mul(ad, v, u)), s);
	int terms[3] = {mul(ad, mxt, g), mul(ad, mvx, u), mul(ad, xhat, mvu)};
	int jvp = scale(ad, mul(ad, r, add_list(ad, terms, 3)), -1.0);
	if (N(ad, n)->nin < 4)
		return jvp;
	return add(ad, jvp, op2(ad, IR_BN_GRAD, &eps, x, N(ad, n)->in[3]));
}

/* softmax_grad(y, v) = y (v - row_sum(y v)) */
static int decompose_softmax_grad(Ad *ad, int n)
{
	int y = N(ad, n)->in[0], v = N(ad, n)->in[1];
	int s = row_bcast(ad, row_sum(ad, mul(ad, y, v)), shape_of(ad, y));
	return mul(ad, y, add(ad, v, scale(ad, s, -1.0)));
}

/* bn_infer(x, mean, var [, gamma, beta]) = (x - mean) r + beta, per
 * channel, with r = (var + eps)^(-1/2) gamma.  Eval mode only runs
 * forward, so its rules need not be fast, only right. */
static int decompose_bn_infer(Ad *ad, int n)
{
	int in[5], nin = N(ad, n)->nin;
	memcpy(in, N(ad, n)->in, (size_t)nin * sizeof *in);
	IrShape s = shape_of(ad, in[0]);
	IrAttr eps = no_attr;
	eps.eps = N(ad, n)->at.eps;
	int r = op1(ad, IR_RSQRT, &eps, in[2]);
	if (nin > 3)
		r = mul(ad, r, in[3]);
	int xc = add(ad, in[0], scale(ad, bcast_c(ad, in[1], s), -1.0));
	int y = mul(ad, xc, bcast_c(ad, r, s));
	return nin > 3 ? add(ad, y, bcast_c(ad, in[4], s)) : y;
}

static int decompose(Ad *ad, int n)
{
	switch (N(ad, n)->op) {
	case IR_BN_GRAD:
		return decompose_bn_grad(ad, n);
	case IR_BN_GRAD_JVP:
		return decompose_bn_grad_jvp(ad, n);
	case IR_BN_INFER:
		return decompose_bn_infer(ad, n);
	case IR_SOFTMAX_GRAD:
		return decompose_softmax_grad(ad, n);
	default:
		abort();
	}
}

/* ---- the sweeps ----------------------------------------------------------- */

static int jvp_rule(Ad *ad, int v, const int *t);
static void vjp_rule(Ad *ad, int v, int c);

/* Tangents of values lo..hi-1 from those of earlier values. */
static void jvp_range(Ad *ad, int lo, int hi)
{
	for (int v = lo; v < hi; v++) {
		const IrNode *nd = N(ad, v);
		if (ad->tan[v] >= 0)
			continue; /* a seed */
		int *t = ints(ad, nd->nin);
		bool any = false;
		for (int j = 0; j < nd->nin; j++) {
			t[j] = ad->tan[nd->in[j]];
			any |= t[j] >= 0;
		}
		if (!any)
			continue;
		const char *saved = ad->scope;
		ad->scope = nd->scope;
		int r = jvp_rule(ad, v, t);
		ad->scope = saved;
		ad->tan[v] = r;
	}
}

/* The tangent of v through its decomposition. */
static int jvp_decomposed(Ad *ad, int v)
{
	int lo = ad->g->n;
	int out = decompose(ad, v);
	jvp_range(ad, lo, ad->g->n);
	return ad->tan[out];
}

/* Which values depend on a differentiated value, for lo..hi-1. */
static bool blocks_gradient(IrOp op)
{
	return op == IR_NOISE || op == IR_ZERO || op == IR_FILL;
}

static void need_range(Ad *ad, int lo, int hi)
{
	for (int v = lo; v < hi; v++) {
		const IrNode *nd = N(ad, v);
		if (blocks_gradient(nd->op))
			continue;
		for (int j = 0; j < nd->nin && !ad->need[v]; j++)
			ad->need[v] = ad->need[nd->in[j]];
	}
}

static void give(Ad *ad, int v, int c)
{
	if (c < 0 || !ad->need[v])
		return;
	CtList *l = &ad->ct[v];
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
	}
	l->v[l->n++] = c;
}

/* The cotangent of v: the sum of what its users gave it. */
static int cotangent(Ad *ad, int v)
{
	CtList *l = &ad->ct[v];
	const char *saved = ad->scope;
	ad->scope = N(ad, v)->scope;
	int c = add_list(ad, l->v, l->n);
	ad->scope = saved;
	return c;
}

static void vjp_range(Ad *ad, int lo, int hi)
{
	for (int v = hi - 1; v >= lo; v--) {
		if (!ad->need[v] || N(ad, v)->nin == 0)
			continue;
		int c = cotangent(ad, v);
		if (c < 0)
			continue;
		const char *saved = ad->scope;
		ad->scope = N(ad, v)->scope;
		vjp_rule(ad, v, c);
		ad->scope = saved;
	}
}

/* Cotangents of v's inputs through its decomposition. */
static void vjp_decomposed(Ad *ad, int v, int c)
{
	int lo = ad->g->n;
	int out = decompose(ad, v);
	need_range(ad, lo, ad->g->n);
	give(ad, out, c);
	vjp_range(ad, lo, ad->g->n);
}

/* ---- JVP rules --------------------------------------------------------------- */

/* Tangent of a primitive that is linear in every input: itself applied to
 * the tangents, zeros standing in for the missing ones. */
static int jvp_linear(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	int *in = ints(ad, nd->nin);
	for (int j = 0; j < nd->nin; j++)
		in[j] = t[j] >= 0 ? t[j] : fill(ad, shape_of(ad, nd->in[j]), 0.0);
	return like(ad, v, nd->nin, in);
}

/* Tangent of a primitive that is linear in each input separately (conv,
 * matmul, mul, ...): the sum over inputs of the primitive with that one
 * input replaced by its tangent. */
static int jvp_multilinear(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	int r = -1;
	for (int j = 0; j < nd->nin; j++) {
		if (t[j] < 0)
			continue;
		int *in = ints(ad, nd->nin);
		memcpy(in, nd->in, (size_t)nd->nin * sizeof *in);
		in[j] = t[j];
		r = add(ad, r, like(ad, v, nd->nin, in));
	}
	return r;
}

/* Tangent of a primitive linear in input 1 whose input 0 only selects
 * (relu_mask, the max-pool pair): the primitive applied to input 1's tangent. */
static int jvp_select(Ad *ad, int v, const int *t)
{
	if (t[1] < 0)
		return -1;
	return like2(ad, v, N(ad, v)->in[0], t[1]);
}

/* conv2d(x, w, b) and linear(x, w, b): bilinear in (x, w), plus the bias. */
static int jvp_affine(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	int x = nd->in[0], w = nd->in[1], r = -1;
	if (t[0] >= 0)
		r = add(ad, r, like2(ad, v, t[0], w));
	if (t[1] >= 0)
		r = add(ad, r, like2(ad, v, x, t[1]));
	if (nd->nin > 2 && t[2] >= 0)
		r = add(ad, r, bcast_c(ad, t[2], nd->shape));
	return r;
}

/* mixed(w, o_0..o_m-1) and mixed_dot(dy, o_0..o_m-1): bilinear in input 0
 * and the candidates as a whole.  When only some candidates move, each run
 * of consecutive moving ones is weighed as a window of columns of its own,
 * so no zeros are built. */
static int jvp_mixed(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	int m = nd->nin - 1, r = -1;
	if (t[0] >= 0) {
		int *in = ints(ad, nd->nin);
		memcpy(in, nd->in, (size_t)nd->nin * sizeof *in);
		in[0] = t[0];
		r = like(ad, v, nd->nin, in);
	}
	/* A candidate that does not move, such as `none` (a constant zero),
	 * must not split the others into one node, and one pass over input
	 * 0, each. */
	for (int k = 0, e; k < m; k = e) {
		if (t[1 + k] < 0) {
			e = k + 1;
			continue;
		}
		for (e = k; e < m && t[1 + e] >= 0; e++)
			;
		int *in = ints(ad, 1 + e - k);
		in[0] = nd->in[0];
		memcpy(in + 1, t + 1 + k, (size_t)(e - k) * sizeof *in);
		IrAttr a = nd->at;
		a.col += k;
		r = add(ad, r, emit(ad, nd->op, &a, 1 + e - k, in));
	}
	return r;
}

/* batch_norm(x[, gamma, beta]) = gamma xhat + beta. */
static int xhat_of(Ad *ad, int v)
{
	const IrNode *nd = N(ad, v);
	if (nd->nin == 1)
		return v;
	return like1(ad, v, nd->in[0]);
}

static int jvp_batch_norm(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	IrShape s = nd->shape;
	IrAttr eps = no_attr;
	eps.eps = nd->at.eps;
	int r = -1;
	if (t[0] >= 0) {
		int d = op2(ad, IR_BN_GRAD, &eps, nd->in[0], t[0]);
		if (nd->nin > 1)
			d = mul(ad, d, bcast_c(ad, nd->in[1], s));
		r = d;
	}
	if (nd->nin > 1 && t[1] >= 0)
		r = add(ad, r, mul(ad, xhat_of(ad, v), bcast_c(ad, t[1], s)));
	if (nd->nin > 2 && t[2] >= 0)
		r = add(ad, r, bcast_c(ad, t[2], s));
	return r;
}

static int jvp_rule(Ad *ad, int v, const int *t)
{
	const IrNode *nd = N(ad, v);
	switch (nd->op) {
	case IR_INPUT:
	case IR_LABELS:
	case IR_WEIGHT:
	case IR_ALPHA:
	case IR_TANGENT:
	case IR_FILL:
	case IR_RUNNING:
	case IR_DROP:
	case IR_ZERO:
	case IR_NOISE:
	case IR_OP_COUNT:
		return -1;
	case IR_AVG_POOL:
	case IR_SCALE:
	case IR_ADD:
	case IR_CONCAT:
	case IR_SHIFT:
	case IR_GLOBAL_AVG_POOL:
	case IR_CHANNEL_SUM:
	case IR_BCAST_C:
	case IR_ROW_SUM:
	case IR_ROW_BCAST:
	case IR_AVG_POOL_BWD:
	case IR_UNSHIFT:
	case IR_SLICE_C:
	case IR_PAD_C:
	case IR_GAP_BWD:
		if (nd->op == IR_ADD) {
			int r = -1;
			for (int j = 0; j < nd->nin; j++)
				r = add(ad, r, t[j]);
			return r;
		}
		return jvp_linear(ad, v, t);
	case IR_CONV2D:
	case IR_LINEAR:
		return jvp_affine(ad, v, t);
	case IR_MUL:
	case IR_DOT:
	case IR_SCALE_BY:
	case IR_SAMPLE_SCALE:
	case IR_SAMPLE_DOT:
	case IR_MATMUL:
	case IR_CONV2D_BWD_DATA:
	case IR_CONV2D_BWD_FILTER:
		return jvp_multilinear(ad, v, t);
	case IR_MAX_POOL:
		return kin2(ad, IR_MAX_POOL_SELECT, v, nd->shape, nd->in[0], t[0]);
	case IR_RELU:
		return op2(ad, IR_RELU_MASK, NULL, nd->in[0], t[0]);
	case IR_RELU_MASK:
	case IR_MAX_POOL_BWD:
	case IR_MAX_POOL_SELECT:
		return jvp_select(ad, v, t);
	case IR_BATCH_NORM:
		return jvp_batch_norm(ad, v, t);
	case IR_BN_INFER:
		return jvp_decomposed(ad, v);
	case IR_SOFTMAX:
		return op2(ad, IR_SOFTMAX_GRAD, NULL, v, t[0]);
	case IR_MIXED:
	case IR_MIXED_DOT:
		return jvp_mixed(ad, v, t);
	case IR_CROSS_ENTROPY:
		return op2(ad, IR_DOT, NULL, op2(ad, IR_CE_GRAD, NULL, nd->in[0], nd->in[1]), t[0]);
	case IR_RSQRT: {
		/* d (v + eps)^(-1/2) = -1/2 y^3 dv */
		int y3 = mul(ad, v, mul(ad, v, v));
		return scale(ad, mul(ad, y3, t[0]), -0.5);
	}
	case IR_BN_GRAD: {
		/* linear in input 1; in input 0 a primitive of its own, which
		 * also takes input 1's tangent when both move: one kernel for
		 * the sum, not two and an add */
		if (t[0] < 0)
			return t[1] >= 0 ? like2(ad, v, nd->in[0], t[1]) : -1;
		int in[4] = {nd->in[0], nd->in[1], t[0], t[1]};
		return kin(ad, IR_BN_GRAD_JVP, v, nd->shape, t[1] >= 0 ? 4 : 3, in);
	}
	case IR_BN_GRAD_JVP:
		return jvp_decomposed(ad, v);
	case IR_SOFTMAX_GRAD:
		/* linear in input 1; input 0 through the decomposition */
		if (t[0] >= 0)
			return jvp_decomposed(ad, v);
		return like2(ad, v, nd->in[0], t[1]);
	case IR_CE_GRAD: {
		/* the Jacobian of softmax is symmetric: softmax_grad is both ways */
		int l = nd->in[0];
		int p = op1(ad, IR_SOFTMAX, NULL, l);
		return scale(ad, op2(ad, IR_SOFTMAX_GRAD, NULL, p, t[0]),
			     1.0 / (double)shape_of(ad, l).d[0]);
	}
	}
	return -1;
}

/* ---- VJP rules ------------------------------------------------------------------ */

static bool needs(const Ad *ad, int v, int j)
{
	return ad->need[N(ad, v)->in[j]];
}

static void vjp_conv2d(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int x = nd->in[0], w = nd->in[1];
	if (needs(ad, v, 0))
		give(ad, x, kin2(ad, IR_CONV2D_BWD_DATA, v, shape_of(ad, x), c, w));
	if (needs(ad, v, 1))
		give(ad, w, kin2(ad, IR_CONV2D_BWD_FILTER, v, shape_of(ad, w), x, c));
	if (nd->nin > 2 && needs(ad, v, 2))
		give(ad, nd->in[2], channel_sum(ad, c));
}

static void vjp_linear(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	if (needs(ad, v, 0))
		give(ad, nd->in[0], matmul(ad, c, nd->in[1], false, false));
	if (needs(ad, v, 1))
		give(ad, nd->in[1], matmul(ad, c, nd->in[0], true, false));
	if (nd->nin > 2 && needs(ad, v, 2))
		give(ad, nd->in[2], channel_sum(ad, c));
}

static void vjp_batch_norm(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	IrShape s = nd->shape;
	if (needs(ad, v, 0)) {
		int g = nd->nin > 1 ? mul(ad, c, bcast_c(ad, nd->in[1], s)) : c;
		IrAttr eps = no_attr;
		eps.eps = nd->at.eps;
		give(ad, nd->in[0], op2(ad, IR_BN_GRAD, &eps, nd->in[0], g));
	}
	if (nd->nin > 1 && needs(ad, v, 1))
		give(ad, nd->in[1], channel_sum(ad, mul(ad, c, xhat_of(ad, v))));
	if (nd->nin > 2 && needs(ad, v, 2))
		give(ad, nd->in[2], channel_sum(ad, c));
}

static void vjp_mixed(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int m = nd->nin - 1;
	if (needs(ad, v, 0)) {
		int *in = ints(ad, nd->nin);
		memcpy(in, nd->in, (size_t)nd->nin * sizeof *in);
		in[0] = c;
		IrAttr a = with_shape(&nd->at, shape_of(ad, nd->in[0]));
		give(ad, nd->in[0], emit(ad, IR_MIXED_DOT, &a, nd->nin, in));
	}
	for (int k = 0; k < m; k++) {
		if (!needs(ad, v, 1 + k))
			continue;
		IrAttr a = nd->at;
		a.col += k;
		give(ad, nd->in[1 + k], op2(ad, IR_MIXED, &a, nd->in[0], c));
	}
}

static void vjp_mixed_dot(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int m = nd->nin - 1;
	if (needs(ad, v, 0)) {
		int *in = ints(ad, nd->nin);
		memcpy(in, nd->in, (size_t)nd->nin * sizeof *in);
		in[0] = c;
		give(ad, nd->in[0], emit(ad, IR_MIXED, &nd->at, nd->nin, in));
	}
	for (int k = 0; k < m; k++) {
		if (!needs(ad, v, 1 + k))
			continue;
		IrAttr a = nd->at;
		a.col += k;
		give(ad, nd->in[1 + k], op2(ad, IR_MIXED, &a, c, nd->in[0]));
	}
}

/* y[n] = x[n] d[row, n]: x gets c scaled alike, the mask's row gets the
 * per-sample dot products <c[n], x[n]>. */
static void vjp_sample_scale(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int x = nd->in[0], d = nd->in[1];
	if (needs(ad, v, 0))
		give(ad, x, like2(ad, v, c, d));
	if (needs(ad, v, 1))
		give(ad, d, kin2(ad, IR_SAMPLE_DOT, v, shape_of(ad, d), c, x));
}

static void vjp_concat(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int off = 0;
	for (int j = 0; j < nd->nin; j++) {
		int cj = (int)shape_of(ad, nd->in[j]).d[1];
		if (needs(ad, v, j)) {
			IrAttr a = no_attr;
			a.offset = off;
			a.count = cj;
			give(ad, nd->in[j], op1(ad, IR_SLICE_C, &a, c));
		}
		off += cj;
	}
}

static void vjp_matmul(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int a = nd->in[0], b = nd->in[1];
	bool ta = nd->at.ta, tb = nd->at.tb;
	if (needs(ad, v, 0))
		give(ad, a, ta ? matmul(ad, b, c, tb, true) : matmul(ad, c, b, false, !tb));
	if (needs(ad, v, 1))
		give(ad, b, tb ? matmul(ad, c, a, true, ta) : matmul(ad, a, c, !ta, false));
}

static void vjp_rule(Ad *ad, int v, int c)
{
	const IrNode *nd = N(ad, v);
	int x = nd->nin > 0 ? nd->in[0] : -1;
	IrShape xs = x >= 0 ? shape_of(ad, x) : (IrShape){0};
	switch (nd->op) {
	case IR_INPUT:
	case IR_LABELS:
	case IR_WEIGHT:
	case IR_ALPHA:
	case IR_TANGENT:
	case IR_FILL:
	case IR_RUNNING:
	case IR_DROP:
	case IR_ZERO:
	case IR_NOISE:
	case IR_OP_COUNT:
		return;
	case IR_CONV2D:
		vjp_conv2d(ad, v, c);
		return;
	case IR_LINEAR:
		vjp_linear(ad, v, c);
		return;
	case IR_MAX_POOL:
		give(ad, x, kin2(ad, IR_MAX_POOL_BWD, v, xs, x, c));
		return;
	case IR_MAX_POOL_BWD:
		if (needs(ad, v, 1))
			give(ad, nd->in[1], kin2(ad, IR_MAX_POOL_SELECT, v, shape_of(ad, nd->in[1]), x, c));
		return;
	case IR_MAX_POOL_SELECT:
		if (needs(ad, v, 1))
			give(ad, nd->in[1], kin2(ad, IR_MAX_POOL_BWD, v, xs, x, c));
		return;
	case IR_AVG_POOL:
		give(ad, x, kin1(ad, IR_AVG_POOL_BWD, v, xs, c));
		return;
	case IR_AVG_POOL_BWD:
		give(ad, x, kin1(ad, IR_AVG_POOL, v, xs, c));
		return;
	case IR_RELU:
		give(ad, x, op2(ad, IR_RELU_MASK, NULL, x, c));
		return;
	case IR_RELU_MASK:
		if (needs(ad, v, 1))
			give(ad, nd->in[1], op2(ad, IR_RELU_MASK, NULL, x, c));
		return;
	case IR_ADD:
		for (int j = 0; j < nd->nin; j++)
			give(ad, nd->in[j], c);
		return;
	case IR_SCALE:
		give(ad, x, like1(ad, v, c));
		return;
	case IR_BATCH_NORM:
		vjp_batch_norm(ad, v, c);
		return;
	case IR_BN_INFER:
		vjp_decomposed(ad, v, c);
		return;
	case IR_SAMPLE_SCALE:
		vjp_sample_scale(ad, v, c);
		return;
	case IR_SAMPLE_DOT:
		/* bilinear: each input's cotangent is the other scaled by c's row */
		if (needs(ad, v, 0))
			give(ad, x, sample_scale(ad, nd->in[1], c, nd->at.row));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], sample_scale(ad, x, c, nd->at.row));
		return;
	case IR_CONCAT:
		vjp_concat(ad, v, c);
		return;
	case IR_SHIFT:
		give(ad, x, kin1(ad, IR_UNSHIFT, v, xs, c));
		return;
	case IR_UNSHIFT:
		give(ad, x, kin1(ad, IR_SHIFT, v, xs, c));
		return;
	case IR_GLOBAL_AVG_POOL:
		give(ad, x, kin1(ad, IR_GAP_BWD, v, xs, c));
		return;
	case IR_GAP_BWD:
		give(ad, x, op1(ad, IR_GLOBAL_AVG_POOL, NULL, c));
		return;
	case IR_SOFTMAX:
		give(ad, x, op2(ad, IR_SOFTMAX_GRAD, NULL, v, c));
		return;
	case IR_MIXED:
		vjp_mixed(ad, v, c);
		return;
	case IR_MIXED_DOT:
		vjp_mixed_dot(ad, v, c);
		return;
	case IR_CROSS_ENTROPY:
		give(ad, x, scale_by(ad, op2(ad, IR_CE_GRAD, NULL, x, nd->in[1]), c));
		return;
	case IR_CE_GRAD: {
		int p = op1(ad, IR_SOFTMAX, NULL, x);
		give(ad, x, scale(ad, op2(ad, IR_SOFTMAX_GRAD, NULL, p, c), 1.0 / (double)xs.d[0]));
		return;
	}
	case IR_MUL:
		if (needs(ad, v, 0))
			give(ad, x, mul(ad, c, nd->in[1]));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], mul(ad, c, x));
		return;
	case IR_RSQRT:
		give(ad, x, scale(ad, mul(ad, mul(ad, v, mul(ad, v, v)), c), -0.5));
		return;
	case IR_DOT:
		if (needs(ad, v, 0))
			give(ad, x, scale_by(ad, nd->in[1], c));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], scale_by(ad, x, c));
		return;
	case IR_SCALE_BY:
		if (needs(ad, v, 0))
			give(ad, x, scale_by(ad, c, nd->in[1]));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], op2(ad, IR_DOT, NULL, x, c));
		return;
	case IR_CHANNEL_SUM:
		give(ad, x, bcast_c(ad, c, xs));
		return;
	case IR_BCAST_C:
		give(ad, x, channel_sum(ad, c));
		return;
	case IR_ROW_SUM:
		give(ad, x, row_bcast(ad, c, xs));
		return;
	case IR_ROW_BCAST:
		give(ad, x, row_sum(ad, c));
		return;
	case IR_CONV2D_BWD_DATA:
		/* dy, w -> dx: transposes of a conv in x */
		if (needs(ad, v, 0))
			give(ad, x, kin2(ad, IR_CONV2D, v, xs, c, nd->in[1]));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], kin2(ad, IR_CONV2D_BWD_FILTER, v, shape_of(ad, nd->in[1]), c, x));
		return;
	case IR_CONV2D_BWD_FILTER:
		/* x, dy -> dw */
		if (needs(ad, v, 0))
			give(ad, x, kin2(ad, IR_CONV2D_BWD_DATA, v, xs, nd->in[1], c));
		if (needs(ad, v, 1))
			give(ad, nd->in[1], kin2(ad, IR_CONV2D, v, shape_of(ad, nd->in[1]), x, c));
		return;
	case IR_SLICE_C: {
		IrAttr a = with_shape(&nd->at, xs);
		give(ad, x, op1(ad, IR_PAD_C, &a, c));
		return;
	}
	case IR_PAD_C: {
		IrAttr a = nd->at;
		a.count = (int)xs.d[1];
		give(ad, x, op1(ad, IR_SLICE_C, &a, c));
		return;
	}
	case IR_MATMUL:
		vjp_matmul(ad, v, c);
		return;
	case IR_BN_GRAD_JVP:
		vjp_decomposed(ad, v, c);
		return;
	case IR_BN_GRAD:
	case IR_SOFTMAX_GRAD:
		/* self-adjoint in input 1; input 0 through the decomposition */
		if (needs(ad, v, 0))
			vjp_decomposed(ad, v, c);
		else
			give(ad, nd->in[1], like2(ad, v, x, c));
		return;
	}
}

/* ---- drivers ------------------------------------------------------------------------ */

void ad_grad(IrGraph *g, int y, const int *wrt, int nwrt, int *grads)
{
	Ad ad = {.g = g};
	grow(&ad);
	int lo = g->n;
	for (int i = 0; i < nwrt; i++) {
		ad.need[wrt[i]] = true;
		lo = wrt[i] < lo ? wrt[i] : lo;
	}
	need_range(&ad, lo, y + 1);
	ad.scope = N(&ad, y)->scope;
	give(&ad, y, fill(&ad, shape_of(&ad, y), 1.0));
	vjp_range(&ad, lo, y + 1);
	for (int i = 0; i < nwrt; i++) {
		int c = cotangent(&ad, wrt[i]);
		if (c < 0) {
			ad.scope = N(&ad, wrt[i])->scope;
			c = fill(&ad, shape_of(&ad, wrt[i]), 0.0);
		}
		grads[i] = c;
	}
	ad_free(&ad);
}

void ad_jvp(IrGraph *g, const int *seed, const int *seed_tan, int nseed, const int *outs,
	    int nouts, int *tans)
{
	Ad ad = {.g = g};
	grow(&ad);
	/* only the values up to the last output can move them */
	int lo = g->n, hi = 0;
	for (int i = 0; i < nseed; i++) {
		ad.tan[seed[i]] = seed_tan[i];
		lo = seed[i] < lo ? seed[i] : lo;
	}
	for (int i = 0; i < nouts; i++)
		hi = outs[i] + 1 > hi ? outs[i] + 1 : hi;
	jvp_range(&ad, lo + 1, hi);
	for (int i = 0; i < nouts; i++) {
		int t = ad.tan[outs[i]];
		if (t < 0) {
			ad.scope = N(&ad, outs[i])->scope;
			t = fill(&ad, shape_of(&ad, outs[i]), 0.0);
		}
		tans[i] = t;
	}
	ad_free(&ad);
}

int ad_gradient_program(IrGraph *g)
{
	int n = 0;
	for (int v = 0; v < g->n; v++)
		n += g->node[v].op == IR_WEIGHT || g->node[v].op == IR_ALPHA;
	if (n == 0 || g->loss < 0)
		return 0;
	int *wrt = xrealloc(NULL, (size_t)n * sizeof *wrt);
	int *grads = xrealloc(NULL, (size_t)n * sizeof *grads);
	int k = 0;
	/* sema creates the leaves in canonical order */
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_WEIGHT || g->node[v].op == IR_ALPHA)
			wrt[k++] = v;
	ad_grad(g, g->loss, wrt, n, grads);
	for (int i = 0; i < n; i++)
		ir_output(g, grads[i], arena_printf(g->arena, AD_GRAD_PREFIX "%s", g->node[wrt[i]].name));
	free(wrt);
	free(grads);
	return n;
}

/* The alpha gradients' tangents along the n leaves seed (their TANGENT
 * leaves tan), recorded as outputs prefix + alpha name. */
static void jvp_outputs(IrGraph *g, const int *seed, const int *tan, int n, const char *prefix,
			const int *alpha, const int *agrad, int na)
{
	int *out = xrealloc(NULL, (size_t)na * sizeof *out);
	ad_jvp(g, seed, tan, n, agrad, na, out);
	for (int i = 0; i < na; i++)
		ir_output(g, out[i], arena_printf(g->arena, "%s%s", prefix, g->node[alpha[i]].name));
	free(out);
}

/* One TANGENT leaf per leaf of op `op`, named after it, with the leaves'
 * tangents of the alpha gradients as outputs prefix + alpha name; with
 * `each` and more than one leaf, also those along each leaf alone, as
 * outputs AD_HVP_ON_PREFIX + leaf name + AD_HVP_ON_SEP + alpha name. */
static void curvature_outputs(IrGraph *g, IrOp op, const char *prefix, bool each,
			      const int *alpha, const int *agrad, int na)
{
	int n = 0;
	for (int v = 0; v < g->n; v++)
		n += g->node[v].op == op;
	if (n == 0)
		return;
	int *seed = xrealloc(NULL, (size_t)n * sizeof *seed);
	int *tan = xrealloc(NULL, (size_t)n * sizeof *tan);
	int k = 0, end = g->n;
	for (int v = 0; v < end; v++)
		if (g->node[v].op == op) {
			seed[k] = v;
			tan[k++] = ir_leaf(g, IR_TANGENT, g->node[v].shape, DT_F32, g->node[v].name,
					   "tangent", g->node[v].loc);
		}
	jvp_outputs(g, seed, tan, n, prefix, alpha, agrad, na);
	for (int j = 0; each && n > 1 && j < n; j++)
		jvp_outputs(g, seed + j, tan + j, 1,
			    arena_printf(g->arena, AD_HVP_ON_PREFIX "%s" AD_HVP_ON_SEP,
					 g->node[seed[j]].name),
			    alpha, agrad, na);
	free(seed);
	free(tan);
}

int ad_curvature_program(IrGraph *g)
{
	int na = 0;
	for (int v = 0; v < g->n; v++)
		na += g->node[v].op == IR_ALPHA;
	if (na == 0)
		return 0;
	int *alpha = xrealloc(NULL, (size_t)na * sizeof *alpha);
	int *agrad = xrealloc(NULL, (size_t)na * sizeof *agrad);
	int k = 0;
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_ALPHA) {
			const char *want = arena_printf(g->arena, AD_GRAD_PREFIX "%s", g->node[v].name);
			agrad[k] = -1;
			for (int i = 0; i < g->nout; i++)
				if (strcmp(g->out[i].name, want) == 0)
					agrad[k] = g->out[i].v;
			if (agrad[k] < 0) {
				fprintf(stderr, "nasc: internal error: no gradient of %s for the curvature "
						"program\n", g->node[v].name);
				abort();
			}
			alpha[k++] = v;
		}
	curvature_outputs(g, IR_ALPHA, AD_HVP_PREFIX, true, alpha, agrad, na);
	curvature_outputs(g, IR_WEIGHT, AD_MIXED_PREFIX, false, alpha, agrad, na);
	free(alpha);
	free(agrad);
	return na;
}
