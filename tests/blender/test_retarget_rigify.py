"""Retargeting onto a generated Rigify control rig on real Blender, end to end: an MCP client
drives `stagecraft serve`, which has Blender generate the human metarig's control rig (through
`execute_script`), maps the models' skeletons onto its deform bones and generates walks onto it
with the SOMA30 fixture server and the built-in model.

The adapter describes such a rig by its DEF bones and keys its FK controls
(adapters/blender/README.md, "Rigify control rigs"), so the DEF bones are what the rig does and
what is checked, with the same checks as every other rig (retarget_checks.py, described in
test_retarget.py): segments within 2 degrees (6 for legs in and around a contact), the hips on
the path within 2 cm + 3 %, contact feet and toes within 1 cm, knees bending forward. A segment
runs from one role's head to the next (thigh: DEF-thigh.L -> DEF-shin.L), across the twist
segment (DEF-thigh.L.001) the FK control folds in. And the limbs' IK/FK switches end at FK.
"""

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("mcp", reason="the MCP SDK (`mcp`) is in the test venv ($PYTHON)")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "mmcp"))

import soma_server  # noqa: E402
from bridge_client import RUN_PY  # noqa: E402
from retarget_checks import PROCEDURAL, SOMA, SOURCE_ROLES, assert_retargeted  # noqa: E402
from retarget_rigs import JOINT_MAP_ROLES, RIGS, heading_degrees, rest_positions  # noqa: E402
from rigs import forward_kinematics  # noqa: E402
from stagecraft_mcp import STAGECRAFT_BIN, McpSession, read_take, toml_config  # noqa: E402
from test_retarget import TWIST_SEGMENTS as TWIST_SEGMENTS_OF  # noqa: E402
from test_rigify import GENERATE, PLACE, SWITCH_BONES, SWITCHES  # noqa: E402

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

# The control rig's deform bones take the same roles as the deform-only Rigify rig of
# retarget_rigs.py: DEF-spine hips, DEF-spine.004 neck, DEF-spine.006 head, DEF-thigh.L, ...
RIG = SimpleNamespace(name="RigifyControl", roles=RIGS["RigifyDeform"].roles)
# Turned 90 degrees about Z (the metarig faces -Y, so the rig faces +X: MMCP heading 90) and
# standing away from the origin.
LOCATION, ROTATION, HEADING = (2.0, 1.0, 0.0), (0.0, 0.0, 90.0), 90.0
TWIST_SEGMENTS = TWIST_SEGMENTS_OF["RigifyDeform"]  # DEF-thigh.L.001, ...
CANONICAL = {SOMA: soma_server.NAMES}  # the built-in model's is checked by its role joints


@pytest.fixture(scope="module")
def soma_url():
    with soma_server.running() as url:
        yield url


@pytest.fixture(scope="module")
def mcp(bpy_python, soma_url, tmp_path_factory):
    """stagecraft with one Blender that runs scripts (to generate the rig and read its
    switches) and the SOMA30 server."""
    dcc = {
        "name": "blender",
        "bridge": "embedded",
        "command": [bpy_python, RUN_PY, "--stdio", "--allow-scripts"],
    }
    backend = {"name": "soma", "url": soma_url, "timeout_seconds": 60}
    config = tmp_path_factory.mktemp("config") / "stagecraft.toml"
    config.write_text("[skills]\nallow_scripts = true\n\n" + toml_config([dcc], [backend]))
    session = McpSession(config, timeout=300)
    try:
        yield session
    finally:
        session.close()


def script(mcp, code, **args):
    out = mcp.tool("execute_script", {"dcc": "blender", "code": code, "args": args})
    assert out["success"], out
    return out["result"]


@pytest.fixture(scope="module")
def rig(mcp):
    made = script(mcp, GENERATE, name=RIG.name)
    assert made["bones"] > 300 and isinstance(made["rig_id"], str), made
    script(mcp, PLACE, name=RIG.name, location=LOCATION, rotation=ROTATION)
    return RIG


def test_the_rig_is_the_deform_skeleton_where_it_stands(mcp, rig):
    skeleton = mcp.tool("get_skeleton", {"armature": rig.name})
    rest = rest_positions(skeleton)
    assert all(name.startswith("DEF-") for name in rest), sorted(rest)
    assert set(rig.roles.values()) <= set(rest), set(rig.roles.values()) - set(rest)
    assert abs(heading_degrees(rest, rig.roles) - HEADING) < 0.01, heading_degrees(rest, rig.roles)
    # Blender (2, 1, 0) is MMCP (2, 0, -1): the hips stand above it.
    hips = rest[rig.roles["hips"]]
    assert math.dist((hips[0], hips[2]), (LOCATION[0], -LOCATION[1])) < 0.1, hips


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
def test_map_rig(mcp, rig, model):
    mapped = mcp.tool("map_rig", {"armature": rig.name, "model": model})
    roles = SOURCE_ROLES[model]
    want = {roles[r]: rig.roles[r] for r in JOINT_MAP_ROLES}
    got = {k: mapped["joint_map"].get(k) for k in want}
    assert got == want, mapped
    assert "rigify" in mapped["conventions"]["rig"], mapped["conventions"]
    # The twist segments share their limb's role and move with it.
    assert not set(TWIST_SEGMENTS) & set(mapped["unmapped_bones"]), mapped["unmapped_bones"]
    # Nothing applied.
    armatures = {a["name"]: a for a in mcp.tool("list_armatures")["result"]}
    assert not armatures[rig.name].get("action"), armatures[rig.name]


@pytest.mark.parametrize("model", [SOMA, PROCEDURAL])
def test_generate_onto_the_control_rig(mcp, rig, model, tmp_path):
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
    applied = result["applied"]["result"]
    # What Blender plays is the retargeted take (`retarget.rig_take_id`, on the DEF skeleton):
    # every joint an FK control carries is on its forward kinematics, within 1 mm.
    path = tmp_path / "rig_take.gltf"
    mcp.tool("save_motion", {"take_id": result["retarget"]["rig_take_id"], "path": str(path)})
    rig_take = read_take(path)
    frames = list(range(0, rig_take["frames"], 10)) + [rig_take["frames"] - 1]
    joints = result["joints_applied"]
    assert set(rig.roles.values()) <= set(joints), joints
    pose = mcp.tool(
        "sample_pose",
        {
            "armature": rig.name,
            "frames": [applied["frame_start"] + f for f in frames],
            "joint_names": joints,
        },
    )
    for i, frame in enumerate(frames):
        want = forward_kinematics(
            rig_take["skeleton"], rig_take["names"], rig_take["rotations"], rig_take["roots"], frame
        )
        for joint in joints:
            error = math.dist(pose[joint][i], want[joint])
            assert error < 1e-3, (joint, frame, pose[joint][i], want[joint])
    # The switches' keys say FK, whatever they were set to before the frame is evaluated.
    middle = applied["frame_start"] + 30
    switches = script(mcp, SWITCHES, name=rig.name, frame=middle, bones=SWITCH_BONES)
    assert switches == {n: 1.0 for n in SWITCH_BONES}, switches
    # And what it plays is the source motion on this rig.
    assert_retargeted(mcp, result, model, rig, tmp_path, CANONICAL.get(model))
