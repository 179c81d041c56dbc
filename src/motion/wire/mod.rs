//! MMCP 1.4 wire types (docs/mmcp.md#capabilities to #errors), shared by the client and the server side.
//!
//! Interface note for the other motion helpers (server, backbones): these are THE typed request and
//! capability types; build on them, do not fork them.
//!
//! - Reading capabilities is lenient: every field but `id`, `fps` and `canonical_skeleton` has the
//!   default of docs/mmcp.md#capabilities, and unknown keys are ignored (old and new servers both parse).
//! - Request types ([`GenerateRequest`] and everything inside it but the skeleton) are strict on
//!   deserialisation (`deny_unknown_fields`, like the reference server's `extra="forbid"`). The
//!   skeleton is [`crate::skeleton::Skeleton`], shared with the DCC side and lenient; the server's
//!   `422 schema_validation` for unknown keys anywhere in a body comes from the raw-body check before
//!   typing (docs/mmcp.md#server-checks, `backbone::schema`). Serialisation skips every `None`, so the
//!   client sends only what it set — and it sets only what the model advertises.
//! - [`MmcpError`] is the error envelope with its HTTP status; [`MmcpError::status_for`] maps the
//!   closed code set of docs/mmcp.md#errors to statuses.
//! - Numbers are `f64` on the wire (JSON), `f32` inside a [`super::take::Take`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::skeleton::{self, Skeleton};

/// The protocol version this crate implements and stamps.
pub const PROTOCOL_VERSION: &str = "1.4";

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

/// `GET /capabilities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(default = "default_protocol_version")]
    pub protocol_version: String,
    #[serde(default = "default_rotation_format")]
    pub rotation_format: String,
    #[serde(default = "default_coordinate_system")]
    pub coordinate_system: String,
    #[serde(default = "default_units")]
    pub units: String,
    #[serde(default = "default_response_formats")]
    pub response_formats: Vec<String>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
}

impl Capabilities {
    /// Capabilities for a set of models, with the top-level constants of this implementation.
    pub fn for_models(models: Vec<ModelSpec>) -> Self {
        Self {
            protocol_version: default_protocol_version(),
            rotation_format: default_rotation_format(),
            coordinate_system: default_coordinate_system(),
            units: default_units(),
            response_formats: default_response_formats(),
            models,
        }
    }

    /// Exact id first, then case-insensitive (docs/mmcp.md#capabilities); never silently the first model.
    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .or_else(|| self.models.iter().find(|m| m.id.eq_ignore_ascii_case(id)))
    }
}

/// One entry of `models[]` (docs/mmcp.md#capabilities). Missing flags are `false`, missing lists their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub id: String,
    pub fps: f64,
    pub canonical_skeleton: Skeleton,
    #[serde(default)]
    pub supports_retargeting: bool,
    #[serde(default)]
    pub supports_joint_translation: bool,
    #[serde(default)]
    pub supports_async: bool,
    #[serde(default)]
    pub supports_segment_seed: bool,
    #[serde(default)]
    pub supports_loop: bool,
    #[serde(default)]
    pub supports_keyframe_reduction: bool,
    /// Omitted when empty: a 0.12 client parses capabilities with `extra=forbid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_options: Vec<ModelOption>,
    #[serde(default)]
    pub supports_motion_reference_mixed: bool,
    #[serde(default)]
    pub supports_batch: bool,
    #[serde(default)]
    pub supports_trajectory: bool,
    #[serde(default)]
    pub supported_constraints: Vec<String>,
    #[serde(default = "default_segments")]
    pub supported_segments: Vec<String>,
    #[serde(default = "default_guidance_types")]
    pub supported_guidance_types: Vec<String>,
    #[serde(default)]
    pub predicted_contact_joints: Vec<String>,
    #[serde(default = "default_native_clip_seconds")]
    pub native_clip_seconds: f64,
    #[serde(default = "default_chunking")]
    pub chunking: String,
    #[serde(default = "default_recommended_max")]
    pub recommended_max_duration_seconds: f64,
    #[serde(default)]
    pub limits: Limits,
}

impl ModelSpec {
    /// A spec with every optional field at its protocol default (for backbone authors to fill in).
    pub fn new(id: impl Into<String>, fps: f64, canonical_skeleton: Skeleton) -> Self {
        Self {
            id: id.into(),
            fps,
            canonical_skeleton,
            supports_retargeting: false,
            supports_joint_translation: false,
            supports_async: false,
            supports_segment_seed: false,
            supports_loop: false,
            supports_keyframe_reduction: false,
            model_options: Vec::new(),
            supports_motion_reference_mixed: false,
            supports_batch: false,
            supports_trajectory: false,
            supported_constraints: Vec::new(),
            supported_segments: default_segments(),
            supported_guidance_types: default_guidance_types(),
            predicted_contact_joints: Vec::new(),
            native_clip_seconds: default_native_clip_seconds(),
            chunking: default_chunking(),
            recommended_max_duration_seconds: default_recommended_max(),
            limits: Limits::default(),
        }
    }

