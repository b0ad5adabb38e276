/* parser.y - the grammar of a .nas spec.
 *
 * Pure and reentrant (all state in ParseCtx), with locations, no conflicts.
 * Blocks hold generic statements `head arg, ... [: arg, ...]` whose meaning
 * lives in sema's tables, so adding a setting never touches the grammar.
 * Two start tokens select between a whole spec and a single value (-D).
 *
 * A statement ends at the end of its line, as in Python or Go: yylex below
 * turns a newline into an NL token only where a statement can end (outside
 * parentheses and brackets, after a name, a number, a string or a closing
 * bracket) and drops it when the next line starts with an operator, so
 *     op sep = relu -> conv(C, 3)
 *             -> bn
 * is one statement.  Errors stay on their line and recovery resumes at the
 * next one. */

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
#include <assert.h>
#include <stdbool.h>
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
%define parse.lac full
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
%token NL               "end of line"
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

/* spec: (item NL)* */
spec
	: %empty
	| spec item NL  { ast_item_push(ctx->arena, ctx->spec, $2); }
	| spec error NL
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
	| stmts stmt NL         { $$ = $1; ast_stmt_push(ctx->arena, &$$, $2); }
	| stmts error NL        { $$ = $1; }
	;

/* stmt: NAME (arg (',' arg)* (':' arg (',' arg)*)?)?
 * A statement without arguments parses; sema says what it lacks. */
