/* interp.c - the graph IR evaluated in double precision (see interp.h).
 * Every tensor is dense, row-major, NCHW.
 *
 * Each backward op walks the index relations of its forward op: a
 * transpose scatters where the forward gathers, and the max pooling ops
 * share one choice of maximum (pool_argmax). */
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
		const IrNode *nd = &g->node[v];
		int64_t n = ir_numel(nd->shape);
		it->val[v] = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
		if (!it->val[v]) {
			interp_free(it);
			return -1;
		}
		/* a mask of ones drops nothing; running statistics start as
		 * PyTorch's do, mean 0 and variance 1 */
		if (nd->op == IR_DROP || (nd->op == IR_RUNNING && nd->wkind == W_BN_VAR))
			for (int64_t i = 0; i < n; i++)
				it->val[v][i] = 1.0;
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

/* The transpose of conv2d as a linear map of x: every product the conv
 * gathers into y[n, co, ho, wo] is scattered back to the input pixel it
 * read.  The result has x's shape, the node's. */
static void conv2d_bwd_data(const IrNode *nd, const IrShape *dys, const double *dy,
			    const double *w, double *dx)
{
	const IrShape *xs = &nd->shape;
	const IrAttr *a = &nd->at;
	int64_t cig = xs->d[1] / a->groups, cog = dys->d[1] / a->groups;
	IrShape ws = ir_shape4(dys->d[1], cig, a->kh, a->kw);
	memset(dx, 0, (size_t)ir_numel(*xs) * sizeof *dx);
	for (int64_t n = 0; n < dys->d[0]; n++)
		for (int64_t co = 0; co < dys->d[1]; co++) {
			int64_t g = co / cog;
			for (int64_t ho = 0; ho < dys->d[2]; ho++)
				for (int64_t wo = 0; wo < dys->d[3]; wo++) {
					double d = dy[AT4(*dys, n, co, ho, wo)];
					for (int64_t ci = 0; ci < cig; ci++)
						for (int i = 0; i < a->kh; i++) {
							int64_t hi = ho * a->stride - a->pad + i * a->dilation;
							if (hi < 0 || hi >= xs->d[2])
								continue;
							for (int j = 0; j < a->kw; j++) {
								int64_t wi = wo * a->stride - a->pad + j * a->dilation;
								if (wi < 0 || wi >= xs->d[3])
									continue;
								dx[AT4(*xs, n, g * cig + ci, hi, wi)] +=
									d * w[AT4(ws, co, ci, i, j)];
							}
						}
				}
		}
}

/* The gradient of conv2d with respect to its weight: each tap summed over
 * the batch and the output pixels, padding contributing nothing.  The
 * result is the weight's shape, the node's. */
static void conv2d_bwd_filter(const IrNode *nd, const IrShape *xs, const double *x,
			      const IrShape *dys, const double *dy, double *dw)
{
	const IrShape *ws = &nd->shape;
	const IrAttr *a = &nd->at;
	int64_t cig = xs->d[1] / a->groups, cog = dys->d[1] / a->groups;
	for (int64_t co = 0; co < ws->d[0]; co++) {
		int64_t g = co / cog;
		for (int64_t ci = 0; ci < cig; ci++)
			for (int i = 0; i < a->kh; i++)
				for (int j = 0; j < a->kw; j++) {
					double acc = 0.0;
					for (int64_t n = 0; n < dys->d[0]; n++)
						for (int64_t ho = 0; ho < dys->d[2]; ho++) {
							int64_t hi = ho * a->stride - a->pad + i * a->dilation;
							if (hi < 0 || hi >= xs->d[2])
								continue;
							for (int64_t wo = 0; wo < dys->d[3]; wo++) {
								int64_t wi = wo * a->stride - a->pad + j * a->dilation;
								if (wi < 0 || wi >= xs->d[3])
									continue;
								acc += dy[AT4(*dys, n, co, ho, wo)] *
								       x[AT4(*xs, n, g * cig + ci, hi, wi)];
							}
						}
					dw[AT4(*ws, co, ci, i, j)] = acc;
				}
	}
}

/* The position in x of the first maximum of window (n, c, ho, wo) of a max
 * pool: rows then columns, a later value wins only when strictly greater,
 * and padding never wins.  -1 when the window has nothing but padding and
 * NaN. */
