#!/bin/sh
# bench/run.sh - `make bench`: nasc against PyTorch on the DARTS search
# network, forward + backward and one first-order search step, float32,
# two threads each, one process per tool and configuration; and, when
# nasc has it, the LLVM backend's program against the C backend's.
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
#   BENCH_ROUNDS   rounds of every comparison, each timing both tools,
#                  alternately first (default 3)
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
rounds=${BENCH_ROUNDS:-3}
case $rounds in
'' | *[!0-9]*) die "BENCH_ROUNDS: '$rounds' is not a positive count" ;;
esac
[ "$rounds" -ge 1 ] || die "BENCH_ROUNDS: '$rounds' is not a positive count"
python=${BENCH_PYTHON:-/usr/bin/python3}
# the backend nasc build uses without --backend, as nasc --version names it
default_backend=$("$NASC" --version | sed -n 's/.*; default \([a-z]*\))$/\1/p')
[ -n "$default_backend" ] || die "$NASC --version names no default backend"
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

# Every comparison runs in rounds: each round times nasc and PyTorch once,
# one right after the other, nasc first in odd rounds and PyTorch first in
# even ones.  On a shared machine both move by
# a third or more within the hour; a ratio from one run of each says
# little, so the summary gives each side's median, minimum and maximum over
# the rounds, the ratio of the medians, and the range of the rounds' own
# ratios (each from two runs minutes apart).

# stats "X1 X2 ...": "median min max" of the numbers
stats() {
	# shellcheck disable=SC2086 # $1 is a list of numbers
	printf '%s\n' $1 | sort -g | awk '
		{ v[NR] = $1 }
		END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.9g %.9g %.9g\n", m, v[1], v[NR]
		}'
}

# ratios "A1 A2 ..." "B1 B2 ...": "B1/A1 B2/A2 ...", each round's speed-up
ratios() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++)
			printf "%s%.9g", (i > 1 ? " " : ""), y[i] / x[i]
		printf "\n"
	}'
}

# spread NAME "X1 X2 ...": a JSON member {"median":..,"min":..,"max":..,"runs":[..]}
spread() {
	# shellcheck disable=SC2046 # stats prints a list of numbers
	set -- "$1" "$2" $(stats "$2")
	printf '"%s": {"median": %s, "min": %s, "max": %s, "runs": [%s]}' \
		"$1" "$3" "$4" "$5" "$(printf '%s' "$2" | sed 's/ /, /g')"
}

# in_rounds NASC_FN TORCH_FN: the two functions, given the round's number,
# alternately first
in_rounds() {
	r=1
	while [ "$r" -le "$rounds" ]; do
		if [ $((r % 2)) = 1 ] || [ $have_torch = no ]; then
			"$1" "$r"
			[ $have_torch = no ] || "$2" "$r"
		else
			"$2" "$r"
			"$1" "$r"
		fi
		r=$((r + 1))
	done
}

# rounds_head UNIT, then rounds_row LABEL FORMAT NASC_RUNS TORCH_RUNS
# RATIOS: a table of median [min, max] over the rounds for each side, the
# speed-up of the medians and the least and greatest of the rounds' own
# speed-ups.  FORMAT is the printf format of those nine numbers.
rounds_head() {
	printf '%-28s %23s %23s %9s %16s\n' "median [min, max] over rounds" "nasc $1" \
		"PyTorch $1" speed-up "rounds' speed-ups"
}
rounds_row() {
	label=$1 fmt=$2
	# shellcheck disable=SC2046 # stats prints a list of numbers
	set -- $(stats "$3") $(stats "$4") $(stats "$5")
	# shellcheck disable=SC2059 # the format is the caller's
	printf "%-28s $fmt\n" "$label" "$1" "$2" "$3" "$4" "$5" "$6" \
		"$(awk -v t="$4" -v n="$1" 'BEGIN { printf "%.9g", t / n }')" "$8" "$9"
}

