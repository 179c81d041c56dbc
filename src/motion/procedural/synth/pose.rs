//! The pose of each frame: forward kinematics with the legs and arms solved by IK, and the upper body
//! with its gesture layers.

use std::f32::consts::TAU;

use glam::{Mat3, Quat, Vec3};

use super::effectors::EffectorKeys;
use super::feet::{Feet, FootState};
use super::gait::Gait;
use super::path::RootPath;
use super::pelvis::{Pelvis, lie_profile, sit_profile};
use super::{Context, Frames, forward, mirror, yaw_q};
use crate::motion::procedural::actions::{
    Controls, Gesture, Layer, bump, gesture_arm, gesture_bend, gesture_head, lerp, loop_freq,
};
use crate::motion::procedural::rig::{Arm, Leg, Rig, role};
use crate::motion::procedural::style::Style;

/// Poses every frame of the take: the pelvis, the upper body and its gesture layers, and the limbs by
/// two-bone IK onto the feet and hand targets. Returns the rotations and root positions of a `Sample`.
pub(super) fn pose_frames(
    ctx: &Context,
    path: &RootPath,
    gait: &Gait,
    pelvis: &Pelvis,
    feet: &Feet,
    effectors: &EffectorKeys,
) -> (Vec<[f32; 4]>, Vec<[f32; 3]>) {
    let (rig, style, controls) = (ctx.rig, &ctx.style, &ctx.controls);
    let Frames {
        dt,
        total,
        pad,
        loop_seconds,
        ..
    } = ctx.frames;
    let yaw = &path.yaw;
    let (phase, run_w, step_weight) = (&gait.phase, &gait.run_w, &gait.step_weight);
    let Pelvis {
        xz: pelvis_xz,
        y: pelvis_y,
        twist,
        roll,
        ..
    } = pelvis;
    let joints = rig.skeleton.joints.len();
    let mut rotations = Vec::with_capacity(total * joints);
    let mut root_positions = Vec::with_capacity(total);
    for i in pad..pad + total {
        let t = (i as f32 - pad as f32) * dt;
        let c = &controls[i];
        let lying = lie_profile(c.lie);
        let pitch = 0.06 * run_w[i] + 0.15 * c.crouch + 0.05 * c.sit + 0.3 * c.bend
            - 0.15 * c.kick
            - 1.5 * lying.roll;
        let pelvis_rot = yaw_q(yaw[i] + twist[i])
            * Quat::from_rotation_x(pitch)
            * Quat::from_rotation_z(roll[i] * (1.0 - lying.roll));
        let pelvis_pos = Vec3::new(pelvis_xz[i].x, pelvis_y[i], pelvis_xz[i].y);
        let local = upper_body(
            rig,
            style,
            c,
            phase[i],
            step_weight[i],
            run_w[i],
            twist[i],
            t,
            loop_seconds,
        );
        let frame_feet = [feet[0][i], feet[1][i]];
        let real = i - pad;
        let hands: [Option<HandTarget>; 2] = std::array::from_fn(|side| effectors.hand(side, real));
        let (rots, root) = pose_frame(
            rig,
            &local,
            pelvis_pos,
            pelvis_rot,
            &frame_feet,
            &hands,
            yaw[i],
        );
        rotations.extend(rots.iter().map(|q| q.to_array()));
        root_positions.push(root.to_array());
    }
    (rotations, root_positions)
}

/// The right arm's local rotation and elbow bend that point the upper arm along `upper` and the forearm
/// along `fore` (chest frame). The elbow only ever bends about its hinge, forward: never backwards.
pub(super) fn arm_pose(upper: Vec3, fore: Vec3) -> (Quat, f32) {
    let u = upper.try_normalize().unwrap_or(Vec3::NEG_Y);
    let f = fore.try_normalize().unwrap_or(u);
    let bend = u.angle_between(f).clamp(0.0, 2.5);
    // At rest the forearm bends about +Y toward +Z: the hinge is upper × fore.
    let fallback = (Vec3::Y - u * u.y).try_normalize().unwrap_or(Vec3::Z);
    let hinge = u.cross(f).try_normalize().unwrap_or(fallback);
    (frame_rotation(Vec3::NEG_X, Vec3::Y, u, hinge), bend)
}

