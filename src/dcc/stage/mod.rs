//! The built-in `stage` DCC: a glTF scene in memory, in process.
//!
//! It is the default DCC when none is configured, the quickest way to try stagecraft (load a rigged
//! .glb, apply motion, look at it, save it), and the reference the Blender adapter is compared
//! with. The bridge's conventions (world space, centimetres, Euler XYZ in degrees) are converted
//! at the edges; inside, everything is glTF (local TRS, metres, quaternions).
//!
//! This file holds the adapter itself (the scene behind a lock, the handshake, the unit
//! conversions); each area of methods has its own file:
//! - `scene_manager`: objects, selection, visibility, and files (open, save, export, import);
//! - `create`: the objects `scene.create_object` makes;
//! - `placement`: transforms and the hierarchy;
//! - `capture`: viewport captures, renders and render settings (drawn by `render`);
//! - `anim`: actions, poses and `apply_motion`;
//! - `scene`: the scene model; `gltf_io`: glTF in and out.

mod anim;
mod capture;
mod create;
mod gltf_io;
mod placement;
mod render;
mod scene;
mod scene_manager;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use glam::{EulerRot, Quat, Vec3};
use serde_json::{Map, json};

use super::DccFailure;
use super::adapter::*;
use super::types::*;
use crate::call::CallContext;
use scene::{Kind, NodeId, Scene};

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

    fn find_all(scene: &Scene, names: &[String]) -> Result<Vec<NodeId>, DccFailure> {
        names.iter().map(|n| scene.find(n)).collect()
    }
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
