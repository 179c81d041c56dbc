//! The built-in `stage` DCC: a glTF scene in memory, in process.
//!
//! It is the default DCC when none is configured, the quickest way to try stagecraft (load a rigged
//! .glb, apply motion, look at it, save it), and the reference the Blender adapter is compared
//! with. The bridge's conventions (world space, centimetres, Euler XYZ in degrees) are converted
//! here; inside, everything is glTF (local TRS, metres, quaternions).

mod anim;
mod gltf_io;
mod render;
mod scene;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use base64::Engine as _;
use glam::{EulerRot, Mat4, Quat, Vec3};
use serde_json::{Map, Value, json};

use super::DccFailure;
use super::adapter::*;
use super::types::*;
use crate::call::CallContext;
use scene::{Kind, Node, NodeId, Scene, scene_error};

pub const PROTOCOL: &str = "stagecraft-bridge/1";
/// Largest image side the software renderer accepts (memory: 4 bytes per pixel).
const MAX_IMAGE_SIDE: u32 = 4096;
/// Most frames one contact sheet shows.
const MAX_SHEET_FRAMES: usize = 64;

pub struct StageAdapter {
    /// An async lock, so that a call waiting for the scene yields its worker instead of blocking
    /// it; heavy work moves the owned guard to the blocking pool (see [`StageAdapter::blocking`]).
    scene: Arc<tokio::sync::Mutex<Scene>>,
}

impl Default for StageAdapter {
    fn default() -> Self {
        Self::new()
    }
}

/// Every bridge method the stage DCC implements: all of them except the script engine.
pub fn stage_methods() -> Vec<String> {
    super::BRIDGE_METHODS
        .iter()
        .filter(|m| !m.starts_with("script."))
        .map(|m| m.to_string())
        .collect()
}

pub fn stage_info() -> DccInfo {
    let mut metadata = Map::new();
    metadata.insert(
        "description".into(),
        json!("stagecraft's built-in glTF scene"),
    );
    DccInfo {
        dcc_type: "stage".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        platform: std::env::consts::OS.into(),
        pid: std::process::id(),
        python_version: None,
        metadata,
    }
}

pub fn stage_capabilities() -> DccCapabilities {
    DccCapabilities {
        script_languages: Vec::new(),
        scene_info: true,
        snapshot: true,
        undo_redo: false,
        progress_reporting: false,
        file_operations: true,
        selection: true,
        scene_manager: true,
        transform: true,
        render_capture: true,
        hierarchy: true,
        animation: true,
        has_embedded_python: false,
        bridge_kind: Some("in_process".into()),
        bridge_endpoint: None,
        extensions: Map::new(),
    }
}

fn deg_to_quat(r: [f64; 3]) -> Quat {
    let [x, y, z] = r.map(|d| (d as f32).to_radians());
    Quat::from_euler(EulerRot::ZYX, z, y, x)
}

fn quat_to_deg(q: Quat) -> [f64; 3] {
    let (z, y, x) = q.to_euler(EulerRot::ZYX);
    [x, y, z].map(|r| clean(r.to_degrees() as f64))
}

