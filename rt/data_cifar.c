/* data_cifar.c - the binary versions of CIFAR-10 and CIFAR-100.
 *
 * A file is a run of fixed-size records: the label byte(s), then 3072
 * pixel bytes, the 32 x 32 red plane, then green, then blue, each row by
 * row (so the images are already C x H x W and are kept as they are).
 * CIFAR-10 records have one label byte; CIFAR-100 records two, the coarse
 * label (20 superclasses) then the fine one (100 classes), which is the
 * one a search trains on.  The files carry no header, so the record count
 * comes from the file size, which must be a whole number of records. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"
#include "safetensors.h"

enum {
	CIFAR_SIDE = 32,
	CIFAR_PIXELS = 3 * CIFAR_SIDE * CIFAR_SIDE,
	CIFAR_COARSE = 20,
	CIFAR_CHUNK = 512,              /* records per fread */
	CIFAR_MAX_FILES = 5,
};

typedef struct Cifar {
	const char *name;               /* for messages */
	int label_bytes;
	int64_t classes;
	const char *files[2][CIFAR_MAX_FILES + 1];     /* by DataSet, NULL-terminated */
} Cifar;

static const Cifar cifar10 = {
	"CIFAR-10", 1, 10,
	{[DATA_TRAIN] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
			 "data_batch_4.bin", "data_batch_5.bin", NULL},
	 [DATA_TEST] = {"test_batch.bin", NULL}},
};

static const Cifar cifar100 = {
	"CIFAR-100", 2, 100,
	{[DATA_TRAIN] = {"train.bin", NULL}, [DATA_TEST] = {"test.bin", NULL}},
};

/* The record count of path from its size. */
static int count_records(const Cifar *cf, const char *path, int64_t *count, char *err,
			 size_t errlen)
{
	int64_t rec = cf->label_bytes + CIFAR_PIXELS;
	struct stat sb;
	if (stat(path, &sb) != 0)
		return st_errorf(err, errlen, path, "cannot open: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return st_errorf(err, errlen, path, "not a regular file");
	int64_t size = (int64_t)sb.st_size;
	if (size == 0)
		return st_errorf(err, errlen, path, "empty: expected %" PRId64 "-byte %s records",
				 rec, cf->name);
	if (size % rec != 0)
		return st_errorf(err, errlen, path,
				 "%" PRId64 " bytes is not a whole number of %" PRId64 "-byte %s "
				 "records (%d label byte%s and %d pixel bytes each): %" PRId64
				 " byte%s over", size, rec, cf->name, cf->label_bytes,
				 cf->label_bytes > 1 ? "s" : "", CIFAR_PIXELS, size % rec,
				 size % rec > 1 ? "s" : "");
	*count = size / rec;
	return 0;
}

/* Reads the count records of path into d from image first on. */
static int read_file(const Cifar *cf, const char *path, int64_t count, int64_t first,
		     Dataset *d, unsigned char *buf, char *err, size_t errlen)
{
	size_t rec = (size_t)cf->label_bytes + CIFAR_PIXELS;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return st_errorf(err, errlen, path, "cannot open: %s", strerror(errno));
	int rc = 0;
	for (int64_t k = 0; rc == 0 && k < count; k += CIFAR_CHUNK) {
		size_t m = count - k < CIFAR_CHUNK ? (size_t)(count - k) : CIFAR_CHUNK;
		size_t got = fread(buf, rec, m, fp);
		if (got != m) {
			rc = st_errorf(err, errlen, path,
				       "truncated while reading: %" PRId64 " of %" PRId64 " records"
				       " (did the file change?)", k + (int64_t)got, count);
			break;
		}
		for (size_t i = 0; i < m; i++) {
			const unsigned char *r = buf + i * rec;
			int64_t at = k + (int64_t)i, label = r[cf->label_bytes - 1];
			if (cf->label_bytes == 2 && r[0] >= CIFAR_COARSE) {
				rc = st_errorf(err, errlen, path,
					       "record %" PRId64 " has coarse label %d, out of range: "
					       "CIFAR-100 has %d coarse classes (0 to %d)", at, r[0],
					       CIFAR_COARSE, CIFAR_COARSE - 1);
				break;
			}
			if (label >= cf->classes) {
				char why[64];
				snprintf(why, sizeof why, "%s has %" PRId64 " classes", cf->name,
					 cf->classes);
				rc = data_bad_label(err, errlen, path, "record", at, label,
						    cf->classes, why);
				break;
			}
			d->y[first + at] = label;
			memcpy(d->u8 + (first + at) * CIFAR_PIXELS, r + cf->label_bytes,
			       CIFAR_PIXELS);
		}
	}
	fclose(fp);
	return rc;
}

/* Every file's size is checked before the first byte is read or any
 * memory is taken. */
static int load(const Cifar *cf, const char *dir, DataSet which, Dataset *d, char *err,
		size_t errlen)
{
	const char *const *names = cf->files[which];
	char paths[CIFAR_MAX_FILES][DATA_PATH_MAX];
	int64_t counts[CIFAR_MAX_FILES], n = 0;
	int nfiles = 0;
	for (; names[nfiles]; nfiles++) {
		if (data_join(paths[nfiles], dir, names[nfiles], err, errlen) != 0 ||
		    count_records(cf, paths[nfiles], &counts[nfiles], err, errlen) != 0)
			return -1;
		n += counts[nfiles];
	}
	if (data_check_shape(paths[0], n, 3, CIFAR_SIDE, CIFAR_SIDE, 1, err, errlen) != 0)
		return -1;
	d->n = n;
	d->c = 3;
	d->h = d->w = CIFAR_SIDE;
	d->classes = cf->classes;
	d->u8 = malloc((size_t)n * CIFAR_PIXELS);
	d->y = malloc((size_t)n * sizeof *d->y);
	unsigned char *buf = malloc(CIFAR_CHUNK * ((size_t)cf->label_bytes + CIFAR_PIXELS));
	int rc = 0;
	if (!d->u8 || !d->y || !buf)
		rc = st_errorf(err, errlen, paths[0], "out of memory for %" PRId64 " images", n);
	int64_t first = 0;
	for (int i = 0; rc == 0 && i < nfiles; i++) {
		rc = read_file(cf, paths[i], counts[i], first, d, buf, err, errlen);
		first += counts[i];
	}
	free(buf);
	return rc;
}

int data_load_cifar10(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen)
{
	return load(&cifar10, dir, which, d, err, errlen);
}

int data_load_cifar100(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen)
{
	return load(&cifar100, dir, which, d, err, errlen);
}
