/* progress.c - progress of a search on stderr (see progress.h). */
#include "progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(Progress *pg, FILE *out, const char *bin)
{
	memset(pg, 0, sizeof *pg);
	pg->out = out;
	pg->bin = bin;
	pg->tty = isatty(fileno(out));
}

void progress_epoch(Progress *pg, int64_t epoch, int64_t epochs)
{
	pg->epoch = epoch;
	pg->epochs = epochs;
	pg->t0 = now_s();
	pg->last = 0;
	pg->quarter = 0;
}

const char *progress_duration(char *buf, size_t n, double s)
{
	if (!(s >= 0) || s > 1e8)
		snprintf(buf, n, "?");
	else if (s >= 3600)
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	else if (s >= 60)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, n, "%.1fs", s);
	return buf;
}

void progress_step(Progress *pg, int64_t step, int64_t steps, double loss, double acc)
{
	double t = now_s(), el = t - pg->t0;
	char eta[32];
	progress_duration(eta, sizeof eta, el / (double)step * (double)(steps - step));
	if (pg->tty) {
		/* At most ten redraws a second, and always the last step. */
		if (step < steps && t - pg->last < 0.1)
			return;
		pg->last = t;
		enum { W = 24 };
		char bar[W + 1];
		int fill = (int)((double)W * (double)step / (double)steps);
		for (int i = 0; i < W; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[W] = '\0';
		fprintf(pg->out, "\r%s: epoch %lld/%lld [%s] %lld/%lld  loss %.3f  acc %.1f%%  "
			"%.1f steps/s  %s left\033[K", pg->bin, (long long)pg->epoch + 1,
			(long long)pg->epochs, bar, (long long)step, (long long)steps, loss,
			100 * acc, (double)step / (el > 0 ? el : 1e-9), eta);
		fflush(pg->out);
		return;
	}
	int64_t q = 4 * step / steps;
	if (q > pg->quarter && step < steps) {
		pg->quarter = q;
		fprintf(pg->out, "%s: epoch %lld/%lld: step %lld/%lld, loss %.3f, acc %.1f%%, %s "
			"left in the epoch\n", pg->bin, (long long)pg->epoch + 1,
			(long long)pg->epochs, (long long)step, (long long)steps, loss, 100 * acc, eta);
		fflush(pg->out);
	}
}

void progress_clear(Progress *pg)
{
	if (pg->tty) {
		fputs("\r\033[K", pg->out);
		fflush(pg->out);
	}
}
