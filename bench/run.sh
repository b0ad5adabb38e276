#!/bin/sh
# bench/run.sh - `make bench`: nasc against PyTorch on the DARTS search
# network, forward + backward and one first-order search step, float32,
# two threads each, one process per tool and configuration.
#
# Run from the build directory, with
#   NASC    the nasc binary
#   SRCDIR  the source tree (for examples/spaces/darts.nas and
#           bench/torch_step.py)
#   JSONQ   tests/jsonq, which reads the top-level fields of a JSON object
# and optionally
#   BENCH_CONFIGS  which configurations, of A and B (default "A B")
#   BENCH_ITERS    timed iterations of every measurement (default A 10, B 3)
#   BENCH_WARMUP   untimed iterations before them (default A 2, B 1)
#   BENCH_THREADS  threads of both tools (default 2)
#   BENCH_PYTHON   the interpreter for torch_step.py (default /usr/bin/python3)
#   BENCH_CURVATURE  "no" to skip the curvature and second-order benchmarks
#                  (run with A)
#   BENCH_HESSIAN_ROWS  PyTorch times only this many Hessian rows and
#                  extrapolates to all of them (default: every row)
# Every tool's JSON line goes to bench/results.jsonl; a table per
# configuration to stdout.  Exits 1 when a build or a run fails.

prog=bench/run.sh
die() {
	echo "$prog: $*" >&2
	exit 1
}

for v in NASC SRCDIR JSONQ; do
	eval "val=\${$v:-}"
	[ -n "$val" ] || die "$v is not set (run me through 'make bench')"
done
[ -x "$NASC" ] || die "$NASC: not an executable"
[ -x "$JSONQ" ] || die "$JSONQ: not an executable"
spec=$SRCDIR/examples/spaces/darts.nas
torch_step=$SRCDIR/bench/torch_step.py
[ -r "$spec" ] || die "$spec: cannot read"

configs=${BENCH_CONFIGS:-A B}
threads=${BENCH_THREADS:-2}
python=${BENCH_PYTHON:-/usr/bin/python3}
work=bench/work
results=bench/results.jsonl
mkdir -p "$work" || die "cannot create $work"
: > "$results" || die "cannot write $results"

have_torch=no
if [ -x "$python" ] && "$python" -c 'import torch' > /dev/null 2>&1; then
	have_torch=yes
fi

# field NAME FILE: a top-level field of the JSON object in FILE
field() {
	"$JSONQ" "$1" < "$2" || die "$2: no field $1"
}

# check_json FILE WHO: FILE is a JSON object with every field the table
# needs
check_json() {
	"$JSONQ" impl threads fwd_bwd_ms step_ms fwd_bwd_gflops step_gflops peak_rss_mib \
		< "$1" > /dev/null || die "$c: $2 did not print the JSON expected"
}

# part KEY JSON: KEY of a flat object such as {"median":1.5,"min":1.2};
# "null" stays null
part() {
	case $2 in
	null) echo null ;;
	*) printf '%s\n' "$2" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" ;;
	esac
}

# table: the rows of one configuration from the nasc and PyTorch JSON
# (the latter "-" without PyTorch)
table() {
	n=$1 t=$2
	nfb=$(field fwd_bwd_ms "$n") nst=$(field step_ms "$n")
	set -- \
		"fwd+bwd median ms" "$(part median "$nfb")" \
		"fwd+bwd min ms" "$(part min "$nfb")" \
		"step median ms" "$(part median "$nst")" \
		"step min ms" "$(part min "$nst")" \
		"fwd+bwd GFLOP/s" "$(field fwd_bwd_gflops "$n")" \
		"step GFLOP/s" "$(field step_gflops "$n")" \
		"peak RSS MiB" "$(field peak_rss_mib "$n")"
	if [ "$t" = - ]; then
		tfb=null tst=null tg1=- tg2=- trss=-
	else
		tfb=$(field fwd_bwd_ms "$t") tst=$(field step_ms "$t")
		tg1=$(field fwd_bwd_gflops "$t") tg2=$(field step_gflops "$t")
		trss=$(field peak_rss_mib "$t")
	fi
	printf '%s\t%s\t%s\n' \
		"$1" "$2" "$(part median "$tfb")" \
		"$3" "$4" "$(part min "$tfb")" \
		"$5" "$6" "$(part median "$tst")" \
		"$7" "$8" "$(part min "$tst")" \
		"$9" "${10}" "$tg1" \
		"${11}" "${12}" "$tg2" \
		"${13}" "${14}" "$trss" |
	awk -F '\t' -v torch="$t" '
		function num(s) { return s != "" && s != "-" && s != "null" }
		BEGIN {
			if (torch == "-")
				printf "%-20s %10s\n", "", "nasc"
			else
				printf "%-20s %10s %10s %8s\n", "", "nasc", "PyTorch", "ratio"
		}
		{
			n = num($2) ? sprintf("%.2f", $2) : "-"
			if (torch == "-") {
				printf "%-20s %10s\n", $1, n
				next
			}
			p = num($3) ? sprintf("%.2f", $3) : "-"
			r = ""
			if (num($2) && num($3) && $2 > 0 && $3 > 0) {
				if ($1 ~ / ms$/)
					r = sprintf("%.2fx", $3 / $2)     # PyTorch / nasc: the speed-up
				else if ($1 ~ /RSS/)
					r = sprintf("%.2fx", $2 / $3)     # nasc / PyTorch
			}
			if (r == "")
				printf "%-20s %10s %10s\n", $1, n, p
			else
				printf "%-20s %10s %10s %8s\n", $1, n, p, r
		}'
}

