"""The DCC issue's user story, end to end with no DCC installed: an agent loads a rigged character
(.glb with a mesh skinned to a Mixamo-style skeleton) into the built-in `stage` DCC, finds the rig,
generates "walks forward and waves" onto it, looks at it, and saves an animated .glb that the
Khronos validator accepts and that plays back, in any glTF viewer, the motion stagecraft reports."""

import json
import math
import struct
import subprocess
import zlib
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from helpers import (
    png_bytes,
    q_mul,
    q_normalize,
    q_rotate,
    read_accessor,
    read_gltf,
    standing_rig_glb,
    take_fk,
    validate_gltf,
)

PREFIX = "mixamorig:"
TALL = 1.1  # the character is 10 % taller than the built-in model's skeleton: motion is retargeted
CHECK_JOINTS = ["Hips", "Head", "LeftHand", "RightHand", "LeftFoot", "RightToeBase"]
CHECK_FRAMES = [1, 12, 30, 47, 60]


# ---- the fixture: a rigged, skinned character built from the built-in model's skeleton ----


def f32_view(doc: dict, blob: bytearray, values: list, kind: str, ctype: int = 5126, **extra):
    """Appends tightly packed values as a new bufferView + accessor; returns the accessor index."""
    fmt = {5126: "f", 5123: "H", 5121: "B"}[ctype]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[kind]
    flat = [v for row in values for v in (row if width > 1 else [row])]
    data = struct.pack(f"<{len(flat)}{fmt}", *flat)
    while len(blob) % 4:
        blob.append(0)
    doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
    blob.extend(data)
    acc = {
        "bufferView": len(doc["bufferViews"]) - 1,
        "componentType": ctype,
        "count": len(values),
        "type": kind,
    }
    acc.update(extra)
    doc["accessors"].append(acc)
    return len(doc["accessors"]) - 1


def q_axis_angle(axis, angle):
    n = sum(c * c for c in axis) ** 0.5
    h = math.sin(angle / 2) / n
    return (axis[0] * h, axis[1] * h, axis[2] * h, math.cos(angle / 2))


def q_conj(q):
    return (-q[0], -q[1], -q[2], q[3])


PLACED_AT = [1.0, 0.0, 2.0]  # the `placed` variant: Armature node moved and turned 90 degrees on Y
PLACED_ROT = q_axis_angle((0, 1, 0), math.pi / 2)


