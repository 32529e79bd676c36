#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, apart from the gcc build) and fuzzes each
# TARGET for SECONDS (default 60; all targets when none is named):
#   o200k_roundtrip   the o200k tokenizer round trip        harmony_render    Harmony JSON -> tokens
#   config            run.toml -> parse_config             indexed_dataset   .idx/.bin reader
#   safetensors       the checkpoint safetensors reader
# A target's saved regressions (tests/data/fuzz-regressions/TARGET/) are replayed first; its
# seeds (fuzz/make_seeds.cjs) start build-fuzz/corpus/TARGET/, which grows from run to run. A
# crash, a failed check, a leak or an input slower than 10 s fails the script; its input is
# printed (hex) and kept in build-fuzz/crashes/TARGET/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
all=(o200k_roundtrip harmony_render config indexed_dataset safetensors)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (${all[*]})" >&2; exit 2; }
done
bash scripts/fetch-tokenizer.sh >/dev/null
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
cmake --build build-fuzz -j "${VPMOE_FUZZ_JOBS:-2}" >/dev/null

fuzz_one() {
  local t=$1
  local fuzzer=build-fuzz/fuzz_$t seeds=build-fuzz/seeds/$t corpus=build-fuzz/corpus/$t
  local crashes=build-fuzz/crashes/$t regressions=tests/data/fuzz-regressions/$t
  local log=build-fuzz/fuzz_$t.log
  fail() {
    echo "fuzz: $t FAILED ($1); the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    for f in "$crashes"/*; do
      [ -f "$f" ] || continue
      echo "fuzz: input $f (save it to $regressions/ once fixed):" >&2
      od -A d -t x1 "$f" | head -n 40 >&2
    done
    exit 1
  }
  if [ ! -d "$seeds" ]; then
    rm -rf "$seeds.tmp" && mkdir -p "$seeds.tmp"
    node fuzz/make_seeds.cjs "$t" "$seeds.tmp"
    mv "$seeds.tmp" "$seeds"
  fi
  mkdir -p "$corpus" "$crashes"
  if compgen -G "$regressions/*" >/dev/null; then
    echo "fuzz: $t: replaying $(ls "$regressions" | wc -l) saved regressions"
    "$fuzzer" -timeout=10 "$regressions"/* >"$log" 2>&1 || fail "a saved regression"
  fi
  echo "fuzz: $t for ${seconds}s ($(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) corpus)"
  "$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1 ||
    fail "exit status $?"
  grep -E "^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$log"
}

for t in "${targets[@]}"; do fuzz_one "$t"; done
