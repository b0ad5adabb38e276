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
	field(out, "seconds", st->seconds);
	field(out, "wall", s->wall);
	fputs("}\n", out);
	if (fclose(out) != 0) {
		free(line);
		return st_errorf(err, errlen, path, "out of memory");
	}
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
	free(line);
	if (!ok)
		return st_errorf(err, errlen, path, "cannot append: %s", strerror(e));
	return 0;
}

int runlog_truncate(const char *path, long epochs, char *err, size_t errlen)
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
		if (json_integer_value(ep) < epochs) {
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
