//! Carrying a take over to another humanoid skeleton (docs/retargeting.md, "Transfer").
//!
//! Both skeletons are in MMCP form: identity rest rotations and rest offsets along world axes, so a
//! joint's world rotation is the rotation from its rest. For every rig joint with a role the transfer
//! picks where its motion comes from (a take joint, or a point between two joints of a chain of another
//! length) and sets its world rotation to
//!
//! ```text
//! W_rig(t) = H · W_take(t) · H⁻¹ · C
//! ```
//!
//! where `H` turns the take's facing into the rig's (a rotation about +Y) and `C` is the rest
//! correction: the smallest rotation taking the rig's rest segment direction onto the take's (turned by
//! `H`). The rig's segment then points exactly where the take's points, whatever the two rest poses are
//! (T-pose onto A-pose, bent elbows). Rig joints without a role keep their rest relative to their
//! parent. The hips path is scaled by the hip-height ratio and placed where the rig stands; feet the
//! take has in contact are then held in place with two-bone IK, so rigs of other proportions do not
//! slide.

use std::collections::BTreeMap;

use glam::{Quat, Vec3};

use super::roles::{self, Humanoid, Role, RoleError, Side};
use crate::motion::take::{Sample, Skeleton, Take};

/// How the take is placed in the rig's scene.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    /// The take's first frame starts where the rig stands, turned the way it faces.
    #[default]
    AtRig,
    /// The take's own origin maps onto the rig's rest position ([`Frame::to_scene`]): used when the
    /// agent gave positions in scene coordinates that were turned into the model's frame with
    /// [`Frame::to_model`] before the request.
    SceneFrame,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Take joint -> rig bone, overriding the automatic pairs.
    pub bone_map: BTreeMap<String, String>,
    pub placement: Placement,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetargetError {
    #[error("the take's skeleton is {0}")]
    Take(RoleError),
    #[error("the rig is {0}")]
    Rig(RoleError),
    #[error("bone_map names {}", unknown_names(take_joints, rig_bones))]
    UnknownNames {
        take_joints: Vec<String>,
        rig_bones: Vec<String>,
    },
    #[error("{0}")]
    BadTake(String),
}

fn unknown_names(take_joints: &[String], rig_bones: &[String]) -> String {
    let mut parts = Vec::new();
    if !take_joints.is_empty() {
        parts.push(format!(
            "take joints that do not exist: {}",
            take_joints.join(", ")
        ));
    }
    if !rig_bones.is_empty() {
        parts.push(format!(
            "rig bones that do not exist: {}",
            rig_bones.join(", ")
        ));
    }
    parts.join("; ")
}

/// The spatial relation between the model's frame and the rig's scene: turn, scale, anchors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Rotation about +Y from the take's facing to the rig's.
    pub turn: Quat,
    /// Rig hip height over take hip height (hip joints above the floor).
    pub scale: f32,
    /// The take's hips at rest, and the floor (its lowest rest joint).
    pub take_anchor: Vec3,
    pub take_ground: f32,
    /// The rig's hips at rest, and its floor.
    pub rig_anchor: Vec3,
    pub rig_ground: f32,
}

impl Frame {
    /// A point of the rig's scene in the model's frame (for constraints given in scene coordinates).
    pub fn to_model(&self, p: Vec3) -> Vec3 {
        let d = self.turn.inverse() * (p - self.rig_anchor) / self.scale;
        Vec3::new(
            self.take_anchor.x + d.x,
            self.take_ground + (p.y - self.rig_ground) / self.scale,
            self.take_anchor.z + d.z,
        )
    }

    /// A point of the model's frame in the rig's scene.
    pub fn to_scene(&self, p: Vec3) -> Vec3 {
        let d = self.turn * (p - self.take_anchor) * self.scale;
        Vec3::new(
            self.rig_anchor.x + d.x,
            self.rig_ground + (p.y - self.take_ground) * self.scale,
            self.rig_anchor.z + d.z,
        )
    }

    /// The rig's heading relative to the take's, degrees about +Y.
    pub fn turn_degrees(&self) -> f32 {
        let f = self.turn * Vec3::Z;
        f.x.atan2(f.z).to_degrees()
    }
}

/// Where a rig joint's rotation comes from: take joint `a`, or between `a` and `b` at `t` (a chain of
/// another length), and its rest correction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drive {
    a: usize,
    b: usize,
    t: f32,
    correction: Quat,
}

/// A leg of the rig the foot IK may bend, and the take joint whose contacts it follows.
#[derive(Debug, Clone, PartialEq)]
struct PlantedLeg {
    thigh: Vec<usize>,
    shin: Vec<usize>,
    foot: usize,
    toe: Option<usize>,
    /// The foot and every joint under it: they turn together when the foot pivots on its toe.
    foot_subtree: Vec<usize>,
    take_foot: usize,
    take_toe: Option<usize>,
}

/// What holds a foot to the floor at a frame: its ankle (the whole foot down), or only its toe (the heel
/// lifting off, or landing toe first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contact {
    Ankle,
    Toe,
}

