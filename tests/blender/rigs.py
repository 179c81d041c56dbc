"""Rigs and reference math shared by the Blender tests.

`build_rig` makes an armature inside a running Blender through `script.execute`; `HUMANOID_BONES`
is a rig whose bone names are the built-in motion model's skeleton; `forward_kinematics` is the
MMCP forward kinematics (docs/bridge-protocol.md#animationapply_motion) in plain Python, the reference the adapter must match.
"""

import math
import os
import subprocess

from bridge_client import Server


def run_bpy(python, code, *args, timeout=120, env=None):
    """Runs `code` in Blender's Python (the bpy wheel) with `args`, and returns what its last
    `RESULT ` line says; the script must print one and exit 0."""
    proc = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return lines[-1][len("RESULT ") :]

# (name, parent, head, tail, roll_degrees, connected) in armature space, Blender Z-up.
BUILD_RIG = """
import bpy, math
from mathutils import Euler, Vector
name = args["name"]
arm = bpy.data.armatures.new(name)
obj = bpy.data.objects.new(name, arm)
bpy.context.scene.collection.objects.link(obj)
bpy.context.view_layer.objects.active = obj
bpy.ops.object.mode_set(mode="EDIT")
for bname, parent, head, tail, roll, connect in args["bones"]:
    eb = arm.edit_bones.new(bname)
    eb.head, eb.tail, eb.roll = head, tail, math.radians(roll)
    if parent:
        eb.parent = arm.edit_bones[parent]
        eb.use_connect = connect
bpy.ops.object.mode_set(mode="OBJECT")
obj.location = args["location"]
obj.rotation_euler = Euler([math.radians(a) for a in args["rotation"]], "XYZ")
obj.scale = args["scale"]
bpy.context.view_layer.update()
result = [b.name for b in arm.bones]
"""


def build_rig(blender, name, bones, location, rotation, scale):
    out = blender.call(
        "script.execute",
        {
            "language": "python",
            "code": BUILD_RIG,
            "args": {
                "name": name,
                "bones": bones,
                "location": location,
                "rotation": rotation,
                "scale": scale,
            },
        },
    )
    assert out["success"], out.get("error")
    return out["result"]


def build_blend(bpy_python, path, rigs):
    """Writes a .blend holding only the given rigs: [(name, bones, location, rotation, scale)]."""
    server = Server(bpy_python, ["--stdio", "--allow-scripts"], stdio=True)
    try:
        server.client.hello()
        server.client.call("scene.new_scene")
        for rig in rigs:
            build_rig(server.client, *rig)
        assert server.client.call("scene.save_file", {"file_path": str(path)}) == str(path)
    finally:
        assert server.stop() == 0, "".join(server.stderr[-30:])


# The built-in procedural model's joint names (docs/mmcp.md#built-in-models) on a Blender-style humanoid that
# faces -Y, with a different bone roll on every bone.
HUMANOID_BONES = [
    ("Hips", None, (0.0, 0.0, 1.0), (0.0, 0.0, 1.1), 25.0, False),
    ("Spine", "Hips", (0.0, 0.0, 1.1), (0.0, 0.01, 1.22), -40.0, True),
    ("Spine1", "Spine", (0.0, 0.01, 1.22), (0.0, 0.0, 1.34), 70.0, True),
    ("Spine2", "Spine1", (0.0, 0.0, 1.34), (0.0, -0.01, 1.46), 200.0, True),
    ("Neck", "Spine2", (0.0, -0.01, 1.46), (0.0, 0.0, 1.56), -15.0, True),
    ("Head", "Neck", (0.0, 0.0, 1.56), (0.0, -0.02, 1.75), 120.0, True),
    ("LeftShoulder", "Spine2", (0.03, 0.0, 1.42), (0.17, 0.01, 1.44), 90.0, False),
    ("LeftArm", "LeftShoulder", (0.17, 0.01, 1.44), (0.43, 0.02, 1.42), -60.0, True),
    ("LeftForeArm", "LeftArm", (0.43, 0.02, 1.42), (0.68, 0.0, 1.41), 30.0, True),
    ("LeftHand", "LeftForeArm", (0.68, 0.0, 1.41), (0.78, -0.01, 1.40), 170.0, True),
    ("RightShoulder", "Spine2", (-0.03, 0.0, 1.42), (-0.17, 0.01, 1.44), -95.0, False),
    ("RightArm", "RightShoulder", (-0.17, 0.01, 1.44), (-0.43, 0.0, 1.43), 45.0, True),
    ("RightForeArm", "RightArm", (-0.43, 0.0, 1.43), (-0.68, 0.02, 1.41), -135.0, True),
    ("RightHand", "RightForeArm", (-0.68, 0.02, 1.41), (-0.79, 0.0, 1.40), 10.0, True),
    ("LeftUpLeg", "Hips", (0.09, 0.0, 0.97), (0.1, 0.01, 0.52), 180.0, False),
    ("LeftLeg", "LeftUpLeg", (0.1, 0.01, 0.52), (0.1, 0.03, 0.1), -33.0, True),
    ("LeftFoot", "LeftLeg", (0.1, 0.03, 0.1), (0.1, -0.1, 0.03), 45.0, True),
    ("LeftToeBase", "LeftFoot", (0.1, -0.1, 0.03), (0.1, -0.17, 0.02), -80.0, True),
    ("RightUpLeg", "Hips", (-0.09, 0.0, 0.97), (-0.1, 0.0, 0.52), 77.0, False),
    ("RightLeg", "RightUpLeg", (-0.1, 0.0, 0.52), (-0.1, 0.02, 0.1), -150.0, True),
    ("RightFoot", "RightLeg", (-0.1, 0.02, 0.1), (-0.1, -0.1, 0.03), 100.0, True),
    ("RightToeBase", "RightFoot", (-0.1, -0.1, 0.03), (-0.1, -0.18, 0.02), 5.0, True),
]


