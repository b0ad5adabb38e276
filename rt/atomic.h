/* atomic.h - files written whole or not at all: the data goes to a
 * temporary file next to the target, is fsync'd, and replaces the target
 * by rename(2), so a crash at any moment leaves either the old file or
 * the new one, never a mixture. */
#ifndef NASC_ATOMIC_H
#define NASC_ATOMIC_H

#include <stddef.h>

typedef struct AtomicFile {
	char *path;             /* the target */
	char *tmp;              /* the temporary file being written */
	int fd;
	int failed;             /* a write failed; commit reports it */
	int err;                /* its errno */
} AtomicFile;

/* Creates the temporary file for path.  Returns 0, or -1 with "PATH:
 * message" in err. */
int atomic_open(AtomicFile *a, const char *path, char *err, size_t errlen);
/* Appends n bytes; a failure is remembered and reported by commit. */
void atomic_write(AtomicFile *a, const void *buf, size_t n);
/* fsync, close, rename over the target, fsync its folder.  Returns 0, or
 * -1 with "PATH: message" in err and the target untouched.  Either way a
 * is finished. */
int atomic_commit(AtomicFile *a, char *err, size_t errlen);
/* Drops the temporary file; the target is untouched. */
void atomic_abort(AtomicFile *a);

/* The three at once: path becomes the n bytes of buf. */
int atomic_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen);

#endif
