/* safetensors.h - read and write safetensors files (the checkpoint and
 * weight format of libnasrt).
 *
 * Layout: an 8-byte little-endian length N, N bytes of UTF-8 JSON header,
 * then the data buffer. The header maps each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
 * the data buffer) plus an optional "__metadata__" object of strings.
 * Tensors are little-endian, row-major and tightly packed.
 *
 * st_read validates everything (lengths, JSON shape, dtypes, shapes,
 * offsets, coverage of the data buffer) and reports the first problem as
 * one line naming the file. st_write writes atomically: a temporary file
 * in the same folder, fsync, rename. Tensor order is kept: st_read keeps
 * the header order, st_write writes the StFile order for both the header
 * keys and the data. Supported: F32, F64, and the integer types U8, I8,
 * U16, I16, U32, I32, U64, I64 (datasets store pixels as U8 and labels as
 * whatever integer type their writer chose). Big-endian hosts are refused
 * at run time. */
#ifndef NASC_SAFETENSORS_H
#define NASC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_RANK 8
/* Largest header st_read accepts. */
#define ST_MAX_HEADER (100u * 1024u * 1024u)
/* The name reserved for the metadata object. */
#define ST_METADATA_KEY "__metadata__"

/* New types go last: the first three are the ones states and batches use. */
typedef enum {
	ST_F32, ST_F64, ST_I64,
	ST_U8, ST_I8, ST_U16, ST_I16, ST_U32, ST_I32, ST_U64,
	ST_NDTYPES
} StDtype;

typedef struct {
	char *name;
	StDtype dtype;
	int rank;                      /* 0 .. ST_MAX_RANK; 0 is a scalar */
	int64_t shape[ST_MAX_RANK];
	int64_t numel;
	size_t nbytes;                 /* numel * st_dtype_size(dtype) */
	void *data;                    /* owned; malloc'd, suitably aligned */
} StTensor;

typedef struct {
	char *key;
	char *value;
} StMeta;

typedef struct {
	StTensor *tensors;             /* in order */
	size_t ntensors, captensors;
	StMeta *meta;                  /* in order */
	size_t nmeta, capmeta;
} StFile;

/* An empty StFile (all zero is also empty). */
void st_init(StFile *f);
/* Frees everything f owns and leaves it empty. */
void st_free(StFile *f);

/* Bytes per element, and the safetensors spelling ("F32", ...). */
size_t st_dtype_size(StDtype dt);
const char *st_dtype_name(StDtype dt);
/* Whether dt is one of the integer types. */
int st_dtype_is_int(StDtype dt);

/* Reads and validates path into *out (initialised by st_read). Returns 0,
 * or -1 with out left empty and a one-line message in err. */
int st_read(const char *path, StFile *out, char *err, size_t errlen);

/* Writes f to path atomically. Returns 0, or -1 with a message in err and
 * any existing file at path untouched. */
int st_write(const char *path, const StFile *f, char *err, size_t errlen);

/* "PATH: message" into err (when err is not NULL); returns -1.  The
 * readers of states and batches report the same way. */
int st_errorf(char *err, size_t errlen, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

/* The tensor called name, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);

/* Appends a tensor, copying name, shape and numel*size bytes of data
 * (data may be NULL for zeros). Returns 0, or -1 for a bad argument
 * (rank, negative or overflowing shape, duplicate or reserved name) or
 * out of memory; f is unchanged then. */
int st_add(StFile *f, const char *name, StDtype dt, int rank,
	   const int64_t *shape, const void *data);

/* Sets metadata key to value (replacing an existing value; new keys go
 * last). Returns 0, or -1 when out of memory. */
int st_set_meta(StFile *f, const char *key, const char *value);
/* The metadata value for key, or NULL. */
const char *st_meta(const StFile *f, const char *key);

#endif
