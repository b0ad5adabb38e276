/* cmd_eval.c - `BIN eval --load STATE`: the loss and accuracy of a state
 * on the test set (or the training set), in eval mode: batch norms
 * normalize with the state's running statistics, as PyTorch's
 * model.eval() does.  The images are normalized with the mean and std
 * the search used, which a state written by `search` records; for other
 * states they are computed over the training set. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data.h"
#include "safetensors.h"
#include "search.h"
#include "state.h"

/* The state's normalization: 1 when its metadata has one, 0 when not, -1
 * when it is malformed. */
static int state_norm(const NasProgram *p, const char *path, double *mean, double *std)
{
	StFile f;
	char err[1024];
	if (st_read(path, &f, err, sizeof err) != 0)
		return 0;  /* state_load has reported it */
	const char *m = st_meta(&f, "mean"), *s = st_meta(&f, "std");
	int rc = m && s ? 1 : 0;
	for (int64_t k = 0; rc == 1 && k < p->in_c; k++) {
		char *e1, *e2;
		mean[k] = strtod(m, &e1);
		std[k] = strtod(s, &e2);
		if (e1 == m || e2 == s || !(std[k] > 0))
			rc = -1;
		m = *e1 == ',' ? e1 + 1 : e1;
		s = *e2 == ',' ? e2 + 1 : e2;
	}
	st_free(&f);
	return rc;
}

int cmd_eval(const NasProgram *p, const char *bin, const EvalOptions *o)
{
	char err[1024];
	const char *dir = o->data ? o->data : NAS_DEFAULT_DATA;
	nas_set_threads(bin, o->threads);
	SearchConfig cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.s = p->schedule;
	Search s;
	if (search_init(&s, p, &cfg) != 0) {
		fprintf(stderr, "%s: out of memory\n", bin);
		return 1;
	}
	if (state_load(p, o->load, s.params, s.running, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		search_free(&s);
		return 1;
	}
	int norm = state_norm(p, o->load, s.cfg.mean, s.cfg.std);
	if (norm < 0) {
		fprintf(stderr, "%s: %s: metadata mean and std are not %" PRId64 " numbers each\n",
			bin, o->load, p->in_c);
		search_free(&s);
		return 1;
	}
	Dataset train, d;
	int rc = 0;
	if (norm == 0 || o->train) {
		if (data_load(dir, DATA_TRAIN, &train, err, sizeof err) != 0) {
			fprintf(stderr, "%s: %s\n", bin, err);
			search_free(&s);
			return 1;
		}
		if (norm == 0)
			data_channel_stats(&train, NULL, train.n, s.cfg.mean, s.cfg.std);
		if (o->train)
			d = train;
		else
			data_free(&train);
	}
	if (!o->train && data_load(dir, DATA_TEST, &d, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", bin, err);
		search_free(&s);
		return 1;
	}
	if (d.c != p->in_c || d.h != p->in_h || d.w != p->in_w || d.classes > p->classes) {
		fprintf(stderr, "%s: %s: %" PRId64 "x%" PRId64 "x%" PRId64 " images of %" PRId64
			" classes; this binary was compiled for %" PRId64 "x%" PRId64 "x%" PRId64
			" and %" PRId64 " classes\n", bin, dir, d.c, d.h, d.w, d.classes, p->in_c,
			p->in_h, p->in_w, p->classes);
		rc = 1;
	}
	SearchRun *r = rc == 0 ? search_run_eval(&s, &d) : NULL;
	if (rc == 0 && !r) {
		fprintf(stderr, "%s: out of memory\n", bin);
		rc = 1;
	}
	if (rc == 0) {
		int64_t *idx = malloc(sizeof *idx * (size_t)d.n);
		if (!idx) {
			fprintf(stderr, "%s: out of memory\n", bin);
			rc = 1;
		} else {
			for (int64_t i = 0; i < d.n; i++)
				idx[i] = i;
			double loss, acc;
			search_evaluate(&s, r, &d, idx, d.n, &loss, &acc);
			const char *set = o->train ? "train" : "test";
			if (o->json)
				printf("{\"set\": \"%s\", \"images\": %" PRId64 ", \"loss\": %.9g, "
				       "\"accuracy\": %.9g, \"mode\": \"%s\"}\n", set, d.n, loss, acc,
				       p->infer ? "eval" : "train");
			else
				printf("%s set, %" PRId64 " images: accuracy %.2f%%, loss %.4f%s\n", set,
				       d.n, 100 * acc, loss,
				       p->infer ? "" : " (training-mode batch norm: this binary has no "
						       "eval mode)");
			free(idx);
		}
	}
	search_run_free(r);
	data_free(&d);
	search_free(&s);
	return rc;
}
