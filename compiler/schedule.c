/* schedule.c - the search block: the bilevel schedule, regularization,
 * curvature tracking and the robust controller.
 *
 * Every setting is a row of one table: its name, the field it writes, its
 * type and range, and for settings with variants (`controller es(...)`)
 * which variants take it.  Defaults are DARTS's and RobustDARTS's. */
#include "sema.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef enum FieldType { F_INT, F_FLOAT, F_BOOL, F_SYM } FieldType;

typedef struct Field {
	const char *name;
	FieldType type;
	double min, max;        /* max may be INFINITY */
	unsigned open;          /* OPEN_LO, OPEN_HI: the bound itself is excluded */
	size_t off;             /* in Schedule */
	const char *const *syms;
	int nsyms;
	unsigned variants;      /* bit v: valid in variant v; 0: the setting has none */
} Field;

enum { MAX_FIELDS = 8 };

typedef struct Setting {
	const char *head;
	const char *const *variants;
	int nvariants;
	size_t variant_off;     /* int-sized enum in Schedule */
	int nfields;
	Field fields[MAX_FIELDS];
} Setting;

static const char *const orders[] = {"first", "second"};
static const char *const ramps[] = {"none", "linear"};
static const char *const lr_schedules[] = {"cosine", "constant"};
static const char *const knobs[] = {"l2", "augment"};
static const char *const sgd_v[] = {"sgd"};
static const char *const adam_v[] = {"adam"};
static const char *const hess_v[] = {"none", "exact", "lanczos"};
static const char *const ctrl_v[] = {"none", "es", "ada"};

#define OFF(f) offsetof(Schedule, f)
#define N(a) (int)(sizeof a / sizeof a[0])

