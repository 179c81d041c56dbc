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

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the MCP SDK (`mcp`) is in the test venv ($PYTHON)")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "mmcp"))

import soma_server  # noqa: E402
from bridge_client import RUN_PY  # noqa: E402
from retarget_rigs import (  # noqa: E402
    JOINT_MAP_ROLES,
    LEG_SEGMENTS,
    PROCEDURAL_ROLES,
    RIGS,
    SEGMENTS,
    SOMA_ROLES,
    STICK_BONES,
    TAIL_BONES,
    ReferenceFrame,
    angle_degrees,
    direction,
    heading_degrees,
    rest_positions,
    rotate_y,
)
from rigs import build_blend, forward_kinematics  # noqa: E402
from stagecraft_mcp import STAGECRAFT_BIN, McpSession, read_take, toml_config  # noqa: E402

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

SOMA, PROCEDURAL = "soma30-walk", "stagecraft-procedural"
SOURCE_ROLES = {SOMA: SOMA_ROLES, PROCEDURAL: PROCEDURAL_ROLES}
SEGMENT_DEGREES, LEG_CONTACT_DEGREES = 2.0, 6.0
HIPS_METRES, HIPS_FRACTION = 0.02, 0.03
PLANTED_METRES = 0.01
EVERY = 5  # check segments, hips and knees every 5th frame; contacts on every frame
NOT_HUMANOID = {"Tail": TAIL_BONES, "Stick": STICK_BONES}


@pytest.fixture(scope="module")
def soma_url():
    with soma_server.running() as url:
        yield url


@pytest.fixture(scope="module")
def rigs_blend(bpy_python, tmp_path_factory):
    path = tmp_path_factory.mktemp("retarget") / "rigs.blend"
    rigs = [
        (rig.name, rig.blender_bones(), rig.location, rig.rotation, (rig.scale,) * 3)
        for rig in RIGS.values()
    ]
    rigs.append(("Tail", TAIL_BONES, (5.0, 5.0, 0.0), (0.0, 0.0, 0.0), (1.0,) * 3))
    rigs.append(("Stick", STICK_BONES, (6.0, 5.0, 0.0), (0.0, 0.0, 0.0), (1.0,) * 3))
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
# Reading the source take and the rig


def source_take(mcp, take_id, path):
    """The stored take (its model's skeleton), with its world FK per frame and foot contacts."""
    saved = mcp.tool("save_motion", {"take_id": take_id, "path": str(path)})
    assert saved["format"] == "gltf", saved
    take = read_take(path)
    with open(path, encoding="utf-8") as f:
        sample = json.load(f)["extensions"]["MMCP_motion"]["samples"][0]
    take["contacts"] = sample.get("foot_contacts") or {}
    take["world"] = [
        forward_kinematics(take["skeleton"], take["names"], take["rotations"], take["roots"], t)
        for t in range(take["frames"])
    ]
    return take


def contact_runs(flags):
    """[(first, last)] frame ranges where `flags` holds."""
    runs, start = [], None
    for t, down in enumerate(flags + [False]):
        if down and start is None:
            start = t
        elif not down and start is not None:
            runs.append((start, t - 1))
            start = None
    return runs


