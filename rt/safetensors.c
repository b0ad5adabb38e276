/* safetensors.c - the safetensors reader and writer of libnasrt; see
 * safetensors.h for the format and the contract. */
#include "safetensors.h"

#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* ---- small helpers ---- */

int st_errorf(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	if (err && errlen) {
		int k = snprintf(err, errlen, "%s: ", path);
		if (k >= 0 && (size_t)k < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

/* The data buffer is copied as is, so the host must be little-endian. */
static int host_is_little_endian(void)
{
	static int known = -1;
	if (known < 0) {
		const uint32_t one = 1;
		unsigned char b;
		memcpy(&b, &one, 1);
		known = b == 1;
	}
	return known;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Indexed by StDtype. */
static const struct {
	const char *name;
	size_t size;
	int is_int;
} dtypes[ST_NDTYPES] = {
	[ST_F32] = {"F32", 4, 0},
	[ST_F64] = {"F64", 8, 0},
	[ST_I64] = {"I64", 8, 1},
	[ST_U8] = {"U8", 1, 1},
	[ST_I8] = {"I8", 1, 1},
	[ST_U16] = {"U16", 2, 1},
	[ST_I16] = {"I16", 2, 1},
	[ST_U32] = {"U32", 4, 1},
	[ST_I32] = {"I32", 4, 1},
	[ST_U64] = {"U64", 8, 1},
};

static int dtype_valid(StDtype dt)
{
	return (unsigned)dt < ST_NDTYPES;
}

size_t st_dtype_size(StDtype dt)
{
	return dtype_valid(dt) ? dtypes[dt].size : 0;
}

const char *st_dtype_name(StDtype dt)
{
	return dtype_valid(dt) ? dtypes[dt].name : "?";
}

int st_dtype_is_int(StDtype dt)
{
	return dtype_valid(dt) && dtypes[dt].is_int;
}

static int dtype_from_name(const char *s, StDtype *out)
{
	for (int i = 0; i < ST_NDTYPES; i++)
		if (strcmp(s, dtypes[i].name) == 0) {
			*out = (StDtype)i;
			return 0;
		}
	return -1;
}

/* numel and byte size of a shape; -1 on a negative dimension or overflow. */
static int shape_size(int rank, const int64_t *shape, StDtype dt, int64_t *numel,
		      int64_t *nbytes)
{
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (shape[i] < 0)
			return -1;
		if (shape[i] != 0 && n > INT64_MAX / shape[i])
			return -1;
		n *= shape[i];
	}
	int64_t es = (int64_t)st_dtype_size(dt);
	if (n > INT64_MAX / es || (uint64_t)(n * es) > SIZE_MAX)
		return -1;
	*numel = n;
	*nbytes = n * es;
	return 0;
}

static void format_shape(char *buf, size_t n, int rank, const int64_t *shape)
{
	size_t k = 0;
	k += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? ", " : "", shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- StFile ---- */

void st_init(StFile *f)
{
	memset(f, 0, sizeof *f);
}

void st_free(StFile *f)
{
	for (size_t i = 0; i < f->ntensors; i++) {
		free(f->tensors[i].name);
		free(f->tensors[i].data);
	}
	free(f->tensors);
	for (size_t i = 0; i < f->nmeta; i++) {
		free(f->meta[i].key);
		free(f->meta[i].value);
	}
	free(f->meta);
	st_init(f);
}

const StTensor *st_find(const StFile *f, const char *name)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

/* A new zeroed slot at the end of f->tensors, or NULL. */
static StTensor *push_tensor(StFile *f)
{
	if (f->ntensors == f->captensors) {
		size_t cap = f->captensors ? 2 * f->captensors : 8;
		StTensor *t = realloc(f->tensors, cap * sizeof *t);
		if (!t)
			return NULL;
		f->tensors = t;
		f->captensors = cap;
	}
	StTensor *t = &f->tensors[f->ntensors];
	memset(t, 0, sizeof *t);
	return t;
}

int st_add(StFile *f, const char *name, StDtype dt, int rank, const int64_t *shape,
	   const void *data)
{
	int64_t numel, nbytes;
	if (!name || strcmp(name, ST_METADATA_KEY) == 0 || st_find(f, name) ||
	    !dtype_valid(dt) || rank < 0 || rank > ST_MAX_RANK || (rank > 0 && !shape) ||
	    shape_size(rank, shape, dt, &numel, &nbytes) != 0)
		return -1;
	StTensor *t = push_tensor(f);
	if (!t)
		return -1;
	t->name = dup_str(name);
	t->data = malloc(nbytes ? (size_t)nbytes : 1);
	if (!t->name || !t->data) {
		free(t->name);
		free(t->data);
		return -1;
	}
	if (data)
		memcpy(t->data, data, (size_t)nbytes);
	else
		memset(t->data, 0, (size_t)nbytes);
	t->dtype = dt;
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->shape[i] = shape[i];
	t->numel = numel;
	t->nbytes = (size_t)nbytes;
	f->ntensors++;
	return 0;
}

int st_set_meta(StFile *f, const char *key, const char *value)
{
	char *v = dup_str(value);
	if (!v)
		return -1;
	for (size_t i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[i].key, key) == 0) {
			free(f->meta[i].value);
			f->meta[i].value = v;
			return 0;
		}
	if (f->nmeta == f->capmeta) {
		size_t cap = f->capmeta ? 2 * f->capmeta : 4;
		StMeta *m = realloc(f->meta, cap * sizeof *m);
		if (!m) {
			free(v);
			return -1;
		}
		f->meta = m;
		f->capmeta = cap;
	}
	char *k = dup_str(key);
	if (!k) {
		free(v);
		return -1;
	}
	f->meta[f->nmeta].key = k;
	f->meta[f->nmeta].value = v;
	f->nmeta++;
	return 0;
}

const char *st_meta(const StFile *f, const char *key)
{
	for (size_t i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[i].key, key) == 0)
			return f->meta[i].value;
	return NULL;
}

/* ---- reading ---- */

typedef struct {
	uint64_t begin, end;
	size_t idx;                    /* into StFile.tensors */
} Span;

static int span_cmp(const void *a, const void *b)
{
	const Span *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
	const char *path;
	char *err;
	size_t errlen;
} Ctx;

static int read_metadata(Ctx *c, StFile *out, json_t *obj)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return st_errorf(c->err, c->errlen, c->path, "\"%s\" is not a JSON object",
			    ST_METADATA_KEY);
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return st_errorf(c->err, c->errlen, c->path,
				    "\"%s\" value for `%s` is not a string", ST_METADATA_KEY, k);
		if (st_set_meta(out, k, json_string_value(v)) != 0)
			return st_errorf(c->err, c->errlen, c->path, "out of memory");
	}
	return 0;
}

