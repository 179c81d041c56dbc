//! Motion tools: list_motion_models, generate_motion, apply_motion, preview_motion, save_motion.

use serde_json::Value;

use super::{CallContext, Dispatcher, ToolError, ToolOutput};
use crate::skills::ToolSpec;

pub(super) async fn call(
    _dispatcher: &Dispatcher,
    tool: &ToolSpec,
    method: &str,
    _args: Value,
    _ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    Err(ToolError::not_implemented(&tool.name, method))
}