def make_character(generated: Path, out: Path, variant: str = "plain") -> list:
    """A .glb with an `Armature` node holding the skeleton of `generated` (scaled by TALL, joints
    renamed `mixamorig:<name>`) and a `Body` mesh skinned to it: a small tetrahedron at each joint,
    weighted 1 to it, with inverse bind matrices. No animation. Returns the bare joint names.
    Variants: `plain` (identity rest rotations), `oriented` (every bone has its own rest rotation,
    as in rigs exported from DCCs; same rest positions), `placed` (the Armature node is moved and
    turned, the character stands elsewhere in the world), `centimetres` (joints in centimetres
    under an Armature node scaled 0.01, as FBX-converted Mixamo rigs come), `shuffled` (the skin
    lists its joints leaves first)."""
    src, _ = read_gltf(generated)
    joints = src["skins"][0]["joints"]
    names = [src["nodes"][j]["name"] for j in joints]
    assert joints == list(range(len(joints))), "the generated take lists its joints in node order"
    armature = {"name": "Armature", "children": [1]}
    if variant == "placed":
        armature.update(translation=PLACED_AT, rotation=list(PLACED_ROT))
    unit = 1.0
    if variant == "centimetres":
        armature["scale"], unit = [0.01, 0.01, 0.01], 100.0
    doc = {
        "asset": {"version": "2.0", "generator": "stagecraft e2e fixture"},
        "scene": 0,
        "scenes": [{"name": "Scene", "nodes": [0, len(joints) + 1]}],
        "nodes": [armature],
        "meshes": [],
        "skins": [],
        "accessors": [],
        "bufferViews": [],
        "buffers": [],
    }
    parent, world, wrot = {}, {}, {}
    for j in joints:
        for c in src["nodes"][j].get("children", []):
            parent[c] = j
    for j in joints:  # parents come first in an MMCP skeleton; positions in armature space
        t = [c * TALL * unit for c in src["nodes"][j].get("translation", [0, 0, 0])]
        p = world.get(parent.get(j), [0.0, 0.0, 0.0])
        world[j] = [p[i] + t[i] for i in range(3)]
        wrot[j] = (
            q_normalize(q_axis_angle((1.0, 2.0 + j % 3, -1.0 + j % 2), 0.4 + 0.15 * j))
            if variant == "oriented"
            else (0.0, 0.0, 0.0, 1.0)
        )
    for j in joints:
        n = src["nodes"][j]
        pr = wrot.get(parent.get(j), (0.0, 0.0, 0.0, 1.0))
        pw = world.get(parent.get(j), [0.0, 0.0, 0.0])
        offset = q_rotate(q_conj(pr), [world[j][i] - pw[i] for i in range(3)])
        node = {"name": PREFIX + n["name"], "translation": list(offset)}
        if variant == "oriented":
            node["rotation"] = list(q_normalize(q_mul(q_conj(pr), wrot[j])))
        if n.get("children"):
            node["children"] = [c + 1 for c in n["children"]]
        doc["nodes"].append(node)
    r = 0.03 * unit
    tetra = [(r, 0, 0), (-r, 0, r), (-r, 0, -r), (0, r, 0)]
    # The skin's joint list: parents first, or (`shuffled`) leaves first, as some exporters write.
    order = list(reversed(joints)) if variant == "shuffled" else list(joints)
    positions, jidx, weights, indices = [], [], [], []
    for j in joints:
        base = len(positions)
        positions += [[world[j][i] + d[i] for i in range(3)] for d in tetra]
        jidx += [[order.index(j), 0, 0, 0]] * 4
        weights += [[1.0, 0.0, 0.0, 0.0]] * 4
        indices += [base + k for k in (0, 1, 2, 0, 3, 1, 1, 3, 2, 2, 3, 0)]
    blob = bytearray()
    mins = [min(p[i] for p in positions) for i in range(3)]
    maxs = [max(p[i] for p in positions) for i in range(3)]
    pos = f32_view(doc, blob, positions, "VEC3", min=mins, max=maxs)
    jnt = f32_view(doc, blob, jidx, "VEC4", 5121)
    wgt = f32_view(doc, blob, weights, "VEC4")
    idx = f32_view(doc, blob, indices, "SCALAR", 5123)
    ibm = []
    for j in order:  # inverse of the joint's rest matrix [R | p]: [R^T | -R^T p], column-major
        m = mat_from_trs(world[j], wrot[j], [1, 1, 1])
        rt = [[m[c][r] for c in range(3)] for r in range(3)]
        t = [-sum(rt[r][k] * world[j][k] for k in range(3)) for r in range(3)]
        ibm.append([v for c in range(3) for v in (rt[0][c], rt[1][c], rt[2][c], 0.0)] + [*t, 1.0])
    ibm_acc = f32_view(doc, blob, ibm, "MAT4")
    for view in doc["bufferViews"][jnt:idx]:
        view["target"] = 34962
    doc["bufferViews"][pos]["target"] = 34962
    doc["bufferViews"][idx]["target"] = 34963
    doc["meshes"].append(
        {
            "name": "Body",
            "primitives": [
                {
                    "attributes": {"POSITION": pos, "JOINTS_0": jnt, "WEIGHTS_0": wgt},
                    "indices": idx,
                }
            ],
        }
    )
    doc["skins"].append(
        {
            "name": "Armature",
            "joints": [j + 1 for j in order],
            "skeleton": 1,
            "inverseBindMatrices": ibm_acc,
        }
    )
    doc["nodes"].append({"name": "Body", "mesh": 0, "skin": 0})
    while len(blob) % 4:
        blob.append(0)
    doc["buffers"].append({"byteLength": len(blob)})
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    out.write_bytes(
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(js), b"JSON")
        + js
        + struct.pack("<I4s", len(blob), b"BIN\x00")
        + bytes(blob)
    )
    return names


# ---- glTF playback: what a viewer shows ----


def sample_track(times, values, t, rotation):
    """glTF LINEAR sampling: hold outside the keys, lerp (rotations: shortest-arc nlerp)."""
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    k = max(i for i in range(len(times)) if times[i] <= t)
    a, b = values[k], values[k + 1]
    u = (t - times[k]) / (times[k + 1] - times[k]) if times[k + 1] > times[k] else 0.0
    if rotation:
        if sum(x * y for x, y in zip(a, b)) < 0:
            b = [-x for x in b]
        return q_normalize([x + (y - x) * u for x, y in zip(a, b)])
    return [x + (y - x) * u for x, y in zip(a, b)]


