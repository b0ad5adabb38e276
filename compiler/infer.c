/* infer.c - the eval-mode program (see passes.h).
 *
 * Validation and test accuracy are measured in eval mode: every batch
 * norm normalizes with the running statistics training accumulated, and
 * drop-path drops nothing.  The pass appends that forward pass to the
 * graph as a copy of the training forward pass.
 *
 * It runs before cse: two batch norms that compute the same value in
 * training (the same pool and batch norm of one state on two edges) are
 * merged there, but have statistics of their own, which eval mode must
 * keep apart.  What cse merges of the copy with the training program is
 * what comes before the first batch norm: the stem's conv and the softmax
 * of each alpha. */
#include "passes.h"

#include <stdlib.h>

void pass_infer(IrGraph *g)
{
	if (g->loss < 0 || g->logits < 0)
		return;
	int n = g->n;
	/* the forward pass: what the loss and the logits need (scratch from
	 * the graph's arena, small beside the graph) */
	char *need = arena_array(g->arena, (size_t)n, 1);
	need[g->loss] = need[g->logits] = 1;
	for (int v = n - 1; v >= 0; v--)
		for (int j = 0; need[v] && j < g->node[v].nin; j++)
			need[g->node[v].in[j]] = 1;
	int *stat_of = arena_array(g->arena, (size_t)n, sizeof *stat_of);
	for (int v = 0; v < n; v++)
		stat_of[v] = -1;
	for (int i = g->nstat - 1; i >= 0; i--)
		stat_of[g->stat[i].bn] = i;

	/* map[v]: the eval-mode value standing for forward value v */
	int *map = arena_array(g->arena, (size_t)n, sizeof *map);
	for (int v = 0; v < n; v++) {
		map[v] = v;
		if (!need[v])
			continue;
		const IrNode nd = g->node[v];
		if (nd.nin == 0)
			continue; /* leaves, fills: the same in both modes */
		int *ins = arena_array(g->arena, (size_t)nd.nin, sizeof *ins);
		for (int j = 0; j < nd.nin; j++)
			ins[j] = map[nd.in[j]];
		if (nd.op == IR_SAMPLE_SCALE) {
			map[v] = ins[0];
		} else if (nd.op == IR_BATCH_NORM) {
			if (stat_of[v] < 0) {
				fprintf(stderr, "nasc: internal error: batch norm %%%d has no running "
						"statistics\n", v);
				abort();
			}
			/* x, mean, var [, gamma, beta] */
			int bin[5] = {ins[0], g->stat[stat_of[v]].mean, g->stat[stat_of[v]].var,
				      nd.nin > 1 ? ins[1] : -1, nd.nin > 2 ? ins[2] : -1};
			map[v] = ir_emit(g, IR_BN_INFER, bin, nd.nin + 2, &nd.at, nd.scope);
		} else {
			map[v] = ir_emit(g, nd.op, ins, nd.nin, &nd.at, nd.scope);
		}
	}
	ir_output(g, map[g->logits], INFER_LOGITS);
	ir_output(g, map[g->loss], INFER_LOSS);
}
