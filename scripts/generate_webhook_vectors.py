#!/usr/bin/env python3
"""Writes tests/vectors/standardwebhooks.jsonl: Standard Webhooks signatures
made by the PyPI `standardwebhooks` package (pinned in
scripts/requirements-vectors.txt), which the platform's signer must match
byte for byte. The test command reads the committed file; it does not run
this script.

    python3 -m venv .venv-vectors
    .venv-vectors/bin/pip install -r scripts/requirements-vectors.txt
    .venv-vectors/bin/python scripts/generate_webhook_vectors.py
"""

import base64
import json
import pathlib
from datetime import datetime, timezone

from standardwebhooks import Webhook

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "vectors" / "standardwebhooks.jsonl"

# Key bytes of the lengths the specification allows (24 to 64), made
# deterministically so the file is stable.
KEYS = [bytes((i * 7 + n) % 256 for i in range(n)) for n in (24, 32, 48, 64)]
MESSAGES = [
    ("evt_0123456789abcdef01234567", 1_795_341_600, "{}"),
    ("evt_fedcba9876543210fedcba98", 1_700_000_000, '{"type":"webhook.test","timestamp":"2026-11-22T10:00:00.000Z","data":{}}'),
    ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, '{"test": 2432232314}'),
    ("evt_00000000000000000000000a", 0, ""),
    ("evt_unicode", 1_800_000_000, '{"payer":{"name":"Jos\u00e9 \u00d1u\u00f1ez \u2013 \u4e2d\u6587"},"note":"line\\nbreak"}'),
]


def main():
    lines = []
    for key in KEYS:
        for padded in (True, False):
            encoded = base64.b64encode(key).decode()
            secret = "whsec_" + (encoded if padded else encoded.rstrip("="))
            hook = Webhook(secret)
            for msg_id, timestamp, body in MESSAGES:
                at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
                lines.append(json.dumps({
                    "secret": secret,
                    "id": msg_id,
                    "timestamp": timestamp,
                    "body": body,
                    "signature": hook.sign(msg_id, at, body),
                }, ensure_ascii=False))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} vectors to {OUT}")


if __name__ == "__main__":
    main()
