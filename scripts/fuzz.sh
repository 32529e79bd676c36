#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and fuzzes the o200k tokenizer round
# trip for SECONDS (default 60), from a seed corpus of reference texts. A crash leaves its
# input in build-fuzz/ (crash-*) and fails the script.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/fetch-tokenizer.sh >/dev/null
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
cmake --build build-fuzz >/dev/null
seeds=build-fuzz/seeds corpus=build-fuzz/corpus
if [ ! -d "$seeds" ]; then
  mkdir -p "$seeds"
  # Each seed: a mode byte ('0': text) then one reference text.
  node -e '
    const fs = require("fs"), [src, dir] = process.argv.slice(1);
    const lines = fs.readFileSync(src, "utf8").split("\n").filter(Boolean);
    lines.filter((_, i) => i % 40 === 0).forEach((l, i) =>
      fs.writeFileSync(`${dir}/seed${i}`, "0" + JSON.parse(l).text));
  ' tests/data/tokenizer/parity_o200k_harmony.jsonl "$seeds"
fi
mkdir -p "$corpus"
echo "fuzz: fuzz_o200k_roundtrip for ${seconds}s ($(ls "$seeds" | wc -l) seeds)"
(cd build-fuzz && ./fuzz_o200k_roundtrip -max_total_time="$seconds" -max_len=4096 \
   -print_final_stats=1 corpus seeds 2>&1 | grep -E "^#|stat::|ERROR|SUMMARY|crash" | tail -12)
exit "${PIPESTATUS[0]}"
