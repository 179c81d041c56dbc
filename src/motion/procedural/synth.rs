//! The synthesis of one sample: segment intents -> per-frame controls -> root trajectory (bent onto any
//! `root_path`) -> gait phase and footstep plan -> pelvis -> legs by two-bone IK onto planted feet ->
//! upper body layers -> pose keyframes -> loop closure.
//!
//! Feet are planned in world space and reached by IK, rather than animated as joint curves, so a planted
//! foot stays where it was put whatever the root does (turns, curved paths, speed changes, other leg
//! lengths): that is what keeps contacts from sliding.

use std::f32::consts::{PI, TAU};

use glam::{Mat3, Quat, Vec2, Vec3};

use super::prompt::{Activity, Hand, Intent};
use super::rig::{Arm, Leg, Rig, role};
use super::style::{Dice, Style, mix};
use super::{EffectorKey, Plan, PoseKey};
use crate::motion::take::Sample;

/// Time ramps and blends use this (C1-continuous).
fn smooth(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Minimum-jerk profile for the swing foot's travel.
fn minjerk(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
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

/// Continuous controls the body follows at one frame; blending two of them blends two behaviours.
#[derive(Debug, Clone, Copy, Default)]
struct Controls {
    /// Signed speed along the heading, m/s (already scaled to the rig).
    speed: f32,
    /// rad/s, + = left.
    turn_rate: f32,
    run: f32,
    crouch: f32,
    sit: f32,
    /// Weight of the jump behaviour and its current pelvis offset, arm swing and flight flag.
    jump: f32,
    jump_dy: f32,
    jump_arm: f32,
    flight: f32,
    wave_l: f32,
    wave_r: f32,
    idle: f32,
}

impl Controls {
    fn blend(a: &Controls, b: &Controls, w: f32) -> Controls {
        Controls {
            speed: lerp(a.speed, b.speed, w),
            turn_rate: lerp(a.turn_rate, b.turn_rate, w),
            run: lerp(a.run, b.run, w),
            crouch: lerp(a.crouch, b.crouch, w),
            sit: lerp(a.sit, b.sit, w),
            jump: lerp(a.jump, b.jump, w),
            jump_dy: lerp(a.jump_dy, b.jump_dy, w),
            jump_arm: lerp(a.jump_arm, b.jump_arm, w),
            flight: lerp(a.flight, b.flight, w),
            wave_l: lerp(a.wave_l, b.wave_l, w),
            wave_r: lerp(a.wave_r, b.wave_r, w),
            idle: lerp(a.idle, b.idle, w),
        }
    }
}

/// One segment as performed by one sample.
struct Behaviour {
    intent: Intent,
    start: i64,
    /// A one-frame `pose` segment: shown settled, at a moment well into the motion.
    pose: bool,
    speed: f32,
    turn: f32,
    turn_time: f32,
    jump_period: f32,
    jump_height: f32,
    jump_dist: f32,
}

/// Quantise a frequency so a looping clip holds a whole number of cycles.
fn loop_freq(freq: f32, loop_seconds: Option<f32>) -> f32 {
    match loop_seconds {
        Some(d) if d > 0.0 && freq > 0.0 => (freq * d).round().max(1.0) / d,
        _ => freq,
    }
}

impl Behaviour {
    fn new(
        intent: Intent,
        start: i64,
        frames: i64,
        fps: f32,
        style: &Style,
        dice: &mut Dice,
        scale: f32,
    ) -> Behaviour {
        let seconds = frames as f32 / fps;
        let speed = match intent.activity {
            Activity::Walk => {
                style.walk_speed
                    * dice.range(0.95, 1.05)
                    * if intent.backwards { -0.6 } else { 1.0 }
            }
            Activity::Run => style.run_speed * dice.range(0.95, 1.05),
            Activity::Crouch if intent.understood.contains(&"sneak") => 0.9,
            Activity::Jump if intent.understood.contains(&"walk") => 0.0,
            _ => 0.0,
        } * intent.pace
            * scale;
        let turn = intent.turn.unwrap_or(0.0) * style.turn_scale;
        // A walking turn bends the whole walk; a standing turn takes about a second per quarter turn.
        let turn_time = if speed.abs() > 0.01 {
            seconds.max(0.5)
        } else {
            (turn.abs() / (PI / 2.0) * 1.1).clamp(0.6, seconds.max(0.6))
        };
        Behaviour {
            jump_dist: if intent.activity == Activity::Jump && intent.understood.contains(&"walk") {
                0.7 * scale
            } else {
                0.0
            },
            intent,
            start,
            pose: false,
            speed,
            turn,
            turn_time,
            jump_period: style.jump_period,
            jump_height: style.jump_height * scale,
        }
    }

    /// Controls at `t` seconds into the segment (negative or past its end when blending or padding).
    /// `steady` (a loop) skips the lead-in ramps so that the first and last frames can match.
    fn controls(&self, t: f32, steady: bool, loop_seconds: Option<f32>) -> Controls {
        let ramp = |seconds: f32| if steady { 1.0 } else { smooth(t / seconds) };
        let mut c = Controls {
            speed: self.speed,
            ..Controls::default()
        };
        if self.turn != 0.0 && !steady {
            // Derivative of turn * smooth(t / turn_time).
            let x = t / self.turn_time;
            if (0.0..=1.0).contains(&x) {
                c.turn_rate = self.turn * 6.0 * x * (1.0 - x) / self.turn_time;
            }
        } else if self.turn != 0.0 {
            c.turn_rate = self.turn / loop_seconds.unwrap_or(self.turn_time).max(0.1);
        }
        match self.intent.activity {
            Activity::Idle => c.idle = 1.0,
            Activity::Walk => {}
            Activity::Run => c.run = 1.0,
            Activity::Crouch => c.crouch = ramp(0.5),
            Activity::Sit => c.sit = ramp(1.2),
            Activity::Jump => {
                c.jump = 1.0;
                let period = match loop_seconds {
                    Some(_) => 1.0 / loop_freq(1.0 / self.jump_period, loop_seconds),
                    None => self.jump_period,
                };
                if t >= 0.0 || steady {
                    let psi = (t / period).rem_euclid(1.0);
                    let (dy, arm, flight) = jump_curve(psi, self.jump_height);
                    c.jump_dy = dy;
                    c.jump_arm = arm;
                    c.flight = flight;
                    if flight > 0.5 {
                        c.speed = self.jump_dist / (0.3 * period);
                    }
                }
            }
        }
        match self.intent.wave {
            Some(Hand::Left) => c.wave_l = ramp(0.4),
            Some(Hand::Right) => c.wave_r = ramp(0.4),
            Some(Hand::Both) => {
                c.wave_l = ramp(0.4);
                c.wave_r = ramp(0.4);
            }
            None => {}
        }
        c
    }

    /// Frames over which this behaviour and the previous one are blended: the request's
    /// `transition_frames`, but never a pop between postures that are far apart (sitting, crouching, jumping).
    fn transition(&self, prev: &Behaviour, transition_frames: usize, fps: f32) -> i64 {
        // Seconds a body needs to change posture this much: sitting down or getting up takes longest.
        let need = |a: Activity| match a {
            Activity::Sit => 0.8f32,
            Activity::Crouch | Activity::Jump => 0.35,
            _ => 0.0,
        };
        let seconds = need(self.intent.activity).max(need(prev.intent.activity));
        let floor = (seconds * fps).round() as i64;
        (transition_frames as i64).max(floor)
    }
}

/// Pelvis offset (m), arm swing (rad, + = forward) and flight flag at jump phase `psi`.
fn jump_curve(psi: f32, height: f32) -> (f32, f32, f32) {
    if psi < 0.25 {
        let u = smooth(psi / 0.25);
        (-0.18 * u, -0.8 * u, 0.0)
    } else if psi < 0.35 {
        let u = smooth((psi - 0.25) / 0.1);
        (-0.18 * (1.0 - u), lerp(-0.8, 1.5, u), 0.0)
    } else if psi < 0.65 {
        let u = (psi - 0.35) / 0.3;
        (height * 4.0 * u * (1.0 - u), lerp(1.5, 0.9, u), 1.0)
    } else if psi < 0.78 {
        let u = smooth((psi - 0.65) / 0.13);
        (-0.15 * u, lerp(0.9, 0.4, u), 0.0)
    } else {
        let u = smooth((psi - 0.78) / 0.22);
        (-0.15 * (1.0 - u), 0.4 * (1.0 - u), 0.0)
    }
}

/// Per-frame state of one foot.
#[derive(Debug, Clone, Copy, Default)]
struct FootState {
    ankle: Vec3,
    yaw: f32,
    pitch: f32,
    /// The toe stays flat on the floor (heel-off roll) instead of following the foot.
    toe_flat: bool,
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

    // ---- segments -> behaviours -> controls per padded frame
    let mut behaviours: Vec<Behaviour> = Vec::new();
    let mut start = 0i64;
    for (k, seg) in plan.segments.iter().enumerate() {
        let mut seg_dice = Dice::new(match seg.seed {
            Some(s) => mix(s, 0x5e9),
            None => mix(seed, 1000 + k as u64),
        });
        let intent = seg
            .prompt
            .as_deref()
            .map(super::prompt::parse)
            .unwrap_or_else(Intent::idle);
        let frames = seg.frames.max(1) as i64;
        let mut behaviour =
            Behaviour::new(intent, start, frames, fps, &style, &mut seg_dice, scale);
        behaviour.pose = seg.pose;
        behaviours.push(behaviour);
        start += frames;
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
    for i in 1..n {
        yaw[i] = yaw[i - 1] + controls[i].turn_rate * dt;
        let mid = yaw[i - 1] + 0.5 * controls[i].turn_rate * dt;
        let f = forward(mid);
        pos[i] = pos[i - 1] + Vec2::new(f.x, f.z) * controls[i].speed * dt;
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
        let stepping = (v > 0.08 || turn[i].abs() > 0.25) && c.jump < 0.5 && c.sit < 0.5;
        let stride = scale * style.stride * lerp(1.0 + 0.3 * v, 1.25 + 0.3 * v, r);
        let freq = if stepping {
            loop_freq(
                (speed[i].abs() / stride).max(lerp(0.8, 1.3, r)),
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

    // ---- pelvis (before reach limits)
    let mut pelvis_xz = vec![Vec2::ZERO; n];
    let mut pelvis_y = vec![0.0f32; n];
    let mut twist = vec![0.0f32; n];
    let mut roll = vec![0.0f32; n];
    for i in 0..n {
        let c = &controls[i];
        let t = (i as f32 - pad as f32) * dt;
        let ph = phase[i] * TAU;
        let stepping = duty[i] < 1.0;
        let r = run_w[i];
        let step_w = if stepping { 1.0 } else { 0.0 };
        let bob = step_w
            * style.bob
            * lerp(
                -0.018 * (2.0 * ph).cos(),
                -0.035 * (2.0 * (ph - 0.17 * TAU)).cos(),
                r,
            );
        let sway_freq = loop_freq(style.sway_freq, loop_seconds);
        let lateral = step_w * 0.022 * (1.0 - r) * ph.sin()
            + c.idle * style.sway_amp * (TAU * sway_freq * t + style.sway_phase).sin();
        let back = 0.28 * c.sit + 0.12 * c.crouch;
        let f = forward(yaw[i]);
        let left = Vec2::new(f.z, -f.x);
        pelvis_xz[i] = pos[i] + (left * lateral - Vec2::new(f.x, f.z) * back) * scale;
        let seat = (rest_pelvis.y - rig.ground) - 0.52 * scale;
        pelvis_y[i] =
            rest_pelvis.y + bob * scale - 0.32 * c.crouch * scale - seat.max(0.0) * smooth(c.sit)
                + c.jump_dy * scale;
        twist[i] = -step_w * style.twist * lerp(0.1, 0.17, r) * ph.cos();
        roll[i] = step_w * 0.04 * (1.0 - r) * ph.sin() + c.idle * 0.6 * lateral / scale.max(0.1);
    }

    // ---- footsteps
    let mut feet: [Vec<FootState>; 2] =
        [vec![FootState::default(); n], vec![FootState::default(); n]];
    for side in 0..2 {
        let Some(leg) = rig.legs[side].as_ref() else {
            continue;
        };
        let contact: Vec<bool> = (0..n)
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
        plan_foot(
            &mut feet[side],
            &contact,
            leg,
            rig,
            &pos,
            &yaw,
            &run_w,
            &controls,
            fps,
            scale,
        );
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
                let reach = 0.985 * (leg.thigh + leg.shin);
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
        let pelvis_rot = yaw_q(yaw[i] + twist[i])
            * Quat::from_rotation_x(0.12 * run_w[i] * 0.5 + 0.15 * c.crouch + 0.05 * c.sit)
            * Quat::from_rotation_z(roll[i]);
        let pelvis_pos = Vec3::new(pelvis_xz[i].x, pelvis_y[i], pelvis_xz[i].y);
        let local = upper_body(
            rig,
            &style,
            c,
            phase[i],
            duty[i] < 1.0,
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

/// Stance intervals of one foot from its contact schedule, with plants; then the per-frame foot states.
#[allow(clippy::too_many_arguments)]
fn plan_foot(
    out: &mut [FootState],
    contact: &[bool],
    leg: &Leg,
    rig: &Rig,
    pos: &[Vec2],
    yaw: &[f32],
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
        let plant = Vec3::new(p.x, floor, p.y) + left * width;
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
                toe_flat: false,
                foot_contact: true,
                toe_contact: false,
                planted: true,
            }
        } else if i <= s.flat_end {
            FootState {
                ankle: s.plant,
                yaw: s.yaw,
                pitch: 0.0,
                toe_flat: true,
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
                toe_flat: true,
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
                toe_flat: false,
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

/// Local rotations of the non-leg joints (by request joint index; identity where no role applies).
#[allow(clippy::too_many_arguments)]
fn upper_body(
    rig: &Rig,
    style: &Style,
    c: &Controls,
    phase: f32,
    stepping: bool,
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
    let step_w = if stepping { 1.0 } else { 0.0 };
    let noise =
        |k: usize, freq: f32| (TAU * loop_freq(freq, loop_seconds) * t + style.noise[k]).sin();

    // Spine: counter-rotate the pelvis twist, lean into a run / crouch / sit-down, breathe.
    let sit_lean = 0.1 * c.sit + 0.45 * (PI * c.sit.clamp(0.0, 1.0)).sin();
    let lean = style.lean + 0.12 * run + 0.3 * c.crouch + sit_lean - 0.2 * (c.jump_dy.min(0.0));
    let breath =
        0.015 * (1.0 + c.idle) * (TAU * loop_freq(style.breath_freq, loop_seconds) * t).sin();
    let counter = -pelvis_twist * 1.3 / 3.0;
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
    // The head keeps looking where the body goes: undo the lean and the remaining twist, look around a little.
    let look_yaw = 0.04 * noise(2, 0.11) + 0.2 * c.idle * noise(3, 0.05);
    let look_pitch = 0.03 * noise(4, 0.09);
    set(
        role::NECK,
        Quat::from_rotation_y(-0.3 * pelvis_twist) * Quat::from_rotation_x(-0.5 * lean),
    );
    set(
        role::HEAD,
        Quat::from_rotation_y(look_yaw) * Quat::from_rotation_x(-0.3 * lean + look_pitch),
    );

    // Arms: hang, swing against the legs, bend more when running; jump and sit override the swing.
    let swing_amp = style.arm_swing * lerp(0.3, 0.65, run) * step_w;
    let extra_fwd = 0.25 * c.crouch + 0.45 * c.sit;
    let elbow = lerp(style.elbow, 1.45, run) + 0.5 * c.crouch + 0.4 * c.sit + 0.3 * c.jump;
    let down = style.arm_down;
    for (side, swing) in [(0usize, -ph.cos()), (1usize, ph.cos())] {
        let fwd = swing * swing_amp + extra_fwd + c.jump_arm * c.jump;
        // Right side built directly; the left one is its mirror image.
        let arm = Quat::from_rotation_x(-fwd) * Quat::from_rotation_z(down);
        let fore = Quat::from_rotation_y(elbow);
        let osc = 0.35 * (TAU * loop_freq(style.wave_freq, loop_seconds) * t).sin();
        let wave_arm = Quat::from_rotation_y(0.35) * Quat::from_rotation_z(-0.3);
        let wave_fore = Quat::from_rotation_z(-(1.35 + osc));
        let w = if side == 0 { c.wave_l } else { c.wave_r }.clamp(0.0, 1.0);
        let arm = arm.slerp(wave_arm, w);
        let fore = fore.slerp(wave_fore, w);
        let shoulder = Quat::from_rotation_z(-0.12 * w);
        let (r_sh, r_arm, r_fore, r_hand) = if side == 0 {
            (role::L_SHOULDER, role::L_ARM, role::L_FOREARM, role::L_HAND)
        } else {
            (role::R_SHOULDER, role::R_ARM, role::R_FOREARM, role::R_HAND)
        };
        let m = |q: Quat| if side == 0 { mirror(q) } else { q };
        set(r_sh, m(shoulder));
        set(r_arm, m(arm));
        set(r_fore, m(fore));
        // The waving hand leads the forearm a little.
        set(r_hand, m(Quat::from_rotation_z(-0.5 * osc * w)));
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
    let dist = to
        .length()
        .clamp(1e-4 + (l1 - l2).abs(), (l1 + l2) * 0.9999);
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
        overrides[toe] = Some(if foot.toe_flat {
            yaw_q(foot.yaw)
        } else {
            foot_rot
        });
    }
    thigh_rot
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
