/* lower.c - graph IR to the loop-level form (see lower.h): the parameter
 * and running-statistics layouts, the buffers and their memory plan, and
 * the kernel of every value in the entry points. */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "kern.h"
#include "passes.h"
#include "plan.h"

/* Room between planned buffers: 64 bytes of floats. */
enum { ALIGN = 16 };

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

/* fan_in of a conv or linear weight, and of the bias beside it. */
static int64_t fan_in(const IrGraph *g, int v)
{
	const IrNode *n = &g->node[v];
	if (n->wkind == W_CONV)
		return n->shape.d[1] * n->shape.d[2] * n->shape.d[3];
	if (n->wkind == W_LINEAR)
		return n->shape.d[1];
	if (n->wkind == W_BIAS)
		for (int u = v + 1; u < g->n; u++) {
			const IrNode *c = &g->node[u];
			if ((c->op == IR_CONV2D || c->op == IR_LINEAR) && c->nin > 2 && c->in[2] == v)
				return fan_in(g, c->in[1]);
		}
	return 0;
}

/* The leaves of the state (running: of the running statistics) back to
 * back in graph order, which is canonical order; returns the reals. */
static int64_t layout(const IrGraph *g, bool running, LTensor **out, int *count, Arena *a)
{
	int n = 0;
	for (int v = 0; v < g->n; v++) {
		IrOp op = g->node[v].op;
		n += running ? op == IR_RUNNING : op == IR_WEIGHT || op == IR_ALPHA;
	}
	*out = arena_array(a, (size_t)(n > 0 ? n : 1), sizeof **out);
	*count = 0;
	int64_t off = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *nd = &g->node[v];
		if (running ? nd->op != IR_RUNNING : nd->op != IR_WEIGHT && nd->op != IR_ALPHA)
			continue;
		LTensor *t = &(*out)[(*count)++];
		t->name = nd->name;
		t->op = nd->op;
		t->wkind = nd->wkind;
		t->shape = nd->shape;
		t->offset = off;
		t->fan_in = running ? 0 : fan_in(g, v);
		off += ir_numel(nd->shape);
	}
	return off;
}

/* Whether an output is the gradient of an architecture tensor. */
static bool is_alpha_grad(const IrGraph *g, const char *name)
{
	size_t k = strlen(AD_GRAD_PREFIX);
	if (strncmp(name, AD_GRAD_PREFIX, k) != 0)
		return false;
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_ALPHA && strcmp(g->node[v].name, name + k) == 0)
			return true;
	return false;
}

static const LTensor *tensor_named(const Lowered *L, const char *name)
{
	for (int i = 0; i < L->ntensors; i++)
		if (strcmp(L->tensors[i].name, name) == 0)
			return &L->tensors[i];
	return NULL;
}

/* The first batch norm on the same input with the same eps: its
 * statistics serve a bn_grad of that input.  A batch norm with no such
 * one before it keeps its own (which its running statistics are updated
 * from). */
static int stats_source(const IrGraph *g, int v, const int *first_bn)
{
	const IrNode *n = &g->node[v];
	if (n->op != IR_BN_GRAD && n->op != IR_BN_GRAD_JVP && n->op != IR_BATCH_NORM)
		return -1;
	int b = first_bn[n->in[0]];
	if (b < 0 || b > v || g->node[b].at.eps != n->at.eps)
		return n->op == IR_BATCH_NORM ? v : -1;
	return b;
}

static bool is_infer_output(const char *name)
{
	return strcmp(name, INFER_LOSS) == 0 || strcmp(name, INFER_LOGITS) == 0;
}

static int output_named(const IrGraph *g, const char *name)
{
	for (int i = 0; i < g->nout; i++)
		if (strcmp(g->out[i].name, name) == 0)
			return g->out[i].v;
	return -1;
}

