//! glTF in and out of the stage scene: .glb and .gltf, buffers, accessors, skins, animations.
//!
//! On load every buffer is merged into one byte vector so that a `.glb` (which allows a single
//! binary chunk) can always be written back; buffer views are re-pointed at it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use gj::accessor::Type;
use gj::validation::{Checked, USize64};
use glam::{Mat4, Quat, Vec3};
use gltf_json as gj;
use serde_json::{Map, Value};

use super::anim::{Action, Channel, Path as ChannelPath};
use super::scene::{Kind, Node, NodeId, Scene, Skin};
use crate::gltf_buffers::{self, Source, bin_buffer, push_f32};

mod merge;
pub use merge::merge;

/// Extras key that records a hidden node (glTF has no visibility of its own).
const HIDDEN_KEY: &str = "stagecraft_hidden";

pub type IoResult<T> = Result<T, String>;

/// Parses .glb or .gltf bytes; `dir` resolves relative buffer URIs.
pub fn load(bytes: &[u8], dir: &Path) -> IoResult<Scene> {
    let (json, glb_bin) = if gltf_buffers::is_glb(bytes) {
        let chunks = gltf_buffers::split_glb(bytes)
            .map_err(|e| format!("the GLB container is malformed: {e}"))?;
        (chunks.json, chunks.bin)
    } else {
        (bytes, None)
    };
    let mut doc = parse_root(json)?;

    // Merge every buffer into one.
    let mut bin = Vec::new();
    let mut offsets = Vec::with_capacity(doc.buffers.len());
    for (i, buffer) in doc.buffers.iter().enumerate() {
        let data = match &buffer.uri {
            None if i == 0 => glb_bin
                .map(<[u8]>::to_vec)
                .ok_or("buffer 0 has no uri and there is no GLB binary chunk")?,
            None => return Err(format!("buffer {i} has no uri")),
            Some(uri) => read_uri(uri, dir)?,
        };
        let len = buffer.byte_length.0 as usize;
        if data.len() < len {
            return Err(format!(
                "buffer {i} holds {} bytes, byteLength says {len}",
                data.len()
            ));
        }
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        offsets.push(bin.len() as u64);
        bin.extend_from_slice(&data[..len]);
    }
    for (i, view) in doc.buffer_views.iter_mut().enumerate() {
        let b = view.buffer.value();
        let base = *offsets
            .get(b)
            .ok_or(format!("bufferView {i} names missing buffer {b}"))?;
        view.buffer = gj::Index::new(0);
        view.byte_offset = Some(USize64(base + view.byte_offset.map_or(0, |o| o.0)));
        let end = view.byte_offset.map_or(0, |o| o.0) + view.byte_length.0;
        if end > bin.len() as u64 {
            return Err(format!("bufferView {i} runs past the end of its buffer"));
        }
    }
    doc.buffers = vec![bin_buffer(bin.len())];

    let mut scene = Scene::new();
    let count = doc.nodes.len();
    let mut ids = Vec::with_capacity(count);
    for (i, n) in doc.nodes.iter().enumerate() {
        let name = n
            .name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("node_{i}"));
        let mut node = Node::new(name, Kind::Empty);
        if let Some(m) = n.matrix {
            let (s, r, t) = Mat4::from_cols_array(&m).to_scale_rotation_translation();
            (node.s, node.r, node.t) = (s, r, t);
        } else {
            node.t = n.translation.map_or(Vec3::ZERO, Vec3::from_array);
            node.r = n
                .rotation
                .as_ref()
                .map_or(Quat::IDENTITY, |q| Quat::from_array(q.0).normalize());
            node.s = n.scale.map_or(Vec3::ONE, Vec3::from_array);
        }
        if !(node.t.is_finite() && node.r.is_finite() && node.s.is_finite()) {
            return Err(format!("node {i} has a non-finite transform"));
        }
        node.mesh = n.mesh.map(|m| m.value() as u32);
        node.camera = n.camera.map(|c| c.value() as u32);
        node.skin = n.skin.map(|s| s.value());
        node.extensions = n
            .extensions
            .as_ref()
            .map(|e| e.others.clone())
            .unwrap_or_default();
        node.extras = n
            .extras
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        node.visible = !node
            .extras
            .as_ref()
            .and_then(|e| e.get(HIDDEN_KEY))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        node.weights = n.weights.clone();
        ids.push(scene.add(node, None));
    }
    // Children after all nodes exist; every node has at most one parent and no cycles.
    for (i, n) in doc.nodes.iter().enumerate() {
        for c in n.children.iter().flatten() {
            let c = c.value();
            if c >= count || c == i {
                return Err(format!("node {i} lists an invalid child {c}"));
            }
            if scene.node(ids[c]).parent.is_some() {
                return Err(format!("node {c} has two parents"));
            }
            if scene.is_ancestor(ids[c], ids[i]) {
                return Err(format!("node {i} and node {c} form a cycle"));
            }
            scene.node_mut(ids[c]).parent = Some(ids[i]);
            scene.node_mut(ids[i]).children.push(ids[c]);
        }
    }
    for (i, s) in doc.skins.iter().enumerate() {
        let mut joints = Vec::with_capacity(s.joints.len());
        for j in &s.joints {
            joints.push(
                *ids.get(j.value())
                    .ok_or(format!("skin {i} names missing joint {}", j.value()))?,
            );
        }
        scene.skins.push(Skin {
            name: s.name.clone(),
            joints,
            skeleton: s.skeleton.and_then(|k| ids.get(k.value()).copied()),
            inverse_bind_matrices: s.inverse_bind_matrices.map(|a| a.value() as u32),
        });
    }
    for (id, node) in scene.nodes.iter_mut().enumerate() {
        let Some(node) = node else { continue };
        if let Some(s) = node.skin
            && s >= doc.skins.len()
        {
            return Err(format!("node {id} names missing skin {s}"));
        }
    }
    classify(&mut scene, &doc);

    for (a, anim) in doc.animations.iter().enumerate() {
        let mut channels = Vec::new();
        for ch in &anim.channels {
            let path = match ch.target.path {
                Checked::Valid(gj::animation::Property::Translation) => ChannelPath::Translation,
                Checked::Valid(gj::animation::Property::Rotation) => ChannelPath::Rotation,
                Checked::Valid(gj::animation::Property::Scale) => ChannelPath::Scale,
                _ => {
                    tracing::debug!(
                        "animation {a}: morph-weight channels are not kept by the stage DCC"
                    );
                    continue;
                }
            };
            let node = *ids
                .get(ch.target.node.value())
                .ok_or(format!("animation {a} targets a missing node"))?;
            let sampler = anim
                .samplers
                .get(ch.sampler.value())
                .ok_or(format!("animation {a} names a missing sampler"))?;
            let interp = match sampler.interpolation {
                Checked::Valid(i) => i,
                Checked::Invalid => gj::animation::Interpolation::Linear,
            };
            let (times, _) = read_accessor(&doc, &bin, sampler.input.value())?;
            let (values, _) = read_accessor(&doc, &bin, sampler.output.value())?;
            let channel = Channel {
                node,
                path,
                interp,
                times: times.iter().map(|t| *t as f32).collect(),
                values: values.iter().map(|v| *v as f32).collect(),
            };
            channels.push(channel);
        }
        let name = anim
            .name
            .clone()
            .unwrap_or_else(|| format!("animation_{a}"));
        scene.actions.push(Action { name, channels });
    }
    // Each armature plays the first action that moves one of its joints.
    for (arm, joints) in scene.armatures() {
        let set: HashSet<NodeId> = joints.iter().copied().collect();
        if let Some(i) = scene
            .actions
            .iter()
            .position(|a| a.channels.iter().any(|c| set.contains(&c.node)))
        {
            scene.active_action.insert(arm, i);
        }
    }
    if let Some(end) = scene
        .actions
        .iter()
        .flat_map(|a| a.channels.iter())
        .filter_map(|c| c.times.last())
        .fold(None, |acc: Option<f32>, t| {
            Some(acc.map_or(*t, |a| a.max(*t)))
        })
    {
        scene.frames.end = scene
            .frames
            .end
            .max((end as f64 * scene.frames.fps).round());
    }

    doc.nodes.clear();
    doc.skins.clear();
    doc.animations.clear();
    doc.scenes.clear();
    doc.scene = None;
    scene.doc = doc;
    scene.bin = bin;
    Ok(scene)
}

