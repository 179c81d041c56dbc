"""scene.*: scene info, objects, selection, visibility, files and export."""

import os

import bmesh
import bpy

from ..conventions import CM_PER_M, pos_from_yup
from ..protocol import DccError, get_bool, get_str, get_str_list, get_vec3, invalid, scene_error
from .common import (
    bridge_type,
    is_modified,
    mark_clean,
    find_object,
    link_to_scene,
    object_param,
    scene_object,
    scene_objects,
    update,
)


def _statistics():
    objs = list(bpy.context.scene.objects)
    verts = polys = 0
    for obj in objs:
        if obj.type == "MESH":
            verts += len(obj.data.vertices)
            polys += len(obj.data.polygons)
    return {
        "object_count": len(objs),
        "vertex_count": verts,
        "polygon_count": polys,
        "material_count": len(bpy.data.materials),
        "texture_count": len(bpy.data.images),
        "light_count": sum(1 for o in objs if o.type == "LIGHT"),
        "camera_count": sum(1 for o in objs if o.type == "CAMERA"),
    }


def scene_fps(scene=None):
    scene = scene or bpy.context.scene
    return scene.render.fps / scene.render.fps_base


def scene_info():
    scene = bpy.context.scene
    path = bpy.data.filepath
    return {
        "file_path": path or None,
        "name": os.path.basename(path) if path else scene.name,
        "modified": is_modified(),
        "format": "blend",
        "frame_range": [scene.frame_start, scene.frame_end],
        "current_frame": scene.frame_current,
        "fps": scene_fps(scene),
        # The scene's own axes/units; values on the bridge are converted to Y-up cm.
        "up_axis": "Z",
        "units": "meters",
        "statistics": _statistics(),
        "metadata": {
            "scene": scene.name,
            "scenes": [s.name for s in bpy.data.scenes],
            "unit_scale": scene.unit_settings.scale_length,
            "blender_version": bpy.app.version_string,
        },
    }


def get_scene_info(params, req):
    return scene_info()


def _type_filter(params):
    wanted = get_str(params, "object_type")
    return wanted.lower() if wanted else None


def list_objects(params, req):
    wanted = _type_filter(params)
    return [scene_object(o) for o in scene_objects() if wanted is None or bridge_type(o) == wanted]


def _primitive_mesh(kind, name):
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    try:
        # Blender's own "Add" defaults: a 2 m cube, a UV sphere of radius 1 m.
        if kind == "cube":
            bmesh.ops.create_cube(bm, size=2.0)
        else:
            bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=1.0)
        bm.to_mesh(mesh)
    finally:
        bm.free()
    return mesh


def _armature_data(name):
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    link_to_scene(obj)
    # Bones exist only through edit mode; one 1 m bone like Blender's "Add Armature".
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bone = arm.edit_bones.new("Bone")
    bone.head = (0.0, 0.0, 0.0)
    bone.tail = (0.0, 0.0, 1.0)
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous
    return obj


CREATABLE = ("empty", "cube", "sphere", "camera", "light", "armature")


def create_object(params, req):
    kind = get_str(params, "object_type", required=True).lower()
    name = get_str(params, "name", required=True)
    parent_name = get_str(params, "parent")
    translate = get_vec3(params, "translate")
    if kind not in CREATABLE:
        raise invalid(f"object_type must be one of {', '.join(CREATABLE)}, got {kind!r}")
    parent = find_object(parent_name, "parent") if parent_name else None
    if kind == "armature":
        obj = _armature_data(name)
    else:
        if kind == "empty":
            data = None
        elif kind in ("cube", "sphere"):
            data = _primitive_mesh(kind, name)
        elif kind == "camera":
            data = bpy.data.cameras.new(name)
        else:
            data = bpy.data.lights.new(name, "POINT")
        obj = bpy.data.objects.new(name, data)
        link_to_scene(obj)
    if parent is not None:
        obj.parent = parent
        obj.matrix_parent_inverse.identity()
    if translate is not None:
        update()
        world = obj.matrix_world.copy()
        world.translation = pos_from_yup([c / CM_PER_M for c in translate])
        obj.matrix_world = world
    update()
    return scene_object(obj)


