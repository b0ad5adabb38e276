/* robust.h - RobustDARTS in a search: the curvature of the validation loss
 * in alpha after the epochs whose turn it is (hessian.every, and the last
 * epoch), and the controllers acting on it (controller.h): DARTS-ES stops
 * and answers with the architecture of an earlier epoch, DARTS-ADA rolls
 * the search back to that epoch and raises the regularization.
 *
 * The states a controller may return to are kept as files beside the
 * checkpoint, snapshots/epoch-NNNNNN.safetensors (checkpoints of the
 * evaluated epochs, as many as ctrl_history_needed says), so a rollback
 * or a stop is exact and survives a crash and a resume.  The controller's
 * trace travels in the checkpoint (Search.robust). */
#ifndef NASC_ROBUST_H
#define NASC_ROBUST_H

#include <stddef.h>
#include <stdint.h>

#include "controller.h"
#include "hessian.h"
#include "search.h"

typedef struct Robust {
	const NasProgram *p;
	char dir[4096];         /* the output folder */
	int tracking;           /* hessian.mode is not none */
	Hessian h;
	Controller ctrl;
	CtrlDecision d;         /* the latest decision */
	int stopped;            /* ES has stopped the search */
	int64_t stop_epoch;
	int es_written;         /* ADA: genotype_es.* written */
} Robust;

/* For search s writing into dir: allocates the Hessian's buffers when the
 * search tracks curvature, and restores the controller's trace from
 * s->robust.  Returns 0, or -1 with a message in err. */
int robust_init(Robust *rb, const Search *s, const char *dir, char *err, size_t errlen);
void robust_free(Robust *rb);

/* Whether curvature is measured after epoch e (0-based). */
int robust_due(const Robust *rb, const Search *s, int64_t e);

/* After epoch st->epoch, when due: the curvature on the epoch's batch
 * (search_curvature_batch), into st, and the controller's decision (also
 * in rb->d and st).  Returns 0, or -1 with a message in err. */
int robust_measure(Robust *rb, Search *s, SearchRun *r, EpochStats *st, char *err,
		   size_t errlen);

/* After the epoch's checkpoint-worthy state is final: writes the snapshot
 * of an evaluated epoch, drops those no decision can return to, and puts
 * the trace into s->robust.  Returns 0, or -1 with a message in err. */
int robust_keep(Robust *rb, Search *s, int evaluated, char *err, size_t errlen);

/* The state of the search after epoch e, from its snapshot, into *out
 * (search_free it).  Returns 0, or -1 with a message in err. */
int robust_load(const Robust *rb, int64_t e, Search *out, char *err, size_t errlen);

/* The regularization the ADA knob of s sets, and setting it: l2, or the
 * drop-path probability (cutout's scaled with it, at most 1). */
double robust_reg(const Search *s);
void robust_set_reg(Search *s, double reg);
const char *robust_knob(const Search *s);

#endif
