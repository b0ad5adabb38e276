/* stedit.c - make and take apart safetensors files for the runtime tests:
 * list a file, read one element, write a random batch, or copy a file with
 * one tensor dropped, renamed, retyped, reshaped, changed or appended, to
 * craft the bad inputs that a search binary must refuse.
 *
 *   stedit ls FILE                       metadata, then per tensor:
 *                                        NAME DTYPE [SHAPE] MIN MAX SUMSQ
 *   stedit get FILE NAME INDEX           one element, %.17g
 *   stedit dump FILE                     every element: NAME INDEX VALUE
 *   stedit batch OUT B C H W CLASSES SEED
 *                                        x N(0, 1), y uniform labels
 *   stedit images OUT N C H W CLASSES SEED
 *                                        a learnable image set: x F32 in
 *                                        [0, 1], noise plus a bright 2x2
 *                                        patch whose place is the label
 *   stedit drop IN OUT NAME
 *   stedit rename IN OUT NAME NEWNAME
 *   stedit retype IN OUT NAME DTYPE      values converted; NAME * for all
 *   stedit reshape IN OUT NAME DIMS      DIMS as 16,1,3,3 ("" a scalar);
 *                                        values kept as far as they go
 *   stedit set IN OUT NAME INDEX VALUE   INDEX * for all; VALUE a number,
 *                                        nan, inf or -inf
 *   stedit add IN OUT NAME INDEX DELTA   element += DELTA in its dtype
 *   stedit append IN OUT NAME DTYPE DIMS
 *   stedit keep IN OUT PATTERN...        only the tensors some PATTERN
 *   stedit omit IN OUT PATTERN...        matches, or none matches; a
 *                                        PATTERN ending in * is a prefix
 *   stedit relerr A B [PATTERN...]       how far B is from A: the relative L2
 *                                        error |B - A| / |A| over the tensors
 *                                        PATTERN matches (all: none given),
 *                                        the worst tensor's, and the largest
 *                                        |B - A| of an element; A and B must
 *                                        hold the same names and shapes
 *   stedit pick IN OUT NAME[=NEWNAME]... a file of the named tensors alone,
 *                                        in that order, renamed as asked
 *                                        (a fixture's state or batches)
 *
 * Exits 0, or 1 with a message. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "safetensors.h"

static int die(const char *msg, const char *arg)
{
	fprintf(stderr, "stedit: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	return 1;
}

static double get(const StTensor *t, int64_t k)
{
	switch (t->dtype) {
	case ST_F32: return ((const float *)t->data)[k];
	case ST_F64: return ((const double *)t->data)[k];
	case ST_I64: return (double)((const int64_t *)t->data)[k];
	default: break; /* stedit crafts batches and states: no other types */
	}
	return 0;
}

static void put(StTensor *t, int64_t k, double v)
{
	switch (t->dtype) {
	case ST_F32: ((float *)t->data)[k] = (float)v; break;
	case ST_F64: ((double *)t->data)[k] = v; break;
	case ST_I64: ((int64_t *)t->data)[k] = (int64_t)v; break;
	default: break;
	}
}

static int parse_dtype(const char *s, StDtype *dt)
{
	static const StDtype all[] = {ST_F32, ST_F64, ST_I64};
	for (int i = 0; i < 3; i++)
		if (strcmp(s, st_dtype_name(all[i])) == 0) {
			*dt = all[i];
			return 0;
		}
	return -1;
}

/* "16,1,3,3" into shape; "" is a scalar.  Returns the rank or -1. */
static int parse_dims(const char *s, int64_t *shape)
{
	int rank = 0;
	while (*s) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || v < 0 || rank == ST_MAX_RANK || (*end && *end != ','))
			return -1;
		shape[rank++] = v;
		s = *end ? end + 1 : end;
	}
	return rank;
}

static double parse_value(const char *s)
{
	if (strcmp(s, "nan") == 0)
		return NAN;
	if (strcmp(s, "inf") == 0)
		return INFINITY;
	if (strcmp(s, "-inf") == 0)
		return -INFINITY;
	return strtod(s, NULL);
}

