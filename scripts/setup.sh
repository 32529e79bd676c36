#!/usr/bin/env bash
# One-time set-up on Debian: installs the missing packages (only those), fetches the tokenizer
# asset, configures build/ (Ninja, CUDA parts when a toolkit is found) and builds it.
# Idempotent: a second run checks, finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build ccache ca-certificates
          libboost-dev libboost-program-options-dev libboost-filesystem-dev
          libtomlplusplus-dev libspdlog-dev libgtest-dev libopenblas-dev
          libopenmpi-dev openmpi-bin nlohmann-json3-dev
          libicu-dev libssl-dev libpcre2-dev libpng-dev clang libclang-rt-14-dev
          libprotobuf-dev protobuf-compiler)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm fetch the tokenizer asset; a NodeSource nodejs already bundles npm, and Debian's
# npm package would conflict with it, so look for the commands rather than the packages.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

bash scripts/fetch-tokenizer.sh

# Configure once; afterwards ninja re-runs CMake itself when a CMakeLists.txt changes.
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DVPMOE_CUDA=AUTO
fi
cmake --build build
