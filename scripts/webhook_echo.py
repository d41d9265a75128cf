#!/usr/bin/env python3
"""A webhook receiver for trying the platform on this machine: listens on
127.0.0.1 (port from the first argument, 8099 by default), prints each
delivery's Standard Webhooks headers and body, and answers 204. With
WEBHOOK_SECRET set and the `standardwebhooks` package installed it also
says whether the signature verifies."""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Echo(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        print(f"{self.headers.get('webhook-id')} at {self.headers.get('webhook-timestamp')}:")
        print(f"  {body.decode(errors='replace')}")
        secret = os.environ.get("WEBHOOK_SECRET")
        if secret:
            try:
                from standardwebhooks import Webhook
                Webhook(secret).verify(body, dict(self.headers.items()))
                print("  signature verifies")
            except ImportError:
                print("  (pip install standardwebhooks to verify)")
            except Exception as error:  # noqa: BLE001 - shown, not raised
                print(f"  does NOT verify: {error}")
        sys.stdout.flush()
        self.send_response(204)
        self.end_headers()


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
print(f"webhook receiver on http://127.0.0.1:{port}/hook", flush=True)
HTTPServer(("127.0.0.1", port), Echo).serve_forever()
