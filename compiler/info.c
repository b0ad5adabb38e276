/* info.c - `nasc info`: a summary of the supernet a spec describes (cells,
 * edges, candidates, shapes, parameter counts, FLOPs, the alpha layout and
 * the search schedule), as text or as JSON. */
#include "info.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const order_names[] = {"first", "second"};
static const char *const ramp_names[] = {"none", "linear"};
static const char *const lr_names[] = {"cosine", "constant"};
static const char *const hess_names[] = {"none", "exact", "lanczos"};
static const char *const ctrl_names[] = {"none", "es", "ada"};
static const char *const knob_names[] = {"l2", "augment"};

/* Weight parameters whose tensor name starts with prefix. */
static int64_t weights_under(const Model *m, const char *prefix)
{
	int64_t n = 0;
	size_t len = strlen(prefix);
	for (int i = 0; i < m->g.n; i++) {
		const IrNode *x = &m->g.node[i];
		if (x->op == IR_WEIGHT && strncmp(x->name, prefix, len) == 0)
			n += ir_numel(x->shape);
	}
	return n;
}

static int by_offset(const void *a, const void *b)
{
	const ModelCellType *x = *(const ModelCellType *const *)a;
	const ModelCellType *y = *(const ModelCellType *const *)b;
	return (x->alpha_offset > y->alpha_offset) - (x->alpha_offset < y->alpha_offset);
}

/* The cell types that have an alpha tensor, in the order of the flattened
 * alpha vector (the order the network first uses them). */
static int alpha_order(const Model *m, const ModelCellType ***out)
{
	const ModelCellType **v = arena_array(m->arena, (size_t)m->ntypes + 1, sizeof *v);
	int n = 0;
	for (int t = 0; t < m->ntypes; t++)
		if (m->types[t].used)
			v[n++] = &m->types[t];
	qsort(v, (size_t)n, sizeof *v, by_offset);
	*out = v;
	return n;
}

static const char *grouped(char *buf, size_t len, int64_t v)
{
	char raw[32];
	snprintf(raw, sizeof raw, "%" PRId64, v);
	size_t n = strlen(raw), o = 0;
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && raw[0] != '-' && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = raw[i];
	}
	buf[o] = '\0';
	return buf;
}

static const char *shape_chw(const Model *m, IrShape s)
{
	return ir_shape_str(m->arena, s, true);
}

static bool same_ops(const ModelEdge *a, const ModelEdge *b)
{
	if (a->nops != b->nops)
		return false;
	for (int i = 0; i < a->nops; i++)
		if (strcmp(a->ops[i], b->ops[i]) != 0)
			return false;
	return true;
}

static void print_ops(FILE *out, const ModelEdge *e)
{
	for (int k = 0; k < e->nops; k++)
		fprintf(out, "%s%s", k ? " " : "", e->ops[k]);
}

