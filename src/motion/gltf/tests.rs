//! Decoding the reference server's captures, round trips through the encoder, and hostile input.

use std::collections::BTreeMap;

use base64::Engine as _;
use glam::Quat;
use serde_json::{Value, json};

use super::encode::build;
use super::*;
use crate::gltf_buffers;
use crate::motion::take::{Joint, Sample, Skeleton};

/// The reference server's answers, kept in the repository (tests/fixtures/mmcp-captures/README.md).
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp-captures");

/// A capture's bytes; a missing one fails the test rather than passing it quietly.
fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CAPTURES}/{name}")).unwrap_or_else(|e| panic!("capture {name}: {e}"))
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn decodes_smallest_capture_like_decoded_txt() {
    let bytes = read("out/02-generate-valid-text.gltf");
    let take = decode(&bytes).expect("decode");
    assert_eq!(take.model, "null");
    assert_eq!(take.version, "1.4");
    assert_eq!(take.fps, 30.0);
    assert_eq!(take.num_frames, 4);
    let names: Vec<&str> = take.skeleton.names().collect();
    assert_eq!(names, ["Hips", "Spine", "Head", "LeftFoot", "RightFoot"]);
    assert_eq!(take.skeleton.joints[2].parent, Some(1));
    assert_eq!(take.skeleton.joints[4].parent, Some(0));
    let s = &take.samples[0];
    // accessor 6: root translation (0, 0.95, 0) on all 4 frames; rotations identity.
    assert!(
        s.root_positions
            .iter()
            .all(|p| close(p[1], 0.95) && p[0] == 0.0)
    );
    assert!(s.rotations.iter().all(|q| *q == [0.0, 0.0, 0.0, 1.0]));
    assert!(s.joint_translations.is_empty());
}

#[test]
fn decodes_sparse_channels_joint_translation_contacts_notes() {
    let bytes = read("out-demo/d01-keyframes-jointtranslation-contacts-notes.gltf");
    let take = decode(&bytes).expect("decode d01");
    assert_eq!(take.num_frames, 6);
    let s = &take.samples[0];
    let jn = take.skeleton.joints.len();
    // Spine (joint 1): keys at t = 0, 0.1 (frame 3), 0.166667 (frame 5) with values
    // y = 0, 0.17903, 0.29552. Frame 3 and 5 hit keys exactly.
    let spine = |t: usize| s.rotations[t * jn + 1];
    assert!(close(spine(0)[1], 0.0));
    assert!(close(spine(3)[1], 0.17903), "{:?}", spine(3));
    assert!(close(spine(5)[1], 0.29552), "{:?}", spine(5));
    // Frame 1 lies a third of the way from key 0 to key 1: slerp, so y = sin(θ/3·…).
    let a = Quat::IDENTITY;
    let b = Quat::from_xyzw(0.0, 0.17903, 0.0, 0.983844).normalize();
    let expect = a.slerp(b, 1.0 / 3.0);
    assert!(
        (spine(1)[1] - expect.y).abs() < 1e-4,
        "{:?} vs {expect:?}",
        spine(1)
    );
    // Frame 4: halfway between keys 1 and 2.
    let c = Quat::from_xyzw(0.0, 0.29552, 0.0, 0.955337).normalize();
    assert!((spine(4)[1] - b.slerp(c, 0.5).y).abs() < 1e-4);
    // Root translation: two keys (0,0.95,0) at 0 and (0,0.95,0.2) at 0.1667 -> lerp.
    assert!(close(s.root_positions[0][2], 0.0));
    assert!(
        (s.root_positions[3][2] - 0.12).abs() < 1e-4,
        "{:?}",
        s.root_positions[3]
    );
    assert!(close(s.root_positions[5][2], 0.2));
    // Jaw (joint 3) has a dense non-root translation channel (accessor 10).
    let jaw = &s.joint_translations[&3];
    assert!(close(jaw[0][1], 0.05) && close(jaw[5][1], 0.02));
    // Contacts, chunk boundaries, notes, trajectory.
    assert_eq!(s.foot_contacts["LeftFoot"], vec![true; 6]);
    assert_eq!(s.foot_contacts["RightFoot"], vec![false; 6]);
    assert_eq!(s.chunk_boundaries, vec![3]);
    assert_eq!(take.notes[0]["code"], "path_too_fast");
    assert_eq!(s.trajectory.as_ref().expect("trajectory")["model"], "still");
}

