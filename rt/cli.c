/* cli.c - the command line of a search binary (nas_main of nasrt.h):
 * help, version, subcommands and their options, then a call into
 * cmd_*.c.  Exit statuses: 0 fine, 1 bad input, 2 bad command line. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "commands.h"
#include "nasrt.h"
#include "suggest.h"

int nas_set_threads(const char *bin, int n)
{
#ifdef _OPENMP
	(void)bin;
	if (n > 0)
		omp_set_num_threads(n);
	return omp_get_max_threads();
#else
	if (n > 1)
		fprintf(stderr, "%s: built without OpenMP, running on one thread\n", bin);
	return 1;
#endif
}

/* ---- help ---- */

static void about(FILE *fp, const NasProgram *p)
{
	fprintf(fp,
		"The search over %s (%s),\n"
		"compiled by nasc %s: %d tensors, %" PRId64 " parameters, %s;\n"
		"batches of %" PRId64 " images of %" PRId64 "x%" PRId64 "x%" PRId64
		", %" PRId64 " classes.\n",
		p->spec, p->config, p->nasc_version, p->ntensors, p->nparams,
		p->real_size == 8 ? "f64" : "f32", p->batch, p->in_c, p->in_h, p->in_w,
		p->classes);
}

static void help_main(FILE *fp, const NasProgram *p, const char *bin)
{
	fprintf(fp, "usage: %s COMMAND [OPTIONS]\n\n", bin);
	about(fp, p);
	fputs("\n"
	      "commands:\n"
	      "  search [--data DIR] [--out DIR] [--epochs N] [--subset N] [--set NAME=VALUE]\n"
	      "         [--set-file FILE]\n"
	      "                        the architecture search (the main job)\n"
	      "  search --resume DIR   go on with a search that was stopped\n"
	      "  eval --load STATE [--data DIR]\n"
	      "                        accuracy and loss of a state on the test set\n"
	      "  init --seed N --save STATE\n"
	      "                        initialize every tensor from seed N; save the state\n"
	      "  grad --load STATE --batch BATCH [--save-grad GRAD] [--json]\n"
	      "                        the loss and gradient norms of a state on a batch\n"
	      "  grad --order second --load STATE --batch TRAIN --val-batch VAL\n"
	      "                        the second-order DARTS gradient of alpha\n"
	      "  hessian --load STATE --batch BATCH [--exact | --lanczos K] [--json]\n"
	      "                        the eigenvalues of the alpha-Hessian on a batch\n"
	      "  bench [--iters N] [--warmup N] [--threads N] [--json]\n"
	      "                        time forward + backward, and a search step\n"
	      "  help [COMMAND]        print this help, or a command's\n"
	      "\n"
	      "options:\n"
	      "  -h, --help            print this help; after a command, the command's\n"
	      "  --version             print the version\n"
	      "\n"
	      "States, batches and gradients are safetensors files.  Exit status: 0 fine,\n"
	      "1 bad input (a file or its contents), 2 a bad command line.\n",
	      fp);
}

static void help_search(FILE *fp, const NasProgram *p, const char *bin)
{
	const NasSchedule *s = &p->schedule;
	fprintf(fp, "usage: %s search [--data DIR] [--out DIR] [--epochs N] [--seed N]\n"
		"       [--subset N] [--threads N] [--set NAME=VALUE]... [--set-file FILE]...\n"
		"       [--mean M] [--std S] [--json]\n"
		"       %s search --resume DIR [--data DIR] [--threads N] [--json]\n\n", bin, bin);
	about(fp, p);
	fprintf(fp,
		"\n"
		"Search the architecture, DARTS: each step an Adam step on alpha from a\n"
		"validation batch (with order second, through the virtual SGD step on the\n"
		"training batch, exactly), then an SGD step on the weights from a training\n"
		"batch; after each epoch the validation set in eval mode, and when the spec\n"
		"tracks it (hessian exact or lanczos) the alpha-Hessian's eigenvalues, which\n"
		"its controller (es: DARTS-ES, ada: DARTS-ADA) may act on.  Progress goes to\n"
		"stderr, the final genotype to stdout, and every file to the output folder:\n"
		"  log.jsonl               one JSON record per epoch (and per stop or rollback)\n"
		"  checkpoint.safetensors  the state after the latest epoch (for --resume)\n"
		"  genotype.json, genotype.txt, <cell>.dot (and .svg with Graphviz)\n"
		"  state.safetensors       the final weights, alpha and running statistics\n"
		"  snapshots/, genotype_es.*  with a controller: the states it may return to,\n"
		"                        and (ada) early stopping's answer\n"
		"\n"
		"options:\n"
		"  --data DIR            the dataset: IDX (MNIST, Fashion-MNIST), CIFAR-10 or\n"
		"                        -100 binaries, or train/test.safetensors (default\n"
		"                        %s)\n"
		"  --out DIR             the output folder (default search-<spec>); it must not\n"
		"                        hold a search already\n"
		"  --resume DIR          go on from DIR's checkpoint, with its settings\n"
		"  --epochs N            (the spec's: %" PRId64 ")\n"
		"  --batch N             must be the compiled batch, %" PRId64 "\n"
		"  --seed N              (the spec's: %" PRId64 ")\n"
		"  --subset N            search on N images of the training set (a random\n"
		"                        subset), for quick runs\n"
		"  --threads N           OpenMP threads (default OMP_NUM_THREADS, or one per core)\n"
		"  --set NAME=VALUE      any setting of the spec's search block: weights.lr,\n"
		"                        weights.lr_min, weights.momentum, weights.nesterov,\n"
		"                        weights.clip, weights.schedule, arch.lr, arch.beta1,\n"
		"                        arch.beta2, arch.eps, arch.weight_decay, l2, split,\n"
		"                        drop_path.prob, drop_path.ramp, cutout.prob,\n"
		"                        cutout.length, cutout.ramp, crop, flip, ...\n"
		"  --set-file FILE       the settings of FILE, one NAME=VALUE a line (# starts a\n"
		"                        comment); --set and --set-file apply in command-line\n"
		"                        order, a later one overriding an earlier\n"
		"  --mean M, --std S     the normalization: one number, or one per channel,\n"
		"                        comma-separated (default: computed over the training set)\n"
		"  --json                print the final summary as one JSON object\n"
		"  -h, --help            print this help\n"
		"\n"
		"The spec's settings: split %g, sgd lr %g to %g, momentum %g, clip %g, l2 %g;\n"
		"adam lr %g, betas %g %g, weight decay %g; crop %" PRId64 ", flip %s, cutout %g,\n"
		"drop-path %g.  A batch holds %" PRId64 " images (compiled in); an epoch takes\n"
		"every whole batch of the training part of the split.\n",
		NAS_DEFAULT_DATA, s->epochs, p->batch, s->seed, s->split, s->weights.lr,
		s->weights.lr_min, s->weights.momentum, s->weights.clip, s->l2, s->arch.lr,
		s->arch.beta1, s->arch.beta2, s->arch.weight_decay, s->crop, s->flip ? "on" : "off",
		s->cutout.prob, s->drop_path.prob, p->batch);
}