def mat_from_trs(t, q, s):
    x, y, z, w = q
    r = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return [[r[i][j] * s[j] for j in range(3)] + [t[i]] for i in range(3)] + [[0, 0, 0, 1]]


def mat_mul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(4)) for j in range(4)] for i in range(4)]


def playback(path: Path, animation_name: str, times: list) -> dict:
    """World positions (metres) of every node at the given times, evaluating the file's node tree
    with the named animation, as a glTF viewer does: {node name: [[x, y, z] per time]}."""
    doc, blob = read_gltf(path)
    names = [a.get("name") for a in doc.get("animations", [])]
    anims = [a for a in doc.get("animations", []) if a.get("name") == animation_name]
    assert anims, f"no animation named {animation_name!r} in {names}"
    anim = anims[0]
    tracks = {}
    for ch in anim["channels"]:
        s = anim["samplers"][ch["sampler"]]
        assert s.get("interpolation", "LINEAR") == "LINEAR", s
        tracks[(ch["target"]["node"], ch["target"]["path"])] = (
            read_accessor(doc, blob, s["input"]),
            read_accessor(doc, blob, s["output"]),
        )
    nodes = doc["nodes"]
    roots = doc["scenes"][doc.get("scene", 0)]["nodes"]
    out = {n.get("name", str(i)): [] for i, n in enumerate(nodes)}
    identity = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    for t in times:

        def local(i):
            n = nodes[i]
            if "matrix" in n:
                m = n["matrix"]
                return [[m[c * 4 + r] for c in range(4)] for r in range(4)]
            trs = []
            for path_, default in (
                ("translation", [0, 0, 0]),
                ("rotation", [0, 0, 0, 1]),
                ("scale", [1, 1, 1]),
            ):
                if (i, path_) in tracks:
                    ts, vs = tracks[(i, path_)]
                    trs.append(sample_track(ts, vs, t, path_ == "rotation"))
                else:
                    trs.append(n.get(path_, default))
            return mat_from_trs(*trs)

        stack = [(r, identity) for r in roots]
        while stack:
            i, pm = stack.pop()
            m = mat_mul(pm, local(i))
            out[nodes[i].get("name", str(i))].append([m[0][3], m[1][3], m[2][3]])
            stack += [(c, m) for c in nodes[i].get("children", [])]
    return out


def png_rgb_rows(data: bytes) -> list:
    """Unfiltered scanlines of an 8-bit RGB or RGBA PNG (enough to compare and inspect pixels)."""
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and ctype in (
        2,
        6,
    ), f"8-bit RGB(A) PNG expected, got depth {depth} type {ctype}"
    bpp = 3 if ctype == 2 else 4
    idat, pos = b"", 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(
            raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        )
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows


# ---- the story ----


class Agent:
    def __init__(self, client: Client):
        self.client = client

    async def call(self, tool: str, args: dict | None = None):
        r = await self.client.call_tool(tool, args or {})
        assert not r.is_error, f"{tool}({args}) failed: {r.structured_content or r.content}"
        sc = r.structured_content
        return (sc["result"] if set(sc) == {"result"} else sc), r


