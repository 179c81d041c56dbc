//! A small software renderer for the stage: flat-shaded triangles (skinned meshes posed on the
//! current frame), bones as a stick figure, and a ground grid, drawn with tiny-skia.
//!
//! It is there so an agent can look at what it did without a DCC; it sorts triangles back to
//! front (painter's algorithm) and does no texturing.

use std::collections::HashMap;

use gj::validation::Checked;
use glam::{Mat4, Vec3, Vec4};
use gltf_json as gj;
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

use super::anim::{Overrides, Posed, armature_overrides};
use super::gltf_io::{mesh_triangles, read_accessor};
use super::scene::{Kind, NodeId, Scene};

/// Depth, screen corners, colour.
type ScreenTriangle = (f32, [(f32, f32); 3], [u8; 3]);

pub struct View {
    pub view: Mat4,
    pub proj: Mat4,
    pub eye: Vec3,
}

/// The overrides of every armature's action on the current frame.
pub fn current_overrides(scene: &Scene) -> Overrides {
    overrides_on(scene, scene.frames.current)
}

/// The overrides of every armature's action on timeline frame `frame`.
pub fn overrides_on(scene: &Scene, frame: f64) -> Overrides {
    let mut out = Overrides::new();
    for (arm, _) in scene.armatures() {
        out.extend(armature_overrides(scene, arm, frame));
    }
    out
}

/// Where a capture looks from.
pub enum Shot {
    /// Through a camera object.
    Camera(NodeId),
    /// From `direction` (pointing from the subject toward the eye, Y-up world) with `up` at the
    /// top of the picture, framing `points` (world positions of what must be in the picture).
    Framed {
        direction: Vec3,
        up: Vec3,
        points: Vec<Vec3>,
    },
}

/// The default three-quarter direction: in front of a character facing +Z, to its left (+X), above.
pub const THREE_QUARTER: Vec3 = Vec3::new(0.55, 0.35, 1.0);
/// Vertical field of view of framed shots, radians.
const FRAMED_YFOV: f32 = 0.7;
/// Space left around framed points: they fill about 1/1.1 of the picture's tighter side.
const FRAMED_MARGIN: f32 = 1.1;

/// A camera object's view, or a framed view.
pub fn view_for(scene: &Scene, shot: &Shot, aspect: f32) -> View {
    match shot {
        Shot::Camera(cam) => camera_view(scene, *cam, aspect),
        Shot::Framed {
            direction,
            up,
            points,
        } => framed_view(*direction, *up, points, aspect),
    }
}

/// A view from `direction` that fits every point: the camera backs off until the points' extent
/// across the picture fits the field of view, plus the margin, in front of the nearest point.
fn framed_view(direction: Vec3, up: Vec3, points: &[Vec3], aspect: f32) -> View {
    let back = direction.normalize_or(Vec3::Z);
    let right = up.cross(back).normalize_or(Vec3::X);
    let up = back.cross(right);
    // Nothing to frame: a 2 m box around the origin.
    let fallback = [Vec3::splat(-1.0), Vec3::splat(1.0)];
    let points = if points.is_empty() {
        &fallback[..]
    } else {
        points
    };
    let (min, max) = points.iter().fold(
        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
        |(lo, hi), p| (lo.min(*p), hi.max(*p)),
    );
    let center = (min + max) * 0.5;
    let extent = |axis: Vec3| {
        points
            .iter()
            .map(|p| (*p - center).dot(axis).abs())
            .fold(0.0f32, f32::max)
    };
    // Half extents across the picture; at least 10 cm so a lone point still gets a sane view.
    let (half_right, half_up, half_depth) =
        (extent(right).max(0.1), extent(up).max(0.1), extent(back));
    let tan = (FRAMED_YFOV * 0.5).tan();
    let dist = (half_up / tan).max(half_right / (tan * aspect)) * FRAMED_MARGIN + half_depth;
    let eye = center + back * dist;
    View {
        view: Mat4::look_at_rh(eye, center, up),
        proj: Mat4::perspective_rh(
            FRAMED_YFOV,
            aspect,
            (dist - half_depth * 2.0).max(0.01),
            dist + half_depth * 2.0 + 100.0,
        ),
        eye,
    }
}

