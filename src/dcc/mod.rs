//! Adapter traits, data types, `RemoteAdapter` (the traits over any Bridge), and built-in adapters.

use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Every method of spec/bridge.md, as written after `call:` in a SKILL.md.
pub const BRIDGE_METHODS: &[&str] = &[
    "dcc.hello",
    "dcc.ping",
    "scene.get_scene_info",
    "scene.list_objects",
    "scene.create_object",
    "scene.delete_objects",
    "scene.get_selection",
    "scene.set_selection",
    "scene.select_by_type",
    "scene.set_visibility",
    "scene.new_scene",
    "scene.open_file",
    "scene.save_file",
    "scene.export_file",
    "transform.get_transform",
    "transform.set_transform",
    "transform.get_bounding_box",
    "transform.rename_object",
    "hierarchy.get_hierarchy",
    "hierarchy.get_children",
    "hierarchy.get_parent",
    "hierarchy.group_objects",
    "hierarchy.ungroup",
    "hierarchy.reparent",
    "render.capture_viewport",
    "render.render_scene",
    "render.get_render_settings",
    "render.set_render_settings",
    "script.execute",
    "script.supported_languages",
    "animation.list_armatures",
    "animation.get_skeleton",
    "animation.apply_motion",
    "animation.sample_pose",
    "animation.get_frame_range",
    "animation.set_frame_range",
];

#[derive(Debug, thiserror::Error)]
pub enum DccError {
    #[error("{0}")]
    Config(String),
}

/// The named DCC connections from `[[dcc]]` (or the built-in `stage` DCC when none is configured).
pub struct DccHub {}

impl DccHub {
    pub fn new(_config: &Config, _shutdown: CancellationToken) -> Result<Self, DccError> {
        Ok(Self {})
    }

    pub async fn shutdown(&self) {}
}

/// Progress callback for long DCC calls (`$/progress` from the adapter): progress, total, message.
pub type ProgressFn = std::sync::Arc<dyn Fn(f64, Option<f64>, Option<String>) + Send + Sync>;

/// Per-call settings: deadline, cancellation, and where progress goes.
#[derive(Clone)]
pub struct DccCall {
    pub timeout: std::time::Duration,
    pub cancel: CancellationToken,
    pub progress: Option<ProgressFn>,
}

/// A failed DCC call: a DccErrorCode (`CONNECTION_FAILED`, `TIMEOUT`, `UNSUPPORTED`, ...) or one of
/// stagecraft's own (`no_dcc`), with the adapter's message and details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DccFailure {
    pub code: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
    pub recoverable: bool,
}

impl DccHub {
    /// Calls one bridge method on the named connection (`None`: the default one) through the adapter
    /// traits, with JSON params and result as spec/bridge.md defines them.
    pub async fn call(
        &self,
        _dcc: Option<&str>,
        method: &str,
        _params: serde_json::Value,
        _call: &DccCall,
    ) -> Result<serde_json::Value, DccFailure> {
        Err(DccFailure {
            code: "not_implemented".into(),
            message: format!("{method} is not implemented in this build"),
            details: None,
            recoverable: false,
        })
    }
}

/// Options of `stagecraft adapter-check`.
#[derive(Debug, Clone)]
pub struct AdapterCheckOptions {
    pub bridge: crate::config::BridgeKind,
    pub endpoint: Option<String>,
    /// `embedded`: the command line, program first.
    pub command: Vec<String>,
    pub token_env: Option<String>,
    pub timeout_seconds: u64,
}

/// `stagecraft adapter-check`: drives an adapter through every method it advertises, prints a table,
/// and returns whether everything passed.
pub async fn adapter_check(_options: AdapterCheckOptions) -> Result<bool, DccError> {
    Err(DccError::Config(
        "adapter-check is not implemented yet".into(),
    ))
}
