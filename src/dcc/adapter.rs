//! The adapter traits: what the dispatcher calls for every bridge method.
//!
//! `DccAdapter` is the entry point; each capability is its own trait, reached through an `as_*`
//! accessor that answers `None` when the DCC does not have it. Every method has a default body that
//! answers `unsupported`, so an adapter implements only what its DCC can do (the rmcp handler style).
//! Each method exists exactly once: the JSON router (`route.rs`) and `RemoteAdapter` both go through
//! these signatures, so they are the runtime path, not documentation.

use async_trait::async_trait;

use crate::config::BridgeKind;

use super::types::*;
use super::{DccCall, DccFailure};

pub type DccResult<T> = Result<T, DccFailure>;

/// Whether a connection's session is up, as `list_dccs` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    /// Not connected and nothing went wrong: not used yet, or an embedded DCC not started yet.
    Disconnected,
    /// The last attempt failed (`last_error` says why).
    Error,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Error => "error",
        }
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and callers compare a state with the name agents see.
impl PartialEq<&str> for ConnectionState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How a connection reaches its DCC, as `list_dccs` reports it: `in_process` (the built-in `stage`
/// DCC) or the bridge of its `[[dcc]]` entry (`embedded`, `http`, `websocket`, `named_pipe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionBridge {
    InProcess,
    Remote(BridgeKind),
}

impl ConnectionBridge {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionBridge::InProcess => "in_process",
            ConnectionBridge::Remote(kind) => kind.as_str(),
        }
    }
}

