"""Every shipped DCC tool through the real binary and the Python MCP SDK client, against the
built-in `stage` DCC and against the toy reference adapter on each of the four bridges (embedded,
http, websocket, named_pipe; the network ones with a token). Results are checked against
docs/bridge-protocol.md: shapes, values (cm, degrees, Euler XYZ, Y-up), hierarchy semantics, images, files,
and motion whose sampled pose equals the forward kinematics of the take."""

import base64
import json
import math
import os
import struct
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from conftest import free_port
from helpers import (
    TOY_ADAPTER,
    TOY_TOKEN_ENV,
    dcc_config_toml,
    png_bytes,
    take_fk,
    toy_adapter,
    toy_dialing_in,
    toy_embedded_command,
    validate_gltf,
)

DCC_FAMILIES = ("scene", "transform", "hierarchy", "render", "animation")
TARGETS = ["stage", "embedded", "http", "websocket", "named_pipe", "websocket_listen"]
TOKEN = "e2e-toy-token-0123456789"
# Which tools each step of the scenario below exercises: the scenario asserts at its end that it
# called all of them, and test_table_covers_every_shipped_dcc_tool that this names every shipped
# one.
COVERED = {
    "list_dccs", "new_scene", "create_object", "get_scene_info", "list_objects", "get_transform",
    "set_transform", "get_bounding_box", "rename_object", "reparent", "get_parent", "get_children",
    "get_hierarchy", "group_objects", "ungroup", "get_selection", "set_selection", "select_by_type",
    "set_visibility", "get_frame_range", "set_frame_range", "get_render_settings",
    "set_render_settings", "capture_viewport", "render_scene", "list_armatures", "get_skeleton",
    "generate_motion", "apply_motion", "sample_pose", "save_motion", "save_file", "open_file",
    "export_file", "import_file", "delete_objects",
}  # fmt: skip
# A two-joint motion capture in centimetres, as another tool would write it.
MOCAP_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 90 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 30 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 20 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 90 0 0 0 0 0 0 0
100 90 0 0 0 0 0 0 0
"""
SCENE_INFO_KEYS = {"file_path", "name", "modified", "format", "statistics", "metadata"}
STAT_KEYS = {
    "object_count", "vertex_count", "polygon_count", "material_count", "texture_count",
    "light_count", "camera_count",
}  # fmt: skip
CAPABILITY_KEYS = {
    "script_languages", "scene_info", "snapshot", "undo_redo", "progress_reporting",
    "file_operations", "selection", "scene_manager", "transform", "render_capture", "hierarchy",
    "animation", "has_embedded_python", "extensions",
}  # fmt: skip
BAD = "NoSuchThing_42"


def shipped_tools(stagecraft_bin: str, env: dict) -> dict:
    out = subprocess.run(
        [stagecraft_bin, "skills", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return {t["name"]: t for t in json.loads(out.stdout)["tools"]}


def dcc_tools(tools: dict) -> set:
    """Tools bound to a bridge method of one of the DCC families."""
    return {
        name
        for name, t in tools.items()
        if t["binding"].get("call", "").split(".")[0] in DCC_FAMILIES
    }


def test_table_covers_every_shipped_dcc_tool(stagecraft_bin, empty_config):
    tools = shipped_tools(stagecraft_bin, empty_config)
    bridge = dcc_tools(tools)
    assert len(bridge) >= 32, f"expected the 32 DCC tools of docs/architecture.md#tools, found {sorted(bridge)}"
    missing = bridge - COVERED
    assert not missing, f"shipped DCC tools the scenario does not exercise: {sorted(missing)}"
    for name in bridge:
        method = tools[name]["binding"]["call"]
        assert method.split(".")[1] == name, f"{name} is bound to {method}, not to the same name"


# ---- a recording MCP session ----


def unwrap(sc):
    if isinstance(sc, dict) and set(sc) == {"result"}:
        return sc["result"]
    return sc


class Session:
    def __init__(self, client: Client, label: str):
        self.client = client
        self.label = label
        self.called: set = set()

    async def raw(self, tool: str, args: dict):
        self.called.add(tool)
        return await self.client.call_tool(tool, args)

    async def ok(self, tool: str, args: dict | None = None):
        args = args or {}
        r = await self.raw(tool, args)
        assert (
            not r.is_error
        ), f"[{self.label}] {tool}({args}) failed: {r.structured_content or r.content}"
        sc = r.structured_content
        assert sc is not None, f"[{self.label}] {tool} returned no structured content"
        text = [c for c in r.content if c.type == "text"]
        assert (
            text and json.loads(text[0].text) == sc
        ), f"[{self.label}] {tool}: the text content is not the structured content as JSON"
        return unwrap(sc), r

    async def val(self, tool: str, args: dict | None = None):
        return (await self.ok(tool, args))[0]

    async def err(self, tool: str, args: dict, codes=("scene_error", "invalid_input"), name=BAD):
        r = await self.raw(tool, args)
        assert r.is_error, f"[{self.label}] {tool}({args}) should fail, got {r.structured_content}"
        sc = r.structured_content
        assert (
            sc and sc.get("code") in codes
        ), f"[{self.label}] {tool}({args}): code {sc}, want {codes}"
        if name is not None:
            assert name in sc["message"] or name in json.dumps(
                sc.get("details")
            ), f"[{self.label}] {tool}: the error does not name {name!r}: {sc}"
        return sc


def close(a, b, tol=1e-3):
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def assert_close(got, want, what, tol=1e-3):
    assert close(got, want, tol), f"{what}: got {got}, want {want} (tolerance {tol})"


def assert_transform(got, translate, rotate, scale, what):
    assert set(got) >= {"translate", "rotate", "scale"}, f"{what}: not an ObjectTransform: {got}"
    assert_close(got["translate"], translate, f"{what} translate (cm)")
    assert_close(got["rotate"], rotate, f"{what} rotate (degrees)")
    assert_close(got["scale"], scale, f"{what} scale")


def euler_xyz(deg):
    """R = Rz Ry Rx (X applied first), as the Euler XYZ of docs/bridge-protocol.md#conventions."""
    x, y, z = (math.radians(d) for d in deg)
    cx, sx, cy, sy, cz, sz = (
        math.cos(x),
        math.sin(x),
        math.cos(y),
        math.sin(y),
        math.cos(z),
        math.sin(z),
    )
    return [
        [cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz],
        [cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz],
        [-sy, sx * cy, cx * cy],
    ]


def png_size(data: bytes) -> tuple:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_scene_object(obj, name, parent=None, what=""):
    assert {"name", "long_name", "object_type", "visible"} <= set(obj), f"{what}: {obj}"
    assert obj["name"] == name, f"{what}: name {obj['name']!r}, want {name!r}"
    assert obj.get("parent") == parent, f"{what}: parent {obj.get('parent')!r}, want {parent!r}"
    assert obj["long_name"].endswith(name), f"{what}: long_name {obj['long_name']!r}"
    if parent:
        assert f"{parent}|{name}" in obj["long_name"], f"{what}: long_name {obj['long_name']!r}"


