#!/usr/bin/env bash
# Runs every test of the project, on a fresh machine as on a developer's.
# Needs only what the machine image has (Rust 1.95, Python 3.11, Node 20 + npm); everything else
# (typeshare-cli, maturin, pytest, mypy, npm packages) is installed from the package registries
# into project-local directories by the scripts it calls.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

# typeshare-cli (for the SDK step) compiles in the background, at low priority, while the workspace
# builds: its compile fills the moments the workspace build leaves a core idle.
typeshare_log="$(mktemp)"
typeshare_pid=""
if [ -x scripts/sdk/install-typeshare.sh ]; then
    nice -n 10 scripts/sdk/install-typeshare.sh >"$typeshare_log" 2>&1 &
    typeshare_pid=$!
fi

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# `cargo test --workspace` builds the server's `vectorizer` binary (its integration tests need it)
# with the workspace's unified features before any test runs. A separate `cargo build -p` of the
# binary would resolve a different feature set and compile ~80 crates twice.
export VECTORIZER_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/vectorizer"

step "Rust unit and integration tests"
cargo test --workspace --locked

if [ -x scripts/sdk/test.sh ]; then
    step "SDKs (Rust client, Python, TypeScript)"
    # A failed background install is reported here; the SDK script then installs in the foreground.
    if [ -n "$typeshare_pid" ] && ! wait "$typeshare_pid"; then
        echo "background typeshare-cli install failed:" >&2
        cat "$typeshare_log" >&2
    fi
    SDK_SKIP_RUST_CLIENT=1 scripts/sdk/test.sh
fi

step "all tests passed in $(( $(date +%s) - started )) s"
