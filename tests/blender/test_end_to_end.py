"""End to end: an MCP client (the Python `mcp` SDK) drives the real `stagecraft serve`, which
drives real Blender (run.py) and the MMCP SDK's reference server.

The rigs are built beforehand in a .blend that Blender opens (`--open`): a humanoid whose bone
names are the built-in model's skeleton, with a different roll on every bone, on an armature object
rotated (20°, -35°, 50°) and scaled 0.7; the same rig without hands and toes; and a rig with the
reference model's canonical skeleton. A generated take is saved as glTF through MCP, decoded here,
and its forward kinematics must match what `sample_pose` reads back from Blender within 1e-3 m.

Every test runs on each bridge: Blender embedded (stagecraft starts it), and Blender listening
on a websocket, over http and on a named pipe (a Unix socket), with a token (started here).
"""

import json
import math
import os
import signal
import time
import urllib.request

import pytest

pytest.importorskip("mcp", reason="the MCP SDK (`mcp`) is in the test venv ($PYTHON)")

from bridge_client import RUN_PY, Server  # noqa: E402
from rigs import (  # noqa: E402
    HUMANOID_BONES,
    bones_from_mmcp_skeleton,
    build_blend,
    forward_kinematics,
    run_bpy,
)
from stagecraft_mcp import (  # noqa: E402
    STAGECRAFT_BIN,
    McpSession,
    png_from,
    png_pixels,
    png_size,
    read_take,
    reference_server,
    toml_config,
)

pytestmark = pytest.mark.skipif(
    not STAGECRAFT_BIN, reason="STAGECRAFT_BIN is not set: run the suite through scripts/test.sh"
)

TOLERANCE_M = 1e-3
ROTATION, SCALE = (20.0, -35.0, 50.0), 0.7
HUMANOID = [b[0] for b in HUMANOID_BONES]
MISSING = ["LeftToeBase", "RightToeBase", "LeftHand", "RightHand"]
PARTIAL = [n for n in HUMANOID if n not in MISSING]
TOKEN_ENV, TOKEN = "STAGECRAFT_E2E_TOKEN", "e2e-bridge-token"
PROCEDURAL = "stagecraft-procedural"


@pytest.fixture(scope="module")
def reference():
    """The MMCP reference server: its URL and its one model's capabilities."""
    with reference_server() as url:
        with urllib.request.urlopen(url + "/capabilities", timeout=10) as r:
            caps = json.load(r)
        (model,) = [m for m in caps["models"] if m["id"] == "null"]
        yield url, model


@pytest.fixture(scope="module")
def rig_blend(bpy_python, reference, tmp_path_factory):
    _, model = reference
    path = tmp_path_factory.mktemp("rigs") / "rigs.blend"
    partial = [b for b in HUMANOID_BONES if b[0] not in MISSING]
    # The reference model does not retarget: its rig has the canonical skeleton's world rest
    # pose, moved away so that applying the take has to bring the root back.
    null_bones = bones_from_mmcp_skeleton(
        model["canonical_skeleton"], (1.0, 2.0, -0.5), (-30.0, 60.0, 15.0), 1.3, (1.5, 0.4, -2.0)
    )
    build_blend(
        bpy_python,
        path,
        [
            ("Humanoid", HUMANOID_BONES, (0.4, -1.2, 0.3), ROTATION, (SCALE,) * 3),
            ("Partial", partial, (2.0, 1.0, 0.0), ROTATION, (SCALE,) * 3),
            ("NullRig", null_bones, (1.0, 2.0, -0.5), (-30.0, 60.0, 15.0), (1.3,) * 3),
        ],
    )
    return path


class Blender:
    """The MCP session plus what a test needs to know about the Blender behind it."""

    def __init__(self, session, bridge):
        self.mcp, self.bridge = session, bridge


LISTENING = {"websocket": "--ws", "http": "--http", "named_pipe": "--pipe"}


