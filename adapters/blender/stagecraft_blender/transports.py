"""The four transports of stagecraft-bridge/1: framing and sockets only, no meaning.

Each transport runs its own I/O threads; decoded messages go to `Server.handle_raw`, which
decides what runs where. All listeners bind to loopback unless told otherwise, and every
message is capped at 256 MiB.

- StdioTransport      embedded: JSON lines on stdin, `@@stagecraft `-prefixed lines on stdout
- HttpTransport       POST /rpc, bearer token, one request per POST, no notifications
- WebSocketTransport  a small RFC 6455 server, one JSON message per text frame
- PipeTransport       a Unix domain socket (0600), one JSON message per line
"""

import base64
import hashlib
import http.server
import os
import queue
import socket
import socketserver
import stat
import struct
import threading

from . import protocol
from .protocol import MAX_MESSAGE_BYTES
from .server import Connection

STDIO_PREFIX = b"@@stagecraft "


def _thread(target, name, *args):
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _too_big(conn):
    conn.send(
        protocol.error_response(
            None,
            protocol.invalid(f"message larger than {MAX_MESSAGE_BYTES} bytes").to_error(),
        )
    )


# ---------------------------------------------------------------------------------------
# embedded (stdio)


class _StdioConnection(Connection):
    requires_token = False  # a private pipe to the process that started us

    def __init__(self, server, out_file):
        super().__init__(server, "stdio")
        self.authenticated = True
        self._out = out_file

    def _write(self, line):
        self._out.write(STDIO_PREFIX + line.encode("utf-8") + b"\n")
        self._out.flush()


class StdioTransport:
    """stdin -> requests; `out_file` (a private dup of the original stdout) -> answers.

    The caller (run.py) moves fd 1 onto stderr before Blender starts printing, so Blender's
    own output can never interleave with a protocol line.
    """

    kind = "embedded"

    def __init__(self, in_file, out_file):
        self._in = in_file
        self._out = out_file
        self.conn = None
        self.endpoint = None

    def start(self, server):
        self.conn = _StdioConnection(server, self._out)
        server.add_connection(self.conn)
        _thread(self._read_loop, "stagecraft-stdin", server)

    def _read_loop(self, server):
        while True:
            line = self._in.readline(MAX_MESSAGE_BYTES + 1)
            if not line:
                break
            if len(line) > MAX_MESSAGE_BYTES and not line.endswith(b"\n"):
                _too_big(self.conn)
                while line and not line.endswith(b"\n"):
                    line = self._in.readline(1 << 20)
                continue
            if line.strip():
                server.handle_raw(self.conn, line)
        # stagecraft closed our stdin: it owns our lifetime. Answer what it already sent
        # (harmless if nobody reads), then stop.
        server.stop_after_queued()

    def stop(self):
        pass


# ---------------------------------------------------------------------------------------
# line-delimited sockets (named_pipe)


class _SocketConnection(Connection):
    def __init__(self, server, sock, name):
        super().__init__(server, name)
        self.sock = sock

    def _write(self, line):
        self.sock.sendall(line.encode("utf-8") + b"\n")

    def close(self):
        super().close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _LineHandler(socketserver.StreamRequestHandler):
    def handle(self):
        server = self.server.bridge
        conn = _SocketConnection(server, self.request, "pipe")
        server.add_connection(conn)
        try:
            while not conn.closed:
                line = self.rfile.readline(MAX_MESSAGE_BYTES + 1)
                if not line:
                    break
                if len(line) > MAX_MESSAGE_BYTES and not line.endswith(b"\n"):
                    _too_big(conn)
                    break
                if line.strip():
                    server.handle_raw(conn, line)
        except OSError:
            pass
        finally:
            server.remove_connection(conn)
            conn.close()


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class PipeTransport:
    kind = "named_pipe"

    def __init__(self, path):
        if os.name == "nt":
            raise OSError("named_pipe on Windows is not supported by this adapter yet")
        self.path = os.path.abspath(path)
        self.endpoint = self.path
        self._srv = None

    def start(self, server):
        _remove_stale_socket(self.path)
        # umask first so the socket is never reachable by others, even for an instant.
        old = os.umask(0o177)
        try:
            self._srv = _UnixServer(self.path, _LineHandler)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._srv.bridge = server
        _thread(self._srv.serve_forever, "stagecraft-pipe", 0.2)

    def stop(self):
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _remove_stale_socket(path):
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover from a crashed run
        return
    finally:
        probe.close()
    raise OSError(f"another server is already listening on {path}")


