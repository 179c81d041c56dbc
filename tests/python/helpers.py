"""Helpers for the end-to-end tests: the MMCP reference server, stagecraft over MCP, the glTF validator."""

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mcp import Client, StdioServerParameters

from conftest import free_port


@contextlib.contextmanager
def mmcp_server(argv: list, port: int, name: str):
    """Runs an MMCP server (`argv`, listening on `port`) until its /capabilities answers; yields
    its URL and stops it afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/capabilities", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: " + proc.stderr.read().decode())
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def reference_server():
    """The MMCP SDK's own reference server (`python -m motionmcp.null_backbone`) on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "motionmcp.null_backbone", "--host", "127.0.0.1", "--port", str(port)]
    with mmcp_server(argv, port, "reference server") as url:
        yield url


def config_with_backend(tmp_path: Path, url: str, extra: str = "") -> dict:
    config = tmp_path / "stagecraft.toml"
    config.write_text(f'[[motion.backends]]\nname = "reference"\nurl = "{url}"\ntimeout_seconds = 60\n' + extra)
    env = dict(os.environ)
    env["STAGECRAFT_CONFIG"] = str(config)
    env["STAGECRAFT_LOG"] = "warn"
    return env


def mcp_client(stagecraft_bin: str, env: dict, mode: str = "legacy") -> Client:
    return Client(StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env), mode=mode)


