/* passes.h - the optimization passes over the graph IR, one file each. */
#ifndef NASC_PASSES_H
#define NASC_PASSES_H

#include "ir.h"

/* dce.c: drop every value that neither the loss, the logits nor an output
 * needs.  Leaves stay: every weight is part of the state. */
void pass_dce(IrGraph *g);

/* cse.c: merge values computed twice from the same inputs by the same
 * primitive with the same attributes (the ReLU that several candidates
 * of an edge apply to its input, for one).  Noise is never merged: each
 * is a fresh sample. */
void pass_cse(IrGraph *g);

#endif