void info_text(FILE *out, const Model *m)
{
	char b1[32], b2[32], b3[32], b4[32];
	fprintf(out, "%s (%s)\n", m->name, m->src->name);
	fprintf(out, "  input %s, %" PRId64 " classes, batch %" PRId64 ", C=%" PRId64 ", %d cells\n",
		shape_chw(m, m->input), m->classes, m->input.d[0], m->channels, m->ncells);

	fprintf(out, "\nparameters\n");
	for (int i = 0; i < m->nparams; i++)
		fprintf(out, "  %-10s %s%s\n", m->params[i].name,
			value_str(m->arena, &m->params[i].value),
			m->params[i].overridden ? "   (-D)" : "");

	fprintf(out, "\ncells\n");
	fprintf(out, "  %3s  %-10s %6s  %-12s %-12s %-12s %12s %10s\n", "#", "type", "C",
		"input 0", "input 1", "output", "weights", "MFLOPs");
	for (int i = 0; i < m->ncells; i++) {
		const ModelCell *c = &m->cells[i];
		fprintf(out, "  %3d  %-10s %6" PRId64 "  %-12s %-12s %-12s %12s %10.2f\n", i,
			m->types[c->type].name, c->C, shape_chw(m, c->in0), shape_chw(m, c->in1),
			shape_chw(m, c->out), grouped(b1, sizeof b1, c->params), c->flops / 1e6);
	}

	fprintf(out, "\ncell types\n");
	for (int t = 0; t < m->ntypes; t++) {
		const ModelCellType *ct = &m->types[t];
		fprintf(out, "  %s: %d nodes, %d edges x %d candidates, stride %d, keep %d per node",
			ct->name, ct->nodes, ct->nedges, ct->nops, ct->stride, ct->keep);
		if (ct->nexclude) {
			fprintf(out, ", ranked without");
			for (int i = 0; i < ct->nexclude; i++)
				fprintf(out, " %s", ct->exclude[i]);
		}
		fprintf(out, ", output concat(");
		for (int i = 0; i < ct->noutputs; i++)
			fprintf(out, "%s%d", i ? ", " : "", ct->outputs[i]);
		fprintf(out, ")%s\n", ct->used ? "" : "  [unused]");
		bool uniform = true;
		for (int e = 1; e < ct->nedges; e++)
			uniform = uniform && same_ops(&ct->edges[e], &ct->edges[0]);
		if (uniform && ct->nedges) {
			fprintf(out, "    candidates on every edge: ");
			print_ops(out, &ct->edges[0]);
			fputc('\n', out);
		}
		fprintf(out, "    %4s  %-8s  %6s%s\n", "edge", "from->to", "stride",
			uniform ? "" : "  candidates");
		for (int e = 0; e < ct->nedges; e++) {
			const ModelEdge *ed = &ct->edges[e];
			fprintf(out, "    %4d  %2d -> %-2d  %6d%s", e, ed->from, ed->to, ed->stride,
				uniform ? "" : "  ");
			if (!uniform)
				print_ops(out, ed);
			fputc('\n', out);
		}
	}

	fprintf(out, "\nalpha layout (%" PRId64 " values)\n", m->alpha_size);
	const ModelCellType **order;
	int nalpha = alpha_order(m, &order);
	for (int k = 0; k < nalpha; k++)
		fprintf(out, "  alpha.%-10s [%d, %d]  offset %" PRId64 "\n", order[k]->name,
			order[k]->nedges, order[k]->nops, order[k]->alpha_offset);

	fprintf(out, "\nsize\n");
	fprintf(out, "  weights  %s  (stem %s, cells %s, head %s)\n",
		grouped(b1, sizeof b1, m->weight_params), grouped(b2, sizeof b2, weights_under(m, "stem.")),
		grouped(b3, sizeof b3, weights_under(m, "cells.")),
		grouped(b4, sizeof b4, weights_under(m, "head.")));
	fprintf(out, "  alpha    %s\n", grouped(b1, sizeof b1, m->alpha_size));
	fprintf(out, "  FLOPs    %.2f M per image, %.2f G per batch of %" PRId64
		" (conv and linear, 2 per multiply-add)\n",
		m->flops / 1e6, m->flops * (double)m->input.d[0] / 1e9, m->input.d[0]);
	fprintf(out, "  graph    %d IR values\n", m->g.n);

	const Schedule *s = &m->sched;
	fprintf(out, "\nsearch\n");
	fprintf(out, "  %" PRId64 " epochs, batch %" PRId64 ", split %g, %s order, seed %" PRId64 "\n",
		s->epochs, s->batch, s->split, order_names[s->order], s->seed);
	fprintf(out, "  weights  sgd lr %g -> %g (%s), momentum %g%s, clip %g, l2 %g\n",
		s->weights.lr, s->weights.lr_min, lr_names[s->weights.schedule], s->weights.momentum,
		s->weights.nesterov ? " (nesterov)" : "", s->weights.clip, s->l2);
	fprintf(out, "  arch     adam lr %g, betas (%g, %g), weight decay %g\n", s->arch.lr,
		s->arch.beta1, s->arch.beta2, s->arch.weight_decay);
	fprintf(out, "  augment  drop_path %g%s, cutout %g of %" PRId64 "px squares%s\n",
		s->drop_path.prob, s->drop_path.ramp == RAMP_LINEAR ? " (ramped linearly)" : "",
		s->cutout.prob, s->cutout.length,
		s->cutout.ramp == RAMP_LINEAR ? " (ramped linearly)" : "");
	if (s->crop)
		fprintf(out, "           random crop after %" PRId64 "px of zero padding%s\n", s->crop,
			s->flip ? ", horizontal flip" : "");
	else if (s->flip)
		fprintf(out, "           horizontal flip\n");
	if (s->hessian.mode == HESS_NONE)
		fprintf(out, "  hessian  not tracked\n");
	else
		fprintf(out, "  hessian  %s, every %" PRId64 " epochs\n", hess_names[s->hessian.mode],
			s->hessian.every);
	if (s->controller.kind == CTRL_NONE)
		fprintf(out, "  control  none\n");
	else {
		fprintf(out, "  control  %s: stop when the mean eigenvalue over %" PRId64
			" evaluations grows %gx over %" PRId64 " evaluations, from epoch %" PRId64,
			ctrl_names[s->controller.kind], s->controller.window, s->controller.factor,
			s->controller.k, s->controller.start);
		if (s->controller.kind == CTRL_ADA)
			fprintf(out, "; then roll back and raise %s x%g up to %g",
				knob_names[s->controller.knob], s->controller.eta, s->controller.max);
		fputc('\n', out);
	}
}

