/* kern_reduce.c - kernels that sum: batch norm (training and eval mode),
 * its gradient and its running statistics, channel, row and pixel sums,
 * softmax, cross entropy, and the alpha and drop-path mask gradients of a
 * mixed edge.  Sums run in double whatever the precision, each in a fixed
 * order, so results do not depend on how many threads run them.
 *
 * Loops that know which sample they are in pass it to the inline
 * expressions they read (kb_read_in), so a drop-path scale in them reads
 * its mask without dividing the index. */
#include "kern.h"

#include <math.h>

/* The most sums and constants per channel of a batch-norm gradient
 * kernel (bn_grad_jvp with w: 7 and 5). */
enum { BN_SUMS = 7, BN_CONSTS = 6 };

/* Whether value n is a batch-norm gradient built sample by sample
 * (per_sample_parts): one large enough to run in parallel. */
static bool bn_by_sample(const IrNode *n)
{
	return (n->op == IR_BN_GRAD || n->op == IR_BN_GRAD_JVP) && ir_numel(n->shape) >= 8192;
}

int64_t scratch_size(const IrGraph *g, int v)
{
	const IrNode *n = &g->node[v];
	if (n->op == IR_AVG_POOL_BWD && !n->at.count_pad) /* dy over each divisor (kern_pool.c) */
		return ir_numel(g->node[n->in[0]].shape);
	if (kern_filter_by_sample(g, n)) {
		/* kern_conv.c: each sample's sums per channel and tap, then a
		 * padded plane and a widened one per sample */
		const IrShape *x = &g->node[n->in[0]].shape;
		int64_t planes = (x->d[2] + 2 * (int64_t)n->at.pad) * (x->d[3] + 2 * (int64_t)n->at.pad);
		return x->d[0] * (x->d[1] * n->at.kh * n->at.kw + 2 * planes);
	}
	if (n->op == IR_CONV2D || n->op == IR_CONV2D_BWD_DATA || n->op == IR_CONV2D_BWD_FILTER) {
		/* kern_conv.c: a padded copy of an input plane per thread (per
		 * sample, or per output channel for the filter gradient, which
		 * also keeps a row accumulator per tap); for the 1x1 convs that
		 * BLAS does, each sample's filter gradient, and nothing else */
		const IrAttr *a = &n->at;
		if (a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad == 0 && a->groups == 1)
			return n->op == IR_CONV2D_BWD_FILTER ? ir_numel(n->shape) * g->node[n->in[0]].shape.d[0]
							     : 0;
		const IrShape *x = n->op == IR_CONV2D_BWD_DATA ? &n->shape : &g->node[n->in[0]].shape;
		const IrShape *y = n->op == IR_CONV2D ? &n->shape
				   : n->op == IR_CONV2D_BWD_DATA ? &g->node[n->in[0]].shape
								 : &g->node[n->in[1]].shape;
		int64_t padded = (x->d[2] + 2 * (int64_t)a->pad) * (x->d[3] + 2 * (int64_t)a->pad);
		if (n->op != IR_CONV2D_BWD_FILTER)
			return x->d[0] * padded;
		return y->d[1] * ((x->d[1] / a->groups) * a->kh * a->kw * y->d[3] + padded);
	}
	if (bn_by_sample(n))
		/* kern_reduce.c: each sample's sums per channel, then each
		 * channel's constants */
		return n->shape.d[0] * n->shape.d[1] * BN_SUMS + n->shape.d[1] * BN_CONSTS;
	if (n->op == IR_MIXED_DOT) {
		const IrShape *s = &g->node[n->in[0]].shape;
		return (s->rank == 4 ? s->d[0] * s->d[1] : s->d[0]) * (n->nin - 1);
	}
	return 0;
}

/* Per channel c of an [N,C,H,W] (or [N,C]) tensor: a loop over its
 * elements, index n*C*HW + c*HW + i. */
static LExpr *chan_index(LProgram *P, const IrShape *s, int n, int c, int i)
{
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	return ADD(MUL(ADD(MUL(V(n), I(s->d[1])), V(c)), I(hw)), V(i));
}

static LStmt *over_channel(KB *kb, const IrShape *s, int n, int i, LStmt *body)
{
	LProgram *P = kb->p;
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	return FOR(n, I(0), I(s->d[0]), FOR(i, I(0), I(hw), body));
}

/* The same, for a body that adds to the real accumulators parts[0..n):
 * they sum one sample's plane in vector lanes, then go into the double
 * accumulators sums, sample by sample. */
static LStmt *sum_plane(KB *kb, const IrShape *s, int i, int nsum, const int *sums,
			const int *parts, LStmt *body);

static LStmt *sum_channel(KB *kb, const IrShape *s, int n, int i, int nsum, const int *sums,
			  const int *parts, LStmt *body)
{
	LProgram *P = kb->p;
	return FOR(n, I(0), I(s->d[0]), sum_plane(kb, s, i, nsum, sums, parts, body));
}

static LStmt *per_channel(KB *kb, const IrShape *s, int c, LStmt *body)
{
	LProgram *P = kb->p;
	if (ir_numel(*s) >= 8192)
		return PFOR(c, I(0), I(s->d[1]), body);
	return FOR(c, I(0), I(s->d[1]), body);
}

/* The per-channel kernels that make one pass of sums and one of stores
 * over their channel (batch_norm, bn_grad, bn_grad_jvp) are built from
 * the parts of one channel: what comes before the sums; the sums, as the
 * body of a loop over a sample's plane (variable i) that adds to the
 * partial sums parts[k] of the plane, which then go into sums[k] (none
 * when nsum is 0); the constants from the sums; and a sample's step of the
 * stores.  A kernel split by sample (per_sample_parts) also needs the
 * constants of mid that are all the stores read, besides the channel and
 * the tensors: consts[], reals. */
