//! Adapter traits, data types, `RemoteAdapter` (the traits over any Bridge), and built-in adapters.
//!
//! - [`types`]: the data types and typed method parameters of docs/bridge-protocol.md.
//! - [`adapter`]: `DccAdapter` and one trait per capability; default answers are `UNSUPPORTED`;
//!   `bridge_methods!`, the one table of bridge methods the traits, [`BRIDGE_METHODS`], `route`
//!   and `RemoteAdapter` are generated from.
//! - `route`: a method name + JSON params → the typed trait method → JSON.
//! - [`remote`]: `RemoteAdapter`, the traits over a [`crate::bridge::Bridge`].
//! - [`stage`]: the built-in `stage` DCC (a glTF scene in memory).
//! - [`check`]: `stagecraft adapter-check`, the bridge conformance suite.
//!
//! [`DccHub`] holds the named connections of `[[dcc]]` and is what the dispatcher calls.

pub mod adapter;
pub mod check;
pub mod remote;
mod route;
pub mod stage;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::call::CallContext;
use crate::config::{BridgeKind, Config};
pub use adapter::{ConnectionBridge, ConnectionState, DccAdapter};
pub use check::{AdapterCheckOptions, adapter_check, adapter_check_stage};
pub use types::DccErrorCode;

macro_rules! method_names {
    ($($area_trait:ident $accessor:ident $area:literal {
        $($method:ident($($params:ty)?) -> $result:ty;)*
    })*) => {
        /// Every method of docs/bridge-protocol.md#methods, as written after `call:` in a SKILL.md.
        pub const BRIDGE_METHODS: &[&str] = &[
            "dcc.hello",
            "dcc.ping",
            $($(concat!($area, ".", stringify!($method)),)*)*
        ];
    };
}

adapter::bridge_methods!(method_names);

/// Name of the built-in DCC, always available (and the default when no `[[dcc]]` is configured).
pub const STAGE_NAME: &str = "stage";

#[derive(Debug, thiserror::Error)]
pub enum DccError {
    #[error("{0}")]
    Config(String),
}

/// What went wrong in a DCC call: a DccErrorCode from the adapter or the bridge, or one of
/// stagecraft's own. Agents see it in snake_case (docs/architecture.md#errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DccFailureCode {
    Dcc(DccErrorCode),
    /// No connection of that name, or none configured.
    NoDcc,
    /// The caller cancelled the call.
    Cancelled,
}

impl DccFailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DccFailureCode::Dcc(code) => code.as_str(),
            DccFailureCode::NoDcc => "no_dcc",
            DccFailureCode::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for DccFailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and callers compare a code with the name agents see.
impl PartialEq<&str> for DccFailureCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A failed DCC call, with the adapter's message and details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DccFailure {
    pub code: DccFailureCode,
    pub message: String,
    pub details: Option<Value>,
    pub recoverable: bool,
}

impl DccFailure {
    pub fn new(code: DccErrorCode, message: impl Into<String>) -> Self {
        let recoverable = matches!(
            code,
            DccErrorCode::ConnectionFailed
                | DccErrorCode::Timeout
                | DccErrorCode::NotResponding
                | DccErrorCode::InvalidInput
                | DccErrorCode::SceneError
                | DccErrorCode::ScriptError
        );
        Self {
            code: DccFailureCode::Dcc(code),
            message: message.into(),
            details: None,
            recoverable,
        }
    }

    pub fn unsupported(method: &str) -> Self {
        Self::new(
            DccErrorCode::Unsupported,
            format!("this DCC does not support {method}"),
        )
        .with_details(json!({"method": method}))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(DccErrorCode::InvalidInput, message)
    }