stmt
	: IDENT {
		$$ = arena_alloc(ctx->arena, sizeof *$$);
		$$->head = $1; $$->loc = @1;
	}
	| IDENT args {
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
	: expr                  { $$ = ast_expr(ctx->arena, E_LIST, @1); ast_list_push(ctx->arena, $$, $1); $$ = checked(ctx, $$); }
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

/* The next token from the scanner, or the one put back by yylex. */
static int raw_token(NASC_YYSTYPE *lval, Loc *lloc, ParseCtx *ctx)
{
	if (ctx->pending) {
		int t = ctx->pending;
		ctx->pending = 0;
		memcpy(lval, ctx->pending_val, sizeof *lval);
		*lloc = ctx->pending_loc;
		return t;
	}
	/* Past the error limit there is nothing more to say: end the parse. */
	if (ctx->diag->stopped)
		return T_END;
	int t = nasc_scan_lex(lval, lloc, ctx->scanner);
	if (t == T_END) {
		/* The scanner sets no location at the end: it is where it stopped. */
		lloc->src = ctx->src;
		lloc->line = lloc->end_line = ctx->line;
		lloc->col = lloc->end_col = ctx->col;
	}
	return t;
}

static void put_back(ParseCtx *ctx, int t, const NASC_YYSTYPE *lval, const Loc *lloc)
{
	static_assert(sizeof *lval <= sizeof ctx->pending_val, "ParseCtx.pending_val is too small");
	ctx->pending = t;
	memcpy(ctx->pending_val, lval, sizeof *lval);
	ctx->pending_loc = *lloc;
}

/* Tokens after which a statement can end at a newline. */
static bool ends_statement(int t)
{
	return t == T_IDENT || t == T_INT || t == T_FLOAT || t == T_SHAPE || t == T_STRING ||
	       t == ')' || t == ']' || t == '}';
}

/* Tokens that, starting a line, continue the line before. */
static bool continues_line(int t)
{
	switch (t) {
	case T_ARROW: case T_IDIV: case T_EQ: case T_NE: case T_LE: case T_GE:
	case T_AND: case T_OR: case T_THEN: case T_ELSE:
	case '+': case '-': case '*': case '/': case '%': case '<': case '>':
	case ',': case ':': case '=': case ')': case ']':
		return true;
	default:
		return false;
	}
}

/* Operators that expect more after them: one at the end of a line makes the
 * next line part of the same statement. */
static bool dangles(int t)
{
	return t == T_ARROW || t == T_IDIV || t == T_EQ || t == T_NE || t == T_LE ||
	       t == T_GE || t == T_AND || t == T_OR || t == '+' || t == '-' || t == '*' ||
	       t == '/' || t == '%' || t == '<' || t == '>' || t == ',' || t == '=';
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
	int t;
	for (;;) {
		t = raw_token(lval, lloc, ctx);
		if (t != T_NL)
			break;
		if (ctx->value_mode || ctx->depth > 0 || !ctx->can_end)
			continue;
		/* A newline where a statement can end: it does, unless the
		 * next line starts with an operator. */
		Loc nl = *lloc;
		NASC_YYSTYPE v;
		Loc l;
		int next;
		do
			next = raw_token(&v, &l, ctx);
		while (next == T_NL);
		if (continues_line(next)) {
			*lval = v;
			*lloc = l;
			t = next;
			break;
		}
		put_back(ctx, next, &v, &l);
		ctx->can_end = false;
		*lloc = nl;
		return T_NL;
	}
	/* A closing brace and the end of the file end a statement too. */
	if ((t == '}' || t == T_END) && ctx->can_end && !ctx->value_mode) {
		put_back(ctx, t, lval, lloc);
		ctx->can_end = false;
		lloc->end_line = lloc->line;
		lloc->end_col = lloc->col;
		return T_NL;
	}
	if (t == '(' || t == '[')
		ctx->depth++;
	else if ((t == ')' || t == ']') && ctx->depth > 0)
		ctx->depth--;
	/* An operator that ended a line is why the next line was read as part
	 * of its statement: a syntax error there gets a note about it. */
	if (ctx->last_loc.src && lloc->line > ctx->last_loc.line && dangles(ctx->last_tok))
		ctx->dangling = ctx->last_loc;
	ctx->can_end = ends_statement(t);
	ctx->last_tok = t;
	ctx->last_loc = *lloc;
	if (t == T_END) {
		ctx->tok_text = NULL;
		ctx->tok_len = 0;
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

/* Tokens that can start an expression: when all of them are expected, the
 * message says "an expression" instead of listing them. */
/* Whether symbol k is the character token c. */
static bool is_char(yysymbol_kind_t k, char c)
{
	const char *name = yysymbol_name(k);
	return strlen(name) == 3 && name[0] == '\'' && name[1] == c;
}

static bool starts_expression(yysymbol_kind_t k)
{
	return k == YYSYMBOL_IDENT || k == YYSYMBOL_INT || k == YYSYMBOL_FLOAT ||
	       k == YYSYMBOL_SHAPE || k == YYSYMBOL_STRING || k == YYSYMBOL_IF ||
	       k == YYSYMBOL_NOT || is_char(k, '(') || is_char(k, '[') || is_char(k, '-');
}

/* Binary operators: after a complete expression they are always possible,
 * so naming them says nothing. */
static bool is_operator(yysymbol_kind_t k)
{
	return k == YYSYMBOL_ARROW || k == YYSYMBOL_IDIV || k == YYSYMBOL_EQ ||
	       k == YYSYMBOL_NE || k == YYSYMBOL_LE || k == YYSYMBOL_GE || k == YYSYMBOL_AND ||
	       k == YYSYMBOL_OR || is_char(k, '+') || is_char(k, '-') || is_char(k, '*') ||
	       is_char(k, '/') || is_char(k, '%') || is_char(k, '<') || is_char(k, '>');
}

static bool is_comparison(yysymbol_kind_t k)
{
	return k == YYSYMBOL_EQ || k == YYSYMBOL_NE || k == YYSYMBOL_LE || k == YYSYMBOL_GE ||
	       is_char(k, '<') || is_char(k, '>');
}

static void token_name(char *buf, size_t len, yysymbol_kind_t k)
{
	const char *name = yysymbol_name(k);
	if (strlen(name) == 3 && name[0] == '\'')
		snprintf(buf, len, "`%c`", name[1]);
	else
		snprintf(buf, len, "%s", name);
}

/* "unexpected `}`; expected an expression" reads better than a list of
 * every token that could start one. */
static int yyreport_syntax_error(const yypcontext_t *yyctx, ParseCtx *ctx)
{
	yysymbol_kind_t expected[YYNTOKENS];
	int n = yypcontext_expected_tokens(yyctx, expected, YYNTOKENS);
	yysymbol_kind_t got = yypcontext_token(yyctx);
	Loc loc = *yypcontext_location(yyctx);
	char what[128];
	if (got == YYSYMBOL_YYEOF) {
		snprintf(what, sizeof what, "end of file");
	} else if (ctx->tok_text && (got == YYSYMBOL_IDENT || got == YYSYMBOL_INT ||
				      got == YYSYMBOL_FLOAT || got == YYSYMBOL_SHAPE)) {
		int len = ctx->tok_len > 40 ? 40 : ctx->tok_len;
		snprintf(what, sizeof what, "%s `%.*s`", yysymbol_name(got), len, ctx->tok_text);
	} else {
		token_name(what, sizeof what, got);
	}

	/* Say what was expected: "an expression" when every token that starts
	 * one would do, then the other tokens, leaving out binary operators. */
	int nexpr = 0;
	for (int i = 0; i < n; i++)
		nexpr += starts_expression(expected[i]);
	bool expr = nexpr >= 5;
	yysymbol_kind_t rest[YYNTOKENS];
	int nrest = 0;
	for (int i = 0; i < n; i++)
		if (!(expr && starts_expression(expected[i])) && !is_operator(expected[i]))
			rest[nrest++] = expected[i];
	char exp[256] = "";
	size_t off = 0;
	int items = (expr ? 1 : 0) + nrest;
	if (expr)
		off += (size_t)snprintf(exp, sizeof exp, "an expression");
	for (int i = 0; i < nrest && off < sizeof exp; i++) {
		char buf[64];
		token_name(buf, sizeof buf, rest[i]);
		int pos = (expr ? 1 : 0) + i;
		off += (size_t)snprintf(exp + off, sizeof exp - off, "%s%s",
				       pos == 0 ? "" : pos == items - 1 ? " or " : ", ", buf);
	}
	bool say_expected = items > 0 && nrest <= 4;

	if (is_comparison(got) && !expr)
		diag_error(ctx->diag, loc, "unexpected %s: comparisons do not chain "
			   "(write `a < b and b < c`)", what);
	else if (say_expected)
		diag_error(ctx->diag, loc, "unexpected %s; expected %s", what, exp);
	else
		diag_error(ctx->diag, loc, "unexpected %s", what);
	/* An operator at the end of the line before made this line part of
	 * its statement: that is most likely the mistake. */
	if (ctx->diag->last_shown && ctx->dangling.src && loc.line == ctx->dangling.line + 1) {
		diag_note(ctx->diag, ctx->dangling,
			  "this line ends in an operator, so the next line continues it");
		ctx->dangling.src = NULL;
	}
	return 0;
}
