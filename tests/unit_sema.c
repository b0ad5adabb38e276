/* unit_sema.c - semantic analysis on small specs whose answers are worked
 * out by hand: parameter counts, edge order, inheritance, overrides, tensor
 * names in canonical order, shapes through the network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "info.h"
#include "model.h"
#include "parse.h"

typedef struct Compiled {
	Arena a;
	Diag d;
	Model *m;
	char *err;
	size_t errlen;
	FILE *errf;
} Compiled;

/* Compile `text` (with overrides), diagnostics captured in c->err. */
/* Compile `text`, or examples/spaces/NAME when text is NULL, with the
 * overrides; diagnostics are captured in c->err. */
static Model *compile_source(Compiled *c, const char *text, const char *name, Override *ov,
			     int nov)
{
	arena_init(&c->a);
	c->errf = open_memstream(&c->err, &c->errlen);
	diag_init(&c->d, c->errf);
	Source *src;
	if (text) {
		src = source_new(&c->a, "t.nas", arena_strdup(&c->a, text), strlen(text));
	} else {
		char path[512];
		snprintf(path, sizeof path, "%s/examples/spaces/%s", SRCDIR, name);
		src = read_source(&c->a, &c->d, path);
	}
	Spec *spec = src ? parse_spec(&c->a, &c->d, src) : NULL;
	c->m = spec ? sema_run(&c->a, &c->d, spec, ov, nov) : NULL;
	fflush(c->errf);
	return c->m;
}

static Model *compile(Compiled *c, const char *text, Override *ov, int nov)
{
	return compile_source(c, text, NULL, ov, nov);
}

static Model *compile_file(Compiled *c, const char *name, Override *ov, int nov)
{
	return compile_source(c, NULL, name, ov, nov);
}

static void release(Compiled *c)
{
	fclose(c->errf);
	free(c->err);
	arena_free(&c->a);
}

/* The IR value holding the tensor called `name`, or -1. */
static int tensor(const Model *m, const char *name)
{
	for (int i = 0; i < m->g.n; i++)
		if (m->g.node[i].name && strcmp(m->g.node[i].name, name) == 0)
			return i;
	return -1;
}

static const char minimal[] =
	"op c1 = conv(C, 1)\n"
	"cell c { nodes 1\n ops c1\n keep 1 }\n"
	"network {\n"
	"  input 1x8x8\n  channels 4\n"
	"  stem conv(C, 3, pad=1) -> bn(affine=true)\n"
	"  cells 1, c\n  preprocess conv(C, 1)\n"
	"  head global_avg_pool -> linear(3)\n"
	"}\n"
	"search { batch 2 }\n";

/* stem 4*1*3*3 + 2*4, two 1x1 preprocessings 2*16, two edges 2*16,
 * head 4*3 + 3: 44 + 32 + 32 + 15 = 123 weights; alpha [2 edges, 1 op]. */
static void test_counts_by_hand(void **state)
{
	(void)state;
	Compiled c;
	Model *m = compile(&c, minimal, NULL, 0);
	assert_non_null(m);
	assert_int_equal(m->weight_params, 123);
	assert_int_equal(m->alpha_size, 2);
	assert_int_equal(m->classes, 3);
	assert_int_equal(m->ncells, 1);
	assert_int_equal(m->cells[0].params, 16 + 16 + 32);
	/* FLOPs per image: stem 2*4*64*9, pre 2*(2*4*64*4), edges 2*(2*4*64*4), head 2*4*3 */
	assert_int_equal(m->flops, 2 * 4 * 64 * 9 + 4 * (2 * 4 * 64 * 4) + 2 * 4 * 3);
	assert_int_equal(m->g.node[m->g.logits].shape.d[0], 2);
	assert_int_equal(m->g.node[m->g.loss].shape.rank, 0);
	release(&c);
}

/* `;` ends statements like a newline, and an operator at either end of a
 * line joins it to the next: the same network as `minimal`. */
static void test_line_rules(void **state)
{
	(void)state;
	const char *text =
		"op c1 = conv(C,\n 1)\n"
		"cell c { nodes 1; ops c1; keep 1 }\n"
		"network { input 1x8x8; channels 4\n"
		"  stem conv(C, 3, pad=1) ->\n bn(affine=true)\n"
		"  cells 1, c; preprocess conv(C, 1)\n"
		"  head global_avg_pool\n  -> linear(3) }\n"
		"search { batch 2 }";
	Compiled c;
	Model *m = compile(&c, text, NULL, 0);
	if (!m)
		fail_msg("%s", c.err);
	assert_int_equal(m->weight_params, 123);
	release(&c);
}