# nasc_first ROUND, torch_first ROUND: forward + backward and one
# first-order search step of configuration $c, by each tool once, into
# $work/$c.nasc.ROUND.json and $work/$c.torch.ROUND.json
nasc_first() {
	out=$work/$c.nasc.$1.json
	echo "bench $c, round $1/$rounds: nasc, $warmup warmup + $iters timed iterations" >&2
	"$bin" bench --threads "$threads" --iters "$iters" --warmup "$warmup" --json > "$out" ||
		die "$c: $bin bench failed"
	check_json "$out" "$bin bench"
	cat "$out" >> "$results"
}
torch_first() {
	tout=$work/$c.torch.$1.json
	echo "bench $c, round $1/$rounds: PyTorch, $warmup warmup + $iters timed iterations" >&2
	# shellcheck disable=SC2086 # targs is a list of words
	"$python" "$torch_step" --space darts $targs --threads "$threads" \
		--iters "$iters" --warmup "$warmup" --json > "$tout" ||
		die "$c: torch_step.py failed"
	check_json "$tout" torch_step.py
	cat "$tout" >> "$results"
}

# of_rounds PREFIX FIELD [KEY]: "X1 X2 ...", FIELD of each round's file
# PREFIX.ROUND.json, or its member KEY
of_rounds() {
	i=1 list=''
	while [ "$i" -le "$rounds" ]; do
		v=$(field "$2" "$1.$i.json")
		[ $# -lt 3 ] || v=$(part "$3" "$v")
		list="${list:+$list }$v"
		i=$((i + 1))
	done
	echo "$list"
}

# now: seconds since the epoch, to the nanosecond; since T: seconds since T
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# backends: with an LLVM backend, configuration $c built by the backend
# that is not the default too, and the two programs' steps timed in rounds
# of their own (each round both, alternately first), beside PyTorch's step
# of the rounds above
backend_step() {
	o=$work/$c.$1-step.$2.json
	echo "bench $c, round $2/$rounds: the $1 backend's program" >&2
	"$3" bench --threads "$threads" --iters "$iters" --warmup "$warmup" --json > "$o" ||
		die "$c: $3 bench failed"
	check_json "$o" "$3 bench"
	cat "$o" >> "$results"
}
backends() {
	other=llvm
	[ "$default_backend" = llvm ] && other=c
	bino=$work/darts-$c-$other
	echo "bench $c: nasc build --backend=$other darts.nas $defs" >&2
	t0=$(now)
	# shellcheck disable=SC2086 # defs is a list of words
	"$NASC" build --backend=$other "$spec" $defs -o "$bino" > "$work/$c.build-$other.log" 2>&1 ||
		{ cat "$work/$c.build-$other.log" >&2; die "$c: nasc build --backend=$other failed"; }
	build_o=$(since "$t0")
	if [ $other = llvm ]; then
		binc=$bin binl=$bino build_c=$build_s build_llvm=$build_o llvm_log=$work/$c.build-llvm.log
	else
		binc=$bino binl=$bin build_c=$build_o build_llvm=$build_s llvm_log=$work/$c.build.log
	fi
	r=1
	while [ "$r" -le "$rounds" ]; do
		if [ $((r % 2)) = 1 ]; then
			backend_step c "$r" "$binc"
			backend_step llvm "$r" "$binl"
		else
			backend_step llvm "$r" "$binl"
			backend_step c "$r" "$binc"
		fi
		r=$((r + 1))
	done
	cs=$(of_rounds "$work/$c.c-step" step_ms median) ls=$(of_rounds "$work/$c.llvm-step" step_ms median)
	cf=$(of_rounds "$work/$c.c-step" fwd_bwd_ms median) lf=$(of_rounds "$work/$c.llvm-step" fwd_bwd_ms median)
	rs=$(ratios "$ls" "$cs") rf=$(ratios "$lf" "$cf")
	echo
	echo "backends, config $c: the C backend ($build_c s to build) against the LLVM one" \
		"($(sed -n 's/.*with LLVM \([0-9.]*\).*/\1/p' "$llvm_log"), $build_llvm s to build), $rounds rounds"
	line="{\"impl\": \"summary\", \"what\": \"backends\", \"config\": \"$c\", \"rounds\": $rounds, \"build_c_s\": $build_c, \"build_llvm_s\": $build_llvm, $(spread c_step_ms "$cs"), $(spread llvm_step_ms "$ls"), $(spread c_fwd_bwd_ms "$cf"), $(spread llvm_fwd_bwd_ms "$lf"), $(spread c_over_llvm_step "$rs")"
	printf '%-28s %23s %23s %9s %16s\n' "median [min, max] over rounds" "LLVM backend ms" \
		"C backend ms" "C/LLVM" "rounds' C/LLVM"
	rounds_row "forward + backward" \
		'%8.1f [%5.0f, %5.0f] %8.1f [%5.0f, %5.0f] %8.2fx [%5.2f, %5.2f]' "$lf" "$cf" "$rf"
	rounds_row "one first-order search step" \
		'%8.1f [%5.0f, %5.0f] %8.1f [%5.0f, %5.0f] %8.2fx [%5.2f, %5.2f]' "$ls" "$cs" "$rs"
	echo "C/LLVM: the C backend's median time over the LLVM one's (above 1: LLVM faster)"
	if [ $have_torch = yes ]; then
		tm=$(median "$tst_runs")
		echo "$line, \"torch_step_ms_median\": $tm}" >> "$results"
		awk -v t="$tm" -v c="$(median "$cs")" -v l="$(median "$ls")" 'BEGIN {
			printf "step against PyTorch'"'"'s median of the rounds above (%.1f ms): C backend %.2fx, LLVM backend %.2fx\n", t, t / c, t / l }'
	else
		echo "$line}" >> "$results"
	fi
}

# median "X1 X2 ...", greatest "X1 X2 ..."
median() { stats "$1" | cut -d' ' -f1; }
greatest() { stats "$1" | cut -d' ' -f3; }

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

	echo "bench $c: nasc build darts.nas $defs (the $default_backend backend, the default)" >&2
	t0=$(now)
	# shellcheck disable=SC2086 # defs is a list of words
	"$NASC" build "$spec" $defs -o "$bin" > "$work/$c.build.log" 2>&1 ||
		{ cat "$work/$c.build.log" >&2; die "$c: nasc build failed"; }
	build_s=$(since "$t0")
	in_rounds nasc_first torch_first
	n=$work/$c.nasc t=$work/$c.torch
	nfb_runs=$(of_rounds "$n" fwd_bwd_ms median) nst_runs=$(of_rounds "$n" step_ms median)
	nrss_runs=$(of_rounds "$n" peak_rss_mib)
	# The same step on one thread, once: how much the second core buys.
	one=$work/$c.nasc1.json
	if [ "$threads" -gt 1 ]; then
		echo "bench $c: nasc step on 1 thread" >&2
		"$bin" bench --threads 1 --only step --iters "$iters" --warmup "$warmup" --json > "$one" ||
			die "$c: $bin bench --threads 1 failed"
		cat "$one" >> "$results"
	fi

	echo
	echo "config $c: darts $(echo "$defs" | sed 's/-D //g'), float32, training mode"
	threads_used="nasc $(field threads "$out")"
	[ $have_torch = no ] || threads_used="$threads_used, PyTorch $(field threads "$tout")"
	echo "threads: $threads_used; $rounds rounds of $warmup warmup + $iters timed iterations," \
		"each round's median; nasc's last loss $(field loss "$out")"
	summary="{\"impl\": \"summary\", \"what\": \"step\", \"config\": \"$c\", \"rounds\": $rounds, $(spread nasc_fwd_bwd_ms "$nfb_runs"), $(spread nasc_step_ms "$nst_runs"), $(spread nasc_peak_rss_mib "$nrss_runs")"
	set -- "$(greatest "$nrss_runs")" "$(median "$(of_rounds "$n" fwd_bwd_gflops)")" \
		"$(median "$(of_rounds "$n" step_gflops)")"
	if [ $have_torch = no ]; then
		echo "$summary}" >> "$results"
		# shellcheck disable=SC2046 # stats prints a list of numbers
		set -- "$@" $(stats "$nfb_runs") $(stats "$nst_runs")
		printf 'nasc: forward + backward %.2f ms [%.2f, %.2f], step %.2f ms [%.2f, %.2f];' \
			"$4" "$5" "$6" "$7" "$8" "$9"
		printf ' %.2f and %.2f GFLOP/s; peak RSS %.0f MiB\n' "$2" "$3" "$1"
		echo "PyTorch: not available ($python cannot import torch): no ratios"
	else
		tfb_runs=$(of_rounds "$t" fwd_bwd_ms median) tst_runs=$(of_rounds "$t" step_ms median)
		trss_runs=$(of_rounds "$t" peak_rss_mib)
		rfb=$(ratios "$nfb_runs" "$tfb_runs") rst=$(ratios "$nst_runs" "$tst_runs")
		echo "$summary, $(spread torch_fwd_bwd_ms "$tfb_runs"), $(spread torch_step_ms "$tst_runs"), $(spread torch_peak_rss_mib "$trss_runs"), $(spread speedup_fwd_bwd "$rfb"), $(spread speedup_step "$rst")}" >> "$results"
		rounds_head ms
		rounds_row "forward + backward" \
			'%8.1f [%5.0f, %5.0f] %8.1f [%5.0f, %5.0f] %8.2fx [%5.2f, %5.2f]' \
			"$nfb_runs" "$tfb_runs" "$rfb"
		rounds_row "one first-order search step" \
			'%8.1f [%5.0f, %5.0f] %8.1f [%5.0f, %5.0f] %8.2fx [%5.2f, %5.2f]' \
			"$nst_runs" "$tst_runs" "$rst"
		set -- "$@" "$(greatest "$trss_runs")" "$(median "$(of_rounds "$t" fwd_bwd_gflops)")" \
			"$(median "$(of_rounds "$t" step_gflops)")"
		printf 'peak RSS, the greatest of the rounds: nasc %.0f MiB, PyTorch %.0f MiB (nasc/PyTorch %.2fx)\n' \
			"$1" "$4" "$(awk -v a="$1" -v b="$4" 'BEGIN { printf "%.9g", a / b }')"
		printf 'GFLOP/s, medians: forward + backward nasc %.2f, PyTorch %.2f; step nasc %.2f, PyTorch %.2f\n' \
			"$2" "$5" "$3" "$6"
		echo "speed-up: PyTorch's median over nasc's; rounds' speed-ups: the least and greatest of PyTorch's over nasc's in one round"
	fi
	if [ "$threads" -gt 1 ]; then
		s1=$(part median "$(field step_ms "$one")") sn=$(median "$nst_runs")
		awk -v a="$s1" -v b="$sn" -v t="$threads" 'BEGIN {
			printf "nasc step on 1 thread: %.2f ms median; on %d: %.2f ms (median of the rounds), %.2fx faster\n", a, t, b, a / b }'
	fi
	if "$NASC" --version | grep -q llvm; then
		backends
	else
		echo "backends: this nasc has no LLVM backend ($("$NASC" --version))"
	fi
