/* eval.c - the expression language of specs: evaluating parameter values,
 * op arguments, conditions and settings to Values. */
#include "sema.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *value_kind_str(ValueKind k)
{
	static const char *const names[] = {
		[V_ERROR] = "error", [V_INT] = "an integer", [V_FLOAT] = "a number",
		[V_BOOL] = "a boolean", [V_SHAPE] = "a shape", [V_STRING] = "a string",
		[V_SYMBOL] = "a name", [V_LIST] = "a list",
	};
	return names[k];
}

const char *value_str(Arena *a, const Value *v)
{
	switch (v->k) {
	case V_INT:
		return arena_printf(a, "%" PRId64, v->u.i);
	case V_FLOAT: {
		char buf[40];
		ast_format_double(buf, v->u.f);
		if (!strpbrk(buf, ".eEn"))
			strcat(buf, ".0");
		return arena_strdup(a, buf);
	}
	case V_BOOL:
		return v->u.b ? "true" : "false";
	case V_SHAPE: {
		IrShape s = {.rank = v->u.shape.rank};
		memcpy(s.d, v->u.shape.d, sizeof s.d);
		return ir_shape_str(a, s, false);
	}
	case V_STRING: {
		/* Escaped as the scanner reads them back. */
		size_t n = 2;
		for (const char *c = v->u.s; *c; c++)
			n += (*c == '"' || *c == '\\' || *c == '\n' || *c == '\t') ? 2 : 1;
		char *out = arena_alloc(a, n + 1), *o = out;
		*o++ = '"';
		for (const char *c = v->u.s; *c; c++) {
			if (*c == '"' || *c == '\\' || *c == '\n' || *c == '\t') {
				*o++ = '\\';
				*o++ = *c == '\n' ? 'n' : *c == '\t' ? 't' : *c;
			} else {
				*o++ = *c;
			}
		}
		*o++ = '"';
		return out;
	}
	case V_SYMBOL:
		return v->u.s;
	case V_LIST: {
		const char *s = "[";
		for (int i = 0; i < v->u.list.n; i++)
			s = arena_printf(a, "%s%s%s", s, i ? ", " : "", value_str(a, &v->u.list.v[i]));
		return arena_printf(a, "%s]", s);
	}
	case V_ERROR:
		break;
	}
	return "<error>";
}

const Value *env_lookup(const Env *env, const char *name)
{
	for (; env; env = env->parent) {
		if (env->index) {
			int i = strmap_get(env->index, name);
			if (i >= 0 && i < env->n)
				return &env->vals[i];
			continue;
		}
		for (int i = env->n - 1; i >= 0; i--)
			if (strcmp(env->names[i], name) == 0)
				return &env->vals[i];
	}
	return NULL;
}

int env_names(const Env *env, const char **out, int max)
{
	int n = 0;
	for (; env; env = env->parent)
		for (int i = 0; i < env->n && n < max; i++)
			out[n++] = env->names[i];
	return n;
}

static Value err_value(Loc loc)
{
	Value v = {.k = V_ERROR, .loc = loc};
	return v;
}

static Value int_value(int64_t i, Loc loc)
{
	Value v = {.k = V_INT, .loc = loc, .u.i = i};
	return v;
}

static Value float_value(double f, Loc loc)
{
	Value v = {.k = V_FLOAT, .loc = loc, .u.f = f};
	return v;
}

static Value bool_value(bool b, Loc loc)
{
	Value v = {.k = V_BOOL, .loc = loc, .u.b = b};
	return v;
}

static bool is_num(const Value *v)
{
	return v->k == V_INT || v->k == V_FLOAT;
}

static double num(const Value *v)
{
	return v->k == V_INT ? (double)v->u.i : v->u.f;
}

static Value type_error(Sema *s, const Expr *e, const char *op, const Value *l, const Value *r)
{
	if (r)
		diag_error(s->d, e->loc, "`%s` cannot combine %s and %s", op,
			   value_kind_str(l->k), value_kind_str(r->k));
	else
		diag_error(s->d, e->loc, "`%s` cannot take %s", op, value_kind_str(l->k));
	return err_value(e->loc);
}

static bool same_value(const Value *a, const Value *b)
{
	if (is_num(a) && is_num(b))
		return a->k == V_INT && b->k == V_INT ? a->u.i == b->u.i : num(a) == num(b);
	if (a->k != b->k)
		return false;
	switch (a->k) {
	case V_BOOL:
		return a->u.b == b->u.b;
	case V_SHAPE:
		if (a->u.shape.rank != b->u.shape.rank)
			return false;
		for (int i = 0; i < a->u.shape.rank; i++)
			if (a->u.shape.d[i] != b->u.shape.d[i])
				return false;
		return true;
	case V_STRING:
	case V_SYMBOL:
		return strcmp(a->u.s, b->u.s) == 0;
	case V_LIST:
		if (a->u.list.n != b->u.list.n)
			return false;
		for (int i = 0; i < a->u.list.n; i++)
			if (!same_value(&a->u.list.v[i], &b->u.list.v[i]))
				return false;
		return true;
	default:
		return false;
	}
}