static int64_t pool_argmax(const IrAttr *a, const IrShape *xs, const double *x, int64_t n,
			   int64_t c, int64_t ho, int64_t wo)
{
	int64_t best = -1;
	double mx = -INFINITY;
	for (int i = 0; i < a->kh; i++)
		for (int j = 0; j < a->kw; j++) {
			int64_t hi = ho * a->stride - a->pad + i;
			int64_t wi = wo * a->stride - a->pad + j;
			if (hi < 0 || hi >= xs->d[2] || wi < 0 || wi >= xs->d[3])
				continue;
			int64_t k = AT4(*xs, n, c, hi, wi);
			/* the first value starts the running max, even -inf */
			if (best < 0 ? x[k] >= mx : x[k] > mx) {
				mx = x[k];
				best = k;
			}
		}
	return best;
}

/* What an average pool divides window (ho, wo) by: the whole window with
 * count_pad, else the pixels of it inside the image. */
static double pool_divisor(const IrAttr *a, const IrShape *xs, int64_t ho, int64_t wo)
{
	if (a->count_pad)
		return (double)(a->kh * a->kw);
	int count = 0;
	for (int i = 0; i < a->kh; i++)
		for (int j = 0; j < a->kw; j++) {
			int64_t hi = ho * a->stride - a->pad + i;
			int64_t wi = wo * a->stride - a->pad + j;
			count += hi >= 0 && hi < xs->d[2] && wi >= 0 && wi < xs->d[3];
		}
	return (double)count;
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
					double acc = 0.0;
					if (nd->op == IR_MAX_POOL) {
						int64_t k = pool_argmax(a, xs, x, n, c, ho, wo);
						acc = k < 0 ? -INFINITY : x[k];
					} else {
						for (int i = 0; i < a->kh; i++)
							for (int j = 0; j < a->kw; j++) {
								int64_t hi = ho * a->stride - a->pad + i;
								int64_t wi = wo * a->stride - a->pad + j;
								if (hi < 0 || hi >= xs->d[2] || wi < 0 ||
								    wi >= xs->d[3])
									continue;
								acc += x[AT4(*xs, n, c, hi, wi)];
							}
						acc /= pool_divisor(a, xs, ho, wo);
					}
					y[AT4(*ys, n, c, ho, wo)] = acc;
				}
}

/* The gradient of max pooling (x, dy -> dx), and its transpose (x, v ->
 * v at each window's maximum): both follow pool_argmax. */
static void max_pool_bwd(const IrNode *nd, const double *x, const IrShape *dys,
			 const double *dy, double *dx)
{
	const IrShape *xs = &nd->shape;
	memset(dx, 0, (size_t)ir_numel(*xs) * sizeof *dx);
	for (int64_t n = 0; n < dys->d[0]; n++)
		for (int64_t c = 0; c < dys->d[1]; c++)
			for (int64_t ho = 0; ho < dys->d[2]; ho++)
				for (int64_t wo = 0; wo < dys->d[3]; wo++) {
					int64_t k = pool_argmax(&nd->at, xs, x, n, c, ho, wo);
					if (k >= 0)
						dx[k] += dy[AT4(*dys, n, c, ho, wo)];
				}
}

static void max_pool_select(const IrNode *nd, const IrShape *xs, const double *x,
			    const double *v, double *y)
{
	const IrShape *ys = &nd->shape;
	for (int64_t n = 0; n < ys->d[0]; n++)
		for (int64_t c = 0; c < ys->d[1]; c++)
			for (int64_t ho = 0; ho < ys->d[2]; ho++)
				for (int64_t wo = 0; wo < ys->d[3]; wo++) {
					int64_t k = pool_argmax(&nd->at, xs, x, n, c, ho, wo);
					y[AT4(*ys, n, c, ho, wo)] = k < 0 ? 0.0 : v[k];
				}
}

/* The transpose of average pooling: each window spreads its gradient over
 * the pixels it averaged. */
static void avg_pool_bwd(const IrNode *nd, const IrShape *dys, const double *dy, double *dx)
{
	const IrShape *xs = &nd->shape;
	const IrAttr *a = &nd->at;
	memset(dx, 0, (size_t)ir_numel(*xs) * sizeof *dx);
	for (int64_t n = 0; n < dys->d[0]; n++)
		for (int64_t c = 0; c < dys->d[1]; c++)
			for (int64_t ho = 0; ho < dys->d[2]; ho++)
				for (int64_t wo = 0; wo < dys->d[3]; wo++) {
					double g = dy[AT4(*dys, n, c, ho, wo)] / pool_divisor(a, xs, ho, wo);
					for (int i = 0; i < a->kh; i++)
						for (int j = 0; j < a->kw; j++) {
							int64_t hi = ho * a->stride - a->pad + i;
							int64_t wi = wo * a->stride - a->pad + j;
							if (hi < 0 || hi >= xs->d[2] || wi < 0 || wi >= xs->d[3])
								continue;
							dx[AT4(*xs, n, c, hi, wi)] += g;
						}
				}
}

