/* sema.h - what the semantic-analysis files share.  Each file is one step:
 *   eval.c      the expression language: values, names, arithmetic
 *   bind.c      matching call arguments to parameters
 *   params.c    parameters and -D overrides
 *   expand.c    operation bodies to graph IR, per edge
 *   cells.c     cell blocks to cell types
 *   network.c   the network block: the whole supernet, loss included
 *   schedule.c  the search block
 *   sema.c      the order of the steps, and the checks across them */
#ifndef NASC_SEMA_H
#define NASC_SEMA_H

#include "model.h"
#include "strmap.h"

/* Limits that keep absurd specs from exhausting the machine.  A real search
 * space is orders of magnitude below each. */
enum {
	SEMA_MAX_IR_NODES = 1 << 20,
	SEMA_MAX_WORK = 1 << 23,        /* expansion steps and evaluated expressions */
	SEMA_MAX_EXPAND_DEPTH = 64,
	SEMA_MAX_CELLS = 1000,
	SEMA_MAX_NODES = 64,
	SEMA_MAX_DIM = 1 << 20,     /* one channel count, height or width */
};
#define SEMA_MAX_NUMEL ((int64_t)1 << 40)

/* Names in scope: a chain of frames, innermost first. */
typedef struct Env {
	int n;
	const char **names;
	Value *vals;
	const struct Env *parent;
	const StrMap *index;    /* optional: name -> position in names */
} Env;

typedef struct OpDef {
	const Item *item;
	int expanding;          /* on the expansion stack: recursion */
	bool bad;               /* its body had errors: do not expand it */
} OpDef;

typedef struct Sema {
	Arena *a;
	Diag *d;
	const Spec *spec;
	Model *m;
	Env globals;
	OpDef *ops;
	int nops;
	StrMap op_index;        /* name -> first op with it */
	const Item **cell_items;
	int ncell_items;
	StrMap cell_index;      /* name -> first cell item with it */
	StrMap type_index;      /* name -> model cell type */
	StrMap param_index;     /* name -> parameter */
	const Item **param_items;
	const Item *network, *search;
	bool budget_reported;
	int64_t work;           /* steps of expand and eval, against SEMA_MAX_WORK */
} Sema;

/* ---- eval.c ---- */
const Value *env_lookup(const Env *env, const char *name);
/* Evaluate a value expression.  With symbols_ok, an unbound bare name is a
 * V_SYMBOL for the caller to interpret; otherwise it is an error. */
Value eval(Sema *s, const Expr *e, const Env *env, bool symbols_ok);
bool eval_int(Sema *s, const Expr *e, const Env *env, const char *what,
	      int64_t min, int64_t max, int64_t *out);
bool eval_float(Sema *s, const Expr *e, const Env *env, const char *what,
		double min, double max, double *out);
/* Bounds of a number: lo or hi may be excluded, hi may be INFINITY. */
enum { OPEN_LO = 1, OPEN_HI = 2 };
bool eval_float_in(Sema *s, const Expr *e, const Env *env, const char *what,
		   double lo, double hi, unsigned open, double *out);
bool eval_bool(Sema *s, const Expr *e, const Env *env, const char *what, bool *out);
/* One of `choices`, by bare name; -1 (reported) otherwise.  `noun` names
 * the kind of name ("unknown order `frist`"), `what` the setting ("`order`
 * must be `first` or `second`"). */
int eval_symbol(Sema *s, const Expr *e, const Env *env, const char *noun, const char *what,
		const char *const *choices, int n);
const char *value_kind_str(ValueKind k);
/* Every name visible from env, for "did you mean". */
int env_names(const Env *env, const char **out, int max);

/* ---- bind.c ---- */
typedef struct ArgSpec {
	const char *name;
	bool required;
} ArgSpec;
/* Match args to the parameters in spec: positional in order, then by name.
 * out[i] is the expression for spec[i], or NULL when not given.  Reports
 * unknown names (with a suggestion), duplicates, too many arguments and
 * missing required ones. */
bool bind_args(Sema *s, const char *callee, Loc loc, const ArgList *args,
	       const ArgSpec *spec, int n, const Expr **out);
/* The index of a block statement's head in heads[], or -1 after reporting
 * what is wrong with it: an unknown head (with a suggestion), no value, a
 * second statement with a head not in `repeatable` (a bit per head), or a
 * `:` list on a head not in `with_tail`.  seen[] (n entries, zeroed by the
 * caller) remembers the first statement of each head.  `kind` names the
 * settings ("cell setting"), `where` the block ("cell `normal`"). */
int stmt_head(Sema *s, const Stmt *st, const char *kind, const char *where,
	      const char *const *heads, int n, const Stmt **seen, unsigned repeatable,
	      unsigned with_tail);
/* Report a bad name, with the closest of `cands` as a suggestion. */
void report_unknown(Sema *s, Loc loc, const char *what, const char *name,
		    const char *const *cands, int n);

/* ---- params.c ---- */
bool params_run(Sema *s, Override *ov, int nov);

/* ---- expand.c ---- */
/* Where an expansion is and what it binds: the scope names the weights
 * (scope.<k>.weight, k counting primitives in application order). */
typedef struct ExpandSite {
	const char *scope;
	int counter;
	int64_t C;
	int64_t stride;
	const char *context;    /* for notes: "edge 0 -> 2 of cell 3 (normal)" */
} ExpandSite;
/* Check every op definition's names once (an op in an untaken branch still
 * has to exist).  Marks broken ops bad. */
void expand_check_ops(Sema *s);
/* Apply an operation expression to IR value x.  Returns the output value,
 * or -1 after reporting. */
int expand(Sema *s, const Expr *e, int x, ExpandSite *site);
const OpDef *find_op(const Sema *s, const char *name);
bool is_primitive(const char *name);
/* Names of all primitives and user ops, for suggestions. */
int op_names(const Sema *s, const char **out, int max);
/* Spend one IR node of the budget; false (reported once) when exhausted. */
bool ir_budget(Sema *s, Loc loc);
/* Spend one step of work (an op applied, an expression evaluated): the
 * node budget alone does not bound ops that expand to identity, or that
 * evaluate large lists, many times over.  False (reported once) when the
 * budget is exhausted. */
bool sema_work(Sema *s, Loc loc);

/* ---- cells.c ---- */
bool cells_run(Sema *s);

/* ---- network.c ---- */
bool network_run(Sema *s);

/* ---- schedule.c ---- */
bool schedule_run(Sema *s);

#endif