/* ---- JSON ---------------------------------------------------------------- */

static void jstr(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void jnum(FILE *out, double v)
{
	char buf[64];
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

static void jshape(FILE *out, IrShape s, int from)
{
	fputc('[', out);
	for (int i = from; i < s.rank; i++)
		fprintf(out, "%s%" PRId64, i > from ? ", " : "", s.d[i]);
	fputc(']', out);
}

static void jvalue(FILE *out, const Model *m, const Value *v)
{
	switch (v->k) {
	case V_INT:
		fprintf(out, "%" PRId64, v->u.i);
		break;
	case V_FLOAT:
		jnum(out, v->u.f);
		break;
	case V_BOOL:
		fputs(v->u.b ? "true" : "false", out);
		break;
	case V_STRING:
	case V_SYMBOL:
		jstr(out, v->u.s);
		break;
	case V_SHAPE:
	case V_LIST:
		jstr(out, value_str(m->arena, v));
		break;
	case V_ERROR:
		fputs("null", out);
		break;
	}
}

static void jnames(FILE *out, const char *const *names, int n)
{
	fputc('[', out);
	for (int i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		jstr(out, names[i]);
	}
	fputc(']', out);
}

void info_json(FILE *out, const Model *m)
{
	fputs("{\n  \"spec\": ", out);
	jstr(out, m->name);
	fputs(",\n  \"file\": ", out);
	jstr(out, m->src->name);
	fputs(",\n  \"input\": ", out);
	jshape(out, m->input, 1);
	fprintf(out, ",\n  \"classes\": %" PRId64 ",\n  \"batch\": %" PRId64
		",\n  \"channels\": %" PRId64 ",\n  \"layers\": %d", m->classes, m->input.d[0],
		m->channels, m->ncells);
	fprintf(out, ",\n  \"weight_params\": %" PRId64 ",\n  \"alpha_size\": %" PRId64
		",\n  \"flops\": %" PRId64 ",\n  \"ir_values\": %d", m->weight_params, m->alpha_size,
		m->flops, m->g.n);
	fprintf(out, ",\n  \"weights\": {\"stem\": %" PRId64 ", \"cells\": %" PRId64
		", \"head\": %" PRId64 "}", weights_under(m, "stem."), weights_under(m, "cells."),
		weights_under(m, "head."));

	fputs(",\n  \"params\": {", out);
	for (int i = 0; i < m->nparams; i++) {
		fputs(i ? ", " : "", out);
		jstr(out, m->params[i].name);
		fputs(": ", out);
		jvalue(out, m, &m->params[i].value);
	}
	fputs("}", out);

	fputs(",\n  \"alpha\": [", out);
	bool first = true;
	const ModelCellType **order;
	int nalpha = alpha_order(m, &order);
	for (int k = 0; k < nalpha; k++) {
		const ModelCellType *ct = order[k];
		fprintf(out, "%s\n    {\"name\": \"alpha.", first ? "" : ",");
		fputs(ct->name, out);
		fprintf(out, "\", \"cell\": ");
		jstr(out, ct->name);
		fprintf(out, ", \"shape\": [%d, %d], \"offset\": %" PRId64 "}", ct->nedges, ct->nops,
			ct->alpha_offset);
		first = false;
	}
	fputs("\n  ]", out);

	fputs(",\n  \"cell_types\": [", out);
	for (int t = 0; t < m->ntypes; t++) {
		const ModelCellType *ct = &m->types[t];
		fprintf(out, "%s\n    {\"name\": ", t ? "," : "");
		jstr(out, ct->name);
		fprintf(out, ", \"nodes\": %d, \"stride\": %d, \"ops_per_edge\": %d, \"keep\": %d, "
			"\"used\": %s,\n     \"exclude\": ", ct->nodes, ct->stride, ct->nops, ct->keep,
			ct->used ? "true" : "false");
		jnames(out, ct->exclude, ct->nexclude);
		fputs(", \"output\": [", out);
		for (int i = 0; i < ct->noutputs; i++)
			fprintf(out, "%s%d", i ? ", " : "", ct->outputs[i]);
		fputs("],\n     \"edges\": [", out);
		for (int e = 0; e < ct->nedges; e++) {
			const ModelEdge *ed = &ct->edges[e];
			fprintf(out, "%s\n       {\"index\": %d, \"from\": %d, \"to\": %d, \"stride\": %d, "
				"\"ops\": ", e ? "," : "", e, ed->from, ed->to, ed->stride);
			jnames(out, ed->ops, ed->nops);
			fputc('}', out);
		}
		fputs("]}", out);
	}
	fputs("\n  ]", out);

	fputs(",\n  \"cells\": [", out);
	for (int i = 0; i < m->ncells; i++) {
		const ModelCell *c = &m->cells[i];
		fprintf(out, "%s\n    {\"index\": %d, \"type\": ", i ? "," : "", i);
		jstr(out, m->types[c->type].name);
		fprintf(out, ", \"C\": %" PRId64 ", \"in0\": ", c->C);
		jshape(out, c->in0, 1);
		fputs(", \"in1\": ", out);
		jshape(out, c->in1, 1);
		fputs(", \"out\": ", out);
		jshape(out, c->out, 1);
		fprintf(out, ", \"weight_params\": %" PRId64 ", \"flops\": %" PRId64 "}", c->params,
			c->flops);
	}
	fputs("\n  ]", out);

	const Schedule *s = &m->sched;
	fprintf(out, ",\n  \"search\": {\n    \"epochs\": %" PRId64 ", \"batch\": %" PRId64
		", \"seed\": %" PRId64 ", \"split\": ", s->epochs, s->batch, s->seed);
	jnum(out, s->split);
	fprintf(out, ", \"order\": \"%s\",\n    \"weights\": {\"optimizer\": \"sgd\", \"lr\": ",
		order_names[s->order]);
	jnum(out, s->weights.lr);
	fputs(", \"lr_min\": ", out);
	jnum(out, s->weights.lr_min);
	fputs(", \"momentum\": ", out);
	jnum(out, s->weights.momentum);
	fprintf(out, ", \"nesterov\": %s, \"clip\": ", s->weights.nesterov ? "true" : "false");
	jnum(out, s->weights.clip);
	fprintf(out, ", \"schedule\": \"%s\"},\n    \"arch\": {\"optimizer\": \"adam\", \"lr\": ",
		lr_names[s->weights.schedule]);
	jnum(out, s->arch.lr);
	fputs(", \"beta1\": ", out);
	jnum(out, s->arch.beta1);
	fputs(", \"beta2\": ", out);
	jnum(out, s->arch.beta2);
	fputs(", \"eps\": ", out);
	jnum(out, s->arch.eps);
	fputs(", \"weight_decay\": ", out);
	jnum(out, s->arch.weight_decay);
	fputs("},\n    \"l2\": ", out);
	jnum(out, s->l2);
	fputs(", \"drop_path\": {\"prob\": ", out);
	jnum(out, s->drop_path.prob);
	fprintf(out, ", \"ramp\": \"%s\"}, \"cutout\": {\"prob\": ", ramp_names[s->drop_path.ramp]);
	jnum(out, s->cutout.prob);
	fprintf(out, ", \"length\": %" PRId64 ", \"ramp\": \"%s\"},\n", s->cutout.length,
		ramp_names[s->cutout.ramp]);
	fprintf(out, "    \"crop\": %" PRId64 ", \"flip\": %s,\n", s->crop, s->flip ? "true" : "false");
	fprintf(out, "    \"hessian\": {\"mode\": \"%s\", \"every\": %" PRId64 ", \"iters\": %" PRId64
		"},\n", hess_names[s->hessian.mode], s->hessian.every, s->hessian.iters);
	fprintf(out, "    \"controller\": {\"kind\": \"%s\", \"factor\": ",
		ctrl_names[s->controller.kind]);
	jnum(out, s->controller.factor);
	fprintf(out, ", \"window\": %" PRId64 ", \"k\": %" PRId64 ", \"start\": %" PRId64
		", \"eta\": ", s->controller.window, s->controller.k, s->controller.start);
	jnum(out, s->controller.eta);
	fputs(", \"max\": ", out);
	jnum(out, s->controller.max);
	fprintf(out, ", \"knob\": \"%s\"}\n  }\n}\n", knob_names[s->controller.knob]);
}
