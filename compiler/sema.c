/* sema.c - semantic analysis: the order of the steps that turn a syntax
 * tree into a Model, and the checks that span them.
 *
 *   items -> params (+ -D) -> op bodies checked -> cell types -> schedule
 *         -> network (the supernet IR) -> ir_verify */
#include "sema.h"

#include <stdlib.h>
#include <string.h>

static const char *base_name(Arena *a, const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 4 && strcmp(b + n - 4, ".nas") == 0)
		n -= 4;
	return arena_strndup(a, b, n);
}

/* Sort the items by kind; a block given twice is an error. */
static bool sort_items(Sema *s)
{
	const Spec *spec = s->spec;
	bool ok = true;
	int nops = 0, ncells = 0;
	for (int i = 0; i < spec->nitems; i++) {
		nops += spec->items[i]->kind == I_OP;
		ncells += spec->items[i]->kind == I_CELL;
	}
	s->ops = arena_array(s->a, (size_t)nops + 1, sizeof *s->ops);
	s->cell_items = arena_array(s->a, (size_t)ncells + 1, sizeof *s->cell_items);
	for (int i = 0; i < spec->nitems; i++) {
		const Item *it = spec->items[i];
		switch (it->kind) {
		case I_OP:
			if (strmap_get(&s->op_index, it->name) < 0)
				strmap_put(&s->op_index, it->name, s->nops);
			s->ops[s->nops++].item = it;
			break;
		case I_CELL:
			if (strmap_get(&s->cell_index, it->name) < 0)
				strmap_put(&s->cell_index, it->name, s->ncell_items);
			s->cell_items[s->ncell_items++] = it;
			break;
		case I_NETWORK:
		case I_SEARCH: {
			const Item **slot = it->kind == I_NETWORK ? &s->network : &s->search;
			if (*slot) {
				diag_error(s->d, it->loc, "a second `%s` block", ast_item_kind_str(it->kind));
				diag_note(s->d, (*slot)->loc, "the first is here");
				ok = false;
			} else {
				*slot = it;
			}
			break;
		}
		case I_PARAM:
			break;
		}
	}
	return ok;
}

Model *sema_run(Arena *a, Diag *d, const Spec *spec, Override *ov, int nov)
{
	Sema s = {.a = a, .d = d, .spec = spec};
	strmap_init(&s.op_index, a);
	strmap_init(&s.cell_index, a);
	strmap_init(&s.type_index, a);
	strmap_init(&s.param_index, a);
	Model *m = arena_alloc(a, sizeof *m);
	m->arena = a;
	m->src = spec->src;
	m->name = base_name(a, spec->src->name);
	ir_init(&m->g, a);
	s.m = m;

	int before = d->errors;
	bool ok = sort_items(&s);
	ok = params_run(&s, ov, nov) && ok;
	expand_check_ops(&s);
	ok = cells_run(&s) && ok;
	ok = schedule_run(&s) && ok;
	/* The network is built only from sound parts: building on a broken
	 * cell or parameter would report the same mistake again, worse. */
	if (ok && d->errors == before)
		ok = network_run(&s);
	if (!ok || d->errors > before)
		return NULL;
	if (ir_verify(&m->g, stderr) != 0) {
#ifdef NASC_FUZZING
		abort(); /* a compiler bug: make the fuzzer keep the input */
#endif
		diag_error(d, (Loc){0}, "internal error: the supernet IR fails verification");
		return NULL;
	}
	return m;
}
