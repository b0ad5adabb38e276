/* loop.c - constructors of the loop-level form (see loop.h). */
#include "loop.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lp_init(LProgram *p, Arena *a)
{
	memset(p, 0, sizeof *p);
	p->arena = a;
	strmap_init(&p->shared, a);
}

int lp_buf(LProgram *p, const char *name, LSpace space, int64_t offset, int64_t count, bool is_int)
{
	p->buf = arena_grow(p->arena, p->buf, p->nbuf, &p->bufcap, sizeof *p->buf);
	p->buf[p->nbuf] = (LBuf){.name = name, .space = space, .offset = offset, .count = count,
				 .is_int = is_int, .view_of = -1};
	return p->nbuf++;
}

int lp_view(LProgram *p, const char *name, int of, int64_t at, int64_t count)
{
	const LBuf *b = &p->buf[of];
	int v = lp_buf(p, name, b->space, b->offset + at, count, b->is_int);
	p->buf[v].view_of = of;
	return v;
}

int lp_var(LProgram *p, const char *name, LType type)
{
	p->var = arena_grow(p->arena, p->var, p->nvar, &p->varcap, sizeof *p->var);
	p->var[p->nvar] = (LVarInfo){.name = name, .type = type};
	return p->nvar++;
}

int lp_array(LProgram *p, const char *name, int64_t len)
{
	int v = lp_var(p, name, LT_REAL);
	p->var[v].len = len;
	return v;
}

/* Whether buffers a and b are the same memory: the same buffer, or views
 * made twice of the same part of one (an inline expression read at
 * several places of a kernel makes its views at each). */
static bool same_buf(const LProgram *p, int a, int b)
{
	if (a == b)
		return true;
	const LBuf *x = &p->buf[a], *y = &p->buf[b];
	return x->view_of >= 0 && x->view_of == y->view_of && x->offset == y->offset &&
	       x->count == y->count;
}

int lk_slot(LProgram *p, LKBuild *kb, int buf, bool write)
{
	for (int i = 0; i < kb->nslot; i++)
		if (same_buf(p, kb->buf[i], buf)) {
			kb->written[i] |= write;
			return i;
		}
	if (kb->nslot == LK_MAX_SLOTS) {
		fputs("nasc: internal error: a kernel with too many buffers\n", stderr);
		abort();
	}
	kb->buf[kb->nslot] = buf;
	kb->written[kb->nslot] = write;
	return kb->nslot++;
}

/* ---- canonical text ------------------------------------------------------ */

typedef struct Text {
	char *s;
	size_t n, cap;
	/* The program variables in the order the kernel first uses them: a
	 * variable's number is its index.  A list, not an array over all of the
	 * program's variables: that one, allocated and cleared once per kernel
	 * call, made lowering quadratic in the program's size (and under
	 * AddressSanitizer, which maps each large block afresh, it took minutes
	 * for the DARTS space). */
	int *seen;
	int nseen, seencap;
	const LProgram *p;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < t->cap - t->n) {
			t->n += (size_t)k;
			return;
		}
		t->cap = t->cap * 2 + (size_t)k + 64;
		t->s = realloc(t->s, t->cap);
		if (!t->s) {
			fputs("nasc: out of memory\n", stderr);
			exit(1);
		}
	}
}

static int var_no(Text *t, int v)
{
	for (int i = 0; i < t->nseen; i++)
		if (t->seen[i] == v)
			return i;
	if (t->nseen == t->seencap) {
		t->seencap = t->seencap ? 2 * t->seencap : 16;
		t->seen = realloc(t->seen, (size_t)t->seencap * sizeof *t->seen);
		if (!t->seen) {
			fputs("nasc: out of memory\n", stderr);
			exit(1);
		}
	}
	t->seen[t->nseen] = v;
	return t->nseen++;
}

static void key_expr(Text *t, const LExpr *e)
{
	switch (e->kind) {
	case LE_INT:
		put(t, "%" PRId64, e->i);
		return;
	case LE_REAL:
		put(t, "%a", e->r);
		return;
	case LE_VAR:
		put(t, "v%d", var_no(t, e->var));
		if (e->a) {
			put(t, "[");
			key_expr(t, e->a);
			put(t, "]");
		}
		return;
	case LE_LOAD:
		put(t, "s%d[", e->buf);
		key_expr(t, e->a);
		put(t, "]");
		return;
	case LE_RUN:
		put(t, "R%" PRId64, e->i);
		return;
	case LE_BIN:
	case LE_UN:
	case LE_SELECT:
		put(t, "(%d%c", (int)e->op, e->kind == LE_SELECT ? '?' : ' ');
		key_expr(t, e->a);
		if (e->b) {
			put(t, ",");
			key_expr(t, e->b);
		}
		if (e->c) {
			put(t, ",");
			key_expr(t, e->c);
		}
		put(t, ")");
		return;
	}
}

