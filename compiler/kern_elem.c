/* kern_elem.c - kernels that touch each element once: elementwise maps,
 * weighted sums and their drop-path scales, fills, broadcasts and the
 * channel and pixel moves (concat, slices, shifts). */
#include "kern.h"

#include <stdio.h>
#include <stdlib.h>

/* The value of elementwise value v at flat index idx, as an expression:
 * loads of its inputs' buffers, or, for inputs fusion inlined, their own
 * expressions at the same index.  The slots belong to kernel kb. */
LExpr *kern_mask_at(KB *kb, int v, LExpr *idx)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	const IrNode *n = &k->g->node[v];
	/* the row is a view of the mask, so every edge of every cell shares
	 * one kernel, as with the mixture weights */
	int64_t nb = n->shape.d[0], per = ir_numel(n->shape) / nb;
	LExpr *smp = kb->sample ? kb->sample : DIVI(idx, per);
	int row = lp_view(P, "drop-path mask row", k->vbuf[n->in[1]], (int64_t)n->at.row * nb, nb);
	return LD(kb_buf(kb, row, false), smp);
}

/* Whether value u is a drop-path scale computed where it is read. */
static bool inline_scale(const KB *kb, int u)
{
	const IrNode *n = &kb->k->g->node[u];
	return n->inlined && n->op == IR_SAMPLE_SCALE;
}

/* sum_j w[row, col + j] o_j of mixed value v, each weight times `factor`
 * (a drop-path mask entry, or NULL).  The weights are a view of the
 * softmax starting at [row, col], so every edge shares one kernel;
 * candidates that are constant zeros (`none`) are left out.  A mask entry
 * multiplies the weight rather than the candidate: the product is the
 * same for a whole sample, so the kernel does no more per element than
 * without drop-path (and with a mask of ones, the same arithmetic). */
static LExpr *mixed_expr(KB *kb, int v, LExpr *idx, LExpr *factor)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	const IrNode *n = &k->g->node[v];
	const IrShape *ws = &k->g->node[n->in[0]].shape;
	int64_t first = (int64_t)n->at.row * ws->d[1] + n->at.col;
	int wv = lp_view(P, "mixture weights", k->vbuf[n->in[0]], first, n->nin - 1);
	int w = kb_buf(kb, wv, false);
	LExpr *sum = NULL;
	for (int j = 1; j < n->nin; j++) {
		int o = n->in[j];
		if (k->g->node[o].op == IR_ZERO)
			continue;
		LExpr *wj = LD(w, I(j - 1));
		if (factor)
			wj = RMUL(wj, factor);
		if (inline_scale(kb, o)) {
			/* the cotangent of a candidate: w (c d) as (w d) c */
			wj = RMUL(wj, kern_mask_at(kb, o, idx));
			o = k->g->node[o].in[0];
		}
		LExpr *t = RMUL(wj, kb_value(kb, o, idx));
		sum = sum ? RADD(sum, t) : t;
	}
	return sum ? sum : R(0);
}

LExpr *kern_elem_expr(KB *kb, int v, LExpr *idx)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	const IrNode *n = &k->g->node[v];
	/* a drop-path scale of an inline weighted sum scales its weights */
	if (n->op == IR_SAMPLE_SCALE && k->g->node[n->in[0]].inlined &&
	    k->g->node[n->in[0]].op == IR_MIXED)
		return mixed_expr(kb, n->in[0], idx, kern_mask_at(kb, v, idx));
	LExpr *x[2] = {NULL, NULL};
	/* the mask of a drop-path scale is read per sample, below */
	int nread = n->op == IR_SAMPLE_SCALE ? 1 : 2;
	if (n->op != IR_ADD && n->op != IR_MIXED && n->op != IR_ZERO)
		for (int j = 0; j < n->nin && j < nread; j++)
			x[j] = ir_numel(k->g->node[n->in[j]].shape) == 1 && ir_numel(n->shape) > 1
				       ? kb_value(kb, n->in[j], I(0))
				       : kb_value(kb, n->in[j], idx);
	switch (n->op) {
	case IR_ZERO:
		return R(0);
	case IR_RELU:
		return BIN(LO_MAX, x[0], R(0));
	case IR_SCALE:
		return RMUL(x[0], R(n->at.scale));
	case IR_MUL:
	case IR_SCALE_BY:
		return RMUL(x[0], x[1]);
	case IR_RSQRT:
		return RDIV(R(1), lx_un(P, LO_SQRT, RADD(x[0], R(n->at.eps))));
	case IR_RELU_MASK:
		return lx_select(P, BIN(LO_GT, x[0], R(0)), x[1], R(0));
	case IR_ADD: {
		LExpr *e = NULL;
		for (int j = 0; j < n->nin; j++) {
			LExpr *t = kb_value(kb, n->in[j], idx);
			e = e ? RADD(e, t) : t;
		}
		return e;
	}
	case IR_MIXED:
		return mixed_expr(kb, v, idx, NULL);
	case IR_SAMPLE_SCALE:
		return RMUL(x[0], kern_mask_at(kb, v, idx));
	default:
		fprintf(stderr, "nasc: internal error: %s is not elementwise\n", ir_prims[n->op].name);
		abort();
	}
}