static const Setting settings[] = {
	{"epochs", NULL, 0, 0, 1, {{"epochs", F_INT, 1, 1e6, 0, OFF(epochs), NULL, 0, 0}}},
	{"batch", NULL, 0, 0, 1, {{"batch", F_INT, 1, 1 << 20, 0, OFF(batch), NULL, 0, 0}}},
	{"seed", NULL, 0, 0, 1, {{"seed", F_INT, 0, 9e15, 0, OFF(seed), NULL, 0, 0}}},
	{"split", NULL, 0, 0, 1, {{"split", F_FLOAT, 0, 1, OPEN_LO | OPEN_HI, OFF(split), NULL, 0, 0}}},
	{"order", NULL, 0, 0, 1, {{"order", F_SYM, 0, 0, 0, OFF(order), orders, N(orders), 0}}},
	{"l2", NULL, 0, 0, 1, {{"l2", F_FLOAT, 0, 1, 0, OFF(l2), NULL, 0, 0}}},
	{"drop_path", NULL, 0, 0, 2,
	 {{"prob", F_FLOAT, 0, 1, OPEN_HI, OFF(drop_path.prob), NULL, 0, 0},
	  {"ramp", F_SYM, 0, 0, 0, OFF(drop_path.ramp), ramps, N(ramps), 0}}},
	{"cutout", NULL, 0, 0, 3,
	 {{"prob", F_FLOAT, 0, 1, 0, OFF(cutout.prob), NULL, 0, 0},
	  {"length", F_INT, 0, 1 << 20, 0, OFF(cutout.length), NULL, 0, 0},
	  {"ramp", F_SYM, 0, 0, 0, OFF(cutout.ramp), ramps, N(ramps), 0}}},
	{"crop", NULL, 0, 0, 1, {{"crop", F_INT, 0, 1 << 10, 0, OFF(crop), NULL, 0, 0}}},
	{"flip", NULL, 0, 0, 1, {{"flip", F_BOOL, 0, 0, 0, OFF(flip), NULL, 0, 0}}},
	{"weights", sgd_v, 1, 0, 6,
	 {{"lr", F_FLOAT, 0, INFINITY, OPEN_LO, OFF(weights.lr), NULL, 0, 1},
	  {"lr_min", F_FLOAT, 0, INFINITY, 0, OFF(weights.lr_min), NULL, 0, 1},
	  {"momentum", F_FLOAT, 0, 1, OPEN_HI, OFF(weights.momentum), NULL, 0, 1},
	  {"nesterov", F_BOOL, 0, 0, 0, OFF(weights.nesterov), NULL, 0, 1},
	  {"clip", F_FLOAT, 0, INFINITY, 0, OFF(weights.clip), NULL, 0, 1},
	  {"schedule", F_SYM, 0, 0, 0, OFF(weights.schedule), lr_schedules, N(lr_schedules), 1}}},
	{"arch", adam_v, 1, 0, 5,
	 {{"lr", F_FLOAT, 0, INFINITY, OPEN_LO, OFF(arch.lr), NULL, 0, 1},
	  {"beta1", F_FLOAT, 0, 1, OPEN_HI, OFF(arch.beta1), NULL, 0, 1},
	  {"beta2", F_FLOAT, 0, 1, OPEN_HI, OFF(arch.beta2), NULL, 0, 1},
	  {"eps", F_FLOAT, 0, 1, OPEN_LO, OFF(arch.eps), NULL, 0, 1},
	  {"weight_decay", F_FLOAT, 0, 1, 0, OFF(arch.weight_decay), NULL, 0, 1}}},
	{"hessian", hess_v, N(hess_v), OFF(hessian.mode), 2,
	 {{"every", F_INT, 1, 1e6, 0, OFF(hessian.every), NULL, 0, 2 | 4},
	  {"iters", F_INT, 1, 10000, 0, OFF(hessian.iters), NULL, 0, 4}}},
	{"controller", ctrl_v, N(ctrl_v), OFF(controller.kind), 7,
	 {{"factor", F_FLOAT, 0, INFINITY, OPEN_LO, OFF(controller.factor), NULL, 0, 2 | 4},
	  {"window", F_INT, 1, 1000, 0, OFF(controller.window), NULL, 0, 2 | 4},
	  {"k", F_INT, 1, 1000, 0, OFF(controller.k), NULL, 0, 2 | 4},
	  {"start", F_INT, 0, 1e6, 0, OFF(controller.start), NULL, 0, 2 | 4},
	  {"eta", F_FLOAT, 1, INFINITY, OPEN_LO, OFF(controller.eta), NULL, 0, 4},
	  {"max", F_FLOAT, 0, 1, OPEN_LO, OFF(controller.max), NULL, 0, 4},
	  {"knob", F_SYM, 0, 0, 0, OFF(controller.knob), knobs, N(knobs), 4}}},
};
enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static void defaults(Schedule *sc)
{
	memset(sc, 0, sizeof *sc);
	sc->epochs = 50;
	sc->batch = 64;
	sc->seed = 2;
	sc->split = 0.5;
	sc->order = ORDER_FIRST;
	sc->weights.lr = 0.025;
	sc->weights.lr_min = 0.001;
	sc->weights.momentum = 0.9;
	sc->weights.clip = 5;
	sc->weights.schedule = LR_COSINE;
	sc->arch.lr = 3e-4;
	sc->arch.beta1 = 0.5;
	sc->arch.beta2 = 0.999;
	sc->arch.eps = 1e-8;
	sc->arch.weight_decay = 1e-3;
	sc->l2 = 3e-4;
	sc->cutout.length = 16;
	sc->hessian.mode = HESS_NONE;
	sc->hessian.every = 2;
	sc->hessian.iters = 20;
	sc->controller.kind = CTRL_NONE;
	sc->controller.factor = 1.3;
	sc->controller.window = 5;
	sc->controller.k = 4;
	sc->controller.start = 10;
	sc->controller.eta = 10;
	sc->controller.max = 3e-2;
	sc->controller.knob = KNOB_L2;
}

static bool set_field(Sema *s, const Field *f, const Expr *e, const char *head)
{
	char what[96];
	if (strcmp(f->name, head) == 0)
		snprintf(what, sizeof what, "`%s`", head);
	else
		snprintf(what, sizeof what, "`%s` of `%s`", f->name, head);
	char *dst = (char *)&s->m->sched + f->off;
	switch (f->type) {
	case F_INT: {
		int64_t v;
		if (!eval_int(s, e, &s->globals, what, (int64_t)f->min, (int64_t)f->max, &v))
			return false;
		memcpy(dst, &v, sizeof v);
		return true;
	}
	case F_FLOAT: {
		double v;
		if (!eval_float_in(s, e, &s->globals, what, f->min, f->max, f->open, &v))
			return false;
		memcpy(dst, &v, sizeof v);
		return true;
	}
	case F_BOOL: {
		bool v;
		if (!eval_bool(s, e, &s->globals, what, &v))
			return false;
		memcpy(dst, &v, sizeof v);
		return true;
	}
	case F_SYM: {
		int v = eval_symbol(s, e, &s->globals, f->name, what, f->syms, f->nsyms);
		if (v < 0)
			return false;
		memcpy(dst, &v, sizeof v);
		return true;
	}
	}
	return false;
}

