//! The data types of docs/bridge-protocol.md#data-types: what adapters return, and the typed parameters of every method.
//!
//! Results are read leniently (`#[serde(default)]` where the spec marks a field optional) because they
//! come from adapters written by others; parameters are what the agent sent after schema validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Skeleton` and `Joint` of docs/bridge-protocol.md#data-types are MMCP's, one type for both sides
/// (read leniently, as every result here; see [`crate::skeleton`]).
pub use crate::skeleton::{Joint, Skeleton};

/// A bridge error code (`DccErrorCode`, docs/bridge-protocol.md#errors). Adapters send it in
/// SCREAMING_CASE on the wire (the serde names); agents see it in snake_case like every other code
/// (`as_str`, docs/architecture.md#errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DccErrorCode {
    ConnectionFailed,
    Timeout,
    ScriptError,
    NotResponding,
    Unsupported,
    PermissionDenied,
    InvalidInput,
    SceneError,
    Internal,
}

impl DccErrorCode {
    pub const ALL: [DccErrorCode; 9] = [
        DccErrorCode::ConnectionFailed,
        DccErrorCode::Timeout,
        DccErrorCode::ScriptError,
        DccErrorCode::NotResponding,
        DccErrorCode::Unsupported,
        DccErrorCode::PermissionDenied,
        DccErrorCode::InvalidInput,
        DccErrorCode::SceneError,
        DccErrorCode::Internal,
    ];

    /// The code as agents see it: `connection_failed`, `timeout`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            DccErrorCode::ConnectionFailed => "connection_failed",
            DccErrorCode::Timeout => "timeout",
            DccErrorCode::ScriptError => "script_error",
            DccErrorCode::NotResponding => "not_responding",
            DccErrorCode::Unsupported => "unsupported",
            DccErrorCode::PermissionDenied => "permission_denied",
            DccErrorCode::InvalidInput => "invalid_input",
            DccErrorCode::SceneError => "scene_error",
            DccErrorCode::Internal => "internal",
        }
    }

    /// The code as adapters send it on the bridge: `CONNECTION_FAILED`, `TIMEOUT`, ...
    pub fn wire_name(self) -> &'static str {
        match self {
            DccErrorCode::ConnectionFailed => "CONNECTION_FAILED",
            DccErrorCode::Timeout => "TIMEOUT",
            DccErrorCode::ScriptError => "SCRIPT_ERROR",
            DccErrorCode::NotResponding => "NOT_RESPONDING",
            DccErrorCode::Unsupported => "UNSUPPORTED",
            DccErrorCode::PermissionDenied => "PERMISSION_DENIED",
            DccErrorCode::InvalidInput => "INVALID_INPUT",
            DccErrorCode::SceneError => "SCENE_ERROR",
            DccErrorCode::Internal => "INTERNAL",
        }
    }

    /// Reads a wire name (`data.code` of a bridge error); `None` for a code the protocol lacks.
    pub fn from_wire(code: &str) -> Option<DccErrorCode> {
        serde_json::from_value(Value::String(code.to_string())).ok()
    }
}

impl std::fmt::Display for DccErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod error_code_tests {
    use super::DccErrorCode;

    /// The wire name is the serde name, and agents see the same word in snake_case.
    #[test]
    fn wire_and_agent_names_agree() {
        for code in DccErrorCode::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, code.wire_name());
            assert_eq!(DccErrorCode::from_wire(code.wire_name()), Some(code));
            assert_eq!(code.as_str(), code.wire_name().to_ascii_lowercase());
        }
        assert_eq!(DccErrorCode::from_wire("scene_error"), None);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DccInfo {
    pub dcc_type: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DccCapabilities {
    pub script_languages: Vec<String>,
    pub scene_info: bool,
    pub snapshot: bool,
    pub undo_redo: bool,
    pub progress_reporting: bool,
    pub file_operations: bool,
    pub selection: bool,
    pub scene_manager: bool,
    pub transform: bool,
    pub render_capture: bool,
    pub hierarchy: bool,
    pub animation: bool,
    pub has_embedded_python: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_endpoint: Option<String>,
    pub extensions: Map<String, Value>,
}

/// The capability flags, declared once: `DccCapabilities::FLAGS` (the names SKILL.md `requires`
/// may list, docs/skills.md) and `DccCapabilities::flag` (one by name) come from this list.
macro_rules! capability_flags {
    ($($flag:ident),* $(,)?) => {
        impl DccCapabilities {
            pub const FLAGS: &'static [&'static str] = &[$(stringify!($flag)),*];

            /// The named capability flag (`"animation"`, `"transform"`, ...).
            pub fn flag(&self, name: &str) -> Option<bool> {
                match name {
                    $(stringify!($flag) => Some(self.$flag),)*
                    _ => None,
                }
            }
        }
    };
}

capability_flags!(
    scene_info,
    snapshot,
    undo_redo,
    progress_reporting,
    file_operations,
    selection,
    scene_manager,
    transform,
    render_capture,
    hierarchy,
    animation,
    has_embedded_python,
);

