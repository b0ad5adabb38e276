/* interp.c - the graph IR evaluated in double precision (see interp.h).
 * Every tensor is dense, row-major, NCHW. */
#include "interp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int interp_init(Interp *it, const IrGraph *g)
{
	memset(it, 0, sizeof *it);
	it->g = g;
	it->val = calloc((size_t)g->n, sizeof *it->val);
	if (!it->val)
		return -1;
	for (int v = 0; v < g->n; v++) {
		int64_t n = ir_numel(g->node[v].shape);
		it->val[v] = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
		if (!it->val[v]) {
			interp_free(it);
			return -1;
		}
	}
	return 0;
}

void interp_free(Interp *it)
{
	if (it->val)
		for (int v = 0; v < it->g->n; v++)
			free(it->val[v]);
	free(it->val);
	it->val = NULL;
}

double *interp_value(Interp *it, int v)
{
	return it->val[v];
}

/* Index helpers for [N,C,H,W]. */
#define AT4(s, n, c, h, w) ((((n) * (s).d[1] + (c)) * (s).d[2] + (h)) * (s).d[3] + (w))

static void conv2d(const IrNode *nd, const IrShape *xs, const double *x, const double *w,
		   const double *b, double *y)
{
	const IrShape *ys = &nd->shape;
	const IrAttr *a = &nd->at;
	int64_t cig = xs->d[1] / a->groups, cog = ys->d[1] / a->groups;
	IrShape ws = ir_shape4(ys->d[1], cig, a->kh, a->kw);
	for (int64_t n = 0; n < ys->d[0]; n++)
		for (int64_t co = 0; co < ys->d[1]; co++) {
			int64_t g = co / cog;
			for (int64_t ho = 0; ho < ys->d[2]; ho++)
				for (int64_t wo = 0; wo < ys->d[3]; wo++) {
					double acc = b ? b[co] : 0.0;
					for (int64_t ci = 0; ci < cig; ci++)
						for (int i = 0; i < a->kh; i++) {
							int64_t hi = ho * a->stride - a->pad + i * a->dilation;
							if (hi < 0 || hi >= xs->d[2])
								continue;
							for (int j = 0; j < a->kw; j++) {
								int64_t wi = wo * a->stride - a->pad + j * a->dilation;
								if (wi < 0 || wi >= xs->d[3])
									continue;
								acc += x[AT4(*xs, n, g * cig + ci, hi, wi)] *
								       w[AT4(ws, co, ci, i, j)];
							}
						}
					y[AT4(*ys, n, co, ho, wo)] = acc;
				}
		}
}

/* Max and average pooling; padding never wins a max, and is counted in an
 * average only with count_pad. */
static void pool(const IrNode *nd, const IrShape *xs, const double *x, double *y)
{
	const IrShape *ys = &nd->shape;
	const IrAttr *a = &nd->at;
	for (int64_t n = 0; n < ys->d[0]; n++)
		for (int64_t c = 0; c < ys->d[1]; c++)
			for (int64_t ho = 0; ho < ys->d[2]; ho++)
				for (int64_t wo = 0; wo < ys->d[3]; wo++) {
					double acc = nd->op == IR_MAX_POOL ? -INFINITY : 0.0;
					int count = 0;
					for (int i = 0; i < a->kh; i++)
						for (int j = 0; j < a->kw; j++) {
							int64_t hi = ho * a->stride - a->pad + i;
							int64_t wi = wo * a->stride - a->pad + j;
							if (hi < 0 || hi >= xs->d[2] || wi < 0 || wi >= xs->d[3])
								continue;
							double v = x[AT4(*xs, n, c, hi, wi)];
							if (nd->op == IR_MAX_POOL)
								acc = v > acc ? v : acc;
							else
								acc += v;
							count++;
						}
					if (nd->op == IR_AVG_POOL)
						acc /= a->count_pad ? (double)(a->kh * a->kw) : (double)count;
					y[AT4(*ys, n, c, ho, wo)] = acc;
				}
}

/* Training-mode batch norm: statistics over N, H and W, biased variance. */
static void batch_norm(const IrNode *nd, const double *x, const double *gamma,
		       const double *beta, double *y)
{
	const IrShape *s = &nd->shape;
	int64_t per = s->d[0] * s->d[2] * s->d[3];
	for (int64_t c = 0; c < s->d[1]; c++) {
		double mean = 0, var = 0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < s->d[2] * s->d[3]; i++)
				mean += x[(n * s->d[1] + c) * s->d[2] * s->d[3] + i];
		mean /= (double)per;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < s->d[2] * s->d[3]; i++) {
				double dv = x[(n * s->d[1] + c) * s->d[2] * s->d[3] + i] - mean;
				var += dv * dv;
			}
		var /= (double)per;
		double inv = 1.0 / sqrt(var + nd->at.eps);
		double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < s->d[2] * s->d[3]; i++) {
				int64_t k = (n * s->d[1] + c) * s->d[2] * s->d[3] + i;
				y[k] = (x[k] - mean) * inv * g + b;
			}
	}
}