typedef struct ChanParts {
	LStmt *pre, *sum_body, *mid, *store_step;
	int nsum, sums[BN_SUMS], parts[BN_SUMS], i;
	int nconst, consts[BN_CONSTS];
} ChanParts;
typedef void (*ChanBuild)(KB *kb, const IrShape *s, int c, int n, int n2, ChanParts *out);

/* Channels per block: the loop over a block of channels goes sample by
 * sample, each sample's planes of the block contiguous in memory, rather
 * than channel by channel, whose planes of a few hundred bytes lie a
 * batch apart and defeat the prefetcher.  Up to 8 channels and 1024
 * elements a sample, and at least 4 blocks to share among the threads;
 * 1 for a tensor too small to run in parallel.  Each channel's sums are
 * added in the same order whatever the block, so the results are the
 * same numbers. */
static int64_t chan_block(const IrShape *s)
{
	int64_t C = s->d[1], hw = s->rank == 4 ? s->d[2] * s->d[3] : 1, b = 1;
	if (ir_numel(*s) < 8192)
		return 1;
	while (2 * b <= 8 && C % (2 * b) == 0 && 2 * b * hw <= 1024 && C / (2 * b) >= 4)
		b *= 2;
	return b;
}

static LStmt *plane_parts(KB *kb, const IrShape *s, int i, int nsum, const int *parts,
			  LStmt *body);
static LStmt *sum_step(KB *kb, const IrShape *s, const ChanParts *q);

/* A batch-norm gradient split by sample.  Every other kernel of a large
 * tensor splits its work by sample, and the threads' static shares of
 * the samples are the same in each, so a thread mostly reads what it
 * wrote itself, from its own cache.  A kernel split by channel instead
 * reads half of its input from the other core's cache and writes half of
 * its output into it; the kernels around it then pay the same again.  So:
 * in parallel over samples, each sample's partial sums per channel (the
 * same reals as the channel loop's) into the scratch buffer; then, channel
 * by channel, their sums over the samples in sample order (the same
 * doubles) and the constants; then, in parallel over samples, the stores. */
static void per_sample_parts(KB *kb, const IrShape *s, const char *name, ChanBuild build)
{
	LProgram *P = kb->p;
	int64_t N = s->d[0], C = s->d[1];
	int n = kb_var(kb, "n"), n2 = kb_var(kb, "n"), n3 = kb_var(kb, "n"), c = kb_var(kb, "c");
	int sc = kb_buf(kb, kb->k->scratch[kb->k->v], true);
	/* the parts twice: each statement has one place in the tree; q for
	 * the partial sums and the stores, q2 for the constants */
	ChanParts q = {0}, q2 = {0};
	build(kb, s, c, n, n3, &q);
	build(kb, s, c, n, n3, &q2);
	LStmt *keep = NULL, *add = NULL, *save = NULL, *load = NULL;
	for (int k = 0; k < q.nsum; k++) {
		keep = SEQ(keep, STORE(sc, ADD(MUL(ADD(MUL(V(n), I(C)), V(c)), I(BN_SUMS)), I(k)),
				       V(q.parts[k])));
		add = SEQ(add, SET(q2.sums[k],
				   RADD(V(q2.sums[k]),
					LD(sc, ADD(MUL(ADD(MUL(V(n2), I(C)), V(c)), I(BN_SUMS)), I(k))))));
	}
	for (int k = 0; k < q.nconst; k++) {
		LExpr *at = ADD(I(N * C * BN_SUMS), ADD(MUL(V(c), I(BN_CONSTS)), I(k)));
		save = SEQ(save, STORE(sc, at, V(q2.consts[k])));
		load = SEQ(load, LET(q.consts[k], LD(sc, at)));
	}
	LStmt *sums = PFOR(n, I(0), I(N),
			   FOR(c, I(0), I(C),
			       SEQ(q.pre, plane_parts(kb, s, q.i, q.nsum, q.parts, q.sum_body), keep)));
	LStmt *consts = FOR(c, I(0), I(C), SEQ(q2.pre, FOR(n2, I(0), I(N), add), q2.mid, save));
	LStmt *stores = PFOR(n3, I(0), I(N), FOR(c, I(0), I(C), SEQ(load, q.store_step)));
	kb_finish(kb, name, SEQ(sums, consts, stores));
}

static void per_channel_parts(KB *kb, const IrShape *s, const char *name, ChanBuild build)
{
	LProgram *P = kb->p;
	if (bn_by_sample(kb->n)) {
		per_sample_parts(kb, s, name, build);
		return;
	}
	int64_t cb = chan_block(s);
	int n = kb_var(kb, "n"), n2 = kb_var(kb, "n");
	if (cb == 1) {
		int c = kb_var(kb, "c");
		ChanParts q = {0};
		build(kb, s, c, n, n2, &q);
		LStmt *step = sum_step(kb, s, &q);
		LStmt *body = SEQ(q.pre, step ? FOR(n, I(0), I(s->d[0]), step) : NULL, q.mid,
				  FOR(n2, I(0), I(s->d[0]), q.store_step));
		kb_finish(kb, name, per_channel(kb, s, c, body));
		return;
	}
	int blk = kb_var(kb, "cb");
	LStmt *lets = NULL, *pre = NULL, *sums = NULL, *mid = NULL, *stores = NULL;
	for (int64_t j = 0; j < cb; j++) {
		int c = kb_var(kb, "c");
		ChanParts q = {0};
		lets = SEQ(lets, LET(c, ADD(MUL(V(blk), I(cb)), I(j))));
		build(kb, s, c, n, n2, &q);
		pre = SEQ(pre, q.pre);
		sums = SEQ(sums, sum_step(kb, s, &q));
		mid = SEQ(mid, q.mid);
		stores = SEQ(stores, q.store_step);
	}
	LStmt *body = SEQ(lets, pre, sums ? FOR(n, I(0), I(s->d[0]), sums) : NULL, mid,
			  FOR(n2, I(0), I(s->d[0]), stores));
	kb_finish(kb, name, PFOR(blk, I(0), I(s->d[1] / cb), body));
}

