//! glTF 2.0 (JSON or GLB) → [`Take`]: lenient about layout, strict about content (see the module
//! above).

use std::collections::{BTreeMap, HashMap};

use gltf_json as gj;
use gltf_json::validation::Checked;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{GltfError, check_take};
use crate::gltf_buffers::{self, Interpolation, MAX_VALUES, Sampler, Source};
use crate::motion::take::{Joint, Sample, Skeleton, Take};

// The subset of glTF that motion needs (lenient: unknown keys ignored, optional things defaulted)

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

// Decoding

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
