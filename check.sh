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
# (a configured source tree cannot host a second build).
rm -rf build-san
make distdir distdir=build-san >/dev/null
cd build-san
./configure -q --enable-asan --enable-ubsan
make -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	make -j"$jobs" check