/* The partial sums parts[0..nsum) of one sample's plane, from zero. */
static LStmt *plane_parts(KB *kb, const IrShape *s, int i, int nsum, const int *parts,
			  LStmt *body)
{
	LProgram *P = kb->p;
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	LStmt *init = NULL;
	for (int k = 0; k < nsum; k++)
		init = SEQ(init, LET(parts[k], R(0)));
	return SEQ(init, ls_rfor(P, i, I(0), I(hw), body, nsum, parts));
}

/* A sample's step of sum_channel: the plane's sums in reals, then added
 * to the double accumulators. */
static LStmt *sum_plane(KB *kb, const IrShape *s, int i, int nsum, const int *sums,
			const int *parts, LStmt *body)
{
	LProgram *P = kb->p;
	LStmt *add = NULL;
	for (int k = 0; k < nsum; k++)
		add = SEQ(add, SET(sums[k], RADD(V(sums[k]), V(parts[k]))));
	return SEQ(plane_parts(kb, s, i, nsum, parts, body), add);
}

/* The sample step of the sums of q, or NULL when it has none. */
static LStmt *sum_step(KB *kb, const IrShape *s, const ChanParts *q)
{
	return q->nsum ? sum_plane(kb, s, q->i, q->nsum, q->sums, q->parts, q->sum_body) : NULL;
}

static void channel_sum(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	int y = kb_out(kb);
	int c = kb_var(kb, "c"), n = kb_var(kb, "n"), i = kb_var(kb, "i"), acc = kb_acc(kb, "acc");
	int part = kb_rvar(kb, "part");
	LStmt *body = SEQ(LET(acc, R(0)),
			  sum_channel(kb, xs, n, i, 1, &acc, &part,
				      SET(part, RADD(V(part), kb_read_in(kb, 0, chan_index(P, xs, n, c, i),
									 V(n))))),
			  STORE(y, V(c), V(acc)));
	kb_finish(kb, "channel_sum", per_channel(kb, xs, c, body));
}

/* Batch statistics of channel c, in the parts of per_channel_parts: mean
 * and 1/sqrt(var + eps), in double, from one pass of sums (q->sum_body,
 * sample n's element i); stored with the (biased) variance when `st` >= 0, as the
 * rows of a [3, C] buffer.  q->store_step is left alone. */
static void stats_parts(KB *kb, const IrShape *s, int c, int n, int mean, int rstd, int st,
			ChanParts *q)
{
	LProgram *P = kb->p;
	int i = kb_var(kb, "i");
	/* in double all the way: the variance is a difference of these sums */
	int s1 = kb_acc(kb, "sum"), s2 = kb_acc(kb, "sumsq"), xv = kb_acc(kb, "xv");
	int p1 = kb_acc(kb, "part"), p2 = kb_acc(kb, "partsq"), var = kb_acc(kb, "var");
	int64_t m = ir_numel(*s) / s->d[1];
	q->pre = SEQ(LET(mean, lx_real(P, 0)), LET(rstd, lx_real(P, 0)), LET(s1, R(0)),
		     LET(s2, R(0)));
	q->sum_body = SEQ(LET(xv, kb_read_in(kb, 0, chan_index(P, s, n, c, i), V(n))),
			  SET(p1, RADD(V(p1), V(xv))), SET(p2, RADD(V(p2), RMUL(V(xv), V(xv)))));
	q->i = i;
	q->nsum = 2;
	q->sums[0] = s1, q->sums[1] = s2, q->parts[0] = p1, q->parts[1] = p2;
	LExpr *ve = RSUB(RDIV(V(s2), R((double)m)), RMUL(V(mean), V(mean)));
	q->mid = SEQ(SET(mean, RDIV(V(s1), R((double)m))), LET(var, BIN(LO_MAX, ve, R(0))),
		     SET(rstd, RDIV(R(1), lx_un(P, LO_SQRT, RADD(V(var), R(kb->n->at.eps))))),
		     st >= 0 ? STORE(st, V(c), V(mean)) : NULL,
		     st >= 0 ? STORE(st, ADD(V(c), I(s->d[1])), V(rstd)) : NULL,
		     st >= 0 ? STORE(st, ADD(V(c), I(2 * s->d[1])), V(var)) : NULL);
}

/* mean and rstd of channel c of input 0: computed here, or read from the
 * batch norm that computed them. */
static LStmt *get_stats(KB *kb, const IrShape *s, int c, int mean, int rstd)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	int sb = k->stats[k->v];
	if (sb >= 0 && !k->stats_own) {
		int st = kb_buf(kb, sb, false);
		return SEQ(LET(mean, lx_real(P, 0)), LET(rstd, lx_real(P, 0)),
			   SET(mean, RADD(R(0), LD(st, V(c)))),
			   SET(rstd, RADD(R(0), LD(st, ADD(V(c), I(s->d[1]))))));
	}
	int n = kb_var(kb, "n");
	ChanParts q = {0};
	stats_parts(kb, s, c, n, mean, rstd, sb >= 0 ? kb_buf(kb, sb, true) : -1, &q);
	return SEQ(q.pre, FOR(n, I(0), I(s->d[0]), sum_step(kb, s, &q)), q.mid);
}

