//! Putting a take on a rig: `animation.apply_motion` (docs/bridge-protocol.md#animationapply_motion)
//! for one sample, shared by generate_motion (with `armature`) and apply_motion.

use std::collections::BTreeMap;

use serde_json::Value;

use super::motion::{dcc_error, motion_error, with_take};
use super::{Dispatcher, ToolError, ToolErrorCode};
use crate::call::CallContext;
use crate::dcc::types::{ApplyMotionParams, F32Array};
use crate::motion::MotionError;
use crate::motion::take::Take;

/// Where and how a take goes onto a rig (`animation.apply_motion`).
pub(super) struct RigTarget<'a> {
    pub dcc: Option<&'a str>,
    pub armature: &'a str,
    pub sample: usize,
    pub start_frame: Option<i64>,
    pub in_place: Option<bool>,
    pub action_name: Option<&'a str>,
}

/// Puts one sample of a take (already on the rig's skeleton) onto the rig; `hint` says what to do
/// when the DCC refuses. Returns the DCC's answer.
pub(super) async fn put_on_rig(
    dispatcher: &Dispatcher,
    take: &Take,
    take_id: &str,
    target: &RigTarget<'_>,
    call: &CallContext,
    hint: &str,
) -> Result<Value, ToolError> {
    let params = apply_params(take, target).map_err(|e| with_take(motion_error(e), take_id))?;
    let params = serde_json::to_value(params).map_err(|e| {
        ToolError::new(
            ToolErrorCode::InternalError,
            format!("could not encode the motion: {e}"),
        )
    })?;
    dispatcher
        .dccs
        .call(target.dcc, "animation.apply_motion", params, call)
        .await
        .map_err(|f| dcc_error(f, hint, Some(take_id)))
}

/// `animation.apply_motion` params (docs/bridge-protocol.md#animationapply_motion) for one sample of a take.
fn apply_params(take: &Take, target: &RigTarget<'_>) -> Result<ApplyMotionParams, MotionError> {
    let sample = target.sample;
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
        armature: target.armature.to_string(),
        fps: f64::from(take.fps),
        joint_names: take.skeleton.names().map(str::to_string).collect(),
        rotations: F32Array::encode(vec![t, j, 4], s.rotations.as_flattened()),
        root_positions: F32Array::encode(vec![t, 3], s.root_positions.as_flattened()),
        joint_translations: (!translations.is_empty()).then_some(translations),
        start_frame: target.start_frame,
        action_name: target.action_name.map(str::to_string),
        in_place: target.in_place.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::take::{Joint, Sample, Skeleton};
    use base64::Engine as _;
    use serde_json::json;
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
        let target = |sample| RigTarget {
            dcc: None,
            armature: "Armature",
            sample,
            start_frame: Some(10),
            in_place: Some(true),
            action_name: None,
        };
        let p = apply_params(&take, &target(0)).expect("params");
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
            apply_params(&take, &target(1)).unwrap_err().code(),
            "invalid_arguments"
        );
    }
}
