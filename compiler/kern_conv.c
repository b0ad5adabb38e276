/* kern_conv.c - convolutions and their two gradients, linear layers and
 * matrix products.
 *
 * A 1x1 convolution with stride 1 and one group is a matrix product per
 * sample and goes to BLAS.  Every other convolution (depthwise, dilated,
 * strided, dense k x k) is generated as loops over the planes of the
 * output: for each kernel tap, the rows and columns where the tap lands
 * inside the input are worked out here, so the innermost loop is a
 * branch-free multiply-add over a contiguous (stride 1) row.  Where a
 * plane comes from one input channel (depthwise convs, the forward pass
 * and the data gradient at stride 1), each output row is summed over
 * every tap in registers and stored once (rows_of_taps).
 *
 * The filter gradients of 1x1 convs and of depthwise convs at stride 1
 * split their work by sample, as the kernels around them do: each
 * sample's gradient goes into scratch, and then they are summed in sample
 * order.  The other filter gradients split it by output channel. */
#include "kern.h"

static bool is_pointwise(const IrAttr *a)
{
	return a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad == 0 && a->groups == 1;
}

static Geo geometry(const KB *kb)
{
	Geo g = {.a = kb->n->at};
	switch (kb->n->op) {
	case IR_CONV2D:
		g.x = *kb_ishape(kb, 0);
		g.y = kb->n->shape;
		break;
	case IR_CONV2D_BWD_DATA:
		g.x = kb->n->shape;
		g.y = *kb_ishape(kb, 0);
		break;
	default: /* bwd_filter */
		g.x = *kb_ishape(kb, 0);
		g.y = *kb_ishape(kb, 1);
		break;
	}
	g.cig = g.x.d[1] / g.a.groups;
	g.cog = g.y.d[1] / g.a.groups;
	return g;
}

/* ---- forward ------------------------------------------------------------ */

/* One tap of a conv as a multiply-add over the output: forward,
 * y[n, co, ho, wo] += w x[n, xc, in(ho), in(wo)]; for the data gradient
 * the other way, dx[...] += w dy[n, co, ho, wo].  The input side is a
 * padded copy of the plane (in scratch), so every tap covers every output
 * and the loops have constant bounds. */
typedef struct TapCtx {
	int out, in, w;    /* slots: what is added to, what is read, the weight */
	bool into_x;       /* out is the input side (the padded plane) */
	int pad;           /* slot of the padded planes */
	LExpr *pbase;      /* where this plane's padded copy starts */
	int n, co, ci, xc; /* loop variables: sample, output channel, input channel in group, its index */
} TapCtx;

/* The padded plane's size. */
static int64_t pad_h(const Geo *g)
{
	return g->x.d[2] + 2 * (int64_t)g->a.pad;
}

static int64_t pad_w(const Geo *g)
{
	return g->x.d[3] + 2 * (int64_t)g->a.pad;
}

/* Output (ho, wo) under tap (i, j), in the padded plane. */
static LExpr *pad_at(LProgram *P, const Geo *g, LExpr *base, int ho, int wo, LExpr *i, LExpr *j)
{
	LExpr *r = ADD(MUL(V(ho), I(g->a.stride)), MUL(i, I(g->a.dilation)));
	LExpr *c = ADD(MUL(V(wo), I(g->a.stride)), MUL(j, I(g->a.dilation)));
	return ADD(base, ADD(MUL(r, I(pad_w(g))), c));
}

/* Every tap, each over the whole output. */
static LStmt *each_tap_full(KB *kb, const Geo *g, TapFn f, void *ctx)
{
	LProgram *P = kb->p;
	int i = kb_var(kb, "i"), j = kb_var(kb, "j");
	return FOR(i, I(0), I(g->a.kh),
		   FOR(j, I(0), I(g->a.kw),
		       f(kb, g, V(i), V(j), I(0), I(g->y.d[2]), I(0), I(g->y.d[3]), ctx)));
}

/* Plane `plane` (flat start) of the input side into the padded copy at
 * base, zeros around it; or back, the copy's inside into the plane. */
