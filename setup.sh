#!/bin/sh
# setup.sh - install what building and testing nasc needs on Debian (or
# Ubuntu), then configure the tree.  Safe to run again: apt-get skips what
# is there, and configure is rerun only when needed.
set -eu
cd "$(dirname "$0")"

# llvm-16-dev: the LLVM backend (nasc --backend=llvm), which the tests
# run beside the C one; configure takes any LLVM from 14 to 19.
packages="build-essential autoconf automake libtool pkg-config flex bison
  libcmocka-dev libjansson-dev liblapacke-dev libopenblas-dev zlib1g-dev
  llvm-16-dev dataset-fashion-mnist"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
	./configure ${NASC_CONFIGURE_FLAGS:-}
fi
