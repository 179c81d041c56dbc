//! Motion: the MMCP client and server sides, glTF takes, and the built-in procedural model.
//!
//! [`MotionHub`] is what the dispatcher talks to: the configured backends (HTTP, or the built-in
//! backbones in process), the take store, and the generate → decode → store path. It knows nothing
//! about DCCs: the dispatcher fetches a rig skeleton and applies takes (docs/architecture.md#layers).
//!
//! - `hub`: backends, model choice, agent arguments → MMCP request, generate, store.
//! - `error`: [`MotionError`], with the code, hint and details the agent sees.
//! - `export`: a take as a summary, as `animation.apply_motion` params, as a file.
//! - `cli`: `stagecraft generate` and `stagecraft motion-server`.
//! - [`wire`]: MMCP 1.4 types; [`client`]: the HTTP client; [`gltf`]: decode/encode takes;
//!   [`bvh`]: takes as BVH files and back;
//!   [`take`]: the shared motion type; [`store`]: takes in memory; [`preview`]: contact sheets;
//!   [`viewer`]: joint positions for the take viewer.
//! - [`backbone`]: the server SDK (`Backbone` trait, request checks); [`server`]: its HTTP face;
//!   [`procedural`]: the built-in model.

pub mod backbone;
pub mod bvh;
mod cli;
pub mod client;
mod error;
mod export;
pub mod gltf;
mod hub;
pub mod preview;
pub mod procedural;
pub mod retarget;
pub mod server;
pub mod store;
pub mod take;
pub mod viewer;
pub mod wire;

pub use cli::{GenerateOptions, generate_cli, serve_builtin};
pub use error::MotionError;
pub use export::{millis, save_take, take_summary, trajectory_summary};
pub use hub::{
    Backend, BackendKind, BackendListing, DefaultModel, GenerateArgs, Generated, ListingError,
    ModelChoice, ModelListing, MotionHub,
};

/// Name of the in-process backend in listings and `--backend`.
pub const BUILTIN_BACKEND: &str = "builtin";
/// Duration when neither `seconds` nor segment durations say.
pub(crate) const DEFAULT_SECONDS: f64 = 4.0;
