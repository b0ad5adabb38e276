/* runlog.h - log.jsonl, the record of a search: one JSON object per line,
 * one line per epoch (docs/formats.md lists the fields). */
#ifndef NASC_RUNLOG_H
#define NASC_RUNLOG_H

#include <stddef.h>

#include "genotype.h"
#include "search.h"

/* Appends the record of epoch st to path and fsyncs it.  Returns 0, or -1
 * with "PATH: message" in err. */
int runlog_append(const char *path, const Search *s, const EpochStats *st, const Genotype *g,
		  char *err, size_t errlen);

/* Keeps the records of the first `epochs` epochs of path (those a
 * checkpoint at that epoch has seen) and drops the rest, atomically: a run
 * killed after logging an epoch but before its checkpoint logs it again
 * when resumed.  A missing file is an empty log.  Returns the number of
 * records kept, or -1 with "PATH: message" in err (a line that is not a
 * record of this log). */
int runlog_truncate(const char *path, long epochs, char *err, size_t errlen);

#endif
