/* fixture.c - see fixture.h. */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

void fixture_read(StFile *f, const char *name)
{
	char path[512], err[512];
	snprintf(path, sizeof path, "%s/tests/reference/%s", SRCDIR, name);
	st_init(f);
	if (st_read(path, f, err, sizeof err) != 0)
		fail_msg("%s", err);
}

Model *fixture_space(Arena *a, const char *space, const Override *ov, int nov)
{
	char path[512];
	Diag d;
	diag_init(&d, stderr);
	snprintf(path, sizeof path, "%s/examples/spaces/%s.nas", SRCDIR, space);
	Source *src = read_source(a, &d, path);
	assert_non_null(src);
	Spec *spec = parse_spec(a, &d, src);
	assert_non_null(spec);
	Override *o = arena_array(a, (size_t)(nov > 0 ? nov : 1), sizeof *o);
	for (int i = 0; i < nov; i++)
		o[i] = ov[i];
	Model *m = sema_run(a, &d, spec, o, nov);
	assert_non_null(m);
	return m;
}

Model *fixture_space_with(Arena *a, const char *space, const char *const *defs, int n)
{
	Override *ov = arena_array(a, (size_t)(n > 0 ? n : 1), sizeof *ov);
	for (int i = 0; i < n; i++) {
		const char *eq = strchr(defs[i], '=');
		assert_non_null(eq);
		ov[i] = (Override){.name = arena_strndup(a, defs[i], (size_t)(eq - defs[i])),
				   .value = eq + 1};
	}
	return fixture_space(a, space, ov, n);
}

Model *fixture_compile(Arena *a, const StFile *f, const char *space)
{
	static const char *const keys[] = {"C", "layers", "nodes", "input", "classes", "batch"};
	Override ov[6];
	int nov = 0;
	for (int i = 0; i < 6; i++) {
		/* s1 fixes its 14 edges, so it has no nodes parameter */
		if (strcmp(keys[i], "nodes") == 0 && strcmp(space, "s1") == 0)
			continue;
		ov[nov] = (Override){.name = keys[i], .value = st_meta(f, keys[i])};
		assert_non_null(ov[nov].value);
		nov++;
	}
	return fixture_space(a, space, ov, nov);
}

int fixture_load(Interp *it, const StFile *f)
{
	const IrGraph *g = it->g;
	int loaded = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_INPUT && n->op != IR_LABELS && n->op != IR_WEIGHT && n->op != IR_ALPHA)
			continue;
		const char *name = n->op == IR_INPUT ? "x" : n->op == IR_LABELS ? "y" : n->name;
		const StTensor *t = st_find(f, name);
		if (!t)
			fail_msg("no tensor `%s` in the fixture", name);
		if (t->numel != ir_numel(n->shape))
			fail_msg("`%s` has %lld values, nasc expects %lld", name, (long long)t->numel,
				 (long long)ir_numel(n->shape));
		double *dst = interp_value(it, v);
		for (int64_t i = 0; i < t->numel; i++) {
			switch (t->dtype) {
			case ST_I64:
				dst[i] = (double)((const int64_t *)t->data)[i];
				break;
			case ST_F32:
				dst[i] = ((const float *)t->data)[i];
				break;
			case ST_F64:
				dst[i] = ((const double *)t->data)[i];
				break;
			default:
				fail_msg("`%s` has dtype %s; fixtures are F32, F64 or I64", name,
					 st_dtype_name(t->dtype));
			}
		}
		loaded++;
	}
	return loaded;
}