/* Whether value v's expression (v and the values inlined into it) scales
 * by a drop-path mask. */
static bool scales_samples(const IrGraph *g, int v)
{
	const IrNode *n = &g->node[v];
	if (n->op == IR_SAMPLE_SCALE)
		return true;
	for (int j = 0; j < n->nin; j++)
		if (g->node[n->in[j]].inlined && scales_samples(g, n->in[j]))
			return true;
	return false;
}

/* y[i] = the value's expression, over the flat index; sample by sample
 * when it reads a drop-path mask, so the mask is read once a sample. */
static void map(KB *kb, const char *what)
{
	LProgram *P = kb->p;
	const IrShape *s = &kb->n->shape;
	int y = kb_out(kb), i = kb_var(kb, "i");
	if (!scales_samples(kb->k->g, kb->k->v)) {
		LExpr *e = kern_elem_expr(kb, kb->k->v, V(i));
		kb_finish(kb, what, kb_flat_loop(kb, i, ir_numel(*s), STORE(y, V(i), e)));
		return;
	}
	int64_t per = ir_numel(*s) / s->d[0];
	int n = kb_var(kb, "n");
	LExpr *at = ADD(MUL(V(n), I(per)), V(i));
	kb->sample = V(n);
	LStmt *body = FOR(i, I(0), I(per), STORE(y, at, kern_elem_expr(kb, kb->k->v, at)));
	kb->sample = NULL;
	kb_finish(kb, what, ir_numel(*s) >= 8192 ? PFOR(n, I(0), I(s->d[0]), body)
						 : FOR(n, I(0), I(s->d[0]), body));
}

/* A sum of more inputs than a kernel takes buffers is split into passes
 * that add to y (fusion inlines nothing into such a sum). */
static void add(KB *kb)
{
	enum { CHUNK = 32 };
	LProgram *P = kb->p;
	const IrNode *n = kb->n;
	if (n->nin <= CHUNK) {
		map(kb, "add");
		return;
	}
	for (int first = 0; first < n->nin; first += CHUNK) {
		KB part;
		kb_begin(&part, kb->k);
		int y = kb_out(&part), i = kb_var(&part, "i");
		int last = first + CHUNK < n->nin ? first + CHUNK : n->nin;
		LExpr *e = NULL;
		for (int j = first; j < last; j++) {
			LExpr *t = kb_value(&part, n->in[j], V(i));
			e = e ? RADD(e, t) : t;
		}
		LStmt *st = first == 0 ? STORE(y, V(i), e) : ACCUM(y, V(i), e);
		kb_finish(&part, "add", kb_flat_loop(&part, i, ir_numel(n->shape), st));
	}
}

static void fill(KB *kb, double value)
{
	LProgram *P = kb->p;
	int y = kb_out(kb), i = kb_var(kb, "i");
	kb_finish(kb, value == 0 ? "zero" : "fill",
		  kb_flat_loop(kb, i, ir_numel(kb->n->shape), STORE(y, V(i), R(value))));
}

