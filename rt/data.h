/* data.h - the images a search trains on: loading a dataset, its
 * normalization, the train/val split, and assembling augmented batches.
 *
 * Formats (docs/formats.md describes each):
 *   IDX          (MNIST, Fashion-MNIST): DIR/train-images-idx3-ubyte and
 *                train-labels-idx1-ubyte, and t10k-* for the test set, each
 *                gzipped (.gz) or not, read through zlib; 10 classes;
 *   CIFAR-10     DIR/data_batch_1.bin .. data_batch_5.bin, test_batch.bin;
 *   CIFAR-100    DIR/train.bin, test.bin (the fine labels);
 *   safetensors  DIR/train.safetensors, test.safetensors: `x` U8 or F32
 *                [N, C, H, W], `y` an integer type [N] (the simple format
 *                for any other image set); the class count is the metadata
 *                value "classes", else the largest label + 1.
 * The format is recognized from the files in DIR (any one file of a
 * format is enough; files of two formats in one folder are refused).
 * Images are kept as stored (bytes or floats) and converted when a batch
 * is assembled. */
#ifndef NASC_DATA_H
#define NASC_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum { DATA_MAX_C = 16 };

typedef enum DataSet { DATA_TRAIN, DATA_TEST } DataSet;

typedef struct Dataset {
	char format[16];        /* "idx", "cifar10", "cifar100", "safetensors" */
	char path[4096];        /* the folder */
	int64_t n, c, h, w;     /* n images of c x h x w */
	int64_t classes;        /* labels are in [0, classes) */
	uint8_t *u8;            /* n*c*h*w bytes, a pixel p meaning p / 255, or NULL */
	float *f32;             /* n*c*h*w floats when the file stores floats (taken
				 * as they are, finite), or NULL */
	int64_t *y;             /* n labels */
} Dataset;

/* Loads the train or test part of the dataset in folder dir into *d.
 * Returns 0, or -1 with *d empty and "FILE: what is wrong" in err (a
 * folder without a dataset or with two, a missing file, a bad magic
 * number, a truncated or corrupt file, counts or shapes that disagree
 * between the images and the labels, a label out of range, sizes no
 * dataset has).  d->format and d->path say what was read from where. */
int data_load(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);
void data_free(Dataset *d);

/* Pixel i (in c, y, x order) of image k as a float (bytes scaled by
 * 1/255). */
float data_pixel(const Dataset *d, int64_t k, int64_t i);

/* Per-channel mean and standard deviation (population std) over the images
 * idx[0..n) (over every image when idx is NULL, n = d->n), of the values
 * data_batch normalizes (p / 255 for a byte p), summed in double (bytes
 * through a histogram, so exactly); zeros when there are no images. */
void data_channel_stats(const Dataset *d, const int64_t *idx, int64_t n, double *mean, double *std);

/* The search's split: the first round(split * n) images (halves round up)
 * of a permutation of 0..n-1 drawn from (seed, stream) train the weights,
 * the rest train alpha, each part in permutation order.  The permutation
 * is Fisher-Yates on 0..n-1: for i = n-1 down to 1, swap entries i and
 * rng_below(r, i + 1), r = rng_seed(seed, stream).  *train and *val are
 * malloc'd; returns 0, or -1 (both NULL) on no memory, a split outside
 * (0, 1), n above 2^32 - 1, or when either part would be empty. */
int data_split(int64_t n, double split, uint64_t seed, uint64_t stream, int64_t **train,
	       int64_t *ntrain, int64_t **val, int64_t *nval);

/* Augmentation of one batch, applied in this order (as torchvision's
 * RandomCrop(padding), RandomHorizontalFlip, then normalization, then
 * cutout as DARTS's Cutout does it on the normalized tensor):
 *   crop        > 0: zero-pad by crop pixels on every side, take a random
 *               h x w window (before normalization, so the padding is 0);
 *   flip        mirror left-right with probability 1/2;
 *   cutout_prob with this probability, zero a cutout x cutout square
 *               (clipped to the image) whose centre is uniform over the
 *               pixels, on every channel, after normalization: rows
 *               cy - cutout/2 to cy - cutout/2 + cutout - 1, columns the
 *               same (DARTS's square for an even cutout; DARTS cuts one
 *               less for an odd one).
 * Draws, image by image in idx order, each group only when its
 * augmentation is on (so an augmentation that is off draws nothing):
 *   crop > 0                       top = rng_below(r, 2*crop + 1), then
 *                                  left = rng_below(r, 2*crop + 1): the
 *                                  window's corner in the padded image;
 *   flip != 0                      rng_uniform(r) < 0.5f mirrors;
 *   cutout > 0 and cutout_prob > 0 u = rng_uniform(r), then
 *                                  cy = rng_below(r, h), cx = rng_below(r, w);
 *                                  the image is cut when u < cutout_prob
 *                                  (the centre is drawn either way, so every
 *                                  image takes the same draws). */
typedef struct Augment {
	int64_t crop;
	int flip;
	double cutout_prob;
	int64_t cutout;
} Augment;

/* Writes the images idx[0..b) of d, augmented by aug (NULL: none) and
 * normalized per channel ((v - mean[c]) / std[c], in double, v = p / 255
 * for a byte p and the float itself for floats, rounded once to the
 * output), into x (b*c*h*w reals of real_size 4 or 8) and their labels
 * into y.  mean and std may
 * be NULL (0 and 1); a std[c] that is not positive counts as 1 (a constant
 * channel is centred, not made infinite).  All randomness comes from r,
 * drawn image by image in the order above, so a batch is a function of
 * the generator's state.  Allocates nothing and keeps no state, so
 * threads may assemble batches side by side (each with its own r). */
void data_batch(const Dataset *d, const int64_t *idx, int64_t b, const double *mean,
		const double *std, const Augment *aug, Rng *r, void *x, int real_size, int64_t *y);

#endif