/* batch_norm in the parts of per_channel_parts: the batch statistics
 * (a pass of sums, unless another batch norm computed them), then
 * y = x a + b per channel. */
static void batch_norm_parts(KB *kb, const IrShape *s, int c, int n, int n2, ChanParts *q)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	int y = kb_out(kb);
	int gamma = kb->n->nin > 1 ? kb_in(kb, 1) : -1, beta = kb->n->nin > 2 ? kb_in(kb, 2) : -1;
	int i2 = kb_var(kb, "i");
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	int mean = kb_acc(kb, "mean"), rstd = kb_acc(kb, "rstd");
	int a = kb_rvar(kb, "a"), b = kb_rvar(kb, "b");
	int sb = k->stats[k->v];
	if (sb >= 0 && !k->stats_own)
		*q = (ChanParts){.pre = get_stats(kb, s, c, mean, rstd)};
	else
		stats_parts(kb, s, c, n, mean, rstd, sb >= 0 ? kb_buf(kb, sb, true) : -1, q);
	/* y = x a + b per channel */
	LExpr *scale = gamma >= 0 ? RMUL(V(rstd), LD(gamma, V(c))) : V(rstd);
	LExpr *shift = RMUL(V(mean), V(a));
	shift = RSUB(beta >= 0 ? RADD(R(0), LD(beta, V(c))) : R(0), shift);
	q->mid = SEQ(q->mid, LET(a, scale), LET(b, shift));
	LExpr *at = chan_index(P, s, n2, c, i2);
	q->store_step = FOR(i2, I(0), I(hw),
			    STORE(y, at, RADD(RMUL(kb_read_in(kb, 0, at, V(n2)), V(a)), V(b))));
}

static void batch_norm(KB *kb)
{
	per_channel_parts(kb, &kb->n->shape, "batch_norm", batch_norm_parts);
}

/* Eval mode, bn_infer(x, mean, var [, gamma, beta]): y = x a + b per
 * channel, a = gamma / sqrt(var + eps), b = beta - mean a. */
static void bn_infer(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *s = &kb->n->shape;
	int y = kb_out(kb), mu = kb_in(kb, 1), var = kb_in(kb, 2);
	int gamma = kb->n->nin > 3 ? kb_in(kb, 3) : -1, beta = kb->n->nin > 4 ? kb_in(kb, 4) : -1;
	int c = kb_var(kb, "c"), n = kb_var(kb, "n"), i = kb_var(kb, "i");
	int rstd = kb_acc(kb, "rstd"), a = kb_rvar(kb, "a"), b = kb_rvar(kb, "b");
	LExpr *scale = gamma >= 0 ? RMUL(V(rstd), LD(gamma, V(c))) : V(rstd);
	LExpr *shift = RSUB(beta >= 0 ? RADD(R(0), LD(beta, V(c))) : R(0), RMUL(LD(mu, V(c)), V(a)));
	LExpr *at = chan_index(P, s, n, c, i);
	LStmt *body = SEQ(LET(rstd, RDIV(R(1), lx_un(P, LO_SQRT, RADD(RADD(R(0), LD(var, V(c))),
									R(kb->n->at.eps))))),
			  LET(a, scale), LET(b, shift),
			  over_channel(kb, s, n, i,
				       STORE(y, at, RADD(RMUL(kb_read_in(kb, 0, at, V(n)), V(a)), V(b)))));
	kb_finish(kb, "bn_infer", per_channel(kb, s, c, body));
}

void kern_bn_running(KernCtx *k, int mean, int var)
{
	KB kb;
	kb_begin(&kb, k);
	LProgram *P = kb.p;
	const IrShape *s = &kb.n->shape;
	int64_t C = s->d[1], cnt = ir_numel(*s) / C;
	/* PyTorch updates the running variance with the unbiased one */
	double unbias = cnt > 1 ? (double)cnt / (double)(cnt - 1) : 1.0;
	kb.b.uses_run = kb.b.if_running = true;
	int st = kb_buf(&kb, k->stats[k->v], false);
	int rm = kb_buf(&kb, mean, true), rv = kb_buf(&kb, var, true);
	int c = kb_var(&kb, "c"), m = kb_acc(&kb, "m");
	LExpr *keep = RSUB(R(1), V(m));
	LStmt *body = SEQ(
		STORE(rm, V(c), RADD(RMUL(keep, LD(rm, V(c))), RMUL(V(m), LD(st, V(c))))),
		STORE(rv, V(c), RADD(RMUL(keep, LD(rv, V(c))),
				     RMUL(RMUL(V(m), LD(st, ADD(V(c), I(2 * C)))), R(unbias)))));
	kb_finish(&kb, "bn_running", SEQ(LET(m, lx_run(P, LR_BN_MOMENTUM)), FOR(c, I(0), I(C), body)));
}