fn camera_view(scene: &Scene, cam: NodeId, aspect: f32) -> View {
    let world = scene.world(cam);
    let (_, r, t) = world.to_scale_rotation_translation();
    let mut yfov = 0.8f32;
    let mut znear = 0.01f32;
    if let Some(c) = scene
        .node(cam)
        .camera
        .and_then(|c| scene.doc.cameras.get(c as usize))
        && let Some(p) = &c.perspective
    {
        yfov = p.yfov.clamp(0.01, 3.0);
        znear = p.znear.max(1e-4);
    }
    let view = Mat4::from_rotation_translation(r, t).inverse();
    View {
        view,
        proj: Mat4::perspective_rh(yfov, aspect, znear, 1e4),
        eye: t,
    }
}

/// World positions of `ids` (object origins and mesh vertices) posed on each of `frames`: what a
/// framed shot must fit. `None`: everything visible.
pub fn points_on(scene: &Scene, ids: Option<&[NodeId]>, frames: &[f64]) -> Vec<Vec3> {
    let ids: Vec<NodeId> = match ids {
        Some(ids) => ids.to_vec(),
        None => scene
            .live()
            .filter(|(_, n)| n.visible)
            .map(|(i, _)| i)
            .collect(),
    };
    let mut points = Vec::new();
    for frame in frames {
        let mut posed = Posed::new(scene, overrides_on(scene, *frame));
        for &id in &ids {
            points.push(posed.world(id).w_axis.truncate());
            for tri in world_triangles(scene, id, &mut posed) {
                points.extend(tri);
            }
        }
    }
    points.retain(|p| p.is_finite());
    points
}

/// A mesh node's triangles in world space; skinned meshes are posed by their joints.
pub fn world_triangles(scene: &Scene, id: NodeId, posed: &mut Posed) -> Vec<[Vec3; 3]> {
    let node = scene.node(id);
    let Some(mesh) = node.mesh else {
        return Vec::new();
    };
    if let Some(skin) = node.skin.and_then(|s| scene.skins.get(s))
        && let Some(tris) = skinned_triangles(scene, mesh, skin, posed)
    {
        return tris;
    }
    let world = posed.world(id);
    mesh_triangles(scene, mesh)
        .into_iter()
        .map(|t| t.map(|v| world.transform_point3(v)))
        .collect()
}

fn skinned_triangles(
    scene: &Scene,
    mesh: u32,
    skin: &super::scene::Skin,
    posed: &mut Posed,
) -> Option<Vec<[Vec3; 3]>> {
    let ibm: Vec<Mat4> = match skin.inverse_bind_matrices {
        Some(a) => {
            let (v, comps) = read_accessor(&scene.doc, &scene.bin, a as usize).ok()?;
            if comps != 16 {
                return None;
            }
            v.chunks_exact(16)
                .map(|c| {
                    let f: Vec<f32> = c.iter().map(|x| *x as f32).collect();
                    Mat4::from_cols_slice(&f)
                })
                .collect()
        }
        None => vec![Mat4::IDENTITY; skin.joints.len()],
    };
    let joint_mats: Vec<Mat4> = skin
        .joints
        .iter()
        .zip(ibm.iter().chain(std::iter::repeat(&Mat4::IDENTITY)))
        .map(|(j, b)| posed.world(*j) * *b)
        .collect();
    let m = scene.doc.meshes.get(mesh as usize)?;
    let mut out = Vec::new();
    let attr = |p: &gj::mesh::Primitive, s: gj::mesh::Semantic| {
        p.attributes.get(&Checked::Valid(s)).map(|a| a.value())
    };
    for prim in &m.primitives {
        if !matches!(prim.mode, Checked::Valid(gj::mesh::Mode::Triangles)) {
            continue;
        }
        let (Some(pa), Some(ja), Some(wa)) = (
            attr(prim, gj::mesh::Semantic::Positions),
            attr(prim, gj::mesh::Semantic::Joints(0)),
            attr(prim, gj::mesh::Semantic::Weights(0)),
        ) else {
            return None;
        };
        let (pos, _) = read_accessor(&scene.doc, &scene.bin, pa).ok()?;
        let (joints, jc) = read_accessor(&scene.doc, &scene.bin, ja).ok()?;
        let (weights, wc) = read_accessor(&scene.doc, &scene.bin, wa).ok()?;
        if jc != 4 || wc != 4 {
            return None;
        }
        let verts: Vec<Vec3> = pos
            .chunks_exact(3)
            .enumerate()
            .map(|(i, p)| {
                let v = Vec4::new(p[0] as f32, p[1] as f32, p[2] as f32, 1.0);
                let mut acc = Vec4::ZERO;
                for k in 0..4 {
                    let w = weights.get(i * 4 + k).copied().unwrap_or(0.0) as f32;
                    let j = joints.get(i * 4 + k).copied().unwrap_or(0.0) as usize;
                    if w > 0.0
                        && let Some(jm) = joint_mats.get(j)
                    {
                        acc += (*jm * v) * w;
                    }
                }
                if acc.w.abs() > 1e-6 {
                    acc.truncate() / acc.w
                } else {
                    v.truncate()
                }
            })
            .collect();
        let indices: Vec<usize> = match prim.indices {
            Some(i) => read_accessor(&scene.doc, &scene.bin, i.value())
                .ok()?
                .0
                .iter()
                .map(|x| *x as usize)
                .collect(),
            None => (0..verts.len()).collect(),
        };
        for tri in indices.chunks_exact(3) {
            if let (Some(a), Some(b), Some(c)) =
                (verts.get(tri[0]), verts.get(tri[1]), verts.get(tri[2]))
            {
                out.push([*a, *b, *c]);
            }
        }
    }
    Some(out)
}

