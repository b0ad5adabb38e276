/* params.c - spec parameters and their -D overrides.
 *
 * Parameters are evaluated in the order they are declared, each seeing the
 * ones before it, so `param C2 = 2 * C` follows `-D C=8`.  An override must
 * keep the kind of the declared default: a shape stays a shape. */
#include "sema.h"

#include "parse.h"

#include <string.h>

static bool same_kind(const Value *def, const Value *got)
{
	if (def->k == V_FLOAT && got->k == V_INT)
		return true;
	return def->k == got->k;
}

static const char *kind_example(ValueKind k)
{
	switch (k) {
	case V_INT: return "an integer";
	case V_FLOAT: return "a number";
	case V_BOOL: return "true or false";
	case V_SHAPE: return "a shape like 1x28x28";
	case V_STRING: return "a string";
	case V_SYMBOL: return "a name";
	case V_LIST: return "a list";
	default: return "a value";
	}
}

bool params_run(Sema *s, Override *ov, int nov)
{
	const Spec *spec = s->spec;
	int n = 0;
	for (int i = 0; i < spec->nitems; i++)
		n += spec->items[i]->kind == I_PARAM;
	const Item **items = arena_array(s->a, (size_t)n + 1, sizeof *items);
	s->param_items = items;
	const Expr **exprs = arena_array(s->a, (size_t)n + 1, sizeof *exprs);
	const char **names = arena_array(s->a, (size_t)n + 1, sizeof *names);
	int k = 0;
	bool ok = true;
	strmap_init(&s->param_index, s->a);
	for (int i = 0; i < spec->nitems; i++) {
		const Item *it = spec->items[i];
		if (it->kind != I_PARAM)
			continue;
		if (strcmp(it->name, "true") == 0 || strcmp(it->name, "false") == 0) {
			diag_error(s->d, it->name_loc, "`%s` is a reserved name", it->name);
			ok = false;
			continue;
		}
		int dup = strmap_get(&s->param_index, it->name);
		if (dup >= 0) {
			diag_error(s->d, it->name_loc, "parameter `%s` is declared twice", it->name);
			diag_note(s->d, items[dup]->name_loc, "first declared here");
			ok = false;
			continue;
		}
		items[k] = it;
		exprs[k] = it->value;
		names[k] = it->name;
		strmap_put(&s->param_index, it->name, k);
		k++;
	}
	n = k;

	/* Parse each -D value in its own source, so errors point into it. */
	bool *overridden = arena_array(s->a, (size_t)n + 1, sizeof(bool));
	for (int i = 0; i < nov; i++) {
		int j = strmap_get(&s->param_index, ov[i].name);
		if (j < 0) {
			const char *best = suggest(ov[i].name, names, n);
			if (best)
				diag_error(s->d, (Loc){0},
					   "-D %s: the spec has no parameter `%s`; did you mean `%s`?",
					   ov[i].name, ov[i].name, best);
			else
				diag_error(s->d, (Loc){0}, "-D %s: the spec has no parameter `%s`",
					   ov[i].name, ov[i].name);
			ok = false;
			continue;
		}
		if (overridden[j]) {
			diag_error(s->d, (Loc){0}, "-D %s is given twice", ov[i].name);
			ok = false;
			continue;
		}
		const char *text = ov[i].value;
		Source *src = source_new(s->a, arena_printf(s->a, "<-D %s>", ov[i].name),
					 text, strlen(text));
		Expr *e = parse_value(s->a, s->d, src);
		if (!e) {
			ok = false;
			continue;
		}
		exprs[j] = e;
		overridden[j] = true;
		ov[i].used = true;
	}

	Model *m = s->m;
	m->params = arena_array(s->a, (size_t)n + 1, sizeof *m->params);
	s->globals.names = names;
	s->globals.vals = arena_array(s->a, (size_t)n + 1, sizeof(Value));
	s->globals.n = 0;
	s->globals.index = &s->param_index;
	for (int i = 0; i < n; i++) {
		Value v = eval(s, exprs[i], &s->globals, true);
		if (overridden[i] && v.k != V_ERROR) {
			Value def = eval(s, items[i]->value, &s->globals, true);
			if (def.k != V_ERROR && !same_kind(&def, &v)) {
				diag_error(s->d, exprs[i]->loc,
					   "parameter `%s` is %s (default %s), not %s", names[i],
					   kind_example(def.k), value_str(s->a, &def),
					   value_kind_str(v.k));
				v.k = V_ERROR;
			} else if (def.k == V_FLOAT && v.k == V_INT) {
				v.k = V_FLOAT;
				v.u.f = (double)v.u.i;
			}
		}
		if (v.k == V_ERROR)
			ok = false;
		s->globals.vals[i] = v;
		s->globals.n = i + 1;
		m->params[i].name = names[i];
		m->params[i].value = v;
		m->params[i].overridden = overridden[i];
	}
	m->nparams = n;
	return ok;
}
