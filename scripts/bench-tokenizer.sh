#!/usr/bin/env bash
# Tokenizer throughput, side by side in one run: bench_tokenizer (tokenizer.o200k_harmony)
# against native tiktoken (@anysphere/tiktoken-node) and its WebAssembly build (npm tiktoken)
# on the same ~MB mixed corpus, one thread each; then our batch scaling over threads. Token
# counts must agree (whole corpus, and the corpus split into documents) or the script fails.
#   scripts/bench-tokenizer.sh [MB (20)] [MAX_THREADS (nproc)]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-20}
threads=${2:-$(nproc)}
corpus=build/bench-corpus-${mb}MB.txt  # made from this machine's Debian files
node_dir=build/bench-node              # npm installs here, never into the tree

# Timings need -O3: use build/ when it is a Release build, else a Release build-bench/.
build=build
if ! grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' build/CMakeCache.txt 2>/dev/null; then
  build=build-bench
  [ -f $build/CMakeCache.txt ] ||
    cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVPMOE_CUDA=OFF >/dev/null
fi
bash scripts/fetch-tokenizer.sh >/dev/null
cmake --build $build --target bench_tokenizer >/dev/null
mkdir -p build
[ -f "$corpus" ] || python3 scripts/make-bench-corpus.py "$corpus" "$mb"
if ! cmp -s bench/tokenizer/node/package.json "$node_dir/package.json" ||
   [ ! -d "$node_dir/node_modules/@anysphere/tiktoken-node" ]; then
  mkdir -p "$node_dir"
  cp bench/tokenizer/node/package.json "$node_dir/"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund >/dev/null)
fi
cp bench/tokenizer/node/bench.cjs "$node_dir/"

ours_cmd=($build/bin/bench_tokenizer data/tokenizer/o200k_base.tiktoken "$corpus" --threads "$threads")
theirs_cmd=(node "$node_dir/bench.cjs" "$corpus")
echo "== $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; corpus $corpus"
echo "== ${ours_cmd[*]}"
ours=$("${ours_cmd[@]}")
echo "$ours"
echo "== ${theirs_cmd[*]}"
theirs=$("${theirs_cmd[@]}")
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours = [json.loads(l) for l in sys.argv[1].splitlines()]
theirs = {d["what"]: d for d in map(json.loads, sys.argv[2].splitlines())}
single = next(d for d in ours if d["what"] == "single_thread")
batch = [d for d in ours if d["what"] == "batch"]
load = next(d for d in ours if d["what"] == "load")
peak = next(d for d in ours if d["what"] == "peak")
for name in ("tiktoken-node", "tiktoken-wasm"):
    if theirs[name]["tokens"] != single["tokens"]:
        sys.exit(f"FAIL: token counts differ: ours {single['tokens']}, {name} {theirs[name]['tokens']}")
docs = theirs["documents"]
for d in batch:
    if (d["documents"], d["tokens"]) != (docs["documents"], docs["tokens"]):
        sys.exit(f"FAIL: batch on {d['threads']} threads: {d['documents']} documents, {d['tokens']} "
                 f"tokens; tiktoken-node: {docs['documents']} documents, {docs['tokens']} tokens")
nat, wasm = theirs["tiktoken-node"], theirs["tiktoken-wasm"]
print(f"== same {single['tokens']} tokens from all three; batch: same {docs['tokens']} tokens "
      f"over {docs['documents']} documents as tiktoken-node")
print(f"== one thread, MB/s best (median): ours {single['best_mb_s']:.1f} ({single['median_mb_s']:.1f}), "
      f"tiktoken-node {nat['best_mb_s']:.1f} ({nat['median_mb_s']:.1f}), "
      f"wasm {wasm['best_mb_s']:.1f} ({wasm['median_mb_s']:.1f})")
print(f"== ratio vs native tiktoken: {single['best_mb_s'] / nat['best_mb_s']:.1f}x best, "
      f"{single['median_mb_s'] / nat['median_mb_s']:.1f}x median, "
      f"{single['cold_mb_s'] / nat['cold_mb_s']:.1f}x first pass (cold caches: ours "
      f"{single['cold_mb_s']:.1f}, native {nat['cold_mb_s']:.1f})")
base = batch[0]["mb_s"]
print("== batch: " + ", ".join(f"{d['threads']} threads {d['mb_s']:.0f} MB/s ({d['mb_s'] / base:.2f}x)"
                               for d in batch))
print(f"== load: ours {load['ms']:.0f} ms, +{load['resident_mib']:.1f} MiB resident "
      f"(+{single['thread_cache_mib']:.0f} MiB piece cache per encoding thread; peak "
      f"{peak['resident_mib']:.0f} MiB with the {peak['corpus_mib']:.0f} MiB corpus and outputs); "
      f"tiktoken-node {nat['load_ms']:.0f} ms, wasm {wasm['load_ms']:.0f} ms")
PY
