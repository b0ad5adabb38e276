/* rng.c - Philox4x32-10 and what the runtime draws from it (see rng.h). */
#include "rng.h"

#include <math.h>

enum {
	PHILOX_M0 = 0xD2511F53u,
	PHILOX_M1 = 0xCD9E8D57u,
	PHILOX_W0 = 0x9E3779B9u, /* the golden ratio */
	PHILOX_W1 = 0xBB67AE85u, /* sqrt(3) - 1 */
};

static void philox_round(uint32_t c[4], const uint32_t k[2])
{
	uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
	uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
	uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
	uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
	uint32_t n0 = hi1 ^ c[1] ^ k[0];
	uint32_t n2 = hi0 ^ c[3] ^ k[1];
	c[0] = n0;
	c[1] = lo1;
	c[2] = n2;
	c[3] = lo0;
}

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
	uint32_t k[2] = {key[0], key[1]};
	philox_round(c, k);
	for (int r = 1; r < 10; r++) {
		k[0] += PHILOX_W0;
		k[1] += PHILOX_W1;
		philox_round(c, k);
	}
	for (int i = 0; i < 4; i++)
		out[i] = c[i];
}

static void block_at(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
	uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
			   (uint32_t)(stream >> 32)};
	uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
	philox4x32_10(ctr, key, out);
}

void rng_seed(Rng *r, uint64_t seed, uint64_t stream)
{
	r->seed = seed;
	r->stream = stream;
	r->block = 0;
	r->used = 4;
}

uint32_t rng_u32(Rng *r)
{
	if (r->used == 4) {
		block_at(r->seed, r->stream, r->block++, r->buf);
		r->used = 0;
	}
	return r->buf[r->used++];
}

float rng_uniform(Rng *r)
{
	return (float)(rng_u32(r) >> 8) * 0x1.0p-24f;
}

uint32_t rng_below(Rng *r, uint32_t n)
{
	/* Reject the top sliver that would make some values more likely. */
	uint32_t limit = UINT32_MAX - UINT32_MAX % n;
	uint32_t v;
	do
		v = rng_u32(r);
	while (v >= limit);
	return v % n;
}

void rng_fill_uniform(float *x, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	int64_t i = 0;
	while (i < n) {
		uint64_t pos = offset + (uint64_t)i;
		uint32_t w[4];
		block_at(seed, stream, pos / 4, w);
		for (uint64_t j = pos % 4; j < 4 && i < n; j++)
			x[i++] = (float)(w[j] >> 8) * 0x1.0p-24f;
	}
}

/* Two normals from two words: u1 in (0, 1] keeps the logarithm finite. */
static void box_muller(uint32_t a, uint32_t b, float *z0, float *z1)
{
	double u1 = ((double)(a >> 8) + 1.0) * 0x1.0p-24;
	double u2 = (double)(b >> 8) * 0x1.0p-24;
	double rad = sqrt(-2.0 * log(u1));
	double th = 6.283185307179586476925286766559 * u2; /* 2 pi */
	*z0 = (float)(rad * cos(th));
	*z1 = (float)(rad * sin(th));
}

void rng_fill_normal(float *x, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	int64_t i = 0;
	while (i < n) {
		uint64_t pos = offset + (uint64_t)i;
		uint64_t block = pos / 4;
		uint32_t w[4];
		float z[4];
		block_at(seed, stream, block, w);
		box_muller(w[0], w[1], &z[0], &z[1]);
		box_muller(w[2], w[3], &z[2], &z[3]);
		for (uint64_t j = pos % 4; j < 4 && i < n; j++)
			x[i++] = z[j];
	}
}
