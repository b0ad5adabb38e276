/* cmd_init.c - `BIN init --seed N --save STATE`: a fresh state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "commands.h"
#include "state.h"

int cmd_init(const NasProgram *p, const char *bin, uint64_t seed, const char *path)
{
	/* Initialization is float in every build, and states are F32. */
	float *params = nas_alloc64_array((size_t)p->nparams, sizeof *params);
	float *running = nas_alloc64_array((size_t)p->nrunning, sizeof *running);
	if (!params || !running) {
		free(params);
		free(running);
		fprintf(stderr, "%s: out of memory (%" PRId64 " parameters)\n", bin, p->nparams);
		return 1;
	}
	state_init(p, seed, params);
	state_init_running(p, running, (int)sizeof *running);
	char seedstr[32], err[1024];
	snprintf(seedstr, sizeof seedstr, "%" PRIu64, seed);
	const char *const kv[] = {"seed", seedstr};
	int rc = state_save(p, path, params, running, (int)sizeof *running, ST_F32, kv, 1, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", bin, err);
	free(params);
	free(running);
	return rc == 0 ? 0 : 1;
}
