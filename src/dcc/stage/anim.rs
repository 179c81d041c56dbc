//! Actions (glTF animations) on the stage: sampling, forward kinematics, and `apply_motion`.
//!
//! The conversion in `apply_motion` follows docs/bridge-protocol.md#animationapply_motion with glTF's Y-up world in place of
//! Blender's: MMCP rotations are local rotations from a world-aligned rest, while a glTF joint's
//! rotation is relative to its parent node. Wanting every posed joint to end up with world rotation
//! `W_j · G_j` (the accumulated MMCP rotation applied to the joint's rest world orientation `G_j`),
//! the local rotation to key is `P_parent⁻¹ · W_j · G_j`, where `P_parent` is the parent's posed
//! world rotation on the same frame. That holds for any rest rotations, intermediate non-joint
//! nodes, and a rotated or scaled armature object.

use std::collections::HashMap;

use async_trait::async_trait;
use glam::{Mat4, Quat, Vec3};

use super::StageAdapter;
use super::scene::{NodeId, Scene, scene_error};
use crate::call::CallContext;
use crate::dcc::DccFailure;
use crate::dcc::adapter::{Animation, DccResult};
use crate::dcc::types::{
    ApplyMotionParams, ApplyMotionResult, ArmatureParams, ArmatureSummary, FrameRange, Joint, Pose,
    SamplePoseParams, SetFrameRangeParams, Skeleton,
};
use crate::gltf_buffers::{Interpolation, Sampler};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Translation,
    Rotation,
    Scale,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub node: NodeId,
    pub path: Path,
    pub interp: Interpolation,
    pub times: Vec<f32>,
    /// Components per key: 3 (translation, scale) or 4 (rotation, xyzw); cubic splines hold
    /// in-tangent, value, out-tangent per key.
    pub values: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub channels: Vec<Channel>,
}

impl Channel {
    fn width(&self) -> usize {
        match self.path {
            Path::Rotation => 4,
            _ => 3,
        }
    }

    /// The channel's value at `t` (glTF rules: hold outside the keyed range; slerp rotations).
    pub fn sample(&self, t: f32) -> Option<[f32; 4]> {
        if self.times.is_empty() {
            return None;
        }
        let sampler = Sampler {
            times: &self.times,
            values: &self.values,
            width: self.width(),
            interpolation: self.interp,
        };
        let mut out = [0.0, 0.0, 0.0, 1.0];
        sampler.eval(t, &mut 0, &mut out[..sampler.width]);
        Some(out)
    }
}

/// Local TRS overrides of one frame: node → (translation, rotation, scale).
pub type Overrides = HashMap<NodeId, (Option<Vec3>, Option<Quat>, Option<Vec3>)>;

pub fn overrides_at(action: &Action, t: f32) -> Overrides {
    let mut out: Overrides = HashMap::new();
    for ch in &action.channels {
        let Some(v) = ch.sample(t) else { continue };
        let entry = out.entry(ch.node).or_default();
        match ch.path {
            Path::Translation => entry.0 = Some(Vec3::new(v[0], v[1], v[2])),
            Path::Rotation => entry.1 = Some(Quat::from_array(v).normalize()),
            Path::Scale => entry.2 = Some(Vec3::new(v[0], v[1], v[2])),
        }
    }
    out
}

/// World matrices under a set of local overrides, computed on demand and cached.
pub struct Posed<'a> {
    scene: &'a Scene,
    pub overrides: Overrides,
    cache: HashMap<NodeId, Mat4>,
}

impl<'a> Posed<'a> {
    pub fn new(scene: &'a Scene, overrides: Overrides) -> Self {
        Self {
            scene,
            overrides,
            cache: HashMap::new(),
        }
    }

    pub fn local(&self, id: NodeId) -> Mat4 {
        let node = self.scene.node(id);
        let (t, r, s) = self.overrides.get(&id).copied().unwrap_or_default();
        Mat4::from_scale_rotation_translation(
            s.unwrap_or(node.s),
            r.unwrap_or(node.r),
            t.unwrap_or(node.t),
        )
    }

