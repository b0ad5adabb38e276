/* expand.c - operation bodies to graph IR.
 *
 * An op body is a chain of primitives and other ops.  Expansion walks it with
 * the IR value flowing through, binding the edge's C and stride, so one op
 * definition becomes different IR on every edge it sits on.  The surface
 * primitives (what a spec can write) are one table here; each row lowers to
 * graph-IR primitives (prims.def). */
#include "sema.h"

#include <inttypes.h>
#include <string.h>

typedef enum SurfaceKind {
	SP_RELU, SP_IDENTITY, SP_CONV, SP_BN, SP_MAX_POOL, SP_AVG_POOL, SP_ZERO,
	SP_NOISE, SP_SHIFT, SP_CONCAT, SP_ADD, SP_SCALE, SP_GAP, SP_LINEAR,
} SurfaceKind;

enum { SP_MAX_ARGS = 8 };

typedef struct SurfacePrim {
	const char *name;
	SurfaceKind kind;
	bool takes_ops;         /* concat, add: arguments are operations */
	int nargs;
	ArgSpec args[SP_MAX_ARGS];
} SurfacePrim;

/* The primitives a spec can name; docs/dsl.md documents each row. */
static const SurfacePrim surface[] = {
	{"relu", SP_RELU, false, 0, {{0}}},
	{"identity", SP_IDENTITY, false, 0, {{0}}},
	{"conv", SP_CONV, false, 7,
	 {{"out", true}, {"k", true}, {"stride", false}, {"pad", false},
	  {"dilation", false}, {"groups", false}, {"bias", false}}},
	{"bn", SP_BN, false, 3, {{"affine", false}, {"eps", false}, {"momentum", false}}},
	{"max_pool", SP_MAX_POOL, false, 3, {{"k", true}, {"stride", false}, {"pad", false}}},
	{"avg_pool", SP_AVG_POOL, false, 4,
	 {{"k", true}, {"stride", false}, {"pad", false}, {"count_pad", false}}},
	{"zero", SP_ZERO, false, 1, {{"stride", false}}},
	{"noise", SP_NOISE, false, 1, {{"stride", false}}},
	{"shift", SP_SHIFT, false, 1, {{"n", true}}},
	{"concat", SP_CONCAT, true, 0, {{0}}},
	{"add", SP_ADD, true, 0, {{0}}},
	{"scale", SP_SCALE, false, 1, {{"factor", true}}},
	{"global_avg_pool", SP_GAP, false, 0, {{0}}},
	{"linear", SP_LINEAR, false, 2, {{"out", true}, {"bias", false}}},
};
enum { NSURFACE = sizeof surface / sizeof surface[0] };

static const SurfacePrim *find_prim(const char *name)
{
	for (int i = 0; i < NSURFACE; i++)
		if (strcmp(surface[i].name, name) == 0)
			return &surface[i];
	return NULL;
}

bool is_primitive(const char *name)
{
	return find_prim(name) != NULL;
}

const OpDef *find_op(const Sema *s, const char *name)
{
	int i = strmap_get(&s->op_index, name);
	return i >= 0 ? &s->ops[i] : NULL;
}

int op_names(const Sema *s, const char **out, int max)
{
	int n = 0;
	for (int i = 0; i < NSURFACE && n < max; i++)
		out[n++] = surface[i].name;
	for (int i = 0; i < s->nops && n < max; i++)
		out[n++] = s->ops[i].item->name;
	return n;
}

static void unknown_op(Sema *s, Loc loc, const char *name)
{
	const char *names[512];
	int n = op_names(s, names, 512);
	report_unknown(s, loc, "operation", name, names, n);
}

bool ir_budget(Sema *s, Loc loc)
{
	if (s->m->g.n < SEMA_MAX_IR_NODES)
		return true;
	if (!s->budget_reported)
		diag_error(s->d, loc, "the supernet grows past %d graph nodes here; "
			   "is a parameter far too large?", SEMA_MAX_IR_NODES);
	s->budget_reported = true;
	return false;
}

bool sema_work(Sema *s, Loc loc)
{
	if (++s->work <= SEMA_MAX_WORK)
		return true;
	if (!s->budget_reported)
		diag_error(s->d, loc, "the spec takes more than %d steps to expand here; is the "
			   "network far larger than a search needs, or does an op use another many "
			   "times over?", SEMA_MAX_WORK);
	s->budget_reported = true;
	return false;
}