fn parse_color(text: &str) -> Color {
    let hex = text.trim_start_matches('#');
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match (hex.len(), byte(0), byte(2), byte(4)) {
        (6, Some(r), Some(g), Some(b)) => Color::from_rgba8(r, g, b, 255),
        _ => Color::from_rgba8(48, 52, 58, 255),
    }
}

/// The picture's background colour (render setting `background`, `#rrggbb`).
pub fn background(scene: &Scene) -> Color {
    parse_color(
        scene
            .render
            .get("background")
            .map_or("#30343a", String::as_str),
    )
}

/// Renders the scene on timeline frame `frame` to a pixmap.
pub fn render(
    scene: &Scene,
    shot: &Shot,
    frame: f64,
    width: u32,
    height: u32,
) -> Result<Pixmap, String> {
    let mut pixmap = Pixmap::new(width, height).ok_or("width and height must be at least 1")?;
    pixmap.fill(background(scene));
    let aspect = width as f32 / height as f32;
    let view = view_for(scene, shot, aspect);
    let camera = match shot {
        Shot::Camera(cam) => Some(*cam),
        Shot::Framed { .. } => None,
    };
    let vp = view.proj * view.view;
    let (w, h) = (width as f32, height as f32);
    let project = |p: Vec3| -> Option<(f32, f32, f32)> {
        let c = vp * p.extend(1.0);
        if c.w <= 1e-5 {
            return None;
        }
        let n = c.truncate() / c.w;
        Some(((n.x * 0.5 + 0.5) * w, (0.5 - n.y * 0.5) * h, c.w))
    };
    let mut posed = Posed::new(scene, overrides_on(scene, frame));

    // Ground grid on y = 0, 1 m cells around the origin.
    let mut grid = PathBuilder::new();
    for i in -5..=5 {
        let f = i as f32;
        for (a, b) in [
            (Vec3::new(f, 0.0, -5.0), Vec3::new(f, 0.0, 5.0)),
            (Vec3::new(-5.0, 0.0, f), Vec3::new(5.0, 0.0, f)),
        ] {
            if let (Some(pa), Some(pb)) = (project(a), project(b)) {
                grid.move_to(pa.0, pa.1);
                grid.line_to(pb.0, pb.1);
            }
        }
    }
    if let Some(path) = grid.finish() {
        let mut paint = Paint::default();
        paint.set_color_rgba8(90, 96, 104, 255);
        stroke_hairline(&mut pixmap, &path, &paint);
    }

    // Triangles, back to front.
    let light =
        (view.eye - Vec3::ZERO).normalize_or(Vec3::Z) * 0.3 + Vec3::new(0.3, 1.0, 0.4).normalize();
    let light = light.normalize_or(Vec3::Y);
    let mut tris: Vec<ScreenTriangle> = Vec::new();
    let ids: Vec<NodeId> = scene
        .live()
        .filter(|(_, n)| n.visible && n.kind == Kind::Mesh)
        .map(|(i, _)| i)
        .collect();
    for id in ids {
        let base = base_color(scene, id);
        for t in world_triangles(scene, id, &mut posed) {
            let (Some(a), Some(b), Some(c)) = (project(t[0]), project(t[1]), project(t[2])) else {
                continue;
            };
            let normal = (t[1] - t[0]).cross(t[2] - t[0]).normalize_or_zero();
            let shade = 0.3 + 0.7 * normal.dot(light).abs();
            let color = base.map(|c| (c as f32 * shade).clamp(0.0, 255.0) as u8);
            tris.push((
                (a.2 + b.2 + c.2) / 3.0,
                [(a.0, a.1), (b.0, b.1), (c.0, c.1)],
                color,
            ));
        }
    }
    tris.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut paint = Paint {
        anti_alias: false,
        ..Paint::default()
    };
    for (_, p, color) in &tris {
        let mut pb = PathBuilder::new();
        pb.move_to(p[0].0, p[0].1);
        pb.line_to(p[1].0, p[1].1);
        pb.line_to(p[2].0, p[2].1);
        pb.close();
        if let Some(path) = pb.finish() {
            paint.set_color_rgba8(color[0], color[1], color[2], 255);
            pixmap.fill_path(
                &path,
                &paint,
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }

    // Bones: a stick figure per armature, on top of everything.
    if scene.render.get("show_bones").is_none_or(|v| v != "false") {
        let mut paint = Paint {
            anti_alias: true,
            ..Paint::default()
        };
        paint.set_color_rgba8(255, 170, 40, 255);
        let stroke = Stroke {
            width: 2.0,
            ..Stroke::default()
        };
        for (arm, joints) in scene.armatures() {
            if !scene.node(arm).visible {
                continue;
            }
            let Ok(order) = scene.ordered_joints(arm, &joints) else {
                continue;
            };
            let mut pos: HashMap<NodeId, Vec3> = HashMap::new();
            let mut pb = PathBuilder::new();
            for (j, parent) in order {
                let p = posed.world(j).w_axis.truncate();
                pos.insert(j, p);
                if let Some(pp) = parent.and_then(|x| pos.get(&x))
                    && let (Some(a), Some(b)) = (project(*pp), project(p))
                {
                    pb.move_to(a.0, a.1);
                    pb.line_to(b.0, b.1);
                }
                if let Some(a) = project(p) {
                    pb.push_circle(a.0, a.1, 2.0);
                }
            }
            if let Some(path) = pb.finish() {
                pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
            }
        }
        // Markers for empties, cameras and lights.
        paint.set_color_rgba8(200, 200, 210, 255);
        let mut pb = PathBuilder::new();
        for (id, n) in scene.live() {
            if !n.visible
                || !matches!(n.kind, Kind::Empty | Kind::Camera | Kind::Light)
                || Some(id) == camera
            {
                continue;
            }
            if let Some(a) = project(posed.world(id).w_axis.truncate()) {
                pb.move_to(a.0 - 4.0, a.1);
                pb.line_to(a.0 + 4.0, a.1);
                pb.move_to(a.0, a.1 - 4.0);
                pb.line_to(a.0, a.1 + 4.0);
            }
        }
        if let Some(path) = pb.finish() {
            stroke_hairline(&mut pixmap, &path, &paint);
        }
    }
    Ok(pixmap)
}

fn base_color(scene: &Scene, id: NodeId) -> [u8; 3] {
    let default = [170, 180, 196];
    let Some(mesh) = scene
        .node(id)
        .mesh
        .and_then(|m| scene.doc.meshes.get(m as usize))
    else {
        return default;
    };
    let Some(material) = mesh
        .primitives
        .first()
        .and_then(|p| p.material)
        .and_then(|m| scene.doc.materials.get(m.value()))
    else {
        return default;
    };
    let f = material.pbr_metallic_roughness.base_color_factor.0;
    [
        (f[0] * 255.0) as u8,
        (f[1] * 255.0) as u8,
        (f[2] * 255.0) as u8,
    ]
}

/// Strokes `path` one pixel wide (the grid, and the markers of joints).
fn stroke_hairline(pixmap: &mut Pixmap, path: &tiny_skia::Path, paint: &Paint) {
    let stroke = Stroke {
        width: 1.0,
        ..Stroke::default()
    };
    pixmap.stroke_path(path, paint, &stroke, Transform::identity(), None);
}
