/* rt_optim.c - the optimizers of the search step (rt/optim.c) against
 * PyTorch's update rules, written out again here in plain double: SGD
 * (first-step momentum, dampening, nesterov, weight decay), Adam (bias
 * correction at t = 1 and t = 3, L2 weight decay) and global gradient-norm
 * clipping (above, at and below the threshold), on a small hand-built
 * program in f32 and f64 blocks, each touching its own set of tensors
 * alone. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nasrt.h"
#include "optim.h"

/* Weights and alphas interleaved, so an optimizer's state (its tensors
 * back to back) is laid out unlike the parameter block. */
enum { NP = 14 };
static const NasTensor tensors[] = {
	{"stem.weight", NAS_CONV, 4, {2, 1, 1, 1}, 2, 0, 1},
	{"alpha.normal", NAS_ALPHA, 2, {2, 2}, 4, 2, 0},
	{"bn.weight", NAS_BN_GAMMA, 1, {2}, 2, 6, 0},
	{"bn.bias", NAS_BN_BETA, 1, {2}, 2, 8, 0},
	{"alpha.reduce", NAS_ALPHA, 2, {1, 2}, 2, 10, 0},
	{"fc.bias", NAS_BIAS, 1, {2}, 2, 12, 2},
};
static const int is_alpha[NP] = {0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0};

static NasProgram program(int real_size)
{
	NasProgram p;
	memset(&p, 0, sizeof p);
	p.spec = "rt_optim";
	p.config = "";
	p.real_size = real_size;
	p.batch = p.in_c = p.in_h = p.in_w = 1;
	p.classes = 2;
	p.ntensors = (int)(sizeof tensors / sizeof tensors[0]);
	p.tensors = tensors;
	p.nparams = NP;
	return p;
}

/* A block of NP reals of either size, read and written as double. */
typedef struct Block {
	int rs;
	union {
		float f[NP];
		double d[NP];
	} u;
} Block;

static double at(const Block *b, int i)
{
	return b->rs == 8 ? b->u.d[i] : b->u.f[i];
}

static void set(Block *b, int i, double v)
{
	if (b->rs == 8)
		b->u.d[i] = v;
	else
		b->u.f[i] = (float)v;
}

static Block block(int rs, const double *v)
{
	Block b;
	memset(&b, 0, sizeof b);
	b.rs = rs;
	for (int i = 0; i < NP; i++)
		set(&b, i, v[i]);
	return b;
}

/* Starting parameters and the gradient of step k: values of both signs
 * and various sizes, exact in float. */
static double w0(int i)
{
	return (i % 3 - 1) * 0.75 + i * 0.0625;
}

static double grad_at(int k, int i)
{
	return ((i * 7 + k * 3) % 11 - 5) * 0.125 + k * 0.03125;
}

/* How close the code's result must be to the double formulas: f32 blocks
 * round parameters and state to float every step. */
static double tol(int rs, double expect)
{
	double scale = fabs(expect) > 1 ? fabs(expect) : 1;
	return (rs == 8 ? 1e-13 : 3e-6) * scale;
}

static void near(int rs, double got, double expect, const char *what, int i)
{
	if (!(fabs(got - expect) <= tol(rs, expect)))
		fail_msg("f%d %s[%d]: got %.17g, expected %.17g", rs * 8, what, i, got, expect);
}

/* ---- sets ---- */

static void test_sets(void **state)
{
	(void)state;
	NasProgram p = program(4);
	assert_int_equal(nas_set_numel(&p, NAS_WEIGHTS), 8);
	assert_int_equal(nas_set_numel(&p, NAS_ALPHAS), 6);
	for (int i = 0; i < p.ntensors; i++) {
		int a = tensors[i].kind == NAS_ALPHA;
		assert_int_equal(nas_in_set(&tensors[i], NAS_ALPHAS), a);
		assert_int_equal(nas_in_set(&tensors[i], NAS_WEIGHTS), !a);
	}
}

/* ---- SGD ---- */

/* w = 1, g = 0.5, lr 0.1, momentum 0.9, weight decay 0.1, worked by hand:
 * step 1: d = 0.5 + 0.1 = 0.6, buf = d = 0.6 (not 0.1 * 0.6: the first
 *         buffer is the gradient itself), w = 1 - 0.06 = 0.94;
 * step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134,
 *         w = 0.94 - 0.1134 = 0.8266.
 * With nesterov, step 1: d = 0.6 + 0.9 * 0.6 = 1.14, w = 0.886. */