# ---- the scenario ----


async def scenario(s: Session, target: str, tmp_path: Path) -> None:
    stage = target == "stage"
    conn_name = "stage" if stage else "toy"

    # list_dccs before any call: the connection is listed with its bridge kind.
    listing = await s.val("list_dccs")
    assert listing["default"] == conn_name, listing
    conns = {c["name"]: c for c in listing["connections"]}
    assert conn_name in conns, listing
    want_bridge = {"stage": "in_process", "websocket_listen": "websocket"}.get(target, target)
    assert conns[conn_name]["bridge"] == want_bridge, conns[conn_name]
    assert conns[conn_name]["default"] is True

    # -- scene --
    info = await s.val("new_scene", {})
    assert SCENE_INFO_KEYS <= set(info), f"new_scene: not a SceneInfo: {info}"
    assert STAT_KEYS <= set(info["statistics"]), info["statistics"]
    assert info["statistics"]["object_count"] == 0, info
    assert info["up_axis"] == "Y" and info["units"] == "cm", info

    crate = await s.val(
        "create_object", {"object_type": "cube", "name": "Crate", "translate": [10, 20, 30]}
    )
    check_scene_object(crate, "Crate", what="create_object cube")
    cube_type = crate["object_type"]
    assert cube_type in ("cube", "mesh"), crate
    for kind, name, tr in [
        ("empty", "Pivot", [0, 0, 0]),
        ("camera", "ShotCam", [0, 150, 500]),
        ("light", "KeyLight", [0, 400, 0]),
        ("sphere", "Ball", [-100, 50, 0]),
        ("armature", "Rig", [0, 0, 0]),
    ]:
        obj = await s.val("create_object", {"object_type": kind, "name": name, "translate": tr})
        check_scene_object(obj, name, what=f"create_object {kind}")
        if kind in ("empty", "camera", "light", "armature"):
            assert obj["object_type"] == kind, obj
    # Non-ASCII names survive every bridge's framing, both ways.
    uni = "Caméra 日本 🎬"
    obj = await s.val(
        "create_object", {"object_type": "camera", "name": uni, "translate": [1, 2, 3]}
    )
    check_scene_object(obj, uni, what="create_object with a non-ASCII name")
    assert_close((await s.val("get_transform", {"object_name": uni}))["translate"], [1, 2, 3], uni)
    assert await s.val("delete_objects", {"object_names": [uni]}) == [uni]
    dup = await s.val("create_object", {"object_type": "cube", "name": "Crate"})
    assert dup["name"] != "Crate" and dup["name"].startswith("Crate"), f"duplicate name: {dup}"

    info = await s.val("get_scene_info")
    stats = info["statistics"]
    assert stats["camera_count"] == 1 and stats["light_count"] == 1, stats
    assert stats["object_count"] >= 7, stats
    assert stats["vertex_count"] > 0 and stats["polygon_count"] > 0, stats
    assert info["modified"] is True, "creating objects must mark the scene modified"

    objects = await s.val("list_objects")
    names = {o["name"] for o in objects}
    assert {"Crate", "Pivot", "ShotCam", "KeyLight", "Ball", "Rig", dup["name"]} <= names, names
    cams = await s.val("list_objects", {"object_type": "camera"})
    assert [o["name"] for o in cams] == ["ShotCam"], cams
    cubes = await s.val("list_objects", {"object_type": cube_type})
    assert {"Crate", dup["name"]} <= {o["name"] for o in cubes}, cubes

    # -- transform (world, cm, Euler XYZ degrees) --
    assert_transform(
        await s.val("get_transform", {"object_name": "Crate"}),
        [10, 20, 30],
        [0, 0, 0],
        [1, 1, 1],
        "created cube",
    )
    box = await s.val("get_bounding_box", {"object_name": "Crate"})
    half = [(box["max"][i] - box["min"][i]) / 2 for i in range(3)]
    assert half[0] > 0 and close(half, [half[0]] * 3), f"an unrotated cube's box is a cube: {box}"
    assert_close(
        [(box["max"][i] + box["min"][i]) / 2 for i in range(3)], [10, 20, 30], "box centre"
    )
    h = half[0]

    t, r, sc = [100, 50, -20], [10, 20, 30], [2, 1, 1]
    got = await s.val(
        "set_transform", {"object_name": "Crate", "translate": t, "rotate": r, "scale": sc}
    )
    assert_transform(got, t, r, sc, "set_transform result")
    assert_transform(
        await s.val("get_transform", {"object_name": "Crate"}), t, r, sc, "get after set"
    )
    got = await s.val("set_transform", {"object_name": "Crate", "translate": [1, 2, 3]})
    assert_transform(got, [1, 2, 3], r, sc, "partial set_transform keeps rotate and scale")
    await s.val("set_transform", {"object_name": "Crate", "translate": t})
    box = await s.val("get_bounding_box", {"object_name": "Crate"})
    m = euler_xyz(r)
    ext = [h * sum(abs(m[i][j]) * sc[j] for j in range(3)) for i in range(3)]
    assert_close(
        box["min"], [t[i] - ext[i] for i in range(3)], "rotated box min (Euler XYZ, X first)", 0.05
    )
    assert_close(box["max"], [t[i] + ext[i] for i in range(3)], "rotated box max", 0.05)

    assert (
        await s.val("rename_object", {"old_name": "Crate", "new_name": "HeroCrate"}) == "HeroCrate"
    )
    await s.err("get_transform", {"object_name": "Crate"}, name="Crate")
    assert_transform(
        await s.val("get_transform", {"object_name": "HeroCrate"}), t, r, sc, "renamed"
    )

    # -- hierarchy --
    await s.val(
        "set_transform",
        {"object_name": "Pivot", "translate": [50, 0, 0], "rotate": [0, 90, 0], "scale": [2, 2, 2]},
    )
    before = await s.val("get_transform", {"object_name": "HeroCrate"})
    obj = await s.val("reparent", {"object_name": "HeroCrate", "new_parent": "Pivot"})
    check_scene_object(obj, "HeroCrate", "Pivot", "reparent")
    after = await s.val("get_transform", {"object_name": "HeroCrate"})
    assert_transform(
        after, before["translate"], before["rotate"], before["scale"], "reparent keeps world"
    )
    assert await s.val("get_parent", {"object_name": "HeroCrate"}) == "Pivot"
    kids = await s.val("get_children", {"object_name": "Pivot"})
    assert [k["name"] for k in kids] == ["HeroCrate"], kids
    roots = await s.val("get_children", {})
    assert "HeroCrate" not in {k["name"] for k in roots} and "Pivot" in {k["name"] for k in roots}
    tree = await s.val("get_hierarchy")
    pivot = [n for n in tree if n["object"]["name"] == "Pivot"]
    assert pivot and [c["object"]["name"] for c in pivot[0]["children"]] == ["HeroCrate"], tree
    assert all(n["object"].get("parent") is None for n in tree), "get_hierarchy lists roots"

    # preserve_world_transform false: the world transform becomes Pivot's transform of the old one.
    await s.val(
        "reparent",
        {"object_name": "ShotCam", "new_parent": "Pivot", "preserve_world_transform": False},
    )
    cam = await s.val("get_transform", {"object_name": "ShotCam"})
    # Pivot: T(50,0,0) Ry(90) S(2): (0,150,500) -> (2*500 + 50, 300, 0)
    assert_transform(cam, [1050, 300, 0], [0, 90, 0], [2, 2, 2], "reparent without keeping world")
    await s.val("reparent", {"object_name": "ShotCam", "new_parent": None})
    assert await s.val("get_parent", {"object_name": "ShotCam"}) is None
    cam2 = await s.val("get_transform", {"object_name": "ShotCam"})
    assert_close(cam2["translate"], [1050, 300, 0], "reparent to the root keeps world by default")

    group = await s.val(
        "group_objects", {"object_names": ["HeroCrate", "Ball"], "group_name": "Props"}
    )
    check_scene_object(group, "Props", what="group_objects")
    assert await s.val("get_parent", {"object_name": "HeroCrate"}) == "Props"
    assert await s.val("get_parent", {"object_name": "Ball"}) == "Props"
    grouped = await s.val("get_transform", {"object_name": "HeroCrate"})
    assert_transform(
        grouped, before["translate"], before["rotate"], before["scale"], "grouping keeps world"
    )
    sub = await s.val(
        "group_objects", {"object_names": ["KeyLight"], "group_name": "Lights", "parent": "Pivot"}
    )
    check_scene_object(sub, "Lights", "Pivot", "group_objects with parent")
    assert_close(
        (await s.val("get_transform", {"object_name": "KeyLight"}))["translate"],
        [0, 400, 0],
        "grouped light",
    )
    former = await s.val("ungroup", {"group_name": "Props"})
    assert sorted(former) == ["Ball", "HeroCrate"], former
    assert await s.val("get_parent", {"object_name": "HeroCrate"}) is None
    ungrouped = await s.val("get_transform", {"object_name": "HeroCrate"})
    assert_transform(
        ungrouped, before["translate"], before["rotate"], before["scale"], "ungroup keeps world"
    )
    await s.err("get_transform", {"object_name": "Props"}, name="Props")

    # -- selection and visibility --
    sel = await s.val("set_selection", {"object_names": ["HeroCrate", "Ball"]})
    assert sorted(sel) == ["Ball", "HeroCrate"], sel
    assert sorted(await s.val("get_selection")) == ["Ball", "HeroCrate"]
    assert await s.val("select_by_type", {"object_type": "camera"}) == ["ShotCam"]
    assert await s.val("get_selection") == ["ShotCam"]
    assert await s.val("set_selection", {"object_names": []}) == []
    assert await s.val("get_selection") == []
    assert await s.val("set_visibility", {"object_name": "Ball", "visible": False}) is False
    vis = {o["name"]: o["visible"] for o in await s.val("list_objects")}
    assert vis["Ball"] is False and vis["HeroCrate"] is True, vis
    assert await s.val("set_visibility", {"object_name": "Ball", "visible": True}) is True

    # -- frame range --
    fr = await s.val("set_frame_range", {"start": 1, "end": 48, "fps": 24, "current": 5})
    assert (fr["start"], fr["end"], fr["fps"], fr["current"]) == (1, 48, 24, 5), fr
    assert await s.val("get_frame_range") == fr
    fr2 = await s.val("set_frame_range", {"current": 10})
    assert (fr2["start"], fr2["end"], fr2["fps"], fr2["current"]) == (1, 48, 24, 10), fr2

    # -- render --
    settings = await s.val("get_render_settings")
    assert settings and all(isinstance(v, str) for v in settings.values()), settings
    assert {"resolution_x", "resolution_y"} <= set(settings), settings
    after = await s.val(
        "set_render_settings", {"settings": {"resolution_x": 200, "resolution_y": 150}}
    )
    assert after["resolution_x"] == "200" and after["resolution_y"] == "150", after
    assert {k: v for k, v in after.items() if not k.startswith("resolution")} == {
        k: v for k, v in settings.items() if not k.startswith("resolution")
    }, "set_render_settings changed other keys"
    assert await s.val("get_render_settings") == after

    cap, r = await s.ok("capture_viewport", {"width": 160, "height": 120})
    assert (cap["width"], cap["height"], cap["format"]) == (160, 120, "png"), cap
    assert png_size(png_bytes(r)) == (160, 120), "the image content's PNG is not 160x120"
    assert "data_b64" not in cap, "the image goes in image content, not as base64 in the JSON"

    out_png = tmp_path / f"render-{target}.png"
    ro = await s.val("render_scene", {"output_path": str(out_png), "width": 128, "height": 96})
    assert ro["file_path"] == str(out_png) and (ro["width"], ro["height"]) == (128, 96), ro
    assert ro["format"] == "png" and ro["render_time_ms"] >= 0, ro
    assert png_size(out_png.read_bytes()) == (128, 96), "render_scene's file is not a 128x96 PNG"
    out_png2 = tmp_path / f"render-{target}-settings.png"
    ro = await s.val("render_scene", {"output_path": str(out_png2)})
    assert (ro["width"], ro["height"]) == (
        200,
        150,
    ), f"render_scene ignores the resolution settings: {ro}"
    assert png_size(out_png2.read_bytes()) == (200, 150)

    # -- animation --
    arms = await s.val("list_armatures")
    assert [a["name"] for a in arms] == ["Rig"], arms
    assert arms[0]["joints"] >= 2 and not arms[0].get("action"), arms
    skel = await s.val("get_skeleton", {"armature": "Rig"})
    joints = skel["joints"]
    assert len(joints) == arms[0]["joints"], (skel, arms)
    seen = set()
    for j in joints:
        assert j["parent"] is None if not seen else j["parent"] in seen, f"parents first: {joints}"
        assert_close(j.get("rest_rotation", [0, 0, 0, 1]), [0, 0, 0, 1], f"{j['name']} rest", 1e-6)
        assert all(math.isfinite(v) for v in j["rest_translation"]), j
        seen.add(j["name"])

    gen = await s.val(
        "generate_motion",
        # The adapter's contract: the take, on the rig's own skeleton, played exactly (by name).
        {"prompt": "walks forward and waves", "seconds": 1, "armature": "Rig", "retarget": "names"},
    )
    applied = gen["applied"]["result"]
    assert gen["frames"] == 30 and gen["fps"] == 30, gen
    assert set(gen["joints_applied"]) == {j["name"] for j in joints}, gen
    assert (applied["frame_start"], applied["frame_end"]) == (1, 30), applied
    arms = await s.val("list_armatures")
    assert (
        arms[0]["action"] == applied["action"]
    ), f"list_armatures does not name the action: {arms}"
    fr = await s.val("get_frame_range")
    assert fr["fps"] == 30 and fr["end"] >= 30, f"applying a 30 fps take: {fr}"

    take_path = tmp_path / f"take-{target}.gltf"
    saved = await s.val("save_motion", {"take_id": gen["take_id"], "path": str(take_path)})
    assert take_path.exists(), saved
    names, fk = take_fk(take_path)
    assert set(names) == {j["name"] for j in joints}, "the take is on the rig's skeleton"
    frames = [1, 15, 30]
    pose = await s.val("sample_pose", {"armature": "Rig", "frames": frames})
    assert set(pose) == set(names), pose.keys()
    for jn in names:
        for k, f in enumerate(frames):
            assert_close(
                pose[jn][k], fk[jn][f - 1], f"sample_pose {jn} frame {f} vs FK of the take"
            )
    # The root travels forward (+Z) over the walk.
    root = names[0]
    assert (
        pose[root][2][2] - pose[root][0][2] > 0.2
    ), f"the root does not walk forward: {pose[root]}"

    ap = await s.val(
        "apply_motion",
        {"take_id": gen["take_id"], "armature": "Rig", "start_frame": 11, "retarget": "names"},
    )
    assert (ap["frame_start"], ap["frame_end"]) == (11, 40), ap
    one = await s.val(
        "sample_pose", {"armature": "Rig", "frames": [11, 40], "joint_names": [names[-1]]}
    )
    assert list(one) == [names[-1]], f"sample_pose joint_names: {one.keys()}"
    assert_close(
        one[names[-1]][0], fk[names[-1]][0], "apply_motion start_frame 11: frame 11 = take frame 0"
    )
    assert_close(
        one[names[-1]][1],
        fk[names[-1]][29],
        "apply_motion start_frame 11: frame 40 = take frame 29",
    )

    # -- files --
    ext = "glb" if stage else "json"
    scene_path = tmp_path / f"scene-{target}.{ext}"
    assert await s.val("save_file", {"file_path": str(scene_path)}) == str(scene_path)
    assert scene_path.stat().st_size > 0
    if stage:
        assert scene_path.read_bytes()[:4] == b"glTF", "stage saves .glb as binary glTF"
    info = await s.val("get_scene_info")
    assert info["file_path"] == str(scene_path) and info["modified"] is False, info
    deleted = await s.val("delete_objects", {"object_names": ["Ball", "KeyLight"]})
    assert sorted(deleted) == ["Ball", "KeyLight"], deleted
    left = {o["name"] for o in await s.val("list_objects")}
    assert "Ball" not in left and "KeyLight" not in left, left
    assert (await s.val("get_scene_info"))["modified"] is True
    reopened = await s.val("open_file", {"file_path": str(scene_path), "force": True})
    assert reopened["file_path"] == str(scene_path) and reopened["modified"] is False, reopened
    back = {o["name"] for o in await s.val("list_objects")}
    assert {"Ball", "KeyLight", "HeroCrate", "Rig", "Pivot", "ShotCam"} <= back, back
    assert_transform(
        await s.val("get_transform", {"object_name": "HeroCrate"}),
        before["translate"],
        before["rotate"],
        before["scale"],
        "after save and open",
    )
    assert await s.val("get_parent", {"object_name": "KeyLight"}) == "Lights"
    assert await s.val("save_file", {"file_path": None}) == str(scene_path), "save in place"

    glb = tmp_path / f"export-{target}.glb"
    if stage:
        assert await s.val("export_file", {"file_path": str(glb), "format": "glb"}) == str(glb)
        assert glb.read_bytes()[:4] == b"glTF", "export glb writes binary glTF"
        sel_glb = tmp_path / "export-selection.glb"
        await s.val("set_selection", {"object_names": ["ShotCam"]})
        await s.val(
            "export_file", {"file_path": str(sel_glb), "format": "glb", "selection_only": True}
        )
        assert sel_glb.stat().st_size < glb.stat().st_size, "selection_only exports less"
    else:
        await s.err(
            "export_file",
            {"file_path": str(glb), "format": "glb"},
            codes=("unsupported",),
            name=None,
        )
        js = tmp_path / "export-toy.json"
        assert await s.val("export_file", {"file_path": str(js), "format": "json"}) == str(js)
        assert "HeroCrate" in json.loads(js.read_text())["objects"]

    # -- import_file: a BVH becomes an armature named after the file, playing the capture --
    mocap = tmp_path / f"mocap_{target}.bvh"
    mocap.write_text(MOCAP_BVH)
    if stage:
        imported = await s.val("import_file", {"file_path": str(mocap)})
        assert imported["armatures"] == imported["objects"] == [mocap.stem], imported
        pose = await s.val(
            "sample_pose", {"armature": mocap.stem, "frames": [1, 2], "joint_names": ["Hips"]}
        )
        want = [[0, 0.9, 0], [1, 0.9, 0]]
        assert all(
            math.isclose(g, w, abs_tol=1e-6)
            for got, wanted in zip(pose["Hips"], want)
            for g, w in zip(got, wanted)
        ), f"centimetres read as metres: {pose}"
        await s.val("delete_objects", {"object_names": [mocap.stem]})
    else:
        # The toy does not list scene.import_file: stagecraft refuses before calling it.
        await s.err("import_file", {"file_path": str(mocap)}, codes=("unsupported",), name=None)

    # -- list_dccs after use: connected, with DccInfo and capabilities --
    listing = await s.val("list_dccs")
    conn = {c["name"]: c for c in listing["connections"]}[conn_name]
    assert conn["state"] == "connected", conn
    info = conn["info"]
    assert info["dcc_type"] == ("stage" if stage else "toy"), info
    assert isinstance(info["pid"], int) and info["platform"] and info["version"], info
    if not stage:
        assert info["pid"] != os.getpid(), "the toy runs in its own process"
    caps = conn["capabilities"]
    assert CAPABILITY_KEYS <= set(caps), f"missing capabilities: {CAPABILITY_KEYS - set(caps)}"
    for key in (
        "scene_manager",
        "transform",
        "hierarchy",
        "render_capture",
        "animation",
        "selection",
    ):
        assert caps[key] is True, f"{key}: {caps}"
    assert caps.get("bridge_kind") == want_bridge, caps
    methods = set(conn["methods"])
    not_bridge = {"list_dccs", "generate_motion", "apply_motion", "save_motion"}
    if not stage:
        not_bridge.add("import_file")  # refused above: the toy does not implement it
    unlisted = [
        n for n in s.called - not_bridge if not any(f"{f}.{n}" in methods for f in DCC_FAMILIES)
    ]
    assert not unlisted, f"tools that worked but whose methods are not in `methods`: {unlisted}"
    assert {
        "dcc.hello",
        "dcc.ping",
        "scene.new_scene",
        "animation.apply_motion",
    } <= methods, methods

    # -- bad input per family: unknown names are scene_error/invalid_input naming them --
    await s.err("set_visibility", {"object_name": BAD, "visible": False})
    await s.err("delete_objects", {"object_names": [BAD]})
    await s.err("set_selection", {"object_names": ["HeroCrate", BAD]})
    await s.err("get_transform", {"object_name": BAD})
    await s.err("set_transform", {"object_name": BAD, "translate": [0, 0, 0]})
    await s.err("get_bounding_box", {"object_name": BAD})
    await s.err("rename_object", {"old_name": BAD, "new_name": "Whatever"})
    await s.err("get_parent", {"object_name": BAD})
    await s.err("get_children", {"object_name": BAD})
    await s.err("reparent", {"object_name": BAD, "new_parent": "Pivot"})
    await s.err("reparent", {"object_name": "HeroCrate", "new_parent": BAD})
    await s.err("reparent", {"object_name": "Pivot", "new_parent": "Lights"}, name="Pivot")
    await s.err("group_objects", {"object_names": ["HeroCrate", BAD], "group_name": "G2"})
    await s.err("ungroup", {"group_name": BAD})
    await s.err("set_render_settings", {"settings": {"no_such_setting": 1}}, name="no_such_setting")
    await s.err("get_skeleton", {"armature": BAD})
    await s.err("sample_pose", {"armature": BAD, "frames": [1]})
    await s.err("get_skeleton", {"armature": "HeroCrate"}, name="HeroCrate")
    await s.err("sample_pose", {"armature": "Rig", "frames": [1], "joint_names": [BAD]})
    await s.err("generate_motion", {"prompt": "walks", "seconds": 1, "armature": BAD})
    await s.err("open_file", {"file_path": str(tmp_path / f"{BAD}.{ext}"), "force": True})
    # Nothing above changed the scene: a failed group_objects must not leave a half-made group.
    assert "G2" not in {o["name"] for o in await s.val("list_objects")}, "failed group left G2"
    assert await s.val("get_parent", {"object_name": "HeroCrate"}) is None
    # The server survives, and the DCC too.
    info = await s.val("get_scene_info")
    assert info["file_path"] == str(scene_path), info
    info = await s.val("new_scene", {})
    assert info["statistics"]["object_count"] == 0, info

    missing = COVERED - s.called
    assert not missing, f"[{s.label}] the scenario did not call: {sorted(missing)}"


