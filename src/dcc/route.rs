//! A bridge method name + JSON params → the typed trait method → JSON result.
//!
//! Generated from the method table (`bridge_methods!` in `adapter.rs`), the one place that says
//! which trait serves which method. Parameters are deserialised
//! into the method's typed struct (a wrong type is `INVALID_INPUT` naming the field), so adapters
//! only ever see well-typed input.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::DccFailure;
use super::adapter::{DccAdapter, bridge_methods};
use super::types::*;
use crate::call::CallContext;

fn params<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, DccFailure> {
    // `null` and a missing object mean "no parameters".
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    serde_json::from_value(params)
        .map_err(|e| DccFailure::invalid(format!("{method}: invalid params: {e}")))
}

fn out<T: Serialize>(value: T) -> Result<Value, DccFailure> {
    serde_json::to_value(value)
        .map_err(|e| DccFailure::internal(format!("cannot encode result: {e}")))
}

fn missing(method: &str) -> DccFailure {
    DccFailure::unsupported(method)
}

macro_rules! route_table {
    ($($area_trait:ident $accessor:ident $area:literal {
        $($method:ident($($params:ty)?) -> $result:ty;)*
    })*) => {
        /// Whether `adapter` offers the trait that serves `method` (see `route`).
        pub fn has_trait_for(adapter: &dyn DccAdapter, method: &str) -> bool {
            match method.split_once('.').map(|(area, _)| area) {
                Some("dcc") => true,
                $(Some($area) => adapter.$accessor().is_some(),)*
                _ => false,
            }
        }

        /// Calls `method` on `adapter`. Unknown methods, and methods of an area the adapter does
        /// not offer, are `UNSUPPORTED`.
        pub async fn route(
            adapter: &dyn DccAdapter,
            method: &str,
            p: Value,
            call: &CallContext,
        ) -> Result<Value, DccFailure> {
            match method {
                "dcc.hello" => out(adapter.hello(call).await?),
                "dcc.ping" => out(adapter.ping(call).await?),
                $($(concat!($area, ".", stringify!($method)) => {
                    let area = adapter.$accessor().ok_or_else(|| missing(method))?;
                    out(area.$method($(params::<$params>(method, p)?,)? call).await?)
                })*)*
                _ => Err(missing(method)),
            }
        }
    };
}

bridge_methods!(route_table);
