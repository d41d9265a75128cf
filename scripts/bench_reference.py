#!/usr/bin/env python3
"""Time the Python reference packages on the same work as benches/keycode.rs.

Prints one JSON object: benchmark name -> seconds per code.
"""

import json
import timeit

import openpaygo
from nexus_keycode.protocols import full, small

KEY_HEX = "bc41ec9530f6dac86b1a29ab82edc5fb"
KEY = bytes.fromhex(KEY_HEX)


def per_call(fn, budget=2.0):
    """Seconds per call, repeating until about `budget` seconds are spent."""
    number = 1
    while True:
        elapsed = timeit.timeit(fn, number=number)
        if elapsed > budget / 5:
            break
        number *= 4
    best = min(timeit.repeat(fn, number=number, repeat=3))
    return best / number


def openpaygo_at(count):
    return lambda: openpaygo.generate_token(
        secret_key=KEY_HEX, count=count, value=30, starting_code=516959010
    )


results = {
    "openpaygo_add_time/1": per_call(openpaygo_at(1)),
    "openpaygo_add_time/100": per_call(openpaygo_at(100)),
    "openpaygo_add_time/10000": per_call(openpaygo_at(10_000)),
    "nexus/full_add_credit": per_call(lambda: full.FullMessage.add_credit(42, 168, KEY).to_keycode()),
    "nexus/small_add_credit": per_call(lambda: small.AddCreditSmallMessage(42, 7, KEY).to_keycode()),
}
print(json.dumps(results))
