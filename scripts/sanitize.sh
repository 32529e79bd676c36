#!/usr/bin/env bash
# Builds the CPU test suite with AddressSanitizer + UndefinedBehaviorSanitizer (gcc, CUDA off) in
# build-asan/, apart from build/, and runs every ctest test under it. Every executable, the core
# library and every plugin get the -fsanitize flags, so plugins opened with Boost.DLL share the
# executable's sanitizer runtime (no LD_PRELOAD). UB aborts at the first report; leaks fail the
# run, except those listed in scripts/lsan.supp (third-party internals only). mpirun passes its
# environment to local ranks, so the MPI tests run sanitized too.
#   scripts/sanitize.sh [CTEST ARGS...]     e.g. scripts/sanitize.sh -R Tokenizer
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${VPMOE_SANITIZE_JOBS:-2}
bash scripts/fetch-tokenizer.sh >/dev/null  # the packages: scripts/setup.sh, once
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f build-asan/CMakeCache.txt ]; then
  cmake -S . -B build-asan -G Ninja -DVPMOE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$flags" >/dev/null
fi
cmake --build build-asan -j "$jobs"

# detect_leaks: LSan reports at exit and fails the test. fast_unwind_on_malloc=0: Debian builds
# Open MPI without frame pointers, so only the slow unwinder reaches the frames lsan.supp names.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:check_initialization_order=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
start=$(date +%s)
ctest --test-dir build-asan --output-on-failure -j "$jobs" "$@"
echo "sanitize: ctest under ASan + UBSan passed in $(($(date +%s) - start)) s"
