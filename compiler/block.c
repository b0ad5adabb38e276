/* block.c - tangent blocking: a prepared group's run entry made to apply
 * to several tangents per call.
 *
 * The run part of a prepared group (hvp after hvp_prepare) is linear in
 * its tangent, and its kernels read two kinds of buffers: those the
 * preparation wrote, which do not depend on the tangent, and those the
 * run writes itself (and the tangent block), which do.  Given room for
 * run->ntangents instances of each buffer of the second kind, laid end to
 * end (the plan reserves it, lower.c), every kernel of the run is
 * rewritten to loop over the instances, instance t of a moving buffer at
 * t times its stride.  Where a kernel's outermost statement is a parallel
 * loop, the loop over instances goes inside it: one fork and join for all
 * the tangents, and each thread reads the prepared values of its
 * iterations once for all of them, while they are in its cache.
 * Otherwise the statement runs once per instance.  Within an instance the
 * arithmetic is the single-tangent kernel's, in the same order, so the
 * products are the same numbers as one tangent at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

typedef struct Block {
	LProgram *p;
	const int64_t *stride;  /* per slot: reals between instances, 0 when not moving */
	int t;                  /* the instance variable */
} Block;

static LExpr *shift(Block *b, int slot, LExpr *idx)
{
	if (!b->stride[slot])
		return idx;
	return lx_add(b->p, idx, lx_muli(b->p, lx_var(b->p, b->t), b->stride[slot]));
}

static LExpr *expr(Block *b, const LExpr *e)
{
	if (!e)
		return NULL;
	LExpr *c = arena_alloc(b->p->arena, sizeof *c);
	*c = *e;
	c->a = expr(b, e->a);
	c->b = expr(b, e->b);
	c->c = expr(b, e->c);
	if (e->kind == LE_LOAD)
		c->a = shift(b, e->buf, c->a);
	return c;
}

static LStmt *stmts(Block *b, const LStmt *s);

static LStmt *stmt(Block *b, const LStmt *s)
{
	LStmt *c = arena_alloc(b->p->arena, sizeof *c);
	*c = *s;
	c->next = NULL;
	c->lo = expr(b, s->lo);
	c->hi = expr(b, s->hi);
	c->a = expr(b, s->a);
	c->idx = expr(b, s->idx);
	c->body = stmts(b, s->body);
	c->els = stmts(b, s->els);
	if (s->kind == LS_STORE || s->kind == LS_ACCUM || s->kind == LS_NOISE)
		c->idx = shift(b, s->buf, c->idx);
	if (s->kind == LS_GEMM) {
		LGemm *g = arena_alloc(b->p->arena, sizeof *g);
		*g = *s->gemm;
		g->aoff = shift(b, g->a, expr(b, g->aoff));
		g->boff = shift(b, g->b, expr(b, g->boff));
		g->coff = shift(b, g->c, expr(b, g->coff));
		c->gemm = g;
	}
	return c;
}

static LStmt *stmts(Block *b, const LStmt *s)
{
	LStmt *head = NULL, **tail = &head;
	for (; s; s = s->next) {
		*tail = stmt(b, s);
		tail = &(*tail)->next;
	}
	return head;
}

/* for t in [0, run->ntangents): body */
static LStmt *each(Block *b, LStmt *body)
{
	return ls_for(b->p, b->t, lx_int(b->p, 0), lx_run(b->p, LR_NTANGENTS), body);
}

/* The kernel body s for every instance. */
static LStmt *blocked(Block *b, const LStmt *s)
{
	/* a variable set at the top carries from one statement to the next:
	 * then the whole body runs once per instance */
	for (const LStmt *x = s; x; x = x->next)
		if (x->kind == LS_LET || x->kind == LS_SET)
			return each(b, stmts(b, s));
	LStmt *head = NULL, **tail = &head;
	for (; s; s = s->next) {
		LStmt *c;
		if (s->kind == LS_COMMENT) {
			c = stmt(b, s);
		} else if (s->kind == LS_FOR && s->parallel && s->nsums == 0) {
			c = stmt(b, s);
			c->body = each(b, c->body);
		} else {
			c = each(b, stmt(b, s));
		}
		*tail = c;
		tail = &c->next;
	}
	return head;
}

static int whole_of(const LProgram *p, int buf)
{
	while (p->buf[buf].view_of >= 0)
		buf = p->buf[buf].view_of;
	return buf;
}

/* The stem a kernel was named by: its name without the leading "k<N>_". */
static const char *stem(const char *name)
{
	const char *u = strchr(name, '_');
	return u ? u + 1 : name;
}

void lp_block_entry(LProgram *p, LEntry *e, int64_t tangent_stride)
{
	LEntry out = {0};
	int t = lp_var(p, "t", LT_INT);
	/* the buffers the entry writes move with the tangent */
	bool *moves = calloc((size_t)(p->nbuf > 0 ? p->nbuf : 1), 1);
	if (!moves) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	for (int i = 0; i < e->ncall; i++) {
		const LKernel *k = &p->kern[e->call[i].kern];
		for (int j = 0; j < k->nslot; j++)
			if (k->slot_written[j])
				moves[whole_of(p, e->call[i].buf[j])] = true;
	}
	for (int i = 0; i < e->ncall; i++) {
		const LCall *call = &e->call[i];
		const LKernel *k = &p->kern[call->kern];
		int64_t stride[LK_MAX_SLOTS];
		LKBuild kb = {.nslot = k->nslot, .uses_run = true, .if_running = call->if_running};
		for (int j = 0; j < k->nslot; j++) {
			/* a view moves with the buffer it is a part of */
			int whole = whole_of(p, call->buf[j]);
			const LBuf *buf = &p->buf[whole];
			kb.buf[j] = call->buf[j];
			kb.written[j] = k->slot_written[j];
			stride[j] = 0;
			if (buf->space == LS_TANGENT || (buf->space == LS_GRADS && moves[whole]))
				stride[j] = tangent_stride;
			else if (moves[whole] && buf->space == LS_ARENA && buf->blocked)
				stride[j] = buf->count;
			else if (moves[whole]) {
				fprintf(stderr, "nasc: internal error: kernel %s writes %s, which has no "
						"room for a block of tangents\n", k->name, buf->name);
				abort();
			}
		}
		Block b = {.p = p, .stride = stride, .t = t};
		lp_call(p, &out, &kb, blocked(&b, k->body), stem(k->name), call->origin);
		p->kern[call->kern].calls--;
	}
	free(moves);
	*e = out;
}
