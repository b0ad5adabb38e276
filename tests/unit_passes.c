/* unit_passes.c - the optimization passes keep every number: the gradient
 * and curvature programs evaluated before and after them give the same
 * loss, gradients and products, bit for bit, and each pass does what it
 * says. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad.h"
#include "fixture.h"
#include "interp.h"
#include "passes.h"
#include "pipeline.h"

static void fixed_noise(double *out, int64_t n, int value, void *ctx)
{
	(void)ctx;
	(void)value;
	for (int64_t i = 0; i < n; i++)
		out[i] = sin(0.3 * (double)i);
}

/* Loss and every output of g on the fixture's state and batch, in one
 * malloc'd array (loss first). */
static double *evaluate(const IrGraph *g, const StFile *f, int64_t *count)
{
	Interp it;
	assert_int_equal(interp_init(&it, g), 0);
	it.noise = fixed_noise;
	fixture_load(&it, f);
	/* a direction for the curvature programs, the same in every graph */
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_TANGENT)
			for (int64_t i = 0; i < ir_numel(g->node[v].shape); i++)
				interp_value(&it, v)[i] = sin(0.7 * (double)i + (double)strlen(g->node[v].name));
	char err[256];
	if (interp_run(&it, err, sizeof err) != 0)
		fail_msg("%s", err);
	int64_t n = 1;
	for (int i = 0; i < g->nout; i++)
		n += ir_numel(g->node[g->out[i].v].shape);
	double *r = malloc((size_t)n * sizeof *r);
	assert_non_null(r);
	r[0] = interp_value(&it, g->loss)[0];
	int64_t k = 1;
	for (int i = 0; i < g->nout; i++) {
		int64_t m = ir_numel(g->node[g->out[i].v].shape);
		memcpy(r + k, interp_value(&it, g->out[i].v), (size_t)m * sizeof *r);
		k += m;
	}
	*count = n;
	interp_free(&it);
	return r;
}

static int count_op(const IrGraph *g, IrOp op)
{
	int n = 0;
	for (int v = 0; v < g->n; v++)
		n += g->node[v].op == op;
	return n;
}

static void check_passes_keep_numbers(const char *space)
{
	char name[64];
	snprintf(name, sizeof name, "grad_%s.safetensors", space);
	StFile f;
	fixture_read(&f, name);
	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, space);
	IrGraph *g = &m->g;
	ad_gradient_program(g);
	assert_true(ad_curvature_program(g) > 0);
	int64_t n0, n1;
	double *before = evaluate(g, &f, &n0);
	int values0 = g->n, relu0 = count_op(g, IR_RELU);
	pass_cse(g);
	assert_int_equal(ir_verify(g, stderr), 0);
	int values_cse = g->n;
	pass_dce(g);
	assert_int_equal(ir_verify(g, stderr), 0);
	double *after = evaluate(g, &f, &n1);
	assert_int_equal(n0, n1);
	for (int64_t i = 0; i < n0; i++)
		if (memcmp(&before[i], &after[i], sizeof before[i]) != 0)
			fail_msg("%s: value %lld changed: %.17g -> %.17g", space, (long long)i, before[i],
				 after[i]);
	/* a relu of a state is shared by every edge and candidate reading it */
	int relu1 = count_op(g, IR_RELU);
	print_message("# %s: %d values, %d after cse, %d after dce; relu %d -> %d; %lld numbers "
		      "unchanged\n",
		      space, values0, values_cse, g->n, relu0, relu1, (long long)n0);
	assert_true(relu1 < relu0);
	assert_true(g->n < values0);
	free(before);
	free(after);
	arena_free(&a);
	st_free(&f);
}

static void test_darts(void **state)
{
	(void)state;
	check_passes_keep_numbers("darts");
}

static void test_s1(void **state)
{
	(void)state;
	check_passes_keep_numbers("s1");
}

/* Two noise candidates of one input are two samples: cse keeps both.  A
 * value nothing reads goes, a weight nothing reads stays. */
