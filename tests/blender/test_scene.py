"""scene.*, transform.*, hierarchy.*, render.* and script.* against a real Blender."""

import base64
import os
import struct
import time

import pytest
from bridge_client import BridgeError

ALL_METHODS = [
    "dcc.hello", "dcc.ping",
    "scene.get_scene_info", "scene.list_objects", "scene.create_object", "scene.delete_objects",
    "scene.get_selection", "scene.set_selection", "scene.select_by_type", "scene.set_visibility",
    "scene.new_scene", "scene.open_file", "scene.save_file", "scene.export_file", "scene.import_file",
    "transform.get_transform", "transform.set_transform", "transform.get_bounding_box",
    "transform.rename_object",
    "hierarchy.get_hierarchy", "hierarchy.get_children", "hierarchy.get_parent",
    "hierarchy.group_objects", "hierarchy.ungroup", "hierarchy.reparent",
    "render.capture_viewport", "render.render_scene", "render.get_render_settings",
    "render.set_render_settings",
    "script.execute", "script.supported_languages",
    "animation.list_armatures", "animation.get_skeleton", "animation.apply_motion",
    "animation.sample_pose", "animation.get_frame_range", "animation.set_frame_range",
]  # fmt: skip


def close(a, b, tol=1e-3):
    return all(abs(x - y) < tol for x, y in zip(a, b))


def names(objs):
    return sorted(o["name"] for o in objs)


def test_hello_lists_every_method(blender):
    hello = blender.hello()
    assert hello["protocol"] == "stagecraft-bridge/1"
    assert sorted(hello["methods"]) == sorted(ALL_METHODS)
    assert hello["info"]["dcc_type"] == "blender"
    assert hello["info"]["version"].startswith(("4.", "5."))
    caps = hello["capabilities"]
    assert caps["animation"] and caps["render_capture"] and caps["script_languages"] == ["python"]
    assert caps["bridge_kind"] == "embedded"


def test_ping(blender):
    assert blender.call("dcc.ping") == {"busy": False}


def test_scene_info(blender):
    info = blender.call("scene.get_scene_info")
    assert info["format"] == "blend" and info["up_axis"] == "Z"
    stats = info["statistics"]
    assert stats["object_count"] >= 1 and stats["camera_count"] >= 0
    assert info["fps"] > 0 and len(info["frame_range"]) == 2


def test_create_list_delete(blender):
    for kind in ("empty", "cube", "sphere", "camera", "light", "armature"):
        obj = blender.call("scene.create_object", {"object_type": kind, "name": f"new_{kind}"})
        assert obj["name"] == f"new_{kind}"
        expected = {"cube": "mesh", "sphere": "mesh"}.get(kind, kind)
        assert obj["object_type"] == expected and obj["parent"] is None and obj["visible"]
    meshes = blender.call("scene.list_objects", {"object_type": "mesh"})
    assert {"new_cube", "new_sphere"} <= set(names(meshes))
    assert all(o["object_type"] == "mesh" for o in meshes)
    child = blender.call(
        "scene.create_object",
        {
            "object_type": "empty",
            "name": "new_child",
            "parent": "new_empty",
            "translate": [1, 2, 3],
        },
    )
    assert child["parent"] == "new_empty"
    t = blender.call("transform.get_transform", {"object_name": "new_child"})
    assert close(t["translate"], [1, 2, 3])
    deleted = blender.call(
        "scene.delete_objects", {"object_names": ["new_sphere", "new_child", "ghost"]}
    )
    assert deleted == ["new_sphere", "new_child"]
    assert "new_sphere" not in names(blender.call("scene.list_objects"))