static void help_eval(FILE *fp, const NasProgram *p, const char *bin)
{
	fprintf(fp, "usage: %s eval --load STATE [--data DIR] [--train] [--threads N] [--json]\n\n",
		bin);
	about(fp, p);
	fprintf(fp,
		"\n"
		"The accuracy and mean cross-entropy loss of a state on the test set, in eval\n"
		"mode (batch norms use the state's running statistics).  Images are normalized\n"
		"as the search that wrote the state normalized them.\n"
		"\n"
		"options:\n"
		"  --load STATE          a state written by search (state.safetensors) or init\n"
		"  --data DIR            the dataset (default %s)\n"
		"  --train               the training set instead of the test set\n"
		"  --threads N           OpenMP threads\n"
		"  --json                print {\"set\", \"images\", \"loss\", \"accuracy\"}\n"
		"  -h, --help            print this help\n",
		NAS_DEFAULT_DATA);
}

static void help_init(FILE *fp, const NasProgram *p, const char *bin)
{
	fprintf(fp, "usage: %s init --seed N --save STATE\n\n", bin);
	about(fp, p);
	fputs("\n"
	      "Initialize every weight and alpha tensor from seed N and save them to\n"
	      "STATE, as F32 in canonical order.  Conv and linear weights and biases are\n"
	      "U(-b, b) with b = 1/sqrt(fan_in), batch-norm gamma 1 and beta 0, alpha\n"
	      "1e-3 N(0, 1).  Each tensor draws from its own stream of the seed, so its\n"
	      "values depend on the seed and its place in the program alone.\n"
	      "\n"
	      "options:\n"
	      "  --seed N              the seed, 0 to 18446744073709551615\n"
	      "  --save STATE          the state file to write (atomically)\n"
	      "  -h, --help            print this help\n",
	      fp);
}

