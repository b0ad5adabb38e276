/* parser.y - the grammar of a .nas spec.
 *
 * Pure and reentrant (all state in ParseCtx), with locations, no conflicts.
 * Blocks hold generic statements `head arg, ... [: arg, ...]` whose meaning
 * lives in sema's tables, so adding a setting never touches the grammar.
 * Two start tokens select between a whole spec and a single value (-D). */

%code requires {
#include "ast.h"
#include "diag.h"
#include "parse.h"

typedef struct NameList {
	const char **v;
	Loc *locs;
	int n, cap;
} NameList;
}

%code provides {
/* The flex scanner (prefix nasc_scan_). */
int nasc_scan_lex(NASC_YYSTYPE *lval, Loc *lloc, void *scanner);
}

%code {
#include <string.h>

#define YYMAXDEPTH 2000

/* Loc is not bison's four-field default, so say how ranges combine. */
#define YYLLOC_DEFAULT(cur, rhs, n)                                    \
	do {                                                           \
		if (n) {                                               \
			(cur) = YYRHSLOC(rhs, 1);                      \
			(cur).end_line = YYRHSLOC(rhs, n).end_line;    \
			(cur).end_col = YYRHSLOC(rhs, n).end_col;      \
		} else {                                               \
			(cur) = YYRHSLOC(rhs, 0);                      \
			(cur).line = (cur).end_line;                   \
			(cur).col = (cur).end_col;                     \
		}                                                      \
	} while (0)

static void yyerror(Loc *loc, ParseCtx *ctx, const char *msg);
static int yylex(NASC_YYSTYPE *lval, Loc *lloc, ParseCtx *ctx);
static Expr *checked(ParseCtx *ctx, Expr *e);
static Expr *error_expr(ParseCtx *ctx, Loc loc);
static Loc span(Loc a, Loc b);
static void names_push(ParseCtx *ctx, NameList *l, const char *s, Loc loc);
}

%define api.pure full
%define api.prefix {nasc_yy}
%define api.token.prefix {T_}
%define api.location.type {Loc}
%define parse.error custom
%locations
%expect 0
%param {ParseCtx *ctx}

%union {
	int64_t i;
	double f;
	const char *s;
	struct { int64_t d[4]; int rank; } sh;
	Expr *e;
	Arg arg;
	ArgList args;
	Stmt *stmt;
	StmtList stmts;
	Item *item;
	NameList names;
}

%token END 0            "end of file"
%token <s> IDENT        "identifier"
%token <i> INT          "integer"
%token <f> FLOAT        "number"
%token <sh> SHAPE       "shape"
%token <s> STRING       "string"
%token PARAM            "`param`"
%token OP               "`op`"
%token CELL             "`cell`"
%token NETWORK          "`network`"
%token SEARCH           "`search`"
%token IF               "`if`"
%token THEN             "`then`"
%token ELSE             "`else`"
%token AND              "`and`"
%token OR               "`or`"
%token NOT              "`not`"
%token ARROW            "`->`"
%token IDIV             "`//`"
%token EQ               "`==`"
%token NE               "`!=`"
%token LE               "`<=`"
%token GE               "`>=`"
%token START_SPEC       "start of spec"
%token START_VALUE      "start of value"

%type <e> expr chain disj conj neg cmp sum term unary primary list exprs
%type <arg> arg
%type <args> args args_opt
%type <stmt> stmt
%type <stmts> stmts block
%type <item> item
%type <names> formals names
%type <s> base

%start top

%%

top
	: START_SPEC spec
	| START_VALUE expr { ctx->value = $2; }
	;

/* spec: item* */
spec
	: %empty
	| spec item     { ast_item_push(ctx->arena, ctx->spec, $2); }
	| spec error
	;

/* item: 'param' NAME '=' expr | 'op' NAME formals? '=' expr
 *     | 'cell' NAME (':' NAME)? block | 'network' block | 'search' block */
