"""`stagecraft adapter-check` (the bridge conformance suite of the real binary) against real
Blender on all four bridges: embedded (stagecraft starts run.py --stdio), and named_pipe,
websocket and http with run.py started here, listening with a token.

The checker's render.render_scene renders with the scene's own engine; Blender's factory scene
uses EEVEE, which compiles its shaders on llvmpipe for ~40 s per render on these machines. So
Blender runs with a user config whose startup scene renders with Cycles at one sample
(BLENDER_USER_CONFIG), which keeps every run at a few seconds without changing any check.

Also here: the http bridge under a keep-alive client, and `stagecraft doctor` against Blender.
"""

import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import time

import pytest
from bridge_client import REPO, RUN_PY, Server

STAGECRAFT_BIN = os.environ.get("STAGECRAFT_BIN")
TOKEN_ENV = "STAGECRAFT_E2E_BLENDER_TOKEN"
TOKEN = "e2e-adapter-check-token"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")
ROW = re.compile(r"^(PASS|FAIL|skip|SKIP)\s{2,}(.+?)\s{2,}(.*)$")
# Checks that must be in every table: the suite really ran end to end, animation included.
MUST_PASS = {
    "dcc.hello",
    "scene.create_object armature",
    "transform.set_transform round trip",
    "hierarchy.reparent keeps world transform",
    "render.capture_viewport",
    "render.render_scene",
    "animation.apply_motion",
    "animation.sample_pose = FK(apply_motion)",
    "scene.save_file",
    "scene.open_file",
    "scene.import_file bvh",
}

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

FAST_STARTUP = """
import bpy
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
bpy.ops.wm.save_homefile()
"""