/// Local rotations of the non-leg joints (by request joint index; identity where no role applies).
#[allow(clippy::too_many_arguments)]
pub(super) fn upper_body(
    rig: &Rig,
    style: &Style,
    c: &Controls,
    phase: f32,
    step_w: f32,
    run: f32,
    pelvis_twist: f32,
    t: f32,
    loop_seconds: Option<f32>,
) -> Vec<Quat> {
    let mut local = vec![Quat::IDENTITY; rig.skeleton.joints.len()];
    let mut set = |r: usize, q: Quat| {
        if let Some(j) = rig.joint(r) {
            local[j] = q;
        }
    };
    let ph = phase * TAU;
    let noise =
        |k: usize, freq: f32| (TAU * loop_freq(freq, loop_seconds) * t + style.noise[k]).sin();
    let seated = sit_profile(c.sit);
    let lying = lie_profile(c.lie);
    let upright = 1.0 - lying.roll;

    // What the gestures add to the spine and the head.
    let (mut bend, mut head_yaw, mut head_pitch, mut chest_yaw) = (c.bend, 0.0, 0.0, 0.0);
    for g in Layer::ALL {
        let s = c.gesture(g);
        if s.weight > 0.0 {
            bend += s.weight * gesture_bend(g, s);
            let (y, p, chest) = gesture_head(g, s);
            head_yaw += s.weight * y;
            head_pitch += s.weight * p;
            chest_yaw += s.weight * chest;
        }
    }
    let shrug = c.gesture(Layer::Gesture(Gesture::Shrug));
    let raise = c.tense + 0.25 * shrug.weight * bump(shrug.t, shrug.dur.min(1.4), 0.4);

    // Spine: counter-rotate the pelvis twist, lean into a run / crouch / sit-down, breathe.
    let posture = style.lean + c.lean + 0.12 * run + 0.3 * c.crouch + seated.lean
        - 0.2 * (c.jump_dy.min(0.0))
        + 0.4 * lying.sit_floor;
    let lean = (posture + bend) * upright;
    let breath =
        0.015 * (1.0 + c.idle) * (TAU * loop_freq(style.breath_freq, loop_seconds) * t).sin();
    let counter = -pelvis_twist * 1.3 / 3.0 + chest_yaw / 3.0;
    let alive = 0.02 * noise(0, 0.13) + 0.03 * c.idle * noise(1, 0.07);
    set(
        role::SPINE,
        Quat::from_rotation_y(counter) * Quat::from_rotation_x(lean * 0.4),
    );
    set(
        role::SPINE1,
        Quat::from_rotation_y(counter) * Quat::from_rotation_x(lean * 0.3 + breath),
    );
    set(
        role::SPINE2,
        Quat::from_rotation_y(counter + alive) * Quat::from_rotation_x(lean * 0.3 + breath),
    );
    // The head keeps looking where the body goes (undoing the lean, not a bow), looks around a little.
    let look_yaw = 0.04 * noise(2, 0.11) + 0.2 * c.idle * noise(3, 0.05) + head_yaw;
    let look_pitch = 0.03 * noise(4, 0.09) + c.head + head_pitch;
    let keep_level = posture * upright;
    set(
        role::NECK,
        Quat::from_rotation_y(-0.3 * pelvis_twist + 0.4 * look_yaw)
            * Quat::from_rotation_x(-0.5 * keep_level + 0.4 * look_pitch),
    );
    set(
        role::HEAD,
        Quat::from_rotation_y(0.6 * look_yaw)
            * Quat::from_rotation_x(-0.3 * keep_level + 0.6 * look_pitch),
    );

    // Arms: hang, swing against the legs, bend more when running; postures and gestures take them over.
    let swing_amp = style.arm_swing * c.size * lerp(0.3, 0.65, run) * step_w;
    let extra_fwd = 0.25 * c.crouch + 0.45 * seated.drop + 0.3 * c.kneel;
    let elbow =
        lerp(style.elbow, 1.45, run) + 0.5 * c.crouch + 0.4 * c.sit + 0.3 * c.jump + c.elbow;
    let down = style.arm_down;
    let reach_forward = arm_pose(Vec3::new(-0.12, 0.05, 1.0), Vec3::new(-0.05, 0.0, 1.0));
    for (side, swing) in [(0usize, -ph.cos()), (1usize, ph.cos())] {
        let fwd = swing * swing_amp + extra_fwd + c.jump_arm * c.jump;
        // Right side built directly; the left one is its mirror image.
        let mut arm = Quat::from_rotation_x(-fwd) * Quat::from_rotation_z(down);
        let mut bend = elbow;
        let mut layer = |(q, e): (Quat, f32), w: f32| {
            let w = w.clamp(0.0, 1.0);
            if w > 0.0 {
                arm = arm.slerp(q, w);
                bend = lerp(bend, e, w);
            }
        };
        layer(reach_forward, c.arms_forward);
        for g in Layer::ALL {
            let s = c.gesture(g);
            let w = s.weight * s.arms[side];
            if w > 0.0
                && let Some((u, f)) = gesture_arm(g, s, side)
            {
                layer(arm_pose(u, f), w);
            }
        }
        let (r_sh, r_arm, r_fore) = if side == 0 {
            (role::L_SHOULDER, role::L_ARM, role::L_FOREARM)
        } else {
            (role::R_SHOULDER, role::R_ARM, role::R_FOREARM)
        };
        let m = |q: Quat| if side == 0 { mirror(q) } else { q };
        set(r_sh, m(Quat::from_rotation_z(-raise)));
        set(r_arm, m(arm));
        set(r_fore, m(Quat::from_rotation_y(bend.max(0.0))));
    }
    local
}

