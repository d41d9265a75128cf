#!/usr/bin/env python3
"""Write OpenPAYGO Metrics auth and signature vectors from the official
`openpaygo` package (its `metrics_request.py` and `metrics_shared.py`).

Run it when the reference package changes; the test command only reads
what it wrote:

    python3 -m venv .venv-vectors
    .venv-vectors/bin/pip install -r scripts/requirements-vectors.txt
    .venv-vectors/bin/pip uninstall -y enum34 typing
    .venv-vectors/bin/python scripts/generate_metrics_vectors.py tests/vectors

Each line of `metrics_requests.jsonl` is a request body exactly as
`MetricsRequestHandler` writes it (`body`, simple or condensed form, in
`form`), the device key, the auth method, the data format, and what
`MetricsResponseHandler.get_simple_metrics` makes of it (`simple`);
what `get_answer_payload` answers it with (`answer`) for some tokens,
time, settings and extra data (`fields`, before signing);
`metrics_expanded.jsonl` holds condensed requests whose time steps are
index-keyed objects, some with `relative_time`, and their simple form; each line of
`metrics_responses.jsonl` is a response's fields, the request's serial,
timestamp and request count, and the signature
`generate_response_signature_from_data` gives them.
"""

import json
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

from openpaygo.metrics_request import MetricsRequestHandler
from openpaygo.metrics_response import MetricsResponseHandler
from openpaygo.metrics_shared import AuthMethod, OpenPAYGOMetricsShared

METHODS = [
    AuthMethod.SIMPLE_AUTH,
    AuthMethod.TIMESTAMP_AUTH,
    AuthMethod.COUNTER_AUTH,
    AuthMethod.DATA_AUTH,
    AuthMethod.RECURSIVE_DATA_AUTH,
]


def random_key(rng):
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


