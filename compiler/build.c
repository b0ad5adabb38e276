/* build.c - compiling a generated program (see build.h). */
#include "config.h"

#include "build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NASC_RT_SRCDIR
#define NASC_RT_SRCDIR ""
#endif
#ifndef NASC_RT_BUILDDIR
#define NASC_RT_BUILDDIR ""
#endif
#ifndef NASC_RT_INCLUDEDIR
#define NASC_RT_INCLUDEDIR ""
#endif
#ifndef NASC_RT_LIBDIR
#define NASC_RT_LIBDIR ""
#endif

int build_write_c(const char *path, const Lowered *L, const EmitInfo *info)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp)
		return -1;
	snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "nasc: %s: %s\n", path, strerror(errno));
		free(tmp);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	emit_c(f, L, info);
	bool bad = fflush(f) != 0 || ferror(f);
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		fprintf(stderr, "nasc: writing %s: %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Where nasrt.h and libnasrt.a are: the environment's choice, the build
 * tree nasc was built in (while it is there), or the installed ones. */
static void runtime_paths(char *inc, size_t incn, char *lib, size_t libn)
{
	const char *e_inc = getenv("NASC_RT_INCLUDE"), *e_lib = getenv("NASC_RT_LIB");
	char probe[4096];
	snprintf(probe, sizeof probe, "%s/nasrt.h", NASC_RT_SRCDIR);
	bool tree = *NASC_RT_SRCDIR && exists(probe);
	snprintf(probe, sizeof probe, "%s/libnasrt.a", NASC_RT_BUILDDIR);
	tree = tree && *NASC_RT_BUILDDIR && exists(probe);
	snprintf(inc, incn, "%s", e_inc ? e_inc : tree ? NASC_RT_SRCDIR : NASC_RT_INCLUDEDIR);
	if (e_lib)
		snprintf(lib, libn, "%s", e_lib);
	else
		snprintf(lib, libn, "%s/libnasrt.a", tree ? NASC_RT_BUILDDIR : NASC_RT_LIBDIR);
}

/* Append s to the command, single-quoted for the shell. */
static void quoted(char *cmd, size_t cap, const char *s)
{
	size_t n = strlen(cmd);
	if (n + 1 < cap)
		cmd[n++] = '\'';
	for (; *s && n + 5 < cap; s++) {
		if (*s == '\'') {
			memcpy(cmd + n, "'\\''", 4);
			n += 4;
		} else {
			cmd[n++] = *s;
		}
	}
	if (n + 2 < cap)
		cmd[n++] = '\'';
	cmd[n] = '\0';
}

/* cc FLAGS -I RT INPUT LIBNASRT LIBS -o OUT: compiling C, or linking an
 * object file; `what` names the step in the message of a failure. */
static int run_cc(const char *flags, const char *input, const char *out, bool verbose,
		  const char *what)
{
	char inc[4096], lib[4096];
	runtime_paths(inc, sizeof inc, lib, sizeof lib);
	if (!exists(lib)) {
		fprintf(stderr, "nasc: the runtime library %s is missing (set NASC_RT_LIB)\n", lib);
		return -1;
	}
	const char *cc = getenv("NASC_CC") ? getenv("NASC_CC") : NASC_BUILD_CC;
	size_t cap = strlen(cc) + strlen(flags) + strlen(NASC_BUILD_LIBS) + strlen(inc) +
		     strlen(lib) + 4 * (strlen(input) + strlen(out)) + 64;
	char *cmd = malloc(cap);
	if (!cmd)
		return -1;
	snprintf(cmd, cap, "%s %s -I", cc, flags);
	quoted(cmd, cap, inc);
	strcat(cmd, " ");
	quoted(cmd, cap, input);
	strcat(cmd, " ");
	quoted(cmd, cap, lib);
	strcat(cmd, " " NASC_BUILD_LIBS " -o ");
	quoted(cmd, cap, out);
	if (verbose)
		fprintf(stderr, "%s\n", cmd);
	int st = system(cmd);
	int rc = 0;
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "nasc: %s %s failed:\n  %s\n", what, input, cmd);
		rc = -1;
	}
	free(cmd);
	return rc;
}

int build_compile(const char *c_path, const char *out, bool verbose)
{
	const char *cflags = getenv("NASC_CFLAGS") ? getenv("NASC_CFLAGS") : NASC_BUILD_CFLAGS;
	return run_cc(cflags, c_path, out, verbose, "compiling");
}

int build_link(const char *obj_path, const char *out, bool verbose)
{
	return run_cc(NASC_BUILD_LDFLAGS, obj_path, out, verbose, "linking");
}
