//! glTF 2.0 (JSON or GLB) ⇄ [`Take`].
//!
//! Decoding is lenient about layout (any accessor order, sparse 1.4 channels, byteStride, GLB BIN
//! chunk, both data-URI media types, missing `MMCP_motion`) and strict about content: every index and
//! byte range is bounds-checked and any non-finite number refuses the whole document, because a NaN
//! that reaches a DCC rig corrupts the user's scene silently.
//!
//! Speed: each buffer's base64 is decoded once; accessors are read straight from the byte slices
//! (`f32::from_le_bytes` over `chunks_exact`), one `Vec<f32>` per accessor, no per-value allocation.
//! Dense channels whose input is the frame clock are copied, not resampled.
//!
//! Encoding writes the SDK's document layout (docs/mmcp.md#the-gltf-take): one node per joint in skeleton
//! order, a skin, one `sample_<b>` animation per sample with dense LINEAR channels (rotations of every
//! joint, root translation, then animated non-root translations), accessor 0 the shared frame clock,
//! one embedded buffer (or the GLB BIN chunk), and `extensions.MMCP_motion`.

use std::collections::{BTreeMap, HashMap};

use glam::{Quat, Vec3};
use gltf_json as gj;
use gltf_json::accessor::Type;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::take::{Joint, Sample, Skeleton, Take};
use super::wire::PROTOCOL_VERSION;
use crate::gltf_buffers::{self, AccessorError, Interpolation, MAX_VALUES, Sampler, Source};
use gltf_json::validation::Checked;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GltfError {
    #[error("the glTF JSON does not parse: {0}")]
    Json(String),
    #[error("the GLB container is malformed: {0}")]
    Glb(String),
    #[error("buffer {index}: {message}")]
    Buffer { index: usize, message: String },
    #[error("accessor {index}: {message}")]
    Accessor { index: usize, message: String },
    #[error("animation {animation}: {message}")]
    Animation { animation: usize, message: String },
    #[error("non-finite number in {0}")]
    NonFinite(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<AccessorError> for GltfError {
    fn from(e: AccessorError) -> Self {
        match e {
            AccessorError::Invalid { index, message } => GltfError::Accessor { index, message },
            AccessorError::NonFinite { index, element } => {
                GltfError::NonFinite(format!("accessor {index}, element {element}"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The subset of glTF that motion needs (lenient: unknown keys ignored, optional things defaulted)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    skins: Vec<Skin>,
    #[serde(default)]
    animations: Vec<Animation>,
    #[serde(default)]
    accessors: Vec<gj::Accessor>,
    #[serde(default, rename = "bufferViews")]
    buffer_views: Vec<gj::buffer::View>,
    #[serde(default, borrow)]
    buffers: Vec<Buffer<'a>>,
    #[serde(default)]
    extensions: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    children: Vec<usize>,
    #[serde(default)]
    translation: Option<[f32; 3]>,
    #[serde(default)]
    rotation: Option<[f32; 4]>,
    #[serde(default)]
    matrix: Option<[f32; 16]>,
}

#[derive(Deserialize)]
struct Skin {
    #[serde(default)]
    joints: Vec<usize>,
}

#[derive(Deserialize)]
struct Animation {
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    samplers: Vec<SamplerDef>,
}

#[derive(Deserialize)]
struct Channel {
    sampler: usize,
    target: Target,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    node: Option<usize>,
    path: String,
}

#[derive(Deserialize)]
struct SamplerDef {
    input: usize,
    output: usize,
    #[serde(default = "linear")]
    interpolation: Checked<Interpolation>,
}

fn linear() -> Checked<Interpolation> {
    Checked::Valid(Interpolation::Linear)
}

#[derive(Deserialize)]
struct Buffer<'a> {
    #[serde(rename = "byteLength")]
    byte_length: usize,
    /// Borrowed from the response body when it can be (a data URI holds no JSON escapes): the
    /// base64 of a 10 MB response is decoded where it lies instead of being copied first.
    #[serde(default, borrow)]
    uri: Option<std::borrow::Cow<'a, str>>,
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes a glTF JSON document or a GLB container (sniffed by its magic) into a take.
pub fn decode(bytes: &[u8]) -> Result<Take, GltfError> {
    if gltf_buffers::is_glb(bytes) {
        decode_glb(bytes)
    } else {
        decode_gltf_json(bytes)
    }
}

/// Decodes a `.gltf` JSON document with data-URI buffers.
pub fn decode_gltf_json(bytes: &[u8]) -> Result<Take, GltfError> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| GltfError::Json(e.to_string()))?;
    let buffers = load_buffers(&doc, None)?;
    decode_doc(&doc, &buffers)
}

/// Decodes an already parsed glTF document (a batch item's `gltf`).
pub fn decode_value(value: &Value) -> Result<Take, GltfError> {
    let doc = Doc::deserialize(value).map_err(|e| GltfError::Json(e.to_string()))?;
    let buffers = load_buffers(&doc, None)?;
    decode_doc(&doc, &buffers)
}

/// Decodes a GLB container: JSON chunk, optional BIN chunk (buffer 0 without `uri`).
pub fn decode_glb(bytes: &[u8]) -> Result<Take, GltfError> {
    let chunks = gltf_buffers::split_glb(bytes).map_err(GltfError::Glb)?;
    let doc: Doc =
        serde_json::from_slice(chunks.json).map_err(|e| GltfError::Json(e.to_string()))?;
    let buffers = load_buffers(&doc, chunks.bin)?;
    decode_doc(&doc, &buffers)
}

/// Decodes every buffer once: data URIs from base64, buffer 0 without URI from the GLB BIN chunk.
fn load_buffers(doc: &Doc<'_>, bin: Option<&[u8]>) -> Result<Vec<Vec<u8>>, GltfError> {
    let mut out = Vec::with_capacity(doc.buffers.len());
    for (index, b) in doc.buffers.iter().enumerate() {
        let err = |message: String| GltfError::Buffer { index, message };
        let mut data = match (&b.uri, bin) {
            (Some(uri), _) => gltf_buffers::decode_data_uri(uri)
                .ok_or_else(|| {
                    err("only embedded base64 data URIs are supported (no external files)".into())
                })?
                .map_err(err)?,
            (None, Some(bin)) if index == 0 => bin.to_vec(),
            (None, _) => return Err(err("has no uri and there is no GLB BIN chunk".into())),
        };
        if data.len() < b.byte_length {
            return Err(err(format!(
                "byteLength is {} but only {} bytes are present",
                b.byte_length,
                data.len()
            )));
        }
        data.truncate(b.byte_length);
        out.push(data);
    }
    Ok(out)
}

/// Reads accessor `index` as flat `f32`s (float32, or normalised/plain integers), bounds-checked.
fn read_accessor(doc: &Doc<'_>, buffers: &[Vec<u8>], index: usize) -> Result<Vec<f32>, GltfError> {
    let source = Source {
        accessors: &doc.accessors,
        views: &doc.buffer_views,
        buffers,
    };
    Ok(source.read::<f32>(index)?.0)
}

fn decode_doc(doc: &Doc<'_>, buffers: &[Vec<u8>]) -> Result<Take, GltfError> {
    if doc.animations.is_empty() {
        return Err(GltfError::Invalid("the document has no animations".into()));
    }
    let ext = doc
        .extensions
        .as_ref()
        .and_then(|e| e.get("MMCP_motion"))
        .and_then(Value::as_object);

    // --- skeleton: the skin's joints (every node when there is no skin), parents first ---------
    let node_count = doc.nodes.len();
    let mut parent_of: Vec<Option<usize>> = vec![None; node_count];
    for (p, node) in doc.nodes.iter().enumerate() {
        for &c in &node.children {
            if c >= node_count {
                return Err(GltfError::Invalid(format!(
                    "node {p} lists child {c}, which does not exist"
                )));
            }
            if parent_of[c].is_some() || c == p {
                return Err(GltfError::Invalid(format!("node {c} has several parents")));
            }
            parent_of[c] = Some(p);
        }
    }
    let members: Vec<usize> = match doc.skins.first() {
        Some(skin) if !skin.joints.is_empty() => skin.joints.clone(),
        _ => (0..node_count).collect(),
    };
    if members.is_empty() {
        return Err(GltfError::Invalid("the document has no nodes".into()));
    }
    let mut is_member = vec![false; node_count];
    for &m in &members {
        if m >= node_count {
            return Err(GltfError::Invalid(format!("skin joint {m} does not exist")));
        }
        is_member[m] = true;
    }
    // The parent inside the joint set: walk up through non-joint nodes.
    let joint_parent = |mut n: usize| -> Option<usize> {
        let mut guard = 0;
        while let Some(p) = parent_of[n] {
            if is_member[p] {
                return Some(p);
            }
            n = p;
            guard += 1;
            if guard > node_count {
                return None;
            }
        }
        None
    };
    // Keep the document order when it is already parents-first (the SDK layout); else depth-first.
    let mut order: Vec<usize> = Vec::with_capacity(members.len());
    let mut placed = vec![false; node_count];
    let mut pending: Vec<usize> = members.clone();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&n| {
            let ready = joint_parent(n).is_none_or(|p| placed[p]);
            if ready {
                placed[n] = true;
                order.push(n);
            }
            !ready
        });
        if pending.len() == before {
            return Err(GltfError::Invalid("the node hierarchy has a cycle".into()));
        }
    }
    let mut joint_of_node: HashMap<usize, usize> = HashMap::with_capacity(order.len());
    for (j, &n) in order.iter().enumerate() {
        joint_of_node.insert(n, j);
    }
    let mut joints = Vec::with_capacity(order.len());
    let mut roots = Vec::new();
    for (j, &n) in order.iter().enumerate() {
        let node = &doc.nodes[n];
        let (translation, rotation) = node_rest(node)?;
        let parent = joint_parent(n).and_then(|p| joint_of_node.get(&p).copied());
        if parent.is_none() {
            roots.push(j);
        }
        joints.push(Joint {
            name: node.name.clone().unwrap_or_else(|| format!("node_{n}")),
            parent,
            rest_translation: translation,
            rest_rotation: rotation,
        });
    }
    if roots.len() != 1 {
        return Err(GltfError::Invalid(format!(
            "the skeleton needs exactly one root joint, found {}",
            roots.len()
        )));
    }
    let root = roots[0];
    let skeleton = Skeleton { joints };
    let jn = skeleton.joints.len();

    // --- frame grid -------------------------------------------------------------------------
    let ext_samples: Vec<&Map<String, Value>> = ext
        .and_then(|e| e.get("samples"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let ext_fps = ext
        .and_then(|e| e.get("fps"))
        .and_then(Value::as_f64)
        .filter(|f| f.is_finite() && *f > 0.0);
    let ext_frames = ext_samples
        .iter()
        .filter_map(|s| s.get("num_frames").and_then(Value::as_u64))
        .max();

    // Read every accessor a sampler uses once (channels share the clock).
    let mut cache: HashMap<usize, Vec<f32>> = HashMap::new();
    let mut longest_input: Option<(usize, f32)> = None;
    for (ai, anim) in doc.animations.iter().enumerate() {
        for s in &anim.samplers {
            for idx in [s.input, s.output] {
                if let std::collections::hash_map::Entry::Vacant(v) = cache.entry(idx) {
                    v.insert(read_accessor(doc, buffers, idx)?);
                }
            }
            let times = &cache[&s.input];
            if times.is_empty() {
                return Err(GltfError::Animation {
                    animation: ai,
                    message: format!("sampler input accessor {} is empty", s.input),
                });
            }
            if times.windows(2).any(|w| w[1] < w[0]) {
                return Err(GltfError::Animation {
                    animation: ai,
                    message: format!("sampler input accessor {} is not sorted", s.input),
                });
            }
            let last = times[times.len() - 1];
            if longest_input.is_none_or(|(n, _)| times.len() > n) {
                longest_input = Some((times.len(), last));
            }
        }
    }
    let (fps, num_frames) = match (ext_fps, ext_frames) {
        (Some(f), Some(n)) => (f as f32, n as usize),
        _ => {
            let (n, last) = longest_input.unwrap_or((1, 0.0));
            let fps = ext_fps.map(|f| f as f32).unwrap_or_else(|| {
                if n > 1 && last > 0.0 {
                    ((n - 1) as f32 / last).round()
                } else {
                    30.0
                }
            });
            let frames = ext_frames
                .map(|n| n as usize)
                .unwrap_or_else(|| ((last * fps).round() as usize).saturating_add(1));
            (fps, frames)
        }
    };
    if num_frames == 0 {
        return Err(GltfError::Invalid("the motion has zero frames".into()));
    }
    // A hostile num_frames must not make us allocate gigabytes for sparse keys held over it.
    let values = num_frames
        .saturating_mul(jn)
        .saturating_mul(doc.animations.len());
    if values > MAX_VALUES {
        return Err(GltfError::Invalid(format!(
            "{num_frames} frames × {jn} joints × {} samples is beyond any real motion",
            doc.animations.len()
        )));
    }

    // --- samples ------------------------------------------------------------------------------
    let mut samples = Vec::with_capacity(doc.animations.len());
    let mut dense_clock: HashMap<usize, bool> = HashMap::new();
    for (ai, anim) in doc.animations.iter().enumerate() {
        let aerr = |message: String| GltfError::Animation {
            animation: ai,
            message,
        };
        // Joints without a rotation channel keep their rest rotation (glTF semantics).
        let rest: Vec<[f32; 4]> = skeleton.joints.iter().map(|j| j.rest_rotation).collect();
        let mut rotations: Vec<[f32; 4]> = rest.repeat(num_frames);
        let mut root_positions = vec![skeleton.joints[root].rest_translation; num_frames];
        let mut joint_translations: BTreeMap<usize, Vec<[f32; 3]>> = BTreeMap::new();
        let mut any_rotation = false;
        for ch in &anim.channels {
            let Some(node) = ch.target.node else { continue };
            let Some(&j) = joint_of_node.get(&node) else {
                continue; // a channel on a non-joint node (a mesh, a camera) is not motion
            };
            let width = match ch.target.path.as_str() {
                "rotation" => 4,
                "translation" => 3,
                _ => continue, // scale and weights are not part of MMCP motion
            };
            let s = anim.samplers.get(ch.sampler).ok_or_else(|| {
                aerr(format!(
                    "channel uses sampler {} which does not exist",
                    ch.sampler
                ))
            })?;
            let interpolation = match s.interpolation {
                Checked::Valid(i) => i,
                Checked::Invalid => Interpolation::Linear,
            };
            let times = &cache[&s.input];
            let values = &cache[&s.output];
            let keys = times.len();
            // CUBICSPLINE: in-tangent, value, out-tangent per key.
            let per_key = match interpolation {
                Interpolation::CubicSpline => 3 * width,
                _ => width,
            };
            if values.len() != keys * per_key {
                return Err(aerr(match interpolation {
                    Interpolation::CubicSpline => format!(
                        "CUBICSPLINE output accessor {} has {} values for {keys} keys",
                        s.output,
                        values.len()
                    ),
                    _ => format!(
                        "output accessor {} has {} values, expected {keys} × {width}",
                        s.output,
                        values.len()
                    ),
                }));
            }
            let sampler = Sampler {
                times,
                values,
                width,
                interpolation,
            };
            // Dense fast path: one key per frame at the frame times (checked once per clock
            // accessor: every channel of the SDK layout shares one).
            let dense = keys == num_frames
                && *dense_clock.entry(s.input).or_insert_with(|| {
                    times
                        .iter()
                        .enumerate()
                        .all(|(i, &t)| (t * fps - i as f32).abs() < 0.01)
                });
            let mut cursor = 0usize;
            let mut buf = [0f32; 4];
            if width == 4 {
                any_rotation = true;
                for t in 0..num_frames {
                    if dense {
                        buf.copy_from_slice(sampler.key(t));
                    } else {
                        sampler.eval(t as f32 / fps, &mut cursor, &mut buf);
                    }
                    let q = buf;
                    rotations[t * jn + j] = q;
                }
            } else {
                let mut track_out = Vec::with_capacity(num_frames);
                for t in 0..num_frames {
                    let v = &mut buf[..3];
                    if dense {
                        v.copy_from_slice(sampler.key(t));
                    } else {
                        sampler.eval(t as f32 / fps, &mut cursor, v);
                    }
                    let v = [v[0], v[1], v[2]];
                    track_out.push(v);
                }
                if j == root {
                    root_positions = track_out;
                } else {
                    joint_translations.insert(j, track_out);
                }
            }
        }
        if !any_rotation {
            return Err(aerr("has no rotation channel".into()));
        }
        let meta = ext_samples.get(ai);
        let foot_contacts = meta
            .map(|m| read_contacts(doc, buffers, m, &skeleton, num_frames))
            .transpose()?
            .unwrap_or_default();
        let chunk_boundaries = meta
            .and_then(|m| m.get("chunk_boundaries"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as u32)
                    .collect()
            })
            .unwrap_or_default();
        let trajectory = meta.and_then(|m| m.get("trajectory")).cloned();
        samples.push(Sample {
            rotations,
            root_positions,
            joint_translations,
            foot_contacts,
            trajectory,
            chunk_boundaries,
        });
    }

    let text = |k: &str| {
        ext.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let notes = ext
        .and_then(|e| e.get("notes"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let canonical_to_request = ext
        .and_then(|e| e.get("canonical_to_request"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let take = Take {
        model: text("model"),
        version: text("version"),
        fps,
        num_frames,
        skeleton,
        samples,
        notes,
        canonical_to_request,
    };
    // Whatever the document says, only a consistent take leaves the decoder (an fps of 1e308 is
    // finite as f64 and infinite as f32, for one).
    check_take(&take)?;
    Ok(take)
}

fn node_rest(node: &Node) -> Result<([f32; 3], [f32; 4]), GltfError> {
    let name = node.name.as_deref().unwrap_or("?");
    let (t, r) = if let Some(m) = node.matrix {
        let m = glam::Mat4::from_cols_array(&m);
        let (_, r, t) = m.to_scale_rotation_translation();
        (t.to_array(), r.to_array())
    } else {
        (
            node.translation.unwrap_or([0.0; 3]),
            node.rotation.unwrap_or([0.0, 0.0, 0.0, 1.0]),
        )
    };
    if t.iter().chain(&r).any(|v| !v.is_finite()) {
        return Err(GltfError::NonFinite(format!(
            "the rest transform of node {name:?}"
        )));
    }
    Ok((t, r))
}

/// `foot_contacts` as `{joint: [bool]}` or `{"$accessor": n}` + `foot_contact_joints`; names that
/// are not joints and tracks of the wrong length are dropped (they are advisory, never fatal).
fn read_contacts(
    doc: &Doc<'_>,
    buffers: &[Vec<u8>],
    meta: &Map<String, Value>,
    skeleton: &Skeleton,
    num_frames: usize,
) -> Result<BTreeMap<String, Vec<bool>>, GltfError> {
    let mut out = BTreeMap::new();
    let Some(fc) = meta.get("foot_contacts").and_then(Value::as_object) else {
        return Ok(out);
    };
    if let Some(index) = fc.get("$accessor").and_then(Value::as_u64) {
        let names: Vec<&str> = meta
            .get("foot_contact_joints")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if names.is_empty() {
            return Ok(out);
        }
        let flags = read_accessor(doc, buffers, index as usize)?;
        if flags.len() != num_frames * names.len() {
            return Ok(out);
        }
        for (k, name) in names.iter().enumerate() {
            if skeleton.index_of(name).is_some() {
                let track = (0..num_frames)
                    .map(|t| flags[t * names.len() + k] != 0.0)
                    .collect();
                out.insert((*name).to_string(), track);
            }
        }
        return Ok(out);
    }
    for (name, v) in fc {
        let Some(arr) = v.as_array() else { continue };
        if arr.len() != num_frames || skeleton.index_of(name).is_none() {
            continue;
        }
        let track: Option<Vec<bool>> = arr
            .iter()
            .map(|b| b.as_bool().or_else(|| b.as_f64().map(|f| f != 0.0)))
            .collect();
        if let Some(track) = track {
            out.insert(name.clone(), track);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the client and the server
// ---------------------------------------------------------------------------------------------

/// Refuses a take whose arrays do not match its skeleton and frame count, or that holds non-finite
/// numbers (the encoder assumes a consistent take; a backbone should call this before encoding).
pub fn check_take(take: &Take) -> Result<(), GltfError> {
    let jn = take.skeleton.joints.len();
    if jn == 0 {
        return Err(GltfError::Invalid("the take has no joints".into()));
    }
    if !(take.fps.is_finite() && take.fps > 0.0) {
        return Err(GltfError::Invalid(format!(
            "fps {} is not positive",
            take.fps
        )));
    }
    if take.samples.is_empty() {
        return Err(GltfError::Invalid("the take has no samples".into()));
    }
    let roots = take
        .skeleton
        .joints
        .iter()
        .filter(|j| j.parent.is_none())
        .count();
    if roots != 1 {
        return Err(GltfError::Invalid(format!(
            "the skeleton has {roots} roots, not 1"
        )));
    }
    // Forward kinematics (previews, DCCs) rely on parents coming first.
    if let Some((j, joint)) = take
        .skeleton
        .joints
        .iter()
        .enumerate()
        .find(|(j, joint)| joint.parent.is_some_and(|p| p >= *j))
    {
        return Err(GltfError::Invalid(format!(
            "joint {j} ({:?}) has parent {:?}, which does not come before it",
            joint.name, joint.parent
        )));
    }
    for (b, s) in take.samples.iter().enumerate() {
        if s.rotations.len() != take.num_frames * jn || s.root_positions.len() != take.num_frames {
            return Err(GltfError::Invalid(format!(
                "sample {b}: {} rotations and {} root positions for {} frames × {jn} joints",
                s.rotations.len(),
                s.root_positions.len(),
                take.num_frames
            )));
        }
        let finite = s.rotations.iter().flatten().all(|v| v.is_finite())
            && s.root_positions.iter().flatten().all(|v| v.is_finite())
            && s.joint_translations.iter().all(|(j, track)| {
                *j < jn
                    && track.len() == take.num_frames
                    && track.iter().flatten().all(|v| v.is_finite())
            });
        if !finite {
            return Err(GltfError::NonFinite(format!(
                "sample {b} (or a joint translation track of the wrong length)"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// A number as its shortest `f32` spelling (0.95, not 0.949999988079071).
fn short(v: f32) -> Value {
    let v = if v.is_finite() { v } else { 0.0 };
    v.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::from(0.0))
}

/// The accessors and buffer views of a document being built, and the bytes behind them.
struct BinBuilder {
    parts: gj::Root,
    bytes: Vec<u8>,
}

impl BinBuilder {
    /// One float32 accessor of `type_` elements; `bounds` for the min/max that inputs need.
    fn push(
        &mut self,
        values: impl Iterator<Item = f32>,
        type_: gj::accessor::Type,
        bounds: bool,
    ) -> usize {
        gltf_buffers::push_f32(&mut self.parts, &mut self.bytes, values, type_, bounds) as usize
    }
}

/// Builds the glTF document (without buffer URI) and its binary payload.
fn build(take: &Take) -> (Value, Vec<u8>) {
    let joints = &take.skeleton.joints;
    let jn = joints.len();
    let frames = take.num_frames;
    let fps = if take.fps.is_finite() && take.fps > 0.0 {
        take.fps
    } else {
        30.0
    };
    let root = joints.iter().position(|j| j.parent.is_none()).unwrap_or(0);

    let mut children: Vec<Vec<usize>> = vec![Vec::new(); jn];
    for (j, joint) in joints.iter().enumerate() {
        if let Some(p) = joint.parent.filter(|&p| p < jn && p != j) {
            children[p].push(j);
        }
    }
    let nodes: Vec<Value> = joints
        .iter()
        .enumerate()
        .map(|(j, joint)| {
            let r = normalized(joint.rest_rotation);
            let mut node = json!({
                "name": joint.name,
                "translation": joint.rest_translation.map(short),
                "rotation": r.map(short),
            });
            if !children[j].is_empty() {
                node["children"] = json!(children[j]);
            }
            node
        })
        .collect();

    let mut bin = BinBuilder {
        parts: gj::Root::default(),
        bytes: Vec::with_capacity(
            frames
                .saturating_mul(4)
                .saturating_add(
                    take.samples
                        .len()
                        .saturating_mul(frames)
                        .saturating_mul(16 * jn + 12),
                )
                .min(1 << 30),
        ),
    };
    let clock = bin.push((0..frames).map(|i| i as f32 / fps), Type::Scalar, true);

    let identity = [0.0, 0.0, 0.0, 1.0];
    let mut animations = Vec::with_capacity(take.samples.len());
    let mut ext_samples = Vec::with_capacity(take.samples.len());
    for (b, sample) in take.samples.iter().enumerate() {
        let mut channels = Vec::new();
        let mut samplers = Vec::new();
        let mut add = |node: usize, path: &str, output: usize| {
            samplers.push(json!({"input": clock, "output": output, "interpolation": "LINEAR"}));
            channels.push(
                json!({"sampler": samplers.len() - 1, "target": {"node": node, "path": path}}),
            );
        };
        for j in 0..jn {
            // glTF viewers and validators require unit quaternions; keep sign continuity too.
            let mut prev = Quat::IDENTITY;
            let track: Vec<f32> = (0..frames)
                .flat_map(|t| {
                    let q = sample
                        .rotations
                        .get(t * jn + j)
                        .copied()
                        .unwrap_or(identity);
                    let mut q = Quat::from_array(normalized(q));
                    if t > 0 && prev.dot(q) < 0.0 {
                        q = -q;
                    }
                    prev = q;
                    q.to_array()
                })
                .collect();
            let out = bin.push(track.into_iter(), Type::Vec4, false);
            add(j, "rotation", out);
        }
        let rest_root = joints
            .get(root)
            .map(|j| j.rest_translation)
            .unwrap_or([0.0; 3]);
        let out = bin.push(
            (0..frames).flat_map(|t| sample.root_positions.get(t).copied().unwrap_or(rest_root)),
            Type::Vec3,
            false,
        );
        add(root, "translation", out);
        for (&j, track) in &sample.joint_translations {
            if j >= jn || j == root {
                continue;
            }
            let rest = joints[j].rest_translation;
            let out = bin.push(
                (0..frames).flat_map(|t| track.get(t).copied().unwrap_or(rest)),
                Type::Vec3,
                false,
            );
            add(j, "translation", out);
        }
        animations.push(json!({
            "name": format!("sample_{b}"),
            "channels": channels,
            "samplers": samplers,
        }));
        let mut meta = json!({
            "name": format!("sample_{b}"),
            "num_frames": frames,
            "chunk_boundaries": sample.chunk_boundaries,
        });
        if !sample.foot_contacts.is_empty() {
            meta["foot_contacts"] = json!(sample.foot_contacts);
        }
        if let Some(tr) = &sample.trajectory {
            meta["trajectory"] = tr.clone();
        }
        ext_samples.push(meta);
    }

    let mut ext = json!({
        "version": if take.version.is_empty() { PROTOCOL_VERSION } else { take.version.as_str() },
        "model": take.model,
        "fps": f64::from(fps),
        "samples": ext_samples,
    });
    if !take.canonical_to_request.is_empty() {
        ext["canonical_to_request"] = json!(take.canonical_to_request);
    }
    if !take.notes.is_empty() {
        ext["notes"] = Value::Array(take.notes.clone());
    }
    let mut doc = json!({
        "asset": {"version": "2.0", "generator": concat!("stagecraft ", env!("CARGO_PKG_VERSION"))},
        "nodes": nodes,
        "scenes": [{"nodes": [root]}],
        "scene": 0,
        "skins": [{"name": "skin", "joints": (0..jn).collect::<Vec<_>>()}],
        "animations": animations,
        "accessors": bin.parts.accessors,
        "bufferViews": bin.parts.buffer_views,
        "buffers": [{"byteLength": bin.bytes.len()}],
        "extensionsUsed": ["MMCP_motion"],
        "extensions": {"MMCP_motion": ext},
    });
    if jn == 0 {
        // A skin needs at least one joint; an empty take is still a valid (empty) document.
        if let Some(o) = doc.as_object_mut() {
            o.remove("skins");
        }
    }
    (doc, bin.bytes)
}

fn normalized(q: [f32; 4]) -> [f32; 4] {
    let v = Quat::from_array(q);
    let len = v.length();
    if len.is_finite() && len > 1e-8 {
        (v / len).to_array()
    } else {
        [0.0, 0.0, 0.0, 1.0]
    }
}

/// The glTF document as JSON (buffer embedded as a data URI): what an MMCP server answers.
pub fn encode_document(take: &Take) -> Value {
    let (mut doc, bytes) = build(take);
    doc["buffers"][0]["uri"] = Value::String(gltf_buffers::data_uri(&bytes));
    doc
}

/// A `.gltf` file / `model/gltf+json` body: compact JSON, one data-URI buffer.
pub fn encode_gltf_json(take: &Take) -> Vec<u8> {
    serde_json::to_vec(&encode_document(take)).unwrap_or_default()
}

/// A `.glb` file / `model/gltf-binary` body: JSON chunk (space-padded) + BIN chunk (zero-padded).
pub fn encode_glb(take: &Take) -> Vec<u8> {
    let (doc, bytes) = build(take);
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    // Writing into a Vec cannot fail.
    gltf_buffers::write_glb(json, bytes).unwrap_or_default()
}

/// World positions of every joint of `sample` at frame `t` (re-exported helper for previews).
pub fn world_positions(take: &Take, sample: usize, t: usize) -> Vec<Vec3> {
    match take.samples.get(sample) {
        Some(s) if t < take.num_frames => take.world_positions(s, t),
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::Engine as _;

    /// The reference server's answers, kept in the repository (tests/fixtures/mmcp-captures/README.md).
    const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp-captures");

    /// A capture's bytes; a missing one fails the test rather than passing it quietly.
    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{CAPTURES}/{name}"))
            .unwrap_or_else(|e| panic!("capture {name}: {e}"))
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn decodes_smallest_capture_like_decoded_txt() {
        let bytes = read("out/02-generate-valid-text.gltf");
        let take = decode(&bytes).expect("decode");
        assert_eq!(take.model, "null");
        assert_eq!(take.version, "1.4");
        assert_eq!(take.fps, 30.0);
        assert_eq!(take.num_frames, 4);
        let names: Vec<&str> = take.skeleton.names().collect();
        assert_eq!(names, ["Hips", "Spine", "Head", "LeftFoot", "RightFoot"]);
        assert_eq!(take.skeleton.joints[2].parent, Some(1));
        assert_eq!(take.skeleton.joints[4].parent, Some(0));
        let s = &take.samples[0];
        // accessor 6: root translation (0, 0.95, 0) on all 4 frames; rotations identity.
        assert!(
            s.root_positions
                .iter()
                .all(|p| close(p[1], 0.95) && p[0] == 0.0)
        );
        assert!(s.rotations.iter().all(|q| *q == [0.0, 0.0, 0.0, 1.0]));
        assert!(s.joint_translations.is_empty());
    }

    #[test]
    fn decodes_sparse_channels_joint_translation_contacts_notes() {
        let bytes = read("out-demo/d01-keyframes-jointtranslation-contacts-notes.gltf");
        let take = decode(&bytes).expect("decode d01");
        assert_eq!(take.num_frames, 6);
        let s = &take.samples[0];
        let jn = take.skeleton.joints.len();
        // Spine (joint 1): keys at t = 0, 0.1 (frame 3), 0.166667 (frame 5) with values
        // y = 0, 0.17903, 0.29552. Frame 3 and 5 hit keys exactly.
        let spine = |t: usize| s.rotations[t * jn + 1];
        assert!(close(spine(0)[1], 0.0));
        assert!(close(spine(3)[1], 0.17903), "{:?}", spine(3));
        assert!(close(spine(5)[1], 0.29552), "{:?}", spine(5));
        // Frame 1 lies a third of the way from key 0 to key 1: slerp, so y = sin(θ/3·…).
        let a = Quat::IDENTITY;
        let b = Quat::from_xyzw(0.0, 0.17903, 0.0, 0.983844).normalize();
        let expect = a.slerp(b, 1.0 / 3.0);
        assert!(
            (spine(1)[1] - expect.y).abs() < 1e-4,
            "{:?} vs {expect:?}",
            spine(1)
        );
        // Frame 4: halfway between keys 1 and 2.
        let c = Quat::from_xyzw(0.0, 0.29552, 0.0, 0.955337).normalize();
        assert!((spine(4)[1] - b.slerp(c, 0.5).y).abs() < 1e-4);
        // Root translation: two keys (0,0.95,0) at 0 and (0,0.95,0.2) at 0.1667 -> lerp.
        assert!(close(s.root_positions[0][2], 0.0));
        assert!(
            (s.root_positions[3][2] - 0.12).abs() < 1e-4,
            "{:?}",
            s.root_positions[3]
        );
        assert!(close(s.root_positions[5][2], 0.2));
        // Jaw (joint 3) has a dense non-root translation channel (accessor 10).
        let jaw = &s.joint_translations[&3];
        assert!(close(jaw[0][1], 0.05) && close(jaw[5][1], 0.02));
        // Contacts, chunk boundaries, notes, trajectory.
        assert_eq!(s.foot_contacts["LeftFoot"], vec![true; 6]);
        assert_eq!(s.foot_contacts["RightFoot"], vec![false; 6]);
        assert_eq!(s.chunk_boundaries, vec![3]);
        assert_eq!(take.notes[0]["code"], "path_too_fast");
        assert_eq!(s.trajectory.as_ref().expect("trajectory")["model"], "still");
    }

    #[test]
    fn decodes_every_200_capture() {
        let folder = |name: &str| {
            std::fs::read_dir(format!("{CAPTURES}/{name}"))
                .unwrap_or_else(|e| panic!("captures {name}/: {e}"))
                .flatten()
        };
        let mut n = 0;
        for entry in folder("out").chain(folder("out-demo")) {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("gltf") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            let take = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(take.num_frames > 0 && !take.samples.is_empty());
            n += 1;
        }
        assert!(n >= 10, "only {n} captures");
    }

    #[test]
    fn two_samples_share_clock() {
        let bytes = read("out/03-generate-valid-2samples-constraints.gltf");
        let take = decode(&bytes).expect("decode");
        assert_eq!(take.samples.len(), 2);
        assert_eq!(take.num_frames, 10);
    }

    pub(crate) fn test_take() -> Take {
        let joints = vec![
            Joint {
                name: "Hips".into(),
                parent: None,
                rest_translation: [0.0, 0.95, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            },
            Joint {
                name: "Spine".into(),
                parent: Some(0),
                rest_translation: [0.0, 0.2, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            },
            Joint {
                name: "LeftLeg".into(),
                parent: Some(0),
                rest_translation: [0.1, -0.9, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            },
        ];
        let frames = 5;
        let mk = |phase: f32| {
            let mut rotations = Vec::new();
            let mut root = Vec::new();
            for t in 0..frames {
                let a = phase + t as f32 * 0.2;
                rotations.push(Quat::from_rotation_y(a).to_array());
                rotations.push(Quat::from_rotation_x(a * 0.5).to_array());
                rotations.push(Quat::from_rotation_z(-a).to_array());
                root.push([0.0, 0.95, t as f32 * 0.05]);
            }
            let mut jt = BTreeMap::new();
            jt.insert(
                1,
                (0..frames)
                    .map(|t| [0.0, 0.2 + t as f32 * 0.01, 0.0])
                    .collect(),
            );
            let mut fc = BTreeMap::new();
            fc.insert("LeftLeg".to_string(), vec![true, false, true, false, true]);
            Sample {
                rotations,
                root_positions: root,
                joint_translations: jt,
                foot_contacts: fc,
                trajectory: Some(json!({"model": "line", "position": [[0.0, 0.0]]})),
                chunk_boundaries: vec![2],
            }
        };
        Take {
            model: "test".into(),
            version: "1.4".into(),
            fps: 30.0,
            num_frames: frames,
            skeleton: Skeleton { joints },
            samples: vec![mk(0.0), mk(1.0)],
            notes: vec![json!({"code": "n", "severity": "info", "message": "hello"})],
            canonical_to_request: BTreeMap::from([("Hips".to_string(), "pelvis".to_string())]),
        }
    }

    fn assert_same(a: &Take, b: &Take) {
        assert_eq!(a.skeleton, b.skeleton);
        assert_eq!(a.num_frames, b.num_frames);
        assert_eq!(a.fps, b.fps);
        assert_eq!(a.notes, b.notes);
        assert_eq!(a.canonical_to_request, b.canonical_to_request);
        assert_eq!(a.samples.len(), b.samples.len());
        for (x, y) in a.samples.iter().zip(&b.samples) {
            for (q, r) in x.rotations.iter().zip(&y.rotations) {
                let d = Quat::from_array(*q).dot(Quat::from_array(*r)).abs();
                assert!(d > 0.99999, "{q:?} vs {r:?}");
            }
            assert_eq!(x.root_positions, y.root_positions);
            assert_eq!(x.joint_translations, y.joint_translations);
            assert_eq!(x.foot_contacts, y.foot_contacts);
            assert_eq!(x.trajectory, y.trajectory);
            assert_eq!(x.chunk_boundaries, y.chunk_boundaries);
        }
    }

    #[test]
    fn encode_decode_round_trip_json_and_glb() {
        let take = test_take();
        check_take(&take).expect("consistent");
        let json_bytes = encode_gltf_json(&take);
        assert_same(&take, &decode(&json_bytes).expect("json"));
        let glb = encode_glb(&take);
        assert!(gltf_buffers::is_glb(&glb) && glb.len().is_multiple_of(4));
        // For checking with the Khronos validator: STAGECRAFT_GLTF_OUT=/dir cargo test ...
        if let Some(dir) = std::env::var_os("STAGECRAFT_GLTF_OUT") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::write(dir.join("take.gltf"), &json_bytes).expect("write gltf");
            std::fs::write(dir.join("take.glb"), &glb).expect("write glb");
        }
        assert_same(&take, &decode(&glb).expect("glb"));
        // The SDK layout: accessor 0 is the clock with min/max, buffer is a data URI.
        let doc: Value = serde_json::from_slice(&json_bytes).expect("json");
        assert_eq!(doc["accessors"][0]["type"], "SCALAR");
        assert!(doc["accessors"][0]["max"].is_array());
        assert_eq!(doc["animations"][1]["name"], "sample_1");
        assert_eq!(doc["nodes"][0]["translation"], json!([0.0, 0.95, 0.0]));
        assert_eq!(doc["nodes"][0]["children"], json!([1, 2]));
        assert!(
            doc["buffers"][0]["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("data:application/octet-stream;base64,"))
        );
    }

    #[test]
    fn refuses_nan_out_of_range_truncated() {
        let take = test_take();
        let mut doc = encode_document(&take);
        // Accessor 1 past its bufferView.
        let mut bad = doc.clone();
        bad["accessors"][1]["count"] = json!(1000);
        let err = decode(&serde_json::to_vec(&bad).expect("json")).unwrap_err();
        assert!(matches!(err, GltfError::Accessor { index: 1, .. }), "{err}");
        // bufferView past the buffer.
        let mut bad = doc.clone();
        bad["bufferViews"][2]["byteOffset"] = json!(1 << 30);
        assert!(decode(&serde_json::to_vec(&bad).expect("json")).is_err());
        // Truncated JSON.
        let bytes = serde_json::to_vec(&doc).expect("json");
        assert!(matches!(
            decode(&bytes[..bytes.len() / 2]),
            Err(GltfError::Json(_))
        ));
        // A NaN in the binary data.
        let mut t2 = take.clone();
        t2.samples[0].root_positions[2][0] = f32::NAN;
        let (d2, mut bin) = build(&t2);
        let _ = d2;
        // build() scrubs NaN, so poke one into the bytes directly: root translation of sample 0.
        let root_acc = 1 + take.skeleton.joints.len();
        let view = doc["accessors"][root_acc]["bufferView"]
            .as_u64()
            .expect("view") as usize;
        let off = doc["bufferViews"][view]["byteOffset"]
            .as_u64()
            .expect("off") as usize;
        bin[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        doc["buffers"][0]["uri"] = json!(format!(
            "data:application/gltf-buffer;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&bin)
        ));
        let err = decode(&serde_json::to_vec(&doc).expect("json")).unwrap_err();
        assert!(matches!(err, GltfError::NonFinite(_)), "{err}");
        // Accessor without data but with an absurd count; absurd num_frames.
        let mut bad = encode_document(&take);
        bad["accessors"][1] = json!({"componentType": 5126, "count": 1u64 << 40, "type": "VEC4"});
        assert!(decode(&serde_json::to_vec(&bad).expect("json")).is_err());
        let mut bad = encode_document(&take);
        bad["extensions"]["MMCP_motion"]["samples"][0]["num_frames"] = json!(1u64 << 40);
        assert!(matches!(
            decode(&serde_json::to_vec(&bad).expect("json")),
            Err(GltfError::Invalid(_))
        ));
        // Truncated GLB.
        let glb = encode_glb(&take);
        assert!(decode(&glb[..glb.len() - 9]).is_err());
        assert!(decode(b"glTF").is_err());
        assert!(decode(b"").is_err());
    }

    #[test]
    fn foot_contacts_by_accessor_and_glb_bin_buffer() {
        let take = test_take();
        let (mut doc, mut bin) = build(&take);
        // Append a uint8 flags accessor (frames × 2 joints) and point foot_contacts at it.
        let flags: [u8; 10] = [1, 0, 1, 0, 0, 1, 0, 1, 1, 1];
        let offset = bin.len();
        bin.extend_from_slice(&flags);
        while bin.len() % 4 != 0 {
            bin.push(0);
        }
        let views = doc["bufferViews"].as_array_mut().expect("views");
        views.push(json!({"buffer": 0, "byteOffset": offset, "byteLength": flags.len()}));
        let view = views.len() - 1;
        let accs = doc["accessors"].as_array_mut().expect("accessors");
        accs.push(
            json!({"bufferView": view, "componentType": 5121, "count": 10, "type": "SCALAR"}),
        );
        let acc = accs.len() - 1;
        doc["buffers"][0]["byteLength"] = json!(bin.len());
        let s0 = &mut doc["extensions"]["MMCP_motion"]["samples"][0];
        s0["foot_contacts"] = json!({"$accessor": acc});
        s0["foot_contact_joints"] = json!(["LeftLeg", "Spine"]);
        // Ship it as GLB: JSON chunk + BIN chunk, buffer 0 without uri.
        let json_bytes = serde_json::to_vec(&doc).expect("json");
        let glb = gltf_buffers::write_glb(json_bytes, bin).expect("glb");
        let back = decode(&glb).expect("glb with accessor contacts");
        let fc = &back.samples[0].foot_contacts;
        assert_eq!(fc["LeftLeg"], vec![true, true, false, false, true]);
        assert_eq!(fc["Spine"], vec![false, false, true, true, true]);
    }

    /// Nothing panics on hostile input: every truncation, and thousands of random byte edits
    /// of a GLB and of a glTF JSON document, decode to Ok or Err.
    #[test]
    fn never_panics_on_mangled_input() {
        let take = test_take();
        let json_bytes = encode_gltf_json(&take);
        let glb = encode_glb(&take);
        for cut in 0..glb.len() {
            let _ = decode(&glb[..cut]);
        }
        for cut in (0..json_bytes.len()).step_by(7) {
            let _ = decode(&json_bytes[..cut]);
        }
        // A tiny deterministic LCG: reproducible without a dependency.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        let digits = b"0123456789-.e";
        for _ in 0..3000 {
            let mut g = glb.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() % g.len();
                g[i] = next() as u8;
            }
            let _ = decode(&g);
            // Edits that keep the JSON parseable more often: swap digits inside numbers.
            let mut j = json_bytes.clone();
            for _ in 0..1 + next() % 3 {
                let i = next() % j.len();
                if j[i].is_ascii_digit() {
                    j[i] = digits[next() % digits.len()];
                }
            }
            let _ = decode(&j);
        }
    }
}

#[cfg(test)]
mod large {
    use super::*;
    #[test]
    fn decodes_a_ten_megabyte_take() {
        // 30 joints × 900 frames × 16 samples ≈ 9.5 MB of glTF JSON (docs/mmcp.md#the-gltf-take, Sizes).
        let jn = 30;
        let frames = 900;
        let joints: Vec<Joint> = (0..jn)
            .map(|j| Joint {
                name: format!("J{j}"),
                parent: if j == 0 { None } else { Some(j - 1) },
                rest_translation: [0.0, 0.1, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect();
        let sample = Sample {
            rotations: (0..frames * jn)
                .map(|i| Quat::from_rotation_y(i as f32 * 1e-3).to_array())
                .collect(),
            root_positions: vec![[0.0, 1.0, 0.0]; frames],
            ..Sample::default()
        };
        let take = Take {
            fps: 30.0,
            num_frames: frames,
            skeleton: Skeleton { joints },
            samples: vec![sample; 16],
            ..Take::default()
        };
        let bytes = encode_gltf_json(&take);
        assert!(bytes.len() > 9_000_000);
        let back = decode(&bytes).expect("decode");
        assert_eq!(back.samples.len(), 16);
        let q = Quat::from_array(back.samples[15].rotations[899 * jn + 29]);
        let want = Quat::from_rotation_y((899 * jn + 29) as f32 * 1e-3);
        assert!(q.dot(want).abs() > 0.99999);
    }
}
