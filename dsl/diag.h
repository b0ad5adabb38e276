/* diag.h - source buffers, locations and compiler-style diagnostics.
 *
 *   file:line:col: error: message
 *     source line
 *         ^~~~
 *
 * Everything the front end reports goes through here, so the format, the
 * error limit and the duplicate filter live in one place. */
#ifndef NASC_DIAG_H
#define NASC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arena.h"

/* A named piece of text: a spec file, or the value of one -D option. */
typedef struct Source {
	const char *name;
	const char *text;   /* not NUL-terminated: may contain NUL bytes */
	size_t len;
	int *line_off;      /* byte offset of each line's start */
	int nlines;
} Source;

/* A half-open range of columns; lines and columns count from 1, columns in
 * bytes.  `src` is NULL for "no location". */
typedef struct Loc {
	int line, col, end_line, end_col;
	const Source *src;
} Loc;

Source *source_new(Arena *a, const char *name, const char *text, size_t len);
/* The text of line `line` (1-based) without its newline. */
const char *source_line(const Source *s, int line, size_t *len);

typedef enum DiagLevel { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag {
	FILE *out;          /* NULL: count, print nothing (the fuzzer) */
	int errors, warnings;
	int max_errors;     /* stop reporting past this many; 0 = no limit */
	bool stopped;       /* the limit was reached */
	bool last_shown;    /* the last report was printed: not a repeat, not past the limit */
	unsigned long long seen[256]; /* hashes of reported messages */
	int nseen;
} Diag;

void diag_init(Diag *d, FILE *out);
void diag_report(Diag *d, DiagLevel lvl, Loc loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define diag_error(d, loc, ...) diag_report((d), DIAG_ERROR, (loc), __VA_ARGS__)
#define diag_warning(d, loc, ...) diag_report((d), DIAG_WARNING, (loc), __VA_ARGS__)
#define diag_note(d, loc, ...) diag_report((d), DIAG_NOTE, (loc), __VA_ARGS__)

/* The closest of `cands` to `name` by edit distance, or NULL when none is
 * close enough to be a plausible typo. */
const char *suggest(const char *name, const char *const *cands, int n);

#endif