def run_scenario(stagecraft_bin: str, env: dict, target: str, tmp_path: Path) -> None:
    failures = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            try:
                with anyio.fail_after(60):
                    await scenario(Session(client, target), target, tmp_path)
            except (AssertionError, TimeoutError) as e:  # re-raised outside the client's task group
                failures.append(e)

    anyio.run(main)
    if failures:
        raise failures[0]


@pytest.mark.parametrize("target", TARGETS)
def test_every_dcc_tool(stagecraft_bin, empty_config, tmp_path, target):
    env = dict(empty_config)
    config = Path(env["STAGECRAFT_CONFIG"])
    if target == "stage":
        run_scenario(stagecraft_bin, env, target, tmp_path)
    elif target == "embedded":
        config.write_text(dcc_config_toml("embedded", toy_embedded_command()))
        run_scenario(stagecraft_bin, env, target, tmp_path)
    elif target == "websocket_listen":
        # stagecraft listens; the toy dials in (and redials until stagecraft is up)
        env[TOY_TOKEN_ENV] = TOKEN
        with toy_dialing_in(token=TOKEN) as endpoint:
            text = dcc_config_toml("websocket", endpoint, token=True) + "listen = true\n"
            config.write_text(text)
            run_scenario(stagecraft_bin, env, target, tmp_path)
    else:
        env[TOY_TOKEN_ENV] = TOKEN
        with toy_adapter(target, tmp_path, token=TOKEN) as endpoint:
            config.write_text(dcc_config_toml(target, endpoint, token=True))
            run_scenario(stagecraft_bin, env, target, tmp_path)