# ---------------------------------------------------------------------------------------
# http


class _HttpConnection(Connection):
    supports_notifications = False
    requires_token = False  # the bearer token was checked before the body was read

    def __init__(self, server):
        super().__init__(server, "http")
        self.authenticated = True
        self.answer = queue.Queue(maxsize=1)

    def _write(self, line):
        self.answer.put(line)


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stagecraft-blender"
    # Headers and body go out in two writes: with Nagle on, the body waits for the ACK of the
    # headers, which a keep-alive client delays by ~40 ms on every request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass  # stderr is stagecraft's log; one line per request would drown it

    def _reply(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status, code, message):
        err = protocol.DccError(code, message, recoverable=False).to_error()
        self._reply(status, protocol.dumps(protocol.error_response(None, err)).encode())

    def _from_a_browser(self):
        """A web page may POST to a loopback port (a "simple" text/plain request needs no CORS
        preflight) or reach it through DNS rebinding: refuse any request with an Origin (stagecraft
        never sends one, and a sandboxed frame sends "null") or with a Host that is not this
        server's own address."""
        if self.headers.get("Origin") is not None:
            self._error(403, "PERMISSION_DENIED", "requests from web pages are refused")
            return True
        if not _host_allowed(self.headers.get("Host", ""), self.server.server_address[0]):
            self._error(403, "PERMISSION_DENIED", "unexpected Host header")
            return True
        return False

    def do_GET(self):  # noqa: N802
        if self._from_a_browser():
            return
        self._error(405, "INVALID_INPUT", "use POST /rpc with a JSON-RPC body")

    def do_POST(self):  # noqa: N802
        bridge = self.server.bridge
        if self._from_a_browser():
            return
        if self.path.split("?", 1)[0] != "/rpc":
            self._error(404, "INVALID_INPUT", f"no endpoint {self.path}; use POST /rpc")
            return
        if bridge.token is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {bridge.token}":
                self._error(401, "PERMISSION_DENIED", "missing or wrong bearer token")
                return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "INVALID_INPUT", "Content-Length required")
            return
        if length < 0 or length > MAX_MESSAGE_BYTES:
            self._error(413, "INVALID_INPUT", f"body larger than {MAX_MESSAGE_BYTES} bytes")
            return
        body = self.rfile.read(length)
        conn = _HttpConnection(bridge)
        expects_answer = True
        try:
            message = protocol.loads(body)
            expects_answer = not (
                isinstance(message, dict) and "method" in message and "id" not in message
            )
        except (ValueError, UnicodeDecodeError):
            pass  # handle_raw answers with a parse error
        bridge.add_connection(conn)
        try:
            bridge.handle_raw(conn, body)
            if not expects_answer:
                self._reply(204)
                return
            while True:
                try:
                    line = conn.answer.get(timeout=0.5)
                    break
                except queue.Empty:
                    if bridge.stopping.is_set():
                        self._error(503, "CONNECTION_FAILED", "Blender is shutting down")
                        return
            self._reply(200, line.encode("utf-8"))
        finally:
            bridge.remove_connection(conn)


