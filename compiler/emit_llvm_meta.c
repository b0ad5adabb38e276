/* emit_llvm_meta.c - the LLVM backend's half of what emit_c.c and
 * emit_meta.c write after the kernels: the global nas_program (nasrt.h's
 * NasProgram) with its tensor tables, schedule and cell types, built as
 * LLVM constants of the types llvm_types() lays out as C does, and a
 * main() that hands it to the runtime. */
#include "config.h"

#include "emit_llvm_impl.h"
#include "emit_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm/Config/llvm-config.h>

typedef struct Meta {
	LLVMModuleRef m;
	const LlvmTypes *t;
	int nglobal;             /* for names */
} Meta;

static LLVMValueRef i32(const Meta *g, int64_t v)
{
	return LLVMConstInt(g->t->i32, (unsigned long long)v, 1);
}

static LLVMValueRef i64(const Meta *g, int64_t v)
{
	return LLVMConstInt(g->t->i64, (unsigned long long)v, 1);
}

static LLVMValueRef dbl(const Meta *g, double v)
{
	return LLVMConstReal(g->t->f64, v);
}

static LLVMValueRef null(const Meta *g)
{
	return LLVMConstNull(g->t->pi8);
}

/* A private constant global holding init, as a char pointer. */
static LLVMValueRef global(Meta *g, const char *stem, LLVMValueRef init)
{
	char name[64];
	snprintf(name, sizeof name, "%s.%d", stem, g->nglobal++);
	LLVMValueRef v = LLVMAddGlobal(g->m, LLVMTypeOf(init), name);
	LLVMSetInitializer(v, init);
	LLVMSetGlobalConstant(v, 1);
	LLVMSetLinkage(v, LLVMPrivateLinkage);
	return LLVMConstPointerCast(v, g->t->pi8);
}

static LLVMValueRef array(LLVMTypeRef t, LLVMValueRef *v, int n)
{
#if LLVM_VERSION_MAJOR >= 17
	return LLVMConstArray2(t, v, (uint64_t)n);
#else
	return LLVMConstArray(t, v, (unsigned)n);
#endif
}

static LLVMValueRef string(Meta *g, const char *s)
{
	LLVMValueRef c = LLVMConstStringInContext(g->t->ctx, s, (unsigned)strlen(s), 0);
	return global(g, "str", c);
}

/* A table of strings (C's `static const char *const x[]`), NULL if empty. */
static LLVMValueRef strings(Meta *g, const char *const *s, int n)
{
	if (n == 0)
		return null(g);
	LLVMValueRef *v = llvm_calloc((size_t)n, sizeof *v);
	for (int i = 0; i < n; i++)
		v[i] = string(g, s[i]);
	LLVMValueRef r = global(g, "strings", array(g->t->pi8, v, n));
	free(v);
	return r;
}

static LLVMValueRef anon(const Meta *g, LLVMValueRef *v, size_t n)
{
	return LLVMConstStructInContext(g->t->ctx, v, (unsigned)n, 0);
}

static LLVMValueRef named(const Meta *g, LlvmStruct k, LLVMValueRef *v, size_t n)
{
	return LLVMConstNamedStruct(g->t->s[k], v, (unsigned)n);
}

/* Constant structs from their fields (sizeof does not evaluate them). */
#define FIELDS(...) (LLVMValueRef[]){__VA_ARGS__}, sizeof((LLVMValueRef[]){__VA_ARGS__}) / sizeof(LLVMValueRef)
#define NAMED(g, k, ...) named(g, k, FIELDS(__VA_ARGS__))
#define ANON(g, ...) anon(g, FIELDS(__VA_ARGS__))

static int kind_of(const LTensor *t)
{
	/* nasrt.h's NasKind */
	if (t->op == IR_ALPHA)
		return 5;
	switch (t->wkind) {
	case W_BN_MEAN:
		return 6;
	case W_BN_VAR:
		return 7;
	case W_CONV:
		return 0;
	case W_LINEAR:
		return 1;
	case W_BIAS:
		return 2;
	case W_BN_GAMMA:
		return 3;
	default:
		return 4;
	}
}

