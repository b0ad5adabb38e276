/* rt_genotype.c - genotypes (rt/genotype.c) read off hand-made alphas
 * whose answers were worked out by hand from the rule of DARTS's
 * genotype(): softmax per row, per node the `keep` edges whose strongest
 * non-excluded op weighs most (stable: the lower edge first on a tie),
 * the first strongest such op on each.  Cells like the DARTS space, the
 * RobustDARTS spaces S1 (an op pair per edge), S2 (no `none`) and S3,
 * none strongest everywhere, keep above a node's edge count, in f32 and
 * f64 parameter blocks; then the text, JSON and Graphviz forms, and
 * saving them into a folder (with stand-ins for Graphviz's `dot`). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "genotype.h"
#include "nasrt.h"

/* ---- hand-made programs ---- */

enum { MAXTYPES = 3, MAXEDGES = 16, MAXOPS = 8, FRONT = 3, GAP = 2 };

/* A program of up to MAXTYPES cell types.  The parameter block has a
 * weight tensor of FRONT reals in front and one of GAP reals after every
 * alpha, so no alpha starts at offset 0 and rows are found by offset. */
typedef struct Space {
	NasTensor tensors[1 + 2 * MAXTYPES];
	NasCellType types[MAXTYPES];
	NasProgram p;
	void *block;
} Space;

/* types[i] gets alpha values[i] ([nedges][nops], row-major). */
static void space_init(Space *s, int real_size, int ntypes, const NasCellType *types,
		       const double *const *values)
{
	static const char *const names[] = {"alpha.0", "alpha.1", "alpha.2"};
	memset(s, 0, sizeof *s);
	int64_t at = 0;
	int nt = 0;
	s->tensors[nt++] = (NasTensor){"stem.weight", NAS_CONV, 1, {FRONT}, FRONT, at, 1};
	at += FRONT;
	for (int i = 0; i < ntypes; i++) {
		int64_t n = (int64_t)types[i].nedges * types[i].nops;
		s->types[i] = types[i];
		s->types[i].alpha = nt;
		s->tensors[nt++] = (NasTensor){names[i], NAS_ALPHA, 2,
					       {types[i].nedges, types[i].nops}, n, at, 0};
		at += n;
		s->tensors[nt++] = (NasTensor){"bn.weight", NAS_BN_GAMMA, 1, {GAP}, GAP, at, 0};
		at += GAP;
	}
	s->p.spec = "rt_genotype";
	s->p.config = "";
	s->p.real_size = real_size;
	s->p.ntensors = nt;
	s->p.tensors = s->tensors;
	s->p.nparams = at;
	s->p.ncell_types = ntypes;
	s->p.cell_types = s->types;
	s->block = malloc((size_t)at * (size_t)real_size);
	assert_non_null(s->block);
	/* Weights far larger than any alpha: reading one as alpha shows. */
	for (int64_t k = 0; k < at; k++) {
		if (real_size == 8)
			((double *)s->block)[k] = 50 + (double)k;
		else
			((float *)s->block)[k] = 50 + (float)k;
	}
	for (int i = 0; i < ntypes; i++) {
		const NasTensor *t = &s->tensors[s->types[i].alpha];
		for (int64_t k = 0; k < t->numel; k++) {
			if (real_size == 8)
				((double *)s->block)[t->offset + k] = values[i][k];
			else
				((float *)s->block)[t->offset + k] = (float)values[i][k];
		}
	}
}

static void space_free(Space *s)
{
	free(s->block);
}

/* Every node takes an edge from every earlier state, node by node, by
 * source state, all with the same ops: DARTS's 14 edges for 4 nodes. */
static int dense_edges(NasEdge *e, int nodes, int nops, const char *const *ops)
{
	int n = 0;
	for (int node = 0; node < nodes; node++)
		for (int from = 0; from < node + 2; from++)
			e[n++] = (NasEdge){from, node + 2, 1, nops, ops};
	return n;
}

static NasCellType cell_type(const char *name, int nodes, int nedges, const NasEdge *edges,
			     int nops, int keep, int nexclude, const char *const *exclude,
			     int noutputs, const int *outputs)
{
	return (NasCellType){name, -1, nodes, nedges, edges, nops, keep, nexclude, exclude,
			     noutputs, outputs, 1};
}

/* The choices of c must be exactly the n given (op, from) pairs. */
static void expect_choices(const GenoCell *c, int n, const char *const *ops, const int *from)
{
	if (c->nchoices != n)
		fail_msg("%s: %d choices, expected %d", c->type->name, c->nchoices, n);
	for (int i = 0; i < n; i++)
		if (strcmp(c->choices[i].op, ops[i]) != 0 || c->choices[i].from != from[i])
			fail_msg("%s choice %d: (%s, %d), expected (%s, %d)", c->type->name, i,
				 c->choices[i].op, c->choices[i].from, ops[i], from[i]);
}

/* The softmax weight of column k of a row, in double, for comparing the
 * weights the code reports. */
static double softmax_at(const double *row, int nops, int k, int real_size)
{
	double sum = 0;
	for (int j = 0; j < nops; j++) {
		double v = real_size == 8 ? row[j] : (double)(float)row[j];
		sum += exp(v);
	}
	return exp(real_size == 8 ? row[k] : (double)(float)row[k]) / sum;
}