static void help_grad(FILE *fp, const NasProgram *p, const char *bin)
{
	const NasSchedule *s = &p->schedule;
	fprintf(fp, "usage: %s grad --load STATE --batch BATCH [--save-grad GRAD] [--json]\n"
		"       [--seed N] [--alpha-only]\n"
		"       %s grad --order second --load STATE --batch TRAIN --val-batch VAL\n"
		"       [--lr XI] [--momentum MU] [--weight-decay WD] [--save-grad GRAD] [--json]\n"
		"       [--seed N]\n\n", bin, bin);
	about(fp, p);
	fprintf(fp,
		"\n"
		"Run the program on a batch in training mode (batch statistics) and print\n"
		"the mean cross-entropy loss and the L2 norms of its gradient over the\n"
		"weights and over alpha.\n"
		"\n"
		"With --order second, the gradient of alpha of second-order DARTS instead,\n"
		"exact (no finite differences): from the training batch TRAIN, the virtual\n"
		"step on the weights\n"
		"  w' = w - XI (MU m + grad_w L_train(w) + WD w),\n"
		"then, with the validation batch VAL and v = grad_w L_val(w'),\n"
		"  grad_alpha L_val(w') - XI d/dw (grad_alpha L_train(w)) . v,\n"
		"the gradient of L_val(w'(alpha), alpha).  The momentum buffer m is the\n"
		"file's optim.sgd.momentum when STATE is a search's checkpoint holding one,\n"
		"else zero.  It prints L_train(w), L_val(w') and the norm of the gradient;\n"
		"the gradient file holds it under alpha's names, and zeros for the weights.\n"
		"Running statistics are neither needed nor changed; no drop-path.\n"
		"\n"
		"options:\n"
		"  --load STATE          the state: exactly the tensors of the program, F32 or\n"
		"                        F64, finite (a checkpoint.safetensors of search too)\n"
		"  --batch BATCH         the batch: x, F32 [%" PRId64 ",%" PRId64 ",%" PRId64
		",%" PRId64 "], and y, I64 [%" PRId64 "],\n"
		"                        labels 0 to %" PRId64 " (the batch size is compiled in)\n"
		"  --save-grad GRAD      also save the gradient, under the state's names, as %s\n"
		"  --json                print {\"loss\", \"grad_norm_w\", \"grad_norm_alpha\",\n"
		"                        \"tensors\", \"batch\"} as one JSON object (second order:\n"
		"                        {\"order\", \"loss\" (L_val(w')), \"loss_train\",\n"
		"                        \"grad_norm_alpha\", \"xi\", \"momentum\", \"weight_decay\",\n"
		"                        \"momentum_buffer\", \"tensors\", \"batch\"})\n"
		"  --seed N              noise candidates draw from seed N, step 0 (default 0;\n"
		"                        second order: step 0 on TRAIN, 1 on VAL)\n"
		"  --alpha-only          the gradient of alpha alone, as an architecture step\n"
		"                        needs it (the weights' gradients are then zero)\n"
		"  --order first|second  first- (default) or second-order DARTS\n"
		"  --val-batch VAL       second order: the validation batch, laid out as BATCH\n"
		"  --lr XI               second order: the virtual step's learning rate (the\n"
		"                        spec's weights.lr, %g)\n"
		"  --momentum MU         second order: the SGD momentum (the spec's\n"
		"                        weights.momentum, %g)\n"
		"  --weight-decay WD     second order: the weight decay (the spec's l2, %g)\n"
		"  -h, --help            print this help\n",
		p->batch, p->in_c, p->in_h, p->in_w, p->batch, p->classes - 1,
		p->real_size == 8 ? "F64" : "F32", s->weights.lr, s->weights.momentum, s->l2);
}

static void help_hessian(FILE *fp, const NasProgram *p, const char *bin)
{
	const NasSchedule *s = &p->schedule;
	fprintf(fp, "usage: %s hessian --load STATE --batch BATCH [--exact | --lanczos K]\n"
		"       [--iters N] [--tol T] [--weight-decay WD] [--seed N] [--threads N] [--json]\n\n",
		bin);
	about(fp, p);
	fprintf(fp,
		"\n"
		"The curvature RobustDARTS tracks: the eigenvalues of H + wd I, where H is the\n"
		"Hessian of the mean cross-entropy loss on the batch with respect to the\n"
		"architecture parameters (training mode: batch statistics; no drop-path) and\n"
		"wd the arch weight decay.  lambda_max is the largest eigenvalue.  H is never\n"
		"formed from finite differences: each column is an exact Hessian-vector\n"
		"product of the compiled program.\n"
		"\n"
		"options:\n"
		"  --load STATE          the state (as for grad)\n"
		"  --batch BATCH         the batch: x, F32 [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
		"], y, I64 [%" PRId64 "]\n"
		"  --exact               every eigenvalue, from one product per alpha entry,\n"
		"                        printed in ascending order%s\n"
		"  --lanczos K           the K largest, by Lanczos with full\n"
		"                        reorthogonalization%s\n"
		"  --iters N             Lanczos: at most N products (default %" PRId64 ", the\n"
		"                        spec's hessian iters)\n"
		"  --tol T               Lanczos: stop when each of the top K is within T times\n"
		"                        its value of an eigenvalue (default 1e-5): by its\n"
		"                        residual r, or by r^2 / gap once r is below the gap\n"
		"                        to the next Ritz value\n"
		"  --weight-decay WD     the arch weight decay added on the diagonal (default\n"
		"                        %g, the spec's)\n"
		"  --seed N              noise candidates and Lanczos's start vector (default 0)\n"
		"  --threads N           OpenMP threads\n"
		"  --json                print {\"lambda_max\", \"eigenvalues\", \"method\",\n"
		"                        \"arch_weight_decay\", \"n\", \"hvps\", \"iters\",\n"
		"                        \"converged\", \"residual\", \"error_bound\",\n"
		"                        \"asymmetry\", \"loss\", \"seconds\", \"batch\"} as one\n"
		"                        JSON object\n"
		"  -h, --help            print this help\n",
		p->batch, p->in_c, p->in_h, p->in_w, p->batch,
		s->hessian.mode == NAS_HESS_LANCZOS ? "" : " (the default)",
		s->hessian.mode == NAS_HESS_LANCZOS ? " (the default, K = 1: the spec says lanczos)" : "",
		s->hessian.iters > 0 ? s->hessian.iters : 20, s->arch.weight_decay);
}