/* A copy of the tensors of src into dst, with tensor `skip` replaced by
 * repl (NULL: dropped) and extra appended when not NULL. */
static int copy_file(const StFile *src, StFile *dst, const StTensor *skip,
		     const StTensor *repl, const StTensor *extra)
{
	st_init(dst);
	for (size_t i = 0; i < src->nmeta; i++)
		if (st_set_meta(dst, src->meta[i].key, src->meta[i].value) != 0)
			return -1;
	for (size_t i = 0; i < src->ntensors; i++) {
		const StTensor *t = &src->tensors[i] == skip ? repl : &src->tensors[i];
		if (t && st_add(dst, t->name, t->dtype, t->rank, t->shape, t->data) != 0)
			return -1;
	}
	if (extra && st_add(dst, extra->name, extra->dtype, extra->rank, extra->shape,
			    extra->data) != 0)
		return -1;
	return 0;
}

static int cmd_ls(const char *path)
{
	StFile f;
	char err[1024];
	if (st_read(path, &f, err, sizeof err) != 0)
		return die(err, NULL);
	for (size_t i = 0; i < f.nmeta; i++)
		printf("meta %s %s\n", f.meta[i].key, f.meta[i].value);
	for (size_t i = 0; i < f.ntensors; i++) {
		const StTensor *t = &f.tensors[i];
		double mn = INFINITY, mx = -INFINITY, ss = 0;
		for (int64_t k = 0; k < t->numel; k++) {
			double v = get(t, k);
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
			ss += v * v;
		}
		printf("%s %s [", t->name, st_dtype_name(t->dtype));
		for (int d = 0; d < t->rank; d++)
			printf("%s%" PRId64, d ? "," : "", t->shape[d]);
		printf("] %.9g %.9g %.17g\n", mn, mx, ss);
	}
	st_free(&f);
	return 0;
}

static int cmd_dump(const char *path)
{
	StFile f;
	char err[1024];
	if (st_read(path, &f, err, sizeof err) != 0)
		return die(err, NULL);
	for (size_t i = 0; i < f.ntensors; i++)
		for (int64_t k = 0; k < f.tensors[i].numel; k++)
			printf("%s %" PRId64 " %.17g\n", f.tensors[i].name, k, get(&f.tensors[i], k));
	st_free(&f);
	return 0;
}

static int cmd_get(const char *path, const char *name, const char *index)
{
	StFile f;
	char err[1024];
	if (st_read(path, &f, err, sizeof err) != 0)
		return die(err, NULL);
	const StTensor *t = st_find(&f, name);
	long long k = strtoll(index, NULL, 10);
	int rc = 0;
	if (!t)
		rc = die("no such tensor", name);
	else if (k < 0 || k >= t->numel)
		rc = die("index out of range", index);
	else
		printf("%.17g\n", get(t, k));
	st_free(&f);
	return rc;
}

/* Writes x (F32 xs) and y (I64 [xs[0]]) to path and frees both; x or y
 * NULL means memory ran out. */
static int write_xy(const char *path, const int64_t *xs, float *x, int64_t *y)
{
	StFile f;
	st_init(&f);
	char err[1024];
	int rc = !x || !y || st_add(&f, "x", ST_F32, 4, xs, x) != 0 ||
		 st_add(&f, "y", ST_I64, 1, xs, y) != 0;
	if (rc)
		die("out of memory", NULL);
	else if ((rc = st_write(path, &f, err, sizeof err) != 0))
		die(err, NULL);
	st_free(&f);
	free(x);
	free(y);
	return rc;
}

static int cmd_batch(char **a)
{
	int64_t v[6]; /* B C H W CLASSES SEED */
	for (int i = 0; i < 5; i++)
		if ((v[i] = strtoll(a[i + 1], NULL, 10)) <= 0)
			return die("sizes must be positive", a[i + 1]);
	v[5] = strtoll(a[6], NULL, 10);
	int64_t xs[4] = {v[0], v[1], v[2], v[3]}, n = v[0] * v[1] * v[2] * v[3];
	float *x = malloc((size_t)n * sizeof *x);
	int64_t *y = malloc((size_t)v[0] * sizeof *y);
	if (x && y) {
		rng_fill_normal(x, n, (uint64_t)v[5], 0, 0);
		Rng r;
		rng_seed(&r, (uint64_t)v[5], 1);
		for (int64_t b = 0; b < v[0]; b++)
			y[b] = rng_below(&r, (uint32_t)v[4]);
	}
	return write_xy(a[0], xs, x, y);
}

