/* unit_codegen.c - generated search programs, end to end: `nasc build` a
 * spec, run the binary's `grad` on a state and a batch, and compare its
 * loss and gradients
 *   - in f64, with the reference interpreter running the same gradient
 *     program (tiny, s2, darts): relative L2 error below 1e-10 per tensor;
 *   - in f32, with PyTorch's fixtures (darts, s1, s2, s3): cosine at least
 *     0.99999 and relative L2 error at most 1e-4 per tensor;
 * and that two runs give bit-identical gradient files. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad.h"
#include "fixture.h"
#include "interp.h"
#include "rng.h"

static char workdir[] = "/tmp/nasc-codegen-XXXXXX";

static const char *path_in(const char *name)
{
	static char buf[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", workdir, name);
	return buf[k];
}

/* nasc build SPACE with overrides into BIN. */
static void build(const char *space, const char *const *ov, int nov, bool f64, const char *bin)
{
	const char *nasc = getenv("NASC");
	assert_non_null(nasc);
	char cmd[4096];
	int n = snprintf(cmd, sizeof cmd, "'%s' build%s '%s/examples/spaces/%s.nas' -o '%s'", nasc,
			 f64 ? " --precision=f64" : "", SRCDIR, space, bin);
	for (int i = 0; i < nov; i++)
		n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -D '%s'", ov[i]);
	snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>&1");
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* The overrides recorded in a fixture, as NAME=VALUE strings. */
static int fixture_overrides(const StFile *f, const char *space, char ov[6][64])
{
	static const char *const keys[] = {"C", "layers", "nodes", "input", "classes", "batch"};
	int n = 0;
	for (int i = 0; i < 6; i++) {
		if (strcmp(keys[i], "nodes") == 0 && strcmp(space, "s1") == 0)
			continue;
		snprintf(ov[n++], 64, "%s=%s", keys[i], st_meta(f, keys[i]));
	}
	return n;
}

/* Write the leaves of an interpreter's graph: weights and alphas to a
 * state, x and y to a batch (f32 and i64, as the files are). */
static void write_inputs(Interp *it, const char *state, const char *batch)
{
	const IrGraph *g = it->g;
	StFile s, b;
	st_init(&s);
	st_init(&b);
	char err[512];
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_WEIGHT && n->op != IR_ALPHA && n->op != IR_INPUT && n->op != IR_LABELS)
			continue;
		int64_t cnt = ir_numel(n->shape);
		const double *x = interp_value(it, v);
		void *data = malloc((size_t)cnt * 8);
		assert_non_null(data);
		for (int64_t i = 0; i < cnt; i++) {
			if (n->op == IR_LABELS)
				((int64_t *)data)[i] = (int64_t)x[i];
			else
				((float *)data)[i] = (float)x[i];
		}
		StFile *f = n->op == IR_INPUT || n->op == IR_LABELS ? &b : &s;
		const char *name = n->op == IR_INPUT ? "x" : n->op == IR_LABELS ? "y" : n->name;
		assert_int_equal(st_add(f, name, n->op == IR_LABELS ? ST_I64 : ST_F32, n->shape.rank,
					n->shape.d, data), 0);
		free(data);
	}
	if (st_write(state, &s, err, sizeof err) != 0 || st_write(batch, &b, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&s);
	st_free(&b);
}

/* The values the f32 files hold, back in the interpreter: what the binary
 * sees is what the reference computes from. */
static void round_to_f32(Interp *it)
{
	const IrGraph *g = it->g;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_WEIGHT && n->op != IR_ALPHA && n->op != IR_INPUT)
			continue;
		double *x = interp_value(it, v);
		for (int64_t i = 0; i < ir_numel(n->shape); i++)
			x[i] = (float)x[i];
	}
}

/* BIN grad on the files; returns the loss the binary printed. */
static double run_grad(const char *bin, const char *state, const char *batch, const char *grad)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "'%s' grad --load '%s' --batch '%s' --save-grad '%s' --json", bin,
		 state, batch, grad);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[4096] = "";
	size_t n = fread(line, 1, sizeof line - 1, p);
	line[n] = '\0';
	int st = pclose(p);
	if (st != 0)
		fail_msg("%s: exit status %d\n%s", cmd, st, line);
	const char *l = strstr(line, "\"loss\":");
	assert_non_null(l);
	return strtod(l + 7, NULL);
}

