"""Sessions and transports: token handshake, ping while busy, $/cancel, the script gate,
and the named_pipe / websocket / http listeners of run.py."""

import os
import shutil
import stat
import tempfile
import threading
import time

import pytest
from bridge_client import BridgeError, HttpClient, PipeClient, Server, WsClient

from conftest import start_stdio

TOKEN = "s3cret-token"
SLOW = "import time\ntime.sleep(args.get('s', 1.5))\nresult = 'slept'"


@pytest.fixture(scope="module")
def listeners(bpy_python):
    """One Blender serving pipe, websocket and http at once, with a token, scripts off."""
    sock = os.path.join(tempfile.mkdtemp(prefix="stagecraft-test-"), "blender.sock")
    server = Server(
        bpy_python,
        ["--pipe", sock, "--ws", "127.0.0.1:0", "--http", "127.0.0.1:0", "--token-env", "TOK"],
        env={"TOK": TOKEN},
        ready_count=3,
    )
    yield server
    server.stop()
    assert server.proc.returncode == 0
    assert not os.path.exists(sock), "the socket file is removed at exit"


def ws_address(server):
    host, port = server.endpoint("websocket")[len("ws://") :].rsplit(":", 1)
    return host, int(port)


def http_address(server):
    rest = server.endpoint("http")[len("http://") :].split("/", 1)[0]
    host, port = rest.rsplit(":", 1)
    return host, int(port)


def test_ping_answers_while_busy(blender):
    slow = blender.send_request("script.execute", {"language": "python", "code": SLOW})
    time.sleep(0.3)
    started = time.monotonic()
    assert blender.call("dcc.ping", timeout=5) == {"busy": True}
    assert time.monotonic() - started < 0.5, "ping must not wait for the main thread"
    assert blender.wait(slow)["result"] == "slept"
    assert blender.call("dcc.ping") == {"busy": False}


def test_cancel_a_queued_request(blender):
    slow = blender.send_request("script.execute", {"language": "python", "code": SLOW})
    queued = blender.send_request("scene.list_objects")
    blender.notify("$/cancel", {"id": queued})
    with pytest.raises(BridgeError) as err:
        blender.wait(queued)
    assert err.value.rpc_code == -32800
    assert blender.wait(slow)["success"]


def test_requests_run_in_arrival_order(blender):
    ids = [
        blender.send_request("script.execute", {"language": "python", "code": f"result = {i}"})
        for i in range(20)
    ]
    assert [blender.wait(i)["result"] for i in ids] == list(range(20))


def test_blender_prints_do_not_corrupt_stdio(blender):
    out = blender.call(
        "script.execute",
        {
            "language": "python",
            "code": "import os\nos.write(1, b'raw fd noise\\n')\nprint('captured')",
        },
    )
    assert out["output"] == "captured\n"
    assert blender.call("dcc.ping") == {"busy": False}


def test_scripts_are_gated(bpy_python):
    server = start_stdio(bpy_python)
    try:
        hello = server.client.hello()
        assert hello["capabilities"]["extensions"]["allow_scripts"] is False
        assert hello["capabilities"]["script_languages"] == [], "no scripts in this session"
        with pytest.raises(BridgeError) as err:
            server.client.call("script.execute", {"language": "python", "code": "result = 1"})
        assert err.value.code == "PERMISSION_DENIED"
        assert "--allow-scripts" in err.value.error["message"]
    finally:
        assert server.stop() == 0


def test_stdio_exits_cleanly_on_eof(bpy_python):
    server = start_stdio(bpy_python)
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 5


def test_named_pipe_with_token(listeners):
    path = listeners.endpoint("named_pipe")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    bad = PipeClient(path)
    with pytest.raises(BridgeError) as err:
        bad.hello("wrong")
    assert err.value.code == "PERMISSION_DENIED"
    deadline = time.monotonic() + 5
    while not bad.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad.closed, "a wrong token closes the connection"

    early = PipeClient(path)
    with pytest.raises(BridgeError) as err:
        early.call("scene.list_objects")
    assert err.value.code == "PERMISSION_DENIED"
    early.close()

    good = PipeClient(path)
    hello = good.hello(TOKEN)
    assert hello["capabilities"]["bridge_kind"] in ("named_pipe", "websocket", "http")
    assert good.call("dcc.ping") == {"busy": False}
    assert any(o["name"] == "Cube" for o in good.call("scene.list_objects"))
    with pytest.raises(BridgeError) as err:
        good.call("script.execute", {"language": "python", "code": "result = 1"})
    assert err.value.code == "PERMISSION_DENIED"
    good.close()


