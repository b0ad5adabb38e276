/* cells.c - cell blocks to cell types: nodes, edges, candidate sets, the
 * stride rule and the discretization rule.
 *
 *   cell NAME [: BASE] { nodes N; ops a, b; edge F -> T [, stride=S] [: a, b];
 *                        stride S; keep K; exclude a, b; output s, s }
 *
 * A derived cell starts from its base's statements; any statement it gives
 * replaces the base's (its `edge` statements replace all of the base's). */
#include "sema.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const cell_heads[] = {
	"nodes", "ops", "edge", "stride", "keep", "exclude", "output",
};
enum { H_NODES, H_OPS, H_EDGE, H_STRIDE, H_KEEP, H_EXCLUDE, H_OUTPUT, NHEADS };

/* The statements in force for a cell, after inheritance. */
typedef struct CellStmts {
	const Stmt *one[NHEADS];    /* the single statements */
	PtrVec edges;               /* the edge statements */
} CellStmts;

/* The first cell item named `name`, if it comes before position `before`. */
static const Item *find_cell_item(Sema *s, const char *name, int before)
{
	int i = strmap_get(&s->cell_index, name);
	return i >= 0 && i < before ? s->cell_items[i] : NULL;
}

static bool collect(Sema *s, int idx, CellStmts *out, int depth)
{
	const Item *it = s->cell_items[idx];
	bool ok = true;
	memset(out, 0, sizeof *out);
	if (it->base) {
		const Item *base = find_cell_item(s, it->base, idx);
		if (!base) {
			const char *names[256];
			int n = 0;
			for (int i = 0; i < s->ncell_items && n < 256; i++)
				if (i != idx)
					names[n++] = s->cell_items[i]->name;
			if (find_cell_item(s, it->base, s->ncell_items))
				diag_error(s->d, it->base_loc,
					   "cell `%s` must be declared before `%s` can extend it",
					   it->base, it->name);
			else
				report_unknown(s, it->base_loc, "cell", it->base, names, n);
			ok = false;
		} else if (depth >= 32) {
			diag_error(s->d, it->base_loc, "cells extend each other more than 32 deep");
			ok = false;
		} else {
			int bi = strmap_get(&s->cell_index, it->base);
			ok = collect(s, bi, out, depth + 1);
		}
	}
	const Stmt *seen[NHEADS] = {0};
	bool own_edges = false;
	const char *where = arena_printf(s->a, "cell `%s`", it->name);
	for (int i = 0; i < it->body.n; i++) {
		const Stmt *st = it->body.v[i];
		int h = stmt_head(s, st, "cell setting", where, cell_heads, NHEADS, seen,
				  1u << H_EDGE, 1u << H_EDGE);
		if (h < 0) {
			ok = false;
		} else if (h == H_EDGE) {
			/* A cell's own edges replace all of its base's. */
			if (!own_edges)
				memset(&out->edges, 0, sizeof out->edges);
			own_edges = true;
			ptrvec_push(s->a, &out->edges, (void *)st);
		} else {
			out->one[h] = st;
		}
	}
	return ok;
}

/* A list of op names (ops, exclude, an edge's candidates). */
static bool op_list(Sema *s, const ArgList *args, const char ***names, Loc **locs, int *n,
		    bool must_be_op)
{
	bool ok = true;
	*names = arena_array(s->a, (size_t)args->n + 1, sizeof **names);
	*locs = arena_array(s->a, (size_t)args->n + 1, sizeof **locs);
	*n = 0;
	for (int i = 0; i < args->n; i++) {
		const Arg *a = &args->v[i];
		if (a->name || a->value->kind != E_NAME) {
			diag_error(s->d, a->name ? a->name_loc : a->value->loc,
				   "expected the name of an operation");
			ok = false;
			continue;
		}
		const char *name = a->value->u.s;
		if (must_be_op && !find_op(s, name) && !is_primitive(name) &&
		    env_lookup(&s->globals, name)) {
			diag_error(s->d, a->value->loc, "`%s` is a value, not an operation", name);
			ok = false;
			continue;
		}
		if (must_be_op && !find_op(s, name) && !is_primitive(name)) {
			const char *cands[512];
			int nc = op_names(s, cands, 512);
			report_unknown(s, a->value->loc, "operation", name, cands, nc);
			ok = false;
			continue;
		}
		for (int j = 0; j < *n; j++)
			if (strcmp((*names)[j], name) == 0) {
				diag_error(s->d, a->value->loc, "`%s` is listed twice", name);
				ok = false;
			}
		(*locs)[*n] = a->value->loc;
		(*names)[(*n)++] = name;
	}
	return ok;
}