/* The batch statistics of channel c of x [N,C,H,W]: mean and biased
 * variance over N, H and W. */
static void channel_stats(const IrShape *s, const double *x, int64_t c, double *mean, double *var)
{
	int64_t hw = s->d[2] * s->d[3];
	double m = 0, v = 0;
	for (int64_t n = 0; n < s->d[0]; n++)
		for (int64_t i = 0; i < hw; i++)
			m += x[(n * s->d[1] + c) * hw + i];
	m /= (double)(s->d[0] * hw);
	for (int64_t n = 0; n < s->d[0]; n++)
		for (int64_t i = 0; i < hw; i++) {
			double dv = x[(n * s->d[1] + c) * hw + i] - m;
			v += dv * dv;
		}
	*mean = m;
	*var = v / (double)(s->d[0] * hw);
}

/* Batch norm with given statistics per channel (mean[c], var[c]), or with
 * the batch's own when they are NULL (training mode). */
static void batch_norm(const IrNode *nd, const double *x, const double *mean_in,
		       const double *var_in, const double *gamma, const double *beta, double *y)
{
	const IrShape *s = &nd->shape;
	int64_t hw = s->d[2] * s->d[3];
	for (int64_t c = 0; c < s->d[1]; c++) {
		double mean, var;
		if (mean_in) {
			mean = mean_in[c];
			var = var_in[c];
		} else {
			channel_stats(s, x, c, &mean, &var);
		}
		double inv = 1.0 / sqrt(var + nd->at.eps);
		double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				int64_t k = (n * s->d[1] + c) * hw + i;
				y[k] = (x[k] - mean) * inv * g + b;
			}
	}
}

void interp_update_running(Interp *it, double momentum)
{
	const IrGraph *g = it->g;
	for (int i = 0; i < g->nstat; i++) {
		const IrRunStat *r = &g->stat[i];
		const IrShape *s = &g->node[r->bn].shape;
		const double *x = it->val[g->node[r->bn].in[0]];
		double *rm = it->val[r->mean], *rv = it->val[r->var];
		double n = (double)(s->d[0] * s->d[2] * s->d[3]);
		for (int64_t c = 0; c < s->d[1]; c++) {
			double mean, var;
			channel_stats(s, x, c, &mean, &var);
			/* PyTorch's: the running variance from the unbiased one */
			double unbiased = n > 1 ? var * n / (n - 1) : var;
			rm[c] = (1 - momentum) * rm[c] + momentum * mean;
			rv[c] = (1 - momentum) * rv[c] + momentum * unbiased;
		}
	}
}

/* J v for J the Jacobian of batch_norm(x) without gamma and beta, channel
 * by channel over its N*H*W pixels:
 * r (v - mean(v) - xhat mean(v xhat)), xhat = (x - mean(x)) r,
 * r = 1/sqrt(var(x) + eps), var biased as in batch_norm. */
static void bn_grad(const IrNode *nd, const double *x, const double *v, double *y)
{
	const IrShape *s = &nd->shape;
	int64_t hw = s->d[2] * s->d[3];
	double per = (double)(s->d[0] * hw);
	for (int64_t c = 0; c < s->d[1]; c++) {
		double mean = 0, var = 0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++)
				mean += x[(n * s->d[1] + c) * hw + i];
		mean /= per;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				double dv = x[(n * s->d[1] + c) * hw + i] - mean;
				var += dv * dv;
			}
		var /= per;
		double r = 1.0 / sqrt(var + nd->at.eps);
		double mv = 0, mvx = 0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				int64_t k = (n * s->d[1] + c) * hw + i;
				mv += v[k];
				mvx += v[k] * (x[k] - mean) * r;
			}
		mv /= per;
		mvx /= per;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				int64_t k = (n * s->d[1] + c) * hw + i;
				y[k] = r * (v[k] - mv - (x[k] - mean) * r * mvx);
			}
	}
}

