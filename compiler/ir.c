/* ir.c - the primitive table, node construction, verification and printing
 * of the graph IR (see ir.h). */
#include "ir.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes ------------------------------------------------------------ */

IrShape ir_shape4(int64_t n, int64_t c, int64_t h, int64_t w)
{
	IrShape s = {.rank = 4, .d = {n, c, h, w}};
	return s;
}

static int64_t smul(int64_t a, int64_t b);

/* Saturates at INT64_MAX, so a size check on a hostile shape is not itself
 * an overflow. */
int64_t ir_numel(IrShape s)
{
	int64_t n = 1;
	for (int i = 0; i < s.rank; i++)
		n = smul(n, s.d[i]);
	return n;
}

bool ir_shape_eq(IrShape a, IrShape b)
{
	if (a.rank != b.rank)
		return false;
	for (int i = 0; i < a.rank; i++)
		if (a.d[i] != b.d[i])
			return false;
	return true;
}

const char *ir_shape_str(Arena *a, IrShape s, bool skip_batch)
{
	char buf[128];
	size_t off = 0;
	buf[0] = '\0';
	for (int i = skip_batch ? 1 : 0; i < s.rank; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%" PRId64,
				       off ? "x" : "", s.d[i]);
	if (off == 0)
		snprintf(buf, sizeof buf, "scalar");
	return arena_strdup(a, buf);
}

/* Multiplication that saturates instead of overflowing: FLOP counts of
 * absurd specs must not be undefined behaviour. */
static int64_t smul(int64_t a, int64_t b)
{
	int64_t c;
	if (__builtin_mul_overflow(a, b, &c))
		return INT64_MAX;
	return c;
}

/* ---- shape rules --------------------------------------------------------- */

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return false;                       \
	} while (0)

static const IrShape *in_shape(const IrGraph *g, const IrNode *n, int i)
{
	return &g->node[n->in[i]].shape;
}

static bool need_rank4(const IrShape *s, const char *what, char *err, size_t errlen)
{
	if (s->rank != 4)
		FAIL("%s needs a 4-d image tensor, got rank %d", what, s->rank);
	return true;
}

/* Output size of a sliding window; 0 when the window does not fit. */
static int64_t window_out(int64_t size, int k, int stride, int pad, int dil)
{
	int64_t span = (int64_t)dil * (k - 1) + 1;
	int64_t room = size + 2 * (int64_t)pad - span;
	if (room < 0)
		return 0;
	return room / stride + 1;
}

static bool infer_same(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*out = *in_shape(g, n, 0);
	return true;
}

static bool infer_conv2d(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *w = in_shape(g, n, 1);
	const IrAttr *a = &n->at;
	if (!need_rank4(x, "conv", err, errlen))
		return false;
	if (a->groups < 1 || x->d[1] % a->groups != 0)
		FAIL("conv groups=%d does not divide its %" PRId64 " input channels",
		     a->groups, x->d[1]);
	if (w->rank != 4 || w->d[0] % a->groups != 0)
		FAIL("conv groups=%d does not divide its %" PRId64 " output channels",
		     a->groups, w->rank == 4 ? w->d[0] : 0);
	if (w->d[1] != x->d[1] / a->groups || w->d[2] != a->kh || w->d[3] != a->kw)
		FAIL("conv weight does not match its input");
	if (a->stride < 1 || a->dilation < 1 || a->pad < 0)
		FAIL("conv needs stride and dilation of at least 1 and pad of at least 0");
	int64_t ho = window_out(x->d[2], a->kh, a->stride, a->pad, a->dilation);
	int64_t wo = window_out(x->d[3], a->kw, a->stride, a->pad, a->dilation);
	if (ho < 1 || wo < 1)
		FAIL("conv %dx%d (dilation %d, pad %d) does not fit a %" PRId64 "x%" PRId64 " input",
		     a->kh, a->kw, a->dilation, a->pad, x->d[2], x->d[3]);
	if (n->nin == 3) {
		const IrShape *b = in_shape(g, n, 2);
		if (b->rank != 1 || b->d[0] != w->d[0])
			FAIL("conv bias does not match its output channels");
	}
	*out = ir_shape4(x->d[0], w->d[0], ho, wo);
	return true;
}

