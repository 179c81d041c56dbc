"""Motion backend faults end to end: a real MCP client, one stagecraft process, and a hostile MMCP
backend that answers each way a broken server or proxy does. Every fault is a tool result with the
exact code, the server stays up, and the very next call on the same connection works.

The fault server picks its behaviour from the first path segment of the URL (one configured
backend per scenario) and serves, for scenario S, a model with id S, so `generate_motion` with
`model: S` goes to that backend.
"""

import base64
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio

from conftest import ROOT
from helpers import mcp_client

CAPTURES = ROOT / "tests" / "fixtures" / "mmcp"
FOUR_FRAMES = 4 / 30  # the captured answer holds 4 frames at the reference model's 30 fps


def dense() -> bytes:
    return (CAPTURES / "02-dense.gltf").read_bytes()


def with_nan() -> bytes:
    doc = json.loads(dense())
    head, data = doc["buffers"][0]["uri"].split(",", 1)
    raw = bytearray(base64.b64decode(data))
    raw[-8:-4] = b"\x00\x00\xc0\x7f"  # a float32 NaN in the last rotation
    doc["buffers"][0]["uri"] = head + "," + base64.b64encode(bytes(raw)).decode()
    return json.dumps(doc).encode()


def out_of_bounds() -> bytes:
    doc = json.loads(dense())
    doc["accessors"][3]["count"] = 400  # reads far past the end of its bufferView
    return json.dumps(doc).encode()


ENVELOPE = '{{"error":{{"code":"{code}","message":"the fixture says {code}","details":{{}}}}}}'


