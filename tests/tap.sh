# tests/tap.sh - the few lines of TAP the shell tests need.  Source it, call
# `check DESCRIPTION COMMAND...` or `ok`/`not_ok`, and end with `tap_done`.
tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

# todo DESCRIPTION REASON: a known failure, reported as one (a TAP TODO,
# which the driver counts as XFAIL), not as a pass
todo() {
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $1 # TODO $2"
}

# diag TEXT: a TAP comment, one line per input line
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# numbers X...: each X is a finite decimal number, as %.17g prints one
# (awk alone reads "nan", "inf" and "null" as numbers)
numbers() {
	for v; do
		printf '%s\n' "$v" | grep -Eq '^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$' ||
			{ diag "not a finite number: '$v'"; return 1; }
	done
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# A fresh scratch folder, removed on exit.
tap_tmp=$(mktemp -d "${TMPDIR:-/tmp}/nasc-test.XXXXXX")
trap 'rm -rf "$tap_tmp"' EXIT
