//! `stagecraft doctor`: checks the config, the skills, the MCP clients' entries, each motion backend
//! and each DCC connection, into a [`DoctorReport`] that prints one line per thing (and a `fix:`
//! line under each failure).
//!
//! It sits beside `mcp` above the dispatcher (docs/architecture.md#layers): it builds the same
//! `Dispatcher` that `serve` builds, so what it reports is what the server would see.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::call::CallContext;
use crate::config::Config;
use crate::dcc::{ConnectionReport, ConnectionState};
use crate::dispatch::{self, DispatchError, Dispatcher};
use crate::motion::BackendListing;
use crate::setup::ClientCheck;
use crate::skills::{Diagnostic, Registry, SkillSources};

/// How long the ping that wakes each DCC connection may take (an embedded DCC starts on it).
const DCC_WAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `list_connections` waits for each connection's handshake.
const DCC_LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `stagecraft doctor` found; `Display` is the report it prints.
#[derive(Debug, Clone)]
pub struct DoctorReport {
    /// The config file in use (`None`: the built-in defaults).
    pub config: Option<PathBuf>,
    pub skills: SkillsCheck,
    /// Each installed MCP client's stagecraft entry.
    pub clients: Vec<ClientCheck>,
    pub backends: Vec<BackendListing>,
    pub dccs: Vec<DccCheck>,
}

#[derive(Debug, Clone)]
pub struct SkillsCheck {
    pub skills: usize,
    /// Tools loaded, hidden ones included.
    pub tools: usize,
    pub hidden: usize,
    pub allow_scripts: bool,
    pub problems: Vec<Diagnostic>,
}

/// One DCC connection as `list_dccs` reports it, and the `token_file` of its `[[dcc]]` entry
/// (which decides the fix for a connection that is down).
#[derive(Debug, Clone)]
pub struct DccCheck {
    pub connection: ConnectionReport,
    pub token_file: Option<PathBuf>,
}

impl DccCheck {
    /// What to do about this connection; `None` when it is up.
    pub fn fix(&self) -> Option<String> {
        if self.connection.state == ConnectionState::Connected {
            return None;
        }
        Some(dcc_fix(self.error(), self.token_file.as_deref()))
    }

    fn error(&self) -> &str {
        self.connection.last_error.as_deref().unwrap_or("no answer")
    }
}

impl DoctorReport {
    /// Runs every check. Fails only when the dispatcher cannot be built from `config`.
    pub async fn run(config: Config, skill_sources: &SkillSources) -> Result<Self, DispatchError> {
        let registry = Registry::load(skill_sources, dispatch::binding_rules());
        let skills = SkillsCheck {
            skills: registry.skills.len(),
            tools: registry.tools.len() + registry.hidden.len(),
            hidden: registry.hidden.len(),
            allow_scripts: config.skills.allow_scripts,
            problems: registry.diagnostics,
        };
        let clients = crate::setup::check_clients();
        let source = config.source.clone();
        let token_files: Vec<(String, Option<PathBuf>)> = config
            .dcc
            .iter()
            .map(|d| (d.name.clone(), d.token_file.clone()))
            .collect();

        let shutdown = CancellationToken::new();
        let dispatcher = Dispatcher::new(Arc::new(config), shutdown.clone())?;
        let backends = dispatcher.motion.list_models(true, false).await.backends;
        // A ping makes every connection handshake (embedded DCCs are started), so the report is live.
        for name in dispatcher.dccs.names() {
            let call = CallContext::new(DCC_WAKE_TIMEOUT);
            let _ = dispatcher
                .dccs
                .call(Some(&name), "dcc.ping", json!({}), &call)
                .await;
        }
        let dccs = dispatcher
            .dccs
            .list_connections(DCC_LIST_TIMEOUT)
            .await
            .into_iter()
            .map(|connection| DccCheck {
                token_file: token_files
                    .iter()
                    .find(|(name, _)| *name == connection.name)
                    .and_then(|(_, file)| file.clone()),
                connection,
            })
            .collect();
        dispatcher.shutdown().await;
        shutdown.cancel();
        Ok(Self {
            config: source,
            skills,
            clients,
            backends,
            dccs,
        })
    }

