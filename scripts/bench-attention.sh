#!/usr/bin/env bash
# On a GPU machine: builds bench_attention (reusing build-gpu from scripts/gpu-check.sh when it
# is there) and runs it and PyTorch's flash SDPA baseline one after the other on the same device.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-gpu/CMakeCache.txt ]; then
  echo "run scripts/gpu-check.sh first (it configures build-gpu with the carried packages)" >&2
  exit 1
fi
cmake --build build-gpu -j "$(nproc)" --target bench_attention
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader || true
build-gpu/bin/bench_attention "$@"
python3 bench/attention/sdpa_baseline.py