/// Rotation taking the rest frame (bone direction + hinge axis) onto the posed one.
pub(super) fn frame_rotation(rest_dir: Vec3, rest_axis: Vec3, dir: Vec3, axis: Vec3) -> Quat {
    let basis = |d: Vec3, a: Vec3| -> Option<Mat3> {
        let d = d.try_normalize()?;
        let a = (a - d * a.dot(d)).try_normalize()?;
        Some(Mat3::from_cols(d, a, d.cross(a)))
    };
    match (basis(rest_dir, rest_axis), basis(dir, axis)) {
        (Some(m0), Some(m1)) => Quat::from_mat3(&(m1 * m0.transpose())).normalize(),
        _ => Quat::IDENTITY,
    }
}

/// Forward kinematics of one frame with the legs solved by IK. Returns local rotations and the root's
/// world position.
pub(super) fn pose_frame(
    rig: &Rig,
    local_in: &[Quat],
    pelvis_pos: Vec3,
    pelvis_rot: Quat,
    feet: &[FootState; 2],
    hands: &[Option<HandTarget>; 2],
    heading: f32,
) -> (Vec<Quat>, Vec3) {
    let joints = &rig.skeleton.joints;
    let count = joints.len();
    let mut world_rot = vec![Quat::IDENTITY; count];
    let mut world_pos = vec![Vec3::ZERO; count];
    let mut local = local_in.to_vec();
    let mut override_world: Vec<Option<Quat>> = vec![None; count];
    let mut root_pos = pelvis_pos;
    for j in 0..count {
        let offset = Vec3::from(joints[j].rest_translation);
        let offset = if offset.is_finite() {
            offset
        } else {
            Vec3::ZERO
        };
        match joints[j].parent.filter(|&p| p < j) {
            None => {
                world_rot[j] = pelvis_rot;
                world_pos[j] = if j == rig.pelvis {
                    pelvis_pos
                } else {
                    // The pelvis sits under a root (a "Root" at the floor): carry the root so the pelvis lands
                    // where it should, with identity rotations in between.
                    pelvis_pos - pelvis_rot * (rig.rest_world[rig.pelvis] - rig.rest_world[j])
                };
                if j == rig.root {
                    root_pos = world_pos[j];
                }
                local[j] = pelvis_rot;
            }
            Some(p) => {
                world_pos[j] = world_pos[p] + world_rot[p] * offset;
                let world = if j == rig.pelvis {
                    pelvis_rot
                } else if let Some(w) = override_world[j] {
                    w
                } else if let Some((arm, target)) =
                    rig.arms.iter().zip(hands).find_map(|(a, h)| match (a, h) {
                        (Some(a), Some(h)) if a.upper == j => Some((a, h)),
                        _ => None,
                    })
                {
                    let fk = world_rot[p] * local[j];
                    solve_arm(
                        arm,
                        world_pos[j],
                        fk,
                        local[arm.fore],
                        local[arm.hand],
                        target,
                        heading,
                        &mut override_world,
                    )
                } else if let Some(side) = rig
                    .legs
                    .iter()
                    .position(|l| l.as_ref().is_some_and(|l| l.up == j))
                {
                    match rig.legs[side].as_ref() {
                        Some(leg) => {
                            solve_leg(leg, world_pos[j], &feet[side], heading, &mut override_world)
                        }
                        None => world_rot[p] * local[j],
                    }
                } else {
                    world_rot[p] * local[j]
                };
                world_rot[j] = world;
                local[j] = (world_rot[p].inverse() * world).normalize();
            }
        }
    }
    (local, root_pos)
}

/// A hand's goal at one frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct HandTarget {
    pub(super) position: Vec3,
    pub(super) weight: f32,
    /// Local rotation of the hand, when the constraint gives one.
    pub(super) rotation: Option<Quat>,
}