def delete_objects(params, req):
    names = get_str_list(params, "object_names")
    deleted = []
    for name in names:
        obj = bpy.context.scene.objects.get(name)
        if obj is not None:
            bpy.data.objects.remove(obj, do_unlink=True)
            deleted.append(name)
    return deleted


def get_selection(params, req):
    return [o.name for o in scene_objects() if o.select_get()]


def set_selection(params, req):
    names = get_str_list(params, "object_names")
    objs = [find_object(n, "object_names") for n in names]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(False)
    for obj in objs:
        obj.select_set(True)
    if objs:
        bpy.context.view_layer.objects.active = objs[0]
    return get_selection(params, req)


def select_by_type(params, req):
    wanted = _type_filter(params)
    if wanted is None:
        raise invalid("missing required parameter 'object_type'")
    names = [o.name for o in scene_objects() if bridge_type(o) == wanted]
    return set_selection({"object_names": names}, req)


def set_visibility(params, req):
    obj = object_param(params)
    visible = params.get("visible")
    if not isinstance(visible, bool):
        raise invalid("parameter 'visible' must be a boolean")
    obj.hide_set(not visible)
    obj.hide_viewport = not visible
    obj.hide_render = not visible
    return visible


def new_scene(params, req):
    # Nobody can answer a save prompt here, so save_prompt is accepted and ignored.
    get_bool(params, "save_prompt")
    bpy.ops.wm.read_homefile(use_empty=True)
    mark_clean()
    return scene_info()


def open_file(params, req):
    path = os.path.abspath(get_str(params, "file_path", required=True))
    force = get_bool(params, "force")
    if not os.path.isfile(path):
        raise scene_error(f"cannot read {path}: no such file")
    if is_modified() and not force:
        raise scene_error(
            "the scene has unsaved changes",
            details={"hint": "save it first, or pass force: true to discard the changes"},
        )
    try:
        bpy.ops.wm.open_mainfile(filepath=path)
    except RuntimeError as exc:
        raise scene_error(f"could not open {path}: {exc}") from None
    mark_clean()
    return scene_info()


def save_file(params, req):
    path = get_str(params, "file_path")
    if path is None:
        if not bpy.data.filepath:
            raise scene_error("the scene has never been saved; pass file_path (a .blend path)")
        path = bpy.data.filepath
    path = os.path.abspath(path)
    if not os.path.isdir(os.path.dirname(path)):
        raise invalid(f"directory does not exist: {os.path.dirname(path)}")
    try:
        bpy.ops.wm.save_as_mainfile(filepath=path)
    except RuntimeError as exc:
        raise scene_error(f"could not save {path}: {exc}") from None
    mark_clean()
    return path


def _export_ops(fmt, path, selection_only):
    if fmt in ("glb", "gltf"):
        return bpy.ops.export_scene.gltf, {
            "filepath": path,
            "export_format": "GLB" if fmt == "glb" else "GLTF_SEPARATE",
            "use_selection": selection_only,
        }
    if fmt == "fbx":
        return bpy.ops.export_scene.fbx, {"filepath": path, "use_selection": selection_only}
    if fmt == "obj":
        return bpy.ops.wm.obj_export, {
            "filepath": path,
            "export_selected_objects": selection_only,
        }
    if fmt in ("usd", "usda", "usdc", "usdz"):
        return bpy.ops.wm.usd_export, {"filepath": path, "selected_objects_only": selection_only}
    if fmt == "abc":
        return bpy.ops.wm.alembic_export, {"filepath": path, "selected": selection_only}
    if fmt == "stl":
        return bpy.ops.wm.stl_export, {"filepath": path, "export_selected_objects": selection_only}
    return None, None


EXPORT_FORMATS = ("glb", "gltf", "fbx", "obj", "usd", "usda", "usdc", "usdz", "abc", "stl")


