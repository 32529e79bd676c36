#!/usr/bin/env bash
# The main job on the tiny default: set up (if needed), make the synthetic Harmony arithmetic
# data (once), train configs/tiny.toml on the CPU, and plot its curves. Outputs: runs/tiny/
# (metrics.jsonl, curves.png, checkpoints/). Extra arguments go to the training command
# (e.g. --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
host=build/bin/vpmoe-host
data=runs/tiny/data
mkdir -p "$data"
for split in train:20000:1 valid:500:2; do
  IFS=: read -r name count seed <<<"$split"
  if [[ ! -f "$data/arith_${name}_tokens.idx" ]]; then
    "$host" synth-arithmetic --output "$data/arith_$name.jsonl" --count "$count" --seed "$seed"
    "$host" preprocess --input "$data/arith_$name.jsonl" --output-prefix "$data/arith_$name" \
      --format harmony --workers 2
  fi
done
"$host" --config configs/tiny.toml "$@"
"$host" plot runs/tiny  # runs/tiny/curves.png: the loss and throughput curves
