#!/usr/bin/env python3
"""A tiny reference adapter for the stagecraft bridge protocol (docs/bridge-protocol.md), standard library only.

It holds an in-memory toy scene (objects with transforms and a hierarchy, armatures with a small
skeleton, motion applied by name) and speaks all four transports:

    python3 toy_adapter.py --stdio                      # embedded: stagecraft starts it
    python3 toy_adapter.py --http 127.0.0.1:9877        # POST /rpc, bearer token
    python3 toy_adapter.py --ws 127.0.0.1:9876          # websocket server (RFC 6455, hand-written)
    python3 toy_adapter.py --ws-connect ws://127.0.0.1:9876   # dial out to a listening stagecraft
    python3 toy_adapter.py --pipe /tmp/toy.sock         # Unix domain socket, one JSON message per line

Add `--token-env NAME` to require the token held in $NAME. Fault injection for tests:
`--hang-method M` (never answers M until cancelled), `--crash-method M` (exits mid-call),
`--garbage-on M` (answers M with a line that is not JSON), `--oversize-on M` (answers M with a
message of `--oversize-bytes`), `--wrong-id-on M` (first answers M under another id),
`--drop-on M` (closes the connection instead of answering), `--progress-on M` (reports progress),
`--bad-result-on M` (answers M with a result of the wrong shape), `--freeze-on M` (never answers M,
and stops answering dcc.ping too: a frozen DCC),
`--scripts` (enables script.execute for Python code: only for trusted, local use).

Requests run one at a time on a single worker thread, the way a DCC runs them on its main thread;
`dcc.ping` and `$/cancel` are handled by the reader, off that thread, so busy and dead differ.
"""

import argparse
import base64
import contextlib
import hashlib
import http.server
import io
import json
import math
import os
import queue
import socket
import struct
import sys
import threading
import time
import zlib

PROTOCOL = "stagecraft-bridge/1"
PREFIX = "@@stagecraft "
OPTS = None
TOKEN = None


class DccError(Exception):
    def __init__(self, code, message, rpc_code=-32000):
        super().__init__(message)
        self.code = code
        self.message = message
        self.rpc_code = rpc_code


def invalid(msg):
    return DccError("INVALID_INPUT", msg, -32602)


# ---- math: 4x4 matrices as row lists, Euler XYZ (R = Rz Ry Rx), quaternions [x, y, z, w] ----

def mat_mul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(4)) for j in range(4)] for i in range(4)]


def euler_to_mat3(deg):
    x, y, z = (math.radians(d) for d in deg)
    cx, sx, cy, sy, cz, sz = math.cos(x), math.sin(x), math.cos(y), math.sin(y), math.cos(z), math.sin(z)
    return [
        [cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz],
        [cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz],
        [-sy, sx * cy, cx * cy],
    ]


def compose(t, r, s):
    m3 = euler_to_mat3(r)
    m = [[m3[i][j] * s[j] for j in range(3)] + [t[i]] for i in range(3)]
    return m + [[0.0, 0.0, 0.0, 1.0]]


def decompose(m):
    t = [m[0][3], m[1][3], m[2][3]]
    cols = [[m[i][j] for i in range(3)] for j in range(3)]
    s = [math.sqrt(sum(c * c for c in col)) for col in cols]
    det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
           + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
    if det < 0:
        s[0] = -s[0]
    r = [[m[i][j] / s[j] if s[j] else 0.0 for j in range(3)] for i in range(3)]
    sy = max(-1.0, min(1.0, -r[2][0]))
    y = math.asin(sy)
    if abs(sy) < 0.999999:
        x = math.atan2(r[2][1], r[2][2])
        z = math.atan2(r[1][0], r[0][0])
    else:
        x = 0.0
        z = math.atan2(-r[0][1], r[1][1])
    rot = [round(math.degrees(a), 6) + 0.0 for a in (x, y, z)]
    return [round(v, 6) + 0.0 for v in t], rot, [round(v, 6) + 0.0 for v in s]


