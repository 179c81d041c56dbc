"""The real stagecraft binary behind the Python MCP SDK client, for the Blender end-to-end tests.

`McpSession` keeps one `stagecraft serve` (stdio) and one MCP client session open for a whole test
module and calls tools synchronously; `reference_server` runs the MMCP SDK's reference server;
`read_take` decodes an MMCP glTF take with the standard library.
"""

import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib

import anyio
from anyio.from_thread import start_blocking_portal
from mcp import Client, StdioServerParameters

STAGECRAFT_BIN = os.environ.get("STAGECRAFT_BIN")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ToolFailed(AssertionError):
    pass


class McpSession:
    """`stagecraft serve` with `config`, and an MCP client session to it (legacy handshake)."""

    def __init__(self, config_path, env=None, timeout=120.0):
        env = dict(env or os.environ)
        env["STAGECRAFT_CONFIG"] = str(config_path)
        env.setdefault("STAGECRAFT_LOG", "warn")
        self.timeout = timeout
        params = StdioServerParameters(command=STAGECRAFT_BIN, args=["serve"], env=env)
        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        try:
            self._client_cm = self._portal.wrap_async_context_manager(Client(params, mode="legacy"))
            self.client = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(*sys.exc_info())
            raise

    async def _call(self, name, arguments, timeout, progress):
        async def on_progress(value, total, message):
            progress.append((value, total, message))

        with anyio.fail_after(timeout):
            callback = on_progress if progress is not None else None
            return await self.client.call_tool(name, arguments, progress_callback=callback)

    def call(self, name, arguments=None, timeout=None, progress=None):
        """The CallToolResult of one tool call (errors included); MCP progress notifications are
        appended to `progress` as (value, total, message) when a list is given."""
        args = (name, arguments or {}, timeout or self.timeout, progress)
        return self._portal.call(self._call, *args)

    def tool(self, name, arguments=None, timeout=None):
        """The structured content of a call that must succeed."""
        result = self.call(name, arguments, timeout)
        if result.is_error:
            raise ToolFailed(f"{name} {arguments} failed: {result.structured_content or result}")
        assert result.structured_content is not None, f"{name}: no structured content: {result}"
        return result.structured_content

    def error(self, name, arguments=None, timeout=None):
        """The structured error of a call that must fail (isError: true)."""
        result = self.call(name, arguments, timeout)
        assert result.is_error, f"{name} {arguments} succeeded: {result.structured_content}"
        error = result.structured_content
        assert error and error.get("code") and error.get("message"), f"{name}: {result}"
        return error

    def close(self):
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)