def _host_allowed(host_header, bound):
    """True for Host values naming a loopback address or the address the listener is bound to."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in ("localhost", "::1", str(bound).lower()) or host.startswith("127.")


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HttpTransport:
    kind = "http"

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.endpoint = None
        self._srv = None

    def start(self, server):
        self._srv = _HttpServer((self.host, self.port), _HttpHandler)
        self._srv.bridge = server
        self.port = self._srv.server_address[1]
        self.endpoint = f"http://{self.host}:{self.port}/rpc"
        _thread(self._srv.serve_forever, "stagecraft-http", 0.2)

    def stop(self):
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None


# ---------------------------------------------------------------------------------------
# websocket (RFC 6455, server side, text frames only)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class _WsClosed(Exception):
    pass


class _WsConnection(Connection):
    def __init__(self, server, sock):
        super().__init__(server, "websocket")
        self.sock = sock

    def _write(self, line):
        self.send_frame(OP_TEXT, line.encode("utf-8"), locked=True)

    def send_frame(self, opcode, payload, locked=False):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        if locked:
            self.sock.sendall(head + payload)
        else:
            with self._lock:
                self.sock.sendall(head + payload)

    def close(self, code=1000):
        if not self.closed:
            try:
                self.send_frame(OP_CLOSE, struct.pack("!H", code))
            except OSError:
                pass
        super().close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise _WsClosed()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _unmask(payload, mask):
    # XOR as one big integer: orders of magnitude faster than a Python byte loop.
    n = len(payload)
    if not n:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class _WsHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        if not self._handshake(sock):
            return
        server = self.server.bridge
        conn = _WsConnection(server, sock)
        server.add_connection(conn)
        try:
            self._frames(conn, server)
        except (_WsClosed, OSError):
            pass
        finally:
            server.remove_connection(conn)
            conn.closed = True
            try:
                sock.close()
            except OSError:
                pass

    def _handshake(self, sock):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > 16384:
                return False
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        request_line = head[0].split()
        headers = {}
        for line in head[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        ok = (
            len(request_line) >= 2
            and request_line[0] == "GET"
            and "websocket" in headers.get("upgrade", "").lower()
            and key
            and headers.get("sec-websocket-version") == "13"
        )
        if not ok:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        # A web page in a browser could dial a loopback socket; stagecraft never sends Origin, and
        # a sandboxed frame sends "null", so any Origin at all is refused.
        if "origin" in headers:
            sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        return True

    def _frames(self, conn, server):
        sock = self.request
        parts, size, message_op = [], 0, None
        while not conn.closed:
            b0, b1 = _recv_exact(sock, 2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            length = b1 & 0x7F
            if not b1 & 0x80:
                conn.close(1002)  # clients must mask (RFC 6455 §5.1)
                return
            if length == 126:
                (length,) = struct.unpack("!H", _recv_exact(sock, 2))
            elif length == 127:
                (length,) = struct.unpack("!Q", _recv_exact(sock, 8))
            if opcode >= 0x8 and (length > 125 or not fin):
                conn.close(1002)
                return
            if size + length > MAX_MESSAGE_BYTES:
                conn.close(1009)
                return
            mask = _recv_exact(sock, 4)
            payload = _unmask(_recv_exact(sock, length), mask)
            if opcode == OP_CLOSE:
                conn.close(1000)
                return
            if opcode == OP_PING:
                conn.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode in (OP_TEXT, OP_BINARY):
                if message_op is not None:
                    conn.close(1002)
                    return
                message_op = opcode
            elif opcode != OP_CONT or message_op is None:
                conn.close(1002)
                return
            parts.append(payload)
            size += length
            if fin:
                data, op = b"".join(parts), message_op
                parts, size, message_op = [], 0, None
                if op == OP_BINARY:
                    conn.close(1003)  # the protocol is JSON text frames
                    return
                server.handle_raw(conn, data)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class WebSocketTransport:
    kind = "websocket"

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.endpoint = None
        self._srv = None

    def start(self, server):
        self._srv = _TcpServer((self.host, self.port), _WsHandler)
        self._srv.bridge = server
        self.port = self._srv.server_address[1]
        self.endpoint = f"ws://{self.host}:{self.port}"
        _thread(self._srv.serve_forever, "stagecraft-ws", 0.2)

    def stop(self):
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None


def parse_host_port(text, allow_remote=False):
    """'127.0.0.1:9876' -> ('127.0.0.1', 9876); refuses non-loopback hosts by default."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    if not allow_remote and host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing to listen on non-loopback address {host!r}")
    return host, int(port)