def inverse(m):
    """Inverse of an affine 4x4 (3x3 by cofactors)."""
    a = [row[:3] for row in m[:3]]
    det = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
           + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
    if abs(det) < 1e-12:
        raise DccError("SCENE_ERROR", "a transform above this object has zero scale")
    inv = [[0.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            r = [k for k in range(3) if k != j]
            c = [k for k in range(3) if k != i]
            minor = a[r[0]][c[0]] * a[r[1]][c[1]] - a[r[0]][c[1]] * a[r[1]][c[0]]
            inv[i][j] = (-1) ** (i + j) * minor / det
    t = [m[i][3] for i in range(3)]
    ti = [-sum(inv[i][k] * t[k] for k in range(3)) for i in range(3)]
    return [inv[i] + [ti[i]] for i in range(3)] + [[0.0, 0.0, 0.0, 1.0]]


def q_mul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return [aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz]


def q_rotate(q, v):
    p = q_mul(q_mul(q, [v[0], v[1], v[2], 0.0]), [-q[0], -q[1], -q[2], q[3]])
    return p[:3]


def q_norm(q):
    n = math.sqrt(sum(c * c for c in q))
    return [c / n for c in q] if n > 1e-12 else [0.0, 0.0, 0.0, 1.0]


def f32_decode(arr, what, shape):
    if not isinstance(arr, dict) or arr.get("dtype") != "f32":
        raise invalid(f"{what} must be an F32Array with dtype f32")
    got = arr.get("shape")
    if not isinstance(got, list) or len(got) != len(shape) or any(w is not None and g != w for g, w in zip(got, shape)):
        raise invalid(f"{what}: shape {got} does not match {shape}")
    try:
        raw = base64.b64decode(arr.get("b64", ""), validate=True)
    except ValueError as e:
        raise invalid(f"{what}: bad base64 ({e})")
    count = 1
    for d in got:
        count *= d
    if len(raw) != count * 4:
        raise invalid(f"{what}: {len(raw)} bytes for shape {got}")
    values = struct.unpack(f"<{count}f", raw)
    if any(not math.isfinite(v) for v in values):
        raise invalid(f"{what}: values must be finite")
    return values, got


def bare(name):
    return name.replace("|", ":").split(":")[-1]


def png_bytes(width, height, rgb):
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ---- the toy scene ----

TYPES = ["empty", "cube", "sphere", "camera", "light", "armature"]
IDENTITY = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
# The toy armature: joints with world-aligned rest offsets (metres, Y-up), parents first.
TOY_JOINTS = [("Hips", None, [0.0, 1.0, 0.0]), ("Spine", "Hips", [0.0, 0.3, 0.02]), ("Head", "Spine", [0.0, 0.4, 0.0]),
              ("LeftLeg", "Hips", [0.1, -0.5, 0.0]), ("RightLeg", "Hips", [-0.1, -0.5, 0.0])]


class Scene:
    def __init__(self):
        self.objects = {}  # name -> dict(type, parent, local (4x4, cm), visible, motion)
        self.order = []
        self.selection = []
        self.file_path = None
        self.modified = False
        self.frames = {"start": 1.0, "end": 100.0, "fps": 30.0, "current": 1.0}
        self.render = {"resolution_x": "320", "resolution_y": "240", "engine": "toy"}

    def get(self, name):
        if not isinstance(name, str) or name not in self.objects:
            raise DccError("SCENE_ERROR", f"no object named {name!r}")
        return self.objects[name]

    def unique(self, base):
        if base not in self.objects:
            return base
        i = 1
        while f"{base}.{i:03d}" in self.objects:
            i += 1
        return f"{base}.{i:03d}"

    def world(self, name):
        o = self.get(name)
        return mat_mul(self.world(o["parent"]), o["local"]) if o["parent"] else o["local"]

    def set_world(self, name, m):
        o = self.get(name)
        o["local"] = mat_mul(inverse(self.world(o["parent"])), m) if o["parent"] else m

    def children(self, name):
        return [n for n in self.order if self.objects[n]["parent"] == name]

    def obj(self, name):
        o = self.objects[name]
        long = name
        p = o["parent"]
        while p:
            long = p + "|" + long
            p = self.objects[p]["parent"]
        return {"name": name, "long_name": "|" + long, "object_type": o["type"], "parent": o["parent"],
                "visible": o["visible"], "metadata": {}}

    def is_ancestor(self, anc, name):
        p = self.objects[name]["parent"]
        while p:
            if p == anc:
                return True
            p = self.objects[p]["parent"]
        return False

    def reparent(self, name, parent, keep=True):
        if parent is not None:
            self.get(parent)
            if parent == name or self.is_ancestor(name, parent):
                raise DccError("SCENE_ERROR", f"cannot parent {name!r} under {parent!r}: cycle")
        w = self.world(name)
        self.objects[name]["parent"] = parent
        if keep:
            self.set_world(name, w)


SCENE = Scene()


def vec3(p, key, default=None):
    v = p.get(key, default)
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                                         and math.isfinite(c) for c in v)):
        raise invalid(f"{key} must be three finite numbers")
    return [float(c) for c in v]


def req_str(p, key):
    v = p.get(key)
    if not isinstance(v, str) or not v:
        raise invalid(f"{key} must be a non-empty string")
    return v


