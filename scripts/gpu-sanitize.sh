#!/usr/bin/env bash
# compute-sanitizer over the GPU tests of a CUDA build (scripts/gpu-check.sh --sanitize runs it
# after the build). Each test binary runs once per tool with the tests ctest labels gpu; a
# finding fails the script, and its report is kept in BUILD/sanitize/TOOL-BINARY.log. What is
# by design (memory kept for the process's life, NCCL's own probing errors) is not a finding:
# scripts/sanitizer-findings.py says which.
#   scripts/gpu-sanitize.sh [--build DIR] [--tools memcheck,racecheck,initcheck,synccheck]
#                           [--timeout S (per binary and tool)] [--budget S (all of it)]
#                           [--only REGEX] [--skip REGEX] (binaries)
# The freed-block reuse of the stream-ordered pool hides a use after free from memcheck only if
# the block is reused; memcheck tracks cudaMallocAsync blocks itself. Two-process NCCL tests
# are left out (they skip on one GPU and fork ranks the tool would follow).
set -uo pipefail
cd "$(dirname "$0")/.."
build=build-gpu tools=memcheck,racecheck,initcheck,synccheck timeout=300 budget=100000 only=. skip='^$'
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --tools) tools=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --budget) budget=$2; shift ;;
    --only) only=$2; shift ;;
    --skip) skip=$2; shift ;;
    *) echo "usage: $0 [--build DIR] [--tools LIST] [--timeout S] [--budget S] [--only REGEX] [--skip REGEX]" >&2
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
t_start=$(date +%s) failed=0 skipped=0
printf '%-10s %-32s %-8s %6s  %s\n' tool binary result secs "report"
for tool in ${tools//,/ }; do
  extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  [ "$tool" = racecheck ] && extra=(--racecheck-report all)
  while IFS=$'\t' read -r bin filter; do
    name=$(basename "$bin")
    log=$logs/$tool-$name.log
    if (( $(date +%s) - t_start > budget )); then
      printf '%-10s %-32s %-8s %6s  %s\n' "$tool" "$name" "not run" - "(budget spent)"
      skipped=$((skipped + 1))
      continue
    fi
    t0=$(date +%s)
    timeout "$timeout" "$cs" --tool "$tool" --error-exitcode 86 --print-limit 100000 \
      --target-processes all "${extra[@]}" "$bin" --gtest_filter="$filter" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    findings=$(python3 scripts/sanitizer-findings.py "$log")
    found=$?
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -1 | sed 's/^=* *//')
    if [ "$rc" = 124 ]; then
      result=timeout; skipped=$((skipped + 1))
    elif [ "$found" = 0 ] && { [ "$rc" = 0 ] || [ "$rc" = 86 ]; }; then
      result=clean  # 86: only what is by design
    else
      result=FINDINGS; failed=$((failed + 1))
    fi
    printf '%-10s %-32s %-8s %6s  %s; %s\n' "$tool" "$name" "$result" "$secs" "${summary:-no summary}" \
      "$(tail -1 <<<"$findings")"
    [ "$result" = FINDINGS ] && head -n 20 <<<"$findings"
  done <<<"$plan"
done
echo "gpu-sanitize: $failed with findings or failures, $skipped timed out or not run," \
  "$(( $(date +%s) - t_start )) s"
[ "$failed" = 0 ]
