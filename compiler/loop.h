/* loop.h - the loop-level form: what the graph IR is lowered to, and what
 * the backends (emit_c.c, and an LLVM emitter) print.
 *
 * A program is a list of buffers, a list of kernels, and entry points
 * that call kernels in order on buffers.  A kernel is a tree of statements
 * (counted loops, scalar lets and assignments, small local arrays, stores,
 * conditionals, and calls to a matrix multiply and to the noise source)
 * over expressions on 64-bit integers and reals, reading and writing its
 * parameters ("slots"), which each call binds to buffers.  Every bound and
 * offset is an expression the backend sees whole, and nearly all are
 * constants: shapes are static, so a kernel is specialized to its shapes.
 * Kernels that come out the same (the same op on the same shapes, in
 * every cell and edge) are kept once: see lp_call.
 *
 * Nodes live in the program's arena and are never freed one by one. */
#ifndef NASC_LOOP_H
#define NASC_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "strmap.h"

/* int64, the program's real (float or double), double (accumulators of
 * reductions, whatever the precision), bool.  Arithmetic on a real and a
 * double is done in double; lets, sets and stores convert to their target. */
typedef enum LType { LT_INT, LT_REAL, LT_F64, LT_BOOL } LType;

/* Where a buffer lives. */
typedef enum LSpace {
	LS_ARENA,   /* the planned activation arena, at offset (bytes) */
	LS_PARAMS,  /* the parameter block, at offset (reals) */
	LS_GRADS,   /* the gradient block, at offset (reals) */
	LS_X,       /* the input batch */
	LS_Y,       /* the labels (int64) */
	LS_RUNNING, /* the running statistics of the batch norms, at offset (reals) */
	LS_DROP,    /* the drop-path mask (the run's, or ones in the arena) */
	LS_TANGENT, /* the tangent block (laid out as the parameters), at offset (reals) */
} LSpace;

typedef struct LBuf {
	const char *name;   /* for comments: the value it holds */
	LSpace space;
	int64_t offset;     /* bytes into the arena, or reals into params/grads */
	int64_t count;      /* elements */
	bool is_int;        /* int64 elements (labels), else real */
	bool blocked;       /* room for a block of tangents: instances of count
			       elements end to end (see lp_block_entry) */
	int view_of;        /* the buffer this one is a part of (lp_view), or -1 */
} LBuf;

typedef enum LOp {
	/* binary */
	LO_ADD, LO_SUB, LO_MUL, LO_DIV, LO_MIN, LO_MAX,
	LO_LT, LO_LE, LO_GT, LO_GE, LO_EQ, LO_NE, LO_AND, LO_OR,
	/* unary */
	LO_NEG, LO_SQRT, LO_EXP, LO_LOG, LO_TO_REAL,
} LOp;

typedef enum LExprKind {
	LE_INT, LE_REAL, LE_VAR, LE_LOAD, LE_BIN, LE_UN, LE_SELECT,
	LE_RUN,     /* a number the run carries (LRunField i), in double */
} LExprKind;

/* The numbers of a run (nasrt.h's NasRun) a kernel may read: the
 * batch-norm momentum (a double), and the tangents of a blocked run (an
 * int64, at least 1). */
typedef enum LRunField { LR_BN_MOMENTUM, LR_NTANGENTS } LRunField;

typedef struct LExpr LExpr;
struct LExpr {
	LExprKind kind;
	LType type;
	LOp op;
	int64_t i;          /* LE_INT; LE_RUN: the LRunField */
	double r;           /* LE_REAL */
	int var;            /* LE_VAR (a: the element, when var is a local array) */
	int buf;            /* LE_LOAD: a slot of the kernel */
	LExpr *a, *b, *c;   /* operands; LE_LOAD: a is the index */
};

