//! A PNG contact sheet of a take: a stick figure at a few frames, seen from the front, the side and
//! the top, on a ground grid, with each column labelled by its frame number.
//!
//! Each cell follows the character (centred on the root's ground position) and the grid scrolls
//! under it, so travel shows as moving grid lines and the figure stays readable at any distance.

use glam::Vec3;
use tiny_skia::{Color, FillRule, Mask, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use super::take::Take;

pub const COLUMNS: usize = 6;
const CELL: u32 = 180;
const LABEL: u32 = 16;
const GRID_M: f32 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("sample {0} does not exist in this take")]
    NoSample(usize),
    #[error("the take has no frames or joints")]
    Empty,
    #[error("cannot make the image: {0}")]
    Image(String),
}

#[derive(Clone, Copy)]
enum View {
    Front,
    Side,
    Top,
}

/// Renders sample `sample` of `take` as a PNG (3 rows: front, side, top; [`COLUMNS`] frames).
pub fn contact_sheet(take: &Take, sample: usize) -> Result<Vec<u8>, PreviewError> {
    let s = take
        .samples
        .get(sample)
        .ok_or(PreviewError::NoSample(sample))?;
    let jn = take.skeleton.joints.len();
    if take.num_frames == 0 || jn == 0 || s.rotations.len() < take.num_frames * jn {
        return Err(PreviewError::Empty);
    }
    let cols = COLUMNS.min(take.num_frames);
    let frames: Vec<usize> = (0..cols)
        .map(|c| {
            if cols == 1 {
                0
            } else {
                c * (take.num_frames - 1) / (cols - 1)
            }
        })
        .collect();
    let poses: Vec<Vec<Vec3>> = frames.iter().map(|&t| take.world_positions(s, t)).collect();
    if poses.iter().flatten().any(|p| !p.is_finite()) {
        return Err(PreviewError::Empty);
    }

    // One scale for the whole sheet: the largest extent of the figure around its root.
    let mut extent = 0.5f32;
    for (pose, &t) in poses.iter().zip(&frames) {
        let root = root_ground(take, s, t);
        for p in pose {
            extent = extent
                .max(p.y.abs())
                .max((p.x - root.x).abs() * 2.0)
                .max((p.z - root.z).abs() * 2.0);
        }
    }
    let scale = (CELL as f32 * 0.8) / extent;

    let width = CELL * cols as u32;
    let height = LABEL + CELL * 3;
    let mut pm = Pixmap::new(width, height).ok_or_else(|| PreviewError::Image("size".into()))?;
    pm.fill(Color::from_rgba8(250, 250, 248, 255));

    for (c, (pose, &t)) in poses.iter().zip(&frames).enumerate() {
        let x0 = c as f32 * CELL as f32;
        draw_number(&mut pm, t, x0 + 6.0, 4.0);
        let root = root_ground(take, s, t);
        for (r, view) in [View::Front, View::Side, View::Top].into_iter().enumerate() {
            let y0 = LABEL as f32 + r as f32 * CELL as f32;
            let tint = [
                Color::from_rgba8(240, 244, 250, 255),
                Color::from_rgba8(244, 250, 240, 255),
                Color::from_rgba8(250, 244, 240, 255),
            ][r];
            fill_rect(
                &mut pm,
                x0 + 1.0,
                y0 + 1.0,
                CELL as f32 - 2.0,
                CELL as f32 - 2.0,
                tint,
            );
            draw_cell(&mut pm, take, pose, root, view, x0, y0, scale);
        }
    }
    pm.encode_png()
        .map_err(|e| PreviewError::Image(e.to_string()))
}

/// Root position on the ground plane at frame `t`.
fn root_ground(take: &Take, s: &super::take::Sample, t: usize) -> Vec3 {
    let p = s
        .root_positions
        .get(t)
        .copied()
        .or_else(|| take.skeleton.joints.first().map(|j| j.rest_translation))
        .unwrap_or([0.0; 3]);
    Vec3::new(p[0], 0.0, p[2])
}

