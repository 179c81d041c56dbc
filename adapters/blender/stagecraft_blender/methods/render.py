"""render.*: renders (viewport capture is render-based so it works in background mode)."""

import base64
import ctypes.util
import math
import os
import tempfile
import time

import bpy
from mathutils import Vector

from ..protocol import DccError, get_int, get_str, invalid, scene_error

# Friendly renderer names -> engine ids; EEVEE's id changed in 4.2 and back in 5.0.
_ENGINES = {
    "cycles": ("CYCLES",),
    "workbench": ("BLENDER_WORKBENCH",),
    "eevee": ("BLENDER_EEVEE_NEXT", "BLENDER_EEVEE"),
}
_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".exr": "OPEN_EXR",
    ".webp": "WEBP",
}


def _engine_id(name):
    """A friendly or Blender engine name -> an engine id this Blender accepts."""
    candidates = _ENGINES.get(name.lower(), (name.upper(),))
    # The engine enum is filled lazily, so probe each id with a throwaway assignment.
    render = bpy.context.scene.render
    before = render.engine
    for engine in candidates:
        try:
            render.engine = engine
        except TypeError:
            continue
        render.engine = before
        return engine
    raise invalid(f"unknown renderer {name!r}; use one of {', '.join(sorted(_ENGINES))}")


def _gl_available():
    # Workbench/EEVEE abort the whole process (not an exception) without libEGL in
    # background mode (docs/architecture.md#the-blender-adapter), so only use them when it can be loaded.
    return not bpy.app.background or ctypes.util.find_library("EGL") is not None


class _Saved:
    """Restores render settings (and removes a temporary camera) after a render."""

    def __init__(self, scene):
        self.scene = scene
        r = scene.render
        self.values = (
            r.engine,
            r.resolution_x,
            r.resolution_y,
            r.resolution_percentage,
            r.filepath,
            r.use_file_extension,
            r.image_settings.file_format,
            scene.camera,
        )
        self.samples = scene.cycles.samples if hasattr(scene, "cycles") else None
        self.temp_camera = None
        self.temp_objects = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        r = self.scene.render
        (
            r.engine,
            r.resolution_x,
            r.resolution_y,
            r.resolution_percentage,
            r.filepath,
            r.use_file_extension,
            r.image_settings.file_format,
            self.scene.camera,
        ) = self.values
        if self.samples is not None:
            self.scene.cycles.samples = self.samples
        if self.temp_camera is not None:
            data = self.temp_camera.data
            bpy.data.objects.remove(self.temp_camera, do_unlink=True)
            bpy.data.cameras.remove(data)
        for obj in self.temp_objects:
            mesh, materials = obj.data, [m for m in obj.data.materials if m]
            bpy.data.objects.remove(obj, do_unlink=True)
            bpy.data.meshes.remove(mesh)
            for material in materials:
                bpy.data.materials.remove(material)
        return False


def _bone_sticks(saved):
    """Renders do not draw bones, so an armature that deforms no mesh would be missing from
    the picture: while capturing, each one gets a temporary mesh of octahedral bones in its
    current pose (what the viewport draws), emissive so that it shows without lights."""
    scene = saved.scene
    deformed = set()
    for obj in scene.objects:
        if obj.type == "MESH":
            deformed.update(
                m.object.name for m in obj.modifiers if m.type == "ARMATURE" and m.object
            )
            if obj.parent is not None and obj.parent.type == "ARMATURE":
                deformed.add(obj.parent.name)
    bpy.context.view_layer.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, faces = [], []
    for obj in scene.objects:
        if obj.type != "ARMATURE" or obj.name in deformed or not obj.visible_get():
            continue
        evaluated = obj.evaluated_get(depsgraph)
        world = evaluated.matrix_world
        for pb in evaluated.pose.bones:
            head, tail = world @ pb.head, world @ pb.tail
            axis = tail - head
            length = axis.length
            if length < 1e-6:
                continue
            side = axis.orthogonal().normalized() * (0.1 * length)
            other = axis.normalized().cross(side)
            mid, n = head + axis * 0.15, len(verts)
            verts += [head, mid + side, mid + other, mid - side, mid - other, tail]
            for a, b in ((1, 2), (2, 3), (3, 4), (4, 1)):
                faces += [(n, n + a, n + b), (n + 5, n + b, n + a)]
    if not faces:
        return
    mesh = bpy.data.meshes.new("stagecraft_bones")
    mesh.from_pydata([tuple(v) for v in verts], [], faces)
    mesh.update()
    material = bpy.data.materials.new("stagecraft_bones")
    material.diffuse_color = (0.9, 0.45, 0.1, 1.0)  # Workbench's material colour
    material.use_nodes = True
    nodes = material.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (0.9, 0.45, 0.1, 1.0)
    output = nodes.new("ShaderNodeOutputMaterial")
    material.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    mesh.materials.append(material)
    obj = bpy.data.objects.new("stagecraft_bones", mesh)
    scene.collection.objects.link(obj)
    saved.temp_objects.append(obj)


