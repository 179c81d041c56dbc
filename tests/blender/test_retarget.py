"""Retargeting on real Blender, end to end (issue #10): an MCP client drives `stagecraft serve`,
which generates walks with a model that does not retarget (the SOMA30 fixture server,
tests/fixtures/mmcp/soma_server.py) and with the built-in model, and puts them on rigs of other
conventions, proportions, rest poses, units, orientations and places (retarget_rigs.py): Mixamo
as FBX import makes it, a UE5 Mannequin in A-pose, Rigify deform bones with twist segments,
SMPL, VRM, and a rig whose bone names say nothing.

What the rig does is read back with `sample_pose` and compared, in plain Python, with the source
take (saved with `save_motion`) and the rig's rest pose (`get_skeleton`):
- every limb and torso segment points along H * the source's segment (H: the rig's heading),
  within 2 degrees (legs during a foot contact: 6, foot IK may bend them),
- the hips follow the source path turned by H and scaled by the hip-height ratio, starting where
  the rig stood, within 2 cm + 3 %,
- a foot the model marks in contact stays within 1 cm of where the contact began,
- knees bend forward, the way the rig faces.
"""

import math
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("mcp", reason="the MCP SDK (`mcp`) is in the test venv ($PYTHON)")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "mmcp"))

import soma_server  # noqa: E402
from bridge_client import RUN_PY  # noqa: E402
from retarget_checks import (  # noqa: E402
    PROCEDURAL,
    SOMA,
    SOURCE_ROLES,
    assert_retargeted,
    check_motion,
    source_take,
)
from retarget_rigs import (  # noqa: E402
    JOINT_MAP_ROLES,
    LONG_LEGS,
    RIGS,
    SOMA_ROLES,
    ReferenceFrame,
    blend_rigs,
    heading_degrees,
    rest_positions,
)
from rigs import bones_from_mmcp_skeleton, build_blend, forward_kinematics  # noqa: E402
from stagecraft_mcp import STAGECRAFT_BIN, McpSession, read_take, toml_config  # noqa: E402

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

CANONICAL = {SOMA: soma_server.NAMES}  # the built-in model's is checked by its role joints
NOT_HUMANOID = ["Tail", "Stick"]  # built by blend_rigs: a tail of five bones, a single bone


@pytest.fixture(scope="module")
def soma_url():
    with soma_server.running() as url:
        yield url


# A rig with SOMA30's names and world rest pose, behind a turned and scaled object.
SOMA_RIG = SimpleNamespace(name="SomaRig", roles=SOMA_ROLES)
SOMA_RIG_PLACEMENT = ((1.0, 2.0, -0.5), (-30.0, 60.0, 15.0), 1.3)


@pytest.fixture(scope="module")
def rigs_blend(bpy_python, tmp_path_factory):
    path = tmp_path_factory.mktemp("retarget") / "rigs.blend"
    rigs = blend_rigs()
    skeleton = soma_server.soma30_skeleton().model_dump()
    location, rotation, scale = SOMA_RIG_PLACEMENT
    bones = bones_from_mmcp_skeleton(skeleton, location, rotation, scale)
    rigs.append((SOMA_RIG.name, bones, location, rotation, (scale,) * 3))
    build_blend(bpy_python, path, rigs)
    return path


@pytest.fixture(scope="module")
def mcp(bpy_python, soma_url, rigs_blend, tmp_path_factory):
    dcc = {
        "name": "blender",
        "bridge": "embedded",
        "command": [bpy_python, RUN_PY, "--stdio", "--open", str(rigs_blend)],
    }
    backend = {"name": "soma", "url": soma_url, "timeout_seconds": 60}
    config = tmp_path_factory.mktemp("config") / "stagecraft.toml"
    config.write_text(toml_config(dccs=[dcc], backends=[backend]))
    session = McpSession(config, timeout=300)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="module")