static bool infer_pool(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	const IrAttr *a = &n->at;
	if (!need_rank4(x, "pooling", err, errlen))
		return false;
	if (a->kh < 1 || a->kw < 1 || a->stride < 1 || a->pad < 0)
		FAIL("pooling needs a kernel and stride of at least 1 and pad of at least 0");
	if (a->pad > a->kh / 2 || a->pad > a->kw / 2)
		FAIL("pooling pad %d is more than half its %dx%d window", a->pad, a->kh, a->kw);
	int64_t ho = window_out(x->d[2], a->kh, a->stride, a->pad, 1);
	int64_t wo = window_out(x->d[3], a->kw, a->stride, a->pad, 1);
	if (ho < 1 || wo < 1)
		FAIL("pooling window %dx%d does not fit a %" PRId64 "x%" PRId64 " input",
		     a->kh, a->kw, x->d[2], x->d[3]);
	*out = ir_shape4(x->d[0], x->d[1], ho, wo);
	return true;
}

static bool infer_add(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	for (int i = 1; i < n->nin; i++)
		if (!ir_shape_eq(*in_shape(g, n, i), *in_shape(g, n, 0)))
			FAIL("add of different shapes");
	*out = *in_shape(g, n, 0);
	return true;
}

/* batch_norm(x [, gamma, beta]) and bn_infer(x, mean, var [, gamma,
 * beta]): every input but x a [C] vector of x's channels. */
static bool infer_batch_norm(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	const char *what = n->op == IR_BN_INFER ? "bn_infer" : "batch norm";
	if (!need_rank4(x, what, err, errlen))
		return false;
	if (n->nin - (n->op == IR_BN_INFER ? 2 : 0) == 2)
		FAIL("%s takes both gamma and beta, or neither", what);
	for (int i = 1; i < n->nin; i++) {
		const IrShape *p = in_shape(g, n, i);
		if (p->rank != 1 || p->d[0] != x->d[1])
			FAIL("%s parameters do not match its channels", what);
	}
	*out = *x;
	return true;
}

/* A mask of R rows (one per mixed edge) by N samples, and a row of it. */
static bool mask_fits(const IrShape *m, int row, int64_t batch, const char *what, char *err,
		      size_t errlen)
{
	if (m->rank != 2 || m->d[1] != batch || row < 0 || row >= m->d[0])
		FAIL("%s: row %d of a mask of %d rows of %" PRId64 " samples", what, row,
		     m->rank == 2 ? (int)m->d[0] : 0, batch);
	return true;
}

static bool infer_sample_scale(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (x->rank < 1)
		FAIL("sample_scale needs a batch of samples");
	if (!mask_fits(in_shape(g, n, 1), n->at.row, x->d[0], "sample_scale", err, errlen))
		return false;
	*out = *x;
	return true;
}

static bool infer_concat(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, "concat", err, errlen))
		return false;
	IrShape s = *x;
	for (int i = 1; i < n->nin; i++) {
		const IrShape *y = in_shape(g, n, i);
		if (y->rank != 4 || y->d[0] != x->d[0] || y->d[2] != x->d[2] || y->d[3] != x->d[3])
			FAIL("concat of %" PRId64 "x%" PRId64 " and %" PRId64 "x%" PRId64
			     " images: their sizes must agree",
			     x->d[2], x->d[3], y->rank == 4 ? y->d[2] : 0, y->rank == 4 ? y->d[3] : 0);
		s.d[1] += y->d[1];
	}
	*out = s;
	return true;
}

static bool infer_shift(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, "shift", err, errlen))
		return false;
	if (n->at.shift < 0 || n->at.shift >= x->d[2] || n->at.shift >= x->d[3])
		FAIL("shift by %d does not fit a %" PRId64 "x%" PRId64 " input", n->at.shift,
		     x->d[2], x->d[3]);
	*out = ir_shape4(x->d[0], x->d[1], x->d[2] - n->at.shift, x->d[3] - n->at.shift);
	return true;
}

static bool infer_subsample(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, ir_prims[n->op].name, err, errlen))
		return false;
	if (n->at.stride < 1)
		FAIL("%s needs a stride of at least 1", ir_prims[n->op].name);
	int s = n->at.stride;
	*out = ir_shape4(x->d[0], x->d[1], (x->d[2] + s - 1) / s, (x->d[3] + s - 1) / s);
	return true;
}

static bool infer_gap(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, "global_avg_pool", err, errlen))
		return false;
	out->rank = 2;
	out->d[0] = x->d[0];
	out->d[1] = x->d[1];
	return true;
}

static bool infer_linear(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *w = in_shape(g, n, 1);
	if (x->rank != 2)
		FAIL("linear needs a [batch, features] input, got rank %d "
		     "(pool it first: global_avg_pool -> linear)", x->rank);
	if (w->rank != 2 || w->d[1] != x->d[1])
		FAIL("linear weight does not match its input");
	if (n->nin == 3) {
		const IrShape *b = in_shape(g, n, 2);
		if (b->rank != 1 || b->d[0] != w->d[0])
			FAIL("linear bias does not match its outputs");
	}
	out->rank = 2;
	out->d[0] = x->d[0];
	out->d[1] = w->d[0];
	return true;
}

