/* replay.c - run the fuzz target over files, as TAP: the example specs, the
 * committed corpus and every input that once crashed the front end
 * (tests/fuzz/crashes).  A crash or a sanitizer report fails the run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok %d - cannot open %s\n", ++n, path);
		return;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
		len += got;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (!buf) {
		printf("not ok %d - out of memory reading %s\n", ++n, path);
		return;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %d - %s\n", ++n, path);
	fflush(stdout);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		printf("not ok %d - cannot open folder %s\n", ++n, dir);
		return;
	}
	char **names = NULL;
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
			continue;
		char **nn = realloc(names, (count + 1) * sizeof *names);
		if (!nn)
			break;
		names = nn;
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		names[count] = malloc(len);
		if (names[count])
			snprintf(names[count++], len, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (count == 0)
		return;
	qsort(names, count, sizeof *names, cmp);
	for (size_t i = 0; i < count; i++) {
		replay_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	const char *top = getenv("SRCDIR");
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay_file(argv[i]);
	} else {
		const char *dirs[] = {"examples/spaces", "tests/fuzz/corpus", "tests/fuzz/crashes",
				      "tests/errors"};
		for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", top ? top : ".", dirs[i]);
			replay_dir(path);
		}
	}
	printf("1..%d\n", n);
	return 0;
}
