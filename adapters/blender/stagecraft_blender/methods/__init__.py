"""Every bridge method, by name. One module per skill area; each exports METHODS.

A method is `fn(params: dict, req: server.Request) -> JSON value`, runs on Blender's main
thread, and reports bad input by raising protocol.DccError.
"""

from . import animation, hierarchy, render, scene, script, transform

METHODS = {}
for _module in (scene, transform, hierarchy, render, script, animation):
    METHODS.update(_module.METHODS)