/* What an entry point runs: the values its results need. */
typedef enum Cone {
	CONE_LOSS,   /* the loss and the logits */
	CONE_ALPHA,  /* those and the gradients of the architecture tensors */
	CONE_TRAIN,  /* those and every gradient: the whole training program */
	CONE_INFER,  /* the eval-mode loss and logits */
	CONE_HVP,    /* the loss, the logits and the Hessian-vector products */
	CONE_MIXED,  /* the loss, the logits and the mixed derivatives */
} Cone;

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool cone_has_output(const IrGraph *g, Cone which, const char *name)
{
	switch (which) {
	case CONE_LOSS:
		return false;
	case CONE_ALPHA:
		return is_alpha_grad(g, name);
	case CONE_TRAIN:
		return has_prefix(name, AD_GRAD_PREFIX);
	case CONE_INFER:
		return is_infer_output(name);
	case CONE_HVP:
		return has_prefix(name, AD_HVP_PREFIX);
	case CONE_MIXED:
		return has_prefix(name, AD_MIXED_PREFIX);
	}
	return false;
}

/* The values that need[] marks and everything they read. */
static char *close_cone(const IrGraph *g, char *need)
{
	for (int v = g->n - 1; v >= 0; v--)
		if (need[v])
			for (int j = 0; j < g->node[v].nin; j++)
				need[g->node[v].in[j]] = 1;
	return need;
}

static char *cone_of(const IrGraph *g, Cone which)
{
	char *need = xcalloc((size_t)g->n, 1);
	if (g->loss >= 0 && which != CONE_INFER)
		need[g->loss] = 1;
	if (g->logits >= 0 && which != CONE_INFER)
		need[g->logits] = 1;
	for (int i = 0; i < g->nout; i++)
		if (cone_has_output(g, which, g->out[i].name))
			need[g->out[i].v] = 1;
	return close_cone(g, need);
}

/* The values the outputs named prefix... need. */
static char *cone_named(const IrGraph *g, const char *prefix)
{
	char *need = xcalloc((size_t)g->n, 1);
	for (int i = 0; i < g->nout; i++)
		if (has_prefix(g->out[i].name, prefix))
			need[g->out[i].v] = 1;
	return close_cone(g, need);
}

/* The buffers of the values of a group of entries that share a memory
 * plan, and the plan's size. */
typedef struct Plan {
	int *vbuf;           /* per value: its buffer, -1 outside the group or inlined */
	int *stats;          /* per value: the buffer of the batch statistics it reads, or -1 */
	int *stats_of;       /* per value: the batch norm whose statistics it reads, or -1 */
	int *scratch;        /* per value: its scratch buffer, or -1 */
	int *arg;            /* per value: the argmax buffer it writes or reads, or -1 */
	int64_t reals;       /* arena size */
	int64_t ones;        /* arena offset of ndrop x batch ones */
} Plan;

static void plan_free(Plan *pl)
{
	free(pl->vbuf);
	free(pl->stats);
	free(pl->stats_of);
	free(pl->scratch);
	free(pl->arg);
}

static bool is_leaf(IrOp op)
{
	return op == IR_WEIGHT || op == IR_ALPHA || op == IR_INPUT || op == IR_LABELS ||
	       op == IR_RUNNING || op == IR_DROP || op == IR_TANGENT;
}

/* The plan of the values in `member`: a value lives from its step to its
 * last reader's in the group; the loss, the logits and the outputs to the
 * end.  leaves[v] is the buffer of leaf v.  When `again` is not NULL, the
 * values it marks run again and again after the others ran once (hvp
 * after hvp_prepare): what they read of the others lives to the end, and
 * each of them (its value, statistics and scratch) gets room for `block`
 * instances, end to end, for a run blocked over that many tangents. */
