/* network.c - the network block, and the supernet it describes as graph IR:
 * input, stem, the cells with their mixed edges, head, loss.
 *
 *   network { input CxHxW; channels C; stem OPS; cells N, TYPE;
 *             cells TYPE, at=[i, j]; preprocess OP; head OPS }
 *
 * A cell whose stride is s (a reduction cell) divides H and W by s and
 * multiplies the channels by s.  Its inputs are the two previous cell
 * outputs, each preprocessed with stride = its resolution over the newer
 * one's. */
#include "sema.h"

#include <inttypes.h>
#include <string.h>

static const char *const net_heads[] = {
	"input", "channels", "stem", "cells", "preprocess", "head",
};
enum { N_INPUT, N_CHANNELS, N_STEM, N_CELLS, N_PREPROCESS, N_HEAD, NNET };

typedef struct Net {
	const Stmt *one[NNET];
	int64_t ncells;
	int *type_of;               /* per cell position */
	Loc *placed_at;             /* the statement that chose its type */
} Net;

static int find_type(Sema *s, const char *name)
{
	return strmap_get(&s->type_index, name);
}

static int type_arg(Sema *s, const Arg *a)
{
	if (a->name || a->value->kind != E_NAME) {
		diag_error(s->d, a->name ? a->name_loc : a->value->loc, "expected a cell name");
		return -1;
	}
	int t = find_type(s, a->value->u.s);
	if (t < 0) {
		const char *names[256];
		int n = 0;
		for (int i = 0; i < s->m->ntypes && n < 256; i++)
			names[n++] = s->m->types[i].name;
		report_unknown(s, a->value->loc, "cell", a->value->u.s, names, n);
	}
	return t;
}

/* `cells N, TYPE` sets the count and the default type; `cells TYPE, at=[..]`
 * places another type at some positions. */
static bool parse_cells(Sema *s, PtrVec *stmts, Net *net)
{
	const Stmt *count = NULL;
	bool ok = true;
	for (int i = 0; i < stmts->n; i++) {
		const Stmt *st = stmts->v[i];
		if (st->args.n == 2 && !st->args.v[1].name) {
			if (count) {
				diag_error(s->d, st->loc, "the number of cells is given twice");
				diag_note(s->d, count->loc, "first given here");
				return false;
			}
			count = st;
		}
	}
	if (!count) {
		diag_error(s->d, stmts->n ? ((const Stmt *)stmts->v[0])->loc : s->network->loc,
			   "the network needs `cells N, TYPE`: how many cells, and of which type");
		return false;
	}
	if (!eval_int(s, count->args.v[0].value, &s->globals, "the number of cells", 1,
		      SEMA_MAX_CELLS, &net->ncells))
		return false;
	int dflt = type_arg(s, &count->args.v[1]);
	if (dflt < 0)
		return false;
	net->type_of = arena_array(s->a, (size_t)net->ncells, sizeof(int));
	net->placed_at = arena_array(s->a, (size_t)net->ncells, sizeof(Loc));
	bool *placed = arena_array(s->a, (size_t)net->ncells, sizeof(bool));
	for (int64_t i = 0; i < net->ncells; i++) {
		net->type_of[i] = dflt;
		net->placed_at[i] = count->loc;
	}
	for (int i = 0; i < stmts->n; i++) {
		const Stmt *st = stmts->v[i];
		if (st == count)
			continue;
		if (st->args.n != 2 || !st->args.v[1].name || strcmp(st->args.v[1].name, "at") != 0) {
			diag_error(s->d, st->loc, "expected `cells N, TYPE` or `cells TYPE, at=[positions]`");
			ok = false;
			continue;
		}
		int t = type_arg(s, &st->args.v[0]);
		if (t < 0) {
			ok = false;
			continue;
		}
		Value at = eval(s, st->args.v[1].value, &s->globals, false);
		if (at.k == V_ERROR) {
			ok = false;
			continue;
		}
		if (at.k == V_INT) {
			Value *one = arena_alloc(s->a, sizeof *one);
			*one = at;
			at.k = V_LIST;
			at.u.list.v = one;
			at.u.list.n = 1;
		}
		if (at.k != V_LIST) {
			diag_error(s->d, st->args.v[1].value->loc, "`at` takes a list of cell positions");
			ok = false;
			continue;
		}
		for (int j = 0; j < at.u.list.n; j++) {
			Value *p = &at.u.list.v[j];
			if (p->k == V_FLOAT && p->u.f == (double)(int64_t)p->u.f) {
				p->k = V_INT;
				p->u.i = (int64_t)p->u.f;
			}
			if (p->k != V_INT) {
				diag_error(s->d, p->loc, "a cell position must be a whole number, got %s",
					   value_str(s->a, p));
				ok = false;
				continue;
			}
			if (p->u.i < 0 || p->u.i >= net->ncells) {
				diag_error(s->d, p->loc, "cell position %s is not one of 0 to %" PRId64,
					   value_str(s->a, p), net->ncells - 1);
				ok = false;
				continue;
			}
			if (placed[p->u.i]) {
				diag_error(s->d, p->loc, "cell %" PRId64 " is placed twice", p->u.i);
				ok = false;
				continue;
			}
			placed[p->u.i] = true;
			net->type_of[p->u.i] = t;
			net->placed_at[p->u.i] = p->loc;
		}
	}
	return ok;
}

