"""A Rigify-generated control rig through the bridge: get_skeleton gives its DEF bones,
apply_motion on DEF names keys the FK controls, and sample_pose of the DEF bones is the MMCP
forward kinematics of the take (rigify.py in the adapter says how and why)."""

import math

import pytest
from bridge_client import BridgeError, f32, f32_values
from rigs import forward_kinematics

# Every DEF head, face and fingers included, is within this of the FK when the take leaves
# the segment joints (DEF-thigh.L.001, ...) at identity. The bridge contract is 1e-3 m; the
# measured worst is about 1.5e-6 m (float32 keys) on Blender 4.2, 4.5 and 5.0, so a tenth of
# a millimetre already flags a regression.
TOLERANCE_M = 1e-4

# The rigify add-on ships inside Blender (scripts/addons_core/rigify); generation is headless.
GENERATE = """
import addon_utils, bpy
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.select_all(action="DESELECT")
bpy.ops.object.armature_human_metarig_add()
meta = bpy.context.active_object
meta.name = "metarig"
bpy.ops.pose.rigify_generate()
rig = meta.data.rigify_target_rig
rig.name = args["name"]
result = {"bones": len(rig.data.bones), "rig_id": rig.data.get("rig_id")}
"""

PLACE = """
import bpy, math
obj = bpy.data.objects[args["name"]]
obj.location = args["location"]
obj.rotation_euler = [math.radians(a) for a in args["rotation"]]
bpy.context.view_layer.update()
result = True
"""

# The switches' own values are zeroed first (and the rig re-evaluated), so what is read back
# after the frame change comes from the take's keys.
SWITCHES = """
import bpy
obj = bpy.data.objects[args["name"]]
for name in args["bones"]:
    obj.pose.bones[name]["IK_FK"] = 0.0
obj.update_tag()
bpy.context.view_layer.update()
bpy.context.scene.frame_set(args["frame"])
ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
result = {n: ev.pose.bones[n]["IK_FK"] for n in args["bones"]}
"""

TWEAK = """
import bpy
bpy.data.objects[args["name"]].pose.bones["shin_tweak.L"].location = (args["offset"], 0, 0)
result = True
"""

# The humanoid joints a retargeter maps roles to; everything else stays at identity.
LIMBS = ["shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe"]
ROLE_JOINTS = ["DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003"]
ROLE_JOINTS += ["DEF-spine.004", "DEF-spine.006"]
ROLE_JOINTS += [f"DEF-{limb}{side}" for side in (".L", ".R") for limb in LIMBS]
FINGERS = ["thumb", "f_index", "f_middle", "f_ring", "f_pinky"]
ROLE_JOINTS += [f"DEF-{f}.0{k}{s}" for s in (".L", ".R") for f in FINGERS for k in (1, 2, 3)]
SWITCH_BONES = ["upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R"]


def run(blender, code, **args):
    out = blender.call("script.execute", {"language": "python", "code": code, "args": args})
    assert out["success"], out.get("error")
    return out["result"]


@pytest.fixture(scope="module")
def rig(blender):
    made = run(blender, GENERATE, name="Rigify")
    assert made["bones"] > 300 and isinstance(made["rig_id"], str)
    return "Rigify"


def quat(axis, angle):
    n = math.sqrt(sum(a * a for a in axis))
    s = math.sin(angle / 2)
    return [axis[0] / n * s, axis[1] / n * s, axis[2] / n * s, math.cos(angle / 2)]


def make_motion(names, frames, start_root):
    """Bending legs and arms, a twisting spine, a root that travels and turns (MMCP, Y-up)."""
    roles = {n: i for i, n in enumerate(ROLE_JOINTS)}
    rotations = []
    for t in range(frames):
        phase = 2 * math.pi * t / frames
        row = []
        for name in names:
            if name not in roles:
                row.append([0.0, 0.0, 0.0, 1.0])
                continue
            i = roles[name]
            axis = (math.cos(i * 1.7), math.sin(i * 0.9), math.cos(i * 2.3) + 0.3)
            if name == "DEF-spine":
                axis = (0.0, 1.0, 0.0)  # the root turns about the vertical
            row.append(quat(axis, 0.6 * math.sin(phase + i)))
        rotations.append(row)
    roots = [
        [start_root[0] + 0.02 * t, start_root[1] - 0.1 * math.sin(phase), start_root[2] + 0.03 * t]
        for t, phase in ((t, 2 * math.pi * t / frames) for t in range(frames))
    ]
    flat_rot = f32_values([c for row in rotations for q in row for c in q])
    flat_root = f32_values([c for p in roots for c in p])
    j = len(names)
    rotations = [
        [flat_rot[(t * j + k) * 4 : (t * j + k) * 4 + 4] for k in range(j)] for t in range(frames)
    ]
    roots = [flat_root[3 * t : 3 * t + 3] for t in range(frames)]
    return rotations, roots, flat_rot, flat_root


