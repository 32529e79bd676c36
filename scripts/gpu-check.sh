#!/usr/bin/env bash
# On a GPU machine: configure a fresh CUDA build (build-gpu), build it, run the GPU tests
# (ctest -L gpu) and print a summary. --bench also runs bench_gemm and, for the device's
# peak, torch.matmul bf16 8192^3. Third-party packages come from .devdeps/devdeps.tar.xz
# (scripts/pack-device-deps.sh) when it is there. --target NAME builds and runs only that test
# binary, reusing build-gpu when it is there (a quicker loop while a kernel is written; the
# full check is what a note quotes). --sanitize then runs compute-sanitizer over the GPU tests
# (scripts/gpu-sanitize.sh; SANITIZE_ARGS passes it options, e.g. "--tools memcheck");
# --no-ctest builds and goes straight to the sanitizer or the benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
bench=0 sanitize=0 run_ctest=1
target=
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1 ;;
    --sanitize) sanitize=1 ;;
    --no-ctest) run_ctest=0 ;;
    --target) target=${2:?--target needs a name}; shift ;;
    *) echo "usage: $0 [--bench] [--sanitize] [--no-ctest] [--target TEST_BINARY]" >&2; exit 2 ;;
  esac
  shift
done

device=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
echo "== device: ${device:-none found}"

cmake_args=()
if [ -f .devdeps/devdeps.tar.xz ]; then
  root=/tmp/vpmoe-devdeps
  rm -rf "$root" && mkdir -p "$root"
  if command -v xz >/dev/null; then
    tar -C "$root" -xJf .devdeps/devdeps.tar.xz
  else
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
      .devdeps/devdeps.tar.xz "$root"
  fi
  libdir=$root/usr/lib/x86_64-linux-gnu
  # The linker and the tests find the carried libraries' own dependencies (libgfortran) here.
  export LD_LIBRARY_PATH=$libdir:$libdir/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  cmake_args+=("-DCMAKE_PREFIX_PATH=$root/usr;$root/usr/share/cmake")
  echo "== third-party packages from .devdeps ($root)"
fi

jobs=$(nproc)
[ -z "$target" ] && rm -rf build-gpu
echo "== configure"
cmake -S . -B build-gpu -G Ninja -DVPMOE_CUDA=ON -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" ||
  { echo "== SUMMARY: configure failed on ${device:-no GPU}"; exit 1; }
echo "== build (-j$jobs)"
t0=$(date +%s)
# Keep going past failures elsewhere in the tree so that the GPU tests that built still run.
cmake --build build-gpu -j "$jobs" ${target:+--target "$target"} -- -k 0
build_rc=$?
echo "== build took $(( $(date +%s) - t0 )) s, rc $build_rc"

echo "== ctest -L gpu"
if [ "$run_ctest" = 0 ]; then
  echo "(skipped: --no-ctest)" | tee build-gpu/ctest-gpu.log
  ctest_rc=0
elif [ -n "$target" ]; then
  bin=$(find build-gpu -name "$target" -type f -executable | head -1)
  echo "== $bin"
  "${bin:-false}" 2>&1 | tee build-gpu/ctest-gpu.log
  ctest_rc=${PIPESTATUS[0]}
else
  (cd build-gpu && ctest -L gpu --output-on-failure -j 1 --timeout 900) | tee build-gpu/ctest-gpu.log
  ctest_rc=${PIPESTATUS[0]}
fi

if [ "$bench" = 1 ]; then
  echo "== bench_gemm"
  if [ -x build-gpu/bin/bench_gemm ]; then build-gpu/bin/bench_gemm; else echo "bench_gemm not built"; fi
  echo "== torch.matmul bf16 8192^3 (device peak)"
  python3 - <<'PY' || echo "torch benchmark failed"
import torch
n, reps = 8192, 50
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(10):
    torch.matmul(a, b)
ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
for s, e in ev:
    s.record(); torch.matmul(a, b); e.record()
torch.cuda.synchronize()
ms = sorted(s.elapsed_time(e) for s, e in ev)[reps // 2]
print(f"torch {torch.__version__} matmul bf16 {n}^3: {ms:.3f} ms {2 * n**3 / ms / 1e9:.1f} TFLOP/s (median of {reps})")
PY
fi

sanitize_rc=0
if [ "$sanitize" = 1 ]; then
  echo "== compute-sanitizer"
  # shellcheck disable=SC2086
  bash scripts/gpu-sanitize.sh --build build-gpu ${SANITIZE_ARGS:-} | tee build-gpu/sanitize.log
  sanitize_rc=${PIPESTATUS[0]}
fi

echo "== SUMMARY on ${device:-no GPU}"
echo "build rc $build_rc"
grep -E "tests passed|tests failed|PASSED|FAILED" build-gpu/ctest-gpu.log || echo "no test result printed"
skipped=$(grep -c "Skipped" build-gpu/ctest-gpu.log || true)
echo "skipped: $skipped"
grep -E "\*\*\*Failed|\(Failed\)|Not Run|Timeout" build-gpu/ctest-gpu.log || true
[ "$sanitize" = 1 ] && tail -1 build-gpu/sanitize.log
[ "$build_rc" = 0 ] && [ "$ctest_rc" = 0 ] && [ "$sanitize_rc" = 0 ]