#[test]
fn decodes_every_200_capture() {
    let folder = |name: &str| {
        std::fs::read_dir(format!("{CAPTURES}/{name}"))
            .unwrap_or_else(|e| panic!("captures {name}/: {e}"))
            .flatten()
    };
    let mut n = 0;
    for entry in folder("out").chain(folder("out-demo")) {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("gltf") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        let take = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(take.num_frames > 0 && !take.samples.is_empty());
        n += 1;
    }
    assert!(n >= 10, "only {n} captures");
}

#[test]
fn two_samples_share_clock() {
    let bytes = read("out/03-generate-valid-2samples-constraints.gltf");
    let take = decode(&bytes).expect("decode");
    assert_eq!(take.samples.len(), 2);
    assert_eq!(take.num_frames, 10);
}

/// A batch item arrives parsed (`decode_value`); accessors with `extras` and a sparse accessor
/// (glTF 2.0 allows one on any accessor) still decode.
#[test]
fn parsed_documents_with_extras_and_sparse_accessors() {
    let take = test_take();
    let mut doc = encode_document(&take);
    doc["accessors"][0]["extras"] = json!({"note": "the frame clock"});
    let back = decode_value(&doc).expect("decode a parsed document");
    assert_eq!(back.num_frames, take.num_frames);
    // Root translation of sample 0, frame 1, replaced through a sparse accessor over the same view.
    let root_acc = 1 + take.skeleton.joints.len();
    let view = doc["accessors"][root_acc]["bufferView"].clone();
    doc["accessors"][root_acc]["sparse"] = json!({
        "count": 1,
        "indices": {"bufferView": view, "componentType": 5125},
        "values": {"bufferView": view, "byteOffset": 12},
    });
    let back = decode_value(&doc).expect("decode with a sparse accessor");
    // Index = the first u32 of the view (the bits of root x at frame 0, 0.0 → 0); value = frame 1.
    assert_eq!(
        back.samples[0].root_positions[0],
        take.samples[0].root_positions[1]
    );
}

pub(crate) fn test_take() -> Take {
    let joints = vec![
        Joint {
            name: "Hips".into(),
            parent: None,
            rest_translation: [0.0, 0.95, 0.0],
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        },
        Joint {
            name: "Spine".into(),
            parent: Some(0),
            rest_translation: [0.0, 0.2, 0.0],
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        },
        Joint {
            name: "LeftLeg".into(),
            parent: Some(0),
            rest_translation: [0.1, -0.9, 0.0],
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        },
    ];
    let frames = 5;
    let mk = |phase: f32| {
        let mut rotations = Vec::new();
        let mut root = Vec::new();
        for t in 0..frames {
            let a = phase + t as f32 * 0.2;
            rotations.push(Quat::from_rotation_y(a).to_array());
            rotations.push(Quat::from_rotation_x(a * 0.5).to_array());
            rotations.push(Quat::from_rotation_z(-a).to_array());
            root.push([0.0, 0.95, t as f32 * 0.05]);
        }
        let mut jt = BTreeMap::new();
        jt.insert(
            1,
            (0..frames)
                .map(|t| [0.0, 0.2 + t as f32 * 0.01, 0.0])
                .collect(),
        );
        let mut fc = BTreeMap::new();
        fc.insert("LeftLeg".to_string(), vec![true, false, true, false, true]);
        Sample {
            rotations,
            root_positions: root,
            joint_translations: jt,
            foot_contacts: fc,
            trajectory: Some(json!({"model": "line", "position": [[0.0, 0.0]]})),
            chunk_boundaries: vec![2],
        }
    };
    Take {
        model: "test".into(),
        version: "1.4".into(),
        fps: 30.0,
        num_frames: frames,
        skeleton: Skeleton { joints },
        samples: vec![mk(0.0), mk(1.0)],
        notes: vec![json!({"code": "n", "severity": "info", "message": "hello"})],
        canonical_to_request: BTreeMap::from([("Hips".to_string(), "pelvis".to_string())]),
    }
}

fn assert_same(a: &Take, b: &Take) {
    assert_eq!(a.skeleton, b.skeleton);
    assert_eq!(a.num_frames, b.num_frames);
    assert_eq!(a.fps, b.fps);
    assert_eq!(a.notes, b.notes);
    assert_eq!(a.canonical_to_request, b.canonical_to_request);
    assert_eq!(a.samples.len(), b.samples.len());
    for (x, y) in a.samples.iter().zip(&b.samples) {
        for (q, r) in x.rotations.iter().zip(&y.rotations) {
            let d = Quat::from_array(*q).dot(Quat::from_array(*r)).abs();
            assert!(d > 0.99999, "{q:?} vs {r:?}");
        }
        assert_eq!(x.root_positions, y.root_positions);
        assert_eq!(x.joint_translations, y.joint_translations);
        assert_eq!(x.foot_contacts, y.foot_contacts);
        assert_eq!(x.trajectory, y.trajectory);
        assert_eq!(x.chunk_boundaries, y.chunk_boundaries);
    }
}

