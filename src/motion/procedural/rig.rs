//! The standard humanoid skeleton of docs/mmcp.md#built-in-models and the by-name mapping of a request skeleton onto it.
//!
//! The synthesis never assumes the standard proportions: it reads every length it needs (thigh, shin,
//! foot, hip width, pelvis height) from the request skeleton through a [`Rig`], so a rig of other
//! proportions gets motion scaled to its own legs (retargeting by name).

use glam::Vec3;

use crate::motion::take::{Joint, Skeleton};

/// Index of a joint of the standard skeleton (also its role when mapping another rig).
pub(crate) mod role {
    pub const HIPS: usize = 0;
    pub const SPINE: usize = 1;
    pub const SPINE1: usize = 2;
    pub const SPINE2: usize = 3;
    pub const NECK: usize = 4;
    pub const HEAD: usize = 5;
    pub const L_SHOULDER: usize = 6;
    pub const L_ARM: usize = 7;
    pub const L_FOREARM: usize = 8;
    pub const L_HAND: usize = 9;
    pub const R_SHOULDER: usize = 10;
    pub const R_ARM: usize = 11;
    pub const R_FOREARM: usize = 12;
    pub const R_HAND: usize = 13;
    pub const L_UPLEG: usize = 14;
    pub const L_LEG: usize = 15;
    pub const L_FOOT: usize = 16;
    pub const L_TOE: usize = 17;
    pub const R_UPLEG: usize = 18;
    pub const R_LEG: usize = 19;
    pub const R_FOOT: usize = 20;
    pub const R_TOE: usize = 21;
    pub const COUNT: usize = 22;
}

/// `(name, parent, offset from the parent in metres)`. An adult of about 1.75 m in a T-pose, facing +Z
/// (its left is +X), Y-up; the toes are the lowest joints, at y = 0.
const STANDARD: [(&str, Option<usize>, [f32; 3]); role::COUNT] = [
    ("Hips", None, [0.0, 0.95, 0.0]),
    ("Spine", Some(role::HIPS), [0.0, 0.10, 0.0]),
    ("Spine1", Some(role::SPINE), [0.0, 0.12, 0.0]),
    ("Spine2", Some(role::SPINE1), [0.0, 0.12, 0.0]),
    ("Neck", Some(role::SPINE2), [0.0, 0.17, 0.0]),
    ("Head", Some(role::NECK), [0.0, 0.10, 0.0]),
    ("LeftShoulder", Some(role::SPINE2), [0.04, 0.12, 0.0]),
    ("LeftArm", Some(role::L_SHOULDER), [0.13, 0.0, 0.0]),
    ("LeftForeArm", Some(role::L_ARM), [0.28, 0.0, 0.0]),
    ("LeftHand", Some(role::L_FOREARM), [0.26, 0.0, 0.0]),
    ("RightShoulder", Some(role::SPINE2), [-0.04, 0.12, 0.0]),
    ("RightArm", Some(role::R_SHOULDER), [-0.13, 0.0, 0.0]),
    ("RightForeArm", Some(role::R_ARM), [-0.28, 0.0, 0.0]),
    ("RightHand", Some(role::R_FOREARM), [-0.26, 0.0, 0.0]),
    ("LeftUpLeg", Some(role::HIPS), [0.09, -0.05, 0.0]),
    ("LeftLeg", Some(role::L_UPLEG), [0.0, -0.42, 0.0]),
    ("LeftFoot", Some(role::L_LEG), [0.0, -0.40, 0.0]),
    ("LeftToeBase", Some(role::L_FOOT), [0.0, -0.08, 0.13]),
    ("RightUpLeg", Some(role::HIPS), [-0.09, -0.05, 0.0]),
    ("RightLeg", Some(role::R_UPLEG), [0.0, -0.42, 0.0]),
    ("RightFoot", Some(role::R_LEG), [0.0, -0.40, 0.0]),
    ("RightToeBase", Some(role::R_FOOT), [0.0, -0.08, 0.13]),
];

/// Hip-to-ankle length of the standard skeleton: the unit stride lengths are scaled by.
pub(crate) const STANDARD_LEG: f32 = 0.82;

/// The joints whose ground contacts the model reports.
pub const CONTACT_JOINTS: [&str; 4] = ["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"];

