/* build.h - nasc build: a lowered program written as C, compiled with the
 * compiler nasc was configured with, and linked against libnasrt (or an
 * object file the LLVM backend wrote, linked likewise). */
#ifndef NASC_BUILD_H
#define NASC_BUILD_H

#include <stdbool.h>

#include "emit_c.h"

/* Write the program's C to path (atomically: a temporary file renamed).
 * Returns 0, or -1 with a message on stderr. */
int build_write_c(const char *path, const Lowered *L, const EmitInfo *info);
/* Compile and link c_path into the binary out.  Returns 0, or -1 after the
 * compiler's own messages and the command that failed. */
int build_compile(const char *c_path, const char *out, bool verbose);
/* Link the object file obj_path (the LLVM backend's) into the binary out,
 * with the runtime and what it needs.  Returns 0, or -1 as build_compile. */
int build_link(const char *obj_path, const char *out, bool verbose);

#endif