/* ---- the DARTS space ---- */

static const char *const darts_ops[] = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
					"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
					"dil_conv_5x5"};
enum { NONE, MAX3, AVG3, SKIP, SEP3, SEP5, DIL3, DIL5 };
static const char *const exclude_none[] = {"none"};
static const int outputs_2345[] = {2, 3, 4, 5};

typedef struct Set {
	int edge, op;
	double v;
} Set;

/* A [14][8] alpha: `base` everywhere, then the given entries. */
static void darts_alpha(double *a, double base, const Set *set, int nset)
{
	for (int i = 0; i < 14 * 8; i++)
		a[i] = base;
	for (int i = 0; i < nset; i++)
		a[set[i].edge * 8 + set[i].op] = set[i].v;
}

/* Normal, worked by hand (w: the best non-none weight of each edge):
 * node 0: e0 sep3 w=e/(e+7)=.280, e1 skip e^2/(e^2+7)=.514 -> e1, e0.
 * node 1: e2 max .191, e3 dil3 .390, e4 avg .280 -> e3, e4.
 * node 2: e5 sep5 = dil5 = 2.0 (a tie in the row: sep5, the first) with
 *         w=e^2/(2e^2+6)=.356; e6 skip .322; e7 sep3 at 1.9, below e5's
 *         2.0 as an alpha but e^1.9/(e^1.9+7)=.489 as a weight; e8 .125
 *         -> e7, e5: ranked by softmax weight, not by raw alpha.
 * node 3: e9 none=4 is the largest entry, its best counted op skip weighs
 *         .018; e10, e12, e13 are the same row (sep3 .7, w=.223), a
 *         three-way tie -> e10 and e12, the lower indices; e11 .125. */
static const Set darts_normal[] = {
	{0, SEP3, 1.0}, {1, SKIP, 2.0}, {2, MAX3, 0.5}, {3, DIL3, 1.5}, {4, AVG3, 1.0},
	{5, SEP5, 2.0}, {5, DIL5, 2.0}, {6, SKIP, 1.2}, {7, SEP3, 1.9}, {9, NONE, 4.0},
	{9, SKIP, 0.1}, {10, SEP3, 0.7}, {12, SEP3, 0.7}, {13, SEP3, 0.7},
};
static const char *const darts_normal_ops[] = {"skip_connect", "sep_conv_3x3", "dil_conv_3x3",
					       "avg_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
					       "sep_conv_3x3", "sep_conv_3x3"};
static const int darts_normal_from[] = {1, 0, 1, 2, 2, 0, 1, 3};

/* Reduce: none = 3 on every edge, the largest weight everywhere, one op
 * raised per edge; the ranking follows the raised values. */
static const Set darts_reduce[] = {
	{0, SKIP, 0.2}, {1, MAX3, 0.4}, {2, AVG3, 0.3}, {3, SEP5, 0.1}, {4, DIL3, 0.5},
	{5, SEP3, 0.6}, {6, DIL5, 0.2}, {7, SKIP, 0.7}, {8, MAX3, 0.1}, {9, DIL3, 0.1},
	{10, AVG3, 0.2}, {11, SEP5, 0.9}, {12, SEP3, 0.3}, {13, SKIP, 0.8},
};
static const char *const darts_reduce_ops[] = {"max_pool_3x3", "skip_connect", "dil_conv_3x3",
					       "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
					       "sep_conv_5x5", "skip_connect"};
static const int darts_reduce_from[] = {1, 0, 2, 0, 2, 0, 2, 4};

static const char darts_text[] =
	"Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
	"('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), "
	"('sep_conv_3x3', 3)], normal_concat=[2, 3, 4, 5], "
	"reduce=[('max_pool_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2), "
	"('avg_pool_3x3', 0), ('skip_connect', 2), ('sep_conv_3x3', 0), ('sep_conv_5x5', 2), "
	"('skip_connect', 4)], reduce_concat=[2, 3, 4, 5])";

/* The DARTS space's two cell types with the alphas above. */
typedef struct Darts {
	NasEdge edges[14];
	double normal[14 * 8], reduce[14 * 8];
	Space s;
	Genotype g;
} Darts;

static void darts_init(Darts *d, int real_size, int ntypes)
{
	int n = dense_edges(d->edges, 4, 8, darts_ops);
	NasCellType t[2] = {
		cell_type("normal", 4, n, d->edges, 8, 2, 1, exclude_none, 4, outputs_2345),
		cell_type("reduce", 4, n, d->edges, 8, 2, 1, exclude_none, 4, outputs_2345),
	};
	darts_alpha(d->normal, 0, darts_normal, sizeof darts_normal / sizeof darts_normal[0]);
	darts_alpha(d->reduce, 0, darts_reduce, sizeof darts_reduce / sizeof darts_reduce[0]);
	for (int e = 0; e < 14; e++)
		d->reduce[e * 8 + NONE] = 3;
	const double *v[2] = {d->normal, d->reduce};
	space_init(&d->s, real_size, ntypes, t, v);
	assert_int_equal(genotype_derive(&d->s.p, d->s.block, &d->g), 0);
}

