#!/usr/bin/env bash
# Commit-to-delivery latency (p50, p99) and deliveries per second of the
# webhook pipeline, end to end through the local API's in-process
# dispatcher and courier to a receiver on loopback, on the in-memory store
# and on DynamoDB Local's stream, in one run. Rewrites the part of
# docs/benchmarks.md between the webhooks markers. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/dynamodb-local.sh)"
export DYNAMODB_ENDPOINT
trap 'kill "$DYNAMODB_PID" 2>/dev/null || true' EXIT

results=$(cargo run --quiet --locked --profile bench -p api-tests --example webhook_latency)
echo "$results"
python3 - "$results" <<'PY'
import json, re, sys, os, datetime
rows = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
by = {(r["backend"], r["mode"]): r for r in rows}
lines = [
    "<!-- webhooks:start -->",
    f"Measured {datetime.date.today()} on this machine ({os.cpu_count()} cores), one run of `scripts/bench_webhooks.sh`",
    "(`tests/api/examples/webhook_latency.rs`). One endpoint subscribed to `payment.received`, on a",
    "receiver on loopback that answers 204. *Latency*: 300 payments one after another, 50 ms apart (a rate",
    "the one local courier keeps up with on DynamoDB Local, so no queue builds), after one warm-up delivery, from the moment",
    "`POST /payments` answered (the payment and its outbox event have committed) to the moment the",
    "receiver read the delivery, with the local dispatcher and courier running every 5 ms.",
    "*Throughput*: 2,000 payments taken with the pipeline stopped, then the time until the receiver",
    "holds all of them. Locally one courier sends one delivery at a time; on AWS the delivery Lambda",
    "runs as many batches at once as SQS feeds it, and the stream and queue add their own delays",
    "(Lambda polls a stream about four times a second), so these numbers are the pipeline's own cost.",
    "Unpaced, back-to-back payments on DynamoDB Local arrive faster than the one local courier",
    "drains them and the latency becomes queueing (p50 about 2 s in a trial run); on AWS the",
    "delivery Lambda scales out instead.",
    "",
    "| store | latency p50 (ms) | latency p99 (ms) | latency max (ms) | deliveries/s |",
    "| --- | ---: | ---: | ---: | ---: |",
]
for backend in ["memory", "dynamodb-local"]:
    l, t = by.get((backend, "latency")), by.get((backend, "throughput"))
    if not l or not t:
        continue
    lines.append(
        f"| {backend} | {l['p50Ms']:.1f} | {l['p99Ms']:.1f} | {l['maxMs']:.1f} | "
        f"{t['deliveriesPerSecond']:,.0f} |"
    )
lines.append("<!-- webhooks:end -->")
block = "\n".join(lines)
path = "docs/benchmarks.md"
text = open(path).read()
pattern = re.compile(r"<!-- webhooks:start -->.*?<!-- webhooks:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(block, text)
else:
    text = text.rstrip() + "\n\n## Webhooks: commit to delivery\n\n" + block + "\n"
open(path, "w").write(text)
print(block)
PY
