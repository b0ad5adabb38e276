/* fuse.c - fusion of elementwise chains (see passes.h).
 *
 * The decision is a marking: the value keeps its place in the graph, and
 * lowering builds its expression inside its user's loops instead of giving
 * it a buffer and a kernel of its own.  That saves a pass over memory and
 * the buffer; it costs recomputation, so only users that read each element
 * a bounded number of times take inline inputs, and only values with one
 * user are inlined, but for drop-path scales and a candidate's cotangent
 * on an edge, a multiply each. */
#include "passes.h"

#include <stdlib.h>

/* Most buffers an inlined expression may read, and a kernel with its
 * inline inputs; a kernel takes at most LK_MAX_SLOTS (64). */
enum { MAX_LEAVES = 24, MAX_KERNEL_LEAVES = 56 };
/* Most users a value computed again in each of them may have. */
enum { MAX_SHARED_USERS = 16 };

bool fuse_is_elementwise(IrOp op)
{
	switch (op) {
	case IR_RELU:
	case IR_SCALE:
	case IR_MUL:
	case IR_SCALE_BY:
	case IR_RSQRT:
	case IR_RELU_MASK:
	case IR_ADD:
	case IR_MIXED:
	case IR_SAMPLE_SCALE:
		return true;
	default:
		return false;
	}
}

bool fuse_reads_inline(const IrGraph *g, int v, int j)
{
	const IrNode *n = &g->node[v];
	switch (n->op) {
	case IR_RELU:
	case IR_SCALE:
	case IR_MUL:
	case IR_RSQRT:
	case IR_RELU_MASK:
	case IR_ADD:
	case IR_CHANNEL_SUM:
	case IR_GLOBAL_AVG_POOL:
	case IR_DOT:
		return true;
	case IR_SCALE_BY:
		return j == 0;
	case IR_MIXED:
		return j > 0; /* the candidates, not the weights */
	case IR_MIXED_DOT:
		return true;
	case IR_BATCH_NORM:
	case IR_BN_INFER:
	case IR_SAMPLE_SCALE:
		return j == 0;
	case IR_BN_GRAD:
		return j == 1;
	case IR_BN_GRAD_JVP:
		return j > 0;
	case IR_SAMPLE_DOT:
		return true;
	default:
		return false;
	}
}

void pass_fuse(IrGraph *g)
{
	int n = g->n > 0 ? g->n : 1;
	int *users = calloc((size_t)n, sizeof *users), *user = calloc((size_t)n, sizeof *user);
	int *slot = calloc((size_t)n, sizeof *slot), *leaves = calloc((size_t)n, sizeof *leaves);
	char *all_inline = calloc((size_t)n, 1);
	if (!users || !user || !slot || !leaves || !all_inline) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	/* a `none` candidate's zeros are never read by the mixed sums and
	 * alpha gradients, which leave them out: they need no buffer */
	char *only_mixed = calloc((size_t)n, 1);
	if (!only_mixed) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	for (int v = 0; v < g->n; v++) {
		only_mixed[v] = g->node[v].op == IR_ZERO;
		all_inline[v] = 1;
	}
	for (int v = 0; v < g->n; v++)
		for (int j = 0; j < g->node[v].nin; j++) {
			int u = g->node[v].in[j];
			users[u]++;
			user[u] = v;
			slot[u] = j;
			all_inline[u] &= fuse_reads_inline(g, v, j);
			bool skips = (g->node[v].op == IR_MIXED || g->node[v].op == IR_MIXED_DOT) && j > 0;
			if (!skips)
				only_mixed[u] = 0;
		}
	/* the program's results keep their buffers */
	if (g->loss >= 0)
		users[g->loss] += 2, only_mixed[g->loss] = all_inline[g->loss] = 0;
	if (g->logits >= 0)
		users[g->logits] += 2, only_mixed[g->logits] = all_inline[g->logits] = 0;
	for (int i = 0; i < g->nout; i++)
		users[g->out[i].v] += 2, only_mixed[g->out[i].v] = all_inline[g->out[i].v] = 0;
	for (int v = 0; v < g->n; v++) {
		IrNode *nd = &g->node[v];
		nd->inlined = false;
		leaves[v] = 1;
		/* a kernel reading too many buffers through its inline inputs
		 * gives the largest of them buffers of their own */
		for (;;) {
			int total = 0, big = -1;
			for (int j = 0; j < nd->nin; j++) {
				int u = nd->in[j];
				total += g->node[u].inlined ? leaves[u] : 1;
				if (g->node[u].inlined && (big < 0 || leaves[u] > leaves[big]))
					big = u;
			}
			if (total <= MAX_KERNEL_LEAVES || big < 0)
				break;
			g->node[big].inlined = false;
		}
		if (only_mixed[v]) {
			nd->inlined = true;
			continue;
		}
		if (!fuse_is_elementwise(nd->op))
			continue;
		/* the buffers its expression reads, inputs inlined before it included */
		int l = nd->op == IR_MIXED ? 1 : 0;
		for (int j = 0; j < nd->nin; j++)
			if (!(nd->op == IR_MIXED && j == 0))
				l += g->node[nd->in[j]].inlined ? leaves[nd->in[j]] : 1;
		leaves[v] = l;
		if (users[v] == 1 && l <= MAX_LEAVES && fuse_reads_inline(g, user[v], slot[v]))
			nd->inlined = true;
		/* a drop-path scale costs a load and a multiply: computed again
		 * in each of its users (the alpha gradient and every candidate's
		 * cotangent of its edge) rather than stored once and read back;
		 * so does a candidate's cotangent, mixed(w_k, c), which a
		 * batch norm's gradient and its tangent both read */
		if ((nd->op == IR_SAMPLE_SCALE || (nd->op == IR_MIXED && nd->nin == 2)) &&
		    users[v] > 1 && users[v] <= MAX_SHARED_USERS && all_inline[v] && l <= MAX_LEAVES)
			nd->inlined = true;
	}
	free(all_inline);
	free(only_mixed);
	free(users);
	free(user);
	free(slot);
	free(leaves);
}