def check_retarget(mcp, result, model, rig, take, frame_start):
    """Every check of the module docstring for a take applied to `rig`; returns the problems
    found (strings, with the numbers), so that one failure reports all of them."""
    source_roles = SOURCE_ROLES[model]
    rig_rest = rest_positions(mcp.tool("get_skeleton", {"armature": rig.name}))
    source_rest = rest_positions(take["skeleton"])
    ref = ReferenceFrame.of(source_rest, source_roles, rig_rest, rig.roles)
    problems = []

    info = result.get("retarget")
    if not isinstance(info, dict):
        return [f"no `retarget` block in the result: {sorted(result)}"]
    joint_map = info.get("joint_map", {})
    for role in JOINT_MAP_ROLES:
        if joint_map.get(source_roles[role]) != rig.roles[role]:
            problems.append(
                f"joint_map[{source_roles[role]}] = {joint_map.get(source_roles[role])}, "
                f"want {rig.roles[role]}"
            )
    if abs(info.get("scale", 0.0) - ref.scale) > 0.01 * ref.scale:
        problems.append(f"retarget.scale {info.get('scale')}, want {ref.scale:.4f}")
    heading_error = (info.get("heading_degrees", 1e9) - ref.heading + 180.0) % 360.0 - 180.0
    if abs(heading_error) > 2.0:
        problems.append(f"retarget.heading_degrees {info.get('heading_degrees')}, want {ref.heading:.2f}")
    start = info.get("start") or [1e9] * 3
    if math.hypot(start[0] - ref.start[0], start[2] - ref.start[2]) > 0.01:
        problems.append(f"retarget.start {start}, want the rig's hips at {ref.start} (x, z)")

    bones = sorted(set(rig.roles.values()))
    frames = list(range(take["frames"]))
    pose = mcp.tool(
        "sample_pose",
        {"armature": rig.name, "frames": [frame_start + t for t in frames], "joint_names": bones},
    )
    src = take["world"]
    contact_side = {"L": [False] * len(frames), "R": [False] * len(frames)}
    for joint, flags in take["contacts"].items():
        for s in ("L", "R"):
            if joint in (source_roles[f"foot_{s}"], source_roles[f"toe_{s}"]):
                contact_side[s] = [a or b for a, b in zip(contact_side[s], flags)]

    # Segments.
    worst = {}
    for t in frames[::EVERY]:
        for name, a, b in SEGMENTS:
            want = rotate_y(direction(src[t][source_roles[a]], src[t][source_roles[b]]), ref.heading)
            got = direction(pose[rig.roles[a]][t], pose[rig.roles[b]][t])
            error = angle_degrees(got, want)
            side = name[-1]
            bound = SEGMENT_DEGREES
            if name in LEG_SEGMENTS and contact_side[side][t]:
                bound = LEG_CONTACT_DEGREES
            if error > bound and error > worst.get(name, (0.0,))[0]:
                worst[name] = (error, t, bound)
    for name, (error, t, bound) in sorted(worst.items()):
        problems.append(f"segment {name}: {error:.1f} degrees off at take frame {t} (bound {bound})")

    # Hips.
    hips_src, hips_rig = source_roles["hips"], rig.roles["hips"]
    worst_hips = None
    for t in frames[::EVERY]:
        want = ref.hips(src[t][hips_src], src[0][hips_src])
        got = pose[hips_rig][t]
        travelled = math.hypot(want[0] - ref.start[0], want[2] - ref.start[2])
        error = math.dist(got, want)
        if error > HIPS_METRES + HIPS_FRACTION * travelled and (not worst_hips or error > worst_hips[0]):
            worst_hips = (error, t, got, want)
    if worst_hips:
        error, t, got, want = worst_hips
        problems.append(
            f"hips {error * 100:.1f} cm off at take frame {t}: {[round(c, 3) for c in got]}, "
            f"want {[round(c, 3) for c in want]}"
        )

    # Contacts.
    if not take["contacts"]:
        problems.append("the stored take has no foot_contacts")
    for joint, flags in take["contacts"].items():
        role = next((r for r, n in source_roles.items() if n == joint), None)
        if role is None:
            continue
        bone = rig.roles[role]
        for first, last in contact_runs(list(flags)):
            anchor = pose[bone][first]
            slid = max(math.dist(pose[bone][t], anchor) for t in range(first, last + 1))
            source_slid = max(
                math.dist(src[t][joint], src[first][joint]) for t in range(first, last + 1)
            )
            if slid > PLANTED_METRES:
                problems.append(
                    f"{bone} ({joint} in contact, frames {first}-{last}) slides "
                    f"{slid * 100:.1f} cm (the source's {joint}: {source_slid * 100:.1f} cm)"
                )

    # Knees forward.
    forward = rotate_y((0.0, 0.0, 1.0), heading_degrees(rig_rest, rig.roles))
    for s in ("L", "R"):
        most = 0.0
        for t in frames[::EVERY]:
            hip, knee, ankle = (pose[rig.roles[f"{r}_{s}"]][t] for r in ("thigh", "shin", "foot"))
            line = direction(hip, ankle)
            rel = [k - h for k, h in zip(knee, hip)]
            along = sum(r * u for r, u in zip(rel, line))
            bend = [r - along * u for r, u in zip(rel, line)]
            size = math.sqrt(sum(c * c for c in bend))
            most = max(most, size)
            if size > 0.01 and sum(b * f for b, f in zip(bend, forward)) < 0:
                problems.append(f"knee {s} bends backward by {size * 100:.1f} cm at take frame {t}")
                break
        if most < 0.03:
            problems.append(f"knee {s} never bends (at most {most * 100:.1f} cm off the hip-ankle line)")
    return problems


