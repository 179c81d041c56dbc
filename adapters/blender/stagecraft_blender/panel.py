"""View3D > Sidebar > stagecraft: start/stop the bridge inside an interactive Blender.

In the UI the main thread belongs to Blender's event loop, so requests are run by a
`bpy.app.timers` callback (every 20 ms, at most ~50 ms of work per tick) instead of the
blocking loop run.py uses in background mode.

`stagecraft setup` writes a token file that stagecraft's `[[dcc]]` entry reads too
(setup_token_file()); when it is there, the bridge starts by itself with Blender, with that
token, and the token is used whenever the token env variable is not set.
"""

import atexit
import os
import tempfile

import bpy
from bpy.props import BoolProperty, EnumProperty, PointerProperty, StringProperty

from . import transports
from .server import Server, dcc_config_block

_state = {"server": None, "config": "", "note": ""}


def _pump():
    server = _state["server"]
    if server is None or server.stopping.is_set():
        return None  # unregisters the timer
    server.pump(block=0.0, budget=0.05)
    return 0.02


def setup_token_file():
    """Where `stagecraft setup` keeps the bridge token; the same rule as stagecraft's
    user_config_dir() in src/config.rs."""
    base = os.environ.get("XDG_CONFIG_HOME") or (
        os.path.join(os.environ["HOME"], ".config") if os.environ.get("HOME") else None
    )
    base = base or os.environ.get("APPDATA")
    return os.path.join(base, "stagecraft", "blender.token") if base else None


def _token(settings):
    """(token, where it came from): the token env variable when set, else setup's file."""
    if settings.token_env and os.environ.get(settings.token_env):
        return os.environ[settings.token_env], "env"
    path = setup_token_file()
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except (OSError, TypeError):  # no file, unreadable, or no config folder (path None)
        return None, None
    return (token, path) if token else (None, None)


def autostart():
    """Starts the bridge with the panel's settings when `stagecraft setup` has been run (its
    token file is there); what the timer registered by register() runs in the UI, once."""
    path = setup_token_file()
    if path and os.path.isfile(path) and _state["server"] is None:
        bpy.ops.stagecraft.start_bridge()
    return None


def _stop():
    server = _state["server"]
    _state["server"] = None
    if server is not None:
        server.stop()
    if bpy.app.timers.is_registered(_pump):
        bpy.app.timers.unregister(_pump)


class StagecraftBridgeSettings(bpy.types.PropertyGroup):
    transport: EnumProperty(
        name="Transport",
        items=[
            ("websocket", "WebSocket", "ws://HOST:PORT, token in dcc.hello"),
            ("http", "HTTP", "POST http://HOST:PORT/rpc, bearer token"),
            ("named_pipe", "Named pipe", "A Unix domain socket (0600), token in dcc.hello"),
        ],
        default="websocket",
    )
    address: StringProperty(
        name="Address", description="Loopback HOST:PORT to listen on", default="127.0.0.1:9876"
    )
    pipe_path: StringProperty(
        name="Socket",
        description="Unix socket path",
        default=os.path.join(tempfile.gettempdir(), "stagecraft-blender.sock"),
    )
    token_env: StringProperty(
        name="Token env",
        description="Environment variable holding the shared secret (empty: no token)",
        default="STAGECRAFT_BLENDER_TOKEN",
    )
    allow_scripts: BoolProperty(
        name="Allow scripts",
        description="Let stagecraft run Python in this Blender (script.execute)",
        default=False,
    )


class STAGECRAFT_OT_start(bpy.types.Operator):
    bl_idname = "stagecraft.start_bridge"
    bl_label = "Start bridge"
    bl_description = "Listen for stagecraft on the chosen transport"

    def execute(self, context):
        settings = context.window_manager.stagecraft_bridge
        _stop()
        token, source = _token(settings)
        try:
            if settings.transport == "named_pipe":
                transport = transports.PipeTransport(bpy.path.abspath(settings.pipe_path))
            else:
                host, port = transports.parse_host_port(settings.address)
                cls = (
                    transports.WebSocketTransport
                    if settings.transport == "websocket"
                    else transports.HttpTransport
                )
                transport = cls(host, port)
            server = Server(token=token, allow_scripts=settings.allow_scripts)
            server.start([transport])
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, f"stagecraft: cannot start: {exc}")
            return {"CANCELLED"}
        _state["server"] = server
        _state["config"] = dcc_config_block(
            transport.kind,
            transport.endpoint,
            settings.token_env if source == "env" else None,
            token_file=source if source not in (None, "env") else None,
        )
        _state["note"] = (
            ""
            if token
            else f"no token (${settings.token_env} unset): any local process may connect"
        )
        bpy.app.timers.register(_pump, first_interval=0.02, persistent=True)
        self.report({"INFO"}, f"stagecraft bridge listening on {transport.endpoint}")
        return {"FINISHED"}


class STAGECRAFT_OT_stop(bpy.types.Operator):
    bl_idname = "stagecraft.stop_bridge"
    bl_label = "Stop bridge"

    def execute(self, context):
        _stop()
        return {"FINISHED"}


class STAGECRAFT_OT_copy_config(bpy.types.Operator):
    bl_idname = "stagecraft.copy_config"
    bl_label = "Copy [[dcc]] block"
    bl_description = "Copy the stagecraft.toml block for this bridge to the clipboard"

    def execute(self, context):
        context.window_manager.clipboard = _state["config"]
        return {"FINISHED"}


class STAGECRAFT_PT_bridge(bpy.types.Panel):
    bl_label = "stagecraft bridge"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "stagecraft"

    def draw(self, context):
        layout = self.layout
        settings = context.window_manager.stagecraft_bridge
        server = _state["server"]
        running = server is not None and not server.stopping.is_set()
        col = layout.column()
        col.enabled = not running
        col.prop(settings, "transport")
        if settings.transport == "named_pipe":
            col.prop(settings, "pipe_path")
        else:
            col.prop(settings, "address")
        col.prop(settings, "token_env")
        col.prop(settings, "allow_scripts")
        if running:
            busy = " (busy)" if server.busy else ""
            layout.label(text=f"Listening: {server.endpoint}{busy}", icon="LINKED")
            if _state["note"]:
                layout.label(text=_state["note"], icon="ERROR")
            layout.operator(STAGECRAFT_OT_stop.bl_idname, icon="CANCEL")
            box = layout.box()
            box.label(text="stagecraft.toml:")
            for line in _state["config"].splitlines():
                box.label(text=line)
            box.operator(STAGECRAFT_OT_copy_config.bl_idname, icon="COPYDOWN")
        else:
            layout.label(text="Stopped", icon="UNLINKED")
            layout.operator(STAGECRAFT_OT_start.bl_idname, icon="PLAY")


_CLASSES = (
    StagecraftBridgeSettings,
    STAGECRAFT_OT_start,
    STAGECRAFT_OT_stop,
    STAGECRAFT_OT_copy_config,
    STAGECRAFT_PT_bridge,
)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.stagecraft_bridge = PointerProperty(type=StagecraftBridgeSettings)
    atexit.register(_stop)
    # Timers never fire in background Blender, where run.py serves instead.
    if not bpy.app.background:
        bpy.app.timers.register(autostart, first_interval=1.0, persistent=True)


def unregister():
    if bpy.app.timers.is_registered(autostart):
        bpy.app.timers.unregister(autostart)
    _stop()
    atexit.unregister(_stop)
    del bpy.types.WindowManager.stagecraft_bridge
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
