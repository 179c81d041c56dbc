//! The feet, planned in world space: contact schedules, stances and plants, swing arcs, and the
//! postures that move a foot (kneel, kick, lie).

use std::collections::BTreeMap;
use std::f32::consts::PI;

use glam::{Quat, Vec2, Vec3};

use super::gait::Gait;
use super::path::RootPath;
use super::pelvis::lie_profile;
use super::{Context, Frames, forward, minjerk, wrap_angle, yaw_q};
use crate::motion::procedural::actions::{Controls, STEP_HEIGHT, lerp, smooth};
use crate::motion::procedural::rig::{Leg, Rig};

/// Both feet, per padded frame (0 left, 1 right).
pub(super) type Feet = [Vec<FootState>; 2];

/// The footstep plan: each foot's contact schedule from the gait, then stance intervals and plants.
// Both sides (and every frame) index several arrays in step; indices read clearer than zips.
#[allow(clippy::needless_range_loop)]
pub(super) fn footsteps(ctx: &Context, path: &RootPath, gait: &Gait) -> Feet {
    let (rig, controls, scale) = (ctx.rig, &ctx.controls, ctx.rig.scale);
    let Frames { fps, n, .. } = ctx.frames;
    let (pos, yaw, elevation) = (&path.pos, &path.yaw, &path.elevation);
    let (phase, duty, run_w) = (&gait.phase, &gait.duty, &gait.run_w);
    let mut feet: [Vec<FootState>; 2] =
        [vec![FootState::default(); n], vec![FootState::default(); n]];
    for side in 0..2 {
        let Some(leg) = rig.legs[side].as_ref() else {
            continue;
        };
        let mut contact: Vec<bool> = (0..n)
            .map(|i| {
                let c = &controls[i];
                if c.jump >= 0.5 {
                    c.flight < 0.5
                } else if duty[i] >= 1.0 {
                    true
                } else {
                    let offset = if side == 0 { 0.0 } else { 0.5 };
                    (phase[i] + offset).rem_euclid(1.0) < duty[i]
                }
            })
            .collect();
        // A foot in the air lands no sooner than a short swing allows, even when the next behaviour
        // plants both feet at once (a run into a jump or a stop): otherwise the leg would snap down.
        let min_swing = ((0.2 * fps).round() as usize).max(1);
        let mut lifted: Option<usize> = None;
        for i in 1..n {
            if contact[i - 1] && !contact[i] {
                lifted = Some(i);
            }
            if contact[i]
                && !contact[i - 1]
                && let Some(l) = lifted
                && i < l + min_swing
            {
                contact[i..(l + min_swing).min(n)].fill(false);
            }
        }
        plan_foot(
            &mut feet[side],
            &contact,
            leg,
            rig,
            pos,
            yaw,
            elevation,
            run_w,
            controls,
            fps,
            scale,
        );
    }
    feet
}

/// Postures that take a foot off its footsteps: kneeling, kicking, lying down.
// Both sides (and every frame) index several arrays in step; indices read clearer than zips.
#[allow(clippy::needless_range_loop)]
pub(super) fn postures(ctx: &Context, path: &RootPath, feet: &mut Feet) {
    let (rig, controls, scale) = (ctx.rig, &ctx.controls, ctx.rig.scale);
    let n = ctx.frames.n;
    let (pos, yaw, elevation) = (&path.pos, &path.yaw, &path.elevation);
    for side in 0..2 {
        let Some(leg) = rig.legs[side].as_ref() else {
            continue;
        };
        for i in 0..n {
            let c = &controls[i];
            let f = forward(yaw[i]);
            let beside = Vec3::new(f.z, 0.0, -f.x) * leg.hip_offset.x;
            let ground = rig.ground + floor_level(elevation[i], scale);
            let under_hip = Vec3::new(pos[i].x, ground, pos[i].y) + beside;
            let foot = &mut feet[side][i];
            // The ankle height that puts the toe (or the heel) on the floor at this foot pitch.
            let ankle_at = |pitch: f32| {
                let toe = (Quat::from_rotation_x(pitch) * leg.toe_vec).y;
                ground - toe.min(0.0) + if pitch < 0.0 { 0.07 * scale } else { 0.0 }
            };
            let kneel = smooth(c.kneel);
            if kneel > 0.0 {
                // First the left foot steps forward, then the right knee goes down under the hip: one
                // foot always carries the body.
                let (target, pitch, w, lift) = if side == 1 {
                    let pitch = 1.2;
                    let at = under_hip - f * 0.39 * scale;
                    let w = smooth((kneel - 0.45) / 0.55);
                    (Vec3::new(at.x, ankle_at(pitch), at.z), pitch, w, 0.04)
                } else {
                    let at = under_hip + f * 0.45 * scale;
                    let w = smooth(kneel / 0.5);
                    (
                        Vec3::new(at.x, ground + leg.ankle_height, at.z),
                        0.0,
                        w,
                        0.12,
                    )
                };
                move_foot(foot, target, pitch, 1.0, w, lift * scale);
                if side == 1 && w >= 0.999 {
                    foot.foot_contact = false;
                }
            }
            if side == 1 && c.kick > 0.0 {
                let target = foot.ankle + f * 0.5 * scale + Vec3::Y * 0.42 * scale;
                move_foot(foot, target, 0.6, 0.0, c.kick, 0.0);
            }
            let lying = lie_profile(c.lie);
            if lying.roll > 0.0 {
                // Legs slide out straight in front of the pelvis on the floor.
                let reach = 0.985 * (leg.thigh + leg.shin) + 0.05 * scale - 0.45 * scale;
                let at = under_hip + f * reach;
                let pitch = -1.2;
                move_foot(
                    foot,
                    Vec3::new(at.x, ankle_at(pitch), at.z),
                    pitch,
                    0.0,
                    lying.roll,
                    0.0,
                );
            }
        }
    }
}