/// Two-bone IK on an arm toward a hand target, blended with the animated arm by the target's weight; the
/// elbow points down and back. Writes the forearm and hand world rotations; returns the upper arm's.
#[allow(clippy::too_many_arguments)]
pub(super) fn solve_arm(
    arm: &Arm,
    shoulder: Vec3,
    fk_upper: Quat,
    fore_local: Quat,
    hand_local: Quat,
    target: &HandTarget,
    heading: f32,
    overrides: &mut [Option<Quat>],
) -> Quat {
    let (l1, l2) = (arm.upper_len, arm.fore_len);
    let to = target.position - shoulder;
    let dist = to
        .length()
        .clamp(1e-4 + (l1 - l2).abs(), (l1 + l2) * 0.9999);
    let u = to.try_normalize().unwrap_or(Vec3::NEG_Y);
    let elbow_dir = Vec3::NEG_Y - forward(heading) * 0.5;
    let pole = (elbow_dir - u * elbow_dir.dot(u))
        .try_normalize()
        .unwrap_or(-forward(heading));
    let a = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist);
    let h = (l1 * l1 - a * a).max(0.0).sqrt();
    let elbow = shoulder + u * a + pole * h;
    let wrist = shoulder + u * dist;
    // At rest the elbow would bend the forearm forward, the elbow itself pointing back (-Z).
    let rest_hinge = Vec3::NEG_Z
        .cross(arm.rest_upper_dir)
        .try_normalize()
        .unwrap_or(Vec3::Y);
    let hinge = pole.cross(u).try_normalize().unwrap_or(rest_hinge);
    let ik_upper = frame_rotation(arm.rest_upper_dir, rest_hinge, elbow - shoulder, hinge);
    let ik_fore = frame_rotation(arm.rest_fore_dir, rest_hinge, wrist - elbow, hinge);
    let w = target.weight.clamp(0.0, 1.0);
    let upper = fk_upper.slerp(ik_upper, w);
    let fore = (fk_upper * fore_local).slerp(ik_fore, w);
    overrides[arm.fore] = Some(fore);
    let hand_goal = target
        .rotation
        .map(|q| fore * q.normalize())
        .unwrap_or(fore);
    overrides[arm.hand] = Some((fore * hand_local).slerp(hand_goal, w));
    upper
}

/// Two-bone IK: thigh and shin from the hip to the planned ankle, knee toward the facing direction; the
/// foot (and the toe) oriented as planned. Writes the shin, foot and toe world rotations to `overrides`
/// and returns the thigh's.
pub(super) fn solve_leg(
    leg: &Leg,
    hip: Vec3,
    foot: &FootState,
    heading: f32,
    overrides: &mut [Option<Quat>],
) -> Quat {
    let target = foot.ankle;
    let (l1, l2) = (leg.thigh, leg.shin);
    let to = target - hip;
    let dist = soft_reach(to.length(), l1 + l2).max(1e-4 + (l1 - l2).abs());
    let u = to.try_normalize().unwrap_or(Vec3::NEG_Y);
    let facing = (forward(heading) + forward(foot.yaw))
        .try_normalize()
        .unwrap_or(Vec3::Z);
    let pole = (facing - u * facing.dot(u))
        .try_normalize()
        .unwrap_or(Vec3::Z);
    let a = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist);
    let h = (l1 * l1 - a * a).max(0.0).sqrt();
    let knee = hip + u * a + pole * h;
    let ankle = hip + u * dist;
    // Hinge axis of the knee: + X at rest (left), bending the shin backwards.
    let hinge = pole.cross(u).try_normalize().unwrap_or(Vec3::X);
    let thigh_rot = frame_rotation(leg.rest_thigh_dir, Vec3::X, knee - hip, hinge);
    let shin_rot = frame_rotation(leg.rest_shin_dir, Vec3::X, ankle - knee, hinge);
    let foot_rot = yaw_q(foot.yaw) * Quat::from_rotation_x(foot.pitch);
    overrides[leg.knee] = Some(shin_rot);
    overrides[leg.ankle] = Some(foot_rot);
    if let Some(toe) = leg.toe {
        overrides[toe] = Some(foot_rot.slerp(yaw_q(foot.yaw), foot.toe_flat.clamp(0.0, 1.0)));
    }
    thigh_rot
}

/// "Soft IK": a leg straightens gradually over the last 2 % of its reach instead of snapping straight,
/// so a foot trailing out of reach (the push-off of a run) does not make the knee pop. Within 0.98 of
/// the reach the distance is unchanged, which is where planted feet are kept (the reach limit).
pub(super) fn soft_reach(dist: f32, reach: f32) -> f32 {
    let soft = 0.98 * reach;
    if dist <= soft {
        return dist;
    }
    let band = reach - soft;
    soft + band * (1.0 - (-(dist - soft) / band).exp()) * 0.9999
}
