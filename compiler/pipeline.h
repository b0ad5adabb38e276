/* pipeline.h - the passes after sema, in order, with the IR verifier after
 * each one.  `nasc dump --after=PASS` stops the pipeline after PASS. */
#ifndef NASC_PIPELINE_H
#define NASC_PIPELINE_H

#include <stdio.h>

#include "ir.h"

typedef struct Pass {
	const char *name;
	const char *what;  /* one line for --help */
	void (*run)(IrGraph *g);
} Pass;

extern const Pass pipeline_passes[];
extern const int pipeline_npasses;

/* The index of the pass called name, or -1. */
int pipeline_find(const char *name);
/* Run passes 0..last on g, verifying after each.  Returns 0, or -1 after
 * printing the verifier's findings to err (a compiler bug). */
int pipeline_run(IrGraph *g, int last, FILE *err);

#endif