/* bn_grad(x, v) = r (v - mean(v) - xhat mean(v xhat)), xhat = (x - mean) r */
static void bn_grad_parts(KB *kb, const IrShape *s, int c, int n, int n2, ChanParts *q)
{
	LProgram *P = kb->p;
	int y = kb_out(kb), x = kb_in(kb, 0);
	int i = kb_var(kb, "i"), i2 = kb_var(kb, "i");
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	int mean = kb_acc(kb, "mean"), rstd = kb_acc(kb, "rstd");
	int sv = kb_acc(kb, "sv"), svx = kb_acc(kb, "svx"), vv = kb_rvar(kb, "v");
	/* a plane's sums in reals, the planes' in double: v is centered
	 * against x - mean, so nothing cancels within a plane */
	int q1 = kb_rvar(kb, "part"), q2 = kb_rvar(kb, "partx"), mr = kb_rvar(kb, "mean");
	int a = kb_rvar(kb, "a"), b = kb_rvar(kb, "b"), d = kb_rvar(kb, "d");
	int64_t m = ir_numel(*s) / s->d[1];
	LExpr *at = chan_index(P, s, n, c, i), *at2 = chan_index(P, s, n2, c, i2);
	/* sums of v and of v (x - mean): then
	 * out = r v - r mean(v) - r^3 (x - mean) mean(v (x - mean)),
	 * x - mean formed before the product: b x - b mean would cancel,
	 * and on a channel of nearly constant x, r^3 is some 1/eps^1.5 */
	q->pre = SEQ(get_stats(kb, s, c, mean, rstd), LET(mr, V(mean)), LET(sv, R(0)),
		     LET(svx, R(0)));
	q->sum_body = SEQ(LET(vv, kb_read_in(kb, 1, at, V(n))), SET(q1, RADD(V(q1), V(vv))),
			  SET(q2, RADD(V(q2), RMUL(V(vv), RSUB(LD(x, at), V(mr))))));
	q->i = i;
	q->nsum = 2;
	q->sums[0] = sv, q->sums[1] = svx, q->parts[0] = q1, q->parts[1] = q2;
	LExpr *rb = RMUL(RMUL(RMUL(V(rstd), V(rstd)), V(rstd)), RDIV(V(svx), R((double)m)));
	LExpr *rd = RMUL(R(-1), RMUL(V(rstd), RDIV(V(sv), R((double)m))));
	q->mid = SEQ(LET(a, V(rstd)), LET(b, rb), LET(d, rd));
	q->nconst = 4;
	q->consts[0] = a, q->consts[1] = b, q->consts[2] = d, q->consts[3] = mr;
	q->store_step = FOR(i2, I(0), I(hw),
			    STORE(y, at2, RADD(RSUB(RMUL(V(a), kb_read_in(kb, 1, at2, V(n2))),
						    RMUL(V(b), RSUB(LD(x, at2), V(mr)))),
					       V(d))));
}

static void bn_grad(KB *kb)
{
	per_channel_parts(kb, &kb->n->shape, "bn_grad", bn_grad_parts);
}

/* bn_grad_jvp(x, v, t) = -r (mean(xhat t) g + mean(v xhat) u + xhat
 * mean(v u)), g = bn_grad(x, v), u = bn_grad(x, t) (see interp.c).  With
 * per-channel sums of t, t (x - mean), v, v (x - mean) and v t over m
 * pixels, it is  a v + b t + c x + d  per channel:
 *   a1 = r St'/m (= mean(xhat t)), mvx = r Sv'/m, mvu = r (Svt/m - Sv St/m^2
 *   - mvx a1), a = -r^2 a1, b = -r^2 mvx, k = 2 r^2 a1 mvx - r mvu,
 *   c = r k, d = r^2 (a1 Sv/m + mvx St/m), and out = a v + b t + c (x -
 *   mean) + d (x - mean formed first, as in bn_grad_parts).
 * One pass of sums and one of stores, rather than the twenty-odd passes
 * of its decomposition.  With a fourth input w, bn_grad(x, w) is added
 * as in bn_grad_parts: sums of w and w (x - mean) more, and
 *   out = a v + b t + r w + (c - bw) (x - mean) + (d + dw) (r as a real,
 *   as there), bw = r^3 Sw'/m, dw = -r Sw/m. */
