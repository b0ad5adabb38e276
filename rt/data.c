/* data.c - datasets (see data.h): which format a folder holds, the pixel
 * statistics, the train/val split and the augmented, normalized batches.
 * The readers of each format are in data_idx.c, data_cifar.c and
 * data_st.c. */
#include "data.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"
#include "safetensors.h"

/* ---- what the readers share ---- */

int data_join(char *out, const char *dir, const char *name, char *err, size_t errlen)
{
	int k = snprintf(out, DATA_PATH_MAX, "%s/%s", dir, name);
	if (k < 0 || k >= DATA_PATH_MAX)
		return st_errorf(err, errlen, dir, "path too long (more than %d bytes with %s)",
				 DATA_PATH_MAX - 1, name);
	return 0;
}

int data_is_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

int data_check_shape(const char *path, int64_t n, int64_t c, int64_t h, int64_t w,
		     int64_t elem_size, char *err, size_t errlen)
{
	if (n < 1)
		return st_errorf(err, errlen, path, "holds no images (n = %" PRId64 ")", n);
	if (c < 1 || c > DATA_MAX_C)
		return st_errorf(err, errlen, path, "images of %" PRId64 " channels: expected 1 to %d",
				 c, DATA_MAX_C);
	if (h < 1 || h > DATA_MAX_SIDE || w < 1 || w > DATA_MAX_SIDE)
		return st_errorf(err, errlen, path,
				 "images of %" PRId64 " x %" PRId64 " pixels: each side must be 1 to %"
				 PRId64, h, w, DATA_MAX_SIDE);
	/* c * h * w is at most 2^36, so one division tells an overflow. */
	int64_t per = c * h * w * elem_size;
	if (n > DATA_MAX_BYTES / per)
		return st_errorf(err, errlen, path,
				 "%" PRId64 " images of %" PRId64 " x %" PRId64 " x %" PRId64
				 " exceed the limit of %" PRId64 " GiB of pixels (a corrupt header?)",
				 n, c, h, w, DATA_MAX_BYTES >> 30);
	return 0;
}

int data_bad_label(char *err, size_t errlen, const char *path, const char *item, int64_t k,
		   int64_t label, int64_t classes, const char *why)
{
	return st_errorf(err, errlen, path,
			 "%s %" PRId64 " has label %" PRId64 ", out of range: %s (0 to %" PRId64 ")",
			 item, k, label, why, classes - 1);
}

/* ---- recognizing the format ---- */

static const char *const idx_marks[] = {
	"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
	"train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
	"t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", NULL,
};
static const char *const cifar10_marks[] = {
	"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
	"data_batch_5.bin", "test_batch.bin", NULL,
};
static const char *const cifar100_marks[] = {"train.bin", "test.bin", NULL};
static const char *const st_marks[] = {"train.safetensors", "test.safetensors", NULL};

/* A format is recognized by any one of its files, so a folder holding only
 * the test part still loads it (and names the missing training files when
 * asked for them). */
static const struct Format {
	const char *name;               /* Dataset.format */
	const char *const *marks;
	int (*load)(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);
} formats[] = {
	{"idx", idx_marks, data_load_idx},
	{"cifar10", cifar10_marks, data_load_cifar10},
	{"cifar100", cifar100_marks, data_load_cifar100},
	{"safetensors", st_marks, data_load_st},
};
enum { NFORMATS = sizeof formats / sizeof formats[0] };

/* The first file of format f present in dir, or NULL. */
static const char *present(const char *dir, const struct Format *f)
{
	char p[DATA_PATH_MAX];
	for (const char *const *m = f->marks; *m; m++)
		if (data_join(p, dir, *m, NULL, 0) == 0 && data_is_file(p))
			return *m;
	return NULL;
}

static const struct Format *detect(const char *dir, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(dir, &sb) != 0) {
		st_errorf(err, errlen, dir, "cannot open the dataset folder: %s", strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		st_errorf(err, errlen, dir, "not a folder (a dataset is a folder of files)");
		return NULL;
	}
	const struct Format *found = NULL;
	const char *mark = NULL;
	for (int i = 0; i < NFORMATS; i++) {
		const char *m = present(dir, &formats[i]);
		if (!m)
			continue;
		/* Two formats side by side: loading either would be a guess. */
		if (found) {
			st_errorf(err, errlen, dir,
				  "holds files of two dataset formats, %s (%s) and %s (%s): keep one "
				  "format per folder", found->name, mark, formats[i].name, m);
			return NULL;
		}
		found = &formats[i];
		mark = m;
	}
	if (!found)
		st_errorf(err, errlen, dir,
			  "no dataset files: expected IDX (train-images-idx3-ubyte[.gz], "
			  "train-labels-idx1-ubyte[.gz], t10k-*), CIFAR-10 (data_batch_1.bin .. "
			  "data_batch_5.bin, test_batch.bin), CIFAR-100 (train.bin, test.bin) or "
			  "safetensors (train.safetensors, test.safetensors)");
	return found;
}

