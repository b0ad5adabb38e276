/* emit_llvm.c - the LLVM backend: the loop-level form of a lowered program
 * (see lower.h) built through the LLVM C API into one module, with the
 * program's description and main() (emit_llvm_meta.c), written as IR or
 * optimized into an object file that links against libnasrt.
 *
 * It computes what emit_c.c's C computes, with C's conversions: each
 * kernel is a function taking its buffers as noalias pointers; variables
 * live in allocas that mem2reg promotes; a loop marked parallel is
 * outlined and run by libgomp's GOMP_parallel on a static schedule, its
 * iterations split between threads as GCC splits them.  a * b + c
 * becomes llvm.fmuladd, as -ffp-contract=fast has the C compiler fuse it.
 *
 * Loop metadata says what the lowered form knows and LLVM's cost models
 * would otherwise guess (make bench measured each rule, see
 * llvm_loop_hint): a loop that sums into accumulators may vectorize
 * (llvm.loop.vectorize.enable; the C API has no per-instruction fast-math
 * flags); an unrolled loop with no loop left inside unrolls fully; and a
 * loop with a loop inside is not the one to vectorize.
 *
 * Only the `*2` builders and LLVMRunPasses are used, so the same source
 * builds against LLVM 14 to 19, with typed or opaque pointers. */
#include "config.h"

#include "emit_llvm_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm/Config/llvm-config.h>

/* The function being built. */
typedef struct Fn {
	LLVMValueRef fn;
	LLVMBuilderRef b;        /* where code goes */
	LLVMBuilderRef ab;       /* the allocas, at the end of the entry block */
	LLVMBasicBlockRef entry;
	LLVMValueRef slot[LK_MAX_SLOTS];
	LLVMValueRef run;
	LLVMValueRef *var;       /* per program variable: its storage, or NULL */
} Fn;

typedef struct LL {
	LlvmTypes t;
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	const LProgram *p;
	const LKernel *k;        /* the kernel being built */
	bool f64;
	Fn *f;
	int in_parallel;
	int outlined;            /* parallel loops outlined so far, for names */
	const char *undeclared;  /* a variable read or set before its let, or NULL */
	unsigned loop_kind;      /* of the llvm.loop metadata */
} LL;