async def story(agent: Agent, tmp: Path, character: Path, bare: list, rest: dict, variant) -> None:
    """`rest`: the world-aligned rest offset of every bare joint name (root: its world position)."""
    joint = {n: PREFIX + n for n in bare}

    dccs, _ = await agent.call("list_dccs")
    assert dccs["default"] == "stage", f"with no [[dcc]] the default DCC is stage: {dccs}"
    stage = dccs["connections"][0]
    assert stage["state"] == "connected" and stage["info"]["dcc_type"] == "stage", stage

    info, _ = await agent.call("open_file", {"file_path": str(character)})
    assert info["file_path"] == str(character) and info["format"] == "glb", info
    assert info["statistics"]["vertex_count"] == 4 * len(bare), f"the skinned body: {info}"

    arms, _ = await agent.call("list_armatures")
    assert [a["name"] for a in arms] == ["Armature"], f"the rig is the Armature node: {arms}"
    assert arms[0]["joints"] == len(bare) and not arms[0].get("action"), arms
    skel, _ = await agent.call("get_skeleton", {"armature": "Armature"})
    hips = skel["joints"][0]
    assert hips["name"] == joint["Hips"] and hips["parent"] is None, hips
    for j in skel["joints"]:
        want = rest[j["name"][len(PREFIX) :]]
        got = j["rest_translation"]
        assert (
            max(abs(a - b) for a, b in zip(got, want)) < 1e-4
        ), f"get_skeleton {j['name']}: rest_translation {got}, world-aligned offset is {want}"
        assert max(abs(a - b) for a, b in zip(j["rest_rotation"], [0, 0, 0, 1])) < 1e-6, j

    gen, _ = await agent.call(
        "generate_motion",
        {"prompt": "walks forward and waves", "seconds": 2, "armature": "Armature"},
    )
    assert gen["frames"] == 60 and gen["fps"] == 30, gen
    applied = gen["applied"]["result"]
    assert sorted(gen["joints_applied"]) == sorted(joint.values()), gen
    assert gen["joints_skipped"] == [], gen
    assert (applied["frame_start"], applied["frame_end"]) == (1, 60), applied
    action = applied["action"]
    arms, _ = await agent.call("list_armatures")
    assert arms[0]["action"] == action, arms

    # Look at it: two frames of the walk are two different pictures, and neither is blank.
    pictures = []
    for frame in (1, 45):
        fr, _ = await agent.call("set_frame_range", {"current": frame})
        assert fr["current"] == frame, fr
        cap, r = await agent.call("capture_viewport", {})
        assert (cap["width"], cap["height"], cap["format"]) == (640, 480, "png"), cap
        rows = png_rgb_rows(png_bytes(r))
        assert len(rows) == 480 and len(rows[0]) in (640 * 3, 640 * 4)
        assert len({row for row in rows}) > 20, f"frame {frame}: the capture looks blank"
        pictures.append(rows)
    assert pictures[0] != pictures[1], "frames 1 and 45 of a walk capture the same picture"

    # The take was retargeted onto the rig: every bone is in the map's report, nothing unmapped.
    rt = gen["retarget"]
    assert rt["mode"] == "auto" and "mixamo" in rt["conventions"]["rig"], rt
    assert rt["mapped_joints"] == len(joint), rt
    mapped, _ = await agent.call("map_rig", {"armature": "Armature"})
    assert mapped["joint_map"]["LeftUpLeg"] == joint["LeftUpLeg"], mapped["joint_map"]
    assert rt["unmapped_bones"] == [] and abs(rt["scale"] - TALL) < 1e-3, rt
    want_heading = 90.0 if variant == "placed" else 0.0
    assert abs(rt["heading_degrees"] - want_heading) < 0.1, rt

    # Numbers: sample_pose equals the forward kinematics of the take on the rig.
    take_path = tmp / "take.gltf"
    await agent.call("save_motion", {"take_id": rt["rig_take_id"], "path": str(take_path)})
    names, fk = take_fk(take_path)
    assert set(names) == set(joint.values()), f"the rig's take is on the rig's skeleton: {names}"
    wanted = [joint[n] for n in CHECK_JOINTS]
    pose, _ = await agent.call(
        "sample_pose", {"armature": "Armature", "frames": CHECK_FRAMES, "joint_names": wanted}
    )
    assert set(pose) == set(wanted), pose.keys()
    worst = 0.0
    for jn in wanted:
        for k, f in enumerate(CHECK_FRAMES):
            err = max(abs(a - b) for a, b in zip(pose[jn][k], fk[jn][f - 1]))
            worst = max(worst, err)
            assert (
                err <= 1e-3
            ), f"{jn} at frame {f}: sample_pose {pose[jn][k]} vs FK {fk[jn][f - 1]}"
    hips_path = pose[joint["Hips"]]
    dx, dz = (hips_path[-1][i] - hips_path[0][i] for i in (0, 2))
    assert math.hypot(dx, dz) > 1.0, f"2 s of walking covers more than a metre: {hips_path}"
    # It walks the way it faces (the `placed` character is turned to face +X), from where it stands.
    forward = dx if variant == "placed" else dz
    assert forward > 1.0, f"{variant}: the character does not walk the way it faces: {hips_path}"
    hips_rest, start = rest["Hips"], hips_path[0]
    assert math.hypot(start[0] - hips_rest[0], start[2] - hips_rest[2]) < 0.05, (start, hips_rest)
    # The wave: a hand goes above the head at some frame.
    head = pose[joint["Head"]]
    hands = pose[joint["RightHand"]] + pose[joint["LeftHand"]]
    assert any(
        h[1] > hd[1] for h, hd in zip(hands, head + head)
    ), f"no hand above the head while waving: hands {hands}, head {head}"

    # Save, validate, and check what is in the file.
    out = tmp / "character_animated.glb"
    saved, _ = await agent.call("save_file", {"file_path": str(out)})
    assert saved == str(out) and out.read_bytes()[:4] == b"glTF"
    report = validate_gltf(out)
    issues = report["issues"]
    assert issues["numErrors"] == 0, json.dumps(issues["messages"][:10])
    assert (
        issues["numWarnings"] == 0
    ), f"a clean input saved with warnings: {issues['messages'][:10]}"
    doc, blob = read_gltf(out)
    node_names = [n.get("name") for n in doc["nodes"]]
    anims = {a.get("name"): a for a in doc.get("animations", [])}
    assert action in anims, f"no animation {action!r} in {list(anims)}"
    rotated = {
        node_names[c["target"]["node"]]
        for c in anims[action]["channels"]
        if c["target"]["path"] == "rotation"
    }
    assert (
        set(joint.values()) <= rotated
    ), f"joints without rotation keys: {set(joint.values()) - rotated}"
    translated = {
        node_names[c["target"]["node"]]
        for c in anims[action]["channels"]
        if c["target"]["path"] == "translation"
    }
    assert joint["Hips"] in translated, f"the root's travel is not keyed: {translated}"
    body = [n for n in doc["nodes"] if n.get("name") == "Body"]
    assert body and "skin" in body[0] and "mesh" in body[0], f"the skinned body was lost: {body}"
    skin_joints = {node_names[j] for j in doc["skins"][body[0]["skin"]]["joints"]}
    assert skin_joints == set(joint.values()), skin_joints

    # What a glTF viewer plays is what stagecraft reported.
    # The first key is frame_start (stage keys timeline frame f at f / fps, as Blender exports).
    first = min(read_accessor(doc, blob, s["input"])[0] for s in anims[action]["samplers"])
    times = [first + (f - 1) / 30.0 for f in CHECK_FRAMES]
    played = playback(out, action, times)
    for jn in wanted:
        for k, f in enumerate(CHECK_FRAMES):
            err = max(abs(a - b) for a, b in zip(played[jn][k], pose[jn][k]))
            assert err <= 1e-3, (
                f"{jn} at frame {f}: the saved file plays {played[jn][k]}, "
                f"sample_pose said {pose[jn][k]}"
            )

    # Round trip: reopen the saved file; the rig still plays the same take.
    await agent.call("new_scene", {})
    info, _ = await agent.call("open_file", {"file_path": str(out)})
    arms, _ = await agent.call("list_armatures")
    assert arms == [{"name": "Armature", "joints": len(bare), "action": action}] or (
        arms[0]["name"] == "Armature" and arms[0].get("action") == action
    ), arms
    again, _ = await agent.call(
        "sample_pose", {"armature": "Armature", "frames": CHECK_FRAMES, "joint_names": wanted}
    )
    for jn in wanted:
        for k, f in enumerate(CHECK_FRAMES):
            assert (
                max(abs(a - b) for a, b in zip(again[jn][k], pose[jn][k])) <= 1e-3
            ), f"{jn} at frame {f} after reopening: {again[jn][k]} vs {pose[jn][k]}"


