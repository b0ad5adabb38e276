/* schedule.c - a search's settings by name and their values over epochs (see
 * schedule.h).
 *
 * One table lists every setting: its name, where it lives in a
 * NasSchedule, its type and range (those of docs/dsl.md, which the
 * compiler checked the spec's values against), so setting, printing and
 * reading back cannot disagree. */
#include "schedule.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "suggest.h"

typedef enum { T_INT, T_REAL, T_BOOL, T_WORD } Type;

typedef struct Setting {
	const char *name;
	Type type;
	size_t off;
	double lo, hi;          /* inclusive, unless open */
	int open_lo, open_hi;
	const char *const *words; /* T_WORD: the value is the word's index */
} Setting;

static const char *const ramp_words[] = {"none", "linear", NULL};
static const char *const lr_words[] = {"constant", "cosine", NULL}; /* weights.cosine is 0 or 1 */
static const char *const order_words[] = {"first", "second", NULL};
static const char *const hess_words[] = {"none", "exact", "lanczos", NULL};
static const char *const ctrl_words[] = {"none", "es", "ada", NULL};
static const char *const knob_words[] = {"l2", "augment", NULL};

#define O(f) offsetof(NasSchedule, f)
#define INF INFINITY

static const Setting settings[] = {
	{"epochs", T_INT, O(epochs), 1, 1e6, 0, 0, NULL},
	{"batch", T_INT, O(batch), 1, 1 << 20, 0, 0, NULL},
	{"seed", T_INT, O(seed), 0, 9e15, 0, 0, NULL},
	{"split", T_REAL, O(split), 0, 1, 1, 1, NULL},
	{"order", T_WORD, O(second_order), 0, 0, 0, 0, order_words},
	{"weights.lr", T_REAL, O(weights.lr), 0, INF, 1, 0, NULL},
	{"weights.lr_min", T_REAL, O(weights.lr_min), 0, INF, 0, 0, NULL},
	{"weights.momentum", T_REAL, O(weights.momentum), 0, 1, 0, 1, NULL},
	{"weights.nesterov", T_BOOL, O(weights.nesterov), 0, 0, 0, 0, NULL},
	{"weights.clip", T_REAL, O(weights.clip), 0, INF, 0, 0, NULL},
	{"weights.schedule", T_WORD, O(weights.cosine), 0, 0, 0, 0, lr_words},
	{"arch.lr", T_REAL, O(arch.lr), 0, INF, 1, 0, NULL},
	{"arch.beta1", T_REAL, O(arch.beta1), 0, 1, 0, 1, NULL},
	{"arch.beta2", T_REAL, O(arch.beta2), 0, 1, 0, 1, NULL},
	{"arch.eps", T_REAL, O(arch.eps), 0, 1, 1, 0, NULL},
	{"arch.weight_decay", T_REAL, O(arch.weight_decay), 0, 1, 0, 0, NULL},
	{"l2", T_REAL, O(l2), 0, 1, 0, 0, NULL},
	{"drop_path.prob", T_REAL, O(drop_path.prob), 0, 1, 0, 1, NULL},
	{"drop_path.ramp", T_WORD, O(drop_path.ramp), 0, 0, 0, 0, ramp_words},
	{"cutout.prob", T_REAL, O(cutout.prob), 0, 1, 0, 0, NULL},
	{"cutout.length", T_INT, O(cutout.length), 0, 1 << 20, 0, 0, NULL},
	{"cutout.ramp", T_WORD, O(cutout.ramp), 0, 0, 0, 0, ramp_words},
	{"crop", T_INT, O(crop), 0, 1 << 10, 0, 0, NULL},
	{"flip", T_BOOL, O(flip), 0, 0, 0, 0, NULL},
	{"hessian.mode", T_WORD, O(hessian.mode), 0, 0, 0, 0, hess_words},
	{"hessian.every", T_INT, O(hessian.every), 1, 1e6, 0, 0, NULL},
	{"hessian.iters", T_INT, O(hessian.iters), 1, 10000, 0, 0, NULL},
	{"controller.kind", T_WORD, O(controller.kind), 0, 0, 0, 0, ctrl_words},
	{"controller.factor", T_REAL, O(controller.factor), 0, INF, 1, 0, NULL},
	{"controller.window", T_INT, O(controller.window), 1, 1000, 0, 0, NULL},
	{"controller.k", T_INT, O(controller.k), 1, 1000, 0, 0, NULL},
	{"controller.start", T_INT, O(controller.start), 0, 1e6, 0, 0, NULL},
	{"controller.eta", T_REAL, O(controller.eta), 1, INF, 1, 0, NULL},
	{"controller.max", T_REAL, O(controller.max), 0, 1, 1, 0, NULL},
	{"controller.knob", T_WORD, O(controller.knob), 0, 0, 0, 0, knob_words},
};
enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static const Setting *find(const char *name)
{
	for (int i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

static void range_text(const Setting *st, char *buf, size_t n)
{
	if (isinf(st->hi))
		snprintf(buf, n, "%s %g", st->open_lo ? "above" : "at least", st->lo);
	else
		snprintf(buf, n, "from %g%s to %g%s", st->lo, st->open_lo ? " (excluded)" : "",
			 st->hi, st->open_hi ? " (excluded)" : "");
}

int sched_set(NasSchedule *s, const char *name, const char *text, char *err, size_t errlen)
{
	const Setting *st = find(name);
	if (!st) {
		const char *names[NSETTINGS];
		for (int i = 0; i < NSETTINGS; i++)
			names[i] = settings[i].name;
		const char *best = nas_suggest(name, names, NSETTINGS);
		if (best)
			return fail(err, errlen, "unknown setting '%s'; did you mean '%s'?", name, best);
		return fail(err, errlen, "unknown setting '%s'%s", name,
			    " (the settings are those of the spec's search block)");
	}
	char *dst = (char *)s + st->off, range[96];
	switch (st->type) {
	case T_INT:
	case T_REAL: {
		char *end;
		errno = 0;
		double v = strtod(text, &end);
		if (!*text || *end || errno == ERANGE || !isfinite(v))
			return fail(err, errlen, "%s needs a number, not '%s'", name, text);
		if (st->type == T_INT && v != floor(v))
			return fail(err, errlen, "%s needs an integer, not '%s'", name, text);
		if (v < st->lo || v > st->hi || (st->open_lo && v == st->lo) ||
		    (st->open_hi && v == st->hi)) {
			range_text(st, range, sizeof range);
			char what[160];
			snprintf(what, sizeof what, "%s is out of range: %s", text, range);
			return fail(err, errlen, "%s: %s", name, what);
		}
		if (st->type == T_INT) {
			int64_t i = (int64_t)v;
			memcpy(dst, &i, sizeof i);
		} else {
			memcpy(dst, &v, sizeof v);
		}
		return 0;
	}
	case T_BOOL: {
		int b;
		if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
			b = 1;
		else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
			b = 0;
		else
			return fail(err, errlen, "%s needs true or false, not '%s'", name, text);
		memcpy(dst, &b, sizeof b);
		return 0;
	}
	case T_WORD:
		for (int w = 0; st->words[w]; w++)
			if (strcmp(st->words[w], text) == 0) {
				memcpy(dst, &w, sizeof w);
				return 0;
			}
		char words[128] = "";
		for (int w = 0; st->words[w]; w++)
			snprintf(words + strlen(words), sizeof words - strlen(words), "%s%s",
				 w ? (st->words[w + 1] ? ", " : " or ") : "", st->words[w]);
		snprintf(err, errlen, "%s needs %s, not '%s'", name, words, text);
		return -1;
	}
	return -1;
}

int sched_set_pair(NasSchedule *s, const char *pair, char *err, size_t errlen)
{
	const char *eq = strchr(pair, '=');
	if (!eq || eq == pair)
		return fail(err, errlen, "'%s' is not NAME=VALUE%s", pair, "");
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)(eq - pair < 63 ? eq - pair : 63), pair);
	return sched_set(s, name, eq + 1, err, errlen);
}

