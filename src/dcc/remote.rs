//! `RemoteAdapter`: the adapter traits over any [`Bridge`]. Typed params are serialised into the
//! JSON-RPC request and the answer is read back into the typed result, so an adapter that answers
//! with the wrong shape is caught here (`INTERNAL`, naming the method) instead of reaching the agent.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::adapter::*;
use super::types::*;
use super::{DccCall, DccError, DccFailure, DccFailureCode, HubOptions};
use crate::bridge::{self, Bridge, BridgeConfig, BridgeError, RequestOptions};
use crate::config::DccConfig;

pub struct RemoteAdapter {
    bridge: Arc<dyn Bridge>,
    hello: Mutex<Option<Hello>>,
}

fn options(call: &DccCall) -> RequestOptions {
    RequestOptions {
        deadline: tokio::time::Instant::now() + call.timeout,
        cancel: call.cancel.clone(),
        progress: call.progress.clone(),
    }
}

/// A bridge failure as the DccErrorCode the agent sees.
pub fn failure_from_bridge(error: BridgeError) -> DccFailure {
    match error {
        BridgeError::ConnectionFailed(reason) => {
            DccFailure::new(DccErrorCode::ConnectionFailed, reason)
        }
        e @ BridgeError::Timeout { .. } => DccFailure::new(DccErrorCode::Timeout, e.to_string()),
        e @ BridgeError::NotResponding { .. } => {
            DccFailure::new(DccErrorCode::NotResponding, e.to_string())
        }
        BridgeError::Cancelled => DccFailure {
            code: DccFailureCode::Cancelled,
            message: "the request was cancelled".into(),
            details: None,
            recoverable: true,
        },
        BridgeError::Remote {
            rpc_code,
            code,
            message,
            recoverable,
            details,
        } => {
            let code =
                code.as_deref()
                    .and_then(DccErrorCode::from_wire)
                    .unwrap_or(match rpc_code {
                        -32601 => DccErrorCode::Unsupported,
                        -32602 => DccErrorCode::InvalidInput,
                        _ => DccErrorCode::Internal,
                    });
            let mut failure = DccFailure::new(code, message);
            if let Some(r) = recoverable {
                failure.recoverable = r;
            }
            failure.details = details;
            failure
        }
    }
}

/// The token in a `token_file`: its text without surrounding whitespace (an editor's newline).
fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let token = text.trim();
    if token.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(token.to_string())
}

impl RemoteAdapter {
    pub fn new(bridge: Arc<dyn Bridge>) -> Self {
        Self {
            bridge,
            hello: Mutex::new(None),
        }
    }

    pub fn from_config(
        dcc: &DccConfig,
        options: &HubOptions,
        shutdown: CancellationToken,
    ) -> Result<Self, DccError> {
        let token = match (&dcc.token_env, &dcc.token_file) {
            (Some(var), _) => Some(std::env::var(var).map_err(|_| {
                DccError::Config(format!(
                    "[[dcc]] {:?}: token_env names {var:?}, which is not set in the environment",
                    dcc.name
                ))
            })?),
            (None, Some(file)) => Some(read_token_file(file).map_err(|why| {
                DccError::Config(format!(
                    "[[dcc]] {:?}: token_file {}: {why}; `stagecraft setup` writes it",
                    dcc.name,
                    file.display()
                ))
            })?),
            (None, None) => None,
        };
        let config = BridgeConfig {
            kind: dcc.bridge,
            endpoint: dcc.endpoint.clone(),
            listen: dcc.listen,
            command: dcc.command.clone(),
            token,
            max_message_bytes: options.max_message_bytes,
        };
        let bridge = bridge::open(config, shutdown)
            .map_err(|e| DccError::Config(format!("[[dcc]] {:?}: {e}", dcc.name)))?;
        Ok(Self::new(bridge))
    }

    pub fn endpoint(&self) -> Option<String> {
        Some(self.bridge.endpoint())
    }

    pub fn bridge(&self) -> &Arc<dyn Bridge> {
        &self.bridge
    }

    async fn ensure_hello(&self, options: &RequestOptions) -> DccResult<Hello> {
        let answer = self
            .bridge
            .hello(options)
            .await
            .map_err(failure_from_bridge)?;
        let hello: Hello = serde_json::from_value(answer).map_err(|e| {
            DccFailure::internal(format!("the adapter's dcc.hello answer is malformed: {e}"))
        })?;
        if let Ok(mut h) = self.hello.lock() {
            *h = Some(hello.clone());
        }
        Ok(hello)
    }

