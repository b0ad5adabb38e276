/* emit_meta.c - what a search binary knows of its spec besides the
 * network: the search schedule (the defaults of `BIN search`) and the
 * structure of every cell type with an architecture tensor (what genotype
 * derivation reads), written as C initializers of nasrt.h's NasSchedule
 * and NasCellType.  The data is the same whichever backend compiles the
 * kernels. */
#include "emit_meta.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A string as a C literal. */
void emit_c_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 32 || (unsigned char)*s >= 127)
			fprintf(out, "\\%03o", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

/* %.17g round-trips a double; inf and nan never occur in a schedule. */
static void num(FILE *out, const char *name, double v)
{
	fprintf(out, "%s = %.17g", name, v);
}

static void strings(FILE *out, const char *name, const char *const *v, int n)
{
	fprintf(out, "static const char *const %s[] = {", name);
	for (int i = 0; i < n; i++) {
		fputs(i ? ", " : "", out);
		emit_c_string(out, v[i]);
	}
	fputs(n ? "};\n" : "NULL};\n", out);
}

/* The tensor index of alpha.<name>, or -1. */
static int alpha_tensor(const Lowered *L, const char *name)
{
	for (int i = 0; i < L->ntensors; i++)
		if (L->tensors[i].op == IR_ALPHA && strncmp(L->tensors[i].name, "alpha.", 6) == 0 &&
		    strcmp(L->tensors[i].name + 6, name) == 0)
			return i;
	return -1;
}

int meta_cells_of(const Model *m, int type)
{
	int n = 0;
	for (int i = 0; i < m->ncells; i++)
		n += m->cells[i].type == type;
	return n;
}

static void cell_type(FILE *out, const Model *m, int t)
{
	const ModelCellType *ct = &m->types[t];
	char name[64];
	for (int e = 0; e < ct->nedges; e++) {
		snprintf(name, sizeof name, "ops_%d_%d", t, e);
		strings(out, name, ct->edges[e].ops, ct->edges[e].nops);
	}
	fprintf(out, "static const NasEdge edges_%d[] = {\n", t);
	for (int e = 0; e < ct->nedges; e++) {
		const ModelEdge *ed = &ct->edges[e];
		fprintf(out, "\t{%d, %d, %d, %d, ops_%d_%d},\n", ed->from, ed->to, ed->stride, ed->nops,
			t, e);
	}
	fputs("};\n", out);
	snprintf(name, sizeof name, "exclude_%d", t);
	strings(out, name, ct->exclude, ct->nexclude);
	fprintf(out, "static const int outputs_%d[] = {", t);
	for (int i = 0; i < ct->noutputs; i++)
		fprintf(out, "%s%d", i ? ", " : "", ct->outputs[i]);
	fputs(ct->noutputs ? "};\n\n" : "0};\n\n", out);
}

int meta_cell_types(const Model *m, const Lowered *L, int *types)
{
	int n = 0;
	for (int i = 0; i < L->ntensors; i++)
		for (int t = 0; t < m->ntypes; t++)
			if (m->types[t].alpha >= 0 && alpha_tensor(L, m->types[t].name) == i)
				types[n++] = t;
	return n;
}

int meta_alpha_tensor(const Model *m, const Lowered *L, int type)
{
	return alpha_tensor(L, m->types[type].name);
}

int emit_meta(FILE *out, const Model *m, const Lowered *L)
{
	int *types = malloc((size_t)(m->ntypes > 0 ? m->ntypes : 1) * sizeof *types);
	if (!types) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	int n = meta_cell_types(m, L, types);
	for (int i = 0; i < n; i++)
		cell_type(out, m, types[i]);
	if (n > 0) {
		fputs("static const NasCellType cell_types[] = {\n", out);
		for (int i = 0; i < n; i++) {
			int t = types[i];
			const ModelCellType *ct = &m->types[t];
			fputs("\t{", out);
			emit_c_string(out, ct->name);
			fprintf(out, ", %d, %d, %d, edges_%d, %d, %d, %d, exclude_%d, %d, outputs_%d, %d},\n",
				meta_alpha_tensor(m, L, t), ct->nodes, ct->nedges, t, ct->nops, ct->keep,
				ct->nexclude, t, ct->noutputs, t, meta_cells_of(m, t));
		}
		fputs("};\n\n", out);
	}
	free(types);
	return n;
}

void emit_schedule(FILE *out, const Schedule *s)
{
	fprintf(out, "\t.schedule = {\n\t\t.epochs = %" PRId64 ", .batch = %" PRId64 ", .seed = %" PRId64
		",\n\t\t", s->epochs, s->batch, s->seed);
	num(out, ".split", s->split);
	fprintf(out, ", .second_order = %d,\n\t\t.weights = {", s->order == ORDER_SECOND);
	num(out, ".lr", s->weights.lr);
	num(out, ", .lr_min", s->weights.lr_min);
	num(out, ", .momentum", s->weights.momentum);
	num(out, ", .clip", s->weights.clip);
	fprintf(out, ", .nesterov = %d, .cosine = %d},\n\t\t.arch = {", s->weights.nesterov,
		s->weights.schedule == LR_COSINE);
	num(out, ".lr", s->arch.lr);
	num(out, ", .beta1", s->arch.beta1);
	num(out, ", .beta2", s->arch.beta2);
	num(out, ", .eps", s->arch.eps);
	num(out, ", .weight_decay", s->arch.weight_decay);
	fputs("},\n\t\t", out);
	num(out, ".l2", s->l2);
	fputs(",\n\t\t.drop_path = {", out);
	num(out, ".prob", s->drop_path.prob);
	fprintf(out, ", .ramp = %d},\n\t\t.cutout = {", (int)s->drop_path.ramp);
	num(out, ".prob", s->cutout.prob);
	fprintf(out, ", .length = %" PRId64 ", .ramp = %d},\n", s->cutout.length, (int)s->cutout.ramp);
	fprintf(out, "\t\t.crop = %" PRId64 ", .flip = %d,\n", s->crop, s->flip);
	fprintf(out, "\t\t.hessian = {.mode = %d, .every = %" PRId64 ", .iters = %" PRId64 "},\n",
		(int)s->hessian.mode, s->hessian.every, s->hessian.iters);
	fprintf(out, "\t\t.controller = {.kind = %d, ", (int)s->controller.kind);
	num(out, ".factor", s->controller.factor);
	fprintf(out, ", .window = %" PRId64 ", .k = %" PRId64 ", .start = %" PRId64 ", ",
		s->controller.window, s->controller.k, s->controller.start);
	num(out, ".eta", s->controller.eta);
	num(out, ", .max", s->controller.max);
	fprintf(out, ", .knob = %d},\n\t},\n", (int)s->controller.knob);
}
