/* bind.c - matching the arguments of a call (or a statement) to the
 * parameters it declares, the way Python does: positional first, then by
 * name, each at most once. */
#include "sema.h"

#include <string.h>

void report_unknown(Sema *s, Loc loc, const char *what, const char *name,
		    const char *const *cands, int n)
{
	const char *best = suggest(name, cands, n);
	if (best)
		diag_error(s->d, loc, "unknown %s `%s`; did you mean `%s`?", what, name, best);
	else
		diag_error(s->d, loc, "unknown %s `%s`", what, name);
}

int stmt_head(Sema *s, const Stmt *st, const char *kind, const char *where,
	      const char *const *heads, int n, const Stmt **seen, unsigned repeatable,
	      unsigned with_tail)
{
	int h = 0;
	while (h < n && strcmp(heads[h], st->head) != 0)
		h++;
	if (h == n) {
		report_unknown(s, st->loc, kind, st->head, heads, n);
		return -1;
	}
	if (st->args.n == 0) {
		diag_error(s->d, st->loc, "`%s` needs a value", st->head);
		return -1;
	}
	if (seen[h] && !(repeatable & (1u << h))) {
		diag_error(s->d, st->loc, "`%s` is given twice in %s", st->head, where);
		diag_note(s->d, seen[h]->loc, "first given here");
		return -1;
	}
	if (!seen[h])
		seen[h] = st;
	if (st->tail_loc.src && !(with_tail & (1u << h))) {
		diag_error(s->d, st->tail_loc, "`%s` takes no `:` list", st->head);
		return -1;
	}
	return h;
}

static const char *plural(int n, const char *word)
{
	return n == 1 ? word : "arguments";
}

bool bind_args(Sema *s, const char *callee, Loc loc, const ArgList *args,
	       const ArgSpec *spec, int n, const Expr **out)
{
	bool ok = true;
	for (int i = 0; i < n; i++)
		out[i] = NULL;
	int pos = 0;
	bool named_seen = false;
	for (int i = 0; i < args->n; i++) {
		const Arg *a = &args->v[i];
		if (!a->name) {
			if (named_seen) {
				diag_error(s->d, a->value->loc,
					   "positional argument after a named one in `%s`", callee);
				ok = false;
				continue;
			}
			if (pos >= n) {
				int nreq = 0;
				for (int j = 0; j < n; j++)
					nreq += spec[j].required;
				if (nreq == n)
					diag_error(s->d, a->value->loc, "`%s` takes %d %s, got %d",
						   callee, n, plural(n, "argument"), args->n);
				else
					diag_error(s->d, a->value->loc,
						   "`%s` takes at most %d %s, got %d", callee, n,
						   plural(n, "argument"), args->n);
				return false;
			}
			out[pos++] = a->value;
			continue;
		}
		named_seen = true;
		int j = 0;
		while (j < n && strcmp(spec[j].name, a->name) != 0)
			j++;
		if (j == n) {
			const char *cands[64];
			int nc = 0;
			for (int k = 0; k < n && nc < 64; k++)
				cands[nc++] = spec[k].name;
			const char *best = suggest(a->name, cands, nc);
			if (best)
				diag_error(s->d, a->name_loc,
					   "`%s` has no argument `%s`; did you mean `%s`?", callee,
					   a->name, best);
			else
				diag_error(s->d, a->name_loc, "`%s` has no argument `%s`", callee,
					   a->name);
			ok = false;
			continue;
		}
		if (out[j]) {
			diag_error(s->d, a->name_loc, "`%s` of `%s` is given twice", a->name, callee);
			ok = false;
			continue;
		}
		out[j] = a->value;
	}
	for (int i = 0; i < n && ok; i++)
		if (spec[i].required && !out[i]) {
			diag_error(s->d, loc, "`%s` needs its argument `%s`", callee, spec[i].name);
			ok = false;
		}
	return ok;
}