static void sgd_by_hand(int rs)
{
	NasProgram p = program(rs);
	double v[NP], g[NP];
	for (int i = 0; i < NP; i++) {
		v[i] = 1;
		g[i] = 0.5;
	}
	Block w = block(rs, v), gr = block(rs, g);
	NasSgdConfig c = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1};
	NasSgd s;
	assert_int_equal(nas_sgd_init(&s, &p, NAS_WEIGHTS, &c), 0);
	nas_sgd_step(&s, &w.u, &gr.u);
	for (int i = 0; i < NP; i++)
		near(rs, at(&w, i), is_alpha[i] ? 1.0 : 0.94, "sgd step 1", i);
	nas_sgd_step(&s, &w.u, &gr.u);
	for (int i = 0; i < NP; i++)
		near(rs, at(&w, i), is_alpha[i] ? 1.0 : 0.8266, "sgd step 2", i);
	nas_sgd_free(&s);

	c.nesterov = 1;
	w = block(rs, v);
	assert_int_equal(nas_sgd_init(&s, &p, NAS_WEIGHTS, &c), 0);
	nas_sgd_step(&s, &w.u, &gr.u);
	for (int i = 0; i < NP; i++)
		near(rs, at(&w, i), is_alpha[i] ? 1.0 : 0.886, "nesterov step 1", i);
	nas_sgd_free(&s);
}

static void test_sgd_by_hand_f32(void **state)
{
	(void)state;
	sgd_by_hand(4);
}

static void test_sgd_by_hand_f64(void **state)
{
	(void)state;
	sgd_by_hand(8);
}

/* torch.optim.SGD.step for one parameter, written out again. */
static void ref_sgd(const NasSgdConfig *c, int step, double *w, double *buf, double g)
{
	double d = g + c->weight_decay * *w;
	if (c->momentum != 0) {
		*buf = step == 0 ? d : c->momentum * *buf + (1 - c->dampening) * d;
		d = c->nesterov ? d + c->momentum * *buf : *buf;
	}
	*w = *w - c->lr * d;
}

/* Four steps of cfg on set, against ref_sgd; the other set and the
 * gradients stay as they were, bit for bit. */
static void sgd_steps(int rs, const NasSgdConfig *cfg, NasParamSet set)
{
	NasProgram p = program(rs);
	double v[NP], ref[NP], buf[NP] = {0};
	for (int i = 0; i < NP; i++)
		v[i] = ref[i] = w0(i);
	Block w = block(rs, v), start = w;
	NasSgd s;
	assert_int_equal(nas_sgd_init(&s, &p, set, cfg), 0);
	for (int k = 0; k < 4; k++) {
		double g[NP];
		for (int i = 0; i < NP; i++)
			g[i] = grad_at(k, i);
		Block gr = block(rs, g), gr0 = gr;
		nas_sgd_step(&s, &w.u, &gr.u);
		assert_memory_equal(&gr, &gr0, sizeof gr);
		for (int i = 0; i < NP; i++) {
			if (is_alpha[i] != (set == NAS_ALPHAS)) {
				assert_true(at(&w, i) == at(&start, i));
				continue;
			}
			ref_sgd(cfg, k, &ref[i], &buf[i], g[i]);
			near(rs, at(&w, i), ref[i], "sgd", i);
		}
	}
	assert_int_equal(s.steps, 4);
	nas_sgd_free(&s);
}

static void sgd_variants(int rs)
{
	const NasSgdConfig momentum = {.lr = 0.025, .momentum = 0.9, .weight_decay = 3e-4};
	const NasSgdConfig nesterov = {.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-2,
				       .nesterov = 1};
	const NasSgdConfig damped = {.lr = 0.1, .momentum = 0.5, .dampening = 0.3};
	const NasSgdConfig plain = {.lr = 0.2, .weight_decay = 0.05};
	sgd_steps(rs, &momentum, NAS_WEIGHTS);
	sgd_steps(rs, &nesterov, NAS_WEIGHTS);
	sgd_steps(rs, &damped, NAS_WEIGHTS);
	sgd_steps(rs, &plain, NAS_WEIGHTS);
	sgd_steps(rs, &momentum, NAS_ALPHAS);
}

static void test_sgd_steps_f32(void **state)
{
	(void)state;
	sgd_variants(4);
}