static void plan_group(Lowered *L, const IrGraph *g, const char *member, const char *again,
		       int block, const int *leaves, Plan *pl, Arena *a)
{
	/* time is counted in steps: the order in which kernels run, which is
	 * graph order, but for `again`: the others first */
	int end = g->n, *step = xcalloc((size_t)g->n, sizeof *step);
	int nstep = 0, first_again = g->n;
	for (int v = 0; v < g->n; v++)
		if (!again || !again[v])
			step[v] = nstep++;
	if (again) {
		first_again = nstep;
		for (int v = 0; v < g->n; v++)
			if (again[v])
				step[v] = nstep++;
	}
	int *last = xcalloc((size_t)g->n, sizeof *last);
	/* an inlined value is read where its user's kernel runs, and so are
	 * its inputs (by the last of its users' kernels, when it is computed
	 * again in each of several users) */
	int *at = xcalloc((size_t)g->n, sizeof *at);
	for (int v = 0; v < g->n; v++)
		at[v] = g->node[v].inlined ? -1 : step[v];
	for (int u = g->n - 1; u >= 0; u--)
		for (int j = 0; member[u] && j < g->node[u].nin; j++) {
			int w = g->node[u].in[j];
			if (g->node[w].inlined && at[u] > at[w])
				at[w] = at[u];
		}
	for (int v = 0; v < g->n; v++) {
		last[v] = last[v] > step[v] ? last[v] : step[v];
		/* zero and noise take only their input's shape */
		if (!member[v] || g->node[v].op == IR_ZERO || g->node[v].op == IR_NOISE)
			continue;
		for (int j = 0; j < g->node[v].nin; j++) {
			int u = g->node[v].in[j];
			last[u] = at[v] > last[u] ? at[v] : last[u];
			/* read again and again: kept */
			if (at[v] >= first_again && step[u] < first_again)
				last[u] = end;
		}
	}
	last[g->loss] = last[g->logits] = end;

	/* A max pool whose input a max_pool_bwd or max_pool_select of the
	 * same window reads writes where each window's first maximum is (an
	 * int64 per output), kept until the last of them: they read it
	 * instead of searching the window again. */
	int *pool_of = xcalloc((size_t)g->n, sizeof *pool_of);
	memset(pool_of, -1, (size_t)g->n * sizeof *pool_of);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (member[v] && n->op == IR_MAX_POOL && !n->inlined && !(again && again[v]) &&
		    pool_of[n->in[0]] < 0)
			pool_of[n->in[0]] = v;
	}
	int *arg_of = xcalloc((size_t)g->n, sizeof *arg_of);
	int *arg_last = xcalloc((size_t)g->n, sizeof *arg_last);
	memset(arg_of, -1, (size_t)g->n * sizeof *arg_of);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (!member[v] || (n->op != IR_MAX_POOL_BWD && n->op != IR_MAX_POOL_SELECT) ||
		    pool_of[n->in[0]] < 0)
			continue;
		int p = pool_of[n->in[0]];
		const IrAttr *pa = &n->at, *pb = &g->node[p].at;
		if (pa->kh != pb->kh || pa->kw != pb->kw || pa->stride != pb->stride || pa->pad != pb->pad)
			continue;
		arg_of[v] = arg_of[p] = p;
		int until = step[v] >= first_again ? end : step[v];
		arg_last[p] = until > arg_last[p] ? until : arg_last[p];
	}
	for (int i = 0; i < g->nout; i++)
		last[g->out[i].v] = end;

	/* batch statistics: kept from a batch norm for the bn_grads of its input */
	int *first_bn = xcalloc((size_t)g->n, sizeof *first_bn);
	int *stats_last = xcalloc((size_t)g->n, sizeof *stats_last);
	pl->stats_of = xcalloc((size_t)g->n, sizeof *pl->stats_of);
	memset(first_bn, -1, (size_t)g->n * sizeof *first_bn);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (member[v] && n->op == IR_BATCH_NORM && first_bn[n->in[0]] < 0)
			first_bn[n->in[0]] = v;
	}
	for (int v = 0; v < g->n; v++) {
		pl->stats_of[v] = member[v] ? stats_source(g, v, first_bn) : -1;
		int b = pl->stats_of[v];
		if (b >= 0) {
			int until = step[v] >= first_again && step[b] < first_again ? end : step[v];
			stats_last[b] = until > stats_last[b] ? until : stats_last[b];
		}
	}

	/* one item per arena value, one per statistics buffer (mean,
	 * 1/sqrt(var + eps) and var per channel), one per scratch buffer, one
	 * per max pool's argmax (two reals per int64, room in either
	 * precision), and the mask of ones a run without drop-path reads,
	 * all along */
	PlanItem *items = xcalloc((size_t)g->n * 4 + 1, sizeof *items);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		bool room = member[v] && !is_leaf(n->op) && !n->inlined;
		int64_t times = again && again[v] ? block : 1;
		items[v] = (PlanItem){.size = room ? times * ir_numel(n->shape) : 0, .first = step[v],
				      .last = last[v]};
		if (member[v] && n->op == IR_BATCH_NORM && pl->stats_of[v] == v)
			items[g->n + v] = (PlanItem){.size = times * 3 * n->shape.d[1],
						     .first = step[v], .last = stats_last[v]};
		items[2 * g->n + v] = (PlanItem){.size = member[v] ? times * scratch_size(g, v) : 0,
						 .first = step[v], .last = step[v]};
		if (arg_of[v] == v)
			items[3 * g->n + v] = (PlanItem){.size = 2 * ir_numel(n->shape), .first = step[v],
							 .last = arg_last[v]};
	}
	items[4 * g->n] = (PlanItem){.size = L->ndrop * L->batch, .first = 0, .last = end};
	pl->reals = plan_arena(items, 4 * g->n + 1, ALIGN);
	pl->ones = items[4 * g->n].offset;

	pl->vbuf = xcalloc((size_t)g->n, sizeof *pl->vbuf);
	pl->scratch = xcalloc((size_t)g->n, sizeof *pl->scratch);
	int *sbuf = xcalloc((size_t)g->n, sizeof *sbuf);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		pl->vbuf[v] = sbuf[v] = pl->scratch[v] = -1;
		if (is_leaf(n->op))
			pl->vbuf[v] = leaves[v];
		else if (member[v] && !n->inlined)
			pl->vbuf[v] = lp_buf(&L->p, arena_printf(a, "%%%d %s", v, ir_prims[n->op].name),
					     LS_ARENA, items[v].offset, ir_numel(n->shape), false);
		int64_t times = again && again[v] ? block : 1;
		if (items[2 * g->n + v].size)
			pl->scratch[v] = lp_buf(&L->p, arena_printf(a, "scratch of %%%d", v), LS_ARENA,
						items[2 * g->n + v].offset,
						items[2 * g->n + v].size / times, false);
		if (items[g->n + v].size)
			sbuf[v] = lp_buf(&L->p, arena_printf(a, "statistics of %%%d", v), LS_ARENA,
					 items[g->n + v].offset, items[g->n + v].size / times, false);
		if (again && again[v]) {
			int bufs[] = {pl->vbuf[v], pl->scratch[v], sbuf[v]};
			for (int i = 0; i < 3; i++)
				if (bufs[i] >= 0 && L->p.buf[bufs[i]].space == LS_ARENA)
					L->p.buf[bufs[i]].blocked = true;
		}
	}
	pl->stats = xcalloc((size_t)g->n, sizeof *pl->stats);
	pl->arg = xcalloc((size_t)g->n, sizeof *pl->arg);
	for (int v = 0; v < g->n; v++)
		if (arg_of[v] == v)
			pl->arg[v] = lp_buf(&L->p, arena_printf(a, "argmax of %%%d", v), LS_ARENA,
					    items[3 * g->n + v].offset, ir_numel(g->node[v].shape), true);
	for (int v = 0; v < g->n; v++) {
		pl->stats[v] = pl->stats_of[v] >= 0 ? sbuf[pl->stats_of[v]] : -1;
		pl->arg[v] = arg_of[v] >= 0 ? pl->arg[arg_of[v]] : -1;
	}
	free(sbuf);
	free(at);
	free(step);
	free(last);
	free(first_bn);
	free(stats_last);
	free(items);
	free(arg_of);
	free(arg_last);
	free(pool_of);
}