static bool collect(Sema *s, Net *net, PtrVec *cells_stmts)
{
	bool ok = true;
	const Item *it = s->network;
	const Stmt *seen[NNET] = {0};
	for (int i = 0; i < it->body.n; i++) {
		const Stmt *st = it->body.v[i];
		int h = stmt_head(s, st, "network setting", "the network", net_heads, NNET, seen,
				  1u << N_CELLS, 0);
		if (h < 0) {
			ok = false;
		} else if (h == N_CELLS) {
			ptrvec_push(s->a, cells_stmts, (void *)st);
		} else if (st->args.n != 1 || st->args.v[0].name) {
			diag_error(s->d, st->loc, "`%s` takes one value", st->head);
			ok = false;
		} else {
			net->one[h] = st;
		}
	}
	for (int h = 0; h < NNET && ok; h++)
		if (h != N_CELLS && !net->one[h]) {
			diag_error(s->d, it->loc, "the network needs `%s`", net_heads[h]);
			ok = false;
		}
	return ok;
}

static const char *shape_str(Sema *s, int v)
{
	return ir_shape_str(s->a, s->m->g.node[v].shape, true);
}

/* Sum of weight elements and FLOPs of the IR nodes in [from, to). */
static void tally(const Model *m, int from, int to, int64_t *params, int64_t *flops)
{
	*params = 0;
	*flops = 0;
	for (int i = from; i < to; i++) {
		const IrNode *n = &m->g.node[i];
		if (n->op == IR_WEIGHT)
			*params += ir_numel(n->shape);
		int64_t f = ir_prims[n->op].flops(&m->g, n);
		*flops = f > INT64_MAX - *flops ? INT64_MAX : *flops + f;
	}
}

static int alpha_of(Sema *s, ModelCellType *ct)
{
	Model *m = s->m;
	if (ct->softmax >= 0)
		return ct->softmax;
	IrShape sh = {.rank = 2, .d = {ct->nedges, ct->nops}};
	ct->alpha = ir_leaf(&m->g, IR_ALPHA, sh, DT_F32,
			    arena_printf(s->a, "alpha.%s", ct->name), "alpha", ct->loc);
	ct->alpha_offset = m->alpha_size;
	m->alpha_size += ir_numel(sh);
	char why[128];
	ct->softmax = ir_add(&m->g, IR_SOFTMAX, &ct->alpha, 1, NULL, "alpha", ct->loc, why,
			     sizeof why);
	ct->used = true;
	return ct->softmax;
}

/* One cell: preprocess both inputs, then every node's mixed edges.  Each
 * mixed edge's output is scaled per sample by its row of the drop-path
 * mask; *instance counts the mixed edges of the network so far. */
