/* kern_pool.c - max and average pooling and their gradients.
 *
 * Each [n, c] plane is one thread's.  Like the convs, the pools loop over
 * the taps of their window, and for each tap over the output rows and
 * columns where it lands inside the image (kb_each_tap): padding never
 * enters a max, and counts in an average only with count_pad.  Ties go to
 * the first maximum in row-major window order: the max-pool gradient hands
 * each output's gradient to it, and the selection reads there.
 *
 * Where the plan gives a max pool an argmax buffer (lower.c), the pool
 * writes the flat index of each window's first maximum into it, and the
 * gradient and selection of that window over the same input read it: one
 * pass over the output, however large the window.  In a Hessian product
 * the pool runs once, in the preparation, and they in every product. */
#include "kern.h"

#include <stdlib.h>

/* The pool as the geometry of a one-channel-per-group window. */
static Geo pool_geo(const IrShape *x, const IrShape *y, const IrAttr *a)
{
	Geo g = {.x = *x, .y = *y, .a = *a, .cig = 1, .cog = 1};
	g.a.dilation = 1;
	g.a.groups = (int)x->d[1];
	return g;
}

typedef struct PoolCtx {
	int q;           /* the plane */
	int out, in;     /* slots */
	int arg;         /* max_pool: the argmax slot, or -1 */
	int scaled;      /* avg_pool_bwd: dy over each divisor, or -1 */
	IrOp op;
	bool count_pad;
} PoolCtx;

/* Plane q's element at row r, column c of a tensor of shape s. */
static LExpr *at(LProgram *P, const IrShape *s, int q, LExpr *r, LExpr *c)
{
	return ADD(MUL(ADD(MUL(V(q), I(s->d[2])), r), I(s->d[3])), c);
}

/* The divisor of output (ho, wo)'s average: the window, or the part of it
 * inside the image. */
static LExpr *divisor(KB *kb, const Geo *g, int ho, int wo)
{
	LProgram *P = kb->p;
	const IrAttr *a = &g->a;
	if (a->count_pad)
		return R((double)a->kh * a->kw);
	LExpr *r0 = SUB(MUL(V(ho), I(a->stride)), I(a->pad));
	LExpr *c0 = SUB(MUL(V(wo), I(a->stride)), I(a->pad));
	LExpr *rows = SUB(IMIN(ADD(r0, I(a->kh)), I(g->x.d[2])), IMAX(r0, I(0)));
	LExpr *cols = SUB(IMIN(ADD(c0, I(a->kw)), I(g->x.d[3])), IMAX(c0, I(0)));
	return lx_un(P, LO_TO_REAL, MUL(rows, cols));
}

static LStmt *pool_tap(KB *kb, const Geo *g, LExpr *i, LExpr *j, LExpr *h0, LExpr *h1, LExpr *w0,
		       LExpr *w1, void *vctx)
{
	LProgram *P = kb->p;
	PoolCtx *c = vctx;
	int ho = kb_var(kb, "ho"), wo = kb_var(kb, "wo");
	LExpr *o = at(P, &g->y, c->q, V(ho), V(wo));
	LExpr *x = at(P, &g->x, c->q, kb_in_row(P, g, ho, i), kb_in_col(P, g, wo, j));
	LStmt *s;
	switch (c->op) {
	case IR_MAX_POOL:
		s = STORE(c->out, o, BIN(LO_MAX, LD(c->out, o), LD(c->in, x)));
		if (c->arg >= 0) /* before the max moves: only a larger value takes it */
			s = SEQ(STORE(c->arg, o, lx_select(P, BIN(LO_GT, LD(c->in, x), LD(c->out, o)), x,
							   LD(c->arg, o))),
				s);
		break;
	case IR_AVG_POOL:
		s = ACCUM(c->out, o, LD(c->in, x));
		break;
	case IR_AVG_POOL_BWD:
		s = ACCUM(c->out, x, c->scaled >= 0 ? LD(c->scaled, o) : RDIV(LD(c->in, o), divisor(kb, g, ho, wo)));
		break;
	default:
		abort();
	}
	return FOR(ho, h0, h1, FOR(wo, w0, w1, s));
}

/* Set plane q of buf (shape s) to value, or to src's plane. */
static LStmt *plane_fill(KB *kb, int buf, const IrShape *s, int q, LExpr *value, int src)
{
	LProgram *P = kb->p;
	int64_t hw = s->d[2] * s->d[3];
	int p = kb_var(kb, "p");
	LExpr *idx = ADD(MUL(V(q), I(hw)), V(p));
	return FOR(p, I(0), I(hw), STORE(buf, idx, src >= 0 ? LD(src, idx) : value));
}

