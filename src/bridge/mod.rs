//! The `Bridge` trait and its four transports (embedded, http, websocket, named_pipe);
//! JSON-RPC framing and the `dcc.hello` session. Knows framing and sessions only.

/// Largest line or frame a bridge accepts (spec/bridge.md).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Progress callback for a request (`$/progress`): progress, total, message.
pub type ProgressFn = std::sync::Arc<dyn Fn(f64, Option<f64>, Option<String>) + Send + Sync>;