/// Rounds away float noise so a value set as 90 reads back as 90.
fn clean(v: f64) -> f64 {
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

fn cm(v: Vec3) -> [f64; 3] {
    [v.x, v.y, v.z].map(|c| clean(c as f64 * 100.0))
}

fn finite3(what: &str, v: [f64; 3]) -> Result<Vec3, DccFailure> {
    if v.iter().any(|c| !c.is_finite() || c.abs() > 1e12) {
        return Err(DccFailure::invalid(format!(
            "{what} must hold three finite numbers, got {v:?}"
        )));
    }
    Ok(Vec3::new(v[0] as f32, v[1] as f32, v[2] as f32))
}

fn resolve(path: &str) -> Result<PathBuf, DccFailure> {
    if path.trim().is_empty() {
        return Err(DccFailure::invalid("file path must not be empty"));
    }
    let p = PathBuf::from(path);
    if p.is_absolute() {
        return Ok(p);
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .map_err(|e| DccFailure::internal(format!("cannot resolve {path:?}: {e}")))
}

/// The file formats the stage DCC opens, saves and exports.
const SCENE_FORMATS: &[&str] = &["glb", "gltf"];
/// What it imports besides: BVH motion capture, as an armature playing it.
const IMPORT_FORMATS: &[&str] = &["glb", "gltf", "bvh"];

/// A file's format, one of `known`: `format` when given, else the path's extension (any case).
fn file_format(
    path: &Path,
    format: Option<&str>,
    known: &[&'static str],
) -> Result<&'static str, DccFailure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let wanted = format.map(str::to_ascii_lowercase).unwrap_or(ext);
    known.iter().copied().find(|k| *k == wanted).ok_or_else(|| {
        let listed: Vec<String> = known.iter().map(|k| format!(".{k}")).collect();
        DccFailure::new(
            DccErrorCode::Unsupported,
            format!(
                "the stage DCC takes {} files here, not {wanted:?}",
                listed.join(", ")
            ),
        )
    })
}

impl StageAdapter {
    pub fn new() -> Self {
        Self {
            scene: Arc::new(tokio::sync::Mutex::new(Scene::new())),
        }
    }

    async fn lock(&self) -> tokio::sync::MutexGuard<'_, Scene> {
        self.scene.lock().await
    }

    /// Runs `work` on the scene on tokio's blocking pool, holding the lock throughout. Rendering,
    /// glTF encoding and file I/O can take seconds on a big scene; on an async worker they would
    /// stall every other task there, deadlines included (docs/architecture.md#one-tool-call).
    /// A call whose deadline passes returns at once; its work still finishes, then frees the scene.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Scene) -> DccResult<T> + Send + 'static,
    ) -> DccResult<T> {
        let mut scene = self.scene.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || work(&mut scene))
            .await
            .map_err(|e| DccFailure::internal(format!("the stage DCC's worker failed: {e}")))?
    }

    fn scene_info(scene: &Scene) -> SceneInfo {
        let mut stats = SceneStatistics {
            object_count: scene.live().count() as u64,
            light_count: scene.count_kind(Kind::Light),
            camera_count: scene.count_kind(Kind::Camera),
            material_count: scene.doc.materials.len() as u64,
            texture_count: scene.doc.textures.len() as u64,
            ..SceneStatistics::default()
        };
        for (_, n) in scene.live() {
            if let Some(m) = n.mesh {
                let (v, t) = gltf_io::mesh_counts(scene, m);
                stats.vertex_count += v;
                stats.polygon_count += t;
            }
        }
        let name = scene
            .file_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or("untitled".to_string(), |s| s.to_string_lossy().into_owned());
        let mut metadata = Map::new();
        metadata.insert(
            "actions".into(),
            json!(scene.actions.iter().map(|a| &a.name).collect::<Vec<_>>()),
        );
        SceneInfo {
            file_path: scene.file_path.as_ref().map(|p| p.display().to_string()),
            name,
            modified: scene.modified,
            format: scene.format.clone(),
            frame_range: Some([scene.frames.start, scene.frames.end]),
            current_frame: Some(scene.frames.current),
            fps: Some(scene.frames.fps),
            up_axis: Some("Y".into()),
            units: Some("cm".into()),
            statistics: stats,
            metadata,
        }
    }

    fn frame_range(scene: &Scene) -> FrameRange {
        FrameRange {
            start: scene.frames.start,
            end: scene.frames.end,
            fps: scene.frames.fps,
            current: scene.frames.current,
        }
    }

    fn transform_of(scene: &Scene, id: NodeId) -> ObjectTransform {
        let (s, r, t) = scene.world(id).to_scale_rotation_translation();
        ObjectTransform {
            translate: cm(t),
            rotate: quat_to_deg(r),
            scale: [s.x, s.y, s.z].map(|c| clean(c as f64)),
        }
    }

    fn find_all(scene: &Scene, names: &[String]) -> Result<Vec<NodeId>, DccFailure> {
        names.iter().map(|n| scene.find(n)).collect()
    }

    fn create(scene: &mut Scene, p: &CreateObjectParams) -> Result<NodeId, DccFailure> {
        let parent = p.parent.as_deref().map(|n| scene.find(n)).transpose()?;
        let translate = p
            .translate
            .map(|t| finite3("translate", t))
            .transpose()?
            .unwrap_or(Vec3::ZERO)
            / 100.0;
        let name = if p.name.trim().is_empty() {
            p.object_type.clone()
        } else {
            p.name.clone()
        };
        let id = match p.object_type.as_str() {
            "empty" => scene.add(Node::new(name, Kind::Empty), parent),
            "cube" => {
                let (pos, nor, idx) = cube_mesh();
                let mesh = gltf_io::push_mesh(scene, &name, &pos, &nor, &idx);
                let mut node = Node::new(name, Kind::Mesh);
                node.mesh = Some(mesh);
                scene.add(node, parent)
            }
            "sphere" => {
                let (pos, nor, idx) = sphere_mesh(24, 16);
                let mesh = gltf_io::push_mesh(scene, &name, &pos, &nor, &idx);
                let mut node = Node::new(name, Kind::Mesh);
                node.mesh = Some(mesh);
                scene.add(node, parent)
            }
            "camera" => {
                let camera = scene.doc.push(gltf_json::Camera {
                    name: Some(name.clone()),
                    orthographic: None,
                    perspective: Some(gltf_json::camera::Perspective {
                        aspect_ratio: None,
                        yfov: 0.6,
                        zfar: None,
                        znear: 0.05,
                        extensions: None,
                        extras: None,
                    }),
                    type_: gltf_json::validation::Checked::Valid(
                        gltf_json::camera::Type::Perspective,
                    ),
                    extensions: None,
                    extras: None,
                });
                let mut node = Node::new(name, Kind::Camera);
                node.camera = Some(camera.value() as u32);
                scene.add(node, parent)
            }
            "light" => {
                let light = add_point_light(scene, &name);
                let mut node = Node::new(name, Kind::Light);
                node.extensions
                    .insert("KHR_lights_punctual".into(), json!({"light": light}));
                scene.add(node, parent)
            }
            "armature" => create_armature(scene, &name, parent)?,
            other => {
                return Err(DccFailure::invalid(format!(
                    "object_type {other:?} is not one of empty, cube, sphere, camera, light, armature"
                )));
            }
        };
        let (s, r, _) = scene.world(id).to_scale_rotation_translation();
        scene.set_world(id, Mat4::from_scale_rotation_translation(s, r, translate))?;
        scene.modified = true;
        Ok(id)
    }

    fn bbox(scene: &Scene, id: NodeId) -> BoundingBox {
        let mut posed = anim::Posed::new(scene, render::current_overrides(scene));
        let mut min = Vec3::splat(f32::INFINITY);
        let mut max = Vec3::splat(f32::NEG_INFINITY);
        let mut ids = vec![id];
        if scene.node(id).kind != Kind::Mesh {
            ids.extend(scene.descendants(id));
        }
        for n in ids {
            let p = posed.world(n).w_axis.truncate();
            let tris = render::world_triangles(scene, n, &mut posed);
            if tris.is_empty() {
                min = min.min(p);
                max = max.max(p);
            }
            for v in tris.iter().flatten() {
                min = min.min(*v);
                max = max.max(*v);
            }
        }
        BoundingBox {
            min: cm(min),
            max: cm(max),
        }
    }

    /// Renders what `p` asks for (view, focus, frames; docs/bridge-protocol.md#methods) as a PNG;
    /// several frames make a contact sheet of `width × height`. Returns the camera used, if any.
    fn render_png(
        scene: &Scene,
        p: &CaptureParams,
        width: u32,
        height: u32,
    ) -> Result<(Vec<u8>, Option<String>), DccFailure> {
        if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
            return Err(DccFailure::invalid(format!(
                "width and height must be between 1 and {MAX_IMAGE_SIDE}, got {width}x{height}"
            )));
        }
        let frames = p
            .frames
            .clone()
            .unwrap_or_else(|| vec![scene.frames.current]);
        if frames.is_empty() || frames.len() > MAX_SHEET_FRAMES {
            return Err(DccFailure::invalid(format!(
                "frames must hold 1 to {MAX_SHEET_FRAMES} frames, got {}",
                frames.len()
            )));
        }
        if let Some(f) = frames.iter().find(|f| !f.is_finite() || f.abs() > 1e9) {
            return Err(DccFailure::invalid(format!(
                "frame {f} is not a finite frame number"
            )));
        }
        let shot = Self::shot(scene, p, &frames)?;
        let camera = match shot {
            render::Shot::Camera(c) => Some(scene.node(c).name.clone()),
            render::Shot::Framed { .. } => None,
        };
        let pixmap = if let [frame] = frames[..] {
            render::render(scene, &shot, frame, width, height).map_err(DccFailure::invalid)?
        } else {
            Self::contact_sheet(scene, &shot, &frames, width, height)?
        };
        let png = pixmap
            .encode_png()
            .map_err(|e| DccFailure::internal(format!("cannot encode PNG: {e}")))?;
        Ok((png, camera))
    }

    /// Where a capture looks from: a camera for `view: camera` (or `current` with a camera chosen
    /// and no focus), else a shot framing the focus (or everything visible) over all `frames`.
    fn shot(scene: &Scene, p: &CaptureParams, frames: &[f64]) -> Result<render::Shot, DccFailure> {
        let setting = scene
            .render
            .get("camera")
            .filter(|c| !c.is_empty())
            .map(String::as_str);
        let camera = match p.viewport.as_deref().or(setting) {
            None | Some("default") | Some("perspective") => None,
            Some(name) => {
                let id = scene.find(name)?;
                if scene.node(id).kind != Kind::Camera {
                    return Err(scene_error(format!("{name:?} is not a camera")));
                }
                Some(id)
            }
        };
        let focus = p
            .focus
            .as_ref()
            .map(|names| Self::focus_nodes(scene, names))
            .transpose()?;
        let framed = |direction: Vec3, up: Vec3| render::Shot::Framed {
            direction,
            up,
            points: render::points_on(scene, focus.as_deref(), frames),
        };
        Ok(match p.view.as_deref().unwrap_or("current") {
            "camera" => render::Shot::Camera(camera.ok_or_else(|| {
                scene_error(
                    "view camera needs a camera: pass viewport (a camera's name) or set the render setting camera",
                )
            })?),
            "current" => match (camera, &focus) {
                (Some(cam), None) => render::Shot::Camera(cam),
                _ => framed(render::THREE_QUARTER, Vec3::Y),
            },
            "front" => framed(Vec3::Z, Vec3::Y),
            "side" => framed(Vec3::X, Vec3::Y),
            "top" => framed(Vec3::Y, Vec3::NEG_Z),
            other => {
                return Err(DccFailure::invalid(format!(
                    "view {other:?} is not one of current, front, side, top, camera"
                )));
            }
        })
    }

    /// The nodes a focus on `names` must fit: each object with what hangs below it, and for an
    /// armature also the meshes its skins deform (they need not hang below it).
    fn focus_nodes(scene: &Scene, names: &[String]) -> Result<Vec<NodeId>, DccFailure> {
        let mut ids = Vec::new();
        for name in names {
            let id = scene.find(name)?;
            ids.push(id);
            ids.extend(scene.descendants(id));
            ids.extend(scene.live().filter_map(|(mesh, node)| {
                let skin = node.skin.and_then(|s| scene.skins.get(s))?;
                (scene.armature_of_skin(skin) == Some(id)).then_some(mesh)
            }));
        }
        Ok(ids)
    }

    /// One cell per frame, in rows of about the square root of their number, left to right.
    fn contact_sheet(
        scene: &Scene,
        shot: &render::Shot,
        frames: &[f64],
        width: u32,
        height: u32,
    ) -> Result<tiny_skia::Pixmap, DccFailure> {
        let count = frames.len() as u32;
        let columns = (count as f64).sqrt().ceil() as u32;
        let rows = count.div_ceil(columns);
        let (cell_w, cell_h) = (width / columns, height / rows);
        if cell_w < 16 || cell_h < 16 {
            return Err(DccFailure::invalid(format!(
                "{width}x{height} is too small for {count} frames (cells of {cell_w}x{cell_h})"
            )));
        }
        let mut sheet = tiny_skia::Pixmap::new(width, height)
            .ok_or_else(|| DccFailure::internal("cannot allocate the contact sheet"))?;
        sheet.fill(render::background(scene));
        for (i, frame) in frames.iter().enumerate() {
            let cell =
                render::render(scene, shot, *frame, cell_w, cell_h).map_err(DccFailure::invalid)?;
            let (column, row) = (i as u32 % columns, i as u32 / columns);
            sheet.draw_pixmap(
                (column * cell_w) as i32,
                (row * cell_h) as i32,
                cell.as_ref(),
                &tiny_skia::PixmapPaint::default(),
                tiny_skia::Transform::identity(),
                None,
            );
        }
        Ok(sheet)
    }

    fn size_setting(scene: &Scene, key: &str, default: u32) -> u32 {
        scene
            .render
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

fn add_point_light(scene: &mut Scene, name: &str) -> usize {
    let ext = scene.doc.extensions.get_or_insert_with(Default::default);
    let lights = ext
        .others
        .entry("KHR_lights_punctual")
        .or_insert_with(|| json!({"lights": []}));
    let index = match lights.get_mut("lights").and_then(Value::as_array_mut) {
        Some(list) => {
            list.push(json!({"name": name, "type": "point", "intensity": 100.0, "color": [1.0, 1.0, 1.0]}));
            list.len() - 1
        }
        None => {
            *lights = json!({"lights": [{"name": name, "type": "point", "intensity": 100.0}]});
            0
        }
    };
    if !scene
        .doc
        .extensions_used
        .iter()
        .any(|e| e == "KHR_lights_punctual")
    {
        scene.doc.extensions_used.push("KHR_lights_punctual".into());
    }
    index
}

/// A small three-joint armature (`NAME:Root` → `NAME:Spine` → `NAME:Head`) whose joints have
/// non-identity rest rotations, like bones in most DCCs; 1 m tall.
fn create_armature(
    scene: &mut Scene,
    name: &str,
    parent: Option<NodeId>,
) -> Result<NodeId, DccFailure> {
    let arm = scene.add(Node::new(name.to_string(), Kind::Armature), parent);
    let arm_name = scene.node(arm).name.clone();
    let rest: [(&str, Vec3, Quat); 3] = [
        (
            "Root",
            Vec3::new(0.0, 0.5, 0.0),
            Quat::from_rotation_z(90f32.to_radians()),
        ),
        (
            "Spine",
            Vec3::new(0.0, 0.8, 0.05),
            Quat::from_rotation_z(80f32.to_radians()) * Quat::from_rotation_x(0.3),
        ),
        ("Head", Vec3::new(0.0, 1.0, 0.0), Quat::from_rotation_y(0.5)),
    ];
    let mut joints = Vec::new();
    let mut up = arm;
    for (joint, pos, rot) in rest {
        let id = scene.add(
            Node::new(format!("{arm_name}:{joint}"), Kind::Joint),
            Some(up),
        );
        let base = scene.world(arm);
        scene.set_world(id, base * Mat4::from_rotation_translation(rot, pos))?;
        joints.push(id);
        up = id;
    }
    scene.skins.push(scene::Skin {
        name: Some(arm_name),
        joints: joints.clone(),
        skeleton: joints.first().copied(),
        inverse_bind_matrices: None,
    });
    Ok(arm)
}

fn cube_mesh() -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut pos = Vec::new();
    let mut nor = Vec::new();
    let mut idx = Vec::new();
    let faces: [(Vec3, Vec3, Vec3); 6] = [
        (Vec3::X, Vec3::Y, Vec3::Z),
        (Vec3::NEG_X, Vec3::Z, Vec3::Y),
        (Vec3::Y, Vec3::Z, Vec3::X),
        (Vec3::NEG_Y, Vec3::X, Vec3::Z),
        (Vec3::Z, Vec3::X, Vec3::Y),
        (Vec3::NEG_Z, Vec3::Y, Vec3::X),
    ];
    for (n, u, v) in faces {
        let base = (pos.len() / 3) as u32;
        for (a, b) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let p = n + u * a + v * b;
            pos.extend_from_slice(&p.to_array());
            nor.extend_from_slice(&n.to_array());
        }
        // Counter-clockwise seen from outside.
        if u.cross(v).dot(n) > 0.0 {
            idx.extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
        } else {
            idx.extend_from_slice(&[base, base + 2, base + 1, base, base + 3, base + 2]);
        }
    }
    (pos, nor, idx)
}