# ---- a DCC that fails: the agent gets a DCC error code, never a hang, and the server lives on ----

CRASH, DROP, GARBAGE, HANG = "--crash-method", "--drop-on", "--garbage-on", "--hang-method"
FAULTS = [
    # (bridge, toy fault flags, the failing tool, expected code, the scene survives the fault)
    ("embedded", [CRASH, "scene.get_selection"], "get_selection", "connection_failed", False),
    ("http", [GARBAGE, "scene.get_selection"], "get_selection", "connection_failed", True),
    ("websocket", [HANG, "scene.get_selection"], "get_selection", "timeout", True),
    ("named_pipe", [DROP, "scene.get_selection"], "get_selection", "connection_failed", True),
]


async def fault_scenario(s: Session, tool: str, code: str, survives: bool) -> dict:
    await s.val("new_scene", {})
    await s.val("create_object", {"object_type": "cube", "name": "Survivor"})
    with anyio.fail_after(15):
        failed = await s.err(tool, {}, codes=(code,), name=None)
    assert failed["details"]["method"] == f"scene.{tool}", failed
    # The next calls work: the bridge reconnects (embedded: restarts the process).
    with anyio.fail_after(15):
        names = {o["name"] for o in await s.val("list_objects")}
    if survives:
        assert "Survivor" in names, f"the DCC kept running, its scene should too: {names}"
    else:
        assert "Survivor" not in names, f"a restarted DCC starts with a new scene: {names}"
    conn = (await s.val("list_dccs"))["connections"][0]
    assert conn["name"] == "toy" and conn["state"] == "connected", conn
    return failed


