//! The synthesis of one sample: segments -> clauses (prompt.rs) -> behaviours and their per-frame
//! controls, blended at clause boundaries (actions.rs) -> root trajectory (bent onto any `root_path`) ->
//! gait phase and footstep plan -> postures that move the feet (kneel, kick, lie) -> pelvis -> legs by
//! two-bone IK onto planted feet -> upper body and gesture layers -> pose keyframes -> loop closure.
//!
//! Feet are planned in world space and reached by IK, rather than animated as joint curves, so a planted
//! foot stays where it was put whatever the root does (turns, curved paths, speed changes, other leg
//! lengths): that is what keeps contacts from sliding.

use std::f32::consts::{PI, TAU};

use glam::{Mat3, Quat, Vec2, Vec3};

use super::actions::{
    Behaviour, Controls, Gesture, STEP_HEIGHT, bump, gesture_arm, gesture_bend, gesture_head, lerp,
    loop_freq, smooth,
};
use super::prompt::{self, Intent};
use super::rig::{Arm, Leg, Rig, role};
use super::style::{Dice, Style, mix};
use super::{EffectorKey, Plan, PoseKey};
use crate::motion::take::Sample;

/// Minimum-jerk profile for the swing foot's travel.
fn minjerk(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)
}

fn forward(yaw: f32) -> Vec3 {
    Vec3::new(yaw.sin(), 0.0, yaw.cos())
}

fn yaw_q(yaw: f32) -> Quat {
    Quat::from_rotation_y(yaw)
}

/// Mirror a right-side rotation onto the left side (reflection through the X = 0 plane).
fn mirror(q: Quat) -> Quat {
    Quat::from_xyzw(q.x, -q.y, -q.z, q.w)
}

fn wrap_angle(a: f32) -> f32 {
    (a + PI).rem_euclid(TAU) - PI
}

/// Per-frame state of one foot.
#[derive(Debug, Clone, Copy, Default)]
struct FootState {
    ankle: Vec3,
    yaw: f32,
    pitch: f32,
    /// The toe stays flat on the floor (heel-off roll) instead of following the foot: 1 flat, 0 following.
    toe_flat: f32,
    /// Planned contacts of the ankle and of the toe.
    foot_contact: bool,
    toe_contact: bool,
    /// Part of a stance: the pelvis must keep this foot within reach.
    planted: bool,
}

/// A stance interval `[a, b]` (padded frame indices, inclusive) and where its foot is put.
struct Stance {
    a: usize,
    b: usize,
    strike: usize,
    flat_end: usize,
    plant: Vec3,
    yaw: f32,
}