def scene_info():
    s = SCENE
    counts = {t: sum(1 for o in s.objects.values() if o["type"] == t) for t in TYPES}
    return {"file_path": s.file_path, "name": os.path.basename(s.file_path or "untitled"), "modified": s.modified,
            "format": "json" if s.file_path else None, "frame_range": [s.frames["start"], s.frames["end"]],
            "current_frame": s.frames["current"], "fps": s.frames["fps"], "up_axis": "Y", "units": "cm",
            "statistics": {"object_count": len(s.objects), "vertex_count": 8 * counts["cube"] + 382 * counts["sphere"],
                           "polygon_count": 6 * counts["cube"] + 360 * counts["sphere"], "material_count": 0,
                           "texture_count": 0, "light_count": counts["light"], "camera_count": counts["camera"]},
            "metadata": {"adapter": "toy"}}


def armature(name):
    o = SCENE.get(name)
    if o["type"] != "armature":
        raise DccError("SCENE_ERROR", f"{name!r} is not an armature")
    return o


def skeleton(name):
    o = armature(name)
    base = [c / 100.0 for c in decompose(SCENE.world(name))[0]]
    joints = []
    for j, parent, off in TOY_JOINTS:
        rest = [base[i] + off[i] for i in range(3)] if parent is None else off
        joints.append({"name": f"{name}:{j}", "parent": f"{name}:{parent}" if parent else None,
                       "rest_translation": rest, "rest_rotation": [0.0, 0.0, 0.0, 1.0]})
    return joints, o


def sample(name, frames, wanted):
    joints, o = skeleton(name)
    m = o.get("motion")
    out = {}
    for f in frames:
        if not isinstance(f, (int, float)) or not math.isfinite(f):
            raise invalid("frames must be finite numbers")
        rot, pos = {}, {}
        idx = None
        if m:
            idx = min(max(int(round(f - m["start"])), 0), m["frames"] - 1)
        for j in joints:
            k = m["match"].get(j["name"]) if m else None
            q = list(m["rots"][idx][k]) if k is not None else [0.0, 0.0, 0.0, 1.0]
            if j["parent"] is None:
                rot[j["name"]] = q_norm(q)
                pos[j["name"]] = list(m["root"][idx]) if (m and k == 0) else j["rest_translation"]
            else:
                pr = rot[j["parent"]]
                off = q_rotate(pr, j["rest_translation"])
                pos[j["name"]] = [pos[j["parent"]][i] + off[i] for i in range(3)]
                rot[j["name"]] = q_mul(pr, q_norm(q))
        for j in joints:
            if wanted is None or j["name"] in wanted:
                out.setdefault(wanted.get(j["name"], j["name"]) if wanted else j["name"], []).append(pos[j["name"]])
    return out


def apply_motion(p):
    name = req_str(p, "armature")
    joints, o = skeleton(name)
    names = p.get("joint_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise invalid("joint_names must be a non-empty list of names")
    fps = p.get("fps")
    if not isinstance(fps, (int, float)) or not fps > 0:
        raise invalid("fps must be above 0")
    values, shape = f32_decode(p.get("rotations"), "rotations", [None, len(names), 4])
    frames = shape[0]
    root, _ = f32_decode(p.get("root_positions"), "root_positions", [frames, 3])
    rots = [[values[(f * len(names) + k) * 4:(f * len(names) + k) * 4 + 4] for k in range(len(names))]
            for f in range(frames)]
    roots = [list(root[f * 3:f * 3 + 3]) for f in range(frames)]
    if p.get("in_place"):
        roots = [[roots[0][0], r[1], roots[0][2]] for r in roots]
    match = {}
    for j in joints:
        for k, n in enumerate(names):
            if k not in match.values() and (n == j["name"] or bare(n) == bare(j["name"])):
                match[j["name"]] = k
                break
    start = p.get("start_frame", 1)
    action = p.get("action_name") or f"{name}_motion"
    o["motion"] = {"rots": rots, "root": roots, "frames": frames, "start": start, "match": match, "action": action}
    SCENE.frames["fps"] = float(fps)
    SCENE.frames["end"] = max(SCENE.frames["end"], float(start + frames - 1))
    SCENE.modified = True
    return {"action": action, "frame_start": start, "frame_end": start + frames - 1,
            "joints_applied": [names[k] for k in sorted(match.values())],
            "joints_skipped": [n for k, n in enumerate(names) if k not in match.values()]}


def run_script(p):
    code = p.get("code")
    if p.get("path"):
        with open(p["path"], encoding="utf-8") as fh:
            code = fh.read()
    if p.get("language") != "python" or not isinstance(code, str):
        raise invalid("the toy runs python code or a python file")
    out = io.StringIO()
    env = {"args": p.get("args") or {}, "result": None}
    started = time.time()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, p.get("path") or "<script>", "exec"), env)  # noqa: S102 - opt-in with --scripts
        return {"success": True, "execution_time_ms": (time.time() - started) * 1000, "output": out.getvalue(),
                "result": env.get("result"), "context": {}}
    except Exception as e:  # the script's own failure is a result, not a protocol error
        return {"success": False, "execution_time_ms": (time.time() - started) * 1000, "output": out.getvalue(),
                "error": f"{type(e).__name__}: {e}", "context": {}}


