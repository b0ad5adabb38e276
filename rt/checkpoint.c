/* checkpoint.c - a search's state in one file (see checkpoint.h).
 *
 * The tensors: the program's parameters under their names, the running
 * statistics under theirs, and the optimizers' buffers, each flattened
 * over its tensors in table order: optim.sgd.momentum (when momentum is
 * on), optim.adam.m and optim.adam.v.  The metadata, all text: format,
 * spec, config, nasc_version, real, epoch, wall, sgd_steps, adam_steps,
 * settings (sched_write_json), data, subset, ntrain, nval, mean, std,
 * log_records and, when curvature is tracked, robust (robust.c's state).
 * A checkpoint without log_records (written before rollbacks existed) has
 * one log record per epoch. */
#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "schedule.h"
#include "state.h"

#define FORMAT "nasc checkpoint 1"

static const char *real_name(int real_size)
{
	return real_size == 8 ? "f64" : "f32";
}

/* A one-tensor table for an optimizer buffer of n reals. */
static NasTensor flat(const char *name, int64_t n)
{
	return (NasTensor){.name = name, .kind = NAS_CONV, .rank = 1, .shape = {n}, .numel = n};
}

static void list(char *buf, size_t n, const double *v, int64_t k)
{
	size_t off = 0;
	buf[0] = '\0';
	for (int64_t i = 0; i < k && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%.17g", i ? "," : "", v[i]);
}

int checkpoint_save(const Search *s, const char *path, char *err, size_t errlen)
{
	const NasProgram *p = s->p;
	const SearchConfig *c = &s->cfg;
	char epoch[32], wall[32], sgd[32], adam[32], subset[32], ntrain[32], nval[32], records[32];
	char mean[DATA_MAX_C * 26], std[DATA_MAX_C * 26];
	snprintf(epoch, sizeof epoch, "%" PRId64, s->epoch);
	snprintf(wall, sizeof wall, "%.17g", s->wall);
	snprintf(sgd, sizeof sgd, "%" PRId64, s->sgd.steps);
	snprintf(adam, sizeof adam, "%" PRId64, s->adam.t);
	snprintf(subset, sizeof subset, "%" PRId64, c->subset);
	snprintf(ntrain, sizeof ntrain, "%" PRId64, c->ntrain);
	snprintf(nval, sizeof nval, "%" PRId64, c->nval);
	snprintf(records, sizeof records, "%" PRId64, s->log_records);
	list(mean, sizeof mean, c->mean, p->in_c);
	list(std, sizeof std, c->std, p->in_c);
	char *settings = NULL;
	size_t settings_len = 0;
	FILE *mf = open_memstream(&settings, &settings_len);
	if (!mf)
		return st_errorf(err, errlen, path, "out of memory");
	sched_write_json(mf, &c->s);
	if (fclose(mf) != 0) {
		free(settings);
		return st_errorf(err, errlen, path, "out of memory");
	}
	const char *const kv[] = {
		"format", FORMAT, "real", real_name(p->real_size), "epoch", epoch, "wall", wall,
		"sgd_steps", sgd, "adam_steps", adam, "settings", settings, "data", c->data,
		"subset", subset, "ntrain", ntrain, "nval", nval, "mean", mean, "std", std,
		"log_records", records, "robust", s->robust ? s->robust : "",
	};
	StDtype dt = p->real_size == 8 ? ST_F64 : ST_F32;
	int64_t nw = nas_set_numel(p, NAS_WEIGHTS), na = nas_set_numel(p, NAS_ALPHAS);
	NasTensor sgd_t = flat("optim.sgd.momentum", nw), m_t = flat("optim.adam.m", na),
		  v_t = flat("optim.adam.v", na);
	StFile f;
	st_init(&f);
	int nkv = (int)(sizeof kv / sizeof kv[0] / 2) - (s->robust ? 0 : 1);
	int rc = state_begin(p, &f, path, kv, nkv, err, errlen);
	if (rc == 0)
		rc = state_add_tensors(&f, path, p->tensors, p->ntensors, s->params, p->real_size, dt,
				       err, errlen);
	if (rc == 0)
		rc = state_add_tensors(&f, path, p->running_tensors, p->nrunning_tensors, s->running,
				       p->real_size, dt, err, errlen);
	if (rc == 0 && s->sgd.buf)
		rc = state_add_tensors(&f, path, &sgd_t, 1, s->sgd.buf, p->real_size, dt, err, errlen);
	if (rc == 0)
		rc = state_add_tensors(&f, path, &m_t, 1, s->adam.m, p->real_size, dt, err, errlen);
	if (rc == 0)
		rc = state_add_tensors(&f, path, &v_t, 1, s->adam.v, p->real_size, dt, err, errlen);
	if (rc == 0)
		rc = st_write(path, &f, err, errlen);
	st_free(&f);
	free(settings);
	return rc;
}

/* ---- loading ---- */

static const char *meta(const StFile *f, const char *path, const char *key, char *err,
			size_t errlen)
{
	const char *v = st_meta(f, key);
	if (!v)
		st_errorf(err, errlen, path, "not a complete checkpoint: metadata %s is missing", key);
	return v;
}

static int int_meta(const StFile *f, const char *path, const char *key, int64_t lo,
		    int64_t *out, char *err, size_t errlen)
{
	const char *v = meta(f, path, key, err, errlen);
	if (!v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo)
		return st_errorf(err, errlen, path, "metadata %s = '%s' is not an integer of at "
			    "least %" PRId64, key, v, lo);
	*out = x;
	return 0;
}

static int list_meta(const StFile *f, const char *path, const char *key, double *out, int64_t n,
		     char *err, size_t errlen)
{
	const char *v = meta(f, path, key, err, errlen);
	if (!v)
		return -1;
	for (int64_t i = 0; i < n; i++) {
		char *end;
		out[i] = strtod(v, &end);
		if (end == v || (i + 1 < n ? *end != ',' : *end != '\0'))
			return st_errorf(err, errlen, path, "metadata %s = '%s' is not %" PRId64
				    " numbers", key, st_meta(f, key), n);
		v = end + 1;
	}
	return 0;
}

static int check_identity(const NasProgram *p, const StFile *f, const char *path, char *err,
			  size_t errlen)
{
	const char *fmt = st_meta(f, "format");
	if (!fmt || strcmp(fmt, FORMAT) != 0)
		return st_errorf(err, errlen, path, "not a nasc checkpoint (metadata format is %s%s%s)",
			    fmt ? "'" : "", fmt ? fmt : "missing", fmt ? "'" : "");
	const char *spec = meta(f, path, "spec", err, errlen);
	const char *config = spec ? meta(f, path, "config", err, errlen) : NULL;
	const char *real = config ? meta(f, path, "real", err, errlen) : NULL;
	if (!real)
		return -1;
	if (strcmp(spec, p->spec) != 0 || strcmp(config, p->config) != 0)
		return st_errorf(err, errlen, path, "a checkpoint of %s (%s); this binary searches %s "
			    "(%s)", spec, config, p->spec, p->config);
	if (strcmp(real, real_name(p->real_size)) != 0)
		return st_errorf(err, errlen, path, "a checkpoint of an %s build; this binary is %s",
			    real, real_name(p->real_size));
	return 0;
}

static int read_config(const NasProgram *p, const StFile *f, const char *path, SearchConfig *c,
		       char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->s = p->schedule;
	const char *settings = meta(f, path, "settings", err, errlen);
	const char *data = settings ? meta(f, path, "data", err, errlen) : NULL;
	if (!data)
		return -1;
	char why[512];
	if (sched_read_json(&c->s, settings, why, sizeof why) != 0)
		return st_errorf(err, errlen, path, "metadata settings: %s", why);
	if (strlen(data) >= sizeof c->data)
		return st_errorf(err, errlen, path, "metadata data is too long");
	strcpy(c->data, data);
	if (int_meta(f, path, "subset", 0, &c->subset, err, errlen) != 0 ||
	    int_meta(f, path, "ntrain", 1, &c->ntrain, err, errlen) != 0 ||
	    int_meta(f, path, "nval", 1, &c->nval, err, errlen) != 0 ||
	    list_meta(f, path, "mean", c->mean, p->in_c, err, errlen) != 0 ||
	    list_meta(f, path, "std", c->std, p->in_c, err, errlen) != 0)
		return -1;
	return 0;
}

int checkpoint_load(const NasProgram *p, const char *path, Search *s, char *err, size_t errlen)
{
	StFile f;
	memset(s, 0, sizeof *s);
	if (st_read(path, &f, err, errlen) != 0)
		return -1;
	SearchConfig c;
	int64_t epoch, sgd_steps, adam_steps;
	int rc = check_identity(p, &f, path, err, errlen);
	if (rc == 0)
		rc = read_config(p, &f, path, &c, err, errlen);
	if (rc == 0 && (int_meta(&f, path, "epoch", 0, &epoch, err, errlen) != 0 ||
			int_meta(&f, path, "sgd_steps", 0, &sgd_steps, err, errlen) != 0 ||
			int_meta(&f, path, "adam_steps", 0, &adam_steps, err, errlen) != 0))
		rc = -1;
	const char *wall = rc == 0 ? meta(&f, path, "wall", err, errlen) : NULL;
	if (rc == 0 && !wall)
		rc = -1;
	if (rc == 0 && epoch > c.s.epochs)
		rc = st_errorf(err, errlen, path, "epoch %" PRId64 " is past the search's %" PRId64
			  " epochs", epoch, c.s.epochs);
	if (rc == 0 && search_init(s, p, &c) != 0)
		rc = st_errorf(err, errlen, path, "out of memory, or optimizer settings out of range");
	if (rc == 0) {
		int64_t nw = nas_set_numel(p, NAS_WEIGHTS), na = nas_set_numel(p, NAS_ALPHAS);
		NasTensor sgd_t = flat("optim.sgd.momentum", nw), m_t = flat("optim.adam.m", na),
			  v_t = flat("optim.adam.v", na);
		if (state_read_tensors(p, path, &f, p->tensors, p->ntensors, s->params, err,
				       errlen) != 0 ||
		    state_read_tensors(p, path, &f, p->running_tensors, p->nrunning_tensors,
				       s->running, err, errlen) != 0 ||
		    (s->sgd.buf && state_read_tensors(p, path, &f, &sgd_t, 1, s->sgd.buf, err,
						      errlen) != 0) ||
		    state_read_tensors(p, path, &f, &m_t, 1, s->adam.m, err, errlen) != 0 ||
		    state_read_tensors(p, path, &f, &v_t, 1, s->adam.v, err, errlen) != 0)
			rc = -1;
		s->epoch = epoch;
		s->wall = strtod(wall, NULL);
		s->log_records = epoch;
		if (st_meta(&f, "log_records") &&
		    int_meta(&f, path, "log_records", 0, &s->log_records, err, errlen) != 0)
			rc = -1;
		const char *robust = st_meta(&f, "robust");
		if (rc == 0 && robust && !(s->robust = strdup(robust)))
			rc = st_errorf(err, errlen, path, "out of memory");
		s->sgd.steps = sgd_steps;
		s->adam.t = adam_steps;
		if (rc != 0)
			search_free(s);
	}
	st_free(&f);
	return rc;
}
