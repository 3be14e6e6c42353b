#!/usr/bin/env bash
# Regenerates the SDK type files from sdk-types with typeshare-cli:
#   bindings-node/types.d.ts               TypeScript (normalised by typeshare_fixup.py: `T | null`)
#   bindings-python/generated/sdk_types.py Python reference models (the .pyi stubs are checked against them)
# The outputs are committed; scripts/sdk/test.sh re-runs this and fails on `git diff`.
# Env: TYPESHARE = path of the typeshare binary (default: the project-local install of test.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
typeshare="${TYPESHARE:-$root/target/sdk/tools/bin/typeshare}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

RUST_LOG=error "$typeshare" -c scripts/sdk/typeshare.toml sdk-types --lang=typescript --output-file="$tmp/types.ts" >/dev/null 2>&1 \
  || { echo "typeshare (typescript) failed" >&2; RUST_LOG=error "$typeshare" -c scripts/sdk/typeshare.toml sdk-types --lang=typescript --output-file="$tmp/types.ts"; exit 1; }
python3 scripts/sdk/typeshare_fixup.py sdk-types/src "$tmp/types.ts" bindings-node/types.d.ts

RUST_LOG=error "$typeshare" -c scripts/sdk/typeshare.toml sdk-types --lang=python --output-file="$tmp/sdk_types.py" >/dev/null 2>&1 \
  || { echo "typeshare (python) failed" >&2; exit 1; }
cp "$tmp/sdk_types.py" bindings-python/generated/sdk_types.py