static LStmt *pad_copy(KB *kb, const Geo *g, int pad, LExpr *base, int x, LExpr *plane, bool in)
{
	LProgram *P = kb->p;
	int64_t hp = pad_h(g), wp = pad_w(g), h = g->x.d[2], w = g->x.d[3], p = g->a.pad;
	int z = kb_var(kb, "z"), r = kb_var(kb, "r"), c = kb_var(kb, "c");
	LExpr *pi = ADD(base, ADD(MUL(ADD(V(r), I(p)), I(wp)), ADD(V(c), I(p))));
	LExpr *xi = ADD(plane, ADD(MUL(V(r), I(w)), V(c)));
	if (!in)
		return FOR(r, I(0), I(h), FOR(c, I(0), I(w), STORE(x, xi, LD(pad, pi))));
	return SEQ(FOR(z, I(0), I(hp * wp), STORE(pad, ADD(base, V(z)), R(0))),
		   FOR(r, I(0), I(h), FOR(c, I(0), I(w), STORE(pad, pi, LD(x, xi)))));
}

static LStmt *mac_tap(KB *kb, const Geo *g, LExpr *i, LExpr *j, LExpr *h0, LExpr *h1, LExpr *w0,
		      LExpr *w1, void *vctx)
{
	LProgram *P = kb->p;
	TapCtx *c = vctx;
	int wv = kb_rvar(kb, "w"), ho = kb_var(kb, "ho"), wo = kb_var(kb, "wo");
	IrShape ws = ir_shape4(g->y.d[1], g->cig, g->a.kh, g->a.kw);
	LExpr *yi = kb_at4(P, &g->y, V(c->n), V(c->co), V(ho), V(wo));
	LExpr *xi = pad_at(P, g, c->pbase, ho, wo, i, j);
	LStmt *mac = c->into_x ? ACCUM(c->pad, xi, RMUL(V(wv), LD(c->in, yi)))
			       : ACCUM(c->out, yi, RMUL(V(wv), LD(c->pad, xi)));
	return SEQ(LET(wv, LD(c->w, kb_at4(P, &ws, V(c->co), V(c->ci), i, j))),
		   FOR(ho, h0, h1, FOR(wo, w0, w1, mac)));
}

/* Rows no longer than this are summed in a local array (rows_of_taps). */
enum { ROW_MAX = 64 };

/* The rows of a plane, each summed over every tap in a local array and
 * then stored once: out[row, col] = init + sum over taps (i, j) of
 * w(i, j) pad[at(row, col, i, j)], the taps in the order mac_tap adds
 * them.  The loops over the taps are unrolled, so the array is indexed
 * by constants and stays in registers: a row of 7 to 28 reals is read
 * once per tap from the padded plane and written once, where mac_tap
 * reads and writes the output plane once per tap.  rows x cols is the
 * output plane; weight(i, j) and at(row, col, i, j) are built by the
 * caller from the variables given. */
typedef struct RowSum {
	int64_t rows, cols;
	int out, pad;           /* slots */
	LExpr *out_base;        /* the output plane's flat start */
	LExpr *init;
	int row, col, i, j;     /* variables for weight and at */
	LExpr *weight, *at;
} RowSum;

static LStmt *rows_of_taps(KB *kb, const Geo *g, const RowSum *r)
{
	LProgram *P = kb->p;
	int acc = lp_array(P, "acc", r->cols), wv = kb_rvar(kb, "w");
	LExpr *elem = lx_elem(P, acc, V(r->col));
	LStmt *tap = SEQ(LET(wv, r->weight),
			 FOR(r->col, I(0), I(r->cols),
			     ls_set_elem(P, acc, V(r->col),
					 RADD(elem, RMUL(V(wv), LD(r->pad, r->at))))));
	LStmt *taps = ls_unrolled(FOR(r->i, I(0), I(g->a.kh),
				      ls_unrolled(FOR(r->j, I(0), I(g->a.kw), tap), (int)g->a.kw)),
				  (int)g->a.kh);
	LExpr *oi = ADD(r->out_base, ADD(MUL(V(r->row), I(r->cols)), V(r->col)));
	return FOR(r->row, I(0), I(r->rows),
		   SEQ(ls_local(P, acc),
		       FOR(r->col, I(0), I(r->cols), ls_set_elem(P, acc, V(r->col), r->init)), taps,
		       FOR(r->col, I(0), I(r->cols), STORE(r->out, oi, elem))));
}

