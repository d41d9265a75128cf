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

With --store-split, the same number of runs follows with the function's
DYNAMODB_ENDPOINT pointed at a recording proxy in front of the real one.
The proxy notes when each store request arrives and when its answer has
been sent back, so each of these runs also gives:

- store calls: how many requests the first answer made (and how many of
  them were answered with an error, which the SDK may have retried);
- store wait: the time at least one of them was outstanding (overlapping
  requests count once);
- own time: first answer minus store wait, the part of the cold start the
  function itself spends, whatever the store behind it.

    coldstart.py BINARY EVENT_FILE RUNS [--tokens FILE] [--store-split] [NAME=VALUE ...]

With --tokens, each run replaces REPLACE_WITH_AUTH_TOKEN in the event with
the next line of FILE: `POST /auth` refuses a token id it has seen, so FILE
needs RUNS lines, twice that with --store-split.

Prints one JSON line: the binary, each run's milliseconds to the first
answer with their median and maximum, the same for init (and for the split
runs' store calls, store wait and own time), and the first run's answer (to
check the invocation worked).
"""

import http.client
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
    # Headers and body go out as two writes; with Nagle on, the second can
    # wait for a delayed ACK (40 ms on Linux) and be timed as the function's.
    disable_nagle_algorithm = True
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
            try:
                self.wfile.write(cls.event)
            except BrokenPipeError:
                pass  # the harness killed the process while it polled again
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


class StoreProxy(http.server.BaseHTTPRequestHandler):
    """Forwards each request unchanged to the real store and records the
    interval from its arrival to the end of its answer. Keep-alive, as the
    AWS SDK expects, so a connection costs the function what it would."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    upstream = ("127.0.0.1", 0)
    intervals = []
    lock = threading.Lock()
    hop_by_hop = {"connection", "keep-alive", "transfer-encoding", "content-length"}

    def log_message(self, *args):
        pass

    def parse_request(self):
        # Called as soon as the request line is read: the closest this
        # server gets to the moment the request arrived.
        self.arrived = time.perf_counter()
        return super().parse_request()

    def do_POST(self):
        started = self.arrived
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        upstream.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in self.hop_by_hop:
                upstream.putheader(name, value)
        upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in self.hop_by_hop:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        upstream.close()
        with self.lock:
            self.intervals.append((started, time.perf_counter(), answer.status))


def busy_time(intervals, until):
    """Seconds in which at least one interval was open, up to `until`."""
    total, open_start, open_end = 0.0, None, None
    for start, end, _ in sorted(intervals):
        start, end = min(start, until), min(end, until)
        if open_end is None or start > open_end:
            if open_end is not None:
                total += open_end - open_start
            open_start, open_end = start, end
        else:
            open_end = max(open_end, end)
    if open_end is not None:
        total += open_end - open_start
    return total


def median(values):
    return sorted(values)[len(values) // 2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(binary, event, env, runs, tokens=None, proxy_port=None):
    times, inits, first_answer = [], [], None
    base_env = {
        "PATH": os.environ.get("PATH", ""),
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
    if proxy_port is not None:
        base_env["DYNAMODB_ENDPOINT"] = f"http://127.0.0.1:{proxy_port}"
    calls, refused, waits, owns = [], [], [], []
    for _ in range(runs):
        # A server and handler state of its own per run: a poll the killed
        # process of the last run left in flight must not count as this
        # run's first.
        run_event = event
        if tokens:
            run_event = event.replace(b"REPLACE_WITH_AUTH_TOKEN", next(tokens).encode())
        api = type(
            "RunRuntimeApi",
            (RuntimeApi,),
            {
                "event": run_event,
                "answered": threading.Event(),
                "answer": None,
                "request_id": str(uuid.uuid4()),
                "first_poll": None,
            },
        )
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), api)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        run_env = dict(base_env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
        with StoreProxy.lock:
            StoreProxy.intervals = []
        started = time.perf_counter()
        process = subprocess.Popen(
            [binary], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        done = api.answered.wait(30)
        answered_at = time.perf_counter()
        elapsed = (answered_at - started) * 1000
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
        if not done:
            raise SystemExit(f"{binary}: no answer within 30 s")
        times.append(round(elapsed, 2))
        inits.append(round((api.first_poll - started) * 1000, 2))
        if first_answer is None:
            first_answer = api.answer
        if proxy_port is not None:
            with StoreProxy.lock:
                recorded = list(StoreProxy.intervals)
            wait = busy_time(recorded, answered_at) * 1000
            calls.append(len(recorded))
            refused.append(sum(1 for *_, status in recorded if status != 200))
            waits.append(round(wait, 2))
            owns.append(round(elapsed - wait, 2))
    if proxy_port is not None:
        return {
            "runs_ms": times,
            "store_calls": calls,
            # Answers other than 200: DynamoDB Local refusing or throttling,
            # which the SDK then retries.
            "store_refusals": refused,
            "store_wait_runs_ms": waits,
            "store_wait_median_ms": median(waits),
            "own_runs_ms": owns,
            "own_median_ms": median(owns),
            "own_max_ms": max(owns),
        }
    return {
        "binary": os.path.basename(binary),
        "runs_ms": times,
        "median_ms": median(times),
        "max_ms": max(times),
        "init_runs_ms": inits,
        "init_median_ms": median(inits),
        "init_max_ms": max(inits),
        "answer": first_answer,
    }


def measure_with_store_split(binary, event, env, runs, tokens):
    """The plain runs, then as many through the recording proxy."""
    result = measure(binary, event, env, runs, tokens)
    upstream = env.get("DYNAMODB_ENDPOINT")
    if not upstream:
        raise SystemExit("--store-split needs DYNAMODB_ENDPOINT=http://host:port")
    host, port = upstream.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    StoreProxy.upstream = (host, int(port))
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), StoreProxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    split = measure(binary, event, env, runs, tokens, proxy.server_address[1])
    proxy.shutdown()
    result["split"] = split
    return result


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    binary, event_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rest = sys.argv[4:]
    tokens = None
    if rest[:1] == ["--tokens"]:
        with open(rest[1]) as f:
            tokens = iter([line.strip() for line in f if line.strip()])
        rest = rest[2:]
    split = rest[:1] == ["--store-split"]
    if split:
        rest = rest[1:]
    env = dict(arg.split("=", 1) for arg in rest)
    with open(event_file, "rb") as f:
        event = f.read()
    if split:
        result = measure_with_store_split(binary, event, env, runs, tokens)
    else:
        result = measure(binary, event, env, runs, tokens)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
