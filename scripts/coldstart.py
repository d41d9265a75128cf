#!/usr/bin/env python3
"""Cold start of a Lambda function binary, measured locally.

Serves the Lambda Runtime API (the endpoints a custom runtime polls) on a
loopback port, starts the function's binary against it and hands it one
event. Each run is a fresh process, so every run is a cold start, and each
gives two times from process start:

- init: to the function's first poll for work. This is what Lambda reports
  as the Init Duration: the binary loaded, configuration read, SDK clients
  and keys built.
- first answer: to the moment the function posts its answer to the event,
  the first request to its store included.

    coldstart.py BINARY EVENT_FILE RUNS [--tokens FILE] [NAME=VALUE ...]

With --tokens, each run replaces REPLACE_WITH_AUTH_TOKEN in the event with
the next line of FILE: `POST /auth` refuses a token id it has seen.

Prints one JSON line: the binary, each run's milliseconds to the first
answer with their median and maximum, the same for init, and the first
run's answer (to check the invocation worked).
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    # Set per run by `measure`.
    event = b""
    answered = None
    answer = None
    request_id = ""
    first_poll = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            cls = type(self)
            if cls.first_poll is None:
                cls.first_poll = time.perf_counter()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", cls.request_id)
            deadline = int(time.time() * 1000) + 30_000
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(cls.event)))
            self.end_headers()
            self.wfile.write(cls.event)
        else:
            self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        cls = type(self)
        if "/response" in self.path or "/error" in self.path:
            cls.answer = (self.path.rsplit("/", 1)[-1], body.decode(errors="replace"))
            self.send_response(202)
            self.end_headers()
            cls.answered.set()
        else:
            self.send_error(404)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(binary, event, env, runs, tokens=None):
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    times, inits, first_answer = [], [], None
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "RUST_LOG": "warn",
    }
    base_env.update(env)
    for run in range(runs):
        RuntimeApi.event = event
        if tokens:
            RuntimeApi.event = event.replace(b"REPLACE_WITH_AUTH_TOKEN", tokens[run].encode())
        RuntimeApi.answered = threading.Event()
        RuntimeApi.answer = None
        RuntimeApi.request_id = str(uuid.uuid4())
        RuntimeApi.first_poll = None
        started = time.perf_counter()
        process = subprocess.Popen(
            [binary], env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        done = RuntimeApi.answered.wait(30)
        elapsed = (time.perf_counter() - started) * 1000
        process.kill()
        process.wait()
        if not done:
            raise SystemExit(f"{binary}: no answer within 30 s")
        times.append(round(elapsed, 2))
        inits.append(round((RuntimeApi.first_poll - started) * 1000, 2))
        if first_answer is None:
            first_answer = RuntimeApi.answer
    server.shutdown()
    ordered, init_ordered = sorted(times), sorted(inits)
    return {
        "binary": os.path.basename(binary),
        "runs_ms": times,
        "median_ms": ordered[len(ordered) // 2],
        "max_ms": ordered[-1],
        "init_runs_ms": inits,
        "init_median_ms": init_ordered[len(init_ordered) // 2],
        "init_max_ms": init_ordered[-1],
        "answer": first_answer,
    }


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    binary, event_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rest = sys.argv[4:]
    tokens = None
    if rest[:1] == ["--tokens"]:
        with open(rest[1]) as f:
            tokens = [line.strip() for line in f if line.strip()]
        rest = rest[2:]
    env = dict(arg.split("=", 1) for arg in rest)
    with open(event_file, "rb") as f:
        event = f.read()
    print(json.dumps(measure(binary, event, env, runs, tokens)))


if __name__ == "__main__":
    main()