static bool infer_mixed(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *w = in_shape(g, n, 0);
	if (w->rank != 2 || n->at.row < 0 || n->at.row >= w->d[0] || n->at.col < 0 ||
	    n->at.col + n->nin - 1 > w->d[1])
		FAIL("mixed weights do not match its %d candidates", n->nin - 1);
	for (int i = 2; i < n->nin; i++)
		if (!ir_shape_eq(*in_shape(g, n, i), *in_shape(g, n, 1)))
			FAIL("mixed candidates of different shapes");
	*out = *in_shape(g, n, 1);
	return true;
}

static bool infer_cross_entropy(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *y = in_shape(g, n, 1);
	if (x->rank != 2 || y->rank != 1 || y->d[0] != x->d[0])
		FAIL("cross entropy needs [batch, classes] logits and [batch] labels");
	if (g->node[n->in[1]].dtype != DT_I64)
		FAIL("cross entropy labels must be integers");
	out->rank = 0;
	return true;
}

/* ---- shape rules of the derivative building blocks ----------------------- */

static bool same_shapes(const IrGraph *g, const IrNode *n, char *err, size_t errlen)
{
	for (int i = 1; i < n->nin; i++)
		if (!ir_shape_eq(*in_shape(g, n, i), *in_shape(g, n, 0)))
			FAIL("%s of different shapes", ir_prims[n->op].name);
	return true;
}

static bool infer_same2(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!same_shapes(g, n, err, errlen))
		return false;
	*out = *in_shape(g, n, 0);
	return true;
}

static bool infer_dot(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!same_shapes(g, n, err, errlen))
		return false;
	out->rank = 0;
	return true;
}

static bool infer_scale_by(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (in_shape(g, n, 1)->rank != 0)
		FAIL("scale_by needs a scalar factor");
	*out = *in_shape(g, n, 0);
	return true;
}

/* The result shape is an attribute: it must be a valid shape. */
static bool attr_shape(const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *s = &n->at.shape;
	if (s->rank < 0 || s->rank > IR_MAX_RANK)
		FAIL("%s: result rank %d", ir_prims[n->op].name, s->rank);
	for (int i = 0; i < s->rank; i++)
		if (s->d[i] < 1)
			FAIL("%s: result dimension %d is %" PRId64, ir_prims[n->op].name, i, s->d[i]);
	*out = *s;
	return true;
}

static bool infer_fill(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	(void)g;
	return attr_shape(n, out, err, errlen);
}

static bool infer_channel_sum(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (x->rank != 2 && x->rank != 4)
		FAIL("channel_sum needs a [N,C] or [N,C,H,W] tensor");
	out->rank = 1;
	out->d[0] = x->d[1];
	return true;
}

static bool infer_bcast_c(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *s = &n->at.shape;
	if (!attr_shape(n, out, err, errlen))
		return false;
	if ((s->rank != 2 && s->rank != 4) || x->rank != 1 || x->d[0] != s->d[1])
		FAIL("bcast_c of a [%" PRId64 "] vector to a shape without that many channels",
		     x->rank == 1 ? x->d[0] : 0);
	return true;
}

static bool infer_row_sum(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (x->rank != 2)
		FAIL("row_sum needs a matrix");
	out->rank = 1;
	out->d[0] = x->d[0];
	return true;
}

static bool infer_row_bcast(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *s = &n->at.shape;
	if (!attr_shape(n, out, err, errlen))
		return false;
	if (s->rank != 2 || x->rank != 1 || x->d[0] != s->d[0])
		FAIL("row_bcast of a vector to a matrix with another row count");
	return true;
}

/* A backward op's result must be an input its forward op accepts, giving
 * the forward op's output shape: check by inferring the forward op. */
static bool check_forward(const IrGraph *g, const IrNode *n, IrOp fwd, IrShape x, const int *wv,
			  IrShape y, char *err, size_t errlen)
{
	IrGraph t = *g;
	IrNode xs = {.op = IR_INPUT, .shape = x, .dtype = DT_F32};
	IrNode nodes[2] = {xs, {0}};
	int in[2] = {0, 1};
	IrNode f = {.op = fwd, .in = in, .nin = 1, .at = n->at};
	if (wv) {
		nodes[1] = g->node[*wv];
		f.nin = 2;
	}
	t.node = nodes;
	t.n = 2;
	IrShape got;
	if (!ir_prims[fwd].infer(&t, &f, &got, err, errlen))
		return false;
	if (!ir_shape_eq(got, y))
		FAIL("%s: the gradient does not have the shape the forward op gives",
		     ir_prims[n->op].name);
	return true;
}

