"""A webhook receiver for the tests: verifies every request it gets with the
PyPI `standardwebhooks` package, answers the statuses it was told to, and
reports what it saw.

It listens on 127.0.0.1 only and prints its port on the first line.
`PUT /control` with {"secrets": [...], "statuses": [...], "now": secs}
sets the secrets to verify with (each one is tried alone, so a test sees
which of two secrets a request verified with), the statuses to answer in
turn (200 after they run out), and the time the library's timestamp check
takes as now: the platform under test runs on a manual clock, and the
receiver follows it. `GET /control` answers every request seen so far.
"""

import json
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as library

lock = threading.Lock()
state = {"secrets": [], "statuses": [], "now": None, "requests": []}


class FollowedClock(datetime):
    """`datetime` whose `now` is the test's clock when one was given."""

    @classmethod
    def now(cls, tz=None):
        with lock:
            now = state["now"]
        if now is None:
            return datetime.now(tz)
        return datetime.fromtimestamp(now, tz or timezone.utc)


library.datetime = FollowedClock


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length)

    def do_PUT(self):
        update = json.loads(self.body() or b"{}")
        with lock:
            for key in ("secrets", "statuses", "now"):
                if key in update:
                    state[key] = update[key]
        self.answer(200, {"ok": True})

    def do_GET(self):
        with lock:
            self.answer(200, {"requests": state["requests"]})

    def do_POST(self):
        raw = self.body()
        headers = {name: value for name, value in self.headers.items()}
        with lock:
            secrets = list(state["secrets"])
        verified, errors, payload = [], [], None
        for index, secret in enumerate(secrets):
            try:
                payload = library.Webhook(secret).verify(raw, headers)
                verified.append(index)
            except Exception as error:  # noqa: BLE001 - every refusal is reported
                errors.append(f"{type(error).__name__}: {error}")
        with lock:
            status = state["statuses"].pop(0) if state["statuses"] else 200
            state["requests"].append(
                {
                    "path": self.path,
                    "id": headers.get("webhook-id") or headers.get("Webhook-Id"),
                    "timestamp": headers.get("webhook-timestamp")
                    or headers.get("Webhook-Timestamp"),
                    "verifiedWith": verified,
                    "errors": errors,
                    "answered": status,
                    "payload": payload,
                }
            )
        self.answer(status, {"received": True})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
