/* controller.h - RobustDARTS's controllers: from the trace of dominant
 * Hessian eigenvalues of a search, whether DARTS-ES stops or DARTS-ADA
 * rolls back.  Pure logic: no I/O, no program; the search loop calls
 * ctrl_update after each curvature evaluation and acts on the decision.
 *
 * The trace.  Evaluations come at increasing epochs E_0 < E_1 < ... <
 * E_i (every `hessian.every` epochs and the last one, but nothing here
 * assumes a spacing), with eigenvalues lambda_0 .. lambda_i; i is the
 * newest.
 *
 * Local average.  With h = window / 2 (integer division), the local
 * average centred on evaluation j is the mean of lambda over
 * [max(0, j - h), min(i, j + h)].  Near the start of the trace the window
 * is cut short and the mean is over what there is (as RobustDARTS's
 * reference does); an even window averages window + 1 evaluations (4
 * averages the same five as 5).
 *
 * The rule.  At evaluation i, with j = i - h (the newest centre whose
 * window is complete on the right) and j0 = j - k: if j0 >= 0 and
 * E_{j0} >= start, the controller triggers when
 *     LA(j0) > 0  and  LA(j) > factor * LA(j0).
 * "Checked from epoch `start` on" thus means that the earlier of the two
 * centres is at `start` or later, so ES never answers with an
 * architecture from before `start`.  E_{j0} is the stop epoch: where ES
 * stops (its architecture is the one of that epoch) and where ADA rolls
 * back to.
 *
 * Why LA(j0) > 0.  The rule measures relative growth of the sharpness,
 * which a reference at or below zero does not have: with LA(j0) = 0 any
 * positive value, however small, would be infinitely larger, and with
 * LA(j0) < 0 the literal test LA(j) > factor * LA(j0) would fire when the
 * average falls (from -1 to -1.2 with factor 1.3).  The largest
 * eigenvalue is negative only when the Hessian is negative definite (the
 * validation loss curves down in every direction of alpha), which is no
 * sign of a sharp minimum, so such a comparison does not trigger.
 *
 * The kinds.
 *   none  never triggers; the trace and the averages are still kept and
 *         reported, for the log.
 *   es    a trigger means CTRL_STOP.
 *   ada   the caller passes the regularization r in force.  A trigger with
 *         r below max means CTRL_ROLLBACK: the trace is cut back to the
 *         evaluations at the stop epoch and before (ctrl_truncate), the
 *         caller restores its state of that epoch and goes on with
 *         min(r * eta, max).  A trigger with r at max (within a relative
 *         1e-9, so 3e-4 * 10 * 10 is at 3e-2) changes nothing: the action
 *         is CTRL_CONTINUE with at_max set, and ADA's answer stays the
 *         architecture of the last epoch.  Since r grows by eta > 1 at each
 *         rollback, there are finitely many, which is why r must be above 0.
 * Both remember their first trigger (ES's answer, which ADA logs too);
 * ctrl_truncate does not forget it. */
#ifndef NASC_RT_CONTROLLER_H
#define NASC_RT_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nasrt.h"

typedef struct Controller {
	/* the spec's controller settings */
	NasController kind;
	int window, h, k;
	int64_t start;
	double factor, eta, max;
	/* the trace, oldest first */
	int n, cap;
	int64_t *epoch;
	double *lambda;
	/* the first trigger: at evaluation `epoch`, stop epoch `stop_epoch` */
	struct {
		bool seen;
		int64_t epoch, stop_epoch;
		double la_now, la_then;
	} first;
} Controller;

/* Takes the settings from s->controller, refusing nonsense the compiler
 * would have caught too, for the settings the kind uses: window or k below
 * 1 (any kind: none still averages and compares, for the log); for es and
 * ada a factor not above 0 or a start below 0; for ada an eta not above 1
 * or a max not above 0.  Returns 0, or -1 with a message naming the
 * setting in err. */
int ctrl_init(Controller *c, const NasSchedule *s, char *err, size_t errlen);
void ctrl_free(Controller *c);

typedef enum CtrlAction { CTRL_CONTINUE, CTRL_STOP, CTRL_ROLLBACK } CtrlAction;

/* What one evaluation decided.  The epochs are -1 and the averages 0 where
 * their centre does not exist yet. */
typedef struct CtrlDecision {
	CtrlAction action;
	bool checked;           /* the rule was applied: kind es or ada, j0 >= 0,
				   E_{j0} >= start */
	bool triggered;
	bool at_max;            /* ada: triggered with r already at max */
	int64_t epoch;          /* E_i, this evaluation */
	int64_t centre_epoch;   /* E_j */
	int64_t stop_epoch;     /* E_{j0}, the earlier centre */
	double la_now, la_then; /* LA(j), LA(j0) */
	double ratio;           /* la_now / la_then, 0 unless la_then > 0 */
	double old_reg, new_reg; /* r, and what it is after this decision */
} CtrlDecision;

/* Records the evaluation (epoch, lambda) and decides.  reg is the
 * regularization in force (ada; ignored otherwise).  Refuses, changing
 * nothing, with -1 and a message in err: an epoch below 0 or not after
 * the previous one, a lambda that is NaN or infinite (naming the epoch),
 * for ada a reg that is not a number above 0; else 0. */
int ctrl_update(Controller *c, int64_t epoch, double lambda, double reg, CtrlDecision *d,
		char *err, size_t errlen);

/* Records an evaluation without deciding (to rebuild a saved trace), with
 * ctrl_update's refusals of the epoch and the eigenvalue. */
int ctrl_record(Controller *c, int64_t epoch, double lambda, char *err, size_t errlen);

/* Drops the evaluations after epoch. */
void ctrl_truncate(Controller *c, int64_t epoch);

/* LA(j) over the trace as it is (i = n - 1), for 0 <= j < n; NaN
 * otherwise. */
double ctrl_local_average(const Controller *c, int j);

/* How many evaluations' states the caller must hold, counting the one
 * being recorded, for whatever a later decision may ask of it, with reg
 * in force.  es: h + k + 1, the architectures a stop may return to.  ada:
 * the same for the first trigger, and for a rollback the states themselves;
 * a rollback to evaluation i - h - k can be followed at once by another
 * reaching h + k - 1 further back, so with R rollbacks left before r
 * reaches max that is R (h + k - 1) + 2 when larger.  none: 0.  After a
 * rollback the states of evaluations after the stop epoch are stale.  A
 * reg ctrl_update would refuse gives INT_MAX (keep everything). */
int ctrl_history_needed(const Controller *c, double reg);

#endif