def test_transform_round_trip_and_conventions(blender):
    blender.call("scene.create_object", {"object_type": "cube", "name": "T"})
    got = blender.call(
        "transform.set_transform",
        {
            "object_name": "T",
            "translate": [10, 20, 30],
            "rotate": [10, -20, 30],
            "scale": [1, 2, 3],
        },
    )
    assert close(got["translate"], [10, 20, 30]) and close(got["rotate"], [10, -20, 30])
    assert close(got["scale"], [1, 2, 3])
    again = blender.call("transform.get_transform", {"object_name": "T"})
    assert all(close(got[k], again[k], 1e-6) for k in got)
    # Partial update keeps the rest.
    got = blender.call("transform.set_transform", {"object_name": "T", "translate": [0, 50, 0]})
    assert close(got["translate"], [0, 50, 0]) and close(got["rotate"], [10, -20, 30])
    # Y-up cm on the bridge is Blender Z-up metres: check through Blender itself.
    out = blender.call(
        "script.execute",
        {"language": "python", "code": "result = list(bpy.data.objects['T'].location)"},
    )
    assert close(out["result"], [0, 0, 0.5], 1e-6)


def test_bounding_box_in_centimetres(blender):
    blender.call(
        "scene.create_object", {"object_type": "cube", "name": "Box", "translate": [0, 100, 0]}
    )
    blender.call("transform.set_transform", {"object_name": "Box", "scale": [1, 1, 2]})
    box = blender.call("transform.get_bounding_box", {"object_name": "Box"})
    # A 2 m cube, scaled 2 along Y-up Z, centred at 1 m height.
    assert close(box["min"], [-100, 0, -200]) and close(box["max"], [100, 200, 200])


def test_rename(blender):
    blender.call("scene.create_object", {"object_type": "empty", "name": "OldName"})
    assert (
        blender.call("transform.rename_object", {"old_name": "OldName", "new_name": "NewName"})
        == "NewName"
    )
    blender.call("scene.create_object", {"object_type": "empty", "name": "Taken"})
    got = blender.call("transform.rename_object", {"old_name": "NewName", "new_name": "Taken"})
    assert got != "Taken" and got.startswith("Taken")


def test_reparent_preserves_world_transform(blender):
    blender.call("scene.create_object", {"object_type": "empty", "name": "P"})
    blender.call(
        "transform.set_transform",
        {"object_name": "P", "translate": [50, 10, -20], "rotate": [0, 45, 15], "scale": [2, 2, 2]},
    )
    blender.call("scene.create_object", {"object_type": "cube", "name": "C"})
    before = blender.call(
        "transform.set_transform",
        {"object_name": "C", "translate": [5, 6, 7], "rotate": [30, 0, 0], "scale": [1, 1, 1]},
    )
    obj = blender.call("hierarchy.reparent", {"object_name": "C", "new_parent": "P"})
    assert obj["parent"] == "P"
    after = blender.call("transform.get_transform", {"object_name": "C"})
    for key in before:
        assert close(before[key], after[key]), key
    assert blender.call("hierarchy.get_parent", {"object_name": "C"}) == "P"
    assert names(blender.call("hierarchy.get_children", {"object_name": "P"})) == ["C"]
    # Moving the parent now moves the child.
    blender.call("transform.set_transform", {"object_name": "P", "translate": [60, 10, -20]})
    moved = blender.call("transform.get_transform", {"object_name": "C"})
    assert close(moved["translate"], [15, 6, 7])
    # Unparent, keeping the world transform.
    blender.call("hierarchy.reparent", {"object_name": "C", "new_parent": None})
    assert blender.call("hierarchy.get_parent", {"object_name": "C"}) is None
    assert close(
        blender.call("transform.get_transform", {"object_name": "C"})["translate"], [15, 6, 7]
    )
    # Without preserving, the local transform is kept and the world one changes.
    blender.call(
        "hierarchy.reparent",
        {"object_name": "C", "new_parent": "P", "preserve_world_transform": False},
    )
    moved = blender.call("transform.get_transform", {"object_name": "C"})
    assert not close(moved["translate"], [15, 6, 7])
    with pytest.raises(BridgeError) as err:
        blender.call("hierarchy.reparent", {"object_name": "P", "new_parent": "C"})
    assert err.value.code == "SCENE_ERROR" and "cycle" in err.value.error["message"]