def _auto_camera(saved, width, height):
    """A temporary camera framing everything visible, looking from front-left-above."""
    scene = saved.scene
    points = []
    for obj in scene.objects:
        if obj.type in ("MESH", "ARMATURE", "CURVE", "FONT", "EMPTY") and obj.visible_get():
            points.extend(obj.matrix_world @ Vector(c) for c in obj.bound_box)
    if points:
        lo = Vector([min(p[i] for p in points) for i in range(3)])
        hi = Vector([max(p[i] for p in points) for i in range(3)])
        center, radius = (lo + hi) / 2, max((hi - lo).length / 2, 0.1)
    else:
        center, radius = Vector((0.0, 0.0, 0.0)), 1.0
    cam_data = bpy.data.cameras.new("stagecraft_capture")
    cam = bpy.data.objects.new("stagecraft_capture", cam_data)
    scene.collection.objects.link(cam)
    saved.temp_camera = cam
    fov = min(cam_data.angle_x, cam_data.angle_x * height / max(width, 1))
    distance = radius / math.sin(fov / 2) * 1.05
    direction = Vector((0.45, -1.0, 0.45)).normalized()
    cam.location = center + direction * distance
    cam.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
    cam_data.clip_end = max(100.0, distance + radius * 2)
    scene.camera = cam
    return cam


def _choose_camera(saved, viewport, width, height):
    scene = saved.scene
    if viewport:
        obj = scene.objects.get(viewport)
        if obj is None or obj.type != "CAMERA":
            raise scene_error(f"viewport {viewport!r} is not a camera in the scene")
        scene.camera = obj
        return obj.name
    if scene.camera is not None:
        return scene.camera.name
    _auto_camera(saved, width, height)
    return "auto"


def _render_to(path, req):
    req.progress(0, 1, "rendering")
    started = time.perf_counter()
    try:
        bpy.ops.render.render(write_still=True)
    except RuntimeError as exc:
        raise scene_error(f"render failed: {exc}") from None
    elapsed = (time.perf_counter() - started) * 1000.0
    if not os.path.isfile(path):
        raise scene_error(f"render finished but wrote no file at {path}")
    req.progress(1, 1, "rendered")
    return elapsed


def _size(params, scene):
    width = get_int(params, "width", None, minimum=1)
    height = get_int(params, "height", None, minimum=1)
    if (width or 0) > 16384 or (height or 0) > 16384:
        raise invalid("width and height must be at most 16384")
    return width, height


def capture_viewport(params, req):
    scene = bpy.context.scene
    width, height = _size(params, scene)
    width, height = width or 640, height or 480
    fmt = (get_str(params, "format") or "png").lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise DccError("UNSUPPORTED", f"capture format {fmt!r} not supported; use png or jpeg")
    ext = ".png" if fmt == "png" else ".jpg"
    with _Saved(scene) as saved, tempfile.TemporaryDirectory(prefix="stagecraft-") as tmp:
        path = os.path.join(tmp, "capture" + ext)
        _bone_sticks(saved)
        viewport = _choose_camera(saved, get_str(params, "viewport"), width, height)
        r = scene.render
        if _gl_available():
            r.engine = "BLENDER_WORKBENCH"
        else:
            r.engine = "CYCLES"
            scene.cycles.samples = 8
        r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
        r.filepath, r.use_file_extension = path, False
        r.image_settings.file_format = _FORMATS[ext]
        _render_to(path, req)
        with open(path, "rb") as f:
            data = f.read()
    return {
        "data_b64": base64.b64encode(data).decode("ascii"),
        "width": width,
        "height": height,
        "format": "png" if fmt == "png" else "jpeg",
        "viewport": viewport,
    }


