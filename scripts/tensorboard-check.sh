#!/usr/bin/env bash
# Trains the tiny config for a few steps with [log] tensorboard = true and loss.span_ce (so the
# span scalars are written too), then loads the events with tensorboard's own Python reader and
# checks every value against metrics.jsonl (scripts/tensorboard-readback.py). For a machine
# with the `tensorboard` package (the GPU machine); the C++ test reads the records back in CI.
#   scripts/tensorboard-check.sh [HOST_BINARY] [DEVICE (cpu|cuda|auto)]
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-build/bin/vpmoe-host}
device=${2:-auto}
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
"$host" synth-arithmetic --output "$work/arith.jsonl" --count 600 --seed 3 --analysis >/dev/null
"$host" preprocess --input "$work/arith.jsonl" --output-prefix "$work/arith" --format harmony \
  --workers 2 >/dev/null
sed -e "s#runs/tiny/data/arith_train#$work/arith#" \
  -e "s#runs/tiny/data/arith_valid#$work/arith#" -e "s#^dir = .*#dir = \"$work/run\"#" \
  -e "s#^device = .*#device = \"$device\"#" -e 's#^train_iters = .*#train_iters = 12#' \
  -e 's#^eval_interval = .*#eval_interval = 6#' -e 's#^interval = 10#interval = 4\ntensorboard = true#' \
  configs/tiny.toml >"$work/run.toml"
printf '\n[plugins]\nloss = "loss.span_ce"\n' >>"$work/run.toml"
"$host" --config "$work/run.toml" --log-level warn
python3 scripts/tensorboard-readback.py "$work/run"
