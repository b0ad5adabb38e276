/* unit_loop.c - what lp_call does to a kernel before keeping it: loads
 * typed by the buffer behind their slot, and stores that read many arrays
 * split into passes (streams.c), checked by shape and by running the
 * loops before and after on the same arrays. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"

/* ---- a small evaluator of the loop form, for the kernels built here ---- */

typedef struct Machine {
	const LProgram *p;
	double *mem[LK_MAX_SLOTS];    /* per slot */
	int64_t len[LK_MAX_SLOTS];
	int64_t var[64];
} Machine;

static double eval(Machine *m, const LExpr *e)
{
	switch (e->kind) {
	case LE_INT:
		return (double)e->i;
	case LE_REAL:
		return e->r;
	case LE_VAR:
		return (double)m->var[e->var];
	case LE_LOAD: {
		int64_t i = (int64_t)eval(m, e->a);
		assert_true(i >= 0 && i < m->len[e->buf]);
		return m->mem[e->buf][i];
	}
	case LE_BIN: {
		double a = eval(m, e->a), b = eval(m, e->b);
		switch (e->op) {
		case LO_ADD:
			return a + b;
		case LO_MUL:
			return a * b;
		case LO_MIN:
			return a < b ? a : b;
		default:
			fail_msg("op %d not in this evaluator", e->op);
		}
	}
	default:
		fail_msg("expression kind %d not in this evaluator", e->kind);
	}
	return 0;
}

static void run(Machine *m, const LStmt *s)
{
	for (; s; s = s->next) {
		switch (s->kind) {
		case LS_FOR: {
			int64_t hi = (int64_t)eval(m, s->hi);
			for (int64_t v = (int64_t)eval(m, s->lo); v < hi; v++) {
				m->var[s->var] = v;
				run(m, s->body);
			}
			break;
		}
		case LS_STORE:
		case LS_ACCUM: {
			int64_t i = (int64_t)eval(m, s->idx);
			assert_true(i >= 0 && i < m->len[s->buf]);
			double v = eval(m, s->a);
			m->mem[s->buf][i] = s->kind == LS_STORE ? v : m->mem[s->buf][i] + v;
			break;
		}
		default:
			fail_msg("statement kind %d not in this evaluator", s->kind);
		}
	}
}

/* ---- kernels ------------------------------------------------------------- */

enum { MAX_IN = 40 };

typedef struct Kernel {
	Arena arena;
	LProgram p;
	LEntry entry;
	LKBuild kb;
	int y, x[MAX_IN], scale;    /* slots */
	int i;                      /* the loop variable */
	int64_t n;
} Kernel;

/* Buffers: a label buffer first (int64), so that slot numbers and buffer
 * numbers differ in kind; then y, the scale and nx inputs of n reals. */
static void kernel_begin(Kernel *k, int nx, int64_t n)
{
	arena_init(&k->arena);
	lp_init(&k->p, &k->arena);
	memset(&k->entry, 0, sizeof k->entry);
	memset(&k->kb, 0, sizeof k->kb);
	k->n = n;
	lp_buf(&k->p, "labels", LS_Y, 0, n, true);
	int y = lp_buf(&k->p, "y", LS_ARENA, 0, n, false);
	int scale = lp_buf(&k->p, "scale", LS_PARAMS, 0, 1, false);
	k->y = lk_slot(&k->p, &k->kb, y, true);
	k->scale = lk_slot(&k->p, &k->kb, scale, false);
	for (int j = 0; j < nx; j++)
		k->x[j] = lk_slot(&k->p, &k->kb, lp_buf(&k->p, "x", LS_ARENA, 0, n, false), false);
	k->i = lp_var(&k->p, "i", LT_INT);
}

static const LStmt *kernel_finish(Kernel *k, LStmt *body)
{
	lp_call(&k->p, &k->entry, &k->kb, body, "test", "test");
	assert_int_equal(k->p.nkern, 1);
	return k->p.kern[0].body;
}

/* x_j[i] * (j + 1), as a left-leaning sum over j in [from, to). */
static LExpr *terms(Kernel *k, int from, int to)
{
	LProgram *P = &k->p;
	LExpr *e = NULL;
	for (int j = from; j < to; j++) {
		LExpr *t = lx_bin(P, LO_MUL, lx_load(P, k->x[j], lx_var(P, k->i)), lx_real(P, j + 1));
		e = e ? lx_bin(P, LO_ADD, e, t) : t;
	}
	return e;
}

/* Runs body on inputs x_j[i] = sin(i + 7 j) and scale 0.75, y first
 * filled with y0; y after, malloc'd. */
