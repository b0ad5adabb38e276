/* fuzz_spec.c - the fuzz target: any bytes through the whole front end
 * (scanner, parser, semantic analysis, IR verifier).  Built for libFuzzer by
 * `make fuzz`, and linked with replay.c into a test that replays the corpus
 * and every past crash. */
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Arena a;
	arena_init(&a);
	Diag d;
	diag_init(&d, NULL);
	/* The scanner wants its own copy: the fuzzer's buffer is read-only. */
	char *text = arena_alloc(&a, size + 1);
	for (size_t i = 0; i < size; i++)
		text[i] = (char)data[i];
	Source *src = source_new(&a, "fuzz.nas", text, size);
	Spec *spec = parse_spec(&a, &d, src);
	if (spec)
		sema_run(&a, &d, spec, NULL, 0);
	arena_free(&a);
	return 0;
}