static void key_stmts(Text *t, const LStmt *s)
{
	for (; s; s = s->next) {
		put(t, "%d%s", (int)s->kind, s->parallel ? "p" : "");
		switch (s->kind) {
		case LS_FOR:
			for (int i = 0; i < s->nsums; i++)
				put(t, "+v%d", var_no(t, s->sums[i]));
			put(t, "v%d:u%d:", var_no(t, s->var), s->unroll);
			key_expr(t, s->lo);
			put(t, ",");
			key_expr(t, s->hi);
			put(t, "{");
			key_stmts(t, s->body);
			put(t, "}");
			break;
		case LS_LET:
		case LS_SET:
			put(t, "v%d", var_no(t, s->var));
			if (s->idx) {
				put(t, "[");
				key_expr(t, s->idx);
				put(t, "]");
			}
			if (s->a) {
				put(t, "=");
				key_expr(t, s->a);
			} else {
				put(t, "[%" PRId64 "]", t->p->var[s->var].len);
			}
			break;
		case LS_STORE:
		case LS_ACCUM:
		case LS_NOISE:
			put(t, "s%d[", s->buf);
			key_expr(t, s->idx);
			put(t, "]");
			key_expr(t, s->a);
			if (s->kind == LS_NOISE)
				put(t, "#%d", s->value);
			break;
		case LS_IF:
			key_expr(t, s->a);
			put(t, "{");
			key_stmts(t, s->body);
			put(t, "}{");
			key_stmts(t, s->els);
			put(t, "}");
			break;
		case LS_GEMM: {
			const LGemm *g = s->gemm;
			put(t, "%d%d %" PRId64 " %" PRId64 " %" PRId64 " %a %a s%d s%d s%d %" PRId64
			    " %" PRId64 " %" PRId64 ":",
			    g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->beta, g->a, g->b, g->c,
			    g->lda, g->ldb, g->ldc);
			key_expr(t, g->aoff);
			put(t, ",");
			key_expr(t, g->boff);
			put(t, ",");
			key_expr(t, g->coff);
			break;
		}
		case LS_COMMENT:
			break; /* comments do not make kernels differ */
		}
		put(t, ";");
	}
}

const char *lk_key(LProgram *p, const LStmt *body)
{
	Text t = {.p = p};
	put(&t, "%s", "");
	key_stmts(&t, body);
	const char *k = arena_strndup(p->arena, t.s, t.n);
	free(t.s);
	free(t.seen);
	return k;
}

static LType bin_type(LOp op, const LExpr *a, const LExpr *b);
static LType un_type(LOp op, const LExpr *a);
static LType select_type(const LExpr *a, const LExpr *b);

/* The types of e, from its loads up: a load has the type of the buffer
 * its slot stands for, which only the kernel's slots tell (lx_load sees a
 * slot number, not a buffer). */
static void retype(const LProgram *p, const LKBuild *kb, LExpr *e)
{
	if (!e)
		return;
	retype(p, kb, e->a);
	retype(p, kb, e->b);
	retype(p, kb, e->c);
	switch (e->kind) {
	case LE_LOAD:
		e->type = p->buf[kb->buf[e->buf]].is_int ? LT_INT : LT_REAL;
		break;
	case LE_BIN:
		e->type = bin_type(e->op, e->a, e->b);
		break;
	case LE_UN:
		e->type = un_type(e->op, e->a);
		break;
	case LE_SELECT:
		e->type = select_type(e->b, e->c);
		break;
	default:
		break;
	}
}

static void retype_stmts(const LProgram *p, const LKBuild *kb, LStmt *s)
{
	for (; s; s = s->next) {
		retype(p, kb, s->lo);
		retype(p, kb, s->hi);
		retype(p, kb, s->idx);
		retype(p, kb, s->a);
		if (s->gemm) {
			retype(p, kb, s->gemm->aoff);
			retype(p, kb, s->gemm->boff);
			retype(p, kb, s->gemm->coff);
		}
		retype_stmts(p, kb, s->body);
		retype_stmts(p, kb, s->els);
	}
}