static double *execute(Kernel *k, int nx, const LStmt *body, double y0)
{
	Machine m = {.p = &k->p};
	double *y = malloc((size_t)k->n * sizeof *y), scale = 0.75;
	double *x = malloc((size_t)(nx * k->n) * sizeof *x);
	assert_non_null(y);
	assert_non_null(x);
	for (int64_t i = 0; i < k->n; i++)
		y[i] = y0;
	for (int j = 0; j < nx; j++)
		for (int64_t i = 0; i < k->n; i++)
			x[j * k->n + i] = sin((double)(i + 7 * j));
	m.mem[k->y] = y;
	m.len[k->y] = k->n;
	m.mem[k->scale] = &scale;
	m.len[k->scale] = 1;
	for (int j = 0; j < nx; j++) {
		m.mem[k->x[j]] = x + j * k->n;
		m.len[k->x[j]] = k->n;
	}
	run(&m, body);
	free(x);
	return y;
}

static void expect(const double *got, const Kernel *k, int nx, bool scaled, double y0)
{
	for (int64_t i = 0; i < k->n; i++) {
		double want = 0;
		for (int j = 0; j < nx; j++)
			want += sin((double)(i + 7 * j)) * (j + 1);
		want = y0 + (scaled ? want * 0.75 : want);
		assert_true(fabs(got[i] - want) <= 1e-12 * (1 + fabs(want)));
	}
}

/* The passes of a split loop, at most 6 arrays each, every input read
 * exactly once over them, the first storing (or adding, for an ACCUM)
 * and the others adding. */
static int count_loads(const LExpr *e, int *seen, int nslot)
{
	if (!e)
		return 0;
	int here = 0;
	if (e->kind == LE_LOAD && e->buf < nslot) {
		here = seen[e->buf]++ == 0;
	}
	return here + count_loads(e->a, seen, nslot) + count_loads(e->b, seen, nslot) +
	       count_loads(e->c, seen, nslot);
}

static void check_passes(const Kernel *k, const LStmt *first, int nx, LStmtKind kind)
{
	int seen[LK_MAX_SLOTS] = {0}, npass = 0;
	for (const LStmt *s = first; s; s = s->next, npass++) {
		assert_int_equal(s->kind, LS_FOR);
		assert_false(s->parallel);
		assert_null(s->body->next);
		assert_int_equal(s->body->kind, npass == 0 ? kind : LS_ACCUM);
		int mine[LK_MAX_SLOTS] = {0};
		int streams = 0;
		count_loads(s->body->a, mine, LK_MAX_SLOTS);
		for (int j = 0; j < nx; j++)
			streams += mine[k->x[j]] > 0;
		assert_true(streams >= 1 && streams <= 6);
		count_loads(s->body->a, seen, LK_MAX_SLOTS);
	}
	assert_int_equal(npass, (nx + 5) / 6);
	for (int j = 0; j < nx; j++)
		assert_int_equal(seen[k->x[j]], 1);
}

/* A load's type is that of the buffer behind its slot: slot 1 here is a
 * real buffer, while buffer 1 is y and buffer 0 the labels. */
static void test_load_types(void **state)
{
	(void)state;
	Kernel k;
	kernel_begin(&k, 1, 16);
	LProgram *P = &k.p;
	int lab = lk_slot(P, &k.kb, 0, false);
	LExpr *real_load = lx_load(P, k.x[0], lx_var(P, k.i));
	LExpr *int_load = lx_load(P, lab, lx_var(P, k.i));
	/* y is slot 0, and buffer 0 holds the labels */
	LExpr *y_load = lx_load(P, k.y, lx_var(P, k.i));
	LExpr *sum = lx_bin(P, LO_ADD, real_load, y_load);
	LExpr *cmp = lx_bin(P, LO_EQ, int_load, lx_int(P, 3));
	LStmt *body = ls_for(P, k.i, lx_int(P, 0), lx_int(P, 16),
			     ls_store(P, k.y, lx_var(P, k.i), lx_select(P, cmp, sum, lx_real(P, 0))));
	/* slot 0 is y (buffer 1), slot 1 the scale, slot 2 x, slot 3 the labels */
	assert_int_equal(lab, 3);
	kernel_finish(&k, body);
	assert_int_equal(real_load->type, LT_REAL);
	assert_int_equal(y_load->type, LT_REAL);
	assert_int_equal(int_load->type, LT_INT);
	assert_int_equal(sum->type, LT_REAL);
	assert_int_equal(cmp->type, LT_BOOL);
	arena_free(&k.arena);
}

/* 20 arrays in a short sequential loop: passes in place of the loop. */
static void test_split_short(void **state)
{
	(void)state;
	Kernel k;
	kernel_begin(&k, 20, 1000);
	LProgram *P = &k.p;
	LStmt *loop = ls_for(P, k.i, lx_int(P, 0), lx_int(P, 1000),
			     ls_store(P, k.y, lx_var(P, k.i), terms(&k, 0, 20)));
	const LStmt *body = kernel_finish(&k, loop);
	check_passes(&k, body, 20, LS_STORE);
	double *y = execute(&k, 20, body, 5);
	expect(y, &k, 20, false, 0);
	free(y);
	arena_free(&k.arena);
}

/* 23 arrays times a factor the loop does not change, added to y, in a
 * long parallel loop: chunks of at most 2048 shared out, each with its
 * passes; the factor multiplies every term. */