def export_file(params, req):
    path = os.path.abspath(get_str(params, "file_path", required=True))
    fmt = get_str(params, "format", required=True).lower().lstrip(".")
    selection_only = get_bool(params, "selection_only")
    op, kwargs = _export_ops(fmt, path, selection_only)
    if op is None:
        raise DccError(
            "UNSUPPORTED",
            f"export format {fmt!r} is not supported; use one of {', '.join(EXPORT_FORMATS)}",
        )
    if not os.path.isdir(os.path.dirname(path)):
        raise invalid(f"directory does not exist: {os.path.dirname(path)}")
    try:
        op(**kwargs)
    except (RuntimeError, AttributeError) as exc:
        raise scene_error(f"{fmt} export failed: {exc}") from None
    if not os.path.exists(path):
        raise scene_error(f"{fmt} export reported success but wrote no {path}")
    return path


IMPORT_FORMATS = ("fbx", "glb", "gltf", "bvh", "usd", "usda", "usdc", "usdz", "obj")


def _bvh_height(path):
    """Height of a BVH skeleton at rest (highest minus lowest joint), in the file's units: the
    OFFSETs are summed down the hierarchy until MOTION. None when the file is not BVH."""
    heights, stack = [], [0.0]
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0].upper() == "MOTION":
                break
            if words[0] == "}" and len(stack) > 1:
                stack.pop()
            elif words[0].upper() == "OFFSET" and len(words) == 4:
                try:
                    y = stack[-1] + float(words[2])
                except ValueError:
                    return None
                stack.append(y)
                heights.append(y)
    return max(heights) - min(heights) if heights else None


def _import_op(fmt, path):
    if fmt == "fbx":
        return bpy.ops.import_scene.fbx, {"filepath": path}
    if fmt in ("glb", "gltf"):
        return bpy.ops.import_scene.gltf, {"filepath": path}
    if fmt == "bvh":
        # Most mocap BVH is in centimetres, and the importer takes units as metres: a skeleton
        # taller than 10 units is read as centimetres. The timeline follows the motion.
        height = _bvh_height(path)
        scale = 0.01 if height is not None and height > 10.0 else 1.0
        return bpy.ops.import_anim.bvh, {
            "filepath": path,
            "global_scale": scale,
            "update_scene_fps": True,
            "update_scene_duration": True,
        }
    if fmt in ("usd", "usda", "usdc", "usdz"):
        return bpy.ops.wm.usd_import, {"filepath": path}
    if fmt == "obj":
        return bpy.ops.wm.obj_import, {"filepath": path}
    raise DccError("UNSUPPORTED", f"import format {fmt!r} is not supported")


def import_file(params, req):
    path = os.path.abspath(get_str(params, "file_path", required=True))
    fmt = get_str(params, "format")
    fmt = (fmt or os.path.splitext(path)[1]).lower().lstrip(".")
    if fmt not in IMPORT_FORMATS:
        raise DccError(
            "UNSUPPORTED",
            f"import format {fmt!r} is not supported; use one of {', '.join(IMPORT_FORMATS)}",
        )
    if not os.path.isfile(path):
        raise scene_error(f"cannot read {path}: no such file")
    op, kwargs = _import_op(fmt, path)
    before = set(bpy.data.objects)
    try:
        outcome = op(**kwargs)
    except (RuntimeError, AttributeError) as exc:
        raise scene_error(f"{fmt} import of {path} failed: {exc}") from None
    if "FINISHED" not in outcome:
        raise scene_error(f"{fmt} import of {path} did not finish ({', '.join(outcome)})")
    update()
    created = sorted((o for o in bpy.data.objects if o not in before), key=lambda o: o.name)
    return {
        "file_path": path,
        "format": fmt,
        "objects": [o.name for o in created],
        "armatures": [o.name for o in created if o.type == "ARMATURE"],
    }


METHODS = {
    "scene.get_scene_info": get_scene_info,
    "scene.list_objects": list_objects,
    "scene.create_object": create_object,
    "scene.delete_objects": delete_objects,
    "scene.get_selection": get_selection,
    "scene.set_selection": set_selection,
    "scene.select_by_type": select_by_type,
    "scene.set_visibility": set_visibility,
    "scene.new_scene": new_scene,
    "scene.open_file": open_file,
    "scene.save_file": save_file,
    "scene.export_file": export_file,
    "scene.import_file": import_file,
}
