/* rng.h - the runtime's random numbers: Philox4x32-10, a counter-based
 * generator (Salmon et al., SC 2011).
 *
 * Every value is a pure function of (seed, stream, position), so a search
 * is reproducible bit for bit, a checkpoint stores the generator as two
 * integers, and threads can fill disjoint ranges of one tensor in any
 * order and get the same numbers as one thread. */
#ifndef NASC_RNG_H
#define NASC_RNG_H

#include <stdint.h>

/* One Philox4x32 block: 10 rounds of ctr under key. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A sequential stream: the key comes from the seed, the counter's upper
 * half from the stream number, its lower half counts blocks. */
typedef struct Rng {
	uint64_t seed, stream;
	uint64_t block;         /* the next block to generate */
	uint32_t buf[4];
	int used;               /* words of buf already handed out (4: empty) */
} Rng;

void rng_seed(Rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
/* Uniform in [0, 1), 24 random bits: every float it returns is exact. */
float rng_uniform(Rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint32_t rng_below(Rng *r, uint32_t n);

/* x[i] = uniform [0, 1) sample number offset + i of (seed, stream): word
 * offset + i of the stream, with 24 random bits. */
void rng_fill_uniform(float *x, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);

/* x[i] = N(0, 1) sample number offset + i of (seed, stream), for i < n:
 * Box-Muller on the words of block (offset + i) / 4.  The same position
 * gives the same value whatever n and offset were used to reach it. */
void rng_fill_normal(float *x, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);

#endif