static void help_bench(FILE *fp, const NasProgram *p, const char *bin)
{
	fprintf(fp, "usage: %s bench [--iters N] [--warmup N] [--seed N] [--threads N] [--json]\n"
		"       [--only fwd_bwd|step|curvature|second]\n\n", bin);
	about(fp, p);
	fputs("\n"
	      "Time the program on two random batches (x N(0, 1), uniform labels) from\n"
	      "parameters initialized from the seed, in training mode:\n"
	      "  fwd_bwd  the loss and its gradient on the training batch;\n"
	      "  step     one first-order DARTS search step: Adam on alpha (lr 3e-4,\n"
	      "           betas 0.5 and 0.999, weight decay 1e-3) from the gradient on the\n"
	      "           validation batch, then SGD on the weights (lr 0.025, momentum\n"
	      "           0.9, weight decay 3e-4) from the gradient on the training batch,\n"
	      "           its norm clipped to 5.\n"
	      "Each is timed over the timed iterations after the warmup ones; the report\n"
	      "gives the median and minimum milliseconds per iteration, GFLOP/s at the\n"
	      "median (a forward pass counted as 2 FLOPs per multiply-add of the convs\n"
	      "and linear layers, forward + backward as 3x that, a step as 6x), the peak\n"
	      "resident memory, the thread count and the last loss.\n"
	      "\n"
	      "options:\n"
	      "  --iters N             timed iterations of each measurement (default 10)\n"
	      "  --warmup N            untimed iterations before them (default 2)\n"
	      "  --seed N              the seed of the parameters, batches and noise (default 0)\n"
	      "  --threads N           OpenMP threads; 0 or absent: OMP_NUM_THREADS, or\n"
	      "                        one per core\n"
	      "  --json                print one JSON object, as bench/torch_step.py does\n"
	      "  --only fwd_bwd|step   run one measurement alone\n"
	      "  --only curvature      time the alpha-Hessian instead, on the validation batch\n"
	      "                        with the arch weight decay 1e-3: once exactly (a product\n"
	      "                        per alpha entry, then LAPACKE), and lambda_max by\n"
	      "                        Lanczos (at most 20 products, tolerance 1e-5) over the\n"
	      "                        timed iterations\n"
	      "  --only second         time one second-order search step instead: the exact\n"
	      "                        alpha gradient through the virtual SGD step (xi 0.025,\n"
	      "                        the momentum buffer) on the training batch, Adam on\n"
	      "                        alpha, then the weight step as above\n"
	      "  -h, --help            print this help\n",
	      fp);
}

/* ---- commands and their options ---- */

enum { MAX_OPTS = 16, MAX_SETS = 64 };

typedef struct Opt {
	const char *name;  /* with the dashes */
	const char *arg;   /* the value's name, or NULL for a flag */
	int repeat;        /* may be given several times (--set, --set-file) */
} Opt;

/* A value of a repeatable option, and which option it is. */
typedef struct Given {
	int opt;
	const char *val;
} Given;

typedef struct Cmd {
	const char *name;
	Opt opts[MAX_OPTS];
	void (*help)(FILE *fp, const NasProgram *p, const char *bin);
} Cmd;

enum { SEARCH, EVAL, INIT, GRAD, HESSIAN, BENCH, HELP, NCMDS };
enum { S_DATA, S_OUT, S_RESUME, S_EPOCHS, S_BATCH, S_SEED, S_SUBSET, S_THREADS, S_SET,
       S_SET_FILE, S_MEAN, S_STD, S_JSON };                 /* search */
enum { E_LOAD, E_DATA, E_TRAIN, E_THREADS, E_JSON };       /* eval */
enum { O_SEED, O_SAVE };                                   /* init */
enum { G_LOAD, G_BATCH, G_SAVE_GRAD, G_JSON, G_SEED, G_ALPHA, G_ORDER, G_VAL_BATCH, G_LR,
       G_MOMENTUM, G_WEIGHT_DECAY };                        /* grad */
enum { B_ITERS, B_WARMUP, B_SEED, B_THREADS, B_JSON, B_ONLY }; /* bench */
enum { H_LOAD, H_BATCH, H_EXACT, H_LANCZOS, H_ITERS, H_TOL, H_WD, H_SEED, H_THREADS,
       H_JSON };                                            /* hessian */

