#!/usr/bin/env bash
# Every test the project has, as CI runs it: formatting, lints with warnings
# as errors, the template lint, then all unit, vector, property, CLI,
# storage-conformance and HTTP tests. The conformance and HTTP suites run
# against both the in-memory store and DynamoDB Local, which this script
# installs (npm; Java via apt when missing), starts on a free loopback port
# and stops at the end. The SQS adapter's tests use moto's server, an
# SQS-compatible server started the same way. Last, scripts/contract.sh
# fuzzes every operation of openapi/openapi.json with Schemathesis on both
# backends. cfn-lint, moto and Schemathesis come from PyPI into .ci-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cfn-lint template.yaml"
# The constraints pin every package those three pull in, at the versions a
# green run used, so a fresh CI machine installs what was tested.
if ! cat scripts/requirements-ci.txt scripts/constraints-ci.txt | cmp -s - .ci-venv/installed.txt; then
  python3 -m venv .ci-venv
  .ci-venv/bin/pip install --quiet --disable-pip-version-check \
    -r scripts/requirements-ci.txt -c scripts/constraints-ci.txt
  cat scripts/requirements-ci.txt scripts/constraints-ci.txt >.ci-venv/installed.txt
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

echo "== SQS (moto server)"
sqs_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.ci-venv/bin/moto_server -H 127.0.0.1 -p "$sqs_port" >"$log.moto" 2>&1 &
SQS_PID=$!
trap 'kill "$DYNAMODB_PID" "$SQS_PID" 2>/dev/null || true; rm -f "$log" "$log.moto"' EXIT
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$sqs_port") 2>/dev/null && break
  kill -0 "$SQS_PID" 2>/dev/null || { cat "$log.moto"; exit 1; }
  sleep 0.1
done
export SQS_ENDPOINT="http://127.0.0.1:$sqs_port"
echo "SQS at $SQS_ENDPOINT"

echo "== cargo test"
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
[ "$status" -eq 0 ] || exit "$status"

echo "== API contract (Schemathesis, both backends)"
scripts/contract.sh memory dynamodb
