/* emit_c.c - the C backend: the loop-level form of a lowered program (see
 * lower.h) printed as one C11 file that links against libnasrt.
 *
 * Each kernel becomes a static function taking its buffers as restrict
 * pointers; loops marked parallel get an OpenMP pragma (ignored by a
 * compiler without OpenMP); matrix products call CBLAS.  The entry points
 * call the kernels in order with pointers into the arena, the parameter
 * and gradient blocks and the batch, and the file ends with the program's
 * description and a main() that hands it to the runtime. */
#include "emit_c.h"
#include "emit_meta.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Emit {
	FILE *out;
	const LProgram *p;
	bool f64;
	int *var_no;       /* per variable: its number in the current kernel, or -1 */
	int next_var;
	int depth;         /* of statement nesting, for indentation */
	int in_parallel;
} Emit;

static void indent(Emit *e)
{
	for (int i = 0; i < e->depth; i++)
		fputc('\t', e->out);
}

static const char *var_name(Emit *e, int v)
{
	static char buf[64];
	if (e->var_no[v] < 0)
		e->var_no[v] = e->next_var++;
	snprintf(buf, sizeof buf, "%s%d", e->p->var[v].name, e->var_no[v]);
	return buf;
}

static const char *type_name(const Emit *e, LType t)
{
	(void)e;
	switch (t) {
	case LT_INT:
		return "int64_t";
	case LT_REAL:
		return "real";
	case LT_F64:
		return "double";
	case LT_BOOL:
		return "int";
	}
	return "?";
}

static void real_const(Emit *e, double v, LType t)
{
	if (isinf(v))
		fprintf(e->out, "%s", v < 0 ? "-INFINITY" : "INFINITY");
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(e->out, t == LT_F64 ? "%.1f" : "(real)%.1f", v);
	else
		fprintf(e->out, t == LT_F64 ? "%.17g" : "(real)%.17g", v);
}

/* The math function for a type: sqrtf for float reals, sqrt for doubles. */
static const char *math_fn(const Emit *e, LOp op, LType t)
{
	bool f = t == LT_REAL && !e->f64;
	switch (op) {
	case LO_SQRT:
		return f ? "sqrtf" : "sqrt";
	case LO_EXP:
		return f ? "expf" : "exp";
	case LO_LOG:
		return f ? "logf" : "log";
	default:
		return "?";
	}
}

static void expr(Emit *e, const LExpr *x)
{
	static const char *const ops[] = {
		[LO_ADD] = "+", [LO_SUB] = "-", [LO_MUL] = "*", [LO_DIV] = "/",
		[LO_LT] = "<",  [LO_LE] = "<=", [LO_GT] = ">",  [LO_GE] = ">=",
		[LO_EQ] = "==", [LO_NE] = "!=", [LO_AND] = "&&", [LO_OR] = "||",
	};
	switch (x->kind) {
	case LE_INT:
		fprintf(e->out, "%" PRId64, x->i);
		return;
	case LE_REAL:
		real_const(e, x->r, x->type);
		return;
	case LE_VAR:
		fputs(var_name(e, x->var), e->out);
		if (x->a) {
			fputc('[', e->out);
			expr(e, x->a);
			fputc(']', e->out);
		}
		return;
	case LE_LOAD:
		fprintf(e->out, "s%d[", x->buf);
		expr(e, x->a);
		fputc(']', e->out);
		return;
	case LE_BIN:
		if (x->op == LO_MIN || x->op == LO_MAX) {
			fputs(x->op == LO_MIN ? "NAS_MIN(" : "NAS_MAX(", e->out);
			expr(e, x->a);
			fputs(", ", e->out);
			expr(e, x->b);
			fputc(')', e->out);
			return;
		}
		fputc('(', e->out);
		expr(e, x->a);
		fprintf(e->out, " %s ", ops[x->op]);
		expr(e, x->b);
		fputc(')', e->out);
		return;
	case LE_UN:
		switch (x->op) {
		case LO_NEG:
			fputs("(-", e->out);
			expr(e, x->a);
			fputc(')', e->out);
			return;
		case LO_TO_REAL:
			fputs("(real)(", e->out);
			expr(e, x->a);
			fputc(')', e->out);
			return;
		default:
			fprintf(e->out, "%s(", math_fn(e, x->op, x->a->type));
			expr(e, x->a);
			fputc(')', e->out);
			return;
		}
	case LE_SELECT:
		fputc('(', e->out);
		expr(e, x->a);
		fputs(" ? ", e->out);
		expr(e, x->b);
		fputs(" : ", e->out);
		expr(e, x->c);
		fputc(')', e->out);
		return;
	case LE_RUN:
		fputs(x->i == LR_NTANGENTS ? "NAS_MAX(run->ntangents, (int64_t)1)" : "run->bn_momentum",
		      e->out);
		return;
	}
}