def render_scene(params, req):
    scene = bpy.context.scene
    path = os.path.abspath(get_str(params, "output_path", required=True))
    width, height = _size(params, scene)
    renderer = get_str(params, "renderer")
    ext = os.path.splitext(path)[1].lower()
    if ext not in _FORMATS:
        raise invalid(f"output_path must end in one of {', '.join(sorted(_FORMATS))}")
    if not os.path.isdir(os.path.dirname(path)):
        raise invalid(f"directory does not exist: {os.path.dirname(path)}")
    engine = _engine_id(renderer) if renderer else scene.render.engine
    if engine != "CYCLES" and not _gl_available():
        raise DccError(
            "UNSUPPORTED",
            f"{engine} needs libEGL in background mode (it would abort Blender); install "
            "libegl1 or render with 'cycles'",
        )
    with _Saved(scene) as saved:
        r = scene.render
        camera = scene.camera
        if camera is None:
            _auto_camera(saved, width or r.resolution_x, height or r.resolution_y)
        r.engine = engine
        if width:
            r.resolution_x = width
        if height:
            r.resolution_y = height
        out_w = r.resolution_x * r.resolution_percentage // 100
        out_h = r.resolution_y * r.resolution_percentage // 100
        r.filepath, r.use_file_extension = path, False
        r.image_settings.file_format = _FORMATS[ext]
        elapsed = _render_to(path, req)
    return {
        "file_path": path,
        "width": out_w,
        "height": out_h,
        "format": ext.lstrip("."),
        "render_time_ms": elapsed,
    }


# Settings exposed as strings: name -> (getter, setter).
def _settings():
    scene = bpy.context.scene
    r = scene.render

    def setter(obj, attr, conv):
        return lambda v: setattr(obj, attr, conv(v))

    table = {
        "engine": (lambda: r.engine, lambda v: setattr(r, "engine", _engine_id(v))),
        "resolution_x": (lambda: r.resolution_x, setter(r, "resolution_x", int)),
        "resolution_y": (lambda: r.resolution_y, setter(r, "resolution_y", int)),
        "resolution_percentage": (
            lambda: r.resolution_percentage,
            setter(r, "resolution_percentage", int),
        ),
        "file_format": (
            lambda: r.image_settings.file_format,
            setter(r.image_settings, "file_format", str),
        ),
        "filepath": (lambda: r.filepath, setter(r, "filepath", str)),
        "film_transparent": (lambda: r.film_transparent, setter(r, "film_transparent", _bool)),
        "frame_start": (lambda: scene.frame_start, setter(scene, "frame_start", int)),
        "frame_end": (lambda: scene.frame_end, setter(scene, "frame_end", int)),
        "camera": (
            lambda: scene.camera.name if scene.camera else "",
            lambda v: setattr(scene, "camera", _camera(v)),
        ),
    }
    if hasattr(scene, "cycles"):
        table["samples"] = (lambda: scene.cycles.samples, setter(scene.cycles, "samples", int))
        table["device"] = (lambda: scene.cycles.device, setter(scene.cycles, "device", str))
    return table


def _bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _camera(name):
    if not name:
        return None
    obj = bpy.context.scene.objects.get(name)
    if obj is None or obj.type != "CAMERA":
        raise ValueError(f"{name!r} is not a camera object")
    return obj


def get_render_settings(params, req):
    return {k: str(get()) for k, (get, _) in _settings().items()}


def set_render_settings(params, req):
    settings = params.get("settings")
    if not isinstance(settings, dict):
        raise invalid("parameter 'settings' must be an object of setting -> value")
    table = _settings()
    unknown = sorted(set(settings) - set(table))
    if unknown:
        raise invalid(f"unknown render settings {unknown}; known: {sorted(table)}")
    for key, value in settings.items():
        if isinstance(value, (dict, list)) or value is None:
            raise invalid(f"setting {key!r} must be a string, number or boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid(f"setting {key!r} must be finite")
        try:
            table[key][1](value)
        except DccError:
            raise
        except (TypeError, ValueError) as exc:
            raise invalid(f"bad value {value!r} for {key!r}: {exc}") from None
    return get_render_settings(params, req)


METHODS = {
    "render.capture_viewport": capture_viewport,
    "render.render_scene": render_scene,
    "render.get_render_settings": get_render_settings,
    "render.set_render_settings": set_render_settings,
}