static Value arith(Sema *s, const Expr *e, const Value *l, const Value *r)
{
	BinOp op = e->u.bin.op;
	const char *sym = ast_binop_str(op);
	if (!is_num(l) || !is_num(r))
		return type_error(s, e, sym, l, r);
	if ((op == OP_DIV || op == OP_IDIV || op == OP_MOD) && num(r) == 0) {
		diag_error(s->d, e->loc, op == OP_MOD ? "modulo by zero" : "division by zero");
		return err_value(e->loc);
	}
	if (l->k == V_INT && r->k == V_INT) {
		int64_t a = l->u.i, b = r->u.i, c = 0;
		bool ovf = false;
		switch (op) {
		case OP_ADD: ovf = __builtin_add_overflow(a, b, &c); break;
		case OP_SUB: ovf = __builtin_sub_overflow(a, b, &c); break;
		case OP_MUL: ovf = __builtin_mul_overflow(a, b, &c); break;
		case OP_DIV:
			/* Exact division stays whole; otherwise it is a number,
			 * as in Python: 15 / 2 is 7.5, and 15 // 2 is 7. */
			if (a == INT64_MIN && b == -1)
				ovf = true;
			else if (a % b == 0)
				c = a / b;
			else
				return float_value((double)a / (double)b, e->loc);
			break;
		case OP_IDIV:
		case OP_MOD:
			if (a == INT64_MIN && b == -1) {
				/* Only the quotient overflows. */
				ovf = op == OP_IDIV;
				c = 0;
				break;
			}
			/* Floor division and a modulo with the divisor's sign,
			 * each from C's truncating / and %, so that neither
			 * passes through a product that could overflow. */
			if (op == OP_IDIV) {
				c = a / b;
				if (a % b != 0 && ((a < 0) != (b < 0)))
					c--;
			} else {
				c = a % b;
				if (c != 0 && ((c < 0) != (b < 0)))
					c += b;
			}
			break;
		default: break;
		}
		if (ovf) {
			diag_error(s->d, e->loc, "integer overflow in `%s`", sym);
			return err_value(e->loc);
		}
		return int_value(c, e->loc);
	}
	double a = num(l), b = num(r), c = 0;
	switch (op) {
	case OP_ADD: c = a + b; break;
	case OP_SUB: c = a - b; break;
	case OP_MUL: c = a * b; break;
	case OP_DIV: c = a / b; break;
	case OP_IDIV:
	case OP_MOD: {
		/* Python's float floor division and modulo: from fmod, so that
		 * 1 // 0.1 is 9 and 1 % 0.1 is 0.09999999999999995. */
		double mod = fmod(a, b), div = (a - mod) / b;
		if (mod != 0 && ((b < 0) != (mod < 0))) {
			mod += b;
			div -= 1;
		}
		double fl = floor(div);
		if (div - fl > 0.5)
			fl += 1;
		c = op == OP_MOD ? mod : fl;
		break;
	}
	default: break;
	}
	if (!isfinite(c)) {
		diag_error(s->d, e->loc, "`%s` overflows", sym);
		return err_value(e->loc);
	}
	return float_value(c, e->loc);
}

/* Bare names stand for themselves only where a name makes sense: as a whole
 * value, or compared with == and !=; inside arithmetic a bare name must be
 * bound, so that `layrs * 2` is reported as the typo it is. */
static Value binary(Sema *s, const Expr *e, const Env *env, bool symbols_ok)
{
	BinOp op = e->u.bin.op;
	symbols_ok = symbols_ok && (op == OP_EQ || op == OP_NE);
	Value l = eval(s, e->u.bin.l, env, symbols_ok);
	if (l.k == V_ERROR)
		return l;
	if (op == OP_AND || op == OP_OR) {
		if (l.k != V_BOOL)
			return type_error(s, e, ast_binop_str(op), &l, NULL);
		if (op == OP_AND ? !l.u.b : l.u.b)
			return bool_value(l.u.b, e->loc);
		Value r = eval(s, e->u.bin.r, env, symbols_ok);
		if (r.k == V_ERROR)
			return r;
		if (r.k != V_BOOL)
			return type_error(s, e, ast_binop_str(op), &r, NULL);
		return bool_value(r.u.b, e->loc);
	}
	Value r = eval(s, e->u.bin.r, env, symbols_ok);
	if (r.k == V_ERROR)
		return r;
	switch (op) {
	case OP_EQ:
	case OP_NE: {
		bool comparable = (is_num(&l) && is_num(&r)) || l.k == r.k;
		if (!comparable)
			return type_error(s, e, ast_binop_str(op), &l, &r);
		bool eq = same_value(&l, &r);
		return bool_value(op == OP_EQ ? eq : !eq, e->loc);
	}
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE: {
		if (!is_num(&l) || !is_num(&r))
			return type_error(s, e, ast_binop_str(op), &l, &r);
		double a = num(&l), b = num(&r);
		if (l.k == V_INT && r.k == V_INT) {
			int64_t x = l.u.i, y = r.u.i;
			bool res = op == OP_LT ? x < y : op == OP_LE ? x <= y : op == OP_GT ? x > y : x >= y;
			return bool_value(res, e->loc);
		}
		bool res = op == OP_LT ? a < b : op == OP_LE ? a <= b : op == OP_GT ? a > b : a >= b;
		return bool_value(res, e->loc);
	}
	default:
		return arith(s, e, &l, &r);
	}
}

