//! The `Bridge` trait and its four transports (embedded, http, websocket, named_pipe);
//! JSON-RPC framing and the `dcc.hello` session. Knows framing and sessions only: what the methods
//! mean is `dcc`'s business.
//!
//! - `link`: a connected transport as two channels (frames out, frames in) plus a kill switch.
//! - `session`: JSON-RPC over a link: ids, pipelining, deadlines, `$/cancel`, `$/progress`, `$/log`.
//! - `stream`: the [`Bridge`] of the link-based transports: connect, handshake, reconnect with backoff.
//! - `embedded`, `websocket`, `pipe`: how each link-based transport connects.
//! - `http`: one POST per request; no session to keep.

mod embedded;
mod http;
mod link;
mod pipe;
mod session;
mod stream;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::call::CallContext;
use crate::config::BridgeKind;

/// Largest line or frame a bridge accepts (docs/bridge-protocol.md#transports).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// The protocol name sent and expected in `dcc.hello`.
pub const PROTOCOL: &str = "stagecraft-bridge/1";

/// How long one connection attempt may take, whatever the caller's deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a DCC dialling in to a listening websocket may take to finish its upgrade request;
/// a connection still half-open after that is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Upgrades a listening websocket works on at once; further connections wait in the kernel's
/// backlog, so a flood of idle connections costs neither tasks nor descriptors.
pub const MAX_PENDING_HANDSHAKES: usize = 8;

/// How long the liveness `dcc.ping` after a timed-out request may take.
pub const PING_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, thiserror::Error)]
pub enum BridgeError {
    /// The DCC is gone or cannot be reached (closed connection, exited process, refused, garbage).
    #[error("{0}")]
    ConnectionFailed(String),
    /// The DCC is alive but did not answer before the deadline; `$/cancel` was sent.
    #[error(
        "{method} did not answer within {seconds:.1} s (the DCC is busy; the request was cancelled)"
    )]
    Timeout { method: String, seconds: f64 },
    /// Past the deadline the DCC did not even answer `dcc.ping` (which adapters answer off their
    /// main thread): it is frozen or stuck, not merely busy.
    #[error(
        "{method} did not answer within {seconds:.1} s, and the DCC does not answer dcc.ping either"
    )]
    NotResponding { method: String, seconds: f64 },
    #[error("the request was cancelled")]
    Cancelled,
    /// A JSON-RPC error answer from the adapter.
    #[error("{message}")]
    Remote {
        rpc_code: i64,
        /// `data.code`: a DccErrorCode.
        code: Option<String>,
        message: String,
        recoverable: Option<bool>,
        details: Option<Value>,
    },
}

/// Session state as `list_dccs` shows it.
#[derive(Debug, Clone, Default)]
pub struct BridgeStatus {
    pub connected: bool,
    pub last_error: Option<String>,
}

/// Everything needed to open a bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub kind: BridgeKind,
    pub endpoint: Option<String>,
    /// Websocket: listen at `endpoint` and let the DCC dial in.
    pub listen: bool,
    /// Embedded: program and arguments.
    pub command: Vec<String>,
    /// Shared secret: sent in `dcc.hello`, and as a bearer token over http.
    pub token: Option<String>,
    pub max_message_bytes: usize,
}

/// One DCC connection: JSON-RPC requests in, results out, with the session kept alive underneath.
#[async_trait]
pub trait Bridge: Send + Sync {
    /// Sends one request (opening and handshaking a session first if there is none) and waits for
    /// its answer until the call's deadline; its `$/progress` goes to the call's progress.
    async fn request(
        &self,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, BridgeError>;
    /// The `dcc.hello` answer of the current session, opening one if needed.
    async fn hello(&self, call: &CallContext) -> Result<Value, BridgeError>;
    fn status(&self) -> BridgeStatus;
    fn kind(&self) -> BridgeKind;
    fn endpoint(&self) -> String;
    /// Closes the session; ends an embedded DCC process and waits for it.
    async fn close(&self);
}

/// Opens a bridge (lazily: nothing connects until the first request, except a websocket listener,
/// which starts listening at once when a runtime is running).
pub fn open(config: BridgeConfig, shutdown: CancellationToken) -> Result<Arc<dyn Bridge>, String> {
    let endpoint = || {
        config
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| format!("bridge {} needs an endpoint", config.kind.as_str()))
    };
    Ok(match config.kind {
        BridgeKind::Embedded => {
            let connector =
                embedded::EmbeddedConnector::new(&config.command, config.max_message_bytes)?;
            Arc::new(stream::StreamBridge::new(connector, config, shutdown))
        }
        BridgeKind::Websocket if config.listen => {
            let connector = websocket::ListenConnector::new(
                &endpoint()?,
                config.max_message_bytes,
                config.token.clone(),
                shutdown.clone(),
            )?;
            Arc::new(stream::StreamBridge::new(connector, config, shutdown))
        }
        BridgeKind::Websocket => {
            let connector = websocket::DialConnector::new(&endpoint()?, config.max_message_bytes)?;
            Arc::new(stream::StreamBridge::new(connector, config, shutdown))
        }
        BridgeKind::NamedPipe => {
            let connector = pipe::PipeConnector::new(&endpoint()?, config.max_message_bytes)?;
            Arc::new(stream::StreamBridge::new(connector, config, shutdown))
        }
        BridgeKind::Http => Arc::new(http::HttpBridge::new(&endpoint()?, config)?),
    })
}

/// The `dcc.hello` params.
pub(crate) fn hello_params(token: Option<&str>) -> Value {
    let mut params = serde_json::json!({
        "protocol": PROTOCOL,
        "client": {"name": "stagecraft", "version": env!("CARGO_PKG_VERSION")},
    });
    if let Some(token) = token {
        params["token"] = Value::String(token.to_string());
    }
    params
}

/// Reads a JSON-RPC error object into a [`BridgeError::Remote`].
pub(crate) fn remote_error(error: &Value) -> BridgeError {
    let data = error.get("data");
    BridgeError::Remote {
        rpc_code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
        code: data
            .and_then(|d| d.get("code"))
            .and_then(Value::as_str)
            .map(str::to_string),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the adapter reported an error without a message")
            .to_string(),
        recoverable: data
            .and_then(|d| d.get("recoverable"))
            .and_then(Value::as_bool),
        details: data.and_then(|d| d.get("details")).cloned(),
    }
}

/// Checks a `dcc.hello` answer enough to trust the session.
pub(crate) fn check_hello(answer: &Value) -> Result<(), BridgeError> {
    match answer.get("protocol").and_then(Value::as_str) {
        Some(PROTOCOL) => Ok(()),
        other => Err(BridgeError::ConnectionFailed(format!(
            "the adapter speaks {other:?}, not {PROTOCOL:?}"
        ))),
    }
}
