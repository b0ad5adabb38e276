/* kern_tap.c - the loops over the taps of a sliding window (convs and
 * pools): for each tap, the output rows and columns where it lands inside
 * the input, worked out as expressions, so that the innermost loop is a
 * branch-free pass over a contiguous (stride 1) row. */
#include "kern.h"

/* Output positions o in [0, out) whose input o*s - pad + t*d lies in
 * [0, in), for the tap t: [lo, hi), as expressions on nonnegative ints. */
static void tap_range(KB *kb, int64_t in, int64_t out, const IrAttr *a, int t, int lo, int hi,
		      LStmt **lets)
{
	LProgram *P = kb->p;
	int64_t s = a->stride;
	LExpr *td = MUL(V(t), I(a->dilation));
	LExpr *before = SUB(I(a->pad), td);        /* pad - t d: rows to skip, when positive */
	LExpr *room = SUB(I(in - 1 + a->pad), td); /* the last output's input, unscaled */
	LExpr *l, *h;
	if (s == 1) {
		l = IMAX(before, I(0));
		h = IMIN(I(out), IMAX(ADD(room, I(1)), I(0)));
	} else {
		l = DIVI(ADD(IMAX(before, I(0)), I(s - 1)), s);
		h = IMIN(I(out), lx_select(P, BIN(LO_GE, room, I(0)), ADD(DIVI(room, s), I(1)), I(0)));
	}
	*lets = SEQ(*lets, LET(lo, l), LET(hi, IMAX(h, V(lo))));
}

LStmt *kb_each_tap(KB *kb, const Geo *g, TapFn f, void *ctx)
{
	LProgram *P = kb->p;
	int i = kb_var(kb, "i"), j = kb_var(kb, "j");
	int h0 = kb_var(kb, "h0"), h1 = kb_var(kb, "h1"), w0 = kb_var(kb, "w0"), w1 = kb_var(kb, "w1");
	LStmt *rows = NULL, *cols = NULL;
	tap_range(kb, g->x.d[2], g->y.d[2], &g->a, i, h0, h1, &rows);
	tap_range(kb, g->x.d[3], g->y.d[3], &g->a, j, w0, w1, &cols);
	return FOR(i, I(0), I(g->a.kh),
		   SEQ(rows, FOR(j, I(0), I(g->a.kw),
				 SEQ(cols, f(kb, g, V(i), V(j), V(h0), V(h1), V(w0), V(w1), ctx)))));
}

/* The input position of output (ho, wo) under tap (i, j). */
LExpr *kb_in_row(LProgram *P, const Geo *g, int ho, LExpr *i)
{
	return ADD(MUL(V(ho), I(g->a.stride)), SUB(MUL(i, I(g->a.dilation)), I(g->a.pad)));
}

LExpr *kb_in_col(LProgram *P, const Geo *g, int wo, LExpr *j)
{
	return ADD(MUL(V(wo), I(g->a.stride)), SUB(MUL(j, I(g->a.dilation)), I(g->a.pad)));
}