    pub fn world(&mut self, id: NodeId) -> Mat4 {
        if let Some(m) = self.cache.get(&id) {
            return *m;
        }
        let parent = self.scene.node(id).parent;
        let m = match parent {
            Some(p) => self.world(p) * self.local(id),
            None => self.local(id),
        };
        self.cache.insert(id, m);
        m
    }

    pub fn set(&mut self, id: NodeId, t: Option<Vec3>, r: Option<Quat>) {
        let entry = self.overrides.entry(id).or_default();
        if t.is_some() {
            entry.0 = t;
        }
        if r.is_some() {
            entry.1 = r;
        }
        // Only this node changed, and it is set before any of its descendants is evaluated.
        self.cache.remove(&id);
    }
}

type NameRule<'a> = &'a dyn Fn(&str, &str) -> bool;

/// Strips the usual namespace prefixes: `mixamorig:Hips` and `rig|Hips` both give `Hips`.
pub fn bare(name: &str) -> &str {
    name.rsplit([':', '|']).next().unwrap_or(name)
}

/// Matches motion joint names to rig joints: exact, then without namespace prefixes, then
/// ignoring case. Returns rig node → motion joint index.
pub fn match_joints(scene: &Scene, rig: &[NodeId], names: &[String]) -> HashMap<NodeId, usize> {
    let mut out = HashMap::new();
    let mut taken = vec![false; names.len()];
    let rules: [NameRule; 3] = [&|a, b| a == b, &|a, b| bare(a) == bare(b), &|a, b| {
        bare(a).eq_ignore_ascii_case(bare(b))
    }];
    for rule in rules {
        for &j in rig {
            if out.contains_key(&j) {
                continue;
            }
            let rig_name = scene.node(j).name.as_str();
            if let Some(k) = (0..names.len()).find(|k| !taken[*k] && rule(rig_name, &names[*k])) {
                taken[k] = true;
                out.insert(j, k);
            }
        }
    }
    out
}

fn rot_of(m: &Mat4) -> Quat {
    let (_, r, _) = m.to_scale_rotation_translation();
    r.normalize()
}

