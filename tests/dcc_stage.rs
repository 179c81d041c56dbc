//! The built-in `stage` DCC through `DccHub::call`: every bridge method it implements.

mod common;

use std::time::Duration;

use common::stage::{context, err, hub, ok};
use serde_json::{Value, json};
use stagecraft::dcc::types::{F32Array, Skeleton};

fn close3(a: &Value, b: [f64; 3], tol: f64) -> bool {
    (0..3).all(|i| (a[i].as_f64().unwrap() - b[i]).abs() <= tol)
}

#[tokio::test]
async fn stage_is_the_default_dcc_and_says_hello() {
    let hub = hub();
    assert_eq!(hub.names(), vec!["stage"]);
    let hello = ok(&hub, "dcc.hello", json!({})).await;
    assert_eq!(hello["protocol"], "stagecraft-bridge/1");
    assert_eq!(hello["info"]["dcc_type"], "stage");
    assert_eq!(hello["capabilities"]["animation"], true);
    let methods: Vec<&str> = hello["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(methods.contains(&"animation.apply_motion"));
    assert!(!methods.contains(&"script.execute"));
    assert_eq!(
        ok(&hub, "dcc.ping", json!({})).await,
        json!({"busy": false})
    );
    assert_eq!(
        err(
            &hub,
            "script.execute",
            json!({"language": "python", "code": "x"})
        )
        .await,
        "unsupported"
    );
    assert_eq!(err(&hub, "scene.nope", json!({})).await, "unsupported");
    let no = hub
        .call(Some("blender"), "dcc.ping", json!({}), &context())
        .await
        .unwrap_err();
    assert_eq!(no.code, "no_dcc");
    assert_eq!(hub.supports(None, "animation.apply_motion"), Some(true));
    assert_eq!(hub.supports(None, "script.execute"), Some(false));
    assert_eq!(hub.supports(Some("nope"), "dcc.ping"), None);
    let list = hub.list_connections(Duration::from_secs(1)).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, "connected");
    assert!(list[0].default);
}

#[tokio::test]
async fn objects_selection_visibility_and_scene_info() {
    let hub = hub();
    ok(&hub, "scene.new_scene", json!({})).await;
    let cube = ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Box", "translate": [100, 0, 0]}),
    )
    .await;
    assert_eq!(cube["name"], "Box");
    assert_eq!(cube["object_type"], "mesh");
    let again = ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Box"}),
    )
    .await;
    assert_eq!(again["name"], "Box.001", "names stay unique");
    for (t, n) in [
        ("sphere", "Ball"),
        ("camera", "Cam"),
        ("light", "Lamp"),
        ("empty", "Null"),
        ("armature", "Rig"),
    ] {
        let o = ok(
            &hub,
            "scene.create_object",
            json!({"object_type": t, "name": n}),
        )
        .await;
        assert_eq!(o["name"], n);
    }
    assert_eq!(
        err(
            &hub,
            "scene.create_object",
            json!({"object_type": "teapot", "name": "T"})
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(
            &hub,
            "scene.create_object",
            json!({"object_type": "cube", "name": "T", "parent": "Ghost"})
        )
        .await,
        "scene_error"
    );
    assert_eq!(
        err(&hub, "scene.create_object", json!({"object_type": "cube"})).await,
        "invalid_input"
    );

    let meshes = ok(&hub, "scene.list_objects", json!({"object_type": "mesh"})).await;
    assert_eq!(meshes.as_array().unwrap().len(), 3);
    let info = ok(&hub, "scene.get_scene_info", json!({})).await;
    assert_eq!(info["statistics"]["camera_count"], 1);
    assert_eq!(info["statistics"]["light_count"], 1);
    assert!(info["statistics"]["polygon_count"].as_u64().unwrap() >= 24);
    assert_eq!(info["modified"], true);
    assert_eq!(info["up_axis"], "Y");

    let sel = ok(
        &hub,
        "scene.set_selection",
        json!({"object_names": ["Box", "Ball"]}),
    )
    .await;
    assert_eq!(sel, json!(["Box", "Ball"]));
    assert_eq!(
        ok(&hub, "scene.get_selection", json!({})).await,
        json!(["Box", "Ball"])
    );
    assert_eq!(
        err(
            &hub,
            "scene.set_selection",
            json!({"object_names": ["Nope"]})
        )
        .await,
        "scene_error"
    );
    let cams = ok(
        &hub,
        "scene.select_by_type",
        json!({"object_type": "camera"}),
    )
    .await;
    assert_eq!(cams, json!(["Cam"]));
    assert_eq!(
        ok(
            &hub,
            "scene.set_visibility",
            json!({"object_name": "Box", "visible": false})
        )
        .await,
        json!(false)
    );
    let objs = ok(&hub, "scene.list_objects", json!({})).await;
    let boxed = objs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Box")
        .unwrap()
        .clone();
    assert_eq!(boxed["visible"], false);

    let deleted = ok(
        &hub,
        "scene.delete_objects",
        json!({"object_names": ["Box.001", "Rig"]}),
    )
    .await;
    assert_eq!(deleted, json!(["Box.001", "Rig"]));
    assert_eq!(
        ok(&hub, "animation.list_armatures", json!({})).await,
        json!([])
    );
    assert_eq!(
        err(
            &hub,
            "scene.delete_objects",
            json!({"object_names": ["Box.001"]})
        )
        .await,
        "scene_error"
    );
    let fresh = ok(&hub, "scene.new_scene", json!({})).await;
    assert_eq!(fresh["statistics"]["object_count"], 0);
}