def assert_retargeted(mcp, result, model, rig, tmp_path):
    take = source_take(mcp, result["take_id"], tmp_path / "source.gltf")
    canonical = soma_server.NAMES if model == SOMA else None
    if canonical:
        assert take["names"] == canonical, f"the stored take is not on SOMA30: {take['names']}"
    assert all(n in take["names"] for n in SOURCE_ROLES[model].values()), take["names"]
    # generate_motion nests what the DCC did under `applied`; apply_motion returns it flat.
    frame_start = (result["applied"]["result"] if "applied" in result else result)["frame_start"]
    problems = check_retarget(mcp, result, model, rig, take, frame_start)
    assert not problems, f"{model} on {rig.name}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------


def test_rigs_are_where_the_tests_think(mcp):
    """The fixture itself: every rig's rest pose, read by get_skeleton, is the one described
    (so the reference math starts from the right place)."""
    listed = {a["name"] for a in mcp.tool("list_armatures")["result"]}
    assert listed == set(RIGS) | set(NOT_HUMANOID), listed
    for rig in RIGS.values():
        rest = rest_positions(mcp.tool("get_skeleton", {"armature": rig.name}))
        for bone, want in rig.world_rest().items():
            assert math.dist(rest[bone], want) < 1e-4, (rig.name, bone, rest[bone], want)
        assert abs((heading_degrees(rest, rig.roles) - rig.heading + 180) % 360 - 180) < 0.01


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_map_rig(mcp, rig_name, model):
    rig = RIGS[rig_name]
    mapped = mcp.tool("map_rig", {"armature": rig.name, "model": model})
    roles = SOURCE_ROLES[model]
    want = {roles[r]: rig.roles[r] for r in JOINT_MAP_ROLES}
    got = {k: mapped["joint_map"].get(k) for k in want}
    assert got == want, f"{rig.name}: {mapped}"
    assert rig.convention in mapped["conventions"]["rig"], mapped["conventions"]
    if model == SOMA:
        assert "soma" in mapped["conventions"]["take"], mapped["conventions"]
    # Nothing applied.
    armatures = {a["name"]: a for a in mcp.tool("list_armatures")["result"]}
    assert not armatures[rig.name].get("action"), armatures[rig.name]


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_generate_onto_rig(mcp, rig_name, model, tmp_path):
    rig = RIGS[rig_name]
    result = mcp.tool(
        "generate_motion",
        {"prompt": "a person walks forward", "seconds": 2, "model": model, "seed": 11, "armature": rig.name},
    )
    assert_retargeted(mcp, result, model, rig, tmp_path)


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_apply_existing_take(mcp, soma_take, rig_name, tmp_path):
    rig = RIGS[rig_name]
    result = mcp.tool("apply_motion", {"take_id": soma_take, "armature": rig.name})
    assert result["take_id"] == soma_take, result
    assert_retargeted(mcp, result, SOMA, rig, tmp_path)


@pytest.mark.parametrize("armature", list(NOT_HUMANOID))
def test_not_a_humanoid_is_an_error_and_nothing_is_applied(mcp, armature):
    error = mcp.error("map_rig", {"armature": armature, "model": SOMA})
    message = error["message"].lower()
    assert "humanoid" in message and any(w in message for w in ("leg", "arm", "hips")), error
    failed = mcp.error(
        "generate_motion", {"prompt": "walk", "seconds": 1, "model": SOMA, "armature": armature}
    )
    assert "humanoid" in failed["message"].lower(), failed
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
            {"prompt": "walk", "seconds": 1, "model": SOMA, "armature": "MixamoRig", "bone_map": bone_map},
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
