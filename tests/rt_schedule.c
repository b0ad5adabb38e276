/* rt_schedule.c - a search's settings (rt/schedule.c): the learning rate and
 * ramps against values worked out by hand, every kind of setting set by
 * name and refused with a message that says why, and the settings'
 * JSON read back exactly; and the run log's truncation on resume
 * (rt/runlog.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runlog.h"
#include "schedule.h"

static NasSchedule base(void)
{
	NasSchedule s;
	memset(&s, 0, sizeof s);
	s.epochs = 50;
	s.batch = 64;
	s.seed = 2;
	s.split = 0.5;
	s.weights.lr = 0.025;
	s.weights.lr_min = 0.001;
	s.weights.momentum = 0.9;
	s.weights.clip = 5;
	s.weights.cosine = 1;
	s.arch.lr = 3e-4;
	s.arch.beta1 = 0.5;
	s.arch.beta2 = 0.999;
	s.arch.eps = 1e-8;
	s.arch.weight_decay = 1e-3;
	s.l2 = 3e-4;
	s.cutout.length = 16;
	s.hessian.every = 2;
	s.hessian.iters = 20;
	s.controller.factor = 1.3;
	s.controller.window = 5;
	s.controller.k = 4;
	s.controller.start = 10;
	s.controller.eta = 10;
	s.controller.max = 3e-2;
	return s;
}

static void test_cosine(void **state)
{
	(void)state;
	NasSchedule s = base();
	/* e = 0: cos 0 = 1, the full rate */
	assert_true(fabs(sched_lr(&s, 0) - 0.025) < 1e-15);
	/* e = 25 of 50: cos(pi/2) = 0, the midpoint 0.013 */
	assert_true(fabs(sched_lr(&s, 25) - 0.013) < 1e-15);
	/* e = 49: 0.001 + 0.024 (1 + cos(0.98 pi)) / 2 = 0.0010236805... */
	double want = 0.001 + 0.024 * (1 + cos(0.98 * 3.14159265358979323846)) / 2;
	assert_true(fabs(sched_lr(&s, 49) - want) < 1e-15);
	assert_true(fabs(want - 0.00102368) < 1e-8);
	/* e = 10 of 50: cos(pi/5) = 0.80901699...: 0.001 + 0.012 * 1.80901699 */
	assert_true(fabs(sched_lr(&s, 10) - 0.02270820393249937) < 1e-15);
	/* decreasing */
	for (int e = 1; e < 50; e++)
		assert_true(sched_lr(&s, e) < sched_lr(&s, e - 1));
	s.weights.cosine = 0;
	assert_true(sched_lr(&s, 37) == 0.025);
}

static void test_ramp(void **state)
{
	(void)state;
	assert_true(sched_ramp(0.3, NAS_RAMP_NONE, 7, 50) == 0.3);
	assert_true(sched_ramp(0.3, NAS_RAMP_LINEAR, 0, 50) == 0);
	assert_true(fabs(sched_ramp(0.3, NAS_RAMP_LINEAR, 25, 50) - 0.15) < 1e-16);
	assert_true(fabs(sched_ramp(0.2, NAS_RAMP_LINEAR, 49, 50) - 0.196) < 1e-16);
}

static void refused(const char *pair, const char *needle)
{
	NasSchedule s = base(), before = s;
	char err[256] = "";
	if (sched_set_pair(&s, pair, err, sizeof err) != -1)
		fail_msg("%s was accepted", pair);
	if (!strstr(err, needle))
		fail_msg("%s: message '%s' lacks '%s'", pair, err, needle);
	assert_memory_equal(&s, &before, sizeof s);
}

