/* streams.c - a store that reads many arrays at once, split into passes.
 *
 * A fused weighted sum reads dozens of arrays in one loop: a cell's node
 * adds every candidate of every edge into it, and its tangent twice as
 * many terms.  The hardware prefetchers follow only a few streams at a
 * time; beyond them most lines arrive as demand misses, and such a loop
 * ran at a quarter of the memory bandwidth on the machines we measured
 * (38 arrays of 200704 floats: 10.7 ms in one loop, 2.6 ms in passes of
 * 4 to 6 arrays).
 *
 * So a loop whose body is one store, of a sum whose terms read more than
 * MAX_STREAMS arrays at the loop's index, becomes passes over the same
 * iterations: the first stores the first group of terms, each next one
 * adds the next group.  Long loops are cut into chunks first, each
 * chunk's passes one after the other, so the output of a chunk stays in
 * the L1 cache between its passes.  The chunks are what a parallel loop
 * shares out.
 *
 * The sum is flattened to find its terms: (a + b) + c is a, b, c, and a
 * sum times a factor that does not vary in the loop, (a + b) s, is a s,
 * b s.  That changes how the sum rounds (every build the same way), not
 * what it is. */
#include <stdlib.h>

#include "loop.h"

enum {
	MAX_STREAMS = 6,   /* arrays a pass reads at the loop's index */
	CHUNK = 2048,      /* iterations a chunk holds at most */
	MAX_TERMS = 256,
};

/* The slots a loop over var reads as streams: loads whose index varies
 * with var. */
typedef struct Streams {
	int n;
	int slot[LK_MAX_SLOTS];
} Streams;

static bool uses_var(const LExpr *e, int var)
{
	if (!e)
		return false;
	if (e->kind == LE_VAR)
		return e->var == var || uses_var(e->a, var);
	return uses_var(e->a, var) || uses_var(e->b, var) || uses_var(e->c, var);
}

static void add_stream(Streams *s, int slot)
{
	for (int i = 0; i < s->n; i++)
		if (s->slot[i] == slot)
			return;
	if (s->n < LK_MAX_SLOTS)
		s->slot[s->n++] = slot;
}

static void streams_of(const LExpr *e, int var, Streams *s)
{
	if (!e)
		return;
	if (e->kind == LE_LOAD && uses_var(e->a, var))
		add_stream(s, e->buf);
	streams_of(e->a, var, s);
	streams_of(e->b, var, s);
	streams_of(e->c, var, s);
}

static bool loads_slot(const LExpr *e, int slot)
{
	if (!e)
		return false;
	if (e->kind == LE_LOAD && e->buf == slot)
		return true;
	return loads_slot(e->a, slot) || loads_slot(e->b, slot) || loads_slot(e->c, slot);
}

/* Whether idx is var plus something that does not vary with it: then no
 * two iterations store to the same element. */
static bool unit_stride(const LExpr *idx, int var)
{
	if (idx->kind == LE_VAR)
		return idx->var == var && !idx->a;
	if (idx->kind == LE_BIN && idx->op == LO_ADD)
		return (unit_stride(idx->a, var) && !uses_var(idx->b, var)) ||
		       (unit_stride(idx->b, var) && !uses_var(idx->a, var));
	return false;
}

typedef struct Terms {
	int n;
	LExpr *t[MAX_TERMS];
} Terms;

static bool is_real_bin(const LExpr *e, LOp op)
{
	return e->kind == LE_BIN && e->op == op && e->type == LT_REAL;
}

/* Append the terms of real sum e to t; false when there are too many. */
static bool flatten(LProgram *p, LExpr *e, int var, Terms *t)
{
	if (is_real_bin(e, LO_ADD))
		return flatten(p, e->a, var, t) && flatten(p, e->b, var, t);
	if (is_real_bin(e, LO_MUL)) {
		/* a sum times a factor the loop does not change */
		bool left = !uses_var(e->b, var) && is_real_bin(e->a, LO_ADD);
		bool right = !left && !uses_var(e->a, var) && is_real_bin(e->b, LO_ADD);
		if (left || right) {
			int first = t->n;
			if (!flatten(p, left ? e->a : e->b, var, t))
				return false;
			for (int j = first; j < t->n; j++)
				t->t[j] = left ? lx_bin(p, LO_MUL, t->t[j], e->b)
					       : lx_bin(p, LO_MUL, e->a, t->t[j]);
			return true;
		}
	}
	if (t->n == MAX_TERMS)
		return false;
	t->t[t->n++] = e;
	return true;
}