fn sphere_mesh(segments: u32, rings: u32) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut pos = Vec::new();
    let mut idx = Vec::new();
    for r in 0..=rings {
        let phi = std::f32::consts::PI * r as f32 / rings as f32;
        for s in 0..=segments {
            let theta = std::f32::consts::TAU * s as f32 / segments as f32;
            pos.extend_from_slice(&[phi.sin() * theta.cos(), phi.cos(), phi.sin() * theta.sin()]);
        }
    }
    let row = segments + 1;
    for r in 0..rings {
        for s in 0..segments {
            let a = r * row + s;
            let b = a + row;
            idx.extend_from_slice(&[a, a + 1, b, a + 1, b + 1, b]);
        }
    }
    let nor = pos.clone();
    (pos, nor, idx)
}

#[async_trait]
impl DccAdapter for StageAdapter {
    async fn hello(&self, _call: &CallContext) -> DccResult<Hello> {
        Ok(Hello {
            protocol: PROTOCOL.into(),
            info: stage_info(),
            capabilities: stage_capabilities(),
            methods: stage_methods(),
        })
    }
    async fn ping(&self, _call: &CallContext) -> DccResult<Ping> {
        Ok(Ping { busy: false })
    }
    fn info(&self) -> Option<DccInfo> {
        Some(stage_info())
    }
    fn capabilities(&self) -> Option<DccCapabilities> {
        Some(stage_capabilities())
    }
    fn implements(&self, method: &str) -> bool {
        super::BRIDGE_METHODS.contains(&method) && !method.starts_with("script.")
    }
    fn as_scene_manager(&self) -> Option<&dyn SceneManager> {
        Some(self)
    }
    fn as_transform(&self) -> Option<&dyn Transform> {
        Some(self)
    }
    fn as_hierarchy(&self) -> Option<&dyn Hierarchy> {
        Some(self)
    }
    fn as_render_capture(&self) -> Option<&dyn RenderCapture> {
        Some(self)
    }
    fn as_animation(&self) -> Option<&dyn Animation> {
        Some(self)
    }
}