def handle(method, p):
    s = SCENE
    if method == "scene.get_scene_info":
        return scene_info()
    if method == "scene.new_scene":
        globals()["SCENE"] = Scene()
        return scene_info()
    if method == "scene.list_objects":
        t = p.get("object_type")
        return [s.obj(n) for n in s.order if t is None or s.objects[n]["type"] == t]
    if method == "scene.create_object":
        t = p.get("object_type")
        if t not in TYPES:
            raise invalid(f"object_type must be one of {TYPES}")
        name = s.unique(req_str(p, "name"))
        parent = p.get("parent")
        if parent is not None:
            s.get(parent)
        tr = vec3(p, "translate", [0.0, 0.0, 0.0])
        s.objects[name] = {"type": t, "parent": parent, "local": IDENTITY, "visible": True}
        s.order.append(name)
        s.set_world(name, compose(tr, [0, 0, 0], [1, 1, 1]))
        s.modified = True
        return s.obj(name)
    if method == "scene.delete_objects":
        names = p.get("object_names") or []
        for n in names:
            s.get(n)
        for n in names:
            for c in s.children(n):
                s.reparent(c, s.objects[n]["parent"])
            del s.objects[n]
            s.order.remove(n)
            if n in s.selection:
                s.selection.remove(n)
        s.modified = True
        return names
    if method == "scene.get_selection":
        return list(s.selection)
    if method == "scene.set_selection":
        names = p.get("object_names") or []
        for n in names:
            s.get(n)
        s.selection = list(dict.fromkeys(names))
        return list(s.selection)
    if method == "scene.select_by_type":
        s.selection = [n for n in s.order if s.objects[n]["type"] == p.get("object_type")]
        return list(s.selection)
    if method == "scene.set_visibility":
        s.get(req_str(p, "object_name"))["visible"] = bool(p.get("visible"))
        return bool(p.get("visible"))
    if method in ("scene.save_file", "scene.export_file", "scene.open_file"):
        path = p.get("file_path") or s.file_path
        if not path:
            raise DccError("SCENE_ERROR", "no file path")
        if method == "scene.open_file":
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, ValueError) as e:
                raise DccError("SCENE_ERROR", f"cannot open {path}: {e}")
            new = Scene()
            new.objects, new.order, new.file_path = data["objects"], data["order"], path
            globals()["SCENE"] = new
            return scene_info()
        if method == "scene.export_file" and p.get("format") != "json":
            raise DccError("UNSUPPORTED", "the toy exports json only")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"objects": {k: {kk: vv for kk, vv in v.items() if kk != "motion"} for k, v in s.objects.items()},
                       "order": s.order}, fh)
        if method == "scene.save_file":
            s.file_path, s.modified = path, False
        return path
    if method == "transform.get_transform":
        t, r, sc = decompose(s.world(req_str(p, "object_name")))
        return {"translate": t, "rotate": r, "scale": sc}
    if method == "transform.set_transform":
        name = req_str(p, "object_name")
        t, r, sc = decompose(s.world(name))
        t = vec3(p, "translate") or t
        r = vec3(p, "rotate") or r
        sc = vec3(p, "scale") or sc
        if any(abs(c) < 1e-9 for c in sc):
            raise invalid("scale must not be zero")
        s.set_world(name, compose(t, r, sc))
        s.modified = True
        t, r, sc = decompose(s.world(name))
        return {"translate": t, "rotate": r, "scale": sc}
    if method == "transform.get_bounding_box":
        name = req_str(p, "object_name")
        o = s.get(name)
        m = s.world(name)
        half = 100.0 if o["type"] in ("cube", "sphere") else 0.0
        pts = [[sum(m[i][k] * c[k] for k in range(3)) + m[i][3] for i in range(3)]
               for c in ([x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half))]
        return {"min": [min(q[i] for q in pts) for i in range(3)], "max": [max(q[i] for q in pts) for i in range(3)]}
    if method == "transform.rename_object":
        old, new = req_str(p, "old_name"), req_str(p, "new_name")
        s.get(old)
        if old == new:
            return old
        new = s.unique(new)
        s.objects[new] = s.objects.pop(old)
        s.order[s.order.index(old)] = new
        for other in s.objects.values():
            if other["parent"] == old:
                other["parent"] = new
        s.selection = [new if n == old else n for n in s.selection]
        return new
    if method == "hierarchy.get_hierarchy":
        def tree(n):
            return {"object": s.obj(n), "children": [tree(c) for c in s.children(n)]}
        return [tree(n) for n in s.order if s.objects[n]["parent"] is None]
    if method == "hierarchy.get_children":
        name = p.get("object_name")
        if name is not None:
            s.get(name)
        return [s.obj(n) for n in s.children(name)] if name else [s.obj(n) for n in s.order if not s.objects[n]["parent"]]
    if method == "hierarchy.get_parent":
        return s.get(req_str(p, "object_name"))["parent"]
    if method == "hierarchy.reparent":
        name = req_str(p, "object_name")
        s.reparent(name, p.get("new_parent"), p.get("preserve_world_transform", True))
        return s.obj(name)
    if method == "hierarchy.group_objects":
        names = p.get("object_names") or []
        for n in names:
            s.get(n)
        group = s.unique(req_str(p, "group_name"))
        parent = p.get("parent")
        if parent is not None:
            s.get(parent)
        s.objects[group] = {"type": "empty", "parent": parent, "local": IDENTITY, "visible": True}
        s.order.append(group)
        for n in names:
            s.reparent(n, group)
        return s.obj(group)
    if method == "hierarchy.ungroup":
        group = req_str(p, "group_name")
        g = s.get(group)
        kids = s.children(group)
        for c in kids:
            s.reparent(c, g["parent"])
        del s.objects[group]
        s.order.remove(group)
        return kids
    if method == "render.capture_viewport":
        w, h = int(p.get("width") or 640), int(p.get("height") or 480)
        if not (0 < w <= 4096 and 0 < h <= 4096):
            raise invalid("width and height must be 1..4096")
        if (p.get("format") or "png").lower() != "png":
            raise DccError("UNSUPPORTED", "the toy adapter captures PNG only")
        return {"data_b64": base64.b64encode(png_bytes(w, h, (60, 70, 90))).decode(), "width": w, "height": h,
                "format": "png", "viewport": "toy"}
    if method == "render.render_scene":
        w = int(p.get("width") or s.render["resolution_x"])
        h = int(p.get("height") or s.render["resolution_y"])
        with open(req_str(p, "output_path"), "wb") as fh:
            fh.write(png_bytes(w, h, (60, 70, 90)))
        return {"file_path": p["output_path"], "width": w, "height": h, "format": "png", "render_time_ms": 1.0}
    if method == "render.get_render_settings":
        return dict(s.render)
    if method == "render.set_render_settings":
        for k, v in (p.get("settings") or {}).items():
            if k not in s.render:
                raise invalid(f"unknown render setting {k!r}")
            s.render[k] = str(v)
        return dict(s.render)
    if method == "script.execute" and OPTS.scripts:
        return run_script(p)
    if method == "script.supported_languages" and OPTS.scripts:
        return ["python"]
    if method == "animation.list_armatures":
        return [{"name": n, "joints": len(TOY_JOINTS), "action": (s.objects[n].get("motion") or {}).get("action")}
                for n in s.order if s.objects[n]["type"] == "armature"]
    if method == "animation.get_skeleton":
        return {"joints": skeleton(req_str(p, "armature"))[0], "coordinate_system": "right_handed_y_up",
                "units": "meters"}
    if method == "animation.apply_motion":
        return apply_motion(p)
    if method == "animation.sample_pose":
        names = p.get("joint_names")
        wanted = None
        if names is not None:
            joints, _ = skeleton(req_str(p, "armature"))
            wanted = {}
            for n in names:
                hit = [j["name"] for j in joints if j["name"] == n or bare(j["name"]) == bare(n)]
                if not hit:
                    raise DccError("SCENE_ERROR", f"no joint named {n!r}")
                wanted[hit[0]] = n
        return sample(req_str(p, "armature"), p.get("frames") or [], wanted)
    if method == "animation.get_frame_range":
        return dict(s.frames)
    if method == "animation.set_frame_range":
        new = dict(s.frames)
        for k in ("start", "end", "fps", "current"):
            v = p.get(k)
            if v is not None:
                if not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise invalid(f"{k} must be a finite number")
                new[k] = float(v)
        if new["start"] > new["end"]:
            raise invalid(f"start {new['start']} is after end {new['end']}")
        if new["fps"] <= 0:
            raise invalid("fps must be positive")
        s.frames = new
        return dict(s.frames)
    raise DccError("UNSUPPORTED", f"the toy adapter does not implement {method}", -32601)


