//! `scene.import_file` on the stage DCC: BVH files (written by stagecraft and by hand, metres and
//! centimetres) become an armature playing their motion; glTF files load into an empty scene.

use std::time::Duration;

use serde_json::{Value, json};
use stagecraft::config::Config;
use stagecraft::dcc::{DccCall, DccFailure, DccHub};
use stagecraft::motion::procedural::{Plan, generate};
use stagecraft::motion::{bvh, save_take};
use tokio_util::sync::CancellationToken;

fn hub() -> DccHub {
    DccHub::new(&Config::default(), CancellationToken::new()).expect("stage hub")
}

async fn call(hub: &DccHub, method: &str, params: Value) -> Result<Value, DccFailure> {
    hub.call(None, method, params, &DccCall::new(Duration::from_secs(30)))
        .await
}

async fn ok(hub: &DccHub, method: &str, params: Value) -> Value {
    match call(hub, method, params.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {params} failed: {e:?}"),
    }
}

#[tokio::test]
async fn a_bvh_take_plays_on_the_imported_armature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let take = generate(&Plan::text("a person walks forward", 2.0, 11)).expect("take");
    let path = dir.path().join("walk.bvh");
    std::fs::write(&path, bvh::write(&take, 0).expect("bvh")).expect("write");

    let hub = hub();
    let imported = ok(&hub, "scene.import_file", json!({"file_path": path})).await;
    assert_eq!(imported["format"], "bvh");
    assert_eq!(imported["armatures"], json!(["walk"]));
    assert_eq!(
        imported["objects"],
        json!(["walk"]),
        "joints are not listed as objects"
    );
    let skeleton = ok(&hub, "animation.get_skeleton", json!({"armature": "walk"})).await;
    assert_eq!(
        skeleton["joints"].as_array().map(Vec::len),
        Some(take.skeleton.joints.len())
    );

    // Take frame t plays on timeline frame 1 + t; every joint where the take's FK puts it.
    let frames = [0, take.num_frames / 2, take.num_frames - 1];
    let timeline: Vec<usize> = frames.iter().map(|t| t + 1).collect();
    let pose = ok(
        &hub,
        "animation.sample_pose",
        json!({"armature": "walk", "frames": timeline}),
    )
    .await;
    for (k, t) in frames.iter().enumerate() {
        let want = take.world_positions(&take.samples[0], *t);
        for (j, joint) in take.skeleton.joints.iter().enumerate() {
            let got: Vec<f32> = pose[&joint.name][k]
                .as_array()
                .expect("position")
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN) as f32)
                .collect();
            let err = (glam::Vec3::from_slice(&got) - want[j]).length();
            assert!(
                err < 1e-3,
                "frame {t} {}: {got:?} vs {:?}",
                joint.name,
                want[j]
            );
        }
    }
}

/// A centimetre BVH written by hand (as mocap tools write them): 90 cm hips, a 30 cm spine.
const CM_BVH: &str = "HIERARCHY
ROOT Hips
{
  OFFSET 0.0 90.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0.0 30.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 20.0 0.0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0
50 90 0 0 90 0 0 0 0
";

#[tokio::test]
async fn a_centimetre_bvh_is_scaled_to_metres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mocap.BVH");
    std::fs::write(&path, CM_BVH).expect("write");
    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Hips"}),
    )
    .await;
    let imported = ok(&hub, "scene.import_file", json!({"file_path": path})).await;
    assert_eq!(imported["armatures"], json!(["mocap"]));
    // "Hips" was taken by the cube: the joint got another name and still moves.
    let pose = ok(
        &hub,
        "animation.sample_pose",
        json!({"armature": "mocap", "frames": [1, 2]}),
    )
    .await;
    let hips = pose["Hips.001"].as_array().expect("renamed hips");
    let spine = pose["Spine"].as_array().expect("spine");
    let at = |v: &Value, i: usize| v[i].as_f64().unwrap_or(f64::NAN);
    assert!((at(&hips[0], 1) - 0.9).abs() < 1e-4, "{hips:?}");
    assert!((at(&hips[1], 0) - 0.5).abs() < 1e-4, "{hips:?}");
    assert!((at(&spine[0], 1) - 1.2).abs() < 1e-4, "{spine:?}");
    // Frame 2: the hips turn 90° about X (Zrotation 0, Xrotation 90): the spine's +Y offset points +Z.
    assert!((at(&spine[1], 2) - 0.3).abs() < 1e-4, "{spine:?}");
    assert!((at(&spine[1], 1) - 0.9).abs() < 1e-4, "{spine:?}");
}

#[tokio::test]
async fn gltf_imports_into_an_empty_scene_and_bad_files_are_scene_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let take = generate(&Plan::text("a person waves", 1.0, 2)).expect("take");
    let glb = dir.path().join("wave.glb");
    save_take(&take, &glb).expect("save glb");

    let hub = hub();
    let imported = ok(&hub, "scene.import_file", json!({"file_path": glb})).await;
    assert_eq!(imported["format"], "glb");
    let armatures = imported["armatures"].as_array().expect("armatures");
    assert_eq!(armatures.len(), 1, "{imported}");
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    assert_eq!(
        info["file_path"],
        Value::Null,
        "an import does not adopt the file"
    );
    assert_eq!(info["modified"], true);

    let again = call(&hub, "scene.import_file", json!({"file_path": glb}))
        .await
        .expect_err("not into a scene with objects");
    assert_eq!(again.code, "SCENE_ERROR");

    let broken = dir.path().join("broken.bvh");
    std::fs::write(&broken, "HIERARCHY\nROOT A\n{\nOFFSET 1 2\n").expect("write");
    let err = call(&hub, "scene.import_file", json!({"file_path": broken}))
        .await
        .expect_err("broken bvh");
    assert_eq!(err.code, "SCENE_ERROR");
    assert!(err.message.contains("line 4"), "{}", err.message);

    let fbx = call(
        &hub,
        "scene.import_file",
        json!({"file_path": "/tmp/x.fbx"}),
    )
    .await
    .expect_err("fbx");
    assert_eq!(fbx.code, "UNSUPPORTED");
}