def rest_offsets(generated: Path, variant: str) -> dict:
    """What get_skeleton must answer for the character: offsets along world axes in metres."""
    src, _ = read_gltf(generated)
    out = {}
    for i, j in enumerate(src["skins"][0]["joints"]):
        n = src["nodes"][j]
        t = [c * TALL for c in n.get("translation", [0, 0, 0])]
        if variant == "placed":
            t = list(q_rotate(PLACED_ROT, t))
            if i == 0:
                t = [t[k] + PLACED_AT[k] for k in range(3)]
        out[n["name"]] = t
    return out


@pytest.mark.parametrize("variant", ["plain", "oriented", "placed", "centimetres", "shuffled"])
def test_stage_story(stagecraft_bin, empty_config, tmp_path, variant):
    generated = tmp_path / "rig.glb"
    out = subprocess.run(
        [
            stagecraft_bin,
            "generate",
            "a person stands",
            "--seconds",
            "1",
            "--out",
            str(generated),
        ],
        env=empty_config,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    character = tmp_path / "character.glb"
    bare = make_character(generated, character, variant)
    assert len(bare) == 22, bare
    report = validate_gltf(character)
    assert report["issues"]["numErrors"] == report["issues"]["numWarnings"] == 0, report["issues"]

    failures = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=empty_config)
        async with Client(params, mode="legacy") as client:
            try:
                with anyio.fail_after(60):
                    rest = rest_offsets(generated, variant)
                    await story(Agent(client), tmp_path, character, bare, rest, variant)
            except (AssertionError, TimeoutError) as e:
                failures.append(e)

    anyio.run(main)
    if failures:
        raise failures[0]


