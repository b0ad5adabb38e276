/* unit_counts.c - the example spaces against the PyTorch reference
 * (tests/reference/supernet.py): weight-parameter counts, alpha sizes and
 * conv/linear FLOPs of every record of counts.json, and the order and shape
 * of every weight tensor of tensors.json, each spec compiled in-process
 * with the record's -D overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "model.h"
#include "parse.h"

static json_t *records;

static int load(void **state)
{
	(void)state;
	json_error_t err;
	json_t *doc = json_load_file(SRCDIR "/tests/reference/counts.json", 0, &err);
	if (!doc) {
		fprintf(stderr, "counts.json: %s (line %d)\n", err.text, err.line);
		return -1;
	}
	records = json_incref(json_object_get(doc, "records"));
	json_decref(doc);
	return json_is_array(records) ? 0 : -1;
}

static int unload(void **state)
{
	(void)state;
	json_decref(records);
	return 0;
}

static int64_t field(json_t *rec, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(rec, key));
}

/* Compile examples/spaces/SPACE.nas with the record's overrides. */
static Model *compile_record(Arena *a, json_t *rec)
{
	const char *space = json_string_value(json_object_get(rec, "space"));
	const char *input = json_string_value(json_object_get(rec, "input"));
	assert_non_null(space);
	assert_non_null(input);
	char path[512], c[32], layers[32], nodes[32], classes[32];
	snprintf(path, sizeof path, "%s/examples/spaces/%s.nas", SRCDIR, space);
	snprintf(c, sizeof c, "%" PRId64, field(rec, "C"));
	snprintf(layers, sizeof layers, "%" PRId64, field(rec, "layers"));
	snprintf(nodes, sizeof nodes, "%" PRId64, field(rec, "nodes"));
	snprintf(classes, sizeof classes, "%" PRId64, field(rec, "classes"));
	Override ov[] = {
		{"C", c, false}, {"layers", layers, false}, {"input", input, false},
		{"classes", classes, false}, {"nodes", nodes, false},
	};
	/* S1 lists its 14 edges one by one: it has 4 nodes and no knob. */
	int nov = strcmp(space, "s1") == 0 ? 4 : 5;
	Diag d;
	diag_init(&d, stderr);
	Source *src = read_source(a, &d, path);
	assert_non_null(src);
	Spec *spec = parse_spec(a, &d, src);
	assert_non_null(spec);
	Model *m = sema_run(a, &d, spec, ov, nov);
	if (!m)
		fail_msg("%s C=%s layers=%s nodes=%s input=%s classes=%s does not compile", space, c,
			 layers, nodes, input, classes);
	return m;
}

static void test_every_record(void **state)
{
	(void)state;
	size_t i;
	json_t *rec;
	int checked = 0, nspaces = 0;
	const char *spaces[8];
	assert_true(json_array_size(records) >= 300);
	json_array_foreach(records, i, rec) {
		const char *space = json_string_value(json_object_get(rec, "space"));
		int k = 0;
		while (k < nspaces && strcmp(spaces[k], space) != 0)
			k++;
		if (k == nspaces && nspaces < 8)
			spaces[nspaces++] = space;
		Arena a;
		arena_init(&a);
		Model *m = compile_record(&a, rec);
		if (m->weight_params != field(rec, "weight_params") ||
		    m->alpha_size != field(rec, "alpha_size") ||
		    m->flops != field(rec, "conv_linear_flops"))
			fail_msg("%s C=%" PRId64 " layers=%" PRId64 " nodes=%" PRId64 " input=%s "
				 "classes=%" PRId64 ": nasc %" PRId64 "/%" PRId64 "/%" PRId64
				 ", PyTorch %" PRId64 "/%" PRId64 "/%" PRId64, space, field(rec, "C"),
				 field(rec, "layers"), field(rec, "nodes"),
				 json_string_value(json_object_get(rec, "input")), field(rec, "classes"),
				 m->weight_params, m->alpha_size, m->flops, field(rec, "weight_params"),
				 field(rec, "alpha_size"), field(rec, "conv_linear_flops"));
		arena_free(&a);
		checked++;
	}
	assert_int_equal(nspaces, 5);
	printf("# %d configurations agree with the PyTorch reference\n", checked);
}

/* Whether IR value v has the shape in JSON array js. */
static bool same_shape(const IrNode *v, json_t *js)
{
	if ((size_t)v->shape.rank != json_array_size(js))
		return false;
	for (int d = 0; d < v->shape.rank; d++)
		if (v->shape.d[d] != (int64_t)json_integer_value(json_array_get(js, (size_t)d)))
			return false;
	return true;
}

/* The canonical order of state files: the weights of the compiled spec
 * come in PyTorch's registration order with the same shapes, tensor by
 * tensor (tests/reference/tensors.json, written by gen_tensors.py), and
 * the alpha tensors have PyTorch's shapes. */
static void test_tensor_order(void **state)
{
	(void)state;
	json_error_t err;
	json_t *doc = json_load_file(SRCDIR "/tests/reference/tensors.json", 0, &err);
	if (!doc)
		fail_msg("tensors.json: %s (line %d)", err.text, err.line);
	json_t *configs = json_object_get(doc, "configs");
	assert_true(json_array_size(configs) >= 4);
	size_t i;
	json_t *cfg;
	json_array_foreach(configs, i, cfg) {
		Arena a;
		arena_init(&a);
		Model *m = compile_record(&a, cfg);
		json_t *weights = json_object_get(cfg, "weights");
		json_t *alphas = json_object_get(cfg, "alphas");
		size_t k = 0, nalpha = 0;
		for (int v = 0; v < m->g.n; v++) {
			const IrNode *n = &m->g.node[v];
			if (n->op == IR_ALPHA) {
				json_t *want = json_array_get(alphas, nalpha++);
				if (!want || strcmp(n->name, json_string_value(json_array_get(want, 0))) != 0 ||
				    !same_shape(n, json_array_get(want, 1)))
					fail_msg("%s: alpha tensor %s does not match PyTorch",
						 json_string_value(json_object_get(cfg, "space")), n->name);
				continue;
			}
			if (n->op != IR_WEIGHT)
				continue;
			json_t *want = json_array_get(weights, k++);
			if (!want || !same_shape(n, json_array_get(want, 1)))
				fail_msg("%s: weight %zu is %s %s in nasc but %s in PyTorch",
					 json_string_value(json_object_get(cfg, "space")), k - 1, n->name,
					 ir_shape_str(&a, n->shape, false),
					 want ? json_string_value(json_array_get(want, 0)) : "missing");
		}
		assert_int_equal(k, json_array_size(weights));
		assert_int_equal(nalpha, json_array_size(alphas));
		arena_free(&a);
	}
	json_decref(doc);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_record),
		cmocka_unit_test(test_tensor_order),
	};
	return cmocka_run_group_tests(tests, load, unload);
}