    async fn rpc<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
        call: &DccCall,
    ) -> DccResult<R> {
        // One deadline for the whole call, handshake included.
        let options = options(call);
        let hello = self.ensure_hello(&options).await?;
        if !hello.methods.iter().any(|m| m == method) {
            return Err(DccFailure::unsupported(method));
        }
        let params = serde_json::to_value(params)
            .map_err(|e| DccFailure::internal(format!("cannot encode {method} params: {e}")))?;
        let answer = self
            .bridge
            .request(method, params, &options)
            .await
            .map_err(failure_from_bridge)?;
        serde_json::from_value(answer).map_err(|e| {
            DccFailure::internal(format!(
                "the adapter answered {method} with a result that does not match docs/bridge-protocol.md: {e}"
            ))
        })
    }

    fn has_area(&self, area: &str) -> bool {
        match self.hello.lock().ok().and_then(|h| h.clone()) {
            // Before the first handshake every area is offered; the method check decides.
            None => true,
            Some(h) => h.methods.iter().any(|m| m.starts_with(area)),
        }
    }
}

fn empty() -> Value {
    json!({})
}

#[async_trait]
impl DccAdapter for RemoteAdapter {
    async fn hello(&self, call: &DccCall) -> DccResult<Hello> {
        self.ensure_hello(&options(call)).await
    }
    async fn ping(&self, call: &DccCall) -> DccResult<Ping> {
        let options = options(call);
        self.ensure_hello(&options).await?;
        // dcc.ping is answered off the main thread; it is sent even if `methods` forgot it.
        let answer = self
            .bridge
            .request("dcc.ping", empty(), &options)
            .await
            .map_err(failure_from_bridge)?;
        serde_json::from_value(answer)
            .map_err(|e| DccFailure::internal(format!("malformed dcc.ping answer: {e}")))
    }
    fn info(&self) -> Option<DccInfo> {
        self.hello
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|h| h.info.clone()))
    }
    fn capabilities(&self) -> Option<DccCapabilities> {
        self.hello
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|h| h.capabilities.clone()))
    }
    fn implements(&self, method: &str) -> bool {
        self.hello
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|h| h.methods.iter().any(|m| m == method)))
            .unwrap_or(false)
    }
    fn as_connection(&self) -> Option<&dyn Connection> {
        Some(self)
    }
    fn as_scene_manager(&self) -> Option<&dyn SceneManager> {
        self.has_area("scene.").then_some(self as &dyn SceneManager)
    }
    fn as_transform(&self) -> Option<&dyn Transform> {
        self.has_area("transform.")
            .then_some(self as &dyn Transform)
    }
    fn as_hierarchy(&self) -> Option<&dyn Hierarchy> {
        self.has_area("hierarchy.")
            .then_some(self as &dyn Hierarchy)
    }
    fn as_render_capture(&self) -> Option<&dyn RenderCapture> {
        self.has_area("render.")
            .then_some(self as &dyn RenderCapture)
    }
    fn as_script_engine(&self) -> Option<&dyn ScriptEngine> {
        self.has_area("script.")
            .then_some(self as &dyn ScriptEngine)
    }
    fn as_animation(&self) -> Option<&dyn Animation> {
        self.has_area("animation.")
            .then_some(self as &dyn Animation)
    }
}

#[async_trait]
impl Connection for RemoteAdapter {
    fn status(&self) -> ConnectionStatus {
        let s = self.bridge.status();
        let state = if s.connected {
            ConnectionState::Connected
        } else if s.last_error.is_some() {
            ConnectionState::Error
        } else {
            ConnectionState::Disconnected
        };
        ConnectionStatus {
            state,
            last_error: s.last_error,
        }
    }
    async fn close(&self) {
        self.bridge.close().await;
    }
}

#[async_trait]
impl SceneManager for RemoteAdapter {
    async fn get_scene_info(&self, call: &DccCall) -> DccResult<SceneInfo> {
        self.rpc("scene.get_scene_info", empty(), call).await
    }
    async fn list_objects(
        &self,
        p: ListObjectsParams,
        call: &DccCall,
    ) -> DccResult<Vec<SceneObject>> {
        self.rpc("scene.list_objects", p, call).await
    }
    async fn create_object(&self, p: CreateObjectParams, call: &DccCall) -> DccResult<SceneObject> {
        self.rpc("scene.create_object", p, call).await
    }
    async fn delete_objects(&self, p: ObjectNamesParams, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("scene.delete_objects", p, call).await
    }
    async fn get_selection(&self, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("scene.get_selection", empty(), call).await
    }
    async fn set_selection(&self, p: ObjectNamesParams, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("scene.set_selection", p, call).await
    }
    async fn select_by_type(&self, p: ObjectTypeParams, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("scene.select_by_type", p, call).await
    }
    async fn set_visibility(&self, p: SetVisibilityParams, call: &DccCall) -> DccResult<bool> {
        self.rpc("scene.set_visibility", p, call).await
    }
    async fn new_scene(&self, p: NewSceneParams, call: &DccCall) -> DccResult<SceneInfo> {
        self.rpc("scene.new_scene", p, call).await
    }
    async fn open_file(&self, p: OpenFileParams, call: &DccCall) -> DccResult<SceneInfo> {
        self.rpc("scene.open_file", p, call).await
    }
    async fn save_file(&self, p: SaveFileParams, call: &DccCall) -> DccResult<String> {
        self.rpc("scene.save_file", p, call).await
    }
    async fn export_file(&self, p: ExportFileParams, call: &DccCall) -> DccResult<String> {
        self.rpc("scene.export_file", p, call).await
    }
    async fn import_file(&self, p: ImportFileParams, call: &DccCall) -> DccResult<ImportResult> {
        self.rpc("scene.import_file", p, call).await
    }
}

