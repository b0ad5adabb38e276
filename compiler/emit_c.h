/* emit_c.h - the C backend (see emit_c.c). */
#ifndef NASC_EMIT_C_H
#define NASC_EMIT_C_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lower.h"
#include "model.h"

typedef struct EmitInfo {
	const char *spec;     /* the spec file */
	const char *config;   /* its parameters */
	const char *version;  /* of nasc */
	bool f64;             /* double precision */
	int64_t flops;        /* forward FLOPs per sample, for the runtime's reports */
	const Model *model;   /* its schedule and cell types */
} EmitInfo;

void emit_c(FILE *out, const Lowered *L, const EmitInfo *info);

#endif