@pytest.fixture(scope="module")
def blender_env(bpy_python, tmp_path_factory):
    """The environment for Blender and adapter-check: a fast-rendering startup scene, a token."""
    config = tmp_path_factory.mktemp("blender-config")
    env = dict(os.environ, BLENDER_USER_CONFIG=str(config), STAGECRAFT_LOG="warn")
    env[TOKEN_ENV] = TOKEN
    subprocess.run(
        [bpy_python, "-c", FAST_STARTUP],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (config / "startup.blend").is_file(), "the startup scene was not written"
    return env


def adapter_check(args, env):
    out = subprocess.run(
        [STAGECRAFT_BIN, "adapter-check", "--timeout", "120", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out.returncode, out.stdout, out.stderr


def parse_table(stdout):
    rows = {}
    for line in stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(2)] = (match.group(1), match.group(3))
    lines = [line for line in stdout.splitlines() if line.strip()]
    summary = SUMMARY.match(lines[-1]) if lines else None
    return rows, summary


def assert_conformant(rc, stdout, stderr, skipped=()):
    report = f"adapter-check exited {rc}\n{stdout}\n--- stderr (tail)\n{stderr[-3000:]}"
    rows, summary = parse_table(stdout)
    assert summary, "the table does not end with 'N passed, M failed, K skipped'\n" + report
    passed, failed, nskipped = (int(g) for g in summary.groups())
    failures = {name: detail for name, (status, detail) in rows.items() if status == "FAIL"}
    assert rc == 0 and failed == 0, f"failed checks: {failures}\n{report}"
    assert passed == len([r for r in rows.values() if r[0] == "PASS"]), report
    missing = {name for name in MUST_PASS if rows.get(name, ("absent",))[0] != "PASS"}
    assert not missing, f"checks that did not pass: {sorted(missing)}\n{report}"
    skipped_rows = sorted(name for name, (status, _) in rows.items() if status.lower() == "skip")
    assert skipped_rows == sorted(skipped) and nskipped == len(skipped), report
    return rows


def test_embedded(blender_env, bpy_python):
    command = f"{shlex.quote(bpy_python)} adapters/blender/run.py --stdio --allow-scripts"
    rc, stdout, stderr = adapter_check(["--bridge", "embedded", "--command", command], blender_env)
    rows = assert_conformant(rc, stdout, stderr)
    assert rows["script.execute"][0] == "PASS"
    assert "blender 4." in rows["dcc.hello"][1] or "blender 5." in rows["dcc.hello"][1], rows


def test_embedded_scripts_disabled(blender_env, bpy_python):
    """The plain command of the docs: scripts are off, so the script check is skipped."""
    command = f"{shlex.quote(bpy_python)} adapters/blender/run.py --stdio"
    rc, stdout, stderr = adapter_check(["--bridge", "embedded", "--command", command], blender_env)
    rows = assert_conformant(rc, stdout, stderr, skipped=["script.execute"])
    assert "script_languages" in rows["script.execute"][1], rows["script.execute"]


@pytest.mark.parametrize("bridge", ["named_pipe", "websocket", "http"])
def test_listening_bridges_with_token(blender_env, bpy_python, tmp_path, bridge):
    flag, address = {
        "named_pipe": ("--pipe", str(tmp_path / "blender.sock")),
        "websocket": ("--ws", "127.0.0.1:0"),
        "http": ("--http", "127.0.0.1:0"),
    }[bridge]
    server = Server(
        bpy_python,
        [flag, address, "--token-env", TOKEN_ENV, "--allow-scripts"],
        env=blender_env,
    )
    try:
        endpoint = server.endpoint(bridge)
        args = ["--bridge", bridge, "--endpoint", endpoint, "--token-env", TOKEN_ENV]
        rc, stdout, stderr = adapter_check(args, blender_env)
        assert_conformant(rc, stdout, stderr)

        # The token is really checked: without it the handshake is refused and the run fails.
        no_token = {k: v for k, v in blender_env.items() if k != TOKEN_ENV}
        no_token["WRONG_TOKEN"] = "not-the-token"
        args = ["--bridge", bridge, "--endpoint", endpoint, "--token-env", "WRONG_TOKEN"]
        rc, stdout, stderr = adapter_check(args, no_token)
        rows, summary = parse_table(stdout)
        assert rc == 1 and summary and summary.group(2) != "0", f"a wrong token passed:\n{stdout}"
        status, detail = rows.get("dcc.hello", ("absent", ""))
        assert status == "FAIL" and "PERMISSION_DENIED" in detail, stdout
    finally:
        server.stop()
    assert server.proc.returncode == 0, "".join(server.stderr[-30:])


def test_http_keep_alive_requests_are_not_delayed(blender_env, bpy_python):
    """stagecraft keeps its HTTP connection to the adapter alive; each answer must come at once,
    not after the client's delayed ACK (a whole adapter-check run took 15 times longer)."""
    server = Server(
        bpy_python, ["--http", "127.0.0.1:0", "--token-env", TOKEN_ENV], env=blender_env
    )
    try:
        host, port = server.endpoint("http")[len("http://") :].split("/")[0].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        times = []
        for i in range(15):
            body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "dcc.ping", "params": {}})
            started = time.perf_counter()
            conn.request("POST", "/rpc", body=body.encode(), headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            times.append(time.perf_counter() - started)
            assert response.status == 200 and answer["result"] == {"busy": False}, answer
        conn.close()
        median = sorted(times)[len(times) // 2]
        assert median < 0.02, f"keep-alive round trips: {[round(t * 1000, 1) for t in times]} ms"
    finally:
        server.stop()


def doctor(config_text, env, tmp_path):
    config = tmp_path / "stagecraft.toml"
    config.write_text(config_text)
    out = subprocess.run(
        [STAGECRAFT_BIN, "doctor", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    return out.returncode, text[text.find("dcc ") :][:1200]  # the DCC part of the report


def test_doctor_handshakes_with_embedded_blender(blender_env, bpy_python, tmp_path):
    command = json.dumps([bpy_python, RUN_PY, "--stdio"])
    rc, out = doctor(
        f'[[dcc]]\nname = "blender"\nbridge = "embedded"\ncommand = {command}\n',
        blender_env,
        tmp_path,
    )
    assert rc == 0, out
    line = next((x for x in out.splitlines() if x.startswith("dcc") and "blender [" in x), "")
    assert "ok: blender 4." in line or "ok: blender 5." in line, out


def test_doctor_fails_when_blender_cannot_be_reached(blender_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once closed
    rc, out = doctor(
        f'[[dcc]]\nname = "blender"\nbridge = "websocket"\nendpoint = "ws://127.0.0.1:{port}"\n',
        blender_env,
        tmp_path,
    )
    assert "Connection refused" in out, out  # the failure is reported...
    assert rc == 1, out  # ...and doctor fails