for c in $configs; do
	case $c in
	A) defs="-D C=8 -D layers=5 -D input=1x28x28 -D batch=32"
	   targs="--C 8 --layers 5 --input 1x28x28 --batch 32"
	   iters=${BENCH_ITERS:-10} warmup=${BENCH_WARMUP:-2} ;;
	B) defs="-D C=16 -D layers=8 -D input=3x32x32 -D batch=64"
	   targs="--C 16 --layers 8 --input 3x32x32 --batch 64"
	   iters=${BENCH_ITERS:-3} warmup=${BENCH_WARMUP:-1} ;;
	*) die "BENCH_CONFIGS: unknown configuration '$c' (A or B)" ;;
	esac
	bin=$work/darts-$c
	out=$work/$c.nasc.json
	tout=$work/$c.torch.json

	echo "bench $c: nasc build darts.nas $defs" >&2
	# shellcheck disable=SC2086 # defs is a list of words
	"$NASC" build "$spec" $defs -o "$bin" > "$work/$c.build.log" 2>&1 ||
		{ cat "$work/$c.build.log" >&2; die "$c: nasc build failed"; }
	echo "bench $c: nasc, $warmup warmup + $iters timed iterations" >&2
	"$bin" bench --threads "$threads" --iters "$iters" --warmup "$warmup" --json > "$out" ||
		die "$c: $bin bench failed"
	check_json "$out" "$bin bench"
	cat "$out" >> "$results"
	# The same step on one thread: how much the second core buys.
	one=$work/$c.nasc1.json
	if [ "$threads" -gt 1 ]; then
		echo "bench $c: nasc step on 1 thread" >&2
		"$bin" bench --threads 1 --only step --iters "$iters" --warmup "$warmup" --json > "$one" ||
			die "$c: $bin bench --threads 1 failed"
		cat "$one" >> "$results"
	fi

	if [ $have_torch = yes ]; then
		echo "bench $c: PyTorch, $warmup warmup + $iters timed iterations" >&2
		# shellcheck disable=SC2086 # targs is a list of words
		"$python" "$torch_step" --space darts $targs --threads "$threads" \
			--iters "$iters" --warmup "$warmup" --json > "$tout" ||
			die "$c: torch_step.py failed"
		check_json "$tout" torch_step.py
		cat "$tout" >> "$results"
	else
		tout=-
	fi

	echo
	echo "config $c: darts $(echo "$defs" | sed 's/-D //g'), float32, training mode"
	threads_used="nasc $(field threads "$out")"
	[ "$tout" = - ] || threads_used="$threads_used, PyTorch $(field threads "$tout")"
	echo "threads: $threads_used; $warmup warmup + $iters timed iterations;" \
		"nasc's last loss $(field loss "$out")"
	table "$out" "$tout" || exit 1
	if [ "$threads" -gt 1 ]; then
		s1=$(part median "$(field step_ms "$one")") sn=$(part median "$(field step_ms "$out")")
		awk -v a="$s1" -v b="$sn" -v t="$threads" 'BEGIN {
			printf "nasc step on 1 thread: %.2f ms median; on %d: %.2f ms, %.2fx faster\n", a, t, b, a / b }'
	fi
	if [ "$tout" = - ]; then
		echo "PyTorch: not available ($python cannot import torch): no ratios"
	else
		echo "ratio: PyTorch/nasc for times (nasc's speed-up), nasc/PyTorch for peak RSS"
	fi
