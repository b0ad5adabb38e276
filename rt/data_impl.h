/* data_impl.h - what the dataset readers share.  data.c recognizes the
 * format of a folder and hands it to one reader (data_idx.c,
 * data_cifar.c, data_st.c), which fills n, c, h, w, classes, the pixels
 * and the labels of a zeroed Dataset, or returns -1 with "FILE: what is
 * wrong" in err (data.c then frees whatever the reader had filled). */
#ifndef NASC_DATA_IMPL_H
#define NASC_DATA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

/* Limits that tell a corrupt header from a dataset, checked before
 * anything is allocated: a side of more than 65536 pixels, more than 64
 * GiB of pixels, or more than 2^20 classes is not an image set a search
 * binary can train on. */
#define DATA_MAX_SIDE ((int64_t)1 << 16)
#define DATA_MAX_BYTES ((int64_t)1 << 36)
#define DATA_MAX_CLASSES ((int64_t)1 << 20)

/* Room for the folder (Dataset.path) and a file name in it. */
enum { DATA_PATH_MAX = 4096 + 64 };

/* out = dir/name.  Returns 0, or -1 with err set when it does not fit. */
int data_join(char *out, const char *dir, const char *name, char *err, size_t errlen);

/* Whether path names something that exists (a file, not a folder). */
int data_is_file(const char *path);

/* Refuses n images of c x h x w that no dataset has (none at all, a zero
 * or oversized side, more than DATA_MAX_C channels, more than
 * DATA_MAX_BYTES pixels of elem_size bytes), naming path.  Returns 0 or -1. */
int data_check_shape(const char *path, int64_t n, int64_t c, int64_t h, int64_t w,
		     int64_t elem_size, char *err, size_t errlen);

/* "PATH: ITEM K has label L, out of range: WHY (0 to CLASSES-1)"; returns -1.
 * item is what the file holds ("image", "record"), why where the class
 * count comes from ("CIFAR-10 has 10 classes"). */
int data_bad_label(char *err, size_t errlen, const char *path, const char *item, int64_t k,
		   int64_t label, int64_t classes, const char *why);

/* The readers, one per format (see data.h for what each reads). */
int data_load_idx(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);
int data_load_cifar10(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);
int data_load_cifar100(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);
int data_load_st(const char *dir, DataSet which, Dataset *d, char *err, size_t errlen);

#endif