static void test_sgd_steps_f64(void **state)
{
	(void)state;
	sgd_variants(8);
}

/* Without momentum there is no state to allocate. */
static void test_sgd_no_momentum_no_state(void **state)
{
	(void)state;
	NasProgram p = program(4);
	NasSgdConfig c = {.lr = 0.1};
	NasSgd s;
	assert_int_equal(nas_sgd_init(&s, &p, NAS_WEIGHTS, &c), 0);
	assert_null(s.buf);
	nas_sgd_free(&s);
}

/* What torch.optim.SGD refuses. */
static void test_sgd_refuses(void **state)
{
	(void)state;
	NasProgram p = program(4);
	NasSgd s;
	const NasSgdConfig bad[] = {
		{.lr = -0.1},
		{.lr = 0.1, .momentum = -0.5},
		{.lr = 0.1, .weight_decay = -1e-4},
		{.lr = 0.1, .nesterov = 1},
		{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = 1},
		{.lr = NAN},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(nas_sgd_init(&s, &p, NAS_WEIGHTS, &bad[i]), -1);
		assert_null(s.buf);
	}
}

/* ---- Adam ---- */

/* At t = 1 the bias correction makes m_hat = g and v_hat = g^2, so every
 * element moves by lr * g / (|g| + eps).  With a constant gradient (and no
 * weight decay) that stays so at every t: m_t = (1 - b1^t) g and v_t =
 * (1 - b2^t) g^2 exactly, so after three steps
 * w = w0 - 3 lr g / (|g| + eps). */
static void adam_by_hand(int rs)
{
	NasProgram p = program(rs);
	double v[NP], g[NP];
	for (int i = 0; i < NP; i++) {
		v[i] = 1;
		g[i] = i % 2 ? 0.5 : -2.0;
	}
	Block w = block(rs, v), gr = block(rs, g);
	NasAdamConfig c = {.lr = 0.01, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8};
	NasAdam a;
	assert_int_equal(nas_adam_init(&a, &p, NAS_ALPHAS, &c), 0);
	nas_adam_step(&a, &w.u, &gr.u);
	for (int i = 0; i < NP; i++) {
		/* 1 - 0.01 * 0.5 / 0.50000001 and 1 + 0.01 * 2 / 2.00000001 */
		double e = i % 2 ? 0.99000000019999999600 : 1.00999999995000000025;
		near(rs, at(&w, i), is_alpha[i] ? e : 1.0, "adam t=1", i);
	}
	nas_adam_step(&a, &w.u, &gr.u);
	nas_adam_step(&a, &w.u, &gr.u);
	assert_int_equal(a.t, 3);
	for (int i = 0; i < NP; i++) {
		double e = i % 2 ? 1 - 3 * 0.01 * 0.5 / (0.5 + 1e-8) : 1 + 3 * 0.01 * 2 / (2 + 1e-8);
		near(rs, at(&w, i), is_alpha[i] ? e : 1.0, "adam t=3", i);
	}
	nas_adam_free(&a);
}

static void test_adam_by_hand_f32(void **state)
{
	(void)state;
	adam_by_hand(4);
}

static void test_adam_by_hand_f64(void **state)
{
	(void)state;
	adam_by_hand(8);
}

/* torch.optim.Adam.step for one parameter at step t (from 1). */
static void ref_adam(const NasAdamConfig *c, int t, double *w, double *m, double *v, double g)
{
	g += c->weight_decay * *w;
	*m = c->beta1 * *m + (1 - c->beta1) * g;
	*v = c->beta2 * *v + (1 - c->beta2) * g * g;
	double m_hat = *m / (1 - pow(c->beta1, t));
	double v_hat = *v / (1 - pow(c->beta2, t));
	*w -= c->lr * m_hat / (sqrt(v_hat) + c->eps);
}

