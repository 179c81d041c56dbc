//! Humanoid roles for any skeleton (docs/retargeting.md, "Roles").

use serde::Serialize;

use crate::motion::take::Skeleton;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

/// What a joint does in a humanoid. Chains (spine, neck, twist segments of a limb) give the same role to
/// several joints, ordered root to tip by the skeleton's hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Hips,
    /// Between the hips and the chest; any number of joints.
    Spine,
    /// The top of the spine, where the neck and the shoulders (or arms) attach.
    Chest,
    /// Between the chest and the head; any number of joints.
    Neck,
    Head,
    Shoulder(Side),
    UpperArm(Side),
    Forearm(Side),
    Hand(Side),
    Thigh(Side),
    Shin(Side),
    Foot(Side),
    Toe(Side),
}

/// A skeleton seen as a humanoid.
#[derive(Debug, Clone, PartialEq)]
pub struct Humanoid {
    /// Per joint of the skeleton (same indices): its role, if it has one.
    pub roles: Vec<Option<Role>>,
    /// The naming conventions recognised (`"mixamo"`, `"ue"`, `"rigify"`, `"soma"`, `"smpl"`, ...,
    /// `"topology"` when the roles came from the shape of the skeleton).
    pub conventions: Vec<&'static str>,
    /// Things the user may want to know ("no toes on the rig").
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoleError {
    /// Not a humanoid: names what could not be found (e.g. `["left leg (thigh, shin, foot)"]`).
    #[error("not a humanoid skeleton: no {}", missing.join(", no "))]
    NotHumanoid { missing: Vec<String> },
}

/// Maps every joint of `skeleton` to its humanoid role.
pub fn detect(skeleton: &Skeleton) -> Result<Humanoid, RoleError> {
    let _ = skeleton;
    Err(RoleError::NotHumanoid {
        missing: vec!["role detection yet".into()],
    })
}