/* ---- the static check of op bodies ------------------------------------ */

static void check_value(Sema *s, const Expr *e, const Env *env);
static void check_op(Sema *s, const Expr *e, const Env *env);

static void check_args(Sema *s, const ArgList *args, const Env *env, bool ops)
{
	for (int i = 0; i < args->n; i++) {
		if (ops)
			check_op(s, args->v[i].value, env);
		else
			check_value(s, args->v[i].value, env);
	}
}

/* Names in value position must be bound; nothing else is checked here
 * (types and ranges depend on the edge). */
static void check_value(Sema *s, const Expr *e, const Env *env)
{
	switch (e->kind) {
	case E_NAME:
		if (!env_lookup(env, e->u.s) && strcmp(e->u.s, "true") != 0 &&
		    strcmp(e->u.s, "false") != 0)
			eval(s, e, env, false); /* reports it, with a suggestion */
		break;
	case E_LIST:
		for (int i = 0; i < e->u.list.n; i++)
			check_value(s, e->u.list.v[i], env);
		break;
	case E_BINARY:
		check_value(s, e->u.bin.l, env);
		check_value(s, e->u.bin.r, env);
		break;
	case E_UNARY:
		check_value(s, e->u.un.e, env);
		break;
	case E_IF:
		check_value(s, e->u.cond.cond, env);
		check_value(s, e->u.cond.then, env);
		check_value(s, e->u.cond.els, env);
		break;
	case E_CALL:
	case E_CHAIN:
		eval(s, e, env, false); /* reports "not a value" */
		break;
	default:
		break;
	}
}

static void not_an_op(Sema *s, const Expr *e)
{
	const char *what = e->kind == E_INT ? "an integer" : e->kind == E_FLOAT ? "a number" :
			   e->kind == E_SHAPE ? "a shape" : e->kind == E_STRING ? "a string" :
			   e->kind == E_LIST ? "a list" : "a value";
	diag_error(s->d, e->loc, "expected an operation, got %s", what);
}

static void check_op(Sema *s, const Expr *e, const Env *env)
{
	switch (e->kind) {
	case E_NAME: {
		const Value *v = env_lookup(env, e->u.s);
		if (!find_prim(e->u.s) && !find_op(s, e->u.s)) {
			if (v)
				diag_error(s->d, e->loc, "`%s` is a value, not an operation", e->u.s);
			else
				unknown_op(s, e->loc, e->u.s);
		}
		break;
	}
	case E_CALL: {
		const SurfacePrim *p = find_prim(e->u.call.name);
		if (p) {
			check_args(s, &e->u.call.args, env, p->takes_ops);
		} else if (find_op(s, e->u.call.name)) {
			check_args(s, &e->u.call.args, env, false);
		} else {
			unknown_op(s, e->u.call.name_loc, e->u.call.name);
			check_args(s, &e->u.call.args, env, false);
		}
		break;
	}
	case E_CHAIN:
		for (int i = 0; i < e->u.list.n; i++)
			check_op(s, e->u.list.v[i], env);
		break;
	case E_IF:
		check_value(s, e->u.cond.cond, env);
		check_op(s, e->u.cond.then, env);
		check_op(s, e->u.cond.els, env);
		break;
	case E_ERROR:
		break;
	default:
		not_an_op(s, e);
		break;
	}
}

/* The names every op body sees besides its own parameters. */
static const char *const implicit_names[] = {"C", "stride"};

static Env site_env(Sema *s, int64_t C, int64_t stride)
{
	Env env = {.n = 2, .names = (const char **)implicit_names, .parent = &s->globals};
	env.vals = arena_array(s->a, 2, sizeof(Value));
	env.vals[0].k = V_INT;
	env.vals[0].u.i = C;
	env.vals[1].k = V_INT;
	env.vals[1].u.i = stride;
	return env;
}