static LStmt *per_plane(KB *kb, const IrShape *x, int q, LStmt *body)
{
	LProgram *P = kb->p;
	int64_t planes = x->d[0] * x->d[1];
	if (ir_numel(*x) >= 8192)
		return PFOR(q, I(0), I(planes), body);
	return FOR(q, I(0), I(planes), body);
}

/* dst's plane q of the pooled shape = src's over each output's divisor */
static LStmt *divide_plane(KB *kb, const Geo *g, int q, int dst, int src)
{
	LProgram *P = kb->p;
	int ho = kb_var(kb, "ho"), wo = kb_var(kb, "wo");
	LExpr *o = at(P, &g->y, q, V(ho), V(wo));
	return FOR(ho, I(0), I(g->y.d[2]),
		   FOR(wo, I(0), I(g->y.d[3]), STORE(dst, o, RDIV(LD(src, o), divisor(kb, g, ho, wo)))));
}

static void pool_forward(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0), *ys = &kb->n->shape;
	Geo g = pool_geo(xs, ys, &kb->n->at);
	bool is_max = kb->n->op == IR_MAX_POOL;
	PoolCtx c = {.q = kb_var(kb, "q"), .out = kb_out(kb), .in = kb_in(kb, 0), .op = kb->n->op,
		     .arg = -1, .scaled = -1};
	LStmt *body = plane_fill(kb, c.out, ys, c.q, R(is_max ? -1.0 / 0.0 : 0), -1);
	if (is_max && kb->k->arg[kb->k->v] >= 0) {
		c.arg = kb_buf(kb, kb->k->arg[kb->k->v], true);
		body = SEQ(body, plane_fill(kb, c.arg, ys, c.q, I(-1), -1));
	}
	body = SEQ(body, kb_each_tap(kb, &g, pool_tap, &c));
	if (!is_max)
		body = SEQ(body, divide_plane(kb, &g, c.q, c.out, c.out));
	kb_finish(kb, is_max ? "max_pool" : "avg_pool", per_plane(kb, xs, c.q, body));
}

/* avg_pool_bwd(dy): each tap adds dy over its output's divisor to the
 * input it read.  A divisor that varies (no count_pad) is computed, and
 * divided by, once per output, into the scratch buffer, rather than once
 * per tap: the same quotients. */
static void avg_pool_bwd(KB *kb)
{
	const KernCtx *k = kb->k;
	const IrShape *xs = &kb->n->shape, *ys = kb_ishape(kb, 0);
	Geo g = pool_geo(xs, ys, &kb->n->at);
	PoolCtx c = {.q = kb_var(kb, "q"), .out = kb_out(kb), .in = kb_in(kb, 0), .op = kb->n->op,
		     .arg = -1, .scaled = -1};
	LStmt *body = plane_fill(kb, c.out, xs, c.q, lx_real(kb->p, 0), -1);
	if (!g.a.count_pad) {
		c.scaled = kb_buf(kb, k->scratch[k->v], true);
		body = SEQ(body, divide_plane(kb, &g, c.q, c.scaled, c.in));
	}
	body = SEQ(body, kb_each_tap(kb, &g, pool_tap, &c));
	kb_finish(kb, "avg_pool_bwd", per_plane(kb, xs, c.q, body));
}

/* max_pool_bwd(x, dy) (x, dy sent to each window's first max) and
 * max_pool_select(x, v) (v read there), with the pool's argmax at hand:
 * output by output. */
static void max_pool_by_arg(KB *kb, bool bwd)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	const IrShape *xs = kb_ishape(kb, 0), *ys = bwd ? kb_ishape(kb, 1) : &kb->n->shape;
	int q = kb_var(kb, "q"), i = kb_var(kb, "i"), a = kb_var(kb, "a");
	int out = kb_out(kb), v = kb_in(kb, 1), arg = kb_buf(kb, k->arg[k->v], false);
	int64_t hw = ys->d[2] * ys->d[3];
	LExpr *yi = ADD(MUL(V(q), I(hw)), V(i)), *found = BIN(LO_GE, V(a), I(0));
	LStmt *each = bwd ? IF(found, ACCUM(out, V(a), LD(v, yi)), NULL)
			  : STORE(out, yi, lx_select(P, found, LD(v, IMAX(V(a), I(0))), R(0)));
	LStmt *body = FOR(i, I(0), I(hw), SEQ(LET(a, LD(arg, yi)), each));
	if (bwd)
		body = SEQ(plane_fill(kb, out, xs, q, R(0), -1), body);
	kb_finish(kb, bwd ? "max_pool_bwd" : "max_pool_select", per_plane(kb, xs, q, body));
}