Value eval(Sema *s, const Expr *e, const Env *env, bool symbols_ok)
{
	if (!sema_work(s, e->loc))
		return err_value(e->loc);
	switch (e->kind) {
	case E_INT:
		return int_value(e->u.i, e->loc);
	case E_FLOAT:
		return float_value(e->u.f, e->loc);
	case E_SHAPE: {
		Value v = {.k = V_SHAPE, .loc = e->loc};
		v.u.shape.rank = e->u.shape.rank;
		memcpy(v.u.shape.d, e->u.shape.d, sizeof v.u.shape.d);
		return v;
	}
	case E_STRING: {
		Value v = {.k = V_STRING, .loc = e->loc, .u.s = e->u.s};
		return v;
	}
	case E_NAME: {
		const Value *v = env_lookup(env, e->u.s);
		if (v) {
			Value r = *v;
			r.loc = e->loc;
			return r;
		}
		if (strcmp(e->u.s, "true") == 0 || strcmp(e->u.s, "false") == 0)
			return bool_value(e->u.s[0] == 't', e->loc);
		/* A parameter further down is out of reach, not a bare name. */
		int later = strmap_get(&s->param_index, e->u.s);
		if (later >= 0 && s->param_items) {
			diag_error(s->d, e->loc, "parameter `%s` is used before it is declared", e->u.s);
			diag_note(s->d, s->param_items[later]->name_loc, "declared here");
			return err_value(e->loc);
		}
		if (symbols_ok) {
			Value r = {.k = V_SYMBOL, .loc = e->loc, .u.s = e->u.s};
			return r;
		}
		const char *names[256];
		int n = env_names(env, names, 256);
		if (find_op(s, e->u.s) || is_primitive(e->u.s))
			diag_error(s->d, e->loc, "`%s` is an operation, not a value", e->u.s);
		else
			report_unknown(s, e->loc, "name", e->u.s, names, n);
		return err_value(e->loc);
	}
	case E_LIST: {
		Value v = {.k = V_LIST, .loc = e->loc};
		v.u.list.n = e->u.list.n;
		v.u.list.v = arena_array(s->a, (size_t)e->u.list.n, sizeof(Value));
		for (int i = 0; i < e->u.list.n; i++) {
			v.u.list.v[i] = eval(s, e->u.list.v[i], env, symbols_ok);
			if (v.u.list.v[i].k == V_ERROR)
				return v.u.list.v[i];
		}
		return v;
	}
	case E_BINARY:
		return binary(s, e, env, symbols_ok);
	case E_UNARY: {
		Value x = eval(s, e->u.un.e, env, false);
		if (x.k == V_ERROR)
			return x;
		if (e->u.un.op == OP_NOT) {
			if (x.k != V_BOOL)
				return type_error(s, e, "not", &x, NULL);
			return bool_value(!x.u.b, e->loc);
		}
		if (x.k == V_INT) {
			if (x.u.i == INT64_MIN) {
				diag_error(s->d, e->loc, "integer overflow in `-`");
				return err_value(e->loc);
			}
			return int_value(-x.u.i, e->loc);
		}
		if (x.k == V_FLOAT)
			return float_value(-x.u.f, e->loc);
		return type_error(s, e, "-", &x, NULL);
	}
	case E_IF: {
		Value c = eval(s, e->u.cond.cond, env, false);
		if (c.k == V_ERROR)
			return c;
		if (c.k != V_BOOL) {
			diag_error(s->d, e->u.cond.cond->loc,
				   "the condition must be true or false, got %s", value_kind_str(c.k));
			return err_value(e->loc);
		}
		return eval(s, c.u.b ? e->u.cond.then : e->u.cond.els, env, symbols_ok);
	}
	case E_CALL:
		diag_error(s->d, e->loc, "`%s(...)` is not a value here", e->u.call.name);
		return err_value(e->loc);
	case E_CHAIN:
		diag_error(s->d, e->loc, "a chain of operations is not a value");
		return err_value(e->loc);
	case E_ERROR:
		return err_value(e->loc);
	}
	return err_value(e->loc);
}

