"""A tiny stdlib client for stagecraft-bridge/1, used by the Blender tests.

Starts `$BPY_PYTHON adapters/blender/run.py ...` as a subprocess and talks to it over any of
the four transports: stdio (embedded), a Unix socket (named_pipe), websocket, or http.
"""

import base64
import http.client
import itertools
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from array import array

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_PY = os.path.join(REPO, "adapters", "blender", "run.py")
PREFIX = b"@@stagecraft "


class BridgeError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.rpc_code = error.get("code")
        self.data = error.get("data") or {}
        self.code = self.data.get("code")


def f32(values, shape):
    data = array("f", values)
    if sys.byteorder != "little":
        data.byteswap()
    return {"dtype": "f32", "shape": list(shape), "b64": base64.b64encode(data.tobytes()).decode()}


def f32_values(values):
    """The float32-rounded values the adapter will see."""
    return list(array("f", values))


class _Rpc:
    """Request/response matching shared by the streaming transports."""

    def __init__(self):
        self._ids = itertools.count(1)
        self._answers = {}
        self._cond = threading.Condition()
        self.notifications = []
        self.closed = False

    def _deliver(self, message):
        with self._cond:
            if "id" in message and "method" not in message:
                self._answers[message["id"]] = message
            else:
                self.notifications.append(message)
            self._cond.notify_all()

    def _mark_closed(self):
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def send_request(self, method, params=None):
        msg_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}})
        return msg_id

    def wait(self, msg_id, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to request {msg_id} in {timeout} s")
                if self.closed:
                    raise ConnectionError("connection closed")
                self._cond.wait(min(left, 0.2))
            message = self._answers.pop(msg_id)
        if "error" in message:
            raise BridgeError(message["error"])
        return message["result"]

    def call(self, method, params=None, timeout=60.0):
        return self.wait(self.send_request(method, params), timeout)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def hello(self, token=None):
        params = {"protocol": "stagecraft-bridge/1", "client": {"name": "tests", "version": "0"}}
        if token is not None:
            params["token"] = token
        return self.call("dcc.hello", params)


class StdioClient(_Rpc):
    def __init__(self, proc):
        super().__init__()
        self.proc = proc
        self.noise = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                self._deliver(json.loads(line[len(PREFIX) :]))
            else:
                self.noise.append(line)
        self._mark_closed()

    def send(self, message):
        self.send_raw(json.dumps(message).encode())

    def send_raw(self, data):
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()


class PipeClient(_Rpc):
    def __init__(self, path):
        super().__init__()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.sock.makefile("rb"):
                self._deliver(json.loads(line))
        except OSError:
            pass
        self._mark_closed()

    def send(self, message):
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def close(self):
        self.sock.close()


class WsClient(_Rpc):
    """Just enough RFC 6455 for the tests: masked text frames, ping, close."""

    def __init__(self, host, port, extra_headers=""):
        super().__init__()
        self.sock = socket.create_connection((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split()[1]) if head else 0
        self.pongs = []
        self.close_code = None
        if self.status == 101:
            threading.Thread(target=self._read, daemon=True).start()

    def _recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError()
            data += chunk
        return data

    def _read(self):
        try:
            while True:
                b0, b1 = self._recv(2)
                n = b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", self._recv(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", self._recv(8))
                payload = self._recv(n)
                op = b0 & 0x0F
                if op == 1:
                    self._deliver(json.loads(payload))
                elif op == 0xA:
                    self.pongs.append(payload)
                elif op == 8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else None
                    break
        except (OSError, ConnectionError):
            pass
        self._mark_closed()

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        first = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", first, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", first, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", first, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, message):
        self.send_frame(1, json.dumps(message).encode())

    def close(self):
        try:
            self.send_frame(8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class HttpClient:
    def __init__(self, host, port, token=None):
        self.host, self.port, self.token = host, port, token
        self._ids = itertools.count(1)

    def post(self, body, token=None, path="/rpc"):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, (json.loads(data) if data else None)

    def call(self, method, params=None):
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        )
        status, message = self.post(body.encode())
        if "error" in message:
            raise BridgeError(message["error"])
        return message["result"]


class Server:
    """A run.py subprocess; waits for its ready line(s) on stderr."""

    def __init__(self, python, args, env=None, stdio=False, ready_count=1, timeout=60):
        cmd = [python, RUN_PY] + list(args)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if stdio else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(os.environ, **(env or {})),
            cwd=REPO,
        )
        self.stderr = []
        self.ready = []
        self._ready_q = queue.Queue()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while len(self.ready) < ready_count:
            try:
                self.ready.append(self._ready_q.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                self.kill()
                raise RuntimeError("server not ready:\n" + "".join(self.stderr[-40:]))
            if self.ready[-1] is None:
                raise RuntimeError("server exited:\n" + "".join(self.stderr[-40:]))
        self.client = StdioClient(self.proc) if stdio else None

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.stderr.append(line)
            if line.startswith("stagecraft-blender ready "):
                self._ready_q.put(json.loads(line[len("stagecraft-blender ready ") :]))
        self._ready_q.put(None)

    def endpoint(self, kind):
        return next(r["endpoint"] for r in self.ready if r["bridge"] == kind)

    def stop(self, timeout=20):
        """Closes stdin (embedded) or sends SIGTERM; returns the exit code."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=timeout if self.client else 0.5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