static void darts_free(Darts *d)
{
	genotype_free(&d->g);
	assert_int_equal(d->g.ncells, 0);
	assert_null(d->g.cells);
	space_free(&d->s);
}

static void darts_space(int real_size)
{
	Darts d;
	darts_init(&d, real_size, 2);
	assert_int_equal(d.g.ncells, 2);
	assert_ptr_equal(d.g.cells[0].type, &d.s.types[0]);
	expect_choices(&d.g.cells[0], 8, darts_normal_ops, darts_normal_from);
	expect_choices(&d.g.cells[1], 8, darts_reduce_ops, darts_reduce_from);
	/* Edges and weights: node 0's e1 then e0, node 2's e7 then e5. */
	static const int edge[] = {1, 0, 3, 4, 7, 5, 10, 12};
	static const int col[] = {SKIP, SEP3, DIL3, AVG3, SEP3, SEP5, SEP3, SEP3};
	double tol = real_size == 8 ? 1e-15 : 1e-7;
	for (int i = 0; i < 8; i++) {
		const GenoChoice *ch = &d.g.cells[0].choices[i];
		assert_int_equal(ch->edge, edge[i]);
		double w = softmax_at(&d.normal[edge[i] * 8], 8, col[i], real_size);
		if (!(fabs(ch->weight - w) <= tol))
			fail_msg("f%d choice %d: weight %.17g, expected %.17g", real_size * 8, i,
				 ch->weight, w);
	}
	darts_free(&d);
}

static void test_darts_f32(void **state)
{
	(void)state;
	darts_space(4);
}

static void test_darts_f64(void **state)
{
	(void)state;
	darts_space(8);
}

/* All alphas equal: every op ties with none, every edge with every other
 * of its node, so the first non-none op (max_pool_3x3) on the two lowest
 * edges of each node; the same when none outweighs everything else. */
static void none_never_chosen(double none, int real_size)
{
	Darts d;
	NasEdge edges[14];
	int n = dense_edges(edges, 4, 8, darts_ops);
	NasCellType t = cell_type("normal", 4, n, edges, 8, 2, 1, exclude_none, 4, outputs_2345);
	double a[14 * 8];
	darts_alpha(a, 0, NULL, 0);
	for (int e = 0; e < 14; e++)
		a[e * 8 + NONE] = none;
	const double *v[1] = {a};
	space_init(&d.s, real_size, 1, &t, v);
	assert_int_equal(genotype_derive(&d.s.p, d.s.block, &d.g), 0);
	static const char *const ops[] = {"max_pool_3x3", "max_pool_3x3", "max_pool_3x3",
					  "max_pool_3x3", "max_pool_3x3", "max_pool_3x3",
					  "max_pool_3x3", "max_pool_3x3"};
	static const int from[] = {0, 1, 0, 1, 0, 1, 0, 1};
	expect_choices(&d.g.cells[0], 8, ops, from);
	darts_free(&d);
}

static void test_all_equal(void **state)
{
	(void)state;
	none_never_chosen(0, 4);
	none_never_chosen(0, 8);
}

static void test_none_strongest_everywhere(void **state)
{
	(void)state;
	none_never_chosen(6, 4);
	none_never_chosen(6, 8);
	none_never_chosen(40, 8);
}

/* ---- RobustDARTS spaces on two nodes (5 edges) ---- */

static const int outputs_23[] = {2, 3};

/* One cell type of 2 dense nodes, keep 2, alpha a, derived. */
static void small_space(Space *s, Genotype *g, NasEdge *edges, int nops,
			const char *const *ops, int nexclude, const char *const *exclude,
			const double *a, int real_size)
{
	int n = dense_edges(edges, 2, nops, ops);
	NasCellType t = cell_type("normal", 2, n, edges, nops, 2, nexclude, exclude, 2,
				  outputs_23);
	const double *v[1] = {a};
	space_init(s, real_size, 1, &t, v);
	assert_int_equal(genotype_derive(&s->p, s->block, g), 0);
}

/* The same, whose genotype must be the 4 given choices. */
static void small_case(int nops, const char *const *ops, int nexclude,
		       const char *const *exclude, const double *a, int real_size,
		       const char *const *want_ops, const int *want_from)
{
	Space s;
	Genotype g;
	NasEdge edges[5];
	small_space(&s, &g, edges, nops, ops, nexclude, exclude, a, real_size);
	expect_choices(&g.cells[0], 4, want_ops, want_from);
	genotype_free(&g);
	space_free(&s);
}

/* S2, {skip_connect, sep_conv_3x3}: `exclude none` names an op no edge
 * has, so every op counts.
 * node 0: e0 skip sigma(.5)=.622, e1 sep sigma(1)=.731 -> e1, e0.
 * node 1: e2 a tie in the row -> skip .5; e3 sep .731; e4 skip .550
 *         -> e3, e4. */
static const char *const s2_ops[] = {"skip_connect", "sep_conv_3x3"};
static const double s2_alpha[] = {0.5, 0, 0, 1, 0, 0, -1, 0, 0.2, 0};

