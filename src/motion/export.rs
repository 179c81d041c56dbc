//! A take turned into what others consume: summaries for the agent, `animation.apply_motion`
//! parameters for a DCC, and .glb/.gltf/.bvh files.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::bvh;
use super::error::MotionError;
use super::gltf;
use super::store::TakeInfo;
use super::take::Take;
use crate::dcc::types::{ApplyMotionParams, F32Array};

/// Travel of the root over a sample, plus the server's fitted trajectory model when present.
/// A length or factor for a tool result, to the millimetre: rounded in f64, because an f32 rounded
/// in f32 still prints as 5.659999847412109 and costs the agent's context twice the digits.
pub fn millis(v: f32) -> f64 {
    (f64::from(v) * 1000.0).round() / 1000.0
}

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
    let mut out = json!({
        "start_xz": [millis(first[0]), millis(first[1])],
        "end_xz": [millis(last[0]), millis(last[1])],
        "distance_m": millis(dist),
        "path_length_m": millis(path),
        "mean_speed_mps": if secs > 0.0 { millis(path / secs) } else { 0.0 },
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
    });
    let translated: Vec<&str> = take
        .samples
        .first()
        .map(|s| {
            s.joint_translations
                .keys()
                .filter_map(|&j| take.skeleton.joints.get(j).map(|x| x.name.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if !translated.is_empty() {
        v["animated_joint_translations"] = json!(translated);
    }
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

/// `animation.apply_motion` params (docs/bridge-protocol.md#animationapply_motion) for one sample of a take.
pub fn apply_params(
    take: &Take,
    sample: usize,
    armature: &str,
    start_frame: Option<i64>,
    in_place: Option<bool>,
    action_name: Option<&str>,
) -> Result<ApplyMotionParams, MotionError> {
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
    let translations: BTreeMap<String, F32Array> = s
        .joint_translations
        .iter()
        .filter(|(_, track)| track.len() == t)
        .filter_map(|(&ji, track)| {
            let joint = take.skeleton.joints.get(ji)?;
            Some((
                joint.name.clone(),
                F32Array::encode(vec![t, 3], track.as_flattened()),
            ))
        })
        .collect();
    Ok(ApplyMotionParams {
        armature: armature.to_string(),
        fps: f64::from(take.fps),
        joint_names: take.skeleton.names().map(str::to_string).collect(),
        rotations: F32Array::encode(vec![t, j, 4], s.rotations.as_flattened()),
        root_positions: F32Array::encode(vec![t, 3], s.root_positions.as_flattened()),
        joint_translations: (!translations.is_empty()).then_some(translations),
        start_frame,
        action_name: action_name.map(str::to_string),
        in_place: in_place.unwrap_or(false),
    })
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
    use base64::Engine as _;
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
        let p = serde_json::to_value(p).expect("serializes");
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