/* Images whose class is where their bright patch is (class k: row and
 * column from k on a grid over the image), under uniform noise; a search
 * can tell them apart in a few epochs. */
static int cmd_images(char **a)
{
	int64_t v[6]; /* N C H W CLASSES SEED */
	for (int i = 0; i < 5; i++)
		if ((v[i] = strtoll(a[i + 1], NULL, 10)) <= 0)
			return die("sizes must be positive", a[i + 1]);
	v[5] = strtoll(a[6], NULL, 10);
	int64_t N = v[0], C = v[1], H = v[2], W = v[3], K = v[4];
	int64_t xs[4] = {N, C, H, W}, n = N * C * H * W;
	int64_t grid = 1;
	while (grid * grid < K)
		grid++;
	if (H < 2 * grid || W < 2 * grid)
		return die("images too small for the classes", a[3]);
	float *x = malloc((size_t)n * sizeof *x);
	int64_t *y = malloc((size_t)N * sizeof *y);
	if (x && y) {
		rng_fill_uniform(x, n, (uint64_t)v[5], 0, 0);
		Rng r;
		rng_seed(&r, (uint64_t)v[5], 1);
		for (int64_t i = 0; i < N; i++) {
			int64_t k = y[i] = rng_below(&r, (uint32_t)K);
			int64_t r0 = (k / grid) * (H / grid), c0 = (k % grid) * (W / grid);
			for (int64_t c = 0; c < C; c++)
				for (int64_t j = 0; j < H * W; j++) {
					float *px = &x[((i * C + c) * H) * W + j];
					int64_t hh = j / W, ww = j % W;
					int in = hh >= r0 && hh < r0 + 2 && ww >= c0 && ww < c0 + 2;
					*px = in ? 0.7f + 0.3f * *px : 0.5f * *px;
				}
		}
	}
	return write_xy(a[0], xs, x, y);
}

/* Reads in into f and starts an empty g: 0, or 1 after the message. */
static int begin_copy(const char *in, StFile *f, StFile *g)
{
	char err[1024];
	if (st_read(in, f, err, sizeof err) != 0)
		return die(err, NULL);
	st_init(g);
	return 0;
}

/* Writes g to out unless rc says a step failed, frees both; the exit
 * status. */
static int end_copy(int rc, const char *out, StFile *f, StFile *g)
{
	char err[1024];
	if (!rc && st_write(out, g, err, sizeof err) != 0)
		rc = die(err, NULL);
	st_free(f);
	st_free(g);
	return rc != 0;
}

static int matches(const char *name, char **pats, int n)
{
	for (int i = 0; i < n; i++) {
		size_t k = strlen(pats[i]);
		if (k && pats[i][k - 1] == '*' ? strncmp(name, pats[i], k - 1) == 0
					       : strcmp(name, pats[i]) == 0)
			return 1;
	}
	return 0;
}

/* keep / omit: IN to OUT with the tensors the patterns select (keep) or
 * do not (omit), metadata and order as they were. */
static int cmd_select(int keep, int argc, char **a)
{
	StFile f, g;
	if (begin_copy(a[0], &f, &g) != 0)
		return 1;
	int rc = 0;
	for (size_t i = 0; i < f.nmeta && !rc; i++)
		rc = st_set_meta(&g, f.meta[i].key, f.meta[i].value) != 0;
	for (size_t i = 0; i < f.ntensors && !rc; i++) {
		const StTensor *t = &f.tensors[i];
		if (matches(t->name, a + 2, argc - 2) == keep)
			rc = st_add(&g, t->name, t->dtype, t->rank, t->shape, t->data) != 0;
	}
	return end_copy(rc, a[1], &f, &g);
}