static const Cmd cmds[NCMDS] = {
	[SEARCH] = {"search",
		    {{"--data", "DIR"}, {"--out", "DIR"}, {"--resume", "DIR"}, {"--epochs", "N"},
		     {"--batch", "N"}, {"--seed", "N"}, {"--subset", "N"}, {"--threads", "N"},
		     {"--set", "NAME=VALUE", 1}, {"--set-file", "FILE", 1}, {"--mean", "M"},
		     {"--std", "S"}, {"--json", NULL}},
		    help_search},
	[EVAL] = {"eval",
		  {{"--load", "STATE"}, {"--data", "DIR"}, {"--train", NULL}, {"--threads", "N"},
		   {"--json", NULL}},
		  help_eval},
	[INIT] = {"init", {{"--seed", "N"}, {"--save", "STATE"}}, help_init},
	[GRAD] = {"grad",
		  {{"--load", "STATE"}, {"--batch", "BATCH"}, {"--save-grad", "GRAD"},
		   {"--json", NULL}, {"--seed", "N"}, {"--alpha-only", NULL},
		   {"--order", "first|second"}, {"--val-batch", "VAL"}, {"--lr", "XI"},
		   {"--momentum", "MU"}, {"--weight-decay", "WD"}},
		  help_grad},
	[HESSIAN] = {"hessian",
		     {{"--load", "STATE"}, {"--batch", "BATCH"}, {"--exact", NULL},
		      {"--lanczos", "K"}, {"--iters", "N"}, {"--tol", "T"}, {"--weight-decay", "WD"},
		      {"--seed", "N"}, {"--threads", "N"}, {"--json", NULL}},
		     help_hessian},
	[BENCH] = {"bench",
		   {{"--iters", "N"}, {"--warmup", "N"}, {"--seed", "N"}, {"--threads", "N"},
		    {"--json", NULL}, {"--only", "fwd_bwd|step|curvature|second"}},
		   help_bench},
	[HELP] = {"help", {{NULL, NULL}}, help_main},
};

/* ---- did you mean ---- */

/* ---- errors ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int usage_error(const char *bin, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", bin);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s%s%s --help'.\n", bin, cmd ? " " : "", cmd ? cmd : "");
	return 2;
}

static int unknown(const char *bin, const char *cmd, const char *what, const char *name,
		   const char *const *cands, int n)
{
	const char *best = nas_suggest(name, cands, n);
	if (best)
		return usage_error(bin, cmd, "unknown %s '%s'; did you mean '%s'?", what, name,
				   best);
	return usage_error(bin, cmd, "unknown %s '%s'", what, name);
}

static int find_cmd(const char *name)
{
	for (int c = 0; c < NCMDS; c++)
		if (strcmp(cmds[c].name, name) == 0)
			return c;
	return -1;
}

static int unknown_cmd(const char *bin, const char *name)
{
	const char *names[NCMDS];
	for (int c = 0; c < NCMDS; c++)
		names[c] = cmds[c].name;
	return unknown(bin, NULL, "command", name, names, NCMDS);
}

/* A seed: decimal digits only, 0 to 2^64 - 1. */
static int parse_u64(const char *s, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* ---- the program's table ---- */

/* What is wrong with row i of a tensor table (kinds lo..hi, a block of
 * `block` reals), into buf. */
static void table_problem(const NasTensor *t, int i, NasKind lo, NasKind hi, int64_t block,
			  char *buf, size_t n)
{
	int64_t numel = 1;
	int ok = t->name && t->name[0] && t->rank >= 0 && t->rank <= 4 &&
		 (int)t->kind >= (int)lo && (int)t->kind <= (int)hi;
	for (int d = 0; ok && d < t->rank; d++) {
		ok = t->shape[d] >= 0 && (t->shape[d] == 0 || numel <= INT64_MAX / t->shape[d]);
		numel *= ok ? t->shape[d] : 1;
	}
	if (!ok || numel != t->numel)
		snprintf(buf, n, "tensor %d (%s) has a bad name, kind, rank or shape", i,
			 t->name ? t->name : "unnamed");
	else if (t->offset < 0 || t->offset > block - t->numel)
		snprintf(buf, n, "tensor %s lies outside its block", t->name);
	else if ((t->kind == NAS_CONV || t->kind == NAS_LINEAR || t->kind == NAS_BIAS) &&
		 t->fan_in <= 0)
		snprintf(buf, n, "tensor %s has no fan_in", t->name);
}

/* What is wrong with p (the compiler's output, so a bug of nasc), or NULL. */
static const char *program_problem(const NasProgram *p, char *buf, size_t n)
{
	if (p->real_size != 4 && p->real_size != 8)
		snprintf(buf, n, "real_size is %d, not 4 or 8", p->real_size);
	else if (p->batch <= 0 || p->in_c <= 0 || p->in_h <= 0 || p->in_w <= 0 ||
		 p->classes <= 0)
		snprintf(buf, n, "the batch, input or class count is not positive");
	else if (p->ntensors < 0 || (p->ntensors > 0 && !p->tensors) || p->nparams < 0 ||
		 p->arena_bytes < 0 || !p->grad)
		snprintf(buf, n, "the tensor table, sizes or functions are missing");
	else if (p->nrunning_tensors < 0 || (p->nrunning_tensors > 0 && !p->running_tensors) ||
		 p->nrunning < 0 || p->ndrop < 0)
		snprintf(buf, n, "the running-statistics table or the drop-path size is bad");
	else
		buf[0] = '\0';
	for (int i = 0; !buf[0] && i < p->ntensors; i++)
		table_problem(&p->tensors[i], i, NAS_CONV, NAS_ALPHA, p->nparams, buf, n);
	for (int i = 0; !buf[0] && i < p->nrunning_tensors; i++)
		table_problem(&p->running_tensors[i], i, NAS_BN_MEAN, NAS_BN_VAR, p->nrunning, buf, n);
	return buf[0] ? buf : NULL;
}

/* ---- parsing ---- */

/* Parses the options of command c from argv[first..]: vals[k] is option
 * k's value ("" for a given flag), or NULL; many[] holds every value of the
 * repeatable options, in command-line order.  Returns 0, or an exit status:
 * 0 with *done set after printing help, 2 after a usage error. */
static int parse_opts(const NasProgram *p, const char *bin, int c, int argc, char **argv,
		      int first, const char **vals, Given *many, int *nmany, int *done)
{
	const Cmd *cmd = &cmds[c];
	int nopts = 0;
	const char *names[MAX_OPTS];
	while (nopts < MAX_OPTS && cmd->opts[nopts].name) {
		names[nopts] = cmd->opts[nopts].name;
		nopts++;
	}
	for (int i = first; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			cmd->help(stdout, p, bin);
			*done = 1;
			return 0;
		}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			return usage_error(bin, cmd->name, "unexpected argument '%s'", a);
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		int k = 0;
		while (k < nopts && !(strlen(names[k]) == len && strncmp(names[k], a, len) == 0))
			k++;
		if (k == nopts) {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), a);
			return unknown(bin, cmd->name, "option", name, names, nopts);
		}
		if (vals[k] && !cmd->opts[k].repeat)
			return usage_error(bin, cmd->name, "%s is given twice", names[k]);
		if (!cmd->opts[k].arg) {
			if (eq)
				return usage_error(bin, cmd->name, "%s takes no value", names[k]);
			vals[k] = "";
		} else if (eq) {
			vals[k] = eq + 1;
		} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
			vals[k] = argv[++i];
		} else {
			return usage_error(bin, cmd->name, "%s needs a value: %s %s", names[k],
					   names[k], cmd->opts[k].arg);
		}
		if (cmd->opts[k].arg && !vals[k][0])
			return usage_error(bin, cmd->name, "%s needs a value: %s %s", names[k],
					   names[k], cmd->opts[k].arg);
		if (cmd->opts[k].repeat) {
			if (*nmany == MAX_SETS)
				return usage_error(bin, cmd->name, "more than %d --set and --set-file "
						   "options", MAX_SETS);
			many[(*nmany)++] = (Given){k, vals[k]};
		}
	}
	return 0;
}

