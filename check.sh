#!/bin/sh
# check.sh - the test command: set up, build, and run the whole test suite,
# once as built and once more under AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-san/, a copy of the distribution).
set -eu
cd "$(dirname "$0")"
./setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make -j"$jobs" check

# The same tests again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer, in a copy of the distribution in build-san/
# (a configured source tree cannot host a second build).  The programs the
# tests have nasc build are sanitized too, compiled at -O1
# (NASC_BUILD_OPT), the level AddressSanitizer recommends: GCC took 4m50s
# for one small DARTS network at -O3 with both sanitizers, 40 s at -O1, and
# the tests build dozens.  The plain pass above covers -O3.
rm -rf build-san
make distdir distdir=build-san >/dev/null
cd build-san
./configure -q --enable-asan --enable-ubsan NASC_BUILD_OPT=-O1
make -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	make -j"$jobs" check
