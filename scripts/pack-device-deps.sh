#!/usr/bin/env bash
# Packs the Debian third-party packages the build needs (headers, the few shared libraries
# linked, their CMake configs) into .devdeps/devdeps.tar.xz, for a GPU machine that lacks them:
# scripts/gpu-check.sh unpacks it and builds against it. Carry .devdeps with the run.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=x86_64-linux-gnu
lib=usr/lib/$arch
paths=(
  usr/include/boost usr/include/toml++ usr/include/spdlog usr/include/fmt
  usr/include/gtest usr/include/gmock usr/include/nlohmann
  usr/include/$arch/openblas-pthread usr/include/unicode usr/include/openssl usr/include/pcre2.h
  usr/include/$arch/openssl usr/include/png.h usr/include/pngconf.h usr/include/pnglibconf.h
  usr/include/libpng16 usr/include/zlib.h usr/include/zconf.h usr/include/google usr/bin/protoc
  usr/share/cmake/nlohmann_json
  $lib/cmake/Boost-1.74.0 $lib/cmake/BoostDetectToolset-1.74.0.cmake
  $lib/cmake/boost_headers-1.74.0 $lib/cmake/boost_filesystem-1.74.0
  $lib/cmake/boost_program_options-1.74.0 $lib/cmake/boost_system-1.74.0
  $lib/cmake/tomlplusplus $lib/cmake/spdlog $lib/cmake/fmt $lib/cmake/GTest
  $lib/openblas-pthread/libopenblas.so $lib/openblas-pthread/libopenblas.so.0
  $lib/openblas-pthread/libopenblasp-r0.3.21.so
)
for pat in 'libboost_filesystem.so*' 'libboost_program_options.so*' 'libboost_system.so*' \
  'libtomlplusplus.so*' 'libspdlog.so*' 'libfmt.so*' 'libgtest*.a' 'libgmock*.a' \
  'libgfortran.so.5*' 'libquadmath.so.0*' 'libicuuc.so*' 'libicudata.so*' 'libcrypto.so*' \
  'libssl.so*' 'libpcre2-8.so*' 'libpng*.so*' 'libz.so*' 'libprotobuf.so*' 'libprotoc.so*'; do
  for f in /$lib/$pat; do [ -e "$f" ] && paths+=("${f#/}"); done
done
for p in "${paths[@]}"; do
  [ -e "/$p" ] || { echo "pack-device-deps: missing /$p (install the Debian -dev packages)" >&2; exit 1; }
done
mkdir -p .devdeps
# libopenblas.so / .so.0 in lib/ are alternatives links: point them into openblas-pthread/.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$lib"
ln -s openblas-pthread/libopenblas.so "$stage/$lib/libopenblas.so"
ln -s openblas-pthread/libopenblas.so.0 "$stage/$lib/libopenblas.so.0"
mkdir -p "$stage/usr/include/$arch"
ln -s openblas-pthread/openblas_config.h "$stage/usr/include/$arch/openblas_config.h"
tar -C / -cf "$stage/deps.tar" "${paths[@]}"
tar -C "$stage" -rf "$stage/deps.tar" "$lib/libopenblas.so" "$lib/libopenblas.so.0" \
  "usr/include/$arch/openblas_config.h"
xz -T0 -6 -c "$stage/deps.tar" > .devdeps/devdeps.tar.xz
echo "pack-device-deps: $(du -h .devdeps/devdeps.tar.xz | cut -f1) in .devdeps/devdeps.tar.xz"
