/* lower.h - the graph IR of a training program lowered to the loop-level
 * form (loop.h): every value gets a buffer (plan.c decides where), every
 * primitive a kernel (kern_*.c), and the program two entry points, one for
 * the loss and its gradient, one for the loss alone. */
#ifndef NASC_LOWER_H
#define NASC_LOWER_H

#include <stdio.h>

#include "ir.h"
#include "loop.h"

/* A state tensor: a weight or an architecture tensor. */
typedef struct LTensor {
	const char *name;
	IrOp op;             /* IR_WEIGHT or IR_ALPHA */
	IrWeightKind wkind;
	IrShape shape;
	int64_t offset;      /* in reals, into the parameter block */
	int64_t fan_in;
} LTensor;

typedef struct Lowered {
	LProgram p;
	LEntry grad;         /* loss, logits and every gradient */
	LEntry loss;         /* loss and logits */
	LEntry grad_alpha;   /* loss, logits and the gradients of the alpha tensors */
	int loss_buf, logits_buf;
	LTensor *tensors;
	int ntensors;
	int64_t nparams;
	int64_t batch, in_c, in_h, in_w, classes;
	int nvalues;         /* IR values lowered */
} Lowered;

/* Lower g (after the pipeline: gradients recorded as outputs named
 * AD_GRAD_PREFIX + tensor name). */
void lower(const IrGraph *g, Lowered *out, Arena *a);

/* The kernels of one primitive: kern_*.c.  A value's buffer is vbuf[v]. */
typedef struct KernCtx {
	LProgram *p;
	LEntry *entry;
	const IrGraph *g;
	const int *vbuf;     /* per value: its buffer */
	const int *stats;    /* per value: the buffer of its batch statistics, or -1 */
	bool stats_own;      /* value v computes them (else they are there to read) */
	const int *scratch;  /* per value: a buffer of scratch_size() reals, or -1 */
	const int *aux;      /* per value: a buffer of the forward pass it may reuse, or -1
				(max_pool_bwd: its max_pool's output) */
	int v;               /* the value being lowered */
} KernCtx;

/* Scratch room a value's kernel needs beside its output (partial sums of
 * a reduction split over threads), in reals. */
int64_t scratch_size(const IrGraph *g, int v);

#endif
