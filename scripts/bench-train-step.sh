#!/usr/bin/env bash
# The locked 80-layer model's training step on real text, on one GPU: makes a text corpus from
# the machine's own files once (scripts/make-bench-corpus.py), splits it into documents,
# tokenizes them (vpmoe-host preprocess), then times bench_train_step on
# configs/run_vpmoe_bench.toml. Real text keeps the routing as skewed as training makes it;
# mock tokens would not. BUILD (default build-gpu) names the build folder.
#   scripts/bench-train-step.sh [bench_train_step options, e.g. --reps 5]
#   scripts/bench-train-step.sh --recompute full --micro-batch 8   # a [train] recompute mode
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD:-build-gpu}/bin
out=runs/bench_text
mkdir -p "$out"
if [ ! -f "$out/text.idx" ]; then
  [ -f "$out/corpus.txt" ] || python3 scripts/make-bench-corpus.py "$out/corpus.txt" 20
  # Documents of ~16 kB, cut at line ends, as {"text": ...} lines.
  python3 - "$out/corpus.txt" "$out/docs.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
with open(sys.argv[2], "w", encoding="utf-8") as f:
    at = 0
    while at < len(text):
        cut = text.find("\n", at + 16000)
        cut = len(text) if cut < 0 else cut + 1
        f.write(json.dumps({"text": text[at:cut]}) + "\n")
        at = cut
PY
  "$bin/vpmoe-host" preprocess --input "$out/docs.jsonl" --output-prefix "$out/text" \
    --format text --workers "$(nproc)"
fi
"$bin/bench_train_step" --config configs/run_vpmoe_bench.toml "$@"
