"""Acceptance check of docs/bridge-protocol.md#animationapply_motion: after animation.apply_motion, animation.sample_pose
returns the forward kinematics of the MMCP data within 1e-3 m at every frame, for rigs with
non-trivial bone rolls and a rotated, scaled armature object."""

import math
import random

import pytest
from bridge_client import BridgeError, f32, f32_values
from rigs import build_rig, forward_kinematics

TOLERANCE_M = 1e-3

# (name, parent, head, tail, roll_degrees, connected) in armature space, Blender Z-up.
GENERIC_BONES = [
    ("Hips", None, (0.0, 0.0, 1.0), (0.0, 0.05, 1.2), 35.0, False),
    ("Spine", "Hips", (0.0, 0.05, 1.2), (0.02, 0.0, 1.45), -70.0, True),
    ("Chest", "Spine", (0.02, 0.0, 1.45), (0.0, -0.03, 1.6), 160.0, True),
    ("Neck", "Chest", (0.0, -0.03, 1.6), (0.0, 0.0, 1.7), 10.0, True),
    ("Head", "Neck", (0.0, 0.0, 1.7), (0.0, -0.1, 1.85), -120.0, True),
    ("LeftArm", "Chest", (0.18, 0.0, 1.55), (0.45, 0.05, 1.5), 90.0, False),
    ("LeftForeArm", "LeftArm", (0.45, 0.05, 1.5), (0.7, 0.0, 1.52), -45.0, True),
    ("LeftHand", "LeftForeArm", (0.7, 0.0, 1.52), (0.78, -0.02, 1.5), 200.0, True),
    ("RightArm", "Chest", (-0.18, 0.0, 1.55), (-0.45, 0.0, 1.5), -90.0, False),
    ("RightForeArm", "RightArm", (-0.45, 0.0, 1.5), (-0.7, 0.1, 1.5), 12.0, True),
    ("LeftUpLeg", "Hips", (0.1, 0.0, 0.95), (0.12, 0.02, 0.5), 180.0, False),
    ("LeftLeg", "LeftUpLeg", (0.12, 0.02, 0.5), (0.12, -0.03, 0.08), -33.0, True),
    ("RightUpLeg", "Hips", (-0.1, 0.0, 0.95), (-0.1, 0.0, 0.5), 77.0, False),
    ("RightLeg", "RightUpLeg", (-0.1, 0.0, 0.5), (-0.1, 0.05, 0.08), -150.0, True),
]


def random_quat(rng, max_angle):
    axis = [rng.uniform(-1, 1) for _ in range(3)]
    n = math.sqrt(sum(a * a for a in axis)) or 1.0
    angle = rng.uniform(-max_angle, max_angle)
    s = math.sin(angle / 2)
    q = [axis[0] / n * s, axis[1] / n * s, axis[2] / n * s, math.cos(angle / 2)]
    if rng.random() < 0.3:
        q = [-c for c in q]  # the same rotation, other sign: the adapter must cope
    return q


def make_motion(names, frames, seed, start_root):
    """Smoothly varying random rotations plus a travelling, bobbing root (MMCP, Y-up)."""
    rng = random.Random(seed)
    keys = [[random_quat(rng, 1.4) for _ in names] for _ in range(3)]
    rotations = []
    for t in range(frames):
        u = t / max(frames - 1, 1) * 2
        k, a = min(int(u), 1), u - min(int(u), 1)
        row = []
        for j in range(len(names)):
            q0, q1 = keys[k][j], keys[k + 1][j]
            row.append([c0 * (1 - a) + c1 * a for c0, c1 in zip(q0, q1)])
        rotations.append(row)
    roots = [
        [start_root[0] + 0.03 * t, start_root[1] + 0.05 * math.sin(t), start_root[2] + 0.02 * t]
        for t in range(frames)
    ]
    # What the adapter sees is float32: compare against exactly that.
    flat_rot = f32_values([c for row in rotations for q in row for c in q])
    flat_root = f32_values([c for p in roots for c in p])
    rotations = [
        [
            flat_rot[(t * len(names) + j) * 4 : (t * len(names) + j) * 4 + 4]
            for j in range(len(names))
        ]
        for t in range(frames)
    ]
    roots = [flat_root[3 * t : 3 * t + 3] for t in range(frames)]
    return rotations, roots, flat_rot, flat_root


