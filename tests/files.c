/* files.c - temporary folders, whole files and message checks for the
 * tests of file readers (see files.h). */
#include "files.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

char files_dir[] = "/tmp/nasc-test-XXXXXX";

int files_setup(void **state)
{
	(void)state;
	return mkdtemp(files_dir) ? 0 : -1;
}

int files_teardown(void **state)
{
	(void)state;
	files_remove_tree(files_dir);
	return 0;
}

void files_put(const char *path, const void *bytes, size_t n)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		fail_msg("cannot create %s", path);
	assert_int_equal(fwrite(bytes, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

unsigned char *files_get(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, k;
	/* Read until nothing comes rather than trust a size asked first. */
	do {
		if (len + 1 >= cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		k = fread(buf + len, 1, cap - 1 - len, fp);
		len += k;
	} while (k > 0);
	fclose(fp);
	*n = len;
	return buf;
}

void files_remove_tree(const char *dir)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *de;
	char p[4200];
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			/* A test may have made it read-only to see a write fail. */
			chmod(p, 0755);
			files_remove_tree(p);
		} else {
			unlink(p);
		}
	}
	closedir(dp);
	rmdir(dir);
}

void files_expect_message(const char *msg, const char *path, va_list ap)
{
	printf("# %s\n", msg);
	size_t n = strlen(path);
	if (strncmp(msg, path, n) != 0 || strncmp(msg + n, ": ", 2) != 0)
		fail_msg("message `%s` does not start with `%s: `", msg, path);
	if (strchr(msg, '\n'))
		fail_msg("message `%s` has more than one line", msg);
	const char *w;
	while ((w = va_arg(ap, const char *)))
		if (!strstr(msg, w))
			fail_msg("message `%s` lacks `%s`", msg, w);
}