void lp_call(LProgram *p, LEntry *e, LKBuild *kb, LStmt *body, const char *name,
	     const char *origin)
{
	retype_stmts(p, kb, body);
	body = lp_split_streams(p, body);
	Text t = {0};
	put(&t, "%d|", kb->uses_run);
	for (int i = 0; i < kb->nslot; i++)
		put(&t, "%c%c", p->buf[kb->buf[i]].is_int ? 'i' : 'r', kb->written[i] ? 'w' : 'r');
	put(&t, "|%s", lk_key(p, body));
	const char *key = arena_strndup(p->arena, t.s, t.n);
	free(t.s);
	int k = strmap_get(&p->shared, key);
	if (k < 0) {
		p->kern = arena_grow(p->arena, p->kern, p->nkern, &p->kerncap, sizeof *p->kern);
		LKernel *kn = &p->kern[p->nkern];
		memset(kn, 0, sizeof *kn);
		kn->name = arena_printf(p->arena, "k%d_%s", p->nkern, name);
		kn->origin = origin;
		kn->body = body;
		kn->nslot = kb->nslot;
		for (int i = 0; i < kb->nslot; i++) {
			kn->slot_int[i] = p->buf[kb->buf[i]].is_int;
			kn->slot_written[i] = kb->written[i];
		}
		kn->uses_run = kb->uses_run;
		kn->key = key;
		k = p->nkern++;
		strmap_put(&p->shared, key, k);
	}
	p->kern[k].calls++;
	e->call = arena_grow(p->arena, e->call, e->ncall, &e->cap, sizeof *e->call);
	LCall *c = &e->call[e->ncall++];
	c->kern = k;
	c->buf = arena_array(p->arena, (size_t)(kb->nslot > 0 ? kb->nslot : 1), sizeof *c->buf);
	memcpy(c->buf, kb->buf, (size_t)kb->nslot * sizeof *c->buf);
	c->origin = origin;
	c->if_running = kb->if_running;
}

/* ---- expressions ---------------------------------------------------------- */

static LExpr *expr(LProgram *p, LExprKind k, LType t)
{
	LExpr *e = arena_alloc(p->arena, sizeof *e);
	memset(e, 0, sizeof *e);
	e->kind = k;
	e->type = t;
	return e;
}

LExpr *lx_int(LProgram *p, int64_t v)
{
	LExpr *e = expr(p, LE_INT, LT_INT);
	e->i = v;
	return e;
}

LExpr *lx_real(LProgram *p, double v)
{
	LExpr *e = expr(p, LE_REAL, LT_REAL);
	e->r = v;
	return e;
}

LExpr *lx_var(LProgram *p, int var)
{
	LExpr *e = expr(p, LE_VAR, p->var[var].type);
	e->var = var;
	return e;
}

LExpr *lx_elem(LProgram *p, int var, LExpr *idx)
{
	LExpr *e = lx_var(p, var);
	e->a = idx;
	return e;
}

LExpr *lx_load(LProgram *p, int buf, LExpr *idx)
{
	/* a real until lp_call types it by the buffer its slot stands for */
	LExpr *e = expr(p, LE_LOAD, LT_REAL);
	e->buf = buf;
	e->a = idx;
	return e;
}

static bool is_compare(LOp op)
{
	return op >= LO_LT && op <= LO_OR;
}

/* The type rules, which the constructors and lp_call's retyping share: a
 * comparison is a bool, else double wins, else the first operand's. */
static LType bin_type(LOp op, const LExpr *a, const LExpr *b)
{
	if (is_compare(op))
		return LT_BOOL;
	return a->type == LT_F64 || b->type == LT_F64 ? LT_F64 : a->type;
}

static LType un_type(LOp op, const LExpr *a)
{
	return op == LO_TO_REAL ? LT_REAL : a->type;
}

static LType select_type(const LExpr *a, const LExpr *b)
{
	return a->type == LT_F64 || b->type == LT_F64 ? LT_F64 : a->type;
}

LExpr *lx_bin(LProgram *p, LOp op, LExpr *a, LExpr *b)
{
	LExpr *e = expr(p, LE_BIN, bin_type(op, a, b));
	e->op = op;
	e->a = a;
	e->b = b;
	return e;
}

LExpr *lx_un(LProgram *p, LOp op, LExpr *a)
{
	LExpr *e = expr(p, LE_UN, un_type(op, a));
	e->op = op;
	e->a = a;
	return e;
}

LExpr *lx_select(LProgram *p, LExpr *cond, LExpr *a, LExpr *b)
{
	LExpr *e = expr(p, LE_SELECT, select_type(a, b));
	e->a = cond;
	e->b = a;
	e->c = b;
	return e;
}

LExpr *lx_run(LProgram *p, LRunField f)
{
	LExpr *e = expr(p, LE_RUN, f == LR_NTANGENTS ? LT_INT : LT_F64);
	e->i = f;
	return e;
}

static bool is_int_const(const LExpr *e, int64_t v)
{
	return e->kind == LE_INT && e->i == v;
}

LExpr *lx_add(LProgram *p, LExpr *a, LExpr *b)
{
	if (a->kind == LE_INT && b->kind == LE_INT)
		return lx_int(p, a->i + b->i);
	if (is_int_const(a, 0))
		return b;
	if (is_int_const(b, 0))
		return a;
	return lx_bin(p, LO_ADD, a, b);
}

