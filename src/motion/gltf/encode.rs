//! [`Take`] → glTF 2.0 in the MMCP SDK's document layout (docs/mmcp.md#the-gltf-take).

use glam::Quat;
use gltf_json as gj;
use gltf_json::accessor::Type;
use serde_json::{Value, json};

use crate::gltf_buffers;
use crate::motion::take::Take;
use crate::motion::wire::PROTOCOL_VERSION;

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
pub(super) fn build(take: &Take) -> (Value, Vec<u8>) {
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
