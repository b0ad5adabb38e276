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

/* The model's cell types with alpha, in the order of their tensors in
 * L's table, as indices into m->types; returns how many.  types has room
 * for m->ntypes. */
int meta_cell_types(const Model *m, const Lowered *L, int *types);
/* The tensor index of cell type `type`'s alpha. */
int meta_alpha_tensor(const Model *m, const Lowered *L, int type);
/* How many cells of the network are of type `type`. */
int meta_cells_of(const Model *m, int type);

/* The `.schedule = {...},` member of a NasProgram initializer. */
void emit_schedule(FILE *out, const Schedule *s);

#endif