static void adam_steps(int rs, const NasAdamConfig *cfg, NasParamSet set)
{
	NasProgram p = program(rs);
	double v[NP], ref[NP], m1[NP] = {0}, m2[NP] = {0};
	for (int i = 0; i < NP; i++)
		v[i] = ref[i] = w0(i);
	Block w = block(rs, v), start = w;
	NasAdam a;
	assert_int_equal(nas_adam_init(&a, &p, set, cfg), 0);
	for (int k = 0; k < 3; k++) {
		double g[NP];
		for (int i = 0; i < NP; i++)
			g[i] = grad_at(k, i);
		Block gr = block(rs, g), gr0 = gr;
		nas_adam_step(&a, &w.u, &gr.u);
		assert_memory_equal(&gr, &gr0, sizeof gr);
		for (int i = 0; i < NP; i++) {
			if (is_alpha[i] != (set == NAS_ALPHAS)) {
				assert_true(at(&w, i) == at(&start, i));
				continue;
			}
			ref_adam(cfg, k + 1, &ref[i], &m1[i], &m2[i], g[i]);
			near(rs, at(&w, i), ref[i], k ? "adam" : "adam t=1", i);
		}
	}
	nas_adam_free(&a);
}

static void adam_variants(int rs)
{
	/* the search step's, then a larger weight decay and eps */
	const NasAdamConfig darts = {.lr = 3e-4, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8,
				     .weight_decay = 1e-3};
	const NasAdamConfig other = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-3,
				     .weight_decay = 0.5};
	adam_steps(rs, &darts, NAS_ALPHAS);
	adam_steps(rs, &other, NAS_ALPHAS);
	adam_steps(rs, &other, NAS_WEIGHTS);
}

static void test_adam_steps_f32(void **state)
{
	(void)state;
	adam_variants(4);
}

static void test_adam_steps_f64(void **state)
{
	(void)state;
	adam_variants(8);
}

static void test_adam_refuses(void **state)
{
	(void)state;
	NasProgram p = program(8);
	NasAdam a;
	const NasAdamConfig bad[] = {
		{.lr = -1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
		{.lr = 1e-3, .beta1 = 1.0, .beta2 = 0.999, .eps = 1e-8},
		{.lr = 1e-3, .beta1 = 0.9, .beta2 = -0.1, .eps = 1e-8},
		{.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = -1e-8},
		{.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = -1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(nas_adam_init(&a, &p, NAS_ALPHAS, &bad[i]), -1);
		assert_null(a.m);
		assert_null(a.v);
	}
}

/* ---- clipping ---- */

/* Weight gradients with a 2-norm of 13 (3, 4, 12 and zeros), alpha
 * gradients of 100s that must neither count nor move. */
static Block clip_grads(int rs)
{
	double g[NP];
	for (int i = 0; i < NP; i++)
		g[i] = is_alpha[i] ? 100.0 + i : 0.0;
	g[0] = 3;
	g[7] = -4;
	g[12] = 12;
	return block(rs, g);
}

static void clip(int rs)
{
	NasProgram p = program(rs);
	/* above: scaled by 6.5 / (13 + 1e-6) */
	Block g = clip_grads(rs), g0 = g;
	double total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 6.5);
	assert_true(fabs(total - 13) <= 1e-12);
	double coef = 6.5 / (13 + 1e-6);
	for (int i = 0; i < NP; i++)
		near(rs, at(&g, i), is_alpha[i] ? at(&g0, i) : at(&g0, i) * coef, "clip above", i);
	for (int i = 0; i < NP; i++)
		if (is_alpha[i])
			assert_true(at(&g, i) == at(&g0, i));
	/* by hand: 3 * 0.5 / (1 + 1e-6 / 13) */
	near(rs, at(&g, 0), 1.49999988461539349, "clip above, by hand", 0);

	/* below: untouched, bit for bit */
	g = g0;
	total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 20);
	assert_true(fabs(total - 13) <= 1e-12);
	assert_memory_equal(&g, &g0, sizeof g);

	/* at the threshold, PyTorch still scales, by 13 / (13 + 1e-6) */
	total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 13);
	coef = 13 / (13 + 1e-6);
	for (int i = 0; i < NP; i++)
		near(rs, at(&g, i), is_alpha[i] ? at(&g0, i) : at(&g0, i) * coef, "clip at", i);
	if (rs == 8)
		assert_true(at(&g, 12) < 12);

	/* on the alphas: sqrt of the sum of (100 + i)^2 over them */
	g = g0;
	double ss = 0;
	for (int i = 0; i < NP; i++)
		if (is_alpha[i])
			ss += (100.0 + i) * (100.0 + i);
	total = nas_clip_grad_norm(&p, NAS_ALPHAS, &g.u, 1);
	assert_true(fabs(total - sqrt(ss)) <= 1e-12 * sqrt(ss));
	coef = 1 / (sqrt(ss) + 1e-6);
	for (int i = 0; i < NP; i++) {
		if (is_alpha[i])
			near(rs, at(&g, i), at(&g0, i) * coef, "clip alphas", i);
		else
			assert_true(at(&g, i) == at(&g0, i));
	}
}