item
	: PARAM IDENT '=' expr {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->kind = I_PARAM; $$->loc = @1; $$->name = $2; $$->name_loc = @2;
		$$->value = $4;
	}
	| OP IDENT formals '=' expr {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->kind = I_OP; $$->loc = @1; $$->name = $2; $$->name_loc = @2;
		$$->formals = $3.v; $$->formal_locs = $3.locs; $$->nformals = $3.n;
		$$->value = $5;
	}
	| CELL IDENT base block {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->kind = I_CELL; $$->loc = @1; $$->name = $2; $$->name_loc = @2;
		$$->base = $3; $$->base_loc = @3; $$->body = $4;
	}
	| NETWORK block {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->kind = I_NETWORK; $$->loc = @1; $$->body = $2;
	}
	| SEARCH block {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->kind = I_SEARCH; $$->loc = @1; $$->body = $2;
	}
	;

formals
	: %empty                { memset(&$$, 0, sizeof $$); }
	| '(' ')'               { memset(&$$, 0, sizeof $$); }
	| '(' names ')'         { $$ = $2; }
	;

names
	: IDENT                 { memset(&$$, 0, sizeof $$); names_push(ctx, &$$, $1, @1); }
	| names ',' IDENT       { $$ = $1; names_push(ctx, &$$, $3, @3); }
	;

base
	: %empty                { $$ = NULL; }
	| ':' IDENT             { $$ = $2; @$ = @2; }
	;

block
	: '{' stmts '}'         { $$ = $2; }
	;

stmts
	: %empty                { memset(&$$, 0, sizeof $$); }
	| stmts stmt            { $$ = $1; ast_stmt_push(ctx->arena, &$$, $2); }
	| stmts error           { $$ = $1; }
	;

/* stmt: NAME arg (',' arg)* (':' arg (',' arg)*)?
 * A statement always has an argument: with none, `a b c` could not be split. */
stmt
	: IDENT args {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->head = $1; $$->loc = @1; $$->args = $2;
	}
	| IDENT args ':' args {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->head = $1; $$->loc = @1; $$->args = $2;
		$$->tail = $4; $$->tail_loc = @3;
	}
	;

args
	: arg                   { memset(&$$, 0, sizeof $$); ast_arg_push(ctx->arena, &$$, $1); }
	| args ',' arg          { $$ = $1; ast_arg_push(ctx->arena, &$$, $3); }
	;

/* Inside parentheses and brackets a trailing comma is allowed. */
args_opt
	: %empty                { memset(&$$, 0, sizeof $$); }
	| args
	| args ','
	;

arg
	: expr                  { $$.name = NULL; $$.value = $1; memset(&$$.name_loc, 0, sizeof $$.name_loc); }
	| IDENT '=' expr        { $$.name = $1; $$.name_loc = @1; $$.value = $3; }
	;

/* expr: 'if' expr 'then' expr 'else' expr | disj ('->' disj)* */
expr
	: IF expr THEN expr ELSE expr { $$ = checked(ctx, ast_if(ctx->arena, $2, $4, $6, @1)); }
	| chain
	;

chain
	: disj
	| chain ARROW disj {
		if ($1->kind == E_CHAIN) {
			$$ = $1;
		} else {
			$$ = ast_expr(ctx->arena, E_CHAIN, $1->loc);
			ast_list_push(ctx->arena, $$, $1);
		}
		ast_list_push(ctx->arena, $$, $3);
		$$ = checked(ctx, $$);
	}
	;

disj
	: conj
	| disj OR conj          { $$ = checked(ctx, ast_binary(ctx->arena, OP_OR, $1, $3, @2)); }
	;

conj
	: neg
	| conj AND neg          { $$ = checked(ctx, ast_binary(ctx->arena, OP_AND, $1, $3, @2)); }
	;

neg
	: cmp
	| NOT neg               { $$ = checked(ctx, ast_unary(ctx->arena, OP_NOT, $2, @1)); }
	;

