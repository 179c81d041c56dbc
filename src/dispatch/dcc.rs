//! DCC tools: every bridge.md method through the adapter traits, `list_dccs`, and script tools.

use std::path::Path;

use serde_json::Value;

use super::{CallContext, Dispatcher, ToolError, ToolOutput};
use crate::skills::ToolSpec;

pub(super) async fn list_connections(_dispatcher: &Dispatcher) -> Result<ToolOutput, ToolError> {
    Err(ToolError::not_implemented(
        "list_dccs",
        "dcc.list_connections",
    ))
}

pub(super) async fn call_method(
    _dispatcher: &Dispatcher,
    tool: &ToolSpec,
    method: &str,
    _args: Value,
    _ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    Err(ToolError::not_implemented(&tool.name, method))
}

pub(super) async fn run_script(
    _dispatcher: &Dispatcher,
    tool: &ToolSpec,
    _path: &Path,
    _language: &str,
    _args: Value,
    _ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    Err(ToolError::not_implemented(&tool.name, "script.execute"))
}
