/* unit_codegen.c - generated search programs, end to end: `nasc build` a
 * spec, run the binary's `grad` on a state and a batch, and compare its
 * loss and gradients
 *   - in f64, with the reference interpreter running the same gradient
 *     program (tiny, s2, darts): relative L2 error below 1e-10 per tensor;
 *   - in f32, with PyTorch's fixtures (darts, s1, s2, s3): cosine at least
 *     0.99999 and relative L2 error at most 1e-4 per tensor;
 * and that two runs give bit-identical gradient files.  Then the entry
 * points as the search loop calls them (through tests/probe.c, linked in
 * place of the runtime's command line): running statistics, drop-path
 * masks and eval mode against the interpreter in f64, and the running
 * statistics and eval-mode logits against PyTorch in f32.  Each test
 * runs on the C backend and, when nasc has it, again on the LLVM backend
 * (the tests whose names end in _llvm). */
#include "config.h"

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
#include "passes.h"
#include "rng.h"

static char workdir[] = "/tmp/nasc-codegen-XXXXXX";

/* The backend nasc emits with: "c", or "llvm" in the _llvm tests. */
static const char *backend = "c";

static const char *path_in(const char *name)
{
	static char buf[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", workdir, name);
	return buf[k];
}

/* The command `nasc VERB SPACE -o OUT` with the overrides into cmd;
 * returns its length. */
static int nasc_cmd(char *cmd, size_t cap, const char *verb, const char *space,
		    const char *const *ov, int nov, bool f64, const char *out)
{
	const char *nasc = getenv("NASC");
	assert_non_null(nasc);
	int n = snprintf(cmd, cap, "'%s' %s --backend=%s%s '%s/examples/spaces/%s.nas' -o '%s'", nasc,
			 verb, backend, f64 ? " --precision=f64" : "", SRCDIR, space, out);
	for (int i = 0; i < nov; i++)
		n += snprintf(cmd + n, cap - (size_t)n, " -D '%s'", ov[i]);
	return n;
}

/* nasc build SPACE with overrides into BIN. */
static void build(const char *space, const char *const *ov, int nov, bool f64, const char *bin)
{
	char cmd[4096];
	int n = nasc_cmd(cmd, sizeof cmd, "build", space, ov, nov, f64, bin);
	snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>&1");
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* The overrides recorded in a fixture, as NAME=VALUE strings in buf and
 * pointed to by ov. */
typedef struct FixtureOv {
	char buf[6][64];
	const char *ov[6];
	int n;
} FixtureOv;

static void fixture_overrides(const StFile *f, const char *space, FixtureOv *o)
{
	static const char *const keys[] = {"C", "layers", "nodes", "input", "classes", "batch"};
	o->n = 0;
	for (int i = 0; i < 6; i++) {
		if (strcmp(keys[i], "nodes") == 0 && strcmp(space, "s1") == 0)
			continue;
		snprintf(o->buf[o->n], 64, "%s=%s", keys[i], st_meta(f, keys[i]));
		o->ov[o->n] = o->buf[o->n];
		o->n++;
	}
}

/* Leaf v of an interpreter's graph into f, as the files hold it: weights,
 * alphas and x (the input) as F32, y (the labels) as I64, running
 * statistics and the drop-path mask (`drop`) as F64. */
static void add_leaf(StFile *f, Interp *it, int v)
{
	const IrNode *n = &it->g->node[v];
	bool f32 = n->op == IR_WEIGHT || n->op == IR_ALPHA || n->op == IR_INPUT;
	int64_t cnt = ir_numel(n->shape);
	const double *x = interp_value(it, v);
	void *data = malloc((size_t)cnt * 8);
	assert_non_null(data);
	for (int64_t i = 0; i < cnt; i++) {
		if (n->op == IR_LABELS)
			((int64_t *)data)[i] = (int64_t)x[i];
		else if (f32)
			((float *)data)[i] = (float)x[i];
		else
			((double *)data)[i] = x[i];
	}
	const char *name = n->op == IR_INPUT ? "x" : n->op == IR_LABELS ? "y"
			   : n->op == IR_DROP ? "drop" : n->name;
	char tname[512];
	if (n->op == IR_TANGENT) {
		snprintf(tname, sizeof tname, "tangent.%s", n->name);
		name = tname;
	}
	StDtype dt = n->op == IR_LABELS ? ST_I64 : f32 ? ST_F32 : ST_F64;
	assert_int_equal(st_add(f, name, dt, n->shape.rank, n->shape.d, data), 0);
	free(data);
}

/* Write the leaves of an interpreter's graph: weights and alphas to a
 * state, x and y to a batch. */
static void write_inputs(Interp *it, const char *state, const char *batch)
{
	const IrGraph *g = it->g;
	StFile s, b;
	st_init(&s);
	st_init(&b);
	char err[512];
	for (int v = 0; v < g->n; v++) {
		IrOp op = g->node[v].op;
		if (op == IR_WEIGHT || op == IR_ALPHA || op == IR_INPUT || op == IR_LABELS)
			add_leaf(op == IR_INPUT || op == IR_LABELS ? &b : &s, it, v);
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

/* One tensor of the gradient file against the expected values; errors
 * relative to the expected norm, or to `floor` per element when that is
 * larger. */
static void compare_floor(const char *what, const StTensor *t, const double *want, int64_t n,
			  double floor, Cmp *c)
{
	assert_int_equal(t->numel, n);
	double num = 0, den = floor * floor * (double)n, dot = 0, gg = 0;
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

static void compare(const char *what, const StTensor *t, const double *want, int64_t n, Cmp *c)
{
	compare_floor(what, t, want, n, 0, c);
}

/* A random state of the interpreter's graph, rounded to what the f32
 * files hold; with `modes`, running statistics far from their initial
 * values and a drop-path mask of zeros and 1/(1 - p), p = 0.3 (else the
 * interpreter's defaults: no drop-path). */
static void random_leaves(Interp *it, Rng *r, bool modes)
{
	const IrGraph *g = it->g;
	int classes = (int)g->node[g->logits].shape.d[1];
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		double *x = interp_value(it, v);
		for (int64_t i = 0; i < ir_numel(n->shape); i++) {
			if (n->op == IR_LABELS)
				x[i] = rng_below(r, (uint32_t)classes);
			else if (n->op == IR_INPUT || n->op == IR_ALPHA || n->op == IR_TANGENT)
				x[i] = 2 * rng_uniform(r) - 1;
			else if (n->op == IR_WEIGHT)
				x[i] = n->wkind == W_BN_GAMMA ? 1 + 0.2 * rng_uniform(r) : rng_uniform(r) - 0.5;
			else if (n->op == IR_RUNNING && modes)
				x[i] = n->wkind == W_BN_MEAN ? rng_uniform(r) - 0.5 : 0.5 + rng_uniform(r);
			else if (n->op == IR_DROP && modes)
				x[i] = rng_uniform(r) < 0.3 ? 0.0 : 1.0 / 0.7;
		}
	}
	round_to_f32(it);
}

/* What a test compares a program with: the interpreter of a space's
 * configuration (its graph with the gradient program, and with `infer`
 * the eval-mode one), and for a PyTorch fixture the file. */
typedef struct Ref {
	StFile f;
	Arena a;
	Model *m;
	IrGraph *g;
	Interp it;
	bool curvature;  /* set before ref_open: with the curvature program */
} Ref;

typedef void Builder(const char *space, const char *const *ov, int nov, bool f64, const char *bin);

/* A program of SPACE with the overrides built into bin by builder (build
 * or build_probe), and *x for it; x must be zeroed. */
static void ref_open(Ref *x, const char *space, const char *const *ov, int nov, bool f64,
		     bool infer, Builder *builder, const char *bin)
{
	builder(space, ov, nov, f64, bin);
	arena_init(&x->a);
	x->m = fixture_space_with(&x->a, space, ov, nov);
	x->g = &x->m->g;
	ad_gradient_program(x->g);
	if (x->curvature)
		ad_curvature_program(x->g);
	if (infer)
		pass_infer(x->g);
	assert_int_equal(ir_verify(x->g, stderr), 0);
	assert_int_equal(interp_init(&x->it, x->g), 0);
}

/* The same for the configuration of a PyTorch fixture, in f32, with the
 * fixture's tensors loaded into the interpreter. */
static void fixture_open(Ref *x, const char *file, const char *space, Builder *builder,
			 const char *bin)
{
	fixture_read(&x->f, file);
	FixtureOv o;
	fixture_overrides(&x->f, space, &o);
	ref_open(x, space, o.ov, o.n, false, false, builder, bin);
	fixture_load(&x->it, &x->f);
}

static void interp_or_fail(Interp *it)
{
	char err[256];
	if (interp_run(it, err, sizeof err) != 0)
		fail_msg("%s", err);
}

/* Random leaves (random_leaves, from stream `seed`), and the interpreter
 * run on them. */
static void ref_random(Ref *x, uint64_t seed, bool modes)
{
	Rng r;
	rng_seed(&r, seed, 0);
	random_leaves(&x->it, &r, modes);
	interp_or_fail(&x->it);
}

static void ref_close(Ref *x)
{
	interp_free(&x->it);
	arena_free(&x->a);
	st_free(&x->f);
}

/* f64: the binary against the interpreter on the same random inputs. */
static void check_f64(const char *space, const char *const *ov, int nov)
{
	const char *bin = path_in("prog64");
	Ref ref = {0};
	ref_open(&ref, space, ov, nov, true, false, build, bin);
	const IrGraph *g = ref.g;
	Interp *it = &ref.it;
	ref_random(&ref, 17, false);
	char err[256];
	const char *state = path_in("state.safetensors"), *batch = path_in("batch.safetensors");
	const char *grad = path_in("grad.safetensors");
	write_inputs(it, state, batch);
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
		compare(name, t, interp_value(it, g->out[i].v), ir_numel(g->node[g->out[i].v].shape), &c);
	}
	double want = interp_value(it, g->loss)[0];
	print_message("# %s f64: loss %.15g (interpreter %.15g); %d gradients, worst relative L2 "
		      "error %.3g (%s)\n",
		      space, loss, want, g->nout, c.worst_rel, c.worst);
	assert_true(fabs(loss - want) <= 1e-12 * fabs(want));
	assert_true(c.worst_rel < 1e-10);
	st_free(&gf);
	ref_close(&ref);
}

/* f32: the binary against PyTorch's fixture; and run twice, bit for bit. */
static void check_fixture(const char *space, bool twice)
{
	char name[64];
	snprintf(name, sizeof name, "grad_%s.safetensors", space);
	const char *bin = path_in("prog32");
	Ref fx = {0};
	fixture_open(&fx, name, space, build, bin);
	const StFile *f = &fx.f;
	const char *state = path_in("state.safetensors"), *batch = path_in("batch.safetensors");
	const char *grad = path_in("grad.safetensors"), *grad2 = path_in("grad2.safetensors");
	write_inputs(&fx.it, state, batch);
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
		const StTensor *want = st_find(f, key);
		if (!want)
			fail_msg("%s: the fixture has no `%s`", space, key);
		assert_int_equal(t->dtype, ST_F32);
		compare(t->name, t, (const double *)want->data, want->numel, &c);
		count++;
	}
	double want_loss = ((const double *)st_find(f, "expect.loss")->data)[0];
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
	ref_close(&fx);
}

/* ---- the entry points as the search loop calls them ---------------------- */

/* nasc emit SPACE into BIN.c, compiled with tests/probe.c into BIN as
 * nasc build would compile it; its Hessian-vector products in blocks of
 * 3, which the probe checks against 3 products one at a time. */
static void build_probe(const char *space, const char *const *ov, int nov, bool f64,
			const char *bin)
{
	char cmd[8192], src[600];
	bool c = strcmp(backend, "c") == 0;
	/* the LLVM backend's object file, linked as nasc build links it */
	snprintf(src, sizeof src, "%s.%s", bin, c ? "c" : "o");
	int n = nasc_cmd(cmd, sizeof cmd, "emit --hvp-block=3", space, ov, nov, f64, src);
	snprintf(cmd + n, sizeof cmd - (size_t)n,
		 " && %s %s %s -I'%s/rt' '%s' '%s/tests/probe.c' '%s/libnasrt.a' %s -o '%s' 2>&1",
		 NASC_BUILD_CC, NASC_BUILD_CFLAGS, c ? "" : NASC_BUILD_LDFLAGS, SRCDIR, src, SRCDIR,
		 BUILDDIR, NASC_BUILD_LIBS, bin);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* An input file of the probe: the leaves of the interpreter's graph (with
 * the running statistics when `running`, with the drop-path mask when
 * `drop`), and the entry point. */
static void probe_inputs(Interp *it, bool running, bool drop, const char *entry, const char *path)
{
	const IrGraph *g = it->g;
	StFile f;
	st_init(&f);
	for (int v = 0; v < g->n; v++) {
		IrOp op = g->node[v].op;
		if (op == IR_WEIGHT || op == IR_ALPHA || op == IR_INPUT || op == IR_LABELS ||
		    op == IR_TANGENT || (running && op == IR_RUNNING) || (drop && op == IR_DROP))
			add_leaf(&f, it, v);
	}
	assert_int_equal(st_set_meta(&f, "entry", entry), 0);
	assert_int_equal(st_set_meta(&f, "momentum", "0.1"), 0);
	char err[512];
	if (st_write(path, &f, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&f);
}

/* BIN IN OUT, OUT read into *out. */
static void probe(const char *bin, const char *in, StFile *out)
{
	const char *path = path_in("probe-out.safetensors");
	char cmd[2048], err[512];
	snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", bin, in, path);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
	st_init(out);
	if (st_read(path, out, err, sizeof err) != 0)
		fail_msg("%s", err);
}

static const StTensor *out_tensor(const StFile *f, const char *prefix, const char *name)
{
	char key[512];
	snprintf(key, sizeof key, "%s%s", prefix, name);
	const StTensor *t = st_find(f, key);
	if (!t)
		fail_msg("the probe wrote no `%s`", key);
	return t;
}

static double out_loss(const StFile *f)
{
	return ((const double *)out_tensor(f, "", "loss")->data)[0];
}

/* The gradients of out against the interpreter's outputs; the worst
 * relative L2 error. */
static double compare_grads(const IrGraph *g, Interp *it, const StFile *out)
{
	Cmp c = {0, 1, ""};
	for (int i = 0; i < g->nout; i++) {
		const char *name = g->out[i].name;
		if (strncmp(name, AD_GRAD_PREFIX, strlen(AD_GRAD_PREFIX)) != 0)
			continue;
		compare(name, out_tensor(out, "", name), interp_value(it, g->out[i].v),
			ir_numel(g->node[g->out[i].v].shape), &c);
	}
	return c.worst_rel;
}

/* Whether the tensors of a and b whose names start with prefix (and the
 * loss) are the same bits. */
static bool same_bits(const StFile *a, const StFile *b, const char *prefix)
{
	size_t k = strlen(prefix), seen = 0;
	for (size_t i = 0; i < a->ntensors; i++) {
		const StTensor *t = &a->tensors[i];
		if (strncmp(t->name, prefix, k) != 0 && strcmp(t->name, "loss") != 0)
			continue;
		const StTensor *u = st_find(b, t->name);
		if (!u || u->nbytes != t->nbytes || memcmp(u->data, t->data, t->nbytes) != 0)
			return false;
		seen++;
	}
	return seen > 1;
}

/* f64: training mode with running statistics and a drop-path mask, eval
 * mode, and what NULL running statistics and masks must leave as it was. */
static void check_modes_f64(const char *space, const char *const *ov, int nov)
{
	const char *bin = path_in("probe64");
	Ref ref = {0};
	ref_open(&ref, space, ov, nov, true, true, build_probe, bin);
	ref_random(&ref, 23, true);
	const IrGraph *g = ref.g;
	Interp *it = &ref.it;
	int il = -1, ig = -1;
	for (int i = 0; i < g->nout; i++) {
		if (strcmp(g->out[i].name, INFER_LOSS) == 0)
			il = g->out[i].v;
		if (strcmp(g->out[i].name, INFER_LOGITS) == 0)
			ig = g->out[i].v;
	}
	assert_true(il >= 0 && ig >= 0);
	const char *in = path_in("probe-in.safetensors");

	/* eval mode: the running statistics, no drop-path (the mask is given,
	 * and must be ignored) */
	StFile inf;
	probe_inputs(it, true, true, "infer", in);
	probe(bin, in, &inf);
	Cmp ci = {0, 1, ""};
	compare("logits", out_tensor(&inf, "", "logits"), interp_value(it, ig),
		ir_numel(g->node[ig].shape), &ci);
	double want_il = interp_value(it, il)[0], want_tl = interp_value(it, g->loss)[0];
	print_message("# %s f64 infer: loss %.15g (interpreter %.15g; training mode %.15g), logits "
		      "relative L2 error %.3g\n", space, out_loss(&inf), want_il, want_tl, ci.worst_rel);
	assert_true(fabs(out_loss(&inf) - want_il) <= 1e-12 * fabs(want_il));
	assert_true(ci.worst_rel < 1e-10);
	assert_true(fabs(want_il - want_tl) > 1e-3 * fabs(want_tl)); /* the modes differ */

	/* training mode with the mask and running statistics: the gradient,
	 * and the statistics after one step */
	StFile gr, lo, ga;
	probe_inputs(it, true, true, "grad", in);
	probe(bin, in, &gr);
	probe_inputs(it, true, true, "loss", in);
	probe(bin, in, &lo);
	probe_inputs(it, true, true, "grad_alpha", in);
	probe(bin, in, &ga);
	double worst = compare_grads(g, it, &gr);
	interp_update_running(it, 0.1);
	Cmp cr = {0, 1, ""};
	for (int v = 0; v < g->n; v++)
		if (g->node[v].op == IR_RUNNING)
			compare(g->node[v].name, out_tensor(&gr, "running.", g->node[v].name),
				interp_value(it, v), ir_numel(g->node[v].shape), &cr);
	print_message("# %s f64 grad with drop-path: loss %.15g (interpreter %.15g), gradients' worst "
		      "relative L2 error %.3g; %d running statistics after it, worst %.3g (%s)\n",
		      space, out_loss(&gr), want_tl, worst, g->nstat * 2, cr.worst_rel, cr.worst);
	assert_true(fabs(out_loss(&gr) - want_tl) <= 1e-12 * fabs(want_tl));
	assert_true(worst < 1e-10);
	assert_true(cr.worst_rel < 1e-12);
	/* the loss and alpha-only entries update them the same way */
	assert_true(same_bits(&gr, &lo, "running."));
	assert_true(same_bits(&gr, &ga, "running."));
	assert_true(same_bits(&gr, &ga, "grad.alpha."));

	/* no mask: as a mask of ones, bit for bit, and as the interpreter
	 * without drop-path; running statistics change no gradient */
	StFile none, ones;
	probe_inputs(it, false, false, "grad", in);
	probe(bin, in, &none);
	double *mask = interp_value(it, g->drop);
	for (int64_t i = 0; i < ir_numel(g->node[g->drop].shape); i++)
		mask[i] = 1.0;
	probe_inputs(it, true, true, "grad", in);
	probe(bin, in, &ones);
	assert_true(same_bits(&none, &ones, "grad."));
	assert_null(st_find(&none, "running.stem.1.running_mean"));
	interp_or_fail(it);
	worst = compare_grads(g, it, &none);
	print_message("# %s f64 grad without drop-path: the same bits as with a mask of ones, and "
		      "running statistics or not; worst relative L2 error %.3g\n", space, worst);
	assert_true(worst < 1e-10);
	assert_true(fabs(out_loss(&none) - interp_value(it, g->loss)[0]) <=
		    1e-12 * fabs(interp_value(it, g->loss)[0]));
	st_free(&inf);
	st_free(&gr);
	st_free(&lo);
	st_free(&ga);
	st_free(&none);
	st_free(&ones);
	ref_close(&ref);
}

/* Batch 3: a row of the mask is rarely all zeros or all kept. */
static const char *const modes_cfg[] = {"C=4", "layers=3", "nodes=2", "input=3x8x8",
					"classes=10", "batch=3"};

static void test_darts_modes_f64(void **state)
{
	(void)state;
	check_modes_f64("darts", modes_cfg, sizeof modes_cfg / sizeof *modes_cfg);
}

/* The TANGENT leaf that moves leaf v, or -1. */
static int tangent_of(const IrGraph *g, int v)
{
	for (int t = 0; t < g->n; t++)
		if (g->node[t].op == IR_TANGENT && strcmp(g->node[t].name, g->node[v].name) == 0)
			return t;
	return -1;
}

/* The probe's entries along one alpha tensor alone (hvp@A:X, where the
 * program has them) against the interpreter's full product hvp.X with the
 * tangents of every other alpha tensor set to zero: a reference that does
 * not go through the graph's own hvp@ outputs, so a product seeded on the
 * wrong tensor, or an entry that reads another tensor's tangent, fails.
 * The interpreter's tangents are restored, and it is run again, after.
 * Returns the number of entries compared. */
static int check_hvp_on(Interp *it, const StFile *out, Cmp *c)
{
	const IrGraph *g = it->g;
	int n = 0;
	for (int a = 0; a < g->n; a++) {
		if (g->node[a].op != IR_ALPHA)
			continue;
		char head[256];
		snprintf(head, sizeof head, AD_HVP_ON_PREFIX "%s" AD_HVP_ON_SEP, g->node[a].name);
		bool any = false;
		for (size_t i = 0; i < out->ntensors; i++)
			any |= strncmp(out->tensors[i].name, head, strlen(head)) == 0;
		if (!any)
			continue;
		/* zero the other alpha tensors' tangents, keeping them by node */
		double **kept = calloc((size_t)g->n, sizeof *kept);
		assert_non_null(kept);
		for (int b = 0; b < g->n; b++) {
			int t = g->node[b].op == IR_ALPHA && b != a ? tangent_of(g, b) : -1;
			if (t < 0)
				continue;
			size_t bytes = (size_t)ir_numel(g->node[t].shape) * sizeof(double);
			kept[b] = malloc(bytes);
			assert_non_null(kept[b]);
			memcpy(kept[b], interp_value(it, t), bytes);
			memset(interp_value(it, t), 0, bytes);
		}
		interp_or_fail(it);
		for (int i = 0; i < g->nout; i++) {
			const char *name = g->out[i].name;
			if (strncmp(name, AD_HVP_PREFIX, strlen(AD_HVP_PREFIX)) != 0)
				continue;
			char key[512];
			snprintf(key, sizeof key, "%s%s", head, name + strlen(AD_HVP_PREFIX));
			compare(key, out_tensor(out, "", key), interp_value(it, g->out[i].v),
				ir_numel(g->node[g->out[i].v].shape), c);
			n++;
		}
		for (int b = 0; b < g->n; b++)
			if (kept[b]) {
				int t = tangent_of(g, b);
				memcpy(interp_value(it, t), kept[b],
				       (size_t)ir_numel(g->node[t].shape) * sizeof(double));
				free(kept[b]);
			}
		free(kept);
		interp_or_fail(it);
	}
	return n;
}

/* The curvature entries in f64 against the interpreter, both with a
 * drop-path mask and without: hvp (after hvp_prepare, twice, the same
 * bits: the probe checks) and mixed (likewise after mixed_prepare, whose
 * gradient is checked too), on random tangents of every tensor (each
 * entry must read only its part); and the program's entries along one
 * alpha tensor alone (check_hvp_on), of which there must be at least
 * `min_on`. */
static void check_curvature_f64(const char *space, const char *const *ov, int nov, int min_on)
{
	const char *bin = path_in("probe64");
	Ref ref = {.curvature = true};
	ref_open(&ref, space, ov, nov, true, false, build_probe, bin);
	const IrGraph *g = ref.g;
	const char *in = path_in("probe-in.safetensors");
	for (int drop = 0; drop < 2; drop++) {
		ref_random(&ref, 31 + (uint64_t)drop, drop);
		StFile out[2];
		const char *entry[2] = {"hvp", "mixed"};
		for (int e = 0; e < 2; e++) {
			probe_inputs(&ref.it, false, drop, entry[e], in);
			probe(bin, in, &out[e]);
			Cmp c = {0, 1, ""};
			int seen = 0, on = 0;
			double norm = 0;
			int grads = 0;
			for (int i = 0; i < g->nout; i++) {
				const char *name = g->out[i].name;
				const char *prefix = e ? AD_MIXED_PREFIX : AD_HVP_PREFIX;
				if (e && strncmp(name, AD_GRAD_PREFIX, strlen(AD_GRAD_PREFIX)) == 0) {
					/* mixed_prepare's gradient, all of it */
					int64_t n = ir_numel(g->node[g->out[i].v].shape);
					compare(name, out_tensor(&out[e], "", name),
						interp_value(&ref.it, g->out[i].v), n, &c);
					grads++;
					continue;
				}
				if (strncmp(name, prefix, strlen(prefix)) != 0)
					continue;
				int64_t n = ir_numel(g->node[g->out[i].v].shape);
				const double *want = interp_value(&ref.it, g->out[i].v);
				for (int64_t k = 0; k < n; k++)
					norm += want[k] * want[k];
				compare(name, out_tensor(&out[e], "", name), want, n, &c);
				seen++;
			}
			if (e == 0)
				on = check_hvp_on(&ref.it, &out[e], &c);
			double want_loss = interp_value(&ref.it, g->loss)[0];
			print_message("# %s f64 %s%s: %d tensors (norm %.3g), %d along one tensor, worst "
				      "relative L2 error %.3g (%s); loss %.15g\n", space, entry[e],
				      drop ? " with drop-path" : "", seen, sqrt(norm), on, c.worst_rel,
				      c.worst, out_loss(&out[e]));
			assert_true(seen > 0);
			assert_true(e == 1 || on >= min_on);
			assert_true(e == 0 || grads > 0);
			assert_true(norm > 1e-6);
			assert_true(c.worst_rel < 1e-10);
			assert_true(fabs(out_loss(&out[e]) - want_loss) <= 1e-12 * fabs(want_loss));
			st_free(&out[e]);
		}
	}
	ref_close(&ref);
}

static void test_darts_curvature_f64(void **state)
{
	(void)state;
	check_curvature_f64("darts", modes_cfg, sizeof modes_cfg / sizeof *modes_cfg, 1);
}

static void test_s3_curvature_f64(void **state)
{
	(void)state;
	const char *ov[] = {"C=4", "layers=3", "nodes=3", "input=1x8x8", "classes=6", "batch=3"};
	check_curvature_f64("s3", ov, 6, 0);
}

/* f32 against PyTorch (eval_darts.safetensors, gen_eval.py): the running
 * statistics after one training-mode pass from the initial ones, and the
 * eval-mode logits and loss with them.  Some running means are zero but
 * for rounding (a pool of a node, a sum of batch-normalized candidates):
 * 1e-17 in PyTorch's f64, some 5e-9 in f32.  Their errors are measured
 * against an absolute floor of 1e-4 per element (so the tolerance below
 * allows them 1e-8), and not by cosine. */
static void test_eval_fixture_f32(void **state)
{
	(void)state;
	const char *bin = path_in("probe32");
	Ref fx = {0}; /* the running statistics stay at mean 0, variance 1 */
	fixture_open(&fx, "eval_darts.safetensors", "darts", build_probe, bin);
	const StFile *f = &fx.f;
	const IrGraph *g = &fx.m->g;
	Interp *it = &fx.it;
	const char *in = path_in("probe-in.safetensors");
	StFile tr, ev;
	probe_inputs(it, true, false, "loss", in);
	probe(bin, in, &tr);
	Cmp cr = {0, 1, ""};
	int nrun = 0;
	for (int v = 0; v < g->n; v++) {
		const IrNode *n = &g->node[v];
		if (n->op != IR_RUNNING)
			continue;
		const StTensor *want = out_tensor(f, "expect.running.", n->name);
		compare_floor(n->name, out_tensor(&tr, "running.", n->name), (const double *)want->data,
			      want->numel, 1e-4, &cr);
		/* eval mode runs on PyTorch's statistics */
		memcpy(interp_value(it, v), want->data, (size_t)want->numel * sizeof(double));
		nrun++;
	}
	probe_inputs(it, true, false, "infer", in);
	probe(bin, in, &ev);
	const StTensor *wl = out_tensor(f, "", "expect.eval.logits");
	Cmp cl = {0, 1, ""};
	compare("logits", out_tensor(&ev, "", "logits"), (const double *)wl->data, wl->numel, &cl);
	double want_loss = ((const double *)out_tensor(f, "", "expect.eval.loss")->data)[0];
	print_message("# darts f32: %d running statistics after a training pass, worst relative L2 "
		      "%.3g (%s); eval mode: loss %.9g (PyTorch %.9g), logits relative L2 %.3g, "
		      "cosine %.9f\n",
		      nrun, cr.worst_rel, cr.worst, out_loss(&ev), want_loss, cl.worst_rel, cl.worst_cos);
	assert_int_equal(nrun, 2 * g->nstat);
	assert_true(nrun > 0);
	assert_true(cr.worst_rel <= 1e-4);
	assert_true(fabs(out_loss(&ev) - want_loss) <= 1e-5 * fabs(want_loss));
	assert_true(cl.worst_rel <= 1e-4 && cl.worst_cos >= 0.99999);
	st_free(&tr);
	st_free(&ev);
	ref_close(&fx);
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

/* Wide enough (8 x 16 x 8 x 8 batch norms) that the per-channel kernels
 * go through blocks of channels (kern_reduce.c's chan_block): build.test
 * checks that the program has them. */
static const char *const wide_cfg[] = {"C=16", "layers=3", "nodes=2", "input=1x8x8",
				       "classes=5", "batch=8"};

static void test_s2_wide_f64(void **state)
{
	(void)state;
	check_f64("s2", wide_cfg, sizeof wide_cfg / sizeof *wide_cfg);
}

static void test_s2_wide_curvature_f64(void **state)
{
	(void)state;
	check_curvature_f64("s2", wide_cfg, sizeof wide_cfg / sizeof *wide_cfg, 0);
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

#ifdef HAVE_LLVM
static int on_llvm(void **state)
{
	(void)state;
	backend = "llvm";
	return 0;
}

static int on_c(void **state)
{
	(void)state;
	backend = "c";
	return 0;
}

/* A test on the C backend, and on the LLVM one under its name with _llvm. */
#define BOTH(t) cmocka_unit_test(t), {#t "_llvm", t, on_llvm, on_c, NULL}
#else
#define BOTH(t) cmocka_unit_test(t)
#endif

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		BOTH(test_tiny_f64),
		BOTH(test_s2_f64),
		BOTH(test_darts_f64),
		BOTH(test_darts_fixture),
		BOTH(test_s1_fixture),
		BOTH(test_s2_fixture),
		BOTH(test_s3_fixture),
		BOTH(test_darts_modes_f64),
		BOTH(test_eval_fixture_f32),
		BOTH(test_darts_curvature_f64),
		BOTH(test_s3_curvature_f64),
		BOTH(test_s2_wide_f64),
		BOTH(test_s2_wide_curvature_f64),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