/* The kernel of value v, appended to entry e; after a training-mode batch
 * norm, the update of its running statistics, made when the run has them. */
static void emit_value(Lowered *L, LEntry *e, const IrGraph *g, const Plan *pl, int v)
{
	KernCtx k = {.p = &L->p, .entry = e, .g = g, .vbuf = pl->vbuf, .stats = pl->stats,
		     .stats_own = pl->stats_of[v] == v, .scratch = pl->scratch, .arg = pl->arg, .v = v};
	if (!(kern_elem(&k) || kern_reduce(&k) || kern_conv(&k) || kern_pool(&k))) {
		fprintf(stderr, "nasc: internal error: no kernel for %s\n", ir_prims[g->node[v].op].name);
		abort();
	}
	for (int i = 0; i < g->nstat; i++)
		if (g->stat[i].bn == v)
			kern_bn_running(&k, pl->vbuf[g->stat[i].mean], pl->vbuf[g->stat[i].var]);
}

/* The kernels of the values in `which`, in order, appended to entry e. */
static void emit_entry(Lowered *L, LEntry *e, const IrGraph *g, const Plan *pl, const char *which)
{
	for (int v = 0; v < g->n; v++)
		if (which[v] && !((g->node[v].nin == 0 && g->node[v].op != IR_FILL) ||
				  g->node[v].inlined))
			emit_value(L, e, g, pl, v);
}