static void s2_space(int nexclude, const char *const *exclude, int real_size)
{
	static const char *const ops[] = {"sep_conv_3x3", "skip_connect", "sep_conv_3x3",
					  "skip_connect"};
	static const int from[] = {1, 0, 1, 2};
	small_case(2, s2_ops, nexclude, exclude, s2_alpha, real_size, ops, from);
}

static void test_s2(void **state)
{
	(void)state;
	s2_space(1, exclude_none, 4);
	s2_space(1, exclude_none, 8);
	s2_space(0, NULL, 8);
}

/* Excluding every op of an edge is ignored on that edge: the same
 * genotype as excluding nothing. */
static void test_exclude_everything(void **state)
{
	(void)state;
	static const char *const all[] = {"sep_conv_3x3", "none", "skip_connect"};
	s2_space(3, all, 4);
	s2_space(3, all, 8);
}

/* Excluding one of the two ops of S2 leaves sep_conv_3x3 on every edge:
 * node 0: e0 sigma(-.5)=.378, e1 .731 -> e1, e0; node 1: e2 .5, e3 .731,
 * e4 sigma(-.2)=.450 -> e3, e2. */
static void test_exclude_one_of_two(void **state)
{
	(void)state;
	static const char *const skip[] = {"skip_connect"};
	static const char *const ops[] = {"sep_conv_3x3", "sep_conv_3x3", "sep_conv_3x3",
					  "sep_conv_3x3"};
	static const int from[] = {1, 0, 1, 0};
	small_case(2, s2_ops, 1, skip, s2_alpha, 4, ops, from);
	small_case(2, s2_ops, 1, skip, s2_alpha, 8, ops, from);
}

/* S3, {none, skip_connect, sep_conv_3x3}, exclude none:
 * node 0: e0 none=2, skip e^.5/(e^2+e^.5+1)=.164; e1 sep
 *         e^.4/(e^2+1+e^.4)=.151 -> e0, e1.
 * node 1: e2 all equal -> skip 1/3; e3 skip = sep (tie: skip) .498;
 *         e4 sep .378 -> e3, e4. */
static void s3_space(int real_size)
{
	static const char *const s3_ops[] = {"none", "skip_connect", "sep_conv_3x3"};
	static const double a[] = {2, 0.5, 0, 2, 0, 0.4, 0, 0, 0, -5, 0.1, 0.1, 0, 0.2, 0.3};
	static const char *const ops[] = {"skip_connect", "sep_conv_3x3", "skip_connect",
					  "sep_conv_3x3"};
	static const int from[] = {0, 1, 1, 2};
	small_case(3, s3_ops, 1, exclude_none, a, real_size, ops, from);
}

static void test_s3(void **state)
{
	(void)state;
	s3_space(4);
	s3_space(8);
}

/* S1: every edge its own pair, so an op is named by its edge's list.
 * node 0: e0 {skip, dil3} -> dil3 .731; e1 {none, sep5} with none = 3 ->
 *         sep5 (none excluded on this edge alone) .076; both kept.
 * node 1: e2 {avg, sep3} [0, 1], e3 {dil5, skip} [0, 1] and e4 {sep3,
 *         max} [1, 0] weigh exactly the same (1/(1 + e^-1)), a three-way
 *         tie -> e2 (sep3 from 0), e3 (skip from 1). */
static void s1_space(int real_size)
{
	static const char *const p0[] = {"skip_connect", "dil_conv_3x3"};
	static const char *const p1[] = {"none", "sep_conv_5x5"};
	static const char *const p2[] = {"avg_pool_3x3", "sep_conv_3x3"};
	static const char *const p3[] = {"dil_conv_5x5", "skip_connect"};
	static const char *const p4[] = {"sep_conv_3x3", "max_pool_3x3"};
	static const double a[] = {0, 1, 3, 0.5, 0, 1, 0, 1, 1, 0};
	Space s;
	Genotype g;
	NasEdge edges[5];
	small_space(&s, &g, edges, 2, p0, 1, exclude_none, a, real_size);
	/* The per-edge lists, put in after the fact: space_init copied the
	 * cell type, which still points at edges. */
	const char *const *pairs[] = {p0, p1, p2, p3, p4};
	for (int e = 0; e < 5; e++)
		edges[e].ops = pairs[e];
	genotype_free(&g);
	assert_int_equal(genotype_derive(&s.p, s.block, &g), 0);
	static const char *const ops[] = {"dil_conv_3x3", "sep_conv_5x5", "sep_conv_3x3",
					  "skip_connect"};
	static const int from[] = {0, 1, 0, 1};
	expect_choices(&g.cells[0], 4, ops, from);
	assert_int_equal(g.cells[0].choices[2].edge, 2);
	assert_int_equal(g.cells[0].choices[3].edge, 3);
	assert_true(g.cells[0].choices[2].weight == g.cells[0].choices[3].weight);
	genotype_free(&g);
	space_free(&s);
}

static void test_s1(void **state)
{
	(void)state;
	s1_space(4);
	s1_space(8);
}

/* ---- explicit edges, keep above a node's edge count ---- */