    pub fn scene(message: impl Into<String>) -> Self {
        Self::new(DccErrorCode::SceneError, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(DccErrorCode::Internal, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The DccErrorCode, when the code is one.
    pub fn dcc_code(&self) -> Option<DccErrorCode> {
        match self.code {
            DccFailureCode::Dcc(code) => Some(code),
            _ => None,
        }
    }
}

/// One named connection.
struct Conn {
    name: String,
    adapter: Arc<dyn DccAdapter>,
    bridge: ConnectionBridge,
    endpoint: Option<String>,
    /// The connection's default deadline (`timeout_seconds` of its `[[dcc]]`).
    timeout: Duration,
}

/// What `list_dccs` reports about one connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub name: String,
    pub default: bool,
    pub bridge: ConnectionBridge,
    pub endpoint: Option<String>,
    pub state: ConnectionState,
    pub last_error: Option<String>,
    pub info: Option<types::DccInfo>,
    pub capabilities: Option<types::DccCapabilities>,
    pub methods: Vec<String>,
}

/// How long a cancelled call may take to tell the DCC (`$/cancel`) before it is dropped.
const CANCEL_CLEANUP: Duration = Duration::from_secs(1);

/// The named DCC connections from `[[dcc]]` (or the built-in `stage` DCC when none is configured).
pub struct DccHub {
    conns: Vec<Conn>,
    shutdown: CancellationToken,
}

/// Knobs for tests and benches; `DccHub::new` uses the defaults.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Largest message a bridge accepts (docs/bridge-protocol.md#transports: 256 MiB).
    pub max_message_bytes: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: crate::bridge::MAX_MESSAGE_BYTES,
        }
    }
}

impl DccHub {
    pub fn new(config: &Config, shutdown: CancellationToken) -> Result<Self, DccError> {
        Self::with_options(config, shutdown, HubOptions::default())
    }

    pub fn with_options(
        config: &Config,
        shutdown: CancellationToken,
        options: HubOptions,
    ) -> Result<Self, DccError> {
        let mut conns = Vec::new();
        for dcc in &config.dcc {
            let remote = remote::RemoteAdapter::from_config(dcc, &options, shutdown.clone())?;
            conns.push(Conn {
                name: dcc.name.clone(),
                endpoint: remote.endpoint(),
                adapter: Arc::new(remote),
                bridge: ConnectionBridge::Remote(dcc.bridge),
                timeout: Duration::from_secs(dcc.timeout_seconds),
            });
        }
        // The stage DCC is always there; it is the default only when nothing else is configured.
        if !conns.iter().any(|c| c.name == STAGE_NAME) {
            conns.push(Conn {
                name: STAGE_NAME.into(),
                adapter: Arc::new(stage::StageAdapter::new()),
                bridge: ConnectionBridge::InProcess,
                endpoint: None,
                timeout: Duration::from_secs(crate::config::DEFAULT_DCC_TIMEOUT_SECONDS),
            });
        }
        Ok(Self { conns, shutdown })
    }