static void stmts(Emit *e, const LStmt *s);

static void block(Emit *e, const LStmt *s)
{
	fputs("{\n", e->out);
	e->depth++;
	stmts(e, s);
	e->depth--;
	indent(e);
	fputs("}\n", e->out);
}

static void gemm(Emit *e, const LGemm *g)
{
	fprintf(e->out, "%s(CblasRowMajor, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ", ",
		e->f64 ? "cblas_dgemm" : "cblas_sgemm", g->ta ? "CblasTrans" : "CblasNoTrans",
		g->tb ? "CblasTrans" : "CblasNoTrans", g->m, g->n, g->k);
	real_const(e, g->alpha, LT_F64);
	fprintf(e->out, ", s%d + ", g->a);
	expr(e, g->aoff);
	fprintf(e->out, ", %" PRId64 ", s%d + ", g->lda, g->b);
	expr(e, g->boff);
	fprintf(e->out, ", %" PRId64 ", ", g->ldb);
	real_const(e, g->beta, LT_F64);
	fprintf(e->out, ", s%d + ", g->c);
	expr(e, g->coff);
	fprintf(e->out, ", %" PRId64 ");\n", g->ldc);
}

static void stmts(Emit *e, const LStmt *s)
{
	for (; s; s = s->next) {
		switch (s->kind) {
		case LS_FOR: {
			bool par = s->parallel && !e->in_parallel;
			if (par) {
				indent(e);
				fputs("#pragma omp parallel for schedule(static)\n", e->out);
			} else if (s->unroll) {
				indent(e);
				fprintf(e->out, "#pragma GCC unroll %d\n", s->unroll);
			} else if (s->nsums) {
				indent(e);
				fputs("#pragma omp simd reduction(+:", e->out);
				for (int i = 0; i < s->nsums; i++)
					fprintf(e->out, "%s%s", i ? ", " : "", var_name(e, s->sums[i]));
				fputs(")\n", e->out);
			}
			indent(e);
			const char *v = var_name(e, s->var);
			char name[64];
			snprintf(name, sizeof name, "%s", v);
			fprintf(e->out, "for (int64_t %s = ", name);
			expr(e, s->lo);
			fprintf(e->out, "; %s < ", name);
			expr(e, s->hi);
			fprintf(e->out, "; %s++) ", name);
			e->in_parallel += par;
			block(e, s->body);
			e->in_parallel -= par;
			break;
		}
		case LS_LET:
			indent(e);
			fprintf(e->out, "%s ", type_name(e, e->p->var[s->var].type));
			if (!s->a) {
				fprintf(e->out, "%s[%" PRId64 "];\n", var_name(e, s->var),
					e->p->var[s->var].len);
				break;
			}
			fprintf(e->out, "%s = ", var_name(e, s->var));
			expr(e, s->a);
			fputs(";\n", e->out);
			break;
		case LS_SET:
			indent(e);
			fputs(var_name(e, s->var), e->out);
			if (s->idx) {
				fputc('[', e->out);
				expr(e, s->idx);
				fputc(']', e->out);
			}
			fputs(" = ", e->out);
			expr(e, s->a);
			fputs(";\n", e->out);
			break;
		case LS_STORE:
		case LS_ACCUM:
			indent(e);
			fprintf(e->out, "s%d[", s->buf);
			expr(e, s->idx);
			fprintf(e->out, "] %s ", s->kind == LS_STORE ? "=" : "+=");
			expr(e, s->a);
			fputs(";\n", e->out);
			break;
		case LS_IF:
			indent(e);
			fputs("if (", e->out);
			expr(e, s->a);
			fputs(") ", e->out);
			block(e, s->body);
			if (s->els) {
				indent(e);
				fputs("else ", e->out);
				block(e, s->els);
			}
			break;
		case LS_GEMM:
			indent(e);
			gemm(e, s->gemm);
			break;
		case LS_NOISE:
			indent(e);
			fprintf(e->out, "%s(s%d + ", e->f64 ? "nas_noise_f64" : "nas_noise_f32", s->buf);
			expr(e, s->idx);
			fputs(", ", e->out);
			expr(e, s->a);
			fprintf(e->out, ", run, %d);\n", s->value);
			break;
		case LS_COMMENT:
			indent(e);
			fprintf(e->out, "/* %s */\n", s->text);
			break;
		}
	}
}

