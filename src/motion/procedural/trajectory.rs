//! `MMCP_motion.samples[].trajectory` (docs/mmcp.md#the-gltf-take, Trajectory) from the travel the model planned: clients use it
//! to play a take in place. The model knows its own path and facing exactly, so nothing is estimated from
//! the joints; only the summary (`model`, `params`) is a fit.

use std::collections::BTreeMap;

use glam::Vec2;
use serde_json::{Value, json};

fn round(x: f32, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (f64::from(x) * p).round() / p
}

/// Travel `pos` (x, z per frame), facing `yaw` (radians, + toward +X), touchdown frames per foot.
pub(super) fn trajectory(
    pos: &[Vec2],
    yaw: &[f32],
    fps: f32,
    looped: bool,
    contacts: &BTreeMap<String, Vec<bool>>,
) -> Value {
    let n = pos.len();
    let touchdowns = |name: &str| -> Vec<usize> {
        contacts
            .get(name)
            .map(|c| (1..c.len()).filter(|&t| c[t] && !c[t - 1]).collect())
            .unwrap_or_default()
    };
    let markers =
        json!({"LeftFootDown": touchdowns("LeftFoot"), "RightFootDown": touchdowns("RightFoot")});
    let position: Vec<[f64; 2]> = pos.iter().map(|p| [round(p.x, 4), round(p.y, 4)]).collect();
    let yaw0 = yaw.first().copied().unwrap_or(0.0);
    let yaws: Vec<f64> = yaw.iter().map(|y| round(y - yaw0, 5)).collect();
    let turned = yaw.iter().fold(0.0f32, |m, y| m.max((y - yaw0).abs()));
    let heading = if turned < 0.02 { "fixed" } else { "path" };

    let (first, last) = (
        pos.first().copied().unwrap_or(Vec2::ZERO),
        pos.last().copied().unwrap_or(Vec2::ZERO),
    );
    let travel: f32 = pos.windows(2).map(|w| (w[1] - w[0]).length()).sum();
    if n < 2 || travel < 0.1 {
        return json!({
            "model": "still", "loop": looped, "params": {"off_cm": 0.0}, "heading": heading,
            "markers": markers, "position": position, "yaw": yaws,
        });
    }
    // Speed over about half a second, so steps do not show up as speed changes.
    let w = ((0.5 * fps) as usize).max(1);
    let speeds: Vec<f32> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(w / 2), (i + w / 2).min(n - 1));
            if b > a {
                (pos[b] - pos[a]).length() * fps / (b - a) as f32
            } else {
                0.0
            }
        })
        .collect();
    let speed = travel * fps / (n - 1) as f32;
    let (lo, hi) = speeds.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), s| {
        (lo.min(*s), hi.max(*s))
    });
    let chord = last - first;
    let dir = chord.try_normalize().unwrap_or(Vec2::Y);
    let off = (pos
        .iter()
        .map(|p| (p - first).perp_dot(dir).powi(2))
        .sum::<f32>()
        / n as f32)
        .sqrt();
    let mut params = json!({
        "off_cm": round(off * 100.0, 2),
        "speed": round(speed, 3),
        "speed_range": [round(lo, 3), round(hi, 3)],
    });
    let model = if off < 0.05 {
        params["heading_deg"] = json!(round(dir.x.atan2(dir.y).to_degrees(), 2));
        "line"
    } else {
        // A cubic Bézier with the ends pinned, inner control points by least squares on chord length.
        let mut s = vec![0.0f32; n];
        for i in 1..n {
            s[i] = s[i - 1] + (pos[i] - pos[i - 1]).length() / travel;
        }
        let (mut a11, mut a12, mut a22) = (0.0f32, 0.0f32, 0.0f32);
        let (mut r1, mut r2) = (Vec2::ZERO, Vec2::ZERO);
        for (p, &t) in pos.iter().zip(&s) {
            let (b0, b1, b2, b3) = (
                (1.0 - t).powi(3),
                3.0 * t * (1.0 - t).powi(2),
                3.0 * t * t * (1.0 - t),
                t.powi(3),
            );
            let rest = *p - first * b0 - last * b3;
            a11 += b1 * b1;
            a12 += b1 * b2;
            a22 += b2 * b2;
            r1 += rest * b1;
            r2 += rest * b2;
        }
        let det = a11 * a22 - a12 * a12;
        let (c1, c2) = if det.abs() > 1e-9 {
            ((r1 * a22 - r2 * a12) / det, (r2 * a11 - r1 * a12) / det)
        } else {
            (first + chord / 3.0, first + chord * 2.0 / 3.0)
        };
        let fit = |t: f32| {
            first * (1.0 - t).powi(3)
                + c1 * 3.0 * t * (1.0 - t).powi(2)
                + c2 * 3.0 * t * t * (1.0 - t)
                + last * t.powi(3)
        };
        let off = (pos
            .iter()
            .zip(&s)
            .map(|(p, &t)| (*p - fit(t)).length_squared())
            .sum::<f32>()
            / n as f32)
            .sqrt();
        params["off_cm"] = json!(round(off * 100.0, 2));
        params["control_points_xz"] = json!(
            [first, c1, c2, last]
                .iter()
                .map(|p| [round(p.x, 4), round(p.y, 4)])
                .collect::<Vec<_>>()
        );
        "bezier"
    };
    json!({
        "model": model, "loop": looped, "params": params, "heading": heading,
        "markers": markers, "position": position, "yaw": yaws,
    })
}
