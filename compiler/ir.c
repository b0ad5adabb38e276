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
	if (a->kh < 1 || a->stride < 1 || a->pad < 0)
		FAIL("pooling needs a kernel and stride of at least 1 and pad of at least 0");
	if (a->pad > a->kh / 2)
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

static bool infer_batch_norm(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen)
{
	const IrShape *x = in_shape(g, n, 0);
	if (!need_rank4(x, "batch norm", err, errlen))
		return false;
	if (n->nin == 2)
		FAIL("batch norm takes both gamma and beta, or neither");
	for (int i = 1; i < n->nin; i++) {
		const IrShape *p = in_shape(g, n, i);
		if (p->rank != 1 || p->d[0] != x->d[1])
			FAIL("batch norm parameters do not match its channels");
	}
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
	if (w->rank != 2 || w->d[1] != n->nin - 1 || n->at.row < 0 || n->at.row >= w->d[0])
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

static int64_t flops_none(const IrGraph *g, const IrNode *n)
{
	(void)g;
	(void)n;
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

const IrPrimInfo ir_prims[IR_OP_COUNT] = {
	[IR_INPUT] = {"input", 0, 0, NULL, flops_none},
	[IR_LABELS] = {"labels", 0, 0, NULL, flops_none},
	[IR_WEIGHT] = {"weight", 0, 0, NULL, flops_none},
	[IR_ALPHA] = {"alpha", 0, 0, NULL, flops_none},
	[IR_CONV2D] = {"conv2d", 2, 3, infer_conv2d, flops_conv2d},
	[IR_MAX_POOL] = {"max_pool", 1, 1, infer_pool, flops_none},
	[IR_AVG_POOL] = {"avg_pool", 1, 1, infer_pool, flops_none},
	[IR_RELU] = {"relu", 1, 1, infer_same, flops_none},
	[IR_ADD] = {"add", 2, -1, infer_add, flops_none},
	[IR_SCALE] = {"scale", 1, 1, infer_same, flops_none},
	[IR_BATCH_NORM] = {"batch_norm", 1, 3, infer_batch_norm, flops_none},
	[IR_CONCAT] = {"concat", 1, -1, infer_concat, flops_none},
	[IR_SHIFT] = {"shift", 1, 1, infer_shift, flops_none},
	[IR_ZERO] = {"zero", 1, 1, infer_subsample, flops_none},
	[IR_NOISE] = {"noise", 1, 1, infer_subsample, flops_none},
	[IR_GLOBAL_AVG_POOL] = {"global_avg_pool", 1, 1, infer_gap, flops_none},
	[IR_LINEAR] = {"linear", 2, 3, infer_linear, flops_linear},
	[IR_SOFTMAX] = {"softmax", 1, 1, infer_same, flops_none},
	[IR_MIXED] = {"mixed", 2, -1, infer_mixed, flops_none},
	[IR_CROSS_ENTROPY] = {"cross_entropy", 2, 2, infer_cross_entropy, flops_none},
};

/* The enum and the table come from the same list; keep them so. */
static_assert(sizeof ir_prims / sizeof ir_prims[0] == IR_OP_COUNT,
	      "ir_prims must have one row per primitive in prims.def");

static const char *const prim_def_names[] = {
#define X(e, name, min_in, max_in) name,
#include "prims.def"
#undef X
};
static_assert(sizeof prim_def_names / sizeof prim_def_names[0] == IR_OP_COUNT,
	      "prims.def and IrOp disagree");

/* ---- construction ---------------------------------------------------------- */

void ir_init(IrGraph *g, Arena *a)
{
	memset(g, 0, sizeof *g);
	g->arena = a;
	g->input = g->labels = g->logits = g->loss = -1;
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
	n.in = arena_array(g->arena, (size_t)nin, sizeof(int));
	memcpy(n.in, in, (size_t)nin * sizeof(int));
	if (!p->infer(g, &n, &n.shape, err, errlen))
		return -1;
	return push(g, &n);
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

static int cmp_name(const void *a, const void *b)
{
	const IrNode *const *x = a, *const *y = b;
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
				    !(n->op == IR_CROSS_ENTROPY && j == 1))
					bad += problem(out, i, "%s: input %d is not f32", p->name, j);
		}
		if ((n->op == IR_WEIGHT || n->op == IR_ALPHA) && !n->name)
			bad += problem(out, i, "%s without a name", p->name);
		if (n->op == IR_WEIGHT && n->wkind == W_NONE)
			bad += problem(out, i, "weight without an initialization");
	}
	/* Tensor names are keys in state files: they must be unique. */
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
				if (strcmp(v[i - 1]->name, v[i]->name) == 0)
					bad += problem(out, (int)(v[i] - g->node),
						       "tensor name `%s` is used twice", v[i]->name);
			free(v);
		}
	}
	if (g->loss >= 0) {
		if (g->loss >= g->n || g->node[g->loss].op != IR_CROSS_ENTROPY)
			bad += problem(out, g->loss, "the loss is not a cross entropy");
	}
	return bad;
}

/* ---- printing -------------------------------------------------------------- */

static void dump_attrs(FILE *out, const IrNode *n)
{
	const IrAttr *a = &n->at;
	switch (n->op) {
	case IR_CONV2D:
		fprintf(out, " {k=%dx%d stride=%d pad=%d dilation=%d groups=%d}", a->kh, a->kw,
			a->stride, a->pad, a->dilation, a->groups);
		break;
	case IR_MAX_POOL:
	case IR_AVG_POOL:
		fprintf(out, " {k=%dx%d stride=%d pad=%d%s}", a->kh, a->kw, a->stride, a->pad,
			n->op == IR_AVG_POOL ? (a->count_pad ? " count_pad" : " exclude_pad") : "");
		break;
	case IR_SCALE:
		fprintf(out, " {%.9g}", a->scale);
		break;
	case IR_BATCH_NORM:
		fprintf(out, " {eps=%g momentum=%g}", a->eps, a->momentum);
		break;
	case IR_SHIFT:
		fprintf(out, " {%d}", a->shift);
		break;
	case IR_ZERO:
	case IR_NOISE:
		fprintf(out, " {stride=%d}", a->stride);
		break;
	case IR_MIXED:
		fprintf(out, " {row=%d}", a->row);
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
		if (n->scope)
			fprintf(out, "  # %s", n->scope);
		fputc('\n', out);
	}
	fprintf(out, "# input %%%d, labels %%%d, logits %%%d, loss %%%d\n", g->input, g->labels,
		g->logits, g->loss);
}