static bool infer_conv_bwd_data(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!attr_shape(n, out, err, errlen))
		return false;
	return check_forward(g, n, IR_CONV2D, *out, &n->in[1], *in_shape(g, n, 0), err, errlen);
}

static bool infer_conv_bwd_filter(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *dy = in_shape(g, n, 1);
	if (!need_rank4(x, "conv2d_bwd_filter", err, errlen) ||
	    !need_rank4(dy, "conv2d_bwd_filter", err, errlen))
		return false;
	if (n->at.groups < 1 || x->d[1] % n->at.groups || dy->d[1] % n->at.groups)
		FAIL("conv2d_bwd_filter groups=%d does not divide its channels", n->at.groups);
	*out = ir_shape4(dy->d[1], x->d[1] / n->at.groups, n->at.kh, n->at.kw);
	IrGraph t = *g;
	IrNode nodes[2] = {{.op = IR_INPUT, .shape = *x}, {.op = IR_WEIGHT, .shape = *out}};
	int in[2] = {0, 1};
	IrNode f = {.op = IR_CONV2D, .in = in, .nin = 2, .at = n->at};
	t.node = nodes;
	t.n = 2;
	IrShape got;
	if (!infer_conv2d(&t, &f, &got, err, errlen))
		return false;
	if (!ir_shape_eq(got, *dy))
		FAIL("conv2d_bwd_filter: the gradient does not fit the conv's output");
	return true;
}

static bool infer_pool_bwd(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	/* max_pool_bwd (x, dy): the shape of x; avg_pool_bwd (dy): the attribute */
	if (n->op == IR_MAX_POOL_BWD)
		*out = *in_shape(g, n, 0);
	else if (!attr_shape(n, out, err, errlen))
		return false;
	IrOp fwd = n->op == IR_MAX_POOL_BWD ? IR_MAX_POOL : IR_AVG_POOL;
	return check_forward(g, n, fwd, *out, NULL, *in_shape(g, n, n->nin - 1), err, errlen);
}

static bool infer_max_pool_select(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!same_shapes(g, n, err, errlen))
		return false;
	IrNode f = *n;
	f.op = IR_MAX_POOL;
	f.nin = 1;
	return infer_pool(g, &f, out, err, errlen);
}

static bool infer_unshift(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!attr_shape(n, out, err, errlen))
		return false;
	return check_forward(g, n, IR_SHIFT, *out, NULL, *in_shape(g, n, 0), err, errlen);
}

static bool infer_slice_c(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, "slice_c", err, errlen))
		return false;
	if (n->at.offset < 0 || n->at.count < 1 || n->at.offset + n->at.count > x->d[1])
		FAIL("slice_c of channels %d..%d out of %" PRId64, n->at.offset,
		     n->at.offset + n->at.count, x->d[1]);
	*out = *x;
	out->d[1] = n->at.count;
	return true;
}

static bool infer_pad_c(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *s = &n->at.shape;
	if (!attr_shape(n, out, err, errlen) || !need_rank4(x, "pad_c", err, errlen))
		return false;
	if (s->rank != 4 || s->d[0] != x->d[0] || s->d[2] != x->d[2] || s->d[3] != x->d[3] ||
	    n->at.offset < 0 || n->at.offset + x->d[1] > s->d[1])
		FAIL("pad_c does not fit its input into the result");
	return true;
}

static bool infer_gap_bwd(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0), *s = &n->at.shape;
	if (!attr_shape(n, out, err, errlen))
		return false;
	if (x->rank != 2 || s->rank != 4 || s->d[0] != x->d[0] || s->d[1] != x->d[1])
		FAIL("gap_bwd of a [N,C] gradient to an image of another size");
	return true;
}

static bool infer_matmul(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *a = in_shape(g, n, 0), *b = in_shape(g, n, 1);
	if (a->rank != 2 || b->rank != 2)
		FAIL("matmul needs matrices");
	int64_t m = a->d[n->at.ta ? 1 : 0], k = a->d[n->at.ta ? 0 : 1];
	int64_t kb = b->d[n->at.tb ? 1 : 0], nn = b->d[n->at.tb ? 0 : 1];
	if (k != kb)
		FAIL("matmul of %" PRId64 " columns by %" PRId64 " rows", k, kb);
	out->rank = 2;
	out->d[0] = m;
	out->d[1] = nn;
	return true;
}

