//! Looking at the stage: `render.capture_viewport` (views, focus, contact sheets),
//! `render.render_scene` and the render settings, drawn by the software renderer (`render.rs`).

use std::time::Instant;

use async_trait::async_trait;
use base64::Engine as _;
use glam::Vec3;
use serde_json::Value;

use super::scene::{Kind, NodeId, Scene, scene_error};
use super::{MAX_IMAGE_SIDE, MAX_SHEET_FRAMES, StageAdapter, render, resolve};
use crate::call::CallContext;
use crate::dcc::DccFailure;
use crate::dcc::adapter::*;
use crate::dcc::types::*;

impl StageAdapter {
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
