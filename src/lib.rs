//! stagecraft: an MCP server that lets an agent generate character motion with MMCP motion models,
//! put it on a rig inside a DCC, and drive the DCC's scene. Every tool is declared in a SKILL.md.
//!
//! Imports run one way: `mcp → dispatch → {skills, motion, dcc}`, `dcc → bridge`.
//!
//! - [`config`]: `stagecraft.toml` + environment + CLI flags.
//! - [`mcp`]: the rmcp server handler, stdio and Streamable HTTP transports, progress and cancellation.
//! - [`skills`]: SKILL.md discovery, strict parsing with diagnostics, hot reload, the tool registry.
//! - [`doctor`]: `stagecraft doctor`'s checks as a typed report.
//! - [`dispatch`]: a validated tool call to its binding (adapter method, built-in, or script).
//! - [`motion`]: the MMCP client and server sides, glTF takes, the built-in procedural model.
//! - [`dcc`]: adapter traits and data types, `RemoteAdapter`, the built-in `stage` DCC.
//! - [`bridge`]: the four bridge transports, JSON-RPC framing and the handshake.
//! - [`call`]: one call's deadline, cancellation, progress and id, passed from `mcp` down to `bridge`.
//! - [`gltf_buffers`]: GLB, data URIs and accessors for glTF takes and the stage DCC's scenes (a leaf).
//! - [`skeleton`]: the MMCP skeleton both `motion` and `dcc` carry (a leaf: it imports neither).

pub mod bridge;
pub mod call;
pub mod config;
pub mod dcc;
pub mod dispatch;
pub mod doctor;
pub mod gltf_buffers;
pub mod mcp;
pub mod motion;
pub mod setup;
pub mod skeleton;
pub mod skills;
