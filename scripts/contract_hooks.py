"""Schemathesis hooks for scripts/contract.sh (loaded via SCHEMATHESIS_HOOKS).

Hypothesis draws the simplest values first, so the optional Idempotency-Key
header comes out as the same few strings on requests with different bodies.
The API then rightly answers 422 `idempotency_key_reused` before it validates
anything else, and most generated creates never reach the handler. Here a
well-formed key is replaced by one derived from the request itself: the same
request keeps the same key (so replays are still exercised), another request
gets another key. Malformed keys are left as drawn, so the 400 for them is
still tested.
"""

import hashlib
import json
import re

import schemathesis

WELL_FORMED = re.compile(r"[!-~]{1,128}")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(value, str):
            continue
        if not WELL_FORMED.fullmatch(value):
            continue
        request = [case.method, case.path, case.path_parameters, case.query, case.body]
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=repr).encode())
        headers[name] = "contract-" + digest.hexdigest()[:32]
