/* rt_data.c - the dataset layer (rt/data*.c): small files of each format
 * written here byte by byte (IDX plain and gzipped, CIFAR-10, CIFAR-100,
 * safetensors U8 and F32) and read back value for value; one case per
 * kind of damage, each checking the words of its message; the statistics
 * and the split against hand computations; and batches against a second,
 * deliberately naive augmentation pipeline (pad, window, mirror,
 * normalize, cut) fed by the draws data.h documents.  When the
 * Fashion-MNIST package is installed, the real files load too.  All files
 * live in a mkdtemp folder removed at the end. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "data.h"
#include "rng.h"
#include "safetensors.h"
#include "files.h"

#define FASHION_MNIST "/usr/share/datasets/fashion-mnist"

/* ---- files ---- */

/* A fresh folder files_dir/name (kept in a static buffer). */
static const char *folder(const char *name)
{
	static char buf[1024];
	snprintf(buf, sizeof buf, "%s/%s", files_dir, name);
	assert_int_equal(mkdir(buf, 0755), 0);
	return buf;
}

enum { PATHLEN = 1100 }; /* a folder() and a file name */

/* dir/name into out (PATHLEN bytes), for paths used across calls. */
static const char *join(char *out, const char *dir, const char *name)
{
	snprintf(out, PATHLEN, "%s/%s", dir, name);
	return out;
}

/* dir/name, good until the next call. */
static const char *in(const char *dir, const char *name)
{
	static char buf[PATHLEN];
	return join(buf, dir, name);
}

static void put_gz(const char *path, const void *bytes, size_t n)
{
	gzFile g = gzopen(path, "wb");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, bytes, (unsigned)n), (int)n);
	assert_int_equal(gzclose(g), Z_OK);
}

/* Keeps the first keep bytes of path. */
static void cut_file(const char *path, size_t keep)
{
	size_t n;
	unsigned char *b = files_get(path, &n);
	assert_true(keep <= n);
	files_put(path, b, keep);
	free(b);
}

/* ---- IDX ---- */

/* The pixels and labels every small dataset here holds: every byte value
 * shows up, and no two neighbours are equal. */
static uint8_t pix(int64_t k, int64_t i)
{
	return (uint8_t)((k * 97 + i * 13 + 5) % 256);
}