/// Which take joint drives which rig bone, and how the two frames relate: what `map_rig` reports and
/// what [`Mapping::apply`] uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Take joint -> rig bone, for the pairs that match one to one (or nearest, in chains).
    pub joint_map: BTreeMap<String, String>,
    /// Take joints that drive no rig bone.
    pub unmapped_joints: Vec<String>,
    /// Rig bones that keep their rest (relative to their parent).
    pub unmapped_bones: Vec<String>,
    /// Rig bones driven by a blend of two take joints (chains of other lengths).
    pub blended_bones: Vec<String>,
    pub take_conventions: Vec<&'static str>,
    pub rig_conventions: Vec<&'static str>,
    pub warnings: Vec<String>,
    pub frame: Frame,
    drives: Vec<Option<Drive>>,
    take_hips: usize,
    rig_hips: usize,
    /// Which way the rig faces at rest: knees bend that way.
    rig_facing: Vec3,
    legs: Vec<PlantedLeg>,
    take: Skeleton,
    rig: Skeleton,
}

/// Rest positions in world space (MMCP form: offsets along world axes). Out-of-range parents are
/// treated as roots, non-finite offsets as zero: mapping never trusts its input.
pub(crate) fn rest_world(skeleton: &Skeleton) -> Vec<Vec3> {
    let mut out: Vec<Vec3> = Vec::with_capacity(skeleton.joints.len());
    for (i, j) in skeleton.joints.iter().enumerate() {
        let off = Vec3::from(j.rest_translation);
        let off = if off.is_finite() { off } else { Vec3::ZERO };
        let p = match j.parent {
            Some(p) if p < i => out[p] + off,
            _ => off,
        };
        out.push(p);
    }
    out
}

/// The chains a role belongs to: spine and chest are one torso chain.
fn chain_key(role: Role) -> Role {
    match role {
        Role::Chest => Role::Spine,
        r => r,
    }
}

/// Joints of `humanoid` in each chain, root to tip (skeletons list parents first).
fn chains(h: &Humanoid) -> BTreeMap<Role, Vec<usize>> {
    let mut out: BTreeMap<Role, Vec<usize>> = BTreeMap::new();
    for (j, r) in h.roles.iter().enumerate() {
        if let Some(r) = r {
            out.entry(chain_key(*r)).or_default().push(j);
        }
    }
    out
}

/// The chain that continues a chain, for the direction of its last joint's segment.
fn next_chains(key: Role) -> &'static [Role] {
    use Role::*;
    match key {
        Hips => &[Spine, Neck, Head],
        Spine => &[Neck, Head],
        Neck => &[Head],
        Shoulder(Side::Left) => &[UpperArm(Side::Left)],
        Shoulder(Side::Right) => &[UpperArm(Side::Right)],
        UpperArm(Side::Left) => &[Forearm(Side::Left)],
        UpperArm(Side::Right) => &[Forearm(Side::Right)],
        Forearm(Side::Left) => &[Hand(Side::Left)],
        Forearm(Side::Right) => &[Hand(Side::Right)],
        Thigh(Side::Left) => &[Shin(Side::Left)],
        Thigh(Side::Right) => &[Shin(Side::Right)],
        Shin(Side::Left) => &[Foot(Side::Left)],
        Shin(Side::Right) => &[Foot(Side::Right)],
        Foot(Side::Left) => &[Toe(Side::Left)],
        Foot(Side::Right) => &[Toe(Side::Right)],
        Head | Hand(_) | Toe(_) | Chest => &[],
    }
}

/// The chain a leaf takes its rest correction from (its parent in the humanoid).
fn parent_chain(key: Role) -> Option<Role> {
    use Role::*;
    match key {
        Hips => None,
        Spine | Thigh(_) => Some(Hips),
        Neck => Some(Spine),
        Head => Some(Neck),
        Shoulder(_) => Some(Spine),
        UpperArm(s) => Some(Shoulder(s)),
        Forearm(s) => Some(UpperArm(s)),
        Hand(s) => Some(Forearm(s)),
        Shin(s) => Some(Thigh(s)),
        Foot(s) => Some(Shin(s)),
        Toe(s) => Some(Foot(s)),
        Chest => Some(Spine),
    }
}

/// Rest direction of each joint's segment in its humanoid (to the next joint of the chain, or the
/// first joint of the chain that continues it); `None` for leaves.
fn segment_dirs(chains: &BTreeMap<Role, Vec<usize>>, rest: &[Vec3]) -> BTreeMap<usize, Vec3> {
    let mut out = BTreeMap::new();
    for (key, joints) in chains {
        for (k, &j) in joints.iter().enumerate() {
            let end = joints.get(k + 1).copied().or_else(|| {
                next_chains(*key)
                    .iter()
                    .find_map(|next| chains.get(next).and_then(|c| c.first().copied()))
            });
            if let Some(e) = end {
                let d = rest[e] - rest[j];
                if d.length() > 1e-6 {
                    out.insert(j, d.normalize());
                }
            }
        }
    }
    out
}

/// A chain's overall rest direction: from its first joint to the first joint of the chain that
/// continues it (the last joint's own position when none does).
fn chain_dir(chains: &BTreeMap<Role, Vec<usize>>, key: Role, rest: &[Vec3]) -> Option<Vec3> {
    let joints = chains.get(&key)?;
    let first = *joints.first()?;
    let end = next_chains(key)
        .iter()
        .find_map(|next| chains.get(next).and_then(|c| c.first().copied()))
        .unwrap_or(*joints.last()?);
    let d = rest[end] - rest[first];
    (d.length() > 1e-6).then(|| d.normalize())
}

