"""Every bridge method, by name. One module per skill area; each exports METHODS.

A method is `fn(params: dict, req: server.Request) -> JSON value`, runs on Blender's main
thread, and reports bad input by raising protocol.DccError.
"""

from . import animation, hierarchy, render, scene, script, transform
from .common import mark_modified

# Methods that change the scene: a success marks it modified (see common.is_modified).
MUTATING = {
    "scene.create_object",
    "scene.delete_objects",
    "scene.set_visibility",
    "scene.import_file",
    "transform.set_transform",
    "transform.rename_object",
    "hierarchy.group_objects",
    "hierarchy.ungroup",
    "hierarchy.reparent",
    "render.set_render_settings",
    "script.execute",
    "animation.apply_motion",
    "animation.set_frame_range",
}


def _marking(method):
    def run(params, req):
        result = method(params, req)
        mark_modified()
        return result

    run.__name__ = method.__name__
    run.__doc__ = method.__doc__
    return run


METHODS = {}
for _module in (scene, transform, hierarchy, render, script, animation):
    METHODS.update(_module.METHODS)
for _name in MUTATING:
    METHODS[_name] = _marking(METHODS[_name])