def soma_take(mcp):
    """One SOMA walk generated without a rig, for apply_motion."""
    result = mcp.tool("generate_motion", {"prompt": "walk", "seconds": 2, "model": SOMA, "seed": 3})
    return result["take_id"]


# ---------------------------------------------------------------------------------------


def test_rigs_are_where_the_tests_think(mcp):
    """The fixture itself: every rig's rest pose, read by get_skeleton, is the one described
    (so the reference math starts from the right place)."""
    listed = {a["name"] for a in mcp.tool("list_armatures")["result"]}
    assert listed == set(RIGS) | set(NOT_HUMANOID) | {SOMA_RIG.name, LONG_LEGS.name}, listed
    for rig in [*RIGS.values(), LONG_LEGS]:
        rest = rest_positions(mcp.tool("get_skeleton", {"armature": rig.name}))
        for bone, want in rig.world_rest().items():
            assert math.dist(rest[bone], want) < 1e-4, (rig.name, bone, rest[bone], want)
        assert abs((heading_degrees(rest, rig.roles) - rig.heading + 180) % 360 - 180) < 0.01


def test_the_reference_checks_pass_on_the_models_own_skeleton(mcp, tmp_path):
    """The checks themselves, where the answer is known: on a rig that IS SOMA30 (same names,
    same world rest pose, behind a turned and scaled object) the take lands unchanged: heading 0,
    scale 1, the hips where the source's are."""
    result = mcp.tool(
        "generate_motion",
        {
            "prompt": "walk",
            "seconds": 2,
            "model": SOMA,
            "seed": 2,
            "armature": SOMA_RIG.name,
            "retarget": "names",  # joint by joint: the answer does not depend on role detection
        },
    )
    take = source_take(mcp, result["take_id"], tmp_path / "source.gltf")
    rig_rest = rest_positions(mcp.tool("get_skeleton", {"armature": SOMA_RIG.name}))
    source_rest = rest_positions(take["skeleton"])
    for joint, position in source_rest.items():
        assert math.dist(rig_rest[joint], position) < 1e-4, (joint, rig_rest[joint], position)
    ref = ReferenceFrame.of(source_rest, SOMA_ROLES, rig_rest, SOMA_ROLES)
    assert abs(ref.heading) < 1e-3 and abs(ref.scale - 1) < 1e-4, ref
    frame_start = result["applied"]["result"]["frame_start"]
    problems = check_motion(mcp, SOMA, SOMA_RIG, take, frame_start, ref, rig_rest)
    assert not problems, "\n".join(problems)
    # And they fail when the motion is not where it should be: 5 degrees of heading and 10 % of
    # scale off.
    wrong = replace(ref, heading=5.0, scale=1.1)
    problems = check_motion(mcp, SOMA, SOMA_RIG, take, frame_start, wrong, rig_rest)
    assert any(p.startswith("segment foot_L") for p in problems), problems
    assert any(p.startswith("hips") for p in problems), problems