def standing_rig_glb(stagecraft_bin: str, env: dict, path: Path) -> Path:
    """A one-second standing take of the built-in model saved as .glb by `stagecraft generate`: a
    rigged character (the built-in skeleton) that the stage DCC opens."""
    made = subprocess.run(
        [stagecraft_bin, "generate", "a person stands", "--seconds", "1", "--out", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return path


def validate_gltf(path: Path) -> dict:
    """Runs the Khronos glTF validator (npm gltf-validator) on a file; returns its report."""
    node = os.environ["NODE"]
    validator = os.environ["GLTF_VALIDATOR_DIR"]
    script = (
        "const v = require(process.argv[1]); const fs = require('fs');"
        "const bytes = new Uint8Array(fs.readFileSync(process.argv[2]));"
        "v.validateBytes(bytes, {uri: process.argv[2], maxIssues: 100})"
        ".then(r => console.log(JSON.stringify(r))).catch(e => { console.error(e); process.exit(2); });"
    )
    out = subprocess.run([node, "-e", script, validator, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def png_bytes(result) -> bytes:
    images = [c for c in result.content if getattr(c, "type", None) == "image"]
    assert images, result
    assert images[0].mime_type == "image/png"
    data = base64.b64decode(images[0].data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


# ---- DCC end-to-end helpers: the toy adapter, DCC configs, glTF reading, forward kinematics ----

TOY_ADAPTER = Path(__file__).resolve().parents[2] / "examples" / "adapter" / "toy_adapter.py"
TOY_TOKEN_ENV = "STAGECRAFT_TEST_TOY_TOKEN"
TOY_READY = {
    "http": "toy adapter: http on",
    "websocket": "toy adapter: websocket on",
    "named_pipe": "toy adapter: listening on",
}


@contextlib.contextmanager
def toy_adapter(
    kind: str, tmp_path: Path, token: str | None = None, faults=(), script=None, where=None
):
    """Starts the toy adapter (or `script`, a wrapper of it) listening on `kind` (http, websocket,
    named_pipe) and yields its endpoint once it printed its ready line (after binding). `where`:
    a port (http, websocket) or socket path (named_pipe) to reuse; a free one by default."""
    env = dict(os.environ)
    args = [sys.executable, str(script or TOY_ADAPTER)]
    if kind == "http":
        port = where or free_port()
        args += ["--http", f"127.0.0.1:{port}"]
        endpoint = f"http://127.0.0.1:{port}/rpc"
    elif kind == "websocket":
        port = where or free_port()
        args += ["--ws", f"127.0.0.1:{port}"]
        endpoint = f"ws://127.0.0.1:{port}"
    elif kind == "named_pipe":
        endpoint = str(where or tmp_path / f"toy-{os.getpid()}-{free_port()}.sock")
        args += ["--pipe", endpoint]
    else:
        raise ValueError(kind)
    if token is not None:
        env[TOY_TOKEN_ENV] = token
        args += ["--token-env", TOY_TOKEN_ENV]
    args += list(faults)
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stderr.readline()
        if TOY_READY[kind] not in line:
            proc.kill()
            raise RuntimeError(f"toy adapter ({kind}) did not start: {line}{proc.stderr.read()}")
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def toy_embedded_command(faults: tuple = ()) -> list:
    return [sys.executable, str(TOY_ADAPTER), "--stdio", *faults]


def dcc_config_toml(kind: str, endpoint=None, token: bool = False, name: str = "toy") -> str:
    """One `[[dcc]]` table for the toy adapter on `kind` (`endpoint`: the command for embedded)."""
    lines = ["[[dcc]]", f'name = "{name}"', f'bridge = "{kind}"', "timeout_seconds = 20"]
    if kind == "embedded":
        lines.append("command = " + json.dumps([str(a) for a in endpoint]))
    else:
        lines.append(f"endpoint = {json.dumps(endpoint)}")
    if token:
        lines.append(f'token_env = "{TOY_TOKEN_ENV}"')
    return "\n".join(lines) + "\n"


def read_gltf(path: Path) -> tuple[dict, bytes]:
    """The JSON document and the binary buffer 0 of a .glb or .gltf (data: URI or sibling file)."""
    raw = Path(path).read_bytes()
    if raw[:4] == b"glTF":
        import struct

        json_len = struct.unpack("<I", raw[12:16])[0]
        doc = json.loads(raw[20 : 20 + json_len])
        rest = raw[20 + json_len :]
        return doc, rest[8:] if rest else b""
    doc = json.loads(raw)
    buffers = doc.get("buffers") or []
    if not buffers:
        return doc, b""
    uri = buffers[0].get("uri", "")
    if uri.startswith("data:"):
        return doc, base64.b64decode(uri.split(",", 1)[1])
    return doc, (Path(path).parent / uri).read_bytes()


def read_accessor(doc: dict, bin_: bytes, index: int) -> list:
    """A float accessor as a list of floats (SCALAR) or tuples (VECn)."""
    import struct

    acc = doc["accessors"][index]
    assert acc["componentType"] == 5126, acc
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    view = doc["bufferViews"][acc["bufferView"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride", 4 * width)
    out = []
    for i in range(acc["count"]):
        vals = struct.unpack_from(f"<{width}f", bin_, start + i * stride)
        out.append(vals[0] if width == 1 else vals)
    return out


def q_mul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def q_rotate(q, v):
    x, y, z, w = q
    p = q_mul(q_mul(q, (v[0], v[1], v[2], 0.0)), (-x, -y, -z, w))
    return p[:3]


def q_normalize(q):
    n = sum(c * c for c in q) ** 0.5
    return tuple(c / n for c in q)


def take_fk(path: Path, sample: int = 0) -> tuple[list, dict]:
    """Forward kinematics of an MMCP take saved as glTF (dense or sparse keys held at the ends):
    returns (joint names, {joint: [[x, y, z] world metres per take frame]}). MMCP: local rotations
    from a world-aligned rest, rest offsets along world axes, root translation = world position."""
    doc, bin_ = read_gltf(path)
    ext = doc["extensions"]["MMCP_motion"]
    fps = ext["fps"]
    frames = ext["samples"][sample]["num_frames"]
    nodes = doc["nodes"]
    joints = doc["skins"][0]["joints"]
    parent = {}
    for i, n in enumerate(nodes):
        for c in n.get("children", []):
            parent[c] = i
    anim = doc["animations"][sample]

    def track(channel):
        s = anim["samplers"][channel["sampler"]]
        times = read_accessor(doc, bin_, s["input"])
        values = read_accessor(doc, bin_, s["output"])
        keyed = {round(t * fps): v for t, v in zip(times, values)}
        out, last = [], values[0]
        for f in range(frames):
            # Dense takes key every frame; otherwise hold the last key (test takes are dense).
            last = keyed.get(f, last)
            out.append(last)
        return out

    rot, trans = {}, {}
    for ch in anim["channels"]:
        node, path_ = ch["target"]["node"], ch["target"]["path"]
        (rot if path_ == "rotation" else trans)[node] = track(ch)
    names = [nodes[j]["name"] for j in joints]
    world = {nodes[j]["name"]: [] for j in joints}
    for f in range(frames):
        wrot, wpos = {}, {}
        for j in joints:  # MMCP orders joints parents first
            n = nodes[j]
            q = q_normalize(rot[j][f]) if j in rot else tuple(n.get("rotation", (0, 0, 0, 1)))
            p = parent.get(j)
            if p is None or p not in wrot:
                wpos[j] = list(trans[j][f]) if j in trans else list(n.get("translation", (0, 0, 0)))
                wrot[j] = q
            else:
                off = trans[j][f] if j in trans else n.get("translation", (0, 0, 0))
                d = q_rotate(wrot[p], off)
                wpos[j] = [wpos[p][i] + d[i] for i in range(3)]
                wrot[j] = q_mul(wrot[p], q)
            world[n["name"]].append(wpos[j])
    return names, world


@contextlib.contextmanager
def toy_dialing_in(token: str | None = None):
    """The toy adapter dialling out to a listening stagecraft (`bridge = "websocket"` with
    `listen = true`); it redials until stagecraft listens. Yields the endpoint for the config."""
    endpoint = f"ws://127.0.0.1:{free_port()}"
    env = dict(os.environ)
    args = [sys.executable, str(TOY_ADAPTER), "--ws-connect", endpoint]
    if token is not None:
        env[TOY_TOKEN_ENV] = token
        args += ["--token-env", TOY_TOKEN_ENV]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