#[test]
fn encode_decode_round_trip_json_and_glb() {
    let take = test_take();
    check_take(&take).expect("consistent");
    let json_bytes = encode_gltf_json(&take);
    assert_same(&take, &decode(&json_bytes).expect("json"));
    let glb = encode_glb(&take);
    assert!(gltf_buffers::is_glb(&glb) && glb.len().is_multiple_of(4));
    // For checking with the Khronos validator: STAGECRAFT_GLTF_OUT=/dir cargo test ...
    if let Some(dir) = std::env::var_os("STAGECRAFT_GLTF_OUT") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("take.gltf"), &json_bytes).expect("write gltf");
        std::fs::write(dir.join("take.glb"), &glb).expect("write glb");
    }
    assert_same(&take, &decode(&glb).expect("glb"));
    // The SDK layout: accessor 0 is the clock with min/max, buffer is a data URI.
    let doc: Value = serde_json::from_slice(&json_bytes).expect("json");
    assert_eq!(doc["accessors"][0]["type"], "SCALAR");
    assert!(doc["accessors"][0]["max"].is_array());
    assert_eq!(doc["animations"][1]["name"], "sample_1");
    assert_eq!(doc["nodes"][0]["translation"], json!([0.0, 0.95, 0.0]));
    assert_eq!(doc["nodes"][0]["children"], json!([1, 2]));
    assert!(
        doc["buffers"][0]["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("data:application/octet-stream;base64,"))
    );
}

