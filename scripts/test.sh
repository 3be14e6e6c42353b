#!/usr/bin/env bash
# Runs every test of the project, on a fresh machine as on a developer's.
# Needs only what the machine image has (Rust 1.95, Python 3.11, Node 20 + npm); everything else
# (typeshare-cli, maturin, pytest, mypy, npm packages) is installed from the package registries
# into project-local directories by the scripts it calls.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the vectorizer binary"
cargo build --locked -p vectorizer-server --bin vectorizer
export VECTORIZER_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/vectorizer"

step "Rust unit and integration tests"
cargo test --workspace --locked

if [ -x scripts/sdk/test.sh ]; then
    step "SDKs (Rust client, Python, TypeScript)"
    scripts/sdk/test.sh
fi

step "all tests passed in $(( $(date +%s) - started )) s"
