/* kern_pool.c - max and average pooling and their gradients.
 *
 * Loops over the [n, c] planes (one thread each); a window is clipped to
 * the image, so padding never wins a max and is counted in an average only
 * with count_pad.  Ties go to the first maximum in row-major order, which
 * the max-pool gradient and the tangent's select share. */
#include "kern.h"

typedef struct Win {
	const IrShape *x, *y;   /* the pool's input and output */
	int q, ho, wo;          /* plane, output row and column */
	int h0, h1, w0, w1;     /* the clipped window */
	int hi, wi;             /* a position in it */
} Win;

static Win window(KB *kb, const IrShape *x, const IrShape *y)
{
	Win w = {.x = x, .y = y};
	w.q = kb_var(kb, "q");
	w.ho = kb_var(kb, "ho");
	w.wo = kb_var(kb, "wo");
	w.h0 = kb_var(kb, "h0");
	w.h1 = kb_var(kb, "h1");
	w.w0 = kb_var(kb, "w0");
	w.w1 = kb_var(kb, "w1");
	w.hi = kb_var(kb, "hi");
	w.wi = kb_var(kb, "wi");
	return w;
}

static LExpr *xat(LProgram *P, const Win *w)
{
	return ADD(MUL(ADD(MUL(V(w->q), I(w->x->d[2])), V(w->hi)), I(w->x->d[3])), V(w->wi));
}

static LExpr *yat(LProgram *P, const Win *w)
{
	return ADD(MUL(ADD(MUL(V(w->q), I(w->y->d[2])), V(w->ho)), I(w->y->d[3])), V(w->wo));
}

/* for each output position of plane q: clip the window, then `pre`, a
 * loop over the window running `each`, then `post` */
static LStmt *over_windows(KB *kb, const Win *w, LStmt *pre, LStmt *each, LStmt *post)
{
	LProgram *P = kb->p;
	const IrAttr *a = &kb->n->at;
	LExpr *r0 = SUB(MUL(V(w->ho), I(a->stride)), I(a->pad));
	LExpr *c0 = SUB(MUL(V(w->wo), I(a->stride)), I(a->pad));
	LStmt *clip = SEQ(LET(w->h0, IMAX(r0, I(0))), LET(w->h1, IMIN(ADD(r0, I(a->kh)), I(w->x->d[2]))),
			  LET(w->w0, IMAX(c0, I(0))), LET(w->w1, IMIN(ADD(c0, I(a->kw)), I(w->x->d[3]))));
	LStmt *scan = FOR(w->hi, V(w->h0), V(w->h1), FOR(w->wi, V(w->w0), V(w->w1), each));
	return FOR(w->ho, I(0), I(w->y->d[2]),
		   FOR(w->wo, I(0), I(w->y->d[3]), SEQ(clip, pre, scan, post)));
}

static LStmt *per_plane(KB *kb, const Win *w, LStmt *body)
{
	LProgram *P = kb->p;
	int64_t planes = w->x->d[0] * w->x->d[1];
	if (ir_numel(*w->x) >= 8192)
		return PFOR(w->q, I(0), I(planes), body);
	return FOR(w->q, I(0), I(planes), body);
}

/* The divisor of an average over the clipped window. */
static LExpr *divisor(KB *kb, const Win *w)
{
	LProgram *P = kb->p;
	const IrAttr *a = &kb->n->at;
	if (a->count_pad)
		return R((double)a->kh * a->kw);
	return lx_un(P, LO_TO_REAL, MUL(SUB(V(w->h1), V(w->h0)), SUB(V(w->w1), V(w->w0))));
}

static void pool_forward(KB *kb, bool is_max)
{
	LProgram *P = kb->p;
	Win w = window(kb, kb_ishape(kb, 0), &kb->n->shape);
	int y = kb_out(kb), x = kb_in(kb, 0);
	int acc = is_max ? kb_rvar(kb, "mx") : kb_acc(kb, "sum");
	LStmt *pre = LET(acc, is_max ? R(-1.0 / 0.0) : R(0));
	LStmt *each = SET(acc, is_max ? BIN(LO_MAX, V(acc), LD(x, xat(P, &w)))
				      : RADD(V(acc), LD(x, xat(P, &w))));
	LStmt *post = STORE(y, yat(P, &w), is_max ? V(acc) : RDIV(V(acc), divisor(kb, &w)));
	kb_finish(kb, is_max ? "max_pool" : "avg_pool",
		  per_plane(kb, &w, over_windows(kb, &w, pre, each, post)));
}

