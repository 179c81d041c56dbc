//! The synthesis of one sample: segments -> clauses (prompt.rs) -> behaviours and their per-frame
//! controls, blended at clause boundaries (actions.rs; `controls`) -> root trajectory (bent onto any
//! `root_path`; `path`) -> gait phase (`gait`) and footstep plan -> postures that move the feet (kneel,
//! kick, lie; `feet`) -> pelvis (`pelvis`) -> legs by two-bone IK onto planted feet -> upper body and
//! gesture layers (`pose`) -> pose keyframes -> loop closure (`keyframes`).
//!
//! Feet are planned in world space and reached by IK, rather than animated as joint curves, so a planted
//! foot stays where it was put whatever the root does (turns, curved paths, speed changes, other leg
//! lengths): that is what keeps contacts from sliding.

mod controls;
mod effectors;
mod feet;
mod gait;
mod keyframes;
mod path;
mod pelvis;
mod pose;

use std::f32::consts::{PI, TAU};

use glam::{Quat, Vec3};

use super::Plan;
use super::actions::Controls;
use super::rig::Rig;
use super::style::{Dice, Style};
use crate::motion::take::Sample;
pub(super) use effectors::effector_roles;

/// The frames a sample is computed over: the take's `total`, padded by `pad` frames on both sides
/// (none when it loops) so that filters and the footstep plan see past the take's ends.
#[derive(Debug, Clone, Copy)]
struct Frames {
    fps: f32,
    dt: f32,
    total: usize,
    pad: usize,
    /// Padded frame count: `total + 2 * pad`.
    n: usize,
    looped: bool,
    /// The take's period when it loops (cyclic motions fit whole cycles into it).
    loop_seconds: Option<f32>,
}

impl Frames {
    fn of(plan: &Plan) -> Self {
        let fps = plan.fps;
        let total = plan.total_frames.max(1);
        let looped = plan.looped && total > 1;
        let pad = if looped {
            0
        } else {
            ((1.5 * fps).ceil() as usize).max(2)
        };
        Self {
            fps,
            dt: 1.0 / fps,
            total,
            pad,
            n: total + 2 * pad,
            looped,
            loop_seconds: looped.then(|| (total - 1) as f32 / fps),
        }
    }
}

/// What every pass reads: the plan, the rig, this sample's style, and the controls of every padded frame.
struct Context<'a> {
    plan: &'a Plan,
    rig: &'a Rig,
    frames: Frames,
    style: Style,
    controls: Vec<Controls>,
}

/// Build one sample. `seed` is the sample's own seed (already mixed with its index).
pub(super) fn sample(plan: &Plan, rig: &Rig, seed: u64, notes: &mut Vec<String>) -> Sample {
    let frames = Frames::of(plan);
    let mut dice = Dice::new(seed);
    let style = Style::draw(&mut dice);
    let behaviours = controls::behaviours(plan, frames, &style, seed, &mut dice, rig.scale);
    let ctx = Context {
        plan,
        rig,
        frames,
        controls: controls::per_frame(&behaviours, plan, frames),
        style,
    };

    let path = path::follow(&ctx, notes);
    let gait = gait::gait(&ctx, &path, notes);
    let mut pelvis = pelvis::pelvis(&ctx, &path, &gait);
    let mut feet = feet::footsteps(&ctx, &path, &gait);
    feet::postures(&ctx, &path, &mut feet);
    pelvis::keep_feet_in_reach(&ctx, &path, &mut pelvis, &mut feet);
    let effectors = effectors::EffectorKeys::new(plan, rig);
    effectors.move_feet(&ctx, &mut feet);
    let (rotations, root_positions) =
        pose::pose_frames(&ctx, &path, &gait, &pelvis, &feet, &effectors);

    let mut sample = Sample {
        rotations,
        root_positions,
        foot_contacts: feet::contacts(&ctx, &feet),
        ..Sample::default()
    };
    keyframes::finish(&ctx, &path, &mut sample, notes);
    sample
}

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