@pytest.fixture(scope="module", params=["embedded", "websocket", "http", "named_pipe"])
def blender(request, bpy_python, reference, rig_blend, tmp_path_factory):
    url, _ = reference
    env = dict(os.environ, **{TOKEN_ENV: TOKEN})
    adapter = None
    bridge = request.param
    if bridge == "embedded":
        dcc = {
            "name": "blender",
            "bridge": "embedded",
            "command": [bpy_python, RUN_PY, "--stdio", "--open", str(rig_blend)],
        }
    else:
        address = "127.0.0.1:0"
        if bridge == "named_pipe":
            address = str(tmp_path_factory.mktemp("pipe") / "blender.sock")
        adapter = Server(
            bpy_python,
            [LISTENING[bridge], address, "--token-env", TOKEN_ENV, "--open", str(rig_blend)],
            env=env,
        )
        dcc = {
            "name": "blender",
            "bridge": bridge,
            "endpoint": adapter.endpoint(bridge),
            "token_env": TOKEN_ENV,
        }
    backend = {"name": "reference", "url": url, "timeout_seconds": 60}
    config = tmp_path_factory.mktemp("config") / "stagecraft.toml"
    config.write_text(toml_config(dccs=[dcc], backends=[backend]))
    try:
        session = McpSession(config, env=env)
        try:
            yield Blender(session, bridge)
        finally:
            session.close()
    finally:
        if adapter is not None:
            assert adapter.stop() == 0, "".join(adapter.stderr[-30:])


# ---------------------------------------------------------------------------------------


def generate(blender, progress=None, **arguments):
    # These tests pin the adapter's apply_motion contract: the rig plays the take's own forward
    # kinematics. That is `retarget: "names"`; retargeting (the default) is test_retarget.py's.
    arguments.setdefault("retarget", "names")
    result = blender.mcp.call("generate_motion", arguments, progress=progress)
    assert not result.is_error, f"generate_motion {arguments}: {result.structured_content}"
    result = result.structured_content
    assert result["take_id"] and result["uri"] == f"take://{result['take_id']}", result
    return result


def saved_take(blender, take_id, path, sample=0):
    saved = blender.mcp.tool("save_motion", {"take_id": take_id, "path": str(path)})
    assert saved["path"] == str(path) and saved["format"] == "gltf", saved
    assert os.path.getsize(path) == saved["bytes"], saved
    return read_take(path, sample)


def sample_pose(blender, armature, frames, **extra):
    pose = blender.mcp.tool("sample_pose", {"armature": armature, "frames": frames, **extra})
    for joint, positions in pose.items():
        assert len(positions) == len(frames), f"{joint}: {len(positions)} positions"
    return pose


def assert_pose_is_fk(blender, armature, take, frames, start=1, joints=None, roots=None):
    """sample_pose at scene frames start + i equals the FK of take frame i, joint by joint."""
    pose = sample_pose(blender, armature, [start + f for f in frames])
    roots = roots or take["roots"]
    worst = 0.0
    for i, frame in enumerate(frames):
        want = forward_kinematics(take["skeleton"], take["names"], take["rotations"], roots, frame)
        for joint in joints or want:
            got = pose[joint][i]
            error = max(abs(g - w) for g, w in zip(got, want[joint]))
            worst = max(worst, error)
            assert error < TOLERANCE_M, (
                f"{armature} take frame {frame} (scene frame {start + frame}) joint {joint}: "
                f"sample_pose {got} != FK {list(want[joint])} ({error:.2e} m)"
            )
    return worst


def quat_angle(q):
    """The rotation angle of a quaternion, in radians."""
    norm = math.sqrt(sum(c * c for c in q))
    return 2 * math.acos(min(1.0, abs(q[3]) / norm))


# ---------------------------------------------------------------------------------------