/// The contacts as planned, per foot and toe joint, over the take's own frames.
// Both sides (and every frame) index several arrays in step; indices read clearer than zips.
#[allow(clippy::needless_range_loop)]
pub(super) fn contacts(ctx: &Context, feet: &Feet) -> BTreeMap<String, Vec<bool>> {
    let rig = ctx.rig;
    let Frames { total, pad, .. } = ctx.frames;
    let mut foot_contacts = BTreeMap::new();
    for side in 0..2 {
        let Some(leg) = rig.legs[side].as_ref() else {
            continue;
        };
        let range = pad..pad + total;
        foot_contacts.insert(
            rig.skeleton.joints[leg.ankle].name.clone(),
            feet[side][range.clone()]
                .iter()
                .map(|f| f.foot_contact)
                .collect::<Vec<_>>(),
        );
        if let Some(toe) = leg.toe {
            foot_contacts.insert(
                rig.skeleton.joints[toe].name.clone(),
                feet[side][range].iter().map(|f| f.toe_contact).collect(),
            );
        }
    }
    foot_contacts
}

/// Per-frame state of one foot.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FootState {
    pub(super) ankle: Vec3,
    pub(super) yaw: f32,
    pub(super) pitch: f32,
    /// The toe stays flat on the floor (heel-off roll) instead of following the foot: 1 flat, 0 following.
    pub(super) toe_flat: f32,
    /// Planned contacts of the ankle and of the toe.
    pub(super) foot_contact: bool,
    pub(super) toe_contact: bool,
    /// Part of a stance: the pelvis must keep this foot within reach.
    pub(super) planted: bool,
}

/// A stance interval `[a, b]` (padded frame indices, inclusive) and where its foot is put.
pub(super) struct Stance {
    pub(super) a: usize,
    pub(super) b: usize,
    pub(super) strike: usize,
    pub(super) flat_end: usize,
    pub(super) plant: Vec3,
    pub(super) yaw: f32,
}

/// The floor under a stance: the character's elevation rounded to whole steps (a foot stands on a step
/// or below it, never half-way up its riser).
pub(super) fn floor_level(elevation: f32, scale: f32) -> f32 {
    let step = STEP_HEIGHT * scale;
    (elevation / step).round() * step
}

/// Move a planned foot toward a posture's `target` by `w` (0..1, a smooth ramp), lifting it by `lift` on
/// the way; while it moves it is in the air (no contact, not held by the pelvis).
pub(super) fn move_foot(
    foot: &mut FootState,
    target: Vec3,
    pitch: f32,
    toe_flat: f32,
    w: f32,
    lift: f32,
) {
    let w = w.clamp(0.0, 1.0);
    foot.ankle = foot.ankle.lerp(target, w) + Vec3::Y * lift * (PI * w).sin();
    foot.pitch = lerp(foot.pitch, pitch, w);
    foot.toe_flat = lerp(foot.toe_flat, toe_flat, w);
    if w > 0.001 && w < 0.999 {
        foot.foot_contact = false;
        foot.toe_contact = false;
        foot.planted = false;
    }
}