static bool one_int(Sema *s, const Stmt *st, const char *what, int64_t min, int64_t max,
		    int64_t def, int64_t *out)
{
	if (!st) {
		*out = def;
		return true;
	}
	if (st->args.n != 1 || st->args.v[0].name) {
		diag_error(s->d, st->loc, "`%s` takes one value", st->head);
		return false;
	}
	return eval_int(s, st->args.v[0].value, &s->globals, what, min, max, out);
}

/* edge F -> T [, stride=S] [: candidates] */
static bool parse_edge(Sema *s, const Stmt *st, ModelCellType *ct, const char **dflt,
		       Loc *dflt_locs, int ndflt, ModelEdge *e)
{
	const ArgList *args = &st->args;
	const Expr *ends = args->n > 0 && !args->v[0].name ? args->v[0].value : NULL;
	if (!ends || ends->kind != E_CHAIN || ends->u.list.n != 2) {
		diag_error(s->d, ends ? ends->loc : st->loc,
			   "an edge is written `edge FROM -> TO`, as in `edge 0 -> 2`");
		return false;
	}
	int64_t from, to, stride = 0;
	int64_t nstates = 2 + (int64_t)ct->nodes;
	if (!eval_int(s, ends->u.list.v[0], &s->globals, "the edge's source state", 0,
		      nstates - 2, &from) ||
	    !eval_int(s, ends->u.list.v[1], &s->globals, "the edge's target node", 2,
		      nstates - 1, &to))
		return false;
	if (from >= to) {
		diag_error(s->d, ends->loc,
			   "edge %" PRId64 " -> %" PRId64 " must go from an earlier state to a later node",
			   from, to);
		return false;
	}
	for (int i = 1; i < args->n; i++) {
		const Arg *a = &args->v[i];
		if (!a->name || strcmp(a->name, "stride") != 0) {
			static const char *const keys[] = {"stride"};
			if (a->name)
				report_unknown(s, a->name_loc, "edge setting", a->name, keys, 1);
			else
				diag_error(s->d, a->value->loc, "an edge takes only `stride=`");
			return false;
		}
		if (!eval_int(s, a->value, &s->globals, "the edge's stride", 1, 64, &stride))
			return false;
	}
	e->from = (int)from;
	e->to = (int)to;
	e->stride = stride ? (int)stride : (from < 2 ? ct->stride : 1);
	e->loc = ends->loc;
	if (st->tail_loc.src)
		return op_list(s, &st->tail, &e->ops, &e->op_locs, &e->nops, true);
	if (!dflt) {
		diag_error(s->d, st->loc, "edge %" PRId64 " -> %" PRId64
			   " has no candidates: list them after `:`, or give the cell `ops`",
			   from, to);
		return false;
	}
	e->ops = dflt;
	e->op_locs = dflt_locs;
	e->nops = ndflt;
	return true;
}

static int cmp_edge(const void *a, const void *b)
{
	const ModelEdge *x = a, *y = b;
	return x->to != y->to ? x->to - y->to : x->from - y->from;
}

