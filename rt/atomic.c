/* atomic.c - whole-or-nothing file writes (see atomic.h). */
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

int atomic_open(AtomicFile *a, const char *path, char *err, size_t errlen)
{
	static const char suffix[] = ".tmp.XXXXXX";
	memset(a, 0, sizeof *a);
	a->fd = -1;
	a->path = strdup(path);
	a->tmp = malloc(strlen(path) + sizeof suffix);
	if (!a->path || !a->tmp) {
		free(a->path);
		free(a->tmp);
		return st_errorf(err, errlen, path, "out of memory");
	}
	strcpy(a->tmp, path);
	strcat(a->tmp, suffix);
	a->fd = mkstemp(a->tmp);
	if (a->fd < 0) {
		int e = errno;
		st_errorf(err, errlen, path, "cannot create temporary file %s: %s", a->tmp, strerror(e));
		free(a->path);
		free(a->tmp);
		return -1;
	}
	(void)fchmod(a->fd, 0644);
	return 0;
}

void atomic_write(AtomicFile *a, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	while (n > 0 && !a->failed) {
		ssize_t k = write(a->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			a->failed = 1;
			a->err = errno;
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

/* Makes a completed rename durable; best effort. */
static void sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return;
	int fd = open(dir, O_RDONLY);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

static void finish(AtomicFile *a)
{
	free(a->path);
	free(a->tmp);
	a->path = a->tmp = NULL;
	a->fd = -1;
}

int atomic_commit(AtomicFile *a, char *err, size_t errlen)
{
	int ok = !a->failed, e = a->err;
	const char *what = "write";
	if (ok && !(ok = fsync(a->fd) == 0)) {
		e = errno;
		what = "fsync";
	}
	if (close(a->fd) != 0 && ok) {
		ok = 0;
		e = errno;
		what = "close";
	}
	if (ok && !(ok = rename(a->tmp, a->path) == 0)) {
		e = errno;
		what = "rename";
	}
	if (!ok) {
		unlink(a->tmp);
		st_errorf(err, errlen, a->path, "%s of %s failed: %s", what, a->tmp, strerror(e));
	} else {
		sync_parent(a->path);
	}
	finish(a);
	return ok ? 0 : -1;
}

void atomic_abort(AtomicFile *a)
{
	if (a->fd >= 0) {
		close(a->fd);
		unlink(a->tmp);
	}
	finish(a);
}

int atomic_write_file(const char *path, const void *buf, size_t n, char *err, size_t errlen)
{
	AtomicFile a;
	if (atomic_open(&a, path, err, errlen) != 0)
		return -1;
	atomic_write(&a, buf, n);
	return atomic_commit(&a, err, errlen);
}