def test_group_and_ungroup(blender):
    for n in ("G1", "G2"):
        blender.call(
            "scene.create_object", {"object_type": "cube", "name": n, "translate": [10, 0, 0]}
        )
    group = blender.call(
        "hierarchy.group_objects", {"object_names": ["G1", "G2"], "group_name": "Grp"}
    )
    assert group["name"] == "Grp" and group["object_type"] == "empty"
    tree = blender.call("hierarchy.get_hierarchy")
    node = next(n for n in tree if n["object"]["name"] == "Grp")
    assert sorted(c["object"]["name"] for c in node["children"]) == ["G1", "G2"]
    assert "G1" not in [n["object"]["name"] for n in tree]
    assert blender.call("hierarchy.ungroup", {"group_name": "Grp"}) == ["G1", "G2"]
    assert blender.call("hierarchy.get_parent", {"object_name": "G1"}) is None
    t = blender.call("transform.get_transform", {"object_name": "G1"})
    assert close(t["translate"], [10, 0, 0])


def test_selection_and_visibility(blender):
    blender.call("scene.create_object", {"object_type": "light", "name": "Lamp"})
    assert blender.call("scene.set_selection", {"object_names": ["Lamp"]}) == ["Lamp"]
    assert blender.call("scene.get_selection") == ["Lamp"]
    lights = blender.call("scene.select_by_type", {"object_type": "light"})
    assert "Lamp" in lights and blender.call("scene.get_selection") == lights
    assert blender.call("scene.set_visibility", {"object_name": "Lamp", "visible": False}) is False
    lamp = next(o for o in blender.call("scene.list_objects") if o["name"] == "Lamp")
    assert lamp["visible"] is False
    blender.call("scene.set_visibility", {"object_name": "Lamp", "visible": True})
    with pytest.raises(BridgeError) as err:
        blender.call("scene.set_selection", {"object_names": ["ghost"]})
    assert err.value.code == "SCENE_ERROR"


def test_frame_range(blender):
    got = blender.call(
        "animation.set_frame_range", {"start": 10, "end": 300, "fps": 30, "current": 12}
    )
    assert got == {"start": 10, "end": 300, "fps": 30.0, "current": 12}
    assert blender.call("animation.get_frame_range") == got
    got = blender.call("animation.set_frame_range", {"fps": 29.97})
    assert abs(got["fps"] - 29.97) < 1e-6
    blender.call("animation.set_frame_range", {"start": 1, "end": 250, "fps": 24, "current": 1})
    with pytest.raises(BridgeError):
        blender.call("animation.set_frame_range", {"start": 20, "end": 10})


def test_render_settings(blender):
    before = blender.call("render.get_render_settings")
    assert {"engine", "resolution_x", "resolution_y"} <= set(before)
    after = blender.call(
        "render.set_render_settings",
        {"settings": {"engine": "cycles", "resolution_x": 64, "resolution_y": 48, "samples": 2}},
    )
    assert after["engine"] == "CYCLES" and after["resolution_x"] == "64" and after["samples"] == "2"
    for bad in ({"nope": 1}, {"resolution_x": "wide"}, {"engine": "povray"}):
        with pytest.raises(BridgeError) as err:
            blender.call("render.set_render_settings", {"settings": bad})
        assert err.value.code == "INVALID_INPUT"


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack("!II", data[16:24])


def test_capture_viewport_returns_png(blender):
    blender.call("scene.create_object", {"object_type": "cube", "name": "Shot"})
    before = len(blender.notifications)
    cap = blender.call("render.capture_viewport", {"width": 160, "height": 120})
    assert cap["format"] == "png" and (cap["width"], cap["height"]) == (160, 120)
    assert png_size(base64.b64decode(cap["data_b64"])) == (160, 120)
    progress = [m for m in blender.notifications[before:] if m["method"] == "$/progress"]
    assert progress, "a render reports $/progress"
    # The temporary camera is gone afterwards.
    assert "stagecraft_capture" not in names(blender.call("scene.list_objects"))


