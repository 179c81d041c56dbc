//! The root trajectory on the floor, bent onto any `root_path` keys.

use glam::{Quat, Vec2, Vec3};

use super::{Context, Frames, box_blur, forward, wrap_angle};
use crate::motion::procedural::Plan;
use crate::motion::procedural::actions::{lerp, smooth};

/// The root's way over the floor, per padded frame.
pub(super) struct RootPath {
    /// Position on the floor (x, z), metres.
    pub(super) pos: Vec<Vec2>,
    /// Heading, radians about +Y (0 faces +Z).
    pub(super) yaw: Vec<f32>,
    /// Height of the floor under the character (it climbs steps), relative to the rest floor.
    pub(super) elevation: Vec<f32>,
}

/// Integrates the controls' speeds and turns from the rig's rest position, then bends the result through
/// the plan's `root_path` keys.
pub(super) fn follow(ctx: &Context, notes: &mut Vec<String>) -> RootPath {
    let (plan, rig, controls) = (ctx.plan, ctx.rig, &ctx.controls);
    let Frames {
        fps, dt, pad, n, ..
    } = ctx.frames;
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
    RootPath {
        pos,
        yaw,
        elevation,
    }
}

/// Bend the root trajectory through the `root_path` keys (exactly at their frames), facing along it.
#[allow(clippy::needless_range_loop)]
pub(super) fn apply_root_path(
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
