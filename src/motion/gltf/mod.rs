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
//!
//! `decode` reads, `encode` writes; the GLB container, data URIs, accessors and samplers are
//! `crate::gltf_buffers`, shared with the stage DCC's scenes.

mod decode;
mod encode;
#[cfg(test)]
pub(crate) mod tests;

pub use decode::{decode, decode_glb, decode_gltf_json, decode_value};
pub use encode::{encode_document, encode_glb, encode_gltf_json};

use glam::Vec3;

use super::take::Take;
use crate::gltf_buffers::AccessorError;

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

/// World positions of every joint of `sample` at frame `t` (re-exported helper for previews).
pub fn world_positions(take: &Take, sample: usize, t: usize) -> Vec<Vec3> {
    match take.samples.get(sample) {
        Some(s) if t < take.num_frames => take.world_positions(s, t),
        _ => Vec::new(),
    }
}