pub fn apply_motion(
    scene: &mut Scene,
    p: &ApplyMotionParams,
) -> Result<ApplyMotionResult, DccFailure> {
    let (arm, joints) = scene.find_armature(&p.armature)?;
    let order = scene.ordered_joints(arm, &joints)?;
    if !(p.fps.is_finite() && p.fps > 0.0) {
        return Err(DccFailure::invalid("fps must be a finite number above 0"));
    }
    let j_count = p.joint_names.len();
    if j_count == 0 {
        return Err(DccFailure::invalid("joint_names must not be empty"));
    }
    let rotations = p
        .rotations
        .decode("rotations", &[None, Some(j_count), Some(4)])
        .map_err(DccFailure::invalid)?;
    let frames = p.rotations.shape[0];
    if frames == 0 {
        return Err(DccFailure::invalid("rotations hold no frames"));
    }
    let roots = p
        .root_positions
        .decode("root_positions", &[Some(frames), Some(3)])
        .map_err(DccFailure::invalid)?;
    let mut translations: HashMap<usize, Vec<f32>> = HashMap::new();
    for (name, arr) in p.joint_translations.iter().flatten() {
        let Some(k) = p.joint_names.iter().position(|n| n == name) else {
            return Err(DccFailure::invalid(format!(
                "joint_translations names {name:?}, which is not in joint_names"
            )));
        };
        let values = arr
            .decode(
                &format!("joint_translations.{name}"),
                &[Some(frames), Some(3)],
            )
            .map_err(DccFailure::invalid)?;
        translations.insert(k, values);
    }
    let start = p.start_frame.unwrap_or(1);
    if start < 0 {
        return Err(DccFailure::invalid("start_frame must be 0 or more"));
    }

    let rig: Vec<NodeId> = order.iter().map(|(j, _)| *j).collect();
    let matched = match_joints(scene, &rig, &p.joint_names);
    let motion_root = 0usize;
    let root_node = matched
        .iter()
        .find(|(_, k)| **k == motion_root)
        .map(|(n, _)| *n);

    // Rest world rotations and the nearest matched ancestor of each rig joint.
    let rest: HashMap<NodeId, Quat> = rig.iter().map(|j| (*j, rot_of(&scene.world(*j)))).collect();
    let parent_of: HashMap<NodeId, Option<NodeId>> = order.iter().copied().collect();

    let quat = |f: usize, k: usize| -> Quat {
        let b = (f * j_count + k) * 4;
        let q = Quat::from_xyzw(
            rotations[b],
            rotations[b + 1],
            rotations[b + 2],
            rotations[b + 3],
        );
        if q.length_squared() < 1e-12 {
            Quat::IDENTITY
        } else {
            q.normalize()
        }
    };
    let root_pos = |f: usize| -> Vec3 {
        let v = Vec3::new(roots[f * 3], roots[f * 3 + 1], roots[f * 3 + 2]);
        if p.in_place {
            Vec3::new(roots[0], v.y, roots[2])
        } else {
            v
        }
    };

    let mut rot_keys: HashMap<NodeId, Vec<f32>> = HashMap::new();
    let mut pos_keys: HashMap<NodeId, Vec<f32>> = HashMap::new();
    for f in 0..frames {
        let mut posed = Posed::new(scene, Overrides::new());
        // MMCP world rotation of each rig joint on this frame (identity where no data).
        let mut w: HashMap<NodeId, Quat> = HashMap::new();
        for &(j, jp) in &order {
            let parent_w = jp
                .and_then(|x| w.get(&x).copied())
                .unwrap_or(Quat::IDENTITY);
            let q = matched.get(&j).map_or(Quat::IDENTITY, |k| quat(f, *k));
            let wj = parent_w * q;
            w.insert(j, wj);
            let gltf_parent = scene.node(j).parent;
            let parent_world = gltf_parent.map_or(Mat4::IDENTITY, |gp| posed.world(gp));
            let mut new_t = None;
            let mut new_r = None;
            if matched.contains_key(&j) {
                let local = rot_of(&parent_world).inverse() * wj * rest[&j];
                let local = local.normalize();
                let keys = rot_keys.entry(j).or_default();
                // Keep neighbouring keys on one hemisphere so interpolation takes the short way.
                let local = match keys.len() {
                    n if n >= 4 => {
                        let prev = Quat::from_slice(&keys[n - 4..n]);
                        if prev.dot(local) < 0.0 { -local } else { local }
                    }
                    _ => local,
                };
                keys.extend_from_slice(&local.to_array());
                new_r = Some(local);
            }
            let target = if Some(j) == root_node {
                Some(root_pos(f))
            } else if let Some(k) = matched.get(&j)
                && let Some(values) = translations.get(k)
            {
                let offset = Vec3::new(values[f * 3], values[f * 3 + 1], values[f * 3 + 2]);
                let mp = parent_of.get(&j).copied().flatten();
                let (base, base_w) = match mp {
                    Some(mp) => (posed.world(mp).w_axis.truncate(), w[&mp]),
                    None => (Vec3::ZERO, Quat::IDENTITY),
                };
                Some(base + base_w * offset)
            } else {
                None
            };
            if let Some(world_pos) = target {
                let local = parent_world.inverse().transform_point3(world_pos);
                pos_keys
                    .entry(j)
                    .or_default()
                    .extend_from_slice(&local.to_array());
                new_t = Some(local);
            }
            posed.set(j, new_t, new_r);
        }
    }
    for values in rot_keys.values().chain(pos_keys.values()) {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(scene_error(format!(
                "armature {:?}: the converted motion is not finite (a zero scale in the rig?)",
                scene.node(arm).name
            )));
        }
    }

    let times: Vec<f32> = (0..frames)
        .map(|i| ((start as f64 + i as f64) / p.fps) as f32)
        .collect();
    let mut channels = Vec::new();
    for &j in &rig {
        if let Some(values) = rot_keys.remove(&j) {
            channels.push(Channel {
                node: j,
                path: Path::Rotation,
                interp: Interpolation::Linear,
                times: times.clone(),
                values,
            });
        }
        if let Some(values) = pos_keys.remove(&j) {
            channels.push(Channel {
                node: j,
                path: Path::Translation,
                interp: Interpolation::Linear,
                times: times.clone(),
                values,
            });
        }
    }
    let arm_name = scene.node(arm).name.clone();
    let name = p
        .action_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{arm_name}_motion"));
    let action = Action {
        name: name.clone(),
        channels,
    };
    let index = match scene.actions.iter().position(|a| a.name == name) {
        Some(i) => {
            scene.actions[i] = action;
            i
        }
        None => {
            scene.actions.push(action);
            scene.actions.len() - 1
        }
    };
    scene.active_action.insert(arm, index);
    let end = start + frames as i64 - 1;
    scene.frames.fps = p.fps;
    scene.frames.end = scene.frames.end.max(end as f64);
    scene.frames.start = scene.frames.start.min(start as f64);
    scene.modified = true;

    let mut applied: Vec<(usize, String)> = matched
        .iter()
        .map(|(n, k)| (*k, scene.node(*n).name.clone()))
        .collect();
    applied.sort();
    let matched_idx: Vec<usize> = matched.values().copied().collect();
    let skipped = p
        .joint_names
        .iter()
        .enumerate()
        .filter(|(k, _)| !matched_idx.contains(k))
        .map(|(_, n)| n.clone())
        .collect();
    Ok(ApplyMotionResult {
        action: name,
        frame_start: start,
        frame_end: end,
        joints_applied: applied.into_iter().map(|(_, n)| n).collect(),
        joints_skipped: skipped,
    })
}

