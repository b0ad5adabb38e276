/* progress.h - what a long command shows while it runs, on stderr: a bar
 * redrawn in place on a terminal, a plain line every quarter of an epoch
 * otherwise (a log file, CI). */
#ifndef NASC_PROGRESS_H
#define NASC_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct Progress {
	FILE *out;
	const char *bin;
	int tty;
	int64_t epoch, epochs;
	double t0, last;        /* the epoch's start, the latest redraw */
	int64_t quarter;        /* plain mode: quarters of the epoch reported */
} Progress;

void progress_init(Progress *pg, FILE *out, const char *bin);
void progress_epoch(Progress *pg, int64_t epoch, int64_t epochs);
/* After step `step` of `steps` (1-based), with the running means. */
void progress_step(Progress *pg, int64_t step, int64_t steps, double loss, double acc);
/* Clears the bar (on a terminal) before a line of its own. */
void progress_clear(Progress *pg);

/* "1h02m", "3m05s", "12.3s" into buf. */
const char *progress_duration(char *buf, size_t n, double seconds);

#endif