static int build_cell(Sema *s, const Net *net, int ci, int p0, int p1, int64_t C, int *instance)
{
	Model *m = s->m;
	ModelCellType *ct = &m->types[net->type_of[ci]];
	const Expr *pre = net->one[N_PREPROCESS]->args.v[0].value;
	IrShape s0 = m->g.node[p0].shape, s1 = m->g.node[p1].shape;
	const char *cname = arena_printf(s->a, "cell %d (`%s`)", ci, ct->name);

	/* Input 0 is brought to input 1's resolution. */
	if (s0.d[2] % s1.d[2] != 0 || s0.d[3] % s1.d[3] != 0 ||
	    s0.d[2] / s1.d[2] != s0.d[3] / s1.d[3]) {
		diag_error(s->d, net->placed_at[ci],
			   "%s cannot bring its input 0 (%s) to the resolution of its input 1 (%s)",
			   cname, shape_str(s, p0), shape_str(s, p1));
		return -1;
	}
	if (ct->stride > 1 && (s1.d[2] % ct->stride != 0 || s1.d[3] % ct->stride != 0)) {
		diag_error(s->d, net->placed_at[ci],
			   "%s reduces its %s input by %d, but %" PRId64 "x%" PRId64
			   " does not divide by %d", cname, shape_str(s, p1), ct->stride,
			   s1.d[2], s1.d[3], ct->stride);
		return -1;
	}
	int states[2 + SEMA_MAX_NODES];
	ExpandSite site0 = {.scope = arena_printf(s->a, "cells.%d.preprocess0", ci), .C = C,
			    .stride = s0.d[2] / s1.d[2],
			    .context = arena_printf(s->a, "the preprocessing of input 0 of %s", cname)};
	ExpandSite site1 = {.scope = arena_printf(s->a, "cells.%d.preprocess1", ci), .C = C,
			    .stride = 1,
			    .context = arena_printf(s->a, "the preprocessing of input 1 of %s", cname)};
	states[0] = expand(s, pre, p0, &site0);
	states[1] = expand(s, pre, p1, &site1);
	if (states[0] < 0 || states[1] < 0)
		return -1;
	if (!ir_shape_eq(m->g.node[states[0]].shape, m->g.node[states[1]].shape)) {
		diag_error(s->d, net->one[N_PREPROCESS]->args.v[0].value->loc,
			   "the preprocessed inputs of %s disagree: %s and %s", cname,
			   shape_str(s, states[0]), shape_str(s, states[1]));
		return -1;
	}

	int w = alpha_of(s, ct);
	/* The inputs of each mixed node: the alpha weights, then the candidates. */
	int *mix_in = arena_array(s->a, (size_t)ct->nops + 1, sizeof(int));
	int *outs = mix_in + 1;
	mix_in[0] = w;
	int *sum = arena_array(s->a, (size_t)ct->nedges + 1, sizeof(int));
	for (int node = 2; node < 2 + ct->nodes; node++) {
		int nsum = 0, first_edge = -1;
		for (int e = 0; e < ct->nedges; e++) {
			const ModelEdge *edge = &ct->edges[e];
			if (edge->to != node)
				continue;
			int x = states[edge->from];
			for (int k = 0; k < ct->nops; k++) {
				Expr name_expr = {.kind = E_NAME, .loc = edge->op_locs[k], .depth = 1};
				name_expr.u.s = edge->ops[k];
				ExpandSite site = {
					.scope = arena_printf(s->a, "cells.%d.edges.%d.%s", ci, e, edge->ops[k]),
					.C = C, .stride = edge->stride,
					.context = arena_printf(s->a, "`%s` on edge %d -> %d of %s",
								edge->ops[k], edge->from, edge->to, cname),
				};
				outs[k] = expand(s, &name_expr, x, &site);
				if (outs[k] < 0)
					return -1;
				if (k > 0 && !ir_shape_eq(m->g.node[outs[k]].shape, m->g.node[outs[0]].shape)) {
					diag_error(s->d, edge->op_locs[k],
						   "candidates on edge %d -> %d of %s disagree: `%s` gives %s "
						   "but `%s` gives %s", edge->from, edge->to, cname,
						   edge->ops[0], shape_str(s, outs[0]), edge->ops[k],
						   shape_str(s, outs[k]));
					if (m->g.node[outs[k]].shape.d[1] != m->g.node[outs[0]].shape.d[1] &&
					    C % 2 != 0)
						diag_note(s->d, (Loc){0}, "C is %" PRId64
							  " here, an odd number: does an op halve it?", C);
					return -1;
				}
			}
			if (!ir_budget(s, edge->loc))
				return -1;
			char why[256];
			IrAttr at = {.row = e};
			int mixed = ir_add(&m->g, IR_MIXED, mix_in, ct->nops + 1, &at,
					   arena_printf(s->a, "cells.%d.edges.%d", ci, e), edge->loc,
					   why, sizeof why);
			if (mixed < 0) {
				diag_error(s->d, edge->loc, "%s: %s", cname, why);
				return -1;
			}
			if (!ir_budget(s, edge->loc))
				return -1;
			IrAttr drop_at = {.row = (*instance)++};
			int dropped = ir_add(&m->g, IR_SAMPLE_SCALE, (int[]){mixed, m->g.drop}, 2, &drop_at,
					     m->g.node[mixed].scope, edge->loc, why, sizeof why);
			if (dropped < 0) {
				diag_error(s->d, edge->loc, "%s: %s", cname, why);
				return -1;
			}
			if (nsum > 0 && !ir_shape_eq(m->g.node[mixed].shape, m->g.node[sum[0]].shape)) {
				const ModelEdge *fe = &ct->edges[first_edge];
				diag_error(s->d, edge->loc,
					   "edges into node %d of %s disagree: edge %d -> %d gives %s but "
					   "edge %d -> %d gives %s", node, cname, fe->from, fe->to,
					   shape_str(s, sum[0]), edge->from, edge->to, shape_str(s, mixed));
				return -1;
			}
			if (nsum == 0)
				first_edge = e;
			sum[nsum++] = dropped;
		}
		const char *scope = arena_printf(s->a, "cells.%d.nodes.%d", ci, node);
		char why[256];
		if (nsum == 1) {
			states[node] = sum[0];
		} else {
			if (!ir_budget(s, ct->loc))
				return -1;
			states[node] = ir_add(&m->g, IR_ADD, sum, nsum, NULL, scope, ct->loc, why, sizeof why);
		}
	}
	int *cat = arena_array(s->a, (size_t)ct->noutputs, sizeof(int));
	for (int i = 0; i < ct->noutputs; i++)
		cat[i] = states[ct->outputs[i]];
	char why[256];
	int out = ir_add(&m->g, IR_CONCAT, cat, ct->noutputs, NULL,
			 arena_printf(s->a, "cells.%d", ci), ct->loc, why, sizeof why);
	if (out < 0) {
		diag_error(s->d, ct->loc, "the output of %s: %s", cname, why);
		return -1;
	}
	IrShape os = m->g.node[out].shape;
	if (os.d[1] > SEMA_MAX_DIM || ir_numel(os) > SEMA_MAX_NUMEL) {
		diag_error(s->d, net->placed_at[ci], "the output of %s, %s, is too large", cname,
			   shape_str(s, out));
		return -1;
	}
	return out;
}