/// The overrides of the action an armature plays at scene frame `frame` (rest pose: none).
pub fn armature_overrides(scene: &Scene, arm: NodeId, frame: f64) -> Overrides {
    let fps = scene.frames.fps;
    match scene
        .active_action
        .get(&arm)
        .and_then(|i| scene.actions.get(*i))
    {
        Some(action) => overrides_at(action, (frame / fps) as f32),
        None => Overrides::new(),
    }
}

pub fn sample_pose(scene: &Scene, p: &SamplePoseParams) -> Result<Pose, DccFailure> {
    let (arm, joints) = scene.find_armature(&p.armature)?;
    if let Some(bad) = p.frames.iter().find(|f| !f.is_finite()) {
        return Err(DccFailure::invalid(format!(
            "frame {bad} is not a finite number"
        )));
    }
    // Answers use the names the caller asked with (a take's `Hips` for the rig's `mixamorig:Hips`).
    let wanted: Vec<(NodeId, String)> = match &p.joint_names {
        None => scene
            .ordered_joints(arm, &joints)?
            .into_iter()
            .map(|(j, _)| (j, scene.node(j).name.clone()))
            .collect(),
        Some(names) => {
            let matched = match_joints(scene, &joints, names);
            let mut out = Vec::new();
            for (k, name) in names.iter().enumerate() {
                match matched.iter().find(|(_, m)| **m == k) {
                    Some((n, _)) => out.push((*n, name.clone())),
                    None => {
                        return Err(scene_error(format!(
                            "armature {:?} has no joint named {name:?}",
                            scene.node(arm).name
                        )));
                    }
                }
            }
            out
        }
    };
    let mut pose = Pose::new();
    for &frame in &p.frames {
        let mut posed = Posed::new(scene, armature_overrides(scene, arm, frame));
        for (j, name) in &wanted {
            let pos = posed.world(*j).w_axis;
            pose.entry(name.clone())
                .or_default()
                .push([pos.x as f64, pos.y as f64, pos.z as f64]);
        }
    }
    Ok(pose)
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
        self.blocking(move |scene| apply_motion(scene, &p)).await
    }

    async fn sample_pose(&self, p: SamplePoseParams, _call: &CallContext) -> DccResult<Pose> {
        self.blocking(move |scene| sample_pose(scene, &p)).await
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