/* Three nodes, keep 3, edges 0->2 1->2 | 0->3 2->3 | 1->4 2->4 3->4 with
 * {none, skip, sep3}, output states 2 and 4:
 * node 0 (2 edges, both kept): e0 skip .576, e1 sep .787 -> e1, e0.
 * node 1 (2 edges): e2 skip 1/3, e3 none = 1 and sep .307 -> e2, e3.
 * node 2 (3 edges, all kept): e4 skip .356, e5 sep .909, e6 skip .576
 *         -> e5, e6, e4. */
static const char *const s3_ops3[] = {"none", "skip_connect", "sep_conv_3x3"};
static const NasEdge sparse_edges[] = {
	{0, 2, 1, 3, s3_ops3}, {1, 2, 1, 3, s3_ops3}, {0, 3, 1, 3, s3_ops3}, {2, 3, 1, 3, s3_ops3},
	{1, 4, 1, 3, s3_ops3}, {2, 4, 1, 3, s3_ops3}, {3, 4, 1, 3, s3_ops3},
};
static const double sparse_alpha[] = {0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0.5, 0, 0.1, 0, 0, 0, 3,
				      0, 1, 0};
static const int outputs_24[] = {2, 4};
static const char sparse_text[] =
	"cell=[('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
	"('sep_conv_3x3', 2), ('sep_conv_3x3', 2), ('skip_connect', 3), ('skip_connect', 1)], "
	"cell_concat=[2, 4]";

static NasCellType sparse_type(void)
{
	return cell_type("cell", 3, 7, sparse_edges, 3, 3, 1, exclude_none, 2, outputs_24);
}

static void keep_more(int real_size)
{
	NasCellType t = sparse_type();
	const double *v[1] = {sparse_alpha};
	Space s;
	Genotype g;
	space_init(&s, real_size, 1, &t, v);
	assert_int_equal(genotype_derive(&s.p, s.block, &g), 0);
	static const char *const ops[] = {"sep_conv_3x3", "skip_connect", "skip_connect",
					  "sep_conv_3x3", "sep_conv_3x3", "skip_connect",
					  "skip_connect"};
	static const int from[] = {1, 0, 0, 2, 2, 3, 1};
	expect_choices(&g.cells[0], 7, ops, from);
	genotype_free(&g);
	space_free(&s);
}

static void test_keep_more_than_edges(void **state)
{
	(void)state;
	keep_more(4);
	keep_more(8);
}

/* ---- the text form ---- */

/* What a writer prints, as a malloc'd string. */
static char *capture(void (*write)(FILE *, const Genotype *), const Genotype *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	write(f, g);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *capture_dot(const Genotype *g, int i)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	genotype_write_dot(f, g, i);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_text(void **state)
{
	(void)state;
	for (int rs = 4; rs <= 8; rs += 4) {
		Darts d;
		darts_init(&d, rs, 2);
		char *t = capture(genotype_write_text, &d.g);
		assert_string_equal(t, darts_text);
		free(t);
		darts_free(&d);
	}
}

/* A program of normal cells alone still gives a DARTS genotype: reduce
 * empty, with the concat of the normal cell's nodes. */
static void test_text_normal_only(void **state)
{
	(void)state;
	Darts d;
	darts_init(&d, 8, 1);
	char *t = capture(genotype_write_text, &d.g);
	const char *tail = "], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])";
	assert_int_equal(strncmp(t, darts_text, strlen("Genotype(normal=[('skip_connect', 1)")), 0);
	assert_string_equal(t + strlen(t) - strlen(tail), tail);
	free(t);
	darts_free(&d);
}

/* Other cell types follow normal and reduce (the missing reduce empty,
 * its concat from the normal type's 2 nodes), and a type alone with
 * another name is written under its own name. */
static void test_text_other_types(void **state)
{
	(void)state;
	NasEdge edges[5];
	int n = dense_edges(edges, 2, 2, s2_ops);
	NasCellType t[2] = {
		sparse_type(),
		cell_type("normal", 2, n, edges, 2, 2, 1, exclude_none, 2, outputs_23),
	};
	const double *v[2] = {sparse_alpha, s2_alpha};
	Space s;
	Genotype g;
	space_init(&s, 8, 2, t, v);
	assert_int_equal(genotype_derive(&s.p, s.block, &g), 0);
	char *got = capture(genotype_write_text, &g);
	char want[1024];
	snprintf(want, sizeof want,
		 "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
		 "('skip_connect', 2)], normal_concat=[2, 3], reduce=[], reduce_concat=[2, 3], "
		 "%s)", sparse_text);
	assert_string_equal(got, want);
	free(got);
	genotype_free(&g);
	space_free(&s);

	space_init(&s, 4, 1, t, v);
	assert_int_equal(genotype_derive(&s.p, s.block, &g), 0);
	got = capture(genotype_write_text, &g);
	snprintf(want, sizeof want, "Genotype(%s)", sparse_text);
	assert_string_equal(got, want);
	free(got);
	genotype_free(&g);
	space_free(&s);
}

/* Names that need quoting in every form: the text is a Python literal,
 * the JSON a JSON string, the drawing a Graphviz string. */
static const char *const odd_ops[] = {"none", "it's\\\"odd\""};

static void odd_space(Space *s, Genotype *g, NasEdge *edges)
{
	static const int out2[] = {2};
	static const double a[] = {0, 1, 0, 1};
	edges[0] = (NasEdge){0, 2, 1, 2, odd_ops};
	edges[1] = (NasEdge){1, 2, 1, 2, odd_ops};
	NasCellType t = cell_type("normal", 1, 2, edges, 2, 1, 1, exclude_none, 1, out2);
	const double *v[1] = {a};
	space_init(s, 8, 1, &t, v);
	assert_int_equal(genotype_derive(&s->p, s->block, g), 0);
}

static void test_quoting(void **state)
{
	(void)state;
	Space s;
	Genotype g;
	NasEdge edges[2];
	odd_space(&s, &g, edges);
	char *t = capture(genotype_write_text, &g);
	assert_string_equal(t, "Genotype(normal=[('it\\'s\\\\\"odd\"', 0)], normal_concat=[2], "
			       "reduce=[], reduce_concat=[2])");
	free(t);

	t = capture(genotype_write_json, &g);
	json_error_t je;
	json_t *j = json_loads(t, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, t);
	json_t *pair = json_array_get(json_object_get(j, "normal"), 0);
	assert_string_equal(json_string_value(json_array_get(pair, 0)), odd_ops[1]);
	json_decref(j);
	free(t);

	t = capture_dot(&g, 0);
	assert_non_null(strstr(t, "\t\"c_{k-2}\" -> \"0\" [label=\"it's\\\\\\\"odd\\\"\"];\n"));
	free(t);
	genotype_free(&g);
	space_free(&s);
}

/* ---- JSON ---- */

static void expect_pairs(json_t *arr, int n, const char *const *ops, const int *from)
{
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), n);
	for (int i = 0; i < n; i++) {
		json_t *p = json_array_get(arr, (size_t)i);
		assert_int_equal(json_array_size(p), 2);
		assert_string_equal(json_string_value(json_array_get(p, 0)), ops[i]);
		assert_true(json_is_integer(json_array_get(p, 1)));
		assert_int_equal(json_integer_value(json_array_get(p, 1)), from[i]);
	}
}