@pytest.mark.parametrize("kind,faults,tool,code,survives", FAULTS, ids=[f[0] for f in FAULTS])
def test_dcc_faults_over_mcp(
    stagecraft_bin, empty_config, tmp_path, kind, faults, tool, code, survives
):
    env = dict(empty_config)
    config = Path(env["STAGECRAFT_CONFIG"])
    env[TOY_TOKEN_ENV] = TOKEN
    failures, errors = [], []

    async def main(text):
        config.write_text(text.replace("timeout_seconds = 20", "timeout_seconds = 1"))
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            try:
                errors.append(await fault_scenario(Session(client, kind), tool, code, survives))
            except (AssertionError, TimeoutError) as e:
                failures.append(e)

    if kind == "embedded":
        anyio.run(main, dcc_config_toml(kind, toy_embedded_command(tuple(faults))))
    else:
        with toy_adapter(kind, tmp_path, token=TOKEN, faults=tuple(faults)) as endpoint:
            anyio.run(main, dcc_config_toml(kind, endpoint, token=True))
    if failures:
        raise failures[0]


def test_dcc_error_hint_names_the_connection(stagecraft_bin, empty_config, tmp_path):
    """When the default DCC is down, the error's hint and details name that connection, so the
    agent can pass it as `dcc` or find it in list_dccs."""
    env = dict(empty_config)
    Path(env["STAGECRAFT_CONFIG"]).write_text(
        dcc_config_toml("embedded", toy_embedded_command(("--crash-method", "scene.get_selection")))
    )
    got = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            r = await client.call_tool("get_selection", {})
            got.append(r.structured_content)
            r = await client.call_tool("get_scene_info", {"dcc": "default"})
            got.append(r.structured_content)

    anyio.run(main)
    failed, by_default = got
    assert failed["code"] == "connection_failed", failed
    assert by_default["code"] == "no_dcc", "there is no connection named `default`"
    assert '"toy"' in failed["hint"], failed
    assert failed["details"]["dcc"] == "toy", failed