static void kernel(Emit *e, const LKernel *k)
{
	memset(e->var_no, -1, (size_t)(e->p->nvar > 0 ? e->p->nvar : 1) * sizeof *e->var_no);
	e->next_var = 0;
	fprintf(e->out, "/* %s", k->origin);
	if (k->calls > 1)
		fprintf(e->out, ", and %d more like it", k->calls - 1);
	fprintf(e->out, " */\nstatic void %s(", k->name);
	if (k->uses_run)
		fputs("const NasRun *run, ", e->out);
	for (int i = 0; i < k->nslot; i++) {
		const char *t = k->slot_int[i] ? "int64_t" : "real";
		fprintf(e->out, "%s%s%s *restrict s%d", i ? ", " : "", k->slot_written[i] ? "" : "const ",
			t, i);
	}
	if (k->nslot == 0 && !k->uses_run)
		fputs("void", e->out);
	fputs(")\n", e->out);
	e->depth = 0;
	block(e, k->body);
	fputc('\n', e->out);
}

/* A buffer as a C expression in an entry point: the pointer the entry
 * set up for its space (entry_prologue), plus its offset. */
static void buf_ptr(Emit *e, int b)
{
	static const char *const base[] = {
		[LS_ARENA] = "A", [LS_PARAMS] = "P", [LS_GRADS] = "G", [LS_X] = "X",
		[LS_Y] = "Y",     [LS_RUNNING] = "R", [LS_DROP] = "D",    [LS_TANGENT] = "T",
	};
	const LBuf *x = &e->p->buf[b];
	/* an int64 buffer in the arena (a max pool's argmax): its offset
	 * counts reals, and the plan keeps it 8-byte aligned */
	bool cast = x->is_int && x->space == LS_ARENA;
	fprintf(e->out, "%s%s", cast ? "(int64_t *)(" : "", base[x->space]);
	if (x->space != LS_X && x->space != LS_Y)
		fprintf(e->out, " + %" PRId64, x->offset);
	if (cast)
		fputc(')', e->out);
}

/* The entry points call their kernels in parts of this many calls, each a
 * function of its own: one function of thousands of calls costs the C
 * compiler far more time than many small ones. */
enum { PART = 64 };

/* The pointers of a part of an entry.  R is NULL in a training entry run
 * without running statistics, and then only read by calls made if it is
 * not.  D is the run's drop-path mask, or the ones the entry wrote at
 * arena offset `ones`.  T is the run's tangent. */
static void entry_prologue(Emit *e, const Lowered *L, bool grads, int64_t ones)
{
	fputs("\treal *const A = (real *)run->arena;\n"
	      "\tconst real *const P = (const real *)run->params;\n"
	      "\tconst real *const X = (const real *)run->x;\n"
	      "\tconst int64_t *const Y = run->y;\n"
	      "\treal *const R = (real *)run->running;\n", e->out);
	if (L->ndrop > 0)
		fprintf(e->out, "\tconst real *const D = run->drop ? (const real *)run->drop : A + %" PRId64
				";\n\t(void)D;\n", ones);
	if (grads)
		fputs("\treal *const G = (real *)run->grads;\n", e->out);
	fputs("\tconst real *const T = (const real *)run->tangent;\n\t(void)T;\n", e->out);
	fputs("\t(void)A, (void)P, (void)X, (void)Y, (void)R;\n", e->out);
}

/* An entry point: its kernel calls, in parts; then the loss and logits
 * from their buffers (loss_buf < 0: none). */