# Bones with no humanoid role, which keep their rest relative to their parent (docs/retargeting.md,
# "Roles"), and twist segments, which share their limb's role and move with it.
SIDE_BONES = {
    "MixamoRig": ["mixamorig:LeftHandIndex1", "mixamorig:RightHandThumb2"],
    "UE5Mannequin": ["ik_foot_l", "ik_hand_r", "upperarm_twist_01_l", "thigh_twist_01_r"],
    "RigifyDeform": ["DEF-pelvis.L", "DEF-f_index.01.R", "DEF-thumb.01.L"],
    "VrmModel": ["J_Adj_L_FaceEye", "J_Bip_R_Index1"],
}
TWIST_SEGMENTS = {
    "RigifyDeform": [
        "DEF-thigh.L.001",
        "DEF-shin.R.001",
        "DEF-upper_arm.L.001",
        "DEF-forearm.R.001",
    ]
}


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_map_rig(mcp, rig_name, model):
    rig = RIGS[rig_name]
    before = {a["name"]: a.get("action") for a in mcp.tool("list_armatures")["result"]}
    mapped = mcp.tool("map_rig", {"armature": rig.name, "model": model})
    roles = SOURCE_ROLES[model]
    want = {roles[r]: rig.roles[r] for r in JOINT_MAP_ROLES}
    got = {k: mapped["joint_map"].get(k) for k in want}
    assert got == want, f"{rig.name}: {mapped}"
    assert rig.convention in mapped["conventions"]["rig"], mapped["conventions"]
    if model == SOMA:
        assert "soma" in mapped["conventions"]["take"], mapped["conventions"]
    unmapped = set(mapped["unmapped_bones"])
    assert set(SIDE_BONES.get(rig.name, [])) <= unmapped, mapped["unmapped_bones"]
    assert not set(TWIST_SEGMENTS.get(rig.name, [])) & unmapped, mapped["unmapped_bones"]
    # Nothing applied.
    after = {a["name"]: a.get("action") for a in mcp.tool("list_armatures")["result"]}
    assert after == before, (before, after)


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_generate_onto_rig(mcp, rig_name, model, tmp_path):
    rig = RIGS[rig_name]
    result = mcp.tool(
        "generate_motion",
        {
            "prompt": "a person walks forward",
            "seconds": 2,
            "model": model,
            "seed": 11,
            "armature": rig.name,
        },
    )
    assert_retargeted(mcp, result, model, rig, tmp_path, CANONICAL.get(model))


@pytest.mark.parametrize("rig_name", ["MixamoRig", "UE5Mannequin"])
def test_the_rig_take_is_what_the_rig_plays(mcp, rig_name, tmp_path):
    """The retargeted take is kept (`retarget.rig_take_id`, on the rig's own skeleton) and its
    forward kinematics is what Blender shows, within 1 mm: the apply contract, after retargeting."""
    rig = RIGS[rig_name]
    result = mcp.tool(
        "generate_motion",
        {"prompt": "walk", "seconds": 1, "model": SOMA, "seed": 8, "armature": rig.name},
    )
    rig_take_id = result["retarget"]["rig_take_id"]
    path = tmp_path / "rig_take.gltf"
    mcp.tool("save_motion", {"take_id": rig_take_id, "path": str(path)})
    take = read_take(path)
    assert set(take["names"]) == {b[0] for b in rig.bones}, take["names"]
    frames = [0, 11, take["frames"] - 1]
    start = result["applied"]["result"]["frame_start"]
    pose = mcp.tool("sample_pose", {"armature": rig.name, "frames": [start + f for f in frames]})
    for i, frame in enumerate(frames):
        want = forward_kinematics(
            take["skeleton"], take["names"], take["rotations"], take["roots"], frame
        )
        for bone, position in want.items():
            error = math.dist(pose[bone][i], position)
            assert error < 1e-3, (bone, frame, pose[bone][i], position)


def test_auto_retarget_onto_the_models_own_skeleton_changes_nothing(mcp, tmp_path):
    result = mcp.tool(
        "generate_motion",
        {"prompt": "walk", "seconds": 2, "model": SOMA, "seed": 2, "armature": SOMA_RIG.name},
    )
    assert_retargeted(mcp, result, SOMA, SOMA_RIG, tmp_path, soma_server.NAMES)
    joint_map = mcp.tool("map_rig", {"armature": SOMA_RIG.name, "take_id": result["take_id"]})["joint_map"]
    assert all(joint_map.get(n) == n for n in SOMA_ROLES.values()), joint_map
    assert result["retarget"]["mapped_joints"] == len(joint_map), result["retarget"]


