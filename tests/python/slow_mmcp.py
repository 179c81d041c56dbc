"""A deliberately slow MMCP backend (stdlib only) for progress and cancellation tests.

It serves the captured reference capabilities and, after `delay` seconds, the captured glTF
answer. While it waits it watches the socket: when the client hangs up (a cancelled call), it
records that and stops.
"""

import json
import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mmcp"


def http_body(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


class SlowMmcp:
    def __init__(self, delay: float):
        self.delay = delay
        self.requests = 0
        self.hangups = 0
        self.completed = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send_json(self, status: int, body: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/capabilities"):
                    self.send_json(200, http_body("capabilities-null.json"), "application/json")
                else:
                    self.send_json(404, b'{"error":{"code":"not_found","message":"no","details":{}}}', "application/json")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                outer.requests += 1
                frames = sum(s.get("duration_frames", 1) for s in request.get("segments", [])) or request.get(
                    "duration_frames", 4
                )
                deadline = time.monotonic() + outer.delay
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1, 0x2):  # MSG_PEEK: b"" means hung up
                        outer.hangups += 1
                        return
                body = http_body("02-dense.gltf") if frames == 4 else None
                if body is None:
                    self.send_json(400, b'{"error":{"code":"invalid_options","message":"this fixture answers 4 frames only","details":{}}}', "application/json")
                    return
                outer.completed += 1
                self.send_json(200, body, "model/gltf+json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
