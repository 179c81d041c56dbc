//! The scene manager methods of the stage: objects, selection and visibility, and files (open,
//! save, export, import of glTF and BVH).

use std::path::Path;

use async_trait::async_trait;
use glam::Vec3;
use serde_json::json;

use super::scene::{self, Kind, Node, NodeId, Scene, scene_error};
use super::{StageAdapter, anim, gltf_io, resolve};
use crate::call::CallContext;
use crate::dcc::DccFailure;
use crate::dcc::adapter::*;
use crate::dcc::types::*;

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
