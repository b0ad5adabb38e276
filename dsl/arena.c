/* arena.c - bump allocation for one compilation (see arena.h). */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ArenaBlock {
	ArenaBlock *next;
	size_t cap, used;
	_Alignas(max_align_t) unsigned char data[];
};

enum { ARENA_BLOCK = 64 * 1024 };

void arena_init(Arena *a)
{
	a->head = NULL;
	a->used_total = 0;
}

void arena_free(Arena *a)
{
	ArenaBlock *b = a->head;
	while (b) {
		ArenaBlock *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->used_total = 0;
}

void *arena_alloc(Arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	if (n > SIZE_MAX / 2) {
		fprintf(stderr, "nasc: allocation of %zu bytes is too large\n", n);
		abort();
	}
	n = (n + align - 1) & ~(align - 1);
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		ArenaBlock *b = malloc(sizeof *b + cap);
		if (!b) {
			fprintf(stderr, "nasc: out of memory\n");
			abort();
		}
		b->next = a->head;
		b->cap = cap;
		b->used = 0;
		a->head = b;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += n;
	a->used_total += n;
	memset(p, 0, n);
	return p;
}

void *arena_array(Arena *a, size_t n, size_t sz)
{
	if (sz && n > SIZE_MAX / sz) {
		fprintf(stderr, "nasc: array of %zu x %zu bytes is too large\n", n, sz);
		abort();
	}
	return arena_alloc(a, n * sz);
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *arena_strdup(Arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *d = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

void *arena_grow(Arena *a, void *v, int n, int *cap, size_t elem)
{
	if (n < *cap)
		return v;
	int ncap = *cap ? *cap * 2 : 8;
	void *nv = arena_array(a, (size_t)ncap, elem);
	if (n)
		memcpy(nv, v, (size_t)n * elem);
	*cap = ncap;
	return nv;
}

void ptrvec_push(Arena *a, PtrVec *pv, void *p)
{
	pv->v = arena_grow(a, pv->v, pv->n, &pv->cap, sizeof *pv->v);
	pv->v[pv->n++] = p;
}