void *llvm_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p) {
		fputs("nasc: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

void llvm_types(LlvmTypes *t, LLVMContextRef ctx, bool f64)
{
	memset(t, 0, sizeof *t);
	t->ctx = ctx;
	t->f64 = LLVMDoubleTypeInContext(ctx);
	t->real = f64 ? t->f64 : LLVMFloatTypeInContext(ctx);
	t->i64 = LLVMInt64TypeInContext(ctx);
	t->i32 = LLVMInt32TypeInContext(ctx);
	t->i8 = LLVMInt8TypeInContext(ctx);
	t->i1 = LLVMInt1TypeInContext(ctx);
	t->vd = LLVMVoidTypeInContext(ctx);
	t->preal = LLVMPointerType(t->real, 0);
	t->pi64 = LLVMPointerType(t->i64, 0);
	t->pi8 = LLVMPointerType(t->i8, 0);

	LLVMTypeRef p = t->pi8, d = t->f64, i = t->i32, l = t->i64;
	static const char *const names[NS_COUNT] = {"NasRun", "NasTensor", "NasSchedule",
						    "NasEdge", "NasCellType", "NasProgram"};
	for (int k = 0; k < NS_COUNT; k++)
		t->s[k] = LLVMStructCreateNamed(ctx, names[k]);
	t->prun = LLVMPointerType(t->s[NS_RUN], 0);
	t->entry = LLVMFunctionType(t->vd, &t->prun, 1, 0);
	t->pfn = LLVMPointerType(t->entry, 0);

	/* params, x, y, arena, seed, step, grads, logits, loss, running,
	 * bn_momentum, drop, tangent, ntangents */
	LLVMTypeRef run[] = {p, p, t->pi64, p, l, l, p, p, d, p, d, p, p, l};
	LLVMStructSetBody(t->s[NS_RUN], run, sizeof run / sizeof *run, 0);
	/* name, kind, rank, shape, numel, offset, fan_in */
	LLVMTypeRef tensor[] = {p, i, i, LLVMArrayType(l, 4), l, l, l};
	LLVMStructSetBody(t->s[NS_TENSOR], tensor, sizeof tensor / sizeof *tensor, 0);
	LLVMTypeRef weights[] = {d, d, d, d, i, i}, arch[] = {d, d, d, d, d}, drop[] = {d, i},
		    cutout[] = {d, l, i}, hessian[] = {i, l, l}, ctrl[] = {i, d, l, l, l, d, d, i};
#define STRUCT(a) LLVMStructTypeInContext(ctx, a, sizeof a / sizeof *a, 0)
	/* epochs, batch, seed, split, second_order, weights, arch, l2,
	 * drop_path, cutout, crop, flip, hessian, controller */
	LLVMTypeRef sched[] = {l, l, l, d, i, STRUCT(weights), STRUCT(arch), d, STRUCT(drop),
			       STRUCT(cutout), l, i, STRUCT(hessian), STRUCT(ctrl)};
#undef STRUCT
	LLVMStructSetBody(t->s[NS_SCHEDULE], sched, sizeof sched / sizeof *sched, 0);
	/* from, to, stride, nops, ops */
	LLVMTypeRef edge[] = {i, i, i, i, p};
	LLVMStructSetBody(t->s[NS_EDGE], edge, sizeof edge / sizeof *edge, 0);
	/* name, alpha, nodes, nedges, edges, nops, keep, nexclude, exclude,
	 * noutputs, outputs, ncells */
	LLVMTypeRef cell[] = {p, i, i, i, p, i, i, i, p, i, p, i};
	LLVMStructSetBody(t->s[NS_CELL_TYPE], cell, sizeof cell / sizeof *cell, 0);
	/* spec, config, nasc_version, real_size, batch, in_c, in_h, in_w,
	 * classes, ntensors, tensors, nparams, nrunning_tensors,
	 * running_tensors, nrunning, ndrop, arena_bytes, flops, schedule,
	 * ncell_types, cell_types, grad, loss, grad_alpha, infer,
	 * hvp_arena_bytes, mixed_arena_bytes, hvp_block, hvp_prepare, hvp,
	 * hvp_on, mixed_prepare, mixed */
	LLVMTypeRef f = t->pfn;
	LLVMTypeRef prog[] = {p, p, p, i, l, l, l, l, l, i, p, l, i, p, l, l, l, l,
			      t->s[NS_SCHEDULE], i, p, f, f, f, f, l, l, i, f, f, p, f, f};
	LLVMStructSetBody(t->s[NS_PROGRAM], prog, sizeof prog / sizeof *prog, 0);
}

/* ---- values and conversions, as C converts ---- */

static LLVMTypeRef ltype(const LL *l, LType t)
{
	switch (t) {
	case LT_INT:
		return l->t.i64;
	case LT_REAL:
		return l->t.real;
	case LT_F64:
		return l->t.f64;
	case LT_BOOL:
		return l->t.i1;
	}
	return l->t.i64;
}

static bool is_float(LType t)
{
	return t == LT_REAL || t == LT_F64;
}

/* C's usual arithmetic conversions: bool and int64 below float below
 * double (a real is double in double precision). */
static int rank(const LL *l, LType t)
{
	return t == LT_F64 || (t == LT_REAL && l->f64) ? 2 : t == LT_REAL ? 1 : 0;
}

static LType common(const LL *l, LType a, LType b)
{
	if (a == b)
		return a;
	int ra = rank(l, a), rb = rank(l, b);
	if (ra != rb)
		return ra > rb ? a : b;
	return ra == 0 ? LT_INT : a;
}

static LLVMValueRef conv(LL *l, LLVMValueRef v, LType from, LType to)
{
	LLVMBuilderRef b = l->f->b;
	if (from == to)
		return v;
	LLVMTypeRef T = ltype(l, to);
	if (is_float(from) && is_float(to)) {
		if (ltype(l, from) == T)
			return v;
		return rank(l, from) < rank(l, to) ? LLVMBuildFPExt(b, v, T, "")
						    : LLVMBuildFPTrunc(b, v, T, "");
	}
	if (is_float(to))
		return from == LT_BOOL ? LLVMBuildUIToFP(b, v, T, "") : LLVMBuildSIToFP(b, v, T, "");
	if (is_float(from))
		return to == LT_BOOL ? LLVMBuildFCmp(b, LLVMRealUNE, v, LLVMConstNull(ltype(l, from)), "")
				     : LLVMBuildFPToSI(b, v, T, "");
	if (to == LT_BOOL)
		return LLVMBuildICmp(b, LLVMIntNE, v, LLVMConstNull(ltype(l, from)), "");
	return LLVMBuildZExt(b, v, T, "");
}

/* Loads and stores at the C alignment of their type. */
static LLVMValueRef load(LL *l, LLVMTypeRef t, LLVMValueRef ptr)
{
	LLVMValueRef v = LLVMBuildLoad2(l->f->b, t, ptr, "");
	LLVMSetAlignment(v, LLVMABIAlignmentOfType(LLVMGetModuleDataLayout(l->mod), t));
	return v;
}

static void store(LL *l, LLVMValueRef v, LLVMValueRef ptr)
{
	LLVMValueRef s = LLVMBuildStore(l->f->b, v, ptr);
	LLVMSetAlignment(s, LLVMABIAlignmentOfType(LLVMGetModuleDataLayout(l->mod), LLVMTypeOf(v)));
}

static LLVMValueRef gep(LL *l, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx)
{
	return LLVMBuildInBoundsGEP2(l->f->b, elem, base, &idx, 1, "");
}

/* A function of the module by name, declared on first use. */
static LLVMValueRef function(LL *l, const char *name, LLVMTypeRef ty)
{
	LLVMValueRef f = LLVMGetNamedFunction(l->mod, name);
	return f ? f : LLVMAddFunction(l->mod, name, ty);
}

static LLVMValueRef call(LL *l, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n,
			 LLVMValueRef *args)
{
	LLVMTypeRef ty = LLVMFunctionType(ret, params, (unsigned)n, 0);
	return LLVMBuildCall2(l->f->b, ty, function(l, name, ty), args, (unsigned)n, "");
}

/* An intrinsic on one or three reals: llvm.NAME.f32 or .f64. */
static LLVMValueRef intrinsic(LL *l, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n)
{
	char full[64];
	snprintf(full, sizeof full, "llvm.%s.%s", name, t == l->t.f64 ? "f64" : "f32");
	LLVMTypeRef params[3] = {t, t, t};
	return call(l, full, t, params, n, args);
}

static LLVMValueRef run_field(LL *l, int field, LLVMTypeRef t)
{
	LLVMValueRef ptr = LLVMBuildStructGEP2(l->f->b, l->t.s[NS_RUN], l->f->run, (unsigned)field, "");
	return load(l, t, ptr);
}

static LLVMValueRef expr(LL *l, const LExpr *x);
static LLVMValueRef use(LL *l, int v);

/* Expression x converted to type t. */
static LLVMValueRef expr_as(LL *l, const LExpr *x, LType t)
{
	return conv(l, expr(l, x), x->type, t);
}

/* x is a product computed in type t (so a * b + c may be fused). */
static bool product_in(const LL *l, const LExpr *x, LType t)
{
	return is_float(t) && x->kind == LE_BIN && x->op == LO_MUL &&
	       ltype(l, common(l, x->a->type, x->b->type)) == ltype(l, t);
}

static LLVMValueRef fmuladd(LL *l, const LExpr *prod, bool negate, LLVMValueRef c, LType t)
{
	LLVMValueRef a = expr_as(l, prod->a, t), args[3];
	args[0] = negate ? LLVMBuildFNeg(l->f->b, a, "") : a;
	args[1] = expr_as(l, prod->b, t);
	args[2] = c;
	return intrinsic(l, "fmuladd", ltype(l, t), args, 3);
}

/* a + b or a - b, in type t: fused when one side is a product. */
static LLVMValueRef add_sub(LL *l, LOp op, const LExpr *a, const LExpr *b, LType t)
{
	LLVMBuilderRef bd = l->f->b;
	if (product_in(l, a, t))
		return fmuladd(l, a, false,
			       op == LO_ADD ? expr_as(l, b, t) : LLVMBuildFNeg(bd, expr_as(l, b, t), ""), t);
	if (product_in(l, b, t))
		return fmuladd(l, b, op == LO_SUB, expr_as(l, a, t), t);
	LLVMValueRef va = expr_as(l, a, t), vb = expr_as(l, b, t);
	return op == LO_ADD ? LLVMBuildFAdd(bd, va, vb, "") : LLVMBuildFSub(bd, va, vb, "");
}

static LLVMValueRef binary(LL *l, const LExpr *x)
{
	LLVMBuilderRef b = l->f->b;
	LType t = common(l, x->a->type, x->b->type);
	bool fl = is_float(t);
	if (x->op == LO_AND || x->op == LO_OR) {
		LLVMValueRef va = expr_as(l, x->a, LT_BOOL), vb = expr_as(l, x->b, LT_BOOL);
		return conv(l, x->op == LO_AND ? LLVMBuildAnd(b, va, vb, "") : LLVMBuildOr(b, va, vb, ""),
			    LT_BOOL, x->type);
	}
	if (fl && (x->op == LO_ADD || x->op == LO_SUB))
		return conv(l, add_sub(l, x->op, x->a, x->b, t), t, x->type);
	LLVMValueRef va = expr_as(l, x->a, t), vb = expr_as(l, x->b, t), v;
	switch (x->op) {
	case LO_ADD:
		v = LLVMBuildNSWAdd(b, va, vb, "");
		break;
	case LO_SUB:
		v = LLVMBuildNSWSub(b, va, vb, "");
		break;
	case LO_MUL:
		v = fl ? LLVMBuildFMul(b, va, vb, "") : LLVMBuildNSWMul(b, va, vb, "");
		break;
	case LO_DIV:
		v = fl ? LLVMBuildFDiv(b, va, vb, "") : LLVMBuildSDiv(b, va, vb, "");
		break;
	case LO_MIN:
	case LO_MAX: {
		/* (a < b ? a : b), (a > b ? a : b) */
		bool mn = x->op == LO_MIN;
		LLVMValueRef c = fl ? LLVMBuildFCmp(b, mn ? LLVMRealOLT : LLVMRealOGT, va, vb, "")
				    : LLVMBuildICmp(b, mn ? LLVMIntSLT : LLVMIntSGT, va, vb, "");
		v = LLVMBuildSelect(b, c, va, vb, "");
		break;
	}
	default: {
		static const LLVMRealPredicate fp[] = {
			[LO_LT] = LLVMRealOLT, [LO_LE] = LLVMRealOLE, [LO_GT] = LLVMRealOGT,
			[LO_GE] = LLVMRealOGE, [LO_EQ] = LLVMRealOEQ, [LO_NE] = LLVMRealUNE,
		};
		static const LLVMIntPredicate ip[] = {
			[LO_LT] = LLVMIntSLT, [LO_LE] = LLVMIntSLE, [LO_GT] = LLVMIntSGT,
			[LO_GE] = LLVMIntSGE, [LO_EQ] = LLVMIntEQ,  [LO_NE] = LLVMIntNE,
		};
		if (t == LT_BOOL) /* two bools compare as ints */
			va = conv(l, va, t, LT_INT), vb = conv(l, vb, t, LT_INT);
		v = fl ? LLVMBuildFCmp(b, fp[x->op], va, vb, "") : LLVMBuildICmp(b, ip[x->op], va, vb, "");
		return conv(l, v, LT_BOOL, x->type);
	}
	}
	return conv(l, v, t, x->type);
}

static LLVMValueRef unary(LL *l, const LExpr *x)
{
	LLVMBuilderRef b = l->f->b;
	LType t = x->a->type;
	switch (x->op) {
	case LO_NEG: {
		if (t == LT_BOOL)
			t = LT_INT;
		LLVMValueRef v = expr_as(l, x->a, t);
		return conv(l, is_float(t) ? LLVMBuildFNeg(b, v, "") : LLVMBuildNSWNeg(b, v, ""), t,
			    x->type);
	}
	case LO_TO_REAL:
		return conv(l, expr_as(l, x->a, LT_REAL), LT_REAL, x->type);
	default: {
		/* sqrtf on a float real, sqrt on anything else */
		LType m = t == LT_REAL ? LT_REAL : LT_F64;
		LLVMValueRef v = expr_as(l, x->a, m);
		const char *name = x->op == LO_SQRT ? "sqrt" : x->op == LO_EXP ? "exp" : "log";
		return conv(l, intrinsic(l, name, ltype(l, m), &v, 1), m, x->type);
	}
	}
}

static LLVMValueRef expr(LL *l, const LExpr *x)
{
	LLVMBuilderRef b = l->f->b;
	switch (x->kind) {
	case LE_INT:
		return conv(l, LLVMConstInt(l->t.i64, (unsigned long long)x->i, 1), LT_INT, x->type);
	case LE_REAL:
		return LLVMConstReal(ltype(l, is_float(x->type) ? x->type : LT_F64), x->r);
	case LE_VAR: {
		const LVarInfo *vi = &l->p->var[x->var];
		LLVMValueRef at = use(l, x->var);
		if (x->a)
			return conv(l, load(l, l->t.real, gep(l, l->t.real, at, expr_as(l, x->a, LT_INT))),
				    LT_REAL, x->type);
		return conv(l, load(l, ltype(l, vi->type), at), vi->type, x->type);
	}
	case LE_LOAD: {
		bool in = l->k->slot_int[x->buf];
		LLVMTypeRef e = in ? l->t.i64 : l->t.real;
		LLVMValueRef v = load(l, e, gep(l, e, l->f->slot[x->buf], expr_as(l, x->a, LT_INT)));
		return conv(l, v, in ? LT_INT : LT_REAL, x->type);
	}
	case LE_BIN:
		return binary(l, x);
	case LE_UN:
		return unary(l, x);
	case LE_SELECT: {
		LType t = common(l, x->b->type, x->c->type);
		LLVMValueRef c = expr_as(l, x->a, LT_BOOL);
		LLVMValueRef v = LLVMBuildSelect(b, c, expr_as(l, x->b, t), expr_as(l, x->c, t), "");
		return conv(l, v, t, x->type);
	}
	case LE_RUN:
		if (x->i == LR_NTANGENTS) {
			LLVMValueRef n = run_field(l, RUN_NTANGENTS, l->t.i64);
			LLVMValueRef one = LLVMConstInt(l->t.i64, 1, 0);
			LLVMValueRef v = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, n, one, ""), n,
							 one, "");
			return conv(l, v, LT_INT, x->type);
		}
		return conv(l, run_field(l, RUN_BN_MOMENTUM, l->t.f64), LT_F64, x->type);
	}
	return NULL;
}