/// The way a humanoid faces at rest, as an angle about +Y from +Z (roles tell the facing: the toes point
/// forward, the left is `up × forward`).
fn heading(h: &Humanoid) -> f32 {
    let f = h.facing();
    if f.x.abs() + f.z.abs() < 1e-9 {
        return 0.0;
    }
    f.x.atan2(f.z)
}

/// The height of the hip joints (where the thighs start) above the floor at rest, and the floor (the
/// lowest rest joint). The hip joints, not the hips bone: conventions put the hips bone's origin in
/// different places (Rigify's `DEF-spine` sits above the thigh heads, Mixamo's `Hips` between them),
/// while the hip joints are where the legs, which carry the character, begin.
fn hip_height(rest: &[Vec3], chains: &BTreeMap<Role, Vec<usize>>, hips: usize) -> (f32, f32) {
    let ground = rest.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);
    let thighs: Vec<f32> = [Role::Thigh(Side::Left), Role::Thigh(Side::Right)]
        .iter()
        .filter_map(|r| chains.get(r).and_then(|c| c.first()))
        .map(|&j| rest[j].y)
        .collect();
    let top = if thighs.is_empty() {
        rest[hips].y
    } else {
        thighs.iter().sum::<f32>() / thighs.len() as f32
    };
    (top - ground, ground)
}

/// Maps `take` onto `rig` by humanoid roles (and `options.bone_map` overrides).
pub fn map(take: &Skeleton, rig: &Skeleton, options: &Options) -> Result<Mapping, RetargetError> {
    check_bone_map(take, rig, &options.bone_map)?;
    let th = roles::detect(take).map_err(RetargetError::Take)?;
    let rh = roles::detect(rig).map_err(RetargetError::Rig)?;
    let (t_rest, r_rest) = (rest_world(take), rest_world(rig));
    let (t_chains, r_chains) = (chains(&th), chains(&rh));
    let t_hips = *t_chains
        .get(&Role::Hips)
        .and_then(|c| c.first())
        .ok_or_else(|| RetargetError::Take(missing("hips")))?;
    let r_hips = *r_chains
        .get(&Role::Hips)
        .and_then(|c| c.first())
        .ok_or_else(|| RetargetError::Rig(missing("hips")))?;

    let turn = Quat::from_rotation_y(heading(&rh) - heading(&th));
    let (t_height, t_ground) = hip_height(&t_rest, &t_chains, t_hips);
    let (r_height, r_ground) = hip_height(&r_rest, &r_chains, r_hips);
    let mut warnings: Vec<String> = th
        .warnings
        .iter()
        .map(|w| format!("take: {w}"))
        .chain(rh.warnings.iter().map(|w| format!("rig: {w}")))
        .collect();
    let scale = if t_height > 1e-4 && r_height > 1e-4 {
        r_height / t_height
    } else {
        warnings.push("the hips are at floor level at rest: root motion is not scaled".into());
        1.0
    };
    let frame = Frame {
        turn,
        scale,
        take_anchor: t_rest[t_hips],
        take_ground: t_ground,
        rig_anchor: r_rest[r_hips],
        rig_ground: r_ground,
    };

    let t_dirs = segment_dirs(&t_chains, &t_rest);
    let r_dirs = segment_dirs(&r_chains, &r_rest);
    let mut drives: Vec<Option<Drive>> = vec![None; rig.joints.len()];
    let mut joint_map = BTreeMap::new();
    let mut blended = Vec::new();
    // Corrections of the last joint of each rig chain, for leaves whose segment is unknown.
    let mut chain_correction: BTreeMap<Role, Quat> = BTreeMap::new();
    let correction = |rig_j: usize, take_dir: Option<Vec3>| -> Option<Quat> {
        let (Some(rd), Some(td)) = (r_dirs.get(&rig_j), take_dir) else {
            return None;
        };
        Some(Quat::from_rotation_arc(*rd, (turn * td).normalize()))
    };
    for (key, r_joints) in &r_chains {
        let Some(t_joints) = t_chains.get(key) else {
            continue;
        };
        let (m, n) = (r_joints.len(), t_joints.len());
        // Chains of other lengths (five spine joints for three) turn as a whole: one correction for
        // the chain's overall direction keeps the rig's own rest curvature along it.
        let whole_chain = if m != n {
            match (
                chain_dir(&r_chains, *key, &r_rest),
                chain_dir(&t_chains, *key, &t_rest),
            ) {
                (Some(rd), Some(td)) => Some(Quat::from_rotation_arc(rd, (turn * td).normalize())),
                _ => None,
            }
        } else {
            None
        };
        for (k, &rj) in r_joints.iter().enumerate() {
            // Rig joint k covers the k-th m-th of the chain: follow the take's chain at its middle.
            let u = (((k as f32 + 0.5) / m as f32) * n as f32 - 0.5).clamp(0.0, (n - 1) as f32);
            let a = u.floor() as usize;
            let b = (a + 1).min(n - 1);
            let t = u - a as f32;
            let take_dir = match (t_dirs.get(&t_joints[a]), t_dirs.get(&t_joints[b])) {
                (Some(da), Some(db)) => Some(da.lerp(*db, t)).filter(|d| d.length() > 1e-6),
                (Some(da), None) => Some(*da),
                _ => None,
            };
            let c = whole_chain
                .or_else(|| correction(rj, take_dir))
                .or_else(|| parent_chain(*key).and_then(|p| chain_correction.get(&p).copied()))
                .unwrap_or(Quat::IDENTITY);
            drives[rj] = Some(Drive {
                a: t_joints[a],
                b: t_joints[b],
                t,
                correction: c,
            });
            if t > 1e-3 && a != b {
                blended.push(rig.joints[rj].name.clone());
            }
            joint_map
                .entry(take.joints[t_joints[u.round() as usize]].name.clone())
                .or_insert_with(|| rig.joints[rj].name.clone());
            if k + 1 == m {
                chain_correction.insert(*key, c);
            }
        }
    }
    // The agent's pairs win over the automatic ones.
    for (tj, rb) in &options.bone_map {
        let (Some(t), Some(r)) = (take.index_of(tj), rig.index_of(rb)) else {
            continue;
        };
        joint_map.retain(|_, v| v != rb);
        let c = correction(r, t_dirs.get(&t).copied()).unwrap_or(Quat::IDENTITY);
        drives[r] = Some(Drive {
            a: t,
            b: t,
            t: 0.0,
            correction: c,
        });
        joint_map.insert(tj.clone(), rb.clone());
    }

    let legs = [Side::Left, Side::Right]
        .into_iter()
        .filter_map(|s| {
            let thigh = r_chains.get(&Role::Thigh(s))?.clone();
            let shin = r_chains.get(&Role::Shin(s))?.clone();
            let foot = *r_chains.get(&Role::Foot(s))?.first()?;
            let take_foot = *t_chains.get(&Role::Foot(s))?.first()?;
            let first = |c: &BTreeMap<Role, Vec<usize>>| {
                c.get(&Role::Toe(s)).and_then(|c| c.first().copied())
            };
            Some(PlantedLeg {
                thigh,
                shin,
                foot,
                foot_subtree: subtree(rig, foot),
                toe: first(&r_chains),
                take_foot,
                take_toe: first(&t_chains),
            })
        })
        .collect();

    let mapped_take: std::collections::BTreeSet<usize> =
        drives.iter().flatten().flat_map(|d| [d.a, d.b]).collect();
    let unmapped_joints = (0..take.joints.len())
        .filter(|j| th.roles[*j].is_some() && !mapped_take.contains(j))
        .map(|j| take.joints[j].name.clone())
        .collect();
    let unmapped_bones = drives
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(j, _)| rig.joints[j].name.clone())
        .collect();
    Ok(Mapping {
        joint_map,
        unmapped_joints,
        unmapped_bones,
        blended_bones: blended,
        take_conventions: th.conventions.clone(),
        rig_conventions: rh.conventions.clone(),
        warnings,
        frame,
        drives,
        take_hips: t_hips,
        rig_hips: r_hips,
        rig_facing: rh.facing(),
        legs,
        take: take.clone(),
        rig: rig.clone(),
    })
}

