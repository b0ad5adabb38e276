/* nasc.c - the driver: command line, then a flat list of passes with the
 * IR verifier between them, and a dump after any of them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info.h"
#include "model.h"
#include "parse.h"
#include "pipeline.h"

static const char usage[] =
	"usage: nasc COMMAND [OPTIONS] FILE\n"
	"\n"
	"Compile a differentiable architecture-search spec (.nas).\n"
	"\n"
	"commands:\n"
	"  check FILE            exit 0 and print nothing if FILE is a valid spec\n"
	"  info [--json] FILE    summarize the supernet: cells, edges, candidates,\n"
	"                        shapes, parameter counts, FLOPs, alpha layout, schedule\n"
	"  dump --after=PASS FILE\n"
	"                        print the program after PASS: parse (the syntax tree),\n"
	"                        sema (the graph IR of the supernet), or ad (with the\n"
	"                        gradient program)\n"
	"\n"
	"options:\n"
	"  -D NAME=VALUE         override spec parameter NAME (-D C=8, -D input=3x32x32)\n"
	"  --json                with info: print JSON\n"
	"  --after=PASS          with dump: which pass\n"
	"  -h, --help            print this help\n"
	"  --version             print the version\n"
	"\n"
	"Errors are reported as FILE:LINE:COL: error: MESSAGE, with exit status 1;\n"
	"a wrong command line exits with status 2.  See nasc(1) and docs/dsl.md.\n";

static const char *const commands[] = {"check", "info", "dump"};
/* The front end's two dump points; the passes of pipeline.c follow. */
static const char *const front_passes[] = {"parse", "sema"};
enum { NFRONT = 2 };

static int usage_error(const char *fmt, const char *arg)
{
	fputs("nasc: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'nasc --help'.\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *file = NULL, *after = NULL;
	bool json = false;
	Override *ov = calloc((size_t)argc + 1, sizeof *ov);
	int nov = 0;
	if (!ov)
		return 1;
	int rc = 2;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			free(ov);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("nasc %s\n", PACKAGE_VERSION);
			free(ov);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strncmp(a, "--after=", 8) == 0) {
			after = a + 8;
		} else if (strcmp(a, "--after") == 0 && i + 1 < argc) {
			after = argv[++i];
		} else if (strncmp(a, "-D", 2) == 0) {
			const char *def = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			const char *eq = def ? strchr(def, '=') : NULL;
			if (!def || !eq || eq == def) {
				rc = usage_error("-D needs NAME=VALUE, as in -D C=8%s", "");
				goto out;
			}
			ov[nov].name = strndup(def, (size_t)(eq - def));
			ov[nov].value = eq + 1;
			nov++;
		} else if (a[0] == '-' && a[1] != '\0') {
			rc = usage_error("unknown option '%s'", a);
			goto out;
		} else if (!cmd) {
			cmd = a;
		} else if (!file) {
			file = a;
		} else {
			rc = usage_error("unexpected argument '%s'", a);
			goto out;
		}
	}
	if (!cmd) {
		fputs(usage, stderr);
		goto out;
	}
	int c = 0;
	while (c < 3 && strcmp(commands[c], cmd) != 0)
		c++;
	if (c == 3) {
		const char *best = suggest(cmd, commands, 3);
		if (best) {
			fprintf(stderr, "nasc: unknown command '%s'; did you mean '%s'?\n", cmd, best);
			fputs("Try 'nasc --help'.\n", stderr);
		} else {
			usage_error("unknown command '%s'", cmd);
		}
		goto out;
	}
	if (!file) {
		rc = usage_error("%s needs a spec file", cmd);
		goto out;
	}
	if (json && c != 1) {
		rc = usage_error("--json goes with info%s", "");
		goto out;
	}
	int pass = -1;
	if (c == 2) {
		if (!after) {
			rc = usage_error("dump needs --after=PASS (parse, sema, %s)",
					 pipeline_passes[0].name);
			goto out;
		}
		const char *names[NFRONT + 16];
		int nnames = 0;
		for (int p = 0; p < NFRONT; p++)
			names[nnames++] = front_passes[p];
		for (int p = 0; p < pipeline_npasses && nnames < NFRONT + 16; p++)
			names[nnames++] = pipeline_passes[p].name;
		for (int p = 0; p < nnames; p++)
			if (strcmp(names[p], after) == 0)
				pass = p;
		if (pass < 0) {
			const char *best = suggest(after, names, nnames);
			if (best)
				fprintf(stderr, "nasc: unknown pass '%s'; did you mean '%s'?\n", after, best);
			else {
				fprintf(stderr, "nasc: unknown pass '%s'; the passes are", after);
				for (int p = 0; p < nnames; p++)
					fprintf(stderr, "%s %s", p ? "," : "", names[p]);
				fputc('\n', stderr);
			}
			goto out;
		}
	} else if (after) {
		rc = usage_error("--after goes with dump%s", "");
		goto out;
	}

	Arena arena;
	arena_init(&arena);
	Diag diag;
	diag_init(&diag, stderr);
	rc = 1;
	Source *src = read_source(&arena, &diag, file);
	Spec *spec = src ? parse_spec(&arena, &diag, src) : NULL;
	if (spec && pass == 0) {
		ast_dump(stdout, spec);
		rc = 0;
	} else if (spec) {
		Model *m = sema_run(&arena, &diag, spec, ov, nov);
		if (m) {
			rc = 0;
			if (c == 1 && json)
				info_json(stdout, m);
			else if (c == 1)
				info_text(stdout, m);
			else if (c == 2 && pipeline_run(&m->g, pass - NFRONT, stderr) != 0)
				rc = 70; /* EX_SOFTWARE: a bug of ours, not of the spec */
			else if (c == 2)
				ir_dump(stdout, &m->g);
		}
	}
	arena_free(&arena);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("nasc: writing the output");
		rc = 1;
	}
out:
	for (int i = 0; i < nov; i++)
		free((char *)ov[i].name);
	free(ov);
	return rc;
}