class FaultyMmcp:
    def __init__(self):
        self.counts: dict[str, int] = {}
        self.deletes: list[str] = []
        self.hangups = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status, body=b"", ctype="application/json", headers=()):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def scenario(self):
                parts = self.path.strip("/").split("/")
                return parts[0], "/".join(parts[1:])

            def bump(self, key):
                with outer.lock:
                    outer.counts[key] = outer.counts.get(key, 0) + 1
                    return outer.counts[key]

            def do_DELETE(self):
                with outer.lock:
                    outer.deletes.append(self.path)
                self.send(204, ctype=None)

            def do_GET(self):
                scenario, rest = self.scenario()
                if rest == "capabilities":
                    caps = json.loads((CAPTURES / "capabilities-null.json").read_bytes())
                    caps["models"][0]["id"] = scenario
                    self.send(200, json.dumps(caps).encode())
                    return
                if rest.startswith("generate/jobs/"):
                    if scenario == "job404":
                        self.send(404, b'{"detail":"Not Found"}')
                    elif scenario == "jobfail" and self.bump("jobfail-poll") > 1:
                        self.send(500, ENVELOPE.format(code="job_failed").encode())
                    else:  # still running (jobfail's first poll, jobslow for ever)
                        self.send(202, b'{"status":"running"}', headers=[("Retry-After", "0.5")])
                    return
                self.send(404, b'{"detail":"Not Found"}')

            def do_POST(self):
                scenario, _ = self.scenario()
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                n = self.bump(scenario)
                gltf = "model/gltf+json"
                if scenario == "ok":
                    self.send(200, dense(), gltf)
                elif scenario == "text500":
                    self.send(500, b"Internal Server Error", "text/plain; charset=utf-8")
                elif scenario == "html502":
                    self.send(502, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "text/html")
                elif scenario == "empty200":
                    self.send(200, b"", gltf)
                elif scenario == "truncated":
                    self.send(200, dense()[: len(dense()) // 2], gltf)
                elif scenario == "oob":
                    self.send(200, out_of_bounds(), gltf)
                elif scenario == "nan":
                    self.send(200, with_nan(), gltf)
                elif scenario == "huge":
                    # 110 MiB announced and streamed: stagecraft must stop at max_response_mb.
                    self.send_response(200)
                    self.send_header("Content-Type", gltf)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * (1 << 20)
                    try:
                        for _ in range(110):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        with outer.lock:
                            outer.hangups += 1
                elif scenario in ("retry429", "retry503"):
                    if n == 1:
                        status, code = (429, "rate_limited") if scenario == "retry429" else (503, "model_unavailable")
                        self.send(status, ENVELOPE.format(code=code).encode(), headers=[("Retry-After", "1")])
                    else:
                        self.send(200, dense(), gltf)
                elif scenario == "hang":
                    time.sleep(30)
                elif scenario == "slowbytes":
                    self.send_response(200)
                    self.send_header("Content-Type", gltf)
                    self.send_header("Content-Length", str(len(dense())))
                    self.end_headers()
                    try:
                        for b in dense():
                            self.wfile.write(bytes([b]))
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                elif scenario in ("job404", "jobfail", "jobslow"):
                    self.send(202, b'{"job_id":"j1"}', headers=[("Location", f"/{scenario}/generate/jobs/j1"), ("Retry-After", "0.5")])
                else:
                    self.send(500, ENVELOPE.format(code="internal_error").encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# scenario -> (timeout_seconds, expected code or None for success)
SCENARIOS = {
    "text500": (30, "internal_error"),
    "html502": (30, "backend_unreachable"),
    "empty200": (30, "bad_response"),
    "truncated": (30, "bad_response"),
    "oob": (30, "bad_response"),
    "nan": (30, "bad_response"),
    "huge": (30, "bad_response"),
    "retry429": (30, None),
    "retry503": (30, None),
    "hang": (2, "timeout"),
    "slowbytes": (2, "timeout"),
    "job404": (30, "bad_response"),
    "jobfail": (30, "job_failed"),
    "jobslow": (30, None),  # cancelled by the client, below
}


def config(tmp_path: Path, backend: str, extra: str = "") -> dict:
    text = f'[[motion.backends]]\nname = "ok"\nurl = "{backend}/ok"\n'
    for name, (timeout, _) in SCENARIOS.items():
        text += f'\n[[motion.backends]]\nname = "{name}"\nurl = "{backend}/{name}"\ntimeout_seconds = {timeout}\n'
    path = tmp_path / "stagecraft.toml"
    path.write_text(text + extra)
    env = dict(os.environ, STAGECRAFT_CONFIG=str(path), STAGECRAFT_LOG="warn")
    return env


async def generate(client, model: str):
    return await client.call_tool("generate_motion", {"prompt": "walk", "seconds": FOUR_FRAMES, "model": model})


async def healthy(client):
    r = await generate(client, "ok")
    assert not r.is_error, r.structured_content
    assert r.structured_content["frames"] == 4


def test_every_backend_fault_is_a_clean_result_and_the_next_call_works(stagecraft_bin, tmp_path):
    backend = FaultyMmcp()
    env = config(tmp_path, backend.url)
    seen = {}

    async def main():
        async with mcp_client(stagecraft_bin, env) as client:
            await healthy(client)
            for scenario, (timeout, code) in SCENARIOS.items():
                if scenario == "jobslow":
                    continue
                started = time.monotonic()
                r = await generate(client, scenario)
                took = time.monotonic() - started
                seen[scenario] = (r.structured_content or {}).get("code")
                if code is None:
                    assert not r.is_error, (scenario, r.structured_content)
                    assert r.structured_content["backend"] == scenario
                else:
                    assert r.is_error, (scenario, r)
                    sc = r.structured_content
                    assert sc["code"] == code, (scenario, sc)
                    assert sc["message"] and sc.get("hint"), (scenario, sc)
                assert took < timeout + 5, (scenario, took)
                # The server is up and the next call on the same connection works.
                await healthy(client)

    anyio.run(main)
    backend.close()
    assert backend.counts["retry429"] == 2 and backend.counts["retry503"] == 2, backend.counts
    assert backend.counts["text500"] == 1, "a 500 is never retried"


def test_cancelling_an_async_job_from_the_mcp_client_deletes_it(stagecraft_bin, tmp_path):
    backend = FaultyMmcp()
    env = config(tmp_path, backend.url)

    async def main():
        async with mcp_client(stagecraft_bin, env) as client:
            with anyio.move_on_after(2.0) as scope:
                await generate(client, "jobslow")
            assert scope.cancelled_caught
            with anyio.fail_after(10):
                while not backend.deletes:
                    await anyio.sleep(0.1)
            assert backend.deletes == ["/jobslow/generate/jobs/j1"]
            await healthy(client)

    anyio.run(main)
    backend.close()


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_and_unresolvable_backends_are_reported_and_the_server_stays_up(stagecraft_bin, tmp_path):
    for name, url in (("refused", f"http://127.0.0.1:{dead_port()}"), ("dns", "http://stagecraft-fault.invalid:8000")):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'[[motion.backends]]\nname = "{name}"\nurl = "{url}"\ntimeout_seconds = 5\nconnect_timeout_seconds = 2\n')
        env = dict(os.environ, STAGECRAFT_CONFIG=str(path), STAGECRAFT_LOG="warn")

        async def main():
            async with mcp_client(stagecraft_bin, env) as client:
                started = time.monotonic()
                r = await client.call_tool("generate_motion", {"prompt": "walk", "seconds": 1})
                assert r.is_error, (name, r.structured_content)
                assert r.structured_content["code"] == "backend_unreachable", (name, r.structured_content)
                assert time.monotonic() - started < 8
                listed = await client.call_tool("list_motion_models", {})
                assert not listed.is_error
                assert listed.structured_content["backends"][0]["ok"] is False
                # The built-in model, asked for by name, still works in the same process.
                ok = await client.call_tool(
                    "generate_motion", {"prompt": "walk", "seconds": 1, "model": "stagecraft-procedural"}
                )
                assert not ok.is_error, ok.structured_content

        anyio.run(main)