def methods():
    ms = ["dcc.hello", "dcc.ping", "scene.get_scene_info", "scene.list_objects", "scene.create_object",
          "scene.delete_objects", "scene.get_selection", "scene.set_selection", "scene.select_by_type",
          "scene.set_visibility", "scene.new_scene", "scene.open_file", "scene.save_file", "scene.export_file",
          "transform.get_transform", "transform.set_transform", "transform.get_bounding_box",
          "transform.rename_object", "hierarchy.get_hierarchy", "hierarchy.get_children", "hierarchy.get_parent",
          "hierarchy.group_objects", "hierarchy.ungroup", "hierarchy.reparent", "render.capture_viewport",
          "render.render_scene", "render.get_render_settings", "render.set_render_settings",
          "animation.list_armatures", "animation.get_skeleton", "animation.apply_motion", "animation.sample_pose",
          "animation.get_frame_range", "animation.set_frame_range"]
    if OPTS.scripts:
        ms += ["script.execute", "script.supported_languages"]
    return ms


def hello_result(kind):
    caps = {"script_languages": ["python"] if OPTS.scripts else [], "scene_info": True, "snapshot": False,
            "undo_redo": False, "progress_reporting": True, "file_operations": True, "selection": True,
            "scene_manager": True, "transform": True, "render_capture": True, "hierarchy": True, "animation": True,
            "has_embedded_python": OPTS.scripts, "bridge_kind": kind, "extensions": {}}
    info = {"dcc_type": "toy", "version": "1.0", "platform": sys.platform, "pid": os.getpid(),
            "python_version": sys.version.split()[0], "metadata": {}}
    return {"protocol": PROTOCOL, "info": info, "capabilities": caps, "methods": methods()}