static bool infer_bn_grad(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!need_rank4(in_shape(g, n, 0), "bn_grad", err, errlen) || !same_shapes(g, n, err, errlen))
		return false;
	*out = *in_shape(g, n, 0);
	return true;
}

static bool infer_softmax_grad(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (in_shape(g, n, 0)->rank != 2)
		FAIL("softmax_grad needs matrices");
	return infer_same2(g, n, out, err, errlen);
}

static bool infer_mixed_dot(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *s = &n->at.shape;
	if (!attr_shape(n, out, err, errlen) || !same_shapes(g, n, err, errlen))
		return false;
	if (s->rank != 2 || n->at.row < 0 || n->at.row >= s->d[0] || n->at.col < 0 ||
	    n->at.col + n->nin - 1 > s->d[1])
		FAIL("mixed_dot of %d candidates does not fit its weights", n->nin - 1);
	return true;
}

static bool infer_sample_dot(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *a = in_shape(g, n, 0);
	if (!attr_shape(n, out, err, errlen) || !same_shapes(g, n, err, errlen))
		return false;
	if (a->rank < 1)
		FAIL("sample_dot needs a batch of samples");
	return mask_fits(out, n->at.row, a->d[0], "sample_dot", err, errlen);
}

static bool infer_ce_grad(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	if (!infer_cross_entropy(g, n, out, err, errlen))
		return false;
	*out = *in_shape(g, n, 0);
	return true;
}

#undef FAIL

/* ---- FLOPs -------------------------------------------------------------- */

static int64_t flops_conv2d(const IrGraph *g, const IrNode *n)
{
	const IrShape *x = in_shape(g, n, 0);
	int64_t per_out = smul(x->d[1] / n->at.groups, (int64_t)n->at.kh * n->at.kw);
	return smul(2, smul(smul(n->shape.d[1], n->shape.d[2] * n->shape.d[3]), per_out));
}

static int64_t flops_linear(const IrGraph *g, const IrNode *n)
{
	return smul(2, smul(in_shape(g, n, 0)->d[1], n->shape.d[1]));
}

/* A conv's backward ops do the conv's multiply-adds once more. */
static int64_t flops_conv_bwd(const IrGraph *g, const IrNode *n)
{
	const IrNode *y = n->op == IR_CONV2D_BWD_DATA ? &g->node[n->in[0]] : &g->node[n->in[1]];
	const IrShape *x = n->op == IR_CONV2D_BWD_DATA ? &n->shape : in_shape(g, n, 0);
	int64_t per_out = smul(x->d[1] / n->at.groups, (int64_t)n->at.kh * n->at.kw);
	return smul(2, smul(smul(y->shape.d[1], y->shape.d[2] * y->shape.d[3]), per_out));
}

/* The batch is the leading dimension of one operand or another, so count
 * the whole product and divide by the graph's batch. */
static int64_t flops_matmul(const IrGraph *g, const IrNode *n)
{
	const IrShape *a = in_shape(g, n, 0);
	int64_t k = a->d[n->at.ta ? 0 : 1];
	int64_t batch = g->input >= 0 ? g->node[g->input].shape.d[0] : 1;
	return smul(2, smul(k, ir_numel(n->shape))) / batch;
}

