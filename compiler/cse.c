/* cse.c - common subexpression elimination by hash-consing (see passes.h).
 *
 * One walk in topological order: a value whose (op, inputs, attributes),
 * inputs already replaced by their representatives, equals an earlier
 * value's is replaced by it. */
#include "passes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t h, uint64_t x)
{
	h ^= x + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
	return h;
}

static uint64_t hash_node(const IrNode *n, const int *rep)
{
	uint64_t h = mix(0, (uint64_t)n->op);
	for (int j = 0; j < n->nin; j++)
		h = mix(h, (uint64_t)rep[n->in[j]]);
	const IrAttr *a = &n->at;
	h = mix(h, (uint64_t)(a->kh * 31 + a->kw) ^ ((uint64_t)a->stride << 20));
	h = mix(h, (uint64_t)a->row * 131 + (uint64_t)a->col + ((uint64_t)a->offset << 24));
	h = mix(h, (uint64_t)a->shift + ((uint64_t)a->dilation << 8) + ((uint64_t)a->groups << 16));
	for (int i = 0; i < n->shape.rank; i++)
		h = mix(h, (uint64_t)n->shape.d[i]);
	return h;
}

static bool same(const IrNode *a, const IrNode *b, const int *rep)
{
	if (a->op != b->op || a->nin != b->nin || !ir_shape_eq(a->shape, b->shape) ||
	    a->dtype != b->dtype || !ir_attr_equal(&a->at, &b->at))
		return false;
	for (int j = 0; j < a->nin; j++)
		if (rep[a->in[j]] != rep[b->in[j]])
			return false;
	return true;
}

void pass_cse(IrGraph *g)
{
	size_t cap = 16;
	while (cap < (size_t)g->n * 2)
		cap *= 2;
	int *table = malloc(cap * sizeof *table);
	int *rep = malloc((size_t)(g->n > 0 ? g->n : 1) * sizeof *rep);
	if (!table || !rep) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	memset(table, -1, cap * sizeof *table);
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		rep[v] = v;
		if (n->nin == 0 && n->op != IR_FILL)
			continue; /* leaves are distinct tensors */
		if (n->op == IR_NOISE)
			continue;
		size_t i = hash_node(n, rep) & (cap - 1);
		for (; table[i] >= 0; i = (i + 1) & (cap - 1))
			if (same(&g->node[table[i]], n, rep)) {
				rep[v] = table[i];
				break;
			}
		if (rep[v] == v)
			table[i] = v;
	}
	ir_rebuild(g, rep);
	free(table);
	free(rep);
}
