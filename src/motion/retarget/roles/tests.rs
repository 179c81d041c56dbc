use super::*;
use crate::motion::take::Joint;

/// The MMCP skeleton fixtures (tests/fixtures/skeletons/README.md says where each comes from).
const FIXTURES: [(&str, &str); 15] = [
    (
        "mixamo",
        include_str!("../../../../tests/fixtures/skeletons/mixamo.json"),
    ),
    (
        "mixamo1",
        include_str!("../../../../tests/fixtures/skeletons/mixamo1.json"),
    ),
    (
        "mixamo_threejs",
        include_str!("../../../../tests/fixtures/skeletons/mixamo_threejs.json"),
    ),
    (
        "ue4",
        include_str!("../../../../tests/fixtures/skeletons/ue4.json"),
    ),
    (
        "ue5",
        include_str!("../../../../tests/fixtures/skeletons/ue5.json"),
    ),
    (
        "rigify_def",
        include_str!("../../../../tests/fixtures/skeletons/rigify_def.json"),
    ),
    (
        "rigify_metarig",
        include_str!("../../../../tests/fixtures/skeletons/rigify_metarig.json"),
    ),
    (
        "soma30",
        include_str!("../../../../tests/fixtures/skeletons/soma30.json"),
    ),
    (
        "soma77",
        include_str!("../../../../tests/fixtures/skeletons/soma77.json"),
    ),
    (
        "smpl",
        include_str!("../../../../tests/fixtures/skeletons/smpl.json"),
    ),
    (
        "smplh",
        include_str!("../../../../tests/fixtures/skeletons/smplh.json"),
    ),
    (
        "smplx",
        include_str!("../../../../tests/fixtures/skeletons/smplx.json"),
    ),
    (
        "cmu",
        include_str!("../../../../tests/fixtures/skeletons/cmu.json"),
    ),
    (
        "vrm",
        include_str!("../../../../tests/fixtures/skeletons/vrm.json"),
    ),
    (
        "vroid",
        include_str!("../../../../tests/fixtures/skeletons/vroid.json"),
    ),
];

/// A fixture file as a `Skeleton` (parents by name in the file, by index in MMCP).
fn skeleton_from_json(json: &str) -> Skeleton {
    let doc: serde_json::Value = serde_json::from_str(json).expect("fixture is JSON");
    let rows = doc["joints"].as_array().expect("fixture has joints");
    let mut joints: Vec<Joint> = Vec::new();
    for row in rows {
        let parent = row["parent"].as_str().map(|p| {
            joints
                .iter()
                .position(|j| j.name == p)
                .expect("parents come first")
        });
        let t: Vec<f32> = row["rest_translation"]
            .as_array()
            .expect("rest_translation")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        joints.push(Joint {
            name: row["name"].as_str().expect("name").to_string(),
            parent,
            rest_translation: [t[0], t[1], t[2]],
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        });
    }
    Skeleton { joints }
}

fn fixture(name: &str) -> Skeleton {
    let (_, json) = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a fixture of that name");
    skeleton_from_json(json)
}

#[test]
fn dump() {
    for (name, _) in FIXTURES {
        let s = fixture(name);
        match detect(&s) {
            Ok(h) => {
                println!(
                    "== {name}: {:?} {:?} facing {:?}",
                    h.conventions, h.warnings, h.facing
                );
                for (j, r) in h.roles.iter().enumerate() {
                    if let Some(r) = r {
                        println!("   {} {:?}", s.joints[j].name, r);
                    }
                }
            }
            Err(e) => println!("== {name}: {e}"),
        }
    }
}

fn opaque(skeleton: &Skeleton) -> Skeleton {
    let mut s = skeleton.clone();
    for (j, joint) in s.joints.iter_mut().enumerate() {
        joint.name = format!("bn_{j:02}");
    }
    s
}

#[test]
fn dump_opaque() {
    for (name, _) in FIXTURES {
        let s = fixture(name);
        let named = detect(&s).unwrap();
        match detect(&opaque(&s)) {
            Ok(h) => {
                println!("== {name}: {:?} {:?}", h.conventions, h.warnings);
                for j in 0..s.joints.len() {
                    if h.roles[j] != named.roles[j] {
                        println!(
                            "   DIFF {} named {:?} opaque {:?}",
                            s.joints[j].name, named.roles[j], h.roles[j]
                        );
                    }
                }
            }
            Err(e) => println!("== {name}: {e}"),
        }
    }
}
