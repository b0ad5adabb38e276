/* emit_llvm.h - the LLVM backend (see emit_llvm.c), built when configure
 * finds LLVM (HAVE_LLVM). */
#ifndef NASC_EMIT_LLVM_H
#define NASC_EMIT_LLVM_H

#include <stdbool.h>
#include <stdint.h>

#include "emit_c.h"

/* What emit_llvm writes. */
typedef enum LlvmOutput {
	LLVM_IR,      /* the module as built and verified, as text (.ll) */
	LLVM_OBJECT,  /* the module optimized at O3 for this machine, as an object file */
} LlvmOutput;

/* The program as an LLVM module for the host, written to path ("-": IR
 * to stdout).  Returns 0, or -1 after a message on stderr (a module the
 * verifier rejects is an internal error naming the kernel). */
int emit_llvm(const Lowered *L, const EmitInfo *info, LlvmOutput what, const char *path);

/* The LLVM version nasc was built with, as "16.0.6". */
const char *emit_llvm_version(void);

/* The byte offsets the backend gives the fields of nasrt.h's struct
 * `name` (NasRun, NasTensor, NasSchedule, NasEdge, NasCellType,
 * NasProgram), in declaration order with nested structs flattened, and
 * its size last: so a test can hold them against the C compiler's.
 * Returns how many it wrote (at most n), or -1 for an unknown name. */
int emit_llvm_layout(const char *name, int64_t *off, int n);

#endif
