//! DCC tools: every bridge.md method through the adapter traits, `list_dccs`, and script tools.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Dispatcher, ImageOut, ToolError, ToolErrorCode, ToolOutput};
use crate::call::CallContext;
use crate::dcc::{DccErrorCode, DccFailure, DccFailureCode};
use crate::skills::ToolSpec;

/// How long `list_dccs` waits for each connection's handshake.
const LIST_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn list_connections(dispatcher: &Dispatcher) -> Result<ToolOutput, ToolError> {
    let reports = dispatcher.dccs.list_connections(LIST_PROBE_TIMEOUT).await;
    let default = reports.first().map(|r| r.name.clone());
    Ok(ToolOutput::new(json!({
        "default": default,
        "connections": reports,
    })))
}

pub(super) async fn call_method(
    dispatcher: &Dispatcher,
    tool: &ToolSpec,
    method: &str,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    let (dcc, params) = split_dcc(args)?;
    if method == "script.execute" && !dispatcher.config.skills.allow_scripts {
        return Err(scripts_disabled(&tool.name));
    }
    // The bridge call is the tool call: same deadline (resolved by `Dispatcher::deadline`), same
    // cancellation, and the adapter's `$/progress` forwarded to the client.
    let result = dispatcher
        .dccs
        .call(dcc.as_deref(), method, Value::Object(params), ctx)
        .await
        .map_err(|f| failure_to_tool_error(dispatcher, f, dcc.as_deref(), method))?;
    if method == "script.execute" {
        script_failed(&tool.name, None, &result)?;
    }
    Ok(output(method, result))
}

pub(super) async fn run_script(
    dispatcher: &Dispatcher,
    tool: &ToolSpec,
    path: &Path,
    language: &str,
    args: Value,
    ctx: &CallContext,
) -> Result<ToolOutput, ToolError> {
    if !dispatcher.config.skills.allow_scripts {
        return Err(scripts_disabled(&tool.name));
    }
    let (dcc, args) = split_dcc(args)?;
    let path = absolute(path);
    let params = json!({
        "language": language,
        "path": path.display().to_string(),
        "args": args,
    });
    let result = dispatcher
        .dccs
        .call(dcc.as_deref(), "script.execute", params, ctx)
        .await
        .map_err(|f| failure_to_tool_error(dispatcher, f, dcc.as_deref(), "script.execute"))?;
    script_failed(&tool.name, Some(&path), &result)?;
    Ok(output("script.execute", result))
}

/// A script that ran but failed (`success: false`) is a tool error, with its output for the agent
/// to read: for script-bound tools and for `execute_script` alike.
fn script_failed(tool: &str, script: Option<&Path>, result: &Value) -> Result<(), ToolError> {
    if result.get("success") != Some(&Value::Bool(false)) {
        return Ok(());
    }
    let message = result
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("the script failed")
        .to_string();
    Err(ToolError::new(DccErrorCode::ScriptError, message)
        .with_hint("Read details.result.output and details.result.error, fix the script or its arguments, and call again.")
        .with_details(json!({"tool": tool, "script": script, "result": result})))
}

fn scripts_disabled(tool: &str) -> ToolError {
    ToolError::new(
        ToolErrorCode::ScriptsDisabled,
        format!("`{tool}` runs a script inside the DCC, and scripts are disabled"),
    )
    .with_hint("Set `allow_scripts = true` under [skills] in stagecraft.toml if you trust the scripts, then restart.")
    .with_details(json!({"tool": tool}))
}

/// Takes the optional `dcc` argument out of the tool arguments; the rest are the method params.
fn split_dcc(args: Value) -> Result<(Option<String>, Map<String, Value>), ToolError> {
    let mut map = match args {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(ToolError::new(
                ToolErrorCode::InvalidArguments,
                format!("arguments must be an object, got {other}"),
            ));
        }
    };
    let dcc = match map.remove("dcc") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(ToolError::new(
                ToolErrorCode::InvalidArguments,
                format!("`dcc` must be a connection name (a string), got {other}"),
            ));
        }
    };
    Ok((dcc, map))
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Structured content must be an object: arrays and scalars go under `result`. A viewport capture
/// becomes MCP image content, with its metadata as the structured part.
fn output(method: &str, result: Value) -> ToolOutput {
    if method == "render.capture_viewport"
        && let Value::Object(mut map) = result
    {
        let data = map
            .remove("data_b64")
            .and_then(|d| d.as_str().map(str::to_string));
        let format = map
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("png")
            .to_ascii_lowercase();
        let mut out = ToolOutput::new(Value::Object(map));
        if let Some(data) = data {
            let mime = if format == "jpg" {
                "jpeg".to_string()
            } else {
                format
            };
            out = out.with_image(ImageOut {
                data_b64: data,
                mime_type: format!("image/{mime}"),
            });
        }
        return out;
    }
    match result {
        Value::Object(_) => ToolOutput::new(result),
        other => ToolOutput::new(json!({"result": other})),
    }
}