done

# curvature: the alpha-Hessian of configuration A, nasc's Hessian-vector
# products against RobustDARTS's row-by-row double backward
nasc_curv() {
	out=$work/A.curv.$1.json
	echo "bench curvature, round $1/$rounds: nasc, the exact Hessian once, Lanczos 1 warmup + 3 timed" >&2
	"$work/darts-A" bench --only curvature --threads "$threads" --iters 3 --warmup 1 --json > "$out" ||
		die "curvature: $work/darts-A bench --only curvature failed"
	cat "$out" >> "$results"
}
torch_curv() {
	tout=$work/A.torch-curv.$1.json
	echo "bench curvature, round $1/$rounds: PyTorch, row by row${BENCH_HESSIAN_ROWS:+ ($BENCH_HESSIAN_ROWS rows)}" >&2
	"$python" "$SRCDIR/bench/torch_curvature.py" --space darts --C 8 --layers 5 --input 1x28x28 \
		--batch 32 --threads "$threads" --only hessian \
		${BENCH_HESSIAN_ROWS:+--rows "$BENCH_HESSIAN_ROWS"} --json > "$tout" ||
		die "curvature: torch_curvature.py failed"
	cat "$tout" >> "$results"
	t=$(field hessian_total_s "$tout")
	how="every row"
	if [ "$t" = null ]; then
		t=$(field hessian_total_s_extrapolated "$tout")
		how="$(field hessian_rows_timed "$tout") rows timed, extrapolated"
	fi
	# each round's time, here and not by of_rounds: a round may have
	# timed only some rows
	tt_runs="${tt_runs:+$tt_runs }$t"
	tlam=$(field hessian_lambda_max "$tout")
}
curvature() {
	tt_runs='' how='' tlam=''
	in_rounds nasc_curv torch_curv
	ne_runs=$(of_rounds "$work/A.curv" hessian_exact_s)
	nl_runs=$(of_rounds "$work/A.curv" lanczos_ms median)
	out=$work/A.curv.1.json
	nls=$(awk -v r="$nl_runs" 'BEGIN { n = split(r, v, " "); for (i = 1; i <= n; i++) printf "%s%.9g", (i > 1 ? " " : ""), v[i] / 1000 }')
	echo
	echo "curvature, config A: the 224x224 alpha-Hessian of the validation loss (+ 1e-3 I), $rounds rounds"
	echo "nasc: lambda_max $(field lambda_max_exact "$out");" \
		"Lanczos $(field lanczos_iters "$out") products," \
		"$(field lanczos_rel_error "$out") from the exact lambda_max"
	summary="{\"impl\": \"summary\", \"what\": \"curvature\", \"rounds\": $rounds, $(spread nasc_exact_s "$ne_runs"), $(spread nasc_lanczos_s "$nls")"
	if [ $have_torch = no ]; then
		echo "$summary}" >> "$results"
		# shellcheck disable=SC2046 # stats prints a list of numbers
		set -- $(stats "$ne_runs") $(stats "$nls")
		printf 'nasc exact %.2f s, Lanczos %.3f s (medians); PyTorch: not available: no ratios\n' "$1" "$4"
		return
	fi
	re=$(ratios "$ne_runs" "$tt_runs") rl=$(ratios "$nls" "$tt_runs")
	echo "$summary, $(spread torch_hessian_s "$tt_runs"), $(spread speedup_exact "$re"), $(spread speedup_lanczos "$rl")}" >> "$results"
	echo "PyTorch: $how; lambda_max $tlam"
	rounds_head s
	rounds_row "exact Hessian" '%8.2f [%5.2f, %5.2f] %8.2f [%5.1f, %5.1f] %8.1fx [%5.1f, %5.1f]' \
		"$ne_runs" "$tt_runs" "$re"
	rounds_row "lambda_max (nasc: Lanczos)" \
		'%8.3f [%5.2f, %5.2f] %8.2f [%5.1f, %5.1f] %8.1fx [%5.1f, %5.1f]' "$nls" "$tt_runs" "$rl"
	echo "speed-up: PyTorch's median over nasc's; rounds' speed-ups: the least and greatest of PyTorch's over nasc's in one round"
}