static void test_split_chunks(void **state)
{
	(void)state;
	Kernel k;
	int64_t n = 10001;  /* the last chunk is cut */
	kernel_begin(&k, 23, n);
	LProgram *P = &k.p;
	LExpr *scaled = lx_bin(P, LO_MUL, lx_bin(P, LO_ADD, terms(&k, 0, 11), terms(&k, 11, 23)),
			       lx_load(P, k.scale, lx_int(P, 0)));
	LStmt *loop = ls_pfor(P, k.i, lx_int(P, 0), lx_int(P, n),
			      ls_accum(P, k.y, lx_var(P, k.i), scaled));
	const LStmt *body = kernel_finish(&k, loop);
	assert_int_equal(body->kind, LS_FOR);
	assert_true(body->parallel);
	assert_null(body->next);
	assert_int_equal(body->lo->kind, LE_INT);
	assert_int_equal(body->hi->kind, LE_INT);
	int64_t chunks = body->hi->i;
	assert_true(chunks * 2048 >= n && chunks > 1);
	check_passes(&k, body->body, 23, LS_ACCUM);
	double *y = execute(&k, 23, body, 2);
	expect(y, &k, 23, true, 2);
	free(y);
	arena_free(&k.arena);
}

/* Loops left alone: few arrays, a value that reads the output, an index
 * two iterations could share, a reduction loop. */
static void test_not_split(void **state)
{
	(void)state;
	for (int c = 0; c < 4; c++) {
		Kernel k;
		kernel_begin(&k, 12, 512);
		LProgram *P = &k.p;
		LExpr *idx = lx_var(P, k.i);
		LExpr *v = terms(&k, 0, c == 0 ? 6 : 12);
		if (c == 1)
			v = lx_bin(P, LO_ADD, v, lx_load(P, k.y, lx_var(P, k.i)));
		if (c == 2)
			idx = lx_bin(P, LO_MIN, lx_var(P, k.i), lx_int(P, 100));
		LStmt *st = ls_store(P, k.y, idx, v), *loop;
		if (c == 3) {
			int acc = lp_var(P, "acc", LT_F64);
			loop = ls_rfor(P, k.i, lx_int(P, 0), lx_int(P, 512), st, 1, &acc);
		} else {
			loop = ls_for(P, k.i, lx_int(P, 0), lx_int(P, 512), st);
		}
		const LStmt *body = kernel_finish(&k, loop);
		assert_ptr_equal(body, loop);
		assert_ptr_equal(body->body, st);
		assert_ptr_equal(st->a, v);
		arena_free(&k.arena);
	}
}

/* A row summed in a local array: n copies of y[i] = sum_j x_j[i] over an
 * array of len, the loop over j unrolled by `unroll`. */
static LStmt *row_sum(Kernel *k, int64_t len, int unroll)
{
	LProgram *P = &k->p;
	int acc = lp_array(P, "acc", len), j = lp_var(P, "j", LT_INT), i = k->i;
	LExpr *x = lx_load(P, k->x[0], lx_bin(P, LO_ADD, lx_var(P, i),
					       lx_bin(P, LO_MUL, lx_var(P, j), lx_int(P, len))));
	LStmt *add = ls_for(P, i, lx_int(P, 0), lx_int(P, len),
			    ls_set_elem(P, acc, lx_var(P, i),
					lx_bin(P, LO_ADD, lx_elem(P, acc, lx_var(P, i)), x)));
	return LS_SEQ(ls_local(P, acc),
		      ls_for(P, i, lx_int(P, 0), lx_int(P, len),
			     ls_set_elem(P, acc, lx_var(P, i), lx_real(P, 0))),
		      ls_unrolled(ls_for(P, j, lx_int(P, 0), lx_int(P, 4), add), unroll),
		      ls_for(P, i, lx_int(P, 0), lx_int(P, len),
			     ls_store(P, k->y, lx_var(P, i), lx_elem(P, acc, lx_var(P, i)))));
}

/* Kernels that differ only in a local array's length, or in unrolling,
 * are different kernels; the same ones are shared. */
static void test_local_array_keys(void **state)
{
	(void)state;
	Kernel k;
	kernel_begin(&k, 1, 64);
	LProgram *P = &k.p;
	const struct {
		int64_t len;
		int unroll;
		int kernels;   /* after this one */
	} calls[] = {{8, 4, 1}, {8, 4, 1}, {16, 4, 2}, {8, 0, 3}, {8, 2, 4}, {16, 4, 4}};
	for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
		lp_call(P, &k.entry, &k.kb, row_sum(&k, calls[c].len, calls[c].unroll), "t", "t");
		assert_int_equal(P->nkern, calls[c].kernels);
	}
	/* and the key shows the element read, not only the array */
	assert_non_null(strstr(P->kern[0].key, "v0[v1]=(0 v0[v1],"));
	arena_free(&k.arena);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_types),
		cmocka_unit_test(test_split_short),
		cmocka_unit_test(test_split_chunks),
		cmocka_unit_test(test_not_split),
		cmocka_unit_test(test_local_array_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
