/* plan.c - the static memory plan (see plan.h). */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const PlanItem *sort_items;

/* Larger first; ties by birth, so the plan does not depend on qsort. */
static int by_size(const void *a, const void *b)
{
	const PlanItem *x = &sort_items[*(const int *)a], *y = &sort_items[*(const int *)b];
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

static int64_t round_up(int64_t v, int64_t align)
{
	return (v + align - 1) / align * align;
}

int64_t plan_arena(PlanItem *items, int n, int64_t align)
{
	int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
	/* the items placed so far, by offset: kept sorted as they are placed,
	 * rather than sorting the live ones again for every item (that sort
	 * was most of the time nasc took on the DARTS space) */
	int *placed = malloc((size_t)(n > 0 ? n : 1) * sizeof *placed);
	if (!order || !placed) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_items = items;
	qsort(order, (size_t)n, sizeof *order, by_size);
	int nplaced = 0;
	int64_t total = 0;
	for (int oi = 0; oi < n; oi++) {
		PlanItem *it = &items[order[oi]];
		it->offset = 0;
		if (it->size == 0)
			continue;
		/* the lowest gap between live neighbours that holds it */
		int64_t at = 0;
		for (int j = 0; j < nplaced; j++) {
			const PlanItem *o = &items[placed[j]];
			if (o->first > it->last || it->first > o->last)
				continue; /* not live at the same time */
			if (o->offset >= at + it->size)
				break;
			int64_t end = round_up(o->offset + o->size, align);
			at = end > at ? end : at;
		}
		it->offset = at;
		total = at + it->size > total ? at + it->size : total;
		int lo = 0, hi = nplaced; /* after the last one at or below `at` */
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (items[placed[mid]].offset <= at)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(placed + lo + 1, placed + lo, (size_t)(nplaced - lo) * sizeof *placed);
		placed[lo] = order[oi];
		nplaced++;
	}
	free(order);
	free(placed);
	return round_up(total, align);
}