#[async_trait]
impl SceneManager for StageAdapter {
    async fn get_scene_info(&self, _call: &CallContext) -> DccResult<SceneInfo> {
        Ok(Self::scene_info(&*self.lock().await))
    }

    async fn list_objects(
        &self,
        p: ListObjectsParams,
        _call: &CallContext,
    ) -> DccResult<Vec<SceneObject>> {
        let scene = self.lock().await;
        if let Some(t) = &p.object_type
            && !Kind::ALL.contains(&t.as_str())
        {
            return Err(DccFailure::invalid(format!(
                "object_type {t:?} is not one of {}",
                Kind::ALL.join(", ")
            )));
        }
        Ok(scene
            .live()
            .filter(|(_, n)| {
                p.object_type
                    .as_deref()
                    .is_none_or(|t| t == n.kind.as_str())
            })
            .map(|(i, _)| scene.object(i))
            .collect())
    }

    async fn create_object(
        &self,
        p: CreateObjectParams,
        _call: &CallContext,
    ) -> DccResult<SceneObject> {
        let mut scene = self.lock().await;
        let id = Self::create(&mut scene, &p)?;
        Ok(scene.object(id))
    }

    async fn delete_objects(
        &self,
        p: ObjectNamesParams,
        _call: &CallContext,
    ) -> DccResult<Vec<String>> {
        let mut scene = self.lock().await;
        let ids = Self::find_all(&scene, &p.object_names)?;
        // Deleting an armature takes its joints along; a lone joint cannot go (the skin needs it).
        let mut doomed: Vec<NodeId> = Vec::new();
        for &id in &ids {
            match scene.node(id).kind {
                Kind::Joint => {
                    return Err(scene_error(format!(
                        "{:?} is a joint of an armature; delete the armature instead",
                        scene.node(id).name
                    )));
                }
                Kind::Armature => {
                    let joints = scene.armature_joints(id);
                    doomed.push(id);
                    doomed.extend(joints.into_iter().filter(|j| *j != id));
                }
                _ => doomed.push(id),
            }
        }
        let mut deleted = Vec::new();
        // Deepest first, so joints never get reparented onto a node that is about to go.
        doomed.sort_by_key(|id| std::cmp::Reverse(scene.long_name(*id).matches('|').count()));
        doomed.dedup();
        for id in doomed {
            if scene.nodes[id].is_none() {
                continue;
            }
            let name = scene.node(id).name.clone();
            scene.remove(id)?;
            if p.object_names.contains(&name) {
                deleted.push(name);
            }
        }
        scene.modified = true;
        Ok(deleted)
    }

