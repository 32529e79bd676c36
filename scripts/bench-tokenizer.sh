#!/usr/bin/env bash
# Tokenizer throughput, side by side in one run: bench_tokenizer (tokenizer.o200k_harmony)
# against native tiktoken (@anysphere/tiktoken-node) and its WebAssembly build (npm tiktoken)
# on the same ~20 MB mixed corpus, one thread each; then our batch scaling over threads.
#   scripts/bench-tokenizer.sh [MB] [MAX_THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-20}
threads=${2:-$(nproc)}
corpus=build/bench-corpus-${mb}MB.txt
node_dir=build/bench-node

bash scripts/fetch-tokenizer.sh >/dev/null
cmake --build build --target bench_tokenizer >/dev/null
[ -f "$corpus" ] || python3 scripts/make-bench-corpus.py "$corpus" "$mb"
if [ ! -d "$node_dir/node_modules/@anysphere/tiktoken-node" ]; then
  mkdir -p "$node_dir"
  cp bench/tokenizer/node/package.json "$node_dir/"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund >/dev/null)
fi
cp bench/tokenizer/node/bench.cjs "$node_dir/"

echo "== $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; corpus $corpus"
ours=$(build/bin/bench_tokenizer data/tokenizer/o200k_base.tiktoken "$corpus" --threads "$threads")
theirs=$(node "$node_dir/bench.cjs" "$corpus")
echo "$ours"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours = [json.loads(l) for l in sys.argv[1].splitlines()]
theirs = {d["what"]: d for d in map(json.loads, sys.argv[2].splitlines())}
single = next(d for d in ours if d["what"] == "single_thread")
for name, d in theirs.items():
    if d["tokens"] != single["tokens"]:
        sys.exit(f"token counts differ: ours {single['tokens']}, {name} {d['tokens']}")
nat = theirs["tiktoken-node"]
print(f"== same {single['tokens']} tokens from all three")
print(f"== one thread, best of runs: ours {single['best_mb_s']:.1f} MB/s, native tiktoken "
      f"{nat['best_mb_s']:.1f} MB/s: {single['best_mb_s'] / nat['best_mb_s']:.1f}x "
      f"(wasm {theirs['tiktoken-wasm']['best_mb_s']:.1f} MB/s)")
print(f"== first pass (cold caches): ours {single['cold_mb_s']:.1f}, native {nat['cold_mb_s']:.1f}: "
      f"{single['cold_mb_s'] / nat['cold_mb_s']:.1f}x")
batch = [d for d in ours if d["what"] == "batch"]
base = batch[0]["mb_s"]
print("== batch: " + ", ".join(f"{d['threads']} threads {d['mb_s']:.0f} MB/s ({d['mb_s'] / base:.1f}x)"
                               for d in batch))
PY