def apply(blender, names, flat_rot, flat_root, frames, **extra):
    params = {
        "armature": "Rigify",
        "fps": 30,
        "joint_names": names,
        "rotations": f32(flat_rot, [frames, len(names), 4]),
        "root_positions": f32(flat_root, [frames, 3]),
    }
    params.update(extra)
    return blender.call("animation.apply_motion", params, timeout=300)


def worst_error(blender, skeleton, names, rotations, roots, frames, joints=None):
    """The largest |sample_pose - FK| over the given frames and DEF joints, and where."""
    params = {"armature": "Rigify", "frames": [1 + f for f in frames]}
    if joints:
        params["joint_names"] = joints
    sampled = blender.call("animation.sample_pose", params)
    worst = (0.0, None, None)
    for i, frame in enumerate(frames):
        expected = forward_kinematics(skeleton, names, rotations, roots, frame)
        for joint, got in sampled.items():
            err = max(abs(g - w) for g, w in zip(got[i], expected[joint]))
            if err > worst[0]:
                worst = (err, frame, joint)
    return worst


def test_get_skeleton_is_the_deform_skeleton(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    assert skel["rig_type"] == "rigify"
    joints = {j["name"]: j for j in skel["joints"]}
    assert all(name.startswith("DEF-") for name in joints)
    assert [j["parent"] for j in skel["joints"]].count(None) == 1
    assert skel["joints"][0]["name"] == "DEF-spine"
    seen = set()
    for joint in skel["joints"]:
        assert joint["parent"] is None or joint["parent"] in seen, "parents must come first"
        seen.add(joint["name"])
    parent = {name: j["parent"] for name, j in joints.items()}
    # A clean humanoid chain, although Rigify parents DEF bones under ORG-/MCH- bones.
    for child, want in [
        ("DEF-spine.001", "DEF-spine"),
        ("DEF-spine.003", "DEF-spine.002"),
        ("DEF-spine.006", "DEF-spine.005"),
        ("DEF-thigh.L", "DEF-spine"),
        ("DEF-shin.L", "DEF-thigh.L.001"),
        ("DEF-toe.R", "DEF-foot.R"),
        ("DEF-shoulder.L", "DEF-spine.003"),
        ("DEF-upper_arm.L", "DEF-shoulder.L"),
        ("DEF-hand.R", "DEF-forearm.R.001"),
    ]:
        assert parent[child] == want, (child, parent[child])
    # The rest pose is the FK of identity rotations.
    names = list(joints)
    root = skel["joints"][0]["rest_translation"]
    rest = forward_kinematics(skel, names, [[(0, 0, 0, 1)] * len(names)], [root], 0)
    sampled = blender.call("animation.sample_pose", {"armature": rig, "frames": [1]})
    for joint, want in rest.items():
        assert all(abs(g - w) < 1e-4 for g, w in zip(sampled[joint][0], want)), joint


def check_take(blender, rig, frames, start_root):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    rotations, roots, flat_rot, flat_root = make_motion(names, frames, start_root)
    out = apply(blender, names, flat_rot, flat_root, frames, action_name="rigify_take")
    assert out["rig_type"] == "rigify" and out["action"] == "rigify_take"
    assert set(ROLE_JOINTS) <= set(out["joints_applied"])
    assert "DEF-thigh.L.001" in out["joints_folded"] and "DEF-spine.005" in out["joints_folded"]
    assert "DEF-palm.01.L" in out["joints_skipped"]
    assert {"torso", "thigh_fk.L", "hand_fk.R", "head"} <= set(out["controls_keyed"])
    assert sorted(out["fk_switches"]) == sorted(SWITCH_BONES)
    assert 0.0 <= out["first_frame_error_m"] < TOLERANCE_M
    err, frame, joint = worst_error(
        blender, skel, names, rotations, roots, list(range(0, frames, 3)) + [frames - 1]
    )
    print(f"worst |sample_pose - FK| = {err:.2e} m (frame {frame}, {joint})")
    assert err < TOLERANCE_M, f"frame {frame} joint {joint}: {err} m off the FK"
    switches = run(blender, SWITCHES, name=rig, frame=1 + frames // 2, bones=SWITCH_BONES)
    assert switches == {n: 1.0 for n in SWITCH_BONES}


def test_apply_motion_keys_the_fk_controls(blender, rig):
    check_take(blender, rig, 24, start_root=(0.0, 1.0, 0.1))


def test_apply_motion_on_a_moved_and_turned_rig(blender, rig):
    run(blender, PLACE, name=rig, location=(1.5, -0.7, 0.2), rotation=(0.0, 0.0, 90.0))
    check_take(blender, rig, 12, start_root=(1.0, 1.1, -0.5))
    run(blender, PLACE, name=rig, location=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0))


def test_bent_segment_is_reported(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    _, _, flat_rot, flat_root = make_motion(names, 2, start_root=(0.0, 1.0, 0.0))
    k = names.index("DEF-thigh.L.001")
    flat_rot[4 * k : 4 * k + 4] = quat((1, 0, 0), 0.5)
    before = len(blender.notifications)
    out = apply(blender, names, flat_rot, flat_root, 2)
    assert "DEF-thigh.L.001" in out["joints_folded"]
    logs = [m["params"] for m in blender.notifications[before:] if m["method"] == "$/log"]
    assert any("DEF-thigh.L.001" in log["message"] for log in logs if log["level"] == "warning")


def test_posed_tweak_is_measured_and_logged(blender, rig):
    run(blender, TWEAK, name=rig, offset=0.05)
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    _, _, flat_rot, flat_root = make_motion(names, 2, start_root=(0.0, 1.0, 0.0))
    before = len(blender.notifications)
    out = apply(blender, names, flat_rot, flat_root, 2)
    run(blender, TWEAK, name=rig, offset=0.0)
    assert out["first_frame_error_m"] > 0.04
    logs = [m["params"] for m in blender.notifications[before:] if m["method"] == "$/log"]
    assert any("off the take" in log["message"] for log in logs if log["level"] == "warning")


def test_in_place_holds_the_root_over_the_ground(blender, rig):
    skel = blender.call("animation.get_skeleton", {"armature": rig})
    names = [j["name"] for j in skel["joints"]]
    _, roots, flat_rot, flat_root = make_motion(names, 10, start_root=(0.3, 1.0, 0.2))
    apply(blender, names, flat_rot, flat_root, 10, in_place=True)
    sampled = blender.call(
        "animation.sample_pose",
        {"armature": rig, "frames": [1, 5, 10], "joint_names": ["DEF-spine"]},
    )["DEF-spine"]
    for (x, y, z), frame in zip(sampled, [0, 4, 9]):
        assert abs(x - roots[0][0]) < TOLERANCE_M and abs(z - roots[0][2]) < TOLERANCE_M
        assert abs(y - roots[frame][1]) < TOLERANCE_M


def test_root_must_be_joint_zero(blender, rig):
    names = ["DEF-thigh.L", "DEF-spine"]
    with pytest.raises(BridgeError) as err:
        apply(blender, names, [0, 0, 0, 1] * 2, [0, 1, 0], 1)
    assert err.value.code == "SCENE_ERROR" and "DEF-spine" in err.value.error["message"]


def test_missing_control_is_an_error_not_half_a_take(blender):
    run(blender, GENERATE, name="Broken")
    run(
        blender,
        """
import bpy
obj = bpy.data.objects["Broken"]
bpy.context.view_layer.objects.active = obj
bpy.ops.object.mode_set(mode="EDIT")
obj.data.edit_bones.remove(obj.data.edit_bones["thigh_fk.L"])
bpy.ops.object.mode_set(mode="OBJECT")
result = True
""",
    )
    params = {
        "armature": "Broken",
        "fps": 30,
        "joint_names": ["DEF-spine"],
        "rotations": f32([0, 0, 0, 1], [1, 1, 4]),
        "root_positions": f32([0, 1, 0], [1, 3]),
    }
    with pytest.raises(BridgeError) as err:
        blender.call("animation.apply_motion", params)
    assert err.value.code == "SCENE_ERROR" and "thigh_fk.L" in err.value.error["data"]["details"]
    arms = {a["name"]: a for a in blender.call("animation.list_armatures")}
    assert arms["Broken"]["action"] is None