/* Comparisons do not chain: `a < b < c` is an error, not a surprise. */
cmp
	: sum
	| sum EQ sum            { $$ = checked(ctx, ast_binary(ctx->arena, OP_EQ, $1, $3, @2)); }
	| sum NE sum            { $$ = checked(ctx, ast_binary(ctx->arena, OP_NE, $1, $3, @2)); }
	| sum '<' sum           { $$ = checked(ctx, ast_binary(ctx->arena, OP_LT, $1, $3, @2)); }
	| sum LE sum            { $$ = checked(ctx, ast_binary(ctx->arena, OP_LE, $1, $3, @2)); }
	| sum '>' sum           { $$ = checked(ctx, ast_binary(ctx->arena, OP_GT, $1, $3, @2)); }
	| sum GE sum            { $$ = checked(ctx, ast_binary(ctx->arena, OP_GE, $1, $3, @2)); }
	;

sum
	: term
	| sum '+' term          { $$ = checked(ctx, ast_binary(ctx->arena, OP_ADD, $1, $3, @2)); }
	| sum '-' term          { $$ = checked(ctx, ast_binary(ctx->arena, OP_SUB, $1, $3, @2)); }
	;

term
	: unary
	| term '*' unary        { $$ = checked(ctx, ast_binary(ctx->arena, OP_MUL, $1, $3, @2)); }
	| term '/' unary        { $$ = checked(ctx, ast_binary(ctx->arena, OP_DIV, $1, $3, @2)); }
	| term IDIV unary       { $$ = checked(ctx, ast_binary(ctx->arena, OP_IDIV, $1, $3, @2)); }
	| term '%' unary        { $$ = checked(ctx, ast_binary(ctx->arena, OP_MOD, $1, $3, @2)); }
	;

unary
	: primary
	| '-' unary             { $$ = checked(ctx, ast_unary(ctx->arena, OP_NEG, $2, @1)); }
	;

primary
	: INT                   { $$ = ast_expr(ctx->arena, E_INT, @1); $$->u.i = $1; }
	| FLOAT                 { $$ = ast_expr(ctx->arena, E_FLOAT, @1); $$->u.f = $1; }
	| SHAPE {
		if ($1.rank == 0) {
			$$ = error_expr(ctx, @1);
		} else {
			$$ = ast_expr(ctx->arena, E_SHAPE, @1);
			memcpy($$->u.shape.d, $1.d, sizeof $1.d);
			$$->u.shape.rank = $1.rank;
		}
	}
	| STRING                { $$ = ast_expr(ctx->arena, E_STRING, @1); $$->u.s = $1; }
	| IDENT                 { $$ = ast_expr(ctx->arena, E_NAME, @1); $$->u.s = $1; }
	| IDENT '(' args_opt ')' { $$ = checked(ctx, ast_call(ctx->arena, $1, @1, $3, span(@1, @4))); }
	| list
	| '(' expr ')'          { $$ = $2; }
	;

list
	: '[' ']'               { $$ = ast_expr(ctx->arena, E_LIST, span(@1, @2)); }
	| '[' exprs ']'         { $$ = $2; $$->loc = span(@1, @3); }
	| '[' exprs ',' ']'     { $$ = $2; $$->loc = span(@1, @4); }
	;

exprs
	: expr                  { $$ = ast_expr(ctx->arena, E_LIST, @1); ast_list_push(ctx->arena, $$, $1); }
	| exprs ',' expr        { $$ = $1; ast_list_push(ctx->arena, $$, $3); $$ = checked(ctx, $$); }
	;

%%

static Loc span(Loc a, Loc b)
{
	Loc l = a;
	l.end_line = b.end_line;
	l.end_col = b.end_col;
	return l;
}

static void names_push(ParseCtx *ctx, NameList *l, const char *s, Loc loc)
{
	int cap = l->cap;
	l->v = arena_grow(ctx->arena, l->v, l->n, &cap, sizeof *l->v);
	l->locs = arena_grow(ctx->arena, l->locs, l->n, &l->cap, sizeof *l->locs);
	l->v[l->n] = s;
	l->locs[l->n] = loc;
	l->n++;
}