#[tokio::test]
async fn transforms_round_trip_in_bridge_units() {
    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "C", "translate": [10, 20, 30]}),
    )
    .await;
    let t = ok(&hub, "transform.get_transform", json!({"object_name": "C"})).await;
    assert!(close3(&t["translate"], [10.0, 20.0, 30.0], 1e-3), "{t}");
    let set = ok(
        &hub,
        "transform.set_transform",
        json!({"object_name": "C", "rotate": [30, 45, 60], "scale": [2, 2, 2]}),
    )
    .await;
    assert!(close3(&set["rotate"], [30.0, 45.0, 60.0], 1e-3), "{set}");
    assert!(
        close3(&set["translate"], [10.0, 20.0, 30.0], 1e-3),
        "translate unchanged: {set}"
    );
    let bb = ok(
        &hub,
        "transform.get_bounding_box",
        json!({"object_name": "C"}),
    )
    .await;
    // A 2 m cube scaled by 2, rotated: its box spans more than 400 cm on some axis, centred on the object.
    for i in 0..3 {
        let (min, max) = (
            bb["min"][i].as_f64().unwrap(),
            bb["max"][i].as_f64().unwrap(),
        );
        let centre = [10.0, 20.0, 30.0][i];
        assert!(
            min < centre && max > centre && ((min + max) / 2.0 - centre).abs() < 1e-2,
            "{bb}"
        );
    }
    // Euler order: X first, then Y, then Z (R = Rz Ry Rx): rotating 90 about X then Z keeps both.
    let r = ok(
        &hub,
        "transform.set_transform",
        json!({"object_name": "C", "rotate": [90, 0, 90], "scale": [1, 1, 1]}),
    )
    .await;
    assert!(close3(&r["rotate"], [90.0, 0.0, 90.0], 1e-3), "{r}");
    assert_eq!(
        err(
            &hub,
            "transform.get_transform",
            json!({"object_name": "Nope"})
        )
        .await,
        "scene_error"
    );
    assert_eq!(
        err(
            &hub,
            "transform.set_transform",
            json!({"object_name": "C", "scale": [0, 1, 1]})
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(
            &hub,
            "transform.set_transform",
            json!({"object_name": "C", "translate": [1e300, 0, 0]})
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(
            &hub,
            "transform.set_transform",
            json!({"object_name": "C", "translate": "up"})
        )
        .await,
        "invalid_input"
    );
    let name = ok(
        &hub,
        "transform.rename_object",
        json!({"old_name": "C", "new_name": "Crate"}),
    )
    .await;
    assert_eq!(name, "Crate");
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "empty", "name": "C"}),
    )
    .await;
    let taken = ok(
        &hub,
        "transform.rename_object",
        json!({"old_name": "C", "new_name": "Crate"}),
    )
    .await;
    assert_eq!(taken, "Crate.001");
}

