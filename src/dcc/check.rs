//! `stagecraft adapter-check`: the bridge conformance suite.

use super::DccError;

/// Options of `stagecraft adapter-check`.
#[derive(Debug, Clone)]
pub struct AdapterCheckOptions {
    pub bridge: crate::config::BridgeKind,
    pub endpoint: Option<String>,
    /// `embedded`: the command line, program first.
    pub command: Vec<String>,
    pub token_env: Option<String>,
    pub timeout_seconds: u64,
}

pub async fn adapter_check(_options: AdapterCheckOptions) -> Result<bool, DccError> {
    Err(DccError::Config(
        "adapter-check is not implemented yet".into(),
    ))
}

pub async fn adapter_check_stage() -> bool {
    false
}
