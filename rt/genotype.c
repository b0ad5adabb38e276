/* genotype.c - the discrete architecture read off alpha (see genotype.h):
 * derivation as PyTorch DARTS's genotype() does it, and the JSON, DARTS
 * text and Graphviz forms, saved together in one folder. */
#include "genotype.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "safetensors.h"
#include "state.h"

/* ---- derivation ---- */

static int is_excluded(const NasCellType *ct, const char *op)
{
	for (int i = 0; i < ct->nexclude; i++)
		if (strcmp(ct->exclude[i], op) == 0)
			return 1;
	return 0;
}

/* Row e of alpha, softmaxed in double into w (nops values).  The max is
 * taken out first so large alphas cannot overflow exp. */
static void softmax_row(const void *params, int real_size, int64_t at, int nops, double *w)
{
	double m = -INFINITY, sum = 0;
	for (int k = 0; k < nops; k++) {
		w[k] = nas_real_get(params, real_size, at + k);
		if (w[k] > m)
			m = w[k];
	}
	for (int k = 0; k < nops; k++)
		sum += (w[k] = exp(w[k] - m));
	for (int k = 0; k < nops; k++)
		w[k] /= sum;
}

/* What an edge offers the ranking: its strongest op that counts and that
 * op's weight.  An op counts unless excluded, but when every op of the
 * edge is excluded they all count.  The scan keeps the first of equal
 * maxima and replaces it only on a strictly larger weight, like DARTS's
 * `W[j][k] > W[j][k_best]` (and Python's max()), so a NaN in front is
 * never replaced, as in DARTS. */
typedef struct EdgeBest {
	int op;                 /* -1: the edge has no ops */
	double weight;
} EdgeBest;

static EdgeBest edge_best(const NasCellType *ct, const NasEdge *e, int nops, const double *w)
{
	EdgeBest b = {-1, 0};
	int all = 1;
	for (int k = 0; k < nops && all; k++)
		all = is_excluded(ct, e->ops[k]);
	for (int k = 0; k < nops; k++) {
		if (!all && is_excluded(ct, e->ops[k]))
			continue;
		if (b.op < 0 || w[k] > b.weight) {
			b.op = k;
			b.weight = w[k];
		}
	}
	return b;
}

/* The genotype of one cell type.  For each node, its incoming edges (in
 * edge order) are ranked by a stable insertion sort on their best weight,
 * strongest first: DARTS's `sorted(edges, key=-strength)[:keep]`, where
 * Python's sort is stable, so of equal strengths the lower edge index
 * comes first. */
static int derive_cell(const NasProgram *p, const NasCellType *ct, const void *params,
		       GenoCell *c)
{
	const NasTensor *t = &p->tensors[ct->alpha];
	int n = ct->nedges > 0 ? ct->nedges : 0;
	EdgeBest *best = malloc(((size_t)n + 1) * sizeof *best);
	int *order = malloc(((size_t)n + 1) * sizeof *order);
	double *w = malloc(((size_t)(ct->nops > 0 ? ct->nops : 0) + 1) * sizeof *w);
	c->type = ct;
	c->nchoices = 0;
	c->choices = malloc(((size_t)n + 1) * sizeof *c->choices);
	if (!best || !order || !w || !c->choices) {
		free(best);
		free(order);
		free(w);
		free(c->choices);
		c->choices = NULL;
		return -1;
	}
	for (int e = 0; e < n; e++) {
		/* Rows are ct->nops wide; the compiler gives every edge that many
		 * ops, and an edge claiming more is read no further than its row. */
		int nops = ct->edges[e].nops < ct->nops ? ct->edges[e].nops : ct->nops;
		softmax_row(params, p->real_size, t->offset + (int64_t)e * ct->nops, nops, w);
		best[e] = edge_best(ct, &ct->edges[e], nops, w);
	}
	for (int node = 0; node < ct->nodes; node++) {
		int m = 0;
		for (int e = 0; e < n; e++) {
			if (ct->edges[e].to != node + 2 || best[e].op < 0)
				continue;
			int i = m++;
			for (; i > 0 && best[e].weight > best[order[i - 1]].weight; i--)
				order[i] = order[i - 1];
			order[i] = e;
		}
		for (int i = 0; i < m && i < ct->keep; i++) {
			const NasEdge *e = &ct->edges[order[i]];
			GenoChoice *ch = &c->choices[c->nchoices++];
			ch->op = e->ops[best[order[i]].op];
			ch->from = e->from;
			ch->edge = order[i];
			ch->weight = best[order[i]].weight;
		}
	}
	free(best);
	free(order);
	free(w);
	return 0;
}