/// Sets each node's kind from what it carries and which skins use it.
pub fn classify(scene: &mut Scene, doc: &gj::Root) {
    let _ = doc;
    let joints: HashSet<NodeId> = scene
        .skins
        .iter()
        .flat_map(|s| s.joints.iter().copied())
        .collect();
    let arms: HashSet<NodeId> = scene.armatures().into_iter().map(|(a, _)| a).collect();
    for (id, node) in scene.nodes.iter_mut().enumerate() {
        let Some(node) = node else { continue };
        node.kind = if arms.contains(&id) {
            Kind::Armature
        } else if joints.contains(&id) {
            Kind::Joint
        } else if node.mesh.is_some() {
            Kind::Mesh
        } else if node.camera.is_some() {
            Kind::Camera
        } else if node.extensions.contains_key("KHR_lights_punctual") {
            Kind::Light
        } else {
            Kind::Empty
        };
    }
}

/// Parses the glTF JSON. `scenes[].nodes` is optional in glTF 2.0 but required by gltf-json (whose
/// own writer leaves it out when empty), so a scene without it gets an empty list first.
fn parse_root(json: &[u8]) -> IoResult<gj::Root> {
    let invalid = |e: &dyn std::fmt::Display| format!("not a valid glTF document: {e}");
    let mut value: serde_json::Value = serde_json::from_slice(json).map_err(|e| invalid(&e))?;
    if let Some(scenes) = value.get_mut("scenes").and_then(|s| s.as_array_mut()) {
        for scene in scenes.iter_mut().filter_map(|s| s.as_object_mut()) {
            scene
                .entry("nodes")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        }
    }
    serde_json::from_value(value).map_err(|e| invalid(&e))
}