/* A loop over groups and the output channels of each: channel co and the
 * group's first input channel. */
static LStmt *group_loop(KB *kb, const Geo *g, int co, int xg, LStmt *(*inner)(KB *, const Geo *, void *),
			 void *ctx)
{
	LProgram *P = kb->p;
	int gr = kb_var(kb, "g"), col = kb_var(kb, "co");
	return FOR(gr, I(0), I(g->a.groups),
		   FOR(col, I(0), I(g->cog),
		       SEQ(LET(co, ADD(MUL(V(gr), I(g->cog)), V(col))),
			   LET(xg, MUL(V(gr), I(g->cig))), inner(kb, g, ctx))));
}

static LStmt *fwd_channel(KB *kb, const Geo *g, void *vctx)
{
	LProgram *P = kb->p;
	TapCtx *c = vctx;
	int64_t hw = g->y.d[2] * g->y.d[3];
	int p = kb_var(kb, "p");
	int xg = c->xc; /* set by group_loop to the group's first channel */
	int ci = kb_var(kb, "ci"), xc = kb_var(kb, "xc");
	LExpr *base = MUL(ADD(MUL(V(c->n), I(g->y.d[1])), V(c->co)), I(hw));
	LExpr *init = kb->n->nin > 2 ? LD(kb_in(kb, 2), V(c->co)) : R(0);
	LExpr *plane = MUL(ADD(MUL(V(c->n), I(g->x.d[1])), V(xc)), I(g->x.d[2] * g->x.d[3]));
	TapCtx in = *c;
	in.ci = ci;
	in.xc = xc;
	if (g->cig == 1 && g->y.d[3] <= ROW_MAX) {
		/* one input channel: each output row in a local array */
		int ho = kb_var(kb, "ho"), wo = kb_var(kb, "wo"), i = kb_var(kb, "i"), j = kb_var(kb, "j");
		IrShape ws = ir_shape4(g->y.d[1], g->cig, g->a.kh, g->a.kw);
		RowSum r = {.rows = g->y.d[2], .cols = g->y.d[3], .out = c->out, .pad = c->pad,
			    .out_base = base, .init = init, .row = ho, .col = wo, .i = i, .j = j,
			    .weight = LD(c->w, kb_at4(P, &ws, V(c->co), I(0), V(i), V(j))),
			    .at = pad_at(P, g, c->pbase, ho, wo, V(i), V(j))};
		return SEQ(LET(xc, V(xg)), pad_copy(kb, g, c->pad, c->pbase, c->in, plane, true),
			   rows_of_taps(kb, g, &r));
	}
	return SEQ(FOR(p, I(0), I(hw), STORE(c->out, ADD(base, V(p)), init)),
		   FOR(ci, I(0), I(g->cig),
		       SEQ(LET(xc, ADD(V(xg), V(ci))), pad_copy(kb, g, c->pad, c->pbase, c->in, plane, true),
			   each_tap_full(kb, g, mac_tap, &in))));
}

/* Per sample (one thread each, with its own padded plane), per output
 * channel: its plane starts at the bias and gets every tap of every input
 * channel of its group. */
static void conv_direct(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	Geo g = geometry(kb);
	TapCtx c = {.out = kb_out(kb), .in = kb_in(kb, 0), .w = kb_in(kb, 1)};
	c.pad = kb_buf(kb, k->scratch[k->v], true);
	c.n = kb_var(kb, "n");
	c.co = kb_var(kb, "c");
	c.xc = kb_var(kb, "xg");
	c.pbase = MUL(V(c.n), I(pad_h(&g) * pad_w(&g)));
	LStmt *body = group_loop(kb, &g, c.co, c.xc, fwd_channel, &c);
	kb_finish(kb, g.cig == 1 && g.cog == 1 ? "depthwise_conv" : "conv",
		  PFOR(c.n, I(0), I(g.y.d[0]), body));
}

/* ---- matrix products per sample ------------------------------------------------ */

static LStmt *gemm(KB *kb, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double beta, int a,
		   LExpr *aoff, int64_t lda, int b, LExpr *boff, int64_t ldb, int c, LExpr *coff,
		   int64_t ldc)
{
	LGemm gm = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = 1, .beta = beta,
		    .a = a, .b = b, .c = c, .aoff = aoff, .boff = boff, .coff = coff,
		    .lda = lda, .ldb = ldb, .ldc = ldc};
	return ls_gemm(kb->p, &gm);
}