static void test_clip_f32(void **state)
{
	(void)state;
	clip(4);
}

static void test_clip_f64(void **state)
{
	(void)state;
	clip(8);
}

/* The norm is summed in double: float gradients whose squares underflow
 * or overflow float still give the right total. */
static void test_clip_norm_in_double(void **state)
{
	(void)state;
	NasProgram p = program(4);
	double v[NP] = {0};
	v[0] = 3e30;
	v[1] = 4e30;
	Block g = block(4, v);
	double total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 1e40);
	assert_true(fabs(total - 5e30) <= 1e-6 * 5e30);
	v[0] = 3e-30;
	v[1] = 4e-30;
	g = block(4, v);
	total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 1);
	assert_true(fabs(total - 5e-30) <= 1e-6 * 5e-30);
}

/* ---- the search step's pair ---- */

/* Adam on the alphas and SGD on the weights, in turn on the same block,
 * as a search step does: each sees its own tensors alone. */
static void both(int rs)
{
	NasProgram p = program(rs);
	const NasAdamConfig ac = {.lr = 3e-4, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8,
				  .weight_decay = 1e-3};
	const NasSgdConfig sc = {.lr = 0.025, .momentum = 0.9, .weight_decay = 3e-4};
	double v[NP], ref[NP], m1[NP] = {0}, m2[NP] = {0}, buf[NP] = {0};
	for (int i = 0; i < NP; i++)
		v[i] = ref[i] = w0(i);
	Block w = block(rs, v);
	NasAdam a;
	NasSgd s;
	assert_int_equal(nas_adam_init(&a, &p, NAS_ALPHAS, &ac), 0);
	assert_int_equal(nas_sgd_init(&s, &p, NAS_WEIGHTS, &sc), 0);
	for (int k = 0; k < 3; k++) {
		double gv[NP], gt[NP];
		for (int i = 0; i < NP; i++) {
			gv[i] = grad_at(2 * k, i);
			gt[i] = grad_at(2 * k + 1, i) * 10;  /* norm above 5 */
		}
		Block g = block(rs, gv);
		nas_adam_step(&a, &w.u, &g.u);
		g = block(rs, gt);
		double ss = 0;
		for (int i = 0; i < NP; i++)
			ss += is_alpha[i] ? 0 : gt[i] * gt[i];
		double total = nas_clip_grad_norm(&p, NAS_WEIGHTS, &g.u, 5);
		assert_true(fabs(total - sqrt(ss)) <= 1e-6 * sqrt(ss));
		assert_true(total > 5);
		nas_sgd_step(&s, &w.u, &g.u);
		double coef = 5 / (sqrt(ss) + 1e-6);
		for (int i = 0; i < NP; i++) {
			if (is_alpha[i])
				ref_adam(&ac, k + 1, &ref[i], &m1[i], &m2[i], gv[i]);
			else
				ref_sgd(&sc, k, &ref[i], &buf[i], gt[i] * coef);
			near(rs, at(&w, i), ref[i], "search step", i);
		}
	}
	nas_adam_free(&a);
	nas_sgd_free(&s);
}

static void test_both_f32(void **state)
{
	(void)state;
	both(4);
}

static void test_both_f64(void **state)
{
	(void)state;
	both(8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_sgd_by_hand_f32),
		cmocka_unit_test(test_sgd_by_hand_f64),
		cmocka_unit_test(test_sgd_steps_f32),
		cmocka_unit_test(test_sgd_steps_f64),
		cmocka_unit_test(test_sgd_no_momentum_no_state),
		cmocka_unit_test(test_sgd_refuses),
		cmocka_unit_test(test_adam_by_hand_f32),
		cmocka_unit_test(test_adam_by_hand_f64),
		cmocka_unit_test(test_adam_steps_f32),
		cmocka_unit_test(test_adam_steps_f64),
		cmocka_unit_test(test_adam_refuses),
		cmocka_unit_test(test_clip_f32),
		cmocka_unit_test(test_clip_f64),
		cmocka_unit_test(test_clip_norm_in_double),
		cmocka_unit_test(test_both_f32),
		cmocka_unit_test(test_both_f64),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
