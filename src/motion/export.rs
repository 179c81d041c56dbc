//! A take turned into what others consume: summaries for the agent, `animation.apply_motion`
//! parameters for a DCC, and .glb/.gltf/.bvh files.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use super::bvh;
use super::error::MotionError;
use super::gltf;
use super::store::TakeInfo;
use super::take::Take;

/// Travel of the root over a sample, plus the server's fitted trajectory model when present.
pub fn trajectory_summary(take: &Take, sample: usize) -> Value {
    let Some(s) = take.samples.get(sample) else {
        return Value::Null;
    };
    let xz: Vec<[f32; 2]> = s.root_positions.iter().map(|p| [p[0], p[2]]).collect();
    let (Some(first), Some(last)) = (xz.first(), xz.last()) else {
        return Value::Null;
    };
    let path: f32 = xz
        .windows(2)
        .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
        .sum();
    let dist = ((last[0] - first[0]).powi(2) + (last[1] - first[1]).powi(2)).sqrt();
    let secs = take.seconds();
    let r3 = |v: f32| (v * 1000.0).round() / 1000.0;
    let mut out = json!({
        "start_xz": [r3(first[0]), r3(first[1])],
        "end_xz": [r3(last[0]), r3(last[1])],
        "distance_m": r3(dist),
        "path_length_m": r3(path),
        "mean_speed_mps": if secs > 0.0 { r3(path / secs) } else { 0.0 },
    });
    if let Some(t) = &s.trajectory {
        out["fit"] = json!({
            "model": t.get("model"),
            "heading": t.get("heading"),
            "loop": t.get("loop"),
            "params": t.get("params"),
            "markers": t.get("markers"),
        });
    }
    out
}

