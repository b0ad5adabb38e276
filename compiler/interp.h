/* interp.h - the reference semantics of the graph IR: a graph evaluated in
 * double precision, one primitive at a time, in the most obvious loops.
 *
 * It is slow on purpose and exists for tests: it pins down what every
 * primitive computes (checked against PyTorch), and the code generators
 * and the differentiation rules are checked against it. */
#ifndef NASC_INTERP_H
#define NASC_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

typedef struct Interp {
	const IrGraph *g;
	double **val;           /* one array per value, ir_numel doubles */
	/* Fills a NOISE value; NULL: a graph with noise cannot be evaluated. */
	void (*noise)(double *out, int64_t n, int value, void *ctx);
	void *noise_ctx;
} Interp;

/* Allocate every value of g.  Returns 0, or -1 when out of memory. */
int interp_init(Interp *it, const IrGraph *g);
void interp_free(Interp *it);
/* The storage of value v: leaves (input, labels as whole numbers, weights,
 * alpha, running statistics, the drop-path mask) are written here before
 * interp_run.  interp_init sets the mask to ones (no drop-path) and the
 * running statistics to mean 0 and variance 1. */
double *interp_value(Interp *it, int v);
/* Evaluate every non-leaf value in order.  Returns 0, or -1 with a reason. */
int interp_run(Interp *it, char *err, size_t errlen);
/* After interp_run: what a training step does to the running statistics
 * (RUNNING leaves) of every batch norm of g->stat, as PyTorch does it:
 * mean <- (1-m) mean + m batch mean, var <- (1-m) var + m n/(n-1) batch
 * variance, n = N*H*W. */
void interp_update_running(Interp *it, double momentum);

#endif