# ---- sessions: one per connection; requests go to the single worker ----

WORK = queue.Queue()
FROZEN_UNTIL = [0.0]  # set by --freeze-on: until then dcc.ping goes unanswered


class Session:
    """One connection. `send` writes one JSON message (the transport frames it)."""

    def __init__(self, send, close, kind, authed=False):
        self.send_raw = send
        self.close = close
        self.kind = kind
        self.authed = authed or TOKEN is None
        self.lock = threading.Lock()
        self.cancelled = set()

    def send(self, obj):
        data = obj if isinstance(obj, str) else json.dumps(obj)
        with self.lock:
            try:
                self.send_raw(data)
            except OSError:
                pass

    def answer_error(self, rid, e):
        self.send({"jsonrpc": "2.0", "id": rid, "error": {"code": e.rpc_code, "message": e.message,
                                                           "data": {"code": e.code, "recoverable": e.code != "PERMISSION_DENIED"}}})

    def on_message(self, text):
        """Called by the transport's reader thread."""
        try:
            msg = json.loads(text)
        except ValueError:
            self.send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        method, rid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
        if method == "$/cancel":
            self.cancelled.add(params.get("id"))
            return
        if rid is None:
            return
        if method == "dcc.hello":
            if TOKEN is not None and params.get("token") != TOKEN and not self.authed:
                self.answer_error(rid, DccError("PERMISSION_DENIED", "wrong or missing token"))
                time.sleep(0.05)
                self.close()
                return
            self.authed = True
            self.send({"jsonrpc": "2.0", "method": "$/log", "params": {"level": "info", "message": "toy adapter ready"}})
            self.send({"jsonrpc": "2.0", "id": rid, "result": hello_result(self.kind)})
            return
        if not self.authed:
            self.answer_error(rid, DccError("PERMISSION_DENIED", "say dcc.hello with the token first"))
            return
        if method == "dcc.ping":
            if time.time() < FROZEN_UNTIL[0]:
                return  # frozen: not even the ping is answered
            self.send({"jsonrpc": "2.0", "id": rid, "result": {"busy": not WORK.empty()}})
            return
        if method == OPTS.hang_method:
            return  # never answered: stagecraft times out and sends $/cancel
        if method == OPTS.freeze_on:
            FROZEN_UNTIL[0] = time.time() + OPTS.hang_seconds
            return
        WORK.put((self, rid, method, params))

    def run(self, rid, method, params):
        """Called on the worker thread."""
        if rid in self.cancelled:
            return
        if method == OPTS.crash_method:
            os._exit(3)
        if method == OPTS.drop_on:
            self.close()
            return
        if method == OPTS.garbage_on:
            self.send("this is not JSON {")
            return
        if method == OPTS.oversize_on:
            self.send('{"jsonrpc":"2.0","id":%d,"result":"%s"}' % (rid, "x" * OPTS.oversize_bytes))
            return
        if method == OPTS.bad_result_on:
            self.send({"jsonrpc": "2.0", "id": rid, "result": {"surprise": True}})
            return
        if method == OPTS.wrong_id_on:
            self.send({"jsonrpc": "2.0", "id": rid + 100000, "result": "wrong"})
        if method == OPTS.progress_on:
            for i in range(3):
                self.send({"jsonrpc": "2.0", "method": "$/progress",
                           "params": {"id": rid, "progress": i + 1, "total": 3, "message": f"step {i + 1}"}})
        try:
            result = handle(method, params)
            self.send({"jsonrpc": "2.0", "id": rid, "result": result})
        except DccError as e:
            self.answer_error(rid, e)
        except (KeyError, TypeError, ValueError) as e:
            self.answer_error(rid, DccError("INVALID_INPUT", f"{type(e).__name__}: {e}", -32602))
        except OSError as e:
            self.answer_error(rid, DccError("SCENE_ERROR", str(e)))


