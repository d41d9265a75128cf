#!/usr/bin/env bash
# Batch throughput, end to end through the local API: a 10,000-item batch
# and the same items as single POST /codes calls (8 concurrent callers), on
# the in-memory store and on DynamoDB Local, in one run; then a tenant's
# code rate from 16 callers over 1, 10 and 100 devices on DynamoDB Local.
# Rewrites the part of docs/benchmarks.md between the batch markers. Not
# part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/dynamodb-local.sh)"
export DYNAMODB_ENDPOINT
trap 'kill "$DYNAMODB_PID" 2>/dev/null || true' EXIT

results=$(cargo run --quiet --locked --profile bench -p api-tests --example batch_throughput)
echo "$results"
python3 - "$results" <<'PY'
import json, re, sys, platform, os, datetime
rows = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
by = {(r["backend"], r["mode"]): r for r in rows}
lines = [
    "<!-- batch:start -->",
    f"Measured {datetime.date.today()} on this machine ({os.cpu_count()} cores), one run of `scripts/bench_batch.sh`:",
    "10,000 `add_time` items over 50 devices (Nexus full and OpenPAYGO), end to end through the",
    "local API: from `POST /batch` until `GET /batch/{id}` (asked every 2 ms in memory, every 200 ms",
    "on DynamoDB Local) says `completed`,",
    "next to the same items as single `POST /codes` calls from 8 concurrent callers. The local",
    "worker runs as many chunks at once as the template's `BatchWorkerConcurrency` default lets",
    "worker instances run on AWS.",
    "",
    "| store | batch: seconds | batch: items/s | single calls: seconds | single calls: items/s | batch / single |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
]
for backend in ["memory", "dynamodb-local"]:
    b, s = by.get((backend, "batch")), by.get((backend, "single POST /codes"))
    if not b or not s:
        continue
    lines.append(
        f"| {backend} | {b['seconds']:.2f} | {b['itemsPerSecond']:,.0f} | {s['seconds']:.2f} | "
        f"{s['itemsPerSecond']:,.0f} | {b['itemsPerSecond'] / s['itemsPerSecond']:.2f}x |"
    )
scaling = [r for r in rows if r["mode"] == "scaling"]
if scaling:
    first = scaling[0]
    lines += [
        "",
        f"Codes per second from {first['callers']} concurrent `POST /codes` callers of one tenant, "
        f"{first['codes']:,} codes spread over its devices in turn, on DynamoDB Local, same run:",
        "",
        "| devices | codes/s | against 1 device | 409 `device_busy` answers retried |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in scaling:
        lines.append(
            f"| {r['devices']} | {r['codesPerSecond']:,.0f} | {r['codesPerSecond'] / first['codesPerSecond']:.2f}x | {r['busyRetries']:,} |"
        )
lines.append("<!-- batch:end -->")
path = "docs/benchmarks.md"
text = open(path).read()
block = "\n".join(lines)
if "<!-- batch:start -->" in text:
    text = re.sub(r"<!-- batch:start -->.*?<!-- batch:end -->", block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n## Batch throughput\n\n" + block + "\n"
open(path, "w").write(text)
PY
