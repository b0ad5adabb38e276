/* cmd_search.c - `BIN search`, the main job: a DARTS search (first or
 * second order)
 * on a dataset, with progress on stderr and an output folder:
 *   log.jsonl               one record per epoch (runlog.c)
 *   checkpoint.safetensors  the search's state after the latest epoch
 *   genotype.json, genotype.txt, <cell>.dot (.svg)  the architecture found
 *   state.safetensors       the final weights, alpha and running statistics
 * `--resume DIR` goes on from the checkpoint of a run that was stopped or
 * killed, and ends where the uninterrupted run would have, bit for bit.
 *
 * Nothing written is ever overwritten by a failed run: a fresh search
 * refuses a folder that already holds one, and every file is replaced
 * whole (atomic.c), the log appended to line by line. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "commands.h"
#include "data.h"
#include "genotype.h"
#include "progress.h"
#include "robust.h"
#include "runlog.h"
#include "safetensors.h"
#include "schedule.h"
#include "search.h"
#include "state.h"

enum { PATH_MAX_ = 4096 };

typedef struct Ctx {
	const NasProgram *p;
	const char *bin;
	const SearchOptions *o;
	char dir[PATH_MAX_];
	Progress pg;
	int64_t kill_at;        /* NASC_FAULT_KILL_AT_STEP, or -1 */
	int64_t steps_before;   /* steps of the epochs before this one */
} Ctx;