def test_list_dccs_and_armatures(blender):
    listed = blender.mcp.tool("list_dccs")
    assert listed["default"] == "blender", listed
    first = listed["connections"][0]
    assert first["name"] == "blender" and first["bridge"] == blender.bridge, first

    armatures = blender.mcp.tool("list_armatures")["result"]
    joints = {a["name"]: a["joints"] for a in armatures}
    assert joints == {"Humanoid": 22, "Partial": 18, "NullRig": 5}, armatures

    first = blender.mcp.tool("list_dccs")["connections"][0]
    assert first["state"] == "connected", first
    assert first["info"]["dcc_type"] == "blender", first["info"]
    assert first["info"]["version"].startswith(("4.", "5.")), first["info"]
    assert first["capabilities"]["animation"] is True, first["capabilities"]
    assert "animation.apply_motion" in first["methods"], first["methods"]


def test_procedural_take_on_the_humanoid_matches_forward_kinematics(blender, tmp_path):
    progress = []
    arguments = {
        "prompt": "a person walks forward and waves",
        "seconds": 2,
        "armature": "Humanoid",
        "model": PROCEDURAL,
    }
    result = generate(blender, progress=progress, **arguments)
    if blender.bridge != "http":  # the only bridge without notifications
        # Blender reports its keying as MCP progress, in order.
        keying = [p for p in progress if p[2] and p[2].startswith("keying ")]
        assert keying and [p[0] for p in keying] == sorted(p[0] for p in keying), progress
    assert result["model"] == PROCEDURAL and result["backend"] == "builtin", result
    assert sorted(result["joints_applied"]) == sorted(HUMANOID), result["joints_applied"]
    assert result["joints_skipped"] == [], result["joints_skipped"]
    applied = result["applied"]["result"]
    assert (applied["frame_start"], applied["frame_end"]) == (1, result["frames"]), applied
    armatures = {a["name"]: a for a in blender.mcp.tool("list_armatures")["result"]}
    assert armatures["Humanoid"].get("action") == applied["action"], armatures

    take = saved_take(blender, result["take_id"], tmp_path / "walk.gltf")
    assert len(take["names"]) == result["joint_count"] and take["frames"] == result["frames"] == 60
    # The model retargets: the take is on the rig's own skeleton (world-aligned rest offsets).
    rig = blender.mcp.tool("get_skeleton", {"armature": "Humanoid"})
    rest = {j["name"]: j["rest_translation"] for j in rig["joints"]}
    for joint in take["skeleton"]["joints"]:
        want = rest[joint["name"]]
        assert all(abs(a - b) < 1e-5 for a, b in zip(joint["rest_translation"], want)), joint
    # Not a trivial take: the character travels and its joints really rotate.
    first, last = take["roots"][0], take["roots"][-1]
    assert sum((a - b) ** 2 for a, b in zip(first, last)) ** 0.5 > 1.0, (first, last)
    assert max(quat_angle(q) for row in take["rotations"] for q in row) > 0.3

    T = take["frames"]
    assert_pose_is_fk(blender, "Humanoid", take, [0, 1, 13, T // 2, T - 2, T - 1])


def test_start_frame_second_sample_in_place(blender, tmp_path):
    result = generate(
        blender,
        prompt="a person runs",
        seconds=1,
        armature="Humanoid",
        model=PROCEDURAL,
        num_samples=2,
        sample=1,
        start_frame=40,
        in_place=True,
        seed=5,
    )
    assert result["samples"] == 2 and result["applied"]["sample"] == 1, result
    applied = result["applied"]["result"]
    assert (applied["frame_start"], applied["frame_end"]) == (40, 40 + result["frames"] - 1)
    take = saved_take(blender, result["take_id"], tmp_path / "run.gltf", sample=1)
    other = read_take(tmp_path / "run.gltf", sample=0)
    assert other["rotations"] != take["rotations"], "the two samples are the same motion"
    # in_place: the root keeps its height and holds frame 0's ground-plane position.
    x0, _, z0 = take["roots"][0]
    roots = [[x0, y, z0] for _, y, _ in take["roots"]]
    T = take["frames"]
    assert_pose_is_fk(blender, "Humanoid", take, [0, 7, T - 1], start=40, roots=roots)


def test_root_path_constraint_takes_the_rig_there(blender):
    """A root_path constraint (MMCP world xz) brings Blender's root bone to those points."""
    frames, points = [0, 30, 59], [[0.0, 0.0], [1.0, 0.5], [2.0, 1.0]]
    generate(
        blender,
        prompt="a person walks",
        seconds=2,
        armature="Humanoid",
        model=PROCEDURAL,
        constraints=[{"type": "root_path", "frames": frames, "positions_xz": points}],
    )
    hips = sample_pose(blender, "Humanoid", [1 + f for f in frames], joint_names=["Hips"])["Hips"]
    for frame, (x, z), (hx, _, hz) in zip(frames, points, hips):
        assert (
            math.hypot(hx - x, hz - z) < 0.05
        ), f"take frame {frame}: root at {hx, hz}, not {x, z}"


def test_fps_argument_sets_the_take_and_scene_rate(blender, tmp_path):
    result = generate(
        blender, prompt="a person walks", seconds=1, armature="Humanoid", model=PROCEDURAL, fps=24
    )
    assert (result["fps"], result["frames"]) == (24.0, 24), result
    assert blender.mcp.tool("get_frame_range")["fps"] == 24.0
    take = saved_take(blender, result["take_id"], tmp_path / "24fps.gltf")
    assert_pose_is_fk(blender, "Humanoid", take, [0, 12, 23])


def test_reference_model_on_its_canonical_rig(blender, reference, tmp_path):
    _, model = reference
    canonical = [j["name"] for j in model["canonical_skeleton"]["joints"]]
    result = generate(
        blender, prompt="a person stands", seconds=1, armature="NullRig", model="null"
    )
    assert result["backend"] == "reference" and result["model"] == "null", result
    assert result["joints_applied"] == canonical and result["joints_skipped"] == [], result

    take = saved_take(blender, result["take_id"], tmp_path / "null.gltf")
    assert take["names"] == canonical and take["frames"] == result["frames"] == 30
    assert_pose_is_fk(blender, "NullRig", take, [0, 14, 29])
    # The root went from its (shifted) rest to where the take puts it.
    hips = sample_pose(blender, "NullRig", [1], joint_names=["Hips"])["Hips"][0]
    want = model["canonical_skeleton"]["joints"][0]["rest_translation"]
    assert all(abs(a - b) < TOLERANCE_M for a, b in zip(hips, want)), (hips, want)

    # The same take on the humanoid: its five joints match by name, the other bones stay put.
    applied = blender.mcp.tool(
        "apply_motion",
        {"take_id": result["take_id"], "armature": "Humanoid", "retarget": "names"},
    )
    assert applied["joints_applied"] == canonical and applied["joints_skipped"] == [], applied


def drawn_pixels(data):
    """How many pixels of a PNG differ from its top-left (background) pixel."""
    _, _, channels, rows = png_pixels(data)
    background = rows[0][:channels]
    return sum(
        1
        for row in rows
        for i in range(0, len(row), channels)
        if max(abs(a - b) for a, b in zip(row[i : i + channels], background)) > 8
    )


def test_capture_viewport_shows_the_animated_rig(blender):
    result = generate(
        blender, prompt="a person walks", seconds=1, armature="Humanoid", model=PROCEDURAL
    )
    pictures = []
    for frame in (1, result["frames"]):
        blender.mcp.tool("set_frame_range", {"current": frame})
        progress = []
        shot = blender.mcp.call(
            "capture_viewport", {"width": 320, "height": 240}, progress=progress
        )
        assert not shot.is_error, shot.structured_content
        info = shot.structured_content
        assert (info["width"], info["height"], info["format"]) == (320, 240, "png"), info
        data = png_from(shot)
        assert png_size(data) == (320, 240) and len(data) > 4000, (png_size(data), len(data))
        if blender.bridge != "http":
            # Blender's $/progress reaches the MCP client through stagecraft.
            assert len(progress) >= 2 and progress[-1][0] == progress[-1][1], progress
        pictures.append(data)
    # The rigs are in the picture (bones are not rendered: the adapter draws them), and the
    # picture follows the animation.
    drawn = [drawn_pixels(p) for p in pictures]
    assert all(n > 0.002 * 320 * 240 for n in drawn), f"pixels drawn: {drawn} of {320 * 240}"
    assert png_pixels(pictures[0])[3] != png_pixels(pictures[1])[3], "frame 1 = last frame"
    # The temporary geometry is gone afterwards.
    names = {o["name"] for o in blender.mcp.tool("list_objects")["result"]}
    assert names == {"Humanoid", "Partial", "NullRig"}, names


CHECK_BLEND = """
import bpy, json, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
obj = bpy.data.objects["Humanoid"]
action = obj.animation_data.action if obj.animation_data else None
frames = json.loads(sys.argv[2])
pose = {}
for frame in frames:
    scene.frame_set(frame)
    for pb in obj.pose.bones:
        x, y, z = obj.matrix_world @ pb.head
        pose.setdefault(pb.name, []).append([x, z, -y])
print("RESULT " + json.dumps({"action": action.name if action else None,
    "range": list(action.frame_range) if action else None, "pose": pose}), flush=True)
"""


def test_save_file_keeps_the_animation(blender, bpy_python, tmp_path):
    result = generate(
        blender, prompt="a person jumps", seconds=1, armature="Humanoid", model=PROCEDURAL
    )
    action = result["applied"]["result"]["action"]
    path = tmp_path / "animated.blend"
    saved = blender.mcp.tool("save_file", {"file_path": str(path)})
    assert saved["result"] == str(path) and path.is_file(), saved
    frames = [1, 12, result["frames"]]
    pose = sample_pose(blender, "Humanoid", frames)

    reopened = json.loads(run_bpy(bpy_python, CHECK_BLEND, str(path), json.dumps(frames)))
    assert reopened["action"] == action, reopened
    assert reopened["range"] == [1.0, float(result["frames"])], reopened["range"]
    # The file plays the same motion that Blender showed through MCP.
    for joint in HUMANOID:
        for i, frame in enumerate(frames):
            got, want = reopened["pose"][joint][i], pose[joint][i]
            assert all(abs(a - b) < 1e-4 for a, b in zip(got, want)), (joint, frame, got, want)


def test_unknown_armature_is_a_scene_error(blender):
    for tool, arguments in [
        ("generate_motion", {"prompt": "walk", "seconds": 1, "armature": "NoSuchRig"}),
        ("get_skeleton", {"armature": "NoSuchRig"}),
        ("sample_pose", {"armature": "NoSuchRig", "frames": [1]}),
    ]:
        error = blender.mcp.error(tool, arguments)
        assert error["code"] == "scene_error" and "NoSuchRig" in error["message"], (tool, error)
        assert error.get("hint"), error
        # The server and Blender go on.
        assert len(blender.mcp.tool("list_armatures")["result"]) == 3

    # The rig is read before anything is generated, whatever the model and the retarget mode: a
    # wrong armature costs no generation (minutes, on an ML model) and no take is half made.
    for retarget in ("names", "auto"):
        error = blender.mcp.error(
            "generate_motion",
            {
                "prompt": "walk",
                "seconds": 1,
                "armature": "NoSuchRig",
                "model": "null",
                "retarget": retarget,
            },
        )
        assert error["code"] == "scene_error" and "NoSuchRig" in error["message"], error
        assert "take_id" not in (error.get("details") or {}), error
    # A take that exists is kept when applying it fails, and applies once the rig is right.
    take_id = generate(blender, prompt="walk", seconds=1, model="null")["take_id"]
    failed = blender.mcp.error("apply_motion", {"take_id": take_id, "armature": "NoSuchRig"})
    assert failed["code"] == "scene_error" and "NoSuchRig" in failed["message"], failed
    assert failed["details"]["take_id"] == take_id, failed
    applied = blender.mcp.tool(
        "apply_motion", {"take_id": take_id, "armature": "NullRig", "retarget": "names"}
    )
    assert len(applied["joints_applied"]) == 5, applied


def test_rig_missing_joints_reports_them_and_applies_the_rest(blender, tmp_path):
    result = generate(
        blender, prompt="a person walks and waves", seconds=1, armature="Humanoid", model=PROCEDURAL
    )
    take = saved_take(blender, result["take_id"], tmp_path / "wave.gltf")
    applied = blender.mcp.tool(
        "apply_motion",
        {"take_id": result["take_id"], "armature": "Partial", "retarget": "names"},
    )
    assert applied["joints_skipped"] == [n for n in take["names"] if n in MISSING], applied
    assert applied["joints_applied"] == [n for n in take["names"] if n in PARTIAL], applied
    # Same bones, same object rotation and scale: the world rest offsets are the humanoid's, so
    # the joints that are there follow the take exactly.
    assert_pose_is_fk(blender, "Partial", take, [0, 10, take["frames"] - 1], joints=PARTIAL)
    error = blender.mcp.error(
        "sample_pose", {"armature": "Partial", "frames": [1], "joint_names": ["LeftHand"]}
    )
    assert error["code"] == "scene_error" and "LeftHand" in error["message"], error
    assert blender.mcp.tool("get_frame_range")["fps"] == take["fps"]


def test_rig_under_a_moved_parent_object(blender, tmp_path):
    """The armature object under an empty that is then rotated, scaled and moved with the
    transform tools: its world matrix is the parent's times its own. (Near the end: it changes
    where the Partial rig stands.)"""
    blender.mcp.tool("create_object", {"object_type": "empty", "name": "Mover"})
    parented = blender.mcp.tool("reparent", {"object_name": "Partial", "new_parent": "Mover"})
    assert parented["parent"] == "Mover", parented
    blender.mcp.tool(
        "set_transform",
        {
            "object_name": "Mover",
            "translate": [50, 20, -30],
            "rotate": [10, 70, -25],
            "scale": [1.5] * 3,
        },
    )
    result = generate(
        blender, prompt="a person walks", seconds=1, armature="Partial", model=PROCEDURAL
    )
    assert sorted(result["joints_applied"]) == sorted(PARTIAL), result["joints_applied"]
    take = saved_take(blender, result["take_id"], tmp_path / "parented.gltf")
    assert_pose_is_fk(blender, "Partial", take, [0, 14, take["frames"] - 1])


def test_embedded_blender_is_restarted_after_a_crash(blender):
    """Last: kills Blender. stagecraft owns an embedded DCC and starts it again."""
    if blender.bridge != "embedded":
        pytest.skip("stagecraft restarts only the DCC processes it owns (embedded)")
    before = blender.mcp.tool("list_dccs")["connections"][0]["info"]["pid"]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        # Calls may fail while the death is noticed and the process restarted (with backoff);
        # MCP offers no readiness signal for that, so poll.
        result = blender.mcp.call("list_armatures", {})
        if not result.is_error:
            break
        code = result.structured_content["code"]
        assert code in ("connection_failed", "not_responding", "timeout"), result
        assert time.monotonic() < deadline, f"Blender did not come back: {result}"
        time.sleep(0.2)
    assert {a["name"] for a in result.structured_content["result"]} == {
        "Humanoid",
        "Partial",
        "NullRig",
    }
    after = blender.mcp.tool("list_dccs")["connections"][0]["info"]["pid"]
    assert after != before, "the pid did not change: was Blender really killed?"