/// Structured summary of a take (tool results and `take://<id>`).
pub fn take_summary(id: &str, take: &Take, info: Option<&TakeInfo>) -> Value {
    let mut v = json!({
        "take_id": id,
        "uri": format!("take://{id}"),
        "model": take.model,
        "protocol_version": take.version,
        "fps": take.fps,
        "frames": take.num_frames,
        "seconds": take.seconds(),
        "samples": take.samples.len(),
        "joints": take.skeleton.names().collect::<Vec<_>>(),
        "notes": take.notes,
        "trajectory": trajectory_summary(take, 0),
        "foot_contact_joints": take.samples.first().map(|s| s.foot_contacts.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        "animated_joint_translations": take.samples.first().map(|s| s.joint_translations.keys().filter_map(|&j| take.skeleton.joints.get(j).map(|x| x.name.clone())).collect::<Vec<_>>()).unwrap_or_default(),
    });
    if !take.canonical_to_request.is_empty() {
        v["canonical_to_request"] = json!(take.canonical_to_request);
    }
    if let Some(i) = info {
        v["backend"] = json!(i.backend);
        v["prompt"] = json!(i.prompt);
        v["seed"] = json!(i.seed);
        v["created_at"] = json!(i.created_at);
    }
    v
}

fn f32_array(shape: &[usize], values: impl Iterator<Item = f32>) -> Value {
    let n: usize = shape.iter().product();
    let mut bytes = Vec::with_capacity(n * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    json!({
        "dtype": "f32",
        "shape": shape,
        "b64": base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// `animation.apply_motion` params (docs/bridge-protocol.md#animationapply_motion) for one sample of a take.
pub fn apply_params(
    take: &Take,
    sample: usize,
    armature: &str,
    start_frame: Option<i64>,
    in_place: Option<bool>,
    action_name: Option<&str>,
) -> Result<Value, MotionError> {
    let s = take.samples.get(sample).ok_or_else(|| {
        MotionError::InvalidArguments(format!(
            "sample {sample} does not exist; the take has {} (0..{})",
            take.samples.len(),
            take.samples.len().saturating_sub(1)
        ))
    })?;
    let t = take.num_frames;
    let j = take.skeleton.joints.len();
    if s.rotations.len() != t * j || s.root_positions.len() != t {
        return Err(MotionError::BadResponse {
            backend: "take".into(),
            message: "the take's arrays do not match its frame count".into(),
        });
    }
    let mut params = json!({
        "armature": armature,
        "fps": take.fps,
        "joint_names": take.skeleton.names().collect::<Vec<_>>(),
        "rotations": f32_array(&[t, j, 4], s.rotations.iter().flatten().copied()),
        "root_positions": f32_array(&[t, 3], s.root_positions.iter().flatten().copied()),
    });
    if !s.joint_translations.is_empty() {
        let mut m = serde_json::Map::new();
        for (&ji, track) in &s.joint_translations {
            if let Some(joint) = take.skeleton.joints.get(ji)
                && track.len() == t
            {
                m.insert(
                    joint.name.clone(),
                    f32_array(&[t, 3], track.iter().flatten().copied()),
                );
            }
        }
        params["joint_translations"] = Value::Object(m);
    }
    if let Some(f) = start_frame {
        params["start_frame"] = json!(f);
    }
    if let Some(b) = in_place {
        params["in_place"] = json!(b);
    }
    if let Some(a) = action_name {
        params["action_name"] = json!(a);
    }
    Ok(params)
}

/// Writes a take as `.glb`, `.gltf` or `.bvh` (by extension; BVH holds the first sample, in
/// metres); returns the bytes written.
pub fn save_take(take: &Take, path: &Path) -> Result<usize, MotionError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("glb") => gltf::encode_glb(take),
        Some("gltf") => gltf::encode_gltf_json(take),
        Some("bvh") => bvh::write(take, 0)
            .map_err(|e| MotionError::InvalidArguments(format!("cannot write BVH: {e}")))?
            .into_bytes(),
        _ => {
            return Err(MotionError::InvalidArguments(format!(
                "{} must end in .glb, .gltf or .bvh",
                path.display()
            )));
        }
    };
    // Write beside the target and rename, so a failed write never leaves half a file.
    let tmp = path.with_extension(format!("{}.part", ext.unwrap_or_default()));
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            MotionError::Io(format!("cannot write {}: {e}", path.display()))
        })?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::take::{Joint, Sample, Skeleton};
    use std::collections::BTreeMap;

    #[test]
    fn apply_params_are_bridge_f32_arrays() {
        let joints = ["Hips", "Spine"]
            .iter()
            .enumerate()
            .map(|(i, n)| Joint {
                name: (*n).into(),
                parent: i.checked_sub(1),
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect();
        let mut jt = BTreeMap::new();
        jt.insert(1, vec![[0.0, 0.5, 0.0], [0.0, 0.6, 0.0], [0.0, 0.7, 0.0]]);
        let take = Take {
            fps: 30.0,
            num_frames: 3,
            skeleton: Skeleton { joints },
            samples: vec![Sample {
                rotations: (0..6).map(|i| [0.0, 0.0, i as f32 * 0.1, 1.0]).collect(),
                root_positions: vec![[1.0, 2.0, 3.0]; 3],
                joint_translations: jt,
                ..Sample::default()
            }],
            ..Take::default()
        };
        let p = apply_params(&take, 0, "Armature", Some(10), Some(true), None).expect("params");
        assert_eq!(p["joint_names"], json!(["Hips", "Spine"]));
        assert_eq!(p["rotations"]["shape"], json!([3, 2, 4]));
        assert_eq!(p["rotations"]["dtype"], "f32");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(p["rotations"]["b64"].as_str().expect("b64"))
            .expect("base64");
        assert_eq!(raw.len(), 3 * 2 * 4 * 4);
        // Row-major [t][j][xyzw]: element (t=1, j=1, z) is rotation index 3, z = 0.3.
        let at = ((2 + 1) * 4 + 2) * 4;
        let z = f32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        assert!((z - 0.3).abs() < 1e-6);
        assert_eq!(p["root_positions"]["shape"], json!([3, 3]));
        assert_eq!(p["joint_translations"]["Spine"]["shape"], json!([3, 3]));
        assert_eq!(p["start_frame"], 10);
        assert_eq!(p["in_place"], true);
        assert_eq!(
            apply_params(&take, 1, "A", None, None, None)
                .unwrap_err()
                .code(),
            "invalid_arguments"
        );
    }
}