def test_legs_that_must_bend_bend_forward_and_keep_the_feet_planted(mcp, tmp_path):
    """LONG_LEGS cannot follow the source's stance legs within 6 degrees (they are too long for
    its hip height); what can be asked: feet planted, knees bending forward, the hips on the path,
    and every other segment within 2 degrees."""
    result = mcp.tool(
        "generate_motion",
        {"prompt": "walk", "seconds": 2, "model": SOMA, "seed": 4, "armature": LONG_LEGS.name},
    )
    take = source_take(mcp, result["take_id"], tmp_path / "source.gltf")
    rig_rest = rest_positions(mcp.tool("get_skeleton", {"armature": LONG_LEGS.name}))
    ref = ReferenceFrame.of(rest_positions(take["skeleton"]), SOMA_ROLES, rig_rest, LONG_LEGS.roles)
    frame_start = result["applied"]["result"]["frame_start"]
    problems = check_motion(mcp, SOMA, LONG_LEGS, take, frame_start, ref, rig_rest)
    legs = ("segment thigh", "segment shin")
    assert result["retarget"]["feet"]["planted_frames"] > 0, result["retarget"]
    assert not [p for p in problems if not p.startswith(legs)], "\n".join(problems)


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_apply_existing_take(mcp, soma_take, rig_name, tmp_path):
    rig = RIGS[rig_name]
    result = mcp.tool("apply_motion", {"take_id": soma_take, "armature": rig.name})
    assert result["take_id"] == soma_take, result
    assert_retargeted(mcp, result, SOMA, rig, tmp_path, soma_server.NAMES)


@pytest.mark.parametrize("armature", list(NOT_HUMANOID))
def test_not_a_humanoid_is_an_error_and_nothing_is_applied(mcp, armature):
    error = mcp.error("map_rig", {"armature": armature, "model": SOMA})
    assert error["code"] == "not_humanoid" and error["details"]["skeleton"] == "rig", error
    missing = error["details"]["missing"]
    assert "leg" in " ".join(missing).lower(), error  # legs are what a humanoid needs first
    assert all(m in error["message"] for m in missing), error  # the message names them too
    failed = mcp.error(
        "generate_motion", {"prompt": "walk", "seconds": 1, "model": SOMA, "armature": armature}
    )
    assert failed["code"] == "not_humanoid", failed
    armatures = {a["name"]: a for a in mcp.tool("list_armatures")["result"]}
    assert not armatures[armature].get("action"), f"something was applied: {armatures[armature]}"
    rest = rest_positions(mcp.tool("get_skeleton", {"armature": armature}))
    pose = mcp.tool("sample_pose", {"armature": armature, "frames": [1, 30]})
    for bone, positions in pose.items():
        for p in positions:
            assert math.dist(p, rest[bone]) < 1e-5, (bone, p, rest[bone])


def test_bone_map_naming_a_missing_bone_is_invalid_arguments(mcp, soma_take):
    bone_map = {"LeftLeg": "mixamorig:NoSuchBone"}
    for tool, arguments in [
        ("map_rig", {"armature": "MixamoRig", "model": SOMA, "bone_map": bone_map}),
        ("apply_motion", {"take_id": soma_take, "armature": "MixamoRig", "bone_map": bone_map}),
        (
            "generate_motion",
            {
                "prompt": "walk",
                "seconds": 1,
                "model": SOMA,
                "armature": "MixamoRig",
                "bone_map": bone_map,
            },
        ),
    ]:
        error = mcp.error(tool, arguments)
        assert error["code"] == "invalid_arguments", (tool, error)
        assert "mixamorig:NoSuchBone" in error["message"], (tool, error)


def test_bone_map_overrides_the_detected_map(mcp, soma_take, tmp_path):
    """A bone_map entry wins over detection: the opaque rig's left hand role given to its middle
    finger's first bone, by the user."""
    rig = RIGS["OpaqueRig"]
    finger = next(b[0] for b in rig.bones if b[1] == rig.roles["hand_L"])
    mapped = mcp.tool(
        "map_rig", {"armature": rig.name, "take_id": soma_take, "bone_map": {"LeftHand": finger}}
    )
    assert mapped["joint_map"]["LeftHand"] == finger, mapped
    assert mapped["joint_map"]["LeftArm"] == rig.roles["upper_arm_L"], mapped