/* Parses one header entry into a new tensor of out (no data yet) and its span. */
static int read_entry(Ctx *c, StFile *out, const char *name, json_t *e, Span *span)
{
	const char *k;
	json_t *v;
	if (!json_is_object(e))
		return st_errorf(c->err, c->errlen, c->path, "tensor `%s`: entry is not a JSON object",
			    name);
	json_object_foreach(e, k, v)
		if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 &&
		    strcmp(k, "data_offsets") != 0)
			return st_errorf(c->err, c->errlen, c->path, "tensor `%s`: unknown field `%s`",
				    name, k);

	json_t *jd = json_object_get(e, "dtype");
	json_t *js = json_object_get(e, "shape");
	json_t *jo = json_object_get(e, "data_offsets");
	if (!jd || !js || !jo)
		return st_errorf(c->err, c->errlen, c->path, "tensor `%s`: missing \"%s\"", name,
			    !jd ? "dtype" : !js ? "shape" : "data_offsets");
	StDtype dt;
	if (!json_is_string(jd))
		return st_errorf(c->err, c->errlen, c->path, "tensor `%s`: \"dtype\" is not a string",
			    name);
	if (dtype_from_name(json_string_value(jd), &dt) != 0)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: unsupported dtype `%s` (supported: F32, F64, U8, I8, U16,"
			    " I16, U32, I32, U64, I64)", name,
			    json_string_value(jd));

	if (!json_is_array(js))
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: shape is not a list of non-negative integers", name);
	size_t rank = json_array_size(js);
	if (rank > ST_MAX_RANK)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: rank %zu exceeds the limit of %d", name, rank,
			    ST_MAX_RANK);
	int64_t shape[ST_MAX_RANK];
	for (size_t i = 0; i < rank; i++) {
		json_t *d = json_array_get(js, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return st_errorf(c->err, c->errlen, c->path,
				    "tensor `%s`: shape is not a list of non-negative integers",
				    name);
		shape[i] = (int64_t)json_integer_value(d);
	}
	char shp[256];
	format_shape(shp, sizeof shp, (int)rank, shape);
	int64_t numel, nbytes;
	if (shape_size((int)rank, shape, dt, &numel, &nbytes) != 0)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: shape %s is too large (size overflows)", name, shp);

	if (!json_is_array(jo) || json_array_size(jo) != 2 ||
	    !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)) ||
	    json_integer_value(json_array_get(jo, 0)) < 0 ||
	    json_integer_value(json_array_get(jo, 1)) < 0)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: data_offsets is not two non-negative integers", name);
	uint64_t b = (uint64_t)json_integer_value(json_array_get(jo, 0));
	uint64_t en = (uint64_t)json_integer_value(json_array_get(jo, 1));
	if (b > en)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: data_offsets [%" PRIu64 ", %" PRIu64
			    "] out of bounds: begin is past end", name, b, en);
	if (en - b != (uint64_t)nbytes)
		return st_errorf(c->err, c->errlen, c->path,
			    "tensor `%s`: data_offsets [%" PRIu64 ", %" PRIu64 "] do not match %s %s"
			    " (%" PRId64 " bytes)", name, b, en, st_dtype_name(dt), shp, nbytes);

	StTensor *t = push_tensor(out);
	if (!t || !(t->name = dup_str(name)))
		return st_errorf(c->err, c->errlen, c->path, "out of memory");
	t->dtype = dt;
	t->rank = (int)rank;
	memcpy(t->shape, shape, rank * sizeof shape[0]);
	t->numel = numel;
	t->nbytes = (size_t)nbytes;
	span->begin = b;
	span->end = en;
	span->idx = out->ntensors++;
	return 0;
}

