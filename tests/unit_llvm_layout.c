/* unit_llvm_layout.c - the LLVM backend lays out nasrt.h's structs as the
 * C compiler does: every field's byte offset (nested structs flattened),
 * and the size, from emit_llvm_layout against offsetof and sizeof.  The
 * backend builds nas_program and reads NasRun by these offsets, so a
 * field added to nasrt.h and not to emit_llvm.c fails here by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "emit_llvm.h"
#include "nasrt.h"

#define OFF(type, field) {#field, (int64_t)offsetof(type, field)}

typedef struct Field {
	const char *name;
	int64_t off;
} Field;

static void check(const char *name, const Field *want, int n, int64_t size)
{
	int64_t got[128];
	int k = emit_llvm_layout(name, got, 128);
	assert_int_equal(k, n + 1);
	int bad = 0;
	for (int i = 0; i < n; i++)
		if (got[i] != want[i].off) {
			print_message("# %s.%s: LLVM puts it at %lld, C at %lld\n", name, want[i].name,
				      (long long)got[i], (long long)want[i].off);
			bad++;
		}
	if (got[n] != size)
		print_message("# %s: LLVM's size %lld, C's %lld\n", name, (long long)got[n],
			      (long long)size);
	print_message("# %s: %d fields, %lld bytes\n", name, n, (long long)size);
	assert_int_equal(bad, 0);
	assert_int_equal(got[n], size);
}

#define CHECK(type, ...)                                                                          \
	do {                                                                                      \
		const Field f_[] = {__VA_ARGS__};                                                 \
		check(#type, f_, (int)(sizeof f_ / sizeof *f_), (int64_t)sizeof(type));           \
	} while (0)

static void test_run(void **state)
{
	(void)state;
	CHECK(NasRun, OFF(NasRun, params), OFF(NasRun, x), OFF(NasRun, y), OFF(NasRun, arena),
	      OFF(NasRun, seed), OFF(NasRun, step), OFF(NasRun, grads), OFF(NasRun, logits),
	      OFF(NasRun, loss), OFF(NasRun, running), OFF(NasRun, bn_momentum), OFF(NasRun, drop),
	      OFF(NasRun, tangent), OFF(NasRun, ntangents));
}

static void test_tables(void **state)
{
	(void)state;
	CHECK(NasTensor, OFF(NasTensor, name), OFF(NasTensor, kind), OFF(NasTensor, rank),
	      OFF(NasTensor, shape[0]), OFF(NasTensor, shape[1]), OFF(NasTensor, shape[2]),
	      OFF(NasTensor, shape[3]), OFF(NasTensor, numel), OFF(NasTensor, offset),
	      OFF(NasTensor, fan_in));
	CHECK(NasEdge, OFF(NasEdge, from), OFF(NasEdge, to), OFF(NasEdge, stride),
	      OFF(NasEdge, nops), OFF(NasEdge, ops));
	CHECK(NasCellType, OFF(NasCellType, name), OFF(NasCellType, alpha), OFF(NasCellType, nodes),
	      OFF(NasCellType, nedges), OFF(NasCellType, edges), OFF(NasCellType, nops),
	      OFF(NasCellType, keep), OFF(NasCellType, nexclude), OFF(NasCellType, exclude),
	      OFF(NasCellType, noutputs), OFF(NasCellType, outputs), OFF(NasCellType, ncells));
}

static void test_schedule(void **state)
{
	(void)state;
	typedef NasSchedule S;
	CHECK(NasSchedule, OFF(S, epochs), OFF(S, batch), OFF(S, seed), OFF(S, split),
	      OFF(S, second_order), OFF(S, weights.lr), OFF(S, weights.lr_min),
	      OFF(S, weights.momentum), OFF(S, weights.clip), OFF(S, weights.nesterov),
	      OFF(S, weights.cosine), OFF(S, arch.lr), OFF(S, arch.beta1), OFF(S, arch.beta2),
	      OFF(S, arch.eps), OFF(S, arch.weight_decay), OFF(S, l2), OFF(S, drop_path.prob),
	      OFF(S, drop_path.ramp), OFF(S, cutout.prob), OFF(S, cutout.length),
	      OFF(S, cutout.ramp), OFF(S, crop), OFF(S, flip), OFF(S, hessian.mode),
	      OFF(S, hessian.every), OFF(S, hessian.iters), OFF(S, controller.kind),
	      OFF(S, controller.factor), OFF(S, controller.window), OFF(S, controller.k),
	      OFF(S, controller.start), OFF(S, controller.eta), OFF(S, controller.max),
	      OFF(S, controller.knob));
}

static void test_program(void **state)
{
	(void)state;
	typedef NasProgram P;
	typedef NasSchedule S;
	/* the schedule's fields inside the program, flattened as the backend does */
#define SCHED(f) {"schedule." #f, (int64_t)(offsetof(P, schedule) + offsetof(S, f))}
	CHECK(NasProgram, OFF(P, spec), OFF(P, config), OFF(P, nasc_version), OFF(P, real_size),
	      OFF(P, batch), OFF(P, in_c), OFF(P, in_h), OFF(P, in_w), OFF(P, classes),
	      OFF(P, ntensors), OFF(P, tensors), OFF(P, nparams), OFF(P, nrunning_tensors),
	      OFF(P, running_tensors), OFF(P, nrunning), OFF(P, ndrop), OFF(P, arena_bytes),
	      OFF(P, flops), SCHED(epochs), SCHED(batch), SCHED(seed), SCHED(split),
	      SCHED(second_order), SCHED(weights.lr), SCHED(weights.lr_min),
	      SCHED(weights.momentum), SCHED(weights.clip), SCHED(weights.nesterov),
	      SCHED(weights.cosine), SCHED(arch.lr), SCHED(arch.beta1), SCHED(arch.beta2),
	      SCHED(arch.eps), SCHED(arch.weight_decay), SCHED(l2), SCHED(drop_path.prob),
	      SCHED(drop_path.ramp), SCHED(cutout.prob), SCHED(cutout.length), SCHED(cutout.ramp),
	      SCHED(crop), SCHED(flip), SCHED(hessian.mode), SCHED(hessian.every),
	      SCHED(hessian.iters), SCHED(controller.kind), SCHED(controller.factor),
	      SCHED(controller.window), SCHED(controller.k), SCHED(controller.start),
	      SCHED(controller.eta), SCHED(controller.max), SCHED(controller.knob),
	      OFF(P, ncell_types), OFF(P, cell_types), OFF(P, grad), OFF(P, loss),
	      OFF(P, grad_alpha), OFF(P, infer), OFF(P, hvp_arena_bytes), OFF(P, mixed_arena_bytes),
	      OFF(P, hvp_block), OFF(P, hvp_prepare), OFF(P, hvp), OFF(P, hvp_on),
	      OFF(P, mixed_prepare), OFF(P, mixed));
#undef SCHED
}

static void test_unknown(void **state)
{
	(void)state;
	int64_t off[4];
	assert_int_equal(emit_llvm_layout("NasNothing", off, 4), -1);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_program),
		cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