fn read_uri(uri: &str, dir: &Path) -> IoResult<Vec<u8>> {
    if uri.starts_with("data:") {
        return gltf_buffers::decode_data_uri(uri)
            .ok_or("only base64 data URIs are supported")?
            .map_err(|e| format!("a data URI: {e}"));
    }
    if uri.contains("://") {
        return Err(format!("buffer uri {uri:?} is not a local file"));
    }
    let path = dir.join(percent_decode(uri));
    std::fs::read(&path).map_err(|e| format!("cannot read buffer {}: {e}", path.display()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads an accessor of the scene's document (every bufferView is on its one buffer, `bin`) as f64
/// values; returns the values and the number of components per element.
pub fn read_accessor(doc: &gj::Root, bin: &[u8], index: usize) -> IoResult<(Vec<f64>, usize)> {
    let source = Source {
        accessors: &doc.accessors,
        views: &doc.buffer_views,
        buffers: &[bin],
    };
    source.read(index).map_err(|e| e.to_string())
}

/// Adds a triangle mesh (positions, normals, indices) to the document; returns the mesh index.
pub fn push_mesh(
    scene: &mut Scene,
    name: &str,
    positions: &[f32],
    normals: &[f32],
    indices: &[u32],
) -> u32 {
    let doc = &mut scene.doc;
    let bin = &mut scene.bin;
    let pos = push_f32(doc, bin, positions.iter().copied(), Type::Vec3, true);
    let nor = push_f32(doc, bin, normals.iter().copied(), Type::Vec3, false);
    let idx = gltf_buffers::push_indices(doc, bin, indices);
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert(
        Checked::Valid(gj::mesh::Semantic::Positions),
        gj::Index::new(pos),
    );
    attributes.insert(
        Checked::Valid(gj::mesh::Semantic::Normals),
        gj::Index::new(nor),
    );
    sync_buffer_len(scene);
    let mesh = scene.doc.push(gj::Mesh {
        extensions: None,
        extras: None,
        name: Some(name.to_string()),
        primitives: vec![gj::mesh::Primitive {
            attributes,
            extensions: None,
            extras: None,
            indices: Some(gj::Index::new(idx)),
            material: None,
            mode: Checked::Valid(gj::mesh::Mode::Triangles),
            targets: None,
        }],
        weights: None,
    });
    mesh.value() as u32
}

fn sync_buffer_len(scene: &mut Scene) {
    if scene.doc.buffers.is_empty() {
        scene.doc.buffers.push(bin_buffer(0));
    }
    scene.doc.buffers[0].byte_length = USize64(scene.bin.len() as u64);
}

/// Triangles of a mesh in the mesh's own space (triangle-list primitives only).
pub fn mesh_triangles(scene: &Scene, mesh: u32) -> Vec<[Vec3; 3]> {
    let mut out = Vec::new();
    let Some(m) = scene.doc.meshes.get(mesh as usize) else {
        return out;
    };
    for prim in &m.primitives {
        if !matches!(prim.mode, Checked::Valid(gj::mesh::Mode::Triangles)) {
            continue;
        }
        let Some(pos) = prim
            .attributes
            .get(&Checked::Valid(gj::mesh::Semantic::Positions))
        else {
            continue;
        };
        let Ok((p, 3)) = read_accessor(&scene.doc, &scene.bin, pos.value()) else {
            continue;
        };
        let verts: Vec<Vec3> = p
            .chunks_exact(3)
            .map(|c| Vec3::new(c[0] as f32, c[1] as f32, c[2] as f32))
            .collect();
        let indices: Vec<usize> = match prim.indices {
            Some(i) => match read_accessor(&scene.doc, &scene.bin, i.value()) {
                Ok((v, 1)) => v.iter().map(|x| *x as usize).collect(),
                _ => continue,
            },
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
    out
}

/// Vertex and triangle counts of a mesh.
pub fn mesh_counts(scene: &Scene, mesh: u32) -> (u64, u64) {
    let Some(m) = scene.doc.meshes.get(mesh as usize) else {
        return (0, 0);
    };
    let mut verts = 0;
    let mut tris = 0;
    for prim in &m.primitives {
        let pos = prim
            .attributes
            .get(&Checked::Valid(gj::mesh::Semantic::Positions));
        let n = pos
            .and_then(|p| scene.doc.accessors.get(p.value()))
            .map_or(0, |a| a.count.0);
        verts += n;
        tris += prim
            .indices
            .and_then(|i| scene.doc.accessors.get(i.value()))
            .map_or(n, |a| a.count.0)
            / 3;
    }
    (verts, tris)
}

/// Builds the glTF document for the scene (or the selected objects and their descendants).
pub fn build(scene: &Scene, selection_only: bool) -> IoResult<(gj::Root, Vec<u8>)> {
    let mut doc = scene.doc.clone();
    let mut bin = scene.bin.clone();
    let include: Vec<NodeId> = if selection_only {
        let mut set: Vec<NodeId> = Vec::new();
        for s in &scene.selection {
            for n in std::iter::once(*s).chain(scene.descendants(*s)) {
                if !set.contains(&n) {
                    set.push(n);
                }
            }
        }
        set.sort_unstable();
        set
    } else {
        scene.live().map(|(i, _)| i).collect()
    };
    let remap: HashMap<NodeId, u32> = include
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i as u32))
        .collect();

    // Skins whose joints are all exported.
    let mut skin_map: HashMap<usize, u32> = HashMap::new();
    doc.skins.clear();
    for (i, skin) in scene.skins.iter().enumerate() {
        if skin.joints.is_empty() || !skin.joints.iter().all(|j| remap.contains_key(j)) {
            continue;
        }
        skin_map.insert(i, doc.skins.len() as u32);
        doc.skins.push(gj::Skin {
            extensions: None,
            extras: None,
            inverse_bind_matrices: skin.inverse_bind_matrices.map(gj::Index::new),
            joints: skin
                .joints
                .iter()
                .map(|j| gj::Index::new(remap[j]))
                .collect(),
            name: skin.name.clone(),
            skeleton: skin
                .skeleton
                .and_then(|s| remap.get(&s))
                .map(|s| gj::Index::new(*s)),
        });
    }

    doc.nodes.clear();
    let mut roots = Vec::new();
    for &id in &include {
        let n = scene.node(id);
        let (t, r, s) = match n.parent {
            Some(p) if remap.contains_key(&p) => (n.t, n.r, n.s),
            _ => {
                if n.parent.is_some() {
                    let (s, r, t) = scene.world(id).to_scale_rotation_translation();
                    (t, r, s)
                } else {
                    (n.t, n.r, n.s)
                }
            }
        };
        if n.parent.is_none_or(|p| !remap.contains_key(&p)) {
            roots.push(gj::Index::new(remap[&id]));
        }
        let children: Vec<gj::Index<gj::Node>> = n
            .children
            .iter()
            .filter_map(|c| remap.get(c))
            .map(|c| gj::Index::new(*c))
            .collect();
        let mut extras = match &n.extras {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        extras.remove(HIDDEN_KEY);
        if !n.visible {
            extras.insert(HIDDEN_KEY.into(), Value::Bool(true));
        }
        let extras = if extras.is_empty() {
            n.extras.clone().filter(|e| !e.is_object())
        } else {
            Some(Value::Object(extras))
        };
        doc.nodes.push(gj::Node {
            camera: n.camera.map(gj::Index::new),
            children: (!children.is_empty()).then_some(children),
            extensions: (!n.extensions.is_empty()).then(|| gj::extensions::scene::Node {
                others: n.extensions.clone(),
            }),
            extras: extras.and_then(|e| serde_json::value::to_raw_value(&e).ok()),
            matrix: None,
            mesh: n.mesh.map(gj::Index::new),
            name: Some(n.name.clone()),
            rotation: (r != Quat::IDENTITY)
                .then(|| gj::scene::UnitQuaternion(r.normalize().to_array())),
            scale: (s != Vec3::ONE).then(|| s.to_array()),
            translation: (t != Vec3::ZERO).then(|| t.to_array()),
            skin: n
                .skin
                .and_then(|s| skin_map.get(&s))
                .map(|s| gj::Index::new(*s)),
            weights: n.weights.clone(),
        });
    }
    doc.scenes = vec![gj::Scene {
        extensions: None,
        extras: None,
        name: Some("Scene".into()),
        nodes: roots,
    }];
    doc.scene = Some(gj::Index::new(0));

    doc.animations.clear();
    for action in &scene.actions {
        let mut samplers = Vec::new();
        let mut channels = Vec::new();
        for ch in &action.channels {
            let Some(node) = remap.get(&ch.node) else {
                continue;
            };
            if ch.times.is_empty() {
                continue;
            }
            let input = push_f32(
                &mut doc,
                &mut bin,
                ch.times.iter().copied(),
                Type::Scalar,
                true,
            );
            let ty = if ch.path == ChannelPath::Rotation {
                Type::Vec4
            } else {
                Type::Vec3
            };
            let output = push_f32(&mut doc, &mut bin, ch.values.iter().copied(), ty, false);
            samplers.push(gj::animation::Sampler {
                extensions: None,
                extras: None,
                input: gj::Index::new(input),
                interpolation: Checked::Valid(ch.interp),
                output: gj::Index::new(output),
            });
            channels.push(gj::animation::Channel {
                sampler: gj::Index::new((samplers.len() - 1) as u32),
                target: gj::animation::Target {
                    extensions: None,
                    extras: None,
                    node: gj::Index::new(*node),
                    path: Checked::Valid(match ch.path {
                        ChannelPath::Translation => gj::animation::Property::Translation,
                        ChannelPath::Rotation => gj::animation::Property::Rotation,
                        ChannelPath::Scale => gj::animation::Property::Scale,
                    }),
                },
                extensions: None,
                extras: None,
            });
        }
        if !channels.is_empty() {
            doc.animations.push(gj::Animation {
                extensions: None,
                extras: None,
                channels,
                name: Some(action.name.clone()),
                samplers,
            });
        }
    }
    doc.buffers = vec![bin_buffer(bin.len())];
    if doc.asset.generator.is_none() {
        doc.asset.generator = Some(format!("stagecraft {}", env!("CARGO_PKG_VERSION")));
    }
    Ok((doc, bin))
}

/// Encodes the scene as .glb bytes.
pub fn to_glb(scene: &Scene, selection_only: bool) -> IoResult<Vec<u8>> {
    let (mut doc, bin) = build(scene, selection_only)?;
    if bin.is_empty() {
        doc.buffers.clear();
    }
    let json = doc
        .to_vec()
        .map_err(|e| format!("cannot encode glTF JSON: {e}"))?;
    gltf_buffers::write_glb(json, bin)
}

/// Encodes the scene as a self-contained .gltf (buffer as a base64 data URI).
pub fn to_gltf(scene: &Scene, selection_only: bool) -> IoResult<Vec<u8>> {
    let (mut doc, bin) = build(scene, selection_only)?;
    if bin.is_empty() {
        doc.buffers.clear();
    } else if let Some(b) = doc.buffers.first_mut() {
        b.uri = Some(gltf_buffers::data_uri(&bin));
    }
    doc.to_vec_pretty()
        .map_err(|e| format!("cannot encode glTF JSON: {e}"))
}
