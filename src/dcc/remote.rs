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
use super::{DccError, DccFailure, DccFailureCode, HubOptions};
use crate::bridge::{self, Bridge, BridgeConfig, BridgeError};
use crate::call::CallContext;
use crate::config::DccConfig;

pub struct RemoteAdapter {
    bridge: Arc<dyn Bridge>,
    hello: Mutex<Option<Hello>>,
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

    async fn ensure_hello(&self, call: &CallContext) -> DccResult<Hello> {
        let answer = self.bridge.hello(call).await.map_err(failure_from_bridge)?;
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
        call: &CallContext,
    ) -> DccResult<R> {
        // One deadline for the whole call, handshake included.
        let hello = self.ensure_hello(call).await?;
        if !hello.methods.iter().any(|m| m == method) {
            return Err(DccFailure::unsupported(method));
        }
        let params = serde_json::to_value(params)
            .map_err(|e| DccFailure::internal(format!("cannot encode {method} params: {e}")))?;
        let answer = self
            .bridge
            .request(method, params, call)
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

/// `RemoteAdapter` implements every area trait by sending the method as it is named on the wire.
macro_rules! forward_to_bridge {
    ($($area_trait:ident $accessor:ident $area:literal {
        $($method:ident($($params:ty)?) -> $result:ty;)*
    })*) => {$(
        #[async_trait]
        impl $area_trait for RemoteAdapter {$(
            async fn $method(&self, $(p: $params,)? call: &CallContext) -> DccResult<$result> {
                let method = concat!($area, ".", stringify!($method));
                self.rpc(method, params_or_empty!($(p: $params)?), call).await
            }
        )*}
    )*};
}

/// A method's params as sent: its typed params, or `{}` for a method that takes none.
macro_rules! params_or_empty {
    () => {
        empty()
    };
    ($p:ident: $params:ty) => {
        $p
    };
}

/// Offers an area when the DCC's hello lists a method of it (and before the first hello).
macro_rules! accessors_by_hello {
    ($($area_trait:ident $accessor:ident $area:literal { $($rest:tt)* })*) => {$(
        fn $accessor(&self) -> Option<&dyn $area_trait> {
            self.has_area(concat!($area, ".")).then_some(self as &dyn $area_trait)
        }
    )*};
}

#[async_trait]
impl DccAdapter for RemoteAdapter {
    async fn hello(&self, call: &CallContext) -> DccResult<Hello> {
        self.ensure_hello(call).await
    }
    async fn ping(&self, call: &CallContext) -> DccResult<Ping> {
        self.ensure_hello(call).await?;
        // dcc.ping is answered off the main thread; it is sent even if `methods` forgot it.
        let answer = self
            .bridge
            .request("dcc.ping", empty(), call)
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
    bridge_methods!(accessors_by_hello);
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

bridge_methods!(forward_to_bridge);
