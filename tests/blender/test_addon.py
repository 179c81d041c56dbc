"""The extension package and the UI panel, inside the real bpy (no window needed)."""

import json
import os
import subprocess
import sys
import zipfile

from bridge_client import REPO
from rigs import run_bpy

BUILD = os.path.join(REPO, "adapters", "blender", "build.py")

INSTALL = """
import bpy, os, sys
r = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[-1], repo="user_default", enable_on_install=True
)
enabled = [m for m in bpy.context.preferences.addons.keys() if "stagecraft" in m]
print("RESULT", {"op": sorted(r), "enabled": enabled,
                 "panel": hasattr(bpy.types, "STAGECRAFT_PT_bridge")})
sys.stdout.flush()
os._exit(0)
"""

PANEL = """
import os, sys, threading, time
sys.path.insert(0, os.path.join(sys.argv[-1], "adapters", "blender"))
sys.path.insert(0, os.path.join(sys.argv[-1], "tests", "blender"))
import bpy
import stagecraft_blender
from stagecraft_blender import panel
from bridge_client import WsClient

class Layout:
    # Records what draw() shows; stands in for bpy's UILayout, which needs a window.
    def __init__(self, log): self.log, self.enabled = log, True
    def column(self): return self
    def box(self): return self
    def prop(self, data, name): self.log.append(("prop", name))
    def label(self, text="", icon="NONE"): self.log.append(("label", text))
    def operator(self, idname, icon="NONE"): self.log.append(("operator", idname))

def draw():
    log = []
    fake = type("P", (), {"layout": Layout(log)})()
    panel.STAGECRAFT_PT_bridge.draw(fake, bpy.context)
    return log

stagecraft_blender.register()
s = bpy.context.window_manager.stagecraft_bridge
s.transport, s.address, s.token_env, s.allow_scripts = "websocket", "127.0.0.1:0", "", True
stopped = draw()
assert bpy.ops.stagecraft.start_bridge() == {"FINISHED"}
server = panel._state["server"]
host, port = server.endpoint[len("ws://"):].rsplit(":", 1)
out = {}
def client():
    ws = WsClient(host, int(port))
    out["version"] = ws.hello()["info"]["version"]
    run = ws.call("script.execute", {"language": "python", "code": "result = 6 * 7"})
    out["script"] = run["result"]
    ws.close()
t = threading.Thread(target=client)
t.start()
while t.is_alive():
    panel._pump()  # what bpy.app.timers does in the UI (timers never fire in background)
    time.sleep(0.005)
running = draw()
bpy.ops.stagecraft.copy_config()
clip = bpy.context.window_manager.clipboard
assert bpy.ops.stagecraft.stop_bridge() == {"FINISHED"}
stagecraft_blender.unregister()
threads = [t.name for t in threading.enumerate()]
print("RESULT", {"out": out, "stopped": stopped, "running": running, "threads": threads,
                 "config": panel._state["config"], "blender": bpy.app.version_string})
sys.stdout.flush()
os._exit(0)
"""


def test_build_zip_installs_as_extension(bpy_python, tmp_path):
    out = subprocess.run(
        [sys.executable, BUILD], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "methods/animation.py" in names and not any("__pycache__" in n for n in names)
    # A private HOME keeps the install away from the real user profile.
    got = eval(run_bpy(bpy_python, INSTALL, out, env={"HOME": str(tmp_path)}))  # a dict literal our script printed
    assert got["op"] == ["FINISHED"] and got["panel"]
    assert got["enabled"] == ["bl_ext.user_default.stagecraft_blender"]


def test_panel_starts_serves_and_stops(bpy_python):
    got = eval(run_bpy(bpy_python, PANEL, REPO))  # a dict literal our script printed
    # The handshake reports the Blender it runs in.
    assert got["out"] == {"version": got["blender"], "script": 42}, got
    assert ("operator", "stagecraft.start_bridge") in got["stopped"]
    assert ("operator", "stagecraft.stop_bridge") in got["running"]
    labels = [text for kind, text in got["running"] if kind == "label"]
    assert "[[dcc]]" in labels and 'bridge = "websocket"' in labels
    assert got["config"].startswith('[[dcc]]\nname = "blender"\nbridge = "websocket"')
    assert got["threads"] == ["MainThread"], "stopping leaves no thread behind"
    json.dumps(got)