/// Stance intervals of one foot from its contact schedule, with plants; then the per-frame foot states.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_foot(
    out: &mut [FootState],
    contact: &[bool],
    leg: &Leg,
    rig: &Rig,
    pos: &[Vec2],
    yaw: &[f32],
    elevation: &[f32],
    run_w: &[f32],
    controls: &[Controls],
    fps: f32,
    scale: f32,
) {
    let n = contact.len();
    let floor = rig.ground + leg.ankle_height;
    let mut stances: Vec<Stance> = Vec::new();
    let mut i = 0;
    while i < n {
        if !contact[i] {
            i += 1;
            continue;
        }
        let a = i;
        while i + 1 < n && contact[i + 1] {
            i += 1;
        }
        let b = i;
        i += 1;
        let len = b - a + 1;
        let heel_off = if b + 1 < n {
            ((0.3 * len as f32).min(0.22 * fps)).round() as usize
        } else {
            0
        };
        let strike = if a > 0 {
            ((0.1 * len as f32).min(0.08 * fps)).round() as usize
        } else {
            0
        };
        let flat_end = b.saturating_sub(heel_off).max(a);
        let reference = a + ((flat_end - a) / 2).min((0.3 * fps) as usize);
        let f = forward(yaw[reference]);
        let left = Vec3::new(f.z, 0.0, -f.x);
        let lateral = leg.hip_offset.x.abs().max(0.05 * scale) * leg.hip_offset.x.signum();
        // Feet a little wider when standing than under the hips when walking.
        let width = lateral
            * if controls[reference].idle > 0.5 {
                1.15
            } else {
                1.0
            };
        let p = pos[reference];
        let plant =
            Vec3::new(p.x, floor + floor_level(elevation[reference], scale), p.y) + left * width;
        stances.push(Stance {
            a,
            b,
            strike,
            flat_end,
            plant,
            yaw: yaw[reference],
        });
    }
    if stances.is_empty() {
        // Never on the ground (a take that is all flight): hang under the hip.
        for (i, s) in out.iter_mut().enumerate() {
            let f = forward(yaw[i]);
            let left = Vec3::new(f.z, 0.0, -f.x);
            s.ankle = Vec3::new(pos[i].x, floor, pos[i].y) + left * leg.hip_offset.x;
            s.yaw = yaw[i];
        }
        return;
    }
    let heel_max = |i: usize| lerp(0.6, 0.45, run_w[i]);
    let at_stance = |s: &Stance, i: usize| -> FootState {
        let rot = yaw_q(s.yaw);
        if i < s.a + s.strike {
            let u = (i - s.a) as f32 / s.strike.max(1) as f32;
            FootState {
                ankle: s.plant,
                yaw: s.yaw,
                pitch: -0.2 * (1.0 - smooth(u)),
                toe_flat: 0.0,
                foot_contact: true,
                toe_contact: false,
                planted: true,
            }
        } else if i <= s.flat_end {
            FootState {
                ankle: s.plant,
                yaw: s.yaw,
                pitch: 0.0,
                toe_flat: 1.0,
                foot_contact: true,
                toe_contact: true,
                planted: true,
            }
        } else {
            // Heel-off: the foot rolls over the planted toe.
            let u = (i - s.flat_end) as f32 / (s.b - s.flat_end).max(1) as f32;
            let pitch = heel_max(i) * smooth(u);
            let toe = s.plant + rot * leg.toe_vec;
            FootState {
                ankle: toe - rot * Quat::from_rotation_x(pitch) * leg.toe_vec,
                yaw: s.yaw,
                pitch,
                toe_flat: 1.0,
                foot_contact: false,
                toe_contact: true,
                planted: true,
            }
        }
    };
    for s in &stances {
        for (i, slot) in out.iter_mut().enumerate().take(s.b + 1).skip(s.a) {
            *slot = at_stance(s, i);
        }
    }
    // Swings between stances (and before the first / after the last one).
    let swing = |out: &mut [FootState], from: FootState, to: FootState, a: usize, b: usize| {
        // Frames a+1 ..= b-1 are in the air; a and b are the stance frames around them.
        let span = (b - a).max(1) as f32;
        for (i, slot) in out.iter_mut().enumerate().take(b).skip(a + 1) {
            let u = (i - a) as f32 / span;
            let m = minjerk(u);
            let clearance = scale
                * lerp(0.07, 0.13, run_w[i])
                * if controls[i].jump >= 0.5 { 0.3 } else { 1.0 };
            let mut ankle = from.ankle.lerp(to.ankle, m);
            ankle.y = lerp(from.ankle.y, to.ankle.y, u) + clearance * (PI * u).sin();
            *slot = FootState {
                ankle,
                yaw: from.yaw + wrap_angle(to.yaw - from.yaw) * m,
                pitch: lerp(from.pitch, to.pitch, u),
                // The toe leaves the floor flat and lands following the foot: no snap either way.
                toe_flat: lerp(from.toe_flat, to.toe_flat, m),
                foot_contact: false,
                toe_contact: false,
                planted: false,
            };
        }
    };
    for w in stances.windows(2) {
        let (s0, s1) = (&w[0], &w[1]);
        let from = at_stance(s0, s0.b);
        let to = at_stance(s1, s1.a);
        swing(out, from, to, s0.b, s1.a);
    }
    if let Some(first) = stances.first()
        && first.a > 0
    {
        let to = at_stance(first, first.a);
        let mut from = to;
        from.ankle -= forward(first.yaw) * 0.3 * scale;
        swing(out, from, to, 0, first.a);
        out[0] = from;
    }
    if let Some(last) = stances.last()
        && last.b + 1 < n
    {
        let from = at_stance(last, last.b);
        let mut to = from;
        to.ankle =
            Vec3::new(pos[n - 1].x, from.ankle.y, pos[n - 1].y) + forward(yaw[n - 1]) * 0.3 * scale;
        to.pitch = 0.0;
        swing(out, from, to, last.b, n);
    }
}