static void entry(Emit *e, const char *name, const LEntry *en, const Lowered *L, bool grads,
		  bool drops, int64_t ones, int loss_buf, int logits_buf)
{
	int parts = (en->ncall + PART - 1) / PART;
	for (int part = 0; part < parts; part++) {
		fprintf(e->out, "static void %s_%d(NasRun *run)\n{\n", name, part);
		entry_prologue(e, L, grads, ones);
		int end = (part + 1) * PART < en->ncall ? (part + 1) * PART : en->ncall;
		for (int i = part * PART; i < end; i++) {
			const LCall *c = &en->call[i];
			const LKernel *k = &e->p->kern[c->kern];
			if (c->if_running)
				fputs("\tif (R)\n\t", e->out);
			fprintf(e->out, "\t%s(", k->name);
			if (k->uses_run)
				fputs("run, ", e->out);
			for (int j = 0; j < k->nslot; j++) {
				if (j)
					fputs(", ", e->out);
				buf_ptr(e, c->buf[j]);
			}
			fprintf(e->out, "); /* %s */\n", c->origin);
		}
		fputs("}\n\n", e->out);
	}
	fprintf(e->out, "static void %s(NasRun *run)\n{\n", name);
	if (drops && L->ndrop > 0)
		fprintf(e->out, "\t/* no mask: the mixed edges are scaled by ones */\n"
				"\tif (!run->drop)\n"
				"\t\tfor (int64_t i = 0; i < %" PRId64 "; i++)\n"
				"\t\t\t((real *)run->arena)[%" PRId64 " + i] = 1;\n",
			L->ndrop * L->batch, ones);
	for (int part = 0; part < parts; part++)
		fprintf(e->out, "\t%s_%d(run);\n", name, part);
	if (loss_buf < 0) {
		fputs("}\n\n", e->out);
		return;
	}
	fputs("\tconst real *const A = (const real *)run->arena;\n\trun->loss = *(", e->out);
	buf_ptr(e, loss_buf);
	fputs(");\n\tif (run->logits)\n\t\tmemcpy(run->logits, ", e->out);
	buf_ptr(e, logits_buf);
	fprintf(e->out, ", %" PRId64 " * sizeof(real));\n}\n\n", L->batch * L->classes);
}

static const char *kind_name(const LTensor *t)
{
	if (t->op == IR_ALPHA)
		return "NAS_ALPHA";
	switch (t->wkind) {
	case W_BN_MEAN:
		return "NAS_BN_MEAN";
	case W_BN_VAR:
		return "NAS_BN_VAR";
	case W_CONV:
		return "NAS_CONV";
	case W_LINEAR:
		return "NAS_LINEAR";
	case W_BIAS:
		return "NAS_BIAS";
	case W_BN_GAMMA:
		return "NAS_BN_GAMMA";
	default:
		return "NAS_BN_BETA";
	}
}

/* A NasTensor table, when it has rows. */
static void table(FILE *out, const char *name, const LTensor *ts, int n)
{
	if (n == 0)
		return;
	fprintf(out, "static const NasTensor %s[] = {\n", name);
	for (int i = 0; i < n; i++) {
		const LTensor *t = &ts[i];
		fputs("\t{", out);
		emit_c_string(out, t->name);
		fprintf(out, ", %s, %d, {", kind_name(t), t->shape.rank);
		for (int j = 0; j < t->shape.rank; j++)
			fprintf(out, "%s%" PRId64, j ? ", " : "", t->shape.d[j]);
		fprintf(out, "}, %" PRId64 ", %" PRId64 ", %" PRId64 "},\n", ir_numel(t->shape), t->offset,
			t->fan_in);
	}
	fputs("};\n\n", out);
}

/* A prepared group's two entry points: NAME_prepare (the loss and logits,
 * and with prep_grads the gradient) and NAME. */
static void prepared(Emit *e, const char *name, const LPrepared *pg, const Lowered *L,
		     bool prep_grads)
{
	char prep[64];
	snprintf(prep, sizeof prep, "%s_prepare", name);
	entry(e, prep, &pg->prepare, L, prep_grads, true, pg->ones, pg->loss_buf, pg->logits_buf);
	entry(e, name, &pg->run, L, true, true, pg->ones, -1, -1);
	for (int i = 0; i < pg->non; i++) {
		char on[80];
		snprintf(on, sizeof on, "%s_on_%d", name, pg->on_tensor[i]);
		entry(e, on, &pg->on[i], L, true, true, pg->ones, -1, -1);
	}
	if (pg->non) {
		/* the run entries along one tensor alone, by tensor index */
		fprintf(e->out, "static void (*const %s_on[%d])(NasRun *) = {\n", name, L->ntensors);
		for (int i = 0; i < pg->non; i++)
			fprintf(e->out, "\t[%d] = %s_on_%d,\n", pg->on_tensor[i], name, pg->on_tensor[i]);
		fputs("};\n\n", e->out);
	}
}