# ---- files: confinement to [files] roots, and round trips of what stage itself writes ----


def run_calls(stagecraft_bin: str, env: dict, calls: list) -> list:
    """Runs tool calls in one session; returns each call's (is_error, structured content)."""
    out = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            for tool, args in calls:
                r = await client.call_tool(tool, args)
                out.append((r.is_error, unwrap(r.structured_content)))

    anyio.run(main)
    return out


def test_file_roots_confine_every_dcc_path(stagecraft_bin, empty_config, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to(tmp_path)
    outside = tmp_path / "outside.glb"
    outside.write_bytes(b"")
    env = dict(empty_config)
    Path(env["STAGECRAFT_CONFIG"]).write_text(f'[files]\nroots = ["{allowed}"]\n')
    refused = [
        ("save_file", {"file_path": str(tmp_path / "out.glb")}, "file_path"),
        ("save_file", {"file_path": "allowed/relative.glb"}, "file_path"),
        ("save_file", {"file_path": f"{allowed}/../dotdot.glb"}, "file_path"),
        ("save_file", {"file_path": f"{allowed}/escape/symlinked.glb"}, "file_path"),
        ("export_file", {"file_path": str(tmp_path / "out.glb"), "format": "glb"}, "file_path"),
        ("open_file", {"file_path": str(outside), "force": True}, "file_path"),
        ("import_file", {"file_path": str(outside)}, "file_path"),
        ("render_scene", {"output_path": str(tmp_path / "out.png")}, "output_path"),
        (
            "generate_motion",
            {"prompt": "walk", "seconds": 1, "save_path": str(outside)},
            "save_path",
        ),
    ]
    inside = [
        ("create_object", {"object_type": "cube", "name": "Box"}),
        ("save_file", {"file_path": str(allowed / "in.glb")}),
        ("render_scene", {"output_path": str(allowed / "in.png"), "width": 32, "height": 32}),
        ("export_file", {"file_path": str(allowed / "in.gltf"), "format": "gltf"}),
        ("open_file", {"file_path": str(allowed / "in.glb"), "force": True}),
    ]
    results = run_calls(stagecraft_bin, env, [(t, a) for t, a, _ in refused] + inside)
    for (tool, args, arg), (is_error, sc) in zip(refused, results):
        assert is_error and sc["code"] == "permission_denied", f"{tool}({args}) was allowed: {sc}"
        assert sc["details"]["argument"] == arg, sc
    for (tool, args), (is_error, sc) in zip(inside, results[len(refused) :]):
        assert not is_error, f"{tool}({args}) inside the root was refused: {sc}"
    written = sorted(
        p.name for p in tmp_path.rglob("*") if p.is_file() and p.name != "stagecraft.toml"
    )
    assert written == ["in.glb", "in.gltf", "in.png", "outside.glb"], f"files written: {written}"


@pytest.mark.parametrize("ext", ["glb", "gltf"])
def test_stage_reopens_an_empty_scene_it_saved(stagecraft_bin, empty_config, tmp_path, ext):
    path = tmp_path / f"empty.{ext}"
    results = run_calls(
        stagecraft_bin,
        empty_config,
        [
            ("new_scene", {}),
            ("export_file", {"file_path": str(path), "format": ext}),
            ("open_file", {"file_path": str(path), "force": True}),
        ],
    )
    assert not results[1][0], results[1]
    report = validate_gltf(path)
    assert report["issues"]["numErrors"] == 0, report["issues"]
    is_error, sc = results[2]
    assert not is_error, f"stage cannot open the empty .{ext} it wrote: {sc}"
    assert sc["statistics"]["object_count"] == 0, sc


def test_stage_import_merges_into_a_valid_gltf(stagecraft_bin, empty_config, tmp_path):
    """Files imported into a stage scene that has objects are merged into its glTF document: what
    it saves passes the Khronos validator and holds everything."""
    props, walk, merged = tmp_path / "props.glb", tmp_path / "walk.glb", tmp_path / "merged.glb"
    calls = [
        ("create_object", {"object_type": "cube", "name": "Crate", "translate": [300, 100, 0]}),
        ("create_object", {"object_type": "light", "name": "Lamp"}),
        ("export_file", {"file_path": str(props), "format": "glb"}),
        ("generate_motion", {"prompt": "a person walks", "seconds": 1, "save_path": str(walk)}),
        ("new_scene", {}),
        ("create_object", {"object_type": "sphere", "name": "Ball"}),
        ("import_file", {"file_path": str(walk)}),
        ("import_file", {"file_path": str(props)}),
        ("save_file", {"file_path": str(merged)}),
        ("open_file", {"file_path": str(merged), "force": True}),
        ("list_objects", {}),
    ]
    results = run_calls(stagecraft_bin, empty_config, calls)
    for (tool, args), (is_error, sc) in zip(calls, results):
        assert not is_error, f"{tool}({args}) failed: {sc}"
    assert results[7][1]["objects"] == ["Crate", "Lamp"], results[7][1]
    report = validate_gltf(merged)
    assert report["issues"]["numErrors"] == 0, report["issues"]
    names = {o["name"] for o in unwrap(results[-1][1])}
    assert {"Ball", "Crate", "Lamp", *results[6][1]["armatures"]} <= names, names


# ---- DCC progress ($/progress) reaches the MCP client on the bridges that carry notifications ----


@pytest.mark.parametrize("kind", ["embedded", "websocket", "named_pipe", "http"])
def test_dcc_progress_reaches_the_client(stagecraft_bin, empty_config, tmp_path, kind):
    env = dict(empty_config)
    env[TOY_TOKEN_ENV] = TOKEN
    config = Path(env["STAGECRAFT_CONFIG"])
    faults = ("--progress-on", "render.render_scene")
    progress, results = [], []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:

            async def on_progress(value, total, message):
                progress.append((value, total, message))

            out = str(tmp_path / "progress.png")
            r = await client.call_tool(
                "render_scene", {"output_path": out}, progress_callback=on_progress
            )
            results.append(r)

    if kind == "embedded":
        config.write_text(dcc_config_toml(kind, toy_embedded_command(faults)))
        anyio.run(main)
    else:
        with toy_adapter(kind, tmp_path, token=TOKEN, faults=faults) as endpoint:
            config.write_text(dcc_config_toml(kind, endpoint, token=True))
            anyio.run(main)
    assert not results[0].is_error, results[0]
    if kind == "http":
        assert progress == [], f"the http bridge carries no notifications: {progress}"
        return
    steps = [p for p in progress if p[2] and p[2].startswith("step ")]
    assert [(v, t, m) for v, t, m in steps] == [
        (1, 3, "step 1"),
        (2, 3, "step 2"),
        (3, 3, "step 3"),
    ], f"the DCC's $/progress should reach the client as MCP progress: {progress}"


# ---- what an adapter must refuse, or do as asked ----


@pytest.mark.parametrize("target", ["stage", "embedded"])
def test_refuses_or_does_as_asked(stagecraft_bin, empty_config, tmp_path, target):
    env = dict(empty_config)
    if target == "embedded":
        Path(env["STAGECRAFT_CONFIG"]).write_text(
            dcc_config_toml("embedded", toy_embedded_command())
        )
    calls = [
        ("set_frame_range", {"start": 1, "end": 48, "fps": 24, "current": 1}),
        ("set_frame_range", {"start": 50, "end": 10}),
        ("get_frame_range", {}),
        ("capture_viewport", {"format": "jpeg", "width": 64, "height": 48}),
        ("create_object", {"object_type": "armature", "name": "Rig"}),
        ("generate_motion", {"prompt": "walk", "seconds": 1, "armature": "Rig", "in_place": True}),
        ("sample_pose", {"armature": "Rig", "frames": [1, 10, 20, 30]}),
    ]
    results = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            for tool, args in calls:
                r = await client.call_tool(tool, args)
                results.append(r)

    anyio.run(main)
    got = {i: (r.is_error, unwrap(r.structured_content)) for i, r in enumerate(results)}
    gaps = []
    # start after end is refused, and the range is unchanged
    if not (got[1][0] and got[1][1]["code"] == "invalid_input"):
        gaps.append("set_frame_range start > end")
    assert (got[2][1]["start"], got[2][1]["end"]) in ((1, 48), (50, 10)), got[2]
    if got[1][0]:
        assert (got[2][1]["start"], got[2][1]["end"]) == (1, 48), "a refused call changed the range"
    # jpeg: a JPEG image, or unsupported; never a PNG labelled as what was asked
    is_error, cap = got[3]
    if is_error:
        assert cap["code"] == "unsupported", cap
    else:
        img = [c for c in results[3].content if c.type == "image"][0]
        data = base64.b64decode(img.data)
        if not (
            cap["format"] == "jpeg" and img.mime_type == "image/jpeg" and data[:2] == b"\xff\xd8"
        ):
            gaps.append("capture_viewport jpeg")
            assert img.mime_type == "image/" + cap["format"], "mime type and format disagree"
    # in_place: the root keeps its floor position (x, z) while the body moves
    pose = got[6][1]
    root = [j for j in pose if j.endswith(("Hips", "Root"))][0]
    xs = {round(p[0], 6) for p in pose[root]}
    zs = {round(p[2], 6) for p in pose[root]}
    assert len(xs) == 1 and len(zs) == 1, f"in_place: the root travels: {pose[root]}"
    assert not gaps, f"{target}: {gaps}"


# ---- several connections: the `dcc` argument routes each call to its own DCC ----


def test_dcc_argument_routes_between_connections(stagecraft_bin, empty_config, tmp_path):
    env = dict(empty_config)
    env[TOY_TOKEN_ENV] = TOKEN
    config = Path(env["STAGECRAFT_CONFIG"])
    got = {}

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            s = Session(client, "routing")
            listing = await s.val("list_dccs")
            got["names"] = [c["name"] for c in listing["connections"]]
            got["default"] = listing["default"]
            for i, dcc in enumerate(["toy-a", "toy-b", "stage"]):
                await s.val("new_scene", {"dcc": dcc})
                await s.val(
                    "create_object",
                    {"dcc": dcc, "object_type": "cube", "name": f"Box{i}", "translate": [i, 0, 0]},
                )
            for dcc in ["toy-a", "toy-b", "stage"]:
                got[dcc] = sorted(o["name"] for o in await s.val("list_objects", {"dcc": dcc}))
            got["default-call"] = sorted(o["name"] for o in await s.val("list_objects", {}))
            t = await s.val("get_transform", {"dcc": "toy-b", "object_name": "Box1"})
            got["toy-b Box1"] = t["translate"]
            await s.err("get_transform", {"dcc": "toy-a", "object_name": "Box1"}, name="Box1")
            await s.err("list_objects", {"dcc": "nope"}, codes=("no_dcc",), name="nope")
            listing = await s.val("list_dccs")
            got["info"] = {c["name"]: (c["bridge"], c["state"]) for c in listing["connections"]}

    with toy_adapter("websocket", tmp_path, token=TOKEN) as endpoint:
        config.write_text(
            dcc_config_toml("embedded", toy_embedded_command(), name="toy-a")
            + dcc_config_toml("websocket", endpoint, token=True, name="toy-b")
        )
        anyio.run(main)
    assert got["names"][:2] == ["toy-a", "toy-b"] and got["default"] == "toy-a", got
    assert "stage" in got["names"], f"the built-in stage stays reachable by name: {got['names']}"
    assert (got["toy-a"], got["toy-b"], got["stage"]) == (["Box0"], ["Box1"], ["Box2"]), got
    assert got["default-call"] == ["Box0"], "omitting `dcc` uses the first connection"
    assert got["toy-b Box1"] == [1, 0, 0], got
    assert got["info"]["toy-a"] == ("embedded", "connected"), got["info"]
    assert got["info"]["toy-b"] == ("websocket", "connected"), got["info"]


# ---- the 2026-07-28 (stateless) protocol era drives the same DCC state ----


@pytest.mark.parametrize("target", ["stage", "embedded"])
def test_dcc_tools_in_the_2026_era(stagecraft_bin, empty_config, tmp_path, target):
    env = dict(empty_config)
    if target == "embedded":
        Path(env["STAGECRAFT_CONFIG"]).write_text(
            dcc_config_toml("embedded", toy_embedded_command())
        )
    got = {}

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="auto") as client:
            got["version"] = client.protocol_version
            s = Session(client, f"2026 {target}")
            await s.val("new_scene", {})
            await s.val(
                "create_object", {"object_type": "cube", "name": "Kept", "translate": [5, 6, 7]}
            )
            got["objects"] = [o["name"] for o in await s.val("list_objects")]
            got["t"] = (await s.val("get_transform", {"object_name": "Kept"}))["translate"]
            cap, r = await s.ok("capture_viewport", {"width": 32, "height": 24})
            got["png"] = png_size(png_bytes(r))
            await s.err("get_transform", {"object_name": BAD})

    anyio.run(main)
    assert got["version"] == "2026-07-28", got
    assert got["objects"] == ["Kept"] and got["t"] == [5, 6, 7], got
    assert got["png"] == (32, 24), got