static LLVMValueRef tensors(Meta *g, const LTensor *ts, int n)
{
	if (n == 0)
		return null(g);
	LLVMValueRef *v = llvm_calloc((size_t)n, sizeof *v);
	for (int i = 0; i < n; i++) {
		const LTensor *t = &ts[i];
		LLVMValueRef shape[4];
		for (int j = 0; j < 4; j++)
			shape[j] = i64(g, j < t->shape.rank ? t->shape.d[j] : 0);
		v[i] = NAMED(g, NS_TENSOR, string(g, t->name), i32(g, kind_of(t)), i32(g, t->shape.rank),
			     array(g->t->i64, shape, 4), i64(g, ir_numel(t->shape)), i64(g, t->offset),
			     i64(g, t->fan_in));
	}
	LLVMValueRef r = global(g, "tensors", array(g->t->s[NS_TENSOR], v, n));
	free(v);
	return r;
}

static LLVMValueRef schedule(Meta *g, const Schedule *s)
{
	return NAMED(
		g, NS_SCHEDULE, i64(g, s->epochs), i64(g, s->batch), i64(g, s->seed), dbl(g, s->split),
		i32(g, s->order == ORDER_SECOND),
		ANON(g, dbl(g, s->weights.lr), dbl(g, s->weights.lr_min), dbl(g, s->weights.momentum),
		     dbl(g, s->weights.clip), i32(g, s->weights.nesterov),
		     i32(g, s->weights.schedule == LR_COSINE)),
		ANON(g, dbl(g, s->arch.lr), dbl(g, s->arch.beta1), dbl(g, s->arch.beta2),
		     dbl(g, s->arch.eps), dbl(g, s->arch.weight_decay)),
		dbl(g, s->l2), ANON(g, dbl(g, s->drop_path.prob), i32(g, (int)s->drop_path.ramp)),
		ANON(g, dbl(g, s->cutout.prob), i64(g, s->cutout.length), i32(g, (int)s->cutout.ramp)),
		i64(g, s->crop), i32(g, s->flip),
		ANON(g, i32(g, (int)s->hessian.mode), i64(g, s->hessian.every), i64(g, s->hessian.iters)),
		ANON(g, i32(g, (int)s->controller.kind), dbl(g, s->controller.factor),
		     i64(g, s->controller.window), i64(g, s->controller.k), i64(g, s->controller.start),
		     dbl(g, s->controller.eta), dbl(g, s->controller.max),
		     i32(g, (int)s->controller.knob)));
}

static LLVMValueRef cell_type(Meta *g, const Model *m, const Lowered *L, int t)
{
	const ModelCellType *ct = &m->types[t];
	LLVMValueRef *edges = llvm_calloc((size_t)ct->nedges, sizeof *edges);
	LLVMValueRef *outs = llvm_calloc((size_t)ct->noutputs, sizeof *outs);
	for (int e = 0; e < ct->nedges; e++) {
		const ModelEdge *ed = &ct->edges[e];
		edges[e] = NAMED(g, NS_EDGE, i32(g, ed->from), i32(g, ed->to), i32(g, ed->stride),
				 i32(g, ed->nops), strings(g, ed->ops, ed->nops));
	}
	for (int i = 0; i < ct->noutputs; i++)
		outs[i] = i32(g, ct->outputs[i]);
	LLVMValueRef ev = ct->nedges ? global(g, "edges", array(g->t->s[NS_EDGE], edges, ct->nedges))
				     : null(g);
	LLVMValueRef ov = ct->noutputs ? global(g, "outputs", array(g->t->i32, outs, ct->noutputs))
				       : null(g);
	free(edges);
	free(outs);
	return NAMED(g, NS_CELL_TYPE, string(g, ct->name), i32(g, meta_alpha_tensor(m, L, t)),
		     i32(g, ct->nodes), i32(g, ct->nedges), ev, i32(g, ct->nops), i32(g, ct->keep),
		     i32(g, ct->nexclude), strings(g, ct->exclude, ct->nexclude), i32(g, ct->noutputs),
		     ov, i32(g, meta_cells_of(m, t)));
}

static LLVMValueRef fnptr(const Meta *g, LLVMValueRef f)
{
	return f ? LLVMConstPointerCast(f, g->t->pfn) : LLVMConstNull(g->t->pfn);
}