/* Alpha tensors are laid out in the order the network first uses their
 * cell types, and info lists them in that order. */
static void test_alpha_order(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text, "%s", minimal);
	char *p = strstr(text, "  cells 1, c\n");
	assert_non_null(p);
	const char *repl = "  cells 2, c; cells r, at=[0]\n";
	char rest[2048];
	snprintf(rest, sizeof rest, "%s", p + strlen("  cells 1, c\n"));
	snprintf(p, sizeof text - (size_t)(p - text), "%s%s", repl, rest);
	strcat(text, "cell r : c { ops c1, relu }\n");
	Compiled c;
	Model *m = compile(&c, text, NULL, 0);
	if (!m)
		fail_msg("%s", c.err);
	assert_string_equal(m->types[1].name, "r");
	assert_int_equal(m->types[1].alpha_offset, 0);
	assert_int_equal(m->types[0].alpha_offset, 4);
	char *out;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	info_text(f, m);
	fclose(f);
	char *r = strstr(out, "alpha.r "), *n = strstr(out, "alpha.c ");
	assert_non_null(r);
	assert_non_null(n);
	assert_true(r < n);
	free(out);
	release(&c);
}

/* Edges given out of order take DARTS's order: node by node, by source. */
static void test_edge_order(void **state)
{
	(void)state;
	const char *text =
		"op c1 = conv(C, 1)\n"
		"cell c { nodes 2\n"
		"  edge 1 -> 3 : c1\n  edge 0 -> 2 : c1\n  edge 2 -> 3 : c1\n  edge 1 -> 2 : c1\n"
		"  keep 1 }\n"
		"network { input 1x8x8\n channels 4\n stem conv(C, 3, pad=1)\n cells 1, c\n"
		" preprocess conv(C, 1)\n head global_avg_pool -> linear(3) }\n";
	Compiled c;
	Model *m = compile(&c, text, NULL, 0);
	assert_non_null(m);
	const ModelCellType *t = &m->types[0];
	assert_int_equal(t->nedges, 4);
	int want[4][2] = {{0, 2}, {1, 2}, {1, 3}, {2, 3}};
	for (int e = 0; e < 4; e++) {
		assert_int_equal(t->edges[e].from, want[e][0]);
		assert_int_equal(t->edges[e].to, want[e][1]);
	}
	/* Edge e's mixed node reads row e of the alpha tensor. */
	int rows = 0;
	for (int i = 0; i < m->g.n; i++)
		if (m->g.node[i].op == IR_MIXED) {
			assert_int_equal(m->g.node[i].at.row, rows);
			assert_int_equal(m->g.node[i].nin, 2);
			rows++;
		}
	assert_int_equal(rows, 4);
	release(&c);
}

/* A derived cell keeps its base's settings and changes what it restates. */
static void test_inheritance(void **state)
{
	(void)state;
	Override ov[] = {{"layers", "3", false}};
	Compiled c;
	Model *m = compile_file(&c, "darts.nas", ov, 1);
	assert_non_null(m);
	assert_int_equal(m->ntypes, 2);
	const ModelCellType *n = &m->types[0], *r = &m->types[1];
	assert_string_equal(r->name, "reduce");
	assert_int_equal(n->stride, 1);
	assert_int_equal(r->stride, 2);
	assert_int_equal(r->nodes, 4);
	assert_int_equal(r->nops, 8);
	assert_int_equal(r->keep, 2);
	assert_int_equal(r->nexclude, 1);
	assert_string_equal(r->exclude[0], "none");
	/* Only edges leaving the cell inputs are strided. */
	for (int e = 0; e < r->nedges; e++)
		assert_int_equal(r->edges[e].stride, r->edges[e].from < 2 ? 2 : 1);
	release(&c);
}

/* A parameter computed from another follows its override. */
static void test_override_dependents(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text, "param C = 4\nparam W = 2 * C\n%s", minimal);
	/* use W as the head width */
	char *p = strstr(text, "linear(3)");
	assert_non_null(p);
	memcpy(p, "linear(W)", 9);
	Override ov[] = {{"C", "5", false}};
	Compiled c;
	Model *m = compile(&c, text, ov, 1);
	assert_non_null(m);
	assert_int_equal(m->classes, 10);
	assert_true(ov[0].used);
	assert_true(m->params[0].overridden);
	assert_false(m->params[1].overridden);
	release(&c);
}

