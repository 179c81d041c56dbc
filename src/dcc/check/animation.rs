//! Animation: the skeleton, and motion applied to an armature sampling back as the forward kinematics
//! of the MMCP data.

use std::collections::BTreeMap;

use glam::{EulerRot, Quat, Vec3};
use serde_json::json;

use super::ARMATURE;
use super::suite::{Suite, fail};
use crate::dcc::DccErrorCode;
use crate::dcc::types::*;

pub(super) async fn check_animation(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("animation.get_skeleton")
        && s.has("animation.apply_motion")
        && s.has("animation.sample_pose")
        && created.contains_key(ARMATURE))
    {
        s.skip(
            "animation",
            "get_skeleton / apply_motion / sample_pose not advertised",
        );
        return;
    }
    if s.has("animation.list_armatures") {
        let list: Result<Vec<ArmatureSummary>, String> =
            s.get("animation.list_armatures", json!({})).await;
        s.record(
            "animation.list_armatures",
            list.and_then(|l| match l.iter().find(|a| a.name == ARMATURE) {
                Some(a) if a.joints > 0 => Ok(format!("{} with {} joints", a.name, a.joints)),
                _ => fail(format!("{ARMATURE} missing or without joints: {l:?}")),
            }),
        );
    }
    let skeleton: Result<Skeleton, String> = s
        .get("animation.get_skeleton", json!({"armature": ARMATURE}))
        .await;
    let skeleton = match skeleton.and_then(|sk| check_skeleton(&sk).map(|_| sk)) {
        Ok(sk) => {
            s.record(
                "animation.get_skeleton",
                Ok(format!(
                    "{} joints, parents first, identity rest, finite",
                    sk.joints.len()
                )),
            );
            sk
        }
        Err(e) => {
            s.record("animation.get_skeleton", Err(e));
            return;
        }
    };
    let joints = skeleton.joints.len();
    let frames = 8usize;
    let mut rotations = Vec::with_capacity(frames * joints * 4);
    let mut per_frame: Vec<Vec<[f32; 4]>> = Vec::new();
    let mut roots = Vec::new();
    let root_rest = skeleton.joints[0].rest_translation;
    for f in 0..frames {
        let mut frame = Vec::new();
        for j in 0..joints {
            let t = f as f32 / frames as f32;
            let q = Quat::from_euler(
                EulerRot::XYZ,
                0.4 * t + 0.05 * j as f32,
                -0.3 * t * (j % 3) as f32,
                0.25 * (t * 6.0).sin(),
            );
            rotations.extend_from_slice(&q.to_array());
            frame.push(q.to_array());
        }
        per_frame.push(frame);
        roots.extend_from_slice(&[
            root_rest[0] as f32 + 0.05 * f as f32,
            root_rest[1] as f32,
            root_rest[2] as f32 + 0.1 * f as f32,
        ]);
    }
    let names: Vec<String> = skeleton.joints.iter().map(|j| j.name.clone()).collect();
    let start = 1i64;
    let applied: Result<ApplyMotionResult, String> = s
        .get(
            "animation.apply_motion",
            json!({
                "armature": ARMATURE, "fps": 30.0, "joint_names": names,
                "rotations": F32Array::encode(vec![frames, joints, 4], &rotations),
                "root_positions": F32Array::encode(vec![frames, 3], &roots),
                "start_frame": start, "action_name": "sc_check_motion",
            }),
        )
        .await;
    let outcome = applied.and_then(|a| {
        if a.frame_start != start || a.frame_end != start + frames as i64 - 1 {
            fail(format!(
                "frames {}..{}, expected {start}..{}",
                a.frame_start,
                a.frame_end,
                start + frames as i64 - 1
            ))
        } else if !a.joints_skipped.is_empty() || a.joints_applied.len() != joints {
            fail(format!(
                "skipped {:?} of the rig's own joints",
                a.joints_skipped
            ))
        } else {
            Ok(format!(
                "action {:?}, {} joints",
                a.action,
                a.joints_applied.len()
            ))
        }
    });
    s.record("animation.apply_motion", outcome);
    let frame_list: Vec<f64> = (0..frames).map(|f| (start + f as i64) as f64).collect();
    let pose: Result<Pose, String> = s
        .get(
            "animation.sample_pose",
            json!({"armature": ARMATURE, "frames": frame_list}),
        )
        .await;
    let outcome = pose.and_then(|pose| {
        let mut worst = 0.0f64;
        for (f, rots) in per_frame.iter().enumerate() {
            let expect = forward_kinematics(
                &skeleton,
                rots,
                [roots[f * 3], roots[f * 3 + 1], roots[f * 3 + 2]],
            );
            for (j, name) in names.iter().enumerate() {
                let got = pose
                    .get(name)
                    .and_then(|p| p.get(f))
                    .ok_or_else(|| format!("no sample for {name} at frame {f}"))?;
                let e = expect[j];
                let d = ((got[0] - e.x as f64).powi(2)
                    + (got[1] - e.y as f64).powi(2)
                    + (got[2] - e.z as f64).powi(2))
                .sqrt();
                worst = worst.max(d);
                if d > 1e-3 {
                    return fail(format!(
                        "{name} at frame {}: {got:?}, forward kinematics says {:?} ({d:.4} m off)",
                        start + f as i64,
                        e.to_array()
                    ));
                }
            }
        }
        Ok(format!("matches forward kinematics, worst {worst:.2e} m"))
    });
    s.record("animation.sample_pose = FK(apply_motion)", outcome);

    let subset =
        json!({"armature": ARMATURE, "frames": [start as f64], "joint_names": [names[0].clone()]});
    let pose: Result<Pose, String> = s.get("animation.sample_pose", subset).await;
    s.record(
        "animation.sample_pose joint_names",
        pose.and_then(|p| {
            if p.len() == 1 && p.contains_key(&names[0]) {
                Ok("one joint asked, one answered".into())
            } else {
                fail(format!(
                    "asked for {:?}, got {:?}",
                    names[0],
                    p.keys().collect::<Vec<_>>()
                ))
            }
        }),
    );

    let bad = json!({"armature": ARMATURE, "fps": 30.0, "joint_names": names, "rotations": F32Array::encode(vec![1, joints + 1, 4], &vec![0.0; (joints + 1) * 4]), "root_positions": F32Array::encode(vec![1, 3], &[0.0; 3])});
    let outcome = s
        .expect_error("animation.apply_motion", bad, &[DccErrorCode::InvalidInput])
        .await;
    s.record(
        "animation.apply_motion shape mismatch",
        outcome.map(|_| "INVALID_INPUT".into()),
    );
    let outcome = s
        .expect_error(
            "animation.get_skeleton",
            json!({"armature": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "animation.get_skeleton unknown armature",
        outcome.map(|_| "refused".into()),
    );

    if s.has("animation.set_frame_range") && s.has("animation.get_frame_range") {
        let set: Result<FrameRange, String> = s
            .get(
                "animation.set_frame_range",
                json!({"start": 1.0, "end": 48.0, "fps": 24.0, "current": 5.0}),
            )
            .await;
        let got: Result<FrameRange, String> = s.get("animation.get_frame_range", json!({})).await;
        let outcome = match (set, got) {
            (Ok(_), Ok(r)) if (r.start, r.end, r.fps, r.current) == (1.0, 48.0, 24.0, 5.0) => {
                Ok("set then get: equal".into())
            }
            (Ok(_), Ok(r)) => fail(format!("read back {r:?}")),
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("animation.set_frame_range / get_frame_range", outcome);
    }
}

pub(super) fn check_skeleton(sk: &Skeleton) -> Result<(), String> {
    if sk.joints.is_empty() {
        return fail("no joints");
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut roots = 0;
    for j in &sk.joints {
        match &j.parent {
            None => roots += 1,
            Some(p) if !seen.contains(&p.as_str()) => {
                return fail(format!("{:?} comes before its parent {p:?}", j.name));
            }
            Some(_) => {}
        }
        if seen.contains(&j.name.as_str()) {
            return fail(format!("joint name {:?} appears twice", j.name));
        }
        if j.rest_translation
            .iter()
            .any(|v| !v.is_finite() || v.abs() > 1e4)
        {
            return fail(format!(
                "{:?} has rest_translation {:?} (metres?)",
                j.name, j.rest_translation
            ));
        }
        let r = j.rest_rotation;
        if (r[0].abs() + r[1].abs() + r[2].abs()) > 1e-6 || (r[3] - 1.0).abs() > 1e-6 {
            return fail(format!(
                "{:?} has rest_rotation {r:?}; MMCP form wants identity",
                j.name
            ));
        }
        seen.push(&j.name);
    }
    if roots != 1 {
        return fail(format!("{roots} root joints; exactly one expected"));
    }
    Ok(())
}

/// MMCP forward kinematics for one frame: world positions (metres) of every joint, from local
/// rotations `[x, y, z, w]` per joint (skeleton order) and the root's world position.
pub fn forward_kinematics(
    skeleton: &Skeleton,
    rotations: &[[f32; 4]],
    root: [f32; 3],
) -> Vec<Vec3> {
    let mut world_rot: Vec<Quat> = Vec::with_capacity(skeleton.joints.len());
    let mut pos: Vec<Vec3> = Vec::with_capacity(skeleton.joints.len());
    for (j, joint) in skeleton.joints.iter().enumerate() {
        let q = rotations
            .get(j)
            .map_or(Quat::IDENTITY, |r| Quat::from_array(*r).normalize());
        let parent = joint
            .parent
            .as_ref()
            .and_then(|p| skeleton.joints[..j].iter().position(|x| &x.name == p));
        match parent {
            None => {
                world_rot.push(q);
                pos.push(Vec3::from_array(root));
            }
            Some(p) => {
                let t = joint.rest_translation;
                let offset = Vec3::new(t[0] as f32, t[1] as f32, t[2] as f32);
                pos.push(pos[p] + world_rot[p] * offset);
                world_rot.push(world_rot[p] * q);
            }
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fk_of_a_chain() {
        let sk = Skeleton::new(vec![
            Joint {
                name: "a".into(),
                parent: None,
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
                display_name: None,
            },
            Joint {
                name: "b".into(),
                parent: Some("a".into()),
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
                display_name: None,
            },
        ]);
        let q = Quat::from_rotation_z(std::f32::consts::FRAC_PI_2).to_array();
        let p = forward_kinematics(&sk, &[q, [0.0, 0.0, 0.0, 1.0]], [0.0, 1.0, 0.0]);
        assert!((p[1] - Vec3::new(-1.0, 1.0, 0.0)).length() < 1e-6);
    }
}
