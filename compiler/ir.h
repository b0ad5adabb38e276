/* ir.h - the graph IR: an SSA dataflow graph of tensor primitives with
 * fully static shapes.
 *
 * Every node defines exactly one value, named by its index; a node's inputs
 * are indices of earlier nodes, so the node array is a topological order.
 * Constructors only record the graph (shape inference included); passes read
 * and rewrite it, and ir_verify checks it after each one. */
#ifndef NASC_IR_H
#define NASC_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

typedef enum IrOp {
#define X(e, name, min_in, max_in, infer, flops) IR_##e,
#include "prims.def"
#undef X
	IR_OP_COUNT
} IrOp;

typedef enum IrDtype { DT_F32, DT_I64 } IrDtype;

enum { IR_MAX_RANK = 4 };

typedef struct IrShape {
	int rank;
	int64_t d[IR_MAX_RANK];
} IrShape;

/* Attributes; each op reads the fields its row in ir.c documents. */
typedef struct IrAttr {
	int kh, kw, stride, pad, dilation, groups; /* conv2d, pools */
	bool count_pad;                            /* avg_pool */
	int shift;                                 /* shift */
	int row, col;                              /* mixed, mixed_dot: alpha row, first column;
						      sample_scale, sample_dot: the mask row */
	double scale;                              /* scale; fill: the value */
	double eps, momentum;                      /* batch_norm, bn_grad, rsqrt (eps) */
	int offset, count;                         /* slice_c, pad_c: channels */
	bool ta, tb;                               /* matmul: transpose a, b */
	IrShape shape;                             /* fill, broadcasts, backward ops: the result */
} IrAttr;

/* What a WEIGHT tensor is, which decides its initialization. */
typedef enum IrWeightKind {
	W_NONE,
	W_CONV,       /* Kaiming-uniform, as PyTorch's default */
	W_LINEAR,
	W_BIAS,       /* uniform(+-1/sqrt(fan_in)), as PyTorch's conv and linear bias */
	W_BN_GAMMA,   /* ones */
	W_BN_BETA,    /* zeros */
	W_BN_MEAN,    /* RUNNING: a running mean, zeros */
	W_BN_VAR,     /* RUNNING: a running variance, ones */
} IrWeightKind;

typedef struct IrNode {
	IrOp op;
	int *in;
	int nin;
	IrShape shape;
	IrDtype dtype;
	IrAttr at;
	IrWeightKind wkind;     /* WEIGHT, RUNNING */
	const char *name;       /* WEIGHT, ALPHA, RUNNING: the tensor's name in files */
	const char *scope;      /* where it came from, e.g. cells.3.edges.5.sep_conv_3x3 */
	Loc loc;                /* the spec text it was expanded from */
	bool inlined;           /* fuse.c: computed inside its one user's kernel */
} IrNode;

/* A value the program hands back to its caller, e.g. a gradient. */
typedef struct IrOutput {
	int v;
	const char *name;
} IrOutput;

/* A training-mode batch norm and the running statistics (two RUNNING
 * leaves) its batch statistics update whenever a program runs it with
 * running statistics.  The update is a side effect of the program, not a
 * value, so it is recorded here rather than in the dataflow. */
typedef struct IrRunStat {
	int bn, mean, var;
} IrRunStat;

typedef struct IrGraph {
	Arena *arena;
	IrNode *node;
	int n, cap;
	int input, labels, logits, loss;  /* -1 until set */
	int drop;                         /* the DROP leaf, or -1 */
	IrOutput *out;                    /* besides logits and loss */
	int nout, outcap;
	IrRunStat *stat;                  /* in the order of their batch norms */
	int nstat, statcap;
} IrGraph;

typedef struct IrPrimInfo {
	const char *name;
	int min_in, max_in;
	/* Infer the output shape from the inputs and attributes; on failure
	 * write a reason into err and return false. */
	bool (*infer)(const IrGraph *g, const IrNode *n, IrShape *out, char *err, size_t errlen);
	/* Multiply-add FLOPs (2 per multiply-add) per sample, 0 for ops that
	 * only move or scale data. */
	int64_t (*flops)(const IrGraph *g, const IrNode *n);
} IrPrimInfo;

extern const IrPrimInfo ir_prims[IR_OP_COUNT];

void ir_init(IrGraph *g, Arena *a);
/* Append a node.  Returns its index, or -1 with a reason in err when the
 * shapes do not fit together (nothing is appended then). */
int ir_add(IrGraph *g, IrOp op, const int *in, int nin, const IrAttr *at,
	   const char *scope, Loc loc, char *err, size_t errlen);
/* Like ir_add, for nodes built by passes from values that already fit:
 * a shape error here is a bug, and aborts. */
int ir_emit(IrGraph *g, IrOp op, const int *in, int nin, const IrAttr *at, const char *scope);
/* Record v as an output of the program under a name. */
void ir_output(IrGraph *g, int v, const char *name);
/* Record that batch norm bn updates the RUNNING leaves mean and var. */
void ir_running(IrGraph *g, int bn, int mean, int var);
/* A leaf of a given shape. */
int ir_leaf(IrGraph *g, IrOp op, IrShape shape, IrDtype dt, const char *name,
	    const char *scope, Loc loc);

int64_t ir_numel(IrShape s);
bool ir_shape_eq(IrShape a, IrShape b);
/* "16x28x28", without the batch dimension when skip_batch is set. */
const char *ir_shape_str(Arena *a, IrShape s, bool skip_batch);
IrShape ir_shape4(int64_t n, int64_t c, int64_t h, int64_t w);

/* Rewrite g keeping the values v with map[v] >= 0, where map[v] is the
 * (old) index of the value that replaces v: itself, or an equal value
 * before it.  Inputs, outputs and the graph's named values follow. */
void ir_rebuild(IrGraph *g, const int *map);
/* Equal attributes (every field, whichever ops read them). */
bool ir_attr_equal(const IrAttr *a, const IrAttr *b);

/* Check every invariant the passes rely on; print what is wrong to `out` and
 * return the number of problems. */
int ir_verify(const IrGraph *g, FILE *out);
/* The IR as text, one value per line. */
void ir_dump(FILE *out, const IrGraph *g);

#endif
