//! Retargeting: a take on one skeleton turned into a take on another humanoid skeleton, so that motion
//! from any model lands right on any rig (docs/retargeting.md).
//!
//! - [`roles`]: which joint of a skeleton plays which humanoid role (hips, thigh, forearm, ...), by
//!   naming convention and, when names say nothing, by topology and rest geometry.
//! - [`transfer`]: the rotations, root path and foot contacts carried over role by role.
//!
//! Everything here works in MMCP conventions (Y-up metres, local rotations from a world-aligned rest,
//! docs/mmcp.md), so it is DCC-agnostic: the dispatcher reads the rig with `animation.get_skeleton`
//! and hands the new take to `animation.apply_motion`.

pub mod roles;
mod transfer;

pub use roles::{Humanoid, Role, RoleError, Side, detect};
#[cfg(test)]
use transfer::rest_world;
pub use transfer::{Frame, Mapping, Options, Placement, RetargetError, TransferReport, map};

#[cfg(test)]
mod tests;
