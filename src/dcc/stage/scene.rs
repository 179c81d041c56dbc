//! The stage scene: glTF nodes held as a tree of named objects, with skins, actions and settings.
//!
//! Internally everything is glTF: metres, Y-up, quaternions, local TRS per node. The bridge's
//! conventions (world space, centimetres, Euler XYZ degrees) are applied at the edges, in the
//! method files (`placement.rs`, ...). Mesh data, materials, textures and cameras stay in the glTF
//! document they came from (`doc` + `bin`), so a loaded file is written back with everything it had.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use glam::{Mat4, Quat, Vec3};
use serde_json::{Map, Value};

use super::anim::Action;
use crate::dcc::DccFailure;
use crate::dcc::types::SceneObject;

pub type NodeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Empty,
    Mesh,
    Camera,
    Light,
    Armature,
    Joint,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Empty => "empty",
            Kind::Mesh => "mesh",
            Kind::Camera => "camera",
            Kind::Light => "light",
            Kind::Armature => "armature",
            Kind::Joint => "joint",
        }
    }

    pub const ALL: &'static [&'static str] =
        &["empty", "mesh", "camera", "light", "armature", "joint"];
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub parent: Option<NodeId>,
    pub children: Vec<NodeId>,
    pub t: Vec3,
    pub r: Quat,
    pub s: Vec3,
    pub kind: Kind,
    pub visible: bool,
    pub mesh: Option<u32>,
    pub skin: Option<usize>,
    pub camera: Option<u32>,
    /// The glTF node's `extensions` (lights live there) and `extras`, kept verbatim.
    pub extensions: Map<String, Value>,
    pub extras: Option<Value>,
    pub weights: Option<Vec<f32>>,
}

impl Node {
    pub fn new(name: String, kind: Kind) -> Self {
        Self {
            name,
            parent: None,
            children: Vec::new(),
            t: Vec3::ZERO,
            r: Quat::IDENTITY,
            s: Vec3::ONE,
            kind,
            visible: true,
            mesh: None,
            skin: None,
            camera: None,
            extensions: Map::new(),
            extras: None,
            weights: None,
        }
    }

    pub fn local(&self) -> Mat4 {
        Mat4::from_scale_rotation_translation(self.s, self.r, self.t)
    }
}