static bool build_type(Sema *s, int idx, ModelCellType *ct)
{
	const Item *it = s->cell_items[idx];
	CellStmts cs;
	bool ok = collect(s, idx, &cs, 0);
	ct->name = it->name;
	ct->loc = it->name_loc;
	ct->alpha = ct->softmax = -1;
	int64_t v;
	/* A misspelled or broken statement is reported already: what it was
	 * meant to say would only be reported missing. */
	if (!ok)
		return false;

	if (!cs.one[H_NODES]) {
		diag_error(s->d, it->name_loc, "cell `%s` needs `nodes`", it->name);
		return false;
	}
	if (!one_int(s, cs.one[H_NODES], "`nodes`", 1, SEMA_MAX_NODES, 0, &v))
		return false;
	ct->nodes = (int)v;
	if (!one_int(s, cs.one[H_STRIDE], "the cell's stride", 1, 64, 1, &v))
		return false;
	ct->stride = (int)v;

	const char **dflt = NULL;
	Loc *dflt_locs = NULL;
	int ndflt = 0;
	if (cs.one[H_OPS] && !op_list(s, &cs.one[H_OPS]->args, &dflt, &dflt_locs, &ndflt, true))
		ok = false;

	if (cs.edges.n > 0) {
		ct->edges = arena_array(s->a, (size_t)cs.edges.n, sizeof *ct->edges);
		for (int i = 0; i < cs.edges.n; i++) {
			ModelEdge e = {0};
			if (!parse_edge(s, cs.edges.v[i], ct, dflt, dflt_locs, ndflt, &e)) {
				ok = false;
				continue;
			}
			for (int j = 0; j < ct->nedges; j++)
				if (ct->edges[j].from == e.from && ct->edges[j].to == e.to) {
					diag_error(s->d, e.loc, "edge %d -> %d is given twice", e.from, e.to);
					ok = false;
				}
			ct->edges[ct->nedges++] = e;
		}
		/* Canonical order: node by node, by source state (DARTS's). */
		qsort(ct->edges, (size_t)ct->nedges, sizeof *ct->edges, cmp_edge);
	} else {
		if (!cs.one[H_OPS]) {
			diag_error(s->d, it->name_loc, "cell `%s` needs `ops` (or `edge` statements)",
				   it->name);
			return false;
		}
		/* Dense: node i (state i+2) takes an edge from every earlier state. */
		ct->nedges = ct->nodes * (ct->nodes + 3) / 2;
		ct->edges = arena_array(s->a, (size_t)ct->nedges, sizeof *ct->edges);
		int k = 0;
		for (int to = 2; to < 2 + ct->nodes; to++)
			for (int from = 0; from < to; from++) {
				ModelEdge *e = &ct->edges[k++];
				e->from = from;
				e->to = to;
				e->stride = from < 2 ? ct->stride : 1;
				e->ops = dflt;
				e->op_locs = dflt_locs;
				e->nops = ndflt;
				e->loc = cs.one[H_OPS]->loc;
			}
	}
	if (!ok)
		return false;

	int *incoming = arena_array(s->a, (size_t)ct->nodes + 2, sizeof(int));
	for (int i = 0; i < ct->nedges; i++)
		incoming[ct->edges[i].to]++;
	for (int n = 2; n < 2 + ct->nodes; n++)
		if (incoming[n] == 0) {
			diag_error(s->d, it->name_loc, "node %d of cell `%s` has no incoming edge", n,
				   it->name);
			ok = false;
		}
	ct->nops = ct->nedges ? ct->edges[0].nops : 0;
	for (int i = 1; i < ct->nedges; i++)
		if (ct->edges[i].nops != ct->nops) {
			diag_error(s->d, ct->edges[i].loc,
				   "edge %d -> %d has %d candidates but edge %d -> %d has %d; "
				   "alpha is one [edges, ops] tensor per cell",
				   ct->edges[i].from, ct->edges[i].to, ct->edges[i].nops,
				   ct->edges[0].from, ct->edges[0].to, ct->nops);
			ok = false;
			break;
		}
	if (ct->nops == 0) {
		diag_error(s->d, it->name_loc, "cell `%s` has no candidate operations", it->name);
		ok = false;
	}

	if (!one_int(s, cs.one[H_KEEP], "`keep`", 1, 1000, 2, &v))
		return false;
	ct->keep = (int)v;
	for (int n = 2; n < 2 + ct->nodes && ok; n++)
		if (incoming[n] < ct->keep) {
			diag_error(s->d, cs.one[H_KEEP] ? cs.one[H_KEEP]->args.v[0].value->loc : it->name_loc,
				   "cell `%s` keeps %d incoming edges per node, but node %d has only %d",
				   it->name, ct->keep, n, incoming[n]);
			ok = false;
		}

	if (cs.one[H_EXCLUDE]) {
		Loc *locs;
		if (!op_list(s, &cs.one[H_EXCLUDE]->args, &ct->exclude, &locs, &ct->nexclude, true))
			ok = false;
	}

	if (cs.one[H_OUTPUT]) {
		const ArgList *args = &cs.one[H_OUTPUT]->args;
		ct->outputs = arena_array(s->a, (size_t)args->n, sizeof(int));
		for (int i = 0; i < args->n; i++) {
			if (!eval_int(s, args->v[i].value, &s->globals, "an output state", 0,
				      1 + ct->nodes, &v)) {
				ok = false;
				continue;
			}
			for (int j = 0; j < ct->noutputs; j++)
				if (ct->outputs[j] == v) {
					diag_error(s->d, args->v[i].value->loc,
						   "state %" PRId64 " is listed twice", v);
					ok = false;
				}
			ct->outputs[ct->noutputs++] = (int)v;
		}
	} else {
		ct->noutputs = ct->nodes;
		ct->outputs = arena_array(s->a, (size_t)ct->nodes, sizeof(int));
		for (int i = 0; i < ct->nodes; i++)
			ct->outputs[i] = 2 + i;
	}
	return ok;
}

bool cells_run(Sema *s)
{
	Model *m = s->m;
	bool ok = true;
	m->types = arena_array(s->a, (size_t)s->ncell_items + 1, sizeof *m->types);
	for (int i = 0; i < s->ncell_items; i++) {
		const Item *it = s->cell_items[i];
		const Item *prev = find_cell_item(s, it->name, i);
		if (prev) {
			diag_error(s->d, it->name_loc, "cell `%s` is defined twice", it->name);
			diag_note(s->d, prev->name_loc, "first defined here");
			ok = false;
			continue;
		}
		if (!build_type(s, i, &m->types[m->ntypes]))
			ok = false;
		m->types[m->ntypes].name = it->name;
		strmap_put(&s->type_index, it->name, m->ntypes);
		m->ntypes++;
	}
	return ok;
}