/* ---- statements ---- */

static LLVMBasicBlockRef block(LL *l, const char *name)
{
	return LLVMAppendBasicBlockInContext(l->ctx, l->f->fn, name);
}

/* Variable v's storage in this function: an alloca in its entry block,
 * made by its let (or loop); `use` a read or set, which must come after. */
static LLVMValueRef storage_of(LL *l, int v, bool use)
{
	if (use && !l->f->var[v] && !l->undeclared)
		l->undeclared = l->p->var[v].name;
	if (l->f->var[v])
		return l->f->var[v];
	const LVarInfo *vi = &l->p->var[v];
	LLVMValueRef a;
	if (vi->len > 0) {
		a = LLVMBuildAlloca(l->f->ab, LLVMArrayType(l->t.real, (unsigned)vi->len), vi->name);
		a = LLVMBuildPointerCast(l->f->ab, a, l->t.preal, "");
	} else {
		a = LLVMBuildAlloca(l->f->ab, ltype(l, vi->type), vi->name);
	}
	return l->f->var[v] = a;
}

static LLVMValueRef storage(LL *l, int v)
{
	return storage_of(l, v, false);
}

static LLVMValueRef use(LL *l, int v)
{
	return storage_of(l, v, true);
}

/* A self-referential llvm.loop node with one property. */
static void loop_metadata(LL *l, LLVMValueRef branch, const char *prop, LLVMMetadataRef arg)
{
	LLVMMetadataRef tmp = LLVMTemporaryMDNode(l->ctx, NULL, 0);
	LLVMMetadataRef kv[2] = {LLVMMDStringInContext2(l->ctx, prop, strlen(prop)), arg};
	LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(l->ctx, kv, arg ? 2 : 1)};
	LLVMMetadataRef node = LLVMMDNodeInContext2(l->ctx, ops, 2);
	LLVMMetadataReplaceAllUsesWith(tmp, node);
	LLVMSetMetadata(branch, l->loop_kind, LLVMMetadataAsValue(l->ctx, node));
}

static void stmts(LL *l, const LStmt *s);

