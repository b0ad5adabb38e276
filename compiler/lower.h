/* lower.h - the graph IR of a training program lowered to the loop-level
 * form (loop.h): every value gets a buffer (plan.c decides where), every
 * primitive a kernel (kern_*.c), and the program its entry points: the
 * loss and its gradient, the loss alone, the loss and the alpha gradient
 * (training mode, each updating the running statistics when the run has
 * them), the eval-mode loss, and the curvature programs. */
#ifndef NASC_LOWER_H
#define NASC_LOWER_H

#include <stdio.h>

#include "ir.h"
#include "loop.h"

/* A state tensor (a weight or an architecture tensor), or a running
 * statistic of a batch norm. */
typedef struct LTensor {
	const char *name;
	IrOp op;             /* IR_WEIGHT, IR_ALPHA or IR_RUNNING */
	IrWeightKind wkind;
	IrShape shape;
	int64_t offset;      /* in reals, into the parameter block (or the running one) */
	int64_t fan_in;
} LTensor;

/* A group run in two parts on one arena: prepare once, then run any
 * number of times with other tangents, up to `block` of them per run. */
typedef struct LPrepared {
	LEntry prepare, run;
	/* more run entries on the same preparation: hvp's along one
	 * architecture tensor alone, tensors[on_tensor[i]], writing the
	 * outputs named on_prefix[i] (ad.h) */
	LEntry *on;
	const char **on_prefix;
	int *on_tensor;
	int non;
	int block;
	int64_t arena, ones;        /* reals */
	int loss_buf, logits_buf;   /* -1: the graph has no such group */
} LPrepared;

typedef struct Lowered {
	LProgram p;
	LEntry grad;         /* loss, logits and every gradient */
	LEntry loss;         /* loss and logits */
	LEntry grad_alpha;   /* loss, logits and the gradients of the alpha tensors */
	LEntry infer;        /* eval mode: loss and logits on the running statistics */
	/* Curvature (training mode), each group with a memory plan of its own:
	 * hvp's preparation computes what the Hessian-vector products share
	 * (the forward and backward passes), its run the product with the
	 * tangent's alpha part; mixed's preparation the same and the whole
	 * gradient, its run the mixed derivative along the tangent's weight
	 * part.  loss_buf -1 when the graph has no such program. */
	LPrepared hvp, mixed;
	int loss_buf, logits_buf;
	int infer_loss_buf, infer_logits_buf; /* -1: the graph has no eval-mode program */
	LTensor *tensors;
	int ntensors;
	int64_t nparams;
	LTensor *running;    /* the RUNNING leaves, in order */
	int nrunning_tensors;
	int64_t nrunning;    /* reals of the running-statistics block */
	int64_t ndrop;       /* rows of the drop-path mask: mixed-edge instances */
	int64_t ones_offset; /* arena reals: ndrop x batch ones for a run without a mask */
	int64_t batch, in_c, in_h, in_w, classes;
	int nvalues;         /* IR values lowered */
} Lowered;

/* Lower g (after the pipeline: gradients recorded as outputs named
 * AD_GRAD_PREFIX + tensor name, the eval-mode program's as INFER_LOSS
 * and INFER_LOGITS), its Hessian-vector products blocked over up to
 * hvp_block tangents per run (1: one at a time). */
void lower(const IrGraph *g, int hvp_block, Lowered *out, Arena *a);

/* The kernels of one primitive: kern_*.c.  A value's buffer is vbuf[v]. */
typedef struct KernCtx {
	LProgram *p;
	LEntry *entry;
	const IrGraph *g;
	const int *vbuf;     /* per value: its buffer */
	const int *stats;    /* per value: the buffer of its batch statistics, or -1 */
	bool stats_own;      /* value v computes them (else they are there to read) */
	const int *scratch;  /* per value: a buffer of scratch_size() reals, or -1 */
	const int *arg;      /* per value: where each window's first maximum is, an
				int64 flat index into the input per output, or -1;
				a max_pool writes it, its max_pool_bwd and
				max_pool_select read it (lower.c) */
	int v;               /* the value being lowered */
} KernCtx;

/* Scratch room a value's kernel needs beside its output (partial sums of
 * a reduction split over threads), in reals. */
int64_t scratch_size(const IrGraph *g, int v);

#endif