void expand_check_ops(Sema *s)
{
	Env site = site_env(s, 1, 1);
	for (int i = 0; i < s->nops; i++) {
		const Item *it = s->ops[i].item;
		int before = s->d->errors;
		if (find_prim(it->name)) {
			diag_error(s->d, it->name_loc, "`%s` is a primitive; give the op another name",
				   it->name);
		}
		const OpDef *first = find_op(s, it->name);
		if (first != &s->ops[i]) {
			diag_error(s->d, it->name_loc, "op `%s` is defined twice", it->name);
			diag_note(s->d, first->item->name_loc, "first defined here");
		}
		for (int j = 0; j < it->nformals; j++)
			for (int k = 0; k < j; k++)
				if (strcmp(it->formals[j], it->formals[k]) == 0)
					diag_error(s->d, it->formal_locs[j],
						   "parameter `%s` of op `%s` is listed twice",
						   it->formals[j], it->name);
		Env formals = {.n = it->nformals, .names = it->formals, .parent = &site};
		formals.vals = arena_array(s->a, (size_t)it->nformals + 1, sizeof(Value));
		for (int j = 0; j < it->nformals; j++)
			formals.vals[j].k = V_INT;
		check_op(s, it->value, &formals);
		s->ops[i].bad = s->d->errors > before;
	}
}

/* ---- expansion ------------------------------------------------------------- */

typedef struct Frame {
	Sema *s;
	ExpandSite *site;
	const Env *env;
	int depth;
} Frame;

static int expand_in(Frame *f, const Expr *e, int x);

/* Report a shape failure at the primitive, with where the expansion was. */
static void shape_error(Frame *f, Loc loc, const char *prim, const char *why, int x)
{
	Sema *s = f->s;
	diag_error(s->d, loc, "%s: %s", prim, why);
	if (s->d->last_shown && f->site->context)
		diag_note(s->d, (Loc){0}, "in %s, on a %s input", f->site->context,
			  ir_shape_str(s->a, s->m->g.node[x].shape, true));
}

/* Every size that enters the graph is checked here, so later arithmetic on
 * shapes cannot overflow. */
static bool shape_in_range(Frame *f, Loc loc, const char *prim, IrShape sh)
{
	for (int i = 0; i < sh.rank; i++)
		if (sh.d[i] > SEMA_MAX_DIM) {
			diag_error(f->s->d, loc, "%s: a dimension of %" PRId64 " is larger than %d",
				   prim, sh.d[i], SEMA_MAX_DIM);
			return false;
		}
	if (ir_numel(sh) > SEMA_MAX_NUMEL) {
		diag_error(f->s->d, loc, "%s: a tensor of %s elements is too large", prim,
			   ir_shape_str(f->s->a, sh, false));
		return false;
	}
	return true;
}

static int add_node(Frame *f, Loc loc, const char *prim, IrOp op, const int *in, int nin,
		    const IrAttr *at)
{
	Sema *s = f->s;
	if (!ir_budget(s, loc))
		return -1;
	char why[256];
	int v = ir_add(&s->m->g, op, in, nin, at, f->site->scope, loc, why, sizeof why);
	if (v < 0) {
		shape_error(f, loc, prim, why, in[0]);
		return -1;
	}
	if (!shape_in_range(f, loc, prim, s->m->g.node[v].shape))
		return -1;
	return v;
}

/* A named leaf of primitive number `index` at the site: a WEIGHT, or a
 * batch norm's RUNNING statistic, named the same way. */
static int add_tensor(Frame *f, Loc loc, const char *prim, int index, const char *suffix,
		      IrShape sh, IrOp op, IrWeightKind kind)
{
	Sema *s = f->s;
	if (!ir_budget(s, loc) || !shape_in_range(f, loc, prim, sh))
		return -1;
	const char *name = arena_printf(s->a, "%s.%d.%s", f->site->scope, index, suffix);
	int w = ir_leaf(&s->m->g, op, sh, DT_F32, name, f->site->scope, loc);
	s->m->g.node[w].wkind = kind;
	return w;
}

static int add_weight(Frame *f, Loc loc, const char *prim, int index, const char *suffix,
		      IrShape sh, IrWeightKind kind)
{
	return add_tensor(f, loc, prim, index, suffix, sh, IR_WEIGHT, kind);
}

static IrShape shape1(int64_t n)
{
	IrShape sh = {.rank = 1, .d = {n}};
	return sh;
}

static bool arg_int(Frame *f, const Expr *e, const char *prim, const char *arg, int64_t min,
		    int64_t max, int64_t def, int64_t *out)
{
	if (!e) {
		*out = def;
		return true;
	}
	char what[96];
	snprintf(what, sizeof what, "`%s` of %s", arg, prim);
	return eval_int(f->s, e, f->env, what, min, max, out);
}

