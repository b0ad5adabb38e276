/* pipeline.c - the list of passes after sema (see pipeline.h). */
#include "pipeline.h"

#include <string.h>

#include "ad.h"
#include "passes.h"

static void run_ad(IrGraph *g)
{
	ad_gradient_program(g);
}

static void run_curvature(IrGraph *g)
{
	ad_curvature_program(g);
}

const Pass pipeline_passes[] = {
	{"ad", "the gradient program appended to the forward pass", run_ad},
	{"curvature", "Hessian-vector products and the mixed derivative of the alpha gradient appended",
	 run_curvature},
	{"infer", "the eval-mode program appended: running statistics, no drop-path", pass_infer},
	{"cse", "values computed twice merged", pass_cse},
	{"dce", "values nothing needs dropped", pass_dce},
	{"fuse", "elementwise values marked to compute inside their user's loops", pass_fuse},
};
const int pipeline_npasses = (int)(sizeof pipeline_passes / sizeof pipeline_passes[0]);

int pipeline_find(const char *name)
{
	for (int i = 0; i < pipeline_npasses; i++)
		if (strcmp(pipeline_passes[i].name, name) == 0)
			return i;
	return -1;
}

int pipeline_run(IrGraph *g, int last, FILE *err)
{
	for (int i = 0; i <= last && i < pipeline_npasses; i++) {
		pipeline_passes[i].run(g);
		int bad = ir_verify(g, err);
		if (bad) {
			fprintf(err, "nasc: internal error: %d problems in the IR after pass %s\n", bad,
				pipeline_passes[i].name);
			return -1;
		}
	}
	return 0;
}