/// `root` and every joint under it (skeletons list parents first).
fn subtree(skeleton: &Skeleton, root: usize) -> Vec<usize> {
    let mut inside = vec![false; skeleton.joints.len()];
    let mut out = Vec::new();
    for (j, joint) in skeleton.joints.iter().enumerate() {
        let under = j == root || joint.parent.is_some_and(|p| p < j && inside[p]);
        if under {
            inside[j] = true;
            out.push(j);
        }
    }
    out
}

fn missing(what: &str) -> RoleError {
    RoleError::NotHumanoid {
        missing: vec![what.to_string()],
    }
}

fn check_bone_map(
    take: &Skeleton,
    rig: &Skeleton,
    bone_map: &BTreeMap<String, String>,
) -> Result<(), RetargetError> {
    let take_joints: Vec<String> = bone_map
        .keys()
        .filter(|k| take.index_of(k).is_none())
        .cloned()
        .collect();
    let rig_bones: Vec<String> = bone_map
        .values()
        .filter(|v| rig.index_of(v).is_none())
        .cloned()
        .collect();
    if take_joints.is_empty() && rig_bones.is_empty() {
        Ok(())
    } else {
        Err(RetargetError::UnknownNames {
            take_joints,
            rig_bones,
        })
    }
}

/// What [`Mapping::apply`] did besides the rotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferReport {
    /// Frames, over all samples and feet, where a foot was held in place by the IK.
    pub planted_frames: usize,
    /// Frames where the leg could not reach the planted point (the foot slid there).
    pub unreachable_frames: usize,
    /// Frames where the hips were lowered so a planted foot stays in reach.
    pub hips_lowered_frames: usize,
    /// Whether contacts came from the take (`"take"`) or were detected from foot speed (`"detected"`).
    pub contacts: &'static str,
}

impl Mapping {
    /// The rig joint that plays the hips.
    pub fn rig_hips(&self) -> usize {
        self.rig_hips
    }

    /// The take carried over to the rig: every sample, on the rig's skeleton.
    pub fn apply(
        &self,
        take: &Take,
        placement: Placement,
    ) -> Result<(Take, TransferReport), RetargetError> {
        let jt = take.skeleton.joints.len();
        if take.skeleton != self.take {
            return Err(RetargetError::BadTake(
                "the take's skeleton is not the one this map was made for".into(),
            ));
        }
        let mut report = TransferReport {
            contacts: "take",
            ..TransferReport::default()
        };
        let mut samples = Vec::with_capacity(take.samples.len());
        for s in &take.samples {
            if s.rotations.len() != take.num_frames * jt
                || s.root_positions.len() != take.num_frames
            {
                return Err(RetargetError::BadTake(
                    "the take's arrays do not match its frame count".into(),
                ));
            }
            samples.push(self.apply_sample(take, s, placement, &mut report));
        }
        let mut out = take.clone();
        out.skeleton = self.rig.clone();
        out.samples = samples;
        out.canonical_to_request = BTreeMap::new();
        Ok((out, report))
    }

