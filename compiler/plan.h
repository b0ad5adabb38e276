/* plan.h - the static memory plan: every buffer of a step at an offset in
 * one arena, chosen so that buffers alive at the same time never overlap.
 *
 * A buffer is alive from the step that writes it to the last step that
 * reads it, both included (so no kernel's output overlaps its inputs).
 * Placement is greedy by size: the largest buffers first, each at the
 * lowest offset where it fits beside those already placed whose lifetimes
 * meet its own.  Offsets are in elements, aligned to `align` elements. */
#ifndef NASC_PLAN_H
#define NASC_PLAN_H

#include <stdint.h>

typedef struct PlanItem {
	int64_t size;     /* elements; 0: needs no room */
	int first, last;  /* lifetime, in step numbers */
	int64_t offset;   /* out */
} PlanItem;

/* Place every item; returns the arena size in elements. */
int64_t plan_arena(PlanItem *items, int n, int64_t align);

#endif