bool eval_int(Sema *s, const Expr *e, const Env *env, const char *what,
	      int64_t min, int64_t max, int64_t *out)
{
	Value v = eval(s, e, env, false);
	if (v.k == V_ERROR)
		return false;
	if (v.k == V_FLOAT && v.u.f == floor(v.u.f) && fabs(v.u.f) < 9e15) {
		v.k = V_INT;
		v.u.i = (int64_t)v.u.f;
	}
	if (v.k == V_FLOAT && v.u.f == floor(v.u.f)) {
		diag_error(s->d, e->loc, "%s is too large: %s", what, value_str(s->a, &v));
		return false;
	}
	if (v.k != V_INT) {
		if (v.k == V_FLOAT)
			diag_error(s->d, e->loc, "%s must be a whole number, got %s%s", what,
				   value_str(s->a, &v),
				   e->kind == E_BINARY && e->u.bin.op == OP_DIV
					   ? " (`//` divides whole numbers)" : "");
		else
			diag_error(s->d, e->loc, "%s must be an integer, got %s", what,
				   value_kind_str(v.k));
		return false;
	}
	if (v.u.i < min || v.u.i > max) {
		if (max == INT64_MAX)
			diag_error(s->d, e->loc, "%s must be at least %" PRId64 ", got %" PRId64,
				   what, min, v.u.i);
		else
			diag_error(s->d, e->loc, "%s must be from %" PRId64 " to %" PRId64
				   ", got %" PRId64, what, min, max, v.u.i);
		return false;
	}
	*out = v.u.i;
	return true;
}

bool eval_float_in(Sema *s, const Expr *e, const Env *env, const char *what,
		   double lo, double hi, unsigned open, double *out)
{
	Value v = eval(s, e, env, false);
	if (v.k == V_ERROR)
		return false;
	if (!is_num(&v)) {
		diag_error(s->d, e->loc, "%s must be a number, got %s", what, value_kind_str(v.k));
		return false;
	}
	double f = num(&v);
	bool lo_ok = (open & OPEN_LO) ? f > lo : f >= lo;
	bool hi_ok = (open & OPEN_HI) ? f < hi : f <= hi;
	if (lo_ok && hi_ok) {
		*out = f;
		return true;
	}
	const char *l = (open & OPEN_LO) ? "above" : "at least";
	const char *h = (open & OPEN_HI) ? "below" : "at most";
	char a[32], b[32];
	ast_format_double(a, lo);
	ast_format_double(b, hi);
	if (isinf(hi))
		diag_error(s->d, e->loc, "%s must be %s %s, got %s", what, l, a, value_str(s->a, &v));
	else if (!open)
		diag_error(s->d, e->loc, "%s must be from %s to %s, got %s", what, a, b,
			   value_str(s->a, &v));
	else
		diag_error(s->d, e->loc, "%s must be %s %s and %s %s, got %s", what, l, a, h, b,
			   value_str(s->a, &v));
	return false;
}

bool eval_float(Sema *s, const Expr *e, const Env *env, const char *what,
		double min, double max, double *out)
{
	return eval_float_in(s, e, env, what, min, max, 0, out);
}

bool eval_bool(Sema *s, const Expr *e, const Env *env, const char *what, bool *out)
{
	Value v = eval(s, e, env, false);
	if (v.k == V_ERROR)
		return false;
	if (v.k != V_BOOL) {
		diag_error(s->d, e->loc, "%s must be true or false, got %s", what,
			   value_kind_str(v.k));
		return false;
	}
	*out = v.u.b;
	return true;
}

int eval_symbol(Sema *s, const Expr *e, const Env *env, const char *noun, const char *what,
		const char *const *choices, int n)
{
	Value v = eval(s, e, env, true);
	if (v.k == V_ERROR)
		return -1;
	if (v.k == V_SYMBOL || v.k == V_STRING) {
		for (int i = 0; i < n; i++)
			if (strcmp(v.u.s, choices[i]) == 0)
				return i;
		report_unknown(s, e->loc, noun, v.u.s, choices, n);
		return -1;
	}
	char list[256] = "";
	size_t off = 0;
	for (int i = 0; i < n && off < sizeof list; i++)
		off += (size_t)snprintf(list + off, sizeof list - off, "%s`%s`",
				       i == 0 ? "" : i == n - 1 ? " or " : ", ", choices[i]);
	diag_error(s->d, e->loc, "%s must be %s, got %s", what, list, value_kind_str(v.k));
	return -1;
}