typedef enum LStmtKind {
	LS_FOR,     /* for var in [lo, hi): body */
	LS_LET,     /* declare var = a; a local array: declare it, a is NULL */
	LS_SET,     /* var = a; a local array's element: var[idx] = a */
	LS_STORE,   /* buf[idx] = a */
	LS_ACCUM,   /* buf[idx] += a */
	LS_IF,      /* if (a) body else els */
	LS_GEMM,    /* C = alpha op(A) op(B) + beta C, row-major */
	LS_NOISE,   /* buf[idx .. idx+n) = fresh N(0, 1) samples, noise number `value` */
	LS_COMMENT,
} LStmtKind;

typedef struct LGemm {
	bool ta, tb;
	int64_t m, n, k;
	double alpha, beta;
	int a, b, c;            /* buffers */
	LExpr *aoff, *boff, *coff;  /* a, b, c are slots */
	int64_t lda, ldb, ldc;
} LGemm;

typedef struct LStmt LStmt;
struct LStmt {
	LStmtKind kind;
	LStmt *next;        /* statements of a block are a list */
	int var;            /* FOR, LET, SET */
	LExpr *lo, *hi;     /* FOR */
	bool parallel;      /* FOR: iterations may run on several threads */
	int unroll;         /* FOR: at most this many iterations, to be unrolled
			     * fully (so a local array indexed by the
			     * variable can live in registers); 0: the
			     * backend's choice */
	int *sums;          /* FOR: accumulators the body only adds to, which a */
	int nsums;          /* backend may split into lanes (fixed, not per run) */
	LStmt *body, *els;  /* FOR, IF */
	int buf;            /* STORE, ACCUM, NOISE: a slot */
	LExpr *idx, *a;     /* STORE, ACCUM (idx, value), LET, SET, IF (a), NOISE (idx, count) */
	LGemm *gemm;
	int value;          /* NOISE */
	const char *text;   /* COMMENT */
};

typedef struct LVarInfo {
	const char *name;
	LType type;
	int64_t len;        /* a local array of len reals in a kernel, or 0 */
} LVarInfo;

enum { LK_MAX_SLOTS = 64 };

typedef struct LKernel {
	const char *name;     /* a C identifier */
	const char *origin;   /* where its first call came from */
	LStmt *body;
	int nslot;
	bool slot_int[LK_MAX_SLOTS];     /* int64 elements */
	bool slot_written[LK_MAX_SLOTS];
	bool uses_run;        /* reads the run (noise, LE_RUN) */
	int calls;            /* how many calls share it */
	const char *key;      /* its canonical text, for sharing */
} LKernel;

typedef struct LCall {
	int kern;
	int *buf;             /* per slot */
	const char *origin;   /* spec scope and op of this use */
	bool if_running;      /* made only when the run has running statistics */
} LCall;

typedef struct LEntry {
	LCall *call;
	int ncall, cap;
} LEntry;

/* A kernel under construction: its slots so far. */
typedef struct LKBuild {
	int nslot;
	int buf[LK_MAX_SLOTS];
	bool written[LK_MAX_SLOTS];
	bool uses_run;
	bool if_running;      /* its call: see LCall */
} LKBuild;

typedef struct LProgram {
	Arena *arena;
	LBuf *buf;
	int nbuf, bufcap;
	LVarInfo *var;
	int nvar, varcap;
	LKernel *kern;
	int nkern, kerncap;
	StrMap shared;        /* key -> kernel */
	int64_t arena_bytes;
} LProgram;

void lp_init(LProgram *p, Arena *a);
int lp_buf(LProgram *p, const char *name, LSpace space, int64_t offset, int64_t count, bool is_int);
/* A buffer of count elements at element `at` of buffer `of`, in its
 * space: one kernel then serves every part (a row of the drop-path mask,
 * the mixture weights of one edge). */
int lp_view(LProgram *p, const char *name, int of, int64_t at, int64_t count);
int lp_var(LProgram *p, const char *name, LType type);
/* A local array of len reals: declared by ls_local in a kernel, read by
 * lx_elem and written by ls_set_elem.  Small, so that indexed by
 * constants (in loops that are unrolled) it can live in registers. */
int lp_array(LProgram *p, const char *name, int64_t len);

/* The slot of kernel kb that stands for buffer buf (made on first use);
 * `write` when the kernel stores to it. */
