//! A skeleton as MMCP and the bridge both carry it (docs/mmcp.md#skeleton,
//! docs/bridge-protocol.md#data-types): joints parents first, each naming its parent, rest offsets along
//! world axes in metres, Y-up. A neutral leaf (it imports neither `motion` nor `dcc`): motion sends and
//! serves it in MMCP requests and capabilities, a DCC adapter answers `animation.get_skeleton` with it.
//! `motion::take::Skeleton` is the index-linked form a take is decoded into.
//!
//! Reading is lenient: optional fields have their documented defaults and unknown keys are ignored.
//! That is what a skeleton read from a DCC adapter (written by others) and from a server's capabilities
//! needs (docs/mmcp.md#capabilities: "unknown keys are ignored"). The strict reading an MMCP server owes
//! its clients (unknown keys refused with `422 schema_validation`) is not this type's job: the server
//! validates the raw request body before it becomes a typed request (docs/mmcp.md#server-checks, step 6,
//! `motion::backbone::schema`), so a strict twin of these types would only check the same thing twice.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// `coordinate_system` of every MMCP skeleton and capabilities document.
pub const COORDINATE_SYSTEM: &str = "right_handed_y_up";
/// `units` of every MMCP skeleton and capabilities document.
pub const UNITS: &str = "meters";
/// `[x, y, z, w]`: the rest rotation stagecraft always sends (docs/mmcp.md#skeleton).
pub const IDENTITY_ROTATION: [f64; 4] = [0.0, 0.0, 0.0, 1.0];

/// One joint: `parent` names an earlier joint (`None` for the root).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joint {
    pub name: String,
    pub parent: Option<String>,
    /// Offset from the parent along world axes at rest (the root: its world rest position), metres.
    pub rest_translation: [f64; 3],
    #[serde(default = "identity_rotation")]
    pub rest_rotation: [f64; 4],
    /// Echo-only label; the MMCP SDK writes `null`, so reading accepts it and writing omits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skeleton {
    pub joints: Vec<Joint>,
    #[serde(default = "coordinate_system")]
    pub coordinate_system: String,
    #[serde(default = "units")]
    pub units: String,
}

/// A topology fault of a skeleton (an MMCP server answers it with `400 invalid_skeleton`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SkeletonError(pub String);

impl Skeleton {
    /// A skeleton in the one coordinate system and unit MMCP knows.
    pub fn new(joints: Vec<Joint>) -> Self {
        Self {
            joints,
            coordinate_system: coordinate_system(),
            units: units(),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.joints.iter().map(|j| j.name.as_str())
    }

    /// Each joint's parent as an index into `joints`, after checking the rules of
    /// docs/mmcp.md#skeleton: at least one joint, unique non-empty names, parents listed first, exactly
    /// one root, finite rest values.
    pub fn parent_indices(&self) -> Result<Vec<Option<usize>>, SkeletonError> {
        if self.joints.is_empty() {
            return Err(SkeletonError("a skeleton needs at least one joint".into()));
        }
        let mut parents = Vec::with_capacity(self.joints.len());
        let mut index = HashMap::with_capacity(self.joints.len());
        let mut roots = 0usize;
        for (i, j) in self.joints.iter().enumerate() {
            if j.name.is_empty() {
                return Err(SkeletonError(format!("joint {i} has an empty name")));
            }
            if index.insert(j.name.as_str(), i).is_some() {
                return Err(SkeletonError(format!(
                    "joint name {:?} is used twice",
                    j.name
                )));
            }
            let parent = match &j.parent {
                None => {
                    roots += 1;
                    None
                }
                Some(p) => match index.get(p.as_str()) {
                    Some(&pi) if pi != i => Some(pi),
                    _ => {
                        return Err(SkeletonError(format!(
                            "joint {:?}: parent {:?} must be listed before it",
                            j.name, p
                        )));
                    }
                },
            };
            let finite = j
                .rest_translation
                .iter()
                .chain(&j.rest_rotation)
                .all(|v| v.is_finite());
            if !finite {
                return Err(SkeletonError(format!(
                    "joint {:?} has a non-finite rest value",
                    j.name
                )));
            }
            parents.push(parent);
        }
        if roots != 1 {
            return Err(SkeletonError(format!(
                "a skeleton needs exactly one root (parent null); this one has {roots}"
            )));
        }
        Ok(parents)
    }
}

fn identity_rotation() -> [f64; 4] {
    IDENTITY_ROTATION
}
fn coordinate_system() -> String {
    COORDINATE_SYSTEM.into()
}
fn units() -> String {
    UNITS.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skeleton(joints: &str) -> Skeleton {
        serde_json::from_str(&format!(r#"{{"joints":{joints}}}"#)).expect("skeleton")
    }

    #[test]
    fn reads_leniently_with_the_documented_defaults() {
        let sk = skeleton(
            r#"[{"name":"Hips","parent":null,"rest_translation":[0,1,0],"future_key":1,"display_name":null}]"#,
        );
        assert_eq!(sk.joints[0].rest_rotation, IDENTITY_ROTATION);
        assert_eq!(
            (sk.coordinate_system.as_str(), sk.units.as_str()),
            (COORDINATE_SYSTEM, UNITS)
        );
        let back = serde_json::to_value(&sk).expect("serialise");
        assert!(back["joints"][0].get("display_name").is_none());
        assert_eq!(sk.parent_indices(), Ok(vec![None]));
    }

    #[test]
    fn topology_errors() {
        let two_roots = skeleton(
            r#"[{"name":"A","parent":null,"rest_translation":[0,0,0]},{"name":"B","parent":null,"rest_translation":[0,0,0]}]"#,
        );
        assert!(two_roots.parent_indices().is_err());
        let late_parent = skeleton(
            r#"[{"name":"A","parent":"B","rest_translation":[0,0,0]},{"name":"B","parent":null,"rest_translation":[0,0,0]}]"#,
        );
        assert!(late_parent.parent_indices().is_err());
        let twice = skeleton(
            r#"[{"name":"A","parent":null,"rest_translation":[0,0,0]},{"name":"A","parent":"A","rest_translation":[0,0,0]}]"#,
        );
        assert!(twice.parent_indices().is_err());
        assert!(skeleton("[]").parent_indices().is_err());
    }
}
