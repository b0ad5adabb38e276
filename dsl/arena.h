/* arena.h - bump allocation for one compilation.
 *
 * The AST, the symbol tables and the graph IR of one spec live and die
 * together, so they come out of one arena freed in one call.  Nothing in the
 * front end frees piecemeal, which keeps error paths (and the parser's error
 * recovery) leak-free without destructors. */
#ifndef NASC_ARENA_H
#define NASC_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
	ArenaBlock *head;
	size_t used_total;
} Arena;

void arena_init(Arena *a);
void arena_free(Arena *a);
/* Zeroed memory, aligned for any scalar.  Aborts with a message when the
 * system is out of memory: there is nothing sensible to recover to. */
void *arena_alloc(Arena *a, size_t n);
/* n elements of size sz, with the multiplication checked for overflow. */
void *arena_array(Arena *a, size_t n, size_t sz);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Room for one more element in the growable array v, which holds n
 * elements of elem bytes in *cap slots: returns v, or a copy twice as large
 * (the old storage is left to the arena, which is fine at front-end sizes). */
void *arena_grow(Arena *a, void *v, int n, int *cap, size_t elem);

/* A growable array of pointers, allocated from an arena. */
typedef struct PtrVec {
	void **v;
	int n, cap;
} PtrVec;

void ptrvec_push(Arena *a, PtrVec *pv, void *p);

#endif