static int need(const char *bin, const char *cmd, const char *val, const char *what)
{
	return val ? 0 : usage_error(bin, cmd, "%s needs %s", cmd, what);
}

static int seed_of(const char *bin, const char *cmd, const char *val, uint64_t *seed)
{
	*seed = 0;
	if (val && parse_u64(val, seed) != 0)
		return usage_error(bin, cmd, "--seed needs an integer from 0 to %" PRIu64
				   ", not '%s'", UINT64_MAX, val);
	return 0;
}

/* A count: decimal digits, lo to hi; *out keeps its default when val is
 * NULL. */
static int count_of(const char *bin, const char *cmd, const char *opt, const char *val,
		    int lo, int hi, int *out)
{
	uint64_t v;
	if (!val)
		return 0;
	if (parse_u64(val, &v) != 0 || v < (uint64_t)lo || v > (uint64_t)hi)
		return usage_error(bin, cmd, "%s needs an integer from %d to %d, not '%s'", opt, lo,
				   hi, val);
	*out = (int)v;
	return 0;
}

/* One of two words: *k becomes its index, and keeps its default when val
 * is NULL. */
static int choice_of(const char *bin, const char *cmd, const char *opt, const char *val,
		     const char *const *words, int n, int *k)
{
	if (!val)
		return 0;
	for (int i = 0; i < n; i++)
		if (strcmp(val, words[i]) == 0) {
			*k = i;
			return 0;
		}
	/* "a, b or c" */
	char list[256] = "";
	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			 i == 0 ? "" : i == n - 1 ? " or " : ", ", words[i]);
	const char *best = nas_suggest(val, words, n);
	if (best)
		return usage_error(bin, cmd, "%s needs %s, not '%s'; did you mean '%s'?", opt, list,
				   val, best);
	return usage_error(bin, cmd, "%s needs %s, not '%s'", opt, list, val);
}

static const char *opt_name(int cmd, int opt)
{
	return cmds[cmd].opts[opt].name;
}

static int bench(const NasProgram *p, const char *bin, const char **vals)
{
	BenchOptions o = {.iters = 10, .warmup = 2, .json = vals[B_JSON] != NULL};
	int rc;
	if ((rc = count_of(bin, "bench", "--iters", vals[B_ITERS], 1, 1000000, &o.iters)) != 0 ||
	    (rc = count_of(bin, "bench", "--warmup", vals[B_WARMUP], 0, 1000000, &o.warmup)) != 0 ||
	    (rc = count_of(bin, "bench", "--threads", vals[B_THREADS], 0, 4096, &o.threads)) != 0 ||
	    (rc = seed_of(bin, "bench", vals[B_SEED], &o.seed)) != 0)
		return rc;
	static const char *const only[] = {"fwd_bwd", "step", "curvature", "second"};
	static const BenchOnly as[] = {BENCH_FWD_BWD, BENCH_STEP, BENCH_CURVATURE, BENCH_SECOND};
	int k = -1;
	if ((rc = choice_of(bin, "bench", "--only", vals[B_ONLY], only, 4, &k)) != 0)
		return rc;
	if (k >= 0)
		o.only = as[k];
	return cmd_bench(p, bin, &o);
}

