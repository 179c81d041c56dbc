//! A tool call -> its binding (adapter method, built-in, or script) with validated arguments.
//!
//! The MCP layer validates arguments against the tool's schema and then hands the call here with a
//! [`CallContext`] that carries progress, cancellation and the deadline. Nothing in this module knows
//! MCP: results are [`ToolOutput`] and failures are [`ToolError`], which the MCP layer turns into
//! `isError: true` results with `{code, message, hint, details}` (docs/architecture.md#errors).

mod apply;
mod dcc;
mod error;
mod motion;
mod retarget;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::call::CallContext;
use crate::config::Config;
use crate::dcc::DccErrorCode;
use crate::skills::{Binding, ToolSpec};
pub use error::{ToolError, ToolErrorCode};

/// How long a cancelled binding may take to clean up (send `$/cancel`, delete a job).
pub const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Built-in `call:` targets that are not bridge methods.
pub const BUILTIN_METHODS: &[&str] = &[
    "dcc.list_connections",
    "motion.list_models",
    "motion.generate",
    "motion.apply",
    "motion.preview",
    "motion.save",
    "motion.map_rig",
];

/// Arguments that name a file on disk, per `call:` method: confined to `[files] roots` when set.
const PATH_ARGUMENTS: &[(&str, &str)] = &[
    ("scene.open_file", "file_path"),
    ("scene.save_file", "file_path"),
    ("scene.export_file", "file_path"),
    ("scene.import_file", "file_path"),
    ("render.render_scene", "output_path"),
    ("motion.save", "path"),
    ("motion.generate", "save_path"),
];

/// True when `method` may appear after `call:` in a SKILL.md. `dcc.hello` is the bridge handshake,
/// which the connection performs itself; a tool cannot call it.
pub fn is_known_method(method: &str) -> bool {
    method != "dcc.hello"
        && (BUILTIN_METHODS.contains(&method) || crate::dcc::BRIDGE_METHODS.contains(&method))
}

/// The binding rules of this dispatcher, for loading skills.
pub fn binding_rules() -> crate::skills::BindingRules {
    crate::skills::BindingRules {
        is_known_method,
        is_dcc_binding,
        capabilities: crate::dcc::types::DccCapabilities::FLAGS,
    }
}

/// The shipped skills and tools, loaded as `serve` loads them with no user paths (for embedding
/// stagecraft as a library, and for tests that dispatch the real tools).
pub fn shipped_registry(allow_scripts: bool) -> crate::skills::Registry {
    let sources = crate::skills::SkillSources {
        builtin: true,
        paths: Vec::new(),
        allow_scripts,
    };
    crate::skills::Registry::load(&sources, binding_rules())
}