/// A glTF skin with its joints as live node ids.
#[derive(Debug, Clone)]
pub struct Skin {
    pub name: Option<String>,
    pub joints: Vec<NodeId>,
    pub skeleton: Option<NodeId>,
    pub inverse_bind_matrices: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
pub struct Frames {
    pub start: f64,
    pub end: f64,
    pub fps: f64,
    pub current: f64,
}

impl Default for Frames {
    fn default() -> Self {
        Self {
            start: 1.0,
            end: 120.0,
            fps: 30.0,
            current: 1.0,
        }
    }
}

pub struct Scene {
    pub nodes: Vec<Option<Node>>,
    pub by_name: HashMap<String, NodeId>,
    pub skins: Vec<Skin>,
    pub actions: Vec<Action>,
    /// Armature node → index into `actions` of the action it plays.
    pub active_action: HashMap<NodeId, usize>,
    /// The glTF document the scene came from, with `nodes`, `skins`, `animations` and `scenes`
    /// emptied (they live above and are rebuilt on export), and its buffers merged into `bin`.
    pub doc: gltf_json::Root,
    pub bin: Vec<u8>,
    pub selection: Vec<NodeId>,
    pub file_path: Option<PathBuf>,
    pub format: Option<String>,
    pub modified: bool,
    pub frames: Frames,
    pub render: BTreeMap<String, String>,
}

pub fn default_render_settings() -> BTreeMap<String, String> {
    [
        ("engine", "stage_software"),
        ("resolution_x", "640"),
        ("resolution_y", "480"),
        ("camera", ""),
        ("background", "#30343a"),
        ("show_bones", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn scene_error(message: impl Into<String>) -> DccFailure {
    DccFailure::scene(message)
}

impl Scene {
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            by_name: HashMap::new(),
            skins: Vec::new(),
            actions: Vec::new(),
            active_action: HashMap::new(),
            doc: gltf_json::Root::default(),
            bin: Vec::new(),
            selection: Vec::new(),
            file_path: None,
            format: None,
            modified: false,
            frames: Frames::default(),
            render: default_render_settings(),
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        // Ids handed out by `find` and the tree links always point at live nodes.
        self.nodes[id]
            .as_ref()
            .unwrap_or_else(|| unreachable!("dead node id {id}"))
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id]
            .as_mut()
            .unwrap_or_else(|| unreachable!("dead node id {id}"))
    }

    pub fn live(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    pub fn find(&self, name: &str) -> Result<NodeId, DccFailure> {
        self.by_name.get(name).copied().ok_or_else(|| {
            scene_error(format!("no object named {name:?} in the stage scene"))
                .with_details(serde_json::json!({"object": name}))
        })
    }

    /// `base` if free, else `base.001`, `base.002`, ... (Blender's rule).
    pub fn unique_name(&self, base: &str) -> String {
        let base = if base.trim().is_empty() {
            "Object"
        } else {
            base
        };
        if !self.by_name.contains_key(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}.{i:03}"))
            .find(|n| !self.by_name.contains_key(n))
            .unwrap_or_else(|| base.to_string())
    }

    /// Adds a node under `parent` (local TRS as given) and returns its id; the name is made unique.
    pub fn add(&mut self, mut node: Node, parent: Option<NodeId>) -> NodeId {
        node.name = self.unique_name(&node.name);
        node.parent = parent;
        let id = self.nodes.len();
        self.by_name.insert(node.name.clone(), id);
        self.nodes.push(Some(node));
        if let Some(p) = parent {
            self.node_mut(p).children.push(id);
        }
        id
    }

    pub fn roots(&self) -> Vec<NodeId> {
        self.live()
            .filter(|(_, n)| n.parent.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    pub fn world(&self, id: NodeId) -> Mat4 {
        let node = self.node(id);
        match node.parent {
            Some(p) => self.world(p) * node.local(),
            None => node.local(),
        }
    }

    pub fn parent_world(&self, id: NodeId) -> Mat4 {
        self.node(id)
            .parent
            .map_or(Mat4::IDENTITY, |p| self.world(p))
    }

    /// Sets the node's local TRS so that its world matrix becomes `world`.
    pub fn set_world(&mut self, id: NodeId, world: Mat4) -> Result<(), DccFailure> {
        let local = self.parent_world(id).inverse() * world;
        let (s, r, t) = local.to_scale_rotation_translation();
        if !(s.is_finite() && r.is_finite() && t.is_finite()) {
            return Err(scene_error(format!(
                "cannot place {:?}: the transform is degenerate (zero scale somewhere above it?)",
                self.node(id).name
            )));
        }
        let node = self.node_mut(id);
        node.t = t;
        node.r = r.normalize();
        node.s = s;
        Ok(())
    }

    pub fn is_ancestor(&self, ancestor: NodeId, mut id: NodeId) -> bool {
        while let Some(p) = self.node(id).parent {
            if p == ancestor {
                return true;
            }
            id = p;
        }
        false
    }

    /// Moves `id` under `new_parent` (None: scene root), keeping its world transform if asked.
    pub fn reparent(
        &mut self,
        id: NodeId,
        new_parent: Option<NodeId>,
        keep_world: bool,
    ) -> Result<(), DccFailure> {
        if let Some(p) = new_parent
            && (p == id || self.is_ancestor(id, p))
        {
            return Err(scene_error(format!(
                "cannot parent {:?} under {:?}: that would make a cycle",
                self.node(id).name,
                self.node(p).name
            )));
        }
        let world = self.world(id);
        if let Some(old) = self.node(id).parent {
            self.node_mut(old).children.retain(|c| *c != id);
        }
        self.node_mut(id).parent = new_parent;
        if let Some(p) = new_parent {
            self.node_mut(p).children.push(id);
        }
        if keep_world {
            self.set_world(id, world)?;
        }
        Ok(())
    }

    pub fn rename(&mut self, id: NodeId, new_name: &str) -> Result<String, DccFailure> {
        if new_name.trim().is_empty() {
            return Err(DccFailure::invalid("new_name must not be empty"));
        }
        let old = self.node(id).name.clone();
        if old == new_name {
            return Ok(old);
        }
        self.by_name.remove(&old);
        let name = self.unique_name(new_name);
        self.by_name.insert(name.clone(), id);
        self.node_mut(id).name = name.clone();
        Ok(name)
    }

    /// Removes one node; its children move to its parent keeping their world transforms.
    pub fn remove(&mut self, id: NodeId) -> Result<(), DccFailure> {
        let parent = self.node(id).parent;
        for child in self.node(id).children.clone() {
            self.reparent(child, parent, true)?;
        }
        if let Some(p) = parent {
            self.node_mut(p).children.retain(|c| *c != id);
        }
        if let Some(node) = self.nodes[id].take() {
            self.by_name.remove(&node.name);
        }
        self.selection.retain(|s| *s != id);
        for skin in &mut self.skins {
            skin.joints.retain(|j| *j != id);
            if skin.skeleton == Some(id) {
                skin.skeleton = None;
            }
        }
        for action in &mut self.actions {
            action.channels.retain(|c| c.node != id);
        }
        self.active_action.remove(&id);
        Ok(())
    }

    pub fn descendants(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            for c in &self.node(n).children {
                out.push(*c);
                stack.push(*c);
            }
        }
        out
    }

    pub fn object(&self, id: NodeId) -> SceneObject {
        let node = self.node(id);
        let mut metadata = Map::new();
        if let Some(mesh) = node.mesh {
            metadata.insert("mesh".into(), Value::from(mesh));
        }
        if node.kind == Kind::Armature {
            metadata.insert(
                "joints".into(),
                Value::from(self.armature_joints(id).len() as u64),
            );
        }
        SceneObject {
            name: node.name.clone(),
            long_name: self.long_name(id),
            object_type: node.kind.as_str().to_string(),
            parent: node.parent.map(|p| self.node(p).name.clone()),
            visible: node.visible,
            metadata,
        }
    }

    /// `|root|child|name`, for DCCs that think in paths.
    pub fn long_name(&self, id: NodeId) -> String {
        let mut parts = vec![self.node(id).name.as_str()];
        let mut cur = id;
        while let Some(p) = self.node(cur).parent {
            parts.push(self.node(p).name.as_str());
            cur = p;
        }
        parts.reverse();
        format!("|{}", parts.join("|"))
    }

    /// The node an object of a skin's armature hangs off: the parent of the top joint when that
    /// parent is a plain node (Mixamo's `Armature`), else the top joint itself.
    pub fn armature_of_skin(&self, skin: &Skin) -> Option<NodeId> {
        let set: HashSet<NodeId> = skin.joints.iter().copied().collect();
        let top = skin
            .joints
            .iter()
            .copied()
            .find(|j| self.node(*j).parent.is_none_or(|p| !set.contains(&p)))?;
        match self.node(top).parent {
            Some(p) if self.node(p).mesh.is_none() && self.node(p).camera.is_none() => Some(p),
            _ => Some(top),
        }
    }

    /// Every armature node with the union of its skins' joints, in skin order.
    pub fn armatures(&self) -> Vec<(NodeId, Vec<NodeId>)> {
        let mut out: Vec<(NodeId, Vec<NodeId>)> = Vec::new();
        for skin in &self.skins {
            let Some(arm) = self.armature_of_skin(skin) else {
                continue;
            };
            let entry = match out.iter_mut().position(|(a, _)| *a == arm) {
                Some(i) => &mut out[i].1,
                None => {
                    out.push((arm, Vec::new()));
                    &mut out.last_mut().unwrap_or_else(|| unreachable!()).1
                }
            };
            for j in &skin.joints {
                if !entry.contains(j) {
                    entry.push(*j);
                }
            }
        }
        out
    }

    pub fn armature_joints(&self, arm: NodeId) -> Vec<NodeId> {
        self.armatures()
            .into_iter()
            .find(|(a, _)| *a == arm)
            .map(|(_, j)| j)
            .unwrap_or_default()
    }

    /// Finds an armature by its object name, a skin name, or a mesh that uses the skin.
    pub fn find_armature(&self, name: &str) -> Result<(NodeId, Vec<NodeId>), DccFailure> {
        let arms = self.armatures();
        let by_node = self.by_name.get(name).copied();
        for (arm, joints) in &arms {
            if Some(*arm) == by_node {
                return Ok((*arm, joints.clone()));
            }
        }
        for (index, skin) in self.skins.iter().enumerate() {
            let named = skin.name.as_deref() == Some(name);
            let used_by = by_node.is_some_and(|n| self.node(n).skin == Some(index));
            if (named || used_by)
                && let Some(arm) = self.armature_of_skin(skin)
            {
                return Ok((arm, self.armature_joints(arm)));
            }
        }
        let names: Vec<String> = arms
            .iter()
            .map(|(a, _)| self.node(*a).name.clone())
            .collect();
        Err(scene_error(format!("no armature named {name:?}"))
            .with_details(serde_json::json!({"armature": name, "armatures": names})))
    }

    /// The joints of an armature ordered parents first (breadth first from the top), with each
    /// joint's parent among the joints (None for the root).
    pub fn ordered_joints(
        &self,
        arm: NodeId,
        joints: &[NodeId],
    ) -> Result<Vec<(NodeId, Option<NodeId>)>, DccFailure> {
        let set: HashSet<NodeId> = joints.iter().copied().collect();
        let joint_parent = |mut id: NodeId| -> Option<NodeId> {
            while let Some(p) = self.node(id).parent {
                if set.contains(&p) {
                    return Some(p);
                }
                id = p;
            }
            None
        };
        let roots: Vec<NodeId> = joints
            .iter()
            .copied()
            .filter(|j| joint_parent(*j).is_none())
            .collect();
        if roots.len() != 1 {
            let names: Vec<&str> = roots.iter().map(|r| self.node(*r).name.as_str()).collect();
            return Err(scene_error(format!(
                "armature {:?} has {} root joints ({}); a skeleton needs exactly one",
                self.node(arm).name,
                roots.len(),
                names.join(", ")
            )));
        }
        let mut out = vec![(roots[0], None)];
        let mut i = 0;
        while i < out.len() {
            let (cur, _) = out[i];
            // Children among the joints, possibly through non-joint nodes in between.
            let mut stack: Vec<NodeId> = self.node(cur).children.iter().rev().copied().collect();
            while let Some(n) = stack.pop() {
                if set.contains(&n) {
                    out.push((n, Some(cur)));
                } else {
                    stack.extend(self.node(n).children.iter().rev().copied());
                }
            }
            i += 1;
        }
        Ok(out)
    }

    pub fn count_kind(&self, kind: Kind) -> u64 {
        self.live().filter(|(_, n)| n.kind == kind).count() as u64
    }
}