def test_render_scene_writes_file(blender, tmp_path):
    blender.call("render.set_render_settings", {"settings": {"engine": "cycles", "samples": 2}})
    out = blender.call(
        "render.render_scene",
        {
            "output_path": str(tmp_path / "frame.png"),
            "width": 96,
            "height": 64,
            "renderer": "cycles",
        },
    )
    assert out["file_path"] == str(tmp_path / "frame.png") and out["format"] == "png"
    with open(out["file_path"], "rb") as f:
        assert png_size(f.read()) == (96, 64)
    assert out["render_time_ms"] > 0
    with pytest.raises(BridgeError) as err:
        blender.call("render.render_scene", {"output_path": str(tmp_path / "no" / "x.png")})
    assert err.value.code == "INVALID_INPUT"


@pytest.mark.parametrize(
    "fmt, magic", [("glb", b"glTF"), ("fbx", b"Kayd"), ("obj", b"# Bl"), ("usda", b"#usd")]
)
def test_export(blender, tmp_path, fmt, magic):
    path = str(tmp_path / f"scene.{fmt}")
    assert blender.call("scene.export_file", {"file_path": path, "format": fmt}) == path
    with open(path, "rb") as f:
        assert f.read(4) == magic


def test_export_unsupported(blender, tmp_path):
    with pytest.raises(BridgeError) as err:
        blender.call("scene.export_file", {"file_path": str(tmp_path / "x.max"), "format": "max"})
    assert err.value.code == "UNSUPPORTED"


def test_script_execute(blender):
    out = blender.call(
        "script.execute",
        {
            "language": "python",
            "code": "print('hello', args['n'])\n"
            "result = {'objects': len(bpy.data.objects), 'n': args['n'] * 2}",
            "args": {"n": 21},
        },
    )
    assert out["success"] and out["output"] == "hello 21\n" and out["result"]["n"] == 42
    failed = blender.call("script.execute", {"language": "python", "code": "1/0"})
    assert not failed["success"] and "ZeroDivisionError" in failed["error"]
    with pytest.raises(BridgeError) as err:
        blender.call("script.execute", {"language": "mel", "code": "ls"})
    assert err.value.code == "UNSUPPORTED"
    with pytest.raises(BridgeError) as err:
        blender.call("script.execute", {"language": "python"})
    assert err.value.code == "INVALID_INPUT"
    assert blender.call("script.supported_languages") == ["python"]


def test_script_from_path(blender, tmp_path):
    script = tmp_path / "s.py"
    script.write_text("result = args['a'] + 1\n")
    out = blender.call(
        "script.execute", {"language": "python", "path": str(script), "args": {"a": 1}}
    )
    assert out["result"] == 2


@pytest.mark.parametrize(
    "method, params",
    [
        ("transform.get_transform", {}),
        ("transform.get_transform", {"object_name": 5}),
        ("transform.set_transform", {"object_name": "Shot", "translate": [1, 2]}),
        ("transform.set_transform", {"object_name": "Shot", "rotate": [1, "a", 3]}),
        ("transform.set_transform", {"object_name": "Shot", "scale": [1, True, 1]}),
        ("transform.set_transform", {"object_name": "Shot", "scale": [1, 0, 1]}),
        ("scene.create_object", {"object_type": "teapot", "name": "x"}),
        ("scene.create_object", {"object_type": "cube"}),
        ("scene.set_visibility", {"object_name": "Shot", "visible": "yes"}),
        ("hierarchy.group_objects", {"object_names": [], "group_name": "G"}),
        ("render.capture_viewport", {"width": -5}),
    ],
)
def test_bad_input_is_invalid_input(blender, method, params):
    with pytest.raises(BridgeError) as err:
        blender.call(method, params)
    assert err.value.code == "INVALID_INPUT", err.value.error
    assert blender.call("dcc.ping") == {"busy": False}


@pytest.mark.parametrize(
    "method, params",
    [
        ("transform.get_transform", {"object_name": "ghost"}),
        ("hierarchy.get_children", {"object_name": "ghost"}),
        ("hierarchy.ungroup", {"group_name": "Shot"}),
        ("scene.open_file", {"file_path": "/nonexistent/x.blend", "force": True}),
        ("render.capture_viewport", {"viewport": "Shot"}),
    ],
)
def test_missing_things_are_scene_errors(blender, method, params):
    with pytest.raises(BridgeError) as err:
        blender.call(method, params)
    assert err.value.code == "SCENE_ERROR", err.value.error
    assert blender.call("dcc.ping") == {"busy": False}


