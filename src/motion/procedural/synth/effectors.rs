//! Effector targets: hands reached by arm IK in the pose pass, feet moved from their planned ankle.

use glam::{Quat, Vec3};

use super::feet::Feet;
use super::pose::HandTarget;
use super::{Context, Frames, yaw_q};
use crate::motion::procedural::actions::smooth;
use crate::motion::procedural::rig::Rig;
use crate::motion::procedural::{EffectorKey, Plan};

/// The plan's effector keys sorted by what they move, and how many frames a key fades over.
pub(super) struct EffectorKeys<'a> {
    hands: [Vec<&'a EffectorKey>; 2],
    /// With whether the key is for the toe (else the ankle).
    feet: [Vec<(&'a EffectorKey, bool)>; 2],
    width: f32,
}

impl<'a> EffectorKeys<'a> {
    pub(super) fn new(plan: &'a Plan, rig: &Rig) -> Self {
        let fps = plan.fps;
        let effector_width =
            (plan.transition_frames.max((0.3 * fps).round() as usize)).max(1) as f32;
        let roles = effector_roles(rig);
        let role_of = |name: &str| {
            roles
                .iter()
                .find(|(j, _)| rig.skeleton.joints[*j].name == name)
                .map(|r| r.1)
        };
        let mut hand_keys: [Vec<&EffectorKey>; 2] = [Vec::new(), Vec::new()];
        let mut foot_keys: [Vec<(&EffectorKey, bool)>; 2] = [Vec::new(), Vec::new()];
        for key in &plan.effectors {
            match role_of(&key.joint) {
                Some(Effector::Hand(side)) => hand_keys[side].push(key),
                Some(Effector::Foot(side)) => foot_keys[side].push((key, false)),
                Some(Effector::Toe(side)) => foot_keys[side].push((key, true)),
                None => {}
            }
        }
        Self {
            hands: hand_keys,
            feet: foot_keys,
            width: effector_width,
        }
    }

    /// Feet move their planned ankle toward their keys.
    pub(super) fn move_feet(&self, ctx: &Context, feet: &mut Feet) {
        let rig = ctx.rig;
        let Frames { total, pad, .. } = ctx.frames;
        let (foot_keys, effector_width) = (&self.feet, self.width);
        for side in 0..2 {
            let Some(leg) = rig.legs[side].as_ref() else {
                continue;
            };
            let keys: Vec<&EffectorKey> = foot_keys[side].iter().map(|k| k.0).collect();
            for real in 0..total {
                let Some((key, w)) = effector_at(&keys, real, effector_width) else {
                    continue;
                };
                let p = Vec3::from(key.position);
                if !p.is_finite() {
                    continue;
                }
                let foot = &mut feet[side][real + pad];
                let is_toe = foot_keys[side]
                    .iter()
                    .any(|(k, toe)| std::ptr::eq(*k, key) && *toe);
                let ankle = if is_toe {
                    p - yaw_q(foot.yaw) * Quat::from_rotation_x(foot.pitch) * leg.toe_vec
                } else {
                    p
                };
                let moved = ankle.distance(foot.ankle) * w;
                foot.ankle = foot.ankle.lerp(ankle, w);
                if moved > 0.01 {
                    foot.foot_contact = false;
                    foot.toe_contact = false;
                }
            }
        }
    }

    /// A hand's goal at frame `real` of the take, if a key is in force.
    pub(super) fn hand(&self, side: usize, real: usize) -> Option<HandTarget> {
        let (key, weight) = effector_at(&self.hands[side], real, self.width)?;
        let p = Vec3::from(key.position);
        p.is_finite().then(|| HandTarget {
            position: p,
            weight,
            rotation: key
                .rotation
                .map(Quat::from_array)
                .filter(|q| q.is_finite() && q.length() > 1e-6),
        })
    }
}

/// What an effector target moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::motion::procedural) enum Effector {
    Hand(usize),
    Foot(usize),
    Toe(usize),
}

/// Request joints an `effector_target` can move on this rig, with what they are.
pub(in crate::motion::procedural) fn effector_roles(rig: &Rig) -> Vec<(usize, Effector)> {
    let mut out = Vec::new();
    for side in 0..2 {
        if let Some(arm) = &rig.arms[side] {
            out.push((arm.hand, Effector::Hand(side)));
        }
        if let Some(leg) = &rig.legs[side] {
            out.push((leg.ankle, Effector::Foot(side)));
            if let Some(toe) = leg.toe {
                out.push((toe, Effector::Toe(side)));
            }
        }
    }
    out
}

/// The effector key in force at frame `t` for one joint, with its blend weight: the nearest key, fading
/// over `width` frames on either side (so dense keys are followed exactly and a single key is reached
/// and left smoothly).
pub(super) fn effector_at<'a>(
    keys: &[&'a EffectorKey],
    t: usize,
    width: f32,
) -> Option<(&'a EffectorKey, f32)> {
    let key = keys.iter().min_by_key(|k| k.frame.abs_diff(t))?;
    let d = key.frame.abs_diff(t) as f32;
    (d < width).then(|| (*key, smooth(1.0 - d / width)))
}
