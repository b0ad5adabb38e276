/* data_idx.c - the IDX files of MNIST and Fashion-MNIST, gzipped or not.
 *
 * An images file is a big-endian header (magic 0x00000803: unsigned
 * bytes, 3 dimensions; then n, rows, cols as 32-bit counts) followed by
 * n * rows * cols pixel bytes; a labels file has magic 0x00000801 and n,
 * then n label bytes.  zlib's gzread reads gzipped and plain files alike,
 * so one reader serves both; the plain file is taken when both are
 * there. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data_impl.h"
#include "safetensors.h"

enum {
	IDX_IMAGES = 0x00000803,
	IDX_LABELS = 0x00000801,
	/* Files named like MNIST's hold 10 classes (MNIST, Fashion-MNIST,
	 * Kuzushiji-MNIST); a label above 9 means a damaged file. */
	IDX_CLASSES = 10,
};

/* gzread takes an int count: read at most this much at a time. */
#define IDX_CHUNK ((int64_t)1 << 30)
/* The first allocation for a file's data; it doubles up to what the
 * header announces as data arrives, so a header that lies costs no more
 * memory than the file holds. */
#define IDX_FIRST_ALLOC ((int64_t)1 << 24)

typedef struct IdxFile {
	char path[DATA_PATH_MAX];
	gzFile gz;
	const char *what;               /* "images" or "labels" */
} IdxFile;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens dir/name, or dir/name.gz when only that is there. */
static int idx_open(IdxFile *f, const char *dir, const char *name, const char *what, char *err,
		    size_t errlen)
{
	f->gz = NULL;
	f->what = what;
	char gzname[64];
	snprintf(gzname, sizeof gzname, "%s.gz", name);
	if (data_join(f->path, dir, name, err, errlen) != 0)
		return -1;
	if (!data_is_file(f->path)) {
		char plain[DATA_PATH_MAX];
		memcpy(plain, f->path, sizeof plain);
		if (data_join(f->path, dir, gzname, err, errlen) != 0)
			return -1;
		if (!data_is_file(f->path))
			return st_errorf(err, errlen, plain, "no such file (nor %s)", gzname);
	}
	errno = 0;
	f->gz = gzopen(f->path, "rb");
	if (!f->gz)
		return st_errorf(err, errlen, f->path, "cannot open: %s",
				 errno ? strerror(errno) : "out of memory");
	gzbuffer(f->gz, 1 << 17);
	return 0;
}

static void idx_close(IdxFile *f)
{
	if (f->gz)
		gzclose(f->gz);
	f->gz = NULL;
}

/* Reads up to n bytes; *got says how many came.  Returns 0 at the end of
 * the data or when n came, -1 with err set when zlib finds the stream
 * corrupt. */