bool network_run(Sema *s)
{
	Model *m = s->m;
	Net net = {0};
	PtrVec cells_stmts = {0};
	if (!s->network) {
		diag_error(s->d, (Loc){0}, "%s: the spec has no `network` block", s->spec->src->name);
		return false;
	}
	if (!collect(s, &net, &cells_stmts) || !parse_cells(s, &cells_stmts, &net))
		return false;

	/* input CxHxW */
	const Expr *ie = net.one[N_INPUT]->args.v[0].value;
	Value iv = eval(s, ie, &s->globals, false);
	if (iv.k == V_ERROR)
		return false;
	if (iv.k != V_SHAPE || iv.u.shape.rank != 3) {
		diag_error(s->d, ie->loc, "the input must be a shape CxHxW, like 1x28x28");
		return false;
	}
	for (int i = 0; i < 3; i++)
		if (iv.u.shape.d[i] < 1 || iv.u.shape.d[i] > SEMA_MAX_DIM) {
			diag_error(s->d, ie->loc, "input dimension %" PRId64 " must be from 1 to %d",
				   iv.u.shape.d[i], SEMA_MAX_DIM);
			return false;
		}
	int64_t C;
	if (!eval_int(s, net.one[N_CHANNELS]->args.v[0].value, &s->globals, "`channels`", 1,
		      SEMA_MAX_DIM, &C))
		return false;
	m->channels = C;
	m->input = ir_shape4(m->sched.batch, iv.u.shape.d[0], iv.u.shape.d[1], iv.u.shape.d[2]);
	if (ir_numel(m->input) > SEMA_MAX_NUMEL) {
		diag_error(s->d, ie->loc, "a batch of %" PRId64 " %s images is too large",
			   m->sched.batch, value_str(s->a, &iv));
		return false;
	}

	IrGraph *g = &m->g;
	m->g.input = ir_leaf(g, IR_INPUT, m->input, DT_F32, NULL, "input", ie->loc);
	IrShape ls = {.rank = 1, .d = {m->sched.batch}};
	m->g.labels = ir_leaf(g, IR_LABELS, ls, DT_I64, NULL, "labels", ie->loc);
	/* the drop-path mask: a row per mixed edge of the network, in order */
	int64_t ndrop = 0;
	for (int64_t ci = 0; ci < net.ncells; ci++)
		ndrop += m->types[net.type_of[ci]].nedges;
	if (ndrop > 0) {
		IrShape ds = {.rank = 2, .d = {ndrop, m->sched.batch}};
		m->g.drop = ir_leaf(g, IR_DROP, ds, DT_F32, NULL, "drop", ie->loc);
	}

	ExpandSite stem = {.scope = "stem", .C = C, .stride = 1, .context = "the stem"};
	int x = expand(s, net.one[N_STEM]->args.v[0].value, m->g.input, &stem);
	if (x < 0)
		return false;
	if (g->node[x].shape.rank != 4) {
		diag_error(s->d, net.one[N_STEM]->args.v[0].value->loc,
			   "the stem must give images (channels x height x width), not a %s tensor",
			   ir_shape_str(s->a, g->node[x].shape, false));
		return false;
	}

	m->ncells = (int)net.ncells;
	m->cells = arena_array(s->a, (size_t)net.ncells, sizeof *m->cells);
	int p0 = x, p1 = x, instance = 0;
	for (int ci = 0; ci < m->ncells; ci++) {
		ModelCellType *ct = &m->types[net.type_of[ci]];
		int64_t cc;
		if (__builtin_mul_overflow(C, (int64_t)ct->stride, &cc) || cc > SEMA_MAX_DIM) {
			diag_error(s->d, net.placed_at[ci], "cell %d would have more than %d channels",
				   ci, SEMA_MAX_DIM);
			return false;
		}
		C = cc;
		int start = g->n;
		ModelCell *cell = &m->cells[ci];
		cell->type = net.type_of[ci];
		cell->C = C;
		cell->in0 = g->node[p0].shape;
		cell->in1 = g->node[p1].shape;
		int out = build_cell(s, &net, ci, p0, p1, C, &instance);
		if (out < 0)
			return false;
		cell->out = g->node[out].shape;
		tally(m, start, g->n, &cell->params, &cell->flops);
		p0 = p1;
		p1 = out;
	}

	ExpandSite head = {.scope = "head", .C = C, .stride = 1, .context = "the head"};
	int logits = expand(s, net.one[N_HEAD]->args.v[0].value, p1, &head);
	if (logits < 0)
		return false;
	if (g->node[logits].shape.rank != 2) {
		diag_error(s->d, net.one[N_HEAD]->args.v[0].value->loc,
			   "the head must end in [batch, classes] logits, but gives %s per image",
			   shape_str(s, logits));
		return false;
	}
	m->g.logits = logits;
	m->classes = g->node[logits].shape.d[1];
	int ce_in[2] = {logits, m->g.labels};
	char why[256];
	m->g.loss = ir_add(g, IR_CROSS_ENTROPY, ce_in, 2, NULL, "loss",
			   net.one[N_HEAD]->args.v[0].value->loc, why, sizeof why);
	if (m->g.loss < 0) {
		diag_error(s->d, net.one[N_HEAD]->loc, "the loss: %s", why);
		return false;
	}
	tally(m, 0, g->n, &m->weight_params, &m->flops);
	for (int t = 0; t < m->ntypes; t++)
		if (!m->types[t].used)
			diag_warning(s->d, m->types[t].loc, "cell `%s` is not used by the network",
				     m->types[t].name);
	return true;
}
