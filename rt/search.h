/* search.h - the bilevel search of a program: DARTS's loop, first or second
 * order,
 * over a dataset, epoch by epoch, with everything it needs to stop at an
 * epoch's end and go on later bit for bit (see search.c). */
#ifndef NASC_SEARCH_H
#define NASC_SEARCH_H

#include <stdint.h>

#include "data.h"
#include "nasrt.h"
#include "optim.h"

typedef struct SearchConfig {
	NasSchedule s;          /* the settings in force */
	char data[4096];        /* the dataset's folder */
	int64_t subset;         /* images of the training set used; 0: all */
	int64_t ntrain, nval;   /* the split: images that train the weights, alpha */
	double mean[DATA_MAX_C], std[DATA_MAX_C]; /* the normalization, per channel */
} SearchConfig;

/* Where a search is: what a checkpoint holds. */
typedef struct Search {
	const NasProgram *p;
	SearchConfig cfg;
	void *params;           /* nparams reals */
	void *running;          /* nrunning reals */
	NasSgd sgd;             /* on the weights */
	NasAdam adam;           /* on alpha */
	int64_t epoch;          /* epochs completed */
	double wall;            /* seconds spent searching, over every run */
	int64_t log_records;    /* lines of log.jsonl written so far */
	char *robust;           /* robust.c's state (the controller's trace) as
				   JSON, malloc'd, or NULL */
} Search;

/* The statistics of one epoch, what a log record holds. */
typedef struct EpochStats {
	int64_t epoch;          /* 0-based */
	int64_t steps;
	double lr, drop_path, cutout, l2, arch_weight_decay;
	double train_loss, train_acc;   /* of the weight steps (training mode, augmented) */
	double search_loss;             /* of the architecture steps */
	double val_loss, val_acc;       /* eval mode, every validation image */
	double seconds;                 /* this epoch's wall time */
	/* curvature (robust.c), when it was evaluated after this epoch */
	int curv;
	const char *curv_method;        /* "exact" or "lanczos" */
	double lambda_max, curv_loss, curv_seconds, curv_residual;
	int curv_hvps, curv_iters, curv_converged, ntop;
	double top[8];                  /* the largest eigenvalues, largest first */
	/* the controller's decision on it */
	int checked, triggered, at_max;
	const char *action;             /* "continue", "stop" or "rollback" */
	int64_t stop_epoch;
	double la_now, la_then;
} EpochStats;

/* Allocates s's buffers and optimizers for p with cfg: 0, or -1 when
 * memory runs out or an optimizer setting is one PyTorch refuses. */
int search_init(Search *s, const NasProgram *p, const SearchConfig *cfg);
void search_free(Search *s);

/* Fresh parameters (PyTorch's initialization from cfg.s.seed) and running
 * statistics, epoch 0: 0, or -1 when memory runs out. */
int search_start(Search *s);

/* What a run needs besides the Search: the dataset, its split, the
 * normalization, and the buffers a step runs in. */
typedef struct SearchRun SearchRun;

/* d is the training set, already loaded and checked against p; the run
 * holds the search's split of it and the buffers a step runs in.  Returns
 * NULL when memory runs out. */
SearchRun *search_run_new(const Search *s, const Dataset *d);
/* The buffers alone, for search_evaluate on d. */
SearchRun *search_run_eval(const Search *s, const Dataset *d);
void search_run_free(SearchRun *r);

/* Called after every step of an epoch, for progress. */
typedef void (*StepHook)(void *ctx, const Search *s, int64_t step, int64_t steps, double loss,
			 double acc);

/* Runs epoch s->epoch: the steps, then the validation; fills st and
 * advances s->epoch.  Deterministic: the same Search and data give the
 * same result bit for bit. */
void search_epoch(Search *s, SearchRun *r, EpochStats *st, StepHook hook, void *ctx);

/* Loss and accuracy of the parameters on the images idx[0..n) of d, in
 * eval mode (training mode when the program has no eval entry), in
 * batches of the compiled size (a last partial batch is padded, and the
 * padding not counted).  Runs in r's buffers. */
void search_evaluate(const Search *s, SearchRun *r, const Dataset *d, const int64_t *idx,
		     int64_t n, double *loss, double *acc);

/* The batch the curvature of epoch `epoch` is measured on: the first
 * batch of a permutation of the validation split of its own, normalized
 * and not augmented; into r's buffers, whose x and y are returned. */
void search_curvature_batch(const Search *s, SearchRun *r, int64_t epoch, const void **x,
			    const int64_t **y);

/* The softmax of every row of alpha tensor t, into out (numel doubles). */
void search_alpha_softmax(const NasProgram *p, const void *params, const NasTensor *t,
			  double *out);

#endif