    pub fn supports_segment(&self, kind: &str) -> bool {
        self.supported_segments
            .iter()
            .any(|s| s.eq_ignore_ascii_case(kind))
    }

    pub fn supports_constraint(&self, kind: &str) -> bool {
        self.supported_constraints.iter().any(|s| s == kind)
    }
}

/// `limits` of a model; optional limits stay `None` when the server does not state them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_duration_seconds: f64,
    pub max_num_samples: u32,
    pub max_constraints_per_request: u32,
    pub max_prompt_length: u32,
    pub max_request_bytes: u64,
    pub max_batch_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reference_frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_video_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_video_seconds: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_duration_seconds: 30.0,
            max_num_samples: 16,
            max_constraints_per_request: 64,
            max_prompt_length: 1000,
            max_request_bytes: 1_048_576,
            max_batch_size: 16,
            max_reference_frames: None,
            max_video_bytes: None,
            max_video_seconds: None,
        }
    }
}

/// A model-specific dial (`model_options[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOption {
    pub name: String,
    /// `number`, `integer`, `boolean`, `enum` or `flags`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Value,
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// GenerateRequest
// ---------------------------------------------------------------------------------------------

/// `POST /generate` body (docs/mmcp.md#requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    pub protocol_version: String,
    pub model: String,
    pub skeleton: Skeleton,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Required when `segments` is empty, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_frames: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
}

impl GenerateRequest {
    /// Total timeline length `T` (docs/mmcp.md#requests): Σ segment frames (a pose segment counts 1), or
    /// `duration_frames` for a constraints-only request.
    pub fn total_frames(&self) -> u64 {
        if self.segments.is_empty() {
            u64::from(self.duration_frames.unwrap_or(0))
        } else {
            self.segments.iter().map(|s| u64::from(s.frames())).sum()
        }
    }

    /// `options.num_samples`, default 1.
    pub fn num_samples(&self) -> u32 {
        self.options
            .as_ref()
            .and_then(|o| o.num_samples)
            .unwrap_or(1)
    }

    /// `options.seed`, if any.
    pub fn seed(&self) -> Option<i64> {
        self.options.as_ref().and_then(|o| o.seed)
    }
}

/// `{"protocol_version", "requests": [...]}` (docs/mmcp.md#endpoints). Items may omit their own version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    pub protocol_version: String,
    pub requests: Vec<Value>,
}

/// `{"results": [{"gltf": {...}} | {"error": {...}}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchItem {
    Gltf { gltf: Value },
    Error { error: ErrorBody },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Segment {
    Text(TextSegment),
    Unconditioned(UnconditionedSegment),
    Pose(PoseSegment),
    MotionReference(MotionReferenceSegment),
    VideoReference(VideoReferenceSegment),
}