/* Whether statements s hold a loop that is not unrolled. */
static bool has_loop(const LStmt *s)
{
	for (; s; s = s->next)
		if ((s->kind == LS_FOR && (!s->unroll || has_loop(s->body))) ||
		    (s->kind == LS_IF && (has_loop(s->body) || has_loop(s->els))))
			return true;
	return false;
}

/* Left to themselves, LLVM 19's passes made the depthwise convolutions of
 * config A 1.2 to 10 times slower than GCC's:
 * - Fully unrolling the 5x5 taps around a vectorized row hoisted 75
 *   weight broadcasts out of the row loop and spilled them, so an
 *   unrolled loop with a loop inside is left to LLVM's own unroller.
 * - Once it had unrolled a 7x7 output block itself, the vectorizer took
 *   the 5-tap loop outside it, with masked 2-lane loads and stores that
 *   stall on store forwarding, so a loop with a loop inside does not
 *   vectorize (what lies inside may still). */
LlvmLoopHint llvm_loop_hint(const LStmt *s)
{
	bool outer = has_loop(s->body);
	if (s->unroll && !outer)
		return LOOP_UNROLL;
	if (s->nsums)
		return LOOP_VECTORIZE;
	return outer ? LOOP_NO_VECTORIZE : LOOP_ANY;
}

/* for (v = lo; v < hi; v++) body, hi evaluated before each iteration as
 * in C; `prop` (or NULL) goes on the back edge. */
static void serial_loop(LL *l, int var, LLVMValueRef lo, const LExpr *hi_expr, LLVMValueRef hi,
			const LStmt *body, const char *prop, LLVMMetadataRef arg)
{
	LLVMBuilderRef b = l->f->b;
	LLVMValueRef iv = storage(l, var);
	store(l, lo, iv);
	LLVMBasicBlockRef head = block(l, "head"), bodyb = block(l, "body"), exit = block(l, "exit");
	LLVMBuildBr(b, head);
	LLVMPositionBuilderAtEnd(b, head);
	LLVMValueRef i = load(l, l->t.i64, iv);
	LLVMValueRef h = hi_expr ? expr_as(l, hi_expr, LT_INT) : hi;
	LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, h, ""), bodyb, exit);
	LLVMPositionBuilderAtEnd(b, bodyb);
	stmts(l, body);
	LLVMValueRef next = LLVMBuildNSWAdd(b, load(l, l->t.i64, iv), LLVMConstInt(l->t.i64, 1, 0), "");
	store(l, next, iv);
	LLVMValueRef back = LLVMBuildBr(b, head);
	if (prop)
		loop_metadata(l, back, prop, arg);
	LLVMPositionBuilderAtEnd(b, exit);
}

/* The variables statements s read or write without declaring them. */
static void uses_expr(const LExpr *x, bool *used)
{
	if (!x)
		return;
	if (x->kind == LE_VAR)
		used[x->var] = true;
	uses_expr(x->a, used);
	uses_expr(x->b, used);
	uses_expr(x->c, used);
}

static void uses(const LStmt *s, bool *used, bool *declared)
{
	for (; s; s = s->next) {
		switch (s->kind) {
		case LS_FOR:
			declared[s->var] = true;
			uses_expr(s->lo, used);
			uses_expr(s->hi, used);
			break;
		case LS_LET:
			declared[s->var] = true;
			break;
		case LS_SET:
			used[s->var] = true;
			break;
		case LS_GEMM:
			uses_expr(s->gemm->aoff, used);
			uses_expr(s->gemm->boff, used);
			uses_expr(s->gemm->coff, used);
			break;
		default:
			break;
		}
		uses_expr(s->idx, used);
		uses_expr(s->a, used);
		uses(s->body, used, declared);
		uses(s->els, used, declared);
	}
}

static void fn_begin(LL *l, Fn *f, LLVMValueRef fn)
{
	memset(f, 0, sizeof *f);
	f->fn = fn;
	f->b = LLVMCreateBuilderInContext(l->ctx);
	f->ab = LLVMCreateBuilderInContext(l->ctx);
	f->var = llvm_calloc((size_t)l->p->nvar, sizeof *f->var);
	f->entry = LLVMAppendBasicBlockInContext(l->ctx, fn, "entry");
	LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(l->ctx, fn, "start");
	LLVMPositionBuilderAtEnd(f->ab, f->entry);
	LLVMPositionBuilderAtEnd(f->b, start);
	l->f = f;
}

/* Close the function: the allocas fall through to the code. */
static void fn_end(LL *l, Fn *f)
{
	LLVMBuildRetVoid(f->b);
	LLVMBuildBr(f->ab, LLVMGetNextBasicBlock(f->entry));
	LLVMDisposeBuilder(f->b);
	LLVMDisposeBuilder(f->ab);
	free(f->var);
	l->f = NULL;
}

static void attribute(LL *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name)
{
	unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
	LLVMAddAttributeAtIndex(fn, at, LLVMCreateEnumAttribute(l->ctx, kind, 0));
}

static LLVMValueRef internal_function(LL *l, const char *name, LLVMTypeRef ty, bool inline_ok)
{
	LLVMValueRef fn = LLVMAddFunction(l->mod, name, ty);
	LLVMSetLinkage(fn, LLVMInternalLinkage);
	attribute(l, fn, LLVMAttributeFunctionIndex, "nounwind");
	if (!inline_ok)
		attribute(l, fn, LLVMAttributeFunctionIndex, "noinline");
	return fn;
}

/* A parallel loop: the iterations [lo, hi) split as GCC's static schedule
 * splits them (the first n % threads threads take one more), each thread
 * running its share in a worker that gets the kernel's buffers as
 * noalias parameters, called by an outlined function that GOMP_parallel
 * runs on every thread with a frame of what the loop reads. */