#[tokio::test]
async fn hierarchy_keeps_world_transforms() {
    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "empty", "name": "P", "translate": [100, 0, 0]}),
    )
    .await;
    ok(
        &hub,
        "transform.set_transform",
        json!({"object_name": "P", "rotate": [0, 90, 0], "scale": [2, 2, 2]}),
    )
    .await;
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "K", "translate": [0, 50, 0]}),
    )
    .await;
    let before = ok(&hub, "transform.get_transform", json!({"object_name": "K"})).await;
    let o = ok(
        &hub,
        "hierarchy.reparent",
        json!({"object_name": "K", "new_parent": "P"}),
    )
    .await;
    assert_eq!(o["parent"], "P");
    let after = ok(&hub, "transform.get_transform", json!({"object_name": "K"})).await;
    for key in ["translate", "rotate", "scale"] {
        assert!(
            close3(
                &after[key],
                [
                    before[key][0].as_f64().unwrap(),
                    before[key][1].as_f64().unwrap(),
                    before[key][2].as_f64().unwrap()
                ],
                1e-3
            ),
            "{key}: {before} vs {after}"
        );
    }
    assert_eq!(
        ok(&hub, "hierarchy.get_parent", json!({"object_name": "K"})).await,
        json!("P")
    );
    assert_eq!(
        err(
            &hub,
            "hierarchy.reparent",
            json!({"object_name": "P", "new_parent": "K"})
        )
        .await,
        "scene_error"
    );
    let kids = ok(&hub, "hierarchy.get_children", json!({"object_name": "P"})).await;
    assert_eq!(kids[0]["name"], "K");
    assert_eq!(kids[0]["long_name"], "|P|K");
    let roots = ok(&hub, "hierarchy.get_children", json!({})).await;
    assert_eq!(roots.as_array().unwrap().len(), 1);
    let tree = ok(&hub, "hierarchy.get_hierarchy", json!({})).await;
    assert_eq!(tree[0]["object"]["name"], "P");
    assert_eq!(tree[0]["children"][0]["object"]["name"], "K");

    // Reparent without keeping the world transform: the local values stay, so it moves.
    ok(
        &hub,
        "hierarchy.reparent",
        json!({"object_name": "K", "new_parent": null, "preserve_world_transform": false}),
    )
    .await;
    let moved = ok(&hub, "transform.get_transform", json!({"object_name": "K"})).await;
    assert!(
        !close3(&moved["translate"], [0.0, 50.0, 0.0], 1e-3),
        "{moved}"
    );
    assert_eq!(
        ok(&hub, "hierarchy.get_parent", json!({"object_name": "K"})).await,
        Value::Null
    );

    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "sphere", "name": "S", "translate": [0, 0, 70]}),
    )
    .await;
    let g = ok(
        &hub,
        "hierarchy.group_objects",
        json!({"object_names": ["K", "S"], "group_name": "G", "parent": "P"}),
    )
    .await;
    assert_eq!(g["name"], "G");
    assert_eq!(g["parent"], "P");
    let s = ok(&hub, "transform.get_transform", json!({"object_name": "S"})).await;
    assert!(close3(&s["translate"], [0.0, 0.0, 70.0], 1e-3), "{s}");
    let former = ok(&hub, "hierarchy.ungroup", json!({"group_name": "G"})).await;
    assert_eq!(former, json!(["K", "S"]));
    assert_eq!(
        ok(&hub, "hierarchy.get_parent", json!({"object_name": "S"})).await,
        json!("P")
    );
    let s = ok(&hub, "transform.get_transform", json!({"object_name": "S"})).await;
    assert!(close3(&s["translate"], [0.0, 0.0, 70.0], 1e-3), "{s}");
    assert_eq!(
        err(&hub, "hierarchy.ungroup", json!({"group_name": "S"})).await,
        "scene_error"
    );
}

/// MMCP forward kinematics: world positions per joint.
fn fk(skel: &Skeleton, rots: &[[f32; 4]], root: [f32; 3]) -> Vec<glam::Vec3> {
    let mut world_rot: Vec<glam::Quat> = Vec::new();
    let mut pos: Vec<glam::Vec3> = Vec::new();
    for (j, joint) in skel.joints.iter().enumerate() {
        let q = glam::Quat::from_array(rots[j]).normalize();
        let parent = joint
            .parent
            .as_ref()
            .map(|p| skel.joints.iter().position(|x| &x.name == p).unwrap());
        match parent {
            None => {
                world_rot.push(q);
                pos.push(glam::Vec3::from_array(root));
            }
            Some(p) => {
                let off = glam::Vec3::new(
                    joint.rest_translation[0] as f32,
                    joint.rest_translation[1] as f32,
                    joint.rest_translation[2] as f32,
                );
                pos.push(pos[p] + world_rot[p] * off);
                world_rot.push(world_rot[p] * q);
            }
        }
    }
    pos
}