typedef struct Cmp {
	double worst_rel, worst_cos;
	char worst[256];  /* the tensor of worst_rel */
} Cmp;

/* One tensor of the gradient file against the expected values. */
static void compare(const char *what, const StTensor *t, const double *want, int64_t n, Cmp *c)
{
	assert_int_equal(t->numel, n);
	double num = 0, den = 0, dot = 0, gg = 0;
	for (int64_t i = 0; i < n; i++) {
		double got = t->dtype == ST_F64 ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
		num += (got - want[i]) * (got - want[i]);
		den += want[i] * want[i];
		dot += got * want[i];
		gg += got * got;
	}
	double rel = den > 0 ? sqrt(num / den) : sqrt(num);
	double cosv = den > 0 && gg > 0 ? dot / sqrt(den * gg) : (num == 0 ? 1 : 0);
	if (rel > c->worst_rel) {
		c->worst_rel = rel;
		snprintf(c->worst, sizeof c->worst, "%s", what);
	}
	if (cosv < c->worst_cos)
		c->worst_cos = cosv;
}

/* f64: the binary against the interpreter on the same random inputs. */
static void check_f64(const char *space, const char *const *ov, int nov)
{
	const char *bin = path_in("prog64");
	build(space, ov, nov, true, bin);

	Arena a;
	arena_init(&a);
	Model *m = fixture_space_with(&a, space, ov, nov);
	IrGraph *g = &m->g;
	ad_gradient_program(g);
	Interp it;
	assert_int_equal(interp_init(&it, g), 0);
	Rng r;
	rng_seed(&r, 17, 0);
	int classes = (int)g->node[g->logits].shape.d[1];
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		double *x = interp_value(&it, v);
		for (int64_t i = 0; i < ir_numel(n->shape); i++) {
			if (n->op == IR_LABELS)
				x[i] = rng_below(&r, (uint32_t)classes);
			else if (n->op == IR_INPUT || n->op == IR_ALPHA)
				x[i] = 2 * rng_uniform(&r) - 1;
			else if (n->op == IR_WEIGHT)
				x[i] = n->wkind == W_BN_GAMMA ? 1 + 0.2 * rng_uniform(&r) : rng_uniform(&r) - 0.5;
		}
	}
	round_to_f32(&it);
	char err[256];
	if (interp_run(&it, err, sizeof err) != 0)
		fail_msg("%s", err);
	const char *state = path_in("state.safetensors"), *batch = path_in("batch.safetensors");
	const char *grad = path_in("grad.safetensors");
	write_inputs(&it, state, batch);
	double loss = run_grad(bin, state, batch, grad);

	StFile gf;
	st_init(&gf);
	if (st_read(grad, &gf, err, sizeof err) != 0)
		fail_msg("%s", err);
	Cmp c = {0, 1, ""};
	for (int i = 0; i < g->nout; i++) {
		const char *name = g->out[i].name + strlen(AD_GRAD_PREFIX);
		const StTensor *t = st_find(&gf, name);
		if (!t)
			fail_msg("%s: no gradient `%s` in the binary's file", space, name);
		assert_int_equal(t->dtype, ST_F64);
		compare(name, t, interp_value(&it, g->out[i].v), ir_numel(g->node[g->out[i].v].shape), &c);
	}
	double want = interp_value(&it, g->loss)[0];
	print_message("# %s f64: loss %.15g (interpreter %.15g); %d gradients, worst relative L2 "
		      "error %.3g (%s)\n",
		      space, loss, want, g->nout, c.worst_rel, c.worst);
	assert_true(fabs(loss - want) <= 1e-12 * fabs(want));
	assert_true(c.worst_rel < 1e-10);
	st_free(&gf);
	interp_free(&it);
	arena_free(&a);
}