static void parallel_loop(LL *l, const LStmt *s)
{
	const LProgram *p = l->p;
	const LKernel *k = l->k;
	Fn *outer = l->f;
	bool *used = llvm_calloc((size_t)p->nvar, sizeof *used);
	bool *declared = llvm_calloc((size_t)p->nvar, sizeof *declared);
	uses(s->body, used, declared);
	declared[s->var] = true;

	/* the worker's parameters: slots, run, lo, hi, free variables */
	int n = 0, cap = k->nslot + 3 + p->nvar;
	LLVMTypeRef *pt = llvm_calloc((size_t)cap, sizeof *pt);
	LLVMValueRef *pv = llvm_calloc((size_t)cap, sizeof *pv);
	for (int i = 0; i < k->nslot; i++, n++)
		pt[n] = k->slot_int[i] ? l->t.pi64 : l->t.preal, pv[n] = outer->slot[i];
	pt[n] = l->t.prun, pv[n++] = outer->run ? outer->run : LLVMConstNull(l->t.prun);
	int lo_at = n;
	pt[n] = l->t.i64, pv[n++] = expr_as(l, s->lo, LT_INT);
	pt[n] = l->t.i64, pv[n++] = expr_as(l, s->hi, LT_INT);
	int free_at = n;
	for (int v = 0; v < p->nvar; v++) {
		if (!used[v] || declared[v])
			continue;
		if (p->var[v].len > 0)
			pt[n] = l->t.preal, pv[n++] = use(l, v);
		else
			pt[n] = ltype(l, p->var[v].type), pv[n++] = load(l, ltype(l, p->var[v].type),
								       use(l, v));
	}

	/* the frame, filled in the caller */
	LLVMTypeRef frame = LLVMStructTypeInContext(l->ctx, pt, (unsigned)n, 0);
	LLVMValueRef fr = LLVMBuildAlloca(outer->ab, frame, "frame");
	for (int i = 0; i < n; i++)
		store(l, pv[i], LLVMBuildStructGEP2(outer->b, frame, fr, (unsigned)i, ""));

	char name[256];
	int id = l->outlined++;
	snprintf(name, sizeof name, "%s.par%d", k->name, id);
	LLVMValueRef worker = internal_function(l, name, LLVMFunctionType(l->t.vd, pt, (unsigned)n, 0),
						true);
	for (int i = 0; i < k->nslot; i++)
		attribute(l, worker, (LLVMAttributeIndex)(i + 1), "noalias");
	snprintf(name, sizeof name, "%s.omp%d", k->name, id);
	LLVMTypeRef omp_ty = LLVMFunctionType(l->t.vd, &l->t.pi8, 1, 0);
	LLVMValueRef omp = internal_function(l, name, omp_ty, true);

	/* GOMP_parallel(fn, data, 0 threads: the default, no flags) */
	LLVMTypeRef gp[] = {LLVMPointerType(omp_ty, 0), l->t.pi8, l->t.i32, l->t.i32};
	LLVMValueRef ga[] = {omp, LLVMBuildPointerCast(outer->b, fr, l->t.pi8, ""),
			     LLVMConstNull(l->t.i32), LLVMConstNull(l->t.i32)};
	call(l, "GOMP_parallel", l->t.vd, gp, 4, ga);

	/* the outlined function: this thread's share, then the worker */
	Fn of;
	fn_begin(l, &of, omp);
	LLVMBuilderRef b = of.b;
	LLVMValueRef frp = LLVMBuildPointerCast(b, LLVMGetParam(omp, 0), LLVMPointerType(frame, 0), "");
	LLVMValueRef *args = llvm_calloc((size_t)n, sizeof *args);
	for (int i = 0; i < n; i++)
		args[i] = load(l, pt[i], LLVMBuildStructGEP2(b, frame, frp, (unsigned)i, ""));
	LLVMValueRef nt = LLVMBuildSExt(b, call(l, "omp_get_num_threads", l->t.i32, NULL, 0, NULL),
					l->t.i64, "");
	LLVMValueRef id64 = LLVMBuildSExt(b, call(l, "omp_get_thread_num", l->t.i32, NULL, 0, NULL),
					  l->t.i64, "");
	LLVMValueRef zero = LLVMConstNull(l->t.i64);
	LLVMValueRef cnt = LLVMBuildNSWSub(b, args[lo_at + 1], args[lo_at], "");
	cnt = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, cnt, zero, ""), cnt, zero, "");
	LLVMValueRef q = LLVMBuildSDiv(b, cnt, nt, ""), r = LLVMBuildSRem(b, cnt, nt, "");
	LLVMValueRef first = LLVMBuildICmp(b, LLVMIntSLT, id64, r, "");
	LLVMValueRef mine = LLVMBuildSelect(
		b, first, LLVMBuildNSWAdd(b, q, LLVMConstInt(l->t.i64, 1, 0), ""), q, "");
	LLVMValueRef start = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, id64, q, ""),
					     LLVMBuildSelect(b, first, id64, r, ""), "");
	args[lo_at] = LLVMBuildNSWAdd(b, args[lo_at], start, "");
	args[lo_at + 1] = LLVMBuildNSWAdd(b, args[lo_at], mine, "");
	LLVMBuildCall2(b, LLVMFunctionType(l->t.vd, pt, (unsigned)n, 0), worker, args, (unsigned)n,
		       "");
	fn_end(l, &of);

	/* the worker: the loop over its share */
	Fn wf;
	fn_begin(l, &wf, worker);
	for (int i = 0; i < k->nslot; i++)
		wf.slot[i] = LLVMGetParam(worker, (unsigned)i);
	wf.run = LLVMGetParam(worker, (unsigned)k->nslot);
	int at = free_at;
	for (int v = 0; v < p->nvar; v++) {
		if (!used[v] || declared[v])
			continue;
		LLVMValueRef a = LLVMGetParam(worker, (unsigned)at++);
		if (p->var[v].len > 0)
			wf.var[v] = a;
		else
			store(l, a, storage(l, v));
	}
	l->in_parallel++;
	serial_loop(l, s->var, LLVMGetParam(worker, (unsigned)lo_at), NULL,
		    LLVMGetParam(worker, (unsigned)lo_at + 1), s->body, NULL, NULL);
	l->in_parallel--;
	fn_end(l, &wf);

	l->f = outer;
	free(args);
	free(pt);
	free(pv);
	free(used);
	free(declared);
}

/* buf[idx] = v or buf[idx] += v, in the buffer's element type. */
static void store_stmt(LL *l, const LStmt *s)
{
	bool in = l->k->slot_int[s->buf];
	LType et = in ? LT_INT : LT_REAL;
	LLVMTypeRef e = ltype(l, et);
	LLVMValueRef ptr = gep(l, e, l->f->slot[s->buf], expr_as(l, s->idx, LT_INT));
	if (s->kind == LS_STORE) {
		store(l, expr_as(l, s->a, et), ptr);
		return;
	}
	/* C's buf[idx] += a: the sum in the wider type, stored back */
	LType t = common(l, et, s->a->type);
	LLVMValueRef old = conv(l, load(l, e, ptr), et, t), v;
	if (product_in(l, s->a, t))
		v = fmuladd(l, s->a, false, old, t);
	else if (is_float(t))
		v = LLVMBuildFAdd(l->f->b, old, expr_as(l, s->a, t), "");
	else
		v = LLVMBuildNSWAdd(l->f->b, old, expr_as(l, s->a, t), "");
	store(l, conv(l, v, t, et), ptr);
}

static void gemm(LL *l, const LGemm *g)
{
	LLVMTypeRef i = l->t.i32, r = l->t.real, pr = l->t.preal;
	LLVMTypeRef pt[] = {i, i, i, i, i, i, r, pr, i, pr, i, r, pr, i};
	/* CblasRowMajor, CblasNoTrans and CblasTrans are 101, 111 and 112 */
	LLVMValueRef a[] = {
		LLVMConstInt(i, 101, 0),
		LLVMConstInt(i, g->ta ? 112 : 111, 0),
		LLVMConstInt(i, g->tb ? 112 : 111, 0),
		LLVMConstInt(i, (unsigned long long)g->m, 0),
		LLVMConstInt(i, (unsigned long long)g->n, 0),
		LLVMConstInt(i, (unsigned long long)g->k, 0),
		LLVMConstReal(r, g->alpha),
		gep(l, r, l->f->slot[g->a], expr_as(l, g->aoff, LT_INT)),
		LLVMConstInt(i, (unsigned long long)g->lda, 0),
		gep(l, r, l->f->slot[g->b], expr_as(l, g->boff, LT_INT)),
		LLVMConstInt(i, (unsigned long long)g->ldb, 0),
		LLVMConstReal(r, g->beta),
		gep(l, r, l->f->slot[g->c], expr_as(l, g->coff, LT_INT)),
		LLVMConstInt(i, (unsigned long long)g->ldc, 0),
	};
	call(l, l->f64 ? "cblas_dgemm" : "cblas_sgemm", l->t.vd, pt, 14, a);
}

