#!/usr/bin/env python3
"""Write keycode test vectors from the official reference packages.

Run it when a reference package changes (see docs/codes.md); the test
command only reads what it wrote:

    python3 -m venv .venv-vectors
    .venv-vectors/bin/pip install -r scripts/requirements-vectors.txt
    .venv-vectors/bin/pip uninstall -y enum34 typing   # break Python 3.11's stdlib
    .venv-vectors/bin/python scripts/generate_keycode_vectors.py tests/vectors

Every line is one JSON object. OpenPAYGO and Nexus lines are grouped in
per-device sequences (`device`, then `seq` in order) so that the Rust tests
can feed each device's codes to its decoder in the order they were issued.
"""

import json
import random
import sys
from pathlib import Path

import openpaygo
from openpaygo.token_decode import OpenPAYGOTokenDecoder
from openpaygo.token_shared import OpenPAYGOTokenShared, TokenType
from nexus_keycode.protocols import full, small

TYPE_NAMES = {
    TokenType.ADD_TIME: "ADD_TIME",
    TokenType.SET_TIME: "SET_TIME",
    TokenType.DISABLE_PAYG: "DISABLE_PAYG",
    TokenType.COUNTER_SYNC: "COUNTER_SYNC",
    TokenType.INVALID: "INVALID",
    TokenType.ALREADY_USED: "ALREADY_USED",
}
TYPES_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}


def random_key(rng):
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


def openpaygo_vectors(rng):
    lines = []
    device = 0
    starts = [0, 1, 2, 7, 10, 31, 64, 10_001, 10_002]
    for extended in (False, True):
        for restricted in (False, True):
            max_value = 999_999 if extended else 995
            for start in starts:
                for variant in range(3):
                    device += 1
                    key = random_key(rng)
                    # None and 0 both mean "derive from the key" in the reference.
                    starting_code = [None, 0, rng.randrange(1, 1_000_000_000)][variant]
                    count = start
                    length = 4 if start > 10_000 else 22
                    for seq in range(length):
                        kind = rng.choice(
                            ["ADD_TIME"] * 4 + ["SET_TIME"] * 2 + ["DISABLE_PAYG", "COUNTER_SYNC"]
                        )
                        if kind in ("ADD_TIME", "SET_TIME"):
                            value = rng.choice([0, 1, 2, max_value, rng.randrange(max_value + 1)])
                        else:
                            value = None
                        new_count, token = openpaygo.generate_token(
                            secret_key=key,
                            count=count,
                            value=value,
                            token_type=TYPES_BY_NAME[kind],
                            starting_code=starting_code,
                            restricted_digit_set=restricted,
                            extended_token=extended,
                        )
                        decoded = reference_decode(
                            token, key, count, starting_code, restricted, extended
                        )
                        lines.append(
                            {
                                "device": device,
                                "seq": seq,
                                "key": key,
                                "starting_code": starting_code,
                                "effective_starting_code": effective_start(key, starting_code),
                                "restricted_digit_set": restricted,
                                "extended": extended,
                                "count": count,
                                "token_type": kind,
                                "value": value,
                                "token": token,
                                "new_count": new_count,
                                "decoded": decoded,
                            }
                        )
                        count = new_count
                    # Values just past the maximum: the reference refuses them.
                    for kind in ("ADD_TIME", "SET_TIME"):
                        try:
                            openpaygo.generate_token(
                                secret_key=key,
                                count=count,
                                value=max_value + 1,
                                token_type=TYPES_BY_NAME[kind],
                                starting_code=starting_code,
                                restricted_digit_set=restricted,
                                extended_token=extended,
                            )
                            raise SystemExit("reference accepted a value past its maximum")
                        except ValueError as error:
                            lines.append(
                                {
                                    "device": device,
                                    "seq": None,
                                    "key": key,
                                    "starting_code": starting_code,
                                    "restricted_digit_set": restricted,
                                    "extended": extended,
                                    "count": count,
                                    "token_type": kind,
                                    "value": max_value + 1,
                                    "error": str(error),
                                }
                            )
    return lines


def effective_start(key, starting_code):
    if starting_code:
        return starting_code
    return OpenPAYGOTokenShared.generate_starting_code(bytes.fromhex(key))


def reference_decode(token, key, last_count, starting_code, restricted, extended):
    """What the reference decoder says of a token right after it was issued."""
    start = effective_start(key, starting_code)
    raw_key = bytes.fromhex(key)
    token_int = int(token)
    # A non-empty used list keeps the reference's update_used_counts from
    # returning None; count -1 never matches a real count.
    if extended:
        value, kind, count, _ = OpenPAYGOTokenDecoder.get_activation_value_count_from_extended_token(
            token_int, start, raw_key, last_count, restricted, [-1]
        )
    else:
        value, kind, count, _ = OpenPAYGOTokenDecoder.get_activation_value_count_and_type_from_token(
            token_int, start, raw_key, last_count, restricted, [-1]
        )
    return {"value": value, "token_type": TYPE_NAMES[kind], "count": count}