static bool arg_bool(Frame *f, const Expr *e, const char *prim, const char *arg, bool def,
		     bool *out)
{
	if (!e) {
		*out = def;
		return true;
	}
	char what[96];
	snprintf(what, sizeof what, "`%s` of %s", arg, prim);
	return eval_bool(f->s, e, f->env, what, out);
}

static bool arg_float(Frame *f, const Expr *e, const char *prim, const char *arg, double min,
		      double max, double def, double *out)
{
	if (!e) {
		*out = def;
		return true;
	}
	char what[96];
	snprintf(what, sizeof what, "`%s` of %s", arg, prim);
	return eval_float(f->s, e, f->env, what, min, max, out);
}

static const IrShape *shape_of(Frame *f, int x)
{
	return &f->s->m->g.node[x].shape;
}

enum { MAX_KERNEL = 64 };

/* Lower one surface primitive applied to x. */
static int apply_prim(Frame *f, const SurfacePrim *p, const Expr *call, Loc loc, int x)
{
	Sema *s = f->s;
	static const ArgList no_args;
	const ArgList *args = call ? &call->u.call.args : &no_args;
	int index = f->site->counter++;
	const char *name = p->name;

	if (p->takes_ops) {
		if (args->n < 1) {
			diag_error(s->d, loc, "`%s` needs at least one operation", name);
			return -1;
		}
		int *outs = arena_array(s->a, (size_t)args->n, sizeof(int));
		for (int i = 0; i < args->n; i++) {
			if (args->v[i].name) {
				diag_error(s->d, args->v[i].name_loc,
					   "`%s` takes operations, not named arguments", name);
				return -1;
			}
			outs[i] = expand_in(f, args->v[i].value, x);
			if (outs[i] < 0)
				return -1;
		}
		if (args->n == 1 && p->kind == SP_ADD)
			return outs[0];
		return add_node(f, loc, name, p->kind == SP_CONCAT ? IR_CONCAT : IR_ADD, outs,
				args->n, NULL);
	}

	const Expr *a[SP_MAX_ARGS];
	if (!bind_args(s, name, loc, args, p->args, p->nargs, a))
		return -1;
	IrAttr at = {0};
	const IrShape *xs = shape_of(f, x);
	switch (p->kind) {
	case SP_RELU:
		return add_node(f, loc, name, IR_RELU, &x, 1, NULL);
	case SP_IDENTITY:
		return x;
	case SP_CONV: {
		int64_t out, k, stride, pad, dil, groups;
		bool bias;
		if (!arg_int(f, a[0], name, "out", 1, SEMA_MAX_DIM, 0, &out) ||
		    !arg_int(f, a[1], name, "k", 1, MAX_KERNEL, 0, &k) ||
		    !arg_int(f, a[2], name, "stride", 1, MAX_KERNEL, 1, &stride) ||
		    !arg_int(f, a[3], name, "pad", 0, MAX_KERNEL, 0, &pad) ||
		    !arg_int(f, a[4], name, "dilation", 1, MAX_KERNEL, 1, &dil) ||
		    !arg_int(f, a[5], name, "groups", 1, SEMA_MAX_DIM, 1, &groups) ||
		    !arg_bool(f, a[6], name, "bias", false, &bias))
			return -1;
		if (xs->rank != 4) {
			shape_error(f, loc, name, "needs a 4-d image tensor", x);
			return -1;
		}
		if (xs->d[1] % groups != 0 || out % groups != 0) {
			char why[160];
			snprintf(why, sizeof why,
				 "groups=%" PRId64 " must divide both the %" PRId64
				 " input and the %" PRId64 " output channels",
				 groups, xs->d[1], out);
			shape_error(f, loc, name, why, x);
			return -1;
		}
		at.kh = at.kw = (int)k;
		at.stride = (int)stride;
		at.pad = (int)pad;
		at.dilation = (int)dil;
		at.groups = (int)groups;
		int in[3] = {x, -1, -1};
		in[1] = add_weight(f, loc, name, index, "weight",
				   ir_shape4(out, xs->d[1] / groups, k, k), W_CONV);
		if (in[1] < 0)
			return -1;
		if (bias && (in[2] = add_weight(f, loc, name, index, "bias", shape1(out), W_BIAS)) < 0)
			return -1;
		return add_node(f, loc, name, IR_CONV2D, in, bias ? 3 : 2, &at);
	}
	case SP_BN: {
		bool affine;
		if (!arg_bool(f, a[0], name, "affine", false, &affine) ||
		    !arg_float(f, a[1], name, "eps", 1e-12, 1, 1e-5, &at.eps) ||
		    !arg_float(f, a[2], name, "momentum", 0, 1, 0.1, &at.momentum))
			return -1;
		if (xs->rank != 4) {
			shape_error(f, loc, name, "needs a 4-d image tensor", x);
			return -1;
		}
		int in[3] = {x, -1, -1};
		if (affine) {
			if ((in[1] = add_weight(f, loc, name, index, "weight", shape1(xs->d[1]), W_BN_GAMMA)) < 0 ||
			    (in[2] = add_weight(f, loc, name, index, "bias", shape1(xs->d[1]), W_BN_BETA)) < 0)
				return -1;
		}
		/* the statistics eval mode normalizes with, which training updates */
		IrShape cs = shape1(xs->d[1]);
		int mean = add_tensor(f, loc, name, index, "running_mean", cs, IR_RUNNING, W_BN_MEAN);
		int var = mean < 0 ? -1
				   : add_tensor(f, loc, name, index, "running_var", cs, IR_RUNNING, W_BN_VAR);
		if (var < 0)
			return -1;
		int bn = add_node(f, loc, name, IR_BATCH_NORM, in, affine ? 3 : 1, &at);
		if (bn >= 0)
			ir_running(&s->m->g, bn, mean, var);
		return bn;
	}
	case SP_MAX_POOL:
	case SP_AVG_POOL: {
		int64_t k, stride, pad;
		bool count_pad = true;
		if (!arg_int(f, a[0], name, "k", 1, MAX_KERNEL, 0, &k))
			return -1;
		if (!arg_int(f, a[1], name, "stride", 1, MAX_KERNEL, k, &stride) ||
		    !arg_int(f, a[2], name, "pad", 0, MAX_KERNEL, 0, &pad))
			return -1;
		if (p->kind == SP_AVG_POOL && !arg_bool(f, a[3], name, "count_pad", true, &count_pad))
			return -1;
		at.kh = at.kw = (int)k;
		at.stride = (int)stride;
		at.pad = (int)pad;
		at.count_pad = count_pad;
		return add_node(f, loc, name, p->kind == SP_MAX_POOL ? IR_MAX_POOL : IR_AVG_POOL,
				&x, 1, &at);
	}
	case SP_ZERO:
	case SP_NOISE: {
		/* By default they subsample like any other op on the edge. */
		const Value *bound = env_lookup(f->env, "stride");
		int64_t stride, dflt = bound && bound->k == V_INT ? bound->u.i : 1;
		if (!arg_int(f, a[0], name, "stride", 1, MAX_KERNEL, dflt, &stride))
			return -1;
		at.stride = (int)stride;
		return add_node(f, loc, name, p->kind == SP_ZERO ? IR_ZERO : IR_NOISE, &x, 1, &at);
	}
	case SP_SHIFT: {
		int64_t n;
		if (!arg_int(f, a[0], name, "n", 0, SEMA_MAX_DIM, 0, &n))
			return -1;
		at.shift = (int)n;
		return add_node(f, loc, name, IR_SHIFT, &x, 1, &at);
	}
	case SP_SCALE:
		if (!arg_float(f, a[0], name, "factor", -1e30, 1e30, 1, &at.scale))
			return -1;
		return add_node(f, loc, name, IR_SCALE, &x, 1, &at);
	case SP_GAP:
		return add_node(f, loc, name, IR_GLOBAL_AVG_POOL, &x, 1, NULL);
	case SP_LINEAR: {
		int64_t out;
		bool bias;
		if (!arg_int(f, a[0], name, "out", 1, SEMA_MAX_DIM, 0, &out) ||
		    !arg_bool(f, a[1], name, "bias", true, &bias))
			return -1;
		if (xs->rank != 2) {
			shape_error(f, loc, name,
				    "needs a [batch, features] input (pool first: global_avg_pool -> linear)", x);
			return -1;
		}
		int in[3] = {x, -1, -1};
		IrShape ws = {.rank = 2, .d = {out, xs->d[1]}};
		if ((in[1] = add_weight(f, loc, name, index, "weight", ws, W_LINEAR)) < 0)
			return -1;
		if (bias && (in[2] = add_weight(f, loc, name, index, "bias", shape1(out), W_BIAS)) < 0)
			return -1;
		return add_node(f, loc, name, IR_LINEAR, in, bias ? 3 : 2, NULL);
	}
	case SP_CONCAT:
	case SP_ADD:
		break;
	}
	return -1;
}