/* y[n] = w x[n] (+ bias): [cout, hw] = [cout, cin] [cin, hw] */
static void conv_pointwise(KB *kb)
{
	LProgram *P = kb->p;
	Geo g = geometry(kb);
	int64_t cin = g.x.d[1], cout = g.y.d[1], hw = g.y.d[2] * g.y.d[3];
	int y = kb_out(kb), x = kb_in(kb, 0), w = kb_in(kb, 1);
	int n = kb_var(kb, "n");
	LStmt *body = gemm(kb, false, false, cout, hw, cin, 0, w, I(0), cin, x, MUL(V(n), I(cin * hw)),
			   hw, y, MUL(V(n), I(cout * hw)), hw);
	if (kb->n->nin > 2) {
		int b = kb_in(kb, 2), c = kb_var(kb, "c"), p = kb_var(kb, "p");
		body = SEQ(body, FOR(c, I(0), I(cout),
				     FOR(p, I(0), I(hw),
					 ACCUM(y, ADD(MUL(ADD(MUL(V(n), I(cout)), V(c)), I(hw)), V(p)),
					       LD(b, V(c))))));
	}
	kb_finish(kb, "pointwise_conv", PFOR(n, I(0), I(g.y.d[0]), body));
}

/* dx[n] = w^T dy[n] */
static void bwd_data_pointwise(KB *kb)
{
	LProgram *P = kb->p;
	Geo g = geometry(kb);
	int64_t cin = g.x.d[1], cout = g.y.d[1], hw = g.y.d[2] * g.y.d[3];
	int dx = kb_out(kb), dy = kb_in(kb, 0), w = kb_in(kb, 1);
	int n = kb_var(kb, "n");
	kb_finish(kb, "pointwise_conv_bwd_data",
		  PFOR(n, I(0), I(g.y.d[0]),
		       gemm(kb, true, false, cin, hw, cout, 0, w, I(0), cin, dy, MUL(V(n), I(cout * hw)),
			    hw, dx, MUL(V(n), I(cin * hw)), hw)));
}

/* dw[z] = sum over the samples n, in sample order, of parts[n len + z]:
 * the last phase of a filter gradient split by sample. */
static LStmt *sum_samples(KB *kb, int dw, int parts, int64_t N, int64_t len)
{
	LProgram *P = kb->p;
	int n = kb_var(kb, "n"), z = kb_var(kb, "z");
	return SEQ(FOR(z, I(0), I(len), STORE(dw, V(z), R(0))),
		   FOR(n, I(0), I(N),
		       FOR(z, I(0), I(len), ACCUM(dw, V(z), LD(parts, ADD(MUL(V(n), I(len)), V(z)))))));
}

/* dw = sum_n dy[n] x[n]^T, split by sample like the kernels around it
 * (see kern_reduce.c's per_sample_parts): in parallel, each sample's
 * product into the scratch buffer; then their sum. */
static void bwd_filter_pointwise(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	Geo g = geometry(kb);
	int64_t N = g.x.d[0], cin = g.x.d[1], cout = g.y.d[1], hw = g.y.d[2] * g.y.d[3];
	int dw = kb_out(kb), x = kb_in(kb, 0), dy = kb_in(kb, 1);
	int sc = kb_buf(kb, k->scratch[k->v], true);
	int n = kb_var(kb, "n");
	LStmt *each = PFOR(n, I(0), I(N),
			   gemm(kb, false, true, cout, cin, hw, 0, dy, MUL(V(n), I(cout * hw)), hw, x,
				MUL(V(n), I(cin * hw)), hw, sc, MUL(V(n), I(cout * cin)), cin));
	kb_finish(kb, "pointwise_conv_bwd_filter", SEQ(each, sum_samples(kb, dw, sc, N, cout * cin)));
}

/* ---- direct gradients ------------------------------------------------------------ */

/* Per sample (one thread each), per group, per input channel: the taps of
 * every output channel of the group go into a zeroed padded plane, whose
 * inside is then the input channel's gradient. */
