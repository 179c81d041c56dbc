"""Benchmark: animation.apply_motion (bulk F-curve writes) vs per-key keyframe_insert.

    $BPY_PYTHON benches/blender_apply_motion.py [--joints 30] [--frames 1800] [--no-per-key]

Runs inside the bpy module (scripts/install_blender.sh prints BPY_PYTHON_BIN). Three numbers,
one JSON line on stdout:
  bridge_ms   apply_motion through the embedded bridge (JSON + base64 + dispatch + keys),
              measured from a client in the same process over an in-memory connection
  direct_ms   the apply_motion method alone
  per_key_ms  the naive way: set each pose bone, keyframe_insert, for every frame
The per-key result is also checked against the bulk one (same pose at a few frames).
"""

import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "adapters", "blender"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "blender"))

import bpy  # noqa: E402
from bridge_client import f32  # noqa: E402
from mathutils import Quaternion, Vector  # noqa: E402
from stagecraft_blender.server import Connection, Server  # noqa: E402


class _Loopback(Connection):
    """Answers land in a list: measures the bridge without a socket or a second process."""

    def __init__(self, server):
        super().__init__(server, "bench")
        self.authenticated = True
        self.lines = []

    def _write(self, line):
        self.lines.append(line)


def build_rig(joints):
    bpy.ops.wm.read_homefile(use_empty=True)
    arm = bpy.data.armatures.new("BenchRig")
    obj = bpy.data.objects.new("BenchRig", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rng = random.Random(1)
    parent = None
    for j in range(joints):
        eb = arm.edit_bones.new(f"J{j:02d}")
        base = parent.tail if parent else (0.0, 0.0, 1.0)
        eb.head = base
        eb.tail = (base[0] + rng.uniform(-0.05, 0.05), base[1], base[2] + 0.1)
        eb.roll = rng.uniform(-math.pi, math.pi)
        if parent is not None and j % 5:
            eb.parent = parent  # a few short chains under the root, like limbs
        elif parent is not None:
            eb.parent = arm.edit_bones["J00"]
        parent = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.rotation_euler = (0.3, -0.2, 0.5)
    obj.scale = (0.5, 0.5, 0.5)
    return obj


def motion(joints, frames):
    rng = random.Random(2)
    rot = []
    for _ in range(frames * joints):
        q = [rng.uniform(-1, 1) for _ in range(4)]
        n = math.sqrt(sum(c * c for c in q))
        rot.extend(c / n for c in q)
    root = [c for t in range(frames) for c in (0.01 * t, 1.0, 0.0)]
    return rot, root


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--joints", type=int, default=30)
    parser.add_argument("--frames", type=int, default=1800)
    parser.add_argument("--no-per-key", action="store_true")
    args = parser.parse_args()
    J, T = args.joints, args.frames

    obj = build_rig(J)
    names = [b.name for b in obj.data.bones]
    rot, root = motion(J, T)
    params = {
        "armature": obj.name,
        "fps": 30,
        "joint_names": names,
        "rotations": f32(rot, [T, J, 4]),
        "root_positions": f32(root, [T, 3]),
        "action_name": "bulk",
    }
    bpy.context.scene.render.fps = 30

    server = Server()
    server.snapshot_info()
    conn = _Loopback(server)
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "animation.apply_motion",
                          "params": params})  # fmt: skip
    started = time.perf_counter()
    server.handle_raw(conn, request.encode())
    server.pump(block=1.0, budget=0.0)
    bridge_ms = (time.perf_counter() - started) * 1000
    answer = json.loads(conn.lines[-1])
    assert "result" in answer, answer

    started = time.perf_counter()
    server.methods["animation.apply_motion"](dict(params, action_name="bulk2"), _NoReq())
    direct_ms = (time.perf_counter() - started) * 1000

    result = {"joints": J, "frames": T, "keys": J * T * 4 + T * 3,
              "bridge_ms": round(bridge_ms, 1), "direct_ms": round(direct_ms, 1)}  # fmt: skip
    if not args.no_per_key:
        bulk = {f: sample(obj, f) for f in (1, T // 2, T)}
        result["per_key_ms"] = round(per_key(obj, names, rot, root, T, params), 1)
        result["speedup"] = round(result["per_key_ms"] / direct_ms, 1)
        worst = max((a - b).length for f in bulk for a, b in zip(bulk[f], sample(obj, f)))
        result["max_pose_difference_m"] = worst
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # bpy 4.5 may hang at interpreter exit; nothing left to clean up


class _NoReq:
    cancelled = False

    def progress(self, *a, **k):
        pass

    def check_cancelled(self):
        pass


def sample(obj, frame):
    bpy.context.scene.frame_set(frame)
    return [obj.matrix_world @ pb.head for pb in obj.pose.bones]


def per_key(obj, names, rot, root, T, params):
    """The conversion the adapter does, but keyed one pose-bone value at a time."""
    from stagecraft_blender.conventions import S

    obj.animation_data.action = None
    world_rot = obj.matrix_world.to_quaternion().to_matrix()
    world_inv = obj.matrix_world.inverted()
    J = len(names)
    started = time.perf_counter()
    action = bpy.data.actions.new("per_key")
    obj.animation_data.action = action
    convert = []
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
        rest = pb.bone.matrix_local.to_3x3()
        convert.append((rest.transposed() @ world_rot.transposed() @ S, rest))
    root_pb = obj.pose.bones[names[0]]
    for t in range(T):
        frame = 1 + t
        for j, pb in enumerate(obj.pose.bones):
            x, y, z, w = rot[(t * J + j) * 4 : (t * J + j) * 4 + 4]
            K = convert[j][0]
            v = K @ Vector((x, y, z))
            pb.rotation_quaternion = Quaternion((w, v.x, v.y, v.z))
            pb.keyframe_insert("rotation_quaternion", frame=frame, group=pb.name)
        p = root[3 * t : 3 * t + 3]
        world = S @ Vector(p)
        rest = convert[0][1]
        root_pb.location = rest.transposed() @ (world_inv @ world - root_pb.bone.head_local)
        root_pb.keyframe_insert("location", frame=frame, group=root_pb.name)
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