static void expect_concat(json_t *arr, int n, const int *v)
{
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(json_integer_value(json_array_get(arr, (size_t)i)), v[i]);
}

static void test_json(void **state)
{
	(void)state;
	Darts d;
	darts_init(&d, 4, 2);
	char *t = capture(genotype_write_json, &d.g);
	assert_null(strchr(t, '\n'));
	json_error_t je;
	json_t *j = json_loads(t, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, t);
	assert_int_equal(json_object_size(j), 5);
	expect_pairs(json_object_get(j, "normal"), 8, darts_normal_ops, darts_normal_from);
	expect_pairs(json_object_get(j, "reduce"), 8, darts_reduce_ops, darts_reduce_from);
	expect_concat(json_object_get(j, "normal_concat"), 4, outputs_2345);
	expect_concat(json_object_get(j, "reduce_concat"), 4, outputs_2345);
	json_t *w = json_object_get(j, "weights");
	assert_int_equal(json_object_size(w), 2);
	for (int c = 0; c < 2; c++) {
		json_t *arr = json_object_get(w, c ? "reduce" : "normal");
		assert_int_equal(json_array_size(arr), 8);
		for (int i = 0; i < 8; i++)
			assert_true(json_number_value(json_array_get(arr, (size_t)i)) ==
				    d.g.cells[c].choices[i].weight);
	}
	/* The keys in the order of the text form. */
	assert_non_null(strstr(t, "{\"normal\": [[\"skip_connect\", 1], [\"sep_conv_3x3\", 0], "));
	assert_true(strstr(t, "\"normal_concat\"") < strstr(t, "\"reduce\""));
	assert_true(strstr(t, "\"reduce_concat\"") < strstr(t, "\"weights\""));
	json_decref(j);
	free(t);
	darts_free(&d);
}

/* JSON has no NaN: a diverged alpha gives null weights, still JSON. */
static void test_json_nan(void **state)
{
	(void)state;
	double a[10];
	for (int i = 0; i < 10; i++)
		a[i] = NAN;
	Space s;
	Genotype g;
	NasEdge edges[5];
	small_space(&s, &g, edges, 2, s2_ops, 1, exclude_none, a, 8);
	assert_int_equal(g.cells[0].nchoices, 4);
	char *t = capture(genotype_write_json, &g);
	json_error_t je;
	json_t *j = json_loads(t, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, t);
	assert_true(json_is_null(json_array_get(json_object_get(json_object_get(j, "weights"),
								    "normal"), 0)));
	json_decref(j);
	free(t);
	genotype_free(&g);
	space_free(&s);
}

