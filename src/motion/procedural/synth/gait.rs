//! Gait phase, duty and run weight from the trajectory the root actually follows.

use super::path::RootPath;
use super::{Context, Frames, box_blur, forward, wrap_angle};
use crate::motion::procedural::actions::{lerp, loop_freq, smooth};

/// The gait read from the trajectory actually followed, per padded frame.
pub(super) struct Gait {
    /// Step cycles so far (a foot's stance starts at whole cycles; the other foot half a cycle later).
    pub(super) phase: Vec<f32>,
    /// Fraction of a cycle a foot is on the floor; 1 when not stepping.
    pub(super) duty: Vec<f32>,
    /// How much the gait is a run (0 walk .. 1 run).
    pub(super) run_w: Vec<f32>,
    /// How much the body steps (0..1), faded in and out so the gait's sway, bob and arm swing start and
    /// stop without a jolt.
    pub(super) step_weight: Vec<f32>,
}

pub(super) fn gait(ctx: &Context, path: &RootPath, notes: &mut Vec<String>) -> Gait {
    let (style, controls, scale) = (&ctx.style, &ctx.controls, ctx.rig.scale);
    let Frames {
        fps,
        dt,
        n,
        loop_seconds,
        ..
    } = ctx.frames;
    let (pos, yaw) = (&path.pos, &path.yaw);
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

    let fade = ((0.12 * fps).round() as usize).max(1);
    let stepping: Vec<f32> = duty
        .iter()
        .map(|d| if *d < 1.0 { 1.0 } else { 0.0 })
        .collect();
    let step_weight = box_blur(&box_blur(&stepping, fade), fade);
    Gait {
        phase,
        duty,
        run_w,
        step_weight,
    }
}