static void bwd_data_direct(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	Geo g = geometry(kb);
	TapCtx c = {.out = kb_out(kb), .in = kb_in(kb, 0), .w = kb_in(kb, 1), .into_x = true};
	c.pad = kb_buf(kb, k->scratch[k->v], true);
	c.n = kb_var(kb, "n");
	c.ci = kb_var(kb, "ci");
	c.xc = kb_var(kb, "xc");
	c.co = kb_var(kb, "co");
	c.pbase = MUL(V(c.n), I(pad_h(&g) * pad_w(&g)));
	int gr = kb_var(kb, "g"), col = kb_var(kb, "col"), z = kb_var(kb, "z");
	int64_t hw = g.x.d[2] * g.x.d[3];
	LExpr *plane = MUL(ADD(MUL(V(c.n), I(g.x.d[1])), V(c.xc)), I(hw));
	if (g.cig == 1 && g.cog == 1 && g.a.stride == 1 &&
	    2 * (int64_t)g.a.pad == (g.a.kh - 1) * (int64_t)g.a.dilation && g.a.kh == g.a.kw &&
	    g.x.d[3] <= ROW_MAX) {
		/* Depthwise, stride 1, as much padding as the taps reach: dx
		 * is dy, padded like x, convolved with the flipped taps,
		 * dx[h, w] = sum w(i, j) dy_pad[h + (kh-1-i) d, w + (kw-1-j) d],
		 * each row in a local array.  dy's plane is x's shape. */
		int h = kb_var(kb, "h"), w = kb_var(kb, "w"), i = kb_var(kb, "i"), j = kb_var(kb, "j");
		int64_t d = g.a.dilation;
		IrShape ws = ir_shape4(g.y.d[1], 1, g.a.kh, g.a.kw);
		LExpr *r = ADD(V(h), MUL(SUB(I(g.a.kh - 1), V(i)), I(d)));
		LExpr *cc = ADD(V(w), MUL(SUB(I(g.a.kw - 1), V(j)), I(d)));
		RowSum rs = {.rows = g.x.d[2], .cols = g.x.d[3], .out = c.out, .pad = c.pad,
			     .out_base = plane, .init = R(0), .row = h, .col = w, .i = i, .j = j,
			     .weight = LD(c.w, kb_at4(P, &ws, V(c.xc), I(0), V(i), V(j))),
			     .at = ADD(c.pbase, ADD(MUL(r, I(pad_w(&g))), cc))};
		LExpr *dy_plane = MUL(ADD(MUL(V(c.n), I(g.y.d[1])), V(c.xc)), I(hw));
		LStmt *per = SEQ(pad_copy(kb, &g, c.pad, c.pbase, c.in, dy_plane, true),
				 rows_of_taps(kb, &g, &rs));
		kb_finish(kb, "depthwise_conv_bwd_data",
			  PFOR(c.n, I(0), I(g.x.d[0]), FOR(c.xc, I(0), I(g.x.d[1]), per)));
		return;
	}
	LStmt *per_in = SEQ(LET(c.xc, ADD(MUL(V(gr), I(g.cig)), V(c.ci))),
			    FOR(z, I(0), I(pad_h(&g) * pad_w(&g)), STORE(c.pad, ADD(c.pbase, V(z)), R(0))),
			    FOR(col, I(0), I(g.cog),
				SEQ(LET(c.co, ADD(MUL(V(gr), I(g.cog)), V(col))),
				    each_tap_full(kb, &g, mac_tap, &c))),
			    pad_copy(kb, &g, c.pad, c.pbase, c.out, plane, false));
	LStmt *body = FOR(gr, I(0), I(g.a.groups), FOR(c.ci, I(0), I(g.cig), per_in));
	kb_finish(kb, g.cig == 1 && g.cog == 1 ? "depthwise_conv_bwd_data" : "conv_bwd_data",
		  PFOR(c.n, I(0), I(g.x.d[0]), body));
}

typedef struct FilterCtx {
	int dw, x, dy, rows;  /* slots; rows: the row accumulators and padded planes */
	int co, n, ci, xc;
	int64_t wo_len;       /* columns of a row accumulator */
	LExpr *pbase;         /* this channel's padded plane */
} FilterCtx;