def _euler_xyz(degrees):
    """The rotation matrix of Blender's Euler XYZ (X applied first): Rz @ Ry @ Rx."""
    x, y, z = (math.radians(a) for a in degrees)
    cx, sx, cy, sy, cz, sz = (
        math.cos(x),
        math.sin(x),
        math.cos(y),
        math.sin(y),
        math.cos(z),
        math.sin(z),
    )
    return [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ]


def bones_from_mmcp_skeleton(skeleton, location, rotation, scale, shift=(0.0, 0.0, 0.0)):
    """Bones (armature space) whose world rest pose is an MMCP skeleton (Y-up metres) once the
    armature object gets `location`, Euler XYZ `rotation` (degrees) and uniform `scale`; the
    whole rest pose is moved by `shift` (Y-up metres) so that the root has somewhere to go.

    Every bone points along a different direction and has a different roll, so nothing about the
    bones' rest orientations lines up with the MMCP frames."""
    rot = _euler_xyz(rotation)
    world = {}
    bones = []
    for i, joint in enumerate(skeleton["joints"]):
        name, parent = joint["name"], joint["parent"]
        x, y, z = joint["rest_translation"]
        offset = (x, -z, y)  # MMCP Y-up -> Blender Z-up
        base = world[parent] if parent else (shift[0], -shift[2], shift[1])
        world[name] = tuple(b + o for b, o in zip(base, offset))
        local = [w - l for w, l in zip(world[name], location)]
        # Rᵀ (p - location) / scale
        head = tuple(sum(rot[r][c] * local[r] for r in range(3)) / scale for c in range(3))
        direction = (math.cos(i * 1.3), math.sin(i * 1.3), 0.5 - (i % 3) * 0.4)
        tail = tuple(h + 0.1 / scale * d for h, d in zip(head, direction))
        bones.append((name, parent, head, tail, (i + 1) * 73.0 % 360 - 180, False))
    return bones


# ---------------------------------------------------------------------------------------
# MMCP forward kinematics, in plain Python (the reference the adapter must match)


def qmul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def qrot(q, v):
    x, y, z, w = q
    vx, vy, vz = v
    # v + 2w(q×v) + 2 q×(q×v)
    cx, cy, cz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    ccx, ccy, ccz = y * cz - z * cy, z * cx - x * cz, x * cy - y * cx
    return (vx + 2 * (w * cx + ccx), vy + 2 * (w * cy + ccy), vz + 2 * (w * cz + ccz))


def qnorm(q):
    n = math.sqrt(sum(c * c for c in q))
    return tuple(c / n for c in q)


def forward_kinematics(skeleton, names, rotations, roots, frame, translations=None):
    """World joint positions (Y-up metres) of one frame of MMCP data."""
    joints = {j["name"]: j for j in skeleton["joints"]}
    index = {n: i for i, n in enumerate(names)}
    glob, pos = {}, {}
    for joint in skeleton["joints"]:
        name, parent = joint["name"], joint["parent"]
        j = index.get(name)
        q = qnorm(rotations[frame][j]) if j is not None else (0.0, 0.0, 0.0, 1.0)
        if parent is None:
            glob[name], pos[name] = q, tuple(roots[frame])
            continue
        offset = joints[name]["rest_translation"]
        if translations and name in translations:
            offset = translations[name][frame]
        glob[name] = qmul(glob[parent], q)
        rotated = qrot(glob[parent], offset)
        pos[name] = tuple(p + r for p, r in zip(pos[parent], rotated))
    return pos
