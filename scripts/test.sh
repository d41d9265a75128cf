#!/usr/bin/env bash
# Every test the project has, as CI runs it: formatting, lints with warnings
# as errors, then all unit, vector, property and CLI tests. Installs nothing
# beyond the Rust toolchain's own rustfmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
