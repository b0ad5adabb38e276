/* commands.h - the subcommands of a search binary, called by nas_main
 * (cli.c) once the command line is parsed.  Each returns the exit status:
 * 0 fine, 1 bad input or a failure (reported on stderr as
 * "BIN: FILE: message"); nothing is written on a failure. */
#ifndef NASC_COMMANDS_H
#define NASC_COMMANDS_H

#include <stdint.h>

#include "nasrt.h"

/* init: initialize every tensor from seed and save the state to path. */
int cmd_init(const NasProgram *p, const char *bin, uint64_t seed, const char *path);

typedef struct GradOptions {
	const char *load;       /* the state */
	const char *batch;      /* the batch */
	const char *save_grad;  /* where to write the gradient, or NULL */
	int json;               /* print one JSON object rather than a summary */
	uint64_t seed;          /* for noise candidates (step 0) */
} GradOptions;

/* grad: the loss and the gradient of a state on a batch. */
int cmd_grad(const NasProgram *p, const char *bin, const GradOptions *o);

#endif