/* ---- Graphviz ---- */

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void test_dot(void **state)
{
	(void)state;
	Darts d;
	darts_init(&d, 8, 2);
	char *t = capture_dot(&d.g, 0);
	static const char *const want[] = {
		"digraph \"normal\" {\n",
		"\t\"c_{k-2}\" [",
		"\t\"c_{k-1}\" [",
		"\t\"3\" [",
		"\t\"c_{k}\" [",
		"\t\"c_{k-1}\" -> \"0\" [label=\"skip_connect\"];\n",
		"\t\"c_{k-2}\" -> \"0\" [label=\"sep_conv_3x3\"];\n",
		"\t\"c_{k-1}\" -> \"1\" [label=\"dil_conv_3x3\"];\n",
		"\t\"0\" -> \"1\" [label=\"avg_pool_3x3\"];\n",
		"\t\"0\" -> \"2\" [label=\"sep_conv_3x3\"];\n",
		"\t\"c_{k-2}\" -> \"2\" [label=\"sep_conv_5x5\"];\n",
		"\t\"c_{k-1}\" -> \"3\" [label=\"sep_conv_3x3\"];\n",
		"\t\"1\" -> \"3\" [label=\"sep_conv_3x3\"];\n",
		"\t\"0\" -> \"c_{k}\";\n",
		"\t\"1\" -> \"c_{k}\";\n",
		"\t\"2\" -> \"c_{k}\";\n",
		"\t\"3\" -> \"c_{k}\";\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(t, want[i]))
			fail_msg("no %s in\n%s", want[i], t);
	assert_int_equal(count(t, " -> "), 12);
	assert_null(strstr(t, "\"4\""));
	assert_string_equal(t + strlen(t) - 2, "}\n");
	free(t);
	t = capture_dot(&d.g, 1);
	assert_non_null(strstr(t, "digraph \"reduce\" {\n"));
	assert_non_null(strstr(t, "\t\"2\" -> \"3\" [label=\"skip_connect\"];\n"));
	free(t);
	darts_free(&d);

	/* Output states as given, not all nodes: 2 and 4 are nodes 0 and 2. */
	NasCellType st = sparse_type();
	const double *v[1] = {sparse_alpha};
	Space s;
	Genotype g;
	space_init(&s, 8, 1, &st, v);
	assert_int_equal(genotype_derive(&s.p, s.block, &g), 0);
	t = capture_dot(&g, 0);
	assert_non_null(strstr(t, "\t\"0\" -> \"c_{k}\";\n"));
	assert_non_null(strstr(t, "\t\"2\" -> \"c_{k}\";\n"));
	assert_null(strstr(t, "\t\"1\" -> \"c_{k}\";\n"));
	assert_non_null(strstr(t, "\t\"1\" -> \"2\" [label=\"skip_connect\"];\n"));
	assert_int_equal(count(t, " -> "), 9);
	free(t);
	genotype_free(&g);
	space_free(&s);
}

/* ---- saving ---- */

/* A fresh folder under TMPDIR (or /tmp), and removing one again. */
static char *make_dir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir = malloc(strlen(base) + 32);
	assert_non_null(dir);
	sprintf(dir, "%s/rt_genotype.XXXXXX", base);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat sb;
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The names in dir, sorted and joined by spaces. */
static char *listing(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	char *s = calloc(1, 4096);
	size_t len = 0;
	assert_non_null(s);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && len < 4096)
			len += (size_t)snprintf(s + len, 4096 - len, "%s%s", len ? " " : "",
						names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return s;
}

static char *slurp(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	char *buf = calloc(1, 1 << 16);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A stand-in for Graphviz's dot in folder bin: a shell script body. */
static void fake_dot(const char *bin, const char *body)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/dot", bin);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/* The files of a save hold what the writers print, each ending with a
 * newline. */
static void expect_saved(const char *dir, const Genotype *g)
{
	char *t = slurp(dir, "genotype.txt");
	size_t n = strlen(darts_text);
	assert_int_equal(strlen(t), n + 1);
	assert_int_equal(strncmp(t, darts_text, n), 0);
	assert_int_equal(t[n], '\n');
	free(t);
	char *want = capture(genotype_write_json, g);
	t = slurp(dir, "genotype.json");
	assert_int_equal(strlen(t), strlen(want) + 1);
	assert_int_equal(strncmp(t, want, strlen(want)), 0);
	assert_int_equal(t[strlen(want)], '\n');
	free(want);
	free(t);
	want = capture_dot(g, 1);
	t = slurp(dir, "reduce.dot");
	assert_string_equal(t, want);
	free(want);
	free(t);
}

/* What a saving test works in: the DARTS genotype, a fresh folder and
 * one for stand-ins of dot.  The teardown puts PATH back and removes the
 * folders even after a failed check. */
typedef struct SaveFixture {
	Darts d;
	char *dir, *bin, *path;
} SaveFixture;

static int save_setup(void **state)
{
	SaveFixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	f->dir = make_dir();
	f->bin = make_dir();
	darts_init(&f->d, 4, 2);
	*state = f;
	return 0;
}

static int save_teardown(void **state)
{
	SaveFixture *f = *state;
	if (f->path)
		setenv("PATH", f->path, 1);
	else
		unsetenv("PATH");
	darts_free(&f->d);
	remove_tree(f->dir);
	remove_tree(f->bin);
	free(f->dir);
	free(f->bin);
	free(f->path);
	free(f);
	return 0;
}

static void test_save(void **state)
{
	SaveFixture *f = *state;
	const char *dir = f->dir, *bin = f->bin;
	const Genotype *g = &f->d.g;
	char path[4096], err[512];
	int nsvg = -1;

	/* No dot on PATH: no svg, and the caller can tell. */
	setenv("PATH", bin, 1);
	assert_int_equal(genotype_save_svgs(g, dir, &nsvg, err, sizeof err), 0);
	assert_int_equal(nsvg, 0);
	char *ls = listing(dir);
	assert_string_equal(ls, "genotype.json genotype.txt normal.dot reduce.dot");
	free(ls);
	expect_saved(dir, g);

	/* A dot that writes its arguments and its input: it got -Tsvg and the
	 * .dot file of its cell. */
	fake_dot(bin, "echo \"<svg args='$*'>\"; /bin/cat; echo '</svg>'");
	snprintf(path, sizeof path, "%s:/usr/bin:/bin", bin);
	setenv("PATH", path, 1);
	assert_int_equal(genotype_save_svgs(g, dir, &nsvg, err, sizeof err), 0);
	assert_int_equal(nsvg, 2);
	ls = listing(dir);
	assert_string_equal(ls, "genotype.json genotype.txt normal.dot normal.svg reduce.dot "
				"reduce.svg");
	free(ls);
	char *svg = slurp(dir, "reduce.svg"), *dot = slurp(dir, "reduce.dot");
	assert_int_equal(strncmp(svg, "<svg args='-Tsvg'>\n", 19), 0);
	assert_int_equal(strncmp(svg + 19, dot, strlen(dot)), 0);
	assert_string_equal(svg + 19 + strlen(dot), "</svg>\n");
	free(svg);
	free(dot);

	/* A dot that fails: the old drawings go too, as they no longer match,
	 * and no temporary file stays behind.  genotype_save says 0. */
	fake_dot(bin, "/bin/cat > /dev/null; echo 'partial'; exit 1");
	assert_int_equal(genotype_save(g, dir, err, sizeof err), 0);
	ls = listing(dir);
	assert_string_equal(ls, "genotype.json genotype.txt normal.dot reduce.dot");
	free(ls);
	expect_saved(dir, g);

	/* One that succeeds with no output draws nothing either. */
	fake_dot(bin, "/bin/cat > /dev/null");
	assert_int_equal(genotype_save_svgs(g, dir, &nsvg, err, sizeof err), 0);
	assert_int_equal(nsvg, 0);
	ls = listing(dir);
	assert_string_equal(ls, "genotype.json genotype.txt normal.dot reduce.dot");
	free(ls);
}

/* A folder that cannot be written: an error naming the first file, and
 * nothing written anywhere. */
static void test_save_unwritable(void **state)
{
	SaveFixture *f = *state;
	const char *dir = f->dir;
	const Genotype *g = &f->d.g;
	char sub[4096], want[4200], err[512];

	snprintf(sub, sizeof sub, "%s/missing", dir);
	assert_int_equal(genotype_save(g, sub, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s/genotype.json: ", sub);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error %s, expected it to start with %s", err, want);
	char *ls = listing(dir);
	assert_string_equal(ls, "");
	free(ls);

	/* Read-only: root writes there anyway, so this part needs a user. */
	assert_int_equal(mkdir(sub, 0555), 0);
	if (access(sub, W_OK) != 0) {
		err[0] = '\0';
		assert_int_equal(genotype_save(g, sub, err, sizeof err), -1);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("error %s, expected it to start with %s", err, want);
		ls = listing(sub);
		assert_string_equal(ls, "");
		free(ls);
	}
	chmod(sub, 0755);

	/* A file that cannot be replaced (a folder in its place) fails at the
	 * rename: the error names it, files before it in the order json,
	 * txt, dots are whole, the rest untouched, no temporary file left. */
	snprintf(want, sizeof want, "%s/genotype.txt", sub);
	assert_int_equal(mkdir(want, 0755), 0);
	assert_int_equal(genotype_save(g, sub, err, sizeof err), -1);
	if (strncmp(err, want, strlen(want)) != 0 || strncmp(err + strlen(want), ": ", 2) != 0)
		fail_msg("error %s, expected it to name %s", err, want);
	ls = listing(sub);
	assert_string_equal(ls, "genotype.json genotype.txt");
	free(ls);
	char *json = slurp(sub, "genotype.json");
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	assert_non_null(j);
	json_decref(j);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_darts_f32),
		cmocka_unit_test(test_darts_f64),
		cmocka_unit_test(test_all_equal),
		cmocka_unit_test(test_none_strongest_everywhere),
		cmocka_unit_test(test_s2),
		cmocka_unit_test(test_exclude_everything),
		cmocka_unit_test(test_exclude_one_of_two),
		cmocka_unit_test(test_s3),
		cmocka_unit_test(test_s1),
		cmocka_unit_test(test_keep_more_than_edges),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_normal_only),
		cmocka_unit_test(test_text_other_types),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_nan),
		cmocka_unit_test(test_dot),
		cmocka_unit_test_setup_teardown(test_save, save_setup, save_teardown),
		cmocka_unit_test_setup_teardown(test_save_unwritable, save_setup, save_teardown),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
