/* schedule.h - the settings of a search (a NasSchedule: the spec's search
 * block, then the command line's overrides) and what they give at each
 * epoch: the learning rate, the drop-path and cutout probabilities.
 *
 * Every setting has a name, the one it has in the spec (`weights.lr`,
 * `cutout.length`, `l2`), so `BIN search --set weights.lr=0.05` reads as
 * `-D` does for nasc. */
#ifndef NASC_RT_SCHEDULE_H
#define NASC_RT_SCHEDULE_H

#include <stddef.h>
#include <stdio.h>

#include "nasrt.h"

/* Sets the setting called name from text: a number in its range, true or
 * false, or one of its words.  Returns 0, or -1 with a message in err
 * (unknown names get a suggestion). */
int sched_set(NasSchedule *s, const char *name, const char *text, char *err, size_t errlen);

/* "NAME=VALUE" as sched_set. */
int sched_set_pair(NasSchedule *s, const char *pair, char *err, size_t errlen);

/* Every line of the file at path as sched_set_pair, in order: one
 * NAME=VALUE a line; blank lines and # comments (whole-line or trailing)
 * are skipped.  Returns 0, or -1 with "PATH:LINE: <sched_set_pair's
 * message>" or "PATH: cannot read: <strerror>" in err.  Lines before a
 * bad one are already applied. */
int sched_set_file(NasSchedule *s, const char *path, char *err, size_t errlen);

/* Every setting as a JSON object on one line, {"epochs": 50, ...}, keys as
 * sched_set names them; numbers round-trip. */
void sched_write_json(FILE *out, const NasSchedule *s);

/* The same text back into s (every key must be there): 0, or -1 with a
 * message. */
int sched_read_json(NasSchedule *s, const char *json, char *err, size_t errlen);

/* The learning rate of the weights in epoch e (0-based): cosine annealing
 * from weights.lr to weights.lr_min over `epochs` epochs, as DARTS steps
 * PyTorch's CosineAnnealingLR(T_max = epochs) once before each epoch:
 *   lr_min + (lr - lr_min) * (1 + cos(pi * e / epochs)) / 2,
 * or weights.lr with the constant schedule. */
double sched_lr(const NasSchedule *s, int64_t e);

/* A probability in epoch e under its ramp: prob, or prob * e / epochs
 * with the linear ramp (as DARTS and RobustDARTS raise drop-path). */
double sched_ramp(double prob, NasRamp ramp, int64_t e, int64_t epochs);

#endif