/// Build one sample. `seed` is the sample's own seed (already mixed with its index).
// The passes below walk several per-frame (and per-side) arrays in step; indices read clearer than zips.
#[allow(clippy::needless_range_loop)]
pub(super) fn sample(plan: &Plan, rig: &Rig, seed: u64, notes: &mut Vec<String>) -> Sample {
    let fps = plan.fps;
    let dt = 1.0 / fps;
    let total = plan.total_frames.max(1);
    let looped = plan.looped && total > 1;
    let loop_seconds = looped.then(|| (total - 1) as f32 / fps);
    let pad = if looped {
        0
    } else {
        ((1.5 * fps).ceil() as usize).max(2)
    };
    let n = total + 2 * pad;
    let scale = rig.scale;

    let mut dice = Dice::new(seed);
    let style = Style::draw(&mut dice);

    // ---- segments -> clauses -> behaviours -> controls per padded frame
    let mut behaviours: Vec<Behaviour> = Vec::new();
    let mut start = 0i64;
    for (k, seg) in plan.segments.iter().enumerate() {
        let segment_seed = match seg.seed {
            Some(s) => mix(s, 0x5e9),
            None => mix(seed, 1000 + k as u64),
        };
        let frames = seg.frames.max(1);
        let mut clauses: Vec<(Intent, usize)> = match seg.prompt.as_deref() {
            Some(p) => {
                let reading = prompt::read(p);
                let allotted = prompt::allot(&reading, frames, fps);
                reading.clauses.into_iter().zip(allotted).collect()
            }
            None => vec![(Intent::idle(), frames)],
        };
        if seg.pose {
            // A pose shows where the sentence ends up ("walks, then sits": seated).
            clauses = clauses
                .pop()
                .map(|(i, _)| vec![(i, frames)])
                .unwrap_or_default();
        }
        for (c, (intent, clause_frames)) in clauses.into_iter().enumerate() {
            // The first clause keeps the segment's own stream: a one-clause prompt varies as it always did.
            let mut clause_dice = Dice::new(if c == 0 {
                segment_seed
            } else {
                mix(segment_seed, c as u64)
            });
            let mut behaviour = Behaviour::new(
                intent,
                start,
                clause_frames as i64,
                fps,
                &style,
                &mut clause_dice,
                scale,
            );
            behaviour.pose = seg.pose;
            behaviours.push(behaviour);
            start += clause_frames as i64;
        }
    }
    if behaviours.is_empty() {
        behaviours.push(Behaviour::new(
            Intent::idle(),
            0,
            total as i64,
            fps,
            &style,
            &mut dice,
            scale,
        ));
    }
    let controls: Vec<Controls> = (0..n)
        .map(|i| {
            let f = i as i64 - pad as i64;
            let k = behaviours.iter().rposition(|b| b.start <= f).unwrap_or(0);
            let at = |b: &Behaviour| {
                if b.pose {
                    b.controls(0.8, true, loop_seconds)
                } else {
                    b.controls((f - b.start) as f32 / fps, looped, loop_seconds)
                }
            };
            let here = at(&behaviours[k]);
            // Blend with the previous behaviour inside the window centred on their boundary,
            // and with the next one when the window of the next boundary starts before it.
            if k > 0 {
                let width =
                    behaviours[k].transition(&behaviours[k - 1], plan.transition_frames, fps);
                let into = f - behaviours[k].start;
                if width > 0 && into < width - width / 2 {
                    let w = smooth((into + width / 2) as f32 / width as f32);
                    return Controls::blend(&at(&behaviours[k - 1]), &here, w);
                }
            }
            if k + 1 < behaviours.len() {
                let next = &behaviours[k + 1];
                let width = next.transition(&behaviours[k], plan.transition_frames, fps);
                let until = next.start - f;
                if width > 0 && until <= width / 2 {
                    let w = smooth((width / 2 - until) as f32 / width as f32);
                    return Controls::blend(&here, &at(next), w);
                }
            }
            here
        })
        .collect();

    // ---- root trajectory on the floor
    let rest_pelvis = rig.rest_world[rig.pelvis];
    let mut yaw = vec![0.0f32; n];
    let mut pos = vec![Vec2::ZERO; n];
    // Height of the floor under the character (it climbs steps), relative to the rest floor.
    let mut elevation = vec![0.0f32; n];
    for i in 1..n {
        let c = &controls[i];
        yaw[i] = yaw[i - 1] + c.turn_rate * dt;
        let mid = yaw[i - 1] + 0.5 * c.turn_rate * dt;
        let f = forward(mid);
        let left = Vec2::new(f.z, -f.x);
        pos[i] = pos[i - 1] + (Vec2::new(f.x, f.z) * c.speed + left * c.side_speed) * dt;
        elevation[i] = elevation[i - 1] + c.climb_rate * dt;
    }
    let e0 = elevation[pad];
    for e in &mut elevation {
        *e -= e0;
    }
    // Frame 0 of the take starts at the rig's rest position, facing +Z.
    let (p0, y0) = (pos[pad], yaw[pad]);
    let unrot = Quat::from_rotation_y(-y0);
    for i in 0..n {
        let d = unrot * Vec3::new(pos[i].x - p0.x, 0.0, pos[i].y - p0.y);
        pos[i] = Vec2::new(d.x + rest_pelvis.x, d.z + rest_pelvis.z);
        yaw[i] -= y0;
    }
    if !plan.root_path.is_empty() {
        apply_root_path(plan, pad, &mut pos, &mut yaw, fps, notes);
    }

    // ---- gait from the trajectory actually followed
    let mut speed = vec![0.0f32; n];
    let mut turn = vec![0.0f32; n];
    for i in 0..n {
        let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
        if b > a {
            let d = (pos[b] - pos[a]) / ((b - a) as f32 * dt);
            let f = forward(yaw[i]);
            let along = d.x * f.x + d.y * f.z;
            speed[i] = if along < 0.0 { -d.length() } else { d.length() };
            turn[i] = wrap_angle(yaw[b] - yaw[a]) / ((b - a) as f32 * dt);
        }
    }
    let speed = box_blur(&speed, ((0.15 * fps).round() as usize).max(1));
    let fastest = speed.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if fastest > 7.0 * scale {
        notes.push(format!(
            "the path asks for {fastest:.1} m/s, faster than the character can run; the feet slide"
        ));
    }
    let mut phase = vec![0.0f32; n];
    let mut duty = vec![1.0f32; n];
    let mut run_w = vec![0.0f32; n];
    let mut acc = style.phase0;
    for i in 0..n {
        let c = &controls[i];
        let v = speed[i].abs() / scale;
        let r = c.run.max(smooth((v - 2.0) / 0.6));
        run_w[i] = r;
        let grounded = c.jump < 0.5 && c.sit < 0.5 && c.kneel < 0.5 && c.lie < 0.1;
        let stepping = (v > 0.08 || turn[i].abs() > 0.25 || c.step_in_place > 0.5) && grounded;
        let stride = scale * style.stride * lerp(1.0 + 0.3 * v, 1.25 + 0.3 * v, r);
        let freq = if stepping {
            loop_freq(
                (speed[i].abs() / stride)
                    .max(lerp(0.8, 1.3, r))
                    .max(c.step_in_place),
                loop_seconds,
            )
        } else {
            0.0
        };
        if i > 0 {
            acc += freq * dt;
        }
        phase[i] = acc;
        duty[i] = if stepping { lerp(0.6, 0.36, r) } else { 1.0 };
    }

    // How much the body steps (0..1), faded in and out so the gait's sway, bob and arm swing start and
    // stop without a jolt.
    let fade = ((0.12 * fps).round() as usize).max(1);
    let stepping: Vec<f32> = duty
        .iter()
        .map(|d| if *d < 1.0 { 1.0 } else { 0.0 })
        .collect();
    let step_weight = box_blur(&box_blur(&stepping, fade), fade);

    // ---- pelvis (before reach limits)
    let mut pelvis_xz = vec![Vec2::ZERO; n];
    let mut pelvis_y = vec![0.0f32; n];
    let mut twist = vec![0.0f32; n];
    let mut roll = vec![0.0f32; n];
    let mut crouch_drop = vec![0.0f32; n];
    for i in 0..n {
        let c = &controls[i];
        let t = (i as f32 - pad as f32) * dt;
        let ph = phase[i] * TAU;
        let r = run_w[i];
        let step_w = step_weight[i];
        let bob = step_w
            * style.bob
            * lerp(
                -0.018 * (2.0 * ph).cos(),
                -0.035 * (2.0 * (ph - 0.17 * TAU)).cos(),
                r,
            );
        let sway_freq = loop_freq(style.sway_freq, loop_seconds);
        let beat = TAU * loop_freq(2.0, loop_seconds) * t;
        let lateral = step_w * (0.022 * (1.0 - r) + c.sway) * ph.sin()
            + c.idle * (style.sway_amp + c.sway) * (TAU * sway_freq * t + style.sway_phase).sin()
            + c.dance * 0.04 * (0.5 * beat).sin()
            + 0.05 * c.kick;
        let seated = sit_profile(c.sit);
        let lying = lie_profile(c.lie);
        // Crouching is bent knees while standing: sitting, kneeling and lying replace it.
        let crouch = c.crouch * (1.0 - seated.drop.max(c.kneel).max(lying.sit_floor));
        let back = 0.32 * seated.back + 0.12 * crouch + 0.2 * c.bend + 0.45 * lying.sit_floor;
        let f = forward(yaw[i]);
        let left = Vec2::new(f.z, -f.x);
        pelvis_xz[i] = pos[i] + (left * lateral - Vec2::new(f.x, f.z) * back) * scale;
        let height = rest_pelvis.y - rig.ground;
        let seat = height - SEAT_PELVIS * scale;
        let kneel = height - KNEEL_PELVIS * scale;
        let floor = height - FLOOR_PELVIS * scale;
        let bounce = bob * (1.0 + c.bounce) - c.dance * 0.03 * beat.cos().abs();
        let down = (seat.max(0.0) * seated.drop)
            .max(kneel.max(0.0) * smooth(c.kneel))
            .max(floor.max(0.0) * lying.sit_floor);
        // Bent knees lower the pelvis from where the stride leaves it: applied after the reach limit.
        crouch_drop[i] = (0.32 * crouch * scale - down).max(0.0);
        pelvis_y[i] = rest_pelvis.y + bounce * scale - down + c.jump_dy * scale + elevation[i];
        twist[i] = -step_w * style.twist * c.size.max(0.3) * lerp(0.1, 0.17, r) * ph.cos();
        roll[i] = step_w * 0.04 * (1.0 - r) * ph.sin() + c.idle * 0.6 * lateral / scale.max(0.1);
    }

    // ---- footsteps
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
            &pos,
            &yaw,
            &elevation,
            &run_w,
            &controls,
            fps,
            scale,
        );
    }

    // ---- postures that take a foot off its footsteps: kneeling, kicking, lying down
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

    // ---- keep planted feet within reach: lower the pelvis where they would not be
    let reach_limit: Vec<f32> = (0..n)
        .map(|i| {
            let mut limit = f32::INFINITY;
            for side in 0..2 {
                let Some(leg) = rig.legs[side].as_ref() else {
                    continue;
                };
                let foot = &feet[side][i];
                if !foot.planted {
                    continue;
                }
                let hip =
                    Vec3::new(pelvis_xz[i].x, 0.0, pelvis_xz[i].y) + yaw_q(yaw[i]) * leg.hip_offset;
                let reach = 0.98 * (leg.thigh + leg.shin);
                let d = Vec2::new(hip.x - foot.ankle.x, hip.z - foot.ankle.z).length();
                let up = (reach * reach - d * d).max(0.0).sqrt();
                limit = limit.min(foot.ankle.y + up - leg.hip_offset.y);
            }
            limit
        })
        .collect();
    let radius = ((0.12 * fps).round() as usize).max(1);
    let limit = box_blur(&erode(&reach_limit, radius), radius);
    for i in 0..n {
        // In the flight of a jump no foot holds the pelvis down (the smoothing above would otherwise
        // carry the standing limit into the air and flatten the jump).
        let airborne = controls[i].jump >= 0.5 && !feet.iter().any(|f| f[i].planted);
        if limit[i].is_finite() && !airborne {
            pelvis_y[i] = pelvis_y[i].min(limit[i]);
        }
        pelvis_y[i] -= crouch_drop[i];
    }
    // A foot in the air hangs from its hip: it cannot be further away than the leg is long.
    for side in 0..2 {
        let Some(leg) = rig.legs[side].as_ref() else {
            continue;
        };
        for i in 0..n {
            let foot = &mut feet[side][i];
            if !foot.planted {
                let hang = pelvis_y[i] + leg.hip_offset.y - 0.97 * (leg.thigh + leg.shin);
                foot.ankle.y = foot.ankle.y.max(hang);
            }
        }
    }

    // ---- effector targets: feet move their planned ankle, hands bend the arm in the pose pass
    let effector_width = (plan.transition_frames.max((0.3 * fps).round() as usize)).max(1) as f32;
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

    // ---- pose every frame
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
            &style,
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
        let hands: [Option<HandTarget>; 2] = std::array::from_fn(|side| {
            let (key, weight) = effector_at(&hand_keys[side], real, effector_width)?;
            let p = Vec3::from(key.position);
            p.is_finite().then(|| HandTarget {
                position: p,
                weight,
                rotation: key
                    .rotation
                    .map(Quat::from_array)
                    .filter(|q| q.is_finite() && q.length() > 1e-6),
            })
        });
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

    // ---- contacts as planned
    let mut foot_contacts = std::collections::BTreeMap::new();
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

    let mut sample = Sample {
        rotations,
        root_positions,
        foot_contacts,
        ..Sample::default()
    };
    for key in &plan.pose_keys {
        apply_pose_key(
            &mut sample,
            rig,
            key,
            total,
            plan.transition_frames,
            fps,
            notes,
        );
    }
    if looped {
        close_loop(&mut sample, rig, total, yaw[pad + total - 1] - yaw[pad]);
    }
    if !plan.pose_keys.is_empty() || looped {
        drop_sliding_contacts(&mut sample, rig, total, fps);
    }
    let range = pad..pad + total;
    sample.trajectory = Some(super::trajectory::trajectory(
        &pos[range.clone()],
        &yaw[range],
        fps,
        looped,
        &sample.foot_contacts,
    ));
    sample
}

