"""Retargeting with no DCC installed (issue #10): a Mixamo-style character as it comes out of an
FBX-to-glTF conversion (a skinned .glb, `mixamorig:` joints in centimetres under an `Armature`
node scaled 0.01, every joint with its own rest rotation) is opened in the built-in `stage` DCC,
turned -120 degrees and standing off the origin; a walk from a model that does not retarget
(tests/fixtures/mmcp/soma_server.py, SOMA30) is generated onto it through the Python MCP client,
checked against the source take with the same reference math as the Blender suite
(tests/blender/retarget_checks.py), saved as .glb and validated with the Khronos validator."""

import json
import math
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures" / "mmcp"))
sys.path.append(str(HERE.parent / "blender"))  # after this suite: its conftest, helpers win

import soma_server  # noqa: E402
from helpers import q_mul, q_normalize, q_rotate, read_gltf, validate_gltf  # noqa: E402
from retarget_checks import SOMA, assert_retargeted  # noqa: E402
from retarget_rigs import JOINT_MAP_ROLES, RIGS, SOMA_ROLES, rest_positions  # noqa: E402
from stagecraft_mcp import McpSession, toml_config  # noqa: E402

MIXAMO = RIGS["MixamoRig"]
RIG = SimpleNamespace(name="Armature", roles=MIXAMO.roles)  # stage names the rig by its node
HEADING = -120.0
PLACED_AT = (2.0, 0.0, -1.0)


def q_axis(axis, degrees):
    s = math.sin(math.radians(degrees) / 2)
    return q_normalize((axis[0] * s, axis[1] * s, axis[2] * s, math.cos(math.radians(degrees) / 2)))


def q_conj(q):
    return (-q[0], -q[1], -q[2], q[3])


