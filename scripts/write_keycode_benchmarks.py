#!/usr/bin/env python3
"""Turn criterion estimates and the reference timings into the keycode table
of docs/benchmarks.md (between <!-- keycode:start --> and <!-- keycode:end -->)."""

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

criterion, reference_file, doc = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
reference = json.loads(reference_file.read_text())


def rust_seconds(name):
    estimates = json.loads((criterion / name / "new" / "estimates.json").read_text())
    return estimates["mean"]["point_estimate"] / 1e9


# Independent hashes overlap in the CPU (throughput); a chain's links
# cannot, so the serial figure (latency) is the floor a chain link can reach
# and the one the 1.5x target is read against. Both are shown.
siphash = rust_seconds("siphash24_8_bytes")
siphash_serial = rust_seconds("siphash24_8_bytes_chained/100") / 100
# The chain length each row walks: ADD_TIME from an odd count steps 1, from an even count 2.
hashes = {"openpaygo_add_time/1": 2, "openpaygo_add_time/100": 102, "openpaygo_add_time/10000": 10_002}
rows = []
for name, python_seconds in reference.items():
    rust = rust_seconds(name)
    chain = hashes.get(name)
    serial = f"{rust / (chain * siphash_serial):.2f}x ({chain} hashes)" if chain else "n/a"
    overlapped = f"{rust / (chain * siphash):.2f}x" if chain else "n/a"
    rows.append(
        f"| `{name}` | {1 / rust:,.0f} | {1 / python_seconds:,.0f} | {python_seconds / rust:,.0f}x "
        f"| {serial} | {overlapped} |"
    )

cpu = "unknown CPU"
try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
table = "\n".join(
    [
        "<!-- keycode:start -->",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, {rustc}, "
        f"Python {platform.python_version()}; one SipHash-2-4 over 8 bytes took {siphash_serial * 1e9:.1f} ns "
        f"when each hashed the last one's output (serial), {siphash * 1e9:.1f} ns each when independent "
        "hashes overlapped (throughput).",
        "",
        "| benchmark | Rust codes/s | Python reference codes/s | speed-up "
        "| Rust time / (hashes x one serial SipHash) | the same over independent SipHashes |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "<!-- keycode:end -->",
    ]
)
text = doc.read_text() if doc.exists() else ""
start, end = "<!-- keycode:start -->", "<!-- keycode:end -->"
if start in text and end in text:
    text = text[: text.index(start)] + table + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n" + table + "\n"
doc.write_text(text)