static void bn_grad_jvp_parts(KB *kb, const IrShape *s, int c, int n, int n2, ChanParts *q)
{
	LProgram *P = kb->p;
	int y = kb_out(kb), x = kb_in(kb, 0);
	int i = kb_var(kb, "i"), i2 = kb_var(kb, "i");
	int64_t hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
	int mean = kb_acc(kb, "mean"), rstd = kb_acc(kb, "rstd"), mr = kb_rvar(kb, "mean");
	int vv = kb_rvar(kb, "v"), tv = kb_rvar(kb, "t"), xc = kb_rvar(kb, "xc"), wv = kb_rvar(kb, "w");
	bool with_w = kb->n->nin > 3;
	int nsum = with_w ? 7 : 5, sum[7], part[7];
	static const char *const names[7] = {"st", "stx", "sv", "svx", "svt", "sw", "swx"};
	/* a plane's sums in reals, the planes' in double, as in bn_grad */
	for (int k = 0; k < nsum; k++) {
		sum[k] = kb_acc(kb, names[k]);
		part[k] = kb_rvar(kb, "part");
	}
	int a1 = kb_acc(kb, "a1"), mvx = kb_acc(kb, "mvx"), mvu = kb_acc(kb, "mvu");
	int ka = kb_rvar(kb, "a"), kbv = kb_rvar(kb, "b"), kc = kb_rvar(kb, "c"), kd = kb_rvar(kb, "d");
	int kk = kb_acc(kb, "k"), r2 = kb_acc(kb, "r2");
	double m = (double)(ir_numel(*s) / s->d[1]);
	LExpr *at = chan_index(P, s, n, c, i), *at2 = chan_index(P, s, n2, c, i2);
	LStmt *step = SEQ(LET(vv, kb_read_in(kb, 1, at, V(n))), LET(tv, kb_read_in(kb, 2, at, V(n))),
			  LET(xc, RSUB(LD(x, at), V(mr))),
			  SET(part[0], RADD(V(part[0]), V(tv))),
			  SET(part[1], RADD(V(part[1]), RMUL(V(tv), V(xc)))),
			  SET(part[2], RADD(V(part[2]), V(vv))),
			  SET(part[3], RADD(V(part[3]), RMUL(V(vv), V(xc)))),
			  SET(part[4], RADD(V(part[4]), RMUL(V(vv), V(tv)))));
	if (with_w)
		step = SEQ(step, LET(wv, kb_read_in(kb, 3, at, V(n))),
			   SET(part[5], RADD(V(part[5]), V(wv))),
			   SET(part[6], RADD(V(part[6]), RMUL(V(wv), V(xc)))));
	LStmt *init = NULL;
	for (int k = 0; k < nsum; k++)
		init = SEQ(init, LET(sum[k], R(0)));
	LExpr *st = RDIV(V(sum[0]), R(m)), *sv = RDIV(V(sum[2]), R(m));
	q->pre = SEQ(get_stats(kb, s, c, mean, rstd), LET(mr, V(mean)), init);
	q->sum_body = step;
	q->i = i;
	q->nsum = nsum;
	for (int k = 0; k < nsum; k++)
		q->sums[k] = sum[k], q->parts[k] = part[k];
	q->mid = SEQ(
		LET(r2, RMUL(V(rstd), V(rstd))),
		LET(a1, RMUL(V(rstd), RDIV(V(sum[1]), R(m)))),
		LET(mvx, RMUL(V(rstd), RDIV(V(sum[3]), R(m)))),
		LET(mvu, RMUL(V(rstd), RSUB(RSUB(RDIV(V(sum[4]), R(m)),
						 RMUL(RDIV(V(sum[2]), R(m)), RDIV(V(sum[0]), R(m)))),
					    RMUL(V(mvx), V(a1))))),
		LET(ka, RMUL(R(-1), RMUL(V(r2), V(a1)))),
		LET(kbv, RMUL(R(-1), RMUL(V(r2), V(mvx)))),
		LET(kk, RSUB(RMUL(R(2), RMUL(V(r2), RMUL(V(a1), V(mvx)))), RMUL(V(rstd), V(mvu)))),
		LET(kc, RMUL(V(rstd), V(kk))),
		LET(kd, RMUL(V(r2), RADD(RMUL(V(a1), sv), RMUL(V(mvx), st)))));
	LExpr *out = RADD(RMUL(V(ka), kb_read_in(kb, 1, at2, V(n2))),
			  RMUL(V(kbv), kb_read_in(kb, 2, at2, V(n2))));
	int aw = -1;
	if (with_w) {
		aw = kb_rvar(kb, "aw");
		int bw = kb_rvar(kb, "bw"), dw = kb_rvar(kb, "dw");
		q->mid = SEQ(q->mid, LET(aw, V(rstd)),
			     LET(bw, RMUL(RMUL(RMUL(V(rstd), V(rstd)), V(rstd)), RDIV(V(sum[6]), R(m)))),
			     LET(dw, RMUL(R(-1), RMUL(V(rstd), RDIV(V(sum[5]), R(m))))),
			     SET(kc, RSUB(V(kc), V(bw))), SET(kd, RADD(V(kd), V(dw))));
		out = RADD(out, RMUL(V(aw), kb_read_in(kb, 3, at2, V(n2))));
	}
	out = RADD(out, RADD(RMUL(V(kc), RSUB(LD(x, at2), V(mr))), V(kd)));
	q->nconst = 0;
	q->consts[q->nconst++] = ka, q->consts[q->nconst++] = kbv, q->consts[q->nconst++] = kc;
	q->consts[q->nconst++] = kd;
	if (aw >= 0)
		q->consts[q->nconst++] = aw;
	q->consts[q->nconst++] = mr;
	q->store_step = FOR(i2, I(0), I(hw), STORE(y, at2, out));
}

static void bn_grad_jvp(KB *kb)
{
	per_channel_parts(kb, &kb->n->shape, "bn_grad_jvp", bn_grad_jvp_parts);
}

static void global_avg_pool(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	int64_t hw = xs->d[2] * xs->d[3], planes = xs->d[0] * xs->d[1];
	int y = kb_out(kb);
	int p = kb_var(kb, "p"), i = kb_var(kb, "i"), acc = kb_rvar(kb, "acc");
	LExpr *x = kb_read_in(kb, 0, ADD(MUL(V(p), I(hw)), V(i)), DIVI(V(p), xs->d[1]));
	LStmt *body = SEQ(LET(acc, R(0)), RFOR(i, I(0), I(hw), acc, SET(acc, RADD(V(acc), x))),
			  STORE(y, V(p), RDIV(V(acc), R((double)hw))));
	kb_finish(kb, "global_avg_pool", ir_numel(*xs) >= 8192 ? PFOR(p, I(0), I(planes), body)
							       : FOR(p, I(0), I(planes), body));
}

static void dot(KB *kb)
{
	LProgram *P = kb->p;
	int y = kb_out(kb);
	int i = kb_var(kb, "i"), acc = kb_acc(kb, "acc");
	kb_finish(kb, "dot",
		  SEQ(LET(acc, R(0)),
		      RFOR(i, I(0), I(ir_numel(*kb_ishape(kb, 0))), acc,
			   SET(acc, RADD(V(acc), RMUL(kb_read(kb, 0, V(i)), kb_read(kb, 1, V(i)))))),
		      STORE(y, I(0), V(acc))));
}

static void row_sum(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	int y = kb_out(kb), x = kb_in(kb, 0);
	int r = kb_var(kb, "r"), k = kb_var(kb, "k"), acc = kb_acc(kb, "acc");
	kb_finish(kb, "row_sum",
		  FOR(r, I(0), I(xs->d[0]),
		      SEQ(LET(acc, R(0)),
			  FOR(k, I(0), I(xs->d[1]),
			      SET(acc, RADD(V(acc), LD(x, ADD(MUL(V(r), I(xs->d[1])), V(k)))))),
			  STORE(y, V(r), V(acc)))));
}