int lk_slot(LProgram *p, LKBuild *kb, int buf, bool write);
/* Finish a kernel and append a call of it to entry e: when an earlier
 * kernel has the same canonical text, that one is called instead.  name
 * is a C identifier stem, origin a comment. */
void lp_call(LProgram *p, LEntry *e, LKBuild *kb, LStmt *body, const char *name,
	     const char *origin);
/* The canonical text of a kernel body: slots and variables numbered by
 * first appearance, so equal kernels have equal keys. */
const char *lk_key(LProgram *p, const LStmt *body);

/* Expressions. */
LExpr *lx_int(LProgram *p, int64_t v);
LExpr *lx_real(LProgram *p, double v);
LExpr *lx_var(LProgram *p, int var);
LExpr *lx_elem(LProgram *p, int var, LExpr *idx);
/* A load of slot `buf`: typed real until lp_call, which knows the
 * buffer behind each slot, types it and what is built on it. */
LExpr *lx_load(LProgram *p, int buf, LExpr *idx);
LExpr *lx_bin(LProgram *p, LOp op, LExpr *a, LExpr *b);
LExpr *lx_un(LProgram *p, LOp op, LExpr *a);
LExpr *lx_select(LProgram *p, LExpr *cond, LExpr *a, LExpr *b);
/* A number of the run; the kernel must set uses_run. */
LExpr *lx_run(LProgram *p, LRunField f);
/* A prepared group's run entry e (lower.c) rewritten to apply to
 * run->ntangents tangents per call (block.c): the buffers e writes must
 * be arena buffers with room for the block (LBuf.blocked) or gradient
 * buffers, which hold one instance per tangent_stride reals, as the
 * tangent block does. */
void lp_block_entry(LProgram *p, LEntry *e, int64_t tangent_stride);
/* Kernel body `body` with every loop that stores a sum of more arrays
 * than the prefetchers follow split into passes over cache-sized chunks
 * (streams.c); lp_call applies it. */
LStmt *lp_split_streams(LProgram *p, LStmt *body);
/* Shorthands that fold constants, so generated indices stay readable. */
LExpr *lx_add(LProgram *p, LExpr *a, LExpr *b);
LExpr *lx_sub(LProgram *p, LExpr *a, LExpr *b);
LExpr *lx_mul(LProgram *p, LExpr *a, LExpr *b);
LExpr *lx_addi(LProgram *p, LExpr *a, int64_t b);
LExpr *lx_muli(LProgram *p, LExpr *a, int64_t b);

/* Statements; ls_seq chains any number of them (NULLs are skipped) and
 * returns the first. */
LStmt *ls_for(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body);
LStmt *ls_pfor(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body);
/* A loop whose body adds to the accumulators sums[0..n): their partial
 * sums may be kept in vector lanes and added up at the end.  The order is
 * the backend's choice but fixed when the code is generated, so results
 * stay reproducible. */
LStmt *ls_rfor(LProgram *p, int var, LExpr *lo, LExpr *hi, LStmt *body, int n, const int *sums);
LStmt *ls_let(LProgram *p, int var, LExpr *a);
LStmt *ls_local(LProgram *p, int var);
LStmt *ls_set_elem(LProgram *p, int var, LExpr *idx, LExpr *a);
/* Loop s (a FOR of at most n iterations) marked to be unrolled fully. */
LStmt *ls_unrolled(LStmt *s, int n);
LStmt *ls_set(LProgram *p, int var, LExpr *a);
LStmt *ls_store(LProgram *p, int buf, LExpr *idx, LExpr *a);
LStmt *ls_accum(LProgram *p, int buf, LExpr *idx, LExpr *a);
LStmt *ls_if(LProgram *p, LExpr *cond, LStmt *then, LStmt *els);
LStmt *ls_gemm(LProgram *p, const LGemm *g);
LStmt *ls_noise(LProgram *p, int buf, LExpr *idx, LExpr *count, int value);
LStmt *ls_comment(LProgram *p, const char *text);
LStmt *ls_seq(LStmt *first, ...);
#define LS_SEQ(...) ls_seq(__VA_ARGS__, (LStmt *)-1)

#endif
