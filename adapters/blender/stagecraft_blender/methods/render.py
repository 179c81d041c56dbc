"""render.*: renders (viewport capture is render-based so it works in background mode)."""

import base64
import ctypes.util
import math
import os
import tempfile
import time
from array import array

import bpy
from mathutils import Matrix, Vector

from ..protocol import DccError, check_number, get_int, get_str, get_str_list, invalid, scene_error
from .common import find_object

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
        self.frame = scene.frame_current
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
        self.remove_temp_objects()
        if self.scene.frame_current != self.frame:
            self.scene.frame_set(self.frame)
        return False

    def remove_temp_objects(self):
        for obj in self.temp_objects:
            mesh, materials = obj.data, [m for m in obj.data.materials if m]
            bpy.data.objects.remove(obj, do_unlink=True)
            bpy.data.meshes.remove(mesh)
            for material in materials:
                bpy.data.materials.remove(material)
        self.temp_objects = []


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


# Where framed shots look from (from the subject toward the eye) and which way is up, in Blender's
# axes (Z-up; a character faces -Y, the bridge's +Z): docs/bridge-protocol.md#methods.
_VIEWS = {
    "current": ((0.45, -1.0, 0.45), (0.0, 0.0, 1.0)),  # three-quarter, front-left-above
    "front": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "side": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
}
_FRAMED_ANGLE = 0.7  # vertical field of view of framed shots, radians
_FRAMED_MARGIN = 1.1  # the points fill about 1/1.1 of the picture's tighter side
_FRAMED_TYPES = ("MESH", "ARMATURE", "CURVE", "FONT", "EMPTY")


def _focus_objects(names):
    """The objects a focus on `names` must fit: each with its children, and for an armature the
    meshes it deforms (they need not be its children)."""
    chosen = []
    for name in names:
        obj = find_object(name, "focus")
        chosen += [obj, *obj.children_recursive]
        if obj.type == "ARMATURE":
            chosen += [
                o
                for o in bpy.context.scene.objects
                if any(m.type == "ARMATURE" and m.object == obj for m in getattr(o, "modifiers", []))
            ]
    return list(dict.fromkeys(chosen))


def _points_on(objects, frames):
    """World points of `objects` (None: everything visible) posed on each frame: bone heads and
    tails of armatures, evaluated bounding boxes of the rest."""
    scene = bpy.context.scene
    if objects is None:
        objects = [o for o in scene.objects if o.type in _FRAMED_TYPES and o.visible_get()]
    points = []
    for frame in frames:
        if scene.frame_current != frame:
            scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        for obj in objects:
            evaluated = obj.evaluated_get(depsgraph)
            world = evaluated.matrix_world
            if obj.type == "ARMATURE" and evaluated.pose is not None:
                for pb in evaluated.pose.bones:
                    points += [world @ pb.head, world @ pb.tail]
            elif obj.type == "EMPTY":
                points.append(world.translation.copy())
            else:
                points += [world @ Vector(c) for c in evaluated.bound_box]
    return points


def _framed_camera(saved, points, view, width, height):
    """A temporary camera looking from `view` that fits every point: it backs off until the
    points' extent across the picture fits the field of view, plus the margin, in front of the
    nearest point."""
    back_dir, up_dir = _VIEWS[view]
    back = Vector(back_dir).normalized()
    right = Vector(up_dir).cross(back).normalized()
    up = back.cross(right)
    if not points:
        points = [Vector((-1.0, -1.0, -1.0)), Vector((1.0, 1.0, 1.0))]
    lo = Vector([min(p[i] for p in points) for i in range(3)])
    hi = Vector([max(p[i] for p in points) for i in range(3)])
    center = (lo + hi) / 2

    def extent(axis):
        return max(abs((p - center).dot(axis)) for p in points)

    # At least 10 cm across, so that a lone point still gets a sane view.
    half_right, half_up, half_depth = max(extent(right), 0.1), max(extent(up), 0.1), extent(back)
    tan = math.tan(_FRAMED_ANGLE / 2)
    aspect = width / max(height, 1)
    distance = max(half_up / tan, half_right / (tan * aspect)) * _FRAMED_MARGIN + half_depth
    cam_data = bpy.data.cameras.new("stagecraft_capture")
    cam_data.sensor_fit = "VERTICAL"
    cam_data.angle_y = _FRAMED_ANGLE
    cam_data.clip_start = max(0.01, distance - 2 * half_depth - 0.1)
    cam_data.clip_end = distance + 2 * half_depth + 100.0
    cam = bpy.data.objects.new("stagecraft_capture", cam_data)
    saved.scene.collection.objects.link(cam)
    saved.temp_camera = cam
    # A camera looks down its local -Z with +Y up: its axes are (right, up, back).
    cam.matrix_world = Matrix.Translation(center + back * distance) @ Matrix(
        (right, up, back)
    ).transposed().to_4x4()
    saved.scene.camera = cam
    return cam


