/* toy_program.c - a search program written by hand to the contract of
 * rt/nasrt.h, standing in for what `nasc build` will generate, so the
 * runtime's command line, files and checks can be tested end to end.
 * Built twice: tests/toy_search (float) and tests/toy_search64
 * (-DREAL=double).
 *
 * The network, on a batch of 4 images of 2x2x2 with 3 classes:
 *   x'      = x + 0.1 * noise          (noise candidate 0: nas_noise_*)
 *   h       = stem.weight (a 1x1 conv, 2 -> 2 channels) applied to x'
 *   u       = fc.weight . flatten(h) + fc.bias
 *   m[c]    = softmax(alpha.normal[0])[c] + softmax(alpha.normal[1])[c]
 *   z[c]    = bn.weight[c] * m[c] * u[c] + bn.bias[c]    (the logits)
 *   loss    = mean over the batch of logsumexp(z) - z[y]
 * with its gradient derived by hand below.  bn.weight and bn.bias are a
 * plain affine pair; they are there for their kinds (ones and zeros). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nasrt.h"

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

enum { B = 4, C = 2, H = 2, W = 2, P = H * W, D = C * P, K = 3, ROWS = 2 };

/* Offsets into the parameter block (the table below, in order). */
enum {
	OFF_STEM = 0,
	OFF_FC_W = OFF_STEM + C * C,
	OFF_FC_B = OFF_FC_W + K * D,
	OFF_GAMMA = OFF_FC_B + K,
	OFF_BETA = OFF_GAMMA + K,
	OFF_ALPHA = OFF_BETA + K,
	NPARAMS = OFF_ALPHA + ROWS * K,
};

static const NasTensor tensors[] = {
	{"stem.weight", NAS_CONV, 4, {C, C, 1, 1}, C * C, OFF_STEM, C},
	{"fc.weight", NAS_LINEAR, 2, {K, D}, K * D, OFF_FC_W, D},
	{"fc.bias", NAS_BIAS, 1, {K}, K, OFF_FC_B, D},
	{"bn.weight", NAS_BN_GAMMA, 1, {K}, K, OFF_GAMMA, 0},
	{"bn.bias", NAS_BN_BETA, 1, {K}, K, OFF_BETA, 0},
	{"alpha.normal", NAS_ALPHA, 2, {ROWS, K}, ROWS * K, OFF_ALPHA, 0},
};

/* The arena: the noisy input, then per image the flattened features and
 * the linear outputs, kept from the forward pass for the backward. */
enum { AR_X = 0, AR_F = AR_X + B * D, AR_U = AR_F + B * D, AR_REALS = AR_U + B * K };

/* nas_noise_f32 or nas_noise_f64, as the build's real is. */
#define noise(out, n, run) \
	_Generic((out), float *: nas_noise_f32, double *: nas_noise_f64)(out, n, run, 0)

static void softmax(const real *z, int n, real *p)
{
	real mx = z[0];
	for (int i = 1; i < n; i++)
		mx = z[i] > mx ? z[i] : mx;
	real s = 0;
	for (int i = 0; i < n; i++)
		s += p[i] = (real)exp(z[i] - mx);
	for (int i = 0; i < n; i++)
		p[i] /= s;
}

/* The mixing weights m of alpha, and each row's softmax in pa. */
static void mixing(const real *alpha, real pa[ROWS][K], real *m)
{
	for (int c = 0; c < K; c++)
		m[c] = 0;
	for (int r = 0; r < ROWS; r++) {
		softmax(alpha + r * K, K, pa[r]);
		for (int c = 0; c < K; c++)
			m[c] += pa[r][c];
	}
}

/* The forward pass: fills the arena, the logits of every image in z, and
 * returns the mean loss. */
