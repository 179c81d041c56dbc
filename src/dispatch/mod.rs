//! A tool call -> its binding (adapter method, built-in, or script) with validated arguments.
//!
//! The MCP layer validates arguments against the tool's schema and then hands the call here with a
//! [`CallContext`] that carries progress, cancellation and the deadline. Nothing in this module knows
//! MCP: results are [`ToolOutput`] and failures are [`ToolError`], which the MCP layer turns into
//! `isError: true` results with `{code, message, hint, details}` (DESIGN.md §7).

mod dcc;
mod motion;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::skills::{Binding, ToolSpec};

/// Built-in `call:` targets that are not bridge methods.
pub const BUILTIN_METHODS: &[&str] = &[
    "dcc.list_connections",
    "motion.list_models",
    "motion.generate",
    "motion.apply",
    "motion.preview",
    "motion.save",
];

/// True when `method` may appear after `call:` in a SKILL.md.
pub fn is_known_method(method: &str) -> bool {
    BUILTIN_METHODS.contains(&method) || crate::dcc::BRIDGE_METHODS.contains(&method)
}

/// True when a tool bound to `binding` talks to a DCC and so gets the optional `dcc` argument.
pub fn is_dcc_binding(binding: &Binding) -> bool {
    match binding {
        Binding::Script { .. } => true,
        Binding::Call(method) => crate::dcc::BRIDGE_METHODS.contains(&method.as_str()),
    }
}

/// A failure reported to the agent as a tool result with `isError: true`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    pub details: Value,
}

impl ToolError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            hint: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A shipped tool whose binding is not built yet: an honest failure, never a fake success.
    pub fn not_implemented(tool: &str, method: &str) -> Self {
        Self::new(
            "not_implemented",
            format!(
                "`{tool}` ({method}) is declared but not implemented in this build of stagecraft"
            ),
        )
        .with_hint("Use another tool for now, or update stagecraft.")
        .with_details(json!({"tool": tool, "method": method}))
    }

    pub fn cancelled() -> Self {
        Self::new("cancelled", "the call was cancelled by the client")
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
        })
    }
}

/// An image returned as MCP image content (base64, standard padding).
#[derive(Debug, Clone)]
pub struct ImageOut {
    pub data_b64: String,
    pub mime_type: String,
}

/// What a successful tool call returns: structured content, and images for tools that show something.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub structured: Value,
    pub images: Vec<ImageOut>,
}

impl ToolOutput {
    pub fn new(structured: Value) -> Self {
        Self {
            structured,
            images: Vec::new(),
        }
    }

    pub fn with_image(mut self, image: ImageOut) -> Self {
        self.images.push(image);
        self
    }
}

/// Receives progress of a long call; the MCP layer forwards it as `notifications/progress`
/// when the client asked for it, and drops it otherwise.
pub trait Progress: Send + Sync {
    fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>);
}

/// Progress that goes nowhere (CLI paths and clients that did not ask).
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _progress: f64, _total: Option<f64>, _message: Option<&str>) {}
}

/// Everything a binding needs besides its arguments.
#[derive(Clone)]
pub struct CallContext {
    pub progress: Arc<dyn Progress>,
    /// Cancelled when the client cancels the call or the server shuts down.
    pub cancel: CancellationToken,
    /// The tool's deadline (`timeout_seconds` of the SKILL.md tool).
    pub timeout: Duration,
    /// Unique per tool call; motion requests use it as their `Idempotency-Key`.
    pub call_id: String,
}

impl CallContext {
    pub fn new(timeout: Duration) -> Self {
        Self {
            progress: Arc::new(NoProgress),
            cancel: CancellationToken::new(),
            timeout,
            call_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Motion(#[from] crate::motion::MotionError),
    #[error(transparent)]
    Dcc(#[from] crate::dcc::DccError),
}

/// Routes validated tool calls to the motion backends and DCC connections.
pub struct Dispatcher {
    pub config: Arc<Config>,
    pub motion: Arc<crate::motion::MotionHub>,
    pub dccs: Arc<crate::dcc::DccHub>,
}

impl Dispatcher {
    /// Builds the motion hub and the DCC connections (connections open lazily, on first use).
    pub fn new(config: Arc<Config>, shutdown: CancellationToken) -> Result<Self, DispatchError> {
        let motion = Arc::new(crate::motion::MotionHub::new(&config)?);
        let dccs = Arc::new(crate::dcc::DccHub::new(&config, shutdown)?);
        Ok(Self {
            config,
            motion,
            dccs,
        })
    }

    /// Runs one call. Arguments have already been validated against the tool's input schema.
    pub async fn call(
        &self,
        tool: &ToolSpec,
        args: Value,
        ctx: CallContext,
    ) -> Result<ToolOutput, ToolError> {
        let cancel = ctx.cancel.clone();
        let work = async {
            match &tool.binding {
                Binding::Call(method) if method.starts_with("motion.") => {
                    motion::call(self, tool, method, args, &ctx).await
                }
                Binding::Call(method) if method == "dcc.list_connections" => {
                    dcc::list_connections(self).await
                }
                Binding::Call(method) => dcc::call_method(self, tool, method, args, &ctx).await,
                Binding::Script { path, language } => {
                    dcc::run_script(self, tool, path, language, args, &ctx).await
                }
            }
        };
        tokio::select! {
            result = work => result,
            _ = cancel.cancelled() => Err(ToolError::cancelled()),
        }
    }

    /// Closes DCC connections and ends embedded DCC processes.
    pub async fn shutdown(&self) {
        self.dccs.shutdown().await;
    }
}