/* d/de bn_grad(x + e t, v), channel by channel: with xhat and r as in
 * bn_grad, u = bn_grad(x, t) = d xhat / de and g = bn_grad(x, v),
 * dr/de = -r^2 mean(xhat t), so
 *   -r (mean(xhat t) g + mean(v xhat) u + xhat mean(v u)).
 * bn_grad_jvp(x, v, t, w), with a fourth input, adds bn_grad(x, w): the
 * tangent when v moves too. */
static void bn_grad_jvp(const IrNode *nd, const double *x, const double *v, const double *t,
			const double *w, double *y)
{
	const IrShape *s = &nd->shape;
	int64_t per = ir_numel(*s) / s->d[1], hw = per / s->d[0], total = ir_numel(*s);
	double *g = malloc((size_t)total * sizeof *g), *u = malloc((size_t)total * sizeof *u);
	if (!g || !u) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	bn_grad(nd, x, v, g);
	bn_grad(nd, x, t, u);
	for (int64_t c = 0; c < s->d[1]; c++) {
		double mean = 0, var = 0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++)
				mean += x[(n * s->d[1] + c) * hw + i];
		mean /= (double)per;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				double d = x[(n * s->d[1] + c) * hw + i] - mean;
				var += d * d;
			}
		var /= (double)per;
		double r = 1.0 / sqrt(var + nd->at.eps);
		double mxt = 0, mvx = 0, mvu = 0;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				int64_t k = (n * s->d[1] + c) * hw + i;
				double xh = (x[k] - mean) * r;
				mxt += xh * t[k];
				mvx += xh * v[k];
				mvu += v[k] * u[k];
			}
		mxt /= (double)per;
		mvx /= (double)per;
		mvu /= (double)per;
		for (int64_t n = 0; n < s->d[0]; n++)
			for (int64_t i = 0; i < hw; i++) {
				int64_t k = (n * s->d[1] + c) * hw + i;
				double xh = (x[k] - mean) * r;
				y[k] = -r * (mxt * g[k] + mvx * u[k] + xh * mvu);
			}
	}
	if (w) {
		bn_grad(nd, x, w, g);
		for (int64_t k = 0; k < total; k++)
			y[k] += g[k];
	}
	free(g);
	free(u);
}

/* op(a) op(b), op(m) = m^T when its flag is set; the result is the node's
 * [M, N]. */
static void matmul(const IrNode *nd, const IrShape *as, const double *a, const IrShape *bs,
		   const double *b, double *y)
{
	int64_t m = nd->shape.d[0], nn = nd->shape.d[1];
	int64_t k = nd->at.ta ? as->d[0] : as->d[1];
	int64_t ac = as->d[1], bc = bs->d[1];
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < nn; j++) {
			double acc = 0.0;
			for (int64_t l = 0; l < k; l++)
				acc += (nd->at.ta ? a[l * ac + i] : a[i * ac + l]) *
				       (nd->at.tb ? b[j * bc + l] : b[l * bc + j]);
			y[i * nn + j] = acc;
		}
}

/* Class labels are whole numbers in doubles: check that each names one of
 * the k classes. */
static int check_labels(const double *lab, int64_t n, int64_t k, char *err, size_t errlen)
{
	for (int64_t i = 0; i < n; i++) {
		/* compare as doubles: converting NaN or a huge value is undefined */
		if (!(lab[i] >= 0 && lab[i] < (double)k && lab[i] == floor(lab[i]))) {
			snprintf(err, errlen, "label %g of sample %lld is not a class 0..%lld", lab[i],
				 (long long)i, (long long)k - 1);
			return -1;
		}
	}
	return 0;
}

/* The gradient of the mean cross entropy with respect to the logits:
 * (softmax(x) - onehot(label)) / N, row by row. */