    async fn get_selection(&self, _call: &CallContext) -> DccResult<Vec<String>> {
        let scene = self.lock().await;
        Ok(scene
            .selection
            .iter()
            .map(|i| scene.node(*i).name.clone())
            .collect())
    }

    async fn set_selection(
        &self,
        p: ObjectNamesParams,
        _call: &CallContext,
    ) -> DccResult<Vec<String>> {
        let mut scene = self.lock().await;
        let mut ids = Self::find_all(&scene, &p.object_names)?;
        ids.dedup();
        scene.selection = ids;
        Ok(scene
            .selection
            .iter()
            .map(|i| scene.node(*i).name.clone())
            .collect())
    }

    async fn select_by_type(
        &self,
        p: ObjectTypeParams,
        _call: &CallContext,
    ) -> DccResult<Vec<String>> {
        let mut scene = self.lock().await;
        if !Kind::ALL.contains(&p.object_type.as_str()) {
            return Err(DccFailure::invalid(format!(
                "object_type {:?} is not one of {}",
                p.object_type,
                Kind::ALL.join(", ")
            )));
        }
        scene.selection = scene
            .live()
            .filter(|(_, n)| n.kind.as_str() == p.object_type)
            .map(|(i, _)| i)
            .collect();
        Ok(scene
            .selection
            .iter()
            .map(|i| scene.node(*i).name.clone())
            .collect())
    }

    async fn set_visibility(&self, p: SetVisibilityParams, _call: &CallContext) -> DccResult<bool> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        scene.node_mut(id).visible = p.visible;
        scene.modified = true;
        Ok(p.visible)
    }

    async fn new_scene(&self, _p: NewSceneParams, _call: &CallContext) -> DccResult<SceneInfo> {
        let mut scene = self.lock().await;
        *scene = Scene::new();
        Ok(Self::scene_info(&scene))
    }

    async fn open_file(&self, p: OpenFileParams, _call: &CallContext) -> DccResult<SceneInfo> {
        let path = resolve(&p.file_path)?;
        let format = file_format(&path, None, SCENE_FORMATS)?;
        // Check, load and replace under one lock: an edit that slipped in between the check for
        // unsaved changes and the replacement would be silently thrown away.
        self.blocking(move |scene| {
            if scene.modified && !p.force {
                return Err(scene_error("the scene has unsaved changes").with_details(
                    json!({"hint": "save it first, or pass force: true to discard the changes"}),
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| {
                scene_error(format!("cannot read {}: {e}", path.display()))
                    .with_details(json!({"file_path": path}))
            })?;
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            let mut loaded = gltf_io::load(&bytes, &dir)
                .map_err(|e| scene_error(format!("cannot load {}: {e}", path.display())))?;
            loaded.file_path = Some(path);
            loaded.format = Some(format.to_string());
            *scene = loaded;
            Ok(Self::scene_info(scene))
        })
        .await
    }

    async fn save_file(&self, p: SaveFileParams, _call: &CallContext) -> DccResult<String> {
        self.blocking(move |scene| {
            let path = match p.file_path.as_deref() {
                Some(path) => resolve(path)?,
                None => scene.file_path.clone().ok_or_else(|| {
                    scene_error(
                        "the scene has never been saved; pass file_path (a .glb or .gltf path)",
                    )
                })?,
            };
            let format = file_format(&path, None, SCENE_FORMATS)?;
            write_scene(scene, &path, format, false)?;
            scene.file_path = Some(path.clone());
            scene.format = Some(format.into());
            scene.modified = false;
            Ok(path.display().to_string())
        })
        .await
    }

    async fn import_file(
        &self,
        p: ImportFileParams,
        _call: &CallContext,
    ) -> DccResult<ImportResult> {
        let path = resolve(&p.file_path)?;
        let format = file_format(&path, p.format.as_deref(), IMPORT_FORMATS)?;
        self.blocking(move |scene| {
            let bytes = std::fs::read(&path).map_err(|e| {
                scene_error(format!("cannot read {}: {e}", path.display()))
                    .with_details(json!({"file_path": path}))
            })?;
            let before: Vec<NodeId> = scene.live().map(|(id, _)| id).collect();
            if format == "bvh" {
                import_bvh(scene, &path, &bytes)?;
            } else {
                import_gltf(scene, &path, &bytes)?;
            }
            scene.modified = true;
            let created: Vec<NodeId> = scene
                .live()
                .map(|(id, _)| id)
                .filter(|id| !before.contains(id))
                .collect();
            let armatures = scene
                .armatures()
                .into_iter()
                .filter(|(arm, _)| created.contains(arm))
                .map(|(arm, _)| scene.node(arm).name.clone())
                .collect();
            Ok(ImportResult {
                file_path: path.display().to_string(),
                format: format.into(),
                objects: created
                    .iter()
                    .filter(|id| scene.node(**id).kind != Kind::Joint)
                    .map(|id| scene.node(*id).name.clone())
                    .collect(),
                armatures,
            })
        })
        .await
    }

    async fn export_file(&self, p: ExportFileParams, _call: &CallContext) -> DccResult<String> {
        let path = resolve(&p.file_path)?;
        let format = file_format(&path, Some(&p.format), SCENE_FORMATS)?;
        self.blocking(move |scene| {
            write_scene(scene, &path, format, p.selection_only)?;
            Ok(path.display().to_string())
        })
        .await
    }
}

/// Adds a glTF file's content to the scene: into an empty scene the file's document as it is (its
/// timeline included), else merged into the scene's document (`gltf_io::merge`).
fn import_gltf(scene: &mut Scene, path: &Path, bytes: &[u8]) -> Result<(), DccFailure> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut loaded = gltf_io::load(bytes, &dir)
        .map_err(|e| scene_error(format!("cannot load {}: {e}", path.display())))?;
    if scene.live().next().is_some() {
        gltf_io::merge(scene, loaded);
        return Ok(());
    }
    // The scene keeps its own file (untitled: saving must not overwrite the imported file in
    // place) and render settings.
    loaded.file_path = scene.file_path.take();
    loaded.format = scene.format.take();
    loaded.render = std::mem::take(&mut scene.render);
    *scene = loaded;
    Ok(())
}

