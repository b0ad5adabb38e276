/* parse.c - driving the scanner and parser over one source. */
#include "config.h"

#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parser.h"

/* From the flex scanner (prefix nasc_scan_). */
typedef void *yyscan_t;
int nasc_scan_lex_init_extra(ParseCtx *extra, yyscan_t *scanner);
int nasc_scan_lex_destroy(yyscan_t scanner);
struct yy_buffer_state *nasc_scan__scan_bytes(const char *bytes, int len, yyscan_t scanner);
int nasc_yyparse(ParseCtx *ctx);

static int run(ParseCtx *ctx, int start)
{
	yyscan_t scanner;
	if (nasc_scan_lex_init_extra(ctx, &scanner) != 0) {
		diag_error(ctx->diag, (Loc){0}, "cannot start the scanner: %s", strerror(errno));
		return -1;
	}
	ctx->scanner = scanner;
	ctx->start_token = start;
	ctx->line = 1;
	ctx->col = 1;
	ctx->errors_at_start = ctx->diag->errors;
	nasc_scan__scan_bytes(ctx->src->text, (int)ctx->src->len, scanner);
	int rc = nasc_yyparse(ctx);
	nasc_scan_lex_destroy(scanner);
	if (rc != 0 || ctx->diag->errors > ctx->errors_at_start)
		return -1;
	return 0;
}

Spec *parse_spec(Arena *a, Diag *d, const Source *src)
{
	ParseCtx ctx = {.arena = a, .diag = d, .src = src};
	ctx.spec = arena_alloc(a, sizeof *ctx.spec);
	ctx.spec->src = src;
	if (src->len > SPEC_MAX_BYTES) {
		diag_error(d, (Loc){0}, "%s: spec is larger than %d MiB", src->name,
			   SPEC_MAX_BYTES >> 20);
		return NULL;
	}
	return run(&ctx, T_START_SPEC) == 0 ? ctx.spec : NULL;
}

Expr *parse_value(Arena *a, Diag *d, const Source *src)
{
	ParseCtx ctx = {.arena = a, .diag = d, .src = src, .value_mode = true};
	if (run(&ctx, T_START_VALUE) != 0)
		return NULL;
	return ctx.value;
}

Source *read_source(Arena *a, Diag *d, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		diag_error(d, (Loc){0}, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = arena_alloc(a, cap);
	for (;;) {
		if (len == cap) {
			if (cap > SPEC_MAX_BYTES) {
				diag_error(d, (Loc){0}, "%s: spec is larger than %d MiB", path,
					   SPEC_MAX_BYTES >> 20);
				if (f != stdin)
					fclose(f);
				return NULL;
			}
			char *nb = arena_alloc(a, cap * 2);
			memcpy(nb, buf, len);
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (err) {
		diag_error(d, (Loc){0}, "cannot read %s", path);
		return NULL;
	}
	return source_new(a, path, buf, len);
}