static uint8_t lab(int64_t k)
{
	return (uint8_t)((k * 7 + 3) % 10);
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* An IDX header (magic, then the counts) and body into dir/name, gzipped
 * when the name ends in .gz. */
static void write_raw_idx(const char *dir, const char *name, uint32_t magic, int ndims,
			  const uint32_t *dims, const unsigned char *body, size_t nbody)
{
	size_t len = 4 + 4 * (size_t)ndims + nbody;
	unsigned char *b = malloc(len);
	assert_non_null(b);
	be32(b, magic);
	for (int i = 0; i < ndims; i++)
		be32(b + 4 + 4 * i, dims[i]);
	memcpy(b + 4 + 4 * ndims, body, nbody);
	size_t nl = strlen(name);
	int gz = nl > 3 && strcmp(name + nl - 3, ".gz") == 0;
	(gz ? put_gz : files_put)(in(dir, name), b, len);
	free(b);
}

/* An IDX images file of n images of h x w pix() bytes, the header saying
 * hn images of hh x hw (so that it can lie). */
static void write_images(const char *dir, const char *name, uint32_t magic, uint32_t n,
			 uint32_t h, uint32_t w, uint32_t hn, uint32_t hh, uint32_t hw)
{
	unsigned char *body = malloc((size_t)n * h * w + 1);
	for (uint32_t k = 0; k < n; k++)
		for (uint32_t i = 0; i < h * w; i++)
			body[(size_t)k * h * w + i] = pix(k, i);
	const uint32_t dims[3] = {hn, hh, hw};
	write_raw_idx(dir, name, magic, 3, dims, body, (size_t)n * h * w);
	free(body);
}

/* An IDX labels file of n lab() labels, the header saying hn, label 10
 * (out of range) at index bad unless it is negative. */
static void write_labels(const char *dir, const char *name, uint32_t magic, uint32_t n,
			 uint32_t hn, int bad)
{
	unsigned char *body = malloc((size_t)n + 1);
	for (uint32_t k = 0; k < n; k++)
		body[k] = (int)k == bad ? 10 : lab(k);
	write_raw_idx(dir, name, magic, 1, &hn, body, n);
	free(body);
}

/* Writes one part ("train" or "t10k") of an IDX set of n images of 3 x 4
 * (not square, so rows and columns cannot be swapped unseen). */
static void write_idx(const char *dir, const char *part, uint32_t n, int gz)
{
	char name[64];
	snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", part, gz ? ".gz" : "");
	write_images(dir, name, 0x803, n, 3, 4, n, 3, 4);
	snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", part, gz ? ".gz" : "");
	write_labels(dir, name, 0x801, n, n, -1);
}

static void load_ok(const char *dir, DataSet which, Dataset *d)
{
	char err[1024] = "";
	if (data_load(dir, which, d, err, sizeof err) != 0)
		fail_msg("%s", err);
}

/* Loading fails with a message that names path and holds every word. */
static void expect_fail(const char *dir, DataSet which, const char *path, ...)
{
	char err[1024] = "";
	Dataset d;
	int rc = data_load(dir, which, &d, err, sizeof err);
	va_list ap;
	va_start(ap, path);
	files_expect_message(err, path, ap);
	va_end(ap);
	assert_int_equal(rc, -1);
	assert_null(d.u8);
	assert_null(d.f32);
	assert_null(d.y);
	assert_int_equal(d.n, 0);
}

static void check_idx(const Dataset *d, int64_t n)
{
	assert_string_equal(d->format, "idx");
	assert_int_equal(d->n, n);
	assert_int_equal(d->c, 1);
	assert_int_equal(d->h, 3);
	assert_int_equal(d->w, 4);
	assert_int_equal(d->classes, 10);
	assert_non_null(d->u8);
	assert_null(d->f32);
	for (int64_t k = 0; k < n; k++) {
		assert_int_equal(d->y[k], lab(k));
		for (int64_t i = 0; i < 12; i++) {
			assert_int_equal(d->u8[k * 12 + i], pix(k, i));
			assert_true(data_pixel(d, k, i) == (float)pix(k, i) / 255.0f);
		}
	}
}

static void check_idx_part(const char *dir, DataSet which, int64_t n)
{
	Dataset d;
	load_ok(dir, which, &d);
	check_idx(&d, n);
	assert_string_equal(d.path, dir);
	data_free(&d);
	assert_null(d.u8);
	assert_null(d.y);
}

/* Both parts, plain and gzipped, back value for value. */
static void test_idx_read(void **state)
{
	(void)state;
	for (int gz = 0; gz < 2; gz++) {
		const char *dir = folder(gz ? "idx_gz" : "idx_plain");
		write_idx(dir, "train", 7, gz);
		write_idx(dir, "t10k", 3, gz);
		check_idx_part(dir, DATA_TRAIN, 7);
		check_idx_part(dir, DATA_TEST, 3);
	}
	/* Images gzipped, labels plain: each file is found on its own. */
	const char *dir = folder("idx_mixed");
	write_idx(dir, "train", 5, 1);
	unlink(in(dir, "train-labels-idx1-ubyte.gz"));
	write_labels(dir, "train-labels-idx1-ubyte", 0x801, 5, 5, -1);
	check_idx_part(dir, DATA_TRAIN, 5);
}

static void test_idx_missing(void **state)
{
	(void)state;
	const char *dir = folder("idx_missing");
	write_idx(dir, "train", 4, 1);
	unlink(in(dir, "train-labels-idx1-ubyte.gz"));
	expect_fail(dir, DATA_TRAIN, in(dir, "train-labels-idx1-ubyte"), "no such file",
		    "train-labels-idx1-ubyte.gz", NULL);
	/* The training files say IDX; the test files are what is missing. */
	expect_fail(dir, DATA_TEST, in(dir, "t10k-images-idx3-ubyte"), "no such file",
		    "t10k-images-idx3-ubyte.gz", NULL);
}

/* A folder holding a plain IDX training part of n images: the paths of
 * the folder and of its two files, and their names. */
#define IM "train-images-idx3-ubyte"
#define LB "train-labels-idx1-ubyte"
typedef struct IdxDir {
	char dir[1024], im[PATHLEN], lb[PATHLEN];
} IdxDir;

static void idx_dir(IdxDir *t, const char *name, uint32_t n)
{
	snprintf(t->dir, sizeof t->dir, "%s", folder(name));
	join(t->im, t->dir, IM);
	join(t->lb, t->dir, LB);
	write_idx(t->dir, "train", n, 0);
}

static void test_idx_bad_magic(void **state)
{
	(void)state;
	IdxDir t;
	idx_dir(&t, "idx_magic", 4);
	write_images(t.dir, IM, 0x804, 4, 3, 4, 4, 3, 4);
	expect_fail(t.dir, DATA_TRAIN, t.im,
		    "bad magic 0x00000804, expected 0x00000803 (IDX images)", NULL);
	/* A labels file where the images should be. */
	write_labels(t.dir, IM, 0x801, 4, 4, -1);
	expect_fail(t.dir, DATA_TRAIN, t.im, "bad magic 0x00000801, expected 0x00000803",
		    "swapped", NULL);
	/* And the labels file checked as well. */
	write_idx(t.dir, "train", 4, 0);
	write_labels(t.dir, LB, 0x08010000, 4, 4, -1);
	expect_fail(t.dir, DATA_TRAIN, t.lb,
		    "bad magic 0x08010000, expected 0x00000801 (IDX labels)", NULL);
}

static void test_idx_truncated(void **state)
{
	(void)state;
	IdxDir t;
	idx_dir(&t, "idx_trunc", 5);
	cut_file(t.im, 16 + 4 * 12 + 5);
	expect_fail(t.dir, DATA_TRAIN, t.im, "truncated: 4 of 5 images", NULL);
	cut_file(t.im, 10);
	expect_fail(t.dir, DATA_TRAIN, t.im, "truncated: 10 bytes",
		    "too short for the 16-byte header of an IDX images file", NULL);
	cut_file(t.im, 0);
	expect_fail(t.dir, DATA_TRAIN, t.im, "truncated: 0 bytes", NULL);

	write_idx(t.dir, "train", 5, 0);
	cut_file(t.lb, 8 + 3);
	expect_fail(t.dir, DATA_TRAIN, t.lb, "truncated: 3 of 5 labels", NULL);

	/* More than the header says is damage too. */
	write_labels(t.dir, LB, 0x801, 6, 5, -1);
	expect_fail(t.dir, DATA_TRAIN, t.lb, "more data after the 5 labels the header announces",
		    NULL);
}

/* A gzipped file cut in the middle of its compressed data, cut just
 * before its trailer, and with a damaged checksum. */
static void test_idx_truncated_gzip(void **state)
{
	(void)state;
	const char *dir = folder("idx_gzcut");
	char im[PATHLEN];
	join(im, dir, "t10k-images-idx3-ubyte.gz");
	/* Enough images that half the compressed bytes hold only some. */
	write_images(dir, "t10k-images-idx3-ubyte.gz", 0x803, 200, 3, 4, 200, 3, 4);
	write_labels(dir, "t10k-labels-idx1-ubyte.gz", 0x801, 200, 200, -1);
	size_t gzlen;
	unsigned char *gz = files_get(im, &gzlen);
	cut_file(im, gzlen / 2);
	expect_fail(dir, DATA_TEST, im, "truncated gzip stream", "of 200 images", NULL);

	files_put(im, gz, gzlen - 8);
	expect_fail(dir, DATA_TEST, im, "truncated gzip stream", "200 images are there",
		    "checksum", NULL);

	gz[gzlen - 8] ^= 0x55; /* the CRC-32 */
	files_put(im, gz, gzlen);
	expect_fail(dir, DATA_TEST, im, "corrupt gzip data", NULL);
	free(gz);
}

static void test_idx_count_mismatch(void **state)
{
	(void)state;
	const char *dir = folder("idx_count");
	write_idx(dir, "train", 5, 1);
	write_labels(dir, "train-labels-idx1-ubyte.gz", 0x801, 4, 4, -1);
	expect_fail(dir, DATA_TRAIN, in(dir, "train-labels-idx1-ubyte.gz"),
		    "4 labels, but train-images-idx3-ubyte.gz has 5 images", NULL);
}

static void test_idx_label_range(void **state)
{
	(void)state;
	IdxDir t;
	idx_dir(&t, "idx_range", 5);
	write_labels(t.dir, LB, 0x801, 5, 5, 3);
	expect_fail(t.dir, DATA_TRAIN, t.lb, "image 3 has label 10, out of range",
		    "10 classes (0 to 9)", NULL);
}

/* Headers no dataset has are refused before anything is allocated (a
 * header announcing 2^31 images of a tiny file reads as truncated, not as
 * an 8 GiB allocation: valgrind and ASan would show either). */
static void test_idx_absurd(void **state)
{
	(void)state;
	IdxDir t;
	idx_dir(&t, "idx_absurd", 5);
	write_images(t.dir, IM, 0x803, 5, 3, 4, 5, 0, 4);
	expect_fail(t.dir, DATA_TRAIN, t.im, "images of 0 x 4 pixels", "1 to 65536", NULL);
	write_images(t.dir, IM, 0x803, 5, 3, 4, 5, 3, 70000);
	expect_fail(t.dir, DATA_TRAIN, t.im, "images of 3 x 70000 pixels", NULL);
	write_images(t.dir, IM, 0x803, 5, 3, 4, 0, 3, 4);
	expect_fail(t.dir, DATA_TRAIN, t.im, "holds no images", NULL);
	write_images(t.dir, IM, 0x803, 5, 3, 4, 0xFFFFFFFFu, 65536, 65536);
	expect_fail(t.dir, DATA_TRAIN, t.im, "exceed the limit of 64 GiB", NULL);
	write_images(t.dir, IM, 0x803, 5, 3, 4, 1u << 31, 2, 2);
	write_labels(t.dir, LB, 0x801, 5, 1u << 31, -1);
	expect_fail(t.dir, DATA_TRAIN, t.im, "truncated: 15 of 2147483648 images", NULL);
}

/* ---- finding the format ---- */

static void test_detect(void **state)
{
	(void)state;
	const char *dir = folder("empty");
	expect_fail(dir, DATA_TRAIN, dir, "no dataset files", "train-images-idx3-ubyte[.gz]",
		    "data_batch_1.bin", "train.bin", "train.safetensors", NULL);
	char none[1024];
	snprintf(none, sizeof none, "%s/none", files_dir);
	expect_fail(none, DATA_TRAIN, none, "cannot open the dataset folder", NULL);
	dir = folder("two");
	write_idx(dir, "train", 2, 0);
	files_put(in(dir, "test.bin"), "", 0);
	expect_fail(dir, DATA_TRAIN, dir, "two dataset formats", "idx (", "cifar100 (test.bin)",
		    NULL);
	char file[PATHLEN];
	join(file, dir, "train-images-idx3-ubyte");
	expect_fail(file, DATA_TRAIN, file, "not a folder", NULL);
}

/* ---- CIFAR ---- */

/* A CIFAR file of n records numbered from first on: label bytes (coarse
 * k % 20 then fine label(k) for CIFAR-100), then pix() bytes. */
static void write_cifar(const char *path, int label_bytes, int64_t first, int64_t n,
			uint8_t (*label)(int64_t))
{
	size_t rec = (size_t)label_bytes + 3072;
	unsigned char *b = malloc(rec * (size_t)n + 1);
	for (int64_t k = 0; k < n; k++) {
		unsigned char *r = b + rec * (size_t)k;
		if (label_bytes == 2)
			r[0] = (unsigned char)((first + k) % 20);
		r[label_bytes - 1] = label(first + k);
		for (int i = 0; i < 3072; i++)
			r[label_bytes + i] = pix(first + k, i);
	}
	files_put(path, b, rec * (size_t)n);
	free(b);
}

static uint8_t fine(int64_t k)
{
	return (uint8_t)((k * 37 + 11) % 100);
}

static void check_cifar(const Dataset *d, const char *format, int64_t n, int64_t classes,
			uint8_t (*label)(int64_t))
{
	assert_string_equal(d->format, format);
	assert_int_equal(d->n, n);
	assert_int_equal(d->c, 3);
	assert_int_equal(d->h, 32);
	assert_int_equal(d->w, 32);
	assert_int_equal(d->classes, classes);
	for (int64_t k = 0; k < n; k++) {
		assert_int_equal(d->y[k], label(k));
		for (int64_t i = 0; i < 3072; i++)
			if (d->u8[k * 3072 + i] != pix(k, i))
				fail_msg("image %lld pixel %lld", (long long)k, (long long)i);
	}
}

static void test_cifar10(void **state)
{
	(void)state;
	const char *dir = folder("cifar10");
	/* Files of different lengths: the images go on in file order. */
	static const int64_t counts[5] = {2, 1, 3, 1, 2};
	int64_t first = 0;
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
		write_cifar(in(dir, name), 1, first, counts[i], lab);
		first += counts[i];
	}
	write_cifar(in(dir, "test_batch.bin"), 1, 0, 3, lab);
	Dataset d;
	load_ok(dir, DATA_TRAIN, &d);
	check_cifar(&d, "cifar10", 9, 10, lab);
	/* CHW: pixel (c, y, x) is byte c*1024 + y*32 + x of the record. */
	assert_true(data_pixel(&d, 4, 2 * 1024 + 5 * 32 + 7) ==
		    (float)pix(4, 2 * 1024 + 5 * 32 + 7) / 255.0f);
	data_free(&d);
	load_ok(dir, DATA_TEST, &d);
	check_cifar(&d, "cifar10", 3, 10, lab);
	data_free(&d);
}