/// Adds a BVH file's skeleton as a new armature (named after the file) and plays its motion from
/// the scene's first frame. Joints rest aligned with the world, as BVH defines them. Most mocap
/// BVH is in centimetres: a skeleton taller than 10 units is read as centimetres, else as metres.
fn import_bvh(scene: &mut Scene, path: &Path, bytes: &[u8]) -> Result<(), DccFailure> {
    let cannot = |why: String| {
        scene_error(format!("cannot read {}: {why}", path.display()))
            .with_details(json!({"file_path": path}))
    };
    let text = std::str::from_utf8(bytes).map_err(|e| cannot(format!("not UTF-8 text ({e})")))?;
    let parsed = crate::motion::bvh::read(text).map_err(|e| cannot(e.to_string()))?;
    let scale = if parsed.rest_height() > 10.0 {
        0.01
    } else {
        1.0
    };
    let take = parsed.to_take(scale);
    let stem = path
        .file_stem()
        .map_or("bvh".to_string(), |s| s.to_string_lossy().into_owned());
    let arm = scene.add(Node::new(stem, Kind::Armature), None);
    let arm_name = scene.node(arm).name.clone();
    let mut ids: Vec<NodeId> = Vec::with_capacity(take.skeleton.joints.len());
    for joint in &take.skeleton.joints {
        let parent = joint
            .parent
            .and_then(|p| ids.get(p).copied())
            .unwrap_or(arm);
        let mut node = Node::new(joint.name.clone(), Kind::Joint);
        node.t = Vec3::from(joint.rest_translation);
        ids.push(scene.add(node, Some(parent)));
    }
    scene.skins.push(scene::Skin {
        name: Some(arm_name.clone()),
        joints: ids.clone(),
        skeleton: ids.first().copied(),
        inverse_bind_matrices: None,
    });
    let Some(sample) = take.samples.first().filter(|_| take.num_frames > 0) else {
        return Ok(());
    };
    let (frames, joints) = (take.num_frames, ids.len());
    let translations = sample
        .joint_translations
        .iter()
        .map(|(j, track)| {
            let values: Vec<f32> = track.iter().flatten().copied().collect();
            (
                scene.node(ids[*j]).name.clone(),
                F32Array::encode(vec![frames, 3], &values),
            )
        })
        .collect::<std::collections::BTreeMap<_, _>>();
    let rotations: Vec<f32> = sample.rotations.iter().flatten().copied().collect();
    let roots: Vec<f32> = sample.root_positions.iter().flatten().copied().collect();
    let motion = ApplyMotionParams {
        armature: arm_name.clone(),
        fps: take.fps as f64,
        // The names the joints got here (a name already taken in the scene gets a suffix).
        joint_names: ids.iter().map(|id| scene.node(*id).name.clone()).collect(),
        rotations: F32Array::encode(vec![frames, joints, 4], &rotations),
        root_positions: F32Array::encode(vec![frames, 3], &roots),
        joint_translations: (!translations.is_empty()).then_some(translations),
        start_frame: Some(scene.frames.start as i64),
        action_name: Some(arm_name),
        in_place: false,
    };
    anim::apply_motion(scene, &motion)?;
    Ok(())
}

fn write_scene(
    scene: &Scene,
    path: &Path,
    format: &str,
    selection_only: bool,
) -> Result<(), DccFailure> {
    let bytes = match format {
        "glb" => gltf_io::to_glb(scene, selection_only),
        _ => gltf_io::to_gltf(scene, selection_only),
    }
    .map_err(|e| DccFailure::internal(format!("cannot encode the scene: {e}")))?;
    // Write next to the target and rename, so a failed write never leaves half a file.
    let tmp = path.with_extension(format!("{format}.tmp"));
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            scene_error(format!("cannot write {}: {e}", path.display()))
                .with_details(json!({"file_path": path}))
        })
}