/* The editing commands: read IN, change one tensor, write OUT. */
static int cmd_edit(const char *op, int argc, char **a)
{
	const char *in = a[0], *out = a[1], *name = a[2];
	StFile f, g;
	if (begin_copy(in, &f, &g) != 0)
		return 1;
	int rc = 0;
	StTensor *t = NULL;
	for (size_t i = 0; i < f.ntensors; i++)
		if (strcmp(f.tensors[i].name, name) == 0)
			t = &f.tensors[i];
	if (strcmp(op, "append") == 0) {
		StTensor x = {.name = (char *)name};
		if (argc != 5 || parse_dtype(a[3], &x.dtype) != 0 ||
		    (x.rank = parse_dims(a[4], x.shape)) < 0) {
			rc = die("append IN OUT NAME DTYPE DIMS", NULL);
		} else {
			x.numel = 1;
			for (int d = 0; d < x.rank; d++)
				x.numel *= x.shape[d];
			x.data = calloc((size_t)(x.numel ? x.numel : 1), 8);
			rc = !x.data || copy_file(&f, &g, NULL, NULL, &x) != 0;
			free(x.data);
		}
	} else if (!t && !(strcmp(op, "retype") == 0 && strcmp(name, "*") == 0)) {
		rc = die("no such tensor", name);
	} else if (strcmp(op, "drop") == 0 && argc == 3) {
		rc = copy_file(&f, &g, t, NULL, NULL) != 0;
	} else if (strcmp(op, "rename") == 0 && argc == 4) {
		StTensor x = *t;
		x.name = a[3];
		rc = copy_file(&f, &g, t, &x, NULL) != 0;
	} else if (strcmp(op, "retype") == 0 && argc == 4) {
		StDtype dt;
		if (parse_dtype(a[3], &dt) != 0) {
			rc = die("unknown dtype", a[3]);
		} else {
			for (size_t i = 0; i < f.ntensors && !rc; i++) {
				StTensor *s = &f.tensors[i], x = *s;
				if (s != t && t)
					continue;
				x.dtype = dt;
				x.nbytes = (size_t)x.numel * st_dtype_size(dt);
				x.data = malloc(x.nbytes ? x.nbytes : 1);
				if (!x.data) {
					rc = 1;
					break;
				}
				for (int64_t k = 0; k < x.numel; k++)
					put(&x, k, get(s, k));
				free(s->data);
				*s = x;
			}
			rc = rc || copy_file(&f, &g, NULL, NULL, NULL) != 0;
		}
	} else if (strcmp(op, "reshape") == 0 && argc == 4) {
		StTensor x = *t;
		if ((x.rank = parse_dims(a[3], x.shape)) < 0) {
			rc = die("bad DIMS", a[3]);
		} else {
			x.numel = 1;
			for (int d = 0; d < x.rank; d++)
				x.numel *= x.shape[d];
			size_t es = st_dtype_size(x.dtype), nb = (size_t)x.numel * es;
			x.data = calloc(nb ? nb : 1, 1);
			if (x.data)
				memcpy(x.data, t->data, nb < t->nbytes ? nb : t->nbytes);
			rc = !x.data || copy_file(&f, &g, t, &x, NULL) != 0;
			free(x.data);
		}
	} else if ((strcmp(op, "set") == 0 || strcmp(op, "add") == 0) && argc == 5) {
		int all = strcmp(a[3], "*") == 0;
		long long k = all ? 0 : strtoll(a[3], NULL, 10);
		double v = parse_value(a[4]);
		if (k < 0 || k >= t->numel) {
			rc = die("index out of range", a[3]);
		} else {
			for (int64_t j = all ? 0 : k; j < (all ? t->numel : k + 1); j++)
				put(t, j, op[0] == 's' ? v : get(t, j) + v);
			rc = copy_file(&f, &g, NULL, NULL, NULL) != 0;
		}
	} else {
		rc = die("bad arguments for", op);
	}
	return end_copy(rc, out, &f, &g);
}