def mat_columns(t, q):
    """A rigid transform [R | t] as a column-major 4x4 list."""
    cols = [q_rotate(q, e) for e in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    return [c for col in cols for c in (*col, 0.0)] + [*t, 1.0]


def write_mixamo_glb(path):
    """The Mixamo rig of retarget_rigs as a skinned .glb; returns the world rest position of every
    joint (Y-up metres) as the file places it."""
    bones = MIXAMO.bones  # (name, parent, head, tail) in character space, metres, parents first
    index = {b[0]: i for i, b in enumerate(bones)}
    at = {name: tuple(100.0 * c for c in head) for name, _, head, _ in bones}  # centimetres
    # Every joint has its own rest orientation, as DCC exporters write them.
    rest = {
        name: q_axis((1.0, 2.0 + i % 3, -1.0 + i % 2), 25.0 + 37.0 * i)
        for i, (name, *_) in enumerate(bones)
    }
    nodes = [
        {
            "name": "Armature",
            "translation": list(PLACED_AT),
            "rotation": list(q_axis((0, 1, 0), HEADING)),
            "scale": [0.01] * 3,
            "children": [1],
        }
    ]
    for name, parent, _, _ in bones:
        base, turn = (at[parent], rest[parent]) if parent else ((0.0, 0.0, 0.0), (0, 0, 0, 1))
        offset = q_rotate(q_conj(turn), [a - b for a, b in zip(at[name], base)])
        node = {
            "name": name,
            "translation": list(offset),
            "rotation": list(q_normalize(q_mul(q_conj(turn), rest[name]))),
        }
        children = [index[b[0]] + 1 for b in bones if b[1] == name]
        if children:
            node["children"] = children
        nodes.append(node)

    blob = bytearray()
    views, accessors = [], []

    def add(values, kind, fmt, ctype, target=None, **extra):
        data = struct.pack(
            f"<{len(values) * len(values[0])}{fmt}", *[v for row in values for v in row]
        )
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        if target:
            views[-1]["target"] = target
        blob.extend(data + b"\0" * (-len(data) % 4))
        accessors.append(
            {
                "bufferView": len(views) - 1,
                "componentType": ctype,
                "count": len(values),
                "type": kind,
                **extra,
            }
        )
        return len(accessors) - 1

    r = 3.0  # a small tetrahedron (centimetres) at every joint, weighted to it
    tetra = [(r, 0, 0), (-r, 0, r), (-r, 0, -r), (0, r, 0)]
    positions, joints, weights, indices = [], [], [], []
    for j, (name, *_) in enumerate(bones):
        base = len(positions)
        positions += [tuple(p + d for p, d in zip(at[name], corner)) for corner in tetra]
        joints += [(j, 0, 0, 0)] * 4
        weights += [(1.0, 0.0, 0.0, 0.0)] * 4
        indices += [(base + k,) for k in (0, 1, 2, 0, 3, 1, 1, 3, 2, 2, 3, 0)]
    bounds = {
        "min": [min(p[i] for p in positions) for i in range(3)],
        "max": [max(p[i] for p in positions) for i in range(3)],
    }
    pos = add(positions, "VEC3", "f", 5126, 34962, **bounds)
    jnt = add(joints, "VEC4", "B", 5121, 34962)
    wgt = add(weights, "VEC4", "f", 5126, 34962)
    idx = add(indices, "SCALAR", "H", 5123, 34963)
    # Inverse bind matrices: the inverse of each joint's rest transform in the skeleton's space.
    inverse = []
    for name, *_ in bones:
        q = q_conj(rest[name])
        inverse.append(mat_columns(q_rotate(q, [-c for c in at[name]]), q))
    ibm = add(inverse, "MAT4", "f", 5126)
    doc = {
        "asset": {"version": "2.0", "generator": "stagecraft retarget test"},
        "scene": 0,
        "scenes": [{"nodes": [0, len(nodes)]}],
        "nodes": nodes + [{"name": "Body", "mesh": 0, "skin": 0}],
        "meshes": [
            {
                "name": "Body",
                "primitives": [
                    {
                        "attributes": {"POSITION": pos, "JOINTS_0": jnt, "WEIGHTS_0": wgt},
                        "indices": idx,
                    }
                ],
            }
        ],
        "skins": [
            {"joints": list(range(1, len(bones) + 1)), "skeleton": 1, "inverseBindMatrices": ibm}
        ],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    path.write_bytes(
        struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(js) + 8 + len(blob))
        + struct.pack("<I4s", len(js), b"JSON")
        + js
        + struct.pack("<I4s", len(blob), b"BIN\x00")
        + bytes(blob)
    )
    turn = q_axis((0, 1, 0), HEADING)
    return {
        name: tuple(t + c for t, c in zip(PLACED_AT, q_rotate(turn, [0.01 * v for v in at[name]])))
        for name, *_ in bones
    }


@pytest.fixture(scope="module")
def stage(stagecraft_bin, tmp_path_factory):
    """stagecraft with the SOMA server as its backend and no [[dcc]] (so `stage`), the
    character opened; yields (session, world rest of the character's joints)."""
    tmp = tmp_path_factory.mktemp("retarget_stage")
    character = tmp / "mixamo.glb"
    world = write_mixamo_glb(character)
    report = validate_gltf(character)
    assert report["issues"]["numErrors"] == 0, json.dumps(report["issues"]["messages"][:10])
    with soma_server.running() as url:
        config = tmp / "stagecraft.toml"
        config.write_text(
            toml_config(backends=[{"name": "soma", "url": url, "timeout_seconds": 60}])
        )
        session = McpSession(config)
        try:
            opened = session.tool("open_file", {"file_path": str(character)})
            assert opened["format"] == "glb", opened
            yield session, world
        finally:
            session.close()


def test_the_character_is_where_the_test_thinks(stage):
    mcp, world = stage
    armatures = mcp.tool("list_armatures")["result"]
    assert [a["name"] for a in armatures] == ["Armature"], armatures
    rest = rest_positions(mcp.tool("get_skeleton", {"armature": "Armature"}))
    for joint, want in world.items():
        assert math.dist(rest[joint], want) < 1e-4, (joint, rest[joint], want)


def test_map_rig_and_bone_map(stage):
    mcp, _ = stage
    mapped = mcp.tool("map_rig", {"armature": "Armature", "model": SOMA})
    want = {SOMA_ROLES[r]: MIXAMO.roles[r] for r in JOINT_MAP_ROLES}
    assert {k: mapped["joint_map"].get(k) for k in want} == want, mapped
    assert "mixamo" in mapped["conventions"]["rig"], mapped["conventions"]
    # The user's word wins over detection...
    finger = "mixamorig:LeftHandMiddle1"
    mapped = mcp.tool(
        "map_rig", {"armature": "Armature", "model": SOMA, "bone_map": {"LeftHand": finger}}
    )
    assert mapped["joint_map"]["LeftHand"] == finger, mapped
    # ...but must name bones that exist.
    for tool, arguments in [
        ("map_rig", {"armature": "Armature", "model": SOMA}),
        (
            "generate_motion",
            {"prompt": "walk", "seconds": 1, "model": SOMA, "armature": "Armature"},
        ),
    ]:
        arguments["bone_map"] = {"LeftShin": "mixamorig:Nope"}
        error = mcp.error(tool, arguments)
        assert error["code"] == "invalid_arguments" and "mixamorig:Nope" in error["message"], (
            tool,
            error,
        )
    assert not mcp.tool("list_armatures")["result"][0].get(
        "action"
    ), "a failed call applied something"


def generate_walk(mcp, seed):
    return mcp.tool(
        "generate_motion",
        {
            "prompt": "a person walks forward",
            "seconds": 2,
            "model": SOMA,
            "seed": seed,
            "armature": "Armature",
        },
    )


def test_walk_retargeted_onto_the_glb_rig(stage, tmp_path):
    mcp, _ = stage
    result = generate_walk(mcp, seed=5)
    assert_retargeted(mcp, result, SOMA, RIG, tmp_path, soma_server.NAMES)


def test_retargeted_walk_saves_as_a_valid_glb_that_plays_it(stage, tmp_path):
    mcp, _ = stage
    result = generate_walk(mcp, seed=6)
    frames = [1, 20, 45]
    bones = [MIXAMO.roles[r] for r in ("hips", "foot_L", "hand_R", "head")]
    before = mcp.tool(
        "sample_pose", {"armature": "Armature", "frames": frames, "joint_names": bones}
    )
    out = tmp_path / "walking.glb"
    saved = mcp.tool("save_file", {"file_path": str(out)})
    assert saved["result"] == str(out), saved
    issues = validate_gltf(out)["issues"]
    assert issues["numErrors"] == 0, json.dumps(issues["messages"][:10])
    doc, _ = read_gltf(out)
    names = [n.get("name") for n in doc["nodes"]]
    action = result["applied"]["result"]["action"]
    (animation,) = [a for a in doc["animations"] if a.get("name") == action]
    keyed = {names[c["target"]["node"]] for c in animation["channels"]}
    assert set(MIXAMO.roles.values()) <= keyed, set(MIXAMO.roles.values()) - keyed
    # The file plays what stage showed.
    mcp.tool("new_scene")
    mcp.tool("open_file", {"file_path": str(out)})
    after = mcp.tool(
        "sample_pose", {"armature": "Armature", "frames": frames, "joint_names": bones}
    )
    for bone in bones:
        for a, b in zip(before[bone], after[bone]):
            assert math.dist(a, b) < 1e-3, (bone, a, b)


def test_a_root_path_in_scene_coordinates_is_followed(stage):
    """With an armature, constraint positions are the scene's: the path is turned into the model's
    frame for the request and the take comes back through the same points (docs/retargeting.md,
    "Proportions and placement")."""
    mcp, world = stage
    hips = world["mixamorig:Hips"]
    facing = (math.sin(math.radians(HEADING)), math.cos(math.radians(HEADING)))
    side = (facing[1], -facing[0])
    frames = [0, 45, 89]
    points = [
        [hips[0], hips[2]],
        [hips[0] + 1.5 * facing[0], hips[2] + 1.5 * facing[1]],
        [hips[0] + 3.0 * facing[0] + 1.0 * side[0], hips[2] + 3.0 * facing[1] + 1.0 * side[1]],
    ]
    result = mcp.tool(
        "generate_motion",
        {
            "prompt": "a person walks",
            "seconds": 3,
            "model": "stagecraft-procedural",
            "seed": 3,
            "armature": "Armature",
            "constraints": [{"type": "root_path", "frames": frames, "positions_xz": points}],
        },
    )
    start = result["applied"]["result"]["frame_start"]
    pose = mcp.tool(
        "sample_pose",
        {
            "armature": "Armature",
            "frames": [start + f for f in frames],
            "joint_names": ["mixamorig:Hips"],
        },
    )["mixamorig:Hips"]
    for frame, (x, z), (hx, _, hz) in zip(frames, points, pose):
        miss = math.hypot(hx - x, hz - z)
        assert miss < 0.12, f"take frame {frame}: hips at {hx, hz}, not {x, z}"