#[async_trait]
impl Transform for StageAdapter {
    async fn get_transform(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<ObjectTransform> {
        let scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        Ok(Self::transform_of(&scene, id))
    }

    async fn set_transform(
        &self,
        p: SetTransformParams,
        _call: &CallContext,
    ) -> DccResult<ObjectTransform> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        let (s, r, t) = scene.world(id).to_scale_rotation_translation();
        let t = match p.translate {
            Some(v) => finite3("translate", v)? / 100.0,
            None => t,
        };
        let r = match p.rotate {
            Some(v) => deg_to_quat(finite3("rotate", v)?.to_array().map(f64::from)),
            None => r,
        };
        let s = match p.scale {
            Some(v) => {
                let s = finite3("scale", v)?;
                if s.abs().min_element() < 1e-9 {
                    return Err(DccFailure::invalid(format!(
                        "scale must not be zero, got {v:?}"
                    )));
                }
                s
            }
            None => s,
        };
        scene.set_world(id, Mat4::from_scale_rotation_translation(s, r, t))?;
        scene.modified = true;
        Ok(Self::transform_of(&scene, id))
    }

    async fn get_bounding_box(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<BoundingBox> {
        self.blocking(move |scene| {
            let id = scene.find(&p.object_name)?;
            Ok(Self::bbox(scene, id))
        })
        .await
    }

    async fn rename_object(&self, p: RenameParams, _call: &CallContext) -> DccResult<String> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.old_name)?;
        let name = scene.rename(id, &p.new_name)?;
        scene.modified = true;
        Ok(name)
    }
}

#[async_trait]
impl Hierarchy for StageAdapter {
    async fn get_hierarchy(&self, _call: &CallContext) -> DccResult<Vec<SceneNode>> {
        let scene = self.lock().await;
        fn tree(scene: &Scene, id: NodeId) -> SceneNode {
            SceneNode {
                object: scene.object(id),
                children: scene
                    .node(id)
                    .children
                    .iter()
                    .map(|c| tree(scene, *c))
                    .collect(),
            }
        }
        Ok(scene.roots().into_iter().map(|r| tree(&scene, r)).collect())
    }

    async fn get_children(
        &self,
        p: OptionalObjectParams,
        _call: &CallContext,
    ) -> DccResult<Vec<SceneObject>> {
        let scene = self.lock().await;
        let ids = match p.object_name.as_deref() {
            None => scene.roots(),
            Some(name) => scene.node(scene.find(name)?).children.clone(),
        };
        Ok(ids.into_iter().map(|i| scene.object(i)).collect())
    }

    async fn get_parent(
        &self,
        p: ObjectNameParams,
        _call: &CallContext,
    ) -> DccResult<Option<String>> {
        let scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        Ok(scene.node(id).parent.map(|p| scene.node(p).name.clone()))
    }

    async fn group_objects(&self, p: GroupParams, _call: &CallContext) -> DccResult<SceneObject> {
        let mut scene = self.lock().await;
        if p.object_names.is_empty() {
            return Err(DccFailure::invalid(
                "object_names must name at least one object",
            ));
        }
        let ids = Self::find_all(&scene, &p.object_names)?;
        let parent = p.parent.as_deref().map(|n| scene.find(n)).transpose()?;
        if let Some(par) = parent
            && let Some(bad) = ids
                .iter()
                .find(|i| **i == par || scene.is_ancestor(**i, par))
        {
            return Err(scene_error(format!(
                "cannot group {:?} under {:?}: that would make a cycle",
                scene.node(*bad).name,
                scene.node(par).name
            )));
        }
        let group = scene.add(Node::new(p.group_name.clone(), Kind::Empty), parent);
        for id in ids {
            scene.reparent(id, Some(group), true)?;
        }
        scene.modified = true;
        Ok(scene.object(group))
    }

    async fn ungroup(&self, p: UngroupParams, _call: &CallContext) -> DccResult<Vec<String>> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.group_name)?;
        if scene.node(id).kind != Kind::Empty {
            return Err(scene_error(format!(
                "{:?} is a {}, not a group (an empty)",
                p.group_name,
                scene.node(id).kind.as_str()
            )));
        }
        let children = scene.node(id).children.clone();
        let names = children
            .iter()
            .map(|c| scene.node(*c).name.clone())
            .collect();
        scene.remove(id)?;
        scene.modified = true;
        Ok(names)
    }

    async fn reparent(&self, p: ReparentParams, _call: &CallContext) -> DccResult<SceneObject> {
        let mut scene = self.lock().await;
        let id = scene.find(&p.object_name)?;
        let parent = p.new_parent.as_deref().map(|n| scene.find(n)).transpose()?;
        scene.reparent(id, parent, p.preserve_world_transform)?;
        scene.modified = true;
        Ok(scene.object(id))
    }
}

#[async_trait]
impl RenderCapture for StageAdapter {
    async fn capture_viewport(
        &self,
        p: CaptureParams,
        _call: &CallContext,
    ) -> DccResult<CaptureResult> {
        let format = p.format.as_deref().unwrap_or("png").to_ascii_lowercase();
        if format != "png" {
            return Err(DccFailure::new(
                DccErrorCode::Unsupported,
                format!("the stage DCC captures PNG only, not {format:?}"),
            ));
        }
        let width = p.width.unwrap_or(640);
        let height = p.height.unwrap_or(480);
        let frames = p.frames.clone();
        let (png, viewport) = self
            .blocking(move |scene| Self::render_png(scene, &p, width, height))
            .await?;
        Ok(CaptureResult {
            data_b64: base64::engine::general_purpose::STANDARD.encode(png),
            width,
            height,
            format,
            viewport: Some(viewport.unwrap_or_else(|| "default".into())),
            frames,
        })
    }