void emit_c(FILE *out, const Lowered *L, const EmitInfo *info)
{
	Emit e = {.out = out, .p = &L->p, .f64 = info->f64};
	e.var_no = malloc((size_t)(L->p.nvar > 0 ? L->p.nvar : 1) * sizeof *e.var_no);
	if (!e.var_no) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	fprintf(out, "/* Generated by nasc %s from %s (%s), %s precision.\n"
		     " * %d values lowered to %d kernels.  Regenerate rather than edit. */\n",
		info->version, info->spec, info->config, info->f64 ? "double" : "single",
		L->nvalues, L->p.nkern);
	fprintf(out, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n"
		     "#include <cblas.h>\n\n#include \"nasrt.h\"\n\n"
		     "typedef %s real;\n\n"
		     "#define NAS_MIN(a, b) ((a) < (b) ? (a) : (b))\n"
		     "#define NAS_MAX(a, b) ((a) > (b) ? (a) : (b))\n\n",
		info->f64 ? "double" : "float");
	for (int k = 0; k < L->p.nkern; k++)
		if (L->p.kern[k].calls > 0) /* a kernel blocking replaced calls none */
			kernel(&e, &L->p.kern[k]);
	int64_t ones = L->ones_offset;
	entry(&e, "run_grad", &L->grad, L, true, true, ones, L->loss_buf, L->logits_buf);
	entry(&e, "run_loss", &L->loss, L, false, true, ones, L->loss_buf, L->logits_buf);
	entry(&e, "run_grad_alpha", &L->grad_alpha, L, true, true, ones, L->loss_buf,
	      L->logits_buf);
	bool infer = L->infer_loss_buf >= 0;
	if (infer)
		entry(&e, "run_infer", &L->infer, L, false, false, ones, L->infer_loss_buf,
		      L->infer_logits_buf);
	bool hvp = L->hvp.loss_buf >= 0, mixed = L->mixed.loss_buf >= 0;
	if (hvp)
		prepared(&e, "run_hvp", &L->hvp, L, false);
	if (mixed)
		prepared(&e, "run_mixed", &L->mixed, L, true);

	table(out, "tensors", L->tensors, L->ntensors);
	table(out, "running_tensors", L->running, L->nrunning_tensors);
	int ntypes = emit_meta(out, info->model, L);
	fputs("const NasProgram nas_program = {\n\t.spec = ", out);
	emit_c_string(out, info->spec);
	fputs(",\n\t.config = ", out);
	emit_c_string(out, info->config);
	fputs(",\n\t.nasc_version = ", out);
	emit_c_string(out, info->version);
	fprintf(out, ",\n\t.real_size = sizeof(real),\n"
		     "\t.batch = %" PRId64 ", .in_c = %" PRId64 ", .in_h = %" PRId64 ", .in_w = %" PRId64
		     ", .classes = %" PRId64 ",\n"
		     "\t.ntensors = %d,\n\t.tensors = %s,\n\t.nparams = %" PRId64 ",\n"
		     "\t.nrunning_tensors = %d,\n\t.running_tensors = %s,\n\t.nrunning = %" PRId64 ",\n"
		     "\t.ndrop = %" PRId64 ",\n"
		     "\t.arena_bytes = %" PRId64 " * sizeof(real),\n"
		     "\t.hvp_arena_bytes = %" PRId64 " * sizeof(real),\n"
		     "\t.mixed_arena_bytes = %" PRId64 " * sizeof(real),\n"
		     "\t.hvp_block = %d,\n"
		     "\t.flops = %" PRId64 ",\n",
		L->batch, L->in_c, L->in_h, L->in_w, L->classes, L->ntensors,
		L->ntensors ? "tensors" : "NULL", L->nparams, L->nrunning_tensors,
		L->nrunning_tensors ? "running_tensors" : "NULL", L->nrunning, L->ndrop,
		L->p.arena_bytes, hvp ? L->hvp.arena : 0, mixed ? L->mixed.arena : 0,
		hvp ? L->hvp.block : 0, info->flops);
	emit_schedule(out, &info->model->sched);
	fprintf(out, "\t.ncell_types = %d,\n\t.cell_types = %s,\n"
		     "\t.grad = run_grad,\n\t.loss = run_loss,\n\t.grad_alpha = run_grad_alpha,\n"
		     "\t.infer = %s,\n"
		     "\t.hvp_prepare = %s,\n\t.hvp = %s,\n\t.hvp_on = %s,\n"
		     "\t.mixed_prepare = %s,\n\t.mixed = %s,\n};\n\n"
		     "int main(int argc, char **argv)\n{\n"
		     "\t/* threads are the kernels' own: each matrix product runs on one */\n"
		     "\topenblas_set_num_threads(1);\n"
		     "\treturn nas_main(&nas_program, argc, argv);\n}\n",
		ntypes, ntypes ? "cell_types" : "NULL", infer ? "run_infer" : "NULL",
		hvp ? "run_hvp_prepare" : "NULL", hvp ? "run_hvp" : "NULL",
		hvp && L->hvp.non ? "run_hvp_on" : "NULL",
		mixed ? "run_mixed_prepare" : "NULL", mixed ? "run_mixed" : "NULL");
	free(e.var_no);
}
