//! `scene.import_file` on the stage DCC: BVH files (written by stagecraft and by hand, metres and
//! centimetres) become an armature playing their motion; glTF files load into an empty scene.

mod common;

use common::stage::{self, call, hub, ok};
use serde_json::{Value, json};
use stagecraft::dcc::DccHub;
use stagecraft::motion::procedural::{Plan, generate};
use stagecraft::motion::{bvh, save_take};

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
async fn gltf_imports_into_an_empty_scene_as_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let take = generate(&Plan::text("a person waves", 1.0, 2)).expect("take");
    let glb = dir.path().join("wave.glb");
    save_take(&take, &glb).expect("save glb");

    let hub = hub();
    let imported = ok(&hub, "scene.import_file", json!({"file_path": glb})).await;
    assert_eq!(imported["format"], "glb");
    assert_eq!(
        imported["armatures"].as_array().map(Vec::len),
        Some(1),
        "{imported}"
    );
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    assert_eq!(
        info["file_path"],
        Value::Null,
        "an import does not adopt the file"
    );
    assert_eq!(info["modified"], true);
}

/// Positions of every joint of `armature` on `frames`, keyed by joint name without the suffix a
/// second import adds (`Hips.001` → `Hips`).
async fn pose_by_bare_name(hub: &DccHub, armature: &str, frames: &[u32]) -> Value {
    let pose = ok(
        hub,
        "animation.sample_pose",
        json!({"armature": armature, "frames": frames}),
    )
    .await;
    let mut out = serde_json::Map::new();
    for (joint, positions) in pose.as_object().expect("pose") {
        let bare = joint.split('.').next().unwrap_or(joint);
        out.insert(bare.to_string(), positions.clone());
    }
    Value::Object(out)
}

#[tokio::test]
async fn gltf_merges_into_a_scene_with_objects_and_survives_save_and_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A file with a mesh and a material: a cube and a light exported from a stage scene.
    let source = hub();
    ok(
        &source,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Crate", "translate": [300, 100, 0]}),
    )
    .await;
    ok(
        &source,
        "scene.create_object",
        json!({"object_type": "light", "name": "Lamp"}),
    )
    .await;
    let props = dir.path().join("props.glb");
    ok(
        &source,
        "scene.export_file",
        json!({"file_path": props, "format": "glb"}),
    )
    .await;
    let take = generate(&Plan::text("a person walks", 1.0, 4)).expect("take");
    let walk = dir.path().join("walk.gltf");
    save_take(&take, &walk).expect("save gltf");

    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "sphere", "name": "Ball"}),
    )
    .await;
    let sphere = ok(&hub, "scene.get_scene_info", json!({})).await["statistics"].clone();
    let first = ok(&hub, "scene.import_file", json!({"file_path": walk})).await;
    let second = ok(&hub, "scene.import_file", json!({"file_path": walk})).await;
    let crate_ = ok(&hub, "scene.import_file", json!({"file_path": props})).await;
    assert_eq!(crate_["objects"], json!(["Crate", "Lamp"]), "{crate_}");
    let (a1, a2) = (
        first["armatures"][0].as_str().expect("first armature"),
        second["armatures"][0].as_str().expect("second armature"),
    );
    assert_ne!(a1, a2, "the second import gets its own names");
    let armatures = ok(&hub, "animation.list_armatures", json!({})).await;
    assert_eq!(armatures.as_array().map(Vec::len), Some(2), "{armatures}");

    // Both copies play the take; the crate kept its mesh, material and place.
    let frames = [1, 15, 30];
    let p1 = pose_by_bare_name(&hub, a1, &frames).await;
    assert_eq!(p1, pose_by_bare_name(&hub, a2, &frames).await);
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    let stats = &info["statistics"];
    assert_eq!(
        stats["vertex_count"].as_u64(),
        sphere["vertex_count"].as_u64().map(|v| v + 24)
    );
    assert_eq!(stats["light_count"], 1);
    let crate_box = ok(
        &hub,
        "transform.get_bounding_box",
        json!({"object_name": "Crate"}),
    )
    .await;
    assert_eq!(
        crate_box,
        json!({"min": [200.0, 0.0, -100.0], "max": [400.0, 200.0, 100.0]})
    );

    // Saved and opened again, everything is still there.
    let saved = dir.path().join("merged.glb");
    ok(&hub, "scene.save_file", json!({"file_path": saved})).await;
    let reopened = stage::hub();
    ok(&reopened, "scene.open_file", json!({"file_path": saved})).await;
    let again = ok(&reopened, "scene.get_scene_info", json!({})).await;
    assert_eq!(again["statistics"], info["statistics"]);
    assert_eq!(pose_by_bare_name(&reopened, a1, &frames).await, p1);
    let crate_again = ok(
        &reopened,
        "transform.get_bounding_box",
        json!({"object_name": "Crate"}),
    )
    .await;
    assert_eq!(crate_again, crate_box);
}

#[tokio::test]
async fn bad_files_are_scene_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub();
    let broken = dir.path().join("broken.bvh");
    std::fs::write(&broken, "HIERARCHY\nROOT A\n{\nOFFSET 1 2\n").expect("write");
    let err = call(&hub, "scene.import_file", json!({"file_path": broken}))
        .await
        .expect_err("broken bvh");
    assert_eq!(err.code, "scene_error");
    assert!(err.message.contains("line 4"), "{}", err.message);

    let not_gltf = dir.path().join("text.glb");
    std::fs::write(&not_gltf, "not glTF").expect("write");
    let err = call(&hub, "scene.import_file", json!({"file_path": not_gltf}))
        .await
        .expect_err("not gltf");
    assert_eq!(err.code, "scene_error");

    let missing = call(
        &hub,
        "scene.import_file",
        json!({"file_path": dir.path().join("gone.bvh")}),
    )
    .await
    .expect_err("missing");
    assert_eq!(missing.code, "scene_error");

    let fbx = call(
        &hub,
        "scene.import_file",
        json!({"file_path": "/tmp/x.fbx"}),
    )
    .await
    .expect_err("fbx");
    assert_eq!(fbx.code, "unsupported");
    assert!(
        fbx.message.contains(".glb, .gltf, .bvh") && fbx.message.contains("\"fbx\""),
        "the refusal lists what the stage imports: {}",
        fbx.message
    );
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    assert_eq!(
        info["statistics"]["object_count"], 0,
        "failed imports add nothing"
    );
}