static void stmts(LL *l, const LStmt *s)
{
	for (; s; s = s->next) {
		LLVMBuilderRef b = l->f->b;
		switch (s->kind) {
		case LS_FOR: {
			bool par = s->parallel && !l->in_parallel;
#ifdef NASC_LLVM_OPENMP
			if (par) {
				parallel_loop(l, s);
				break;
			}
#endif
			/* as emit_c.c's pragmas: none on a parallel loop run serially */
			LlvmLoopHint h = par ? LOOP_ANY : llvm_loop_hint(s);
			const char *prop = h == LOOP_UNROLL ? "llvm.loop.unroll.full"
					 : h != LOOP_ANY ? "llvm.loop.vectorize.enable" : NULL;
			LLVMMetadataRef arg = NULL;
			if (h == LOOP_VECTORIZE || h == LOOP_NO_VECTORIZE)
				arg = LLVMValueAsMetadata(LLVMConstInt(l->t.i1, h == LOOP_VECTORIZE, 0));
			serial_loop(l, s->var, expr_as(l, s->lo, LT_INT), s->hi, NULL, s->body, prop, arg);
			break;
		}
		case LS_LET:
			if (!s->a) {
				storage(l, s->var);
				break;
			}
			/* fall through */
		case LS_SET: {
			const LVarInfo *vi = &l->p->var[s->var];
			LLVMValueRef at = s->kind == LS_LET ? storage(l, s->var) : use(l, s->var);
			if (s->idx)
				store(l, expr_as(l, s->a, LT_REAL),
				      gep(l, l->t.real, at, expr_as(l, s->idx, LT_INT)));
			else
				store(l, expr_as(l, s->a, vi->type), at);
			break;
		}
		case LS_STORE:
		case LS_ACCUM:
			store_stmt(l, s);
			break;
		case LS_IF: {
			LLVMValueRef c = expr_as(l, s->a, LT_BOOL);
			LLVMBasicBlockRef then = block(l, "then"), els = s->els ? block(l, "else") : NULL,
					  join = block(l, "join");
			LLVMBuildCondBr(b, c, then, els ? els : join);
			LLVMPositionBuilderAtEnd(b, then);
			stmts(l, s->body);
			LLVMBuildBr(b, join);
			if (els) {
				LLVMPositionBuilderAtEnd(b, els);
				stmts(l, s->els);
				LLVMBuildBr(b, join);
			}
			LLVMPositionBuilderAtEnd(b, join);
			break;
		}
		case LS_GEMM:
			gemm(l, s->gemm);
			break;
		case LS_NOISE: {
			LLVMTypeRef pt[] = {l->t.preal, l->t.i64, l->t.prun, l->t.i32};
			LLVMValueRef a[] = {gep(l, l->t.real, l->f->slot[s->buf], expr_as(l, s->idx, LT_INT)),
					    expr_as(l, s->a, LT_INT), l->f->run,
					    LLVMConstInt(l->t.i32, (unsigned long long)s->value, 0)};
			call(l, l->f64 ? "nas_noise_f64" : "nas_noise_f32", l->t.vd, pt, 4, a);
			break;
		}
		case LS_COMMENT:
			break;
		}
	}
}

/* Kernel k as an internal function (run first when it reads the run,
 * then its slots, noalias); it stays out of line, so that the optimizer
 * works on one kernel at a time. */
static LLVMValueRef kernel(LL *l, const LKernel *k)
{
	LLVMTypeRef pt[LK_MAX_SLOTS + 1];
	int n = 0;
	if (k->uses_run)
		pt[n++] = l->t.prun;
	for (int i = 0; i < k->nslot; i++)
		pt[n++] = k->slot_int[i] ? l->t.pi64 : l->t.preal;
	LLVMValueRef fn = internal_function(l, k->name, LLVMFunctionType(l->t.vd, pt, (unsigned)n, 0),
					    false);
	Fn f;
	l->k = k;
	fn_begin(l, &f, fn);
	int at = 0;
	if (k->uses_run)
		f.run = LLVMGetParam(fn, (unsigned)at++);
	for (int i = 0; i < k->nslot; i++) {
		attribute(l, fn, (LLVMAttributeIndex)(at + 1), "noalias");
		f.slot[i] = LLVMGetParam(fn, (unsigned)at++);
	}
	stmts(l, k->body);
	fn_end(l, &f);
	if (l->undeclared) {
		fprintf(stderr, "nasc: internal error: kernel %s (from %s) uses %s before its let\n",
			k->name, k->origin, l->undeclared);
		return NULL;
	}
	return fn;
}

/* ---- entry points ---- */

/* The pointers an entry passes, by space (emit_c.c's entry_prologue). */
typedef struct Bases {
	LLVMValueRef base[LS_TANGENT + 1];
} Bases;

static LLVMValueRef buf_ptr(LL *l, const Bases *bs, int bi)
{
	const LBuf *x = &l->p->buf[bi];
	LLVMValueRef p = bs->base[x->space];
	if (x->space == LS_Y)
		return p;
	if (x->space != LS_X)
		p = gep(l, l->t.real, p, LLVMConstInt(l->t.i64, (unsigned long long)x->offset, 1));
	/* an int64 buffer in the arena: its offset counts reals */
	return x->is_int ? LLVMBuildPointerCast(l->f->b, p, l->t.pi64, "") : p;
}

static LLVMValueRef real_field(LL *l, int field)
{
	return LLVMBuildPointerCast(l->f->b, run_field(l, field, l->t.pi8), l->t.preal, "");
}

/* An entry point: the ones of the drop-path scale when asked and the run
 * has no mask, its kernel calls, then the loss and logits from their
 * buffers (loss_buf < 0: none). */