impl Segment {
    /// The `type` tag as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Segment::Text(_) => "text",
            Segment::Unconditioned(_) => "unconditioned",
            Segment::Pose(_) => "pose",
            Segment::MotionReference(_) => "motion_reference",
            Segment::VideoReference(_) => "video_reference",
        }
    }

    /// Frames this segment adds to the timeline (a pose is one frame).
    pub fn frames(&self) -> u32 {
        match self {
            Segment::Text(s) => s.duration_frames,
            Segment::Unconditioned(s) => s.duration_frames,
            Segment::Pose(_) => 1,
            Segment::MotionReference(s) => s.duration_frames,
            Segment::VideoReference(s) => s.duration_frames,
        }
    }

    /// Per-segment seed (only sent when the model advertises `supports_segment_seed`).
    pub fn seed_mut(&mut self) -> Option<&mut Option<i64>> {
        match self {
            Segment::Text(s) => Some(&mut s.seed),
            Segment::Unconditioned(s) => Some(&mut s.seed),
            Segment::Pose(_) => None,
            Segment::MotionReference(s) => Some(&mut s.seed),
            Segment::VideoReference(s) => Some(&mut s.seed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSegment {
    pub prompt: String,
    pub duration_frames: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnconditionedSegment {
    pub duration_frames: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoseSegment {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionReferenceSegment {
    pub duration_frames: u32,
    pub joint_names: Vec<String>,
    /// Frames × joints, `[x, y, z, w]`.
    pub rotations: Vec<Vec<[f64; 4]>>,
    pub root_positions: Vec<[f64; 3]>,
    pub fps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skeleton: Option<Skeleton>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoReferenceSegment {
    pub duration_frames: u32,
    pub video: VideoSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

/// Exactly one of `url` (https) or `data` + `media_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Constraint {
    RootPath(RootPath),
    EffectorTarget(EffectorTarget),
    PoseKeyframe(PoseKeyframe),
    GroundHeight(GroundHeight),
}

impl Constraint {
    pub fn kind(&self) -> &'static str {
        match self {
            Constraint::RootPath(_) => "root_path",
            Constraint::EffectorTarget(_) => "effector_target",
            Constraint::PoseKeyframe(_) => "pose_keyframe",
            Constraint::GroundHeight(_) => "ground_height",
        }
    }

    /// Every frame index the constraint pins (ground_height pins none).
    pub fn frames(&self) -> Vec<i64> {
        match self {
            Constraint::RootPath(c) => c.frames.clone(),
            Constraint::EffectorTarget(c) => c.frames.clone(),
            Constraint::PoseKeyframe(c) => vec![c.frame],
            Constraint::GroundHeight(_) => Vec::new(),
        }
    }

    /// Every joint name the constraint refers to.
    pub fn joints(&self) -> Vec<&str> {
        match self {
            Constraint::EffectorTarget(c) => vec![c.joint.as_str()],
            Constraint::PoseKeyframe(c) => c.joint_rotations.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootPath {
    /// Strictly ascending.
    pub frames: Vec<i64>,
    pub positions_xz: Vec<[f64; 2]>,
    /// Rotation about +Y, 0 = facing +Z, positive turns +Z toward +X.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_radians: Option<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectorTarget {
    pub joint: String,
    pub frames: Vec<i64>,
    pub positions: Vec<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotations: Option<Vec<[f64; 4]>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoseKeyframe {
    pub frame: i64,
    pub joint_rotations: std::collections::BTreeMap<String, [f64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_position: Option<[f64; 3]>,
    /// `"generate"` (default) or `"rest"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundHeight {
    /// Each point is `(x, z, y)`: floor-plane x, z, then the surface height.
    pub points: Vec<[f64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    pub fps: f64,
}

/// `options` (docs/mmcp.md#requests); `None` fields are not sent and mean the server default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffusion_steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_samples: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_processing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_frames: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Guidance>,
    /// Needs `supports_loop`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "loop")]
    pub loop_: Option<bool>,
    /// Needs `supports_keyframe_reduction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_budget: Option<f64>,
    /// Values for declared `model_options`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_options: Option<serde_json::Map<String, Value>>,
}

impl Options {
    pub fn is_empty(&self) -> bool {
        *self == Options::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guidance {
    /// `nocfg`, `regular` or `separated`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub weight: Vec<f64>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// An object; the spec allows `null`/absent too, read as `{}`.
    #[serde(default, deserialize_with = "null_as_empty_object")]
    pub details: Value,
}

/// An MMCP error: the envelope plus the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct MmcpError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Value,
}

impl MmcpError {
    /// An error whose status comes from the code (docs/mmcp.md#errors).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        Self {
            status: Self::status_for(&code),
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// HTTP status of an MMCP error code (docs/mmcp.md#errors); unknown codes are 500.
    pub fn status_for(code: &str) -> u16 {
        match code {
            "schema_validation" => 422,
            "unknown_model"
            | "retargeting_unsupported"
            | "unsupported_constraint"
            | "unsupported_segment"
            | "unknown_joint"
            | "invalid_skeleton"
            | "frame_out_of_range"
            | "invalid_options"
            | "invalid_request"
            | "version_unsupported" => 400,
            "unauthorized" => 401,
            "forbidden" => 403,
            "payload_too_large" => 413,
            "rate_limited" => 429,
            "resource_exhausted" | "model_unavailable" => 503,
            "timeout" => 504,
            _ => 500,
        }
    }

    pub fn to_envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.clone(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }

    pub fn from_body(status: u16, body: ErrorBody) -> Self {
        Self {
            status,
            code: body.code,
            message: body.message,
            details: body.details,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// defaults
// ---------------------------------------------------------------------------------------------

fn null_as_empty_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    })
}

fn default_protocol_version() -> String {
    PROTOCOL_VERSION.into()
}
fn default_rotation_format() -> String {
    "quaternion_xyzw".into()
}
fn default_coordinate_system() -> String {
    skeleton::COORDINATE_SYSTEM.into()
}
fn default_units() -> String {
    skeleton::UNITS.into()
}
fn default_response_formats() -> Vec<String> {
    vec!["gltf_2.0_json".into()]
}
fn default_segments() -> Vec<String> {
    vec!["text".into(), "unconditioned".into()]
}
fn default_guidance_types() -> Vec<String> {
    vec!["nocfg".into(), "regular".into(), "separated".into()]
}
fn default_native_clip_seconds() -> f64 {
    10.0
}
fn default_chunking() -> String {
    "none".into()
}
fn default_recommended_max() -> f64 {
    12.0
}

/// Compares `"<major>.<minor>"` versions numerically (`1.10 > 1.2`); `None` if either is malformed.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    if major.is_empty() || minor.is_empty() {
        return None;
    }
    if !major
        .bytes()
        .chain(minor.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests;