/// The floor under a stance: the character's elevation rounded to whole steps (a foot stands on a step
/// or below it, never half-way up its riser).
fn floor_level(elevation: f32, scale: f32) -> f32 {
    let step = STEP_HEIGHT * scale;
    (elevation / step).round() * step
}

/// Move a planned foot toward a posture's `target` by `w` (0..1, a smooth ramp), lifting it by `lift` on
/// the way; while it moves it is in the air (no contact, not held by the pelvis).
fn move_foot(foot: &mut FootState, target: Vec3, pitch: f32, toe_flat: f32, w: f32, lift: f32) {
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
fn plan_foot(
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

/// Pelvis height (m above the floor, standard skeleton) when seated on a chair, kneeling on one knee, and
/// sitting or lying on the floor.
const SEAT_PELVIS: f32 = 0.47;
const KNEEL_PELVIS: f32 = 0.54;
const FLOOR_PELVIS: f32 = 0.14;

/// A sit-down at progress `s` (0 standing, 1 seated): how far the pelvis has dropped and moved back
/// (0..1 of the way), and the trunk's forward lean (radians), which peaks late so the centre of mass
/// stays over the feet until the pelvis is nearly on the seat.
struct Seated {
    drop: f32,
    back: f32,
    lean: f32,
}

fn sit_profile(s: f32) -> Seated {
    let s = s.clamp(0.0, 1.0);
    let drop = smooth(s);
    Seated {
        drop,
        back: drop * drop,
        lean: 0.1 * s + 0.75 * (PI * s.powf(1.6)).sin().max(0.0),
    }
}

/// Lying down at progress `l`: the first half sits down on the floor (`sit_floor`), the second rolls back
/// onto the back with the legs sliding out straight (`roll`).
struct Lying {
    sit_floor: f32,
    roll: f32,
}

fn lie_profile(l: f32) -> Lying {
    let l = l.clamp(0.0, 1.0);
    Lying {
        sit_floor: smooth(l / 0.5),
        roll: smooth((l - 0.5) / 0.5),
    }
}

/// The right arm's local rotation and elbow bend that point the upper arm along `upper` and the forearm
/// along `fore` (chest frame). The elbow only ever bends about its hinge, forward: never backwards.
fn arm_pose(upper: Vec3, fore: Vec3) -> (Quat, f32) {
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
fn upper_body(
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
    for g in Gesture::ALL {
        let s = c.gesture(g);
        if s.weight > 0.0 {
            bend += s.weight * gesture_bend(g, s);
            let (y, p, chest) = gesture_head(g, s);
            head_yaw += s.weight * y;
            head_pitch += s.weight * p;
            chest_yaw += s.weight * chest;
        }
    }
    let shrug = c.gesture(Gesture::Shrug);
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
        for g in Gesture::ALL {
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
fn frame_rotation(rest_dir: Vec3, rest_axis: Vec3, dir: Vec3, axis: Vec3) -> Quat {
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
fn pose_frame(
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
struct HandTarget {
    position: Vec3,
    weight: f32,
    /// Local rotation of the hand, when the constraint gives one.
    rotation: Option<Quat>,
}

/// Two-bone IK on an arm toward a hand target, blended with the animated arm by the target's weight; the
/// elbow points down and back. Writes the forearm and hand world rotations; returns the upper arm's.
#[allow(clippy::too_many_arguments)]
fn solve_arm(
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
fn solve_leg(
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
fn soft_reach(dist: f32, reach: f32) -> f32 {
    let soft = 0.98 * reach;
    if dist <= soft {
        return dist;
    }
    let band = reach - soft;
    soft + band * (1.0 - (-(dist - soft) / band).exp()) * 0.9999
}

/// Bend the root trajectory through the `root_path` keys (exactly at their frames), facing along it.
#[allow(clippy::needless_range_loop)]
fn apply_root_path(
    plan: &Plan,
    pad: usize,
    pos: &mut [Vec2],
    yaw: &mut [f32],
    fps: f32,
    notes: &mut Vec<String>,
) {
    let n = pos.len();
    let mut keys: Vec<(usize, Vec2, Option<f32>)> = Vec::new();
    for k in &plan.root_path {
        if !(k.xz[0].is_finite() && k.xz[1].is_finite()) {
            notes.push(format!(
                "root_path point at frame {} is not finite; ignored",
                k.frame
            ));
            continue;
        }
        let heading = k.heading.filter(|h| h.is_finite());
        keys.retain(|(f, _, _)| *f != k.frame + pad);
        keys.push((k.frame + pad, Vec2::from(k.xz), heading));
    }
    keys.sort_by_key(|k| k.0);
    keys.retain(|k| k.0 < n);
    let Some(&(first, p_first, h_first)) = keys.first() else {
        return;
    };
    let orig_pos = pos.to_vec();
    let orig_yaw = yaw.to_vec();
    let dt = 1.0 / fps;
    if keys.len() == 1 {
        let shift = p_first - orig_pos[first];
        let turn = h_first
            .map(|h| wrap_angle(h - orig_yaw[first]))
            .unwrap_or(0.0);
        let r = Quat::from_rotation_y(turn);
        for i in 0..n {
            let d = r * Vec3::new(
                orig_pos[i].x - orig_pos[first].x,
                0.0,
                orig_pos[i].y - orig_pos[first].y,
            );
            pos[i] = p_first + Vec2::new(d.x, d.z);
            yaw[i] = orig_yaw[i] + turn;
        }
        let _ = shift;
        return;
    }
    // Cubic Hermite through the keys, tangents from the neighbours (per frame).
    let tangent = |k: usize| -> Vec2 {
        let (a, b) = (k.saturating_sub(1), (k + 1).min(keys.len() - 1));
        (keys[b].1 - keys[a].1) / (keys[b].0 as f32 - keys[a].0 as f32).max(1.0)
    };
    let (last, p_last, _) = keys[keys.len() - 1];
    for w in 0..keys.len() - 1 {
        let (f0, p0, _) = keys[w];
        let (f1, p1, _) = keys[w + 1];
        let span = (f1 - f0) as f32;
        let (m0, m1) = (tangent(w) * span, tangent(w + 1) * span);
        for (i, slot) in pos.iter_mut().enumerate().take(f1 + 1).skip(f0) {
            let s = (i - f0) as f32 / span;
            let (s2, s3) = (s * s, s * s * s);
            *slot = p0 * (2.0 * s3 - 3.0 * s2 + 1.0)
                + m0 * (s3 - 2.0 * s2 + s)
                + p1 * (-2.0 * s3 + 3.0 * s2)
                + m1 * (s3 - s2);
        }
    }
    // Facing: along the path where it moves, the given headings where there are some.
    let mut prev = orig_yaw[first];
    let min_step = 0.05 * dt;
    for i in first..=last {
        let (a, b) = (i.saturating_sub(1).max(first), (i + 1).min(last));
        let d = pos[b] - pos[a];
        if d.length() > min_step * (b - a) as f32 {
            prev = prev + wrap_angle(d.x.atan2(d.y) - prev);
        }
        yaw[i] = prev;
    }
    if keys.iter().any(|k| k.2.is_some()) {
        // Interpolate the headings given (unwrapped, eased) between the keys that have them.
        let given: Vec<(usize, f32)> = keys.iter().filter_map(|k| k.2.map(|h| (k.0, h))).collect();
        let mut unwrapped: Vec<(usize, f32)> = Vec::with_capacity(given.len());
        for (f, h) in given {
            let h = match unwrapped.last() {
                Some(&(_, p)) => p + wrap_angle(h - p),
                None => yaw[f] + wrap_angle(h - yaw[f]),
            };
            unwrapped.push((f, h));
        }
        for i in first..=last {
            let h = match unwrapped.iter().position(|&(f, _)| f >= i) {
                Some(0) => unwrapped[0].1,
                Some(k) => {
                    let ((f0, h0), (f1, h1)) = (unwrapped[k - 1], unwrapped[k]);
                    lerp(h0, h1, smooth((i - f0) as f32 / (f1 - f0).max(1) as f32))
                }
                None => unwrapped[unwrapped.len() - 1].1,
            };
            yaw[i] = h;
        }
    } else {
        let r = ((0.15 * fps).round() as usize).max(1);
        let smoothed = box_blur(&yaw[first..=last], r);
        yaw[first..=last].copy_from_slice(&smoothed);
    }
    // Before the first key and after the last one: the free motion, turned and moved to join the path.
    let join = |i: usize, anchor: usize, at: Vec2, heading: f32| -> (Vec2, f32) {
        let turn = wrap_angle(heading - orig_yaw[anchor]);
        let r = Quat::from_rotation_y(turn);
        let d = r * Vec3::new(
            orig_pos[i].x - orig_pos[anchor].x,
            0.0,
            orig_pos[i].y - orig_pos[anchor].y,
        );
        (at + Vec2::new(d.x, d.z), orig_yaw[i] + turn)
    };
    let (h0, h1) = (yaw[first], yaw[last]);
    for i in 0..first {
        (pos[i], yaw[i]) = join(i, first, p_first, h0);
    }
    for i in last + 1..n {
        (pos[i], yaw[i]) = join(i, last, p_last, h1);
    }
}

/// Blend the listed joints (and the root position) toward a keyframe around its frame.
fn apply_pose_key(
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
fn close_loop(sample: &mut Sample, rig: &Rig, total: usize, turned: f32) {
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

/// What an effector target moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Effector {
    Hand(usize),
    Foot(usize),
    Toe(usize),
}

/// Request joints an `effector_target` can move on this rig, with what they are.
pub(super) fn effector_roles(rig: &Rig) -> Vec<(usize, Effector)> {
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
fn effector_at<'a>(
    keys: &[&'a EffectorKey],
    t: usize,
    width: f32,
) -> Option<(&'a EffectorKey, f32)> {
    let key = keys.iter().min_by_key(|k| k.frame.abs_diff(t))?;
    let d = key.frame.abs_diff(t) as f32;
    (d < width).then(|| (*key, smooth(1.0 - d / width)))
}

/// A contact is a promise that the joint stands still: after keyframes or the loop closure bent the
/// legs, take it back where the joint now moves.
fn drop_sliding_contacts(sample: &mut Sample, rig: &Rig, total: usize, fps: f32) {
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

/// Moving average with a window of `2r + 1`, shrinking at the ends.
fn box_blur(v: &[f32], r: usize) -> Vec<f32> {
    let n = v.len();
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(r), (i + r).min(n.saturating_sub(1)));
            let window = &v[a..=b];
            let finite: Vec<f32> = window.iter().copied().filter(|x| x.is_finite()).collect();
            if finite.is_empty() {
                v[i]
            } else {
                finite.iter().sum::<f32>() / finite.len() as f32
            }
        })
        .collect()
}

/// Running minimum with a window of `2r + 1`: after it, a blur of the same radius stays below the input.
fn erode(v: &[f32], r: usize) -> Vec<f32> {
    let n = v.len();
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(r), (i + r).min(n.saturating_sub(1)));
            v[a..=b].iter().copied().fold(f32::INFINITY, f32::min)
        })
        .collect()
}
