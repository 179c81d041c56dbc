//! The pelvis: bob, sway and twist of the gait, the drop of sitting, kneeling and lying, and the limit
//! planted feet put on its height.

use std::f32::consts::{PI, TAU};

use glam::{Vec2, Vec3};

use super::feet::Feet;
use super::gait::Gait;
use super::path::RootPath;
use super::{Context, Frames, box_blur, erode, forward, yaw_q};
use crate::motion::procedural::actions::{lerp, loop_freq, smooth};

/// The pelvis per padded frame.
pub(super) struct Pelvis {
    pub(super) xz: Vec<Vec2>,
    pub(super) y: Vec<f32>,
    pub(super) twist: Vec<f32>,
    pub(super) roll: Vec<f32>,
    /// How far bent knees lower the pelvis from where the stride leaves it: applied after the reach
    /// limit.
    pub(super) crouch_drop: Vec<f32>,
}

/// The pelvis from the gait and the postures, before the feet limit it.
pub(super) fn pelvis(ctx: &Context, path: &RootPath, gait: &Gait) -> Pelvis {
    let (rig, style, controls, scale) = (ctx.rig, &ctx.style, &ctx.controls, ctx.rig.scale);
    let Frames {
        dt,
        pad,
        n,
        loop_seconds,
        ..
    } = ctx.frames;
    let (pos, yaw, elevation) = (&path.pos, &path.yaw, &path.elevation);
    let (phase, run_w, step_weight) = (&gait.phase, &gait.run_w, &gait.step_weight);
    let rest_pelvis = rig.rest_world[rig.pelvis];
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
    Pelvis {
        xz: pelvis_xz,
        y: pelvis_y,
        twist,
        roll,
        crouch_drop,
    }
}

/// Keeps planted feet within reach by lowering the pelvis where they would not be, then lets a foot in
/// the air hang from its hip.
// Both sides (and every frame) index several arrays in step; indices read clearer than zips.
#[allow(clippy::needless_range_loop)]
pub(super) fn keep_feet_in_reach(
    ctx: &Context,
    path: &RootPath,
    pelvis: &mut Pelvis,
    feet: &mut Feet,
) {
    let (rig, controls) = (ctx.rig, &ctx.controls);
    let Frames { fps, n, .. } = ctx.frames;
    let yaw = &path.yaw;
    let Pelvis {
        xz: pelvis_xz,
        y: pelvis_y,
        crouch_drop,
        ..
    } = pelvis;
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
}

/// Pelvis height (m above the floor, standard skeleton) when seated on a chair, kneeling on one knee, and
/// sitting or lying on the floor.
pub(super) const SEAT_PELVIS: f32 = 0.47;

pub(super) const KNEEL_PELVIS: f32 = 0.54;

pub(super) const FLOOR_PELVIS: f32 = 0.14;

/// A sit-down at progress `s` (0 standing, 1 seated): how far the pelvis has dropped and moved back
/// (0..1 of the way), and the trunk's forward lean (radians), which peaks late so the centre of mass
/// stays over the feet until the pelvis is nearly on the seat.
pub(super) struct Seated {
    pub(super) drop: f32,
    pub(super) back: f32,
    pub(super) lean: f32,
}

pub(super) fn sit_profile(s: f32) -> Seated {
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
pub(super) struct Lying {
    pub(super) sit_floor: f32,
    pub(super) roll: f32,
}

pub(super) fn lie_profile(l: f32) -> Lying {
    let l = l.clamp(0.0, 1.0);
    Lying {
        sit_floor: smooth(l / 0.5),
        roll: smooth((l - 0.5) / 0.5),
    }
}