/// The built-in model's canonical skeleton (docs/mmcp.md#built-in-models).
pub fn standard_skeleton() -> Skeleton {
    Skeleton {
        joints: STANDARD
            .iter()
            .map(|(name, parent, offset)| Joint {
                name: (*name).to_string(),
                parent: *parent,
                rest_translation: *offset,
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect(),
    }
}

/// Name of the standard joint with this role.
pub(crate) fn role_name(r: usize) -> &'static str {
    STANDARD[r].0
}

/// One leg of a rig, in rest-pose world space.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub up: usize,
    pub knee: usize,
    pub ankle: usize,
    pub toe: Option<usize>,
    pub thigh: f32,
    pub shin: f32,
    /// Hip joint relative to the pelvis joint at rest.
    pub hip_offset: Vec3,
    /// Height of the ankle above the ground at rest (the ground is the lowest rest joint).
    pub ankle_height: f32,
    /// Toe relative to the ankle at rest (a guess when the rig has no toe joint).
    pub toe_vec: Vec3,
    pub rest_thigh_dir: Vec3,
    pub rest_shin_dir: Vec3,
}

/// One arm of a rig: the chain Arm -> ForeArm -> Hand an `effector_target` on the hand bends.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    pub upper: usize,
    pub fore: usize,
    pub hand: usize,
    pub upper_len: f32,
    pub fore_len: f32,
    pub rest_upper_dir: Vec3,
    pub rest_fore_dir: Vec3,
}

/// A request skeleton seen through the standard roles.
#[derive(Debug, Clone)]
pub(crate) struct Rig {
    pub skeleton: Skeleton,
    /// Standard role -> request joint index.
    pub role: [Option<usize>; role::COUNT],
    pub rest_world: Vec<Vec3>,
    pub root: usize,
    /// The joint that carries the pelvis motion: the mapped Hips, else the root.
    pub pelvis: usize,
    /// `[left, right]`, when the rig has a complete chain UpLeg -> Leg -> Foot.
    pub legs: [Option<Leg>; 2],
    /// `[left, right]`, when the rig has a complete chain Arm -> ForeArm -> Hand.
    pub arms: [Option<Arm>; 2],
    /// Leg length over the standard one: strides and heights scale with it.
    pub scale: f32,
    /// Lowest rest height: the floor.
    pub ground: f32,
    /// Request joints matched to a standard role, by `request name -> standard name`.
    pub matched: Vec<(String, String)>,
}

/// `mixamorig:Hips` and `Armature|Hips` name the same joint as `Hips`.
fn bare_name(name: &str) -> &str {
    name.rsplit([':', '|']).next().unwrap_or(name)
}

impl Rig {
    /// Map `skeleton` (parents before children, as the request checks guarantee) onto the roles.
    /// `None` only for a skeleton without joints.
    pub fn new(skeleton: &Skeleton) -> Option<Rig> {
        let n = skeleton.joints.len();
        if n == 0 {
            return None;
        }
        let mut rest_world = Vec::with_capacity(n);
        for joint in &skeleton.joints {
            let offset = Vec3::from(joint.rest_translation);
            let offset = if offset.is_finite() {
                offset
            } else {
                Vec3::ZERO
            };
            let pos = match joint.parent {
                Some(p) if p < rest_world.len() => rest_world[p] + offset,
                _ => offset,
            };
            rest_world.push(pos);
        }
        let root = skeleton
            .joints
            .iter()
            .position(|j| j.parent.is_none())
            .unwrap_or(0);

        let mut role_of = [None; role::COUNT];
        for (r, slot) in role_of.iter_mut().enumerate() {
            let want = role_name(r);
            *slot = skeleton
                .joints
                .iter()
                .position(|j| j.name == want)
                .or_else(|| {
                    skeleton
                        .joints
                        .iter()
                        .position(|j| bare_name(&j.name) == want)
                })
                .or_else(|| {
                    skeleton
                        .joints
                        .iter()
                        .position(|j| bare_name(&j.name).eq_ignore_ascii_case(want))
                });
        }
        let pelvis = role_of[role::HIPS].unwrap_or(root);
        let ground = rest_world.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);
        let parent_of = |j: usize| skeleton.joints.get(j).and_then(|x| x.parent);