impl std::fmt::Display for ConnectionBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ConnectionBridge {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Session state of a remote connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStatus {
    pub state: ConnectionState,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait DccAdapter: Send + Sync {
    /// Opens the session if needed (`dcc.hello`) and returns what the DCC said about itself.
    async fn hello(&self, call: &DccCall) -> DccResult<Hello>;
    /// `dcc.ping`: answered off the DCC's main thread, so busy and dead can be told apart.
    async fn ping(&self, call: &DccCall) -> DccResult<Ping>;
    /// The last handshake's DccInfo, if a session was ever opened.
    fn info(&self) -> Option<DccInfo>;
    /// The last handshake's capabilities, if a session was ever opened.
    fn capabilities(&self) -> Option<DccCapabilities>;
    /// True when the adapter implements `method` (from the handshake's `methods`).
    fn implements(&self, method: &str) -> bool;

    fn as_connection(&self) -> Option<&dyn Connection> {
        None
    }
    fn as_scene_manager(&self) -> Option<&dyn SceneManager> {
        None
    }
    fn as_transform(&self) -> Option<&dyn Transform> {
        None
    }
    fn as_hierarchy(&self) -> Option<&dyn Hierarchy> {
        None
    }
    fn as_render_capture(&self) -> Option<&dyn RenderCapture> {
        None
    }
    fn as_script_engine(&self) -> Option<&dyn ScriptEngine> {
        None
    }
    fn as_animation(&self) -> Option<&dyn Animation> {
        None
    }
}

/// A DCC reached over a bridge: its session state and its end.
#[async_trait]
pub trait Connection: Send + Sync {
    fn status(&self) -> ConnectionStatus;
    /// Closes the session and ends an embedded DCC process.
    async fn close(&self);
}

fn unsupported<T>(method: &str) -> DccResult<T> {
    Err(DccFailure::unsupported(method))
}

#[async_trait]
pub trait SceneManager: Send + Sync {
    async fn get_scene_info(&self, _call: &DccCall) -> DccResult<SceneInfo> {
        unsupported("scene.get_scene_info")
    }
    async fn list_objects(
        &self,
        _p: ListObjectsParams,
        _call: &DccCall,
    ) -> DccResult<Vec<SceneObject>> {
        unsupported("scene.list_objects")
    }
    async fn create_object(
        &self,
        _p: CreateObjectParams,
        _call: &DccCall,
    ) -> DccResult<SceneObject> {
        unsupported("scene.create_object")
    }
    async fn delete_objects(
        &self,
        _p: ObjectNamesParams,
        _call: &DccCall,
    ) -> DccResult<Vec<String>> {
        unsupported("scene.delete_objects")
    }
    async fn get_selection(&self, _call: &DccCall) -> DccResult<Vec<String>> {
        unsupported("scene.get_selection")
    }
    async fn set_selection(
        &self,
        _p: ObjectNamesParams,
        _call: &DccCall,
    ) -> DccResult<Vec<String>> {
        unsupported("scene.set_selection")
    }
    async fn select_by_type(
        &self,
        _p: ObjectTypeParams,
        _call: &DccCall,
    ) -> DccResult<Vec<String>> {
        unsupported("scene.select_by_type")
    }
    async fn set_visibility(&self, _p: SetVisibilityParams, _call: &DccCall) -> DccResult<bool> {
        unsupported("scene.set_visibility")
    }
    async fn new_scene(&self, _p: NewSceneParams, _call: &DccCall) -> DccResult<SceneInfo> {
        unsupported("scene.new_scene")
    }
    async fn open_file(&self, _p: OpenFileParams, _call: &DccCall) -> DccResult<SceneInfo> {
        unsupported("scene.open_file")
    }
    async fn save_file(&self, _p: SaveFileParams, _call: &DccCall) -> DccResult<String> {
        unsupported("scene.save_file")
    }
    async fn export_file(&self, _p: ExportFileParams, _call: &DccCall) -> DccResult<String> {
        unsupported("scene.export_file")
    }
    async fn import_file(&self, _p: ImportFileParams, _call: &DccCall) -> DccResult<ImportResult> {
        unsupported("scene.import_file")
    }
}

#[async_trait]
pub trait Transform: Send + Sync {
    async fn get_transform(
        &self,
        _p: ObjectNameParams,
        _call: &DccCall,
    ) -> DccResult<ObjectTransform> {
        unsupported("transform.get_transform")
    }
    async fn set_transform(
        &self,
        _p: SetTransformParams,
        _call: &DccCall,
    ) -> DccResult<ObjectTransform> {
        unsupported("transform.set_transform")
    }
    async fn get_bounding_box(
        &self,
        _p: ObjectNameParams,
        _call: &DccCall,
    ) -> DccResult<BoundingBox> {
        unsupported("transform.get_bounding_box")
    }
    async fn rename_object(&self, _p: RenameParams, _call: &DccCall) -> DccResult<String> {
        unsupported("transform.rename_object")
    }
}

#[async_trait]
pub trait Hierarchy: Send + Sync {
    async fn get_hierarchy(&self, _call: &DccCall) -> DccResult<Vec<SceneNode>> {
        unsupported("hierarchy.get_hierarchy")
    }
    async fn get_children(
        &self,
        _p: OptionalObjectParams,
        _call: &DccCall,
    ) -> DccResult<Vec<SceneObject>> {
        unsupported("hierarchy.get_children")
    }
    async fn get_parent(&self, _p: ObjectNameParams, _call: &DccCall) -> DccResult<Option<String>> {
        unsupported("hierarchy.get_parent")
    }
    async fn group_objects(&self, _p: GroupParams, _call: &DccCall) -> DccResult<SceneObject> {
        unsupported("hierarchy.group_objects")
    }
    async fn ungroup(&self, _p: UngroupParams, _call: &DccCall) -> DccResult<Vec<String>> {
        unsupported("hierarchy.ungroup")
    }
    async fn reparent(&self, _p: ReparentParams, _call: &DccCall) -> DccResult<SceneObject> {
        unsupported("hierarchy.reparent")
    }
}

/// Render settings: setting name → value as a string.
pub type RenderSettings = std::collections::BTreeMap<String, String>;

#[async_trait]
pub trait RenderCapture: Send + Sync {
    async fn capture_viewport(
        &self,
        _p: CaptureParams,
        _call: &DccCall,
    ) -> DccResult<CaptureResult> {
        unsupported("render.capture_viewport")
    }
    async fn render_scene(
        &self,
        _p: RenderSceneParams,
        _call: &DccCall,
    ) -> DccResult<RenderOutput> {
        unsupported("render.render_scene")
    }
    async fn get_render_settings(&self, _call: &DccCall) -> DccResult<RenderSettings> {
        unsupported("render.get_render_settings")
    }
    async fn set_render_settings(
        &self,
        _p: RenderSettingsParams,
        _call: &DccCall,
    ) -> DccResult<RenderSettings> {
        unsupported("render.set_render_settings")
    }
}

#[async_trait]
pub trait ScriptEngine: Send + Sync {
    async fn execute(&self, _p: ScriptParams, _call: &DccCall) -> DccResult<ScriptResult> {
        unsupported("script.execute")
    }
    async fn supported_languages(&self, _call: &DccCall) -> DccResult<Vec<String>> {
        unsupported("script.supported_languages")
    }
}

#[async_trait]
pub trait Animation: Send + Sync {
    async fn list_armatures(&self, _call: &DccCall) -> DccResult<Vec<ArmatureSummary>> {
        unsupported("animation.list_armatures")
    }
    async fn get_skeleton(&self, _p: ArmatureParams, _call: &DccCall) -> DccResult<Skeleton> {
        unsupported("animation.get_skeleton")
    }
    async fn apply_motion(
        &self,
        _p: ApplyMotionParams,
        _call: &DccCall,
    ) -> DccResult<ApplyMotionResult> {
        unsupported("animation.apply_motion")
    }
    async fn sample_pose(&self, _p: SamplePoseParams, _call: &DccCall) -> DccResult<Pose> {
        unsupported("animation.sample_pose")
    }
    async fn get_frame_range(&self, _call: &DccCall) -> DccResult<FrameRange> {
        unsupported("animation.get_frame_range")
    }
    async fn set_frame_range(
        &self,
        _p: SetFrameRangeParams,
        _call: &DccCall,
    ) -> DccResult<FrameRange> {
        unsupported("animation.set_frame_range")
    }
}
