/* strmap.h - a string-keyed hash map in an arena: name lookups that stay
 * linear-time on specs with hundreds of thousands of declarations. */
#ifndef NASC_STRMAP_H
#define NASC_STRMAP_H

#include "arena.h"

typedef struct StrMap {
	Arena *arena;
	const char **keys;
	int *vals;
	int cap, n;
} StrMap;

void strmap_init(StrMap *m, Arena *a);
/* The value stored for key, or -1. */
int strmap_get(const StrMap *m, const char *key);
/* Store key -> val (val >= 0); returns the previous value, or -1. */
int strmap_put(StrMap *m, const char *key, int val);

#endif