#[tokio::test]
async fn apply_motion_then_sample_pose_matches_forward_kinematics() {
    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "armature", "name": "Rig", "translate": [50, 0, -20]}),
    )
    .await;
    // Rotate and scale the armature object: the conversion must undo both.
    ok(
        &hub,
        "transform.set_transform",
        json!({"object_name": "Rig", "rotate": [0, 35, 10], "scale": [1.5, 1.5, 1.5]}),
    )
    .await;
    let arms = ok(&hub, "animation.list_armatures", json!({})).await;
    assert_eq!(arms[0]["name"], "Rig");
    assert_eq!(arms[0]["joints"], 3);
    let skel: Skeleton = serde_json::from_value(
        ok(&hub, "animation.get_skeleton", json!({"armature": "Rig"})).await,
    )
    .unwrap();
    assert_eq!(skel.joints[0].parent, None);
    assert!(
        skel.joints
            .iter()
            .all(|j| j.rest_rotation == [0.0, 0.0, 0.0, 1.0])
    );
    // Rest: sample_pose without an action equals FK of identity rotations.
    let names: Vec<String> = skel.joints.iter().map(|j| j.name.clone()).collect();
    let frames = 5;
    let mut rots = Vec::new();
    let mut roots = Vec::new();
    for f in 0..frames {
        for j in 0..names.len() {
            let q = glam::Quat::from_euler(
                glam::EulerRot::XYZ,
                0.2 * f as f32 + j as f32 * 0.1,
                0.3 * j as f32,
                -0.15 * f as f32,
            );
            rots.extend_from_slice(&q.to_array());
        }
        roots.extend_from_slice(&[0.1 * f as f32, 0.9, 0.05 * f as f32]);
    }
    // The motion uses bare names (no `Rig:` prefix) plus one joint the rig does not have.
    let mut motion_names: Vec<String> = names
        .iter()
        .map(|n| n.rsplit(':').next().unwrap().to_string())
        .collect();
    motion_names.push("Tail".into());
    let mut rots_plus = Vec::new();
    for f in 0..frames {
        rots_plus.extend_from_slice(&rots[f * names.len() * 4..(f + 1) * names.len() * 4]);
        rots_plus.extend_from_slice(&[0.0, 0.0, 0.0, 1.0]);
    }
    let applied = ok(
        &hub,
        "animation.apply_motion",
        json!({
            "armature": "Rig", "fps": 30.0, "joint_names": motion_names,
            "rotations": F32Array::encode(vec![frames, names.len() + 1, 4], &rots_plus),
            "root_positions": F32Array::encode(vec![frames, 3], &roots),
            "start_frame": 10, "action_name": "test_take",
        }),
    )
    .await;
    assert_eq!(applied["action"], "test_take");
    assert_eq!(applied["frame_start"], 10);
    assert_eq!(applied["frame_end"], 14);
    assert_eq!(applied["joints_applied"].as_array().unwrap().len(), 3);
    assert_eq!(applied["joints_skipped"], json!(["Tail"]));
    let frames_list: Vec<f64> = (10..15).map(f64::from).collect();
    let pose = ok(
        &hub,
        "animation.sample_pose",
        json!({"armature": "Rig", "frames": frames_list}),
    )
    .await;
    for f in 0..frames {
        let r: Vec<[f32; 4]> = (0..names.len())
            .map(|j| {
                let b = (f * names.len() + j) * 4;
                [rots[b], rots[b + 1], rots[b + 2], rots[b + 3]]
            })
            .collect();
        let expect = fk(
            &skel,
            &r,
            [roots[f * 3], roots[f * 3 + 1], roots[f * 3 + 2]],
        );
        for (j, name) in names.iter().enumerate() {
            let got = &pose[name][f];
            assert!(
                close3(
                    got,
                    [expect[j].x as f64, expect[j].y as f64, expect[j].z as f64],
                    1e-3
                ),
                "frame {f} joint {name}: {got} vs {:?}",
                expect[j]
            );
        }
    }
    let listed = ok(&hub, "animation.list_armatures", json!({})).await;
    assert_eq!(listed[0]["action"], "test_take");
    let range = ok(&hub, "animation.get_frame_range", json!({})).await;
    assert_eq!(range["fps"], 30.0);
    assert!(range["end"].as_f64().unwrap() >= 14.0);

    // in_place keeps the first frame's x/z.
    ok(
        &hub,
        "animation.apply_motion",
        json!({
            "armature": "Rig", "fps": 30.0, "joint_names": names,
            "rotations": F32Array::encode(vec![frames, names.len(), 4], &rots),
            "root_positions": F32Array::encode(vec![frames, 3], &roots), "in_place": true,
        }),
    )
    .await;
    let pose = ok(
        &hub,
        "animation.sample_pose",
        json!({"armature": "Rig", "frames": [1, 5], "joint_names": [names[0].clone()]}),
    )
    .await;
    let p = &pose[&names[0]];
    assert!(
        (p[0][0].as_f64().unwrap() - p[1][0].as_f64().unwrap()).abs() < 1e-4,
        "{p}"
    );

    // Bad input never panics.
    assert_eq!(
        err(
            &hub,
            "animation.apply_motion",
            json!({
                "armature": "Rig", "fps": 30.0, "joint_names": names,
                "rotations": F32Array::encode(vec![frames, 2, 4], &rots[..frames * 8]),
                "root_positions": F32Array::encode(vec![frames, 3], &roots),
            })
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(
            &hub,
            "animation.apply_motion",
            json!({
                "armature": "Rig", "fps": 30.0, "joint_names": ["Root"],
                "rotations": F32Array::encode(vec![1, 1, 4], &[f32::NAN, 0.0, 0.0, 1.0]),
                "root_positions": F32Array::encode(vec![1, 3], &[0.0, 0.0, 0.0]),
            })
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(&hub, "animation.get_skeleton", json!({"armature": "Nope"})).await,
        "scene_error"
    );
    assert_eq!(
        err(
            &hub,
            "animation.sample_pose",
            json!({"armature": "Rig", "frames": [1], "joint_names": ["Nope"]})
        )
        .await,
        "scene_error"
    );
    let set = ok(
        &hub,
        "animation.set_frame_range",
        json!({"start": 1, "end": 48, "fps": 24, "current": 12}),
    )
    .await;
    assert_eq!(
        set,
        json!({"start": 1.0, "end": 48.0, "fps": 24.0, "current": 12.0})
    );
    assert_eq!(
        err(&hub, "animation.set_frame_range", json!({"start": 50})).await,
        "invalid_input"
    );
    assert_eq!(
        err(&hub, "animation.set_frame_range", json!({"fps": 0})).await,
        "invalid_input"
    );
}

#[tokio::test]
async fn files_round_trip_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "armature", "name": "Rig"}),
    )
    .await;
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Box", "translate": [0, 100, 0]}),
    )
    .await;
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "camera", "name": "Cam", "translate": [0, 100, 600]}),
    )
    .await;
    let skel: Skeleton = serde_json::from_value(
        ok(&hub, "animation.get_skeleton", json!({"armature": "Rig"})).await,
    )
    .unwrap();
    let n = skel.joints.len();
    let mut rots = Vec::new();
    for f in 0..3 {
        for _ in 0..n {
            rots.extend_from_slice(&glam::Quat::from_rotation_y(0.3 * f as f32).to_array());
        }
    }
    let names: Vec<String> = skel.joints.iter().map(|j| j.name.clone()).collect();
    ok(&hub, "animation.apply_motion", json!({
        "armature": "Rig", "fps": 30.0, "joint_names": names,
        "rotations": F32Array::encode(vec![3, n, 4], &rots),
        "root_positions": F32Array::encode(vec![3, 3], &[0.0, 0.5, 0.0, 0.0, 0.5, 0.1, 0.0, 0.5, 0.2]),
    })).await;
    let before = ok(
        &hub,
        "animation.sample_pose",
        json!({"armature": "Rig", "frames": [1, 2, 3]}),
    )
    .await;

    let glb = dir.path().join("scene.glb");
    let saved = ok(
        &hub,
        "scene.save_file",
        json!({"file_path": glb.to_str().unwrap()}),
    )
    .await;
    assert_eq!(saved, json!(glb.to_str().unwrap()));
    assert_eq!(
        ok(&hub, "scene.get_scene_info", json!({})).await["modified"],
        false
    );
    let gltf = dir.path().join("copy.gltf");
    ok(
        &hub,
        "scene.export_file",
        json!({"file_path": gltf.to_str().unwrap(), "format": "gltf"}),
    )
    .await;
    let text = std::fs::read_to_string(&gltf).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["asset"]["version"], "2.0");
    assert_eq!(doc["animations"].as_array().unwrap().len(), 1);
    assert_eq!(
        err(
            &hub,
            "scene.export_file",
            json!({"file_path": dir.path().join("x.fbx").to_str().unwrap(), "format": "fbx"})
        )
        .await,
        "unsupported"
    );

    // Dirty the scene: opening needs force.
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "empty", "name": "Junk"}),
    )
    .await;
    assert_eq!(
        err(
            &hub,
            "scene.open_file",
            json!({"file_path": glb.to_str().unwrap()})
        )
        .await,
        "scene_error"
    );
    for path in [&glb, &gltf] {
        let info = ok(
            &hub,
            "scene.open_file",
            json!({"file_path": path.to_str().unwrap(), "force": true}),
        )
        .await;
        assert_eq!(info["modified"], false);
        assert_eq!(info["statistics"]["camera_count"], 1);
        let after = ok(
            &hub,
            "animation.sample_pose",
            json!({"armature": "Rig", "frames": [1, 2, 3]}),
        )
        .await;
        for (joint, frames) in before.as_object().unwrap() {
            for (f, p) in frames.as_array().unwrap().iter().enumerate() {
                let q = &after[joint][f];
                assert!(
                    close3(
                        q,
                        [
                            p[0].as_f64().unwrap(),
                            p[1].as_f64().unwrap(),
                            p[2].as_f64().unwrap()
                        ],
                        1e-4
                    ),
                    "{joint} {f}: {p} vs {q}"
                );
            }
        }
        let arms = ok(&hub, "animation.list_armatures", json!({})).await;
        assert_eq!(arms[0]["name"], "Rig");
    }
    assert_eq!(
        err(
            &hub,
            "scene.open_file",
            json!({"file_path": dir.path().join("missing.glb").to_str().unwrap(), "force": true})
        )
        .await,
        "scene_error"
    );
    std::fs::write(dir.path().join("bad.glb"), b"glTF\x02\0\0\0garbage").unwrap();
    assert_eq!(
        err(
            &hub,
            "scene.open_file",
            json!({"file_path": dir.path().join("bad.glb").to_str().unwrap(), "force": true})
        )
        .await,
        "scene_error"
    );
    ok(&hub, "scene.save_file", json!({})).await;

    let cap = ok(
        &hub,
        "render.capture_viewport",
        json!({"width": 160, "height": 120}),
    )
    .await;
    assert_eq!(cap["width"], 160);
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(cap["data_b64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let cam = ok(
        &hub,
        "render.capture_viewport",
        json!({"viewport": "Cam", "width": 64, "height": 64}),
    )
    .await;
    assert_eq!(cam["viewport"], "Cam");
    assert_eq!(
        err(&hub, "render.capture_viewport", json!({"viewport": "Box"})).await,
        "scene_error"
    );
    assert_eq!(
        err(&hub, "render.capture_viewport", json!({"width": 0})).await,
        "invalid_input"
    );
    let out = dir.path().join("frame.png");
    let r = ok(
        &hub,
        "render.render_scene",
        json!({"output_path": out.to_str().unwrap(), "width": 100, "height": 80}),
    )
    .await;
    assert_eq!(r["width"], 100);
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"));
    let settings = ok(
        &hub,
        "render.set_render_settings",
        json!({"settings": {"resolution_x": 320, "camera": "Cam"}}),
    )
    .await;
    assert_eq!(settings["resolution_x"], "320");
    assert_eq!(
        ok(&hub, "render.get_render_settings", json!({})).await["camera"],
        "Cam"
    );
    assert_eq!(
        err(
            &hub,
            "render.set_render_settings",
            json!({"settings": {"warp": 9}})
        )
        .await,
        "invalid_input"
    );
    assert_eq!(
        err(
            &hub,
            "render.set_render_settings",
            json!({"settings": {"camera": "Box"}})
        )
        .await,
        "invalid_input"
    );
}