int data_load(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	if (strlen(dir) >= sizeof d->path)
		return st_errorf(err, errlen, dir, "path too long (more than %zu bytes)",
				 sizeof d->path - 1);
	const struct Format *f = detect(dir, err, errlen);
	if (!f)
		return -1;
	if (f->load(dir, which, d, err, errlen) != 0) {
		data_free(d);
		return -1;
	}
	snprintf(d->format, sizeof d->format, "%s", f->name);
	snprintf(d->path, sizeof d->path, "%s", dir);
	return 0;
}

void data_free(Dataset *d)
{
	free(d->u8);
	free(d->f32);
	free(d->y);
	memset(d, 0, sizeof *d);
}

float data_pixel(const Dataset *d, int64_t k, int64_t i)
{
	int64_t at = k * d->c * d->h * d->w + i;
	return d->u8 ? (float)d->u8[at] / 255.0f : d->f32[at];
}

/* ---- statistics ---- */

void data_channel_stats(const Dataset *d, const int64_t *idx, int64_t n, double *mean,
			double *std)
{
	if (!idx)
		n = d->n;
	int64_t hw = d->h * d->w;
	double count = (double)n * (double)hw;
	for (int64_t c = 0; c < d->c; c++)
		mean[c] = std[c] = 0;
	if (n <= 0 || hw <= 0)
		return;
	if (d->u8) {
		/* A histogram per channel: the sums are then exact, and the
		 * variance is taken around the mean, not as E[x^2] - E[x]^2. */
		for (int64_t c = 0; c < d->c; c++) {
			int64_t hist[256] = {0};
			for (int64_t k = 0; k < n; k++) {
				const uint8_t *p = d->u8 + ((idx ? idx[k] : k) * d->c + c) * hw;
				for (int64_t i = 0; i < hw; i++)
					hist[p[i]]++;
			}
			double s = 0, ss = 0;
			for (int v = 0; v < 256; v++)
				s += (double)hist[v] * v;
			double m = s / count / 255.0;
			for (int v = 0; v < 256; v++) {
				double e = v / 255.0 - m;
				ss += (double)hist[v] * e * e;
			}
			mean[c] = m;
			std[c] = sqrt(ss / count);
		}
		return;
	}
	/* Floats: two passes, the second around the first's mean. */
	for (int64_t c = 0; c < d->c; c++) {
		double s = 0, ss = 0;
		for (int64_t k = 0; k < n; k++) {
			const float *p = d->f32 + ((idx ? idx[k] : k) * d->c + c) * hw;
			for (int64_t i = 0; i < hw; i++)
				s += p[i];
		}
		double m = s / count;
		for (int64_t k = 0; k < n; k++) {
			const float *p = d->f32 + ((idx ? idx[k] : k) * d->c + c) * hw;
			for (int64_t i = 0; i < hw; i++)
				ss += ((double)p[i] - m) * ((double)p[i] - m);
		}
		mean[c] = m;
		std[c] = sqrt(ss / count);
	}
}

/* ---- the split ---- */

int data_split(int64_t n, double split, uint64_t seed, uint64_t stream, int64_t **train,
	       int64_t *ntrain, int64_t **val, int64_t *nval)
{
	*train = *val = NULL;
	*ntrain = *nval = 0;
	/* rng_below draws below 2^32: larger sets are not image sets. */
	if (n < 2 || (uint64_t)n > UINT32_MAX || !(split > 0 && split < 1))
		return -1;
	double t = round(split * (double)n);
	if (t < 1 || t > (double)(n - 1))
		return -1;
	int64_t nt = (int64_t)t;
	int64_t *perm = malloc((size_t)n * sizeof *perm);
	int64_t *v = malloc((size_t)(n - nt) * sizeof *v);
	if (!perm || !v) {
		free(perm);
		free(v);
		return -1;
	}
	Rng r;
	rng_seed(&r, seed, stream);
	for (int64_t i = 0; i < n; i++)
		perm[i] = i;
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = rng_below(&r, (uint32_t)(i + 1));
		int64_t tmp = perm[i];
		perm[i] = perm[j];
		perm[j] = tmp;
	}
	memcpy(v, perm + nt, (size_t)(n - nt) * sizeof *v);
	/* The training part keeps the front of the permutation's buffer. */
	int64_t *tr = realloc(perm, (size_t)nt * sizeof *tr);
	*train = tr ? tr : perm;
	*ntrain = nt;
	*val = v;
	*nval = n - nt;
	return 0;
}

/* ---- batches ---- */

/* What normalization maps a value v of channel c to: (v - mean) / std in
 * double, with a table for the 256 byte values (byte p means p / 255).
 * A channel of std 0 (a constant one) is centred only, rather than made
 * infinite. */
typedef struct Norm {
	double mean[DATA_MAX_C], std[DATA_MAX_C];
	double pad[DATA_MAX_C];         /* the value of a padding pixel (0) */
	double lut[DATA_MAX_C][256];    /* filled for byte images only */
} Norm;

static double normalize(const Norm *nm, int64_t c, double v)
{
	return (v - nm->mean[c]) / nm->std[c];
}

