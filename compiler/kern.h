/* kern.h - what the kernel builders (kern_*.c) share: one entry per file,
 * and shorthands for building the loop-level form.
 *
 * A builder looks at value k->v of the graph, asks for a slot per buffer
 * it touches (in, out), builds the loops, and calls finish(). */
#ifndef NASC_KERN_H
#define NASC_KERN_H

#include "lower.h"

/* Each returns false when the op is not its file's. */
bool kern_elem(KernCtx *k);
bool kern_reduce(KernCtx *k);
bool kern_conv(KernCtx *k);
bool kern_pool(KernCtx *k);
/* After batch norm k->v, whose statistics are in k->stats[k->v]: the
 * update of its running statistics (buffers mean and var), a call made
 * only when the run has them (kern_reduce.c). */
void kern_bn_running(KernCtx *k, int mean, int var);
/* Whether conv filter gradient n is built sample by sample, with the
 * scratch that needs (kern_conv.c). */
bool kern_filter_by_sample(const IrGraph *g, const IrNode *n);

/* A kernel under construction. */
typedef struct KB {
	KernCtx *k;
	LProgram *p;
	LKBuild b;
	const IrNode *n;
	/* While an inline expression is built: the sample its flat index lies
	 * in, when the kernel's loops know it, else NULL (a drop-path scale
	 * then divides the index).  Set through kb_read_in. */
	LExpr *sample;
} KB;

void kb_begin(KB *kb, KernCtx *k);
/* The slot of input j / of the output. */
int kb_in(KB *kb, int j);
int kb_out(KB *kb);
/* The slot of any buffer. */
int kb_buf(KB *kb, int buf, bool write);
/* A loop variable. */
int kb_var(KB *kb, const char *name);
int kb_rvar(KB *kb, const char *name);
/* A double accumulator, whatever the precision. */
int kb_acc(KB *kb, const char *name);
/* Append the kernel, called on this value, to the entry. */
void kb_finish(KB *kb, const char *what, LStmt *body);

/* Value u (an input of the kernel's value, or of a value inlined into it)
 * at flat index idx: a load of its buffer, or its expression when fusion
 * inlined it. */
LExpr *kb_value(KB *kb, int u, LExpr *idx);
/* Input j at flat index idx, likewise. */
LExpr *kb_read(KB *kb, int j, LExpr *idx);
/* The same, where the kernel knows idx lies in sample `sample`. */
LExpr *kb_read_in(KB *kb, int j, LExpr *idx, LExpr *sample);
LExpr *kb_value_in(KB *kb, int u, LExpr *idx, LExpr *sample);
/* An elementwise value's expression at idx (kern_elem.c). */
LExpr *kern_elem_expr(KB *kb, int v, LExpr *idx);
/* The mask entry drop-path scale v multiplies flat index idx by. */
LExpr *kern_mask_at(KB *kb, int v, LExpr *idx);

/* The shape of input j, and of the value. */
const IrShape *kb_ishape(const KB *kb, int j);

/* Elementwise helpers over the flat index: a loop over n elements, run on
 * several threads when n is large enough to pay for it. */
LStmt *kb_flat_loop(KB *kb, int var, int64_t n, LStmt *body);

/* Shorthands: they need a local `LProgram *P`. */
#define I(v) lx_int(P, (v))
#define R(v) lx_real(P, (v))
#define V(x) lx_var(P, (x))
#define ADD(a, b) lx_add(P, (a), (b))
#define SUB(a, b) lx_sub(P, (a), (b))
#define MUL(a, b) lx_mul(P, (a), (b))
#define RADD(a, b) lx_bin(P, LO_ADD, (a), (b))
#define RSUB(a, b) lx_bin(P, LO_SUB, (a), (b))
#define RMUL(a, b) lx_bin(P, LO_MUL, (a), (b))
#define RDIV(a, b) lx_bin(P, LO_DIV, (a), (b))
#define LD(s, i) lx_load(P, (s), (i))
#define DIVI(a, b) lx_bin(P, LO_DIV, (a), I(b)) /* nonnegative ints */
#define IMIN(a, b) lx_bin(P, LO_MIN, (a), (b))
#define IMAX(a, b) lx_bin(P, LO_MAX, (a), (b))
#define BIN(op, a, b) lx_bin(P, (op), (a), (b))
#define SEQ(...) LS_SEQ(__VA_ARGS__)
#define FOR(x, lo, hi, body) ls_for(P, (x), (lo), (hi), (body))
#define PFOR(x, lo, hi, body) ls_pfor(P, (x), (lo), (hi), (body))
#define RFOR(x, lo, hi, acc, body) ls_rfor(P, (x), (lo), (hi), (body), 1, &(acc))
#define STORE(s, i, a) ls_store(P, (s), (i), (a))
#define ACCUM(s, i, a) ls_accum(P, (s), (i), (a))
#define LET(x, a) ls_let(P, (x), (a))
#define SET(x, a) ls_set(P, (x), (a))
#define IF(c, t, e) ls_if(P, (c), (t), (e))

/* The geometry of a sliding window: a conv (or pool) from x to y. */
typedef struct Geo {
	IrShape x, y;       /* the forward op's input and output */
	IrAttr a;
	int64_t cig, cog;   /* channels per group, in and out */
} Geo;

/* For each tap (i, j) of g's window: f(i, j, ho range, wo range), the taps a
 * loop (one copy of the body serves every tap). */
typedef LStmt *(*TapFn)(KB *kb, const Geo *g, LExpr *i, LExpr *j, LExpr *h0, LExpr *h1,
			LExpr *w0, LExpr *w1, void *ctx);
LStmt *kb_each_tap(KB *kb, const Geo *g, TapFn f, void *ctx);
/* The input row (column) that output row ho (column wo) reads at tap i (j). */
LExpr *kb_in_row(LProgram *P, const Geo *g, int ho, LExpr *i);
LExpr *kb_in_col(LProgram *P, const Geo *g, int wo, LExpr *j);

/* [n,c,h,w] index into a shape, as an expression. */
LExpr *kb_at4(LProgram *P, const IrShape *s, LExpr *n, LExpr *c, LExpr *h, LExpr *w);

#endif