static int64_t flops_none(const IrGraph *g, const IrNode *n)
{
	(void)g;
	(void)n;
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

const IrPrimInfo ir_prims[IR_OP_COUNT] = {
#define X(e, name, min_in, max_in, infer, flops) [IR_##e] = {name, min_in, max_in, infer, flops},
#include "prims.def"
#undef X
};

/* ---- construction ---------------------------------------------------------- */

void ir_init(IrGraph *g, Arena *a)
{
	memset(g, 0, sizeof *g);
	g->arena = a;
	g->input = g->labels = g->logits = g->loss = g->drop = -1;
}

static int push(IrGraph *g, const IrNode *n)
{
	if (g->n == g->cap) {
		int cap = g->cap ? g->cap * 2 : 256;
		IrNode *v = arena_array(g->arena, (size_t)cap, sizeof *v);
		if (g->n)
			memcpy(v, g->node, (size_t)g->n * sizeof *v);
		g->node = v;
		g->cap = cap;
	}
	g->node[g->n] = *n;
	return g->n++;
}

int ir_leaf(IrGraph *g, IrOp op, IrShape shape, IrDtype dt, const char *name,
	    const char *scope, Loc loc)
{
	IrNode n = {.op = op, .shape = shape, .dtype = dt, .name = name, .scope = scope, .loc = loc};
	return push(g, &n);
}

int ir_add(IrGraph *g, IrOp op, const int *in, int nin, const IrAttr *at,
	   const char *scope, Loc loc, char *err, size_t errlen)
{
	const IrPrimInfo *p = &ir_prims[op];
	assert(p->infer && nin >= p->min_in && (p->max_in < 0 || nin <= p->max_in));
	IrNode n = {.op = op, .nin = nin, .dtype = DT_F32, .scope = scope, .loc = loc};
	if (at)
		n.at = *at;
	if (nin > 0) {
		n.in = arena_array(g->arena, (size_t)nin, sizeof(int));
		memcpy(n.in, in, (size_t)nin * sizeof(int));
	}
	if (!p->infer(g, &n, &n.shape, err, errlen))
		return -1;
	return push(g, &n);
}

int ir_emit(IrGraph *g, IrOp op, const int *in, int nin, const IrAttr *at, const char *scope)
{
	char err[256];
	Loc none = {0};
	if (nin > 0)
		none = g->node[in[0]].loc;
	int v = ir_add(g, op, in, nin, at, scope, none, err, sizeof err);
	if (v < 0) {
		fprintf(stderr, "nasc: internal error: %s: %s\n", ir_prims[op].name, err);
		abort();
	}
	return v;
}

void ir_output(IrGraph *g, int v, const char *name)
{
	if (g->nout == g->outcap) {
		int cap = g->outcap ? g->outcap * 2 : 64;
		IrOutput *o = arena_array(g->arena, (size_t)cap, sizeof *o);
		if (g->nout)
			memcpy(o, g->out, (size_t)g->nout * sizeof *o);
		g->out = o;
		g->outcap = cap;
	}
	g->out[g->nout].v = v;
	g->out[g->nout].name = name;
	g->nout++;
}

void ir_running(IrGraph *g, int bn, int mean, int var)
{
	g->stat = arena_grow(g->arena, g->stat, g->nstat, &g->statcap, sizeof *g->stat);
	g->stat[g->nstat++] = (IrRunStat){.bn = bn, .mean = mean, .var = var};
}

/* ---- rewriting ------------------------------------------------------------ */

void ir_rebuild(IrGraph *g, const int *map)
{
	int *to = malloc((size_t)(g->n > 0 ? g->n : 1) * sizeof *to);
	if (!to) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	int n = 0;
	for (int v = 0; v < g->n; v++) {
		if (map[v] < 0) {
			to[v] = -1;
		} else if (map[v] != v) {
			assert(map[v] < v && map[map[v]] == map[v]);
			to[v] = to[map[v]];
		} else {
			IrNode nd = g->node[v];
			for (int j = 0; j < nd.nin; j++) {
				assert(to[nd.in[j]] >= 0);
				nd.in[j] = to[nd.in[j]];
			}
			g->node[n] = nd;
			to[v] = n++;
		}
	}
	g->n = n;
#define REMAP(x) ((x) = (x) >= 0 ? to[x] : (x))
	REMAP(g->input);
	REMAP(g->labels);
	REMAP(g->logits);
	REMAP(g->loss);
	REMAP(g->drop);
	for (int i = 0; i < g->nout; i++)
		REMAP(g->out[i].v);
	for (int i = 0; i < g->nstat; i++) {
		REMAP(g->stat[i].bn);
		REMAP(g->stat[i].mean);
		REMAP(g->stat[i].var);
	}
#undef REMAP
	free(to);
}


bool ir_attr_equal(const IrAttr *a, const IrAttr *b)
{
	return a->kh == b->kh && a->kw == b->kw && a->stride == b->stride && a->pad == b->pad &&
	       a->dilation == b->dilation && a->groups == b->groups &&
	       a->count_pad == b->count_pad && a->shift == b->shift && a->row == b->row &&
	       a->col == b->col && a->scale == b->scale && a->eps == b->eps &&
	       a->momentum == b->momentum && a->offset == b->offset && a->count == b->count &&
	       a->ta == b->ta && a->tb == b->tb && ir_shape_eq(a->shape, b->shape);
}

/* ---- verification ------------------------------------------------------------ */

static int problem(FILE *out, int i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int problem(FILE *out, int i, const char *fmt, ...)
{
	if (out) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(out, "ir_verify: %%%d: ", i);
		vfprintf(out, fmt, ap);
		fputc('\n', out);
		va_end(ap);
	}
	return 1;
}

/* Tangents are named after the tensor they move: names are unique among
 * the tangents and among the rest. */
static int cmp_name(const void *a, const void *b)
{
	const IrNode *const *x = a, *const *y = b;
	bool tx = (*x)->op == IR_TANGENT, ty = (*y)->op == IR_TANGENT;
	if (tx != ty)
		return tx ? 1 : -1;
	return strcmp((*x)->name, (*y)->name);
}

int ir_verify(const IrGraph *g, FILE *out)
{
	int bad = 0;
	for (int i = 0; i < g->n; i++) {
		const IrNode *n = &g->node[i];
		if ((unsigned)n->op >= IR_OP_COUNT) {
			bad += problem(out, i, "unknown op %d", (int)n->op);
			continue;
		}
		const IrPrimInfo *p = &ir_prims[n->op];
		if (n->nin < p->min_in || (p->max_in >= 0 && n->nin > p->max_in)) {
			bad += problem(out, i, "%s with %d inputs", p->name, n->nin);
			continue;
		}
		int in_ok = 1;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] < 0 || n->in[j] >= i) {
				bad += problem(out, i, "input %d is %%%d, not an earlier value", j, n->in[j]);
				in_ok = 0;
			}
		if (!in_ok)
			continue;
		if (n->shape.rank < 0 || n->shape.rank > IR_MAX_RANK)
			bad += problem(out, i, "rank %d", n->shape.rank);
		for (int j = 0; j < n->shape.rank; j++)
			if (n->shape.d[j] < 1)
				bad += problem(out, i, "dimension %d is %" PRId64, j, n->shape.d[j]);
		if (p->infer) {
			char err[256];
			IrShape s;
			if (!p->infer(g, n, &s, err, sizeof err))
				bad += problem(out, i, "%s: %s", p->name, err);
			else if (!ir_shape_eq(s, n->shape))
				bad += problem(out, i, "%s: recorded shape is not the inferred one", p->name);
			for (int j = 0; j < n->nin; j++)
				if (g->node[n->in[j]].dtype != DT_F32 &&
				    !((n->op == IR_CROSS_ENTROPY || n->op == IR_CE_GRAD) && j == 1))
					bad += problem(out, i, "%s: input %d is not f32", p->name, j);
		}
		if ((n->op == IR_WEIGHT || n->op == IR_ALPHA) && !n->name)
			bad += problem(out, i, "%s without a name", p->name);
		if (n->op == IR_WEIGHT && (n->wkind == W_NONE || n->wkind >= W_BN_MEAN))
			bad += problem(out, i, "weight without an initialization");
		if (n->op == IR_RUNNING &&
		    (!n->name || (n->wkind != W_BN_MEAN && n->wkind != W_BN_VAR) || n->shape.rank != 1))
			bad += problem(out, i, "running statistics need a name, a kind and a [C] shape");
	}
	for (int i = 0; i < g->nstat; i++) {
		const IrRunStat *r = &g->stat[i];
		bool in = r->bn >= 0 && r->bn < g->n && r->mean >= 0 && r->mean < g->n && r->var >= 0 &&
			  r->var < g->n;
		if (!in || g->node[r->bn].op != IR_BATCH_NORM || g->node[r->mean].op != IR_RUNNING ||
		    g->node[r->var].op != IR_RUNNING || g->node[r->mean].wkind != W_BN_MEAN ||
		    g->node[r->var].wkind != W_BN_VAR ||
		    g->node[r->mean].shape.d[0] != g->node[r->bn].shape.d[1] ||
		    g->node[r->var].shape.d[0] != g->node[r->bn].shape.d[1])
			bad += problem(out, in ? r->bn : -1,
				       "running statistics %d are not a batch norm's mean and variance", i);
	}
	if (g->drop >= 0 && (g->drop >= g->n || g->node[g->drop].op != IR_DROP))
		bad += problem(out, g->drop, "the drop-path mask is not a drop leaf");
	/* Tensor names are keys in state files: they must be unique (see
	 * cmp_name). */
	int nnamed = 0;
	for (int i = 0; i < g->n; i++)
		nnamed += g->node[i].name != NULL;
	if (nnamed > 1) {
		const IrNode **v = malloc((size_t)nnamed * sizeof *v);
		if (v) {
			int k = 0;
			for (int i = 0; i < g->n; i++)
				if (g->node[i].name)
					v[k++] = &g->node[i];
			qsort(v, (size_t)k, sizeof *v, cmp_name);
			for (int i = 1; i < k; i++)
				if (cmp_name(&v[i - 1], &v[i]) == 0)
					bad += problem(out, (int)(v[i] - g->node),
						       "tensor name `%s` is used twice", v[i]->name);
			free(v);
		}
	}
	if (g->loss >= 0) {
		if (g->loss >= g->n || g->node[g->loss].op != IR_CROSS_ENTROPY)
			bad += problem(out, g->loss, "the loss is not a cross entropy");
	}
	for (int i = 0; i < g->nout; i++)
		if (g->out[i].v < 0 || g->out[i].v >= g->n || !g->out[i].name)
			bad += problem(out, g->out[i].v, "output %d is not a named value", i);
	return bad;
}