/* dst[0..n) = src[0..n) */
static void emit_copy(Lowered *L, LEntry *e, int dst, int src, int64_t n, const char *origin)
{
	LProgram *P = &L->p;
	LKBuild b = {0};
	int d = lk_slot(P, &b, dst, true), s = lk_slot(P, &b, src, false);
	int i = lp_var(P, "i", LT_INT);
	LStmt *body = n >= 4096 ? PFOR(i, I(0), I(n), STORE(d, V(i), LD(s, V(i))))
				: FOR(i, I(0), I(n), STORE(d, V(i), LD(s, V(i))));
	lp_call(P, e, &b, body, "copy", origin);
}

/* Copy the outputs named prefix + tensor name into the gradient block at
 * their tensor's place, in entry e (alpha_too: also in entry e2). */
static void emit_outputs(Lowered *L, const IrGraph *g, const Plan *pl, const char *prefix,
			 LEntry *e, LEntry *alpha_too)
{
	for (int i = 0; i < g->nout; i++) {
		const char *name = g->out[i].name;
		if (!has_prefix(name, prefix))
			continue;
		const LTensor *t = tensor_named(L, name + strlen(prefix));
		if (!t)
			continue;
		int64_t cnt = ir_numel(t->shape);
		int dst = lp_buf(&L->p, name, LS_GRADS, t->offset, cnt, false);
		emit_copy(L, e, dst, pl->vbuf[g->out[i].v], cnt, name);
		if (alpha_too && t->op == IR_ALPHA)
			emit_copy(L, alpha_too, dst, pl->vbuf[g->out[i].v], cnt, name);
	}
}

static char *union_of(const IrGraph *g, char *const *cones, int n)
{
	char *u = xcalloc((size_t)g->n, 1);
	for (int v = 0; v < g->n; v++)
		for (int i = 0; i < n; i++)
			u[v] |= cones[i][v];
	return u;
}

static bool has_outputs(const IrGraph *g, const char *prefix)
{
	for (int i = 0; i < g->nout; i++)
		if (has_prefix(g->out[i].name, prefix))
			return true;
	return false;
}

/* Per value: whether it depends on a tangent (and is in member, when not
 * NULL). */
static char *moving(const IrGraph *g, const char *member)
{
	char *moves = xcalloc((size_t)g->n, 1);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		moves[v] = n->op == IR_TANGENT;
		for (int j = 0; j < n->nin; j++)
			moves[v] |= moves[n->in[j]];
	}
	for (int v = 0; member && v < g->n; v++)
		moves[v] &= member[v];
	return moves;
}

/* The outputs of one run entry of a prepared group: those named prefix...,
 * from the values of the group's plan that move and that they need. */
static void emit_run(Lowered *L, LEntry *e, const IrGraph *g, const Plan *pl, const char *moves,
		     const char *prefix, int block)
{
	char *run = cone_named(g, prefix);
	for (int v = 0; v < g->n; v++)
		run[v] &= moves[v];
	emit_entry(L, e, g, pl, run);
	emit_outputs(L, g, pl, prefix, e, NULL);
	if (block > 1)
		lp_block_entry(&L->p, e, L->nparams);
	free(run);
}