#[allow(clippy::too_many_arguments)]
fn draw_cell(
    pm: &mut Pixmap,
    take: &Take,
    pose: &[Vec3],
    root: Vec3,
    view: View,
    x0: f32,
    y0: f32,
    scale: f32,
) {
    let c = CELL as f32;
    // Everything drawn in a cell is clipped to it, so a long stride never spills into a neighbour.
    let mut clip = Mask::new(pm.width(), pm.height());
    if let (Some(m), Some(r)) = (
        clip.as_mut(),
        Rect::from_xywh(x0 + 1.0, y0 + 1.0, c - 2.0, c - 2.0),
    ) {
        m.fill_path(
            &PathBuilder::from_rect(r),
            FillRule::Winding,
            false,
            Transform::identity(),
        );
    }
    let clip = clip.as_ref();
    // Screen mapping per view (right-handed, Y up, the figure faces +Z): front = camera on +Z
    // looking back at the figure (+X to the right); side = camera on -X, the figure's right side
    // (+Z to the right); top = camera above looking down (+X right, +Z towards the bottom).
    let (cx, cy) = match view {
        View::Top => (x0 + c / 2.0, y0 + c / 2.0),
        _ => (x0 + c / 2.0, y0 + c * 0.9),
    };
    let project = |p: Vec3| -> (f32, f32) {
        let d = p - root;
        match view {
            View::Front => (cx + d.x * scale, cy - p.y * scale),
            View::Side => (cx + d.z * scale, cy - p.y * scale),
            View::Top => (cx + d.x * scale, cy + d.z * scale),
        }
    };
    // Grid: lines at world multiples of GRID_M, scrolled by the root position.
    let grid = Color::from_rgba8(200, 200, 200, 255);
    let half = c / 2.0 / scale;
    let lines = |origin: f32| {
        let first = ((origin - half) / GRID_M).floor() as i32;
        let last = ((origin + half) / GRID_M).ceil() as i32;
        (first..=last).map(|k| k as f32 * GRID_M)
    };
    match view {
        View::Front | View::Side => {
            line(
                pm,
                clip,
                (x0, cy),
                (x0 + c, cy),
                Color::from_rgba8(150, 150, 150, 255),
                1.5,
            );
            let origin = if matches!(view, View::Front) {
                root.x
            } else {
                root.z
            };
            for w in lines(origin) {
                let sx = if matches!(view, View::Front) {
                    cx + (w - root.x) * scale
                } else {
                    cx + (w - root.z) * scale
                };
                if sx > x0 && sx < x0 + c {
                    line(pm, clip, (sx, cy), (sx, cy + 6.0), grid, 1.0);
                }
            }
        }
        View::Top => {
            for w in lines(root.x) {
                let sx = cx + (w - root.x) * scale;
                if sx > x0 && sx < x0 + c {
                    line(pm, clip, (sx, y0), (sx, y0 + c), grid, 1.0);
                }
            }
            for w in lines(root.z) {
                let sy = cy + (w - root.z) * scale;
                if sy > y0 && sy < y0 + c {
                    line(pm, clip, (x0, sy), (x0 + c, sy), grid, 1.0);
                }
            }
        }
    }
    // Bones: left side blue, right side red, centre dark.
    for (j, joint) in take.skeleton.joints.iter().enumerate() {
        let Some(p) = joint.parent else { continue };
        let (Some(&a), Some(&b)) = (pose.get(p), pose.get(j)) else {
            continue;
        };
        let lower = joint.name.to_ascii_lowercase();
        let color = if lower.starts_with("left")
            || lower.starts_with("l_")
            || lower.contains("left")
        {
            Color::from_rgba8(40, 90, 200, 255)
        } else if lower.starts_with("right") || lower.starts_with("r_") || lower.contains("right") {
            Color::from_rgba8(200, 50, 50, 255)
        } else {
            Color::from_rgba8(40, 40, 40, 255)
        };
        line(pm, clip, project(a), project(b), color, 2.5);
    }
    for p in pose {
        let (x, y) = project(*p);
        dot(pm, clip, x, y, 2.5, Color::from_rgba8(20, 20, 20, 255));
    }
}

fn paint(color: Color) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(color);
    p.anti_alias = true;
    p
}

fn line(
    pm: &mut Pixmap,
    clip: Option<&Mask>,
    a: (f32, f32),
    b: (f32, f32),
    color: Color,
    width: f32,
) {
    let mut pb = PathBuilder::new();
    pb.move_to(a.0, a.1);
    pb.line_to(b.0, b.1);
    if let Some(path) = pb.finish() {
        let stroke = Stroke {
            width,
            line_cap: tiny_skia::LineCap::Round,
            ..Stroke::default()
        };
        pm.stroke_path(&path, &paint(color), &stroke, Transform::identity(), clip);
    }
}

fn dot(pm: &mut Pixmap, clip: Option<&Mask>, x: f32, y: f32, r: f32, color: Color) {
    if let Some(path) = PathBuilder::from_circle(x, y, r) {
        pm.fill_path(
            &path,
            &paint(color),
            FillRule::Winding,
            Transform::identity(),
            clip,
        );
    }
}

fn fill_rect(pm: &mut Pixmap, x: f32, y: f32, w: f32, h: f32, color: Color) {
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        pm.fill_rect(r, &paint(color), Transform::identity(), None);
    }
}

/// 3×5 pixel digits, one row per `u8` (3 low bits, MSB left).
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

fn draw_number(pm: &mut Pixmap, n: usize, x: f32, y: f32) {
    const PX: f32 = 2.0;
    let color = Color::from_rgba8(60, 60, 60, 255);
    // A small "f" before the digits marks a frame number.
    let f_glyph: [u8; 5] = [3, 4, 6, 4, 4];
    let text: Vec<[u8; 5]> = std::iter::once(f_glyph)
        .chain(n.to_string().bytes().map(|b| DIGITS[(b - b'0') as usize]))
        .collect();
    for (i, glyph) in text.iter().enumerate() {
        let gx = x + i as f32 * 4.0 * PX;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    fill_rect(pm, gx + col as f32 * PX, y + row as f32 * PX, PX, PX, color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_png_of_expected_size() {
        let Ok(bytes) = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mmcp/d01-sparse.gltf"
        )) else {
            return;
        };
        let take = super::super::gltf::decode(&bytes).expect("decode");
        let png = contact_sheet(&take, 0).expect("png");
        assert_eq!(&png[1..4], b"PNG");
        // IHDR width/height, big-endian at bytes 16..24.
        let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
        assert_eq!((w, h), (CELL * 6, LABEL + CELL * 3));
        if let Some(dir) = std::env::var_os("STAGECRAFT_PREVIEW_OUT") {
            std::fs::write(std::path::Path::new(&dir).join("d01.png"), &png).expect("write");
        }
        assert!(matches!(
            contact_sheet(&take, 5),
            Err(PreviewError::NoSample(5))
        ));
        assert!(matches!(
            contact_sheet(&Take::default(), 0),
            Err(PreviewError::NoSample(0))
        ));
    }
}