int interp_run(Interp *it, char *err, size_t errlen)
{
	const IrGraph *g = it->g;
	for (int v = 0; v < g->n; v++) {
		const IrNode *nd = &g->node[v];
		const IrShape *s = &nd->shape;
		double *y = it->val[v];
		int64_t numel = ir_numel(*s);
		const double *x = nd->nin > 0 ? it->val[nd->in[0]] : NULL;
		const IrShape *xs = nd->nin > 0 ? &g->node[nd->in[0]].shape : NULL;
		switch (nd->op) {
		case IR_INPUT:
		case IR_LABELS:
		case IR_WEIGHT:
		case IR_ALPHA:
			break;
		case IR_CONV2D:
			conv2d(nd, xs, x, it->val[nd->in[1]], nd->nin > 2 ? it->val[nd->in[2]] : NULL, y);
			break;
		case IR_MAX_POOL:
		case IR_AVG_POOL:
			pool(nd, xs, x, y);
			break;
		case IR_RELU:
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] > 0 ? x[i] : 0.0;
			break;
		case IR_ADD:
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int k = 0; k < nd->nin; k++)
				for (int64_t i = 0; i < numel; i++)
					y[i] += it->val[nd->in[k]][i];
			break;
		case IR_SCALE:
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] * nd->at.scale;
			break;
		case IR_BATCH_NORM:
			batch_norm(nd, x, nd->nin > 1 ? it->val[nd->in[1]] : NULL,
				   nd->nin > 2 ? it->val[nd->in[2]] : NULL, y);
			break;
		case IR_CONCAT: {
			int64_t c0 = 0;
			for (int k = 0; k < nd->nin; k++) {
				const IrShape *ks = &g->node[nd->in[k]].shape;
				const double *xk = it->val[nd->in[k]];
				for (int64_t n = 0; n < s->d[0]; n++)
					for (int64_t c = 0; c < ks->d[1]; c++)
						memcpy(y + AT4(*s, n, c0 + c, 0, 0), xk + AT4(*ks, n, c, 0, 0),
						       (size_t)(s->d[2] * s->d[3]) * sizeof *y);
				c0 += ks->d[1];
			}
			break;
		}
		case IR_SHIFT:
			for (int64_t n = 0; n < s->d[0]; n++)
				for (int64_t c = 0; c < s->d[1]; c++)
					for (int64_t h = 0; h < s->d[2]; h++)
						for (int64_t w = 0; w < s->d[3]; w++)
							y[AT4(*s, n, c, h, w)] =
								x[AT4(*xs, n, c, h + nd->at.shift, w + nd->at.shift)];
			break;
		case IR_ZERO:
			memset(y, 0, (size_t)numel * sizeof *y);
			break;
		case IR_NOISE:
			if (!it->noise) {
				snprintf(err, errlen, "%%%d: noise needs a generator", v);
				return -1;
			}
			it->noise(y, numel, v, it->noise_ctx);
			break;
		case IR_GLOBAL_AVG_POOL: {
			int64_t hw = xs->d[2] * xs->d[3];
			for (int64_t i = 0; i < s->d[0] * s->d[1]; i++) {
				double acc = 0;
				for (int64_t k = 0; k < hw; k++)
					acc += x[i * hw + k];
				y[i] = acc / (double)hw;
			}
			break;
		}
		case IR_LINEAR: {
			const double *w = it->val[nd->in[1]];
			const double *b = nd->nin > 2 ? it->val[nd->in[2]] : NULL;
			int64_t in = xs->d[1], out = s->d[1];
			for (int64_t n = 0; n < s->d[0]; n++)
				for (int64_t o = 0; o < out; o++) {
					double acc = b ? b[o] : 0.0;
					for (int64_t i = 0; i < in; i++)
						acc += x[n * in + i] * w[o * in + i];
					y[n * out + o] = acc;
				}
			break;
		}
		case IR_SOFTMAX: {
			int64_t k = s->d[s->rank - 1], rows = numel / k;
			for (int64_t r = 0; r < rows; r++) {
				double mx = -INFINITY, sum = 0;
				for (int64_t j = 0; j < k; j++)
					mx = x[r * k + j] > mx ? x[r * k + j] : mx;
				for (int64_t j = 0; j < k; j++)
					sum += y[r * k + j] = exp(x[r * k + j] - mx);
				for (int64_t j = 0; j < k; j++)
					y[r * k + j] /= sum;
			}
			break;
		}
		case IR_MIXED: {
			const double *w = x + (int64_t)nd->at.row * (nd->nin - 1);
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int k = 1; k < nd->nin; k++)
				for (int64_t i = 0; i < numel; i++)
					y[i] += w[k - 1] * it->val[nd->in[k]][i];
			break;
		}
		case IR_CROSS_ENTROPY: {
			const double *lab = it->val[nd->in[1]];
			int64_t n = xs->d[0], k = xs->d[1];
			double total = 0;
			for (int64_t i = 0; i < n; i++) {
				int64_t t = (int64_t)lab[i];
				if (t < 0 || t >= k) {
					snprintf(err, errlen, "label %lld of sample %lld is not a class 0..%lld",
						 (long long)t, (long long)i, (long long)k - 1);
					return -1;
				}
				double mx = -INFINITY, sum = 0;
				for (int64_t j = 0; j < k; j++)
					mx = x[i * k + j] > mx ? x[i * k + j] : mx;
				for (int64_t j = 0; j < k; j++)
					sum += exp(x[i * k + j] - mx);
				total += mx + log(sum) - x[i * k + t];
			}
			y[0] = total / (double)n;
			break;
		}
		case IR_OP_COUNT:
			break;
		}
	}
	return 0;
}