/* Tap (ci, i, j) of output channel co, sample n: its row accumulator gets
 * dy[n, co, ho, :] x[n, xc, in(ho), in(:)] for every row ho it lands on.
 * No sum across the row here: the inner loop is a plain multiply-add. */
static LStmt *filter_tap(KB *kb, const Geo *g, LExpr *i, LExpr *j, LExpr *h0, LExpr *h1,
			 LExpr *w0, LExpr *w1, void *vctx)
{
	LProgram *P = kb->p;
	FilterCtx *c = vctx;
	int ho = kb_var(kb, "ho"), wo = kb_var(kb, "wo");
	int64_t ntaps = (int64_t)g->a.kh * g->a.kw;
	LExpr *tap = ADD(MUL(ADD(MUL(V(c->ci), I(g->a.kh)), i), I(g->a.kw)), j);
	LExpr *row = MUL(ADD(MUL(V(c->co), I(g->cig * ntaps)), tap), I(c->wo_len));
	LExpr *yi = kb_at4(P, &g->y, V(c->n), V(c->co), V(ho), V(wo));
	LExpr *xi = pad_at(P, g, c->pbase, ho, wo, i, j);
	return FOR(ho, h0, h1,
		   FOR(wo, w0, w1, ACCUM(c->rows, ADD(row, V(wo)), RMUL(LD(c->dy, yi), LD(c->rows, xi)))));
}

/* Per output channel (one thread each), per sample: every tap adds its
 * products into a row accumulator (in the L1 cache, with the sample's two
 * planes), then each accumulator is summed in double into the tap.  The
 * gradient of a conv in front of a batch norm is a sum that nearly
 * cancels: the double keeps it. */
static void bwd_filter_direct(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	Geo g = geometry(kb);
	FilterCtx c = {.dw = kb_out(kb), .x = kb_in(kb, 0), .dy = kb_in(kb, 1)};
	c.rows = kb_buf(kb, k->scratch[k->v], true);
	c.wo_len = g.y.d[3];
	c.co = kb_var(kb, "co");
	c.n = kb_var(kb, "n");
	c.ci = kb_var(kb, "ci");
	c.xc = kb_var(kb, "xc");
	int64_t ntaps = (int64_t)g.a.kh * g.a.kw, taps = g.cig * ntaps;
	int z = kb_var(kb, "z"), t = kb_var(kb, "t"), w = kb_var(kb, "w"), acc = kb_acc(kb, "acc");
	LExpr *rows0 = MUL(V(c.co), I(taps * c.wo_len));
	LStmt *zero_dw = FOR(z, I(0), I(taps), STORE(c.dw, ADD(MUL(V(c.co), I(taps)), V(z)), R(0)));
	LStmt *zero_rows = FOR(z, I(0), I(taps * c.wo_len), STORE(c.rows, ADD(rows0, V(z)), R(0)));
	LExpr *group = g.a.groups == 1 ? I(0) : g.cog == 1 ? V(c.co) : DIVI(V(c.co), g.cog);
	LStmt *flush = FOR(t, I(0), I(taps),
			   SEQ(LET(acc, R(0)),
			       RFOR(w, I(0), I(c.wo_len), acc,
				    SET(acc, RADD(V(acc), LD(c.rows, ADD(ADD(rows0, MUL(V(t), I(c.wo_len))),
									 V(w)))))),
			       ACCUM(c.dw, ADD(MUL(V(c.co), I(taps)), V(t)), V(acc))));
	/* the padded planes follow the row accumulators of every channel */
	c.pbase = ADD(I(g.y.d[1] * taps * c.wo_len), MUL(V(c.co), I(pad_h(&g) * pad_w(&g))));
	LExpr *plane = MUL(ADD(MUL(V(c.n), I(g.x.d[1])), V(c.xc)), I(g.x.d[2] * g.x.d[3]));
	LStmt *sample = SEQ(zero_rows,
			    FOR(c.ci, I(0), I(g.cig),
				SEQ(LET(c.xc, ADD(MUL(group, I(g.cig)), V(c.ci))),
				    pad_copy(kb, &g, c.rows, c.pbase, c.x, plane, true),
				    each_tap_full(kb, &g, filter_tap, &c))),
			    flush);
	LStmt *body = SEQ(zero_dw, FOR(c.n, I(0), I(g.x.d[0]), sample));
	kb_finish(kb, g.cig == 1 && g.cog == 1 ? "depthwise_conv_bwd_filter" : "conv_bwd_filter",
		  PFOR(c.co, I(0), I(g.y.d[1]), body));
}

