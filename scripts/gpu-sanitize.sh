#!/usr/bin/env bash
# compute-sanitizer over the GPU tests of a CUDA build (scripts/gpu-check.sh --sanitize runs it
# after the build). Each test binary runs once per tool with the tests ctest labels gpu; a
# finding fails the script, and its report is kept in BUILD/sanitize/TOOL-BINARY.log. What is
# by design (memory kept for the process's life, NCCL's own probing errors) is not a finding:
# scripts/sanitizer-findings.py says which.
#   scripts/gpu-sanitize.sh [--build DIR] [--tools memcheck,racecheck,initcheck,synccheck]
#                           [--timeout S (per binary and tool)] [--budget S (all of it)]
#                           [--only REGEX] [--skip REGEX] (binaries)
#                           [--per-test] (one run per test) [--jobs N] (runs at once: the tools
#                           are bound by the host's cores more than by the GPU)
# The freed-block reuse of the stream-ordered pool hides a use after free from memcheck only if
# the block is reused; memcheck tracks cudaMallocAsync blocks itself. Two-process NCCL tests
# are left out (they skip on one GPU and fork ranks the tool would follow).
set -uo pipefail
cd "$(dirname "$0")/.."
build=build-gpu tools=memcheck,racecheck,initcheck,synccheck timeout=300 budget=100000 only=. skip='^$'
jobs=1 per_test=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --tools) tools=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --budget) budget=$2; shift ;;
    --only) only=$2; shift ;;
    --skip) skip=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --per-test) per_test=1 ;;
    *) echo "usage: $0 [--build DIR] [--tools LIST] [--timeout S] [--budget S] [--only REGEX] [--skip REGEX] [--per-test] [--jobs N]" >&2
       exit 2 ;;
  esac
  shift
done
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
[ -x "$cs" ] || { echo "gpu-sanitize: compute-sanitizer not found" >&2; exit 2; }
logs=$build/sanitize
mkdir -p "$logs"
# binary <tab> gtest filter (the gpu-labelled tests of that binary, joined with ':').
plan=$(ctest --test-dir "$build" -L gpu --show-only=json-v1 | python3 -c '
import json, sys, collections
by = collections.OrderedDict()
for t in json.load(sys.stdin)["tests"]:
    cmd = t.get("command") or []
    f = [a.split("=", 1)[1] for a in cmd[1:] if a.startswith("--gtest_filter=")]
    if not cmd or not f or f[0].startswith(("NcclTwoProcesses", "NcclChild")):
        continue
    by.setdefault(cmd[0], []).append(f[0])
for b, fs in by.items():
    print(b + "\t" + ":".join(fs))
' | grep -E "$only" | grep -vE "$skip")
[ -n "$plan" ] || { echo "gpu-sanitize: no gpu tests found in $build" >&2; exit 2; }
t_start=$(date +%s)
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# One (tool, binary, filter) run: its result line goes to $results/N (printed in order below).
run_one() {
  local n=$1 tool=$2 bin=$3 filter=$4 name log extra=() rc secs findings found summary result
  name=$(basename "$bin")
  [ "$per_test" = 1 ] && name="$name:$filter"
  log=$logs/$tool-${name//[:\/]/_}.log
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  [ "$tool" = racecheck ] && extra=(--racecheck-report all)
  # The NVTX marks of cuBLAS outputs (VPMOE_SANITIZER_MARKS, ops/cuda/sanitizer_marks.h).
  [ "$tool" = initcheck ] && extra=(--nvtx yes)
  if (( $(date +%s) - t_start > budget )); then
    printf '%-10s %-32s %-8s %6s  %s\n' "$tool" "$name" "not run" - "(budget spent)" >"$results/$n"
    return
  fi
  local t0
  t0=$(date +%s)
  timeout "$timeout" "$cs" --tool "$tool" --error-exitcode 86 --print-limit 100000 \
    --target-processes all "${extra[@]}" "$bin" --gtest_filter="$filter" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  findings=$(python3 scripts/sanitizer-findings.py "$log")
  found=$?
  summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -1 | sed 's/^=* *//')
  if [ "$rc" = 124 ]; then
    result=timeout
  elif [ "$found" = 0 ] && { [ "$rc" = 0 ] || [ "$rc" = 86 ]; }; then
    result=clean  # 86: only what is by design
  else
    result=FINDINGS
  fi
  {
    printf '%-10s %-32s %-8s %6s  %s; %s\n' "$tool" "$name" "$result" "$secs" \
      "${summary:-no summary}" "$(tail -1 <<<"$findings")"
    [ "$result" = FINDINGS ] && head -n 20 <<<"$findings"
  } >"$results/$n"
}
export VPMOE_SANITIZER_MARKS=1
if [ "$per_test" = 1 ]; then  # one run per test: a slow binary's tests get a timeout each
  plan=$(while IFS=$'\t' read -r bin filter; do
    tr ':' '\n' <<<"$filter" | sed "s#^#$bin\t#"
  done <<<"$plan")
fi
printf '%-10s %-32s %-8s %6s  %s\n' tool binary result secs "report"
n=0
for tool in ${tools//,/ }; do
  while IFS=$'\t' read -r bin filter; do
    n=$((n + 1))
    while (( $(jobs -rp | wc -l) >= jobs )); do wait -n; done
    run_one "$n" "$tool" "$bin" "$filter" &
  done <<<"$plan"
done
wait
failed=0 skipped=0
for i in $(seq 1 "$n"); do
  cat "$results/$i"
  case "$(head -1 "$results/$i")" in
    *" FINDINGS "*) failed=$((failed + 1)) ;;
    *" timeout "* | *"not run"*) skipped=$((skipped + 1)) ;;
  esac
done
echo "gpu-sanitize: $failed with findings or failures, $skipped timed out or not run," \
  "$(( $(date +%s) - t_start )) s"
[ "$failed" = 0 ]