int genotype_derive(const NasProgram *p, const void *params, Genotype *g)
{
	memset(g, 0, sizeof *g);
	if (p->ncell_types <= 0)
		return 0;
	g->cells = calloc((size_t)p->ncell_types, sizeof *g->cells);
	if (!g->cells)
		return -1;
	g->ncells = p->ncell_types;
	for (int i = 0; i < g->ncells; i++)
		if (derive_cell(p, &p->cell_types[i], params, &g->cells[i]) != 0) {
			genotype_free(g);
			return -1;
		}
	return 0;
}

void genotype_free(Genotype *g)
{
	for (int i = 0; i < g->ncells; i++)
		free(g->cells[i].choices);
	free(g->cells);
	memset(g, 0, sizeof *g);
}

/* ---- the fields of the text and JSON forms ---- */

static int find_cell(const Genotype *g, const char *name)
{
	for (int i = 0; i < g->ncells; i++)
		if (strcmp(g->cells[i].type->name, name) == 0)
			return i;
	return -1;
}

/* DARTS's namedtuple has normal and reduce, in that order.  When the
 * program has either, both are fields (the missing one empty), and any
 * other cell type follows in the program's order; otherwise the fields
 * are the program's types.  A field is a cell index, or -1 for a missing
 * normal or reduce. */
typedef struct Fields {
	int n;
	int darts;              /* normal and reduce come first */
	int normal, reduce;
} Fields;

static Fields fields_of(const Genotype *g)
{
	Fields f;
	f.normal = find_cell(g, "normal");
	f.reduce = find_cell(g, "reduce");
	f.darts = f.normal >= 0 || f.reduce >= 0;
	f.n = g->ncells + (f.darts ? (f.normal < 0) + (f.reduce < 0) : 0);
	return f;
}

/* Field k: its cell (or -1), and its name. */
static int field_at(const Genotype *g, const Fields *f, int k, const char **name)
{
	if (f->darts && k < 2) {
		*name = k == 0 ? "normal" : "reduce";
		return k == 0 ? f->normal : f->reduce;
	}
	int skip = f->darts ? k - 2 : k;
	for (int i = 0; i < g->ncells; i++) {
		if (f->darts && (i == f->normal || i == f->reduce))
			continue;
		if (skip-- == 0) {
			*name = g->cells[i].type->name;
			return i;
		}
	}
	*name = "";
	return -1;
}

/* The concat of field cell (or, for a missing type, the nodes 2 ..
 * nodes + 1 of the type that is there) as "[2, 3, 4, 5]". */
static void write_concat(FILE *out, const Genotype *g, const Fields *f, int cell)
{
	fputc('[', out);
	if (cell >= 0) {
		const NasCellType *ct = g->cells[cell].type;
		for (int i = 0; i < ct->noutputs; i++)
			fprintf(out, "%s%d", i ? ", " : "", ct->outputs[i]);
	} else {
		const NasCellType *ct = g->cells[f->normal >= 0 ? f->normal : f->reduce].type;
		for (int i = 0; i < ct->nodes; i++)
			fprintf(out, "%s%d", i ? ", " : "", i + 2);
	}
	fputc(']', out);
}

/* How a name is quoted: Python, JSON and Graphviz strings all escape
 * their quote and the backslash with a backslash, and differ on control
 * characters (which no spec name has; they are kept harmless). */
typedef enum Quoting { QUOTE_PYTHON, QUOTE_JSON, QUOTE_DOT } Quoting;

