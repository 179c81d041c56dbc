"""Runs inside Blender through script.execute: `args` holds the tool arguments, `result` is returned.

Frames the selection with plain math rather than a viewport operator, so that it also works in a
background (headless) Blender, which has no 3D view.
"""

import math

import bpy
from mathutils import Vector

margin = float(args.get("margin", 1.2))  # noqa: F821 - `args` is provided by the adapter
scene = bpy.context.scene
camera = scene.camera
selected = [o for o in scene.objects if o.select_get() and o is not camera]
if camera is None:
    raise RuntimeError("the scene has no active camera")
if not selected:
    raise RuntimeError("nothing is selected")

corners = [o.matrix_world @ Vector(c) for o in selected for c in o.bound_box]
center = sum(corners, Vector()) / len(corners)
radius = max((c - center).length for c in corners) * margin
distance = radius / math.sin(camera.data.angle / 2)

# Keep looking from the side the camera is on; straight down the front axis when it sits on the centre.
direction = camera.matrix_world.translation - center
direction = direction.normalized() if direction.length > 1e-6 else Vector((0.0, -1.0, 0.0))
world = center + direction * distance
local = camera.parent.matrix_world.inverted() @ world if camera.parent else world
camera.location = local
camera.rotation_mode = "QUATERNION"
camera.rotation_quaternion = (center - world).to_track_quat("-Z", "Y")
if camera.parent:
    camera.rotation_quaternion = (
        camera.parent.matrix_world.to_quaternion().inverted() @ camera.rotation_quaternion
    )

result = {
    "camera": camera.name,
    "framed": [o.name for o in selected],
    "distance_m": round(distance, 4),
    "margin": margin,
}