/* Expand a user op: bind its parameters in the caller's scope, then its
 * body in its own (ops see their parameters, C, stride and the spec's
 * parameters, never their caller's locals). */
static int apply_op(Frame *f, OpDef *op, const Expr *call, Loc loc, int x)
{
	Sema *s = f->s;
	const Item *it = op->item;
	if (op->bad)
		return -1;
	if (op->expanding) {
		diag_error(s->d, loc, "op `%s` is defined in terms of itself", it->name);
		return -1;
	}
	if (f->depth >= SEMA_MAX_EXPAND_DEPTH) {
		diag_error(s->d, loc, "ops nest more than %d deep", SEMA_MAX_EXPAND_DEPTH);
		return -1;
	}
	static const ArgList no_args;
	const ArgList *args = call ? &call->u.call.args : &no_args;
	ArgSpec *spec = arena_array(s->a, (size_t)it->nformals + 1, sizeof *spec);
	const Expr **bound = arena_array(s->a, (size_t)it->nformals + 1, sizeof *bound);
	for (int i = 0; i < it->nformals; i++) {
		spec[i].name = it->formals[i];
		spec[i].required = true;
	}
	if (!bind_args(s, it->name, loc, args, spec, it->nformals, bound))
		return -1;
	Env env = {.n = it->nformals, .names = it->formals};
	env.vals = arena_array(s->a, (size_t)it->nformals + 1, sizeof(Value));
	for (int i = 0; i < it->nformals; i++) {
		env.vals[i] = eval(s, bound[i], f->env, false);
		if (env.vals[i].k == V_ERROR)
			return -1;
	}
	/* The site frame is the outermost non-global frame of any op scope. */
	const Env *site = f->env;
	while (site->parent && site->parent != &s->globals)
		site = site->parent;
	env.parent = site;

	Frame inner = {.s = s, .site = f->site, .env = &env, .depth = f->depth + 1};
	op->expanding = 1;
	int y = expand_in(&inner, it->value, x);
	op->expanding = 0;
	return y;
}

