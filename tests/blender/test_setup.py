"""`stagecraft setup` with real Blender (the bpy wheel): the extension lands in the user
extensions repository of a private config folder, is enabled in the saved preferences, starts its
bridge with the token setup wrote, and answers stagecraft over it."""

import json
import os
import subprocess
import sys
import time

import pytest

from bridge_client import REPO, BridgeError, WsClient

STAGECRAFT = os.environ.get("STAGECRAFT_BIN") or os.path.join(REPO, "target", "debug", "stagecraft")

# A fresh Blender session as an interactive one starts: the saved preferences are read (which
# loads the enabled add-ons), then the add-on's autostart runs as its timer would in the UI.
SESSION = """
import os, sys, threading, time
import bpy
bpy.ops.wm.read_userpref()
enabled = sorted(m for m in bpy.context.preferences.addons.keys() if "stagecraft" in m)
import bl_ext.user_default.stagecraft_blender.panel as panel
settings = bpy.context.window_manager.stagecraft_bridge
settings.address = "127.0.0.1:0"  # the test's own port; setup's default is 9876
panel.autostart()
server = panel._state["server"]
print("READY " + repr({"enabled": enabled, "endpoint": server and server.endpoint,
                       "config": panel._state["config"], "blender": bpy.app.version_string}),
      flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    panel._pump()
    time.sleep(0.005)
bpy.ops.stagecraft.stop_bridge()
os._exit(0)
"""


def homes(tmp_path):
    env = dict(os.environ)
    for name in ("STAGECRAFT_CONFIG", "STAGECRAFT_BLENDER_TOKEN", "STAGECRAFT_BLENDER_ENDPOINT"):
        env.pop(name, None)
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        APPDATA=str(tmp_path / "appdata"),
    )
    (tmp_path / "home" / ".cursor").mkdir(parents=True)
    return env


def setup(env, *args):
    proc = subprocess.run(
        [STAGECRAFT, "setup", *args], env=env, capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout + proc.stderr


def bpy_version(python):
    out = subprocess.run(
        [python, "-c", "import bpy; print(tuple(bpy.app.version[:2]))"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    return eval(out.strip().splitlines()[-1])  # a tuple printed by our own one-liner


def test_setup_installs_enables_and_the_bridge_answers_with_the_shared_token(bpy_python, tmp_path):
    env = homes(tmp_path)
    old_enough = bpy_version(bpy_python) >= (4, 5)
    if old_enough:
        # A dry run looks into Blender and says what it would do, and changes nothing.
        code, planned = setup(env, "--dry-run", "--blender", bpy_python, "--client", "cursor")
        assert code == 0 and "will install the extension into" in planned, planned
        assert not (tmp_path / "config" / "stagecraft").exists()
        assert not list((tmp_path / "config").glob("blender/*/extensions/user_default/*")), planned
    code, out = setup(env, "--yes", "--blender", bpy_python, "--client", "cursor")
    if not old_enough:
        # bpy 4.2-4.4 modules crash reading saved preferences: refused, nothing installed.
        assert code == 1 and "cannot read saved preferences" in out, out
        assert not list((tmp_path / "config").glob("blender/*/extensions/user_default/*"))
        return
    assert code == 0, out
    token_file = tmp_path / "config" / "stagecraft" / "blender.token"
    token = token_file.read_text().strip()
    assert len(token) == 32 and (token_file.stat().st_mode & 0o777) == 0o600
    installed = list((tmp_path / "config" / "blender").glob("*/extensions/user_default/stagecraft_blender"))
    assert len(installed) == 1 and (installed[0] / "blender_manifest.toml").is_file(), out
    config = (tmp_path / "config" / "stagecraft" / "config.toml").read_text()
    assert f'token_file = "{token_file}"' in config and 'endpoint = "ws://127.0.0.1:9876"' in config
    cursor = json.loads((tmp_path / "home" / ".cursor" / "mcp.json").read_text())
    assert cursor["mcpServers"]["stagecraft"]["args"][-1] == "serve"

    # Nothing left to do the second time: Blender is checked, not reinstalled.
    code, again = setup(env, "--yes", "--blender", bpy_python, "--client", "cursor")
    assert code == 0 and "Nothing to change." in again, again
    assert "extension installed and enabled" in again

    session = subprocess.Popen(
        [bpy_python, "-c", SESSION],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = None
        for line in session.stdout:
            if line.startswith("READY "):
                ready = eval(line[len("READY ") :])  # a dict literal printed by SESSION
                break
        assert ready, session.stderr.read()[-2000:]
        assert ready["enabled"] == ["bl_ext.user_default.stagecraft_blender"]
        assert ready["endpoint"], "the bridge did not start by itself"
        assert f"token_file = {json.dumps(str(token_file))}" in ready["config"]
        host, port = ready["endpoint"][len("ws://") :].rsplit(":", 1)

        # The token is in force: without it the bridge refuses, with setup's token it answers.
        ws = WsClient(host, int(port))
        with pytest.raises(BridgeError) as refused:
            ws.hello()
        assert refused.value.code == "PERMISSION_DENIED"
        ws.close()
        ws = WsClient(host, int(port))
        assert ws.hello(token)["info"]["version"] == ready["blender"]
        ws.close()

        # stagecraft reaches it through the token file alone (no token in its environment).
        doctor = subprocess.run(
            [STAGECRAFT, "doctor"],
            env=dict(env, STAGECRAFT_BLENDER_ENDPOINT=ready["endpoint"]),
            capture_output=True,
            text=True,
            timeout=120,
        )
        line = next(l for l in doctor.stdout.splitlines() if l.startswith("dcc      blender"))
        assert ": ok: blender " + ready["blender"] in line, doctor.stdout + doctor.stderr
    finally:
        session.stdin.close()
        session.wait(timeout=60)
    assert session.returncode == 0


def test_setup_reports_a_program_that_is_not_blender(tmp_path):
    env = homes(tmp_path)
    code, out = setup(env, "--yes", "--blender", sys.executable, "--client", "cursor")
    assert code == 1
    assert "is not a Blender 4.2+" in out and "No module named 'bpy'" in out, out
    # Without a Blender, no bridge: the client is still set up, with no [[dcc]] entry.
    assert not (tmp_path / "config" / "stagecraft" / "config.toml").exists()
    assert json.loads((tmp_path / "home" / ".cursor" / "mcp.json").read_text())["mcpServers"]
