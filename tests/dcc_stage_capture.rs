//! `render.capture_viewport` with `focus`, `view` and `frames` on the stage DCC: a walking armature
//! (imported from BVH) framed front-on fills most of the picture's height on every frame of a
//! contact sheet, even with a big cube far away that, unframed, shrinks it to a sliver.

mod common;

use base64::Engine as _;
use common::stage::{call, hub, ok};
use serde_json::{Value, json};
use stagecraft::dcc::DccHub;
use stagecraft::motion::bvh;
use stagecraft::motion::procedural::{Plan, generate};

/// A walking armature (a stick figure: no mesh) and a 2 m cube 30 m away.
async fn walking_scene() -> (DccHub, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let take = generate(&Plan::text("a person walks forward", 1.0, 5)).expect("take");
    let path = dir.path().join("walker.bvh");
    std::fs::write(&path, bvh::write(&take, 0).expect("bvh")).expect("write");
    let hub = hub();
    ok(&hub, "scene.import_file", json!({"file_path": path})).await;
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Far", "translate": [3000, 100, -500]}),
    )
    .await;
    (hub, dir)
}

/// The PNG's pixels as RGBA rows.
fn decode(capture: &Value) -> tiny_skia::Pixmap {
    let data = base64::engine::general_purpose::STANDARD
        .decode(capture["data_b64"].as_str().expect("data_b64"))
        .expect("base64");
    tiny_skia::Pixmap::decode_png(&data).expect("png")
}

/// Height of the box around the bone-coloured pixels (the stage draws bones orange) inside the
/// cell at (x0, y0) of size w × h, as a fraction of h.
fn bones_height(image: &tiny_skia::Pixmap, x0: u32, y0: u32, w: u32, h: u32) -> f64 {
    let mut rows = Vec::new();
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let Some(p) = image.pixel(x, y) else { continue };
            if p.red() > 200 && (110..=220).contains(&p.green()) && p.blue() < 110 {
                rows.push(y);
                break;
            }
        }
    }
    match (rows.first(), rows.last()) {
        (Some(top), Some(bottom)) => f64::from(bottom - top + 1) / f64::from(h),
        _ => 0.0,
    }
}

#[tokio::test]
async fn focus_frames_the_armature_on_every_frame_of_the_sheet() {
    let (hub, _dir) = walking_scene().await;
    let frames = [1, 10, 20, 30];
    let sheet = ok(
        &hub,
        "render.capture_viewport",
        json!({"focus": ["walker"], "view": "front", "frames": frames, "width": 480, "height": 400}),
    )
    .await;
    assert_eq!(sheet["frames"], json!([1.0, 10.0, 20.0, 30.0]));
    let image = decode(&sheet);
    assert_eq!((image.width(), image.height()), (480, 400));
    // Four frames: a 2 × 2 sheet of 240 × 200 cells.
    for (i, frame) in frames.iter().enumerate() {
        let (x, y) = ((i as u32 % 2) * 240, (i as u32 / 2) * 200);
        let filled = bones_height(&image, x, y, 240, 200);
        assert!(
            filled >= 0.4,
            "frame {frame}: the rig fills {filled:.2} of the cell height"
        );
    }

    // Unframed, the far cube takes the picture and the rig is a sliver.
    let wide = ok(
        &hub,
        "render.capture_viewport",
        json!({"width": 240, "height": 200}),
    )
    .await;
    let unframed = bones_height(&decode(&wide), 0, 0, 240, 200);
    assert!(unframed < 0.25, "without focus the rig fills {unframed:.2}");

    // From above, the rig is as deep as it is wide: it fills less of the height.
    for (view, least) in [("side", 0.4), ("current", 0.4), ("top", 0.2)] {
        let one = ok(
            &hub,
            "render.capture_viewport",
            json!({"focus": ["walker"], "view": view, "width": 240, "height": 200}),
        )
        .await;
        assert_eq!(one["frames"], Value::Null);
        let filled = bones_height(&decode(&one), 0, 0, 240, 200);
        assert!(filled >= least, "view {view}: the rig fills {filled:.2}");
    }
}

#[tokio::test]
async fn capture_arguments_are_checked() {
    let (hub, _dir) = walking_scene().await;
    for (params, code) in [
        (json!({"focus": ["Nobody"]}), "scene_error"),
        (json!({"view": "camera"}), "scene_error"),
        (json!({"view": "sideways"}), "invalid_input"),
        (json!({"frames": []}), "invalid_input"),
        (
            json!({"frames": [1, 2, 3, 4, 5], "width": 40, "height": 40}),
            "invalid_input",
        ),
    ] {
        let err = call(&hub, "render.capture_viewport", params.clone())
            .await
            .expect_err("refused");
        assert_eq!(err.code, code, "{params}: {err:?}");
    }
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "camera", "name": "Cam", "translate": [0, 100, 600]}),
    )
    .await;
    let through = ok(
        &hub,
        "render.capture_viewport",
        json!({"view": "camera", "viewport": "Cam", "focus": ["walker"], "width": 64, "height": 48}),
    )
    .await;
    assert_eq!(
        through["viewport"], "Cam",
        "view camera keeps the camera, focus or not"
    );
}
