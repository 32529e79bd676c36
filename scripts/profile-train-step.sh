#!/usr/bin/env bash
# Where a training step's GPU time goes, kernel by kernel: ncu times every kernel of one step of
# bench_train_step (after its warm-up, on the real text of scripts/bench-train-step.sh) and the
# kernels are summed by name. The default is the 8-layer slice (same layers as the 80-layer
# model, a tenth of the kernels; ncu runs each kernel alone, so the whole model takes ~10x
# longer). BUILD (default build-gpu) names the build folder; OUT (default runs/profile) the
# folder for the CSV and the table.
#   scripts/profile-train-step.sh [--layers N] [--warmup N] [--top N]
set -euo pipefail
cd "$(dirname "$0")/.."
layers=8 warmup=2 top=45
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --top) top=$2; shift ;;
    *) echo "usage: $0 [--layers N] [--warmup N] [--top N]" >&2; exit 2 ;;
  esac
  shift
done
bin=${BUILD:-build-gpu}/bin
out=${OUT:-runs/profile}
mkdir -p "$out"
# The dataset (and only it): bench-train-step.sh with zero timed reps would still time; make it
# by asking that script for a step count of nothing when it is missing.
[ -f runs/bench_text/text.idx ] || scripts/bench-train-step.sh --layers 1 --reps 1 --warmup 0 >/dev/null
ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum --csv \
  --print-units base --log-file "$out/ncu.csv" \
  "$bin/bench_train_step" --layers "$layers" --warmup "$warmup" --profile
python3 - "$out/ncu.csv" "$top" "$layers" <<'PY' | tee "$out/kernels.txt"
import csv, re, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head, rows = rows[0], rows[1:]
name, value = head.index("Kernel Name"), head.index("Metric Value")
tot, cnt = {}, {}
def short(k):
    k = re.sub(r"^void ", "", k.replace("(anonymous namespace)::", "").replace("<unnamed>::", ""))
    if "cutlass" in k or "nvjet" in k or "sm80" in k or "sm90" in k:
        return k[:90]
    base = k.split("(")[0]
    return base.split("<")[0].split("::")[-1] + ("<" + base.split("<", 1)[1][:40] if "<" in base else "")
for r in rows:
    k = short(r[name])
    tot[k] = tot.get(k, 0.0) + float(r[value].replace(",", "")) / 1e6
    cnt[k] = cnt.get(k, 0) + 1
all_ms = sum(tot.values())
print(f"one step, {sys.argv[3]} layers: {len(rows)} kernels, {all_ms:.1f} ms of kernel time")
print(f"{'ms':>9} {'share':>6} {'calls':>6} {'us/call':>8}  kernel")
for k, t in sorted(tot.items(), key=lambda kv: -kv[1])[: int(sys.argv[2])]:
    print(f"{t:9.2f} {100 * t / all_ms:5.1f}% {cnt[k]:6d} {1000 * t / cnt[k]:8.1f}  {k}")
PY
