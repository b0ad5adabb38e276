/* genotype.h - the discrete architecture a search returns, derived from
 * alpha exactly as DARTS does it, and written as JSON, as the DARTS
 * `Genotype(...)` text that PyTorch DARTS evaluation code reads, and as a
 * Graphviz drawing of each cell.
 *
 * Derivation, for each cell type: w = softmax of each row of alpha (row =
 * edge, in double, over the edge's own candidates); for each node, rank
 * its incoming edges by their largest weight over the ops that are not
 * excluded, keep the `keep` strongest (ties: the lower edge index first,
 * as Python's stable sorted() leaves them), and on each kept edge choose
 * the argmax op that is not excluded (ties: the first in the edge's list,
 * as DARTS's strict `>` scan).  When every op of an edge is excluded (a
 * spec may exclude everything), the exclusion is ignored on that edge, as
 * RobustDARTS does for spaces without `none`; excluding an op an edge
 * does not have (`none` in S2) changes nothing.  A node with fewer
 * incoming edges than `keep` keeps them all. */
#ifndef NASC_GENOTYPE_H
#define NASC_GENOTYPE_H

#include <stddef.h>
#include <stdio.h>

#include "nasrt.h"

/* Not a limit of derivation, which keeps as many edges per node as the
 * spec's `keep` says (up to 1000); nothing in genotype.c uses it. */
enum { GENO_MAX_KEEP = 8 };

typedef struct GenoChoice {
	const char *op;         /* the chosen candidate (a name of the spec) */
	int from;               /* its source state: 0, 1 the cell inputs, 2.. the nodes */
	int edge;               /* the row of alpha */
	double weight;          /* its softmax weight */
} GenoChoice;

typedef struct GenoCell {
	const NasCellType *type;
	int nchoices;
	GenoChoice *choices;    /* node by node, the strongest edge of a node first */
} GenoCell;

typedef struct Genotype {
	int ncells;
	GenoCell *cells;        /* one per cell type of the program */
} Genotype;

/* Derives the genotype of the alpha tensors in params (nparams reals of
 * p->real_size; cell type t reads p->tensors[t.alpha] at its offset, rows
 * of t.nops reals).  The op names point into p's tables, so g must not
 * outlive p.  Returns 0, or -1 on no memory (g empty then). */
int genotype_derive(const NasProgram *p, const void *params, Genotype *g);
void genotype_free(Genotype *g);

/* The DARTS text form on one line, without a newline:
 *   Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[...])
 * Concats are the cell type's outputs, written as a list even where DARTS
 * writes range(2, 6): its evaluation code accepts either.  Cell types
 * named other than `normal` and `reduce` get fields named after them,
 * after those two, in the program's order.  A type the program lacks (a
 * network of normal cells alone) gets an empty list and the concat
 * [2, ..., nodes + 1] of the other type, so the text stays a valid DARTS
 * genotype.  Op names are written as Python string literals. */
void genotype_write_text(FILE *out, const Genotype *g);

/* One JSON object on one line, without a newline: {"normal":
 * [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], ...,
 * "weights": {"normal": [0.31, ...], ...}}: the fields of the text form in
 * its order, then every chosen op's softmax weight in the order of the
 * choices (null for a weight that is not finite, from a diverged alpha). */
void genotype_write_json(FILE *out, const Genotype *g);

/* A Graphviz digraph of cell type i: inputs c_{k-2} and c_{k-1}, nodes
 * 0..nodes-1, an edge per choice labelled with its op, an edge from each
 * output state to the output c_{k}.  One statement per line, ending with
 * a newline: "c_{k-2}" -> "0" [label="sep_conv_3x3"]; */
void genotype_write_dot(FILE *out, const Genotype *g, int i);

/* Writes DIR/genotype.json, DIR/genotype.txt (each with a newline) and
 * DIR/<type>.dot for every cell type, atomically, and DIR/<type>.svg when
 * `dot` (Graphviz, found on PATH) runs.  All the files are written to
 * temporary files before any replaces its target, so a folder that
 * cannot be written, or a full disk, leaves the folder as it was; only a
 * failure while renaming them into place can leave some files new and
 * the rest old (each whole).  A missing or failing `dot` is not an error:
 * the svg is skipped, and an svg of an earlier save removed.  Returns 0,
 * or -1 with "FILE: message" in err. */
int genotype_save(const Genotype *g, const char *dir, char *err, size_t errlen);
/* genotype_save, and in *nsvg (when nsvg is not NULL) the number of .svg
 * files written: g->ncells when Graphviz drew every cell, 0 when it is
 * missing, so the caller can say the drawings were skipped. */
int genotype_save_svgs(const Genotype *g, const char *dir, int *nsvg, char *err, size_t errlen);
/* genotype_save under the names of early stopping's answer:
 * genotype_es.json, genotype_es.txt, <type>_es.dot (.svg). */
int genotype_save_es(const Genotype *g, const char *dir, char *err, size_t errlen);

#endif