    async fn render_scene(
        &self,
        p: RenderSceneParams,
        _call: &CallContext,
    ) -> DccResult<RenderOutput> {
        if let Some(r) = p.renderer.as_deref()
            && r != "stage_software"
        {
            return Err(DccFailure::new(
                DccErrorCode::Unsupported,
                format!("the stage DCC has one renderer, stage_software, not {r:?}"),
            ));
        }
        let path = resolve(&p.output_path)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ext != "png" {
            return Err(DccFailure::new(
                DccErrorCode::Unsupported,
                "the stage DCC renders PNG files only (output_path must end in .png)",
            ));
        }
        self.blocking(move |scene| {
            let started = Instant::now();
            let width = p
                .width
                .unwrap_or_else(|| Self::size_setting(scene, "resolution_x", 640));
            let height = p
                .height
                .unwrap_or_else(|| Self::size_setting(scene, "resolution_y", 480));
            let (png, _) = Self::render_png(scene, &CaptureParams::default(), width, height)?;
            std::fs::write(&path, png)
                .map_err(|e| scene_error(format!("cannot write {}: {e}", path.display())))?;
            Ok(RenderOutput {
                file_path: path.display().to_string(),
                width,
                height,
                format: "png".into(),
                render_time_ms: started.elapsed().as_secs_f64() * 1000.0,
            })
        })
        .await
    }

    async fn get_render_settings(&self, _call: &CallContext) -> DccResult<RenderSettings> {
        Ok(RenderSettings(self.lock().await.render.clone()))
    }

    async fn set_render_settings(
        &self,
        p: RenderSettingsParams,
        _call: &CallContext,
    ) -> DccResult<RenderSettings> {
        let mut scene = self.lock().await;
        let mut next = scene.render.clone();
        for (key, value) in p.settings {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(DccFailure::invalid(format!(
                        "setting {key:?}: {other} is not a string, number or bool"
                    )));
                }
            };
            let ok = match key.as_str() {
                "resolution_x" | "resolution_y" => text
                    .parse::<u32>()
                    .is_ok_and(|v| (1..=MAX_IMAGE_SIDE).contains(&v)),
                "engine" => text == "stage_software",
                "camera" => {
                    text.is_empty()
                        || scene
                            .find(&text)
                            .is_ok_and(|id| scene.node(id).kind == Kind::Camera)
                }
                "background" => {
                    text.len() == 7
                        && text.starts_with('#')
                        && u32::from_str_radix(&text[1..], 16).is_ok()
                }
                "show_bones" => text == "true" || text == "false",
                _ => {
                    return Err(DccFailure::invalid(format!(
                        "unknown render setting {key:?}; known: {}",
                        scene.render.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            };
            if !ok {
                return Err(DccFailure::invalid(format!(
                    "render setting {key:?} cannot be {text:?}"
                )));
            }
            next.insert(key, text);
        }
        scene.render = next;
        Ok(RenderSettings(scene.render.clone()))
    }
}

#[async_trait]
impl Animation for StageAdapter {
    async fn list_armatures(&self, _call: &CallContext) -> DccResult<Vec<ArmatureSummary>> {
        let scene = self.lock().await;
        Ok(scene
            .armatures()
            .into_iter()
            .map(|(arm, joints)| ArmatureSummary {
                name: scene.node(arm).name.clone(),
                joints: joints.len(),
                action: scene
                    .active_action
                    .get(&arm)
                    .and_then(|i| scene.actions.get(*i))
                    .map(|a| a.name.clone()),
            })
            .collect())
    }

    async fn get_skeleton(&self, p: ArmatureParams, _call: &CallContext) -> DccResult<Skeleton> {
        let scene = self.lock().await;
        let (arm, joints) = scene.find_armature(&p.armature)?;
        let order = scene.ordered_joints(arm, &joints)?;
        let pos = |id: NodeId| scene.world(id).w_axis.truncate();
        let joints = order
            .iter()
            .map(|(j, parent)| {
                let offset = match parent {
                    Some(par) => pos(*j) - pos(*par),
                    None => pos(*j),
                };
                Joint {
                    name: scene.node(*j).name.clone(),
                    parent: parent.map(|p| scene.node(p).name.clone()),
                    rest_translation: [offset.x, offset.y, offset.z].map(|v| v as f64),
                    rest_rotation: [0.0, 0.0, 0.0, 1.0],
                    display_name: None,
                }
            })
            .collect();
        Ok(Skeleton::new(joints))
    }

    async fn apply_motion(
        &self,
        p: ApplyMotionParams,
        _call: &CallContext,
    ) -> DccResult<ApplyMotionResult> {
        self.blocking(move |scene| anim::apply_motion(scene, &p))
            .await
    }

    async fn sample_pose(&self, p: SamplePoseParams, _call: &CallContext) -> DccResult<Pose> {
        self.blocking(move |scene| anim::sample_pose(scene, &p))
            .await
    }

    async fn get_frame_range(&self, _call: &CallContext) -> DccResult<FrameRange> {
        Ok(Self::frame_range(&*self.lock().await))
    }

    async fn set_frame_range(
        &self,
        p: SetFrameRangeParams,
        _call: &CallContext,
    ) -> DccResult<FrameRange> {
        let mut scene = self.lock().await;
        let mut f = scene.frames;
        for (name, value, slot) in [
            ("start", p.start, &mut f.start),
            ("end", p.end, &mut f.end),
            ("fps", p.fps, &mut f.fps),
            ("current", p.current, &mut f.current),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v.abs() > 1e9 {
                    return Err(DccFailure::invalid(format!(
                        "{name} must be a finite number, got {v}"
                    )));
                }
                *slot = v;
            }
        }
        if f.fps <= 0.0 {
            return Err(DccFailure::invalid(format!(
                "fps must be above 0, got {}",
                f.fps
            )));
        }
        if f.start > f.end {
            return Err(DccFailure::invalid(format!(
                "start ({}) must not be after end ({})",
                f.start, f.end
            )));
        }
        scene.frames = f;
        Ok(Self::frame_range(&scene))
    }
}
