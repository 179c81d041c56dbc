//! The adapter traits: what the dispatcher calls for every bridge method.
//!
//! `DccAdapter` is the entry point; each capability is its own trait, reached through an `as_*`
//! accessor that answers `None` when the DCC does not have it. Every method has a default body that
//! answers `unsupported`, so an adapter implements only what its DCC can do (the rmcp handler style).
//!
//! Each method is declared exactly once, in [`bridge_methods!`]: the traits, the method list
//! (`BRIDGE_METHODS`), the JSON router (`route.rs`) and `RemoteAdapter`'s forwarding (`remote.rs`)
//! are all generated from that table, so they are the runtime path, not documentation, and cannot
//! drift apart.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::DccFailure;
use super::types::*;
use crate::call::CallContext;
use crate::config::BridgeKind;

/// The bridge methods of docs/bridge-protocol.md#methods, by area: the area's trait, the
/// `DccAdapter` accessor that reaches it, the area's name, and each method with its typed params
/// (none: the method takes no params) and result. A method's wire name is `area.method`
/// (`scene.get_scene_info`). `dcc.hello` and `dcc.ping` are `DccAdapter`'s own.
///
/// The table is handed to the macro named by the caller, which generates one thing from it
/// (`area_traits!` below, `route_table!` in `route.rs`, `forward_to_bridge!` in `remote.rs`, ...).
macro_rules! bridge_methods {
    ($then:ident) => {
        $then! {
            SceneManager as_scene_manager "scene" {
                get_scene_info() -> SceneInfo;
                list_objects(ListObjectsParams) -> Vec<SceneObject>;
                create_object(CreateObjectParams) -> SceneObject;
                delete_objects(ObjectNamesParams) -> Vec<String>;
                get_selection() -> Vec<String>;
                set_selection(ObjectNamesParams) -> Vec<String>;
                select_by_type(ObjectTypeParams) -> Vec<String>;
                set_visibility(SetVisibilityParams) -> bool;
                new_scene(NewSceneParams) -> SceneInfo;
                open_file(OpenFileParams) -> SceneInfo;
                save_file(SaveFileParams) -> String;
                export_file(ExportFileParams) -> String;
                import_file(ImportFileParams) -> ImportResult;
            }
            Transform as_transform "transform" {
                get_transform(ObjectNameParams) -> ObjectTransform;
                set_transform(SetTransformParams) -> ObjectTransform;
                get_bounding_box(ObjectNameParams) -> BoundingBox;
                rename_object(RenameParams) -> String;
            }
            Hierarchy as_hierarchy "hierarchy" {
                get_hierarchy() -> Vec<SceneNode>;
                get_children(OptionalObjectParams) -> Vec<SceneObject>;
                get_parent(ObjectNameParams) -> Option<String>;
                group_objects(GroupParams) -> SceneObject;
                ungroup(UngroupParams) -> Vec<String>;
                reparent(ReparentParams) -> SceneObject;
            }
            RenderCapture as_render_capture "render" {
                capture_viewport(CaptureParams) -> CaptureResult;
                render_scene(RenderSceneParams) -> RenderOutput;
                get_render_settings() -> RenderSettings;
                set_render_settings(RenderSettingsParams) -> RenderSettings;
            }
            ScriptEngine as_script_engine "script" {
                execute(ScriptParams) -> ScriptResult;
                supported_languages() -> Vec<String>;
            }
            Animation as_animation "animation" {
                list_armatures() -> Vec<ArmatureSummary>;
                get_skeleton(ArmatureParams) -> Skeleton;
                apply_motion(ApplyMotionParams) -> ApplyMotionResult;
                sample_pose(SamplePoseParams) -> Pose;
                get_frame_range() -> FrameRange;
                set_frame_range(SetFrameRangeParams) -> FrameRange;
            }
        }
    };
}
pub(crate) use bridge_methods;

/// The area traits, every method answering `UNSUPPORTED` unless the adapter implements it.
macro_rules! area_traits {
    ($($area_trait:ident $accessor:ident $area:literal {
        $($method:ident($($params:ty)?) -> $result:ty;)*
    })*) => {$(
        #[async_trait]
        pub trait $area_trait: Send + Sync {$(
            async fn $method(&self, $(_p: $params,)? _call: &CallContext) -> DccResult<$result> {
                unsupported(concat!($area, ".", stringify!($method)))
            }
        )*}
    )*};
}

macro_rules! accessors_answering_none {
    ($($area_trait:ident $accessor:ident $area:literal { $($rest:tt)* })*) => {$(
        fn $accessor(&self) -> Option<&dyn $area_trait> {
            None
        }
    )*};
}

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
    async fn hello(&self, call: &CallContext) -> DccResult<Hello>;
    /// `dcc.ping`: answered off the DCC's main thread, so busy and dead can be told apart.
    async fn ping(&self, call: &CallContext) -> DccResult<Ping>;
    /// The last handshake's DccInfo, if a session was ever opened.
    fn info(&self) -> Option<DccInfo>;
    /// The last handshake's capabilities, if a session was ever opened.
    fn capabilities(&self) -> Option<DccCapabilities>;
    /// True when the adapter implements `method` (from the handshake's `methods`).
    fn implements(&self, method: &str) -> bool;

    fn as_connection(&self) -> Option<&dyn Connection> {
        None
    }

    // `as_scene_manager`, `as_transform`, ...: one accessor per area trait, `None` by default.
    bridge_methods!(accessors_answering_none);
}

/// A DCC reached over a bridge: its session state and its end.
#[async_trait]
pub trait Connection: Send + Sync {
    fn status(&self) -> ConnectionStatus;
    /// Closes the session and ends an embedded DCC process.
    async fn close(&self);
}

bridge_methods!(area_traits);

fn unsupported<T>(method: &str) -> DccResult<T> {
    Err(DccFailure::unsupported(method))
}

/// Render settings: setting name → value as a string (a map of string to string;
/// docs/bridge-protocol.md#methods). Read leniently: an adapter that sends a number or a boolean
/// gets it back as its text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct RenderSettings(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for RenderSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Value>::deserialize(deserializer)?;
        Ok(Self(
            raw.into_iter()
                .map(|(key, value)| match value {
                    Value::String(text) => (key, text),
                    other => (key, other.to_string()),
                })
                .collect(),
        ))
    }
}
