/* init.h - initial values of weights and architecture parameters, as
 * PyTorch gives them by default (so a nasc search starts where a PyTorch
 * DARTS search would, in distribution):
 *   conv and linear weights  U(-b, b), b = 1/sqrt(fan_in)
 *                            (kaiming_uniform with a = sqrt(5))
 *   conv and linear biases   U(-b, b), the same b
 *   batch-norm gamma, beta   1, 0
 *   alpha                    1e-3 * N(0, 1)
 * Each tensor draws from its own stream of the seed, so its values do not
 * depend on which other tensors a spec has or in what order they are
 * initialized. */
#ifndef NASC_INIT_H
#define NASC_INIT_H

#include <stdint.h>

/* 1/sqrt(fan_in); fan_in of a conv weight [out, in/groups, kh, kw] is
 * in/groups * kh * kw, of a linear weight [out, in] it is in. */
double init_fan_in_bound(int64_t fan_in);
/* w[i] uniform in [-bound, bound), from stream `stream` of `seed`. */
void init_uniform(float *w, int64_t n, double bound, uint64_t seed, uint64_t stream);
/* w[i] = std * N(0, 1), from stream `stream` of `seed`. */
void init_normal(float *w, int64_t n, double std, uint64_t seed, uint64_t stream);
void init_constant(float *w, int64_t n, float v);

#endif