/* The first maximum of each window: `best` and its flat index `arg` (-1
 * when the window is empty). */
static void argmax_parts(KB *kb, const Win *w, int x, int best, int arg, LStmt **pre, LStmt **each)
{
	LProgram *P = kb->p;
	int v = kb_rvar(kb, "v");
	*pre = SEQ(LET(best, R(-1.0 / 0.0)), LET(arg, I(-1)));
	*each = SEQ(LET(v, LD(x, xat(P, w))),
		    IF(BIN(LO_GT, V(v), V(best)), SEQ(SET(best, V(v)), SET(arg, xat(P, w))), NULL));
}

/* Zero plane q of a tensor of shape s. */
static LStmt *zero_plane(KB *kb, int buf, const IrShape *s, int q)
{
	LProgram *P = kb->p;
	int64_t hw = s->d[2] * s->d[3];
	int p = kb_var(kb, "p");
	return FOR(p, I(0), I(hw), STORE(buf, ADD(MUL(V(q), I(hw)), V(p)), R(0)));
}

/* max_pool_bwd(x, dy): dy to each window's first max.  max_pool_select(x,
 * v): v read there. */
static void max_pool_arg(KB *kb, bool bwd)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	const IrShape *ys = bwd ? kb_ishape(kb, 1) : &kb->n->shape;
	Win w = window(kb, xs, ys);
	int out = kb_out(kb), x = kb_in(kb, 0), v = kb_in(kb, 1);
	int best = kb_rvar(kb, "best"), arg = kb_var(kb, "arg");
	LStmt *pre, *each;
	argmax_parts(kb, &w, x, best, arg, &pre, &each);
	LStmt *post;
	if (bwd)
		post = IF(BIN(LO_GE, V(arg), I(0)), ACCUM(out, V(arg), LD(v, yat(P, &w))), NULL);
	else
		post = STORE(out, yat(P, &w),
			     lx_select(P, BIN(LO_GE, V(arg), I(0)), LD(v, IMAX(V(arg), I(0))), R(0)));
	LStmt *body = over_windows(kb, &w, pre, each, post);
	if (bwd)
		body = SEQ(zero_plane(kb, out, xs, w.q), body);
	kb_finish(kb, bwd ? "max_pool_bwd" : "max_pool_select", per_plane(kb, &w, body));
}

static void avg_pool_bwd(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = &kb->n->shape;
	Win w = window(kb, xs, kb_ishape(kb, 0));
	int dx = kb_out(kb), dy = kb_in(kb, 0);
	int gv = kb_rvar(kb, "g");
	LStmt *pre = LET(gv, RDIV(LD(dy, yat(P, &w)), divisor(kb, &w)));
	LStmt *each = ACCUM(dx, xat(P, &w), V(gv));
	LStmt *body = SEQ(zero_plane(kb, dx, xs, w.q), over_windows(kb, &w, pre, each, NULL));
	kb_finish(kb, "avg_pool_bwd", per_plane(kb, &w, body));
}

bool kern_pool(KernCtx *k)
{
	KB kb;
	kb_begin(&kb, k);
	switch (kb.n->op) {
	case IR_MAX_POOL:
		pool_forward(&kb, true);
		return true;
	case IR_AVG_POOL:
		pool_forward(&kb, false);
		return true;
	case IR_MAX_POOL_BWD:
		max_pool_arg(&kb, true);
		return true;
	case IR_MAX_POOL_SELECT:
		max_pool_arg(&kb, false);
		return true;
	case IR_AVG_POOL_BWD:
		avg_pool_bwd(&kb);
		return true;
	default:
		return false;
	}
}