static void norm_init(Norm *nm, const Dataset *d, const double *mean, const double *std)
{
	for (int64_t c = 0; c < d->c; c++) {
		nm->mean[c] = mean ? mean[c] : 0;
		nm->std[c] = std && std[c] > 0 ? std[c] : 1;
		nm->pad[c] = normalize(nm, c, 0);
		if (d->u8)
			for (int v = 0; v < 256; v++)
				nm->lut[c][v] = normalize(nm, c, v / 255.0);
	}
}

/* One image's random choices, drawn in data.h's order. */
typedef struct Draw {
	int64_t oy, ox;                 /* the crop: (y, x) shows source (y + oy, x + ox) */
	int flip;
	int cut;
	int64_t y1, y2, x1, x2;         /* the cutout square, clipped */
} Draw;

static int64_t clip(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void draw(const Augment *aug, int64_t h, int64_t w, Rng *r, Draw *dr)
{
	memset(dr, 0, sizeof *dr);
	if (!aug)
		return;
	if (aug->crop > 0) {
		/* The window's corner in the padded image, top then left, as
		 * torchvision's RandomCrop draws them. */
		uint32_t span = (uint32_t)(2 * aug->crop + 1);
		dr->oy = (int64_t)rng_below(r, span) - aug->crop;
		dr->ox = (int64_t)rng_below(r, span) - aug->crop;
	}
	if (aug->flip)
		dr->flip = rng_uniform(r) < 0.5f;
	if (aug->cutout > 0 && aug->cutout_prob > 0) {
		/* The centre is drawn whether or not this image is cut, so every
		 * image takes the same draws. */
		float u = rng_uniform(r);
		int64_t cy = rng_below(r, (uint32_t)h);
		int64_t cx = rng_below(r, (uint32_t)w);
		dr->cut = u < aug->cutout_prob;
		dr->y1 = clip(cy - aug->cutout / 2, 0, h);
		dr->y2 = clip(cy - aug->cutout / 2 + aug->cutout, 0, h);
		dr->x1 = clip(cx - aug->cutout / 2, 0, w);
		dr->x2 = clip(cx - aug->cutout / 2 + aug->cutout, 0, w);
	}
}

static inline void put(void *x, int rs, int64_t i, double v)
{
	if (rs == 8)
		((double *)x)[i] = v;
	else
		((float *)x)[i] = (float)v;
}

/* Image k of d through the draw dr into x from element o on. */
static void put_image(const Dataset *d, int64_t k, const Norm *nm, const Draw *dr, void *x,
		      int rs, int64_t o)
{
	int64_t h = d->h, w = d->w, hw = h * w;
	/* The output columns whose source column is inside the image: source
	 * x + ox, or w - 1 - x + ox when flipped. */
	int64_t x0 = dr->flip ? dr->ox : -dr->ox, x1 = dr->flip ? w + dr->ox : w - dr->ox;
	x0 = clip(x0, 0, w);
	x1 = clip(x1, x0, w);
	for (int64_t c = 0; c < d->c; c++) {
		int64_t plane = (k * d->c + c) * hw;
		double pad = nm->pad[c];
		for (int64_t y = 0; y < h; y++) {
			int64_t sy = y + dr->oy, out = o + c * hw + y * w;
			if (sy < 0 || sy >= h) {
				for (int64_t i = 0; i < w; i++)
					put(x, rs, out + i, pad);
				continue;
			}
			for (int64_t i = 0; i < x0; i++)
				put(x, rs, out + i, pad);
			/* Source column of output column i: base + step * i. */
			int64_t step = dr->flip ? -1 : 1, base = dr->flip ? w - 1 + dr->ox : dr->ox;
			int64_t row = plane + sy * w;
			if (d->u8) {
				const double *lut = nm->lut[c];
				for (int64_t i = x0; i < x1; i++)
					put(x, rs, out + i, lut[d->u8[row + base + step * i]]);
			} else {
				for (int64_t i = x0; i < x1; i++)
					put(x, rs, out + i, normalize(nm, c, d->f32[row + base + step * i]));
			}
			for (int64_t i = x1; i < w; i++)
				put(x, rs, out + i, pad);
		}
	}
	if (!dr->cut)
		return;
	for (int64_t c = 0; c < d->c; c++)
		for (int64_t y = dr->y1; y < dr->y2; y++)
			for (int64_t i = dr->x1; i < dr->x2; i++)
				put(x, rs, o + c * hw + y * w + i, 0);
}

void data_batch(const Dataset *d, const int64_t *idx, int64_t b, const double *mean,
		const double *std, const Augment *aug, Rng *r, void *x, int real_size, int64_t *y)
{
	/* About 32 KiB: static storage would make batches of two threads race. */
	Norm nm;
	norm_init(&nm, d, mean, std);
	int64_t chw = d->c * d->h * d->w;
	for (int64_t k = 0; k < b; k++) {
		Draw dr;
		draw(aug, d->h, d->w, r, &dr);
		put_image(d, idx[k], &nm, &dr, x, real_size, k * chw);
		y[k] = d->y[idx[k]];
	}
}