static LLVMValueRef entry(LL *l, const LLVMValueRef *kfn, const char *name, const LEntry *en,
			  const Lowered *L, bool drops, int64_t ones, int loss_buf, int logits_buf)
{
	LLVMValueRef fn = internal_function(l, name, l->t.entry, true);
	Fn f;
	fn_begin(l, &f, fn);
	LLVMBuilderRef b = f.b;
	f.run = LLVMGetParam(fn, 0);
	Bases bs;
	memset(&bs, 0, sizeof bs);
	LLVMValueRef A = real_field(l, RUN_ARENA);
	bs.base[LS_ARENA] = A;
	bs.base[LS_PARAMS] = real_field(l, RUN_PARAMS);
	bs.base[LS_GRADS] = real_field(l, RUN_GRADS);
	bs.base[LS_X] = real_field(l, RUN_X);
	bs.base[LS_Y] = run_field(l, RUN_Y, l->t.pi64);
	LLVMValueRef R = real_field(l, RUN_RUNNING);
	bs.base[LS_RUNNING] = R;
	bs.base[LS_TANGENT] = real_field(l, RUN_TANGENT);
	LLVMValueRef ones_ptr = gep(l, l->t.real, A, LLVMConstInt(l->t.i64, (unsigned long long)ones, 1));
	LLVMValueRef drop = real_field(l, RUN_DROP);
	LLVMValueRef no_drop = LLVMBuildICmp(b, LLVMIntEQ, drop, LLVMConstNull(l->t.preal), "");
	bs.base[LS_DROP] = LLVMBuildSelect(b, no_drop, ones_ptr, drop, "");
	if (drops && L->ndrop > 0) {
		LLVMBasicBlockRef fill = block(l, "fill"), go = block(l, "calls");
		LLVMBuildCondBr(b, no_drop, fill, go);
		LLVMPositionBuilderAtEnd(b, fill);
		LLVMValueRef iv = LLVMBuildAlloca(f.ab, l->t.i64, "i");
		store(l, LLVMConstNull(l->t.i64), iv);
		LLVMBasicBlockRef head = block(l, "head"), body = block(l, "body");
		LLVMBuildBr(b, head);
		LLVMPositionBuilderAtEnd(b, head);
		LLVMValueRef i = load(l, l->t.i64, iv);
		LLVMValueRef n = LLVMConstInt(l->t.i64, (unsigned long long)(L->ndrop * L->batch), 1);
		LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, n, ""), body, go);
		LLVMPositionBuilderAtEnd(b, body);
		store(l, LLVMConstReal(l->t.real, 1), gep(l, l->t.real, ones_ptr, i));
		store(l, LLVMBuildNSWAdd(b, i, LLVMConstInt(l->t.i64, 1, 0), ""), iv);
		LLVMBuildBr(b, head);
		LLVMPositionBuilderAtEnd(b, go);
	}
	for (int i = 0; i < en->ncall; i++) {
		const LCall *c = &en->call[i];
		const LKernel *k = &l->p->kern[c->kern];
		LLVMValueRef args[LK_MAX_SLOTS + 1];
		LLVMTypeRef pt[LK_MAX_SLOTS + 1];
		int n = 0;
		if (k->uses_run)
			pt[n] = l->t.prun, args[n++] = f.run;
		for (int j = 0; j < k->nslot; j++) {
			pt[n] = k->slot_int[j] ? l->t.pi64 : l->t.preal;
			args[n++] = buf_ptr(l, &bs, c->buf[j]);
		}
		LLVMBasicBlockRef after = NULL;
		if (c->if_running) {
			LLVMBasicBlockRef yes = block(l, "running");
			after = block(l, "next");
			LLVMValueRef has = LLVMBuildICmp(b, LLVMIntNE, R, LLVMConstNull(l->t.preal), "");
			LLVMBuildCondBr(b, has, yes, after);
			LLVMPositionBuilderAtEnd(b, yes);
		}
		LLVMBuildCall2(b, LLVMFunctionType(l->t.vd, pt, (unsigned)n, 0), kfn[c->kern], args,
			       (unsigned)n, "");
		if (after) {
			LLVMBuildBr(b, after);
			LLVMPositionBuilderAtEnd(b, after);
		}
	}
	if (loss_buf >= 0) {
		LLVMValueRef loss = load(l, l->t.real, buf_ptr(l, &bs, loss_buf));
		store(l, conv(l, loss, LT_REAL, LT_F64),
		      LLVMBuildStructGEP2(b, l->t.s[NS_RUN], f.run, RUN_LOSS, ""));
		LLVMValueRef out = run_field(l, RUN_LOGITS, l->t.pi8);
		LLVMBasicBlockRef copy = block(l, "logits"), done = block(l, "done");
		LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntNE, out, LLVMConstNull(l->t.pi8), ""), copy,
				done);
		LLVMPositionBuilderAtEnd(b, copy);
		LLVMValueRef src = LLVMBuildPointerCast(b, buf_ptr(l, &bs, logits_buf), l->t.pi8, "");
		int64_t bytes = L->batch * L->classes * (int64_t)(l->f64 ? 8 : 4);
		LLVMBuildMemCpy(b, out, 1, src, 1, LLVMConstInt(l->t.i64, (unsigned long long)bytes, 0));
		LLVMBuildBr(b, done);
		LLVMPositionBuilderAtEnd(b, done);
	}
	fn_end(l, &f);
	return fn;
}

static void prepared(LL *l, const LLVMValueRef *kfn, const char *name, const LPrepared *pg,
		     const Lowered *L, LLVMValueRef *prep, LLVMValueRef *run, LLVMValueRef **on)
{
	char buf[80];
	snprintf(buf, sizeof buf, "%s_prepare", name);
	*prep = entry(l, kfn, buf, &pg->prepare, L, true, pg->ones, pg->loss_buf, pg->logits_buf);
	*run = entry(l, kfn, name, &pg->run, L, true, pg->ones, -1, -1);
	if (!on)
		return;
	*on = NULL;
	if (!pg->non)
		return;
	*on = llvm_calloc((size_t)L->ntensors, sizeof **on);
	for (int i = 0; i < pg->non; i++) {
		snprintf(buf, sizeof buf, "%s_on_%d", name, pg->on_tensor[i]);
		(*on)[pg->on_tensor[i]] = entry(l, kfn, buf, &pg->on[i], L, true, pg->ones, -1, -1);
	}
}

/* ---- the module, and what becomes of it ---- */

static LLVMTargetMachineRef host_machine(char **triple)
{
	LLVMInitializeNativeTarget();
	LLVMInitializeNativeAsmPrinter();
	*triple = LLVMGetDefaultTargetTriple();
	LLVMTargetRef target;
	char *err = NULL;
	if (LLVMGetTargetFromTriple(*triple, &target, &err)) {
		fprintf(stderr, "nasc: LLVM has no target for %s: %s\n", *triple, err);
		LLVMDisposeMessage(err);
		return NULL;
	}
	char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
	LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, *triple, cpu, features,
							  LLVMCodeGenLevelAggressive, LLVMRelocPIC,
							  LLVMCodeModelDefault);
	LLVMDisposeMessage(cpu);
	LLVMDisposeMessage(features);
	return tm;
}

/* The first function of the module the verifier rejects, with its
 * messages; NULL if none. */
static const char *rejected(LLVMModuleRef m)
{
	for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
		if (LLVMCountBasicBlocks(f) > 0 && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
			size_t n;
			return LLVMGetValueName2(f, &n);
		}
	return NULL;
}

