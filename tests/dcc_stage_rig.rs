//! A Mixamo-shaped rig in the stage DCC: an `Armature` node rotated -90° about X and scaled 0.01,
//! `mixamorig:`-prefixed joints with non-identity rest rotations, and a skinned mesh. Loading it,
//! applying motion by bare joint names, sampling, rendering and saving must all hold up.

use std::time::Duration;

use base64::Engine as _;
use glam::{Mat4, Quat, Vec3};
use serde_json::{Value, json};
use stagecraft::call::CallContext;
use stagecraft::config::Config;
use stagecraft::dcc::DccHub;
use stagecraft::dcc::check::forward_kinematics;
use stagecraft::dcc::types::{F32Array, Skeleton};
use tokio_util::sync::CancellationToken;

async fn ok(hub: &DccHub, method: &str, params: Value) -> Value {
    let call = CallContext::new(Duration::from_secs(30));
    match hub.call(None, method, params.clone(), &call).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {params} failed: {e:?}"),
    }
}

/// Writes the rig as a .gltf with an embedded buffer.
fn write_rig(path: &std::path::Path) {
    let arm = Mat4::from_scale_rotation_translation(
        Vec3::splat(0.01),
        Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
        Vec3::ZERO,
    );
    let locals = [
        Mat4::from_rotation_translation(Quat::from_rotation_y(0.35), Vec3::new(0.0, 0.0, 100.0)),
        Mat4::from_rotation_translation(Quat::from_rotation_x(0.2), Vec3::new(0.0, 30.0, 0.0)),
        Mat4::from_rotation_translation(Quat::from_rotation_z(-0.4), Vec3::new(0.0, 40.0, 5.0)),
    ];
    let hips = arm * locals[0];
    let spine = hips * locals[1];
    let head = spine * locals[2];
    let worlds = [hips, spine, head];
    // A triangle around each joint, in armature space (the mesh node sits under the armature).
    let mut pos: Vec<f32> = Vec::new();
    let mut joints: Vec<u8> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    for (j, w) in worlds.iter().enumerate() {
        let p = arm.inverse().transform_point3(w.w_axis.truncate());
        for d in [
            Vec3::new(-10.0, 0.0, 0.0),
            Vec3::new(10.0, 0.0, 0.0),
            Vec3::new(0.0, 0.0, 15.0),
        ] {
            pos.extend_from_slice(&(p + d).to_array());
            joints.extend_from_slice(&[j as u8, 0, 0, 0]);
            weights.extend_from_slice(&[1.0, 0.0, 0.0, 0.0]);
        }
    }
    let ibm: Vec<f32> = worlds
        .iter()
        .flat_map(|w| w.inverse().to_cols_array())
        .collect();
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    for chunk in [
        pos.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
        joints.clone(),
        weights.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ibm.iter().flat_map(|v| v.to_le_bytes()).collect(),
    ] {
        views.push(json!({"buffer": 0, "byteOffset": bin.len(), "byteLength": chunk.len()}));
        bin.extend_from_slice(&chunk);
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
    }
    let (mut min, mut max) = ([f32::MAX; 3], [f32::MIN; 3]);
    for v in pos.chunks(3) {
        for i in 0..3 {
            min[i] = min[i].min(v[i]);
            max[i] = max[i].max(v[i]);
        }
    }
    let q = |m: &Mat4| m.to_scale_rotation_translation().1.to_array();
    let t = |m: &Mat4| m.to_scale_rotation_translation().2.to_array();
    let doc = json!({
        "asset": {"version": "2.0", "generator": "test"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [
            {"name": "Armature", "rotation": q(&arm), "scale": [0.01, 0.01, 0.01], "children": [1, 4]},
            {"name": "mixamorig:Hips", "rotation": q(&locals[0]), "translation": t(&locals[0]), "children": [2]},
            {"name": "mixamorig:Spine", "rotation": q(&locals[1]), "translation": t(&locals[1]), "children": [3]},
            {"name": "mixamorig:Head", "rotation": q(&locals[2]), "translation": t(&locals[2])},
            {"name": "Body", "mesh": 0, "skin": 0}
        ],
        "skins": [{"name": "Armature", "joints": [1, 2, 3], "skeleton": 1, "inverseBindMatrices": 3}],
        "meshes": [{"name": "Body", "primitives": [{"attributes": {"POSITION": 0, "JOINTS_0": 1, "WEIGHTS_0": 2}}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 9, "type": "VEC3", "min": min, "max": max},
            {"bufferView": 1, "componentType": 5121, "count": 9, "type": "VEC4"},
            {"bufferView": 2, "componentType": 5126, "count": 9, "type": "VEC4"},
            {"bufferView": 3, "componentType": 5126, "count": 3, "type": "MAT4"}
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": bin.len(), "uri": format!("data:application/octet-stream;base64,{}", base64::engine::general_purpose::STANDARD.encode(&bin))}]
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

#[tokio::test]
async fn mixamo_shaped_rig_takes_motion_by_bare_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rig.gltf");
    write_rig(&path);
    let hub = DccHub::new(&Config::default(), CancellationToken::new()).unwrap();
    let info = ok(
        &hub,
        "scene.open_file",
        json!({"file_path": path.to_str().unwrap()}),
    )
    .await;
    assert_eq!(info["statistics"]["vertex_count"], 9);
    let arms = ok(&hub, "animation.list_armatures", json!({})).await;
    assert_eq!(arms, json!([{"name": "Armature", "joints": 3}]));
    let mesh = ok(&hub, "scene.list_objects", json!({"object_type": "mesh"})).await;
    assert_eq!(mesh[0]["name"], "Body");

    let skel: Skeleton = serde_json::from_value(
        ok(
            &hub,
            "animation.get_skeleton",
            json!({"armature": "Armature"}),
        )
        .await,
    )
    .unwrap();
    // The skinned mesh names the same armature.
    let via_mesh = ok(&hub, "animation.get_skeleton", json!({"armature": "Body"})).await;
    assert_eq!(via_mesh["joints"].as_array().unwrap().len(), 3);
    let names: Vec<&str> = skel.joints.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Head"]
    );
    // 100 units up in a -90° X, 0.01-scaled armature: the hips are 1 m above the ground, in metres.
    let hips = skel.joints[0].rest_translation;
    assert!(
        (hips[1] - 1.0).abs() < 1e-4 && hips[0].abs() < 1e-4 && hips[2].abs() < 1e-4,
        "{hips:?}"
    );
    let spine = skel.joints[1].rest_translation;
    assert!(
        ((spine[0].powi(2) + spine[1].powi(2) + spine[2].powi(2)).sqrt() - 0.30).abs() < 1e-4,
        "{spine:?}"
    );

    // A take on the canonical (bare) names, with a joint the rig does not have.
    let take_names = ["Hips", "Spine", "Head", "LeftFoot"];
    let frames = 10;
    let mut rots = Vec::new();
    let mut roots = Vec::new();
    for f in 0..frames {
        for j in 0..take_names.len() {
            let q = Quat::from_euler(
                glam::EulerRot::YXZ,
                0.1 * f as f32 + 0.2 * j as f32,
                0.05 * f as f32,
                -0.07 * (j * f) as f32,
            );
            rots.extend_from_slice(&q.to_array());
        }
        roots.extend_from_slice(&[0.0, 1.0 + 0.01 * f as f32, 0.12 * f as f32]);
    }
    let applied = ok(
        &hub,
        "animation.apply_motion",
        json!({
            "armature": "Armature", "fps": 30, "joint_names": take_names,
            "rotations": F32Array::encode(vec![frames, take_names.len(), 4], &rots),
            "root_positions": F32Array::encode(vec![frames, 3], &roots),
        }),
    )
    .await;
    assert_eq!(
        applied["joints_applied"],
        json!(["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Head"])
    );
    assert_eq!(applied["joints_skipped"], json!(["LeftFoot"]));
    assert_eq!(applied["frame_start"], 1);
    assert_eq!(applied["frame_end"], 10);

    let frame_list: Vec<i64> = (1..=frames as i64).collect();
    let pose = ok(&hub, "animation.sample_pose", json!({"armature": "Armature", "frames": frame_list, "joint_names": ["Hips", "Spine", "Head"]})).await;
    for f in 0..frames {
        let r: Vec<[f32; 4]> = (0..3)
            .map(|j| {
                let b = (f * take_names.len() + j) * 4;
                [rots[b], rots[b + 1], rots[b + 2], rots[b + 3]]
            })
            .collect();
        let expect = forward_kinematics(
            &skel,
            &r,
            [roots[f * 3], roots[f * 3 + 1], roots[f * 3 + 2]],
        );
        for (j, name) in ["Hips", "Spine", "Head"].iter().enumerate() {
            let got = &pose[name][f];
            let d = (0..3)
                .map(|i| (got[i].as_f64().unwrap() - expect[j][i] as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(d < 1e-3, "frame {f} {name}: {got} vs {:?}", expect[j]);
        }
    }

    // The skinned mesh follows the bones when rendered, and the rig survives a save as .glb.
    ok(&hub, "animation.set_frame_range", json!({"current": 10})).await;
    let cap = ok(
        &hub,
        "render.capture_viewport",
        json!({"width": 96, "height": 96}),
    )
    .await;
    assert_eq!(cap["format"], "png");
    let glb = dir.path().join("rig_animated.glb");
    ok(
        &hub,
        "scene.save_file",
        json!({"file_path": glb.to_str().unwrap()}),
    )
    .await;
    ok(
        &hub,
        "scene.open_file",
        json!({"file_path": glb.to_str().unwrap()}),
    )
    .await;
    let again = ok(&hub, "animation.sample_pose", json!({"armature": "Armature", "frames": frame_list, "joint_names": ["Hips", "Spine", "Head"]})).await;
    assert_eq!(again.as_object().unwrap().len(), 3);
    for name in ["Hips", "Spine", "Head"] {
        for f in 0..frames {
            for i in 0..3 {
                let (a, b) = (
                    pose[name][f][i].as_f64().unwrap(),
                    again[name][f][i].as_f64().unwrap(),
                );
                assert!((a - b).abs() < 1e-4, "{name} {f}: {a} vs {b}");
            }
        }
    }
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    assert_eq!(
        info["statistics"]["vertex_count"], 9,
        "the skinned mesh is kept"
    );
    let arms = ok(&hub, "animation.list_armatures", json!({})).await;
    assert_eq!(arms[0]["action"], "Armature_motion");
}