static int fail(const Ctx *c, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "%s: ", c->bin);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* mkdir -p */
static int make_dir(const char *dir)
{
	char tmp[PATH_MAX_];
	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *q = tmp + 1; *q; q++)
		if (*q == '/') {
			*q = '\0';
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return -1;
			*q = '/';
		}
	return mkdir(tmp, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The testing hook of the kill-and-resume test: with
 * NASC_FAULT_KILL_AT_STEP=N the process SIGKILLs itself after global step
 * N (counted over every epoch, from 1), as a crash would stop it. */
static void on_step(void *ctx, const Search *s, int64_t step, int64_t steps, double loss,
		    double acc)
{
	(void)s;
	Ctx *c = ctx;
	progress_step(&c->pg, step, steps, loss, acc);
	if (c->kill_at >= 0 && c->steps_before + step >= c->kill_at)
		raise(SIGKILL);
}

/* ---- settings ---- */

static int parse_list(const char *text, double *out, int64_t n)
{
	const char *v = text;
	int64_t k = 0;
	for (; k < n; k++) {
		char *end;
		out[k] = strtod(v, &end);
		if (end == v)
			return -1;
		v = end;
		if (*v != ',')
			break;
		v++;
	}
	if (*v)
		return -1;
	if (k == 0)  /* one value for every channel */
		for (int64_t i = 1; i < n; i++)
			out[i] = out[0];
	else if (k + 1 != n)
		return -1;
	return 0;
}

/* The settings of a fresh search: the spec's, then the options. */
static int settings(Ctx *c, NasSchedule *s)
{
	const NasProgram *p = c->p;
	const SearchOptions *o = c->o;
	char err[PATH_MAX_ + 1024], num[32];
	*s = p->schedule;
	/* A bad setting, or set file, is a bad command line: exit 2.  A
	 * file's errors name it and the line. */
	for (int i = 0; i < o->nsets; i++) {
		const SearchSet *e = &o->sets[i];
		if (e->file ? sched_set_file(s, e->text, err, sizeof err) != 0 :
			      sched_set_pair(s, e->text, err, sizeof err) != 0)
			return 1 + fail(c, "%s%s", e->file ? "" : "--set: ", err);
	}
	struct { int64_t v; const char *name; } direct[] = {
		{o->epochs, "epochs"}, {o->batch, "batch"}, {o->seed, "seed"}};
	for (int i = 0; i < 3; i++) {
		if (direct[i].v < 0)
			continue;
		snprintf(num, sizeof num, "%" PRId64, direct[i].v);
		if (sched_set(s, direct[i].name, num, err, sizeof err) != 0)
			return 1 + fail(c, "--%s", err, "");
	}
	if (s->batch != p->batch) {
		snprintf(err, sizeof err, "batch %" PRId64 " asked for, but this binary was compiled "
			 "for batch %" PRId64 " (shapes are static); rebuild it with nasc build -D "
			 "batch=%" PRId64, s->batch, p->batch, s->batch);
		return 1 + fail(c, "%s%s", err, "");
	}
	if (s->second_order && !c->p->mixed)
		return 1 + fail(c, "order second needs the mixed product d/dw (grad_alpha L) . v, which "
			    "this binary was compiled without; rebuild it with this version of nasc, "
			    "or use --set order=first%s%s", "", "");
	if (s->controller.kind != NAS_CTRL_NONE && s->hessian.mode == NAS_HESS_NONE)
		return 1 + fail(c, "controller %s needs the Hessian tracked; set hessian to exact or "
			    "lanczos%s", s->controller.kind == NAS_CTRL_ES ? "es" : "ada", "");
	if (s->controller.kind == NAS_CTRL_ADA && s->controller.knob == NAS_KNOB_AUGMENT &&
	    !(s->drop_path.prob > 0))
		return 1 + fail(c, "controller ada with knob augment raises the drop-path "
			    "probability, which must start above 0 (--set drop_path.prob=0.1)%s%s",
			    "", "");
	if (s->controller.kind == NAS_CTRL_ADA && s->controller.knob == NAS_KNOB_L2 && !(s->l2 > 0))
		return 1 + fail(c, "controller ada raises l2, which must start above 0%s%s", "", "");
	return 0;
}

/* ---- the data ---- */

static int load_data(Ctx *c, const char *dir, Dataset *d)
{
	const NasProgram *p = c->p;
	char err[1024];
	if (data_load(dir, DATA_TRAIN, d, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	if (d->c != p->in_c || d->h != p->in_h || d->w != p->in_w) {
		fprintf(stderr, "%s: %s: the images are %" PRId64 "x%" PRId64 "x%" PRId64
			", this binary was compiled for %" PRId64 "x%" PRId64 "x%" PRId64
			" (rebuild it with nasc build -D input=%" PRId64 "x%" PRId64 "x%" PRId64 ")\n",
			c->bin, dir, d->c, d->h, d->w, p->in_c, p->in_h, p->in_w, d->c, d->h, d->w);
		data_free(d);
		return 1;
	}
	if (d->c > DATA_MAX_C) {
		fprintf(stderr, "%s: %s: %" PRId64 " channels; at most %d are supported\n", c->bin,
			dir, d->c, DATA_MAX_C);
		data_free(d);
		return 1;
	}
	if (d->classes > p->classes) {
		fprintf(stderr, "%s: %s: the labels go up to %" PRId64 ", this binary was compiled "
			"for %" PRId64 " classes (rebuild it with nasc build -D classes=%" PRId64 ")\n",
			c->bin, dir, d->classes - 1, p->classes, d->classes);
		data_free(d);
		return 1;
	}
	return 0;
}

/* ---- the run ---- */

/* s as a JSON string. */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 32)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void write_genotype_files(Ctx *c, const Genotype *g, int final)
{
	char err[1024];
	if (genotype_save(g, c->dir, err, sizeof err) != 0)
		fprintf(stderr, "%s: %s%s\n", c->bin, err, final ? "" : " (going on)");
}

static int finish(Ctx *c, const Search *s, const Genotype *g, const EpochStats *last)
{
	const NasProgram *p = c->p;
	char path[PATH_MAX_ + 32], err[1024], mean[256] = "", std[256] = "";
	for (int64_t k = 0; k < p->in_c; k++) {
		snprintf(mean + strlen(mean), sizeof mean - strlen(mean), "%s%.17g", k ? "," : "",
			 s->cfg.mean[k]);
		snprintf(std + strlen(std), sizeof std - strlen(std), "%s%.17g", k ? "," : "",
			 s->cfg.std[k]);
	}
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	if (mf) {
		genotype_write_text(mf, g);
		fclose(mf);
	}
	const char *const kv[] = {"data", s->cfg.data, "mean", mean, "std", std, "genotype",
				  text ? text : ""};
	path_in(path, sizeof path, c->dir, "state.safetensors");
	int rc = state_save(p, path, s->params, s->running, p->real_size,
			    p->real_size == 8 ? ST_F64 : ST_F32, kv, 4, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", c->bin, err);
	write_genotype_files(c, g, 1);
	char svg[PATH_MAX_ + 64];
	snprintf(svg, sizeof svg, "%s/%s.svg", c->dir, p->ncell_types ? p->cell_types[0].name : "");
	int have_svg = p->ncell_types && exists(svg);
	if (c->o->json) {
		printf("{\"out\": ");
		json_string(stdout, c->dir);
		printf(", \"epochs\": %" PRId64 ", \"val_acc\": ", s->epoch);
		if (last)
			printf("%.9g, \"val_loss\": %.9g", last->val_acc, last->val_loss);
		else
			printf("null, \"val_loss\": null");
		printf(", \"genotype\": ");
		json_string(stdout, text ? text : "");
		printf("}\n");
	} else {
		printf("%s\n", text ? text : "");
		if (last)
			printf("validation accuracy %.2f%% (loss %.4f) after %" PRId64 " epochs\n",
			       100 * last->val_acc, last->val_loss, s->epoch);
		printf("in %s/: log.jsonl, genotype.json, genotype.txt, the cells as .dot%s, "
		       "state.safetensors, checkpoint.safetensors\n", c->dir,
		       have_svg ? " and .svg" : "");
	}
	free(text);
	return rc == 0 ? 0 : 1;
}

static void epoch_line(Ctx *c, const EpochStats *st, const Search *s)
{
	char el[32], left[32];
	progress_clear(&c->pg);
	int64_t rest = s->cfg.s.epochs - s->epoch;
	fprintf(stderr, "%s: epoch %" PRId64 "/%" PRId64 ": lr %.4g, train loss %.4f acc %.2f%%, "
		"val loss %.4f acc %.2f%%, %s%s%s\n", c->bin, st->epoch + 1, s->cfg.s.epochs, st->lr,
		st->train_loss, 100 * st->train_acc, st->val_loss, 100 * st->val_acc,
		progress_duration(el, sizeof el, st->seconds), rest ? ", about " : "",
		rest ? progress_duration(left, sizeof left, st->seconds * (double)rest) : "");
}

/* A line on stderr for the curvature of an epoch and its decision. */
static void curvature_line(Ctx *c, const EpochStats *st)
{
	fprintf(stderr, "%s: epoch %" PRId64 ": lambda_max %.6g (%s, %d products, %.3g s)", c->bin,
		st->epoch + 1, st->lambda_max, st->curv_method, st->curv_hvps, st->curv_seconds);
	if (st->checked)
		fprintf(stderr, ", local average %.6g vs %.6g at epoch %" PRId64 "%s", st->la_now,
			st->la_then, st->stop_epoch + 1,
			st->at_max ? ": grew, regularization already at its maximum" :
			st->triggered ? ": grew" : "");
	fputc('\n', stderr);
}

/* The architecture and state of epoch e, from its snapshot: ES's answer,
 * written as genotype_es.* (es_only) or as the search's result. */
static int answer_of(Ctx *c, Robust *rb, int64_t e, Search *t, Genotype *g)
{
	char err[1024];
	if (robust_load(rb, e, t, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	if (genotype_derive(c->p, t->params, g) != 0) {
		search_free(t);
		return fail(c, "out of memory deriving the genotype%s%s", "", "");
	}
	return 0;
}

/* ADA: back to the state of the stop epoch, with the regularization
 * raised; the log, the trace and the clock carry on. */
static int rollback(Ctx *c, Robust *rb, Search *s, const char *logp)
{
	char err[1024];
	const CtrlDecision *d = &rb->d;
	Search t;
	Genotype g;
	if (!rb->es_written) {
		if (answer_of(c, rb, d->stop_epoch, &t, &g) != 0)
			return 1;
		if (genotype_save_es(&g, c->dir, err, sizeof err) != 0)
			fprintf(stderr, "%s: %s (going on)\n", c->bin, err);
		genotype_free(&g);
		search_free(&t);
		rb->es_written = 1;
	}
	RunEvent ev = {.event = "rollback", .epoch = d->epoch, .stop_epoch = d->stop_epoch,
		       .la_now = d->la_now, .la_then = d->la_then, .knob = robust_knob(s),
		       .old_reg = d->old_reg, .new_reg = d->new_reg};
	if (runlog_event(logp, s, &ev, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	if (robust_load(rb, d->stop_epoch, &t, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	t.wall = s->wall;
	t.log_records = s->log_records + 1;
	/* the trace goes on from the search's, not from the snapshot's */
	free(t.robust);
	t.robust = s->robust;
	s->robust = NULL;
	robust_set_reg(&t, d->new_reg);
	search_free(s);
	*s = t;
	fprintf(stderr, "%s: DARTS-ADA: back to epoch %" PRId64 ", %s %.6g -> %.6g\n", c->bin,
		d->stop_epoch + 1, ev.knob, d->old_reg, d->new_reg);
	return 0;
}

static int run_epochs(Ctx *c, Search *s, const Dataset *d)
{
	const NasProgram *p = c->p;
	char err[1024], logp[PATH_MAX_ + 32], ckp[PATH_MAX_ + 32];
	path_in(logp, sizeof logp, c->dir, "log.jsonl");
	path_in(ckp, sizeof ckp, c->dir, "checkpoint.safetensors");
	Robust rb;
	if (robust_init(&rb, s, c->dir, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	SearchRun *r = search_run_new(s, d);
	if (!r) {
		robust_free(&rb);
		return fail(c, "out of memory for the search's buffers%s%s", "", "");
	}
	Genotype g;
	EpochStats st, *last = NULL;
	int rc = 0;
	while (rc == 0 && !rb.stopped && s->epoch < s->cfg.s.epochs) {
		progress_epoch(&c->pg, s->epoch, s->cfg.s.epochs);
		c->steps_before = s->epoch * (s->cfg.ntrain / p->batch);
		search_epoch(s, r, &st, on_step, c);
		last = &st;
		int due = robust_due(&rb, s, st.epoch);
		if (due && robust_measure(&rb, s, r, &st, err, sizeof err) != 0) {
			char what[64];
			snprintf(what, sizeof what, "%" PRId64, st.epoch + 1);
			rc = fail(c, "the curvature after epoch %s: %s", what, err);
			break;
		}
		if (genotype_derive(p, s->params, &g) != 0) {
			rc = fail(c, "out of memory deriving the genotype%s%s", "", "");
			break;
		}
		epoch_line(c, &st, s);
		if (due)
			curvature_line(c, &st);
		CtrlAction act = due ? rb.d.action : CTRL_CONTINUE;
		if (act == CTRL_STOP) {
			rb.stopped = 1;
			rb.stop_epoch = rb.d.stop_epoch;
		}
		/* The log first: a crash before the checkpoint is written makes
		 * the resumed run drop this record and log the epoch again.  The
		 * snapshot before the checkpoint, which names the trace. */
		s->log_records++;
		if (runlog_append(logp, s, &st, &g, err, sizeof err) != 0 ||
		    robust_keep(&rb, s, due, err, sizeof err) != 0 ||
		    checkpoint_save(s, ckp, err, sizeof err) != 0)
			rc = fail(c, "%s%s", err, "");
		else
			write_genotype_files(c, &g, 0);
		genotype_free(&g);
		if (rc == 0 && act == CTRL_ROLLBACK) {
			rc = rollback(c, &rb, s, logp);
			last = NULL;
			if (rc == 0 && (robust_keep(&rb, s, 0, err, sizeof err) != 0 ||
					checkpoint_save(s, ckp, err, sizeof err) != 0))
				rc = fail(c, "%s%s", err, "");
		}
		if (rc == 0 && act == CTRL_STOP) {
			RunEvent ev = {.event = "stop", .epoch = rb.d.epoch, .stop_epoch = rb.d.stop_epoch,
				       .la_now = rb.d.la_now, .la_then = rb.d.la_then};
			fprintf(stderr, "%s: DARTS-ES: the local average of lambda_max grew by %.3g "
				"since epoch %" PRId64 "; stopping with the architecture of that "
				"epoch\n", c->bin, rb.d.la_then > 0 ? rb.d.la_now / rb.d.la_then : 0,
				rb.d.stop_epoch + 1);
			s->log_records++;
			if (runlog_event(logp, s, &ev, err, sizeof err) != 0 ||
			    robust_keep(&rb, s, 0, err, sizeof err) != 0 ||
			    checkpoint_save(s, ckp, err, sizeof err) != 0)
				rc = fail(c, "%s%s", err, "");
		}
	}
	if (rc == 0 && rb.stopped) {
		/* ES: the result is the state and architecture of the stop epoch */
		Search t;
		if (answer_of(c, &rb, rb.stop_epoch, &t, &g) != 0) {
			rc = 1;
		} else {
			rc = finish(c, &t, &g, NULL);
			genotype_free(&g);
			search_free(&t);
		}
	} else if (rc == 0) {
		if (genotype_derive(p, s->params, &g) != 0) {
			rc = fail(c, "out of memory deriving the genotype%s%s", "", "");
		} else {
			/* last is NULL when resumed after the last epoch. */
			rc = finish(c, s, &g, last);
			genotype_free(&g);
		}
	}
	search_run_free(r);
	robust_free(&rb);
	return rc;
}

/* ---- fresh and resumed runs ---- */

static int fresh(Ctx *c)
{
	const NasProgram *p = c->p;
	const SearchOptions *o = c->o;
	char path[PATH_MAX_ + 32];
	SearchConfig cfg;
	memset(&cfg, 0, sizeof cfg);
	int bad = settings(c, &cfg.s);
	if (bad)
		return bad;
	snprintf(cfg.data, sizeof cfg.data, "%s", o->data ? o->data : NAS_DEFAULT_DATA);
	cfg.subset = o->subset;
	/* Refuse a folder that holds a search before reading anything. */
	static const char *const mine[] = {"log.jsonl", "checkpoint.safetensors",
					   "state.safetensors"};
	for (int i = 0; i < 3; i++) {
		path_in(path, sizeof path, c->dir, mine[i]);
		if (exists(path))
			return fail(c, "%s already holds a search (%s); resume it with --resume, or "
				    "choose another --out", c->dir, mine[i]);
	}
	Dataset d;
	if (load_data(c, cfg.data, &d) != 0)
		return 1;
	int64_t pool = cfg.subset > 0 && cfg.subset < d.n ? cfg.subset : d.n;
	if (cfg.subset > d.n)
		fprintf(stderr, "%s: note: --subset %" PRId64 " is more than the %" PRId64
			" training images; using them all\n", c->bin, cfg.subset, d.n);
	int rc = 0;
	/* The split's sizes, as data_split rounds them. */
	int64_t *tr = NULL, *va = NULL;
	if (data_split(pool, cfg.s.split, 0, 0, &tr, &cfg.ntrain, &va, &cfg.nval) != 0)
		rc = fail(c, "a split of %s images leaves one side empty (or memory ran out)",
			  pool < 2 ? "fewer than 2" : "so few", "");
	free(tr);
	free(va);
	if (rc == 0 && (cfg.ntrain < p->batch || cfg.nval < p->batch)) {
		fprintf(stderr, "%s: %" PRId64 " images split %" PRId64 "/%" PRId64 " give less than "
			"one batch of %" PRId64 " on a side; use more images (--subset) or another "
			"split\n", c->bin, pool, cfg.ntrain, cfg.nval, p->batch);
		rc = 1;
	}
	if (rc == 0 && o->mean && parse_list(o->mean, cfg.mean, p->in_c) != 0)
		rc = 1 + fail(c, "--mean needs one number or %s, not '%s'", "one per channel", o->mean);
	if (rc == 0 && o->std && parse_list(o->std, cfg.std, p->in_c) != 0)
		rc = 1 + fail(c, "--std needs one number or %s, not '%s'", "one per channel", o->std);
	for (int64_t k = 0; rc == 0 && o->std && k < p->in_c; k++)
		if (!(cfg.std[k] > 0))
			rc = 1 + fail(c, "--std must be positive%s%s", "", "");
	Search s;
	if (rc == 0 && search_init(&s, p, &cfg) != 0)
		rc = fail(c, "out of memory, or optimizer settings PyTorch refuses%s%s", "", "");
	if (rc != 0) {
		data_free(&d);
		return rc;
	}
	if (!o->mean || !o->std) {
		/* Over the whole training set, as DARTS's constants are. */
		double mean[DATA_MAX_C], std[DATA_MAX_C];
		data_channel_stats(&d, NULL, d.n, mean, std);
		for (int64_t k = 0; k < p->in_c; k++) {
			if (!o->mean)
				s.cfg.mean[k] = mean[k];
			if (!o->std)
				s.cfg.std[k] = std[k] > 0 ? std[k] : 1;
		}
	}
	if (make_dir(c->dir) != 0) {
		rc = fail(c, "cannot create the output folder %s: %s", c->dir, strerror(errno));
	} else if (search_start(&s) != 0) {
		rc = fail(c, "out of memory%s%s", "", "");
	} else {
		fprintf(stderr, "%s: searching %s (%s) on %s: %" PRId64 " images train the weights, "
			"%" PRId64 " alpha; %" PRId64 " epochs of %" PRId64 " steps; output in %s\n",
			c->bin, p->spec, p->config, cfg.data, cfg.ntrain, cfg.nval, cfg.s.epochs,
			cfg.ntrain / p->batch, c->dir);
		rc = run_epochs(c, &s, &d);
	}
	search_free(&s);
	data_free(&d);
	return rc;
}

static int resume(Ctx *c)
{
	const SearchOptions *o = c->o;
	char ckp[PATH_MAX_ + 32], logp[PATH_MAX_ + 32], err[1024];
	if (o->nsets || o->epochs >= 0 || o->batch >= 0 || o->seed >= 0 || o->subset || o->mean ||
	    o->std)
		return 1 + fail(c, "--resume continues a search with its own settings; %s%s",
			    "only --data, --threads and --json may be given with it", "");
	path_in(ckp, sizeof ckp, c->dir, "checkpoint.safetensors");
	path_in(logp, sizeof logp, c->dir, "log.jsonl");
	if (!exists(ckp))
		return fail(c, "%s: no checkpoint to resume from (a search writes one after "
			    "its first epoch)", ckp, "");
	Search s;
	if (checkpoint_load(c->p, ckp, &s, err, sizeof err) != 0)
		return fail(c, "%s%s", err, "");
	if (o->data)
		snprintf(s.cfg.data, sizeof s.cfg.data, "%s", o->data);
	Dataset d;
	int rc = load_data(c, s.cfg.data, &d);
	if (rc == 0) {
		int64_t pool = s.cfg.subset > 0 && s.cfg.subset < d.n ? s.cfg.subset : d.n;
		int64_t *tr = NULL, *va = NULL, ntr = 0, nva = 0;
		if (data_split(pool, s.cfg.s.split, 0, 0, &tr, &ntr, &va, &nva) != 0 ||
		    ntr != s.cfg.ntrain || nva != s.cfg.nval) {
			fprintf(stderr, "%s: %s: %" PRId64 " images, but the checkpoint's search split "
				"%" PRId64 " + %" PRId64 " (is it another dataset?)\n", c->bin,
				s.cfg.data, d.n, s.cfg.ntrain, s.cfg.nval);
			rc = 1;
		}
		free(tr);
		free(va);
		if (rc != 0)
			data_free(&d);
	}
	int kept = rc == 0 ? runlog_truncate(logp, (long)s.log_records, err, sizeof err) : 0;
	if (kept < 0)
		rc = fail(c, "%s%s", err, "");
	if (rc == 0) {
		fprintf(stderr, "%s: resuming %s after epoch %" PRId64 "/%" PRId64 " (%d records "
			"in its log)\n", c->bin, c->dir, s.epoch, s.cfg.s.epochs, kept);
		rc = run_epochs(c, &s, &d);
		data_free(&d);
	}
	search_free(&s);
	return rc;
}

int cmd_search(const NasProgram *p, const char *bin, const SearchOptions *o)
{
	Ctx c = {.p = p, .bin = bin, .o = o, .kill_at = -1};
	const char *dir = o->resume ? o->resume : o->out;
	if (dir) {
		snprintf(c.dir, sizeof c.dir, "%s", dir);
	} else {
		/* search-<spec name without folder and .nas> */
		const char *base = strrchr(p->spec, '/');
		base = base ? base + 1 : p->spec;
		size_t n = strlen(base);
		if (n > 4 && strcmp(base + n - 4, ".nas") == 0)
			n -= 4;
		snprintf(c.dir, sizeof c.dir, "search-%.*s", (int)n, base);
	}
	size_t n = strlen(c.dir);
	while (n > 1 && c.dir[n - 1] == '/')
		c.dir[--n] = '\0';
	const char *k = getenv("NASC_FAULT_KILL_AT_STEP");
	if (k && *k)
		c.kill_at = strtoll(k, NULL, 10);
	nas_set_threads(bin, o->threads);
	progress_init(&c.pg, stderr, bin);
	return o->resume ? resume(&c) : fresh(&c);
}