/* s escaped for the inside of a string quoted as q says. */
static void put_escaped(FILE *out, const char *s, Quoting q)
{
	char quote = q == QUOTE_PYTHON ? '\'' : '"';
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == (unsigned char)quote || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch >= 32 && ch != 127)
			fputc(ch, out);
		else if (q == QUOTE_PYTHON)
			fprintf(out, "\\x%02x", ch);
		else if (q == QUOTE_JSON)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(' ', out);
	}
}

static void put_quoted(FILE *out, const char *s, Quoting q)
{
	char quote = q == QUOTE_PYTHON ? '\'' : '"';
	fputc(quote, out);
	put_escaped(out, s, q);
	fputc(quote, out);
}

/* The punctuation of the two forms that list the fields: `normal=[('op',
 * 0), ...], normal_concat=[...]` and `"normal": [["op", 0], ...],
 * "normal_concat": [...]`. */
typedef struct Form {
	Quoting quoting;
	const char *key, *is;   /* around a field name */
	const char *pair, *end; /* around an (op, state) pair */
} Form;

static const Form python_form = {QUOTE_PYTHON, "", "=", "(", ")"};
static const Form json_form = {QUOTE_JSON, "\"", "\": ", "[", "]"};

static void write_key(FILE *out, const Form *form, const char *name, const char *suffix)
{
	fputs(form->key, out);
	put_escaped(out, name, form->quoting);
	fputs(suffix, out);
	fputs(form->is, out);
}

static void write_fields(FILE *out, const Genotype *g, const Form *form)
{
	Fields f = fields_of(g);
	for (int k = 0; k < f.n; k++) {
		const char *name;
		int cell = field_at(g, &f, k, &name);
		fputs(k ? ", " : "", out);
		write_key(out, form, name, "");
		fputc('[', out);
		for (int i = 0; cell >= 0 && i < g->cells[cell].nchoices; i++) {
			const GenoChoice *ch = &g->cells[cell].choices[i];
			fputs(i ? ", " : "", out);
			fputs(form->pair, out);
			put_quoted(out, ch->op, form->quoting);
			fprintf(out, ", %d%s", ch->from, form->end);
		}
		fputs("], ", out);
		write_key(out, form, name, "_concat");
		write_concat(out, g, &f, cell);
	}
}

void genotype_write_text(FILE *out, const Genotype *g)
{
	fputs("Genotype(", out);
	write_fields(out, g, &python_form);
	fputc(')', out);
}

/* A JSON number, or null for what JSON cannot hold (a NaN or an infinity,
 * from an alpha that diverged).  %.17g reads back as the same double. */
static void json_number(FILE *out, double v)
{
	if (isfinite(v))
		fprintf(out, "%.17g", v);
	else
		fputs("null", out);
}

void genotype_write_json(FILE *out, const Genotype *g)
{
	Fields f = fields_of(g);
	fputc('{', out);
	write_fields(out, g, &json_form);
	fputs(f.n ? ", \"weights\": {" : "\"weights\": {", out);
	for (int k = 0; k < f.n; k++) {
		const char *name;
		int cell = field_at(g, &f, k, &name);
		fputs(k ? ", " : "", out);
		write_key(out, &json_form, name, "");
		fputc('[', out);
		for (int i = 0; cell >= 0 && i < g->cells[cell].nchoices; i++) {
			fputs(i ? ", " : "", out);
			json_number(out, g->cells[cell].choices[i].weight);
		}
		fputc(']', out);
	}
	fputs("}}", out);
}

/* ---- Graphviz ---- */

/* The name of state s of a cell in the drawing: the inputs are the
 * outputs of the two cells before (c_{k-2}, c_{k-1}), the nodes are
 * numbered from 0 as in DARTS's drawings. */
static void dot_state(FILE *out, int s)
{
	if (s < 2)
		fprintf(out, "\"c_{k-%d}\"", 2 - s);
	else
		fprintf(out, "\"%d\"", s - 2);
}