/* Checks that the spans tile [0, avail) exactly. Sorts them. */
static int check_layout(Ctx *c, const StFile *out, Span *spans, size_t n, uint64_t avail)
{
	qsort(spans, n, sizeof *spans, span_cmp);
	uint64_t covered = 0;
	for (size_t i = 0; i < n; i++) {
		const Span *s = &spans[i];
		if (s->begin < covered) {
			const Span *p = &spans[i - 1];
			return st_errorf(c->err, c->errlen, c->path,
				    "tensors `%s` [%" PRIu64 ", %" PRIu64 "] and `%s` [%" PRIu64
				    ", %" PRIu64 "] overlap", out->tensors[p->idx].name, p->begin,
				    p->end, out->tensors[s->idx].name, s->begin, s->end);
		}
		if (s->begin > covered)
			return st_errorf(c->err, c->errlen, c->path,
				    "gap in the data buffer: bytes [%" PRIu64 ", %" PRIu64
				    ") before tensor `%s` belong to no tensor", covered, s->begin,
				    out->tensors[s->idx].name);
		covered = s->end;
	}
	for (size_t i = 0; i < n; i++)
		if (spans[i].end > avail)
			return st_errorf(c->err, c->errlen, c->path,
				    "tensor `%s`: data_offsets [%" PRIu64 ", %" PRIu64
				    "] out of bounds: the data buffer has %" PRIu64
				    " bytes (truncated data)", out->tensors[spans[i].idx].name,
				    spans[i].begin, spans[i].end, avail);
	if (covered < avail)
		return st_errorf(c->err, c->errlen, c->path,
			    "trailing bytes: %" PRIu64 " bytes after the last tensor (data buffer %"
			    PRIu64 " bytes, tensors cover %" PRIu64 ")", avail - covered, avail,
			    covered);
	return 0;
}