def toml_config(dccs=(), backends=()):
    """stagecraft.toml text with [[dcc]] and [[motion.backends]] tables (values: str, int, list)."""

    def value(v):
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return json.dumps(str(v))  # a TOML basic string

    out = []
    for table, rows in (("motion.backends", backends), ("dcc", dccs)):
        for row in rows:
            out.append(f"[[{table}]]")
            out += [f"{k} = {value(v)}" for k, v in row.items()]
            out.append("")
    return "\n".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def reference_server():
    """The MMCP SDK's reference server (`python -m motionmcp.null_backbone`) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "motionmcp.null_backbone", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            # No readiness line to wait for: poll /capabilities until it answers.
            try:
                with urllib.request.urlopen(url + "/capabilities", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(
                        "reference server did not start: " + proc.stderr.read().decode()
                    )
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def png_from(result):
    """The PNG bytes of the (single) MCP image content of a tool result."""
    images = [c for c in result.content if getattr(c, "type", None) == "image"]
    assert len(images) == 1, f"expected one image content, got {result.content}"
    assert images[0].mime_type == "image/png", images[0].mime_type
    data = base64.b64decode(images[0].data)
    assert data[:8] == PNG_SIGNATURE, f"not a PNG: {data[:16]!r}"
    return data


def png_size(data):
    """(width, height) from the IHDR chunk."""
    assert data[12:16] == b"IHDR", "the first PNG chunk is not IHDR"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------------------
# MMCP glTF (docs/mmcp.md#the-gltf-take) -> skeleton and per-frame channels, standard library only

_COMPONENTS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}


def _accessor(doc, buffers, index):
    acc = doc["accessors"][index]
    assert acc["componentType"] == 5126, f"accessor {index} is not float32"
    view = doc["bufferViews"][acc["bufferView"]]
    n = _COMPONENTS[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    raw = buffers[view["buffer"]][start : start + 4 * n * acc["count"]]
    flat = struct.unpack(f"<{n * acc['count']}f", raw)
    return acc["type"], [list(flat[i : i + n]) for i in range(0, len(flat), n)]


def read_take(path, sample=0):
    """Decodes a JSON .gltf take: {"fps", "frames", "skeleton": {"joints": [...]}, "names",
    "rotations": [T][J] xyzw, "roots": [T] xyz, "translations": {joint: [T] xyz}} (dense keys)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    buffers = []
    for buf in doc["buffers"]:
        prefix, _, data = buf["uri"].partition(",")
        assert prefix.endswith(";base64"), f"buffer is not an embedded data URI: {prefix}"
        buffers.append(base64.b64decode(data)[: buf["byteLength"]])
    nodes = doc["nodes"]
    parent = {c: i for i, node in enumerate(nodes) for c in node.get("children", [])}
    joints = [
        {
            "name": node["name"],
            "parent": nodes[parent[i]]["name"] if i in parent else None,
            "rest_translation": node.get("translation", [0.0, 0.0, 0.0]),
            "rest_rotation": node.get("rotation", [0.0, 0.0, 0.0, 1.0]),
        }
        for i, node in enumerate(nodes)
    ]
    roots = [j["name"] for j in joints if j["parent"] is None]
    assert len(roots) == 1, f"the take has {len(roots)} roots: {roots}"
    root_index = next(i for i, j in enumerate(joints) if j["parent"] is None)

    motion = doc["extensions"]["MMCP_motion"]
    fps = motion["fps"]
    frames = motion["samples"][sample]["num_frames"]
    kind, clock = _accessor(doc, buffers, 0)
    assert kind == "SCALAR" and len(clock) == frames, "accessor 0 is not the dense clock"
    for i, (t,) in enumerate(clock):
        assert abs(t - i / fps) < 1e-4, f"clock[{i}] = {t}, not {i}/{fps}"

    anim = doc["animations"][sample]
    rotations = [[None] * len(joints) for _ in range(frames)]
    roots_xyz, translations = None, {}
    for channel in anim["channels"]:
        sampler = anim["samplers"][channel["sampler"]]
        assert sampler.get("interpolation", "LINEAR") == "LINEAR", sampler
        assert sampler["input"] == 0, "a sparse channel: this reader expects dense keys"
        kind, values = _accessor(doc, buffers, sampler["output"])
        assert len(values) == frames, f"channel {channel} has {len(values)} keys, not {frames}"
        node, path = channel["target"]["node"], channel["target"]["path"]
        if path == "rotation":
            assert kind == "VEC4", channel
            for t in range(frames):
                rotations[t][node] = values[t]
        elif path == "translation" and node == root_index:
            assert kind == "VEC3", channel
            roots_xyz = values
        elif path == "translation":
            translations[joints[node]["name"]] = values
    missing = [joints[j]["name"] for j in range(len(joints)) if rotations[0][j] is None]
    assert not missing, f"no rotation channel for {missing}"
    assert roots_xyz is not None, "no root translation channel"
    return {
        "fps": fps,
        "frames": frames,
        "model": motion.get("model"),
        "skeleton": {"joints": joints},
        "names": [j["name"] for j in joints],
        "rotations": rotations,
        "roots": roots_xyz,
        "translations": translations,
    }


def png_pixels(data):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced PNG (stdlib zlib)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert depth == 8 and interlace == 0, f"bit depth {depth}, interlace {interlace}"
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def drawn_box(data, x0, y0, w, h):
    """Width and height of the box around the pixels of a cell that differ from its top-left
    (background) pixel, as fractions of the cell's width and height."""
    _, _, channels, rows = png_pixels(data)
    background = rows[y0][x0 * channels : (x0 + 1) * channels]
    drawn = [
        (x, y)
        for y in range(y0, y0 + h)
        for x in range(x0, x0 + w)
        if max(abs(a - b) for a, b in zip(rows[y][x * channels : (x + 1) * channels], background))
        > 24
    ]
    if not drawn:
        return 0.0, 0.0
    xs, ys = [x for x, _ in drawn], [y for _, y in drawn]
    return (max(xs) - min(xs) + 1) / w, (max(ys) - min(ys) + 1) / h