# the second-order search step of configuration A: nasc's exact one (the
# analytic mixed product) against DARTS's, by central differences
second_iters=${BENCH_ITERS:-5} second_warmup=${BENCH_WARMUP:-1}
nasc_second() {
	out=$work/A.second.$1.json
	echo "bench second order, round $1/$rounds: nasc, $second_warmup warmup + $second_iters timed" >&2
	"$work/darts-A" bench --only second --threads "$threads" --iters "$second_iters" \
		--warmup "$second_warmup" --json > "$out" ||
		die "second order: $work/darts-A bench --only second failed"
	cat "$out" >> "$results"
}
torch_second() {
	tout=$work/A.torch-second.$1.json
	echo "bench second order, round $1/$rounds: PyTorch, finite differences" >&2
	"$python" "$SRCDIR/bench/torch_curvature.py" --space darts --C 8 --layers 5 --input 1x28x28 \
		--batch 32 --threads "$threads" --iters "$second_iters" --warmup "$second_warmup" \
		--only step_fd --json > "$tout" || die "second order: torch_curvature.py failed"
	cat "$tout" >> "$results"
}
second_order() {
	in_rounds nasc_second torch_second
	ns_runs=$(of_rounds "$work/A.second" second_order_step_ms median)
	echo
	echo "second order, config A: one search step with the second-order alpha gradient," \
		"$rounds rounds of $second_warmup warmup + $second_iters timed steps; each round's median"
	summary="{\"impl\": \"summary\", \"what\": \"second_order\", \"rounds\": $rounds, $(spread nasc_step_ms "$ns_runs")"
	if [ $have_torch = no ]; then
		echo "$summary}" >> "$results"
		# shellcheck disable=SC2046 # stats prints a list of numbers
		set -- $(stats "$ns_runs")
		printf 'nasc (exact): %.1f ms median; PyTorch: not available: no ratio\n' "$1"
		return
	fi
	tf_runs=$(of_rounds "$work/A.torch-second" second_order_step_fd_ms median)
	rs=$(ratios "$ns_runs" "$tf_runs")
	echo "$summary, $(spread torch_step_fd_ms "$tf_runs"), $(spread speedup "$rs")}" >> "$results"
	rounds_head ms
	rounds_row "exact (nasc) vs differences" \
		'%8.1f [%5.0f, %5.0f] %8.1f [%5.0f, %5.0f] %8.2fx [%5.2f, %5.2f]' "$ns_runs" "$tf_runs" "$rs"
}
case " $configs " in
*" A "*) [ "${BENCH_CURVATURE:-yes}" = no ] || { curvature; second_order; } ;;
esac

echo
echo "raw results: $results"