def apply(blender, armature, names, flat_rot, flat_root, frames, **extra):
    params = {
        "armature": armature,
        "fps": 24,
        "joint_names": names,
        "rotations": f32(flat_rot, [frames, len(names), 4]),
        "root_positions": f32(flat_root, [frames, 3]),
    }
    params.update(extra)
    return blender.call("animation.apply_motion", params)


def assert_matches_fk(blender, armature, skeleton, names, rotations, roots, frames, start=1):
    sampled = blender.call(
        "animation.sample_pose", {"armature": armature, "frames": [start + f for f in frames]}
    )
    worst = 0.0
    for i, frame in enumerate(frames):
        expected = forward_kinematics(skeleton, names, rotations, roots, frame)
        for joint, want in expected.items():
            got = sampled[joint][i]
            worst = max(worst, max(abs(g - w) for g, w in zip(got, want)))
            assert all(
                abs(g - w) < TOLERANCE_M for g, w in zip(got, want)
            ), f"frame {frame} joint {joint}: sample_pose {got} != FK {want}"
    return worst


# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig(blender):
    build_rig(blender, "Rig", GENERIC_BONES, (0.4, -1.2, 0.3), (20.0, -35.0, 50.0), (0.7,) * 3)
    return "Rig"


def test_list_armatures(blender, rig):
    arms = blender.call("animation.list_armatures")
    assert {"name": "Rig", "joints": len(GENERIC_BONES), "action": None} in arms


