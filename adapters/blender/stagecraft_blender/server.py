"""Dispatch and the main-thread rule.

Transports (transports.py) own framing and run on I/O threads. They hand every decoded
message to `Server.handle_message`, which answers what is safe off the main thread
(`dcc.hello`, `dcc.ping`, `$/cancel`, protocol errors) and queues everything else. Blender's
API is not thread-safe, so queued requests run only in `Server.pump`, which is called on the
main thread: by `serve_forever` in background mode (bpy.app.timers never fire there) or by
a `bpy.app.timers` callback in the UI.
"""

import json
import os
import queue
import sys
import threading
import time
import traceback

from . import protocol
from .protocol import DccError

ADAPTER_VERSION = "0.1.0"


class Connection:
    """One client of one transport. Transports subclass it and implement `_write`/`close`."""

    # http answers one request per POST and cannot carry notifications.
    supports_notifications = True
    # stdio is a private pipe and http checks its bearer token first: neither needs one in hello.
    requires_token = True

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.authenticated = server.token is None
        self.closed = False
        self._lock = threading.Lock()

    def send(self, message):
        try:
            line = protocol.dumps(message)
        except (TypeError, ValueError) as exc:
            # A method returned something JSON cannot carry (NaN, an object): say so.
            line = protocol.dumps(
                protocol.error_response(
                    message.get("id"),
                    DccError("INTERNAL", f"result is not valid JSON: {exc}").to_error(),
                )
            )
        with self._lock:
            if self.closed:
                return
            try:
                self._write(line)
            except OSError:
                self.closed = True

    def notify(self, method, params):
        if self.supports_notifications:
            self.send(protocol.notification(method, params))

    def _write(self, line):
        raise NotImplementedError

    def close(self):
        self.closed = True