/* ---- without an argmax: each window's first maximum found in turn ---- */

typedef struct Win {
	const IrShape *x, *y;
	int q, ho, wo, h0, h1, w0, w1, hi, wi;
} Win;

/* max_pool_bwd(x, dy) (x, dy to the first max) and max_pool_select(x, v)
 * (v read there), window by window. */
static void max_pool_scan(KB *kb, bool bwd)
{
	LProgram *P = kb->p;
	const IrAttr *a = &kb->n->at;
	const IrShape *xs = kb_ishape(kb, 0), *ys = bwd ? kb_ishape(kb, 1) : &kb->n->shape;
	Win w = {.x = xs, .y = ys};
	w.q = kb_var(kb, "q");
	w.ho = kb_var(kb, "ho");
	w.wo = kb_var(kb, "wo");
	w.h0 = kb_var(kb, "h0");
	w.h1 = kb_var(kb, "h1");
	w.w0 = kb_var(kb, "w0");
	w.w1 = kb_var(kb, "w1");
	w.hi = kb_var(kb, "hi");
	w.wi = kb_var(kb, "wi");
	int out = kb_out(kb), x = kb_in(kb, 0), v = kb_in(kb, 1);
	int best = kb_rvar(kb, "best"), arg = kb_var(kb, "arg"), xv = kb_rvar(kb, "v");
	LExpr *xi = at(P, xs, w.q, V(w.hi), V(w.wi)), *yi = at(P, ys, w.q, V(w.ho), V(w.wo));
	LExpr *r0 = SUB(MUL(V(w.ho), I(a->stride)), I(a->pad));
	LExpr *c0 = SUB(MUL(V(w.wo), I(a->stride)), I(a->pad));
	LExpr *better = BIN(LO_GT, V(xv), V(best));
	LStmt *scan = FOR(w.hi, V(w.h0), V(w.h1),
			  FOR(w.wi, V(w.w0), V(w.w1),
			      SEQ(LET(xv, LD(x, xi)), SET(arg, lx_select(P, better, xi, V(arg))),
				  SET(best, lx_select(P, better, V(xv), V(best))))));
	LExpr *found = BIN(LO_GE, V(arg), I(0));
	LStmt *post = bwd ? IF(found, ACCUM(out, V(arg), LD(v, yi)), NULL)
			  : STORE(out, yi, lx_select(P, found, LD(v, IMAX(V(arg), I(0))), R(0)));
	LStmt *window = SEQ(LET(w.h0, IMAX(r0, I(0))), LET(w.h1, IMIN(ADD(r0, I(a->kh)), I(xs->d[2]))),
			    LET(w.w0, IMAX(c0, I(0))), LET(w.w1, IMIN(ADD(c0, I(a->kw)), I(xs->d[3]))),
			    LET(best, R(-1.0 / 0.0)), LET(arg, I(-1)), scan, post);
	LStmt *body = FOR(w.ho, I(0), I(ys->d[2]), FOR(w.wo, I(0), I(ys->d[3]), window));
	if (bwd)
		body = SEQ(plane_fill(kb, out, xs, w.q, R(0), -1), body);
	kb_finish(kb, bwd ? "max_pool_bwd" : "max_pool_select", per_plane(kb, xs, w.q, body));
}

bool kern_pool(KernCtx *k)
{
	KB kb;
	kb_begin(&kb, k);
	switch (kb.n->op) {
	case IR_MAX_POOL:
	case IR_AVG_POOL:
		pool_forward(&kb);
		return true;
	case IR_AVG_POOL_BWD:
		avg_pool_bwd(&kb);
		return true;
	case IR_MAX_POOL_BWD:
	case IR_MAX_POOL_SELECT:
		if (k->arg[k->v] >= 0)
			max_pool_by_arg(&kb, kb.n->op == IR_MAX_POOL_BWD);
		else
			max_pool_scan(&kb, kb.n->op == IR_MAX_POOL_BWD);
		return true;
	default:
		return false;
	}
}
