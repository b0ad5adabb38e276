/* unit_counts.c - weight-parameter counts, alpha sizes and conv/linear
 * FLOPs of the example spaces against the PyTorch reference: every record
 * of tests/reference/counts.json (written by tests/reference/gen_counts.py
 * from its own PyTorch supernet), compiled in-process with the same -D
 * overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
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
		const char *input = json_string_value(json_object_get(rec, "input"));
		assert_non_null(space);
		assert_non_null(input);
		int k = 0;
		while (k < nspaces && strcmp(spaces[k], space) != 0)
			k++;
		if (k == nspaces && nspaces < 8)
			spaces[nspaces++] = space;

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

		Arena a;
		arena_init(&a);
		Diag d;
		diag_init(&d, stderr);
		Source *src = read_source(&a, &d, path);
		assert_non_null(src);
		Spec *spec = parse_spec(&a, &d, src);
		assert_non_null(spec);
		Model *m = sema_run(&a, &d, spec, ov, nov);
		if (!m)
			fail_msg("%s C=%s layers=%s nodes=%s input=%s classes=%s does not compile",
				 space, c, layers, nodes, input, classes);
		if (m->weight_params != field(rec, "weight_params") ||
		    m->alpha_size != field(rec, "alpha_size") ||
		    m->flops != field(rec, "conv_linear_flops"))
			fail_msg("%s C=%s layers=%s nodes=%s input=%s classes=%s: nasc %" PRId64
				 "/%" PRId64 "/%" PRId64 ", PyTorch %" PRId64 "/%" PRId64 "/%" PRId64,
				 space, c, layers, nodes, input, classes, m->weight_params,
				 m->alpha_size, m->flops, field(rec, "weight_params"),
				 field(rec, "alpha_size"), field(rec, "conv_linear_flops"));
		arena_free(&a);
		checked++;
	}
	assert_int_equal(nspaces, 5);
	printf("# %d configurations agree with the PyTorch reference\n", checked);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_record),
	};
	return cmocka_run_group_tests(tests, load, unload);
}