static void test_cifar100(void **state)
{
	(void)state;
	const char *dir = folder("cifar100");
	write_cifar(in(dir, "train.bin"), 2, 0, 5, fine);
	write_cifar(in(dir, "test.bin"), 2, 0, 2, fine);
	Dataset d;
	load_ok(dir, DATA_TRAIN, &d);
	check_cifar(&d, "cifar100", 5, 100, fine);
	data_free(&d);
	load_ok(dir, DATA_TEST, &d);
	check_cifar(&d, "cifar100", 2, 100, fine);
	data_free(&d);
}

static uint8_t ten_at_3(int64_t k)
{
	return k == 3 ? 10 : lab(k);
}

static uint8_t hundred_at_1(int64_t k)
{
	return k == 1 ? 100 : fine(k);
}

static void test_cifar_errors(void **state)
{
	(void)state;
	const char *dir = folder("cifar_bad");
	for (int i = 1; i <= 5; i++) {
		char name[32];
		snprintf(name, sizeof name, "data_batch_%d.bin", i);
		write_cifar(in(dir, name), 1, 0, 2, lab);
	}
	write_cifar(in(dir, "test_batch.bin"), 1, 0, 2, lab);
	char b3[PATHLEN];
	join(b3, dir, "data_batch_3.bin");
	cut_file(b3, 3073 + 100);
	expect_fail(dir, DATA_TRAIN, b3, "3173 bytes is not a whole number of 3073-byte CIFAR-10 "
		    "records", "100 bytes over", NULL);
	unlink(b3);
	expect_fail(dir, DATA_TRAIN, b3, "cannot open", NULL);
	files_put(b3, "", 0);
	expect_fail(dir, DATA_TRAIN, b3, "empty", NULL);
	write_cifar(b3, 1, 0, 5, ten_at_3);
	expect_fail(dir, DATA_TRAIN, b3, "record 3 has label 10, out of range",
		    "CIFAR-10 has 10 classes (0 to 9)", NULL);

	dir = folder("cifar100_bad");
	char tr[PATHLEN];
	join(tr, dir, "train.bin");
	write_cifar(tr, 2, 0, 3, hundred_at_1);
	expect_fail(dir, DATA_TRAIN, tr, "record 1 has label 100, out of range",
		    "CIFAR-100 has 100 classes (0 to 99)", NULL);
	/* A CIFAR-10 file renamed: its size gives it away. */
	write_cifar(tr, 1, 0, 10, lab);
	expect_fail(dir, DATA_TRAIN, tr, "30730 bytes is not a whole number of 3074-byte "
		    "CIFAR-100 records", "2 label bytes", NULL);
	write_cifar(tr, 2, 0, 3, fine);
	size_t n;
	unsigned char *b = files_get(tr, &n);
	b[2 * 3074] = 20;
	files_put(tr, b, n);
	free(b);
	expect_fail(dir, DATA_TRAIN, tr, "record 2 has coarse label 20, out of range", NULL);
	expect_fail(dir, DATA_TEST, in(dir, "test.bin"), "cannot open", NULL);
}

