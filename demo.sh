#!/bin/sh
# demo.sh - the main job: set up, build, compile the DARTS search space
# (examples/spaces/darts.nas) into a search binary, and run a short search
# on Fashion-MNIST (Debian's dataset-fashion-mnist): progress on the
# screen, then the genotype found, its test accuracy and where the files
# are.  Under 15 minutes on 2 cores.
#
# DEMO_EPOCHS and DEMO_SUBSET change the search's length (3 epochs on a
# random 4000 of the 60000 training images: 2000 train the weights, 2000
# alpha).
set -eu
cd "$(dirname "$0")"
./setup.sh
make -j"$(nproc 2>/dev/null || echo 2)"

spec=examples/spaces/darts.nas
cfg="-D C=8 -D layers=5 -D batch=32"
bin=generated/darts-search
out=runs/darts-$(date +%Y%m%d-%H%M%S)
epochs=${DEMO_EPOCHS:-3}
subset=${DEMO_SUBSET:-4000}

echo
echo "== nasc info $cfg $spec"
./nasc info $cfg "$spec" | sed -n '1,/^cell types/p' | sed '$d'
echo
echo "== nasc build $cfg $spec -o $bin"
./nasc build $cfg "$spec" -o "$bin"
echo
echo "== $bin search --epochs $epochs --subset $subset --out $out"
"$bin" search --epochs "$epochs" --subset "$subset" --out "$out"
echo
echo "== $bin eval --load $out/state.safetensors   (the 10000 test images)"
"$bin" eval --load "$out/state.safetensors"
echo
echo "The search's files are in $out/:"
ls -l "$out"
echo "Plot $out/log.jsonl (one JSON record per epoch: losses, accuracies, alpha);"
echo "feed $out/genotype.txt to DARTS's evaluation code.  See README.md."