/* Tensors are named by scope and primitive index and appear in forward
 * order: stem, per cell preprocess0, preprocess1, its alpha on first use,
 * edges by index with candidates in declared order, then the head. */
static void test_canonical_names(void **state)
{
	(void)state;
	Override ov[] = {{"layers", "4", false}};
	Compiled c;
	Model *m = compile_file(&c, "darts.nas", ov, 1);
	assert_non_null(m);
	const char *first[] = {
		"stem.0.weight", "stem.1.weight", "stem.1.bias",
		"cells.0.preprocess0.1.weight", "cells.0.preprocess1.1.weight", "alpha.normal",
		"cells.0.edges.0.sep_conv_3x3.1.weight", "cells.0.edges.0.sep_conv_3x3.2.weight",
		"cells.0.edges.0.sep_conv_3x3.5.weight", "cells.0.edges.0.sep_conv_3x3.6.weight",
		"cells.0.edges.0.sep_conv_5x5.1.weight",
	};
	int k = 0;
	for (int i = 0; i < m->g.n && k < (int)(sizeof first / sizeof first[0]); i++)
		if (m->g.node[i].op == IR_WEIGHT || m->g.node[i].op == IR_ALPHA)
			assert_string_equal(m->g.node[i].name, first[k++]);
	assert_int_equal(k, sizeof first / sizeof first[0]);
	/* running statistics: a pair per batch norm, named like its weights,
	 * in forward order, each recorded with its batch norm */
	const char *running[] = {
		"stem.1.running_mean", "stem.1.running_var",
		"cells.0.preprocess0.2.running_mean", "cells.0.preprocess0.2.running_var",
		"cells.0.preprocess1.2.running_mean", "cells.0.preprocess1.2.running_var",
		"cells.0.edges.0.max_pool_3x3.1.running_mean",
	};
	k = 0;
	for (int i = 0; i < m->g.n && k < (int)(sizeof running / sizeof running[0]); i++)
		if (m->g.node[i].op == IR_RUNNING)
			assert_string_equal(m->g.node[i].name, running[k++]);
	assert_int_equal(k, sizeof running / sizeof running[0]);
	assert_string_equal(m->g.node[m->g.stat[0].bn].scope, "stem");
	assert_int_equal(m->g.stat[0].mean, tensor(m, "stem.1.running_mean"));
	assert_int_equal(m->g.stat[0].var, tensor(m, "stem.1.running_var"));
	/* the drop-path mask: a row per mixed edge of the 4 cells */
	assert_true(m->g.drop >= 0);
	assert_int_equal(m->g.node[m->g.drop].shape.d[0], 4 * 14);
	assert_int_equal(m->g.node[m->g.drop].shape.d[1], m->g.node[m->g.input].shape.d[0]);

	/* stem conv 48x1x3x3; dil_conv_5x5's depthwise weight 16x1x5x5 */
	int w = tensor(m, "stem.0.weight");
	assert_true(w >= 0);
	assert_int_equal(m->g.node[w].shape.d[0], 48);
	assert_int_equal(m->g.node[w].shape.d[1], 1);
	w = tensor(m, "cells.0.edges.13.dil_conv_5x5.1.weight");
	assert_true(w >= 0);
	assert_int_equal(m->g.node[w].shape.d[0], 16);
	assert_int_equal(m->g.node[w].shape.d[1], 1);
	assert_int_equal(m->g.node[w].shape.d[3], 5);
	/* layers=4: reduce at 1 and 2; cell 2 follows a reduction, so its
	 * input 0 is factorized-reduced: two 1x1 convs of C/2 = 32 outputs,
	 * numbered in pre-order: relu 0, concat 1, conv 2, shift 3, conv 4. */
	assert_true(tensor(m, "cells.2.preprocess0.2.weight") >= 0);
	w = tensor(m, "cells.2.preprocess0.4.weight");
	assert_true(w >= 0);
	assert_int_equal(m->g.node[w].shape.d[0], 32);
	assert_int_equal(m->g.node[w].shape.d[1], 64);
	assert_int_equal(tensor(m, "cells.1.preprocess0.4.weight"), -1);
	/* the head comes last */
	int last = -1;
	for (int i = 0; i < m->g.n; i++)
		if (m->g.node[i].op == IR_WEIGHT)
			last = i;
	assert_string_equal(m->g.node[last].name, "head.1.bias");
	release(&c);
}

