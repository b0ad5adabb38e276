#!/bin/sh
# demo.sh - the main job: set up, build, and show what nasc makes of the
# DARTS search space (examples/spaces/darts.nas) for Fashion-MNIST: the
# supernet, then a search binary compiled from it, initialized and timed.
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

bin=generated/darts-search
cfg="-D C=8 -D layers=5 -D batch=32"
echo
echo "== nasc build $cfg $spec -o $bin"
./nasc build $cfg "$spec" -o "$bin"
echo
echo "== $bin init --seed 1 --save generated/darts-state.safetensors"
"$bin" init --seed 1 --save generated/darts-state.safetensors && echo "written"
echo
echo "== $bin bench --threads 2 --iters 3 --warmup 1 (random Fashion-MNIST-shaped batches)"
"$bin" bench --threads 2 --iters 3 --warmup 1
echo
echo "The dataset the search will run on: $(ls /usr/share/datasets/fashion-mnist/*.gz 2>/dev/null | tr '\n' ' ')"
echo "The search loop itself (BIN search) is the next step: see README.md."
