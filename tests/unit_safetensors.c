/* unit_safetensors.c - the safetensors reader and writer of libnasrt:
 * round trips, one hand-assembled file pinning the exact bytes, one test
 * per kind of corruption (each checking the words of the message), and
 * atomic writes that leave an existing file alone when they fail. All
 * files live in a mkdtemp folder removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safetensors.h"
#include "files.h"

/* A path inside the temporary folder (two rotating buffers). */
static const char *at(const char *name)
{
	static char buf[2][1024];
	static int k;
	k ^= 1;
	snprintf(buf[k], sizeof buf[k], "%s/%s", files_dir, name);
	return buf[k];
}

/* A file with an 8-byte length hlen, then the header text, then ndata
 * bytes of data (0xAB). */
static const char *raw_len(const char *name, uint64_t hlen, const char *hdr, size_t ndata)
{
	size_t n = strlen(hdr);
	unsigned char *buf = malloc(8 + n + ndata);
	assert_non_null(buf);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(buf + 8, hdr, n);
	memset(buf + 8 + n, 0xAB, ndata);
	const char *path = at(name);
	files_put(path, buf, 8 + n + ndata);
	free(buf);
	return path;
}

/* The same with the true header length. */
static const char *raw(const char *name, const char *hdr, size_t ndata)
{
	return raw_len(name, strlen(hdr), hdr, ndata);
}

/* st_read of path fails with a message naming the file and containing
 * every given word (NULL-terminated). */
static void expect_fail(const char *path, ...)
{
	char err[512] = "";
	StFile f;
	int rc = st_read(path, &f, err, sizeof err);
	va_list ap;
	va_start(ap, path);
	files_expect_message(err, path, ap);
	va_end(ap);
	assert_int_equal(rc, -1);
	assert_int_equal(f.ntensors, 0);
	assert_null(f.tensors);
}

static void expect_no_leftovers(const char *folder, int nfiles)
{
	DIR *dp = opendir(folder);
	assert_non_null(dp);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strstr(de->d_name, ".tmp."))
			fail_msg("temporary file %s left behind", de->d_name);
		n++;
	}
	closedir(dp);
	assert_int_equal(n, nfiles);
}

/* A small StFile with all three dtypes, a scalar, an empty tensor, names
 * out of alphabetical order and two metadata pairs. */
static void sample(StFile *f)
{
	st_init(f);
	float w[6] = {1.5f, -0.0f, 3.25f, 1e-30f, -7.0f, 0.1f};
	double b[3] = {1.0 / 3.0, -2.5e300, 4.0};
	int64_t step = -1234567890123LL;
	float a[2] = {9.0f, 8.0f};
	int64_t sw[] = {2, 3}, sb[] = {3}, sz[] = {0, 4}, sa[] = {1, 1, 2};
	assert_int_equal(st_add(f, "w", ST_F32, 2, sw, w), 0);
	assert_int_equal(st_add(f, "b", ST_F64, 1, sb, b), 0);
	assert_int_equal(st_add(f, "step", ST_I64, 0, NULL, &step), 0);
	assert_int_equal(st_add(f, "z", ST_F32, 2, sz, NULL), 0);
	assert_int_equal(st_add(f, "a", ST_F32, 3, sa, a), 0);
	assert_int_equal(st_set_meta(f, "format", "pt"), 0);
	assert_int_equal(st_set_meta(f, "epoch", "3"), 0);
}

static void assert_same(const StFile *x, const StFile *y)
{
	assert_int_equal(x->ntensors, y->ntensors);
	for (size_t i = 0; i < x->ntensors; i++) {
		const StTensor *s = &x->tensors[i], *t = &y->tensors[i];
		assert_string_equal(s->name, t->name);
		assert_int_equal(s->dtype, t->dtype);
		assert_int_equal(s->rank, t->rank);
		for (int d = 0; d < s->rank; d++)
			assert_int_equal(s->shape[d], t->shape[d]);
		assert_int_equal(s->numel, t->numel);
		assert_int_equal(s->nbytes, t->nbytes);
		assert_memory_equal(s->data, t->data, s->nbytes);
	}
	assert_int_equal(x->nmeta, y->nmeta);
	for (size_t i = 0; i < x->nmeta; i++) {
		assert_string_equal(x->meta[i].key, y->meta[i].key);
		assert_string_equal(x->meta[i].value, y->meta[i].value);
	}
}

