/* unit_llvm_loops.c - the loop metadata the LLVM backend attaches
 * (llvm_loop_hint), on the loop nests of the kernels that showed why:
 * the depthwise convolution forward (5x5 taps, unrolled, around a row of
 * accumulators) and its data gradient (taps around a 7x7 output block),
 * a pooling window (unrolled taps innermost), a sum and an IF.  Left to
 * LLVM, the first two ran 3 and 10 times slower than GCC's code of the
 * same C; make bench measures the whole step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"
#include "emit_llvm_impl.h"
#include "loop.h"

static Arena arena;
static LProgram prog;
static int buf;

static int setup(void **state)
{
	(void)state;
	arena_init(&arena);
	lp_init(&prog, &arena);
	buf = lp_buf(&prog, "b", LS_ARENA, 0, 1 << 20, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&arena);
	return 0;
}

/* for (v = 0; v < n; v++) body, a fresh variable */
static LStmt *loop(int n, LStmt *body)
{
	int v = lp_var(&prog, "i", LT_INT);
	return ls_for(&prog, v, lx_int(&prog, 0), lx_int(&prog, n), body);
}

/* b[0] += b[1] * b[2]: a statement with no loop */
static LStmt *work(void)
{
	LExpr *m = lx_bin(&prog, LO_MUL, lx_load(&prog, buf, lx_int(&prog, 1)),
			  lx_load(&prog, buf, lx_int(&prog, 2)));
	return ls_accum(&prog, buf, lx_int(&prog, 0), m);
}

/* The forward: for i, j < 5 (unrolled) { for wo < 28 { acc[wo] += ... } }.
 * The taps hold a loop, so they neither unroll fully nor vectorize. */
static void depthwise_forward(void **state)
{
	(void)state;
	LStmt *wo = loop(28, work());
	LStmt *j = ls_unrolled(loop(5, wo), 5);
	LStmt *i = ls_unrolled(loop(5, j), 5);
	assert_int_equal(llvm_loop_hint(wo), LOOP_ANY);
	assert_int_equal(llvm_loop_hint(j), LOOP_NO_VECTORIZE);
	assert_int_equal(llvm_loop_hint(i), LOOP_NO_VECTORIZE);
}

/* The data gradient: for i, j < 5 { for ho, wo < 7 { ... } }: only the
 * row loop may vectorize, whatever LLVM unrolls. */
static void depthwise_data_gradient(void **state)
{
	(void)state;
	LStmt *wo = loop(7, work());
	LStmt *ho = loop(7, wo);
	LStmt *j = loop(5, ho);
	LStmt *i = loop(5, j);
	assert_int_equal(llvm_loop_hint(wo), LOOP_ANY);
	assert_int_equal(llvm_loop_hint(ho), LOOP_NO_VECTORIZE);
	assert_int_equal(llvm_loop_hint(j), LOOP_NO_VECTORIZE);
	assert_int_equal(llvm_loop_hint(i), LOOP_NO_VECTORIZE);
}

/* A pooling window: for wo < 14 { for i, j < 3 (unrolled) }: the taps
 * unroll fully, and the row around them, a loop with only unrolled
 * loops inside, may vectorize once they have. */
static void pooling_window(void **state)
{
	(void)state;
	LStmt *j = ls_unrolled(loop(3, work()), 3);
	LStmt *i = ls_unrolled(loop(3, j), 3);
	LStmt *wo = loop(14, i);
	assert_int_equal(llvm_loop_hint(j), LOOP_UNROLL);
	assert_int_equal(llvm_loop_hint(i), LOOP_UNROLL);
	assert_int_equal(llvm_loop_hint(wo), LOOP_ANY);
}

/* A loop that sums may vectorize; one with a loop inside an IF is an
 * outer loop all the same. */
static void sums_and_ifs(void **state)
{
	(void)state;
	int acc = lp_var(&prog, "acc", LT_REAL);
	int v = lp_var(&prog, "w", LT_INT);
	LStmt *sum = ls_rfor(&prog, v, lx_int(&prog, 0), lx_int(&prog, 14),
			     ls_set(&prog, acc, lx_load(&prog, buf, lx_var(&prog, v))), 1, &acc);
	assert_int_equal(llvm_loop_hint(sum), LOOP_VECTORIZE);
	LStmt *inner = loop(4, work());
	LStmt *guarded = loop(8, ls_if(&prog, lx_int(&prog, 1), NULL, inner));
	assert_int_equal(llvm_loop_hint(guarded), LOOP_NO_VECTORIZE);
	LStmt *plain = loop(8, ls_if(&prog, lx_int(&prog, 1), work(), NULL));
	assert_int_equal(llvm_loop_hint(plain), LOOP_ANY);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(depthwise_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(depthwise_data_gradient, setup, teardown),
		cmocka_unit_test_setup_teardown(pooling_window, setup, teardown),
		cmocka_unit_test_setup_teardown(sums_and_ifs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