        let make_leg = |up: usize, knee: usize, ankle: usize, toe: Option<usize>| -> Option<Leg> {
            // The IK writes UpLeg, Leg and Foot: they must form a chain.
            if parent_of(knee) != Some(up) || parent_of(ankle) != Some(knee) {
                return None;
            }
            let thigh_v = rest_world[knee] - rest_world[up];
            let shin_v = rest_world[ankle] - rest_world[knee];
            let (thigh, shin) = (thigh_v.length(), shin_v.length());
            if thigh < 1e-3 || shin < 1e-3 {
                return None;
            }
            let ankle_height = rest_world[ankle].y - ground;
            let toe = toe.filter(|&t| parent_of(t) == Some(ankle));
            let toe_vec = match toe {
                Some(t) if (rest_world[t] - rest_world[ankle]).length() > 1e-3 => {
                    rest_world[t] - rest_world[ankle]
                }
                _ => Vec3::new(0.0, -ankle_height, 0.16 * (thigh + shin) / STANDARD_LEG),
            };
            Some(Leg {
                up,
                knee,
                ankle,
                toe,
                thigh,
                shin,
                hip_offset: rest_world[up] - rest_world[pelvis],
                ankle_height,
                toe_vec,
                rest_thigh_dir: thigh_v / thigh,
                rest_shin_dir: shin_v / shin,
            })
        };
        let leg =
            |u: usize, k: usize, a: usize, t: usize| match (role_of[u], role_of[k], role_of[a]) {
                (Some(u), Some(k), Some(a)) => make_leg(u, k, a, role_of[t]),
                _ => None,
            };
        let legs = [
            leg(role::L_UPLEG, role::L_LEG, role::L_FOOT, role::L_TOE),
            leg(role::R_UPLEG, role::R_LEG, role::R_FOOT, role::R_TOE),
        ];
        let arm = |u: usize, f: usize, h: usize| -> Option<Arm> {
            let (upper, fore, hand) = (role_of[u]?, role_of[f]?, role_of[h]?);
            if parent_of(fore) != Some(upper) || parent_of(hand) != Some(fore) {
                return None;
            }
            let (uv, fv) = (
                rest_world[fore] - rest_world[upper],
                rest_world[hand] - rest_world[fore],
            );
            let (upper_len, fore_len) = (uv.length(), fv.length());
            if upper_len < 1e-3 || fore_len < 1e-3 {
                return None;
            }
            Some(Arm {
                upper,
                fore,
                hand,
                upper_len,
                fore_len,
                rest_upper_dir: uv / upper_len,
                rest_fore_dir: fv / fore_len,
            })
        };
        let arms = [
            arm(role::L_ARM, role::L_FOREARM, role::L_HAND),
            arm(role::R_ARM, role::R_FOREARM, role::R_HAND),
        ];
        let lengths: Vec<f32> = legs.iter().flatten().map(|l| l.thigh + l.shin).collect();
        let scale = if lengths.is_empty() {
            // No legs to measure: use the pelvis height above the floor.
            let h = rest_world[pelvis].y - ground;
            if h > 0.05 { h / 0.95 } else { 1.0 }
        } else {
            lengths.iter().sum::<f32>() / lengths.len() as f32 / STANDARD_LEG
        };
        let matched = role_of
            .iter()
            .enumerate()
            .filter_map(|(r, j)| {
                j.map(|j| (skeleton.joints[j].name.clone(), role_name(r).to_string()))
            })
            .collect();
        Some(Rig {
            skeleton: skeleton.clone(),
            role: role_of,
            rest_world,
            root,
            pelvis,
            legs,
            arms,
            scale: scale.clamp(0.05, 20.0),
            ground,
            matched,
        })
    }

    pub fn joint(&self, r: usize) -> Option<usize> {
        self.role[r]
    }

    /// The way the rig faces at rest, radians about +Y from +Z: forward is `left × up`, with left
    /// measured from the right hip to the left hip (and shoulder to shoulder). 0 when the rig has no
    /// left/right pairs to tell.
    pub fn heading(&self) -> f32 {
        let mut left = Vec3::ZERO;
        for (l, r) in [(role::L_UPLEG, role::R_UPLEG), (role::L_ARM, role::R_ARM)] {
            if let (Some(a), Some(b)) = (self.role[l], self.role[r]) {
                left += self.rest_world[a] - self.rest_world[b];
            }
        }
        let forward = left.cross(Vec3::Y);
        if forward.x.abs() + forward.z.abs() < 1e-6 {
            return 0.0;
        }
        forward.x.atan2(forward.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_skeleton_stands_on_the_floor() {
        let rig = Rig::new(&standard_skeleton()).expect("rig");
        assert!(
            rig.ground.abs() < 1e-6,
            "lowest joint at y=0, got {}",
            rig.ground
        );
        assert!(rig.legs.iter().all(|l| l.is_some()));
        assert!((rig.scale - 1.0).abs() < 1e-4);
        // Left is +X when facing +Z.
        let l = rig.rest_world[role::L_HAND];
        assert!(l.x > 0.5);
    }

    #[test]
    fn prefixed_names_map_to_roles() {
        let mut sk = standard_skeleton();
        for j in &mut sk.joints {
            j.name = format!("mixamorig:{}", j.name);
        }
        let rig = Rig::new(&sk).expect("rig");
        assert_eq!(rig.matched.len(), role::COUNT);
        assert!(rig.legs.iter().all(|l| l.is_some()));
    }
}
