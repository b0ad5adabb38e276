/* lower.c - graph IR to the loop-level form (see lower.h): the parameter
 * layout, the buffers and their memory plan, and the kernel of every value
 * in the two entry points. */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "kern.h"
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

static void layout_tensors(const IrGraph *g, Lowered *L, Arena *a)
{
	int n = 0;
	for (int v = 0; v < g->n; v++)
		n += g->node[v].op == IR_WEIGHT || g->node[v].op == IR_ALPHA;
	L->tensors = arena_array(a, (size_t)(n > 0 ? n : 1), sizeof *L->tensors);
	int64_t off = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *nd = &g->node[v];
		if (nd->op != IR_WEIGHT && nd->op != IR_ALPHA)
			continue;
		LTensor *t = &L->tensors[L->ntensors++];
		t->name = nd->name;
		t->op = nd->op;
		t->wkind = nd->wkind;
		t->shape = nd->shape;
		t->offset = off;
		t->fan_in = fan_in(g, v);
		off += ir_numel(nd->shape);
	}
	L->nparams = off;
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
 * statistics serve a bn_grad of that input. */
static int stats_source(const IrGraph *g, int v, const int *first_bn)
{
	const IrNode *n = &g->node[v];
	if (n->op != IR_BN_GRAD && n->op != IR_BATCH_NORM)
		return -1;
	int b = first_bn[n->in[0]];
	if (b < 0 || b > v || g->node[b].at.eps != n->at.eps)
		return -1;
	return b;
}

/* Values the loss and logits need, and with `alpha` the gradients of the
 * architecture tensors: what the loss-only and the alpha-only entries run. */
static char *cone_of(const IrGraph *g, bool alpha)
{
	char *need = xcalloc((size_t)g->n, 1);
	if (g->loss >= 0)
		need[g->loss] = 1;
	if (g->logits >= 0)
		need[g->logits] = 1;
	for (int i = 0; alpha && i < g->nout; i++)
		if (is_alpha_grad(g, g->out[i].name))
			need[g->out[i].v] = 1;
	for (int v = g->n - 1; v >= 0; v--)
		if (need[v])
			for (int j = 0; j < g->node[v].nin; j++)
				need[g->node[v].in[j]] = 1;
	return need;
}