/* A prepared group (hvp, mixed): `member` planned as one, the values
 * that do not depend on the tangent in pg->prepare, which runs once, and
 * those that do in pg->run, which runs again and again after it; what
 * pg->run reads of the others lives to its end.  pg->prepare writes the
 * outputs named prep_prefix (none when NULL), pg->run those named
 * prefix, and pg->on[i] (pg->non of them, set by the caller) those named
 * pg->on_prefix[i]: further run entries, on the same preparation. */
static void lower_prepared(Lowered *L, const IrGraph *g, const char *member,
			   const char *prep_prefix, const char *prefix, int block, const int *leaves,
			   Arena *a, LPrepared *pg)
{
	char *moves = moving(g, member), *still = xcalloc((size_t)g->n, 1);
	for (int v = 0; v < g->n; v++)
		still[v] = member[v] && !moves[v];
	Plan pl;
	plan_group(L, g, member, moves, block, leaves, &pl, a);
	pg->arena = pl.reals;
	pg->ones = pl.ones;
	pg->loss_buf = pl.vbuf[g->loss];
	pg->logits_buf = pl.vbuf[g->logits];
	emit_entry(L, &pg->prepare, g, &pl, still);
	if (prep_prefix)
		emit_outputs(L, g, &pl, prep_prefix, &pg->prepare, NULL);
	emit_run(L, &pg->run, g, &pl, moves, prefix, block);
	for (int i = 0; i < pg->non; i++)
		emit_run(L, &pg->on[i], g, &pl, moves, pg->on_prefix[i], block);
	pg->block = block;
	plan_free(&pl);
	free(moves);
	free(still);
}

/* Reals of the values of cone that move with the tangent and have
 * buffers of their own: what a run entry of them reads and writes, about. */
static int64_t moving_reals(const IrGraph *g, const char *cone)
{
	char *moves = moving(g, cone);
	int64_t r = 0;
	for (int v = 0; v < g->n; v++)
		if (moves[v] && !g->node[v].inlined && g->node[v].nin > 0)
			r += ir_numel(g->node[v].shape);
	free(moves);
	return r;
}

/* The Hessian-vector products along one architecture tensor alone (the
 * outputs hvp@<tensor>:...) get a run entry of their own, into pg->on,
 * where they move at most HVP_ON_SHARE of the reals the products along
 * every tensor move: where that tensor's tangent starts later in the
 * network.  An exact Hessian goes column by column, each column along
 * one tensor; Lanczos's vectors are dense.  Returns the union of
 * hcone and the cones of the entries kept. */
#define HVP_ON_SHARE 0.85
static char *hvp_on_entries(Lowered *L, const IrGraph *g, const char *hcone, LPrepared *pg,
			    Arena *a)
{
	char *member = xcalloc((size_t)g->n, 1);
	memcpy(member, hcone, (size_t)g->n);
	int64_t all = moving_reals(g, hcone);
	pg->on = arena_array(a, (size_t)L->ntensors + 1, sizeof *pg->on);
	pg->on_prefix = arena_array(a, (size_t)L->ntensors + 1, sizeof *pg->on_prefix);
	pg->on_tensor = arena_array(a, (size_t)L->ntensors + 1, sizeof *pg->on_tensor);
	pg->non = 0;
	for (int t = 0; t < L->ntensors; t++) {
		if (L->tensors[t].op != IR_ALPHA)
			continue;
		const char *prefix =
			arena_printf(a, AD_HVP_ON_PREFIX "%s" AD_HVP_ON_SEP, L->tensors[t].name);
		if (!has_outputs(g, prefix))
			continue;
		char *cone = cone_named(g, prefix);
		if ((double)moving_reals(g, cone) <= HVP_ON_SHARE * (double)all) {
			memset(&pg->on[pg->non], 0, sizeof pg->on[pg->non]);
			pg->on_prefix[pg->non] = prefix;
			pg->on_tensor[pg->non++] = t;
			for (int v = 0; v < g->n; v++)
				member[v] |= cone[v];
		}
		free(cone);
	}
	return member;
}