def nexus_full_vectors(rng):
    lines = []
    device = 0
    starts = [0, 1, 22, 23, 62, 63, 64, 1_000, 65_500, 2**32 - 64]
    for start in starts:
        for _ in range(20):
            device += 1
            key = random_key(rng)
            message_id = start
            for seq in range(11):
                kind = rng.choice(
                    ["ADD_CREDIT"] * 4 + ["SET_CREDIT"] * 2 + ["UNLOCK", "WIPE_STATE"]
                )
                params = {}
                raw_key = bytes.fromhex(key)
                if kind == "ADD_CREDIT":
                    params["hours"] = rng.choice([0, 1, 24, 99_999, rng.randrange(100_000)])
                    message = full.FullMessage.add_credit(message_id, params["hours"], raw_key)
                elif kind == "SET_CREDIT":
                    params["hours"] = rng.choice([0, 1, 24, 99_998, rng.randrange(99_999)])
                    message = full.FullMessage.set_credit(message_id, params["hours"], raw_key)
                elif kind == "UNLOCK":
                    message = full.FullMessage.unlock(message_id, raw_key)
                else:
                    flags = rng.choice(list(full.FullMessageWipeFlags))
                    params["flags"] = flags.name
                    message = full.FullMessage.wipe_state(message_id, flags, raw_key)
                lines.append(
                    {
                        "device": device,
                        "seq": seq,
                        "key": key,
                        "id": message_id,
                        "type": kind,
                        **params,
                        "digits": message.to_keycode(prefix="", suffix="", separator=""),
                        "keycode": message.to_keycode(),
                    }
                )
                message_id += 1
            # Hours past the 5-digit body: the reference cannot render them.
            try:
                full.FullMessage.add_credit(message_id, 100_000, bytes.fromhex(key)).to_keycode()
                raise SystemExit("reference rendered a 6-digit body")
            except AssertionError:
                lines.append(
                    {"device": device, "seq": None, "key": key, "id": message_id,
                     "type": "ADD_CREDIT", "hours": 100_000, "error": "body too long"}
                )
    for factory, kind in (
        (full.FactoryFullMessage.allow_test(), "FACTORY_ALLOW_TEST"),
        (full.FactoryFullMessage.oqc_test(), "FACTORY_OQC_TEST"),
        (full.FactoryFullMessage.display_payg_id(), "FACTORY_DISPLAY_PAYG_ID"),
    ):
        lines.append(
            {
                "device": 0,
                "seq": None,
                "key": "00000000000000000000000000000000",
                "id": 0,
                "type": kind,
                "digits": factory.to_keycode(prefix="", suffix="", separator=""),
                "keycode": factory.to_keycode(),
            }
        )
    return lines


def nexus_small_vectors(rng):
    lines = []
    device = 0

    def record(device, seq, key, message_id, kind, params, build):
        try:
            message = build()
        except ValueError as error:
            lines.append({"device": device, "seq": None, "key": key, "id": message_id,
                          "type": kind, **params, "error": type(error).__name__})
            return False
        lines.append(
            {
                "device": device,
                "seq": seq,
                "key": key,
                "id": message_id,
                "type": kind,
                **params,
                "keycode": message.to_keycode(),
            }
        )
        return True

    # Every day value the messages accept, and the ones just outside.
    key = random_key(rng)
    raw = bytes.fromhex(key)
    device += 1
    for days in range(0, 407):
        record(device, None, key, 100 + days, "ADD_CREDIT", {"days": days},
               lambda: small.AddCreditSmallMessage(100 + days, days, raw))
    for days in range(0, 962):
        message_id = 1_000 + days
        record(device, None, key, message_id, "SET_CREDIT", {"days": days},
               lambda: small.SetCreditSmallMessage(message_id, days, raw))
    # The collision the reference refuses: SET_CREDIT 1 day at an id ending in 63.
    for message_id in (63, 127, 2**20 + 63):
        record(device, None, key, message_id, "SET_CREDIT", {"days": 1},
               lambda: small.SetCreditSmallMessage(message_id, 1, raw))

    starts = [0, 1, 23, 63, 64, 5_000, 2**32 - 64]
    for start in starts:
        for _ in range(15):
            device += 1
            key = random_key(rng)
            raw = bytes.fromhex(key)
            message_id = start
            seq = 0
            while seq < 9:
                kind = rng.choice(["ADD_CREDIT"] * 4 + ["SET_CREDIT"] * 2 + ["UNLOCK"])
                if kind == "ADD_CREDIT":
                    days = rng.choice([1, 180, 183, 405, rng.randrange(1, 406)])
                    ok = record(device, seq, key, message_id, kind, {"days": days},
                                lambda: small.AddCreditSmallMessage(message_id, days, raw))
                elif kind == "SET_CREDIT":
                    days = rng.choice([0, 1, 90, 960, rng.randrange(0, 961)])
                    ok = record(device, seq, key, message_id, kind, {"days": days},
                                lambda: small.SetCreditSmallMessage(message_id, days, raw))
                else:
                    ok = record(device, seq, key, message_id, kind, {},
                                lambda: small.UnlockSmallMessage(message_id, raw))
                message_id += 1
                if ok:
                    seq += 1
            for maintenance in small.MaintenanceSmallMessageType:
                record(device, None, key, 0, "MAINTENANCE", {"function": maintenance.name},
                       lambda: small.MaintenanceSmallMessage(maintenance, raw))
    for test in small.TestSmallMessageType:
        record(0, None, "ff" * 16, 0, "TEST", {"function": test.name},
               lambda: small.TestSmallMessage(test))
    return lines


def write(path, lines):
    with open(path, "w") as out:
        for line in lines:
            out.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"{path}: {len(lines)} vectors")


def main():
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/vectors")
    target.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261122)
    write(target / "openpaygo.jsonl", openpaygo_vectors(rng))
    write(target / "nexus_full.jsonl", nexus_full_vectors(rng))
    write(target / "nexus_small.jsonl", nexus_small_vectors(rng))


if __name__ == "__main__":
    main()