/* Row r of a matrix with k columns: the index of column j. */
static LExpr *rc(LProgram *P, int r, int64_t k, LExpr *j)
{
	return ADD(MUL(V(r), I(k)), j);
}

/* softmax along the last axis, stable: exp(x - max) / sum */
static void softmax(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *s = &kb->n->shape;
	int64_t k = s->d[s->rank - 1], rows = ir_numel(*s) / k;
	int y = kb_out(kb), x = kb_in(kb, 0);
	int r = kb_var(kb, "r"), j = kb_var(kb, "j"), j2 = kb_var(kb, "j"), j3 = kb_var(kb, "j");
	int mx = kb_rvar(kb, "mx"), sum = kb_acc(kb, "sum"), e = kb_rvar(kb, "e");
	LStmt *body = SEQ(
		LET(mx, LD(x, rc(P, r, k, I(0)))),
		FOR(j, I(1), I(k), SET(mx, BIN(LO_MAX, V(mx), LD(x, rc(P, r, k, V(j)))))),
		LET(sum, R(0)),
		FOR(j2, I(0), I(k),
		    SEQ(LET(e, lx_un(P, LO_EXP, RSUB(LD(x, rc(P, r, k, V(j2))), V(mx)))),
			STORE(y, rc(P, r, k, V(j2)), V(e)), SET(sum, RADD(V(sum), V(e))))),
		FOR(j3, I(0), I(k),
		    STORE(y, rc(P, r, k, V(j3)), RDIV(LD(y, rc(P, r, k, V(j3))), V(sum)))));
	kb_finish(kb, "softmax", FOR(r, I(0), I(rows), body));
}

static void softmax_grad(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *s = &kb->n->shape;
	int64_t k = s->d[1];
	int out = kb_out(kb), y = kb_in(kb, 0), v = kb_in(kb, 1);
	int r = kb_var(kb, "r"), j = kb_var(kb, "j"), j2 = kb_var(kb, "j"), acc = kb_acc(kb, "acc");
	LStmt *body = SEQ(
		LET(acc, R(0)),
		FOR(j, I(0), I(k),
		    SET(acc, RADD(V(acc), RMUL(LD(y, rc(P, r, k, V(j))), LD(v, rc(P, r, k, V(j))))))),
		FOR(j2, I(0), I(k),
		    STORE(out, rc(P, r, k, V(j2)),
			  RMUL(LD(y, rc(P, r, k, V(j2))), RSUB(LD(v, rc(P, r, k, V(j2))), V(acc))))));
	kb_finish(kb, "softmax_grad", FOR(r, I(0), I(s->d[0]), body));
}

/* Per sample: the row's max and log-sum-exp. */
static LStmt *row_lse(KB *kb, int x, int r, int64_t k, int mx, int lse)
{
	LProgram *P = kb->p;
	int j = kb_var(kb, "j"), j2 = kb_var(kb, "j"), sum = kb_acc(kb, "sum");
	return SEQ(LET(mx, LD(x, rc(P, r, k, I(0)))),
		   FOR(j, I(1), I(k), SET(mx, BIN(LO_MAX, V(mx), LD(x, rc(P, r, k, V(j)))))),
		   LET(sum, R(0)),
		   FOR(j2, I(0), I(k),
		       SET(sum, RADD(V(sum), lx_un(P, LO_EXP, RSUB(LD(x, rc(P, r, k, V(j2))), V(mx)))))),
		   LET(lse, RADD(lx_un(P, LO_LOG, V(sum)), V(mx))));
}

static void cross_entropy(KB *kb, bool grad)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0);
	int64_t nb = xs->d[0], k = xs->d[1];
	int out = kb_out(kb), x = kb_in(kb, 0), lab = kb_in(kb, 1);
	int r = kb_var(kb, "r"), t = kb_var(kb, "t"), j = kb_var(kb, "j");
	int mx = kb_rvar(kb, "mx"), lse = kb_acc(kb, "lse"), total = kb_acc(kb, "total");
	LStmt *per = SEQ(row_lse(kb, x, r, k, mx, lse), LET(t, LD(lab, V(r))));
	if (!grad) {
		per = SEQ(per, SET(total, RADD(V(total), RSUB(V(lse), LD(x, rc(P, r, k, V(t)))))));
		kb_finish(kb, "cross_entropy",
			  SEQ(LET(total, R(0)), FOR(r, I(0), I(nb), per),
			      STORE(out, I(0), RDIV(V(total), R((double)nb)))));
		return;
	}
	LExpr *p = lx_un(P, LO_EXP, RSUB(LD(x, rc(P, r, k, V(j))), V(lse)));
	LExpr *hot = lx_select(P, BIN(LO_EQ, V(j), V(t)), R(1), R(0));
	per = SEQ(per, FOR(j, I(0), I(k),
			   STORE(out, rc(P, r, k, V(j)), RDIV(RSUB(p, hot), R((double)nb)))));
	kb_finish(kb, "ce_grad", FOR(r, I(0), I(nb), per));
}

/* out[row, col + j] = <dy, o_j>: partial sums per [n, c] plane (one thread
 * each) into scratch, then added up plane by plane. */
