/* files.h - what the tests of file readers share: a temporary folder
 * made before the tests of a program and removed with all it holds after
 * them, whole files in and out (failing the test when the system
 * refuses), and error messages checked for their words. */
#ifndef NASC_TEST_FILES_H
#define NASC_TEST_FILES_H

#include <stdarg.h>
#include <stddef.h>

/* The folder: files_setup and files_teardown are the cmocka group setup and
 * teardown that make and remove it. */
extern char files_dir[];
int files_setup(void **state);
int files_teardown(void **state);

/* path becomes the n bytes of bytes. */
void files_put(const char *path, const void *bytes, size_t n);
/* The whole of path, malloc'd (one byte more than *n, for a terminator). */
unsigned char *files_get(const char *path, size_t *n);
/* Removes dir and everything below it (read-only folders included). */
void files_remove_tree(const char *dir);

/* Prints msg as a TAP comment, then fails the test unless it is one line
 * that starts with "path: " and holds each string of ap (up to a NULL). */
void files_expect_message(const char *msg, const char *path, va_list ap);

#endif
