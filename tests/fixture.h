/* fixture.h - reading the PyTorch reference fixtures of tests/reference
 * into nasc's IR and its interpreter, for the unit tests. */
#ifndef NASC_TEST_FIXTURE_H
#define NASC_TEST_FIXTURE_H

#include "interp.h"
#include "model.h"
#include "safetensors.h"

/* Read tests/reference/NAME (fails the test when it cannot). */
void fixture_read(StFile *f, const char *name);
/* Compile examples/spaces/SPACE.nas with the overrides ov (fails the test
 * when the spec does not compile); or with "NAME=VALUE" strings. */
Model *fixture_space(Arena *a, const char *space, const Override *ov, int nov);
Model *fixture_space_with(Arena *a, const char *space, const char *const *defs, int n);
/* Compile examples/spaces/SPACE.nas with the configuration recorded in the
 * fixture's metadata (C, layers, nodes, input, classes, batch; nodes only
 * when the spec has it). */
Model *fixture_compile(Arena *a, const StFile *f, const char *space);
/* Copy every leaf of it's graph from the fixture: weights and alphas by
 * name, the batch from x and y.  Returns the number of tensors copied. */
int fixture_load(Interp *it, const StFile *f);

#endif
