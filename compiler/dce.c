/* dce.c - dead value elimination (see passes.h). */
#include "passes.h"

#include <stdlib.h>

void pass_dce(IrGraph *g)
{
	int *map = calloc((size_t)(g->n > 0 ? g->n : 1), sizeof *map);
	char *live = calloc((size_t)(g->n > 0 ? g->n : 1), 1);
	if (!map || !live) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	if (g->loss >= 0)
		live[g->loss] = 1;
	if (g->logits >= 0)
		live[g->logits] = 1;
	for (int i = 0; i < g->nout; i++)
		live[g->out[i].v] = 1;
	for (int i = 0; i < g->nstat; i++)
		live[g->stat[i].bn] = 1;
	for (int v = g->n - 1; v >= 0; v--) {
		const IrNode *n = &g->node[v];
		if (n->nin == 0 && n->op != IR_FILL)
			live[v] = 1; /* inputs, weights, alphas, tangents */
		if (!live[v])
			continue;
		for (int j = 0; j < n->nin; j++)
			live[n->in[j]] = 1;
	}
	for (int v = 0; v < g->n; v++)
		map[v] = live[v] ? v : -1;
	ir_rebuild(g, map);
	free(map);
	free(live);
}
