#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, apart from the gcc build) and fuzzes the
# o200k tokenizer round trip for SECONDS (default 60) from a seed corpus of reference texts.
# The saved regressions (tests/data/tokenizer/fuzz-regressions/) are replayed first. A crash,
# a failed check or an input slower than 10 s fails the script; its input is printed (hex) and
# kept in build-fuzz/crashes/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/fetch-tokenizer.sh >/dev/null
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
cmake --build build-fuzz >/dev/null
fuzzer=build-fuzz/fuzz_o200k_roundtrip
seeds=build-fuzz/seeds corpus=build-fuzz/corpus crashes=build-fuzz/crashes
regressions=tests/data/tokenizer/fuzz-regressions
if [ ! -d "$seeds" ]; then
  mkdir -p "$seeds.tmp"
  # A seed is a mode byte then data: '0' and one reference text (every 40th case), or '1' and
  # the ids of one case as little-endian u32 (every 400th).
  node -e '
    const fs = require("fs"), [src, dir] = process.argv.slice(1);
    const cases = fs.readFileSync(src, "utf8").split("\n").filter(Boolean).map(JSON.parse);
    cases.forEach((c, i) => {
      if (i % 40 === 0) fs.writeFileSync(`${dir}/text${i}`, "0" + c.text);
      if (i % 400 === 0) fs.writeFileSync(`${dir}/ids${i}`,
        Buffer.concat([Buffer.from("1"), Buffer.from(Uint32Array.from(c.ids).buffer)]));
    });
  ' tests/data/tokenizer/parity_o200k_harmony.jsonl "$seeds.tmp"
  mv "$seeds.tmp" "$seeds"
fi
mkdir -p "$corpus" "$crashes"
log=build-fuzz/fuzz.log

fail() {
  echo "fuzz: FAILED ($1); the last lines of $log:" >&2
  tail -n 40 "$log" >&2
  for f in "$crashes"/*; do
    [ -f "$f" ] || continue
    echo "fuzz: input $f (save it to $regressions/ once fixed):" >&2
    od -A d -t x1 "$f" | head -n 40 >&2
  done
  exit 1
}

if compgen -G "$regressions/*" >/dev/null; then
  echo "fuzz: replaying $(ls "$regressions" | wc -l) saved regressions"
  "$fuzzer" -timeout=10 "$regressions"/* >"$log" 2>&1 || fail "a saved regression"
fi
echo "fuzz: fuzz_o200k_roundtrip for ${seconds}s ($(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) corpus)"
"$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1 || fail "exit status $?"
grep -E "^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$log"
