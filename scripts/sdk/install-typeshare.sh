#!/usr/bin/env bash
# Installs the pinned typeshare-cli into $SDK_TOOLS/tools (default target/sdk/tools) unless that exact
# version is already there. Used by scripts/sdk/test.sh, and started early in the background by
# scripts/test.sh so that its compile overlaps the workspace build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${SDK_TOOLS:-$root/target/sdk}"
TYPESHARE_VERSION=1.13.4
if [ "$("$tools/tools/bin/typeshare" --version 2>/dev/null || true)" != "typeshare $TYPESHARE_VERSION" ]; then
    cargo install --locked --quiet typeshare-cli --version "$TYPESHARE_VERSION" --features python --root "$tools/tools"
fi