/* The most taps in a row of a filter built by bwd_filter_depthwise: each
 * has an accumulator of its own. */
enum { ROW_TAPS_MAX = 16 };

/* Whether bwd_filter n is a depthwise one at stride 1, built sample by
 * sample (bwd_filter_depthwise). */
bool kern_filter_by_sample(const IrGraph *gr, const IrNode *n)
{
	if (n->op != IR_CONV2D_BWD_FILTER)
		return false;
	const IrShape *x = &gr->node[n->in[0]].shape, *y = &gr->node[n->in[1]].shape;
	return n->at.stride == 1 && n->at.groups == x->d[1] && x->d[1] == y->d[1] &&
	       !is_pointwise(&n->at) && n->at.kw <= ROW_TAPS_MAX;
}

/* The filter gradient of a depthwise conv at stride 1, split by sample
 * like the kernels around it (see kern_reduce.c's per_sample_parts).
 * With dy's plane widened to the padded plane's rows (zeros past its
 * last column) and both planes flat, tap (i, j) is one contiguous dot
 * product: sum over q of dyw[q] pad[q + i d wp + j d], q up to the last
 * output (the zero columns cancel the products that wrap into the next
 * row, and the last index is the padded plane's last).  The kw taps of a
 * row share the load of dyw[q].  So: in parallel over samples, each
 * channel's taps of the sample, summed in vector lanes, into the scratch
 * buffer; then the taps' sums over the samples, in sample order.  Scratch:
 * those N C kh kw sums, then per sample a padded plane and a widened one. */
static void bwd_filter_depthwise(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	Geo g = geometry(kb);
	int dw = kb_out(kb), x = kb_in(kb, 0), dy = kb_in(kb, 1);
	int sc = kb_buf(kb, k->scratch[k->v], true);
	int64_t N = g.x.d[0], C = g.x.d[1], kh = g.a.kh, kw = g.a.kw, d = g.a.dilation;
	int64_t hp = pad_h(&g), wp = pad_w(&g), ho = g.y.d[2], wo = g.y.d[3];
	int64_t taps = kh * kw, ct = C * taps, len = (ho - 1) * wp + wo;
	int n = kb_var(kb, "n"), c = kb_var(kb, "c"), i = kb_var(kb, "i"), q = kb_var(kb, "q");
	int r = kb_var(kb, "r"), col = kb_var(kb, "col"), z = kb_var(kb, "z"), dv = kb_rvar(kb, "dy");
	LExpr *pbase = ADD(I(N * ct), MUL(V(n), I(2 * hp * wp)));
	LExpr *wbase = ADD(I(N * ct + hp * wp), MUL(V(n), I(2 * hp * wp)));
	LExpr *xplane = MUL(ADD(MUL(V(n), I(C)), V(c)), I(g.x.d[2] * g.x.d[3]));
	LExpr *yplane = MUL(ADD(MUL(V(n), I(C)), V(c)), I(ho * wo));
	LStmt *widen = FOR(r, I(0), I(ho),
			   FOR(col, I(0), I(wo),
			       STORE(sc, ADD(wbase, ADD(MUL(V(r), I(wp)), V(col))),
				     LD(dy, ADD(yplane, ADD(MUL(V(r), I(wo)), V(col)))))));
	int parts[ROW_TAPS_MAX];
	LStmt *init = NULL, *body = LET(dv, LD(sc, ADD(wbase, V(q)))), *keep = NULL;
	for (int64_t j = 0; j < kw; j++) {
		parts[j] = kb_rvar(kb, "part");
		init = SEQ(init, LET(parts[j], R(0)));
		LExpr *at = ADD(ADD(pbase, V(q)), ADD(MUL(V(i), I(d * wp)), I(j * d)));
		body = SEQ(body, SET(parts[j], RADD(V(parts[j]), RMUL(V(dv), LD(sc, at)))));
		keep = SEQ(keep, STORE(sc, ADD(ADD(MUL(V(n), I(ct)), MUL(V(c), I(taps))),
					       ADD(MUL(V(i), I(kw)), I(j))),
				       V(parts[j])));
	}
	LStmt *row = SEQ(init, ls_rfor(P, q, I(0), I(len), body, (int)kw, parts), keep);
	LStmt *sample = SEQ(FOR(z, I(0), I(len), STORE(sc, ADD(wbase, V(z)), R(0))),
			    FOR(c, I(0), I(C),
				SEQ(pad_copy(kb, &g, sc, pbase, x, xplane, true), widen,
				    FOR(i, I(0), I(kh), row))));
	kb_finish(kb, "depthwise_conv_bwd_filter",
		  SEQ(PFOR(n, I(0), I(N), sample), sum_samples(kb, dw, sc, N, ct)));
}