static double forward(const NasRun *run, real z[B][K])
{
	const real *w = run->params, *x = run->x;
	real *ar = run->arena, *xn = ar + AR_X, *f = ar + AR_F, *u = ar + AR_U;
	real pa[ROWS][K], m[K];
	mixing(w + OFF_ALPHA, pa, m);
	noise(xn, B * D, run);
	double loss = 0;
	for (int b = 0; b < B; b++) {
		for (int i = 0; i < D; i++)
			xn[b * D + i] = x[b * D + i] + (real)0.1 * xn[b * D + i];
		for (int o = 0; o < C; o++)
			for (int q = 0; q < P; q++) {
				real s = 0;
				for (int i = 0; i < C; i++)
					s += w[OFF_STEM + o * C + i] * xn[b * D + i * P + q];
				f[b * D + o * P + q] = s;
			}
		for (int c = 0; c < K; c++) {
			real s = w[OFF_FC_B + c];
			for (int j = 0; j < D; j++)
				s += w[OFF_FC_W + c * D + j] * f[b * D + j];
			u[b * K + c] = s;
			z[b][c] = w[OFF_GAMMA + c] * m[c] * s + w[OFF_BETA + c];
		}
		/* logsumexp(z) - z[y], shifted by the largest logit */
		real mx = z[b][0];
		for (int c = 1; c < K; c++)
			mx = z[b][c] > mx ? z[b][c] : mx;
		double s = 0;
		for (int c = 0; c < K; c++)
			s += exp(z[b][c] - mx);
		loss += mx + log(s) - z[b][run->y[b]];
	}
	return loss / B;
}

static void toy_loss(NasRun *run)
{
	real z[B][K];
	run->loss = forward(run, z);
	if (run->logits)
		memcpy(run->logits, z, sizeof z);
}

static void toy_grad(NasRun *run)
{
	const real *w = run->params, *xn = (const real *)run->arena + AR_X;
	const real *f = (const real *)run->arena + AR_F, *u = (const real *)run->arena + AR_U;
	real *g = run->grads;
	real z[B][K], pa[ROWS][K], m[K], dm[K] = {0};
	run->loss = forward(run, z);
	mixing(w + OFF_ALPHA, pa, m);
	for (int i = 0; i < NPARAMS; i++)
		g[i] = 0;
	for (int b = 0; b < B; b++) {
		real dz[K], du[K], df[D] = {0};
		softmax(z[b], K, dz);
		dz[run->y[b]] -= 1;
		for (int c = 0; c < K; c++) {
			dz[c] /= B;
			real uc = u[b * K + c];
			g[OFF_GAMMA + c] += dz[c] * m[c] * uc;
			g[OFF_BETA + c] += dz[c];
			dm[c] += dz[c] * w[OFF_GAMMA + c] * uc;
			du[c] = dz[c] * w[OFF_GAMMA + c] * m[c];
			g[OFF_FC_B + c] += du[c];
			for (int j = 0; j < D; j++) {
				g[OFF_FC_W + c * D + j] += du[c] * f[b * D + j];
				df[j] += du[c] * w[OFF_FC_W + c * D + j];
			}
		}
		for (int o = 0; o < C; o++)
			for (int i = 0; i < C; i++)
				for (int q = 0; q < P; q++)
					g[OFF_STEM + o * C + i] += df[o * P + q] * xn[b * D + i * P + q];
	}
	/* Through each row's softmax: d alpha[r][k] = p[k] (dm[k] - p . dm). */
	for (int r = 0; r < ROWS; r++) {
		real dot = 0;
		for (int c = 0; c < K; c++)
			dot += pa[r][c] * dm[c];
		for (int c = 0; c < K; c++)
			g[OFF_ALPHA + r * K + c] = pa[r][c] * (dm[c] - dot);
	}
}

static const NasProgram toy = {
	.spec = "tests/toy.nas",
	.config = "C=2 input=2x2x2 classes=3 batch=4",
	.nasc_version = "0.1.0-toy",
	.real_size = (int)sizeof(real),
	.batch = B, .in_c = C, .in_h = H, .in_w = W, .classes = K,
	.ntensors = (int)(sizeof tensors / sizeof tensors[0]),
	.tensors = tensors,
	.nparams = NPARAMS,
	.arena_bytes = AR_REALS * (int64_t)sizeof(real),
	.grad = toy_grad,
	.loss = toy_loss,
};

int main(int argc, char **argv)
{
	return nas_main(&toy, argc, argv);
}