void lower(const IrGraph *g, int hvp_block, Lowered *L, Arena *a)
{
	memset(L, 0, sizeof *L);
	lp_init(&L->p, a);
	L->nvalues = g->n;
	const IrShape *xs = &g->node[g->input].shape;
	L->batch = xs->d[0];
	L->in_c = xs->d[1];
	L->in_h = xs->d[2];
	L->in_w = xs->d[3];
	L->classes = g->node[g->logits].shape.d[1];
	L->nparams = layout(g, false, &L->tensors, &L->ntensors, a);
	L->nrunning = layout(g, true, &L->running, &L->nrunning_tensors, a);
	L->ndrop = g->drop >= 0 ? g->node[g->drop].shape.d[0] : 0;

	/* the leaves' buffers, shared by every plan */
	int *leaves = xcalloc((size_t)g->n, sizeof *leaves);
	int ti = 0, ri = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		int64_t cnt = ir_numel(n->shape);
		const LTensor *t;
		leaves[v] = -1;
		switch (n->op) {
		case IR_WEIGHT:
		case IR_ALPHA:
			leaves[v] = lp_buf(&L->p, n->name, LS_PARAMS, L->tensors[ti++].offset, cnt, false);
			break;
		case IR_TANGENT:
			t = tensor_named(L, n->name);
			if (!t) {
				fprintf(stderr, "nasc: internal error: a tangent of no tensor (%s)\n",
					n->name ? n->name : "unnamed");
				abort();
			}
			leaves[v] = lp_buf(&L->p, n->name, LS_TANGENT, t->offset, cnt, false);
			break;
		case IR_RUNNING:
			leaves[v] = lp_buf(&L->p, n->name, LS_RUNNING, L->running[ri++].offset, cnt, false);
			break;
		case IR_DROP:
			leaves[v] = lp_buf(&L->p, "drop", LS_DROP, 0, cnt, false);
			break;
		case IR_INPUT:
			leaves[v] = lp_buf(&L->p, "x", LS_X, 0, cnt, false);
			break;
		case IR_LABELS:
			leaves[v] = lp_buf(&L->p, "y", LS_Y, 0, cnt, true);
			break;
		default:
			break;
		}
	}

	/* the training and eval entries: one plan */
	char *cones[4] = {cone_of(g, CONE_TRAIN), cone_of(g, CONE_LOSS), cone_of(g, CONE_ALPHA),
			  cone_of(g, CONE_INFER)};
	char *member = union_of(g, cones, 4);
	Plan pl;
	plan_group(L, g, member, NULL, 1, leaves, &pl, a);
	L->p.arena_bytes = pl.reals; /* in reals until emitted */
	L->ones_offset = pl.ones;
	L->loss_buf = pl.vbuf[g->loss];
	L->logits_buf = pl.vbuf[g->logits];
	int il = output_named(g, INFER_LOSS), ig = output_named(g, INFER_LOGITS);
	L->infer_loss_buf = il >= 0 && ig >= 0 ? pl.vbuf[il] : -1;
	L->infer_logits_buf = il >= 0 && ig >= 0 ? pl.vbuf[ig] : -1;
	emit_entry(L, &L->grad, g, &pl, cones[0]);
	emit_entry(L, &L->loss, g, &pl, cones[1]);
	emit_entry(L, &L->grad_alpha, g, &pl, cones[2]);
	if (L->infer_loss_buf >= 0)
		emit_entry(L, &L->infer, g, &pl, cones[3]);
	emit_outputs(L, g, &pl, AD_GRAD_PREFIX, &L->grad, &L->grad_alpha);
	plan_free(&pl);
	free(member);
	for (int i = 0; i < 4; i++)
		free(cones[i]);

	/* the Hessian-vector products and the mixed derivative: each a
	 * prepared group.  The mixed derivative's preparation also writes the
	 * whole gradient, the virtual step's, which it computes anyway. */
	char *hcone = cone_of(g, CONE_HVP), *mcone = cone_of(g, CONE_MIXED);
	L->hvp.loss_buf = L->mixed.loss_buf = -1;
	if (has_outputs(g, AD_HVP_PREFIX)) {
		char *hmember = hvp_on_entries(L, g, hcone, &L->hvp, a);
		lower_prepared(L, g, hmember, NULL, AD_HVP_PREFIX, hvp_block, leaves, a, &L->hvp);
		free(hmember);
	}
	if (has_outputs(g, AD_MIXED_PREFIX)) {
		char *tcone = cone_of(g, CONE_TRAIN);
		char *both[2] = {mcone, tcone};
		char *with_grads = union_of(g, both, 2);
		lower_prepared(L, g, with_grads, AD_GRAD_PREFIX, AD_MIXED_PREFIX, 1, leaves, a,
			       &L->mixed);
		free(with_grads);
		free(tcone);
	}
	free(hcone);
	free(mcone);
	free(leaves);
}