static int build_module(LL *l, const Lowered *L, const EmitInfo *info)
{
	LLVMValueRef *kfn = llvm_calloc((size_t)L->p.nkern, sizeof *kfn);
	for (int k = 0; k < L->p.nkern; k++)
		if (L->p.kern[k].calls > 0 && !(kfn[k] = kernel(l, &L->p.kern[k]))) {
			free(kfn);
			return -1;
		}
	LlvmEntries en;
	memset(&en, 0, sizeof en);
	int64_t ones = L->ones_offset;
	en.grad = entry(l, kfn, "run_grad", &L->grad, L, true, ones, L->loss_buf, L->logits_buf);
	en.loss = entry(l, kfn, "run_loss", &L->loss, L, true, ones, L->loss_buf, L->logits_buf);
	en.grad_alpha = entry(l, kfn, "run_grad_alpha", &L->grad_alpha, L, true, ones, L->loss_buf,
			      L->logits_buf);
	if (L->infer_loss_buf >= 0)
		en.infer = entry(l, kfn, "run_infer", &L->infer, L, false, ones, L->infer_loss_buf,
				 L->infer_logits_buf);
	if (L->hvp.loss_buf >= 0)
		prepared(l, kfn, "run_hvp", &L->hvp, L, &en.hvp_prepare, &en.hvp, &en.hvp_on);
	if (L->mixed.loss_buf >= 0)
		prepared(l, kfn, "run_mixed", &L->mixed, L, &en.mixed_prepare, &en.mixed, NULL);
	llvm_program(l->mod, &l->t, L, info, &en);
	free(en.hvp_on);
	free(kfn);

	const char *bad = rejected(l->mod);
	if (bad) {
		const char *origin = "";
		for (int k = 0; k < L->p.nkern; k++)
			if (strncmp(bad, L->p.kern[k].name, strlen(L->p.kern[k].name)) == 0)
				origin = L->p.kern[k].origin;
		fprintf(stderr, "nasc: internal error: the LLVM verifier rejects %s%s%s:\n", bad,
			*origin ? ", from " : "", origin);
		LLVMVerifyFunction(LLVMGetNamedFunction(l->mod, bad), LLVMPrintMessageAction);
		return -1;
	}
	char *msg = NULL;
	if (LLVMVerifyModule(l->mod, LLVMReturnStatusAction, &msg)) {
		fprintf(stderr, "nasc: internal error: the LLVM verifier rejects the module:\n%s\n", msg);
		LLVMDisposeMessage(msg);
		return -1;
	}
	LLVMDisposeMessage(msg);
	return 0;
}

/* Write to a temporary file beside path, renamed over it when complete. */
static char *temp_beside(const char *path)
{
	size_t n = strlen(path) + 16;
	char *t = llvm_calloc(n, 1);
	snprintf(t, n, "%s.tmp%ld", path, (long)getpid());
	return t;
}

int emit_llvm(const Lowered *L, const EmitInfo *info, LlvmOutput what, const char *path)
{
	char *triple = NULL;
	LLVMTargetMachineRef tm = host_machine(&triple);
	if (!tm) {
		LLVMDisposeMessage(triple);
		return -1;
	}
	LL l;
	memset(&l, 0, sizeof l);
	l.ctx = LLVMContextCreate();
	l.mod = LLVMModuleCreateWithNameInContext(info->spec, l.ctx);
	l.p = &L->p;
	l.f64 = info->f64;
	l.loop_kind = LLVMGetMDKindIDInContext(l.ctx, "llvm.loop", 9);
	LLVMSetTarget(l.mod, triple);
	LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
	LLVMSetModuleDataLayout(l.mod, dl);
	llvm_types(&l.t, l.ctx, info->f64);

	int rc = build_module(&l, L, info);
	char *err = NULL;
	char *tmp = strcmp(path, "-") == 0 ? NULL : temp_beside(path);
	if (rc == 0 && what == LLVM_IR) {
		if (!tmp) {
			char *s = LLVMPrintModuleToString(l.mod);
			fputs(s, stdout);
			LLVMDisposeMessage(s);
		} else if (LLVMPrintModuleToFile(l.mod, tmp, &err)) {
			rc = -1;
		}
	} else if (rc == 0) {
		LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
		LLVMPassBuilderOptionsSetLoopVectorization(o, 1);
		LLVMPassBuilderOptionsSetSLPVectorization(o, 1);
		LLVMPassBuilderOptionsSetLoopUnrolling(o, 1);
		LLVMPassBuilderOptionsSetLoopInterleaving(o, 1);
		LLVMErrorRef e = LLVMRunPasses(l.mod, "default<O3>", tm, o);
		LLVMDisposePassBuilderOptions(o);
		if (e) {
			char *m = LLVMGetErrorMessage(e);
			fprintf(stderr, "nasc: internal error: LLVM's O3 pipeline failed: %s\n", m);
			LLVMDisposeErrorMessage(m);
			rc = -1;
		} else if (LLVMTargetMachineEmitToFile(tm, l.mod, tmp, LLVMObjectFile, &err)) {
			rc = -1;
		}
	}
	if (err) {
		fprintf(stderr, "nasc: writing %s: %s\n", path, err);
		LLVMDisposeMessage(err);
	}
	if (tmp && rc == 0 && rename(tmp, path) != 0) {
		fprintf(stderr, "nasc: writing %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (tmp && rc != 0)
		unlink(tmp);
	free(tmp);
	LLVMDisposeTargetData(dl);
	LLVMDisposeModule(l.mod);
	LLVMContextDispose(l.ctx);
	LLVMDisposeTargetMachine(tm);
	LLVMDisposeMessage(triple);
	return rc;
}

const char *emit_llvm_version(void)
{
	return LLVM_VERSION_STRING;
}

/* The offsets of type t's fields from `base`, nested structs and arrays
 * flattened. */
static int offsets(LLVMTargetDataRef dl, LLVMTypeRef t, int64_t base, int64_t *off, int n, int at)
{
	unsigned k = LLVMCountStructElementTypes(t);
	LLVMTypeRef *el = llvm_calloc(k, sizeof *el);
	LLVMGetStructElementTypes(t, el);
	for (unsigned i = 0; i < k; i++) {
		int64_t o = base + (int64_t)LLVMOffsetOfElement(dl, t, i);
		if (LLVMGetTypeKind(el[i]) == LLVMStructTypeKind) {
			at = offsets(dl, el[i], o, off, n, at);
		} else if (LLVMGetTypeKind(el[i]) == LLVMArrayTypeKind) {
			int64_t size = (int64_t)LLVMABISizeOfType(dl, LLVMGetElementType(el[i]));
			for (unsigned j = 0; j < LLVMGetArrayLength(el[i]) && at < n; j++)
				off[at++] = o + (int64_t)j * size;
		} else if (at < n) {
			off[at++] = o;
		}
	}
	free(el);
	return at;
}

int emit_llvm_layout(const char *name, int64_t *off, int n)
{
	char *triple = NULL;
	LLVMTargetMachineRef tm = host_machine(&triple);
	if (!tm)
		return -1;
	LLVMContextRef ctx = LLVMContextCreate();
	LlvmTypes t;
	llvm_types(&t, ctx, false);
	LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
	int got = -1;
	for (int k = 0; k < NS_COUNT; k++) {
		const char *s = LLVMGetStructName(t.s[k]);
		if (strcmp(s, name) != 0)
			continue;
		got = offsets(dl, t.s[k], 0, off, n, 0);
		if (got < n)
			off[got++] = (int64_t)LLVMABISizeOfType(dl, t.s[k]);
	}
	LLVMDisposeTargetData(dl);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	LLVMDisposeMessage(triple);
	return got;
}