def worker():
    while True:
        session, rid, method, params = WORK.get()
        session.run(rid, method, params)


# ---- transports ----

def serve_stdio():
    out = sys.stdout
    print("toy adapter: starting (this line is DCC noise, not protocol)", flush=True)

    def send(data):
        out.write(PREFIX + data + "\n")
        out.flush()

    session = Session(send, lambda: os._exit(0), "embedded")
    for line in sys.stdin:
        line = line.strip()
        if line:
            session.on_message(line)


def read_lines(sock, on_line):
    buf = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                on_line(line.decode("utf-8", "replace"))


def serve_pipe(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is created 0600: only this user may connect
    try:
        srv.bind(path)
    finally:
        os.umask(old)
    srv.listen(4)
    print(f"toy adapter: listening on {path}", file=sys.stderr, flush=True)
    while True:
        conn, _ = srv.accept()

        def closer(c=conn):
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

        session = Session(lambda d, c=conn: c.sendall(d.encode() + b"\n"), closer, "named_pipe")
        threading.Thread(target=read_lines, args=(conn, session.on_message), daemon=True).start()


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """RFC 6455 text frames over a socket; `client` frames are masked."""

    def __init__(self, sock, client):
        self.sock, self.client = sock, client
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        mask_bit = 0x80 if self.client else 0
        if n < 126:
            head += bytes([mask_bit | n])
        elif n < 65536:
            head += bytes([mask_bit | 126]) + struct.pack(">H", n)
        else:
            head += bytes([mask_bit | 127]) + struct.pack(">Q", n)
        if self.client:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def send_text(self, text):
        self.send_frame(1, text.encode())

    def recv_text(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            key = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if key:
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            if opcode == 8:
                with contextlib.suppress(OSError):
                    self.send_frame(8, b"")
                return None
            if opcode == 9:
                self.send_frame(10, payload)
                continue
            if opcode in (0, 1, 2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode("utf-8", "replace")


def ws_session(ws, sock, kind):
    def closer():
        with contextlib.suppress(OSError):
            ws.send_frame(8, b"")
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    session = Session(ws.send_text, closer, kind)
    try:
        while True:
            text = ws.recv_text()
            if text is None:
                break
            session.on_message(text)
    except (ConnectionError, OSError):
        pass
    closer()


def announce(port):
    """With --port-file, tells whoever started us which port we got (useful with port 0)."""
    if OPTS.port_file:
        tmp = OPTS.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(str(port))
        os.replace(tmp, OPTS.port_file)


def listen_address(addr):
    """HOST:PORT to listen on; an empty host is loopback, never every interface."""
    host, port = addr.rsplit(":", 1)
    return host.strip("[]") or "127.0.0.1", int(port)


def serve_ws(addr):
    host, port = listen_address(addr)
    srv = socket.create_server((host, int(port)))
    announce(srv.getsockname()[1])
    print(f"toy adapter: websocket on ws://{host}:{srv.getsockname()[1]}", file=sys.stderr, flush=True)
    while True:
        conn, _ = srv.accept()

        def handshake(c=conn):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    c.close()
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            key = None
            origin = False
            for line in head.decode("latin-1").split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "sec-websocket-key":
                    key = v.strip()
                origin = origin or k.strip().lower() == "origin"
            if origin:  # a web page (stagecraft never sends Origin)
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                c.close()
                return
            if key is None:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                c.close()
                return
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            ws = WebSocket(c, client=False)
            ws.buf = rest
            ws_session(ws, c, "websocket")

        threading.Thread(target=handshake, daemon=True).start()


def dial_ws(url):
    """Dial out to a stagecraft that listens (bridge websocket with listen = true); redial when dropped."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    while True:
        try:
            sock = socket.create_connection((host, int(port)))
        except OSError:
            time.sleep(0.2)
            continue
        key = base64.b64encode(os.urandom(16)).decode()
        # A listening stagecraft with a token wants to see it before it says hello.
        auth = f"Authorization: Bearer {TOKEN}\r\n" if TOKEN is not None else ""
        sock.sendall((f"GET / HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        if b" 101 " not in data.split(b"\r\n", 1)[0]:
            sock.close()
            time.sleep(0.2)
            continue
        ws = WebSocket(sock, client=True)
        ws.buf = data.split(b"\r\n\r\n", 1)[1]
        ws_session(ws, sock, "websocket")
        time.sleep(0.1)


def serve_http(addr):
    host, port = listen_address(addr)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            host = self.headers.get("Host", "").rsplit(":", 1)[0].strip("[]")
            if self.headers.get("Origin") is not None or not (host in ("localhost", "::1") or host.startswith("127.")):
                # A web page (simple POST or DNS rebinding): stagecraft sends no Origin and a loopback Host.
                self.reply(403, {"jsonrpc": "2.0", "id": None, "error": {
                    "code": -32000, "message": "requests from web pages are refused",
                    "data": {"code": "PERMISSION_DENIED", "recoverable": False}}})
                return
            if TOKEN is not None and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"jsonrpc": "2.0", "id": None, "error": {
                    "code": -32000, "message": "wrong or missing token",
                    "data": {"code": "PERMISSION_DENIED", "recoverable": False}}})
                return
            try:
                rid = json.loads(body).get("id")
            except (ValueError, AttributeError):
                self.reply(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
                return
            done = threading.Event()
            answers = []

            def send(data):
                try:
                    msg = json.loads(data)
                except ValueError:
                    msg = None  # garbage goes out as it is
                if isinstance(msg, dict) and ("method" in msg or msg.get("id") != rid):
                    return  # no notifications over http; a wrong-id answer is not this request's
                answers.append(data)
                done.set()

            def close():
                answers.append(None)
                done.set()

            session = Session(send, close, "http", authed=True)
            session.on_message(body.decode())
            done.wait(OPTS.hang_seconds)
            if not answers or answers[-1] is None:
                self.close_connection = True
                return
            raw = answers[-1]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw.encode())))
            self.end_headers()
            self.wfile.write(raw.encode())

        def reply(self, status, obj):
            raw = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    announce(srv.server_address[1])
    srv.daemon_threads = True
    print(f"toy adapter: http on http://{addr}/rpc", file=sys.stderr, flush=True)
    srv.serve_forever()


def main():
    global OPTS, TOKEN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true")
    mode.add_argument("--http", metavar="HOST:PORT")
    mode.add_argument("--ws", metavar="HOST:PORT")
    mode.add_argument("--ws-connect", metavar="URL")
    mode.add_argument("--pipe", metavar="PATH")
    ap.add_argument("--token-env", metavar="NAME")
    ap.add_argument("--scripts", action="store_true")
    for opt in ("hang-method", "crash-method", "garbage-on", "oversize-on", "wrong-id-on", "drop-on", "progress-on",
                "bad-result-on", "freeze-on"):
        ap.add_argument("--" + opt, metavar="METHOD")
    ap.add_argument("--port-file", metavar="PATH", help="write the listening port here (for --ws/--http with port 0)")
    ap.add_argument("--oversize-bytes", type=int, default=2 * 1024 * 1024)
    ap.add_argument("--hang-seconds", type=float, default=60.0)
    OPTS = ap.parse_args()
    if OPTS.token_env:
        TOKEN = os.environ.get(OPTS.token_env)
        if TOKEN is None:
            ap.error(f"--token-env {OPTS.token_env}: the variable is not set")
    threading.Thread(target=worker, daemon=True).start()
    if OPTS.stdio:
        serve_stdio()
    elif OPTS.http:
        serve_http(OPTS.http)
    elif OPTS.ws:
        serve_ws(OPTS.ws)
    elif OPTS.ws_connect:
        dial_ws(OPTS.ws_connect)
    else:
        serve_pipe(OPTS.pipe)


if __name__ == "__main__":
    main()
