#!/bin/sh
# check.sh - the test command: set up, build, and run the whole test suite,
# once as built and once more under AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-san/).
set -eu
cd "$(dirname "$0")"
./setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make -j"$jobs" check

# The same tests, sanitized, in a separate build tree.
top=$(pwd)
mkdir -p build-san
cd build-san
if [ ! -f Makefile ]; then
	"$top/configure" --enable-asan --enable-ubsan >/dev/null
fi
make -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	make -j"$jobs" check