static void ce_grad(const IrShape *xs, const double *x, const double *lab, double *y)
{
	int64_t n = xs->d[0], k = xs->d[1];
	for (int64_t i = 0; i < n; i++) {
		int64_t t = (int64_t)lab[i];
		double mx = -INFINITY, sum = 0;
		for (int64_t j = 0; j < k; j++)
			mx = x[i * k + j] > mx ? x[i * k + j] : mx;
		for (int64_t j = 0; j < k; j++)
			sum += y[i * k + j] = exp(x[i * k + j] - mx);
		for (int64_t j = 0; j < k; j++)
			y[i * k + j] = (y[i * k + j] / sum - (j == t ? 1.0 : 0.0)) / (double)n;
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
		case IR_TANGENT:
		case IR_RUNNING:
		case IR_DROP:
			break;
		case IR_FILL:
			for (int64_t i = 0; i < numel; i++)
				y[i] = nd->at.scale;
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
			batch_norm(nd, x, NULL, NULL, nd->nin > 1 ? it->val[nd->in[1]] : NULL,
				   nd->nin > 2 ? it->val[nd->in[2]] : NULL, y);
			break;
		case IR_BN_INFER:
			batch_norm(nd, x, it->val[nd->in[1]], it->val[nd->in[2]],
				   nd->nin > 3 ? it->val[nd->in[3]] : NULL,
				   nd->nin > 4 ? it->val[nd->in[4]] : NULL, y);
			break;
		case IR_SAMPLE_SCALE: {
			const double *d = it->val[nd->in[1]] + (int64_t)nd->at.row * s->d[0];
			int64_t per = numel / s->d[0];
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] * d[i / per];
			break;
		}
		case IR_SAMPLE_DOT: {
			const double *b = it->val[nd->in[1]];
			int64_t nb = xs->d[0], per = ir_numel(*xs) / nb;
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int64_t n = 0; n < nb; n++) {
				double acc = 0.0;
				for (int64_t i = n * per; i < (n + 1) * per; i++)
					acc += x[i] * b[i];
				y[(int64_t)nd->at.row * nb + n] = acc;
			}
			break;
		}
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
			const double *w = x + (int64_t)nd->at.row * xs->d[1] + nd->at.col;
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int k = 1; k < nd->nin; k++)
				for (int64_t i = 0; i < numel; i++)
					y[i] += w[k - 1] * it->val[nd->in[k]][i];
			break;
		}
		case IR_CROSS_ENTROPY: {
			const double *lab = it->val[nd->in[1]];
			int64_t n = xs->d[0], k = xs->d[1];
			if (check_labels(lab, n, k, err, errlen) != 0)
				return -1;
			double total = 0;
			for (int64_t i = 0; i < n; i++) {
				int64_t t = (int64_t)lab[i];
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
		case IR_MUL: {
			const double *b = it->val[nd->in[1]];
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] * b[i];
			break;
		}
		case IR_RSQRT:
			for (int64_t i = 0; i < numel; i++)
				y[i] = 1.0 / sqrt(x[i] + nd->at.eps);
			break;
		case IR_RELU_MASK: {
			const double *dv = it->val[nd->in[1]];
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] > 0 ? dv[i] : 0.0;
			break;
		}
		case IR_DOT: {
			const double *b = it->val[nd->in[1]];
			double acc = 0.0;
			for (int64_t i = 0; i < ir_numel(*xs); i++)
				acc += x[i] * b[i];
			y[0] = acc;
			break;
		}
		case IR_SCALE_BY: {
			double f = it->val[nd->in[1]][0];
			for (int64_t i = 0; i < numel; i++)
				y[i] = x[i] * f;
			break;
		}
		case IR_CHANNEL_SUM: {
			/* [N,C] is [N,C,1,1] */
			int64_t c = xs->d[1], hw = xs->rank == 4 ? xs->d[2] * xs->d[3] : 1;
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int64_t n = 0; n < xs->d[0]; n++)
				for (int64_t ci = 0; ci < c; ci++)
					for (int64_t i = 0; i < hw; i++)
						y[ci] += x[(n * c + ci) * hw + i];
			break;
		}
		case IR_BCAST_C: {
			int64_t c = s->d[1], hw = s->rank == 4 ? s->d[2] * s->d[3] : 1;
			for (int64_t n = 0; n < s->d[0]; n++)
				for (int64_t ci = 0; ci < c; ci++)
					for (int64_t i = 0; i < hw; i++)
						y[(n * c + ci) * hw + i] = x[ci];
			break;
		}
		case IR_ROW_SUM: {
			int64_t k = xs->d[1];
			for (int64_t r = 0; r < xs->d[0]; r++) {
				double acc = 0.0;
				for (int64_t j = 0; j < k; j++)
					acc += x[r * k + j];
				y[r] = acc;
			}
			break;
		}
		case IR_ROW_BCAST: {
			int64_t k = s->d[1];
			for (int64_t r = 0; r < s->d[0]; r++)
				for (int64_t j = 0; j < k; j++)
					y[r * k + j] = x[r];
			break;
		}
		case IR_CONV2D_BWD_DATA:
			conv2d_bwd_data(nd, xs, x, it->val[nd->in[1]], y);
			break;
		case IR_CONV2D_BWD_FILTER:
			conv2d_bwd_filter(nd, xs, x, &g->node[nd->in[1]].shape, it->val[nd->in[1]], y);
			break;
		case IR_MAX_POOL_BWD:
			max_pool_bwd(nd, x, &g->node[nd->in[1]].shape, it->val[nd->in[1]], y);
			break;
		case IR_MAX_POOL_SELECT:
			max_pool_select(nd, xs, x, it->val[nd->in[1]], y);
			break;
		case IR_AVG_POOL_BWD:
			avg_pool_bwd(nd, xs, x, y);
			break;
		case IR_UNSHIFT: {
			int sh = nd->at.shift;
			for (int64_t n = 0; n < s->d[0]; n++)
				for (int64_t c = 0; c < s->d[1]; c++)
					for (int64_t h = 0; h < s->d[2]; h++)
						for (int64_t w = 0; w < s->d[3]; w++)
							y[AT4(*s, n, c, h, w)] =
								h >= sh && w >= sh ?
									x[AT4(*xs, n, c, h - sh, w - sh)] :
									0.0;
			break;
		}
		case IR_SLICE_C:
			for (int64_t n = 0; n < s->d[0]; n++)
				for (int64_t c = 0; c < s->d[1]; c++)
					memcpy(y + AT4(*s, n, c, 0, 0),
					       x + AT4(*xs, n, nd->at.offset + c, 0, 0),
					       (size_t)(s->d[2] * s->d[3]) * sizeof *y);
			break;
		case IR_PAD_C:
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int64_t n = 0; n < xs->d[0]; n++)
				for (int64_t c = 0; c < xs->d[1]; c++)
					memcpy(y + AT4(*s, n, nd->at.offset + c, 0, 0),
					       x + AT4(*xs, n, c, 0, 0),
					       (size_t)(s->d[2] * s->d[3]) * sizeof *y);
			break;
		case IR_GAP_BWD: {
			int64_t hw = s->d[2] * s->d[3];
			for (int64_t i = 0; i < s->d[0] * s->d[1]; i++)
				for (int64_t k = 0; k < hw; k++)
					y[i * hw + k] = x[i] / (double)hw;
			break;
		}
		case IR_MATMUL:
			matmul(nd, xs, x, &g->node[nd->in[1]].shape, it->val[nd->in[1]], y);
			break;
		case IR_BN_GRAD:
			bn_grad(nd, x, it->val[nd->in[1]], y);
			break;
		case IR_BN_GRAD_JVP:
			bn_grad_jvp(nd, x, it->val[nd->in[1]], it->val[nd->in[2]],
				    nd->nin > 3 ? it->val[nd->in[3]] : NULL, y);
			break;
		case IR_SOFTMAX_GRAD: {
			const double *dv = it->val[nd->in[1]];
			int64_t k = s->d[1];
			for (int64_t r = 0; r < s->d[0]; r++) {
				double yv = 0.0;
				for (int64_t j = 0; j < k; j++)
					yv += x[r * k + j] * dv[r * k + j];
				for (int64_t j = 0; j < k; j++)
					y[r * k + j] = x[r * k + j] * (dv[r * k + j] - yv);
			}
			break;
		}
		case IR_MIXED_DOT: {
			/* inputs dy, o_0 .. o_m-1; result [edges, ops] */
			int64_t m = ir_numel(*xs);
			double *w = y + (int64_t)nd->at.row * s->d[1] + nd->at.col;
			memset(y, 0, (size_t)numel * sizeof *y);
			for (int k = 1; k < nd->nin; k++) {
				const double *o = it->val[nd->in[k]];
				double acc = 0.0;
				for (int64_t i = 0; i < m; i++)
					acc += x[i] * o[i];
				w[k - 1] = acc;
			}
			break;
		}
		case IR_CE_GRAD: {
			const double *lab = it->val[nd->in[1]];
			if (check_labels(lab, xs->d[0], xs->d[1], err, errlen) != 0)
				return -1;
			ce_grad(xs, x, lab, y);
			break;
		}
		case IR_OP_COUNT:
			break;
		}
	}
	return 0;
}