static int read_all(Ctx *c, FILE *fp, StFile *out)
{
	struct stat sb;
	if (fstat(fileno(fp), &sb) != 0)
		return st_errorf(c->err, c->errlen, c->path, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return st_errorf(c->err, c->errlen, c->path, "not a regular file");
	uint64_t size = (uint64_t)sb.st_size;
	if (size < 8)
		return st_errorf(c->err, c->errlen, c->path,
			    "truncated: file has %" PRIu64
			    " bytes, too short for the 8-byte header length", size);
	unsigned char lenbuf[8];
	if (fread(lenbuf, 1, 8, fp) != 8)
		return st_errorf(c->err, c->errlen, c->path, "cannot read the header length");
	uint64_t hlen = get_le64(lenbuf);
	if (hlen > ST_MAX_HEADER)
		return st_errorf(c->err, c->errlen, c->path,
			    "header length %" PRIu64 " exceeds the limit of %u bytes (100 MB)",
			    hlen, ST_MAX_HEADER);
	if (hlen > size - 8)
		return st_errorf(c->err, c->errlen, c->path,
			    "truncated: header says %" PRIu64 " bytes, file has %" PRIu64
			    " after the 8-byte length", hlen, size - 8);
	uint64_t avail = size - 8 - hlen;

	char *hdr = malloc(hlen ? (size_t)hlen : 1);
	if (!hdr)
		return st_errorf(c->err, c->errlen, c->path, "out of memory");
	if (fread(hdr, 1, (size_t)hlen, fp) != hlen) {
		free(hdr);
		return st_errorf(c->err, c->errlen, c->path, "truncated: cannot read the header");
	}
	json_error_t je;
	json_t *root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
	free(hdr);
	if (!root) {
		if (strstr(je.text, "duplicate"))
			return st_errorf(c->err, c->errlen, c->path,
				    "duplicate tensor name or metadata key in header: %s", je.text);
		return st_errorf(c->err, c->errlen, c->path,
			    "header is not valid JSON: %s (header byte %d)", je.text, je.position);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return st_errorf(c->err, c->errlen, c->path, "header is not a JSON object");
	}

	size_t nent = json_object_size(root);
	Span *spans = malloc((nent ? nent : 1) * sizeof *spans);
	int rc = spans ? 0 : st_errorf(c->err, c->errlen, c->path, "out of memory");
	size_t nspans = 0;
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (rc != 0)
			break;
		if (strcmp(key, ST_METADATA_KEY) == 0)
			rc = read_metadata(c, out, val);
		else if ((rc = read_entry(c, out, key, val, &spans[nspans])) == 0)
			nspans++;
	}
	json_decref(root);
	if (rc == 0)
		rc = check_layout(c, out, spans, nspans, avail);

	/* The spans tile the data buffer in order: read each into its tensor. */
	for (size_t i = 0; rc == 0 && i < nspans; i++) {
		StTensor *t = &out->tensors[spans[i].idx];
		t->data = malloc(t->nbytes ? t->nbytes : 1);
		if (!t->data)
			rc = st_errorf(c->err, c->errlen, c->path, "out of memory");
		else if (fread(t->data, 1, t->nbytes, fp) != t->nbytes)
			rc = st_errorf(c->err, c->errlen, c->path,
				  "truncated data: cannot read tensor `%s`", t->name);
	}
	free(spans);
	return rc;
}

int st_read(const char *path, StFile *out, char *err, size_t errlen)
{
	Ctx c = {path, err, errlen};
	st_init(out);
	if (!host_is_little_endian())
		return st_errorf(err, errlen, path, "big-endian hosts are not supported");
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return st_errorf(err, errlen, path, "cannot open: %s", strerror(errno));
	int rc = read_all(&c, fp, out);
	fclose(fp);
	if (rc != 0)
		st_free(out);
	return rc;
}

