/* ast.c - construction and printing of the syntax tree (see ast.h). */
#include "ast.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

Expr *ast_expr(Arena *a, ExprKind k, Loc loc)
{
	Expr *e = arena_alloc(a, sizeof *e);
	e->kind = k;
	e->loc = loc;
	e->depth = 1;
	return e;
}

Expr *ast_binary(Arena *a, BinOp op, Expr *l, Expr *r, Loc loc)
{
	Expr *e = ast_expr(a, E_BINARY, loc);
	e->u.bin.op = op;
	e->u.bin.l = l;
	e->u.bin.r = r;
	e->depth = 1 + max_int(l->depth, r->depth);
	return e;
}

Expr *ast_unary(Arena *a, UnOp op, Expr *x, Loc loc)
{
	Expr *e = ast_expr(a, E_UNARY, loc);
	e->u.un.op = op;
	e->u.un.e = x;
	e->depth = 1 + x->depth;
	return e;
}

Expr *ast_if(Arena *a, Expr *c, Expr *t, Expr *f, Loc loc)
{
	Expr *e = ast_expr(a, E_IF, loc);
	e->u.cond.cond = c;
	e->u.cond.then = t;
	e->u.cond.els = f;
	e->depth = 1 + max_int(c->depth, max_int(t->depth, f->depth));
	return e;
}

Expr *ast_call(Arena *a, const char *name, Loc name_loc, ArgList args, Loc loc)
{
	Expr *e = ast_expr(a, E_CALL, loc);
	e->u.call.name = name;
	e->u.call.name_loc = name_loc;
	e->u.call.args = args;
	for (int i = 0; i < args.n; i++)
		e->depth = max_int(e->depth, 1 + args.v[i].value->depth);
	return e;
}

void ast_list_push(Arena *a, Expr *list, Expr *x)
{
	list->u.list.v = arena_grow(a, list->u.list.v, list->u.list.n, &list->u.list.cap,
				    sizeof *list->u.list.v);
	list->u.list.v[list->u.list.n++] = x;
	list->depth = max_int(list->depth, 1 + x->depth);
}

void ast_arg_push(Arena *a, ArgList *l, Arg arg)
{
	l->v = arena_grow(a, l->v, l->n, &l->cap, sizeof *l->v);
	l->v[l->n++] = arg;
}

void ast_stmt_push(Arena *a, StmtList *l, Stmt *s)
{
	l->v = arena_grow(a, l->v, l->n, &l->cap, sizeof *l->v);
	l->v[l->n++] = s;
}

void ast_item_push(Arena *a, Spec *s, Item *it)
{
	s->items = arena_grow(a, s->items, s->nitems, &s->cap, sizeof *s->items);
	s->items[s->nitems++] = it;
}

const char *ast_binop_str(BinOp op)
{
	static const char *const names[] = {
		[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_IDIV] = "//",
		[OP_MOD] = "%", [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<",
		[OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=", [OP_AND] = "and",
		[OP_OR] = "or",
	};
	return names[op];
}

const char *ast_item_kind_str(ItemKind k)
{
	static const char *const names[] = {
		[I_PARAM] = "param", [I_OP] = "op", [I_CELL] = "cell",
		[I_NETWORK] = "network", [I_SEARCH] = "search",
	};
	return names[k];
}

const char *ast_format_double(char buf[32], double v)
{
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void dump_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 32 || c >= 127)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void dump_args(FILE *out, const ArgList *args)
{
	for (int i = 0; i < args->n; i++) {
		fputc(' ', out);
		if (args->v[i].name)
			fprintf(out, "%s=", args->v[i].name);
		ast_dump_expr(out, args->v[i].value);
	}
}

void ast_dump_expr(FILE *out, const Expr *e)
{
	switch (e->kind) {
	case E_INT:
		fprintf(out, "%" PRId64, e->u.i);
		break;
	case E_FLOAT: {
		char buf[32];
		fputs(ast_format_double(buf, e->u.f), out);
		break;
	}
	case E_SHAPE:
		for (int i = 0; i < e->u.shape.rank; i++)
			fprintf(out, "%s%" PRId64, i ? "x" : "", e->u.shape.d[i]);
		break;
	case E_STRING:
		dump_string(out, e->u.s);
		break;
	case E_NAME:
		fputs(e->u.s, out);
		break;
	case E_CALL:
		fprintf(out, "(call %s", e->u.call.name);
		dump_args(out, &e->u.call.args);
		fputc(')', out);
		break;
	case E_LIST:
	case E_CHAIN:
		fputs(e->kind == E_LIST ? "(list" : "(->", out);
		for (int i = 0; i < e->u.list.n; i++) {
			fputc(' ', out);
			ast_dump_expr(out, e->u.list.v[i]);
		}
		fputc(')', out);
		break;
	case E_BINARY:
		fprintf(out, "(%s ", ast_binop_str(e->u.bin.op));
		ast_dump_expr(out, e->u.bin.l);
		fputc(' ', out);
		ast_dump_expr(out, e->u.bin.r);
		fputc(')', out);
		break;
	case E_UNARY:
		fputs(e->u.un.op == OP_NEG ? "(neg " : "(not ", out);
		ast_dump_expr(out, e->u.un.e);
		fputc(')', out);
		break;
	case E_IF:
		fputs("(if ", out);
		ast_dump_expr(out, e->u.cond.cond);
		fputc(' ', out);
		ast_dump_expr(out, e->u.cond.then);
		fputc(' ', out);
		ast_dump_expr(out, e->u.cond.els);
		fputc(')', out);
		break;
	case E_ERROR:
		fputs("<error>", out);
		break;
	}
}

void ast_dump(FILE *out, const Spec *spec)
{
	for (int i = 0; i < spec->nitems; i++) {
		const Item *it = spec->items[i];
		fprintf(out, "(%s", ast_item_kind_str(it->kind));
		if (it->name)
			fprintf(out, " %s", it->name);
		if (it->kind == I_OP) {
			fputs(" (", out);
			for (int j = 0; j < it->nformals; j++)
				fprintf(out, "%s%s", j ? " " : "", it->formals[j]);
			fputc(')', out);
		}
		if (it->base)
			fprintf(out, " : %s", it->base);
		if (it->value) {
			fputc(' ', out);
			ast_dump_expr(out, it->value);
		}
		for (int j = 0; j < it->body.n; j++) {
			const Stmt *s = it->body.v[j];
			fprintf(out, "\n  (%s", s->head);
			dump_args(out, &s->args);
			if (s->tail_loc.src) {
				fputs(" :", out);
				dump_args(out, &s->tail);
			}
			fputc(')', out);
		}
		fputs(")\n", out);
	}
}
