/* parse.h - the front end's entry points: spec text in, syntax tree out. */
#ifndef NASC_PARSE_H
#define NASC_PARSE_H

#include <stdbool.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

/* The state shared by the scanner and the parser of one source; no globals,
 * so several sources can be parsed at once (the fuzzer, -D values). */
typedef struct ParseCtx {
	Arena *arena;
	Diag *diag;
	const Source *src;
	void *scanner;          /* yyscan_t */
	int start_token;        /* handed out once, first: which grammar to use */
	int line, col;          /* where the scanner is */
	const char *tok_text;   /* the last token, for "unexpected `x`" */
	int tok_len;
	int errors_at_start;
	int nesting_reported;
	/* the newline logic of yylex in parser.y */
	bool value_mode;        /* parsing a -D value: no statements */
	int depth;              /* open ( and [ */
	bool can_end;           /* the last token can end a statement */
	int pending;            /* a token put back, 0 if none */
	_Alignas(16) unsigned char pending_val[64]; /* its semantic value */
	Loc pending_loc;
	int last_tok;
	Loc last_loc;
	Loc dangling;           /* an operator that ended a line; .src NULL if none */
	Spec *spec;             /* result of parse_spec */
	Expr *value;            /* result of parse_value */
} ParseCtx;

/* Parse a whole spec.  Returns NULL (with diagnostics) when it has syntax
 * errors. */
Spec *parse_spec(Arena *a, Diag *d, const Source *src);
/* Parse one expression, as given to -D NAME=VALUE. */
Expr *parse_value(Arena *a, Diag *d, const Source *src);

/* Read a whole file into the arena.  Reports (without a location) and returns
 * NULL when it cannot be read or is larger than the front end accepts. */
Source *read_source(Arena *a, Diag *d, const char *path);

enum { SPEC_MAX_BYTES = 16 << 20 };

#endif