/* A line of a set file without its comment and outer blanks: a
 * NAME=VALUE, or empty. */
static char *set_line(char *line)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	while (isspace((unsigned char)*line))
		line++;
	size_t n = strlen(line);
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	return line;
}

int sched_set_file(NasSchedule *s, const char *path, char *err, size_t errlen)
{
	FILE *in = fopen(path, "r");
	if (!in) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL, msg[512];
	size_t cap = 0;
	int rc = 0;
	for (long lineno = 1; rc == 0 && getline(&line, &cap, in) >= 0; lineno++) {
		const char *pair = set_line(line);
		if (*pair && sched_set_pair(s, pair, msg, sizeof msg) != 0) {
			snprintf(err, errlen, "%s:%ld: %s", path, lineno, msg);
			rc = -1;
		}
	}
	/* a folder opens, then fails on the first read */
	if (rc == 0 && ferror(in)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(in);
	return rc;
}

/* The value of st in s, as text that sched_set reads back. */
static void value_text(const NasSchedule *s, const Setting *st, char *buf, size_t n)
{
	const char *src = (const char *)s + st->off;
	int i;
	switch (st->type) {
	case T_INT: {
		int64_t v;
		memcpy(&v, src, sizeof v);
		snprintf(buf, n, "%" PRId64, v);
		return;
	}
	case T_REAL: {
		double v;
		memcpy(&v, src, sizeof v);
		snprintf(buf, n, "%.17g", v);
		return;
	}
	case T_BOOL:
		memcpy(&i, src, sizeof i);
		snprintf(buf, n, "%s", i ? "true" : "false");
		return;
	case T_WORD:
		memcpy(&i, src, sizeof i);
		snprintf(buf, n, "\"%s\"", st->words[i]);
		return;
	}
}

void sched_write_json(FILE *out, const NasSchedule *s)
{
	char buf[64];
	fputc('{', out);
	for (int i = 0; i < NSETTINGS; i++) {
		value_text(s, &settings[i], buf, sizeof buf);
		fprintf(out, "%s\"%s\": %s", i ? ", " : "", settings[i].name, buf);
	}
	fputc('}', out);
}

int sched_read_json(NasSchedule *s, const char *json, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, "the settings are not a JSON object%s%s", "", "");
	}
	int rc = 0;
	for (int i = 0; rc == 0 && i < NSETTINGS; i++) {
		const Setting *st = &settings[i];
		json_t *v = json_object_get(root, st->name);
		char text[64];
		if (json_is_integer(v))
			snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_real(v))
			snprintf(text, sizeof text, "%.17g", json_real_value(v));
		else if (json_is_boolean(v))
			snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
		else if (json_is_string(v))
			snprintf(text, sizeof text, "%s", json_string_value(v));
		else {
			rc = fail(err, errlen, "the settings lack %s%s", st->name, "");
			break;
		}
		rc = sched_set(s, st->name, text, err, errlen);
	}
	json_decref(root);
	return rc;
}

double sched_lr(const NasSchedule *s, int64_t e)
{
	if (!s->weights.cosine)
		return s->weights.lr;
	const double pi = 3.14159265358979323846;
	return s->weights.lr_min + (s->weights.lr - s->weights.lr_min) *
					   (1 + cos(pi * (double)e / (double)s->epochs)) / 2;
}

double sched_ramp(double prob, NasRamp ramp, int64_t e, int64_t epochs)
{
	return ramp == NAS_RAMP_LINEAR ? prob * (double)e / (double)epochs : prob;
}