static int cmd_pick(const char *in, const char *out, int n, char **names)
{
	StFile f, g;
	if (begin_copy(in, &f, &g) != 0)
		return 1;
	int rc = 0;
	for (size_t i = 0; !rc && i < f.nmeta; i++)
		rc = st_set_meta(&g, f.meta[i].key, f.meta[i].value) != 0 ? die("out of memory", NULL) : 0;
	for (int i = 0; !rc && i < n; i++) {
		char name[512];
		snprintf(name, sizeof name, "%s", names[i]);
		char *eq = strchr(name, '=');
		if (eq)
			*eq = '\0';
		const StTensor *t = st_find(&f, name);
		if (!t)
			rc = die("no such tensor", name);
		else if (st_add(&g, eq ? eq + 1 : name, t->dtype, t->rank, t->shape, t->data) != 0)
			rc = die("out of memory", NULL);
	}
	return end_copy(rc, out, &f, &g);
}

/* Prints "relerr E worst NAME E_NAME maxabs D": E over every matching
 * element, E_NAME the largest of any one tensor's (0 when it and A's are
 * both 0), D the largest difference of an element. */
static int cmd_relerr(const char *pa, const char *pb, int n, char **pat)
{
	StFile a, b;
	char err[1024];
	if (st_read(pa, &a, err, sizeof err) != 0)
		return die(err, NULL);
	if (st_read(pb, &b, err, sizeof err) != 0) {
		st_free(&a);
		return die(err, NULL);
	}
	int rc = 0, used = 0;
	double num = 0, den = 0, worst = -1, maxabs = 0;
	const char *worst_name = "";
	for (size_t i = 0; i < a.ntensors && rc == 0; i++) {
		const StTensor *x = &a.tensors[i], *y = st_find(&b, x->name);
		if (n > 0 && !matches(x->name, pat, n))
			continue;
		if (!y || y->numel != x->numel) {
			rc = die(y ? "the files' shapes differ" : "the second file lacks", x->name);
			break;
		}
		double tn = 0, td = 0;
		for (int64_t k = 0; k < x->numel; k++) {
			double d = get(y, k) - get(x, k);
			tn += d * d;
			maxabs = fabs(d) > maxabs || d != d ? fabs(d) : maxabs;
			td += get(x, k) * get(x, k);
		}
		double e = td > 0 ? sqrt(tn / td) : tn > 0 ? INFINITY : 0;
		if (e > worst)
			worst = e, worst_name = x->name;
		num += tn, den += td, used++;
	}
	if (rc == 0 && used == 0)
		rc = die("no tensor matches", n ? pat[0] : NULL);
	if (rc == 0 && (a.ntensors != b.ntensors && n == 0))
		rc = die("the files hold different tensors", pb);
	if (rc == 0)
		printf("relerr %.6g worst %s %.6g maxabs %.6g\n",
		       den > 0 ? sqrt(num / den) : num > 0 ? INFINITY : 0, worst_name, worst, maxabs);
	st_free(&a);
	st_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "ls") == 0)
		return cmd_ls(argv[2]);
	if (argc == 3 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argv[2]);
	if (argc == 5 && strcmp(argv[1], "get") == 0)
		return cmd_get(argv[2], argv[3], argv[4]);
	if (argc == 9 && strcmp(argv[1], "batch") == 0)
		return cmd_batch(argv + 2);
	if (argc >= 5 && (strcmp(argv[1], "keep") == 0 || strcmp(argv[1], "omit") == 0))
		return cmd_select(strcmp(argv[1], "keep") == 0, argc - 2, argv + 2);
	if (argc == 9 && strcmp(argv[1], "images") == 0)
		return cmd_images(argv + 2);
	if (argc >= 4 && strcmp(argv[1], "relerr") == 0)
		return cmd_relerr(argv[2], argv[3], argc - 4, argv + 4);
	if (argc >= 5 && strcmp(argv[1], "pick") == 0)
		return cmd_pick(argv[2], argv[3], argc - 4, argv + 4);
	if (argc >= 5)
		return cmd_edit(argv[1], argc - 2, argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/stedit.c\n");
	return 2;
}