#[async_trait]
impl Transform for RemoteAdapter {
    async fn get_transform(
        &self,
        p: ObjectNameParams,
        call: &DccCall,
    ) -> DccResult<ObjectTransform> {
        self.rpc("transform.get_transform", p, call).await
    }
    async fn set_transform(
        &self,
        p: SetTransformParams,
        call: &DccCall,
    ) -> DccResult<ObjectTransform> {
        self.rpc("transform.set_transform", p, call).await
    }
    async fn get_bounding_box(
        &self,
        p: ObjectNameParams,
        call: &DccCall,
    ) -> DccResult<BoundingBox> {
        self.rpc("transform.get_bounding_box", p, call).await
    }
    async fn rename_object(&self, p: RenameParams, call: &DccCall) -> DccResult<String> {
        self.rpc("transform.rename_object", p, call).await
    }
}

#[async_trait]
impl Hierarchy for RemoteAdapter {
    async fn get_hierarchy(&self, call: &DccCall) -> DccResult<Vec<SceneNode>> {
        self.rpc("hierarchy.get_hierarchy", empty(), call).await
    }
    async fn get_children(
        &self,
        p: OptionalObjectParams,
        call: &DccCall,
    ) -> DccResult<Vec<SceneObject>> {
        self.rpc("hierarchy.get_children", p, call).await
    }
    async fn get_parent(&self, p: ObjectNameParams, call: &DccCall) -> DccResult<Option<String>> {
        self.rpc("hierarchy.get_parent", p, call).await
    }
    async fn group_objects(&self, p: GroupParams, call: &DccCall) -> DccResult<SceneObject> {
        self.rpc("hierarchy.group_objects", p, call).await
    }
    async fn ungroup(&self, p: UngroupParams, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("hierarchy.ungroup", p, call).await
    }
    async fn reparent(&self, p: ReparentParams, call: &DccCall) -> DccResult<SceneObject> {
        self.rpc("hierarchy.reparent", p, call).await
    }
}

#[async_trait]
impl RenderCapture for RemoteAdapter {
    async fn capture_viewport(&self, p: CaptureParams, call: &DccCall) -> DccResult<CaptureResult> {
        self.rpc("render.capture_viewport", p, call).await
    }
    async fn render_scene(&self, p: RenderSceneParams, call: &DccCall) -> DccResult<RenderOutput> {
        self.rpc("render.render_scene", p, call).await
    }
    async fn get_render_settings(&self, call: &DccCall) -> DccResult<RenderSettings> {
        let raw: std::collections::BTreeMap<String, Value> = self
            .rpc("render.get_render_settings", empty(), call)
            .await?;
        Ok(stringify(raw))
    }
    async fn set_render_settings(
        &self,
        p: RenderSettingsParams,
        call: &DccCall,
    ) -> DccResult<RenderSettings> {
        let raw: std::collections::BTreeMap<String, Value> =
            self.rpc("render.set_render_settings", p, call).await?;
        Ok(stringify(raw))
    }
}

/// Render settings are "an object of strings"; adapters that send numbers are read leniently.
fn stringify(raw: std::collections::BTreeMap<String, Value>) -> RenderSettings {
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

#[async_trait]
impl ScriptEngine for RemoteAdapter {
    async fn execute(&self, p: ScriptParams, call: &DccCall) -> DccResult<ScriptResult> {
        self.rpc("script.execute", p, call).await
    }
    async fn supported_languages(&self, call: &DccCall) -> DccResult<Vec<String>> {
        self.rpc("script.supported_languages", empty(), call).await
    }
}

#[async_trait]
impl Animation for RemoteAdapter {
    async fn list_armatures(&self, call: &DccCall) -> DccResult<Vec<ArmatureSummary>> {
        self.rpc("animation.list_armatures", empty(), call).await
    }
    async fn get_skeleton(&self, p: ArmatureParams, call: &DccCall) -> DccResult<Skeleton> {
        self.rpc("animation.get_skeleton", p, call).await
    }
    async fn apply_motion(
        &self,
        p: ApplyMotionParams,
        call: &DccCall,
    ) -> DccResult<ApplyMotionResult> {
        self.rpc("animation.apply_motion", p, call).await
    }
    async fn sample_pose(&self, p: SamplePoseParams, call: &DccCall) -> DccResult<Pose> {
        self.rpc("animation.sample_pose", p, call).await
    }
    async fn get_frame_range(&self, call: &DccCall) -> DccResult<FrameRange> {
        self.rpc("animation.get_frame_range", empty(), call).await
    }
    async fn set_frame_range(
        &self,
        p: SetFrameRangeParams,
        call: &DccCall,
    ) -> DccResult<FrameRange> {
        self.rpc("animation.set_frame_range", p, call).await
    }
}
