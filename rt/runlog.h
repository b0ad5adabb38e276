/* runlog.h - log.jsonl, the record of a search: one JSON object per line,
 * one line per epoch, and one per controller event (docs/formats.md lists
 * the fields). */
#ifndef NASC_RUNLOG_H
#define NASC_RUNLOG_H

#include <stddef.h>

#include "genotype.h"
#include "search.h"

/* Appends the record of epoch st to path and fsyncs it.  Returns 0, or -1
 * with "PATH: message" in err. */
int runlog_append(const char *path, const Search *s, const EpochStats *st, const Genotype *g,
		  char *err, size_t errlen);

/* A record of something a controller did at the end of an epoch: early
 * stopping ("stop"), a rollback ("rollback"), a trigger with the
 * regularization at its maximum ("at_max").  Its "epoch" is the epoch
 * after which it happened. */
typedef struct RunEvent {
	const char *event;
	int64_t epoch, stop_epoch;
	double la_now, la_then;
	const char *knob;       /* rollback: the regularization raised, else NULL */
	double old_reg, new_reg;
} RunEvent;

int runlog_event(const char *path, const Search *s, const RunEvent *ev, char *err, size_t errlen);

/* Keeps the first `records` records of path (those the checkpoint has
 * seen: Search.log_records) and drops the rest, atomically: a run killed
 * after logging an epoch but before its checkpoint logs it again when
 * resumed.  A missing file is an empty log.  Returns the number of records
 * kept, or -1 with "PATH: message" in err (a line that is not a record of
 * this log). */
int runlog_truncate(const char *path, long records, char *err, size_t errlen);

#endif
