/* suggest.h - "did you mean": the candidate closest to a misspelled name,
 * by edit distance with transpositions, when at most a third of the name
 * (at least one character) is wrong. */
#ifndef NASC_SUGGEST_H
#define NASC_SUGGEST_H

/* The closest of cands[0..n) to name (NULL entries skipped, an exact match
 * never suggested), or NULL when none is close enough. */
const char *nas_suggest(const char *name, const char *const *cands, int n);

#endif
