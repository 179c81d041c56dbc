"""stagecraft bridge for Blender: lets stagecraft (an MCP server) drive this Blender.

Implements docs/bridge-protocol.md (stagecraft-bridge/1) on four transports. Installed as an extension
(blender_manifest.toml) or a legacy add-on (bl_info); run headless with ../run.py.

Module map:
  protocol.py     JSON-RPC shapes, DccError, parameter checks, F32Array (no bpy)
  conventions.py  Y-up cm/degrees/MMCP <-> Blender Z-up m/radians
  server.py       dispatch, sessions (hello, token, ping, cancel) and the main-thread queue
  transports.py   stdio, http, websocket and Unix-socket framing
  methods/        one module per area: scene, transform, hierarchy, render, script, animation
  panel.py        View3D > Sidebar > stagecraft: start/stop the bridge in the UI
"""

bl_info = {
    "name": "stagecraft bridge",
    "author": "stagecraft",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "View3D > Sidebar > stagecraft",
    "description": "Lets the stagecraft MCP server drive this Blender (scene, animation, renders)",
    "category": "Animation",
}


def register():
    from . import panel

    panel.register()


def unregister():
    from . import panel

    panel.unregister()