done
# curvature: the alpha-Hessian of configuration A, nasc's Hessian-vector
# products against RobustDARTS's row-by-row double backward
curvature() {
	bin=$work/darts-A
	out=$work/A.curv.json
	tout=$work/A.torch-curv.json
	echo "bench curvature: nasc, the exact Hessian once, Lanczos 1 warmup + 3 timed" >&2
	"$bin" bench --only curvature --threads "$threads" --iters 3 --warmup 1 --json > "$out" ||
		die "curvature: $bin bench --only curvature failed"
	cat "$out" >> "$results"
	ne=$(field hessian_exact_s "$out") nl=$(part median "$(field lanczos_ms "$out")")
	echo
	echo "curvature, config A: the 224x224 alpha-Hessian of the validation loss (+ 1e-3 I)"
	echo "nasc exact: $ne s, lambda_max $(field lambda_max_exact "$out");" \
		"Lanczos: $nl ms median, $(field lanczos_iters "$out") products," \
		"$(field lanczos_rel_error "$out") from the exact lambda_max"
	if [ $have_torch = no ]; then
		echo "PyTorch: not available: no ratios"
		return
	fi
	echo "bench curvature: PyTorch, row by row${BENCH_HESSIAN_ROWS:+ ($BENCH_HESSIAN_ROWS rows)}" >&2
	"$python" "$SRCDIR/bench/torch_curvature.py" --space darts --C 8 --layers 5 --input 1x28x28 \
		--batch 32 --threads "$threads" --only hessian \
		${BENCH_HESSIAN_ROWS:+--rows "$BENCH_HESSIAN_ROWS"} --json > "$tout" ||
		die "curvature: torch_curvature.py failed"
	cat "$tout" >> "$results"
	tt=$(field hessian_total_s "$tout")
	how="every row"
	if [ "$tt" = null ]; then
		tt=$(field hessian_total_s_extrapolated "$tout")
		how="$(field hessian_rows_timed "$tout") rows timed, extrapolated"
	fi
	awk -v ne="$ne" -v nl="$nl" -v tt="$tt" -v how="$how" 'BEGIN {
		printf "%-34s %10s %12s %9s\n", "", "nasc s", "PyTorch s", "speed-up"
		printf "%-34s %10.2f %12.2f %8.1fx\n", "exact Hessian (" how ")", ne, tt, tt / ne
		printf "%-34s %10.3f %12.2f %8.1fx\n", "lambda_max (nasc: Lanczos)", nl / 1000, tt, tt / (nl / 1000)
	}'
	echo "PyTorch's lambda_max: $(field hessian_lambda_max "$tout")"
}
# the second-order search step of configuration A: nasc's exact one (the
# analytic mixed product) against DARTS's, by central differences
second_order() {
	bin=$work/darts-A
	out=$work/A.second.json
	tout=$work/A.torch-second.json
	iters=${BENCH_ITERS:-5} warmup=${BENCH_WARMUP:-1}
	echo "bench second order: nasc, $warmup warmup + $iters timed" >&2
	"$bin" bench --only second --threads "$threads" --iters "$iters" --warmup "$warmup" \
		--json > "$out" || die "second order: $bin bench --only second failed"
	cat "$out" >> "$results"
	ns=$(part median "$(field second_order_step_ms "$out")")
	echo
	echo "second order, config A: one search step with the second-order alpha gradient"
	if [ $have_torch = no ]; then
		echo "nasc (exact): $ns ms median; PyTorch: not available: no ratio"
		return
	fi
	echo "bench second order: PyTorch, finite differences and exact" >&2
	"$python" "$SRCDIR/bench/torch_curvature.py" --space darts --C 8 --layers 5 --input 1x28x28 \
		--batch 32 --threads "$threads" --iters "$iters" --warmup "$warmup" --only step_fd \
		--json > "$tout" || die "second order: torch_curvature.py failed"
	cat "$tout" >> "$results"
	tf=$(part median "$(field second_order_step_fd_ms "$tout")")
	awk -v ns="$ns" -v tf="$tf" 'BEGIN {
		printf "%-34s %10s %12s %9s\n", "", "nasc ms", "PyTorch ms", "speed-up"
		printf "%-34s %10.1f %12.1f %8.2fx\n", "exact (nasc) vs differences (PyTorch)", ns, tf, tf / ns
	}'
}
case " $configs " in
*" A "*) [ "${BENCH_CURVATURE:-yes}" = no ] || { curvature; second_order; } ;;
esac

echo
echo "raw results: $results"