# ---- a take on the model's own skeleton, applied to a rig of other proportions and names ----


def fk_on_rig(take_path: Path, skeleton: dict, frames: list) -> dict:
    """MMCP forward kinematics of a take's rotations and root positions on another rig's rest
    offsets, matching joints by bare name (`mixamorig:Hips` is `Hips`); unmatched joints rest."""
    doc, blob = read_gltf(take_path)
    fps = doc["extensions"]["MMCP_motion"]["fps"]
    anim = doc["animations"][0]
    tracks = {}
    for ch in anim["channels"]:
        s = anim["samplers"][ch["sampler"]]
        name = doc["nodes"][ch["target"]["node"]]["name"]
        tracks[(name, ch["target"]["path"])] = (
            read_accessor(doc, blob, s["input"]),
            read_accessor(doc, blob, s["output"]),
        )
    root_name = doc["nodes"][doc["skins"][0]["joints"][0]]["name"]
    out = {j["name"]: [] for j in skeleton["joints"]}
    for f in frames:
        t = (f - 1) / fps
        wrot, wpos = {}, {}
        for j in skeleton["joints"]:
            bare = j["name"].split(":")[-1]
            key = (bare, "rotation")
            q = sample_track(*tracks[key], t, True) if key in tracks else (0, 0, 0, 1)
            if j["parent"] is None:
                wrot[j["name"]] = q_normalize(q)
                hit = tracks.get((bare, "translation")) if bare == root_name else None
                wpos[j["name"]] = sample_track(*hit, t, False) if hit else j["rest_translation"]
            else:
                pr = wrot[j["parent"]]
                d = q_rotate(pr, j["rest_translation"])
                wpos[j["name"]] = [wpos[j["parent"]][i] + d[i] for i in range(3)]
                wrot[j["name"]] = q_mul(pr, q_normalize(q))
            out[j["name"]].append(list(wpos[j["name"]]))
    return out


def test_canonical_take_on_a_prefixed_rig(stagecraft_bin, empty_config, tmp_path):
    generated = standing_rig_glb(stagecraft_bin, empty_config, tmp_path / "rig.glb")
    character = tmp_path / "character.glb"
    bare = make_character(generated, character, "oriented")
    frames = [1, 10, 25, 40]
    got = {}

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=empty_config)
        async with Client(params, mode="legacy") as client:
            agent = Agent(client)
            await agent.call("open_file", {"file_path": str(character)})
            gen, _ = await agent.call("generate_motion", {"prompt": "jumps", "seconds": 1.5})
            assert "applied" not in gen, "no armature: nothing applied"
            got["take"] = tmp_path / "canonical.gltf"
            await agent.call("save_motion", {"take_id": gen["take_id"], "path": str(got["take"])})
            applied, _ = await agent.call(
                "apply_motion",
                {"take_id": gen["take_id"], "armature": "Armature", "retarget": "names"},
            )
            got["applied"] = applied
            got["skeleton"], _ = await agent.call("get_skeleton", {"armature": "Armature"})
            got["pose"], _ = await agent.call(
                "sample_pose", {"armature": "Armature", "frames": frames}
            )

    anyio.run(main)
    applied = got["applied"]
    assert (
        len(applied["joints_applied"]) == len(bare) and applied["joints_skipped"] == []
    ), f"mixamorig: prefixes must match the take's bare names: {applied}"
    want = fk_on_rig(got["take"], got["skeleton"], frames)
    for name, positions in want.items():
        for k, f in enumerate(frames):
            err = max(abs(a - b) for a, b in zip(got["pose"][name][k], positions[k]))
            assert err <= 1e-3, (
                f"{name} at frame {f}: sample_pose {got['pose'][name][k]}, "
                f"FK of the take on the rig {positions[k]}"
            )