def test_websocket_with_token(listeners):
    host, port = ws_address(listeners)
    bad = WsClient(host, port)
    assert bad.status == 101
    with pytest.raises(BridgeError) as err:
        bad.hello("nope")
    assert err.value.code == "PERMISSION_DENIED"
    deadline = time.monotonic() + 5
    while not bad.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad.closed

    ws = WsClient(host, port)
    ws.hello(TOKEN)
    assert ws.call("dcc.ping") == {"busy": False}
    ws.send_frame(0x9, b"are you there")
    deadline = time.monotonic() + 5
    while not ws.pongs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws.pongs == [b"are you there"]
    # A message split over continuation frames.
    msg = b'{"jsonrpc":"2.0","id":"frag","method":"scene.get_selection","params":{}}'
    ws.send_frame(0x1, msg[:20], fin=False)
    ws.send_frame(0x0, msg[20:], fin=True)
    assert isinstance(ws.wait("frag"), list)
    # Progress notifications come over websocket.
    cap = ws.call("render.capture_viewport", {"width": 64, "height": 48})
    assert cap["width"] == 64
    assert any(n.get("method") == "$/progress" for n in ws.notifications)
    ws.close()


def test_websocket_size_limit_closes(listeners):
    host, port = ws_address(listeners)
    ws = WsClient(host, port)
    ws.hello(TOKEN)
    # Announce a 1 TiB text frame: closed with 1009 (message too big) before any payload.
    ws.sock.sendall(bytes([0x81, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + os.urandom(4))
    deadline = time.monotonic() + 5
    while not ws.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws.closed and ws.close_code == 1009


def test_websocket_refuses_browsers(listeners):
    host, port = ws_address(listeners)
    assert WsClient(host, port, "Origin: https://evil.example\r\n").status == 403


def test_http_bearer_token(listeners):
    host, port = http_address(listeners)
    assert HttpClient(host, port).post(b"{}", token="wrong")[0] == 401
    client = HttpClient(host, port, TOKEN)
    hello = client.call("dcc.hello", {"protocol": "stagecraft-bridge/1"})
    assert hello["capabilities"]["progress_reporting"] is False
    assert client.call("dcc.ping") == {"busy": False}
    obj = client.call("scene.create_object", {"object_type": "empty", "name": "ViaHttp"})
    assert obj["name"] == "ViaHttp"
    status, body = client.post(b"not json")
    assert status == 200 and body["error"]["code"] == -32700
    assert client.post(b'{"jsonrpc":"2.0","method":"$/cancel","params":{"id":1}}')[0] == 204
    assert client.post(b"{}", path="/other")[0] == 404


def test_concurrent_clients_are_serialised(listeners):
    host, port = http_address(listeners)
    client = HttpClient(host, port, TOKEN)
    results, errors = [], []

    def worker(i):
        try:
            results.append(
                client.call("scene.create_object", {"object_type": "empty", "name": f"par{i}"})
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and sorted(r["name"] for r in results) == [f"par{i}" for i in range(8)]


def test_bad_command_lines(bpy_python):
    with pytest.raises(RuntimeError):
        Server(bpy_python, ["--ws", "0.0.0.0:0"], timeout=30)
    with pytest.raises(RuntimeError):
        Server(bpy_python, ["--pipe", "/tmp/x.sock", "--token-env", "UNSET_FOR_SURE"], timeout=30)


def test_open_flag_loads_a_blend(bpy_python, blender, tmp_path):
    path = str(tmp_path / "start.blend")
    blender.call("scene.create_object", {"object_type": "empty", "name": "FromFile"})
    blender.call("scene.save_file", {"file_path": path})
    server = start_stdio(bpy_python, "--open", path)
    try:
        info = server.client.call("scene.get_scene_info")
        assert info["file_path"] == path
        names = [o["name"] for o in server.client.call("scene.list_objects")]
        assert "FromFile" in names
    finally:
        assert server.stop() == 0


BLENDER = shutil.which("blender")


@pytest.mark.skipif(not BLENDER, reason="no `blender` executable on PATH (the bpy wheel is used)")
def test_blender_background_form(tmp_path):
    """The other contract form: blender --background --factory-startup --python run.py -- ..."""
    import subprocess

    from bridge_client import RUN_PY, StdioClient

    proc = subprocess.Popen(
        [BLENDER, "--background", "--factory-startup", "--python", RUN_PY, "--", "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    client = StdioClient(proc)
    try:
        hello = client.hello()
        if not hello["info"]["version"].startswith(("4.", "5.")):
            pytest.skip(f"blender on PATH is {hello['info']['version']}; the adapter needs 4.2+")
        assert hello["info"]["metadata"]["mode"] == "application"
        assert client.call("dcc.ping") == {"busy": False}
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