static int expand_in(Frame *f, const Expr *e, int x)
{
	Sema *s = f->s;
	if (!sema_work(s, e->loc))
		return -1;
	switch (e->kind) {
	case E_CHAIN:
		for (int i = 0; i < e->u.list.n && x >= 0; i++)
			x = expand_in(f, e->u.list.v[i], x);
		return x;
	case E_IF: {
		bool c;
		if (!eval_bool(s, e->u.cond.cond, f->env, "the condition", &c))
			return -1;
		return expand_in(f, c ? e->u.cond.then : e->u.cond.els, x);
	}
	case E_NAME:
	case E_CALL: {
		const char *name = e->kind == E_NAME ? e->u.s : e->u.call.name;
		Loc loc = e->kind == E_NAME ? e->loc : e->u.call.name_loc;
		const SurfacePrim *p = find_prim(name);
		if (p)
			return apply_prim(f, p, e->kind == E_CALL ? e : NULL, loc, x);
		OpDef *op = (OpDef *)find_op(s, name);
		if (op)
			return apply_op(f, op, e->kind == E_CALL ? e : NULL, loc, x);
		if (e->kind == E_NAME && env_lookup(f->env, name))
			diag_error(s->d, loc, "`%s` is a value, not an operation", name);
		else
			unknown_op(s, loc, name);
		return -1;
	}
	case E_ERROR:
		return -1;
	default:
		not_an_op(s, e);
		return -1;
	}
}

int expand(Sema *s, const Expr *e, int x, ExpandSite *site)
{
	Env env = site_env(s, site->C, site->stride);
	Frame f = {.s = s, .site = site, .env = &env, .depth = 0};
	return expand_in(&f, e, x);
}
