//! Broken glTF files never panic the stage DCC: every mutation of a valid file either loads or is
//! refused with `scene_error`, and whatever loads can be listed, sampled, rendered, saved, and imported
//! into the scene it made (merged into its glTF document).

mod common;

use common::stage::context as call;
use serde_json::{Value, json};
use stagecraft::dcc::DccHub;
use stagecraft::dcc::types::F32Array;

/// Calls that must all succeed on a scene that loaded (`when` names the scene in a failure).
async fn must_answer(hub: &DccHub, calls: [(&str, Value); 3], when: &str) {
    for (method, params) in calls {
        hub.call(None, method, params, &call())
            .await
            .unwrap_or_else(|e| panic!("{method} {when}: {e:?}"));
    }
}

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Replaces one number somewhere in the document by a hostile value.
fn mutate(doc: &mut Value, rng: &mut Lcg) {
    fn numbers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Number(_) => out.push(at),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| numbers(x, format!("{at}/{i}"), out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| {
                numbers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            _ => {}
        }
    }
    let mut found = Vec::new();
    numbers(doc, String::new(), &mut found);
    if found.is_empty() {
        return;
    }
    let target = &found[(rng.next() as usize) % found.len()];
    let hostile = [
        json!(0),
        json!(1),
        json!(-1),
        json!(7),
        json!(99),
        json!(4294967295u64),
        json!(1e30),
        json!(-0.0),
        json!(3),
    ];
    if let Some(slot) = doc.pointer_mut(target) {
        *slot = hostile[(rng.next() as usize) % hostile.len()].clone();
    }
}

#[tokio::test]
async fn mutated_gltf_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::stage::hub();
    for (t, n) in [
        ("armature", "Rig"),
        ("cube", "Box"),
        ("camera", "Cam"),
        ("light", "Lamp"),
    ] {
        hub.call(
            None,
            "scene.create_object",
            json!({"object_type": t, "name": n}),
            &call(),
        )
        .await
        .unwrap();
    }
    hub.call(
        None,
        "hierarchy.reparent",
        json!({"object_name": "Box", "new_parent": "Rig"}),
        &call(),
    )
    .await
    .unwrap();
    let rots: Vec<f32> = (0..2 * 3).flat_map(|_| [0.0, 0.1, 0.0, 0.995]).collect();
    hub.call(
        None,
        "animation.apply_motion",
        json!({
            "armature": "Rig", "fps": 30, "joint_names": ["Root", "Spine", "Head"],
            "rotations": F32Array::encode(vec![2, 3, 4], &rots),
            "root_positions": F32Array::encode(vec![2, 3], &[0.0, 0.5, 0.0, 0.0, 0.5, 0.1]),
        }),
        &call(),
    )
    .await
    .unwrap();
    let source = dir.path().join("source.gltf");
    hub.call(
        None,
        "scene.export_file",
        json!({"file_path": source.to_str().unwrap(), "format": "gltf"}),
        &call(),
    )
    .await
    .unwrap();
    let original: Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();

    let mut rng = Lcg(7);
    let (mut loaded, mut refused) = (0, 0);
    for i in 0..150 {
        let mut doc = original.clone();
        for _ in 0..(1 + rng.next() % 3) {
            mutate(&mut doc, &mut rng);
        }
        let path = dir.path().join(format!("m{i}.gltf"));
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        match hub
            .call(
                None,
                "scene.open_file",
                json!({"file_path": path.to_str().unwrap(), "force": true}),
                &call(),
            )
            .await
        {
            Ok(_) => {
                loaded += 1;
                // Whatever loaded must be usable.
                let usable = || {
                    [
                        ("scene.list_objects", json!({})),
                        ("animation.list_armatures", json!({})),
                        (
                            "render.capture_viewport",
                            json!({"width": 16, "height": 16}),
                        ),
                    ]
                };
                must_answer(&hub, usable(), &format!("on m{i}")).await;
                hub.call(None, "hierarchy.get_hierarchy", json!({}), &call())
                    .await
                    .unwrap_or_else(|e| panic!("hierarchy.get_hierarchy on m{i}: {e:?}"));
                for arm in ["Rig", "Box"] {
                    let _ = hub
                        .call(
                            None,
                            "animation.sample_pose",
                            json!({"armature": arm, "frames": [1, 2]}),
                            &call(),
                        )
                        .await;
                    let _ = hub
                        .call(
                            None,
                            "transform.get_bounding_box",
                            json!({"object_name": arm}),
                            &call(),
                        )
                        .await;
                }
                let out = dir.path().join(format!("m{i}.glb"));
                let _ = hub
                    .call(
                        None,
                        "scene.save_file",
                        json!({"file_path": out.to_str().unwrap()}),
                        &call(),
                    )
                    .await;
                // The same file imported into the scene it made: merged, and still usable.
                hub.call(
                    None,
                    "scene.import_file",
                    json!({"file_path": path.to_str().unwrap()}),
                    &call(),
                )
                .await
                .unwrap_or_else(|e| panic!("import_file of m{i}, which opened: {e:?}"));
                must_answer(&hub, usable(), &format!("after importing m{i}")).await;
                let _ = hub
                    .call(
                        None,
                        "scene.save_file",
                        json!({"file_path": out.to_str().unwrap()}),
                        &call(),
                    )
                    .await;
            }
            Err(e) => {
                assert_eq!(e.code, "scene_error", "m{i}: {e:?}");
                refused += 1;
            }
        }
    }
    assert!(
        loaded > 10 && refused > 10,
        "loaded {loaded}, refused {refused}"
    );
    // Not glTF at all.
    for junk in [
        &b""[..],
        b"{",
        b"glTF",
        b"glTF\x02\0\0\0\xff\xff\xff\xff\x10\0\0\0JSON{}",
        b"[1,2,3]",
    ] {
        let path = dir.path().join("junk.glb");
        std::fs::write(&path, junk).unwrap();
        let e = hub
            .call(
                None,
                "scene.open_file",
                json!({"file_path": path.to_str().unwrap(), "force": true}),
                &call(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "scene_error");
    }
}
