/* strmap.c - open addressing with linear probing, FNV-1a hashes, doubling
 * at half load (see strmap.h). */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void strmap_init(StrMap *m, Arena *a)
{
	memset(m, 0, sizeof *m);
	m->arena = a;
}

int strmap_get(const StrMap *m, const char *key)
{
	if (!m->cap)
		return -1;
	for (uint32_t i = hash(key) & (uint32_t)(m->cap - 1);; i = (i + 1) & (uint32_t)(m->cap - 1)) {
		if (!m->keys[i])
			return -1;
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
	}
}

static void grow(StrMap *m)
{
	int cap = m->cap ? m->cap * 2 : 64;
	const char **keys = arena_array(m->arena, (size_t)cap, sizeof *keys);
	int *vals = arena_array(m->arena, (size_t)cap, sizeof *vals);
	for (int j = 0; j < m->cap; j++) {
		if (!m->keys[j])
			continue;
		uint32_t i = hash(m->keys[j]) & (uint32_t)(cap - 1);
		while (keys[i])
			i = (i + 1) & (uint32_t)(cap - 1);
		keys[i] = m->keys[j];
		vals[i] = m->vals[j];
	}
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
}

int strmap_put(StrMap *m, const char *key, int val)
{
	if (2 * (m->n + 1) > m->cap)
		grow(m);
	uint32_t i = hash(key) & (uint32_t)(m->cap - 1);
	while (m->keys[i]) {
		if (strcmp(m->keys[i], key) == 0) {
			int old = m->vals[i];
			m->vals[i] = val;
			return old;
		}
		i = (i + 1) & (uint32_t)(m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return -1;
}