def test_get_skeleton_is_mmcp_world_aligned(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    assert skel["coordinate_system"] == "right_handed_y_up" and skel["units"] == "meters"
    names = [j["name"] for j in skel["joints"]]
    assert sorted(names) == sorted(b[0] for b in GENERIC_BONES)
    seen = set()
    for joint in skel["joints"]:
        assert joint["rest_rotation"] == [0.0, 0.0, 0.0, 1.0]
        assert joint["parent"] is None or joint["parent"] in seen, "parents must come first"
        seen.add(joint["name"])
    assert [j["parent"] for j in skel["joints"]].count(None) == 1
    # The rest pose of the rig is the FK of identity rotations at the root's rest position.
    root = skel["joints"][0]["rest_translation"]
    rest = forward_kinematics(skel, names, [[(0, 0, 0, 1)] * len(names)], [root], 0)
    sampled = blender.call("animation.sample_pose", {"armature": rig, "frames": [1]})
    for joint, want in rest.items():
        assert all(abs(g - w) < 1e-5 for g, w in zip(sampled[joint][0], want)), joint


def test_apply_motion_matches_forward_kinematics(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    frames = 40
    rotations, roots, flat_rot, flat_root = make_motion(
        names, frames, seed=7, start_root=skel["joints"][0]["rest_translation"]
    )
    out = apply(blender, rig, names, flat_rot, flat_root, frames, action_name="take1")
    assert out["action"] == "take1"
    assert out["frame_start"] == 1 and out["frame_end"] == frames
    assert out["joints_applied"] == names and out["joints_skipped"] == []
    worst = assert_matches_fk(
        blender, rig, skel, names, rotations, roots, [0, 1, 7, 19, 20, 33, frames - 1]
    )
    assert worst < TOLERANCE_M
    arms = {a["name"]: a for a in blender.call("animation.list_armatures")}
    assert arms[rig]["action"] == "take1"


def test_apply_motion_again_replaces_the_take(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(names, 12, seed=8, start_root=(0, 1, 0))
    out = apply(blender, rig, names, flat_rot, flat_root, 12, action_name="take1", start_frame=5)
    assert out["action"] == "take1" and out["frame_start"] == 5 and out["frame_end"] == 16
    assert_matches_fk(blender, rig, skel, names, rotations, roots, [0, 6, 11], start=5)


def test_in_place_keeps_height_drops_travel(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(names, 20, seed=9, start_root=(0.5, 1, 2))
    apply(blender, rig, names, flat_rot, flat_root, 20, in_place=True)
    root_name = names[0]
    sampled = blender.call(
        "animation.sample_pose",
        {"armature": rig, "frames": [1, 10, 20], "joint_names": [root_name]},
    )[root_name]
    for i, frame in enumerate([0, 9, 19]):
        x, y, z = sampled[i]
        assert abs(x - roots[0][0]) < TOLERANCE_M and abs(z - roots[0][2]) < TOLERANCE_M
        assert abs(y - roots[frame][1]) < TOLERANCE_M


def test_missing_joints_reported_others_applied(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]] + ["Tail", "RightHand"]
    rotations, roots, flat_rot, flat_root = make_motion(names, 6, seed=10, start_root=(0, 1, 0))
    before = len(blender.notifications)
    out = apply(blender, rig, names, flat_rot, flat_root, 6)
    assert out["joints_skipped"] == ["Tail", "RightHand"]
    logs = [m["params"] for m in blender.notifications[before:] if m["method"] == "$/log"]
    assert any(log["level"] == "warning" and "Tail" in log["message"] for log in logs)
    assert len(out["joints_applied"]) == len(GENERIC_BONES)
    assert_matches_fk(blender, rig, skel, names, rotations, roots, [0, 5])


def test_joint_translations(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(names, 8, seed=11, start_root=(0, 1, 0))
    rest = {j["name"]: j["rest_translation"] for j in skel["joints"]}
    # Stretch the arm away from the chest (a non-root translation channel).
    spine = [[c * (1 + 0.05 * t) for c in rest["LeftArm"]] for t in range(8)]
    flat_spine = f32_values([c for p in spine for c in p])
    spine = [flat_spine[3 * t : 3 * t + 3] for t in range(8)]
    out = apply(
        blender,
        rig,
        names,
        flat_rot,
        flat_root,
        8,
        joint_translations={
            "LeftArm": f32(flat_spine, [8, 3]),
            "Spine": f32(flat_spine, [8, 3]),  # connected: cannot move, reported
        },
    )
    assert out["translations_ignored"] == ["Spine"]
    sampled = blender.call("animation.sample_pose", {"armature": rig, "frames": [1, 8]})
    for i, frame in enumerate([0, 7]):
        want = forward_kinematics(skel, names, rotations, roots, frame, {"LeftArm": spine})
        for joint, pos in want.items():
            assert all(abs(g - w) < TOLERANCE_M for g, w in zip(sampled[joint][i], pos)), joint


def test_mixamo_style_rig_prefixed_scaled(blender):
    # Mixamo FBX: bones in centimetres with Y up in armature space, object rotated 90° about
    # X and scaled 0.01, names prefixed "mixamorig:". The take uses plain names.
    bones = [
        (f"mixamorig:{n}", f"mixamorig:{p}" if p else None, h, t, r, c)
        for n, p, h, t, r, c in [
            (b[0], b[1], _mixamo(b[2]), _mixamo(b[3]), b[4], b[5]) for b in GENERIC_BONES
        ]
    ]
    build_rig(blender, "Mixamo", bones, (1.0, 2.0, 0.0), (90.0, 0.0, 30.0), (0.01,) * 3)
    skel = blender.call("animation.get_skeleton", {"armature": "Mixamo"})
    plain = [j["name"].split(":")[-1] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(plain, 30, seed=12, start_root=(1, 1, -2))
    out = apply(blender, "Mixamo", plain, flat_rot, flat_root, 30)
    # Applied joints are reported by their rig names, in take order.
    assert out["joints_skipped"] == [] and out["joints_applied"] == [
        f"mixamorig:{n}" for n in plain
    ]
    for joint in skel["joints"]:
        joint["name"] = joint["name"].split(":")[-1]
        if joint["parent"]:
            joint["parent"] = joint["parent"].split(":")[-1]
    sampled = blender.call(
        "animation.sample_pose",
        {"armature": "Mixamo", "frames": [1, 15, 30], "joint_names": plain},
    )
    for i, frame in enumerate([0, 14, 29]):
        want = forward_kinematics(skel, plain, rotations, roots, frame)
        for joint, pos in want.items():
            assert all(abs(g - w) < TOLERANCE_M for g, w in zip(sampled[joint][i], pos)), joint


def _mixamo(p):
    # Blender Z-up metres -> armature-space Y-up centimetres (the object's X rotation undoes it)
    return (p[0] * 100.0, p[2] * 100.0, -p[1] * 100.0)


@pytest.mark.parametrize(
    "patch, code",
    [
        ({"armature": "Nope"}, "SCENE_ERROR"),
        ({"armature": "Camera"}, "SCENE_ERROR"),
        ({"fps": 0}, "INVALID_INPUT"),
        ({"fps": "24"}, "INVALID_INPUT"),
        ({"joint_names": []}, "INVALID_INPUT"),
        ({"rotations": {"dtype": "f64", "shape": [1, 1, 4], "b64": ""}}, "INVALID_INPUT"),
        ({"rotations": f32([0, 0, 0, 1, 0, 0, 0, 1], [2, 1, 4])}, "INVALID_INPUT"),
        ({"rotations": f32([0, 0, 0, float("nan")], [1, 1, 4])}, "INVALID_INPUT"),
        ({"start_frame": 1.5}, "INVALID_INPUT"),
        ({"start_frame": 2_000_000}, "INVALID_INPUT"),
        ({"fps": 1e-12}, "INVALID_INPUT"),
        ({"root_positions": f32([0, 0, float("inf")], [1, 3])}, "INVALID_INPUT"),
        ({"rotations": {"dtype": "f32", "shape": [1, 1, 4], "b64": "!!"}}, "INVALID_INPUT"),
        ({"joint_names": ["Nothing"]}, "SCENE_ERROR"),
    ],
)
def test_apply_motion_bad_input(blender, rig, patch, code):
    params = {
        "armature": rig,
        "fps": 24,
        "joint_names": ["Hips"],
        "rotations": f32([0, 0, 0, 1], [1, 1, 4]),
        "root_positions": f32([0, 1, 0], [1, 3]),
    }
    if "Camera" in patch.values():
        blender.call("scene.create_object", {"object_type": "camera", "name": "Camera"})
    params.update(patch)
    with pytest.raises(BridgeError) as err:
        blender.call("animation.apply_motion", params)
    assert err.value.code == code, err.value.error
    # Blender keeps running and answering.
    assert blender.call("dcc.ping") == {"busy": False}


def test_sample_pose_bad_input(blender, rig):
    for params, code in (
        ({"armature": rig, "frames": []}, "INVALID_INPUT"),
        ({"armature": rig, "frames": ["1"]}, "INVALID_INPUT"),
        ({"armature": rig, "frames": [1], "joint_names": ["NoSuchBone"]}, "SCENE_ERROR"),
        ({"armature": "Nope", "frames": [1]}, "SCENE_ERROR"),
    ):
        with pytest.raises(BridgeError) as err:
            blender.call("animation.sample_pose", params)
        assert err.value.code == code


def test_skeleton_needs_one_root(blender):
    bones = [
        ("A", None, (0, 0, 0), (0, 0, 1), 0.0, False),
        ("B", None, (1, 0, 0), (1, 0, 1), 0.0, False),
    ]
    build_rig(blender, "TwoRoots", bones, (0, 0, 0), (0, 0, 0), (1, 1, 1))
    with pytest.raises(BridgeError) as err:
        blender.call("animation.get_skeleton", {"armature": "TwoRoots"})
    assert err.value.code == "SCENE_ERROR" and "root" in err.value.error["message"]


def test_take_fps_becomes_scene_fps(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(names, 13, seed=13, start_root=(0, 1, 0))
    out = apply(blender, rig, names, flat_rot, flat_root, 13, fps=48, start_frame=300)
    assert out["action"] == "Rig_motion"
    assert (out["frame_start"], out["frame_end"]) == (300, 312)
    frames = blender.call("animation.get_frame_range")
    assert frames["fps"] == 48 and frames["end"] >= 312
    assert_matches_fk(blender, rig, skel, names, rotations, roots, [0, 6, 12], start=300)
    blender.call("animation.set_frame_range", {"fps": 24})


def test_zero_quaternion_is_identity(blender, rig):
    names = ["Hips"]
    before = len(blender.notifications)
    out = apply(blender, rig, names, [0, 0, 0, 0], [0, 1, 0], 1, action_name="zero")
    assert out["joints_applied"] == ["Hips"]
    logs = [m["params"] for m in blender.notifications[before:] if m["method"] == "$/log"]
    assert any("zero quaternion" in log["message"] for log in logs)