/// The answer to `dcc.hello`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: String,
    pub info: DccInfo,
    #[serde(default)]
    pub capabilities: DccCapabilities,
    #[serde(default)]
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default)]
    pub busy: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SceneStatistics {
    pub object_count: u64,
    pub vertex_count: u64,
    pub polygon_count: u64,
    pub material_count: u64,
    pub texture_count: u64,
    pub light_count: u64,
    pub camera_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneInfo {
    #[serde(default)]
    pub file_path: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub modified: bool,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_range: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_frame: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_axis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    #[serde(default)]
    pub statistics: SceneStatistics,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// World space, Y-up, centimetres, Euler XYZ in degrees (the matrix is `Rz · Ry · Rx`: X is applied
/// first, like Blender's `XYZ` mode).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectTransform {
    pub translate: [f64; 3],
    pub rotate: [f64; 3],
    pub scale: [f64; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub min: [f64; 3],
    pub max: [f64; 3],
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    pub name: String,
    #[serde(default)]
    pub long_name: String,
    pub object_type: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default = "yes")]
    pub visible: bool,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneNode {
    pub object: SceneObject,
    #[serde(default)]
    pub children: Vec<SceneNode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameRange {
    pub start: f64,
    pub end: f64,
    pub fps: f64,
    pub current: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderOutput {
    pub file_path: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    #[serde(default)]
    pub render_time_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureResult {
    pub data_b64: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<String>,
    /// The timeline frames shown, when several were asked for: cells of a contact sheet, left to
    /// right, top to bottom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptResult {
    pub success: bool,
    #[serde(default)]
    pub execution_time_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// Bulk numbers on the wire: little-endian float32, row-major, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct F32Array {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub b64: String,
}

impl F32Array {
    pub fn encode(shape: Vec<usize>, values: &[f32]) -> Self {
        use base64::Engine as _;
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Self {
            dtype: "f32".into(),
            shape,
            b64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// Decodes and checks dtype, shape against `expected` (None = any extent) and finiteness.
    pub fn decode(&self, what: &str, expected: &[Option<usize>]) -> Result<Vec<f32>, String> {
        use base64::Engine as _;
        if self.dtype != "f32" {
            return Err(format!(
                "{what}: dtype must be \"f32\", got {:?}",
                self.dtype
            ));
        }
        if self.shape.len() != expected.len()
            || self
                .shape
                .iter()
                .zip(expected)
                .any(|(got, want)| want.is_some_and(|w| w != *got))
        {
            return Err(format!(
                "{what}: shape {:?} does not match the expected {}",
                self.shape,
                shape_text(expected)
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.b64.as_bytes())
            .map_err(|e| format!("{what}: b64 is not standard padded base64 ({e})"))?;
        let count = self
            .shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| format!("{what}: shape {:?} is too large", self.shape))?;
        if bytes.len() != count.saturating_mul(4) {
            return Err(format!(
                "{what}: {} bytes of data for shape {:?} (expected {})",
                bytes.len(),
                self.shape,
                count.saturating_mul(4)
            ));
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("{what}: value #{i} is not a finite number"));
        }
        Ok(values)
    }
}

fn shape_text(expected: &[Option<usize>]) -> String {
    let parts: Vec<String> = expected
        .iter()
        .map(|d| d.map_or("*".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn yes() -> bool {
    true
}

// ---- parameters ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListObjectsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateObjectParams {
    pub object_type: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translate: Option<[f64; 3]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectNamesParams {
    pub object_names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectTypeParams {
    pub object_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetVisibilityParams {
    pub object_name: String,
    pub visible: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewSceneParams {
    #[serde(default)]
    pub save_prompt: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenFileParams {
    pub file_path: String,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SaveFileParams {
    #[serde(default)]
    pub file_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFileParams {
    pub file_path: String,
    pub format: String,
    #[serde(default)]
    pub selection_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportFileParams {
    pub file_path: String,
    /// `fbx`, `glb`, `gltf`, `bvh`, `usd` (`usda`, `usdc`, `usdz`) or `obj`; absent: the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// What `scene.import_file` added to the scene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub file_path: String,
    pub format: String,
    /// Names of every object created, armatures included.
    pub objects: Vec<String>,
    /// The armatures among them (the `armature` argument of the animation and motion tools).
    #[serde(default)]
    pub armatures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectNameParams {
    pub object_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetTransformParams {
    pub object_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translate: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<[f64; 3]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenameParams {
    pub old_name: String,
    pub new_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OptionalObjectParams {
    #[serde(default)]
    pub object_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupParams {
    pub object_names: Vec<String>,
    pub group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UngroupParams {
    pub group_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReparentParams {
    pub object_name: String,
    #[serde(default)]
    pub new_parent: Option<String>,
    #[serde(default = "yes")]
    pub preserve_world_transform: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaptureParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Objects to frame (an armature: its bones and the meshes it deforms), over every frame shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<Vec<String>>,
    /// `current` (default), `front`, `side`, `top` or `camera`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// Timeline frames to show, as one contact-sheet image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderSceneParams {
    pub output_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderSettingsParams {
    pub settings: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptParams {
    /// `execute_script` declares `language` optional with default python.
    #[serde(default = "default_script_language")]
    pub language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

fn default_script_language() -> String {
    "python".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmatureSummary {
    pub name: String,
    pub joints: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmatureParams {
    pub armature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyMotionParams {
    pub armature: String,
    pub fps: f64,
    pub joint_names: Vec<String>,
    pub rotations: F32Array,
    pub root_positions: F32Array,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_translations: Option<BTreeMap<String, F32Array>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_frame: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
    #[serde(default)]
    pub in_place: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyMotionResult {
    pub action: String,
    pub frame_start: i64,
    pub frame_end: i64,
    pub joints_applied: Vec<String>,
    pub joints_skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplePoseParams {
    pub armature: String,
    pub frames: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_names: Option<Vec<String>>,
}

/// Joint name → one world position (Y-up, metres) per requested frame.
pub type Pose = BTreeMap<String, Vec<[f64; 3]>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetFrameRangeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<f64>,
}