static void emit_value(Lowered *L, LEntry *e, const IrGraph *g, const int *vbuf,
		       const int *stats, const int *stats_of, const int *scratch, const int *aux,
		       int v)
{
	KernCtx k = {.p = &L->p, .entry = e, .g = g, .vbuf = vbuf, .stats = stats,
		     .stats_own = stats_of[v] == v, .scratch = scratch, .aux = aux, .v = v};
	if (kern_elem(&k) || kern_reduce(&k) || kern_conv(&k) || kern_pool(&k))
		return;
	fprintf(stderr, "nasc: internal error: no kernel for %s\n", ir_prims[g->node[v].op].name);
	abort();
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

void lower(const IrGraph *g, Lowered *L, Arena *a)
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
	layout_tensors(g, L, a);

	/* lifetimes: a value lives from its step to its last reader's; the
	 * loss, the logits and the outputs to the end */
	int end = g->n;
	int *last = xcalloc((size_t)g->n, sizeof *last);
	/* an inlined value is read where its user's kernel runs, and so are
	 * its inputs */
	int *at = xcalloc((size_t)g->n, sizeof *at), *user = xcalloc((size_t)g->n, sizeof *user);
	for (int v = 0; v < g->n; v++)
		for (int j = 0; j < g->node[v].nin; j++)
			user[g->node[v].in[j]] = v; /* an inlined value has one */
	for (int v = g->n - 1; v >= 0; v--)
		at[v] = g->node[v].inlined ? at[user[v]] : v;
	for (int v = 0; v < g->n; v++) {
		last[v] = v;
		/* zero and noise take only their input's shape */
		if (g->node[v].op == IR_ZERO || g->node[v].op == IR_NOISE)
			continue;
		for (int j = 0; j < g->node[v].nin; j++) {
			int u = g->node[v].in[j];
			last[u] = at[v] > last[u] ? at[v] : last[u];
		}
	}
	last[g->loss] = last[g->logits] = end;

	/* a max-pool gradient reads its forward pool's output, which is
	 * then kept until it runs */
	int *pool_of = xcalloc((size_t)g->n, sizeof *pool_of);
	memset(pool_of, -1, (size_t)g->n * sizeof *pool_of);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op == IR_MAX_POOL && pool_of[n->in[0]] < 0)
			pool_of[n->in[0]] = v;
	}
	int *aux_of = xcalloc((size_t)g->n, sizeof *aux_of);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		aux_of[v] = -1;
		if (n->op != IR_MAX_POOL_BWD || pool_of[n->in[0]] < 0)
			continue;
		const IrAttr *pa = &n->at, *pb = &g->node[pool_of[n->in[0]]].at;
		if (pa->kh == pb->kh && pa->kw == pb->kw && pa->stride == pb->stride && pa->pad == pb->pad) {
			aux_of[v] = pool_of[n->in[0]];
			last[aux_of[v]] = v > last[aux_of[v]] ? v : last[aux_of[v]];
		}
	}
	for (int i = 0; i < g->nout; i++)
		last[g->out[i].v] = end;

	/* batch statistics: kept from a batch norm for the bn_grads of its input */
	int *first_bn = xcalloc((size_t)g->n, sizeof *first_bn);
	int *stats_of = xcalloc((size_t)g->n, sizeof *stats_of);
	int *stats_last = xcalloc((size_t)g->n, sizeof *stats_last);
	memset(first_bn, -1, (size_t)g->n * sizeof *first_bn);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op == IR_BATCH_NORM && first_bn[n->in[0]] < 0)
			first_bn[n->in[0]] = v;
	}
	for (int v = 0; v < g->n; v++) {
		stats_of[v] = stats_source(g, v, first_bn);
		if (stats_of[v] >= 0)
			stats_last[stats_of[v]] = v;
	}

	/* the plan: one item per arena value, one per statistics buffer */
	PlanItem *items = xcalloc((size_t)g->n * 3, sizeof *items);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		bool leaf = n->op == IR_WEIGHT || n->op == IR_ALPHA || n->op == IR_INPUT ||
			    n->op == IR_LABELS || n->inlined;
		items[v] = (PlanItem){.size = leaf ? 0 : ir_numel(n->shape), .first = v, .last = last[v]};
		if (n->op == IR_BATCH_NORM && first_bn[n->in[0]] == v)
			items[g->n + v] = (PlanItem){.size = 2 * n->shape.d[1], .first = v,
						     .last = stats_last[v]};
		items[2 * g->n + v] = (PlanItem){.size = scratch_size(g, v), .first = v, .last = v};
	}
	L->p.arena_bytes = plan_arena(items, 3 * g->n, ALIGN); /* in reals until emitted */

	int *vbuf = xcalloc((size_t)g->n, sizeof *vbuf);
	int *sbuf = xcalloc((size_t)g->n, sizeof *sbuf);
	int *scratch = xcalloc((size_t)g->n, sizeof *scratch);
	int ti = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		const char *what = arena_printf(a, "%%%d %s", v, ir_prims[n->op].name);
		int64_t cnt = ir_numel(n->shape);
		switch (n->op) {
		case IR_WEIGHT:
		case IR_ALPHA:
			vbuf[v] = lp_buf(&L->p, n->name, LS_PARAMS, L->tensors[ti++].offset, cnt, false);
			break;
		case IR_INPUT:
			vbuf[v] = lp_buf(&L->p, "x", LS_X, 0, cnt, false);
			break;
		case IR_LABELS:
			vbuf[v] = lp_buf(&L->p, "y", LS_Y, 0, cnt, true);
			break;
		default:
			vbuf[v] = n->inlined ? -1 : lp_buf(&L->p, what, LS_ARENA, items[v].offset, cnt, false);
			break;
		}
		sbuf[v] = scratch[v] = -1;
		if (items[2 * g->n + v].size)
			scratch[v] = lp_buf(&L->p, arena_printf(a, "scratch of %%%d", v), LS_ARENA,
					    items[2 * g->n + v].offset, items[2 * g->n + v].size, false);
		if (items[g->n + v].size)
			sbuf[v] = lp_buf(&L->p, arena_printf(a, "statistics of %%%d", v), LS_ARENA,
					 items[g->n + v].offset, items[g->n + v].size, false);
	}
	int *stats = xcalloc((size_t)g->n, sizeof *stats), *aux = xcalloc((size_t)g->n, sizeof *aux);
	for (int v = 0; v < g->n; v++) {
		stats[v] = stats_of[v] >= 0 ? sbuf[stats_of[v]] : -1;
		aux[v] = aux_of[v] >= 0 ? vbuf[aux_of[v]] : -1;
	}
	L->loss_buf = vbuf[g->loss];
	L->logits_buf = vbuf[g->logits];

	char *cone = cone_of(g, false), *acone = cone_of(g, true);
	for (int v = 0; v < g->n; v++) {
		if ((g->node[v].nin == 0 && g->node[v].op != IR_FILL) || g->node[v].inlined)
			continue;
		emit_value(L, &L->grad, g, vbuf, stats, stats_of, scratch, aux, v);
		if (cone[v])
			emit_value(L, &L->loss, g, vbuf, stats, stats_of, scratch, aux, v);
		if (acone[v])
			emit_value(L, &L->grad_alpha, g, vbuf, stats, stats_of, scratch, aux, v);
	}
	for (int i = 0; i < g->nout; i++) {
		const char *name = g->out[i].name;
		if (strncmp(name, AD_GRAD_PREFIX, strlen(AD_GRAD_PREFIX)) != 0)
			continue;
		const LTensor *t = tensor_named(L, name + strlen(AD_GRAD_PREFIX));
		if (!t)
			continue;
		int64_t cnt = ir_numel(t->shape);
		int dst = lp_buf(&L->p, name, LS_GRADS, t->offset, cnt, false);
		emit_copy(L, &L->grad, dst, vbuf[g->out[i].v], cnt, name);
		if (t->op == IR_ALPHA)
			emit_copy(L, &L->grad_alpha, dst, vbuf[g->out[i].v], cnt, name);
	}
	free(cone);
	free(acone);
	free(at);
	free(user);
	free(last);
	free(first_bn);
	free(stats_of);
	free(stats_last);
	free(items);
	free(vbuf);
	free(sbuf);
	free(scratch);
	free(stats);
	free(aux);
	free(aux_of);
	free(pool_of);
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
