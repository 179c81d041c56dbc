"""Helpers shared by the method modules: object lookup and the SceneObject shape."""

import bpy

from ..protocol import get_str, scene_error

# Blender object types as the bridge names them (lower case of Blender's enum).
BRIDGE_TYPES = {
    "MESH": "mesh",
    "EMPTY": "empty",
    "CAMERA": "camera",
    "LIGHT": "light",
    "ARMATURE": "armature",
    "CURVE": "curve",
    "CURVES": "curves",
    "SURFACE": "surface",
    "META": "metaball",
    "FONT": "text",
    "GPENCIL": "grease_pencil",
    "GREASEPENCIL": "grease_pencil",
    "LATTICE": "lattice",
    "LIGHT_PROBE": "light_probe",
    "SPEAKER": "speaker",
    "POINTCLOUD": "pointcloud",
    "VOLUME": "volume",
}


def bridge_type(obj):
    return BRIDGE_TYPES.get(obj.type, obj.type.lower())


def scene_objects():
    """Objects of the current scene, sorted by name for stable answers."""
    return sorted(bpy.context.scene.objects, key=lambda o: o.name)


def find_object(name, param="object_name"):
    obj = bpy.context.scene.objects.get(name)
    if obj is None:
        raise scene_error(
            f"no object named {name!r} in scene {bpy.context.scene.name!r}",
            details={"parameter": param, "object": name},
        )
    return obj


def object_param(params, name="object_name"):
    return find_object(get_str(params, name, required=True), name)


def is_visible(obj):
    return not obj.hide_get() and not obj.hide_viewport


def scene_object(obj):
    return {
        "name": obj.name,
        # Blender names are unique per file, so the name is already the long name.
        "long_name": obj.name,
        "object_type": bridge_type(obj),
        "parent": obj.parent.name if obj.parent else None,
        "visible": is_visible(obj),
        "metadata": {
            "blender_type": obj.type,
            "data": obj.data.name if obj.data is not None else None,
            "collections": [c.name for c in obj.users_collection],
        },
    }


# bpy.data.is_dirty is always True in background/module mode (no undo stack tracks edits),
# so the adapter tracks "modified since new/open/save" itself for methods that change the scene.
_modified = [False]


def mark_modified():
    _modified[0] = True


def mark_clean():
    _modified[0] = False


def is_modified():
    # In the UI Blender's own flag works and also sees the user's edits.
    return _modified[0] or (not bpy.app.background and bpy.data.is_dirty)


def update():
    """Re-evaluates matrices after edits, so world transforms read back are current."""
    bpy.context.view_layer.update()


def link_to_scene(obj):
    bpy.context.scene.collection.objects.link(obj)


def set_parent_keep_world(obj, parent):
    """Parents obj to parent (or None) without moving it in the world."""
    update()
    world = obj.matrix_world.copy()
    obj.parent = parent
    # Python parenting keeps the old inverse; a clean identity makes basis = local offset.
    obj.matrix_parent_inverse.identity()
    update()
    obj.matrix_world = world
    update()


def check_no_cycle(obj, parent):
    node = parent
    while node is not None:
        if node == obj:
            raise scene_error(
                f"cannot parent {obj.name!r} under {parent.name!r}: that would make a cycle"
            )
        node = node.parent
