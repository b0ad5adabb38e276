/* jsonq.c - print top-level fields of the JSON document on stdin, one per
 * line, for the shell tests.  Exits 1 if stdin is not valid JSON or a field
 * is missing, so a test of `nasc info --json` also checks that it parses. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	json_error_t err;
	json_t *doc = json_loadf(stdin, 0, &err);
	if (!doc) {
		fprintf(stderr, "jsonq: invalid JSON at line %d: %s\n", err.line, err.text);
		return 1;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		json_t *v = json_object_get(doc, argv[i]);
		if (!v) {
			fprintf(stderr, "jsonq: no field `%s`\n", argv[i]);
			rc = 1;
			continue;
		}
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%s\n", s ? s : "?");
		free(s);
	}
	json_decref(doc);
	return rc;
}