static void mixed_dot(KB *kb)
{
	LProgram *P = kb->p;
	const KernCtx *k = kb->k;
	const IrNode *nd = kb->n;
	const IrShape *xs = kb_ishape(kb, 0), *ws = &nd->shape;
	int m = nd->nin - 1;
	int64_t planes = xs->rank == 4 ? xs->d[0] * xs->d[1] : xs->d[0];
	int64_t len = ir_numel(*xs) / planes;
	int out = kb_out(kb), part = kb_buf(kb, k->scratch[k->v], true);
	int p = kb_var(kb, "p"), i = kb_var(kb, "i"), dv = kb_rvar(kb, "dy");
	int acc[64], live[64], nlive = 0;
	LExpr *at = ADD(MUL(V(p), I(len)), V(i));
	LExpr *smp = xs->rank == 4 ? DIVI(V(p), xs->d[1]) : V(p);
	/* dy scaled by drop-path (the cotangent of a mixed edge): a plane is
	 * one sample, so its sums are scaled instead of every element */
	int dy = nd->in[0], ds = -1;
	LStmt *init = NULL, *save = NULL;
	if (k->g->node[dy].inlined && k->g->node[dy].op == IR_SAMPLE_SCALE) {
		ds = kb_rvar(kb, "d");
		LExpr *saved = kb->sample;
		kb->sample = smp;
		save = LET(ds, kern_mask_at(kb, dy, at));
		kb->sample = saved;
		dy = k->g->node[dy].in[0];
	}
	LStmt *step = LET(dv, kb_value_in(kb, dy, at, smp));
	for (int j = 0; j < m; j++) {
		bool zero = k->g->node[nd->in[1 + j]].op == IR_ZERO;
		acc[j] = kb_rvar(kb, "acc");
		init = SEQ(init, LET(acc[j], R(0)));
		if (!zero) {
			live[nlive++] = acc[j];
			step = SEQ(step, SET(acc[j], RADD(V(acc[j]), RMUL(V(dv), kb_read_in(kb, 1 + j, at, smp)))));
		}
		save = SEQ(save, STORE(part, ADD(MUL(V(p), I(m)), I(j)),
				       ds >= 0 ? RMUL(V(acc[j]), V(ds)) : V(acc[j])));
	}
	LStmt *partials = SEQ(init, ls_rfor(P, i, I(0), I(len), step, nlive, live), save);
	int z = kb_var(kb, "z"), q = kb_var(kb, "q"), j = kb_var(kb, "j"), tot = kb_acc(kb, "total");
	LStmt *zero = FOR(z, I(0), I(ir_numel(*ws)), STORE(out, V(z), R(0)));
	LStmt *sum = FOR(j, I(0), I(m),
			 SEQ(LET(tot, R(0)),
			     FOR(q, I(0), I(planes),
				 SET(tot, RADD(V(tot), LD(part, ADD(MUL(V(q), I(m)), V(j)))))),
			     STORE(out, ADD(I((int64_t)nd->at.row * ws->d[1] + nd->at.col), V(j)), V(tot))));
	LStmt *loop = ir_numel(*xs) >= 8192 ? PFOR(p, I(0), I(planes), partials)
					    : FOR(p, I(0), I(planes), partials);
	kb_finish(kb, "mixed_dot", SEQ(loop, zero, sum));
}

/* sample_dot(a, b): out[row, n] = <a[n], b[n]>, zeros in the other rows. */
static void sample_dot(KB *kb)
{
	LProgram *P = kb->p;
	const IrShape *xs = kb_ishape(kb, 0), *os = &kb->n->shape;
	int64_t nb = xs->d[0], per = ir_numel(*xs) / nb;
	int out = kb_out(kb);
	int z = kb_var(kb, "z"), n = kb_var(kb, "n"), i = kb_var(kb, "i"), acc = kb_acc(kb, "acc");
	LExpr *at = ADD(MUL(V(n), I(per)), V(i));
	LStmt *zero = FOR(z, I(0), I(ir_numel(*os)), STORE(out, V(z), R(0)));
	LStmt *body = SEQ(LET(acc, R(0)),
			  RFOR(i, I(0), I(per), acc,
			       SET(acc, RADD(V(acc), RMUL(kb_read_in(kb, 0, at, V(n)),
							  kb_read_in(kb, 1, at, V(n)))))),
			  STORE(out, ADD(I((int64_t)kb->n->at.row * nb), V(n)), V(acc)));
	kb_finish(kb, "sample_dot",
		  SEQ(zero, ir_numel(*xs) >= 8192 ? PFOR(n, I(0), I(nb), body) : FOR(n, I(0), I(nb), body)));
}

bool kern_reduce(KernCtx *k)
{
	KB kb;
	kb_begin(&kb, k);
	switch (kb.n->op) {
	case IR_CHANNEL_SUM:
		channel_sum(&kb);
		return true;
	case IR_BATCH_NORM:
		batch_norm(&kb);
		return true;
	case IR_BN_INFER:
		bn_infer(&kb);
		return true;
	case IR_SAMPLE_DOT:
		sample_dot(&kb);
		return true;
	case IR_BN_GRAD_JVP:
		bn_grad_jvp(&kb);
		return true;
	case IR_BN_GRAD:
		bn_grad(&kb);
		return true;
	case IR_GLOBAL_AVG_POOL:
		global_avg_pool(&kb);
		return true;
	case IR_DOT:
		dot(&kb);
		return true;
	case IR_ROW_SUM:
		row_sum(&kb);
		return true;
	case IR_SOFTMAX:
		softmax(&kb);
		return true;
	case IR_SOFTMAX_GRAD:
		softmax_grad(&kb);
		return true;
	case IR_CROSS_ENTROPY:
		cross_entropy(&kb, false);
		return true;
	case IR_CE_GRAD:
		cross_entropy(&kb, true);
		return true;
	case IR_MIXED_DOT:
		mixed_dot(&kb);
		return true;
	default:
		return false;
	}
}