fn hint_for(code: DccFailureCode, dcc: &str, method: &str) -> String {
    let code = match code {
        DccFailureCode::Dcc(code) => code,
        DccFailureCode::NoDcc => {
            return "Use one of the connection names in details.available (see `list_dccs`), or \
                    omit `dcc` to use the default connection."
                .into();
        }
        DccFailureCode::Cancelled => return "Call again if the result is still wanted.".into(),
    };
    match code {
        // The adapter refuses scripts unless its user allowed them; the token is not the problem.
        DccErrorCode::PermissionDenied if method == "script.execute" => format!(
            "The DCC {dcc:?} does not allow scripts. Ask the user to start its adapter with \
             --allow-scripts (in Blender: the stagecraft panel's Allow scripts switch) if they trust \
             this agent with code."
        ),
        DccErrorCode::PermissionDenied => "The adapter refused the token. Set the environment \
            variable named by `token_env` in stagecraft.toml to the adapter's token and restart \
            stagecraft."
            .into(),
        DccErrorCode::ConnectionFailed => format!(
            "The DCC connection {dcc:?} is down. Start the DCC with its stagecraft adapter (or check the \
             [[dcc]] endpoint and command), then call again: stagecraft reconnects on the next call. \
             `list_dccs` shows each connection's state."
        ),
        DccErrorCode::Timeout => "The DCC is alive but did not finish in time; the request was \
            cancelled. Try a smaller request, or call again once the DCC is idle."
            .into(),
        DccErrorCode::NotResponding => format!(
            "The DCC {dcc:?} does not answer even a ping; it may be frozen. Check it, or restart it."
        ),
        DccErrorCode::Unsupported => "This DCC cannot do that. `list_dccs` lists what each \
            connection supports; use another tool or another DCC."
            .into(),
        DccErrorCode::InvalidInput => "Fix the argument the message names and call again.".into(),
        DccErrorCode::SceneError => "Check object names and state with `list_objects` or \
            `get_hierarchy`, then call again."
            .into(),
        DccErrorCode::ScriptError => {
            "The script raised an error; read the message and details, fix \
            it, and call again."
                .into()
        }
        DccErrorCode::Internal => "The DCC adapter failed unexpectedly; its log has the cause. \
            Calling again may work."
            .into(),
    }
}

fn failure_to_tool_error(
    dispatcher: &Dispatcher,
    failure: DccFailure,
    dcc: Option<&str>,
    method: &str,
) -> ToolError {
    if failure.code == DccFailureCode::Cancelled {
        return ToolError::cancelled();
    }
    // Name the connection the call really went to, also when the agent left `dcc` out.
    let default = dispatcher.dccs.names().into_iter().next();
    let dcc = dcc.or(default.as_deref());
    let dcc_name = dcc.unwrap_or("default");
    let hint = hint_for(failure.code, dcc_name, method);
    ToolError::new(failure.code, failure.message)
        .with_hint(hint)
        .with_details(json!({
            "dcc": dcc,
            "method": method,
            "recoverable": failure.recoverable,
            "details": failure.details,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_dcc_takes_the_connection_name_out() {
        let (dcc, rest) = split_dcc(json!({"dcc": "blender", "object_name": "Cube"})).unwrap();
        assert_eq!(dcc.as_deref(), Some("blender"));
        assert_eq!(rest.get("object_name"), Some(&json!("Cube")));
        assert!(!rest.contains_key("dcc"));
        assert!(split_dcc(json!({"dcc": 3})).is_err());
    }

    #[test]
    fn arrays_are_wrapped_and_captures_become_images() {
        let out = output("scene.get_selection", json!(["a"]));
        assert_eq!(out.structured, json!({"result": ["a"]}));
        let out = output(
            "render.capture_viewport",
            json!({"data_b64": "AAAA", "width": 1, "height": 1, "format": "png"}),
        );
        assert_eq!(out.images.len(), 1);
        assert_eq!(out.images[0].mime_type, "image/png");
        assert!(out.structured.get("data_b64").is_none());
    }
}