static Expr *error_expr(ParseCtx *ctx, Loc loc)
{
	return ast_expr(ctx->arena, E_ERROR, loc);
}

/* Bound the depth of every expression here, once, so that no walker in the
 * compiler can run out of stack on hostile input. */
static Expr *checked(ParseCtx *ctx, Expr *e)
{
	if (e->depth <= AST_MAX_DEPTH)
		return e;
	if (!ctx->nesting_reported)
		diag_error(ctx->diag, e->loc, "expression nested more than %d levels deep",
			   AST_MAX_DEPTH);
	ctx->nesting_reported = 1;
	return error_expr(ctx, e->loc);
}

static int yylex(NASC_YYSTYPE *lval, Loc *lloc, ParseCtx *ctx)
{
	if (ctx->start_token) {
		int t = ctx->start_token;
		ctx->start_token = 0;
		memset(lloc, 0, sizeof *lloc);
		lloc->src = ctx->src;
		lloc->line = lloc->end_line = 1;
		lloc->col = lloc->end_col = 1;
		return t;
	}
	/* Past the error limit there is nothing more to say: end the parse. */
	if (ctx->diag->stopped)
		return T_END;
	int t = nasc_scan_lex(lval, lloc, ctx->scanner);
	if (t == T_END) {
		/* The scanner sets no location at the end: it is where it stopped. */
		ctx->tok_text = NULL;
		ctx->tok_len = 0;
		lloc->src = ctx->src;
		lloc->line = lloc->end_line = ctx->line;
		lloc->col = lloc->end_col = ctx->col;
	}
	return t;
}

static void yyerror(Loc *loc, ParseCtx *ctx, const char *msg)
{
	if (strcmp(msg, "memory exhausted") == 0)
		diag_error(ctx->diag, *loc, "spec nested too deeply");
	else
		diag_error(ctx->diag, *loc, "%s", msg);
}

/* "unexpected `}`; expected an expression" reads better than a list of
 * every token that could start one. */
static int yyreport_syntax_error(const yypcontext_t *yyctx, ParseCtx *ctx)
{
	enum { MAX_EXPECTED = 4 };
	yysymbol_kind_t expected[MAX_EXPECTED];
	int n = yypcontext_expected_tokens(yyctx, expected, MAX_EXPECTED);
	yysymbol_kind_t got = yypcontext_token(yyctx);
	Loc loc = *yypcontext_location(yyctx);
	char what[128];
	if (got == YYSYMBOL_YYEOF) {
		snprintf(what, sizeof what, "end of file");
	} else if (ctx->tok_text && (got == YYSYMBOL_IDENT || got == YYSYMBOL_INT ||
				      got == YYSYMBOL_FLOAT || got == YYSYMBOL_SHAPE)) {
		int len = ctx->tok_len > 40 ? 40 : ctx->tok_len;
		snprintf(what, sizeof what, "%s `%.*s`", yysymbol_name(got), len, ctx->tok_text);
	} else if (ctx->tok_text && ctx->tok_len == 1) {
		snprintf(what, sizeof what, "`%c`", ctx->tok_text[0]);
	} else {
		snprintf(what, sizeof what, "%s", yysymbol_name(got));
	}
	char exp[256] = "";
	if (n > 0) {
		size_t off = 0;
		for (int i = 0; i < n && off < sizeof exp; i++) {
			const char *name = yysymbol_name(expected[i]);
			char buf[64];
			if (strlen(name) == 3 && name[0] == '\'')
				snprintf(buf, sizeof buf, "`%c`", name[1]);
			else
				snprintf(buf, sizeof buf, "%s", name);
			off += (size_t)snprintf(exp + off, sizeof exp - off, "%s%s",
					       i == 0 ? "" : i == n - 1 ? " or " : ", ", buf);
		}
		diag_error(ctx->diag, loc, "unexpected %s; expected %s", what, exp);
	} else {
		diag_error(ctx->diag, loc, "unexpected %s", what);
	}
	return 0;
}
