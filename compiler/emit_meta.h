/* emit_meta.h - the schedule and cell-type tables of a search program
 * (see emit_meta.c). */
#ifndef NASC_EMIT_META_H
#define NASC_EMIT_META_H

#include <stdio.h>

#include "lower.h"
#include "model.h"

/* s as a C literal. */
void emit_c_string(FILE *out, const char *s);

/* The definitions of `cell_types[]` (the cell types with alpha, in the
 * order of their tensors in L's table) and what they point to; returns
 * how many there are (none: nothing is written). */
int emit_meta(FILE *out, const Model *m, const Lowered *L);

/* The `.schedule = {...},` member of a NasProgram initializer. */
void emit_schedule(FILE *out, const Schedule *s);

#endif