def random_value(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randrange(0, 100_000)
    if kind == 1:
        # Floats as devices send them, with Python's own way of writing them.
        return rng.choice([0.5, 12.25, 2.71828, 1e-05, 230.0, 1e16, -7.5, 0.1])
    if kind == 2:
        return rng.choice(["on", "off", "éco", "a\"b", "line\nbreak", "\u2603"])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    return rng.randrange(-1000, 0)


def data_format(rng, with_id):
    names = ["token_count", "battery_v", "panel_w", "load_state", "temp_c", "errors"]
    rng.shuffle(names)
    fmt = {
        "data_order": names[: rng.randrange(2, 6)],
        "historical_data_order": ["battery_v", "panel_w", "energy_wh"],
    }
    if with_id:
        fmt["id"] = rng.randrange(1, 500)
    if rng.random() < 0.5:
        fmt["historical_data_interval"] = rng.choice([60, 3600, -3600])
    return fmt


def request(rng, method, form, historical):
    serial = "SN" + str(rng.randrange(10**6, 10**7))
    key = random_key(rng)
    fmt = data_format(rng, with_id=rng.random() < 0.5)
    handler = MetricsRequestHandler(
        serial_number=serial, data_format=fmt, secret_key=key, auth_method=method
    )
    if method in (AuthMethod.TIMESTAMP_AUTH,) or rng.random() < 0.6:
        handler.set_timestamp(rng.randrange(1_600_000_000, 1_800_000_000))
    if method in (AuthMethod.COUNTER_AUTH,) or rng.random() < 0.6:
        handler.set_request_count(rng.randrange(1, 100_000))
    if "timestamp" not in handler.request_dict or rng.random() < 0.3:
        # The expanded form needs a time that is not the reception's.
        handler.request_dict["data_collection_timestamp"] = rng.randrange(
            1_600_000_000, 1_800_000_000
        )
    data = {}
    for name in fmt["data_order"]:
        if rng.random() < 0.8:
            data[name] = random_value(rng)
    handler.set_data(data)
    if historical:
        steps = []
        for i in range(rng.randrange(1, 5)):
            step = {}
            if "historical_data_interval" not in fmt or rng.random() < 0.3:
                step["timestamp"] = 1_700_000_000 + i * 60
            for name in fmt["historical_data_order"]:
                if rng.random() < 0.8:
                    step[name] = random_value(rng)
            steps.append(step)
        if any("timestamp" not in s for s in steps) and "historical_data_interval" not in fmt:
            fmt["historical_data_interval"] = 60
        handler.set_historical_data(steps)
        if form == "condensed":
            fmt["historical_data_order"] = ["timestamp"] + fmt["historical_data_order"]
    body = (
        handler.get_simple_request_payload()
        if form == "simple"
        else handler.get_condensed_request_payload()
    )
    return {"form": form, "method": method, "key": key, "body": body, "format": fmt}


def index_keyed(rng, line):
    """The same condensed request with its time steps as index-keyed
    objects, some times relative, as the specification allows."""
    body = json.loads(line["body"])
    steps = []
    for step in body.get("hd", []):
        keyed = {str(i): v for i, v in enumerate(step) if v is not None}
        if rng.random() < 0.4:
            keyed.pop("0", None)
            keyed["relative_time"] = rng.choice([60, 300, -60])
        steps.append(keyed)
    body["hd"] = steps
    return dict(line, body=OpenPAYGOMetricsShared.convert_to_metrics_json(body), form="index-keyed")


def answered(rng, line):
    """The answer the reference's server side writes for the request: some
    tokens, maybe a time, settings and extra data, signed."""
    handler = MetricsResponseHandler(
        line["body"], data_format=line["format"], secret_key=line["key"]
    )
    if rng.random() < 0.8:
        handler.add_tokens_to_answer([str(rng.randrange(10**8, 10**9)) for _ in range(rng.randrange(1, 4))])
    if rng.random() < 0.4:
        until = datetime.fromtimestamp(rng.randrange(1_700_000_000, 1_800_000_000), timezone.utc)
        handler.response_dict["active_until_timestamp"] = int(until.timestamp())
    if rng.random() < 0.4:
        handler.add_new_base_url_to_answer("https://metrics.example.org/")
    if rng.random() < 0.3:
        handler.add_settings_to_answer({"interval": rng.choice([600, 3600])})
    if rng.random() < 0.3:
        handler.add_extra_data_to_answer({"message": rng.choice(["ok", "paiement reçu"])})
    return {"answer": handler.get_answer_payload(), "fields": OpenPAYGOMetricsShared.convert_to_metrics_json(handler.response_dict)}


def expanded(line):
    """What the reference's server side makes of the request."""
    handler = MetricsResponseHandler(line["body"], data_format=line["format"])
    return OpenPAYGOMetricsShared.convert_to_metrics_json(handler.get_simple_metrics())


def response(rng):
    serial = "SN" + str(rng.randrange(10**6, 10**7))
    key = random_key(rng)
    data = {}
    if rng.random() < 0.7:
        data["token_list"] = [str(rng.randrange(10**8, 10**9)) for _ in range(rng.randrange(0, 4))]
    choice = rng.randrange(3)
    if choice == 0:
        data["active_until_timestamp"] = rng.randrange(1_700_000_000, 1_800_000_000)
    elif choice == 1:
        data["active_seconds_left"] = rng.randrange(0, 10**7)
    if rng.random() < 0.4:
        data["settings"] = {"base_url": "https://metrics.example.com/", "interval": 3600}
    if rng.random() < 0.3:
        data["extra_data"] = {"note": "crédit", "level": 2.5}
    timestamp = rng.choice([None, rng.randrange(1_600_000_000, 1_800_000_000)])
    request_count = rng.choice([None, rng.randrange(1, 10**5)])
    signature = OpenPAYGOMetricsShared.generate_response_signature_from_data(
        data, key, serial, timestamp=timestamp, request_count=request_count
    )
    return {
        "serial": serial,
        "key": key,
        "timestamp": timestamp,
        "requestCount": request_count,
        # The response's fields in the order the signature reads them.
        "response": OpenPAYGOMetricsShared.convert_to_metrics_json(data),
        "signature": signature,
    }


def main(out):
    rng = random.Random(20261203)
    out = Path(out)
    with open(out / "metrics_requests.jsonl", "w") as f:
        for method in METHODS:
            for form in ["simple", "condensed"]:
                for historical in [False, True]:
                    for _ in range(25):
                        line = request(rng, method, form, historical)
                        line["historical"] = historical
                        line["simple"] = expanded(line)
                        line.update(answered(rng, line))
                        f.write(json.dumps(line, sort_keys=True) + "\n")
    with open(out / "metrics_expanded.jsonl", "w") as f:
        for _ in range(60):
            line = request(rng, AuthMethod.DATA_AUTH, "condensed", True)
            line = index_keyed(rng, line)
            line["simple"] = expanded(line)
            f.write(json.dumps(line, sort_keys=True) + "\n")
    with open(out / "metrics_responses.jsonl", "w") as f:
        for _ in range(200):
            f.write(json.dumps(response(rng), sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
