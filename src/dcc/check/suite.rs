//! The running suite: the connection under test, the rows so far, and the calls every check makes.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::CheckReport;
use super::report::CheckRow;
use crate::call::CallContext;
use crate::dcc::types::*;
use crate::dcc::{DccErrorCode, DccFailure, DccHub};

/// A run against one connection: what it advertised, and the rows recorded so far.
pub(super) struct Suite<'a> {
    pub(super) hub: &'a DccHub,
    pub(super) dcc: Option<&'a str>,
    pub(super) timeout: Duration,
    pub(super) methods: Vec<String>,
    pub(super) report: CheckReport,
}

pub(super) type Outcome = Result<String, String>;

pub(super) fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

/// A failure's code as the adapter's author knows it: the bridge's wire name (`SCENE_ERROR`) for a
/// DccErrorCode, stagecraft's own name (`no_dcc`) otherwise.
pub(super) fn wire_name(failure: &DccFailure) -> &'static str {
    match failure.dcc_code() {
        Some(code) => code.wire_name(),
        None => failure.code.as_str(),
    }
}

impl Suite<'_> {
    pub(super) fn has(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    pub(super) fn record(&mut self, check: &str, outcome: Outcome) {
        let (passed, detail) = match outcome {
            Ok(d) => (Some(true), d),
            Err(d) => (Some(false), d),
        };
        self.report.rows.push(CheckRow {
            check: check.into(),
            passed,
            detail,
        });
    }

    pub(super) fn skip(&mut self, check: &str, why: &str) {
        self.report.rows.push(CheckRow {
            check: check.into(),
            passed: None,
            detail: why.into(),
        });
    }

    pub(super) async fn raw(&self, method: &str, params: Value) -> Result<Value, DccFailure> {
        let call = CallContext::new(self.timeout);
        self.hub.call(self.dcc, method, params, &call).await
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, String> {
        let value = self
            .raw(method, params)
            .await
            .map_err(|e| format!("{method}: {} {}", wire_name(&e), e.message))?;
        serde_json::from_value(value).map_err(|e| format!("{method}: wrong result type: {e}"))
    }

    /// Expects an error with one of `codes`.
    pub(super) async fn expect_error(
        &self,
        method: &str,
        params: Value,
        codes: &[DccErrorCode],
    ) -> Result<(), String> {
        let expected = || {
            codes
                .iter()
                .map(|c| c.wire_name())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        match self.raw(method, params).await {
            Ok(v) => fail(format!(
                "{method} should fail ({}), but answered {v}",
                expected()
            )),
            Err(e) if e.dcc_code().is_some_and(|c| codes.contains(&c)) => Ok(()),
            Err(e) => fail(format!(
                "{method} failed with {} ({}); expected {}",
                wire_name(&e),
                e.message,
                expected()
            )),
        }
    }

    pub(super) async fn transform(&self, name: &str) -> Result<ObjectTransform, String> {
        self.get("transform.get_transform", json!({"object_name": name}))
            .await
    }
}