LExpr *lx_sub(LProgram *p, LExpr *a, LExpr *b)
{
	if (a->kind == LE_INT && b->kind == LE_INT)
		return lx_int(p, a->i - b->i);
	if (is_int_const(b, 0))
		return a;
	return lx_bin(p, LO_SUB, a, b);
}

LExpr *lx_mul(LProgram *p, LExpr *a, LExpr *b)
{
	if (a->kind == LE_INT && b->kind == LE_INT)
		return lx_int(p, a->i * b->i);
	if (is_int_const(a, 1))
		return b;
	if (is_int_const(b, 1))
		return a;
	if (is_int_const(a, 0) || is_int_const(b, 0))
		return lx_int(p, 0);
	return lx_bin(p, LO_MUL, a, b);
}

LExpr *lx_addi(LProgram *p, LExpr *a, int64_t b)
{
	return lx_add(p, a, lx_int(p, b));
}

LExpr *lx_muli(LProgram *p, LExpr *a, int64_t b)
{
	return lx_mul(p, a, lx_int(p, b));
}

/* ---- statements ------------------------------------------------------------- */

static LStmt *stmt(LProgram *p, LStmtKind k)
{
	LStmt *s = arena_alloc(p->arena, sizeof *s);
	memset(s, 0, sizeof *s);
	s->kind = k;
	return s;
}

LStmt *ls_for(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body)
{
	LStmt *s = stmt(p, LS_FOR);
	s->var = var;
	s->lo = lo;
	s->hi = hi;
	s->body = body;
	return s;
}

LStmt *ls_pfor(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body)
{
	LStmt *s = ls_for(p, var, lo, hi, body);
	s->parallel = true;
	return s;
}

LStmt *ls_rfor(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body, int n, const int *sums)
{
	LStmt *s = ls_for(p, var, lo, hi, body);
	s->sums = arena_array(p->arena, (size_t)(n > 0 ? n : 1), sizeof *s->sums);
	memcpy(s->sums, sums, (size_t)n * sizeof *sums);
	s->nsums = n;
	return s;
}

LStmt *ls_let(LProgram *p, int var, LExpr *a)
{
	LStmt *s = stmt(p, LS_LET);
	s->var = var;
	s->a = a;
	return s;
}

LStmt *ls_local(LProgram *p, int var)
{
	return ls_let(p, var, NULL);
}

LStmt *ls_set_elem(LProgram *p, int var, LExpr *idx, LExpr *a)
{
	LStmt *s = ls_set(p, var, a);
	s->idx = idx;
	return s;
}

LStmt *ls_unrolled(LStmt *s, int n)
{
	s->unroll = n;
	return s;
}

LStmt *ls_set(LProgram *p, int var, LExpr *a)
{
	LStmt *s = stmt(p, LS_SET);
	s->var = var;
	s->a = a;
	return s;
}

LStmt *ls_store(LProgram *p, int buf, LExpr *idx, LExpr *a)
{
	LStmt *s = stmt(p, LS_STORE);
	s->buf = buf;
	s->idx = idx;
	s->a = a;
	return s;
}

LStmt *ls_accum(LProgram *p, int buf, LExpr *idx, LExpr *a)
{
	LStmt *s = ls_store(p, buf, idx, a);
	s->kind = LS_ACCUM;
	return s;
}

LStmt *ls_if(LProgram *p, LExpr *cond, LStmt *then, LStmt *els)
{
	LStmt *s = stmt(p, LS_IF);
	s->a = cond;
	s->body = then;
	s->els = els;
	return s;
}

LStmt *ls_gemm(LProgram *p, const LGemm *g)
{
	LStmt *s = stmt(p, LS_GEMM);
	s->gemm = arena_alloc(p->arena, sizeof *s->gemm);
	*s->gemm = *g;
	return s;
}

LStmt *ls_noise(LProgram *p, int buf, LExpr *idx, LExpr *count, int value)
{
	LStmt *s = stmt(p, LS_NOISE);
	s->buf = buf;
	s->idx = idx;
	s->a = count;
	s->value = value;
	return s;
}

LStmt *ls_comment(LProgram *p, const char *text)
{
	LStmt *s = stmt(p, LS_COMMENT);
	s->text = text;
	return s;
}

LStmt *ls_seq(LStmt *first, ...)
{
	va_list ap;
	va_start(ap, first);
	LStmt *head = NULL, *tail = NULL;
	for (LStmt *s = first; s != (LStmt *)-1; s = va_arg(ap, LStmt *)) {
		if (!s)
			continue;
		if (tail)
			tail->next = s;
		else
			head = s;
		tail = s;
		while (tail->next)
			tail = tail->next;
	}
	va_end(ap);
	return head;
}
