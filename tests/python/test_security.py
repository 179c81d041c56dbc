"""Security posture, tested on the real binaries: what listens where, who may connect, what an agent
may not do, and what never reaches the logs. See SECURITY.md for the threat model each test backs.

- every listener binds loopback by default (serve --http, motion-server, the toy adapter, Blender's
  run.py when BPY_PYTHON is set), read back from /proc rather than trusted from a log line;
- Unix sockets of the adapters are created 0600;
- scripts: execute_script hidden and refused with scripts_disabled unless allow_scripts;
- file arguments confined to [files] roots over MCP (open, save, export, render, save_motion,
  generate_motion.save_path), including `..` and symlink escapes;
- secrets (HTTP token, MMCP API key, DCC bridge token) never appear in a trace-level log;
- no shell: the source spawns processes only through argv, and the embedded bridge hands its
  configured argv to the program verbatim (shell metacharacters arrive as plain text).
"""

import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import ROOT

TOY = ROOT / "examples" / "adapter" / "toy_adapter.py"
CAPTURES = ROOT / "tests" / "fixtures" / "mmcp"
FOUR_FRAMES = 4 / 30


# ---- helpers ------------------------------------------------------------------------------------


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(ip, port) of every TCP socket in LISTEN state that process `pid` holds, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    out = []
    for table, v6 in (("tcp", False), ("tcp6", True)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:
                continue
            hexip, hexport = local.split(":")
            raw = bytes.fromhex(hexip)
            if v6:
                # Four little-endian 32-bit words.
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                ip = socket.inet_ntop(socket.AF_INET6, raw)
            else:
                ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
            out.append((ip, int(hexport, 16)))
    return out


def wait_listening(proc: subprocess.Popen, count: int = 1, timeout: float = 30) -> list[tuple[str, int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        found = listening_addresses(proc.pid)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise RuntimeError("nothing started listening")


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_config(tmp_path: Path, text: str) -> dict:
    config = tmp_path / "stagecraft.toml"
    config.write_text(text)
    env = dict(os.environ)
    env["STAGECRAFT_CONFIG"] = str(config)
    env["STAGECRAFT_LOG"] = "warn"
    return env


def stdio_client(bin_path: str, env: dict, *extra: str) -> Client:
    return Client(StdioServerParameters(command=bin_path, args=["serve", *extra], env=env), mode="legacy")


# ---- loopback by default --------------------------------------------------------------------------


def test_serve_http_needs_an_address_and_binds_exactly_it(stagecraft_bin, empty_config):
    # No implicit address: `--http` alone is a usage error, never "all interfaces".
    proc = subprocess.run([stagecraft_bin, "serve", "--http"], env=empty_config, capture_output=True, timeout=20)
    assert proc.returncode == 2
    proc = subprocess.Popen(
        [stagecraft_bin, "serve", "--http", "127.0.0.1:0"], env=empty_config, stderr=subprocess.DEVNULL
    )
    try:
        found = wait_listening(proc)
        assert found and all(is_loopback(ip) for ip, _ in found), found
    finally:
        stop(proc)


def test_motion_server_binds_loopback_by_default(stagecraft_bin, empty_config):
    proc = subprocess.Popen(
        [stagecraft_bin, "motion-server", "--port", "0"], env=empty_config, stderr=subprocess.DEVNULL
    )
    try:
        found = wait_listening(proc)
        assert found and all(is_loopback(ip) for ip, _ in found), found
        port = found[0][1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/capabilities", timeout=10) as r:
            assert r.status == 200
    finally:
        stop(proc)


@pytest.mark.parametrize("mode", ["--ws", "--http"])
def test_toy_adapter_binds_loopback_when_no_host_is_given(mode):
    """Regression: `--ws :PORT` used to listen on every interface (an empty host in Python's
    socket API means INADDR_ANY)."""
    proc = subprocess.Popen([sys.executable, str(TOY), mode, ":0"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        found = wait_listening(proc)
        assert found and all(is_loopback(ip) for ip, _ in found), found
    finally:
        stop(proc)


def test_toy_pipe_socket_is_private(tmp_path):
    path = tmp_path / "toy.sock"
    proc = subprocess.Popen([sys.executable, str(TOY), "--pipe", str(path)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "the toy did not create its socket"
            time.sleep(0.05)
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
    finally:
        stop(proc)


BPY_PYTHON = os.environ.get("BPY_PYTHON")


@pytest.mark.skipif(not BPY_PYTHON or not os.path.exists(BPY_PYTHON or ""), reason="BPY_PYTHON is not set")
def test_blender_listeners_bind_loopback_and_pipe_is_private(tmp_path):
    sock = tmp_path / "blender.sock"
    run = ROOT / "adapters" / "blender" / "run.py"
    proc = subprocess.Popen(
        [BPY_PYTHON, str(run), "--ws", ":0", "--http", ":0", "--pipe", str(sock)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready = 0
        deadline = time.monotonic() + 120
        while ready < 3:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "Blender exited"
            assert time.monotonic() < deadline
            ready += line.startswith("stagecraft-blender ready ")
        found = listening_addresses(proc.pid)
        assert len(found) >= 2 and all(is_loopback(ip) for ip, _ in found), found
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        # Non-loopback is refused outright.
        bad = subprocess.run(
            [BPY_PYTHON, str(run), "--http", "0.0.0.0:0"], capture_output=True, text=True, timeout=120
        )
        assert bad.returncode != 0 and "non-loopback" in bad.stderr
    finally:
        stop(proc)


# ---- HTTP: Host, Origin, token (beyond tests/python/test_mcp_clients.py) -------------------------


def start_http(bin_path: str, env: dict, *extra: str):
    proc = subprocess.Popen(
        [bin_path, "serve", "--http", "127.0.0.1:0", *extra], env=env, stderr=subprocess.PIPE, text=True
    )
    line = ""
    while "MCP on http://" not in line:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"server exited: {proc.wait()}")
    url = re.search(r"(http://\S+/mcp)", line).group(1)
    # Keep draining stderr so a chatty log cannot block the server.
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, url


def post(url: str, headers: dict, method: str = "POST") -> int:
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
    request = urllib.request.Request(
        url,
        data=body if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_http_host_origin_and_token_edge_cases(stagecraft_bin, empty_config):
    env = dict(empty_config, SC_SEC_TOKEN="tok-" + "z" * 40)
    proc, url = start_http(stagecraft_bin, env, "--token-env", "SC_SEC_TOKEN")
    port = int(url.split(":")[2].split("/")[0])
    good = {"Authorization": "Bearer tok-" + "z" * 40}
    try:
        assert post(url, good) == 200
        # DNS rebinding: a hostile name resolving to 127.0.0.1 carries its own Host.
        assert post(url, {**good, "Host": f"127.0.0.1.evil.example:{port}"}) == 403
        assert post(url, {**good, "Host": f"localhost.evil.example:{port}"}) == 403
        assert post(url, {**good, "Host": f"localhost:{port}"}) == 200
        # A web page elsewhere, a sandboxed frame, and a look-alike origin.
        assert post(url, {**good, "Origin": "null"}) == 403
        assert post(url, {**good, "Origin": "http://localhost.evil.example"}) == 403
        assert post(url, {**good, "Origin": "https://127.0.0.1.nip.io"}) == 403
        # Tokens: a prefix, a different scheme, a trailing-space variant, and no token on GET/DELETE.
        assert post(url, {"Authorization": "Bearer tok-"}) == 401
        assert post(url, {"Authorization": "Basic " + "tok-" + "z" * 40}) == 401
        assert post(url, {"Authorization": "Bearer tok-" + "z" * 40 + "x"}) == 401
        assert post(url, {}, method="GET") == 401
        assert post(url, {}, method="DELETE") == 401
    finally:
        stop(proc)


# ---- scripts off by default -----------------------------------------------------------------------


def test_scripts_are_hidden_and_refused_unless_allowed(stagecraft_bin, tmp_path):
    skills = tmp_path / "skills" / "my-scripts"
    (skills / "scripts").mkdir(parents=True)
    (skills / "scripts" / "hello.py").write_text("result = 'hi'\n")
    (skills / "SKILL.md").write_text(
        "---\nname: my-scripts\ndescription: A script tool.\ntools:\n  - name: say_hello\n"
        "    description: Runs a script in the DCC.\n    input_schema: {type: object}\n"
        "    script: scripts/hello.py\n---\n# body\n"
    )
    env = write_config(tmp_path, "")

    async def main():
        async with stdio_client(stagecraft_bin, env, "--skills", str(tmp_path / "skills")) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "execute_script" not in names and "say_hello" not in names, names
            for tool, args in (("execute_script", {"code": "result = 1"}), ("say_hello", {})):
                result = await client.call_tool(tool, args)
                assert result.is_error, result
                assert result.structured_content["code"] == "scripts_disabled", result.structured_content

    anyio.run(main)


# ---- file confinement over MCP ------------------------------------------------------------------


def test_file_arguments_are_confined_to_roots_over_mcp(stagecraft_bin, tmp_path):
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    env = write_config(tmp_path, f'[files]\nroots = ["{allowed}"]\n')

    async def main():
        async with stdio_client(stagecraft_bin, env) as client:
            generated = await client.call_tool("generate_motion", {"prompt": "walk", "seconds": 0.5})
            assert not generated.is_error, generated
            take = generated.structured_content["take_id"]
            await client.call_tool("create_object", {"object_type": "cube", "name": "Box"})
            bad_paths = [
                str(outside / "x.glb"),
                str(allowed / ".." / "outside" / "x.glb"),
                str(allowed / "escape" / "x.glb"),
                "relative.glb",
                "/etc/stagecraft-should-not-write.glb",
            ]
            calls = [
                ("save_file", lambda p: {"file_path": p}),
                ("export_file", lambda p: {"file_path": p, "format": "glb"}),
                ("open_file", lambda p: {"file_path": p}),
                ("render_scene", lambda p: {"output_path": p.replace(".glb", ".png")}),
                ("save_motion", lambda p: {"take_id": take, "path": p}),
                ("generate_motion", lambda p: {"prompt": "walk", "seconds": 0.5, "save_path": p}),
            ]
            for tool, make in calls:
                for p in bad_paths:
                    result = await client.call_tool(tool, make(p))
                    assert result.is_error, (tool, p, result)
                    assert result.structured_content["code"] == "permission_denied", (tool, p, result.structured_content)
            # Inside the root, the same calls work.
            ok_calls = [
                ("save_file", {"file_path": str(allowed / "scene.glb")}),
                ("export_file", {"file_path": str(allowed / "export.glb"), "format": "glb"}),
                ("open_file", {"file_path": str(allowed / "scene.glb")}),
                ("render_scene", {"output_path": str(allowed / "render.png")}),
                ("save_motion", {"take_id": take, "path": str(allowed / "take.glb")}),
                ("generate_motion", {"prompt": "walk", "seconds": 0.5, "save_path": str(allowed / "gen.glb")}),
            ]
            for tool, args in ok_calls:
                result = await client.call_tool(tool, args)
                assert not result.is_error, (tool, result)

    anyio.run(main)
    assert sorted(p.name for p in outside.iterdir()) == [], "nothing was written outside the root"
    assert {"scene.glb", "export.glb", "render.png", "take.glb", "gen.glb"} <= {p.name for p in allowed.iterdir()}
    assert not Path("/etc/stagecraft-should-not-write.glb").exists()


# ---- secrets never logged ------------------------------------------------------------------------


class KeyedMmcp:
    """An MMCP backend that wants a bearer API key; answers 4 frames of the reference null model."""

    def __init__(self, key: str):
        self.authorised = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.send(200, (CAPTURES / "capabilities-null.json").read_bytes(), "application/json")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Authorization") != f"Bearer {key}":
                    self.send(401, b'{"error":{"code":"unauthorized","message":"no","details":{}}}', "application/json")
                    return
                outer.authorised += 1
                self.send(200, (CAPTURES / "02-dense.gltf").read_bytes(), "model/gltf+json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def spawn_toy_listener(mode: str, tmp_path: Path, env: dict) -> tuple[subprocess.Popen, int]:
    port_file = tmp_path / f"port-{mode.strip('-')}"
    proc = subprocess.Popen(
        [sys.executable, str(TOY), mode, "127.0.0.1:0", "--port-file", str(port_file), "--token-env", "SC_DCC_TOKEN"],
        env=env,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_file.exists():
        assert time.monotonic() < deadline, "toy did not start"
        time.sleep(0.05)
    return proc, int(port_file.read_text().strip())


def test_secrets_never_reach_the_log(stagecraft_bin, tmp_path):
    http_token = "httpTOKEN-" + os.urandom(8).hex()
    api_key = "apiKEY-" + os.urandom(8).hex()
    dcc_token = "dccTOKEN-" + os.urandom(8).hex()
    secrets = [http_token, api_key, dcc_token]
    backend = KeyedMmcp(api_key)
    toy_env = dict(os.environ, SC_DCC_TOKEN=dcc_token)
    ws, ws_port = spawn_toy_listener("--ws", tmp_path, toy_env)
    http_toy, http_port = spawn_toy_listener("--http", tmp_path, toy_env)
    config = (
        f'[[motion.backends]]\nname = "keyed"\nurl = "{backend.url}"\napi_key_env = "SC_API_KEY"\n\n'
        f'[[dcc]]\nname = "toyws"\nbridge = "websocket"\nendpoint = "ws://127.0.0.1:{ws_port}"\ntoken_env = "SC_DCC_TOKEN"\n\n'
        f'[[dcc]]\nname = "toyhttp"\nbridge = "http"\nendpoint = "http://127.0.0.1:{http_port}/rpc"\ntoken_env = "SC_DCC_TOKEN"\n\n'
        f'[[dcc]]\nname = "toybad"\nbridge = "websocket"\nendpoint = "ws://127.0.0.1:{ws_port}"\ntoken_env = "SC_WRONG_TOKEN"\n'
    )
    env = write_config(tmp_path, config)
    env.update(SC_HTTP_TOKEN=http_token, SC_API_KEY=api_key, SC_DCC_TOKEN=dcc_token, SC_WRONG_TOKEN="wrong-" + dcc_token)
    env.pop("STAGECRAFT_LOG")
    proc = subprocess.Popen(
        [stagecraft_bin, "serve", "--http", "127.0.0.1:0", "--token-env", "SC_HTTP_TOKEN", "--log-level", "trace"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    log_lines: list[str] = []
    try:
        line = ""
        while "MCP on http://" not in line:
            line = proc.stderr.readline()
            assert line, "server exited"
            log_lines.append(line)
        url = re.search(r"(http://\S+/mcp)", line).group(1)
        reader = threading.Thread(target=lambda: log_lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        reader.start()
        # A wrong token must not be echoed either.
        assert post(url, {"Authorization": "Bearer wrong-" + http_token}) == 401

        async def main():
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {http_token}"})
            async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                listed = await client.call_tool("list_motion_models", {})
                assert not listed.is_error, listed
                generated = await client.call_tool("generate_motion", {"prompt": "walk", "seconds": FOUR_FRAMES, "model": "null"})
                assert not generated.is_error, generated
                assert generated.structured_content["backend"] == "keyed"
                for dcc in ("toyws", "toyhttp"):
                    r = await client.call_tool("create_object", {"object_type": "cube", "name": "C", "dcc": dcc})
                    assert not r.is_error, (dcc, r)
                bad = await client.call_tool("list_objects", {"dcc": "toybad"})
                assert bad.is_error and bad.structured_content["code"] == "permission_denied", bad
                dccs = await client.call_tool("list_dccs", {})
                assert not dccs.is_error
                text = json.dumps(dccs.structured_content)
                for s in secrets:
                    assert s not in text, "a secret in list_dccs"

        anyio.run(main)
        assert backend.authorised == 1
        # `doctor` handshakes with every DCC and asks every backend: its output and log are clean too.
        doctor = subprocess.run(
            [stagecraft_bin, "doctor", "--log-level", "trace"], env=env, capture_output=True, text=True, timeout=60
        )
        assert doctor.stdout.startswith("config") and "toy" in doctor.stdout, doctor.stdout
        log_lines.append(doctor.stdout + doctor.stderr)
    finally:
        stop(proc)
        stop(ws)
        stop(http_toy)
        backend.close()
    log = "".join(log_lines)
    if os.environ.get("SC_DUMP_LOG"):
        Path(os.environ["SC_DUMP_LOG"]).write_text(log)
    assert len(log) > 1000 and "TRACE" in log.upper(), "the log is really at trace level"
    for s in secrets:
        assert s not in log, f"secret {s[:8]}… found in the log"
        assert s[6:] not in log


# ---- no shell ---------------------------------------------------------------------------------------


def test_no_shell_is_ever_spawned_in_the_source():
    rust = list((ROOT / "src").rglob("*.rs"))
    spawns = [(p, n) for p in rust for n, line in enumerate(p.read_text().splitlines(), 1) if "Command::new" in line]
    # The places stagecraft starts a program: the embedded bridge, with the configured argv, and
    # `stagecraft setup`, which runs the Blender the user has (or names) with fixed arguments.
    assert sorted(p.relative_to(ROOT).as_posix() for p, _ in spawns) == [
        "src/bridge/embedded.rs",
        "src/setup/blender.rs",
    ], spawns
    text = "\n".join(p.read_text() for p in rust)
    for pattern in (r'"sh"', r'"bash"', r'"-c"', r'"/bin/sh"', r"cmd\.exe", r"powershell"):
        assert not re.search(pattern, text), pattern
    python = [
        p
        for base in (ROOT / "adapters", ROOT / "examples")
        for p in base.rglob("*.py")
    ]
    for p in python:
        src = p.read_text()
        for pattern in (r"shell\s*=\s*True", r"os\.system\(", r"os\.popen\(", r"commands\.getoutput"):
            assert not re.search(pattern, src), (p, pattern)


def test_embedded_bridge_passes_argv_verbatim(stagecraft_bin, tmp_path):
    record = tmp_path / "argv.json"
    canary = tmp_path / "PWNED"
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"os.execv(sys.executable, [sys.executable, {str(TOY)!r}, '--stdio'])\n"
    )
    hostile = [f"$(touch {canary})", f"; touch {canary}", f"`touch {canary}`", "a b  c", "*", "'\"", "| cat"]
    command = json.dumps([sys.executable, str(wrapper), *hostile])
    env = write_config(tmp_path, f'[[dcc]]\nname = "toy"\nbridge = "embedded"\ncommand = {command}\n')

    async def main():
        async with stdio_client(stagecraft_bin, env) as client:
            result = await client.call_tool("list_objects", {})
            assert not result.is_error, result

    anyio.run(main)
    assert json.loads(record.read_text()) == hostile
    assert not canary.exists()


# ---- adapters refuse web pages (a browser can POST to, or open a websocket on, any loopback port) --

RPC = b'{"jsonrpc":"2.0","id":1,"method":"scene.list_objects","params":{}}'


def http_status(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, data=RPC, method="POST", headers={"Content-Type": "text/plain", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def ws_status(host: str, port: int, extra: str) -> str:
    with socket.create_connection((host, port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        return s.recv(200).split(b"\r\n")[0].decode()


def check_browser_refusals(http_url: str, ws_host: str, ws_port: int) -> None:
    port = int(http_url.split(":")[2].split("/")[0])
    # What stagecraft sends: no Origin, a loopback Host.
    assert http_status(http_url, {}) == 200
    assert " 101 " in ws_status(ws_host, ws_port, "")
    # A page on another site, a sandboxed frame (Origin: null), and DNS rebinding (foreign Host).
    assert http_status(http_url, {"Origin": "http://evil.example"}) == 403
    assert http_status(http_url, {"Origin": "null"}) == 403
    assert http_status(http_url, {"Host": f"evil.example:{port}"}) == 403
    assert " 403 " in ws_status(ws_host, ws_port, "Origin: http://evil.example\r\n")
    assert " 403 " in ws_status(ws_host, ws_port, "Origin: null\r\n")


def test_toy_adapter_refuses_web_pages(tmp_path):
    """Regression: the toy answered any POST (a web page's text/plain simple request needs no CORS
    preflight) and any websocket handshake whatever its Origin."""
    env = dict(os.environ, SC_DCC_TOKEN="unused")
    procs = []
    try:
        for mode in ("--ws", "--http"):
            port_file = tmp_path / f"p{mode}"
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(TOY), mode, "127.0.0.1:0", "--port-file", str(port_file)],
                    env=env,
                    stderr=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
            )
            deadline = time.monotonic() + 10
            while not port_file.exists():
                assert time.monotonic() < deadline
                time.sleep(0.05)
        ws_port = int((tmp_path / "p--ws").read_text())
        http_port = int((tmp_path / "p--http").read_text())
        check_browser_refusals(f"http://127.0.0.1:{http_port}/rpc", "127.0.0.1", ws_port)
    finally:
        for p in procs:
            stop(p)


@pytest.mark.skipif(not BPY_PYTHON or not os.path.exists(BPY_PYTHON or ""), reason="BPY_PYTHON is not set")
def test_blender_adapter_refuses_web_pages():
    """Regression: without --token-env, Blender's http listener ran any POST — a web page could run
    script.execute in a Blender started with --allow-scripts — and its websocket listener let
    `Origin: null` (a sandboxed frame) through; a rebinding Host was not checked either."""
    run = ROOT / "adapters" / "blender" / "run.py"
    proc = subprocess.Popen(
        [BPY_PYTHON, str(run), "--ws", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        endpoints = {}
        deadline = time.monotonic() + 120
        while len(endpoints) < 2:
            line = proc.stderr.readline()
            assert line and time.monotonic() < deadline, "Blender did not start"
            if line.startswith("stagecraft-blender ready "):
                ready = json.loads(line.split(" ", 2)[2])
                endpoints[ready["bridge"]] = ready["endpoint"]
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        host, port = endpoints["websocket"][len("ws://") :].rsplit(":", 1)
        check_browser_refusals(endpoints["http"], host, int(port))
    finally:
        stop(proc)