static void noise(KB *kb)
{
	LProgram *P = kb->p;
	int y = kb_out(kb);
	kb->b.uses_run = true;
	kb_finish(kb, "noise", ls_noise(P, y, I(0), I(ir_numel(kb->n->shape)), kb->k->v));
}

/* A loop over the [n, c] planes of a 4-d shape, then its h and w. */
static LStmt *planes(KB *kb, const IrShape *s, int nc, int h, int w, LStmt *body)
{
	LProgram *P = kb->p;
	LStmt *inner = FOR(h, I(0), I(s->d[2]), FOR(w, I(0), I(s->d[3]), body));
	int64_t count = s->d[0] * s->d[1];
	if (ir_numel(*s) >= 8192)
		return PFOR(nc, I(0), I(count), inner);
	return FOR(nc, I(0), I(count), inner);
}

/* shift: y[n,c,h,w] = x[n,c,h+s,w+s]; unshift: its transpose, zeros first. */
static void shift(KB *kb, bool inverse)
{
	LProgram *P = kb->p;
	const IrShape *ys = &kb->n->shape, *xs = kb_ishape(kb, 0);
	int sh = kb->n->at.shift;
	int y = kb_out(kb), x = kb_in(kb, 0);
	int nc = kb_var(kb, "nc"), h = kb_var(kb, "h"), w = kb_var(kb, "w");
	LStmt *body;
	if (!inverse) {
		LExpr *src = ADD(MUL(ADD(MUL(V(nc), I(xs->d[2])), ADD(V(h), I(sh))), I(xs->d[3])),
				 ADD(V(w), I(sh)));
		body = planes(kb, ys, nc, h, w,
			      STORE(y, ADD(MUL(ADD(MUL(V(nc), I(ys->d[2])), V(h)), I(ys->d[3])), V(w)),
				    LD(x, src)));
	} else {
		/* y is the larger: read x where it lands, else zero */
		LExpr *in = BIN(LO_AND, BIN(LO_GE, V(h), I(sh)), BIN(LO_GE, V(w), I(sh)));
		LExpr *src = ADD(MUL(ADD(MUL(V(nc), I(xs->d[2])), SUB(V(h), I(sh))), I(xs->d[3])),
				 SUB(V(w), I(sh)));
		body = planes(kb, ys, nc, h, w,
			      STORE(y, ADD(MUL(ADD(MUL(V(nc), I(ys->d[2])), V(h)), I(ys->d[3])), V(w)),
				    lx_select(P, in, LD(x, lx_select(P, in, src, I(0))), R(0))));
	}
	kb_finish(kb, inverse ? "unshift" : "shift", body);
}

/* Copy channels [0, cn) of x's planes into channels [yoff, yoff+cn) of y
 * (or from x's [xoff, ...) into y's [0, ...)). */
static LStmt *copy_channels(KB *kb, int y, const IrShape *ys, int64_t yoff, int x,
			    const IrShape *xs, int64_t xoff, int64_t cn)
{
	LProgram *P = kb->p;
	int64_t hw = ys->d[2] * ys->d[3];
	int n = kb_var(kb, "n"), c = kb_var(kb, "c"), i = kb_var(kb, "i");
	LExpr *yi = ADD(MUL(ADD(MUL(V(n), I(ys->d[1])), ADD(V(c), I(yoff))), I(hw)), V(i));
	LExpr *xi = ADD(MUL(ADD(MUL(V(n), I(xs->d[1])), ADD(V(c), I(xoff))), I(hw)), V(i));
	LStmt *inner = FOR(c, I(0), I(cn), FOR(i, I(0), I(hw), STORE(y, yi, LD(x, xi))));
	if (ys->d[0] * cn * hw >= 8192)
		return PFOR(n, I(0), I(ys->d[0]), inner);
	return FOR(n, I(0), I(ys->d[0]), inner);
}

static void concat(KB *kb)
{
	const IrShape *ys = &kb->n->shape;
	int y = kb_out(kb);
	LStmt *body = NULL;
	int64_t off = 0;
	for (int j = 0; j < kb->n->nin; j++) {
		const IrShape *xs = kb_ishape(kb, j);
		body = SEQ(body, copy_channels(kb, y, ys, off, kb_in(kb, j), xs, 0, xs->d[1]));
		off += xs->d[1];
	}
	kb_finish(kb, "concat", body);
}