    /// True when nothing failed: no skill problem, no client entry starting a missing program,
    /// every backend listed its models, every DCC connected.
    pub fn passed(&self) -> bool {
        self.skills.problems.is_empty()
            && self.clients.iter().all(ClientCheck::passed)
            && self.backends.iter().all(|b| b.error.is_none())
            && self
                .dccs
                .iter()
                .all(|d| d.connection.state == ConnectionState::Connected)
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config {
            Some(p) => writeln!(f, "config   {} (ok)", p.display())?,
            None => writeln!(f, "config   none found: built-in defaults")?,
        }
        let s = &self.skills;
        writeln!(
            f,
            "skills   {} skills, {} tools ({} hidden: allow_scripts = {}), {} problems",
            s.skills,
            s.tools,
            s.hidden,
            s.allow_scripts,
            s.problems.len()
        )?;
        for d in &s.problems {
            writeln!(f, "  {d}")?;
        }
        for client in &self.clients {
            write!(f, "{client}")?;
        }
        for backend in &self.backends {
            write_backend(f, backend)?;
        }
        for dcc in &self.dccs {
            write_dcc(f, dcc)?;
        }
        Ok(())
    }
}

fn write_backend(f: &mut fmt::Formatter<'_>, backend: &BackendListing) -> fmt::Result {
    let name = &backend.name;
    let place = backend.url.as_deref().unwrap_or("in process");
    match &backend.error {
        None => {
            let models: Vec<String> = backend
                .models
                .iter()
                .map(|m| {
                    format!(
                        "{} ({} joints, {} fps)",
                        m["id"].as_str().unwrap_or("?"),
                        m["joints"].as_array().map_or(0, Vec::len),
                        m["fps"]
                    )
                })
                .collect();
            writeln!(f, "motion   {name} [{place}]: ok: {}", models.join(", "))
        }
        Some(error) => writeln!(f, "motion   {name} [{place}]: FAILED: {}", error.message),
    }
}

fn write_dcc(f: &mut fmt::Formatter<'_>, dcc: &DccCheck) -> fmt::Result {
    let conn = &dcc.connection;
    let endpoint = conn.endpoint.as_deref().unwrap_or("-");
    match dcc.fix() {
        None => {
            let what = match &conn.info {
                Some(info) => format!("{} {}", info.dcc_type, info.version),
                None => "unknown DCC".into(),
            };
            writeln!(
                f,
                "dcc      {} [{} {endpoint}]: ok: {what}, {} methods{}",
                conn.name,
                conn.bridge,
                conn.methods.len(),
                if conn.default { " (default)" } else { "" }
            )
        }
        Some(fix) => {
            writeln!(
                f,
                "dcc      {} [{} {endpoint}]: {}: {}",
                conn.name,
                conn.bridge,
                conn.state.as_str().to_uppercase(),
                dcc.error()
            )?;
            writeln!(f, "  fix: {fix}")
        }
    }
}

/// What to do about a DCC connection that failed, from its error.
fn dcc_fix(error: &str, token_file: Option<&Path>) -> String {
    // The code is `permission_denied` in a failure's text, and the bridge's own words name the token.
    if error.contains("permission_denied") || error.contains("token") {
        return match token_file {
            Some(file) => format!(
                "the bridge has another token: restart Blender so that the add-on reads {}, or run `stagecraft setup` again",
                file.display()
            ),
            None => {
                "give stagecraft and the adapter the same token (token_env or token_file)".into()
            }
        };
    }
    match token_file {
        Some(_) => "start Blender: the stagecraft extension that `stagecraft setup` installed starts the bridge \
             (or press Start in the 3D view's N panel > stagecraft); no extension: run `stagecraft setup`"
            .into(),
        None => "start the DCC with its stagecraft adapter listening at that endpoint".into(),
    }
}