    fn apply_sample(
        &self,
        take: &Take,
        s: &Sample,
        placement: Placement,
        report: &mut TransferReport,
    ) -> Sample {
        let frames = take.num_frames;
        let jr = self.rig.joints.len();
        let rig_rest = rest_world(&self.rig);
        let turn = self.frame.turn;
        let turn_inv = turn.inverse();
        let mut frame = self.frame;
        let take_world = TakeWorld::new(take, s);
        if placement == Placement::AtRig && frames > 0 {
            let h0 = take_world.position(0, self.take_hips);
            frame.take_anchor = Vec3::new(h0.x, frame.take_anchor.y, h0.z);
        }

        let mut world_rot = vec![Quat::IDENTITY; frames * jr];
        let mut take_rot = Vec::with_capacity(take.skeleton.joints.len());
        for t in 0..frames {
            take_world.rotations(t, &mut take_rot);
            let w = &mut world_rot[t * jr..(t + 1) * jr];
            for j in 0..jr {
                w[j] = match (&self.drives[j], self.rig.joints[j].parent) {
                    (Some(d), _) => {
                        let src = if d.a == d.b || d.t <= 0.0 {
                            take_rot[d.a]
                        } else {
                            take_rot[d.a].slerp(take_rot[d.b], d.t)
                        };
                        (turn * src * turn_inv * d.correction).normalize()
                    }
                    (None, Some(p)) if p < j => w[p],
                    (None, _) => Quat::IDENTITY,
                };
            }
        }

        // Hips path: the take's, turned, scaled and placed.
        let hips_path: Vec<Vec3> = (0..frames)
            .map(|t| frame.to_scene(take_world.position(t, self.take_hips)))
            .collect();

        let contacts = self.contacts(take, s, &take_world, report);
        let mut positions = vec![Vec3::ZERO; jr];
        // First pass: where each foot and toe is with the transferred rotations alone.
        let mut ankles = vec![Vec::with_capacity(frames); self.legs.len()];
        let mut toe_offsets = vec![Vec::with_capacity(frames); self.legs.len()];
        for t in 0..frames {
            let w = &world_rot[t * jr..(t + 1) * jr];
            let root = fk_root_for_hips(&self.rig, &rig_rest, w, self.rig_hips, hips_path[t]);
            fk(&self.rig, &rig_rest, w, root, &mut positions);
            for (leg_i, leg) in self.legs.iter().enumerate() {
                ankles[leg_i].push(positions[leg.foot]);
                toe_offsets[leg_i].push(
                    leg.toe
                        .map_or(Vec3::ZERO, |toe| positions[toe] - positions[leg.foot]),
                );
            }
        }
        let goals: Vec<Vec<Option<Goal>>> = (0..self.legs.len())
            .map(|i| {
                ankle_goals(
                    &contacts[i],
                    &ankles[i],
                    &toe_offsets[i],
                    self.legs[i].toe.is_some(),
                )
            })
            .collect();

        // Second pass: hold what is planted with the leg IK, lowering the hips where a leg cannot reach.
        let mut root_positions = Vec::with_capacity(frames);
        for t in 0..frames {
            let w = &mut world_rot[t * jr..(t + 1) * jr];
            let mut root = fk_root_for_hips(&self.rig, &rig_rest, w, self.rig_hips, hips_path[t]);
            fk(&self.rig, &rig_rest, w, root, &mut positions);
            let drop = self
                .legs
                .iter()
                .zip(&goals)
                .filter_map(|(leg, g)| match g[t] {
                    Some(Goal::At(p)) => Some(hip_drop(leg, &positions, p)),
                    Some(Goal::Toe(p)) => {
                        Some(hip_drop(leg, &positions, pivot_ankle(leg, &positions, p)))
                    }
                    _ => None,
                })
                .fold(0.0f32, f32::max);
            if drop > 0.0 {
                root -= Vec3::Y * drop;
                fk(&self.rig, &rig_rest, w, root, &mut positions);
                report.hips_lowered_frames += 1;
            }
            for (leg_i, leg) in self.legs.iter().enumerate() {
                let ankle = positions[leg.foot];
                let (goal, toe_point, in_contact) = match goals[leg_i][t] {
                    Some(Goal::At(p)) => (p, None, true),
                    Some(Goal::By(d)) => (ankle + d, None, false),
                    Some(Goal::Toe(p)) => (pivot_ankle(leg, &positions, p), Some(p), true),
                    None => continue,
                };
                if (goal - ankle).length() >= 1e-5 {
                    let bend = w[leg.thigh[0]] * self.rig_facing;
                    if !two_bone_ik(leg, &positions, w, goal, bend) {
                        report.unreachable_frames += 1;
                    }
                    fk(&self.rig, &rig_rest, w, root, &mut positions);
                }
                if let (Some(p), Some(toe)) = (toe_point, leg.toe) {
                    // Pivot the foot about the ankle so that the toe is back on its point.
                    let (now, want) = (
                        positions[toe] - positions[leg.foot],
                        p - positions[leg.foot],
                    );
                    if now.length() > 1e-6 && want.length() > 1e-6 {
                        let q = Quat::from_rotation_arc(now.normalize(), want.normalize());
                        for &j in &leg.foot_subtree {
                            w[j] = (q * w[j]).normalize();
                        }
                        fk(&self.rig, &rig_rest, w, root, &mut positions);
                    }
                }
                report.planted_frames += usize::from(in_contact);
            }
            root_positions.push(root.to_array());
        }

        let mut rotations = Vec::with_capacity(frames * jr);
        for t in 0..frames {
            let w = &world_rot[t * jr..(t + 1) * jr];
            for j in 0..jr {
                let local = match self.rig.joints[j].parent {
                    Some(p) if p < j => w[p].inverse() * w[j],
                    _ => w[j],
                };
                rotations.push(local.normalize().to_array());
            }
        }
        make_continuous(&mut rotations, jr);

        let mut foot_contacts = BTreeMap::new();
        // The take's contacts, under the rig's names (detected ones as the foot's).
        for (leg_i, leg) in self.legs.iter().enumerate() {
            let named = |j: Option<usize>| {
                let name = &take.skeleton.joints.get(j?)?.name;
                s.foot_contacts.get(name).filter(|c| c.len() == frames)
            };
            match named(Some(leg.take_foot)) {
                Some(c) => foot_contacts.insert(self.rig.joints[leg.foot].name.clone(), c.clone()),
                None => foot_contacts.insert(
                    self.rig.joints[leg.foot].name.clone(),
                    contacts[leg_i].iter().map(Option::is_some).collect(),
                ),
            };
            if let (Some(c), Some(toe)) = (named(leg.take_toe), leg.toe) {
                foot_contacts.insert(self.rig.joints[toe].name.clone(), c.clone());
            }
        }
        Sample {
            rotations,
            root_positions,
            joint_translations: BTreeMap::new(),
            foot_contacts,
            trajectory: None,
            chunk_boundaries: s.chunk_boundaries.clone(),
        }
    }

