/* nasc.c - the driver: command line, then a flat list of passes with the
 * IR verifier between them, and a dump after any of them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#ifdef HAVE_LLVM
#include "emit_llvm.h"
#endif
#include "info.h"
#include "lower.h"
#include "model.h"
#include "parse.h"
#include "pipeline.h"

/* Hessian-vector products per pass by default (--hvp-block): one, since
 * blocks measured no faster on the DARTS space (bench/README.md). */
#define NASC_HVP_BLOCK 1
#define NASC_HVP_BLOCK_S "1"

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
	"                        sema (the graph IR of the supernet), ad (with the\n"
	"                        gradient program), infer (and the eval-mode one),\n"
	"                        cse, dce or fuse\n"
	"  emit FILE             print the search program: LLVM IR from the llvm\n"
	"                        backend, C from the c one (-o to write a file; with\n"
	"                        llvm, -o FILE.o writes the optimized object file)\n"
	"  build FILE -o BIN     compile the search program into the binary BIN\n"
	"\n"
	"options:\n"
	"  -D NAME=VALUE         override spec parameter NAME (-D C=8, -D input=3x32x32)\n"
	"  --json                with info: print JSON\n"
	"  --after=PASS          with dump: which pass\n"
	"  -o FILE               with emit and build: the output\n"
	"  --precision=f32|f64   with emit and build: the reals of the program (f32)\n"
	"  --backend=c|llvm      with emit and build: the code generator (" NASC_DEFAULT_BACKEND ");\n"
	"                        llvm exists when nasc was configured with LLVM\n"
	"  --keep-c=FILE         with build: keep the generated C in FILE (the c backend)\n"
	"  --hvp-block=K         with emit and build: Hessian-vector products per\n"
	"                        pass of the curvature program, 1 to 64 (" NASC_HVP_BLOCK_S ")\n"
	"  -v, --verbose         with build: print the compiler's (or linker's) command line\n"
	"  -h, --help            print this help\n"
	"  --version             print the version\n"
	"\n"
	"Errors are reported as FILE:LINE:COL: error: MESSAGE, with exit status 1;\n"
	"a wrong command line exits with status 2.  See nasc(1) and docs/dsl.md.\n";

static const char *const commands[] = {"check", "info", "dump", "emit", "build"};
enum { CMD_CHECK, CMD_INFO, CMD_DUMP, CMD_EMIT, CMD_BUILD, NCMD };
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

#ifdef HAVE_LLVM
/* The LLVM backend: IR to a file (or stdout), or an object file in a
 * temporary folder, linked into out_path. */
static int generate_llvm(const Lowered *L, const EmitInfo *info, bool build, const char *out_path,
			 bool verbose)
{
	if (!build) {
		/* -o FILE.o: the object file build would link */
		size_t n = out_path ? strlen(out_path) : 0;
		bool obj = n > 2 && strcmp(out_path + n - 2, ".o") == 0;
		return emit_llvm(L, info, obj ? LLVM_OBJECT : LLVM_IR, out_path ? out_path : "-") == 0
			       ? 0 : 1;
	}
	char dir[] = "/tmp/nasc-XXXXXX", obj[64];
	if (!mkdtemp(dir)) {
		perror("nasc: a temporary directory");
		return 1;
	}
	snprintf(obj, sizeof obj, "%s/program.o", dir);
	fprintf(stderr, "nasc: %d values, %d kernels; compiling %s with LLVM %s\n", L->nvalues,
		L->p.nkern, out_path, emit_llvm_version());
	int rc = emit_llvm(L, info, LLVM_OBJECT, obj) == 0 && build_link(obj, out_path, verbose) == 0
			 ? 0 : 1;
	unlink(obj);
	rmdir(dir);
	return rc;
}
#endif

/* emit and build: the whole pipeline, lowering, then C (or LLVM IR) to a
 * file (or stdout), compiled when building. */