/* main(): one thread per matrix product (threads are the kernels' own),
 * then the runtime's command line. */
static void main_function(Meta *g, LLVMValueRef program)
{
	const LlvmTypes *t = g->t;
	LLVMContextRef ctx = t->ctx;
	LLVMTypeRef argv = LLVMPointerType(t->pi8, 0);
	LLVMTypeRef mp[] = {t->i32, argv};
	LLVMValueRef fn = LLVMAddFunction(g->m, "main", LLVMFunctionType(t->i32, mp, 2, 0));
	LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
	LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
	LLVMTypeRef ot = LLVMFunctionType(t->vd, (LLVMTypeRef[]){t->i32}, 1, 0);
	LLVMValueRef one = i32(g, 1);
	LLVMBuildCall2(b, ot, LLVMAddFunction(g->m, "openblas_set_num_threads", ot), &one, 1, "");
	LLVMTypeRef np[] = {LLVMPointerType(t->s[NS_PROGRAM], 0), t->i32, argv};
	LLVMTypeRef nt = LLVMFunctionType(t->i32, np, 3, 0);
	LLVMValueRef args[] = {program, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)};
	LLVMBuildRet(b, LLVMBuildCall2(b, nt, LLVMAddFunction(g->m, "nas_main", nt), args, 3, ""));
	LLVMDisposeBuilder(b);
}

void llvm_program(LLVMModuleRef mod, const LlvmTypes *t, const Lowered *L, const EmitInfo *info,
		  const LlvmEntries *en)
{
	Meta g = {.m = mod, .t = t};
	const Model *m = info->model;
	int *types = llvm_calloc((size_t)m->ntypes, sizeof *types);
	LLVMValueRef *cells = llvm_calloc((size_t)m->ntypes, sizeof *cells);
	int ntypes = meta_cell_types(m, L, types);
	for (int i = 0; i < ntypes; i++)
		cells[i] = cell_type(&g, m, L, types[i]);
	LLVMValueRef cv = ntypes ? global(&g, "cell_types", array(t->s[NS_CELL_TYPE], cells, ntypes))
				 : null(&g);
	free(types);
	free(cells);

	LLVMValueRef on = null(&g);
	if (en->hvp_on) {
		LLVMValueRef *v = llvm_calloc((size_t)L->ntensors, sizeof *v);
		for (int i = 0; i < L->ntensors; i++)
			v[i] = fnptr(&g, en->hvp_on[i]);
		on = global(&g, "hvp_on", array(t->pfn, v, L->ntensors));
		free(v);
	}
	int64_t rs = info->f64 ? 8 : 4;
	bool hvp = L->hvp.loss_buf >= 0, mixed = L->mixed.loss_buf >= 0;
	LLVMValueRef prog = NAMED(
		&g, NS_PROGRAM, string(&g, info->spec), string(&g, info->config),
		string(&g, info->version), i32(&g, rs), i64(&g, L->batch), i64(&g, L->in_c),
		i64(&g, L->in_h), i64(&g, L->in_w), i64(&g, L->classes), i32(&g, L->ntensors),
		tensors(&g, L->tensors, L->ntensors), i64(&g, L->nparams), i32(&g, L->nrunning_tensors),
		tensors(&g, L->running, L->nrunning_tensors), i64(&g, L->nrunning), i64(&g, L->ndrop),
		i64(&g, L->p.arena_bytes * rs), i64(&g, info->flops), schedule(&g, &m->sched),
		i32(&g, ntypes), cv, fnptr(&g, en->grad), fnptr(&g, en->loss),
		fnptr(&g, en->grad_alpha), fnptr(&g, en->infer), i64(&g, hvp ? L->hvp.arena * rs : 0),
		i64(&g, mixed ? L->mixed.arena * rs : 0), i32(&g, hvp ? L->hvp.block : 0),
		fnptr(&g, en->hvp_prepare), fnptr(&g, en->hvp), on, fnptr(&g, en->mixed_prepare),
		fnptr(&g, en->mixed));
	LLVMValueRef pv = LLVMAddGlobal(mod, t->s[NS_PROGRAM], "nas_program");
	LLVMSetInitializer(pv, prog);
	LLVMSetGlobalConstant(pv, 1);
	main_function(&g, pv);
}