def test_non_finite_json_is_rejected(blender):
    blender.send_raw(
        b'{"jsonrpc":"2.0","id":"nan","method":"transform.set_transform",'
        b'"params":{"object_name":"Shot","translate":[NaN,0,0]}}'
    )
    # NaN is not JSON: a parse error, answered with a null id, and Blender carries on.
    with pytest.raises(BridgeError) as err:
        blender.wait(None)
    assert err.value.rpc_code == -32700 and err.value.code == "INVALID_INPUT"
    assert blender.call("dcc.ping") == {"busy": False}


def test_malformed_requests(blender):
    blender.send_raw(b'{"jsonrpc":"2.0","id":77}')
    with pytest.raises(BridgeError) as err:
        blender.wait(77)
    assert err.value.rpc_code == -32600
    blender.send_raw(b'{"jsonrpc":"2.0","id":78,"method":"scene.list_objects","params":[1]}')
    with pytest.raises(BridgeError) as err:
        blender.wait(78)
    assert err.value.code == "INVALID_INPUT"
    with pytest.raises(BridgeError) as err:
        blender.call("scene.no_such_method")
    assert err.value.rpc_code == -32601 and err.value.code == "UNSUPPORTED"


def test_files_save_open_new(blender, tmp_path):
    path = str(tmp_path / "saved.blend")
    blender.call("scene.create_object", {"object_type": "empty", "name": "Keep"})
    assert blender.call("scene.save_file", {"file_path": path}) == path
    assert os.path.getsize(path) > 0
    with open(path, "rb") as f:
        magic = f.read(7)
    assert magic == b"BLENDER" or magic[:4] == b"\x28\xb5\x2f\xfd"  # plain or zstd .blend
    assert blender.call("scene.get_scene_info")["modified"] is False
    info = blender.call("scene.new_scene")
    assert info["statistics"]["object_count"] == 0 and info["file_path"] is None
    assert info["modified"] is False
    info = blender.call("scene.open_file", {"file_path": path})
    assert info["file_path"] == path and "Keep" in names(blender.call("scene.list_objects"))
    blender.call("transform.set_transform", {"object_name": "Keep", "translate": [1, 1, 1]})
    assert blender.call("scene.get_scene_info")["modified"] is True
    with pytest.raises(BridgeError) as err:
        blender.call("scene.open_file", {"file_path": path})
    assert err.value.code == "SCENE_ERROR"
    assert blender.call("scene.save_file") == path
    blender.call("scene.open_file", {"file_path": path, "force": True})


def test_script_timeout_and_cancel(blender):
    spin = "while True:\n    try:\n        pass\n    except Exception:\n        pass"
    out = blender.call("script.execute", {"language": "python", "code": spin, "timeout_ms": 300})
    assert not out["success"] and "timeout_ms" in out["error"]
    running = blender.send_request("script.execute", {"language": "python", "code": spin})
    time.sleep(0.3)
    blender.notify("$/cancel", {"id": running})
    out = blender.wait(running, timeout=10)
    assert not out["success"] and "cancel" in out["error"]
    assert blender.call("dcc.ping") == {"busy": False}
    ok = blender.call("script.execute", {"language": "python", "code": "result = 1"})
    assert ok["success"] and ok["result"] == 1
    bad = blender.call("script.execute", {"language": "python", "code": "def ("})
    assert not bad["success"] and "SyntaxError" in bad["error"]


def test_render_failure_is_scene_error(blender, tmp_path):
    target = tmp_path / "is_a_dir.png"
    target.mkdir()
    blender.call("render.set_render_settings", {"settings": {"engine": "cycles", "samples": 1}})
    with pytest.raises(BridgeError) as err:
        blender.call("render.render_scene", {"output_path": str(target), "width": 32, "height": 32})
    assert err.value.code == "SCENE_ERROR", err.value.error
    assert blender.call("dcc.ping") == {"busy": False}
