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
	int alpha_only;         /* the gradient of the alpha tensors alone */
	/* --order second: the second-order DARTS gradient of alpha (unrolled.h)
	 * with `batch` the training batch; the weights' entries of the
	 * gradient are zero. */
	int second;
	const char *val_batch;  /* the validation batch */
	double lr, momentum, weight_decay; /* xi, mu, lambda of the virtual step */
} GradOptions;

/* grad: the loss and the gradient of a state (or a checkpoint) on a
 * batch; with o->second, the second-order gradient of alpha, the momentum
 * buffer taken from the file when it holds optim.sgd.momentum. */
int cmd_grad(const NasProgram *p, const char *bin, const GradOptions *o);

typedef struct HessianOptions {
	const char *load;       /* the state */
	const char *batch;      /* the batch */
	int lanczos;            /* 0: exact; else the top k by Lanczos */
	int iters;              /* Lanczos: most iterations */
	double tol;             /* Lanczos: relative residual to stop at */
	double weight_decay;    /* < 0: the spec's arch weight decay */
	uint64_t seed;          /* noise candidates and Lanczos's start */
	int threads;
	int json;
} HessianOptions;

/* hessian: the eigenvalues of the alpha-Hessian of a state on a batch. */
int cmd_hessian(const NasProgram *p, const char *bin, const HessianOptions *o);

/* BENCH_BOTH: fwd_bwd and step; BENCH_CURVATURE: the Hessian alone;
 * BENCH_SECOND: a second-order search step alone. */
typedef enum BenchOnly {
	BENCH_BOTH, BENCH_FWD_BWD, BENCH_STEP, BENCH_CURVATURE, BENCH_SECOND
} BenchOnly;

typedef struct BenchOptions {
	int iters;              /* timed iterations per measurement, > 0 */
	int warmup;             /* untimed ones before them, >= 0 */
	uint64_t seed;          /* for the parameters, the batches and noise */
	int threads;            /* OpenMP threads; 0: OpenMP's default */
	int json;               /* print one JSON object rather than a table */
	BenchOnly only;         /* which measurements */
} BenchOptions;

/* bench: time forward + backward, and one first-order search step, on
 * random batches. */
int cmd_bench(const NasProgram *p, const char *bin, const BenchOptions *o);

/* A --set NAME=VALUE, or a --set-file FILE of them. */
typedef struct SearchSet {
	const char *text;       /* NAME=VALUE, or the file's path */
	int file;               /* text names a set file */
} SearchSet;

typedef struct SearchOptions {
	const char *data;       /* the dataset's folder, or NULL: Fashion-MNIST */
	const char *out;        /* the output folder, or NULL: search-<spec> */
	const char *resume;     /* a folder to resume, or NULL */
	int64_t epochs, batch, seed; /* -1: the spec's */
	int64_t subset;         /* 0: the whole training set */
	int threads;            /* 0: OpenMP's default */
	const SearchSet *sets;  /* --set and --set-file, in command-line order */
	int nsets;
	const char *mean, *std; /* "0.5" or "0.49,0.48,0.45", or NULL: computed */
	int json;               /* the final summary as one JSON object */
} SearchOptions;

/* search: the bilevel search, with a log, checkpoints, the genotype. */
int cmd_search(const NasProgram *p, const char *bin, const SearchOptions *o);

typedef struct EvalOptions {
	const char *load;       /* the state */
	const char *data;       /* the dataset's folder, or NULL: Fashion-MNIST */
	int train;              /* the training set rather than the test set */
	int threads;
	int json;
} EvalOptions;

/* eval: loss and accuracy of a state on the test set, in eval mode. */
int cmd_eval(const NasProgram *p, const char *bin, const EvalOptions *o);

/* The dataset nothing else is named: Debian's dataset-fashion-mnist. */
#define NAS_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* Sets the OpenMP thread count (n > 0) and returns the count in force. */
int nas_set_threads(const char *bin, int n);

#endif