/* ---- printing -------------------------------------------------------------- */

static void dump_attrs(FILE *out, const IrNode *n)
{
	const IrAttr *a = &n->at;
	switch (n->op) {
	case IR_CONV2D:
	case IR_CONV2D_BWD_DATA:
	case IR_CONV2D_BWD_FILTER:
		fprintf(out, " {k=%dx%d stride=%d pad=%d dilation=%d groups=%d}", a->kh, a->kw,
			a->stride, a->pad, a->dilation, a->groups);
		break;
	case IR_MAX_POOL:
	case IR_AVG_POOL:
	case IR_MAX_POOL_BWD:
	case IR_MAX_POOL_SELECT:
	case IR_AVG_POOL_BWD: {
		bool avg = n->op == IR_AVG_POOL || n->op == IR_AVG_POOL_BWD;
		fprintf(out, " {k=%dx%d stride=%d pad=%d%s}", a->kh, a->kw, a->stride, a->pad,
			avg ? (a->count_pad ? " count_pad" : " exclude_pad") : "");
		break;
	}
	case IR_SCALE:
	case IR_FILL:
		fprintf(out, " {%.9g}", a->scale);
		break;
	case IR_BATCH_NORM:
		fprintf(out, " {eps=%g momentum=%g}", a->eps, a->momentum);
		break;
	case IR_RSQRT:
	case IR_BN_GRAD:
	case IR_BN_GRAD_JVP:
	case IR_BN_INFER:
		fprintf(out, " {eps=%g}", a->eps);
		break;
	case IR_SAMPLE_SCALE:
	case IR_SAMPLE_DOT:
		fprintf(out, " {row=%d}", a->row);
		break;
	case IR_SHIFT:
	case IR_UNSHIFT:
		fprintf(out, " {%d}", a->shift);
		break;
	case IR_ZERO:
	case IR_NOISE:
		fprintf(out, " {stride=%d}", a->stride);
		break;
	case IR_MIXED:
		fprintf(out, " {row=%d", a->row);
		if (a->col)
			fprintf(out, " col=%d", a->col);
		fputc('}', out);
		break;
	case IR_MIXED_DOT:
		fprintf(out, " {row=%d col=%d}", a->row, a->col);
		break;
	case IR_SLICE_C:
	case IR_PAD_C:
		fprintf(out, " {offset=%d}", a->offset);
		break;
	case IR_MATMUL:
		fprintf(out, " {%s%s}", a->ta ? "ta" : "a", a->tb ? " tb" : " b");
		break;
	default:
		break;
	}
}