void genotype_write_dot(FILE *out, const Genotype *g, int i)
{
	const GenoCell *c = &g->cells[i];
	const NasCellType *ct = c->type;
	fputs("digraph ", out);
	put_quoted(out, ct->name, QUOTE_DOT);
	fputs(" {\n"
	      "\trankdir=LR;\n"
	      "\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n"
	      "\tedge [fontname=\"Helvetica\"];\n"
	      "\t\"c_{k-2}\" [fillcolor=darkseagreen2];\n"
	      "\t\"c_{k-1}\" [fillcolor=darkseagreen2];\n", out);
	for (int n = 0; n < ct->nodes; n++)
		fprintf(out, "\t\"%d\" [fillcolor=lightblue];\n", n);
	fputs("\t\"c_{k}\" [fillcolor=palegoldenrod];\n", out);
	for (int k = 0; k < c->nchoices; k++) {
		const GenoChoice *ch = &c->choices[k];
		fputc('\t', out);
		dot_state(out, ch->from);
		fputs(" -> ", out);
		dot_state(out, ct->edges[ch->edge].to);
		fputs(" [label=", out);
		put_quoted(out, ch->op, QUOTE_DOT);
		fputs("];\n", out);
	}
	for (int k = 0; k < ct->noutputs; k++) {
		fputc('\t', out);
		dot_state(out, ct->outputs[k]);
		fputs(" -> \"c_{k}\";\n", out);
	}
	fputs("}\n", out);
}

/* ---- saving ---- */

/* What one writer puts in a file, in memory. */
typedef struct Text {
	char *buf;
	size_t len;
} Text;

/* File k of a save, in memory: 0 the JSON, 1 the text (each with a
 * newline), 2 + i the drawing of cell type i. */
static int render(Text *t, const Genotype *g, int k)
{
	FILE *f = open_memstream(&t->buf, &t->len);
	if (!f)
		return -1;
	if (k == 0)
		genotype_write_json(f, g);
	else if (k == 1)
		genotype_write_text(f, g);
	else
		genotype_write_dot(f, g, k - 2);
	if (k < 2)
		fputc('\n', f);
	return fclose(f) == 0 ? 0 : -1;
}

/* DIR/name + suffix, malloc'd. */
static char *join(const char *dir, const char *name, const char *suffix)
{
	size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s%s", dir, name, suffix);
	return s;
}

extern char **environ;

/* Runs `dot -Tsvg` (found on PATH) with the file dot_path as its input
 * and fd as its output, its complaints discarded.  No shell is involved,
 * so no path needs quoting.  Returns 1 when it exits with status 0. */