# ---- a networked DCC that goes away and comes back: reported fast, then reconnected ----


@pytest.mark.parametrize("kind", ["http", "websocket", "named_pipe"])
def test_dcc_restart_is_reconnected(stagecraft_bin, empty_config, tmp_path, kind):
    env = dict(empty_config)
    env[TOY_TOKEN_ENV] = TOKEN
    config = Path(env["STAGECRAFT_CONFIG"])
    where = free_port() if kind != "named_pipe" else tmp_path / "restart.sock"
    failures = []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            s = Session(client, f"restart {kind}")
            try:
                with toy_adapter(kind, tmp_path, token=TOKEN, where=where):
                    await s.val("create_object", {"object_type": "cube", "name": "First"})
                # The toy is gone: a prompt connection_failed, not a hang.
                with anyio.fail_after(10):
                    await s.err("list_objects", {}, codes=("connection_failed",), name=None)
                state = (await s.val("list_dccs"))["connections"][0]["state"]
                assert state in ("error", "disconnected"), f"a dead DCC is listed as {state}"
                with toy_adapter(kind, tmp_path, token=TOKEN, where=where):
                    # A new toy process: a new scene. Reconnecting may wait out a backoff.
                    with anyio.fail_after(15):
                        while True:
                            r = await client.call_tool("list_objects", {})
                            if not r.is_error:
                                break
                            assert r.structured_content["code"] == "connection_failed", r
                            await anyio.sleep(0.2)
                    assert unwrap(r.structured_content) == [], r.structured_content
                    conn = (await s.val("list_dccs"))["connections"][0]
                    assert conn["state"] == "connected", conn
            except (AssertionError, TimeoutError) as e:
                failures.append(e)

    config.write_text(
        dcc_config_toml(
            kind,
            {
                "http": f"http://127.0.0.1:{where}/rpc",
                "websocket": f"ws://127.0.0.1:{where}",
                "named_pipe": str(where),
            }[kind],
            token=True,
        )
    )
    anyio.run(main)
    if failures:
        raise failures[0]


