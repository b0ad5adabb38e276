/* fuzz_spec.c - the fuzz target: any bytes through the whole front end
 * (scanner, parser, semantic analysis, IR verifier, `nasc info` in both
 * forms), with diagnostics printed so that the caret display runs too.
 * An input whose first line is `@NAME=VALUE` also overrides a parameter,
 * as -D does.  Built for libFuzzer by `make fuzz`, and linked with replay.c
 * into a test that replays the corpus and every past crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "info.h"
#include "model.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	Arena a;
	arena_init(&a);
	Diag d;
	diag_init(&d, sink);
	/* The scanner wants its own copy: the fuzzer's buffer is read-only. */
	char *text = arena_alloc(&a, size + 1);
	memcpy(text, data, size);

	Override ov = {0};
	int nov = 0;
	size_t skip = 0;
	if (size > 1 && text[0] == '@') {
		char *nl = memchr(text, '\n', size);
		char *eq = memchr(text, '=', nl ? (size_t)(nl - text) : size);
		if (nl && eq && !memchr(text, '\0', (size_t)(nl - text))) {
			*nl = '\0';
			*eq = '\0';
			ov.name = text + 1;
			ov.value = eq + 1;
			nov = 1;
			skip = (size_t)(nl - text) + 1;
		}
	}
	Source *src = source_new(&a, "fuzz.nas", text + skip, size - skip);
	Spec *spec = parse_spec(&a, &d, src);
	Model *m = spec ? sema_run(&a, &d, spec, &ov, nov) : NULL;
	if (m && sink) {
		info_text(sink, m);
		info_json(sink, m);
	}
	arena_free(&a);
	return 0;
}