static int spawn_dot(const char *dot_path, int fd)
{
	char *argv[] = {"dot", "-Tsvg", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, ok = 0;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return 0;
	if (posix_spawn_file_actions_addopen(&fa, 0, dot_path, O_RDONLY, 0) == 0 &&
	    posix_spawn_file_actions_adddup2(&fa, fd, 1) == 0 &&
	    (fd <= 2 || posix_spawn_file_actions_addclose(&fa, fd) == 0) &&
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) == 0 &&
	    posix_spawnp(&pid, "dot", &fa, NULL, argv, environ) == 0) {
		pid_t r;
		while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		ok = r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	posix_spawn_file_actions_destroy(&fa);
	return ok;
}

/* Draws dot_path into svg_path through a temporary file renamed into
 * place, so a reader never sees a partial drawing.  Returns 1 when the
 * svg was written; 0 when Graphviz is missing or fails, after removing
 * the svg of an earlier save, which would no longer match the .dot. */
static int draw_svg(const char *dot_path, const char *svg_path)
{
	static const char suffix[] = ".tmp.XXXXXX";
	char *tmp = malloc(strlen(svg_path) + sizeof suffix);
	int fd = -1, ok = 0;
	if (tmp) {
		strcpy(tmp, svg_path);
		strcat(tmp, suffix);
		fd = mkstemp(tmp);
	}
	if (fd >= 0) {
		struct stat sb;
		(void)fchmod(fd, 0644);
		ok = spawn_dot(dot_path, fd) && fstat(fd, &sb) == 0 && sb.st_size > 0 &&
		     fsync(fd) == 0;
		ok = close(fd) == 0 && ok;
		ok = ok && rename(tmp, svg_path) == 0;
		if (!ok)
			unlink(tmp);
	}
	if (!ok)
		unlink(svg_path);
	free(tmp);
	return ok;
}

/* The files of genotype_save_svgs under names with `tag` appended:
 * genotype<tag>.json, <type><tag>.dot, ... */
static int save_tagged(const Genotype *g, const char *dir, const char *tag, int *nsvg, char *err,
		       size_t errlen)
{
	/* Every file is rendered first and its temporary file written before
	 * any is renamed into place: running out of memory or space, or a
	 * folder that cannot be written, then leaves the folder as it was. */
	int nfiles = 2 + g->ncells, nopen = 0, rc = -1;
	Text *text = calloc((size_t)nfiles, sizeof *text);
	char **path = calloc((size_t)nfiles, sizeof *path);
	AtomicFile *af = calloc((size_t)nfiles, sizeof *af);
	if (nsvg)
		*nsvg = 0;
	if (!text || !path || !af) {
		st_errorf(err, errlen, dir, "out of memory");
		goto out;
	}
	char json[64], txt[64], dotx[64], svgx[64];
	snprintf(json, sizeof json, "%s.json", tag);
	snprintf(txt, sizeof txt, "%s.txt", tag);
	snprintf(dotx, sizeof dotx, "%s.dot", tag);
	snprintf(svgx, sizeof svgx, "%s.svg", tag);
	path[0] = join(dir, "genotype", json);
	path[1] = join(dir, "genotype", txt);
	for (int i = 0; i < g->ncells; i++)
		path[2 + i] = join(dir, g->cells[i].type->name, dotx);
	for (int i = 0; i < nfiles; i++) {
		if (!path[i] || render(&text[i], g, i) != 0) {
			st_errorf(err, errlen, path[i] ? path[i] : dir, "out of memory");
			goto out;
		}
	}
	for (; nopen < nfiles; nopen++) {
		if (atomic_open(&af[nopen], path[nopen], err, errlen) != 0)
			goto out;
		atomic_write(&af[nopen], text[nopen].buf, text[nopen].len);
		if (af[nopen].failed) {
			st_errorf(err, errlen, path[nopen], "write failed: %s", strerror(af[nopen].err));
			nopen++;
			goto out;
		}
	}
	/* A failure from here on (fsync, rename) leaves the files before the
	 * failing one new and the rest as they were; each is whole. */
	for (int i = 0; i < nfiles; i++) {
		if (atomic_commit(&af[i], err, errlen) != 0) {
			for (int j = i + 1; j < nfiles; j++)
				atomic_abort(&af[j]);
			nopen = 0;
			goto out;
		}
	}
	nopen = 0;
	rc = 0;
	for (int i = 0; i < g->ncells; i++) {
		char *svg = join(dir, g->cells[i].type->name, svgx);
		int ok = svg && draw_svg(path[2 + i], svg);
		free(svg);
		if (ok && nsvg)
			(*nsvg)++;
	}
out:
	for (int i = 0; i < nopen; i++)
		atomic_abort(&af[i]);
	for (int i = 0; text && i < nfiles; i++)
		free(text[i].buf);
	for (int i = 0; path && i < nfiles; i++)
		free(path[i]);
	free(text);
	free(path);
	free(af);
	return rc;
}

int genotype_save_svgs(const Genotype *g, const char *dir, int *nsvg, char *err, size_t errlen)
{
	return save_tagged(g, dir, "", nsvg, err, errlen);
}

int genotype_save(const Genotype *g, const char *dir, char *err, size_t errlen)
{
	return save_tagged(g, dir, "", NULL, err, errlen);
}

int genotype_save_es(const Genotype *g, const char *dir, char *err, size_t errlen)
{
	return save_tagged(g, dir, "_es", NULL, err, errlen);
}
