//! [`ToolError`]: how every failure reaches the agent, with one code vocabulary in snake_case
//! (docs/architecture.md#errors).

use serde_json::{Value, json};

use crate::dcc::{DccErrorCode, DccFailureCode};

/// The `code` of a failed tool call. Agents see every code in snake_case: stagecraft's own, the
/// DCC's (`connection_failed`, which adapters send as `CONNECTION_FAILED` on the bridge) and the
/// motion server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolErrorCode {
    InvalidArguments,
    InvalidConfig,
    NoDcc,
    NoBackend,
    BackendUnreachable,
    BadResponse,
    Cancelled,
    ScriptsDisabled,
    UnknownTake,
    /// The tool's or the motion backend's deadline passed (a DCC's own is `Dcc(Timeout)`, also
    /// `timeout` to the agent).
    Timeout,
    InternalError,
    NotImplemented,
    NotHumanoid,
    IoError,
    /// A DCC code from an adapter or the bridge (docs/bridge-protocol.md#errors); stagecraft uses
    /// `permission_denied` and `unsupported` too when it refuses a DCC call itself.
    Dcc(DccErrorCode),
    /// An MMCP code from a motion server, passed through as sent (docs/mmcp.md#errors): servers may
    /// send codes this build does not know.
    Mmcp(String),
}

/// stagecraft's own codes, for reading a name back (`from_name`).
const OWN_CODES: [ToolErrorCode; 14] = [
    ToolErrorCode::InvalidArguments,
    ToolErrorCode::InvalidConfig,
    ToolErrorCode::NoDcc,
    ToolErrorCode::NoBackend,
    ToolErrorCode::BackendUnreachable,
    ToolErrorCode::BadResponse,
    ToolErrorCode::Cancelled,
    ToolErrorCode::ScriptsDisabled,
    ToolErrorCode::UnknownTake,
    ToolErrorCode::Timeout,
    ToolErrorCode::InternalError,
    ToolErrorCode::NotImplemented,
    ToolErrorCode::NotHumanoid,
    ToolErrorCode::IoError,
];

impl ToolErrorCode {
    pub fn as_str(&self) -> &str {
        match self {
            ToolErrorCode::InvalidArguments => "invalid_arguments",
            ToolErrorCode::InvalidConfig => "invalid_config",
            ToolErrorCode::NoDcc => "no_dcc",
            ToolErrorCode::NoBackend => "no_backend",
            ToolErrorCode::BackendUnreachable => "backend_unreachable",
            ToolErrorCode::BadResponse => "bad_response",
            ToolErrorCode::Cancelled => "cancelled",
            ToolErrorCode::ScriptsDisabled => "scripts_disabled",
            ToolErrorCode::UnknownTake => "unknown_take",
            ToolErrorCode::Timeout => "timeout",
            ToolErrorCode::InternalError => "internal_error",
            ToolErrorCode::NotImplemented => "not_implemented",
            ToolErrorCode::NotHumanoid => "not_humanoid",
            ToolErrorCode::IoError => "io_error",
            ToolErrorCode::Dcc(code) => code.as_str(),
            ToolErrorCode::Mmcp(code) => code,
        }
    }

    /// A motion error's code (`MotionError::code`): one of stagecraft's own, or else an MMCP code
    /// passed through.
    pub fn from_name(name: &str) -> Self {
        OWN_CODES
            .into_iter()
            .find(|code| code.as_str() == name)
            .unwrap_or_else(|| ToolErrorCode::Mmcp(name.to_string()))
    }
}

impl std::fmt::Display for ToolErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and callers compare a code with the name agents see.
impl PartialEq<&str> for ToolErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<DccErrorCode> for ToolErrorCode {
    fn from(code: DccErrorCode) -> Self {
        ToolErrorCode::Dcc(code)
    }
}

impl From<DccFailureCode> for ToolErrorCode {
    fn from(code: DccFailureCode) -> Self {
        match code {
            DccFailureCode::Dcc(code) => ToolErrorCode::Dcc(code),
            DccFailureCode::NoDcc => ToolErrorCode::NoDcc,
            DccFailureCode::Cancelled => ToolErrorCode::Cancelled,
        }
    }
}

/// A failure reported to the agent as a tool result with `isError: true`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    pub code: ToolErrorCode,
    pub message: String,
    pub hint: Option<String>,
    pub details: Value,
}

impl ToolError {
    pub fn new(code: impl Into<ToolErrorCode>, message: impl Into<String>) -> Self {
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
            ToolErrorCode::NotImplemented,
            format!(
                "`{tool}` ({method}) is declared but not implemented in this build of stagecraft"
            ),
        )
        .with_hint("Use another tool for now, or update stagecraft.")
        .with_details(json!({"tool": tool, "method": method}))
    }

    pub fn cancelled() -> Self {
        Self::new(
            ToolErrorCode::Cancelled,
            "the call was cancelled by the client",
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_unknown_ones_pass_through() {
        for code in OWN_CODES {
            assert_eq!(ToolErrorCode::from_name(code.as_str()), code);
        }
        let mmcp = ToolErrorCode::from_name("frame_out_of_range");
        assert_eq!(mmcp, ToolErrorCode::Mmcp("frame_out_of_range".into()));
        assert_eq!(mmcp.as_str(), "frame_out_of_range");
        let dcc = ToolError::new(DccErrorCode::ConnectionFailed, "down");
        assert_eq!(dcc.to_json()["code"], "connection_failed");
    }
}