void ir_dump(FILE *out, const IrGraph *g)
{
	for (int i = 0; i < g->n; i++) {
		const IrNode *n = &g->node[i];
		fprintf(out, "%%%d = %s", i, ir_prims[n->op].name);
		if (n->name)
			fprintf(out, " \"%s\"", n->name);
		for (int j = 0; j < n->nin; j++)
			fprintf(out, "%s %%%d", j ? "," : "", n->in[j]);
		dump_attrs(out, n);
		fprintf(out, " : %s[", n->dtype == DT_F32 ? "f32" : "i64");
		for (int j = 0; j < n->shape.rank; j++)
			fprintf(out, "%s%" PRId64, j ? "," : "", n->shape.d[j]);
		fputc(']', out);
		if (n->inlined)
			fputs(" inline", out);
		if (n->scope)
			fprintf(out, "  # %s", n->scope);
		fputc('\n', out);
	}
	fprintf(out, "# input %%%d, labels %%%d, logits %%%d, loss %%%d", g->input, g->labels,
		g->logits, g->loss);
	if (g->drop >= 0)
		fprintf(out, ", drop %%%d", g->drop);
	fputc('\n', out);
	for (int i = 0; i < g->nstat; i++)
		fprintf(out, "# running %%%d updates %%%d, %%%d\n", g->stat[i].bn, g->stat[i].mean,
			g->stat[i].var);
	for (int i = 0; i < g->nout; i++)
		fprintf(out, "# output \"%s\" %%%d\n", g->out[i].name, g->out[i].v);
}
