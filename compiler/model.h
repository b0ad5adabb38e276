/* model.h - what semantic analysis makes of a spec: the supernet as graph IR
 * plus the structure around it (cells, edges, alpha layout, parameter
 * values, the search schedule), for the passes, `nasc info` and the code
 * generators. */
#ifndef NASC_MODEL_H
#define NASC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ast.h"
#include "diag.h"
#include "ir.h"

/* A value of the spec's expression language. */
typedef enum ValueKind {
	V_ERROR,    /* already reported */
	V_INT,
	V_FLOAT,
	V_BOOL,
	V_SHAPE,
	V_STRING,
	V_SYMBOL,   /* a bare name the consumer interprets: first, cosine, l2 */
	V_LIST,
} ValueKind;

typedef struct Value {
	ValueKind k;
	Loc loc;
	union {
		int64_t i;
		double f;
		bool b;
		struct { int64_t d[4]; int rank; } shape;
		const char *s;
		struct { struct Value *v; int n; } list;
	} u;
} Value;

/* The value as spec text: 16, 0.5, 1x28x28, true, [1, 2]. */
const char *value_str(Arena *a, const Value *v);

typedef struct ModelParam {
	const char *name;
	Value value;
	bool overridden;        /* by -D */
} ModelParam;

typedef struct ModelEdge {
	int from, to;           /* states: 0 and 1 are the cell inputs, 2.. the nodes */
	int stride;
	int nops;
	const char **ops;       /* candidate names, in declared order */
	Loc *op_locs;           /* where each is named */
	Loc loc;
} ModelEdge;

typedef struct ModelCellType {
	const char *name;
	Loc loc;
	int nodes;
	int stride;             /* of the edges leaving the cell inputs: 2 in a reduction cell */
	int nedges;
	ModelEdge *edges;       /* node by node, by source state */
	int nops;               /* candidates per edge: alpha is [nedges, nops] */
	int keep;               /* genotype: incoming edges kept per node */
	const char **exclude;   /* genotype: ops never chosen */
	int nexclude;
	int *outputs;           /* states concatenated into the cell output */
	int noutputs;
	bool used;
	int softmax;            /* IR value of softmax(alpha), -1 if unused */
	int alpha;              /* IR value of alpha.<name>, -1 if unused */
	int64_t alpha_offset;   /* in the flattened alpha vector */
} ModelCellType;

typedef struct ModelCell {
	int type;               /* index into types */
	int64_t C;              /* the channels its ops see */
	IrShape in0, in1, out;  /* without preprocessing; [N,C,H,W] */
	int64_t params;         /* weight parameters of this cell */
	int64_t flops;          /* per sample */
} ModelCell;

typedef enum Order { ORDER_FIRST, ORDER_SECOND } Order;
/* These enums have the values of nasrt.h's NasHessian, NasController,
 * NasRamp and NasKnob, which generated programs are initialized with. */
typedef enum HessianMode { HESS_NONE, HESS_EXACT, HESS_LANCZOS } HessianMode;
typedef enum ControllerKind { CTRL_NONE, CTRL_ES, CTRL_ADA } ControllerKind;
typedef enum Ramp { RAMP_NONE, RAMP_LINEAR } Ramp;
typedef enum LrSchedule { LR_COSINE, LR_CONSTANT } LrSchedule;
typedef enum AdaKnob { KNOB_L2, KNOB_AUGMENT } AdaKnob;

/* The bilevel schedule; docs/dsl.md describes every field. */
typedef struct Schedule {
	int64_t epochs, batch, seed;
	double split;
	Order order;
	struct { double lr, lr_min, momentum, clip; bool nesterov; LrSchedule schedule; } weights;
	struct { double lr, beta1, beta2, eps, weight_decay; } arch;
	double l2;
	struct { double prob; Ramp ramp; } drop_path;
	struct { double prob; int64_t length; Ramp ramp; } cutout;
	int64_t crop;           /* random crop after zero padding by crop pixels; 0: none */
	bool flip;              /* random horizontal flip */
	struct { HessianMode mode; int64_t every, iters; } hessian;
	struct {
		ControllerKind kind;
		double factor;
		int64_t window, k, start;
		double eta, max;        /* ada */
		AdaKnob knob;           /* ada */
	} controller;
} Schedule;

typedef struct Model {
	Arena *arena;
	const char *name;       /* the spec's file name without folder and .nas */
	const Source *src;
	IrGraph g;
	ModelParam *params;
	int nparams;
	ModelCellType *types;
	int ntypes;
	ModelCell *cells;
	int ncells;
	IrShape input;          /* [N,C,H,W] */
	int64_t classes;
	int64_t channels;       /* C of the stem and the first cells */
	int64_t weight_params, alpha_size, flops;
	Schedule sched;
} Model;

/* One -D NAME=VALUE. */
typedef struct Override {
	const char *name;
	const char *value;
	bool used;
} Override;

/* Analyse a parsed spec into a model, applying the overrides.  Returns NULL
 * after reporting every error it found. */
Model *sema_run(Arena *a, Diag *d, const Spec *spec, Override *ov, int nov);

#endif