/* The terms in groups, in order, each reading at most MAX_STREAMS arrays
 * (a term that alone reads more is a group of its own): the sums of the
 * groups, in g; their number. */
static int group(LProgram *p, const Terms *t, int var, LExpr **g)
{
	int ng = 0;
	Streams cur = {0};
	for (int j = 0; j < t->n; j++) {
		Streams with = cur;
		streams_of(t->t[j], var, &with);
		if (ng > 0 && with.n <= MAX_STREAMS) {
			g[ng - 1] = lx_bin(p, LO_ADD, g[ng - 1], t->t[j]);
			cur = with;
			continue;
		}
		g[ng++] = t->t[j];
		cur = (Streams){0};
		streams_of(t->t[j], var, &cur);
	}
	return ng;
}

/* The passes of loop s, over [lo, hi), for store st. */
static LStmt *passes(LProgram *p, const LStmt *s, const LStmt *st, LExpr **g, int ng, LExpr *lo,
		     LExpr *hi)
{
	LStmt *body = NULL;
	for (int k = 0; k < ng; k++) {
		LStmt *one = k == 0 && st->kind == LS_STORE ? ls_store(p, st->buf, st->idx, g[k])
							    : ls_accum(p, st->buf, st->idx, g[k]);
		body = LS_SEQ(body, ls_for(p, s->var, lo, hi, one));
	}
	return body;
}

/* Loop s split into passes, or NULL when it is not such a loop. */
static LStmt *split(LProgram *p, const LStmt *s)
{
	const LStmt *st = s->body;
	if (s->nsums || !st || st->next || (st->kind != LS_STORE && st->kind != LS_ACCUM) ||
	    st->a->type != LT_REAL || s->lo->kind != LE_INT || s->hi->kind != LE_INT ||
	    !unit_stride(st->idx, s->var) || loads_slot(st->a, st->buf))
		return NULL;
	Streams all = {0};
	streams_of(st->a, s->var, &all);
	if (all.n <= MAX_STREAMS)
		return NULL;
	Terms *t = malloc(sizeof *t);
	LExpr *g[MAX_TERMS];
	int ng = 0;
	if (t) {
		t->n = 0;
		if (flatten(p, st->a, s->var, t))
			ng = group(p, t, s->var, g);
		free(t);
	}
	if (ng < 2)
		return NULL;
	int64_t lo = s->lo->i, n = s->hi->i - lo;
	if (n <= CHUNK && !s->parallel)
		return passes(p, s, st, g, ng, s->lo, s->hi);
	/* equal chunks of a multiple of 16 iterations, the last one cut */
	int64_t nchunk = (n + CHUNK - 1) / CHUNK;
	int64_t size = ((n + nchunk - 1) / nchunk + 15) / 16 * 16;
	nchunk = (n + size - 1) / size;
	int c = lp_var(p, "c", LT_INT);
	LExpr *from = lx_addi(p, lx_muli(p, lx_var(p, c), size), lo);
	LExpr *to = lx_addi(p, lx_muli(p, lx_var(p, c), size), lo + size);
	if (n % size)
		to = lx_bin(p, LO_MIN, to, lx_int(p, lo + n));
	LStmt *body = passes(p, s, st, g, ng, from, to);
	return s->parallel ? ls_pfor(p, c, lx_int(p, 0), lx_int(p, nchunk), body)
			   : ls_for(p, c, lx_int(p, 0), lx_int(p, nchunk), body);
}

LStmt *lp_split_streams(LProgram *p, LStmt *body)
{
	LStmt *head = NULL, **link = &head, *next;
	for (LStmt *s = body; s; s = next) {
		next = s->next;
		LStmt *out = NULL;
		if (s->kind == LS_FOR && !(out = split(p, s))) {
			s->body = lp_split_streams(p, s->body);
		} else if (s->kind == LS_IF) {
			s->body = lp_split_streams(p, s->body);
			s->els = lp_split_streams(p, s->els);
		}
		*link = out ? out : s;
		while ((*link)->next && *link != s)
			link = &(*link)->next;
		link = &(*link)->next;
	}
	*link = NULL;
	return head;
}
