//! The `Backbone` trait: one motion model behind the MMCP server and the in-process backend.
//!
//! PLACEHOLDER from branch `motion-client`: only the trait shape the client needs, no model. The
//! `motion-server` branch owns this file; its version replaces this one on merge.

use std::sync::Arc;

use super::take::Take;
use super::wire::{GenerateRequest, MmcpError, ModelSpec};

/// One model. `generate` receives a request that passed the generic checks and returns the motion on
/// the request skeleton, or an MMCP error (status + code) to pass through unchanged.
pub trait Backbone: Send + Sync {
    fn capabilities(&self) -> ModelSpec;
    fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError>;
}

/// The built-in models (the procedural one and `null`); empty in this placeholder.
pub fn builtin_backbones() -> Vec<Arc<dyn Backbone>> {
    Vec::new()
}
