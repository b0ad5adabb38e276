/* checkpoint.h - a search's state at an epoch's end, in one safetensors
 * file: the parameters and running statistics (as the program's real, so
 * nothing is rounded), both optimizers' states, and in the metadata the
 * epoch, the settings, the dataset and its normalization.  With the
 * seed, that is all a resumed run needs (see search.c). */
#ifndef NASC_CHECKPOINT_H
#define NASC_CHECKPOINT_H

#include <stddef.h>

#include "search.h"

/* Writes s to path atomically: a crash at any moment leaves the previous
 * file whole.  Returns 0, or -1 with "PATH: message" in err. */
int checkpoint_save(const Search *s, const char *path, char *err, size_t errlen);

/* Reads path, written by checkpoint_save for program p, into s (which it
 * initializes: search_free it afterwards).  Refuses, naming what is
 * wrong, a file that is not a checkpoint, one of another spec or config
 * or precision, and every defect state_load refuses.  Returns 0, or -1
 * with "PATH: message" in err and s empty. */
int checkpoint_load(const NasProgram *p, const char *path, Search *s, char *err, size_t errlen);

#endif