/* ---- safetensors ---- */

static void write_st(const char *path, StDtype xt, const int64_t *xs, const void *x, StDtype yt,
		     int64_t ny, const void *y, const char *classes)
{
	StFile f;
	st_init(&f);
	if (x)
		assert_int_equal(st_add(&f, "x", xt, 4, xs, x), 0);
	if (y)
		assert_int_equal(st_add(&f, "y", yt, 1, &ny, y), 0);
	if (classes)
		assert_int_equal(st_set_meta(&f, "classes", classes), 0);
	char err[512];
	if (st_write(path, &f, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&f);
}

/* Writes dir/train.safetensors (or test) and loads it into *d, which must
 * have n images of c x h x w and the given class count. */
static void st_round(const char *dir, DataSet which, StDtype xt, const int64_t *xs,
		     const void *x, StDtype yt, const void *y, const char *classes,
		     int64_t nclasses, Dataset *d)
{
	write_st(in(dir, which == DATA_TRAIN ? "train.safetensors" : "test.safetensors"), xt, xs,
		 x, yt, xs[0], y, classes);
	load_ok(dir, which, d);
	assert_string_equal(d->format, "safetensors");
	assert_int_equal(d->n, xs[0]);
	assert_int_equal(d->c, xs[1]);
	assert_int_equal(d->h, xs[2]);
	assert_int_equal(d->w, xs[3]);
	assert_int_equal(d->classes, nclasses);
}

/* Bytes for training and floats for testing (one folder may mix them),
 * then labels of another type with a class count in the metadata. */
static void test_st_read(void **state)
{
	(void)state;
	const char *dir = folder("st");
	int64_t xs[4] = {3, 2, 2, 3};
	uint8_t x[36];
	for (int i = 0; i < 36; i++)
		x[i] = pix(i / 12, i % 12);
	uint8_t y[3] = {4, 0, 2};
	Dataset d;
	/* Without metadata, the largest label + 1 classes. */
	st_round(dir, DATA_TRAIN, ST_U8, xs, x, ST_U8, y, NULL, 5, &d);
	assert_null(d.f32);
	assert_memory_equal(d.u8, x, 36);
	for (int k = 0; k < 3; k++)
		assert_int_equal(d.y[k], y[k]);
	assert_true(data_pixel(&d, 2, 7) == (float)x[31] / 255.0f);
	data_free(&d);

	int64_t fs[4] = {2, 1, 3, 2};
	float f[12];
	for (int i = 0; i < 12; i++)
		f[i] = (float)(i - 5) * 0.375f;
	int32_t y32[2] = {1, 0};
	st_round(dir, DATA_TEST, ST_F32, fs, f, ST_I32, y32, NULL, 2, &d);
	assert_null(d.u8);
	assert_memory_equal(d.f32, f, sizeof f);
	/* Floats are taken as they are, not scaled. */
	assert_true(data_pixel(&d, 1, 4) == f[10]);
	assert_int_equal(d.y[0], 1);
	data_free(&d);

	/* The metadata's class count wins over the labels'. */
	int16_t y16[3] = {1, 0, 2};
	st_round(dir, DATA_TRAIN, ST_U8, xs, x, ST_I16, y16, "7", 7, &d);
	assert_int_equal(d.y[0], 1);
	data_free(&d);
}

static void test_st_errors(void **state)
{
	(void)state;
	const char *dir = folder("st_bad");
	char p[PATHLEN];
	join(p, dir, "train.safetensors");
	int64_t xs[4] = {2, 1, 2, 2};
	uint8_t x[8] = {0};
	int64_t y[2] = {0, 1};
	double xd[8] = {0};
	float xf[8] = {0};
	write_st(p, ST_F64, xs, xd, ST_I64, 2, y, NULL);
	expect_fail(dir, DATA_TRAIN, p, "tensor x has dtype F64: expected U8 or F32", NULL);
	write_st(p, ST_U8, xs, x, ST_F32, 2, xf, NULL);
	expect_fail(dir, DATA_TRAIN, p, "tensor y has dtype F32: expected an integer type", NULL);
	write_st(p, ST_U8, xs, x, ST_I64, 1, y, NULL);
	expect_fail(dir, DATA_TRAIN, p, "tensor y holds 1 labels, but x holds 2 images", NULL);
	write_st(p, ST_U8, NULL, NULL, ST_I64, 2, y, NULL);
	expect_fail(dir, DATA_TRAIN, p, "tensor x is missing", NULL);
	int64_t y3[2] = {0, 3};
	write_st(p, ST_U8, xs, x, ST_I64, 2, y3, "3");
	expect_fail(dir, DATA_TRAIN, p, "image 1 has label 3, out of range",
		    "the metadata says 3 classes (0 to 2)", NULL);
	write_st(p, ST_U8, xs, x, ST_I64, 2, y, "three");
	expect_fail(dir, DATA_TRAIN, p, "metadata classes = \"three\"", NULL);
	int64_t yneg[2] = {0, -1};
	write_st(p, ST_U8, xs, x, ST_I64, 2, yneg, NULL);
	expect_fail(dir, DATA_TRAIN, p, "image 1 has label -1, out of range", NULL);
	uint64_t yhuge[2] = {0, UINT64_MAX};
	write_st(p, ST_U8, xs, x, ST_U64, 2, yhuge, NULL);
	expect_fail(dir, DATA_TRAIN, p, "image 1 has label 18446744073709551615, out of range",
		    NULL);
	xf[5] = NAN;
	write_st(p, ST_F32, xs, xf, ST_I64, 2, y, NULL);
	expect_fail(dir, DATA_TRAIN, p, "tensor x holds NaN at element 5", NULL);

	StFile f;
	st_init(&f);
	int64_t s3[3] = {2, 2, 2};
	assert_int_equal(st_add(&f, "x", ST_U8, 3, s3, x), 0);
	assert_int_equal(st_add(&f, "y", ST_I64, 1, s3, y), 0);
	char err[512];
	assert_int_equal(st_write(p, &f, err, sizeof err), 0);
	expect_fail(dir, DATA_TRAIN, p, "tensor x has shape [2,2,2]: expected [N,C,H,W]", NULL);
	assert_int_equal(st_add(&f, "names", ST_U8, 1, s3, x), 0);
	assert_int_equal(st_write(p, &f, err, sizeof err), 0);
	expect_fail(dir, DATA_TRAIN, p, "unexpected tensor names", NULL);
	st_free(&f);

	/* The reader's own complaints name the file too. */
	char t[PATHLEN];
	join(t, dir, "test.safetensors");
	expect_fail(dir, DATA_TEST, t, "cannot open", NULL);
	files_put(t, "\x10\0\0\0\0\0\0\0{", 9);
	expect_fail(dir, DATA_TEST, t, "truncated", NULL);
}

/* ---- damage anywhere ---- */

/* Loads dir: it works, or fails with a message naming a file in dir and
 * leaves nothing allocated. */
static void try_load(const char *dir, DataSet which)
{
	Dataset d;
	char err[1024] = "";
	if (data_load(dir, which, &d, err, sizeof err) == 0) {
		data_free(&d);
		return;
	}
	if (strncmp(err, dir, strlen(dir)) != 0 || !strstr(err, ": "))
		fail_msg("message `%s` does not name a file of %s", err, dir);
	assert_null(d.u8);
	assert_null(d.f32);
	assert_null(d.y);
}

/* path cut at every length and with each of its first `limit` bytes
 * changed three ways: no crash, leak or read out of bounds (valgrind and
 * the sanitizers of check.sh watch this one). */
static void damage_all(const char *dir, const char *path, DataSet which, size_t limit)
{
	size_t n;
	unsigned char *orig = files_get(path, &n);
	unsigned char *b = malloc(n + 1);
	for (size_t k = 0; k < n; k++) {
		files_put(path, orig, k);
		try_load(dir, which);
	}
	for (size_t i = 0; i < n && i < limit; i++) {
		const unsigned char vals[3] = {0, 0xFF, (unsigned char)(orig[i] ^ 0x80)};
		for (int v = 0; v < 3; v++) {
			memcpy(b, orig, n);
			b[i] = vals[v];
			files_put(path, b, n);
			try_load(dir, which);
		}
	}
	free(b);
	/* Back as it was, for the next file of the folder. */
	files_put(path, orig, n);
	free(orig);
}

static void test_damage(void **state)
{
	(void)state;
	char p[PATHLEN];
	const char *dir = folder("damage_idx");
	write_idx(dir, "train", 3, 0);
	write_idx(dir, "t10k", 2, 1);
	damage_all(dir, join(p, dir, "train-images-idx3-ubyte"), DATA_TRAIN, SIZE_MAX);
	damage_all(dir, join(p, dir, "train-labels-idx1-ubyte"), DATA_TRAIN, SIZE_MAX);
	damage_all(dir, join(p, dir, "t10k-images-idx3-ubyte.gz"), DATA_TEST, SIZE_MAX);
	damage_all(dir, join(p, dir, "t10k-labels-idx1-ubyte.gz"), DATA_TEST, SIZE_MAX);

	dir = folder("damage_cifar");
	write_cifar(join(p, dir, "train.bin"), 2, 0, 2, fine);
	damage_all(dir, p, DATA_TRAIN, 8);

	dir = folder("damage_st");
	int64_t xs[4] = {2, 1, 2, 2};
	uint8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int64_t y[2] = {0, 1};
	write_st(join(p, dir, "train.safetensors"), ST_U8, xs, x, ST_I64, 2, y, "2");
	damage_all(dir, p, DATA_TRAIN, SIZE_MAX);
}

/* ---- statistics and the split ---- */

/* A dataset in memory: n images of c x h x w, bytes b or floats f. */
static Dataset mem(int64_t n, int64_t c, int64_t h, int64_t w, uint8_t *b, float *f,
		   int64_t *y)
{
	Dataset d;
	memset(&d, 0, sizeof d);
	d.n = n;
	d.c = c;
	d.h = h;
	d.w = w;
	d.classes = 10;
	d.u8 = b;
	d.f32 = f;
	d.y = y;
	return d;
}

static void near(double got, double want)
{
	if (!(fabs(got - want) <= 1e-12 * (1 + fabs(want))))
		fail_msg("got %.17g, expected %.17g", got, want);
}

static void test_channel_stats(void **state)
{
	(void)state;
	/* Two images of 2 channels of 1 x 2 pixels:
	 *   image 0: channel 0 = {0, 51}, channel 1 = {255, 255}
	 *   image 1: channel 0 = {102, 153}, channel 1 = {0, 255}
	 * channel 0 over both is {0, .2, .4, .6}: mean .3, variance
	 * (.09 + .01 + .01 + .09) / 4 = .05; channel 1 is {1, 1, 0, 1}: mean
	 * .75, variance 3/16. */
	uint8_t b[8] = {0, 51, 255, 255, 102, 153, 0, 255};
	Dataset d = mem(2, 2, 1, 2, b, NULL, NULL);
	double mean[2], std[2];
	data_channel_stats(&d, NULL, 0, mean, std);
	near(mean[0], 0.3);
	near(std[0], sqrt(0.05));
	near(mean[1], 0.75);
	near(std[1], sqrt(3.0 / 16));
	/* Image 1 alone: channel 0 {.4, .6}, channel 1 {0, 1}. */
	int64_t one = 1;
	data_channel_stats(&d, &one, 1, mean, std);
	near(mean[0], 0.5);
	near(std[0], 0.1);
	near(mean[1], 0.5);
	near(std[1], 0.5);

	/* The same numbers stored as floats give the same statistics. */
	float f[8];
	for (int i = 0; i < 8; i++)
		f[i] = (float)(b[i] / 255.0);
	Dataset e = mem(2, 2, 1, 2, NULL, f, NULL);
	data_channel_stats(&e, NULL, 0, mean, std);
	assert_true(fabs(mean[0] - 0.3) < 1e-7 && fabs(std[0] - sqrt(0.05)) < 1e-7);
	assert_true(fabs(mean[1] - 0.75) < 1e-7 && fabs(std[1] - sqrt(3.0 / 16)) < 1e-7);
}

/* The split as data.h states it, written out again. */
static void split_by_hand(int64_t n, double split, uint64_t seed, uint64_t stream, int64_t *perm,
			  int64_t *ntrain)
{
	Rng r;
	rng_seed(&r, seed, stream);
	for (int64_t i = 0; i < n; i++)
		perm[i] = i;
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = rng_below(&r, (uint32_t)(i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	*ntrain = (int64_t)floor(split * (double)n + 0.5);
}

static void test_split(void **state)
{
	(void)state;
	enum { N = 1000 };
	int64_t *tr, *va, nt, nv;
	assert_int_equal(data_split(N, 0.5, 7, 3, &tr, &nt, &va, &nv), 0);
	assert_int_equal(nt, 500);
	assert_int_equal(nv, 500);
	static char seen[N];
	memset(seen, 0, sizeof seen);
	for (int64_t i = 0; i < nt; i++)
		seen[tr[i]]++;
	for (int64_t i = 0; i < nv; i++)
		seen[va[i]] += 2;
	for (int i = 0; i < N; i++)
		if (seen[i] != 1 && seen[i] != 2)
			fail_msg("image %d is in %s", i, seen[i] ? "both parts" : "neither part");
	/* A shuffle: the training part is not the first half. */
	int64_t low = 0;
	for (int64_t i = 0; i < nt; i++)
		low += tr[i] < N / 2;
	assert_true(low > 200 && low < 300);

	int64_t perm[N], want;
	split_by_hand(N, 0.5, 7, 3, perm, &want);
	assert_int_equal(nt, want);
	assert_memory_equal(tr, perm, (size_t)nt * sizeof *tr);
	assert_memory_equal(va, perm + nt, (size_t)nv * sizeof *va);

	int64_t *tr2, *va2, nt2, nv2;
	assert_int_equal(data_split(N, 0.5, 7, 3, &tr2, &nt2, &va2, &nv2), 0);
	assert_memory_equal(tr, tr2, (size_t)nt * sizeof *tr);
	free(tr2);
	free(va2);
	assert_int_equal(data_split(N, 0.5, 8, 3, &tr2, &nt2, &va2, &nv2), 0);
	assert_true(memcmp(tr, tr2, (size_t)nt * sizeof *tr) != 0);
	free(tr2);
	free(va2);
	assert_int_equal(data_split(N, 0.5, 7, 4, &tr2, &nt2, &va2, &nv2), 0);
	assert_true(memcmp(tr, tr2, (size_t)nt * sizeof *tr) != 0);
	free(tr2);
	free(va2);
	free(tr);
	free(va);

	/* Rounding: half rounds up, 0.7 * 10 is 7 despite its float error. */
	static const struct {
		int64_t n;
		double split;
		int64_t ntrain;
	} round_cases[] = {{5, 0.5, 3}, {7, 0.5, 4}, {10, 0.7, 7}, {3, 0.5, 2}, {2, 0.5, 1},
			   {10, 0.04, -1}, {10, 0.96, -1}, {10, 0.05, 1}, {10, 0.94, 9},
			   {1, 0.5, -1}, {10, 0, -1}, {10, 1, -1}, {10, NAN, -1}, {0, 0.5, -1}};
	for (size_t i = 0; i < sizeof round_cases / sizeof round_cases[0]; i++) {
		int rc = data_split(round_cases[i].n, round_cases[i].split, 1, 0, &tr, &nt, &va,
				    &nv);
		if (round_cases[i].ntrain < 0) {
			assert_int_equal(rc, -1);
			assert_null(tr);
			assert_null(va);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(nt, round_cases[i].ntrain);
		assert_int_equal(nv, round_cases[i].n - round_cases[i].ntrain);
		free(tr);
		free(va);
	}
}

/* ---- batches ---- */

/* A byte dataset of n images of 3 x 5 x 7 pix() values, labels lab(). */
enum { BN = 12, BC = 3, BH = 5, BW = 7, BHW = BH * BW, BCHW = BC * BHW };
static uint8_t bpix[BN * BCHW];
static int64_t blab[BN];

static Dataset bytes_set(void)
{
	for (int k = 0; k < BN; k++) {
		blab[k] = lab(k);
		for (int i = 0; i < BCHW; i++)
			bpix[k * BCHW + i] = pix(k, i);
	}
	return mem(BN, BC, BH, BW, bpix, NULL, blab);
}

static const double bmean[BC] = {0.25, 0.5, 0.75};
static const double bstd[BC] = {0.5, 0.25, 0.125};

/* What data_batch should write for image k: the pipeline of data.h done
 * literally, step by step, with the draws taken from r in its order. */
static void expected_image(const Dataset *d, int64_t k, const double *mean, const double *std,
			   const Augment *a, Rng *r, double *out)
{
	int64_t P = a && a->crop > 0 ? a->crop : 0, h = d->h, w = d->w;
	int64_t top = P, left = P;
	if (P > 0) {
		top = rng_below(r, (uint32_t)(2 * P + 1));
		left = rng_below(r, (uint32_t)(2 * P + 1));
	}
	int flip = a && a->flip ? rng_uniform(r) < 0.5f : 0;
	int cut = 0;
	int64_t cy = 0, cx = 0;
	if (a && a->cutout > 0 && a->cutout_prob > 0) {
		cut = rng_uniform(r) < a->cutout_prob;
		cy = rng_below(r, (uint32_t)h);
		cx = rng_below(r, (uint32_t)w);
	}
	int64_t ph = h + 2 * P, pw = w + 2 * P;
	double *padded = calloc((size_t)(ph * pw), sizeof *padded);
	for (int64_t c = 0; c < d->c; c++) {
		memset(padded, 0, (size_t)(ph * pw) * sizeof *padded);
		for (int64_t y = 0; y < h; y++)
			for (int64_t x = 0; x < w; x++)
				padded[(y + P) * pw + x + P] = d->u8
					? d->u8[(k * d->c + c) * h * w + y * w + x] / 255.0
					: d->f32[(k * d->c + c) * h * w + y * w + x];
		for (int64_t y = 0; y < h; y++)
			for (int64_t x = 0; x < w; x++) {
				int64_t sx = flip ? w - 1 - x : x;
				double v = padded[(y + top) * pw + sx + left];
				out[(c * h + y) * w + x] = (v - mean[c]) / std[c];
			}
	}
	free(padded);
	if (!cut)
		return;
	for (int64_t c = 0; c < d->c; c++)
		for (int64_t y = cy - a->cutout / 2; y < cy - a->cutout / 2 + a->cutout; y++)
			for (int64_t x = cx - a->cutout / 2; x < cx - a->cutout / 2 + a->cutout; x++)
				if (y >= 0 && y < h && x >= 0 && x < w)
					out[(c * h + y) * w + x] = 0;
}

/* Two generators at the same point of the same stream (the buffer of an
 * unused block is garbage, so memcmp would not do). */
static void same_rng(const Rng *a, const Rng *b)
{
	assert_int_equal(a->seed, b->seed);
	assert_int_equal(a->stream, b->stream);
	assert_int_equal(a->block, b->block);
	assert_int_equal(a->used, b->used);
	for (int i = a->used; i < 4; i++)
		assert_int_equal(a->buf[i], b->buf[i]);
}

/* data_batch against expected_image, in f32 and f64, from the same
 * generator state: every value equal (f32: the double rounded once). */
static void check_batch(const Dataset *d, const int64_t *idx, int64_t b, const Augment *a,
			uint64_t seed)
{
	int64_t chw = d->c * d->h * d->w;
	float *x4 = malloc((size_t)(b * chw) * sizeof *x4);
	double *x8 = malloc((size_t)(b * chw) * sizeof *x8);
	double *want = malloc((size_t)chw * sizeof *want);
	int64_t *y = malloc((size_t)b * sizeof *y);
	Rng r4, r8, rw;
	rng_seed(&r4, seed, 5);
	r8 = rw = r4;
	data_batch(d, idx, b, bmean, bstd, a, &r4, x4, 4, y);
	data_batch(d, idx, b, bmean, bstd, a, &r8, x8, 8, y);
	for (int64_t k = 0; k < b; k++) {
		assert_int_equal(y[k], d->y[idx[k]]);
		expected_image(d, idx[k], bmean, bstd, a, &rw, want);
		for (int64_t i = 0; i < chw; i++) {
			if (x8[k * chw + i] != want[i] || x4[k * chw + i] != (float)want[i])
				fail_msg("seed %llu image %lld value %lld: got %.17g (f32 %.9g), "
					 "expected %.17g", (unsigned long long)seed, (long long)k,
					 (long long)i, x8[k * chw + i], x4[k * chw + i], want[i]);
		}
	}
	/* Both generators moved exactly as far as the documented draws. */
	same_rng(&r4, &rw);
	same_rng(&r8, &rw);
	free(x4);
	free(x8);
	free(want);
	free(y);
}

static const int64_t bidx[6] = {3, 0, 11, 3, 7, 5};

static void test_batch_normalize(void **state)
{
	(void)state;
	Dataset d = bytes_set();
	check_batch(&d, bidx, 6, NULL, 1);
	Augment none = {0, 0, 0, 0};
	check_batch(&d, bidx, 6, &none, 1);
	/* By hand: byte 51 of channel 1 (mean .5, std .25) is (.2 - .5) / .25. */
	bpix[3 * BCHW + BHW] = 51;
	float x[BCHW];
	int64_t y;
	Rng r;
	rng_seed(&r, 1, 1);
	data_batch(&d, bidx, 1, bmean, bstd, NULL, &r, x, 4, &y);
	assert_true(x[BHW] == (float)((51 / 255.0 - 0.5) / 0.25));
	assert_true(fabsf(x[BHW] - -1.2f) < 1e-6f);
	assert_int_equal(y, lab(3));
	/* No normalization: the pixel's value; std 0 only centres. */
	double x8[BCHW], m[3] = {0, 0, 0.5}, s[3] = {1, 1, 0};
	data_batch(&d, bidx, 1, NULL, NULL, NULL, &r, x8, 8, &y);
	assert_true(x8[BHW] == 51 / 255.0);
	data_batch(&d, bidx, 1, m, s, NULL, &r, x8, 8, &y);
	assert_true(x8[2 * BHW] == pix(3, 2 * BHW) / 255.0 - 0.5);
	/* The generator is untouched without augmentation. */
	Rng fresh;
	rng_seed(&fresh, 1, 1);
	same_rng(&r, &fresh);

	/* Float images are normalized as they are. */
	float f[2 * BCHW];
	for (int i = 0; i < 2 * BCHW; i++)
		f[i] = (float)(i % 17) * 0.125f - 1;
	int64_t fy[2] = {1, 0}, fidx[2] = {1, 0};
	Dataset e = mem(2, BC, BH, BW, NULL, f, fy);
	check_batch(&e, fidx, 2, NULL, 1);
}

/* With crop = P the output is the zero-padded image seen through a window
 * whose corner is (top, left) in the padded image. */
static void test_batch_crop(void **state)
{
	(void)state;
	Dataset d = bytes_set();
	Augment a = {.crop = 2};
	for (uint64_t seed = 0; seed < 20; seed++)
		check_batch(&d, bidx, 6, &a, seed);
	/* One image by hand: draw the corner, shift the image, compare. */
	Rng r, copy;
	rng_seed(&r, 42, 0);
	copy = r;
	int64_t top = rng_below(&copy, 5), left = rng_below(&copy, 5);
	float x[BCHW];
	int64_t y, k = 7;
	data_batch(&d, &k, 1, NULL, NULL, &a, &r, x, 4, &y);
	for (int c = 0; c < BC; c++)
		for (int i = 0; i < BH; i++)
			for (int j = 0; j < BW; j++) {
				int sy = i + (int)top - 2, sx = j + (int)left - 2;
				float want = sy < 0 || sy >= BH || sx < 0 || sx >= BW
					? 0.0f : pix(k, c * BHW + sy * BW + sx) / 255.0f;
				assert_true(fabsf(x[c * BHW + i * BW + j] - want) < 1e-7f);
			}
	/* A padding wider than the image: windows of nothing but padding. */
	a.crop = 9;
	for (uint64_t seed = 0; seed < 10; seed++)
		check_batch(&d, bidx, 6, &a, seed);
}

static void test_batch_flip(void **state)
{
	(void)state;
	Dataset d = bytes_set();
	Augment a = {.flip = 1};
	int64_t idx[32];
	for (int i = 0; i < 32; i++)
		idx[i] = i % BN;
	check_batch(&d, idx, 32, &a, 3);
	/* Each output is the image or its exact mirror, and both occur. */
	float x[32 * BCHW];
	int64_t y[32];
	Rng r;
	rng_seed(&r, 3, 5);
	data_batch(&d, idx, 32, NULL, NULL, &a, &r, x, 4, y);
	int mirrored = 0, same = 0;
	for (int k = 0; k < 32; k++) {
		int is_same = 1, is_mirror = 1;
		for (int c = 0; c < BC; c++)
			for (int i = 0; i < BH; i++)
				for (int j = 0; j < BW; j++) {
					float v = x[k * BCHW + c * BHW + i * BW + j];
					is_same &= v == data_pixel(&d, idx[k], c * BHW + i * BW + j);
					is_mirror &= v == data_pixel(&d, idx[k],
								     c * BHW + i * BW + BW - 1 - j);
				}
		assert_true(is_same || is_mirror);
		mirrored += is_mirror;
		same += is_same;
	}
	assert_true(mirrored > 0 && same > 0);
}

/* Zeros that are the cutout's and nothing else's: mean -1 and std 0.5
 * map every pixel to 2 or more. */
static void test_batch_cutout(void **state)
{
	(void)state;
	Dataset d = bytes_set();
	static const double m1[BC] = {-1, -1, -1}, s1[BC] = {0.5, 0.5, 0.5};
	int64_t idx[40];
	for (int i = 0; i < 40; i++)
		idx[i] = i % BN;
	float x[40 * BCHW];
	int64_t y[40];
	for (int len = 1; len <= 6; len++) {
		Augment a = {.cutout_prob = 1, .cutout = len};
		check_batch(&d, idx, 40, &a, (uint64_t)len);
		Rng r, copy;
		rng_seed(&r, 100 + (uint64_t)len, 0);
		copy = r;
		data_batch(&d, idx, 40, m1, s1, &a, &r, x, 4, y);
		for (int k = 0; k < 40; k++) {
			rng_uniform(&copy);
			int cy = (int)rng_below(&copy, BH), cx = (int)rng_below(&copy, BW);
			int y1 = cy - len / 2, x1 = cx - len / 2;
			int area = 0;
			for (int i = 0; i < BH; i++)
				for (int j = 0; j < BW; j++) {
					int in_sq = i >= y1 && i < y1 + len && j >= x1 && j < x1 + len;
					area += in_sq;
					for (int c = 0; c < BC; c++) {
						float v = x[k * BCHW + c * BHW + i * BW + j];
						if (in_sq ? v != 0 : v < 2)
							fail_msg("len %d image %d (%d, %d, %d) = %g", len,
								 k, c, i, j, v);
					}
				}
			/* Clipped at the borders, whole inside. */
			int ch = (y1 + len < BH ? y1 + len : BH) - (y1 > 0 ? y1 : 0);
			int cw = (x1 + len < BW ? x1 + len : BW) - (x1 > 0 ? x1 : 0);
			assert_int_equal(area, ch * cw);
		}
	}
	/* Probability 0: no cut and no draw. */
	Augment never = {.cutout_prob = 0, .cutout = 3};
	Rng r, fresh;
	rng_seed(&r, 9, 9);
	fresh = r;
	data_batch(&d, idx, 40, m1, s1, &never, &r, x, 4, y);
	for (int i = 0; i < 40 * BCHW; i++)
		assert_true(x[i] >= 2);
	same_rng(&r, &fresh);
	/* Probability one half: some images cut, some not, as drawn. */
	Augment half = {.cutout_prob = 0.5, .cutout = 2};
	check_batch(&d, idx, 40, &half, 77);
}

/* Everything at once, in the documented order, and bit for bit again
 * from the same generator state. */
static void test_batch_all(void **state)
{
	(void)state;
	Dataset d = bytes_set();
	Augment a = {.crop = 3, .flip = 1, .cutout_prob = 0.75, .cutout = 4};
	int64_t idx[24];
	for (int i = 0; i < 24; i++)
		idx[i] = (i * 5) % BN;
	for (uint64_t seed = 0; seed < 8; seed++)
		check_batch(&d, idx, 24, &a, seed);

	double x1[24 * BCHW], x2[24 * BCHW];
	int64_t y1[24], y2[24];
	Rng r1, r2;
	rng_seed(&r1, 11, 2);
	r2 = r1;
	data_batch(&d, idx, 24, bmean, bstd, &a, &r1, x1, 8, y1);
	data_batch(&d, idx, 24, bmean, bstd, &a, &r2, x2, 8, y2);
	assert_memory_equal(x1, x2, sizeof x1);
	assert_memory_equal(y1, y2, sizeof y1);
	/* The next batch from the moved generator differs. */
	data_batch(&d, idx, 24, bmean, bstd, &a, &r2, x2, 8, y2);
	assert_true(memcmp(x1, x2, sizeof x1) != 0);
}

/* ---- the real thing ---- */

static void test_fashion_mnist(void **state)
{
	(void)state;
	struct stat sb;
	if (stat(FASHION_MNIST, &sb) != 0) {
		printf("# %s is not installed (package dataset-fashion-mnist)\n", FASHION_MNIST);
		skip();
	}
	/* The first training label, read here without the library. */
	gzFile g = gzopen(FASHION_MNIST "/train-labels-idx1-ubyte.gz", "rb");
	assert_non_null(g);
	unsigned char head[9];
	assert_int_equal(gzread(g, head, 9), 9);
	gzclose(g);
	Dataset d;
	load_ok(FASHION_MNIST, DATA_TRAIN, &d);
	assert_string_equal(d.format, "idx");
	assert_int_equal(d.n, 60000);
	assert_int_equal(d.c, 1);
	assert_int_equal(d.h, 28);
	assert_int_equal(d.w, 28);
	assert_int_equal(d.classes, 10);
	assert_int_equal(d.y[0], head[8]);
	double mean, std;
	data_channel_stats(&d, NULL, 0, &mean, &std);
	printf("# Fashion-MNIST training set: mean %.4f, std %.4f\n", mean, std);
	assert_true(mean > 0.2 && mean < 0.4 && std > 0.25 && std < 0.45);
	data_free(&d);
	load_ok(FASHION_MNIST, DATA_TEST, &d);
	assert_int_equal(d.n, 10000);
	assert_int_equal(d.h, 28);
	data_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idx_read),
		cmocka_unit_test(test_idx_missing),
		cmocka_unit_test(test_idx_bad_magic),
		cmocka_unit_test(test_idx_truncated),
		cmocka_unit_test(test_idx_truncated_gzip),
		cmocka_unit_test(test_idx_count_mismatch),
		cmocka_unit_test(test_idx_label_range),
		cmocka_unit_test(test_idx_absurd),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_cifar10),
		cmocka_unit_test(test_cifar100),
		cmocka_unit_test(test_cifar_errors),
		cmocka_unit_test(test_st_read),
		cmocka_unit_test(test_st_errors),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_channel_stats),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_batch_normalize),
		cmocka_unit_test(test_batch_crop),
		cmocka_unit_test(test_batch_flip),
		cmocka_unit_test(test_batch_cutout),
		cmocka_unit_test(test_batch_all),
		cmocka_unit_test(test_fashion_mnist),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, files_setup, files_teardown);
}