static int generate(Model *m, Arena *a, const char *spec, const Override *ov, int nov, bool build,
		    const char *out_path, const char *keep_c, bool f64, int hvp_block, bool verbose,
		    bool llvm)
{
	if (pipeline_run(&m->g, pipeline_npasses - 1, stderr) != 0)
		return 70;
	Lowered L;
	lower(&m->g, hvp_block, &L, a);
	char config[1024] = "";
	size_t off = 0;
	for (int i = 0; i < nov && off < sizeof config; i++)
		off += (size_t)snprintf(config + off, sizeof config - off, "%s%s=%s", i ? " " : "",
					ov[i].name, ov[i].value);
	if (nov == 0)
		snprintf(config, sizeof config, "the spec's defaults");
	EmitInfo info = {.spec = spec, .config = config, .version = PACKAGE_VERSION, .f64 = f64,
			 .flops = m->flops, .model = m};
#ifdef HAVE_LLVM
	if (llvm)
		return generate_llvm(&L, &info, build, out_path, verbose);
#else
	(void)llvm;
#endif
	if (!build) {
		if (!out_path) {
			emit_c(stdout, &L, &info);
			return 0;
		}
		return build_write_c(out_path, &L, &info) == 0 ? 0 : 1;
	}
	char dir[] = "/tmp/nasc-XXXXXX", tmp[64];
	const char *c_path = keep_c;
	if (!c_path) {
		if (!mkdtemp(dir)) {
			perror("nasc: a temporary directory");
			return 1;
		}
		snprintf(tmp, sizeof tmp, "%s/program.c", dir);
		c_path = tmp;
	}
	int rc = 1;
	if (build_write_c(c_path, &L, &info) == 0) {
		fprintf(stderr, "nasc: %d values, %d kernels; compiling %s\n", L.nvalues, L.p.nkern,
			out_path);
		rc = build_compile(c_path, out_path, verbose) == 0 ? 0 : 1;
	}
	if (!keep_c) {
		unlink(tmp);
		rmdir(dir);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *file = NULL, *after = NULL, *out_path = NULL, *keep_c = NULL;
	const char *precision = "f32", *backend = NULL;
	bool json = false, verbose = false;
	const char *hvp_block = NULL;
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
#ifdef HAVE_LLVM
			printf("nasc %s (backends: c, llvm with LLVM %s; default %s)\n", PACKAGE_VERSION,
			       emit_llvm_version(), NASC_DEFAULT_BACKEND);
#else
			printf("nasc %s (backends: c; default c)\n", PACKAGE_VERSION);
#endif
			free(ov);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strncmp(a, "--after=", 8) == 0) {
			after = a + 8;
		} else if (strcmp(a, "--after") == 0 && i + 1 < argc) {
			after = argv[++i];
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			out_path = argv[++i];
		} else if (strncmp(a, "--precision=", 12) == 0) {
			precision = a + 12;
		} else if (strncmp(a, "--backend=", 10) == 0) {
			backend = a + 10;
		} else if (strncmp(a, "--hvp-block=", 12) == 0) {
			hvp_block = a + 12;
		} else if (strncmp(a, "--keep-c=", 9) == 0) {
			keep_c = a + 9;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			verbose = true;
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
	while (c < NCMD && strcmp(commands[c], cmd) != 0)
		c++;
	if (c == NCMD) {
		const char *best = suggest(cmd, commands, NCMD);
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
	if (json && c != CMD_INFO) {
		rc = usage_error("--json goes with info%s", "");
		goto out;
	}
	bool emits = c == CMD_EMIT || c == CMD_BUILD;
	if (!emits && (out_path || keep_c || verbose || hvp_block || strcmp(precision, "f32") != 0 ||
		       backend)) {
		rc = usage_error("-o, --precision, --backend, --hvp-block, --keep-c and -v go with emit "
				 "and build%s", "");
		goto out;
	}
	int block = NASC_HVP_BLOCK;
	if (hvp_block) {
		char *end;
		long k = strtol(hvp_block, &end, 10);
		if (end == hvp_block || *end || k < 1 || k > 64) {
			rc = usage_error("--hvp-block is a count from 1 to 64, not '%s'", hvp_block);
			goto out;
		}
		block = (int)k;
	}
	if (strcmp(precision, "f32") != 0 && strcmp(precision, "f64") != 0) {
		rc = usage_error("--precision is f32 or f64, not '%s'", precision);
		goto out;
	}
	/* keeping the C asks for the backend that writes it */
	if (!backend)
		backend = keep_c ? "c" : NASC_DEFAULT_BACKEND;
	bool llvm = strcmp(backend, "llvm") == 0;
#ifdef HAVE_LLVM
	if (!llvm && strcmp(backend, "c") != 0) {
		rc = usage_error("unknown backend '%s' (the backends are c and llvm)", backend);
		goto out;
	}
#else
	if (strcmp(backend, "c") != 0) {
		rc = usage_error(llvm ? "--backend=%s: this nasc was configured without LLVM "
					"(see ./configure --with-llvm-config)"
				      : "unknown backend '%s' (the backend is c)",
				 backend);
		goto out;
	}
#endif
	if (llvm && keep_c) {
		rc = usage_error("--keep-c goes with the C backend; nasc emit --backend=llvm writes the "
				 "IR%s", "");
		goto out;
	}
	if (c == CMD_BUILD && !out_path) {
		rc = usage_error("build needs -o BIN%s", "");
		goto out;
	}
	if (c == CMD_BUILD && keep_c && strcmp(keep_c, out_path) == 0) {
		rc = usage_error("--keep-c would overwrite the binary %s", out_path);
		goto out;
	}
	int pass = -1;
	if (c == CMD_DUMP) {
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
			if (c == CMD_INFO && json)
				info_json(stdout, m);
			else if (c == CMD_INFO)
				info_text(stdout, m);
			else if (c == CMD_DUMP && pipeline_run(&m->g, pass - NFRONT, stderr) != 0)
				rc = 70; /* EX_SOFTWARE: a bug of ours, not of the spec */
			else if (c == CMD_DUMP)
				ir_dump(stdout, &m->g);
			else if (emits)
				rc = generate(m, &arena, file, ov, nov, c == CMD_BUILD, out_path, keep_c,
					      strcmp(precision, "f64") == 0, block, verbose, llvm);
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
