//! A take turned into what others consume: summaries for the agent and .glb/.gltf/.bvh files.

use std::path::Path;

use serde_json::{Value, json};

use super::bvh;
use super::error::MotionError;
use super::gltf;
use super::store::TakeInfo;
use super::take::Take;

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
