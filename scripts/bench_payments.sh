#!/usr/bin/env bash
# Payments per second next to POST /codes, end to end through the local
# API, on the in-memory store and on DynamoDB Local, in one run. Rewrites
# the part of docs/benchmarks.md between the payments markers. Not part of
# the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/dynamodb-local.sh)"
export DYNAMODB_ENDPOINT
trap 'kill "$DYNAMODB_PID" 2>/dev/null || true' EXIT

results=$(cargo run --quiet --locked --profile bench -p api-tests --example payment_throughput)
echo "$results"
python3 - "$results" <<'PY'
import json, re, sys, os, datetime
rows = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
by = {(r["backend"], r["mode"]): r for r in rows}
lines = [
    "<!-- payments:start -->",
    f"Measured {datetime.date.today()} on this machine ({os.cpu_count()} cores), one run of `scripts/bench_payments.sh`:",
    "2,000 `POST /payments` from 8 concurrent callers over 50 devices (Nexus full and OpenPAYGO),",
    "each buying one day, next to 2,000 `POST /codes` of one day in the same run. Both issue the",
    "same codes; a payment's transaction writes its payment record besides the device and the code.",
    "",
    "| store | codes/s | payments/s | payments / codes |",
    "| --- | ---: | ---: | ---: |",
]
for backend in ["memory", "dynamodb-local"]:
    c, p = by.get((backend, "POST /codes")), by.get((backend, "POST /payments"))
    if not c or not p:
        continue
    lines.append(
        f"| {backend} | {c['callsPerSecond']:,.0f} | {p['callsPerSecond']:,.0f} | "
        f"{p['callsPerSecond'] / c['callsPerSecond']:.2f}x |"
    )
lines.append("<!-- payments:end -->")
block = "\n".join(lines)
path = "docs/benchmarks.md"
text = open(path).read()
pattern = re.compile(r"<!-- payments:start -->.*?<!-- payments:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(block, text)
else:
    text = text.rstrip() + "\n\n## Payments\n\n" + block + "\n"
open(path, "w").write(text)
print(block)
PY
