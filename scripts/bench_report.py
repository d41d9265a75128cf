#!/usr/bin/env python3
"""Turns scripts/bench.sh's JSON lines into the operations tables of
docs/benchmarks.md, between <!-- ops:start --> and <!-- ops:end -->.

    bench_report.py RESULTS.jsonl docs/benchmarks.md
"""

import datetime
import json
import os
import re
import sys

COLD_TARGET_MS = 30
SIZE_TARGET = 10 * 1024 * 1024
HANDLER_P99_TARGET_US = 1000
RPS_TARGET = 20_000


def check(ok):
    return "yes" if ok else "**no**"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    sizes = {r["function"]: r["bytes"] for r in rows if r["kind"] == "size"}
    cold = {r["binary"]: r for r in rows if r["kind"] == "cold"}
    handler = [r for r in rows if r["kind"] == "handler"]
    load = [r for r in rows if r["kind"] == "load"]
    out = [
        "<!-- ops:start -->",
        f"Measured {datetime.date.today()} on this machine ({os.cpu_count()} cores) by one run of "
        "`scripts/bench.sh`.",
        "",
        "### Functions: binary size and cold start",
        "",
        "Size: the arm64 `bootstrap` that `cargo lambda build --release --arm64` makes, as deployed. "
        "Cold start: a fresh x86_64 release process per run against a local Lambda Runtime API "
        "(`scripts/coldstart.py`) with DynamoDB Local behind it, 10 runs each. *Init* runs from process "
        "start to the function's first poll for work: configuration read, SDK clients and keys built. "
        "This is what Lambda reports as the Init Duration. *First answer* runs on to the moment the "
        "function posts its answer to a real event, its first store request included. "
        "Another 10 runs each go through a recording proxy in front of DynamoDB Local "
        "(`--store-split`): *store wait* is the time at least one store request was outstanding, "
        "and *own time* is first answer minus store wait, the part of the cold start that is the "
        "function's own whatever store it talks to. A target column is yes when every run is "
        "under the target.",
        "",
        f"| function | event | size (MB) | under 10 MB | init median (ms) | init max (ms) | init under {COLD_TARGET_MS} ms "
        f"| first answer median (ms) | first answer max (ms) | first answer under {COLD_TARGET_MS} ms "
        f"| store calls | store wait median (ms) | own time median (ms) | own time max (ms) "
        f"| own time under {COLD_TARGET_MS} ms |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    nan = float("nan")
    for function, size in sizes.items():
        c = cold.get(function, {})
        split = c.get("split", {})
        calls = sorted(set(split.get("store_calls", [])))
        calls_text = "-" if not calls else str(calls[0]) if len(calls) == 1 else f"{calls[0]}-{calls[-1]}"
        refusals = sum(split.get("store_refusals", []))
        if refusals:
            calls_text += f" ({refusals} refused in all runs)"
        out.append(
            f"| {function} | `{c.get('event', '-')}` | {size / 1024 / 1024:.2f} | {check(size < SIZE_TARGET)} | "
            f"{c.get('init_median_ms', nan):.1f} | {c.get('init_max_ms', nan):.1f} | "
            f"{check(c.get('init_max_ms', 1e9) < COLD_TARGET_MS)} | "
            f"{c.get('median_ms', nan):.1f} | {c.get('max_ms', nan):.1f} | "
            f"{check(c.get('max_ms', 1e9) < COLD_TARGET_MS)} | "
            f"{calls_text} | "
            f"{split.get('store_wait_median_ms', nan):.1f} | "
            f"{split.get('own_median_ms', nan):.1f} | {split.get('own_max_ms', nan):.1f} | "
            f"{check(split.get('own_max_ms', 1e9) < COLD_TARGET_MS)} |"
        )
    out += [
        "",
        "### Handler time, in process",
        "",
        "The codes function's `handle` on the in-memory store, without network or DynamoDB: "
        "routing, access-token check, validation, keycode, store and JSON "
        "(`tests/api/examples/handler_latency.rs`, 50,000 requests after 2,000 warm-up, 1,000 devices).",
        "",
        "| route | p50 (µs) | p99 (µs) | max (µs) | p99 under 1 ms |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for h in handler:
        out.append(
            f"| `{h['route']}` | {h['p50_us']:.1f} | {h['p99_us']:.1f} | {h['max_us']:.1f} | "
            f"{check(h['p99_us'] < HANDLER_P99_TARGET_US) if h['route'] == 'POST /codes' else '-'} |"
        )
    out += [
        "",
        "### Load tests of the local API",
        "",
        "`wrk -t2 -c64 --latency` against the release `local-api` on this 2-core machine; wrk "
        "shares the cores with the server. `POST /codes` picks one of 1,000 OpenPAYGO devices at "
        "random; `GET /codes` lists 10 codes of one; `POST /auth` sends a fresh ES256 auth token "
        "per request (each token id is accepted once).",
        "",
        "| store | route | requests/s | p50 (ms) | p99 (ms) | non-2xx |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in load:
        out.append(
            f"| {r['store']} | `{r['route']}` | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} |"
        )
    memory_codes = [r for r in load if r["store"] == "memory" and r["route"] == "POST /codes"]
    if memory_codes:
        rps = memory_codes[0]["rps"]
        out += [
            "",
            f"In-memory `POST /codes` at {rps:,.0f} requests/s is {rps / RPS_TARGET:.2f}x the "
            f"{RPS_TARGET:,} target: {check(rps >= RPS_TARGET)}.",
        ]
    out.append("<!-- ops:end -->")
    block = "\n".join(out)
    path = sys.argv[2]
    text = open(path).read()
    if "<!-- ops:start -->" in text:
        text = re.sub(r"<!-- ops:start -->.*?<!-- ops:end -->", lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Functions, handlers and load\n\n" + block + "\n"
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