/* f to path and back into g, which must hold the same. */
static void write_read(const char *path, const StFile *f, StFile *g)
{
	char err[512] = "";
	if (st_write(path, f, err, sizeof err) != 0)
		fail_msg("%s", err);
	if (st_read(path, g, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_same(f, g);
}

static void test_round_trip(void **state)
{
	(void)state;
	char err[512] = "";
	StFile f, g;
	sample(&f);
	const char *p = at("rt.safetensors");
	write_read(p, &f, &g);
	assert_string_equal(g.tensors[4].name, "a");
	assert_string_equal(st_meta(&g, "format"), "pt");
	assert_null(st_meta(&g, "nope"));
	const StTensor *t = st_find(&g, "step");
	assert_non_null(t);
	assert_int_equal(t->rank, 0);
	assert_int_equal(*(const int64_t *)t->data, -1234567890123LL);
	assert_null(st_find(&g, "missing"));

	size_t n;
	unsigned char *bytes = files_get(p, &n);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | bytes[i];
	assert_int_equal(hlen % 8, 0);
	assert_int_equal(n, 8 + hlen + 24 + 24 + 8 + 0 + 8);
	assert_int_equal(bytes[8], '{');
	free(bytes);

	/* Writing again over the file (and reading that) changes nothing. */
	if (st_write(p, &g, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&g);
	if (st_read(p, &g, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_same(&f, &g);
	st_free(&f);
	st_free(&g);
	assert_int_equal(f.ntensors, 0);
	unlink(p);
	expect_no_leftovers(files_dir, 0);
}

/* The integer types datasets use: sizes, spellings in the header, values
 * back byte for byte (odd sizes, so nothing is padded). */
static void test_int_dtypes(void **state)
{
	(void)state;
	static const struct {
		StDtype dt;
		const char *name;
		size_t size;
	} all[] = {
		{ST_U8, "U8", 1}, {ST_I8, "I8", 1}, {ST_U16, "U16", 2}, {ST_I16, "I16", 2},
		{ST_U32, "U32", 4}, {ST_I32, "I32", 4}, {ST_U64, "U64", 8}, {ST_I64, "I64", 8},
	};
	StFile f, g;
	st_init(&f);
	unsigned char bytes[3 * 8];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (unsigned char)(0xF1 - 7 * i);
	int64_t s3[] = {3};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		assert_int_equal(st_dtype_size(all[i].dt), all[i].size);
		assert_string_equal(st_dtype_name(all[i].dt), all[i].name);
		assert_true(st_dtype_is_int(all[i].dt));
		assert_int_equal(st_add(&f, all[i].name, all[i].dt, 1, s3, bytes), 0);
	}
	assert_false(st_dtype_is_int(ST_F32));
	assert_false(st_dtype_is_int(ST_F64));
	const char *p = at("ints.safetensors");
	write_read(p, &f, &g);
	size_t n;
	unsigned char *file = files_get(p, &n);
	file[n - 1] = 0; /* the header is text before the data; a 0 ends it */
	for (size_t i = 8; i < n - 1; i++)
		if (file[i] < ' ')
			file[i] = 0;
	assert_non_null(strstr((const char *)file + 8, "\"dtype\":\"U16\""));
	free(file);
	st_free(&f);
	st_free(&g);
}

static void test_empty_file_round_trip(void **state)
{
	(void)state;
	char err[512] = "";
	StFile f, g;
	st_init(&f);
	const char *p = at("empty.safetensors");
	assert_int_equal(st_write(p, &f, err, sizeof err), 0);
	size_t n;
	unsigned char *bytes = files_get(p, &n);
	assert_int_equal(n, 16);
	assert_memory_equal(bytes, "\x08\0\0\0\0\0\0\0{}      ", 16);
	free(bytes);
	if (st_read(p, &g, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(g.ntensors, 0);
	assert_int_equal(g.nmeta, 0);
	st_free(&g);
	unlink(p);
}

/* The format pinned by hand: length 136 (133 bytes of JSON plus 3 spaces),
 * keys in insertion order with the metadata first, then 1.0f, -2.0f and
 * the int64 5, little-endian. */
static const char expected_hdr[] =
	"{\"__metadata__\":{\"k\":\"v\"},"
	"\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	"\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}   ";
static const unsigned char expected_len[8] = {0x88, 0, 0, 0, 0, 0, 0, 0};
static const unsigned char expected_data[16] = {
	0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
	0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_exact_bytes(void **state)
{
	(void)state;
	assert_int_equal(sizeof expected_hdr - 1, 136);
	char err[512] = "";
	StFile f, g;
	st_init(&f);
	float a[2] = {1.0f, -2.0f};
	int64_t b = 5, sa[] = {2}, sb[] = {1};
	assert_int_equal(st_set_meta(&f, "k", "v"), 0);
	assert_int_equal(st_add(&f, "a", ST_F32, 1, sa, a), 0);
	assert_int_equal(st_add(&f, "b", ST_I64, 1, sb, &b), 0);
	const char *p = at("exact.safetensors");
	if (st_write(p, &f, err, sizeof err) != 0)
		fail_msg("%s", err);
	size_t n;
	unsigned char *bytes = files_get(p, &n);
	assert_int_equal(n, 8 + 136 + 16);
	assert_memory_equal(bytes, expected_len, 8);
	assert_memory_equal(bytes + 8, expected_hdr, 136);
	assert_memory_equal(bytes + 144, expected_data, 16);
	free(bytes);

	/* And the hand-assembled file reads back as f. */
	unsigned char hand[160];
	memcpy(hand, expected_len, 8);
	memcpy(hand + 8, expected_hdr, 136);
	memcpy(hand + 144, expected_data, 16);
	const char *q = at("hand.safetensors");
	files_put(q, hand, sizeof hand);
	if (st_read(q, &g, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_same(&f, &g);
	st_free(&f);
	st_free(&g);
	unlink(p);
	unlink(q);
}

/* Reads a file written by another writer: sorted keys, pretty-printed
 * header, metadata last, data stored in another order than the keys. */
static void test_foreign_layout(void **state)
{
	(void)state;
	char err[512] = "";
	StFile g;
	const char *p = raw("foreign.safetensors",
			    "{ \"a\": {\"shape\": [1], \"dtype\": \"F64\", \"data_offsets\": [4, 12]},\n"
			    "  \"b\": {\"data_offsets\": [0, 4], \"dtype\": \"F32\", \"shape\": []},\n"
			    "  \"__metadata__\": {}}  ", 12);
	if (st_read(p, &g, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(g.ntensors, 2);
	assert_string_equal(g.tensors[0].name, "a");
	assert_int_equal(g.tensors[0].nbytes, 8);
	assert_int_equal(g.tensors[1].rank, 0);
	assert_int_equal(((unsigned char *)g.tensors[1].data)[0], 0xAB);
	st_free(&g);
	unlink(p);
}

/* ---- corruption, one by one ---- */

static const char one_f32x2[] =
	"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

static void test_truncated_length(void **state)
{
	(void)state;
	const char *p = at("short.safetensors");
	files_put(p, "\x10\0\0\0\0", 5);
	expect_fail(p, "truncated", "5 bytes", "8-byte header length", NULL);
	expect_fail(at("does-not-exist"), "cannot open", NULL);
}

static void test_truncated_header(void **state)
{
	(void)state;
	const char *p = raw_len("trunchdr.safetensors", 1234, "{\"w\":{\"dtype\"", 0);
	expect_fail(p, "truncated: header says 1234 bytes, file has 13", NULL);
}

static void test_truncated_data(void **state)
{
	(void)state;
	char err[512] = "";
	StFile f;
	sample(&f);
	const char *p = at("truncdata.safetensors");
	if (st_write(p, &f, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&f);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(truncate(p, sb.st_size - 4), 0);
	expect_fail(p, "tensor `a`", "truncated data", NULL);
}

static void test_garbage_header(void **state)
{
	(void)state;
	expect_fail(raw("garbage.safetensors", "this is not json", 0),
		    "header is not valid JSON", NULL);
	expect_fail(raw("cut.safetensors", "{\"w\":{\"dtype\":\"F32\",", 0),
		    "header is not valid JSON", NULL);
	expect_fail(raw("zero.safetensors", "", 0), "header is not valid JSON", NULL);
}

static void test_header_not_object(void **state)
{
	(void)state;
	expect_fail(raw("array.safetensors", "[1, 2, 3]", 0), "header is not a JSON object",
		    NULL);
	expect_fail(raw("entry.safetensors", "{\"w\": 3}", 0), "tensor `w`",
		    "entry is not a JSON object", NULL);
	expect_fail(raw("missing.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8),
		    "tensor `w`", "missing \"data_offsets\"", NULL);
	expect_fail(raw("extra.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":1}}", 4),
		    "unknown field `x`", NULL);
	expect_fail(raw("meta.safetensors", "{\"__metadata__\":{\"k\":1}}", 0),
		    "__metadata__", "`k` is not a string", NULL);
}

static void test_wrong_dtype(void **state)
{
	(void)state;
	expect_fail(raw("bf16.safetensors",
			"{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
		    "tensor `w`", "unsupported dtype `BF16`", NULL);
	expect_fail(raw("dtnum.safetensors",
			"{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
		    "\"dtype\" is not a string", NULL);
}

static void test_bad_shape(void **state)
{
	(void)state;
	expect_fail(raw("neg.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,0]}}", 0),
		    "tensor `w`", "shape is not a list of non-negative integers", NULL);
	expect_fail(raw("real.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8),
		    "shape is not a list of non-negative integers", NULL);
	expect_fail(raw("str.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8),
		    "shape is not a list of non-negative integers", NULL);
	expect_fail(raw("rank9.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
			"\"data_offsets\":[0,4]}}", 4),
		    "rank 9 exceeds the limit of 8", NULL);
	expect_fail(raw("huge.safetensors",
			"{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
			"\"data_offsets\":[0,0]}}", 0),
		    "shape [4294967296, 4294967296] is too large", NULL);
}

static void test_offsets_out_of_bounds(void **state)
{
	(void)state;
	expect_fail(raw("oob.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
		    "tensor `w`", "data_offsets [0, 16] out of bounds", "8 bytes", NULL);
	expect_fail(raw("inverted.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8),
		    "data_offsets [8, 0] out of bounds", NULL);
	expect_fail(raw("negoff.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8),
		    "data_offsets is not two non-negative integers", NULL);
	expect_fail(raw("threeoff.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8),
		    "data_offsets is not two non-negative integers", NULL);
}

static void test_offsets_size_mismatch(void **state)
{
	(void)state;
	expect_fail(raw("mismatch.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12),
		    "tensor `w`: data_offsets [0, 12] do not match F32 [2, 2] (16 bytes)", NULL);
}

static void test_overlap(void **state)
{
	(void)state;
	expect_fail(raw("overlap.safetensors",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
		    "tensors `a` [0, 8] and `b` [4, 12] overlap", NULL);
	expect_fail(raw("same.safetensors",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 16),
		    "overlap", NULL);
}

static void test_gap(void **state)
{
	(void)state;
	expect_fail(raw("gap.safetensors",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20),
		    "gap in the data buffer: bytes [8, 12)", "`b`", NULL);
	expect_fail(raw("gap0.safetensors",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
		    "gap in the data buffer: bytes [0, 4)", NULL);
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	expect_fail(raw("trailing.safetensors", one_f32x2, 12),
		    "trailing bytes: 4 bytes after the last tensor", NULL);
	expect_fail(raw("trailing0.safetensors", "{}", 1), "trailing bytes", NULL);
}

static void test_duplicate_name(void **state)
{
	(void)state;
	expect_fail(raw("dup.safetensors",
			"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			"\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
		    "duplicate tensor name", "w", NULL);
}

static void test_huge_header_length(void **state)
{
	(void)state;
	expect_fail(raw_len("hugelen.safetensors", (uint64_t)1 << 40, one_f32x2, 8),
		    "header length 1099511627776 exceeds the limit", NULL);
	expect_fail(raw_len("maxlen.safetensors", UINT64_MAX, one_f32x2, 8),
		    "exceeds the limit", NULL);
	/* Just over 100 MB is refused before the file size is looked at. */
	expect_fail(raw_len("over.safetensors", 100u * 1024 * 1024 + 1, one_f32x2, 8),
		    "exceeds the limit of 104857600 bytes", NULL);
}

/* ---- the builder and failed writes ---- */

static void test_add_rejects(void **state)
{
	(void)state;
	StFile f;
	st_init(&f);
	int64_t s1[] = {2}, neg[] = {-1}, big[] = {INT64_MAX, 2};
	int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	assert_int_equal(st_add(&f, "x", ST_F32, 1, s1, NULL), 0);
	assert_int_equal(st_add(&f, "x", ST_F32, 1, s1, NULL), -1);
	assert_int_equal(st_add(&f, "__metadata__", ST_F32, 1, s1, NULL), -1);
	assert_int_equal(st_add(&f, "n", ST_F32, 1, neg, NULL), -1);
	assert_int_equal(st_add(&f, "b", ST_F32, 2, big, NULL), -1);
	assert_int_equal(st_add(&f, "r", ST_F32, 9, nine, NULL), -1);
	assert_int_equal(st_add(&f, "d", (StDtype)42, 1, s1, NULL), -1);
	assert_int_equal(f.ntensors, 1);
	const float zero[2] = {0, 0};
	assert_memory_equal(f.tensors[0].data, zero, 8);
	assert_int_equal(st_set_meta(&f, "k", "1"), 0);
	assert_int_equal(st_set_meta(&f, "k", "2"), 0);
	assert_int_equal(f.nmeta, 1);
	assert_string_equal(st_meta(&f, "k"), "2");
	st_free(&f);
}

static void write_sample(const char *path)
{
	char err[512] = "";
	StFile f;
	sample(&f);
	if (st_write(path, &f, err, sizeof err) != 0)
		fail_msg("%s", err);
	st_free(&f);
}

/* A failing st_write leaves the existing file as it was. */
static void expect_write_fails_untouched(const char *path, const char *word)
{
	size_t n0, n1;
	unsigned char *before = files_get(path, &n0);
	StFile f;
	st_init(&f);
	int64_t s[] = {1};
	double v = 42.0;
	assert_int_equal(st_add(&f, "other", ST_F64, 1, s, &v), 0);
	char err[1024] = "";
	assert_int_equal(st_write(path, &f, err, sizeof err), -1);
	printf("# %s\n", err);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, word));
	st_free(&f);
	unsigned char *after = files_get(path, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
}

static void test_write_unwritable(void **state)
{
	(void)state;
	char err[512] = "";
	StFile f;
	sample(&f);
	/* A folder that does not exist. */
	const char *p = at("no/such/folder/x.safetensors");
	assert_int_equal(st_write(p, &f, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot create temporary file"));
	st_free(&f);

	/* A read-only folder holding the target (not enforced for root). */
	char ro[1024];
	snprintf(ro, sizeof ro, "%s/ro", files_dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	char target[1100];
	snprintf(target, sizeof target, "%s/model.safetensors", ro);
	write_sample(target);
	assert_int_equal(chmod(ro, 0555), 0);
	if (access(ro, W_OK) == 0)
		printf("# running as root: the read-only folder case is skipped\n");
	else
		expect_write_fails_untouched(target, "cannot create temporary file");
	assert_int_equal(chmod(ro, 0755), 0);
	expect_no_leftovers(ro, 1);

	/* A target whose name leaves no room for the temporary suffix: the
	 * temporary file cannot be made, even for root (so st_write could
	 * not have made it either: copy it in). */
	char longname[300];
	memset(longname, 'm', 250);
	longname[250] = '\0';
	char lp[1400];
	snprintf(lp, sizeof lp, "%s/%s", ro, longname);
	size_t nt;
	unsigned char *copy = files_get(target, &nt);
	files_put(lp, copy, nt);
	free(copy);
	expect_write_fails_untouched(lp, "cannot create temporary file");
	expect_no_leftovers(ro, 2);

	/* A StFile the writer refuses leaves the target alone too. */
	StFile bad;
	sample(&bad);
	bad.tensors[1].nbytes = 3;
	size_t n0, n1;
	unsigned char *before = files_get(target, &n0);
	assert_int_equal(st_write(target, &bad, err, sizeof err), -1);
	assert_non_null(strstr(err, "tensor `b`"));
	bad.tensors[1].nbytes = 24;
	st_free(&bad);
	unsigned char *after = files_get(target, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
	expect_no_leftovers(ro, 2);
}

int main(void)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_int_dtypes),
		cmocka_unit_test(test_empty_file_round_trip),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_foreign_layout),
		cmocka_unit_test(test_truncated_length),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_data),
		cmocka_unit_test(test_garbage_header),
		cmocka_unit_test(test_header_not_object),
		cmocka_unit_test(test_wrong_dtype),
		cmocka_unit_test(test_bad_shape),
		cmocka_unit_test(test_offsets_out_of_bounds),
		cmocka_unit_test(test_offsets_size_mismatch),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_duplicate_name),
		cmocka_unit_test(test_huge_header_length),
		cmocka_unit_test(test_add_rejects),
		cmocka_unit_test(test_write_unwritable),
	};
	return cmocka_run_group_tests(tests, files_setup, files_teardown);
}