    /// Closes every connection and ends embedded DCC processes.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        for conn in &self.conns {
            if let Some(c) = conn.adapter.as_connection() {
                c.close().await;
            }
        }
    }

    /// The connection names, default first.
    pub fn names(&self) -> Vec<String> {
        self.conns.iter().map(|c| c.name.clone()).collect()
    }

    /// The default deadline of a connection (`None`: the default connection).
    pub fn default_timeout(&self, dcc: Option<&str>) -> Option<Duration> {
        self.find(dcc).ok().map(|c| c.timeout)
    }

    fn find(&self, dcc: Option<&str>) -> Result<&Conn, DccFailure> {
        let found = match dcc {
            None => self.conns.first(),
            Some(name) => self.conns.iter().find(|c| c.name == name),
        };
        found.ok_or_else(|| DccFailure {
            code: DccFailureCode::NoDcc,
            message: match dcc {
                Some(name) => format!("no DCC connection named {name:?}"),
                None => "no DCC connection is configured".into(),
            },
            details: Some(json!({"available": self.names()})),
            recoverable: false,
        })
    }

    /// Whether a connection implements `method`, as far as is known: `None` until its DCC has
    /// said hello (for gating tools on what the DCC can do). The method must be listed, and the
    /// adapter must offer the trait that serves it (what `route` calls).
    pub fn supports(&self, dcc: Option<&str>, method: &str) -> Option<bool> {
        let conn = self.find(dcc).ok()?;
        conn.adapter.info()?;
        let adapter = conn.adapter.as_ref();
        Some(adapter.implements(method) && route::has_trait_for(adapter, method))
    }

    /// The `requires` capabilities (SKILL.md) that the connection's DCC reported as false. Empty when
    /// all are there, or when the DCC has not said hello yet (the adapter then answers for itself).
    pub fn missing_capabilities(&self, dcc: Option<&str>, required: &[String]) -> Vec<String> {
        let Some(caps) = self.find(dcc).ok().and_then(|c| c.adapter.capabilities()) else {
            return Vec::new();
        };
        required
            .iter()
            .filter(|name| caps.flag(name) == Some(false))
            .cloned()
            .collect()
    }

    /// The adapter behind a connection, for callers that want the typed traits directly.
    pub fn adapter(&self, dcc: Option<&str>) -> Result<Arc<dyn DccAdapter>, DccFailure> {
        self.find(dcc).map(|c| c.adapter.clone())
    }

    /// Calls one bridge method on the named connection (`None`: the default one) through the adapter
    /// traits, with JSON params and result as docs/bridge-protocol.md#methods defines them.
    pub async fn call(
        &self,
        dcc: Option<&str>,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, DccFailure> {
        let conn = self.find(dcc)?;
        if !BRIDGE_METHODS.contains(&method) {
            return Err(DccFailure::unsupported(method));
        }
        let budget = call.remaining();
        // Remote calls carry their own deadline (and send `$/cancel` at it, then a liveness ping);
        // this outer limit is a safety net a little later, so that nothing can hang a call.
        let grace = if conn.bridge == ConnectionBridge::InProcess {
            Duration::ZERO
        } else {
            crate::bridge::PING_TIMEOUT + Duration::from_secs(2)
        };
        // The work gets a child of the caller's token, so that the outer limit can cancel it
        // alone: the bridge then sends `$/cancel` and forgets the request, where dropping the
        // future would skip both.
        let inner = call.child();
        let work = route::route(conn.adapter.as_ref(), method, params, &inner);
        let mut work = std::pin::pin!(work);
        tokio::select! {
            r = &mut work => r,
            _ = tokio::time::sleep_until(call.backstop(grace)) => {
                inner.cancel.cancel();
                let _ = tokio::time::timeout(CANCEL_CLEANUP, &mut work).await;
                Err(DccFailure::new(
                    DccErrorCode::Timeout,
                    format!("{method} on {:?} did not finish within {:.1} s", conn.name, budget.as_secs_f64()),
                ))
            }
            _ = call.cancel.cancelled() => {
                // The bridge watches the same token and sends `$/cancel` to the DCC; dropping its
                // future now would skip that, so let it finish first (it returns at once).
                let _ = tokio::time::timeout(CANCEL_CLEANUP, &mut work).await;
                Err(DccFailure {
                    code: DccFailureCode::Cancelled,
                    message: format!("{method} was cancelled"),
                    details: None,
                    recoverable: true,
                })
            }
        }
    }

    /// Every connection with its state; tries a handshake on each (bounded by `timeout`).
    pub async fn list_connections(&self, timeout: Duration) -> Vec<ConnectionReport> {
        let probes = self.conns.iter().enumerate().map(|(i, conn)| async move {
            let call = CallContext::new(timeout.min(conn.timeout));
            let running = conn
                .adapter
                .as_connection()
                .is_none_or(|c| c.status().state == ConnectionState::Connected);
            // Listing must not start a DCC (an embedded Blender takes seconds and memory): embedded
            // connections that are not running are reported as such, and start on first use.
            let not_started =
                conn.bridge == ConnectionBridge::Remote(BridgeKind::Embedded) && !running;
            let hello = if not_started {
                None
            } else {
                Some(conn.adapter.hello(&call).await)
            };
            let status = conn.adapter.as_connection().map(|c| c.status());
            let (state, last_error) = match (&hello, status) {
                (Some(Ok(_)), _) => (ConnectionState::Connected, None),
                (None, status) => (
                    ConnectionState::Disconnected,
                    status.and_then(|s| s.last_error),
                ),
                (Some(Err(e)), Some(s)) => {
                    (ConnectionState::Error, s.last_error.or(Some(e.to_string())))
                }
                (Some(Err(e)), None) => (ConnectionState::Error, Some(e.to_string())),
            };
            let hello = hello.and_then(Result::ok);
            // A DCC that is down is still described by what it said the last time it was up.
            let info = hello
                .as_ref()
                .map(|h| h.info.clone())
                .or_else(|| conn.adapter.info());
            let capabilities = hello
                .as_ref()
                .map(|h| h.capabilities.clone())
                .or_else(|| conn.adapter.capabilities());
            let methods = match hello {
                Some(h) => h.methods,
                None => BRIDGE_METHODS
                    .iter()
                    .filter(|m| conn.adapter.implements(m))
                    .map(|m| m.to_string())
                    .collect(),
            };
            ConnectionReport {
                name: conn.name.clone(),
                default: i == 0,
                bridge: conn.bridge,
                endpoint: conn.endpoint.clone(),
                state,
                last_error,
                info,
                capabilities,
                methods,
            }
        });
        futures::future::join_all(probes).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use super::adapter::DccResult;
    use super::types::{DccCapabilities, DccInfo, Hello, Ping};
    use super::*;

    /// An adapter that implements no method itself (every area answers with the traits'
    /// defaults), and whose ping never answers on its own: it only ends when its call is
    /// cancelled, as a remote adapter does (it then sends `$/cancel` to the DCC).
    #[derive(Default)]
    struct AnswersOnlyToCancel {
        saw_cancel: AtomicBool,
    }

    #[async_trait]
    impl DccAdapter for AnswersOnlyToCancel {
        async fn hello(&self, _call: &CallContext) -> DccResult<Hello> {
            Err(DccFailure::unsupported("dcc.hello"))
        }
        async fn ping(&self, call: &CallContext) -> DccResult<Ping> {
            call.cancel.cancelled().await;
            self.saw_cancel.store(true, Ordering::SeqCst);
            Err(DccFailure::new(DccErrorCode::Timeout, "cancelled"))
        }
        fn info(&self) -> Option<DccInfo> {
            None
        }
        fn capabilities(&self) -> Option<DccCapabilities> {
            None
        }
        fn implements(&self, _method: &str) -> bool {
            true
        }
        fn as_scene_manager(&self) -> Option<&dyn adapter::SceneManager> {
            Some(self)
        }
        fn as_transform(&self) -> Option<&dyn adapter::Transform> {
            Some(self)
        }
        fn as_hierarchy(&self) -> Option<&dyn adapter::Hierarchy> {
            Some(self)
        }
        fn as_render_capture(&self) -> Option<&dyn adapter::RenderCapture> {
            Some(self)
        }
        fn as_script_engine(&self) -> Option<&dyn adapter::ScriptEngine> {
            Some(self)
        }
        fn as_animation(&self) -> Option<&dyn adapter::Animation> {
            Some(self)
        }
    }
    impl adapter::SceneManager for AnswersOnlyToCancel {}
    impl adapter::Transform for AnswersOnlyToCancel {}
    impl adapter::Hierarchy for AnswersOnlyToCancel {}
    impl adapter::RenderCapture for AnswersOnlyToCancel {}
    impl adapter::ScriptEngine for AnswersOnlyToCancel {}
    impl adapter::Animation for AnswersOnlyToCancel {}

    #[tokio::test]
    async fn the_outer_limit_cancels_the_call_instead_of_dropping_it() {
        let adapter = Arc::new(AnswersOnlyToCancel::default());
        let hub = DccHub {
            conns: vec![Conn {
                name: "hanging".into(),
                adapter: adapter.clone(),
                bridge: ConnectionBridge::InProcess,
                endpoint: None,
                timeout: Duration::from_secs(1),
            }],
            shutdown: CancellationToken::new(),
        };
        let call = CallContext::new(Duration::from_millis(50));
        let failure = hub
            .call(None, "dcc.ping", json!({}), &call)
            .await
            .expect_err("a call that never answers fails at its deadline");
        assert_eq!(failure.dcc_code(), Some(DccErrorCode::Timeout), "{failure}");
        assert!(
            adapter.saw_cancel.load(Ordering::SeqCst),
            "the call was dropped at the outer limit without being cancelled"
        );
        assert!(
            !call.cancel.is_cancelled(),
            "the caller's own token is not cancelled for it"
        );
    }

    #[test]
    fn the_method_list_is_the_documented_one() {
        let doc = include_str!("../../docs/bridge-protocol.md");
        let table = doc
            .split_once("\n## Methods\n")
            .and_then(|(_, rest)| rest.split_once("\n\n**"))
            .map(|(table, _)| table)
            .expect("docs/bridge-protocol.md has a Methods table");
        let documented: Vec<&str> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `")?.split_once("` |"))
            .map(|(method, _)| method)
            .filter(|method| method.contains('.'))
            .collect();
        assert_eq!(BRIDGE_METHODS, documented.as_slice());
    }

    #[tokio::test]
    async fn every_method_is_routed_to_the_trait_method_of_its_name() {
        // The default body of each trait method names its own wire method, and so do the params
        // errors of the router: a method the router does not know, or sends to the trait method of
        // another name, would fail naming another method or none.
        let adapter = AnswersOnlyToCancel::default();
        let call = CallContext::new(Duration::from_secs(5));
        // `dcc.hello` and `dcc.ping` are DccAdapter's own methods, outside the table.
        for method in BRIDGE_METHODS.iter().filter(|m| !m.starts_with("dcc.")) {
            assert!(route::has_trait_for(&adapter, method), "{method}");
            let failure = route::route(&adapter, method, Value::Null, &call)
                .await
                .expect_err("nothing is implemented");
            let names_it = match failure.dcc_code() {
                Some(DccErrorCode::Unsupported) => {
                    failure.details == DccFailure::unsupported(method).details
                }
                // A method with required params is refused before it reaches the adapter.
                Some(DccErrorCode::InvalidInput) => {
                    failure.message.starts_with(&format!("{method}: "))
                }
                _ => false,
            };
            assert!(names_it, "{method}: {failure}");
        }
    }

    #[test]
    fn every_capability_flag_is_declared_once_and_readable_by_name() {
        let serialized = serde_json::to_value(DccCapabilities::default()).expect("encodes");
        let fields = serialized.as_object().expect("an object");
        let flags: std::collections::BTreeSet<&str> = fields
            .iter()
            .filter(|(_, value)| value.is_boolean())
            .map(|(name, _)| name.as_str())
            .collect();
        let declared = DccCapabilities::FLAGS.iter().copied().collect();
        assert_eq!(
            flags, declared,
            "every boolean field is a flag, and only those"
        );
        assert_eq!(
            declared.len(),
            DccCapabilities::FLAGS.len(),
            "declared once"
        );
        let all = DccCapabilities {
            animation: true,
            ..DccCapabilities::default()
        };
        for name in DccCapabilities::FLAGS {
            assert_eq!(all.flag(name), Some(*name == "animation"), "{name}");
        }
        assert_eq!(all.flag("bridge_kind"), None);
    }
}
