/* diag.c - source buffers and diagnostics (see diag.h). */
#include "diag.h"

#include "suggest.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

Source *source_new(Arena *a, const char *name, const char *text, size_t len)
{
	Source *s = arena_alloc(a, sizeof *s);
	s->name = arena_strdup(a, name);
	s->text = text;
	s->len = len;
	int n = 1;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	s->line_off = arena_array(a, (size_t)n + 1, sizeof(int));
	s->nlines = 0;
	s->line_off[s->nlines++] = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			s->line_off[s->nlines++] = (int)(i + 1);
	s->line_off[s->nlines] = (int)len + 1;
	return s;
}

const char *source_line(const Source *s, int line, size_t *len)
{
	if (line < 1 || line > s->nlines) {
		*len = 0;
		return "";
	}
	size_t b = (size_t)s->line_off[line - 1];
	size_t e = b;
	while (e < s->len && s->text[e] != '\n')
		e++;
	if (e > b && s->text[e - 1] == '\r')
		e--;
	*len = e - b;
	return s->text + b;
}

void diag_init(Diag *d, FILE *out)
{
	memset(d, 0, sizeof *d);
	d->out = out;
	d->max_errors = 20;
}

static unsigned long long hash_msg(Loc loc, const char *msg)
{
	unsigned long long h = 1469598103934665603ull;
	h = (h ^ (unsigned long long)(size_t)loc.src) * 1099511628211ull;
	h = (h ^ (unsigned long long)loc.line) * 1099511628211ull;
	h = (h ^ (unsigned long long)loc.col) * 1099511628211ull;
	for (const char *p = msg; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

/* Print the source line with a caret under loc.  Unprintable bytes are shown
 * as '?', tabs kept (so the caret line lines up), and a long line is cut to a
 * window around the column. */
static void show_line(FILE *out, Loc loc)
{
	size_t len;
	const char *line = source_line(loc.src, loc.line, &len);
	size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
	if (col > len)
		col = len;
	size_t from = 0, to = len;
	enum { WIDTH = 120 };
	if (len > WIDTH) {
		from = col > WIDTH / 2 ? col - WIDTH / 2 : 0;
		to = from + WIDTH < len ? from + WIDTH : len;
	}
	fputs("  ", out);
	if (from > 0)
		fputs("...", out);
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)line[i];
		fputc(c == '\t' || (c >= 32 && c < 127) ? c : '?', out);
	}
	if (to < len)
		fputs("...", out);
	fputs("\n  ", out);
	if (from > 0)
		fputs("   ", out);
	for (size_t i = from; i < col; i++)
		fputc(line[i] == '\t' ? '\t' : ' ', out);
	fputc('^', out);
	if (loc.end_line == loc.line && loc.end_col > loc.col + 1) {
		size_t end = (size_t)loc.end_col - 1;
		if (end > to)
			end = to;
		for (size_t i = col + 1; i < end; i++)
			fputc('~', out);
	}
	fputc('\n', out);
}

void diag_report(Diag *d, DiagLevel lvl, Loc loc, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "note"};
	d->last_shown = false;
	if (lvl == DIAG_ERROR)
		d->errors++;
	else if (lvl == DIAG_WARNING)
		d->warnings++;
	if (d->stopped)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	/* The same message at the same place says nothing new (an op expanded
	 * on every edge fails the same way on each). */
	unsigned long long h = hash_msg(loc, msg);
	for (int i = 0; i < d->nseen; i++)
		if (d->seen[i] == h) {
			if (lvl == DIAG_ERROR)
				d->errors--;
			else if (lvl == DIAG_WARNING)
				d->warnings--;
			return;
		}
	if (lvl == DIAG_ERROR && d->max_errors && d->errors > d->max_errors) {
		d->stopped = true;
		if (d->out)
			fprintf(d->out, "nasc: too many errors (%d); stopping\n", d->max_errors);
		return;
	}
	if (d->nseen < (int)(sizeof d->seen / sizeof d->seen[0]))
		d->seen[d->nseen++] = h;
	d->last_shown = true;

	if (!d->out)
		return;
	if (loc.src)
		fprintf(d->out, "%s:%d:%d: %s: %s\n", loc.src->name, loc.line, loc.col,
			names[lvl], msg);
	else
		fprintf(d->out, "nasc: %s: %s\n", names[lvl], msg);
	if (loc.src && loc.line >= 1)
		show_line(d->out, loc);
}

const char *suggest(const char *name, const char *const *cands, int n)
{
	return nas_suggest(name, cands, n);
}