static void test_set(void **state)
{
	(void)state;
	NasSchedule s = base();
	char err[256];
	assert_int_equal(sched_set_pair(&s, "weights.lr=0.05", err, sizeof err), 0);
	assert_true(s.weights.lr == 0.05);
	assert_int_equal(sched_set_pair(&s, "epochs=7", err, sizeof err), 0);
	assert_int_equal(s.epochs, 7);
	assert_int_equal(sched_set_pair(&s, "flip=true", err, sizeof err), 0);
	assert_int_equal(s.flip, 1);
	assert_int_equal(sched_set_pair(&s, "weights.nesterov=1", err, sizeof err), 0);
	assert_int_equal(s.weights.nesterov, 1);
	assert_int_equal(sched_set_pair(&s, "cutout.ramp=linear", err, sizeof err), 0);
	assert_int_equal(s.cutout.ramp, NAS_RAMP_LINEAR);
	assert_int_equal(sched_set_pair(&s, "weights.schedule=constant", err, sizeof err), 0);
	assert_int_equal(s.weights.cosine, 0);
	assert_int_equal(sched_set_pair(&s, "controller.kind=ada", err, sizeof err), 0);
	assert_int_equal(s.controller.kind, NAS_CTRL_ADA);
	assert_int_equal(sched_set_pair(&s, "l2=0", err, sizeof err), 0);
	assert_true(s.l2 == 0);

	refused("weights.lrr=1", "did you mean 'weights.lr'");
	refused("nothing_like_it_at_all=1", "unknown setting");
	refused("weights.lr=0", "out of range");
	refused("weights.lr=-1", "out of range");
	refused("split=1", "out of range");
	refused("epochs=2.5", "needs an integer");
	refused("epochs=many", "needs a number");
	refused("flip=yes", "true or false");
	refused("cutout.ramp=cubic", "none or linear");
	refused("arch.beta1=1", "out of range");
	refused("weights.lr", "NAME=VALUE");
	refused("=3", "NAME=VALUE");
	refused("l2=nan", "needs a number");
	refused("l2=1e999", "needs a number");
}

static void test_json_round_trip(void **state)
{
	(void)state;
	NasSchedule s = base(), t;
	char err[256];
	assert_int_equal(sched_set_pair(&s, "weights.lr=0.1234567890123456789", err, sizeof err), 0);
	assert_int_equal(sched_set_pair(&s, "drop_path.ramp=linear", err, sizeof err), 0);
	assert_int_equal(sched_set_pair(&s, "crop=4", err, sizeof err), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	sched_write_json(f, &s);
	fclose(f);
	memset(&t, 0xab, sizeof t);
	t = base();
	assert_int_equal(sched_read_json(&t, buf, err, sizeof err), 0);
	assert_memory_equal(&s, &t, sizeof s);
	/* a setting missing from the text is an error */
	char *cut = strstr(buf, "\"flip\"");
	assert_non_null(cut);
	memcpy(cut, "\"flop\"", 6);
	assert_int_equal(sched_read_json(&t, buf, err, sizeof err), -1);
	assert_non_null(strstr(err, "flip"));
	free(buf);
}

/* ---- the log ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_log_truncate(void **state)
{
	(void)state;
	char dir[] = "/tmp/rt_sched.XXXXXX", path[64], err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/log.jsonl", dir);
	/* missing: an empty log */
	assert_int_equal(runlog_truncate(path, 3, err, sizeof err), 0);
	write_file(path, "{\"epoch\": 0, \"a\": 1}\n{\"epoch\": 1}\n{\"epoch\": 2}\n{\"epoch\": 3}\n");
	assert_int_equal(runlog_truncate(path, 2, err, sizeof err), 2);
	assert_string_equal(read_file(path), "{\"epoch\": 0, \"a\": 1}\n{\"epoch\": 1}\n");
	/* a last line cut short by a crash is dropped */
	write_file(path, "{\"epoch\": 0}\n{\"epoch\": 1, \"val");
	assert_int_equal(runlog_truncate(path, 5, err, sizeof err), 1);
	assert_string_equal(read_file(path), "{\"epoch\": 0}\n");
	/* a whole line that is no record is refused, the file untouched */
	write_file(path, "{\"epoch\": 0}\nhello\n{\"epoch\": 1}\n");
	assert_int_equal(runlog_truncate(path, 5, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 2"));
	assert_string_equal(read_file(path), "{\"epoch\": 0}\nhello\n{\"epoch\": 1}\n");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cosine),
		cmocka_unit_test(test_ramp),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_log_truncate),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