static void test_noise_and_leaves(void **state)
{
	(void)state;
	Arena a;
	arena_init(&a);
	IrGraph g;
	ir_init(&g, &a);
	char err[256];
	int x = ir_leaf(&g, IR_INPUT, ir_shape4(1, 2, 4, 4), DT_F32, NULL, NULL, (Loc){0});
	int w = ir_leaf(&g, IR_WEIGHT, ir_shape4(2, 2, 1, 1), DT_F32, "w", NULL, (Loc){0});
	g.node[w].wkind = W_CONV;
	IrAttr s1 = {.stride = 1};
	int n1 = ir_add(&g, IR_NOISE, &x, 1, &s1, NULL, (Loc){0}, err, sizeof err);
	int n2 = ir_add(&g, IR_NOISE, &x, 1, &s1, NULL, (Loc){0}, err, sizeof err);
	int r1 = ir_add(&g, IR_RELU, &x, 1, NULL, NULL, (Loc){0}, err, sizeof err);
	int r2 = ir_add(&g, IR_RELU, &x, 1, NULL, NULL, (Loc){0}, err, sizeof err);
	int in[4] = {n1, n2, r1, r2};
	int sum = ir_add(&g, IR_ADD, in, 4, NULL, NULL, (Loc){0}, err, sizeof err);
	ir_add(&g, IR_SCALE, &x, 1, &(IrAttr){.scale = 2}, NULL, (Loc){0}, err, sizeof err);
	ir_output(&g, sum, "sum");
	pass_cse(&g);
	assert_int_equal(count_op(&g, IR_NOISE), 2);
	assert_int_equal(count_op(&g, IR_RELU), 1);
	assert_int_equal(count_op(&g, IR_SCALE), 1);
	pass_dce(&g);
	assert_int_equal(count_op(&g, IR_SCALE), 0);
	assert_int_equal(count_op(&g, IR_WEIGHT), 1);
	assert_int_equal(g.n, 6); /* x, w, 2 noise, relu, add */
	assert_int_equal(ir_verify(&g, stderr), 0);
	assert_int_equal(g.node[g.out[0].v].op, IR_ADD);
	arena_free(&a);
}

/* Fusion: a candidate's cotangent on an edge, mixed(w_k, c) (a load and a
 * multiply), is computed again in each of its users that read it inline,
 * as a drop-path scale is, rather than stored and read back: in the
 * curvature program a convolution candidate's batch norm reads it in its
 * gradient and in that gradient's tangent, two users. */
static void test_darts_candidate_cotangents_inline(void **state)
{
	(void)state;
	StFile f;
	fixture_read(&f, "grad_darts.safetensors");
	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, "darts");
	IrGraph *g = &m->g;
	ad_gradient_program(g);
	assert_true(ad_curvature_program(g) > 0);
	pass_cse(g);
	pass_dce(g);
	pass_fuse(g);
	int *users = calloc((size_t)g->n, sizeof *users);
	assert_non_null(users);
	for (int v = 0; v < g->n; v++)
		for (int j = 0; j < g->node[v].nin; j++)
			users[g->node[v].in[j]]++;
	int shared = 0, stored = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_MIXED || n->nin != 2 || users[v] < 2)
			continue;
		bool into_bn = false;
		for (int u = v + 1; u < g->n; u++)
			for (int j = 0; j < g->node[u].nin; j++)
				into_bn |= g->node[u].in[j] == v && j > 0 &&
					   (g->node[u].op == IR_BN_GRAD || g->node[u].op == IR_BN_GRAD_JVP);
		if (!into_bn)
			continue;
		shared++;
		stored += !n->inlined;
	}
	print_message("# darts: %d candidate cotangents with more than one user, read by batch "
		      "norms' gradients; %d stored\n", shared, stored);
	assert_true(shared > 0);
	assert_int_equal(stored, 0);
	free(users);
	arena_free(&a);
	st_free(&f);
}

/* The pipeline's names are the ones nasc dump accepts, in order. */
static void test_pipeline_names(void **state)
{
	(void)state;
	assert_int_equal(pipeline_find("ad"), 0);
	assert_true(pipeline_find("cse") > pipeline_find("ad"));
	assert_true(pipeline_find("dce") > pipeline_find("cse"));
	assert_int_equal(pipeline_find("nope"), -1);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_darts),
		cmocka_unit_test(test_s1),
		cmocka_unit_test(test_noise_and_leaves),
		cmocka_unit_test(test_darts_candidate_cotangents_inline),
		cmocka_unit_test(test_pipeline_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