# ---- MCP cancellation of a DCC call reaches the DCC as $/cancel ----

CANCEL_SPY = """import json
import sys
sys.path.insert(0, {folder!r})
import toy_adapter as toy

_on_message = toy.Session.on_message


def on_message(self, text):
    try:
        msg = json.loads(text)
    except ValueError:
        msg = {{}}
    if msg.get("method") in ("$/cancel", "scene.get_selection"):
        with open({log!r}, "a") as fh:
            fh.write(json.dumps(msg) + "\\n")
    return _on_message(self, text)


toy.Session.on_message = on_message
toy.main()
"""


ATTEMPTS = 4


@pytest.mark.parametrize("kind", ["embedded", "websocket", "named_pipe"])
def test_mcp_cancel_reaches_the_dcc(stagecraft_bin, empty_config, tmp_path, kind):
    log = tmp_path / "cancel.log"
    spy = tmp_path / "cancel_spy.py"
    spy.write_text(CANCEL_SPY.format(folder=str(TOY_ADAPTER.parent), log=str(log)))
    faults = ("--hang-method", "scene.get_selection")
    env = dict(empty_config)
    env[TOY_TOKEN_ENV] = TOKEN
    config = Path(env["STAGECRAFT_CONFIG"])
    failures = []

    def logged():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    async def main():
        params = StdioServerParameters(command=stagecraft_bin, args=["serve"], env=env)
        async with Client(params, mode="legacy") as client:
            s = Session(client, f"cancel {kind}")
            try:
                await s.val("new_scene", {})
                for _ in range(ATTEMPTS):
                    with anyio.move_on_after(0.5) as scope:
                        await client.call_tool("get_selection", {})
                    assert scope.cancelled_caught, "get_selection should hang until cancelled"
                with anyio.move_on_after(2):
                    while sum(m.get("method") == "$/cancel" for m in logged()) < ATTEMPTS:
                        await anyio.sleep(0.1)
                # The server and the DCC go on.
                assert await s.val("list_objects") == []
            except (AssertionError, TimeoutError) as e:
                failures.append(e)

    if kind == "embedded":
        cmd = toy_embedded_command(faults)
        cmd[1] = str(spy)
        config.write_text(dcc_config_toml(kind, cmd))
        anyio.run(main)
    else:
        with toy_adapter(kind, tmp_path, token=TOKEN, faults=faults, script=spy) as endpoint:
            config.write_text(dcc_config_toml(kind, endpoint, token=True))
            anyio.run(main)
    if failures:
        raise failures[0]
    msgs = logged()
    asked = [m for m in msgs if m.get("method") == "scene.get_selection"]
    cancels = [m for m in msgs if m.get("method") == "$/cancel"]
    assert asked, f"the DCC never saw the request: {msgs}"
    assert [c["params"]["id"] for c in cancels] == [a["id"] for a in asked], msgs
    assert all("id" not in c for c in cancels), "$/cancel is a notification"


# ---- over Streamable HTTP: one server, several clients, one DCC scene ----


def test_dcc_tools_over_streamable_http(stagecraft_bin, empty_config, tmp_path):
    env = dict(empty_config)
    env[TOY_TOKEN_ENV] = TOKEN
    Path(env["STAGECRAFT_CONFIG"]).write_text(dcc_config_toml("embedded", toy_embedded_command()))
    port = free_port()
    proc = subprocess.Popen(
        [stagecraft_bin, "serve", "--http", f"127.0.0.1:{port}"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    got = {}
    try:
        line = ""
        while "MCP on http://" not in line:
            line = proc.stderr.readline()
            assert line, f"the server exited: {proc.wait()}"
        url = f"http://127.0.0.1:{port}/mcp"

        async def main():
            async with Client(url, mode="legacy") as a, Client(url, mode="auto") as b:
                sa, sb = Session(a, "http legacy"), Session(b, "http 2026")
                await sa.val("new_scene", {})
                await sa.val("create_object", {"object_type": "cube", "name": "Shared"})
                await sb.val("set_transform", {"object_name": "Shared", "translate": [0, 9, 0]})
                got["seen by a"] = (await sa.val("get_transform", {"object_name": "Shared"}))[
                    "translate"
                ]
                cap, r = await sb.ok("capture_viewport", {"width": 48, "height": 32})
                got["png"] = png_size(png_bytes(r))
                got["dccs"] = (await sb.val("list_dccs"))["connections"][0]

        anyio.run(main)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
    assert got["seen by a"] == [0, 9, 0], "two HTTP clients drive the same DCC scene"
    assert got["png"] == (48, 32), got
    assert got["dccs"]["name"] == "toy" and got["dccs"]["state"] == "connected", got["dccs"]
