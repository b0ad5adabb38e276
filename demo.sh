#!/bin/sh
# demo.sh - the main job: set up, build, and show what nasc makes of the
# DARTS search space (examples/spaces/darts.nas) for Fashion-MNIST.
set -eu
cd "$(dirname "$0")"
./setup.sh
make -j"$(nproc 2>/dev/null || echo 2)"

spec=examples/spaces/darts.nas
echo
echo "== nasc check $spec"
./nasc check "$spec" && echo "valid"
echo
echo "== nasc info $spec"
./nasc info "$spec"
echo
echo "== the same space at the paper's CIFAR-10 size (nasc info --json -D input=3x32x32)"
./nasc info --json -D input=3x32x32 "$spec" | grep -E '^  "(weight_params|alpha_size|flops)"'
echo
echo "The dataset the search will run on: $(ls /usr/share/datasets/fashion-mnist/*.gz 2>/dev/null | tr '\n' ' ')"
echo "The search itself (nasc build, the search binary) is not built yet: see README.md."
