/* ast.h - the syntax tree of a .nas spec.
 *
 * A spec is a list of items (param, op, cell, network, search).  Blocks are
 * lists of generic statements `head arg, arg, ... [: arg, ...]`, whose meaning
 * sema looks up in tables; expressions are one small language shared by
 * parameter values, operation bodies and settings.  See docs/dsl.md. */
#ifndef NASC_AST_H
#define NASC_AST_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

/* Expressions nest at most this deep; deeper input is refused by the parser,
 * so every recursive walker in the compiler is bounded. */
enum { AST_MAX_DEPTH = 200 };

typedef enum ExprKind {
	E_INT,      /* 42 */
	E_FLOAT,    /* 3e-4 */
	E_SHAPE,    /* 3x32x32 */
	E_STRING,   /* "text" */
	E_NAME,     /* C, relu, sep_conv_3x3 */
	E_CALL,     /* conv(C, 3, stride=2) */
	E_LIST,     /* [a, b] */
	E_CHAIN,    /* relu -> conv(C, 1) -> bn: operations in sequence */
	E_BINARY,   /* a + b, a == b, a and b */
	E_UNARY,    /* -a, not a */
	E_IF,       /* if c then a else b */
	E_ERROR,    /* stands in for what the parser could not read */
} ExprKind;

typedef enum BinOp {
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_IDIV, OP_MOD,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
	OP_AND, OP_OR,
} BinOp;

typedef enum UnOp { OP_NEG, OP_NOT } UnOp;

typedef struct Expr Expr;

/* One argument: positional (name == NULL) or `name = value`. */
typedef struct Arg {
	const char *name;
	Loc name_loc;
	Expr *value;
} Arg;

typedef struct ArgList {
	Arg *v;
	int n, cap;
} ArgList;

struct Expr {
	ExprKind kind;
	Loc loc;
	int depth;              /* 1 for a leaf */
	union {
		int64_t i;                  /* E_INT */
		double f;                   /* E_FLOAT */
		struct { int64_t d[4]; int rank; } shape; /* E_SHAPE */
		const char *s;              /* E_STRING, E_NAME */
		struct { const char *name; Loc name_loc; ArgList args; } call; /* E_CALL */
		struct { Expr **v; int n, cap; } list; /* E_LIST, E_CHAIN */
		struct { BinOp op; Expr *l, *r; } bin;
		struct { UnOp op; Expr *e; } un;
		struct { Expr *cond, *then, *els; } cond;
	} u;
};

/* head arg, arg ... [: arg, ...] */
typedef struct Stmt {
	const char *head;
	Loc loc;                /* of the head */
	ArgList args;
	ArgList tail;           /* after ':'; tail_loc.src != NULL if present */
	Loc tail_loc;
} Stmt;

typedef struct StmtList {
	Stmt **v;
	int n, cap;
} StmtList;

typedef enum ItemKind { I_PARAM, I_OP, I_CELL, I_NETWORK, I_SEARCH } ItemKind;

typedef struct Item {
	ItemKind kind;
	Loc loc;                /* of the keyword */
	const char *name;       /* param, op and cell names */
	Loc name_loc;
	/* I_PARAM: value; I_OP: body */
	Expr *value;
	/* I_OP: formal parameters */
	const char **formals;
	Loc *formal_locs;
	int nformals;
	/* I_CELL: optional base cell (`cell reduce : normal`) */
	const char *base;
	Loc base_loc;
	/* I_CELL, I_NETWORK, I_SEARCH */
	StmtList body;
} Item;

typedef struct Spec {
	const Source *src;
	Item **items;
	int nitems, cap;
} Spec;

/* Constructors used by the parser.  Each computes the node's depth. */
Expr *ast_expr(Arena *a, ExprKind k, Loc loc);
Expr *ast_binary(Arena *a, BinOp op, Expr *l, Expr *r, Loc loc);
Expr *ast_unary(Arena *a, UnOp op, Expr *e, Loc loc);
Expr *ast_if(Arena *a, Expr *c, Expr *t, Expr *e, Loc loc);
Expr *ast_call(Arena *a, const char *name, Loc name_loc, ArgList args, Loc loc);
void ast_list_push(Arena *a, Expr *list, Expr *e);
void ast_arg_push(Arena *a, ArgList *l, Arg arg);
void ast_stmt_push(Arena *a, StmtList *l, Stmt *s);
void ast_item_push(Arena *a, Spec *s, Item *it);

const char *ast_binop_str(BinOp op);
/* The shortest decimal form of v that reads back as v ("0.1", "3e-05"). */
const char *ast_format_double(char buf[32], double v);
const char *ast_item_kind_str(ItemKind k);

/* `nasc dump --after=parse`: the tree as indented S-expressions. */
void ast_dump(FILE *out, const Spec *spec);
void ast_dump_expr(FILE *out, const Expr *e);

#endif
