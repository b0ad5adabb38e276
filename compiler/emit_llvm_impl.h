/* emit_llvm_impl.h - what the two halves of the LLVM backend share:
 * emit_llvm.c builds the kernels and entry points, emit_llvm_meta.c the
 * program's description (nasrt.h's NasProgram and what it points to) and
 * main(). */
#ifndef NASC_EMIT_LLVM_IMPL_H
#define NASC_EMIT_LLVM_IMPL_H

#include <llvm-c/Core.h>

#include "emit_llvm.h"

/* The nasrt.h structs, as LLVM types whose natural layout is the C one. */
typedef enum LlvmStruct {
	NS_RUN, NS_TENSOR, NS_SCHEDULE, NS_EDGE, NS_CELL_TYPE, NS_PROGRAM, NS_COUNT
} LlvmStruct;

/* The fields of NasRun that generated code reads and writes. */
enum {
	RUN_PARAMS = 0, RUN_X = 1, RUN_Y = 2, RUN_ARENA = 3, RUN_GRADS = 6, RUN_LOGITS = 7,
	RUN_LOSS = 8, RUN_RUNNING = 9, RUN_BN_MOMENTUM = 10, RUN_DROP = 11, RUN_TANGENT = 12,
	RUN_NTANGENTS = 13,
};

typedef struct LlvmTypes {
	LLVMContextRef ctx;
	LLVMTypeRef real, f64, i64, i32, i8, i1, vd;
	LLVMTypeRef preal, pi64, pi8, pfn; /* pointers to real, int64, char, an entry */
	LLVMTypeRef entry;                 /* void (NasRun *) */
	LLVMTypeRef s[NS_COUNT];
	LLVMTypeRef prun;
} LlvmTypes;

/* What a serial loop's llvm.loop metadata asks of LLVM: nothing, full
 * unrolling, vectorization (of a loop that sums: the order of its
 * additions may change), or none. */
typedef enum LlvmLoopHint { LOOP_ANY, LOOP_UNROLL, LOOP_VECTORIZE, LOOP_NO_VECTORIZE } LlvmLoopHint;
LlvmLoopHint llvm_loop_hint(const LStmt *s);

/* calloc, or exit after "nasc: out of memory". */
void *llvm_calloc(size_t n, size_t size);

/* The types of a context, reals float or double. */
void llvm_types(LlvmTypes *t, LLVMContextRef ctx, bool f64);

/* Entry points by name, as LLVMValueRefs; NULL where the program has none. */
typedef struct LlvmEntries {
	LLVMValueRef grad, loss, grad_alpha, infer;
	LLVMValueRef hvp_prepare, hvp, *hvp_on, mixed_prepare, mixed; /* hvp_on: per tensor */
} LlvmEntries;

/* The global nas_program and main(), in module m. */
void llvm_program(LLVMModuleRef m, const LlvmTypes *t, const Lowered *L, const EmitInfo *info,
		  const LlvmEntries *en);

#endif
