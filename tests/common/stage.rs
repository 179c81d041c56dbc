//! The built-in `stage` DCC driven through `DccHub::call`, as the dispatcher drives it.

use std::time::Duration;

use serde_json::Value;
use stagecraft::call::CallContext;
use stagecraft::config::Config;
use stagecraft::dcc::{DccFailure, DccHub};
use tokio_util::sync::CancellationToken;

/// A hub with no config: the stage DCC alone, the default connection.
pub fn hub() -> DccHub {
    DccHub::new(&Config::default(), CancellationToken::new()).expect("stage hub")
}

/// Deadline of one stage call (renders of contact sheets are the slowest).
pub fn context() -> CallContext {
    CallContext::new(Duration::from_secs(60))
}

pub async fn call(hub: &DccHub, method: &str, params: Value) -> Result<Value, DccFailure> {
    hub.call(None, method, params, &context()).await
}

/// A call that must succeed.
pub async fn ok(hub: &DccHub, method: &str, params: Value) -> Value {
    match call(hub, method, params.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {params} failed: {e:?}"),
    }
}

/// A call that must fail: its code.
pub async fn err(hub: &DccHub, method: &str, params: Value) -> String {
    match call(hub, method, params.clone()).await {
        Ok(v) => panic!("{method} {params} should fail, got {v}"),
        Err(e) => e.code.to_string(),
    }
}
