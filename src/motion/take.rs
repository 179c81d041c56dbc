//! A take: decoded motion on a skeleton, in MMCP conventions (Y-up, metres, quaternions `[x, y, z, w]`,
//! local rotations from a world-aligned rest). Shared by the client (decode), the encoder, the built-in
//! procedural model, previews and `apply_motion`.

use std::collections::BTreeMap;

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::skeleton::{self, SkeletonError};

/// One joint of an MMCP skeleton. `parent` indexes an earlier joint (parents come first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joint {
    pub name: String,
    pub parent: Option<usize>,
    /// Offset from the parent along world axes at rest (the root: its world rest position), metres.
    pub rest_translation: [f32; 3],
    /// `[x, y, z, w]`; identity in every skeleton stagecraft sends.
    pub rest_rotation: [f32; 4],
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skeleton {
    pub joints: Vec<Joint>,
}

impl Skeleton {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.joints.iter().position(|j| j.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.joints.iter().map(|j| j.name.as_str())
    }

    /// The skeleton of an MMCP request or a DCC's `animation.get_skeleton`, with parents resolved to
    /// indices after the topology checks of docs/mmcp.md#skeleton.
    pub fn from_wire(wire: &skeleton::Skeleton) -> Result<Self, SkeletonError> {
        let parents = wire.parent_indices()?;
        let joints = wire
            .joints
            .iter()
            .zip(parents)
            .map(|(j, parent)| Joint {
                name: j.name.clone(),
                parent,
                rest_translation: j.rest_translation.map(|v| v as f32),
                rest_rotation: j.rest_rotation.map(|v| v as f32),
            })
            .collect();
        Ok(Self { joints })
    }

    /// The skeleton as MMCP sends it: parents by name.
    pub fn to_wire(&self) -> skeleton::Skeleton {
        let joints = self
            .joints
            .iter()
            .map(|j| skeleton::Joint {
                name: j.name.clone(),
                parent: j
                    .parent
                    .and_then(|p| self.joints.get(p))
                    .map(|p| p.name.clone()),
                rest_translation: j.rest_translation.map(f64::from),
                rest_rotation: j.rest_rotation.map(f64::from),
                display_name: None,
            })
            .collect();
        skeleton::Skeleton::new(joints)
    }
}

/// One generated variation of the motion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// `num_frames × joints`, frame-major: `rotations[t * J + j]`, local to parent, `[x, y, z, w]`.
    pub rotations: Vec<[f32; 4]>,
    /// World position of the root joint per frame, metres.
    pub root_positions: Vec<[f32; 3]>,
    /// Non-root joints whose offset from the parent is animated (MMCP 1.4): joint index -> per frame.
    pub joint_translations: BTreeMap<usize, Vec<[f32; 3]>>,
    /// Foot contacts per joint name, one flag per frame.
    pub foot_contacts: BTreeMap<String, Vec<bool>>,
    /// `MMCP_motion.samples[b].trajectory`, kept verbatim.
    pub trajectory: Option<Value>,
    pub chunk_boundaries: Vec<u32>,
}

/// A decoded (or generated) motion: one skeleton, one frame clock, one or more samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Take {
    pub model: String,
    /// Protocol version the server stamped (`MMCP_motion.version`).
    pub version: String,
    pub fps: f32,
    pub num_frames: usize,
    pub skeleton: Skeleton,
    pub samples: Vec<Sample>,
    /// Advisory notes from the model, verbatim.
    pub notes: Vec<Value>,
    /// `canonical joint -> request joint`, when the server retargeted.
    pub canonical_to_request: BTreeMap<String, String>,
}

impl Take {
    pub fn seconds(&self) -> f32 {
        if self.fps > 0.0 {
            self.num_frames as f32 / self.fps
        } else {
            0.0
        }
    }

    /// Local rotation of joint `j` at frame `t` of `sample`.
    pub fn rotation(&self, sample: &Sample, t: usize, j: usize) -> Quat {
        let q = sample.rotations[t * self.skeleton.joints.len() + j];
        Quat::from_xyzw(q[0], q[1], q[2], q[3])
    }

    /// World positions of every joint at frame `t` (forward kinematics), metres, Y-up.
    pub fn world_positions(&self, sample: &Sample, t: usize) -> Vec<Vec3> {
        let joints = &self.skeleton.joints;
        let mut world_rot: Vec<Quat> = Vec::with_capacity(joints.len());
        let mut world_pos: Vec<Vec3> = Vec::with_capacity(joints.len());
        for (j, joint) in joints.iter().enumerate() {
            let local = self.rotation(sample, t, j).normalize();
            match joint.parent {
                None => {
                    let root = sample
                        .root_positions
                        .get(t)
                        .copied()
                        .unwrap_or(joint.rest_translation);
                    world_rot.push(local);
                    world_pos.push(Vec3::from(root));
                }
                Some(p) => {
                    let offset = sample
                        .joint_translations
                        .get(&j)
                        .and_then(|track| track.get(t).copied())
                        .unwrap_or(joint.rest_translation);
                    world_pos.push(world_pos[p] + world_rot[p] * Vec3::from(offset));
                    world_rot.push(world_rot[p] * local);
                }
            }
        }
        world_pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_joint_take(root_rot: Quat) -> Take {
        let q = root_rot.to_array();
        Take {
            model: "t".into(),
            version: "1.4".into(),
            fps: 30.0,
            num_frames: 1,
            skeleton: Skeleton {
                joints: vec![
                    Joint {
                        name: "Hips".into(),
                        parent: None,
                        rest_translation: [0.0, 1.0, 0.0],
                        rest_rotation: [0.0, 0.0, 0.0, 1.0],
                    },
                    Joint {
                        name: "Spine".into(),
                        parent: Some(0),
                        rest_translation: [0.0, 0.5, 0.0],
                        rest_rotation: [0.0, 0.0, 0.0, 1.0],
                    },
                ],
            },
            samples: vec![Sample {
                rotations: vec![q, [0.0, 0.0, 0.0, 1.0]],
                root_positions: vec![[1.0, 1.0, 0.0]],
                ..Sample::default()
            }],
            ..Take::default()
        }
    }

    #[test]
    fn forward_kinematics_follows_parent_rotation() {
        let take = two_joint_take(Quat::from_rotation_z(std::f32::consts::FRAC_PI_2));
        let pos = take.world_positions(&take.samples[0], 0);
        assert!((pos[0] - Vec3::new(1.0, 1.0, 0.0)).length() < 1e-6);
        // +Y offset rotated 90° about Z points along -X.
        assert!(
            (pos[1] - Vec3::new(0.5, 1.0, 0.0)).length() < 1e-6,
            "{:?}",
            pos[1]
        );
    }
}
