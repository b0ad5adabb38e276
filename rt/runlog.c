/* runlog.c - the per-epoch log of a search (see runlog.h). */
#include "runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "atomic.h"
#include "safetensors.h"

/* A number, or null for what JSON cannot hold. */
static void jnum(FILE *out, double v)
{
	if (v != v || v - v != 0)
		fputs("null", out);
	else
		fprintf(out, "%.9g", v);
}

static void field(FILE *out, const char *name, double v)
{
	fprintf(out, ", \"%s\": ", name);
	jnum(out, v);
}

static void alphas(FILE *out, const Search *s)
{
	const NasProgram *p = s->p;
	fputs(", \"alpha\": {", out);
	for (int c = 0; c < p->ncell_types; c++) {
		const NasCellType *ct = &p->cell_types[c];
		const NasTensor *t = &p->tensors[ct->alpha];
		double *w = malloc(sizeof *w * (size_t)t->numel);
		fprintf(out, "%s\"%s\": [", c ? ", " : "", ct->name);
		if (w) {
			search_alpha_softmax(p, s->params, t, w);
			for (int e = 0; e < ct->nedges; e++) {
				fputs(e ? ", [" : "[", out);
				for (int k = 0; k < ct->edges[e].nops; k++) {
					fputs(k ? ", " : "", out);
					jnum(out, w[e * ct->nops + k]);
				}
				fputc(']', out);
			}
		}
		fputc(']', out);
		free(w);
	}
	fputc('}', out);
}

/* The curvature after the epoch and the controller's decision on it. */
static void curvature(FILE *out, const EpochStats *st)
{
	fputs(", \"hessian\": ", out);
	if (!st->curv) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"method\": \"%s\"", st->curv_method);
	field(out, "lambda_max", st->lambda_max);
	fputs(", \"top\": [", out);
	for (int i = 0; i < st->ntop; i++) {
		fputs(i ? ", " : "", out);
		jnum(out, st->top[i]);
	}
	fprintf(out, "], \"hvps\": %d, \"iters\": %d, \"converged\": %s", st->curv_hvps,
		st->curv_iters, st->curv_converged ? "true" : "false");
	field(out, "residual", st->curv_residual);
	field(out, "loss", st->curv_loss);
	field(out, "seconds", st->curv_seconds);
	fprintf(out, ", \"controller\": {\"action\": \"%s\", \"checked\": %s, "
		"\"triggered\": %s, \"at_max\": %s, \"stop_epoch\": %" PRId64,
		st->action ? st->action : "continue", st->checked ? "true" : "false",
		st->triggered ? "true" : "false", st->at_max ? "true" : "false", st->stop_epoch);
	field(out, "local_average", st->la_now);
	field(out, "local_average_then", st->la_then);
	fputs("}}", out);
}

/* The line in buf to path, appended and fsynced. */
static int append(const char *path, const char *line, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	int ok = fd >= 0;
	int e = errno;
	for (size_t off = 0; ok && off < len;) {
		ssize_t k = write(fd, line + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		ok = k > 0;
		e = errno;
		off += ok ? (size_t)k : 0;
	}
	if (ok && fsync(fd) != 0) {
		ok = 0;
		e = errno;
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		return st_errorf(err, errlen, path, "cannot append: %s", strerror(e));
	return 0;
}

/* Ends the record being written to out (a memstream of *line, *len)
 * with the wall time, and appends it to path. */
static int end_record(const char *path, const Search *s, FILE *out, char **line, size_t *len,
		      char *err, size_t errlen)
{
	field(out, "wall", s->wall);
	fputs("}\n", out);
	if (fclose(out) != 0) {
		free(*line);
		return st_errorf(err, errlen, path, "out of memory");
	}
	int rc = append(path, *line, *len, err, errlen);
	free(*line);
	return rc;
}

int runlog_event(const char *path, const Search *s, const RunEvent *ev, char *err, size_t errlen)
{
	char *line = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&line, &len);
	if (!out)
		return st_errorf(err, errlen, path, "out of memory");
	fprintf(out, "{\"epoch\": %" PRId64 ", \"event\": \"%s\", \"stop_epoch\": %" PRId64,
		ev->epoch, ev->event, ev->stop_epoch);
	field(out, "local_average", ev->la_now);
	field(out, "local_average_then", ev->la_then);
	field(out, "ratio", ev->la_then > 0 ? ev->la_now / ev->la_then : 0);
	if (ev->knob) {
		fprintf(out, ", \"knob\": \"%s\"", ev->knob);
		field(out, "old", ev->old_reg);
		field(out, "new", ev->new_reg);
	}
	return end_record(path, s, out, &line, &len, err, errlen);
}

int runlog_append(const char *path, const Search *s, const EpochStats *st, const Genotype *g,
		  char *err, size_t errlen)
{
	char *line = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&line, &len);
	if (!out)
		return st_errorf(err, errlen, path, "out of memory");
	fprintf(out, "{\"epoch\": %" PRId64 ", \"epochs\": %" PRId64 ", \"steps\": %" PRId64,
		st->epoch, s->cfg.s.epochs, st->steps);
	field(out, "lr", st->lr);
	field(out, "train_loss", st->train_loss);
	field(out, "train_acc", st->train_acc);
	field(out, "search_loss", st->search_loss);
	field(out, "val_loss", st->val_loss);
	field(out, "val_acc", st->val_acc);
	fputs(", \"regularization\": {\"l2\": ", out);
	jnum(out, st->l2);
	field(out, "arch_weight_decay", st->arch_weight_decay);
	field(out, "drop_path", st->drop_path);
	field(out, "cutout", st->cutout);
	fputc('}', out);
	alphas(out, s);
	fputs(", \"genotype\": ", out);
	genotype_write_json(out, g);
	fputs(", \"genotype_text\": \"", out);
	genotype_write_text(out, g);  /* quotes are single, no backslashes */
	fputc('"', out);
	curvature(out, st);
	field(out, "seconds", st->seconds);
	return end_record(path, s, out, &line, &len, err, errlen);
}

int runlog_truncate(const char *path, long records, char *err, size_t errlen)
{
	FILE *in = fopen(path, "r");
	if (!in) {
		if (errno == ENOENT)
			return 0;
		return st_errorf(err, errlen, path, "cannot read: %s", strerror(errno));
	}
	char *kept = NULL, *line = NULL;
	size_t klen = 0, cap = 0;
	FILE *out = open_memstream(&kept, &klen);
	int n = 0, rc = out ? 0 : st_errorf(err, errlen, path, "out of memory");
	ssize_t got;
	for (long lineno = 1; rc == 0 && (got = getline(&line, &cap, in)) > 0; lineno++) {
		json_error_t je;
		json_t *rec = json_loadb(line, (size_t)got, 0, &je);
		json_t *ep = json_object_get(rec, "epoch");
		if (!json_is_integer(ep)) {
			/* A line cut short by a crash while appending is the last
			 * one, of an epoch the checkpoint has not seen. */
			int last = line[got - 1] != '\n';
			json_decref(rec);
			if (last)
				break;
			rc = st_errorf(err, errlen, path, "line %ld is not a record of a search log",
				       lineno);
			break;
		}
		if (n < records) {
			fwrite(line, 1, (size_t)got, out);
			n++;
		}
		json_decref(rec);
	}
	free(line);
	fclose(in);
	if (out && fclose(out) != 0 && rc == 0)
		rc = st_errorf(err, errlen, path, "out of memory");
	if (rc == 0)
		rc = atomic_write_file(path, kept ? kept : "", klen, err, errlen);
	free(kept);
	return rc == 0 ? n : -1;
}