static void slice_c(KB *kb)
{
	const IrShape *xs = kb_ishape(kb, 0);
	int y = kb_out(kb), x = kb_in(kb, 0);
	kb_finish(kb, "slice_c",
		  copy_channels(kb, y, &kb->n->shape, 0, x, xs, kb->n->at.offset, kb->n->at.count));
}

static void pad_c(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *ys = &kb->n->shape, *xs = kb_ishape(kb, 0);
	int y = kb_out(kb), x = kb_in(kb, 0), i = kb_var(kb, "i");
	LStmt *zero = kb_flat_loop(kb, i, ir_numel(*ys), STORE(y, V(i), R(0)));
	kb_finish(kb, "pad_c",
		  SEQ(zero, copy_channels(kb, y, ys, kb->n->at.offset, x, xs, 0, xs->d[1])));
}

/* y[n, c, ...] = v[c] (bcast_c), y[r, k] = v[r] (row_bcast), y[n, c, h, w]
 * = v[n, c] / (h w) (gap_bwd): y[i] = f * v[(i / inner) % outer]. */
static void broadcast(KB *kb, const char *what, int64_t inner, int64_t outer, double f)
{
	LProgram *P = kb->p;
	const IrShape *ys = &kb->n->shape;
	int64_t total = ir_numel(*ys), blocks = total / (inner * outer);
	int y = kb_out(kb), x = kb_in(kb, 0);
	int b = kb_var(kb, "b"), o = kb_var(kb, "o"), i = kb_var(kb, "i"), vv = kb_rvar(kb, "v");
	LExpr *val = f == 1 ? LD(x, V(o)) : RMUL(LD(x, V(o)), R(f));
	LStmt *inner_loop = FOR(o, I(0), I(outer),
				SEQ(LET(vv, val),
				    FOR(i, I(0), I(inner),
					STORE(y, ADD(MUL(ADD(MUL(V(b), I(outer)), V(o)), I(inner)), V(i)),
					      V(vv)))));
	LStmt *body = total >= 8192 && blocks > 1 ? PFOR(b, I(0), I(blocks), inner_loop)
						  : FOR(b, I(0), I(blocks), inner_loop);
	kb_finish(kb, what, body);
}

bool kern_elem(KernCtx *k)
{
	KB kb;
	kb_begin(&kb, k);
	const IrShape *s = &kb.n->shape;
	switch (kb.n->op) {
	case IR_RELU:
	case IR_SCALE:
	case IR_MUL:
	case IR_SCALE_BY:
	case IR_RSQRT:
	case IR_RELU_MASK:
	case IR_MIXED:
	case IR_SAMPLE_SCALE:
		map(&kb, ir_prims[kb.n->op].name);
		return true;
	case IR_ADD:
		add(&kb);
		return true;
	case IR_FILL:
		fill(&kb, kb.n->at.scale);
		return true;
	case IR_ZERO:
		fill(&kb, 0);
		return true;
	case IR_NOISE:
		noise(&kb);
		return true;
	case IR_SHIFT:
		shift(&kb, false);
		return true;
	case IR_UNSHIFT:
		shift(&kb, true);
		return true;
	case IR_CONCAT:
		concat(&kb);
		return true;
	case IR_SLICE_C:
		slice_c(&kb);
		return true;
	case IR_PAD_C:
		pad_c(&kb);
		return true;
	case IR_BCAST_C:
		broadcast(&kb, "bcast_c", s->rank == 4 ? s->d[2] * s->d[3] : 1, s->d[1], 1);
		return true;
	case IR_ROW_BCAST:
		broadcast(&kb, "row_bcast", s->d[1], s->d[0], 1);
		return true;
	case IR_GAP_BWD:
		broadcast(&kb, "gap_bwd", s->d[2] * s->d[3], s->d[0] * s->d[1],
			  1.0 / (double)(s->d[2] * s->d[3]));
		return true;
	default:
		return false;
	}
}
