/* passes.h - the optimization passes over the graph IR, one file each. */
#ifndef NASC_PASSES_H
#define NASC_PASSES_H

#include "ir.h"

/* infer.c: append the eval-mode program: a copy of the forward pass with
 * every batch norm normalizing with its running statistics (bn_infer) and
 * no drop-path, recorded as the outputs INFER_LOGITS and INFER_LOSS. */
void pass_infer(IrGraph *g);
#define INFER_LOGITS "infer.logits"
#define INFER_LOSS "infer.loss"

/* dce.c: drop every value that neither the loss, the logits nor an output
 * needs, nor a running-statistics update (g->stat) reads.  Leaves stay:
 * every weight is part of the state. */
void pass_dce(IrGraph *g);

/* cse.c: merge values computed twice from the same inputs by the same
 * primitive with the same attributes (the ReLU that several candidates
 * of an edge apply to its input, for one).  Noise is never merged: each
 * is a fresh sample. */
void pass_cse(IrGraph *g);

/* fuse.c: mark the elementwise values (relu, scale, mul, add, mixed, ...)
 * that have one user which reads each of their elements a bounded number
 * of times: they get no buffer and no kernel, their expression is computed
 * inside the user's loops.  A mixed edge's weighted sum goes straight into
 * the sum of its node this way, and the cotangents a mixed edge hands its
 * candidates are read scaled where they are used.  A drop-path scale is
 * computed again in each of its users, however many. */
void pass_fuse(IrGraph *g);
/* Whether value v's kernel may read input j inline (see pass_fuse). */
bool fuse_reads_inline(const IrGraph *g, int v, int j);
/* Whether op's value can be computed inline at a flat index. */
bool fuse_is_elementwise(IrOp op);

#endif