/* A number from lo to hi (both included); *out keeps its default when val
 * is NULL. */
static int real_of(const char *bin, const char *cmd, const char *opt, const char *val, double lo,
		   double hi, double *out)
{
	if (!val)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (!*val || *end || errno || !(v >= lo && v <= hi))
		return usage_error(bin, cmd, "%s needs a number from %g to %g, not '%s'", opt, lo, hi,
				   val);
	*out = v;
	return 0;
}

static int hessian(const NasProgram *p, const char *bin, const char **vals)
{
	const NasSchedule *s = &p->schedule;
	HessianOptions o = {
		.load = vals[H_LOAD], .batch = vals[H_BATCH], .json = vals[H_JSON] != NULL,
		.iters = s->hessian.iters > 0 && s->hessian.iters < 1000000 ? (int)s->hessian.iters : 20,
		.tol = 1e-5, .weight_decay = -1,
		.lanczos = s->hessian.mode == NAS_HESS_LANCZOS ? 1 : 0,
	};
	int rc;
	if (vals[H_EXACT] && vals[H_LANCZOS])
		return usage_error(bin, "hessian", "--exact and --lanczos K exclude each other");
	if (vals[H_EXACT])
		o.lanczos = 0;
	if ((rc = need(bin, "hessian", o.load, "--load STATE")) != 0 ||
	    (rc = need(bin, "hessian", o.batch, "--batch BATCH")) != 0 ||
	    (rc = count_of(bin, "hessian", "--lanczos", vals[H_LANCZOS], 1, 1000000, &o.lanczos)) != 0 ||
	    (rc = count_of(bin, "hessian", "--iters", vals[H_ITERS], 1, 1000000, &o.iters)) != 0 ||
	    (rc = real_of(bin, "hessian", "--tol", vals[H_TOL], 0, 1, &o.tol)) != 0 ||
	    (rc = real_of(bin, "hessian", "--weight-decay", vals[H_WD], 0, 1e6, &o.weight_decay)) != 0 ||
	    (rc = count_of(bin, "hessian", "--threads", vals[H_THREADS], 0, 4096, &o.threads)) != 0 ||
	    (rc = seed_of(bin, "hessian", vals[H_SEED], &o.seed)) != 0)
		return rc;
	return cmd_hessian(p, bin, &o);
}

/* An optional count of at least lo: -1 when val is NULL. */
static int i64_of(const char *bin, const char *cmd, const char *opt, const char *val, int64_t lo,
		  int64_t *out)
{
	uint64_t v;
	*out = -1;
	if (!val)
		return 0;
	if (parse_u64(val, &v) != 0 || v < (uint64_t)lo || v > (uint64_t)INT64_MAX)
		return usage_error(bin, cmd, "%s needs an integer of at least %" PRId64 ", not '%s'",
				   opt, lo, val);
	*out = (int64_t)v;
	return 0;
}

static int search(const NasProgram *p, const char *bin, const char **vals, const Given *many,
		  int nmany)
{
	SearchSet sets[MAX_SETS];
	for (int i = 0; i < nmany; i++)
		sets[i] = (SearchSet){many[i].val, many[i].opt == S_SET_FILE};
	SearchOptions o = {
		.data = vals[S_DATA], .out = vals[S_OUT], .resume = vals[S_RESUME],
		.sets = sets, .nsets = nmany, .mean = vals[S_MEAN], .std = vals[S_STD],
		.json = vals[S_JSON] != NULL,
	};
	int rc;
	if (o.out && o.resume)
		return usage_error(bin, "search", "--resume DIR resumes the search in DIR; "
				   "--out cannot go with it");
	if ((rc = i64_of(bin, "search", "--epochs", vals[S_EPOCHS], 1, &o.epochs)) != 0 ||
	    (rc = i64_of(bin, "search", "--batch", vals[S_BATCH], 1, &o.batch)) != 0 ||
	    (rc = i64_of(bin, "search", "--seed", vals[S_SEED], 0, &o.seed)) != 0 ||
	    (rc = i64_of(bin, "search", "--subset", vals[S_SUBSET], 2, &o.subset)) != 0 ||
	    (rc = count_of(bin, "search", "--threads", vals[S_THREADS], 0, 4096, &o.threads)) != 0)
		return rc;
	if (o.subset < 0)
		o.subset = 0;
	return cmd_search(p, bin, &o);
}

static int eval(const NasProgram *p, const char *bin, const char **vals)
{
	EvalOptions o = {.load = vals[E_LOAD], .data = vals[E_DATA], .train = vals[E_TRAIN] != NULL,
			 .json = vals[E_JSON] != NULL};
	int rc;
	if ((rc = need(bin, "eval", o.load, "--load STATE")) != 0 ||
	    (rc = count_of(bin, "eval", "--threads", vals[E_THREADS], 0, 4096, &o.threads)) != 0)
		return rc;
	return cmd_eval(p, bin, &o);
}

