//! SKILL.md discovery, frontmatter parsing, validation, diagnostics, hot reload -> ToolRegistry.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

/// What a tool runs: an adapter method / built-in, or a script inside the DCC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    Call(String),
    Script { path: PathBuf, language: String },
}

/// One loaded tool, ready to list and dispatch.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// The input schema as listed (with the `dcc` property added for DCC tools).
    pub input_schema: Arc<Map<String, Value>>,
    pub output_schema: Option<Arc<Map<String, Value>>>,
    pub binding: Binding,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
    pub timeout_seconds: u64,
    /// The skill that declared the tool.
    pub skill: String,
    /// DccCapabilities the DCC must report for this tool to work.
    pub requires: Vec<String>,
}