/* f32: the binary against PyTorch's fixture; and run twice, bit for bit. */
static void check_fixture(const char *space, bool twice)
{
	char name[64];
	snprintf(name, sizeof name, "grad_%s.safetensors", space);
	StFile f;
	fixture_read(&f, name);
	char ovs[6][64];
	int nov = fixture_overrides(&f, space, ovs);
	const char *ov[6];
	for (int i = 0; i < nov; i++)
		ov[i] = ovs[i];
	const char *bin = path_in("prog32");
	build(space, ov, nov, false, bin);

	Arena a;
	arena_init(&a);
	Model *m = fixture_compile(&a, &f, space);
	Interp it;
	assert_int_equal(interp_init(&it, &m->g), 0);
	fixture_load(&it, &f);
	const char *state = path_in("state.safetensors"), *batch = path_in("batch.safetensors");
	const char *grad = path_in("grad.safetensors"), *grad2 = path_in("grad2.safetensors");
	write_inputs(&it, state, batch);
	double loss = run_grad(bin, state, batch, grad);

	char err[512];
	StFile gf;
	st_init(&gf);
	if (st_read(grad, &gf, err, sizeof err) != 0)
		fail_msg("%s", err);
	Cmp c = {0, 1, ""};
	int count = 0;
	for (size_t i = 0; i < gf.ntensors; i++) {
		const StTensor *t = &gf.tensors[i];
		char key[512];
		snprintf(key, sizeof key, "expect.grad.%s", t->name);
		const StTensor *want = st_find(&f, key);
		if (!want)
			fail_msg("%s: the fixture has no `%s`", space, key);
		assert_int_equal(t->dtype, ST_F32);
		compare(t->name, t, (const double *)want->data, want->numel, &c);
		count++;
	}
	double want_loss = ((const double *)st_find(&f, "expect.loss")->data)[0];
	print_message("# %s f32: loss %.9g (PyTorch %.9g); %d gradients, worst relative L2 %.3g "
		      "(%s), worst cosine %.9f\n",
		      space, loss, want_loss, count, c.worst_rel, c.worst, c.worst_cos);
	assert_true(fabs(loss - want_loss) <= 1e-5 * fabs(want_loss));
	assert_true(c.worst_rel <= 1e-4);
	assert_true(c.worst_cos >= 0.99999);
	if (twice) {
		run_grad(bin, state, batch, grad2);
		char cmd[2048];
		snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", grad, grad2);
		assert_int_equal(system(cmd), 0);
		print_message("# %s f32: a second run wrote the same gradient file, bit for bit\n", space);
	}
	st_free(&gf);
	interp_free(&it);
	arena_free(&a);
	st_free(&f);
}

static void test_tiny_f64(void **state)
{
	(void)state;
	const char *ov[] = {"C=4", "input=1x8x8", "classes=5", "batch=3"};
	check_f64("tiny", ov, 4);
}

static void test_s2_f64(void **state)
{
	(void)state;
	const char *ov[] = {"C=4", "layers=3", "nodes=2", "input=3x8x8", "classes=7", "batch=2"};
	check_f64("s2", ov, 6);
}

static void test_darts_f64(void **state)
{
	(void)state;
	const char *ov[] = {"C=4", "layers=3", "nodes=3", "input=1x12x12", "classes=10", "batch=2"};
	check_f64("darts", ov, 6);
}

static void test_darts_fixture(void **state)
{
	(void)state;
	check_fixture("darts", true);
}

static void test_s1_fixture(void **state)
{
	(void)state;
	check_fixture("s1", false);
}

static void test_s2_fixture(void **state)
{
	(void)state;
	check_fixture("s2", false);
}

static void test_s3_fixture(void **state)
{
	(void)state;
	check_fixture("s3", false);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(workdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny_f64),
		cmocka_unit_test(test_s2_f64),
		cmocka_unit_test(test_darts_f64),
		cmocka_unit_test(test_darts_fixture),
		cmocka_unit_test(test_s1_fixture),
		cmocka_unit_test(test_s2_fixture),
		cmocka_unit_test(test_s3_fixture),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
