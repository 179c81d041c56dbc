"""transform.*: world-space transforms and bounds, converted to Y-up centimetres/degrees."""

from mathutils import Vector

from ..conventions import bbox_to_bridge, bridge_to_world, world_to_bridge
from ..protocol import get_str, get_vec3, invalid
from .common import object_param, update


def get_transform(params, req):
    obj = object_param(params)
    update()
    return world_to_bridge(obj.matrix_world)


def set_transform(params, req):
    obj = object_param(params)
    translate = get_vec3(params, "translate")
    rotate = get_vec3(params, "rotate")
    scale = get_vec3(params, "scale")
    if scale is not None and min(abs(s) for s in scale) < 1e-9:
        raise invalid(f"scale must not be zero, got {scale}")
    update()
    # Absent components keep their current world value, read in the same convention.
    current = world_to_bridge(obj.matrix_world)
    obj.matrix_world = bridge_to_world(
        translate if translate is not None else current["translate"],
        rotate if rotate is not None else current["rotate"],
        scale if scale is not None else current["scale"],
    )
    update()
    return world_to_bridge(obj.matrix_world)


def get_bounding_box(params, req):
    obj = object_param(params)
    update()
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return bbox_to_bridge(corners)


def rename_object(params, req):
    obj = object_param(params, "old_name")
    obj.name = get_str(params, "new_name", required=True)
    return obj.name


METHODS = {
    "transform.get_transform": get_transform,
    "transform.set_transform": set_transform,
    "transform.get_bounding_box": get_bounding_box,
    "transform.rename_object": rename_object,
}