/* ---- what the kernel builders share --------------------------------------- */

void kb_begin(KB *kb, KernCtx *k)
{
	memset(kb, 0, sizeof *kb);
	kb->k = k;
	kb->p = k->p;
	kb->n = &k->g->node[k->v];
}

int kb_buf(KB *kb, int buf, bool write)
{
	return lk_slot(kb->p, &kb->b, buf, write);
}

int kb_in(KB *kb, int j)
{
	return kb_buf(kb, kb->k->vbuf[kb->n->in[j]], false);
}

int kb_out(KB *kb)
{
	return kb_buf(kb, kb->k->vbuf[kb->k->v], true);
}

LExpr *kb_value(KB *kb, int u, LExpr *idx)
{
	if (kb->k->g->node[u].inlined)
		return kern_elem_expr(kb, u, idx);
	return lx_load(kb->p, kb_buf(kb, kb->k->vbuf[u], false), idx);
}

LExpr *kb_read(KB *kb, int j, LExpr *idx)
{
	return kb_value(kb, kb->n->in[j], idx);
}

LExpr *kb_value_in(KB *kb, int u, LExpr *idx, LExpr *sample)
{
	LExpr *saved = kb->sample;
	kb->sample = sample;
	LExpr *e = kb_value(kb, u, idx);
	kb->sample = saved;
	return e;
}

LExpr *kb_read_in(KB *kb, int j, LExpr *idx, LExpr *sample)
{
	return kb_value_in(kb, kb->n->in[j], idx, sample);
}

int kb_var(KB *kb, const char *name)
{
	return lp_var(kb->p, name, LT_INT);
}

int kb_rvar(KB *kb, const char *name)
{
	return lp_var(kb->p, name, LT_REAL);
}

int kb_acc(KB *kb, const char *name)
{
	return lp_var(kb->p, name, LT_F64);
}

const IrShape *kb_ishape(const KB *kb, int j)
{
	return &kb->k->g->node[kb->n->in[j]].shape;
}

/* A C identifier stem for a kernel: the last part of its scope (the
 * candidate, preprocess0, stem, head) and what it computes. */
static const char *kernel_stem(Arena *a, const char *scope, const char *what)
{
	const char *last = scope ? strrchr(scope, '.') : NULL;
	last = last ? last + 1 : scope ? scope : "";
	char *s = arena_printf(a, "%s%s%s", last, *last ? "_" : "", what);
	for (char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			*c = '_';
	return s;
}

void kb_finish(KB *kb, const char *what, LStmt *body)
{
	const char *scope = kb->n->scope ? kb->n->scope : "";
	const char *origin = arena_printf(kb->p->arena, "%%%d %s%s%s", kb->k->v,
					  ir_prims[kb->n->op].name, *scope ? "  " : "", scope);
	lp_call(kb->p, kb->k->entry, &kb->b, body, kernel_stem(kb->p->arena, kb->n->scope, what),
		origin);
}

LStmt *kb_flat_loop(KB *kb, int var, int64_t n, LStmt *body)
{
	LProgram *P = kb->p;
	if (n >= 8192)
		return PFOR(var, I(0), I(n), body);
	return FOR(var, I(0), I(n), body);
}

LExpr *kb_at4(LProgram *P, const IrShape *s, LExpr *n, LExpr *c, LExpr *h, LExpr *w)
{
	return ADD(MUL(ADD(MUL(ADD(MUL(n, I(s->d[1])), c), I(s->d[2])), h), I(s->d[3])), w);
}