static int idx_read(IdxFile *f, void *buf, int64_t n, int64_t *got, char *err, size_t errlen)
{
	*got = 0;
	while (*got < n) {
		int64_t want = n - *got < IDX_CHUNK ? n - *got : IDX_CHUNK;
		int r = gzread(f->gz, (unsigned char *)buf + *got, (unsigned)want);
		if (r < 0) {
			int code;
			const char *msg = gzerror(f->gz, &code);
			/* zlib puts the path in front of its messages: we do too. */
			size_t plen = strlen(f->path);
			if (strncmp(msg, f->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
				msg += plen + 2;
			return st_errorf(err, errlen, f->path, "%s: %s",
					 code == Z_ERRNO ? "read error" : "corrupt gzip data",
					 code == Z_ERRNO ? strerror(errno) : msg);
		}
		if (r == 0)
			break;
		*got += r;
	}
	return 0;
}

/* Whether the stream stopped because its compressed data was cut short
 * (rather than the file holding less than its header announced). */
static int idx_cut_short(IdxFile *f)
{
	int code;
	gzerror(f->gz, &code);
	return code == Z_BUF_ERROR;
}

/* Reads the header: the magic, then ndims 32-bit counts into dims. */
static int idx_header(IdxFile *f, uint32_t magic, int ndims, int64_t *dims, char *err,
		      size_t errlen)
{
	unsigned char h[16];
	int64_t len = 4 + 4 * (int64_t)ndims, got;
	if (idx_read(f, h, len, &got, err, errlen) != 0)
		return -1;
	if (got >= 4 && be32(h) != magic) {
		uint32_t other = magic == IDX_IMAGES ? IDX_LABELS : IDX_IMAGES;
		return st_errorf(err, errlen, f->path,
				 "bad magic 0x%08" PRIx32 ", expected 0x%08" PRIx32 " (IDX %s)%s",
				 be32(h), magic, f->what,
				 be32(h) == other ? ": are the images and labels files swapped?" : "");
	}
	if (got < len)
		return st_errorf(err, errlen, f->path,
				 "truncated%s: %" PRId64 " bytes, too short for the %" PRId64
				 "-byte header of an IDX %s file",
				 idx_cut_short(f) ? " gzip stream" : "", got, len, f->what);
	for (int i = 0; i < ndims; i++)
		dims[i] = be32(h + 4 + 4 * i);
	return 0;
}

/* Reads n items of size bytes (the whole rest of the file) into *out. */
static int idx_body(IdxFile *f, int64_t n, int64_t size, uint8_t **out, char *err,
		    size_t errlen)
{
	int64_t total = n * size, have = 0, cap = 0;
	uint8_t *buf = NULL;
	*out = NULL;
	for (;;) {
		if (have == cap) {
			if (cap == total)
				break;
			int64_t ncap = cap ? 2 * cap : IDX_FIRST_ALLOC;
			ncap = ncap < total ? ncap : total;
			uint8_t *nb = realloc(buf, (size_t)ncap);
			if (!nb) {
				free(buf);
				return st_errorf(err, errlen, f->path, "out of memory for %" PRId64
						 " bytes of %s", total, f->what);
			}
			buf = nb;
			cap = ncap;
		}
		int64_t got;
		if (idx_read(f, buf + have, cap - have, &got, err, errlen) != 0) {
			free(buf);
			return -1;
		}
		have += got;
		if (have < cap)
			break;
	}
	if (have < total) {
		free(buf);
		return st_errorf(err, errlen, f->path,
				 "truncated%s: %" PRId64 " of %" PRId64 " %s",
				 idx_cut_short(f) ? " gzip stream" : "", have / size, n, f->what);
	}
	/* Reading on to the end makes zlib check the gzip trailer (CRC and
	 * length), and shows data that the header does not account for. */
	unsigned char extra;
	int64_t got;
	if (idx_read(f, &extra, 1, &got, err, errlen) != 0) {
		free(buf);
		return -1;
	}
	if (got || idx_cut_short(f)) {
		free(buf);
		if (got)
			return st_errorf(err, errlen, f->path,
					 "more data after the %" PRId64 " %s the header announces",
					 n, f->what);
		return st_errorf(err, errlen, f->path,
				 "truncated gzip stream: the %" PRId64 " %s are there, but the "
				 "stream's end (its checksum) is missing", n, f->what);
	}
	*out = buf;
	return 0;
}

static const char *const idx_names[2][2] = {
	[DATA_TRAIN] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
	[DATA_TEST] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};

/* Both headers are read before either body, so a count mismatch is told
 * before tens of megabytes are decompressed. */
static int load(IdxFile *im, IdxFile *lb, const char *dir, DataSet which, Dataset *d,
		char *err, size_t errlen)
{
	int64_t dims[3], nlab;
	if (idx_open(im, dir, idx_names[which][0], "images", err, errlen) != 0 ||
	    idx_header(im, IDX_IMAGES, 3, dims, err, errlen) != 0 ||
	    data_check_shape(im->path, dims[0], 1, dims[1], dims[2], 1, err, errlen) != 0)
		return -1;
	if (idx_open(lb, dir, idx_names[which][1], "labels", err, errlen) != 0 ||
	    idx_header(lb, IDX_LABELS, 1, &nlab, err, errlen) != 0)
		return -1;
	const char *imname = strrchr(im->path, '/') + 1;
	if (nlab != dims[0])
		return st_errorf(err, errlen, lb->path, "%" PRId64 " labels, but %s has %" PRId64
				 " images", nlab, imname, dims[0]);
	d->n = dims[0];
	d->c = 1;
	d->h = dims[1];
	d->w = dims[2];
	d->classes = IDX_CLASSES;
	uint8_t *labels;
	if (idx_body(im, d->n, d->h * d->w, &d->u8, err, errlen) != 0 ||
	    idx_body(lb, d->n, 1, &labels, err, errlen) != 0)
		return -1;
	d->y = malloc((size_t)d->n * sizeof *d->y);
	if (!d->y) {
		free(labels);
		return st_errorf(err, errlen, lb->path, "out of memory");
	}
	int rc = 0;
	for (int64_t k = 0; k < d->n; k++) {
		if (labels[k] >= IDX_CLASSES) {
			rc = data_bad_label(err, errlen, lb->path, "image", k, labels[k],
					    IDX_CLASSES, "MNIST-style IDX sets have 10 classes");
			break;
		}
		d->y[k] = labels[k];
	}
	free(labels);
	return rc;
}

int data_load_idx(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen)
{
	IdxFile im = {.gz = NULL}, lb = {.gz = NULL};
	int rc = load(&im, &lb, dir, which, d, err, errlen);
	idx_close(&im);
	idx_close(&lb);
	return rc;
}