/* DARTS on Fashion-MNIST: 28 -> 14 -> 7, channels 64, 128, 256. */
static void test_darts_shapes(void **state)
{
	(void)state;
	Compiled c;
	Model *m = compile_file(&c, "darts.nas", NULL, 0);
	assert_non_null(m);
	assert_int_equal(m->ncells, 8);
	int64_t want[8][3] = {{64, 28, 28}, {64, 28, 28}, {128, 14, 14}, {128, 14, 14},
			      {128, 14, 14}, {256, 7, 7}, {256, 7, 7}, {256, 7, 7}};
	for (int i = 0; i < 8; i++) {
		assert_int_equal(m->cells[i].out.d[1], want[i][0]);
		assert_int_equal(m->cells[i].out.d[2], want[i][1]);
		assert_int_equal(m->cells[i].out.d[3], want[i][2]);
		assert_string_equal(m->types[m->cells[i].type].name,
				    i == 2 || i == 5 ? "reduce" : "normal");
	}
	assert_int_equal(m->types[1].alpha_offset, 112);
	assert_int_equal(ir_verify(&m->g, stderr), 0);
	release(&c);
}

/* Independent mistakes are all reported in one run, without follow-ons. */
static void test_several_errors(void **state)
{
	(void)state;
	const char *text =
		"param a = 1 / 0\n"
		"op x = sep_conv_3x4\n"
		"cell c { nodez 1 }\n";
	Compiled c;
	assert_null(compile(&c, text, NULL, 0));
	assert_int_equal(c.d.errors, 3);
	assert_non_null(strstr(c.err, "t.nas:1:13: error: division by zero"));
	assert_non_null(strstr(c.err, "t.nas:2:8: error: unknown operation `sep_conv_3x4`"));
	assert_non_null(strstr(c.err, "t.nas:3:10: error: unknown cell setting `nodez`; did you mean `nodes`?"));
	/* ... and not the follow-on "needs `nodes`" of the misspelling */
	assert_null(strstr(c.err, "needs `nodes`"));
	release(&c);
}

/* A cell type nobody places is worth a warning, not an error. */
static void test_unused_cell_warns(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text, "%scell spare : c { nodes 2 }\n", minimal);
	Compiled c;
	Model *m = compile(&c, text, NULL, 0);
	assert_non_null(m);
	assert_int_equal(c.d.warnings, 1);
	assert_non_null(strstr(c.err, "warning: cell `spare` is not used by the network"));
	release(&c);
}

/* The example spaces all verify, and their alpha tensors tile alpha_size. */
static void test_examples_verify(void **state)
{
	(void)state;
	const char *names[] = {"darts.nas", "s1.nas", "s2.nas", "s3.nas", "s4.nas", "tiny.nas"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		Compiled c;
		Model *m = compile_file(&c, names[i], NULL, 0);
		assert_non_null(m);
		assert_int_equal(ir_verify(&m->g, stderr), 0);
		int64_t total = 0;
		for (int t = 0; t < m->ntypes; t++) {
			if (!m->types[t].used)
				continue;
			assert_int_equal(m->types[t].alpha_offset, total);
			total += (int64_t)m->types[t].nedges * m->types[t].nops;
		}
		assert_int_equal(total, m->alpha_size);
		release(&c);
	}
}

/* tiny.nas is the enumerable space: 2 edges x 3 ops in each of 2 cell
 * types, so 3^4 = 81 discrete architectures. */
static void test_tiny_is_enumerable(void **state)
{
	(void)state;
	Compiled c;
	Model *m = compile_file(&c, "tiny.nas", NULL, 0);
	assert_non_null(m);
	int64_t archs = 1;
	for (int t = 0; t < m->ntypes; t++)
		for (int e = 0; e < m->types[t].nedges; e++)
			archs *= m->types[t].nops;
	assert_int_equal(archs, 81);
	release(&c);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_by_hand),
		cmocka_unit_test(test_line_rules),
		cmocka_unit_test(test_alpha_order),
		cmocka_unit_test(test_edge_order),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_override_dependents),
		cmocka_unit_test(test_canonical_names),
		cmocka_unit_test(test_darts_shapes),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_unused_cell_warns),
		cmocka_unit_test(test_examples_verify),
		cmocka_unit_test(test_tiny_is_enumerable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