/* ---- writing ---- */

/* The compact header JSON, in StFile order, or NULL with err set. */
static char *build_header(Ctx *c, const StFile *f)
{
	json_t *root = json_object();
	if (!root) {
		st_errorf(c->err, c->errlen, c->path, "out of memory");
		return NULL;
	}
	if (f->nmeta) {
		json_t *m = json_object();
		json_object_set_new(root, ST_METADATA_KEY, m);
		for (size_t i = 0; i < f->nmeta; i++)
			if (!m || json_object_set_new(m, f->meta[i].key,
						      json_string(f->meta[i].value)) != 0) {
				st_errorf(c->err, c->errlen, c->path,
				     "metadata `%s` is not valid UTF-8 (or out of memory)",
				     f->meta[i].key);
				json_decref(root);
				return NULL;
			}
	}
	uint64_t off = 0;
	for (size_t i = 0; i < f->ntensors; i++) {
		const StTensor *t = &f->tensors[i];
		int64_t numel, nbytes;
		const char *bad = NULL;
		if (!t->name)
			bad = "has no name";
		else if (strcmp(t->name, ST_METADATA_KEY) == 0)
			bad = "uses the reserved name";
		else if (json_object_get(root, t->name))
			bad = "is a duplicate name";
		else if (!dtype_valid(t->dtype) || t->rank < 0 || t->rank > ST_MAX_RANK ||
			 shape_size(t->rank, t->shape, t->dtype, &numel, &nbytes) != 0)
			bad = "has a bad dtype, rank or shape";
		else if ((uint64_t)nbytes != t->nbytes || numel != t->numel)
			bad = "has numel/nbytes that do not match its shape";
		else if (!t->data && t->nbytes)
			bad = "has no data";
		if (bad) {
			st_errorf(c->err, c->errlen, c->path, "tensor `%s` %s",
			     t->name ? t->name : "(null)", bad);
			json_decref(root);
			return NULL;
		}
		json_t *shape = json_array();
		for (int d = 0; shape && d < t->rank; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		json_t *e = json_object();
		if (e) {
			json_object_set_new(e, "dtype", json_string(st_dtype_name(t->dtype)));
			json_object_set_new(e, "shape", shape);
			json_object_set_new(e, "data_offsets",
					    json_pack("[I,I]", (json_int_t)off,
						      (json_int_t)(off + t->nbytes)));
		} else {
			json_decref(shape);
		}
		if (!e || json_object_set_new(root, t->name, e) != 0) {
			st_errorf(c->err, c->errlen, c->path,
			     "tensor name `%s` is not valid UTF-8 (or out of memory)", t->name);
			json_decref(root);
			return NULL;
		}
		off += t->nbytes;
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		st_errorf(c->err, c->errlen, c->path, "out of memory");
	return s;
}

int st_write(const char *path, const StFile *f, char *err, size_t errlen)
{
	Ctx c = {path, err, errlen};
	if (!host_is_little_endian())
		return st_errorf(err, errlen, path, "big-endian hosts are not supported");
	char *hdr = build_header(&c, f);
	if (!hdr)
		return -1;
	size_t hlen = strlen(hdr);
	size_t padded = (hlen + 7) / 8 * 8;

	AtomicFile a;
	if (atomic_open(&a, path, err, errlen) != 0) {
		free(hdr);
		return -1;
	}
	unsigned char lenbuf[8];
	static const char spaces[8] = "        ";
	put_le64(lenbuf, padded);
	atomic_write(&a, lenbuf, 8);
	atomic_write(&a, hdr, hlen);
	atomic_write(&a, spaces, padded - hlen);
	for (size_t i = 0; i < f->ntensors; i++)
		atomic_write(&a, f->tensors[i].data, f->tensors[i].nbytes);
	free(hdr);
	return atomic_commit(&a, err, errlen);
}
