"""render.capture_viewport with focus, view and frames against a real Blender: an animated armature,
framed, fills a good part of the picture on every frame of a contact sheet, even with a cube far
away that, unframed, makes the rig a sliver."""

import base64
import os

import pytest
from bridge_client import BridgeError
from rigs import HUMANOID_BONES, build_rig
from stagecraft_mcp import drawn_box, png_pixels, png_size

# Where to keep the pictures for a person to look at (unset: nowhere).
SAVE_TO = os.environ.get("STAGECRAFT_CAPTURES_DIR")

# The rig walks 2 m toward the front (Blender -Y, the bridge's +Z) over frames 1-20 and bends.
ANIMATE = """
import bpy
rig = bpy.data.objects["Walker"]
spine = rig.pose.bones["Spine"]
spine.rotation_mode = "XYZ"
for frame, y, bend in ((1, 0.0, 0.0), (20, -2.0, 0.5)):
    rig.location = (0.0, y, 0.0)
    rig.keyframe_insert("location", frame=frame)
    spine.rotation_euler = (bend, 0.0, 0.0)
    spine.keyframe_insert("rotation_euler", frame=frame)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 20
scene.frame_set(1)
"""


@pytest.fixture(scope="module")
def walker(blender):
    blender.call("scene.new_scene")
    build_rig(blender, "Walker", HUMANOID_BONES, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    out = blender.call("script.execute", {"language": "python", "code": ANIMATE})
    assert out["success"], out.get("error")
    blender.call(
        "scene.create_object",
        {"object_type": "cube", "name": "Far", "translate": [3000, 100, -500]},
    )
    return "Walker"


def filled_height(data, x0, y0, w, h):
    return drawn_box(data, x0, y0, w, h)[1]


def capture(blender, **params):
    out = blender.call("render.capture_viewport", params, timeout=300)
    data = base64.b64decode(out["data_b64"])
    if SAVE_TO:
        name = "-".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "focus")
        with open(f"{SAVE_TO}/capture-{name}.png", "wb") as f:
            f.write(data)
    assert png_size(data) == (out["width"], out["height"]), out
    return out, data


def test_focus_frames_the_animated_armature_on_every_frame(blender, walker):
    frames = [1, 7, 14, 20]
    out, sheet = capture(
        blender, focus=[walker], view="front", frames=frames, width=400, height=320
    )
    assert out["frames"] == frames and out["viewport"] == "auto", out
    # Four frames: 2 x 2 cells of 200 x 160, left to right, top to bottom.
    cells = {
        frame: filled_height(sheet, (i % 2) * 200, (i // 2) * 160, 200, 160)
        for i, frame in enumerate(frames)
    }
    assert all(f >= 0.4 for f in cells.values()), f"rig height / cell height per frame: {cells}"
    # The cells differ: the rig moves.
    _, _, channels, rows = png_pixels(sheet)
    first = [row[: 200 * channels] for row in rows[:160]]
    last = [row[200 * channels : 400 * channels] for row in rows[160:320]]
    assert first != last, "frame 1 and frame 20 look the same"
    assert blender.call("animation.get_frame_range")["current"] == 1, "the current frame is kept"
    names = {o["name"] for o in blender.call("scene.list_objects")}
    assert names == {"Walker", "Far"}, f"temporary objects left behind: {names}"


def test_without_focus_the_far_cube_shrinks_the_rig(blender, walker):
    _, wide = capture(blender, width=200, height=160)
    unframed = filled_height(wide, 0, 0, 200, 160)
    _, framed = capture(blender, focus=[walker], width=200, height=160)
    assert unframed < 0.25 and filled_height(framed, 0, 0, 200, 160) >= 0.4, unframed


@pytest.mark.parametrize("view", ["side", "top"])
def test_other_views(blender, walker, view):
    out, data = capture(blender, focus=[walker], view=view, frames=[10], width=160, height=120)
    assert out["frames"] == [10], out
    # From above the rig is wide and shallow: its width is what fills the picture.
    width, height = drawn_box(data, 0, 0, 160, 120)
    assert (height if view == "side" else width) >= 0.4, (width, height)


def test_capture_errors(blender, walker):
    for params, code in [
        ({"focus": ["Nobody"]}, "SCENE_ERROR"),
        ({"view": "camera"}, "SCENE_ERROR"),
        ({"view": "sideways"}, "INVALID_INPUT"),
        ({"frames": []}, "INVALID_INPUT"),
        ({"frames": [1, 2, 3, 4, 5], "width": 40, "height": 40}, "INVALID_INPUT"),
    ]:
        with pytest.raises(BridgeError) as err:
            blender.call("render.capture_viewport", params)
        assert err.value.code == code, params
