//! After the pose pass: pose keyframes, loop closure, and contacts taken back where a joint now moves.

use glam::{Quat, Vec2, Vec3};

use super::path::RootPath;
use super::{Context, Frames, yaw_q};
use crate::motion::procedural::PoseKey;
use crate::motion::procedural::actions::smooth;
use crate::motion::procedural::rig::Rig;
use crate::motion::take::Sample;

/// The sample after the pose pass: pose keyframes, loop closure, contacts checked again where either
/// moved a joint, and the root trajectory of the take's frames.
pub(super) fn finish(ctx: &Context, path: &RootPath, sample: &mut Sample, notes: &mut Vec<String>) {
    let (plan, rig) = (ctx.plan, ctx.rig);
    let Frames {
        fps,
        total,
        pad,
        looped,
        ..
    } = ctx.frames;
    let (pos, yaw) = (&path.pos, &path.yaw);
    for key in &plan.pose_keys {
        apply_pose_key(sample, rig, key, total, plan.transition_frames, fps, notes);
    }
    if looped {
        close_loop(sample, rig, total, yaw[pad + total - 1] - yaw[pad]);
    }
    if !plan.pose_keys.is_empty() || looped {
        drop_sliding_contacts(sample, rig, total, fps);
    }
    let range = pad..pad + total;
    sample.trajectory = Some(crate::motion::procedural::trajectory::trajectory(
        &pos[range.clone()],
        &yaw[range],
        fps,
        looped,
        &sample.foot_contacts,
    ));
}

/// Blend the listed joints (and the root position) toward a keyframe around its frame.
pub(super) fn apply_pose_key(
    sample: &mut Sample,
    rig: &Rig,
    key: &PoseKey,
    total: usize,
    transition_frames: usize,
    fps: f32,
    notes: &mut Vec<String>,
) {
    let joints = rig.skeleton.joints.len();
    let width = (transition_frames.max((0.3 * fps).round() as usize)).max(1) as f32;
    let mut targets: Vec<(usize, Quat)> = Vec::new();
    for (name, q) in &key.joint_rotations {
        let Some(j) = rig.skeleton.index_of(name) else {
            continue;
        };
        let q = Quat::from_array(*q);
        if !q.is_finite() || q.length() < 1e-6 {
            notes.push(format!(
                "pose_keyframe at frame {}: rotation of {name} is not usable; ignored",
                key.frame
            ));
            continue;
        }
        targets.push((j, q.normalize()));
    }
    if key.fill_rest {
        for j in 0..joints {
            if j != rig.root && !targets.iter().any(|t| t.0 == j) {
                targets.push((j, Quat::IDENTITY));
            }
        }
    }
    let root_target = key.root_position.map(Vec3::from).filter(|p| p.is_finite());
    let root_at_key = sample.root_positions.get(key.frame).map(|p| Vec3::from(*p));
    for t in 0..total {
        let d = (t as f32 - key.frame as f32).abs();
        if d >= width {
            continue;
        }
        let w = smooth(1.0 - d / width);
        for &(j, target) in &targets {
            let idx = t * joints + j;
            let cur = Quat::from_array(sample.rotations[idx]);
            let target = if cur.dot(target) < 0.0 {
                -target
            } else {
                target
            };
            sample.rotations[idx] = cur.slerp(target, w).normalize().to_array();
        }
        if let (Some(goal), Some(at_key)) = (root_target, root_at_key) {
            let p = Vec3::from(sample.root_positions[t]) + (goal - at_key) * w;
            sample.root_positions[t] = p.to_array();
        }
    }
}

/// Make the last frame the first pose, advanced by the cycle's travel and turn, by spreading whatever
/// small mismatch is left over the whole clip.
pub(super) fn close_loop(sample: &mut Sample, rig: &Rig, total: usize, turned: f32) {
    let joints = rig.skeleton.joints.len();
    let last = total - 1;
    for j in 0..joints {
        let first = Quat::from_array(sample.rotations[j]);
        let end = Quat::from_array(sample.rotations[last * joints + j]);
        let want = if j == rig.root {
            yaw_q(turned) * first
        } else {
            first
        };
        let mut delta = (want * end.inverse()).normalize();
        if delta.w < 0.0 {
            delta = -delta;
        }
        for t in 1..=last {
            let idx = t * joints + j;
            let step = Quat::IDENTITY.slerp(delta, t as f32 / last as f32);
            sample.rotations[idx] = (step * Quat::from_array(sample.rotations[idx]))
                .normalize()
                .to_array();
        }
    }
    let dy = sample.root_positions[0][1] - sample.root_positions[last][1];
    for t in 1..=last {
        sample.root_positions[t][1] += dy * t as f32 / last as f32;
    }
}

/// A contact is a promise that the joint stands still: after keyframes or the loop closure bent the
/// legs, take it back where the joint now moves.
pub(super) fn drop_sliding_contacts(sample: &mut Sample, rig: &Rig, total: usize, fps: f32) {
    let take = crate::motion::take::Take {
        fps,
        num_frames: total,
        skeleton: rig.skeleton.clone(),
        ..Default::default()
    };
    let positions: Vec<Vec<Vec3>> = (0..total)
        .map(|t| take.world_positions(sample, t))
        .collect();
    for (name, flags) in sample.foot_contacts.iter_mut() {
        let Some(j) = rig.skeleton.index_of(name) else {
            continue;
        };
        for (t, flag) in flags.iter_mut().enumerate().take(total) {
            let (a, b) = (t.saturating_sub(1), (t + 1).min(total - 1));
            if b > a {
                let d = positions[b][j] - positions[a][j];
                let speed = Vec2::new(d.x, d.z).length() * fps / (b - a) as f32;
                if speed > 0.15 * rig.scale {
                    *flag = false;
                }
            }
        }
    }
}