def _auto_camera(saved, width, height):
    """A temporary camera framing everything visible, looking from front-left-above."""
    points = _points_on(None, [saved.scene.frame_current])
    return _framed_camera(saved, points, "current", width, height)


def _choose_camera(saved, params, frames, width, height):
    """The camera of a capture: a camera object for `view: camera` (or `current` with no focus),
    else a temporary one framing the focus (or everything visible) over all frames."""
    scene = saved.scene
    view = get_str(params, "view") or "current"
    if view not in (*_VIEWS, "camera"):
        raise invalid(f"view {view!r} is not one of current, front, side, top, camera")
    viewport = get_str(params, "viewport")
    focus = get_str_list(params, "focus", required=False)
    camera = None
    if viewport:
        camera = scene.objects.get(viewport)
        if camera is None or camera.type != "CAMERA":
            raise scene_error(f"viewport {viewport!r} is not a camera in the scene")
    elif view == "camera" or not focus:
        camera = scene.camera
    if view == "camera" or (view == "current" and not focus and camera is not None):
        if camera is None:
            raise scene_error("view camera needs a camera: pass viewport or give the scene a camera")
        scene.camera = camera
        return camera.name
    objects = _focus_objects(focus) if focus else None
    _framed_camera(saved, _points_on(objects, frames), view, width, height)
    return "auto"


def _frames(params):
    frames = params.get("frames")
    if frames is None:
        return None
    if not isinstance(frames, list) or not 1 <= len(frames) <= 64:
        raise invalid("parameter 'frames' must be an array of 1 to 64 frame numbers")
    return [int(round(check_number(f, "frames"))) for f in frames]


def _grid(count, width, height):
    """Columns, rows and cell size of a contact sheet of `count` cells."""
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_w, cell_h = width // columns, height // rows
    if cell_w < 16 or cell_h < 16:
        raise invalid(
            f"{width}x{height} is too small for {count} frames (cells of {cell_w}x{cell_h})"
        )
    return columns, rows, cell_w, cell_h


def _contact_sheet(cells, columns, cell_w, cell_h, width, height, path, file_format):
    """Writes the cell images (files, in order) side by side, left to right and top to bottom,
    into one image at `path`. Blender's image rows run bottom-up."""
    sheet = None
    for i, cell_path in enumerate(cells):
        image = bpy.data.images.load(cell_path)
        try:
            pixels = array("f", [0.0]) * (cell_w * cell_h * 4)
            image.pixels.foreach_get(pixels)
        finally:
            bpy.data.images.remove(image)
        if sheet is None:
            # Cells left over in the last row show the first cell's top-left (background) pixel.
            top_left = (cell_h - 1) * cell_w * 4
            sheet = array("f", pixels[top_left : top_left + 4]) * (width * height)
        column, row = i % columns, i // columns
        x0, y0 = column * cell_w, height - (row + 1) * cell_h
        for y in range(cell_h):
            src = y * cell_w * 4
            dst = ((y0 + y) * width + x0) * 4
            sheet[dst : dst + cell_w * 4] = pixels[src : src + cell_w * 4]
    image = bpy.data.images.new("stagecraft_sheet", width, height, alpha=True)
    try:
        image.pixels.foreach_set(sheet)
        image.filepath_raw = path
        image.file_format = file_format
        image.save()
    finally:
        bpy.data.images.remove(image)


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
    frames = _frames(params)
    shown = frames or [scene.frame_current]
    columns, _, cell_w, cell_h = _grid(len(shown), width, height)
    with _Saved(scene) as saved, tempfile.TemporaryDirectory(prefix="stagecraft-") as tmp:
        viewport = _choose_camera(saved, params, shown, cell_w, cell_h)
        r = scene.render
        if _gl_available():
            r.engine = "BLENDER_WORKBENCH"
        else:
            r.engine = "CYCLES"
            scene.cycles.samples = 8
        r.resolution_x, r.resolution_y, r.resolution_percentage = cell_w, cell_h, 100
        r.use_file_extension = False
        r.image_settings.file_format = _FORMATS[ext] if len(shown) == 1 else "PNG"
        cells = []
        for i, frame in enumerate(shown):
            if scene.frame_current != frame:
                scene.frame_set(frame)
            # Bones are drawn as a temporary mesh in the pose of this frame.
            saved.remove_temp_objects()
            _bone_sticks(saved)
            r.filepath = os.path.join(tmp, f"cell{i}" + (ext if len(shown) == 1 else ".png"))
            _render_to(r.filepath, req)
            cells.append(r.filepath)
        path = cells[0]
        if len(shown) > 1:
            path = os.path.join(tmp, "sheet" + ext)
            _contact_sheet(cells, columns, cell_w, cell_h, width, height, path, _FORMATS[ext])
        with open(path, "rb") as f:
            data = f.read()
    result = {
        "data_b64": base64.b64encode(data).decode("ascii"),
        "width": width,
        "height": height,
        "format": "png" if fmt == "png" else "jpeg",
        "viewport": viewport,
    }
    if frames is not None:
        result["frames"] = frames
    return result


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
