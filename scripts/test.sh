#!/usr/bin/env bash
# Sets up (if needed) and runs every test that needs no GPU; GPU tests skip themselves here
# (scripts/gpu-check.sh runs them on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j2
# A short libFuzzer run of every target, 25 s each (the longer ones are run by hand).
bash scripts/fuzz.sh 25
