//! One sample of a take as the take viewer draws it (docs/viewer.md): the skeleton's names and
//! parents, and every joint's world position per frame, computed here with the take's own forward
//! kinematics ([`Take::world_positions`]) so that the view needs no maths of its own.
//!
//! Positions are whole millimetres in one flat array (`frame * joints * 3 + joint * 3 + axis`),
//! which keeps 10 s of a 22-joint skeleton at 30 fps near 100 KB of JSON. A sample with more than
//! [`MAX_VALUES`] numbers keeps every n-th frame, and the answer says so in `note`.

use serde_json::{Value, json};

use super::take::Take;

/// Most position numbers one answer carries (about 200 KB of JSON): 18 s of 22 joints at 30 fps,
/// or 5 s of 80 joints, before frames are skipped.
pub const MAX_VALUES: usize = 36_000;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ViewerDataError {
    #[error("sample {sample} does not exist in this take (it has {samples})")]
    NoSample { sample: usize, samples: usize },
    #[error("the take has no frames or no joints")]
    Empty,
    #[error("the take's joint positions are not finite numbers")]
    NotFinite,
}

/// Sample `sample` of `take` for the viewer; `max_values` bounds the position numbers sent
/// (normally [`MAX_VALUES`]).
pub fn joint_positions(
    take: &Take,
    sample: usize,
    max_values: usize,
) -> Result<Value, ViewerDataError> {
    let s = take.samples.get(sample).ok_or(ViewerDataError::NoSample {
        sample,
        samples: take.samples.len(),
    })?;
    let joints = take.skeleton.joints.len();
    if take.num_frames == 0 || joints == 0 || s.rotations.len() < take.num_frames * joints {
        return Err(ViewerDataError::Empty);
    }
    let per_frame = joints * 3;
    let step = (take.num_frames * per_frame).div_ceil(max_values.max(per_frame));
    let frames: Vec<usize> = (0..take.num_frames).step_by(step).collect();

    let mut positions_mm = Vec::with_capacity(frames.len() * per_frame);
    for &t in &frames {
        for p in take.world_positions(s, t) {
            if !p.is_finite() {
                return Err(ViewerDataError::NotFinite);
            }
            positions_mm.extend(p.to_array().map(|v| (v * 1000.0).round() as i64));
        }
    }
    // One character per frame sent: '1' in contact, '0' not (a frame the track lacks is '0').
    let contacts: serde_json::Map<String, Value> = s
        .foot_contacts
        .iter()
        .map(|(name, flags)| {
            let text: String = frames
                .iter()
                .map(|&t| {
                    if flags.get(t) == Some(&true) {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
            (name.clone(), Value::String(text))
        })
        .collect();

    let mut out = json!({
        "sample": sample,
        "samples": take.samples.len(),
        "fps": take.fps / step as f32,
        "frames": frames.len(),
        "frame_step": step,
        "source_frames": take.num_frames,
        "source_fps": take.fps,
        "joints": take.skeleton.names().collect::<Vec<_>>(),
        "parents": take.skeleton.joints.iter().map(|j| j.parent.map_or(-1, |p| p as i64)).collect::<Vec<_>>(),
        "positions_mm": positions_mm,
        "foot_contacts": contacts,
    });
    if step > 1 {
        out["note"] = json!(format!(
            "downsampled for the viewer: 1 frame in {step} of {} ({} fps shown of {})",
            take.num_frames,
            take.fps / step as f32,
            take.fps
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::gltf::tests::test_take;

    #[test]
    fn positions_are_forward_kinematics_in_millimetres() {
        let take = test_take();
        let v = joint_positions(&take, 1, MAX_VALUES).expect("data");
        assert_eq!(v["frames"], 5);
        assert_eq!(v["frame_step"], 1);
        assert_eq!(v["joints"], json!(["Hips", "Spine", "LeftLeg"]));
        assert_eq!(v["parents"], json!([-1, 0, 0]));
        assert!(v.get("note").is_none());
        let flat: Vec<i64> = serde_json::from_value(v["positions_mm"].clone()).expect("ints");
        assert_eq!(flat.len(), 5 * 3 * 3);
        let world = take.world_positions(&take.samples[1], 3);
        for (j, p) in world.iter().enumerate() {
            for axis in 0..3 {
                let sent = flat[3 * 9 + j * 3 + axis] as f32 / 1000.0;
                assert!((sent - p[axis]).abs() <= 0.0005, "joint {j} axis {axis}");
            }
        }
        assert_eq!(v["foot_contacts"]["LeftLeg"], "10101");
    }

    #[test]
    fn long_takes_are_downsampled_and_say_so() {
        let take = test_take();
        // 5 frames x 9 numbers; room for 2 frames -> every 3rd frame: 0, 3.
        let v = joint_positions(&take, 0, 18).expect("data");
        assert_eq!(v["frames"], 2);
        assert_eq!(v["frame_step"], 3);
        assert_eq!(v["fps"], 10.0);
        assert_eq!(v["foot_contacts"]["LeftLeg"], "10");
        assert!(
            v["note"]
                .as_str()
                .expect("note")
                .contains("1 frame in 3 of 5")
        );
        assert_eq!(v["positions_mm"].as_array().map(Vec::len), Some(18));
    }

    #[test]
    fn ten_seconds_of_the_procedural_skeleton_fit_in_200_kb() {
        let plan = crate::motion::procedural::Plan::text("a person walks forward", 10.0, 1);
        let take = crate::motion::procedural::generate(&plan).expect("take");
        let v = joint_positions(&take, 0, MAX_VALUES).expect("data");
        assert_eq!(v["frame_step"], 1, "10 s are sent whole");
        let bytes = v.to_string().len();
        assert!(bytes <= 200_000, "{bytes} bytes");
    }

    #[test]
    fn bad_samples_and_empty_takes_are_errors() {
        let take = test_take();
        assert_eq!(
            joint_positions(&take, 2, MAX_VALUES),
            Err(ViewerDataError::NoSample {
                sample: 2,
                samples: 2
            })
        );
        let mut empty = take.clone();
        empty.num_frames = 0;
        assert_eq!(
            joint_positions(&empty, 0, MAX_VALUES),
            Err(ViewerDataError::Empty)
        );
        let mut broken = take;
        broken.samples[0].root_positions[0][0] = f32::NAN;
        assert_eq!(
            joint_positions(&broken, 0, MAX_VALUES),
            Err(ViewerDataError::NotFinite)
        );
    }
}