#[test]
fn refuses_nan_out_of_range_truncated() {
    let take = test_take();
    let mut doc = encode_document(&take);
    // Accessor 1 past its bufferView.
    let mut bad = doc.clone();
    bad["accessors"][1]["count"] = json!(1000);
    let err = decode(&serde_json::to_vec(&bad).expect("json")).unwrap_err();
    assert!(matches!(err, GltfError::Accessor { index: 1, .. }), "{err}");
    // bufferView past the buffer.
    let mut bad = doc.clone();
    bad["bufferViews"][2]["byteOffset"] = json!(1 << 30);
    assert!(decode(&serde_json::to_vec(&bad).expect("json")).is_err());
    // Truncated JSON.
    let bytes = serde_json::to_vec(&doc).expect("json");
    assert!(matches!(
        decode(&bytes[..bytes.len() / 2]),
        Err(GltfError::Json(_))
    ));
    // A NaN in the binary data.
    let mut t2 = take.clone();
    t2.samples[0].root_positions[2][0] = f32::NAN;
    let (d2, mut bin) = build(&t2);
    let _ = d2;
    // build() scrubs NaN, so poke one into the bytes directly: root translation of sample 0.
    let root_acc = 1 + take.skeleton.joints.len();
    let view = doc["accessors"][root_acc]["bufferView"]
        .as_u64()
        .expect("view") as usize;
    let off = doc["bufferViews"][view]["byteOffset"]
        .as_u64()
        .expect("off") as usize;
    bin[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    doc["buffers"][0]["uri"] = json!(format!(
        "data:application/gltf-buffer;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    ));
    let err = decode(&serde_json::to_vec(&doc).expect("json")).unwrap_err();
    assert!(matches!(err, GltfError::NonFinite(_)), "{err}");
    // Accessor without data but with an absurd count; absurd num_frames.
    let mut bad = encode_document(&take);
    bad["accessors"][1] = json!({"componentType": 5126, "count": 1u64 << 40, "type": "VEC4"});
    assert!(decode(&serde_json::to_vec(&bad).expect("json")).is_err());
    let mut bad = encode_document(&take);
    bad["extensions"]["MMCP_motion"]["samples"][0]["num_frames"] = json!(1u64 << 40);
    assert!(matches!(
        decode(&serde_json::to_vec(&bad).expect("json")),
        Err(GltfError::Invalid(_))
    ));
    // Truncated GLB.
    let glb = encode_glb(&take);
    assert!(decode(&glb[..glb.len() - 9]).is_err());
    assert!(decode(b"glTF").is_err());
    assert!(decode(b"").is_err());
}

#[test]
fn foot_contacts_by_accessor_and_glb_bin_buffer() {
    let take = test_take();
    let (mut doc, mut bin) = build(&take);
    // Append a uint8 flags accessor (frames × 2 joints) and point foot_contacts at it.
    let flags: [u8; 10] = [1, 0, 1, 0, 0, 1, 0, 1, 1, 1];
    let offset = bin.len();
    bin.extend_from_slice(&flags);
    while bin.len() % 4 != 0 {
        bin.push(0);
    }
    let views = doc["bufferViews"].as_array_mut().expect("views");
    views.push(json!({"buffer": 0, "byteOffset": offset, "byteLength": flags.len()}));
    let view = views.len() - 1;
    let accs = doc["accessors"].as_array_mut().expect("accessors");
    accs.push(json!({"bufferView": view, "componentType": 5121, "count": 10, "type": "SCALAR"}));
    let acc = accs.len() - 1;
    doc["buffers"][0]["byteLength"] = json!(bin.len());
    let s0 = &mut doc["extensions"]["MMCP_motion"]["samples"][0];
    s0["foot_contacts"] = json!({"$accessor": acc});
    s0["foot_contact_joints"] = json!(["LeftLeg", "Spine"]);
    // Ship it as GLB: JSON chunk + BIN chunk, buffer 0 without uri.
    let json_bytes = serde_json::to_vec(&doc).expect("json");
    let glb = gltf_buffers::write_glb(json_bytes, bin).expect("glb");
    let back = decode(&glb).expect("glb with accessor contacts");
    let fc = &back.samples[0].foot_contacts;
    assert_eq!(fc["LeftLeg"], vec![true, true, false, false, true]);
    assert_eq!(fc["Spine"], vec![false, false, true, true, true]);
}

/// Nothing panics on hostile input: every truncation, and thousands of random byte edits
/// of a GLB and of a glTF JSON document, decode to Ok or Err.
#[test]
fn never_panics_on_mangled_input() {
    let take = test_take();
    let json_bytes = encode_gltf_json(&take);
    let glb = encode_glb(&take);
    for cut in 0..glb.len() {
        let _ = decode(&glb[..cut]);
    }
    for cut in (0..json_bytes.len()).step_by(7) {
        let _ = decode(&json_bytes[..cut]);
    }
    // A tiny deterministic LCG: reproducible without a dependency.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as usize
    };
    let digits = b"0123456789-.e";
    for _ in 0..3000 {
        let mut g = glb.clone();
        for _ in 0..1 + next() % 4 {
            let i = next() % g.len();
            g[i] = next() as u8;
        }
        let _ = decode(&g);
        // Edits that keep the JSON parseable more often: swap digits inside numbers.
        let mut j = json_bytes.clone();
        for _ in 0..1 + next() % 3 {
            let i = next() % j.len();
            if j[i].is_ascii_digit() {
                j[i] = digits[next() % digits.len()];
            }
        }
        let _ = decode(&j);
    }
}

/// The size docs/mmcp.md#the-gltf-take plans for: 30 joints × 900 frames × 16 samples.
mod large {
    use super::*;
    #[test]
    fn decodes_a_ten_megabyte_take() {
        // 30 joints × 900 frames × 16 samples ≈ 9.5 MB of glTF JSON (docs/mmcp.md#the-gltf-take, Sizes).
        let jn = 30;
        let frames = 900;
        let joints: Vec<Joint> = (0..jn)
            .map(|j| Joint {
                name: format!("J{j}"),
                parent: if j == 0 { None } else { Some(j - 1) },
                rest_translation: [0.0, 0.1, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect();
        let sample = Sample {
            rotations: (0..frames * jn)
                .map(|i| Quat::from_rotation_y(i as f32 * 1e-3).to_array())
                .collect(),
            root_positions: vec![[0.0, 1.0, 0.0]; frames],
            ..Sample::default()
        };
        let take = Take {
            fps: 30.0,
            num_frames: frames,
            skeleton: Skeleton { joints },
            samples: vec![sample; 16],
            ..Take::default()
        };
        let bytes = encode_gltf_json(&take);
        assert!(bytes.len() > 9_000_000);
        let back = decode(&bytes).expect("decode");
        assert_eq!(back.samples.len(), 16);
        let q = Quat::from_array(back.samples[15].rotations[899 * jn + 29]);
        let want = Quat::from_rotation_y((899 * jn + 29) as f32 * 1e-3);
        assert!(q.dot(want).abs() > 0.99999);
    }
}