/* ---- linear and matmul ------------------------------------------------------------- */

/* y[n, o] = b[o] + sum_i x[n, i] w[o, i] */
static void linear(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	int64_t in = xs->d[1], out = kb->n->shape.d[1];
	int y = kb_out(kb), x = kb_in(kb, 0), w = kb_in(kb, 1);
	int b = kb->n->nin > 2 ? kb_in(kb, 2) : -1;
	int n = kb_var(kb, "n"), o = kb_var(kb, "o"), i = kb_var(kb, "i"), acc = kb_acc(kb, "acc");
	LStmt *body = FOR(o, I(0), I(out),
			  SEQ(LET(acc, b >= 0 ? RADD(R(0), LD(b, V(o))) : R(0)),
			      RFOR(i, I(0), I(in), acc,
				   SET(acc, RADD(V(acc), RMUL(LD(x, ADD(MUL(V(n), I(in)), V(i))),
							     LD(w, ADD(MUL(V(o), I(in)), V(i))))))),
			      STORE(y, ADD(MUL(V(n), I(out)), V(o)), V(acc))));
	kb_finish(kb, "linear", FOR(n, I(0), I(xs->d[0]), body));
}

/* c = op(a) op(b), in plain loops: the matrices are the classifier's */
static void matmul(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *as = kb_ishape(kb, 0), *bs = kb_ishape(kb, 1);
	bool ta = kb->n->at.ta, tb = kb->n->at.tb;
	int64_t m = kb->n->shape.d[0], nn = kb->n->shape.d[1], k = as->d[ta ? 0 : 1];
	int c = kb_out(kb), a = kb_in(kb, 0), b = kb_in(kb, 1);
	int i = kb_var(kb, "i"), j = kb_var(kb, "j"), l = kb_var(kb, "l"), acc = kb_acc(kb, "acc");
	LExpr *ai = ta ? ADD(MUL(V(l), I(as->d[1])), V(i)) : ADD(MUL(V(i), I(as->d[1])), V(l));
	LExpr *bi = tb ? ADD(MUL(V(j), I(bs->d[1])), V(l)) : ADD(MUL(V(l), I(bs->d[1])), V(j));
	kb_finish(kb, "matmul",
		  FOR(i, I(0), I(m),
		      FOR(j, I(0), I(nn),
			  SEQ(LET(acc, R(0)),
			      RFOR(l, I(0), I(k), acc, SET(acc, RADD(V(acc), RMUL(LD(a, ai), LD(b, bi))))),
			      STORE(c, ADD(MUL(V(i), I(nn)), V(j)), V(acc))))));
}

bool kern_conv(KernCtx *k)
{
	KB kb;
	kb_begin(&kb, k);
	const IrAttr *a = &kb.n->at;
	switch (kb.n->op) {
	case IR_CONV2D:
		if (is_pointwise(a))
			conv_pointwise(&kb);
		else
			conv_direct(&kb);
		return true;
	case IR_CONV2D_BWD_DATA:
		if (is_pointwise(a))
			bwd_data_pointwise(&kb);
		else
			bwd_data_direct(&kb);
		return true;
	case IR_CONV2D_BWD_FILTER:
		if (is_pointwise(a))
			bwd_filter_pointwise(&kb);
		else if (kern_filter_by_sample(k->g, kb.n))
			bwd_filter_depthwise(&kb);
		else
			bwd_filter_direct(&kb);
		return true;
	case IR_LINEAR:
		linear(&kb);
		return true;
	case IR_MATMUL:
		matmul(&kb);
		return true;
	default:
		return false;
	}
}