/* A number of at least 0 (finite); *out keeps its default when val is
 * NULL. */
static int nonneg_of(const char *bin, const char *cmd, const char *opt, const char *val,
		     double *out)
{
	if (!val)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (end == val || *end || errno || !isfinite(v) || v < 0)
		return usage_error(bin, cmd, "%s needs a number of at least 0, not '%s'", opt, val);
	*out = v;
	return 0;
}

static int grad(const NasProgram *p, const char *bin, const char **vals)
{
	const NasSchedule *s = &p->schedule;
	GradOptions o = {
		.load = vals[G_LOAD], .batch = vals[G_BATCH], .save_grad = vals[G_SAVE_GRAD],
		.json = vals[G_JSON] != NULL, .alpha_only = vals[G_ALPHA] != NULL,
		.val_batch = vals[G_VAL_BATCH], .lr = s->weights.lr,
		.momentum = s->weights.momentum, .weight_decay = s->l2,
	};
	static const char *const orders[] = {"first", "second"};
	int rc, k = 0;
	if ((rc = choice_of(bin, "grad", opt_name(GRAD, G_ORDER), vals[G_ORDER], orders, 2,
			    &k)) != 0)
		return rc;
	o.second = k == 1;
	static const int second_only[] = {G_VAL_BATCH, G_LR, G_MOMENTUM, G_WEIGHT_DECAY};
	for (int i = 0; !o.second && i < 4; i++)
		if (vals[second_only[i]])
			return usage_error(bin, "grad", "%s goes with --order second",
					   opt_name(GRAD, second_only[i]));
	if ((rc = need(bin, "grad", o.load, "--load STATE")) != 0 ||
	    (rc = need(bin, "grad", o.batch, "--batch BATCH")) != 0)
		return rc;
	if (o.second && !o.val_batch)
		return usage_error(bin, "grad", "grad --order second needs --val-batch VAL (the "
				   "validation batch)");
	if ((rc = seed_of(bin, "grad", vals[G_SEED], &o.seed)) != 0 ||
	    (rc = nonneg_of(bin, "grad", "--lr", vals[G_LR], &o.lr)) != 0 ||
	    (rc = nonneg_of(bin, "grad", "--momentum", vals[G_MOMENTUM], &o.momentum)) != 0 ||
	    (rc = nonneg_of(bin, "grad", "--weight-decay", vals[G_WEIGHT_DECAY], &o.weight_decay)) != 0)
		return rc;
	return cmd_grad(p, bin, &o);
}

static int run(const NasProgram *p, const char *bin, int argc, char **argv)
{
	if (argc < 2) {
		help_main(stderr, p, bin);
		return 2;
	}
	const char *a = argv[1];
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		help_main(stdout, p, bin);
		return 0;
	}
	if (strcmp(a, "--version") == 0) {
		printf("%s (nasc %s) %s %s\n", bin, p->nasc_version, p->spec, p->config);
		return 0;
	}
	if (a[0] == '-') {
		static const char *const top[] = {"--help", "--version"};
		return unknown(bin, NULL, "option", a, top, 2);
	}
	int c = find_cmd(a);
	if (c < 0)
		return unknown_cmd(bin, a);
	if (c == HELP) {
		if (argc > 3)
			return usage_error(bin, NULL, "help takes one command, not '%s'", argv[3]);
		int h = argc == 3 ? find_cmd(argv[2]) : HELP;
		if (h < 0)
			return unknown_cmd(bin, argv[2]);
		cmds[h].help(stdout, p, bin);
		return 0;
	}

	const char *vals[MAX_OPTS] = {NULL};
	Given many[MAX_SETS];
	int nmany = 0, done = 0, rc = parse_opts(p, bin, c, argc, argv, 2, vals, many, &nmany, &done);
	if (rc != 0 || done)
		return rc;
	char problem[256];
	if (program_problem(p, problem, sizeof problem)) {
		fprintf(stderr, "%s: the compiled program is inconsistent (a bug of nasc): %s\n",
			bin, problem);
		return 1;
	}
	if (c == INIT) {
		uint64_t seed;
		if ((rc = need(bin, "init", vals[O_SEED], "--seed N")) != 0 ||
		    (rc = need(bin, "init", vals[O_SAVE], "--save STATE")) != 0 ||
		    (rc = seed_of(bin, "init", vals[O_SEED], &seed)) != 0)
			return rc;
		return cmd_init(p, bin, seed, vals[O_SAVE]);
	}
	if (c == BENCH)
		return bench(p, bin, vals);
	if (c == SEARCH)
		return search(p, bin, vals, many, nmany);
	if (c == EVAL)
		return eval(p, bin, vals);
	if (c == HESSIAN)
		return hessian(p, bin, vals);
	return grad(p, bin, vals);
}

int nas_main(const NasProgram *p, int argc, char **argv)
{
	const char *bin = argc > 0 && argv[0] ? argv[0] : "search";
	const char *slash = strrchr(bin, '/');
	if (slash && slash[1])
		bin = slash + 1;
	int rc = run(p, bin, argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: writing the output: %s\n", bin, strerror(errno));
		rc = rc ? rc : 1;
	}
	return rc;
}