/// True when a tool bound to `binding` talks to a DCC and so gets the optional `dcc` argument.
pub fn is_dcc_binding(binding: &Binding) -> bool {
    match binding {
        Binding::Script { .. } => true,
        Binding::Call(method) => crate::dcc::BRIDGE_METHODS.contains(&method.as_str()),
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

    /// The deadline of one call: the tool's own `timeout_seconds` when its SKILL.md sets one; for a
    /// DCC tool otherwise the `timeout_seconds` of the connection it goes to; else the default.
    pub fn deadline(&self, tool: &ToolSpec, args: &Value) -> Duration {
        let own = Duration::from_secs(tool.timeout_seconds);
        if tool.timeout_explicit || !is_dcc_binding(&tool.binding) {
            return own;
        }
        let dcc = args.get("dcc").and_then(Value::as_str);
        self.dccs.default_timeout(dcc).unwrap_or(own)
    }

    /// Runs one call. Arguments have already been validated against the tool's input schema.
    pub async fn call(
        &self,
        tool: &ToolSpec,
        args: Value,
        ctx: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        if let Binding::Call(method) = &tool.binding {
            check_paths(&self.config.files.roots, method, &args)?;
        }
        self.check_dcc_supports(tool, &args)?;
        let work = async {
            match &tool.binding {
                Binding::Call(method) if method.starts_with("motion.") => {
                    motion::call(self, tool, method, args, ctx).await
                }
                Binding::Call(method) if method == "dcc.list_connections" => {
                    dcc::list_connections(self).await
                }
                Binding::Call(method) => dcc::call_method(self, tool, method, args, ctx).await,
                Binding::Script { path, language } => {
                    dcc::run_script(self, tool, path, language, args, ctx).await
                }
            }
        };
        let mut work = std::pin::pin!(work);
        tokio::select! {
            result = &mut work => result,
            _ = ctx.cancel.cancelled() => {
                // Bindings watch the same token and clean up on it (a bridge sends `$/cancel`, a
                // motion job is deleted): let them, briefly, instead of dropping them mid-way.
                let _ = tokio::time::timeout(CANCEL_GRACE, &mut work).await;
                Err(ToolError::cancelled())
            }
        }
    }

    /// Refuses a DCC tool the connection cannot serve. A `call:` tool needs its one method, and the
    /// DCC's hello lists exactly which methods it has (docs/bridge-protocol.md#the-handshake-dcchello): a DCC that
    /// lists `scene.get_scene_info` serves `get_scene_info` whatever the skill's `requires` says about
    /// the skill as a whole. A `script:` tool can do anything, so the skill's `requires` applies.
    /// Before the DCC has said hello nothing is known, and the adapter answers for itself.
    fn check_dcc_supports(&self, tool: &ToolSpec, args: &Value) -> Result<(), ToolError> {
        // With scripts disabled, a script tool is refused as such (`scripts_disabled`), whatever
        // the DCC could do: that refusal tells the user what to change.
        let refused_anyway = tool.runs_scripts() && !self.config.skills.allow_scripts;
        if !is_dcc_binding(&tool.binding) || refused_anyway {
            return Ok(());
        }
        let dcc = args.get("dcc").and_then(Value::as_str);
        let hint = "Use another DCC connection (see list_dccs), or another tool.";
        match &tool.binding {
            Binding::Call(method) => {
                if self.dccs.supports(dcc, method) == Some(false) {
                    return Err(ToolError::new(
                        DccErrorCode::Unsupported,
                        format!(
                            "{} calls {method}, which this DCC does not implement",
                            tool.name
                        ),
                    )
                    .with_hint(hint)
                    .with_details(json!({"method": method, "dcc": dcc})));
                }
            }
            Binding::Script { .. } => {
                let missing = self.dccs.missing_capabilities(dcc, &tool.requires);
                if !missing.is_empty() {
                    return Err(ToolError::new(
                        DccErrorCode::Unsupported,
                        format!(
                            "{} needs the DCC capabilities {} that this DCC does not have",
                            tool.name,
                            missing.join(", ")
                        ),
                    )
                    .with_hint(hint)
                    .with_details(json!({"missing_capabilities": missing, "dcc": dcc})));
                }
            }
        }
        Ok(())
    }

    /// Closes DCC connections and ends embedded DCC processes.
    pub async fn shutdown(&self) {
        self.dccs.shutdown().await;
    }
}

/// Refuses file arguments outside the configured roots (no roots: no confinement). Paths must be
/// absolute, since a relative path would be resolved by the DCC against a directory we do not know.
fn check_paths(roots: &[std::path::PathBuf], method: &str, args: &Value) -> Result<(), ToolError> {
    if roots.is_empty() {
        return Ok(());
    }
    for (m, key) in PATH_ARGUMENTS {
        if *m != method {
            continue;
        }
        let Some(path) = args.get(*key).and_then(Value::as_str) else {
            continue;
        };
        let refuse = |why: &str| {
            ToolError::new(
                DccErrorCode::PermissionDenied,
                format!("`{key}` {path:?} {why}"),
            )
            .with_hint(format!(
                "Use an absolute path inside one of the allowed folders: {}",
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_details(json!({"argument": key, "path": path}))
        };
        let path = std::path::Path::new(path);
        if !path.is_absolute() {
            return Err(refuse("is not absolute"));
        }
        let resolved = resolve_existing_prefix(path).ok_or_else(|| refuse("cannot be resolved"))?;
        let inside = roots.iter().any(|root| {
            root.canonicalize()
                .map(|root| resolved.starts_with(root))
                .unwrap_or(false)
        });
        if !inside {
            return Err(refuse(
                "is outside the folders stagecraft may use ([files] roots)",
            ));
        }
    }
    Ok(())
}

/// Canonicalizes the longest existing ancestor (following symlinks) and appends the rest, refusing
/// `..` in the part that does not exist yet.
fn resolve_existing_prefix(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        let name = existing.file_name()?;
        if name == ".." {
            return None;
        }
        rest.push(name.to_os_string());
        existing = existing.parent()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_roots() {
        let root = tempfile::tempdir().expect("tempdir");
        let roots = vec![root.path().to_path_buf()];
        let inside = root.path().join("out/scene.glb");
        let ok = json!({"file_path": inside.to_str()});
        assert!(check_paths(&roots, "scene.save_file", &ok).is_ok());
        let err = check_paths(
            &roots,
            "scene.save_file",
            &json!({"file_path": "/etc/passwd"}),
        )
        .expect_err("outside");
        assert_eq!(err.code, "permission_denied");
        let sneaky = format!("{}/../escape.glb", root.path().display());
        assert!(check_paths(&roots, "motion.save", &json!({"path": sneaky})).is_err());
        assert!(check_paths(&roots, "motion.save", &json!({"path": "relative.glb"})).is_err());
        // Other methods and no roots: nothing checked.
        assert!(check_paths(&roots, "scene.list_objects", &json!({"file_path": "/etc"})).is_ok());
        assert!(check_paths(&[], "scene.save_file", &json!({"file_path": "/tmp/x"})).is_ok());
    }
}