class Request:
    """A queued request plus what a method may use while it runs (progress, cancellation)."""

    def __init__(self, server, conn, msg_id, method, params):
        self.server = server
        self.conn = conn
        self.id = msg_id
        self.method = method
        self.params = params
        self.cancelled = False
        # Set by a method that can be interrupted mid-way (script.execute); called from the
        # I/O thread that received `$/cancel`.
        self.on_cancel = None

    def progress(self, progress, total=None, message=None):
        params = {"id": self.id, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self.conn.notify("$/progress", params)

    def log(self, level, message):
        """`$/log` to the client that sent this request (warnings worth showing the agent)."""
        self.conn.notify("$/log", {"level": level, "message": message})

    def check_cancelled(self):
        if self.cancelled:
            raise protocol.Cancelled()


class Server:
    def __init__(self, token=None, allow_scripts=False, bridge_kind=None, endpoint=None):
        self.token = token or None
        self.allow_scripts = allow_scripts
        self.bridge_kind = bridge_kind
        self.endpoint = endpoint
        self.stopping = threading.Event()
        self._queue = queue.Queue()
        self._pending = {}  # (conn id, request id) -> Request, for $/cancel
        self._pending_lock = threading.Lock()
        self._connections = set()
        self._conn_lock = threading.Lock()
        self.current = None  # the Request running on the main thread, if any
        self.transports = []
        from .methods import METHODS

        self.methods = METHODS
        self.info = None

    # -- lifecycle ---------------------------------------------------------------------

    def snapshot_info(self):
        """Captures DccInfo on the main thread so `dcc.hello` can answer from an I/O thread."""
        import bpy

        self.info = {
            "dcc_type": "blender",
            "version": bpy.app.version_string,
            "platform": sys.platform,
            "pid": os.getpid(),
            "python_version": sys.version.split()[0],
            "metadata": {
                "adapter": "stagecraft_blender",
                "adapter_version": ADAPTER_VERSION,
                "background": bool(bpy.app.background),
                # The bpy wheel has no binary; `blender --background` has one.
                "mode": "module" if not bpy.app.binary_path else "application",
                "up_axis": "Z",
                "units": "meters",
            },
        }

    def start(self, transports):
        self.snapshot_info()
        for transport in transports:
            transport.start(self)
            self.transports.append(transport)
            if self.endpoint is None:
                self.bridge_kind, self.endpoint = transport.kind, transport.endpoint

    def stop(self):
        """Closes listeners and connections; safe to call twice."""
        if self.stopping.is_set() and not self.transports:
            return
        self.stopping.set()
        self.broadcast("$/event", {"event": "shutting_down"})
        for transport in self.transports:
            transport.stop()
        self.transports = []
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            conn.close()

    def stop_after_queued(self):
        """Stops the main loop once every request queued so far has run."""
        self._queue.put(None)

    def serve_forever(self):
        """Background mode: own the main thread until `stop()` (or a transport ends)."""
        while not self.stopping.is_set():
            self.pump(block=0.1)

    # -- connections -------------------------------------------------------------------

    def add_connection(self, conn):
        with self._conn_lock:
            self._connections.add(conn)

    def remove_connection(self, conn):
        with self._conn_lock:
            self._connections.discard(conn)
        # Requests still queued for a gone client are dropped when popped.
        with self._pending_lock:
            for key, req in list(self._pending.items()):
                if req.conn is conn:
                    req.cancelled = True

    def broadcast(self, method, params):
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            if conn.authenticated:
                conn.notify(method, params)

    def log(self, level, message):
        self.broadcast("$/log", {"level": level, "message": message})

    @property
    def busy(self):
        return self.current is not None or not self._queue.empty()

    # -- I/O side ----------------------------------------------------------------------

    def handle_raw(self, conn, data):
        """Entry point for transports: one undecoded message (bytes or str)."""
        try:
            message = protocol.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            conn.send(
                protocol.error_response(
                    None,
                    {
                        "code": protocol.PARSE_ERROR,
                        "message": f"parse error: {exc}",
                        "data": {"code": "INVALID_INPUT", "recoverable": True},
                    },
                )
            )
            return
        self.handle_message(conn, message)

    def handle_message(self, conn, message):
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            conn.send(_request_error(message, "not a JSON-RPC 2.0 message object"))
            return
        method = message.get("method")
        if not isinstance(method, str):
            # Responses from stagecraft are never expected; anything else is malformed.
            if "id" in message and ("result" in message or "error" in message):
                return
            conn.send(_request_error(message, "missing 'method'"))
            return
        params = message.get("params", {})
        if params is None:
            params = {}
        is_request = "id" in message
        msg_id = message.get("id")
        if is_request and not (
            msg_id is None or isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool)
        ):
            conn.send(_request_error(message, "'id' must be a string or an integer"))
            return

        if not is_request:
            self._notification(conn, method, params)
            return
        if not isinstance(params, dict):
            conn.send(
                protocol.error_response(
                    msg_id, protocol.invalid("'params' must be an object").to_error()
                )
            )
            return

        if method == "dcc.hello":
            self._hello(conn, msg_id, params)
            return
        if not conn.authenticated:
            conn.send(
                protocol.error_response(
                    msg_id,
                    DccError(
                        "PERMISSION_DENIED",
                        "send dcc.hello with the token first",
                        recoverable=False,
                    ).to_error(),
                )
            )
            return
        if method == "dcc.ping":
            # Answered here, off the main thread: a busy Blender still answers, a dead one not.
            conn.send(protocol.response(msg_id, {"busy": self.busy}))
            return
        if method not in self.methods:
            conn.send(
                protocol.error_response(
                    msg_id,
                    DccError(
                        "UNSUPPORTED",
                        f"unknown method '{method}'",
                        rpc_code=protocol.METHOD_NOT_FOUND,
                    ).to_error(),
                )
            )
            return
        req = Request(self, conn, msg_id, method, params)
        with self._pending_lock:
            self._pending[(id(conn), msg_id)] = req
        self._queue.put(req)

    def _notification(self, conn, method, params):
        if method == "$/cancel" and conn.authenticated and isinstance(params, dict):
            with self._pending_lock:
                req = self._pending.get((id(conn), params.get("id")))
            if req is not None:
                req.cancelled = True
                hook = req.on_cancel
                if hook is not None:
                    hook()
        # Other notifications from stagecraft are not defined; ignore them.

    def _hello(self, conn, msg_id, params):
        if self.token is not None and conn.requires_token and params.get("token") != self.token:
            conn.send(
                protocol.error_response(
                    msg_id,
                    DccError(
                        "PERMISSION_DENIED",
                        "wrong or missing token in dcc.hello",
                        recoverable=False,
                    ).to_error(),
                )
            )
            conn.close()
            return
        wanted = params.get("protocol")
        if wanted is not None and wanted != protocol.PROTOCOL:
            conn.send(
                protocol.error_response(
                    msg_id,
                    DccError(
                        "UNSUPPORTED",
                        f"protocol {wanted!r} not supported; this adapter speaks "
                        f"{protocol.PROTOCOL}",
                        recoverable=False,
                    ).to_error(),
                )
            )
            return
        conn.authenticated = True
        conn.send(
            protocol.response(
                msg_id,
                {
                    "protocol": protocol.PROTOCOL,
                    "info": self.info,
                    "capabilities": self.capabilities(conn),
                    "methods": ["dcc.hello", "dcc.ping"] + sorted(self.methods),
                },
            )
        )

    def capabilities(self, conn):
        return {
            # Without --allow-scripts this session runs no scripts: advertise none (script.execute
            # still answers PERMISSION_DENIED, saying how to enable them).
            "script_languages": ["python"] if self.allow_scripts else [],
            "scene_info": True,
            "snapshot": False,
            "undo_redo": False,
            "progress_reporting": conn.supports_notifications,
            "file_operations": True,
            "selection": True,
            "scene_manager": True,
            "transform": True,
            "render_capture": True,
            "hierarchy": True,
            "animation": True,
            "has_embedded_python": True,
            "bridge_kind": self.bridge_kind,
            "bridge_endpoint": self.endpoint,
            "extensions": {"allow_scripts": self.allow_scripts},
        }

    # -- main-thread side --------------------------------------------------------------

    def pump(self, block=0.0, budget=0.05):
        """Runs queued requests on the calling (main) thread.

        block: seconds to wait for the first request; budget: stop starting new requests
        after this many seconds, so a UI timer keeps Blender responsive.
        """
        deadline = time.monotonic() + budget
        try:
            req = self._queue.get(timeout=block) if block else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            if req is None:  # the stop_after_queued marker
                self.stopping.set()
                return
            self._run(req)
            if time.monotonic() > deadline or self.stopping.is_set():
                return
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                return

    def _run(self, req):
        self.current = req
        try:
            answer = self._execute(req)
        finally:
            # Cleared before answering, so a ping right after the answer says "not busy".
            self.current = None
            with self._pending_lock:
                self._pending.pop((id(req.conn), req.id), None)
        req.conn.send(answer)

    def _execute(self, req):
        try:
            if req.cancelled:
                raise protocol.Cancelled()
            return protocol.response(req.id, self.methods[req.method](req.params, req))
        except protocol.Cancelled:
            err = DccError("TIMEOUT", "cancelled by $/cancel", rpc_code=protocol.REQUEST_CANCELLED)
        except DccError as exc:
            err = exc
        except Exception as exc:  # noqa: BLE001 - any bug must become an answer, not a crash
            err = DccError(
                "INTERNAL",
                f"{req.method} failed: {type(exc).__name__}: {exc}",
                details=traceback.format_exc(limit=8),
                rpc_code=protocol.INTERNAL_ERROR,
            )
        return protocol.error_response(req.id, err.to_error())


def _request_error(message, text):
    msg_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(msg_id, bool) or not isinstance(msg_id, (str, int, type(None))):
        msg_id = None
    return protocol.error_response(
        msg_id,
        {
            "code": protocol.INVALID_REQUEST,
            "message": f"invalid request: {text}",
            "data": {"code": "INVALID_INPUT", "recoverable": True},
        },
    )


def dcc_config_block(kind, endpoint, token_env=None, name="blender", command=None, token_file=None):
    """The `[[dcc]]` block of stagecraft.toml that connects to this adapter."""
    lines = ["[[dcc]]", f'name = "{name}"', f'bridge = "{kind}"']
    if kind == "embedded":
        quoted = ", ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in command)
        lines.append(f"command = [{quoted}]")
    else:
        lines.append(f'endpoint = "{endpoint}"')
        if token_env:
            lines.append(f'token_env = "{token_env}"')
        elif token_file:
            lines.append("token_file = " + json.dumps(token_file))
    return "\n".join(lines) + "\n"
