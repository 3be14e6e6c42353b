#!/usr/bin/env bash
# Builds and tests the SDKs: generated types, the Rust client, the Python package, the Node package.
#
# Needs only Rust 1.95, Python 3.11, Node 20 + npm. Installs from the package registries into
# project-local, git-ignored directories under target/sdk/ (override with SDK_TOOLS):
#   typeshare-cli (cargo install --locked), a venv with maturin/pytest/mypy, npm packages (npm ci).
# Every Rust build shares the workspace target/ (the host triple is pinned in .cargo/config.toml and
# maturin/napi build the `dev` profile), so the dependency tree is compiled once.
#
# Env: VECTORIZER_BIN  path of a built `vectorizer` binary; enables the live tests (skipped without).
#      SDK_TOOLS       where tools and the venv live (default target/sdk).
#      SDK_SKIP_RUST_CLIENT  set by scripts/test.sh, whose `cargo test --workspace` already ran the
#                      Rust client's tests (alone, `-p vectorizer-client` resolves features anew and
#                      recompiles the client's dependency tree).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
tools="${SDK_TOOLS:-$root/target/sdk}"
venv="$tools/venv"
started=$(date +%s)
step() { printf '\n==> [sdk %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

if [ -n "${VECTORIZER_BIN:-}" ]; then
    [ -x "$VECTORIZER_BIN" ] || { echo "VECTORIZER_BIN=$VECTORIZER_BIN is not an executable" >&2; exit 1; }
    VECTORIZER_BIN="$(cd "$(dirname "$VECTORIZER_BIN")" && pwd)/$(basename "$VECTORIZER_BIN")"
    export VECTORIZER_BIN
else
    echo "WARNING: VECTORIZER_BIN is not set: live tests against a real server are skipped." >&2
fi

step "typeshare-cli (pinned in scripts/sdk/install-typeshare.sh)"
scripts/sdk/install-typeshare.sh

step "regenerate typeshare outputs and compare with git"
TYPESHARE="$tools/tools/bin/typeshare" scripts/sdk/gen-types.sh
generated=(bindings-node/types.d.ts bindings-python/generated)
if ! git diff --exit-code -- "${generated[@]}" || [ -n "$(git status --porcelain -- "${generated[@]}")" ]; then
    echo "Generated SDK types are out of date: run scripts/sdk/gen-types.sh and commit the result." >&2
    exit 1
fi

if [ -n "${SDK_SKIP_RUST_CLIENT:-}" ]; then
    step "Rust client: already tested by the caller's cargo test --workspace"
else
    step "Rust client: cargo test -p vectorizer-client"
    cargo test --locked -p vectorizer-client
fi

step "Python: venv with the pinned dev tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/sdk/requirements-dev.txt

step "Python: pip install ./bindings-python (maturin backend, dev profile sharing target/)"
MATURIN_PEP517_ARGS="--profile dev --locked" \
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./bindings-python

step "Python: stubtest, mypy --strict, pytest"
(cd "$tools" && "$venv/bin/python" -m mypy.stubtest vectorizer)
"$venv/bin/python" -m mypy --strict --cache-dir "$tools/mypy-cache" bindings-python/examples/typed_usage.py
(cd bindings-python && "$venv/bin/python" -m pytest -p no:cacheprovider tests)

step "Node: npm ci, napi build (dev profile), node --test, tsc --strict"
(
    cd bindings-node
    npm ci --no-audit --no-fund --loglevel=error
    npm run --silent build:debug
    npm test
    npm run --silent typecheck
)

step "SDK tests passed"