    /// Per planted leg and frame, what holds the foot down: the take's own contacts (the foot joint's,
    /// else its toe's), or, when the take has none for that foot, contacts detected from the foot's
    /// speed near the floor.
    fn contacts(
        &self,
        take: &Take,
        s: &Sample,
        world: &TakeWorld,
        report: &mut TransferReport,
    ) -> Vec<Vec<Option<Contact>>> {
        let frames = take.num_frames;
        let flags = |j: Option<usize>| -> Option<&Vec<bool>> {
            let name = &take.skeleton.joints.get(j?)?.name;
            s.foot_contacts.get(name).filter(|c| c.len() == frames)
        };
        self.legs
            .iter()
            .map(|leg| {
                let (ankle, toe) = (flags(Some(leg.take_foot)), flags(leg.take_toe));
                if ankle.is_none() && toe.is_none() {
                    report.contacts = "detected";
                    return detect_contacts(
                        world,
                        leg.take_foot,
                        frames,
                        take.fps,
                        self.frame_height(),
                    )
                    .into_iter()
                    .map(|c| c.then_some(Contact::Ankle))
                    .collect();
                }
                (0..frames)
                    .map(|t| {
                        if ankle.is_some_and(|c| c[t]) {
                            Some(Contact::Ankle)
                        } else if toe.is_some_and(|c| c[t]) {
                            Some(Contact::Toe)
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn frame_height(&self) -> f32 {
        (self.frame.take_anchor.y - self.frame.take_ground).max(0.1)
    }
}

/// Frames over which a released foot eases back to the transferred motion.
const BLEND_OUT_FRAMES: usize = 3;

/// A foot is in contact where it moves slower than 12% of the hip height per second and is within 6%
/// of the hip height of its lowest point in the take.
fn detect_contacts(
    world: &TakeWorld,
    foot: usize,
    frames: usize,
    fps: f32,
    hip_height: f32,
) -> Vec<bool> {
    if frames < 2 || fps <= 0.0 {
        return vec![false; frames];
    }
    let p: Vec<Vec3> = (0..frames).map(|t| world.position(t, foot)).collect();
    let low = p.iter().map(|v| v.y).fold(f32::INFINITY, f32::min);
    (0..frames)
        .map(|t| {
            let (a, b) = if t + 1 < frames {
                (t, t + 1)
            } else {
                (t - 1, t)
            };
            let speed = (p[b] - p[a]).length() * fps;
            speed < 0.12 * hip_height && p[t].y - low < 0.06 * hip_height
        })
        .collect()
}

/// Forward kinematics of a take sample: world rotations and positions per frame.
struct TakeWorld<'a> {
    take: &'a Take,
    sample: &'a Sample,
}

impl<'a> TakeWorld<'a> {
    fn new(take: &'a Take, sample: &'a Sample) -> Self {
        Self { take, sample }
    }

    fn rotations(&self, t: usize, out: &mut Vec<Quat>) {
        out.clear();
        for (j, joint) in self.take.skeleton.joints.iter().enumerate() {
            let local = self.take.rotation(self.sample, t, j).normalize();
            let w = match joint.parent {
                Some(p) if p < j => out[p] * local,
                _ => local,
            };
            out.push(w);
        }
    }

    fn position(&self, t: usize, j: usize) -> Vec3 {
        self.take
            .world_positions(self.sample, t)
            .get(j)
            .copied()
            .unwrap_or(Vec3::ZERO)
    }
}

/// The root position that puts the hips at `hips` given the world rotations `w`.
fn fk_root_for_hips(rig: &Skeleton, rest: &[Vec3], w: &[Quat], hips: usize, hips_at: Vec3) -> Vec3 {
    let mut offset = Vec3::ZERO;
    let mut j = hips;
    // Walk up from the hips: each offset is turned by its parent's world rotation.
    let mut guard = rig.joints.len();
    while let Some(p) = rig.joints[j].parent.filter(|p| *p < j) {
        offset += w[p] * (rest[j] - rest[p]);
        j = p;
        guard -= 1;
        if guard == 0 {
            break;
        }
    }
    hips_at - offset
}

fn fk(rig: &Skeleton, rest: &[Vec3], w: &[Quat], root: Vec3, out: &mut [Vec3]) {
    for (j, joint) in rig.joints.iter().enumerate() {
        out[j] = match joint.parent {
            Some(p) if p < j => out[p] + w[p] * (rest[j] - rest[p]),
            _ => root,
        };
    }
}

/// Where a leg's ankle must go at a frame: to a point (a contact), or by an offset (easing into and out
/// of a contact, relative to wherever the transferred motion puts it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    At(Vec3),
    By(Vec3),
    /// A toe-only contact: the toe stays on this point and the foot pivots about it, so the leg
    /// moves as little as it can.
    Toe(Vec3),
}

/// The ankle goals of one leg over the take (docs/retargeting.md, "Feet").
///
/// Each run of contact frames holds still what is down: the ankle through the whole-foot phase, the toe
/// through a toe-only phase (the heel lifting or landing), the foot's rotation as transferred. The
/// ankle's point is where the transferred ankle is in the middle of its first phase, so the IK's
/// correction is spread over the stance instead of growing to its end; the toe's point follows from it
/// where the phases meet, so nothing jumps. Ease in before a run and out after it over
/// [`BLEND_OUT_FRAMES`] frames.
fn ankle_goals(
    contacts: &[Option<Contact>],
    ankles: &[Vec3],
    toe_offsets: &[Vec3],
    has_toe: bool,
) -> Vec<Option<Goal>> {
    let n = contacts.len();
    let mut goals: Vec<Option<Goal>> = vec![None; n];
    // Without a toe joint on the rig, a toe contact holds the ankle.
    let kind = |t: usize| match contacts[t] {
        Some(Contact::Toe) if has_toe => Some(Contact::Toe),
        Some(_) => Some(Contact::Ankle),
        None => None,
    };
    let mut t = 0;
    while t < n {
        if kind(t).is_none() {
            t += 1;
            continue;
        }
        let start = t;
        while t < n && kind(t).is_some() {
            t += 1;
        }
        let end = t - 1;
        // The anchor: the middle of the first ankle phase (or of the whole run, toe only). `point` is
        // the planted point of the phase at hand: the ankle's in an ankle phase, the toe's in a toe one.
        let first_ankle = (start..=end).find(|&f| kind(f) == Some(Contact::Ankle));
        let (from, point) = match first_ankle {
            Some(a) => {
                let b = (a..=end)
                    .take_while(|&f| kind(f) == Some(Contact::Ankle))
                    .last()
                    .unwrap_or(a);
                (a, ankles[(a + b) / 2])
            }
            None => {
                let m = (start + end) / 2;
                (start, ankles[m] + toe_offsets[m])
            }
        };
        let goal_at = |f: usize, point: Vec3| match kind(f) {
            Some(Contact::Toe) => Goal::Toe(point),
            _ => Goal::At(point),
        };
        let mut p = point;
        for f in from..=end {
            if f > from && kind(f) != kind(f - 1) {
                p = match kind(f) {
                    // The heel lifts: the toe stays where it was a frame ago.
                    Some(Contact::Toe) => p + toe_offsets[f - 1],
                    // The heel lands: the ankle comes down under where the toe is.
                    _ => p - toe_offsets[f],
                };
            }
            goals[f] = Some(goal_at(f, p));
        }
        let mut p = point;
        for f in (start..from).rev() {
            if kind(f) != kind(f + 1) {
                p = match kind(f) {
                    // Toe first, then the whole foot: the toe where it is when the heel lands.
                    Some(Contact::Toe) => p + toe_offsets[f + 1],
                    _ => p - toe_offsets[f],
                };
            }
            goals[f] = Some(goal_at(f, p));
        }
        // Ease in and out.
        let offset_at = |f: usize| match goals[f] {
            Some(Goal::At(p)) => p - ankles[f],
            Some(Goal::Toe(p)) => p - (ankles[f] + toe_offsets[f]),
            _ => Vec3::ZERO,
        };
        let (into, out_of) = (offset_at(start), offset_at(end));
        for k in 1..=BLEND_OUT_FRAMES {
            let w = 1.0 - k as f32 / (BLEND_OUT_FRAMES + 1) as f32;
            if let Some(f) = start.checked_sub(k)
                && goals[f].is_none()
                && kind(f).is_none()
            {
                goals[f] = Some(Goal::By(into * w));
            }
            if end + k < n && kind(end + k).is_none() {
                goals[end + k] = Some(Goal::By(out_of * w));
            }
        }
    }
    goals
}

/// Where the ankle goes while the toe pivots on `toe_point`: at foot length from the toe, halfway (in
/// direction) between where the take's foot pitch puts it and the point nearest the ankle now. A leg
/// and a foot of other proportions than the take's cannot both keep the take's angles with the toe
/// held; this shares the difference between the foot's pitch and the leg's bend instead of putting it
/// all on one.
fn pivot_ankle(leg: &PlantedLeg, pos: &[Vec3], toe_point: Vec3) -> Vec3 {
    let Some(toe) = leg.toe else {
        return pos[leg.foot];
    };
    let toe_to_ankle = pos[leg.foot] - pos[toe];
    let foot_length = toe_to_ankle.length();
    let nearest = pos[leg.foot] - toe_point;
    if foot_length < 1e-6 || nearest.length() < 1e-6 {
        return pos[leg.foot];
    }
    let dir = (toe_to_ankle / foot_length + nearest.normalize()).normalize_or_zero();
    if dir == Vec3::ZERO {
        return toe_point + toe_to_ankle;
    }
    toe_point + dir * foot_length
}

/// How far the hips must go down for the leg to reach `goal` (0 when it already can).
fn hip_drop(leg: &PlantedLeg, pos: &[Vec3], goal: Vec3) -> f32 {
    let (Some(&hip_j), Some(&knee_j)) = (leg.thigh.first(), leg.shin.first()) else {
        return 0.0;
    };
    let reach = (pos[knee_j] - pos[hip_j]).length() + (pos[leg.foot] - pos[knee_j]).length();
    let max = reach * 0.999;
    let v = goal - pos[hip_j];
    if v.length() <= max {
        return 0.0;
    }
    // Lowering the hip by d gives v + d·Y; solve |v + d·Y| = max for the smallest d ≥ 0.
    let disc = v.y * v.y - (v.length_squared() - max * max);
    if disc < 0.0 {
        // Too far sideways to reach at any height: bring the hip level with the goal at most.
        return (-v.y).max(0.0);
    }
    (-v.y - disc.sqrt()).max(0.0)
}

/// Bends the leg so its ankle reaches `goal`, the knee toward `bend` (the way the thigh faces: a knee
/// bends forward, whatever the current, nearly straight, pose says), keeping the foot's world rotation.
/// Returns false when the goal is out of reach (the leg is stretched toward it).
fn two_bone_ik(leg: &PlantedLeg, pos: &[Vec3], w: &mut [Quat], goal: Vec3, bend: Vec3) -> bool {
    let (Some(&hip_j), Some(&knee_j)) = (leg.thigh.first(), leg.shin.first()) else {
        return false;
    };
    let (hip, knee, ankle) = (pos[hip_j], pos[knee_j], pos[leg.foot]);
    let (l1, l2) = ((knee - hip).length(), (ankle - knee).length());
    if l1 < 1e-5 || l2 < 1e-5 {
        return false;
    }
    let to_goal = goal - hip;
    let reach = to_goal.length();
    let (min, max) = ((l1 - l2).abs() + 1e-4, l1 + l2 - 1e-4);
    let d = reach.clamp(min, max);
    let dir = if reach > 1e-6 {
        to_goal / reach
    } else {
        return false;
    };
    // The bend plane: the thigh's forward, off the hip-goal line; the current knee when that is
    // degenerate (the thigh's forward along the line).
    let off_line = |v: Vec3| v - dir * v.dot(dir);
    let pole = [off_line(bend), off_line(knee - hip)]
        .into_iter()
        .find(|p| p.length() > 1e-4)
        .map(Vec3::normalize)
        .unwrap_or_else(|| dir.any_orthonormal_vector());
    let cos_a = ((l1 * l1 + d * d - l2 * l2) / (2.0 * l1 * d)).clamp(-1.0, 1.0);
    let sin_a = (1.0 - cos_a * cos_a).max(0.0).sqrt();
    let new_knee = hip + (dir * cos_a + pole * sin_a) * l1;
    let new_ankle = hip + dir * d;

    let thigh_turn = Quat::from_rotation_arc((knee - hip) / l1, (new_knee - hip) / l1);
    let shin_now = (thigh_turn * (ankle - knee)).normalize();
    let shin_turn = Quat::from_rotation_arc(shin_now, (new_ankle - new_knee).normalize());
    for &j in &leg.thigh {
        w[j] = (thigh_turn * w[j]).normalize();
    }
    for &j in &leg.shin {
        w[j] = (shin_turn * thigh_turn * w[j]).normalize();
    }
    // Joints strictly between the shin chain and the foot (none in most rigs) follow the shin; the
    // foot and below keep their world rotations.
    (reach - d).abs() < 1e-3
}

/// Keeps consecutive quaternions of each joint in the same hemisphere, so players interpolate the
/// short way.
fn make_continuous(rotations: &mut [[f32; 4]], joints: usize) {
    if joints == 0 {
        return;
    }
    for i in joints..rotations.len() {
        let prev = rotations[i - joints];
        let q = &mut rotations[i];
        let dot = prev[0] * q[0] + prev[1] * q[1] + prev[2] * q[2] + prev[3] * q[3];
        if dot < 0.0 {
            for v in q.iter_mut() {
                *v = -*v;
            }
        }
    }
}