/* Bind args to the fields valid in `variant` (-1: a plain setting, whose
 * first field may be given by position). */
static bool apply(Sema *s, const Setting *st, int variant, const char *callee, Loc loc,
		  const ArgList *args)
{
	ArgSpec spec[MAX_FIELDS];
	const Field *which[MAX_FIELDS];
	int n = 0;
	for (int i = 0; i < st->nfields; i++) {
		const Field *f = &st->fields[i];
		if (variant >= 0 && !(f->variants & (1u << variant)))
			continue;
		spec[n].name = f->name;
		spec[n].required = variant < 0 && n == 0;
		which[n++] = f;
	}
	const Expr *out[MAX_FIELDS];
	if (!bind_args(s, callee, loc, args, spec, n, out))
		return false;
	bool ok = true;
	for (int i = 0; i < n; i++)
		if (out[i] && !set_field(s, which[i], out[i], st->head))
			ok = false;
	return ok;
}

static bool apply_variant(Sema *s, const Setting *st, const Stmt *stmt)
{
	if (stmt->args.n != 1 || stmt->args.v[0].name) {
		diag_error(s->d, stmt->loc, "`%s` takes one of: %s%s%s", st->head, st->variants[0],
			   st->nvariants > 1 ? ", " : "", st->nvariants > 1 ? st->variants[1] : "");
		return false;
	}
	const Expr *e = stmt->args.v[0].value;
	const char *name = e->kind == E_NAME ? e->u.s : e->kind == E_CALL ? e->u.call.name : NULL;
	Loc loc = e->kind == E_CALL ? e->u.call.name_loc : e->loc;
	if (!name) {
		diag_error(s->d, e->loc, "`%s` takes a name like `%s(...)`", st->head, st->variants[0]);
		return false;
	}
	int v = 0;
	while (v < st->nvariants && strcmp(st->variants[v], name) != 0)
		v++;
	if (v == st->nvariants) {
		char what[64];
		snprintf(what, sizeof what, "`%s` kind", st->head);
		report_unknown(s, loc, what, name, st->variants, st->nvariants);
		return false;
	}
	if (st->nvariants > 1) {
		int iv = v;
		memcpy((char *)&s->m->sched + st->variant_off, &iv, sizeof iv);
	}
	static const ArgList none;
	return apply(s, st, v, name, loc, e->kind == E_CALL ? &e->u.call.args : &none);
}

static Loc where(const Stmt *const *seen, const char *head, Loc fallback)
{
	for (int k = 0; k < NSETTINGS; k++)
		if (strcmp(settings[k].head, head) == 0 && seen[k])
			return seen[k]->loc;
	return fallback;
}

bool schedule_run(Sema *s)
{
	defaults(&s->m->sched);
	if (!s->search)
		return true;
	bool ok = true;
	const Stmt *seen[NSETTINGS] = {0};
	const char *heads[NSETTINGS];
	for (int j = 0; j < NSETTINGS; j++)
		heads[j] = settings[j].head;
	for (int i = 0; i < s->search->body.n; i++) {
		const Stmt *stmt = s->search->body.v[i];
		int k = stmt_head(s, stmt, "search setting", "the search block", heads, NSETTINGS,
				  seen, 0, 0);
		if (k < 0) {
			ok = false;
			continue;
		}
		const Setting *st = &settings[k];
		if (!(st->variants ? apply_variant(s, st, stmt)
				   : apply(s, st, -1, st->head, stmt->loc, &stmt->args)))
			ok = false;
	}
	Schedule *sc = &s->m->sched;
	if (ok && sc->weights.lr_min > sc->weights.lr) {
		diag_error(s->d, where(seen, "weights", s->search->loc),
			   "`lr_min` (%g) of the weights is above their `lr` (%g)", sc->weights.lr_min,
			   sc->weights.lr);
		ok = false;
	}
	if (ok && sc->controller.kind != CTRL_NONE && sc->hessian.mode == HESS_NONE) {
		diag_error(s->d, where(seen, "controller", s->search->loc),
			   "the `%s` controller watches the Hessian: give `hessian exact(...)` "
			   "or `hessian lanczos(...)`", ctrl_v[sc->controller.kind]);
		ok = false;
	}
	return ok;
}
