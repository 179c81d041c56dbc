//! Humanoid roles for any skeleton (docs/retargeting.md, "Roles").
//!
//! The structure comes from the shape of the skeleton: the hips are the joint two legs go down
//! from and a spine goes up from; the arms are the two long branches leaving the spine sideways and
//! the chest is where they leave; the head tops the spine. Names are strong hints on the way (which
//! joint is the hips, where the knee is along a leg with twist segments, which leg is the left one),
//! read with the table of the naming convention the skeleton follows (`names`), and they are only
//! believed where they agree with the joint's place in its chain: Mixamo's `LeftLeg` is a shin
//! because it is the second bone down from the hips, not because of its name.

mod body;
mod names;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use glam::Vec3;
use serde::Serialize;

use crate::motion::take::Skeleton;
use body::{Body, flat};
use names::Hint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
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
    /// The way the character faces at rest, horizontal and of unit length (its left is
    /// `Vec3::Y.cross(facing)`). `+Z` when it could not be told (a warning says so).
    pub facing: Vec3,
}

impl Humanoid {
    /// The joints with `role`, root to tip (a spine of three joints, a thigh and its twist segment).
    pub fn joints(&self, role: Role) -> Vec<usize> {
        // Parents come before their children (`body` reads any other parent as a root), so index
        // order is root-to-tip order along a chain.
        (0..self.roles.len())
            .filter(|&j| self.roles[j] == Some(role))
            .collect()
    }

    /// The joint nearest the root with `role`.
    pub fn joint(&self, role: Role) -> Option<usize> {
        self.roles.iter().position(|r| *r == Some(role))
    }

    pub fn facing(&self) -> Vec3 {
        self.facing
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoleError {
    /// Not a humanoid: names what could not be found (e.g. `["left leg (thigh, shin, foot)"]`).
    #[error("not a humanoid skeleton: no {}", missing.join(", no "))]
    NotHumanoid { missing: Vec<String> },
}

/// Maps every joint of `skeleton` to its humanoid role.
pub fn detect(skeleton: &Skeleton) -> Result<Humanoid, RoleError> {
    if skeleton.joints.is_empty() {
        return Err(RoleError::NotHumanoid {
            missing: vec!["joints (the skeleton is empty)".into()],
        });
    }
    let body = Body::new(skeleton);
    let joint_names: Vec<&str> = skeleton.names().collect();
    let reading = names::read(&joint_names);
    let mut detector = Detector {
        hints: reading.hints,
        warnings: body.warnings.clone(),
        body,
        by_shape: reading.convention.is_none(),
    };
    detector.warn_duplicate_names(skeleton);
    let mut humanoid = detector.run()?;
    humanoid.conventions = reading.convention.into_iter().collect();
    if detector.by_shape {
        humanoid.conventions.push("topology");
    }
    Ok(humanoid)
}

/// A limb bone, before the limb's side is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Shoulder,
    UpperArm,
    Forearm,
    Hand,
    Thigh,
    Shin,
    Foot,
    Toe,
}

impl Part {
    fn role(self, side: Side) -> Role {
        match self {
            Part::Shoulder => Role::Shoulder(side),
            Part::UpperArm => Role::UpperArm(side),
            Part::Forearm => Role::Forearm(side),
            Part::Hand => Role::Hand(side),
            Part::Thigh => Role::Thigh(side),
            Part::Shin => Role::Shin(side),
            Part::Foot => Role::Foot(side),
            Part::Toe => Role::Toe(side),
        }
    }

    /// The part a (sided) role is, and its side.
    fn of(role: Role) -> Option<(Part, Side)> {
        [
            Part::Shoulder,
            Part::UpperArm,
            Part::Forearm,
            Part::Hand,
            Part::Thigh,
            Part::Shin,
            Part::Foot,
            Part::Toe,
        ]
        .into_iter()
        .find_map(|part| {
            [Side::Left, Side::Right]
                .into_iter()
                .find(|&side| part.role(side) == role)
                .map(|side| (part, side))
        })
    }
}

const LEG: [Part; 4] = [Part::Thigh, Part::Shin, Part::Foot, Part::Toe];
const ARM: [Part; 4] = [Part::Shoulder, Part::UpperArm, Part::Forearm, Part::Hand];

/// A leg or an arm: its joints with their parts, root to tip.
#[derive(Debug)]
struct Limb {
    parts: Vec<(usize, Part)>,
    /// The side the names give, when they give one.
    named_side: Option<Side>,
}

impl Limb {
    fn first(&self, part: Part) -> Option<usize> {
        self.parts.iter().find(|(_, p)| *p == part).map(|(j, _)| *j)
    }

    /// Mean rest position of the limb's joints: which side of the body it is on.
    fn centre(&self, body: &Body) -> Vec3 {
        let sum: Vec3 = self.parts.iter().map(|(j, _)| body.pos[*j]).sum();
        sum / self.parts.len().max(1) as f32
    }
}

/// Where the legs and the spine leave the hips.
struct Pelvis {
    hips: usize,
    legs: [usize; 2],
    spine: usize,
}

struct Detector {
    body: Body,
    hints: Vec<Option<Hint>>,
    warnings: Vec<String>,
    /// Some roles came from the shape of the skeleton rather than from names.
    by_shape: bool,
}

impl Detector {
    fn run(&mut self) -> Result<Humanoid, RoleError> {
        let pelvis = self.find_pelvis()?;
        let hips = pelvis.hips;

        let leg_chains = pelvis.legs.map(|start| self.follow(start));
        let mut legs = Vec::new();
        let mut missing = Vec::new();
        for chain in &leg_chains {
            match self.leg(chain, hips) {
                Ok(leg) => legs.push(leg),
                Err(what) => missing.push(what),
            }
        }
        missing.dedup();
        if !missing.is_empty() {
            return Err(RoleError::NotHumanoid {
                missing: missing
                    .into_iter()
                    .map(|what| format!("{what} in a leg going down from the hips"))
                    .collect::<Vec<_>>(),
            });
        }
        let leg_length = legs
            .iter()
            .filter_map(|leg| Some((leg.first(Part::Thigh)?, leg.first(Part::Foot)?)))
            .map(|(top, foot)| self.body.pos[top].distance(self.body.pos[foot]))
            .sum::<f32>()
            / legs.len().max(1) as f32;

        // The spine: from the hips to the highest joint above them.
        let top = self
            .body
            .subtree(pelvis.spine)
            .into_iter()
            .max_by(|&a, &b| self.body.pos[a].y.total_cmp(&self.body.pos[b].y))
            .unwrap_or(pelvis.spine);
        let path = self.body.path(hips, top);
        let arms = self.find_arms(&path, leg_length);
        let spine = self.spine(&path, &arms, leg_length);

        let facing = self.facing(&legs);
        let left = Vec3::Y.cross(facing);
        let leg_sides = self.sides(&legs.iter().collect::<Vec<_>>(), hips, left, "legs");
        let arm_sides = self.sides(
            &arms.iter().map(|(limb, _)| limb).collect::<Vec<_>>(),
            spine.chest.unwrap_or(hips),
            left,
            "arms",
        );

        let mut roles = vec![None; self.body.len()];
        roles[hips] = Some(Role::Hips);
        for &j in &spine.spine {
            roles[j] = Some(Role::Spine);
        }
        if let Some(chest) = spine.chest {
            roles[chest] = Some(Role::Chest);
        }
        for &j in &spine.neck {
            roles[j] = Some(Role::Neck);
        }
        if let Some(head) = spine.head {
            roles[head] = Some(Role::Head);
        }
        for (limb, side) in legs.iter().zip(&leg_sides) {
            for &(j, part) in &limb.parts {
                roles[j] = Some(part.role(*side));
            }
        }
        for ((limb, _), side) in arms.iter().zip(&arm_sides) {
            for &(j, part) in &limb.parts {
                roles[j] = Some(part.role(*side));
            }
        }

        let toes = legs.iter().filter(|leg| leg.first(Part::Toe).is_some());
        match toes.count() {
            0 => self.warnings.push("no toes on the rig".into()),
            1 => {
                let side = leg_sides[legs
                    .iter()
                    .position(|leg| leg.first(Part::Toe).is_none())
                    .unwrap_or(0)];
                self.warnings
                    .push(format!("no toes on the {} foot", side.word()));
            }
            _ => {}
        }
        match arm_sides.as_slice() {
            [] => self
                .warnings
                .push("no arms on the rig (no long chains leaving the spine sideways)".into()),
            [side] => self
                .warnings
                .push(format!("no {} arm on the rig", side.other().word())),
            _ => {}
        }
        if spine.head.is_none() {
            self.warnings.push("no head on the rig".into());
        } else if spine.neck.is_empty() {
            self.warnings
                .push("no neck on the rig: the head sits on the chest".into());
        }

        // Both legs (or arms) may report the same thing.
        self.warnings.dedup();
        Ok(Humanoid {
            roles,
            conventions: Vec::new(),
            warnings: std::mem::take(&mut self.warnings),
            facing,
        })
    }

    fn warn_duplicate_names(&mut self, skeleton: &Skeleton) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for name in skeleton.names() {
            *seen.entry(name).or_default() += 1;
        }
        let mut shared: Vec<&str> = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(name, _)| name)
            .collect();
        shared.sort_unstable();
        if !shared.is_empty() {
            self.warnings.push(format!(
                "several joints share a name ({}): tools that find joints by name will see only one",
                shared
                    .iter()
                    .take(5)
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }

    fn role_hint(&self, j: usize) -> Option<Role> {
        match self.hints[j] {
            Some(Hint::Role(role)) => Some(role),
            _ => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Hips

    /// The hips: the joint with two legs going down and a spine going up. The joint the names call
    /// the hips wins when it has that shape; otherwise the biggest such joint (nearest the root).
    fn find_pelvis(&mut self) -> Result<Pelvis, RoleError> {
        let candidates: Vec<Pelvis> = (0..self.body.len())
            .filter_map(|j| self.pelvis_at(j))
            .collect();
        let named = candidates
            .iter()
            .position(|c| self.role_hint(c.hips) == Some(Role::Hips));
        if named.is_none() {
            self.by_shape = true;
        }
        let chosen = named.or_else(|| {
            (0..candidates.len())
                .max_by_key(|&i| (self.body.size[candidates[i].hips], usize::MAX - i))
        });
        match chosen.and_then(|i| candidates.into_iter().nth(i)) {
            Some(pelvis) => Ok(pelvis),
            None => Err(self.why_no_hips()),
        }
    }

    /// A child subtree that can be a leg: at least thigh, shin and foot, reaching well below `j`.
    fn is_leg_like(&self, j: usize, c: usize) -> bool {
        self.body.depth[c] >= 3 && self.body.low[c] < self.body.pos[j].y - 0.25 * self.body.height
    }

    /// A child subtree that can be a spine: at least two joints, reaching well above `j`.
    fn is_spine_like(&self, j: usize, c: usize) -> bool {
        self.body.depth[c] >= 2 && self.body.high[c] > self.body.pos[j].y + 0.1 * self.body.height
    }

    fn pelvis_at(&self, j: usize) -> Option<Pelvis> {
        let body = &self.body;
        // (where a leg starts, the child of `j` it hangs from)
        let mut legs: Vec<(usize, usize)> = Vec::new();
        for &c in &body.children[j] {
            if !self.is_leg_like(j, c) {
                continue;
            }
            let split: Vec<usize> = body.children[c]
                .iter()
                .copied()
                .filter(|&g| self.is_leg_like(c, g))
                .collect();
            let spine_below = body.children[c].iter().any(|&g| self.is_spine_like(c, g));
            if split.len() >= 2 && !spine_below {
                // Both legs hang from a pelvis bone under the hips (Daz Genesis' `pelvis`).
                legs.extend(split.into_iter().map(|g| (g, c)));
            } else {
                legs.push((c, c));
            }
        }
        // More than two candidates (a skirt, a tail): the two reaching lowest, then the biggest.
        legs.sort_by(|&(a, _), &(b, _)| {
            body.low[a]
                .total_cmp(&body.low[b])
                .then(body.size[b].cmp(&body.size[a]))
        });
        let [(first, via_first), (second, via_second), ..] = legs[..] else {
            return None;
        };
        let spine = body.children[j]
            .iter()
            .copied()
            .filter(|&c| c != via_first && c != via_second && self.is_spine_like(j, c))
            .max_by(|&a, &b| body.high[a].total_cmp(&body.high[b]))?;
        // Keep skeleton order so that results do not depend on which leg reaches lower.
        let legs = if first < second {
            [first, second]
        } else {
            [second, first]
        };
        Some(Pelvis {
            hips: j,
            legs,
            spine,
        })
    }

    fn why_no_hips(&self) -> RoleError {
        let body = &self.body;
        let legs_at = |j: usize| {
            body.children[j]
                .iter()
                .filter(|&&c| self.is_leg_like(j, c))
                .count()
        };
        let two_legs = (0..body.len()).any(|j| legs_at(j) >= 2);
        let spine_over_legs = (0..body.len())
            .any(|j| legs_at(j) >= 1 && body.children[j].iter().any(|&c| self.is_spine_like(j, c)));
        let mut missing = Vec::new();
        if !two_legs {
            missing.push("two legs (thigh, shin and foot each) going down from one joint".into());
        }
        if !spine_over_legs {
            missing.push("spine going up from the hips".into());
        }
        if missing.is_empty() {
            // Two legs somewhere and a spine over a leg somewhere, but never at the same joint.
            missing.push("hips joining two legs and a spine".into());
        }
        RoleError::NotHumanoid { missing }
    }

    /// `start` and the joints a chain continues through: a child whose name gives it a role first,
    /// else the longest branch (`Body::main_child`).
    fn follow(&self, start: usize) -> Vec<usize> {
        let mut chain = vec![start];
        let mut j = start;
        loop {
            let named = self.body.children[j]
                .iter()
                .copied()
                .filter(|&c| self.role_hint(c).is_some())
                .max_by_key(|&c| self.body.depth[c]);
            match named.or_else(|| self.body.main_child(j)) {
                Some(c) => {
                    chain.push(c);
                    j = c;
                }
                None => return chain,
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Limbs

    /// The limb's parts as its names give them, if the names fit the chain: parts in `order` root
    /// to tip, every part of `required` present. Unnamed joints between two joints of one part (a
    /// twist segment with an unknown name) get that part; other unnamed joints get none.
    fn limb_by_names(&self, chain: &[usize], order: &[Part], required: &[Part]) -> Option<Limb> {
        let mut named: Vec<Option<Part>> = vec![None; chain.len()];
        let mut sides = Vec::new();
        let mut last_stage = 0;
        for (i, &j) in chain.iter().enumerate() {
            let Some(role) = self.role_hint(j) else {
                continue;
            };
            let (part, side) = Part::of(role)?;
            let stage = order.iter().position(|p| *p == part)?;
            if stage < last_stage {
                return None;
            }
            last_stage = stage;
            named[i] = Some(part);
            sides.push(side);
        }
        let mut previous: Option<(usize, Part)> = None;
        for i in 0..chain.len() {
            if let Some(part) = named[i] {
                if let Some((k, same)) = previous.filter(|(_, p)| *p == part) {
                    named[k + 1..i].fill(Some(same));
                }
                previous = Some((i, part));
            }
        }
        if !required.iter().all(|r| named.contains(&Some(*r))) {
            return None;
        }
        let named_side = sides
            .first()
            .copied()
            .filter(|s| sides.iter().all(|t| t == s));
        Some(Limb {
            parts: chain
                .iter()
                .zip(named)
                .filter_map(|(&j, part)| Some((j, part?)))
                .collect(),
            named_side,
        })
    }

    /// The index in `chain[from..=to]` whose distance along the chain from `chain[from]` is nearest
    /// `fraction` of the whole: where the knee or the elbow is, twist segments or not.
    fn split(&self, chain: &[usize], from: usize, to: usize, fraction: f32) -> usize {
        let mut along = vec![0.0f32];
        for i in from + 1..=to {
            along.push(
                along[along.len() - 1]
                    + self.body.pos[chain[i - 1]].distance(self.body.pos[chain[i]]),
            );
        }
        let total = along[along.len() - 1].max(f32::MIN_POSITIVE);
        (from + 1..to)
            .min_by(|&a, &b| {
                (along[a - from] / total - fraction)
                    .abs()
                    .total_cmp(&(along[b - from] / total - fraction).abs())
            })
            .unwrap_or(from + 1)
    }

    fn leg(&mut self, chain: &[usize], hips: usize) -> Result<Limb, String> {
        let named = self
            .limb_by_names(chain, &LEG, &[Part::Thigh, Part::Shin, Part::Foot])
            .filter(|leg| {
                // Names must still describe a leg: thigh, shin, foot each lower than the one before.
                let y = |part| leg.first(part).map(|j| self.body.pos[j].y);
                matches!(
                    (y(Part::Thigh), y(Part::Shin), y(Part::Foot)),
                    (Some(thigh), Some(shin), Some(foot)) if thigh > shin && shin > foot
                )
            });
        if let Some(leg) = named {
            return Ok(leg);
        }
        self.note_names_not_followed(chain, "leg");
        self.leg_by_shape(chain, hips)
    }

    /// Roles of `chain` come from its shape; say so if its names suggested others.
    fn note_names_not_followed(&mut self, chain: &[usize], limb: &str) {
        self.by_shape = true;
        if chain.iter().any(|&j| self.role_hint(j).is_some()) {
            self.warnings.push(format!(
                "the names of the {limb} joints do not fit their places in the {limb}; its roles come from its shape"
            ));
        }
    }

    /// Foot: the low joint the chain turns forward from (towards the toes), or the chain's end.
    /// Thigh: the first joint away from the hips (CMU's `LHipJoint` sits on them). Knee: halfway
    /// along from the hip to the ankle, which stays true with twist segments in between.
    fn leg_by_shape(&self, chain: &[usize], hips: usize) -> Result<Limb, String> {
        let pos = &self.body.pos;
        let ground = chain
            .iter()
            .map(|&j| pos[j].y)
            .fold(f32::INFINITY, f32::min);
        let hip_height = pos[hips].y - ground;
        let low = |j: usize| pos[j].y - ground <= 0.3 * hip_height;
        let turns_forward = |a: usize, b: usize| {
            let bone = pos[b] - pos[a];
            let along_ground = flat(bone).length();
            along_ground > bone.y.abs() && along_ground > 0.0
        };
        let foot = (1..chain.len().saturating_sub(1))
            .find(|&i| low(chain[i]) && turns_forward(chain[i], chain[i + 1]))
            .unwrap_or(chain.len() - 1);
        if !(hip_height > 0.0 && low(chain[foot])) {
            return Err("foot near the ground".into());
        }
        let reach = pos[hips].distance(pos[chain[foot]]);
        let thigh = (0..foot)
            .find(|&i| pos[chain[i]].distance(pos[hips]) > 0.05 * reach)
            .ok_or("thigh")?;
        if foot < thigh + 2 {
            return Err("knee between the hip and the foot".into());
        }
        let knee = self.split(chain, thigh, foot, 0.5);
        let mut parts: Vec<(usize, Part)> = Vec::new();
        parts.extend(chain[thigh..knee].iter().map(|&j| (j, Part::Thigh)));
        parts.extend(chain[knee..foot].iter().map(|&j| (j, Part::Shin)));
        parts.push((chain[foot], Part::Foot));
        if let Some(&toe) = chain.get(foot + 1) {
            parts.push((toe, Part::Toe));
        }
        Ok(Limb {
            parts,
            named_side: None,
        })
    }

    /// The two long chains leaving the spine sideways, with the index in `path` they leave from.
    fn find_arms(&mut self, path: &[usize], leg_length: f32) -> Vec<(Limb, usize)> {
        let body = &self.body;
        let mut candidates: Vec<(usize, usize, f32)> = Vec::new();
        for i in 1..path.len().saturating_sub(1) {
            let from = body.pos[path[i]];
            for &c in &body.children[path[i]] {
                if c == path[i + 1] || body.depth[c] < 3 {
                    continue;
                }
                let reach = body
                    .subtree(c)
                    .into_iter()
                    .map(|k| body.pos[k].distance(from))
                    .fold(0.0, f32::max);
                // An arm reaches about two thirds of a leg from the spine; hair and breast chains
                // reach far less.
                if reach >= 0.35 * leg_length {
                    candidates.push((c, i, reach));
                }
            }
        }
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2));
        candidates.truncate(2);
        candidates.sort_by_key(|(c, _, _)| *c);
        let mut arms = Vec::new();
        for (start, at, _) in candidates {
            let chain = self.follow(start);
            let named =
                self.limb_by_names(&chain, &ARM, &[Part::UpperArm, Part::Forearm, Part::Hand]);
            let limb = match named {
                Some(limb) => Some(limb),
                None => {
                    self.note_names_not_followed(&chain, "arm");
                    self.arm_by_shape(&chain, path[at])
                }
            };
            match limb {
                Some(limb) => arms.push((limb, at)),
                None => self.warnings.push(
                    "a long chain leaves the spine but is not an arm (upper arm, forearm, hand)"
                        .into(),
                ),
            }
        }
        arms
    }

    /// Hand: the first joint the chain branches from into fingers (twist bones on the forearm do not
    /// count), or the chain's end unless that is a short end bone. Shoulder: a first joint close to
    /// the spine next to how far the hand reaches. Elbow: halfway from the shoulder joint to the wrist.
    fn arm_by_shape(&self, chain: &[usize], chest: usize) -> Option<Limb> {
        let body = &self.body;
        let fingers = |j: usize| {
            body.children[j]
                .iter()
                .filter(|&&c| !body.is_twist_leaf(c))
                .count()
        };
        let last = chain.len() - 1;
        let hand = (2..chain.len())
            .find(|&i| fingers(chain[i]) >= 2)
            .unwrap_or_else(|| {
                let short_end =
                    last >= 3 && body.bone(chain[last]) < 0.5 * body.bone(chain[last - 1]);
                if short_end { last - 1 } else { last }
            });
        if hand < 2 {
            return None;
        }
        let out = |j: usize| flat(body.pos[j] - body.pos[chest]).length();
        let shoulder = hand >= 3 && out(chain[0]) < 0.2 * out(chain[hand]);
        let upper = usize::from(shoulder);
        if hand < upper + 2 {
            return None;
        }
        let elbow = self.split(chain, upper, hand, 0.5);
        let mut parts: Vec<(usize, Part)> = Vec::new();
        if shoulder {
            parts.push((chain[0], Part::Shoulder));
        }
        parts.extend(chain[upper..elbow].iter().map(|&j| (j, Part::UpperArm)));
        parts.extend(chain[elbow..hand].iter().map(|&j| (j, Part::Forearm)));
        parts.push((chain[hand], Part::Hand));
        Some(Limb {
            parts,
            named_side: None,
        })
    }

    // ---------------------------------------------------------------------------------------
    // Spine, neck, head

    fn spine(&mut self, path: &[usize], arms: &[(Limb, usize)], leg_length: f32) -> Spine {
        let hint_at = |role: Role| (1..path.len()).find(|&i| self.role_hint(path[i]) == Some(role));
        let chest_from_arms = arms.iter().map(|(_, at)| *at).max();
        let named_head = hint_at(Role::Head).filter(|&h| chest_from_arms.is_none_or(|c| h > c));
        let head = named_head
            .or_else(|| self.head_by_shape(path, chest_from_arms.unwrap_or(0) + 1, leg_length));
        // Without arms the names may still say where the chest is; else assume one neck bone.
        let chest = chest_from_arms
            .or_else(|| hint_at(Role::Chest))
            .or_else(|| hint_at(Role::Neck).map(|n| n - 1).filter(|&c| c >= 1))
            .or_else(|| match head {
                Some(h) if h >= 3 => Some(h - 2),
                Some(h) if h >= 2 => Some(h - 1),
                Some(_) => None,
                None => (path.len() >= 2).then_some(path.len() - 1),
            })
            .filter(|&c| head.is_none_or(|h| c < h));
        if named_head.is_none() {
            self.by_shape = true;
        }
        let spine_end = chest.or(head).unwrap_or(path.len());
        Spine {
            spine: path[1..spine_end].to_vec(),
            chest: chest.map(|c| path[c]),
            neck: match (chest, head) {
                (Some(c), Some(h)) => path[c + 1..h].to_vec(),
                _ => Vec::new(),
            },
            head: head.map(|h| path[h]),
        }
    }

    /// Among `path[from..]`: the first joint that branches (eyes, jaw, face, hair hang off the
    /// head, never off the neck) or the joint it sits on; else the last joint, or its parent when the last is a long end
    /// bone (Mixamo's `HeadTop_End` is about a skull high, a neck bone far less).
    fn head_by_shape(&self, path: &[usize], from: usize, leg_length: f32) -> Option<usize> {
        let body = &self.body;
        if from >= path.len() {
            return None;
        }
        let last = path.len() - 1;
        if let Some(mut i) = (from..last).find(|&i| body.children[path[i]].len() >= 2) {
            // A branching joint sitting on its parent (Rigify's `face` on `spine.006`) is a helper
            // of the head, not the head.
            while i > from && body.bone(path[i]) <= 0.01 * leg_length {
                i -= 1;
            }
            return Some(i);
        }
        let end_bone = body.children[path[last]].is_empty()
            && last > from
            && body.bone(path[last]) > 0.15 * leg_length;
        Some(if end_bone { last - 1 } else { last })
    }

    // ---------------------------------------------------------------------------------------
    // Facing and sides

    /// Where the toes point; else, from which leg the names call left.
    fn facing(&mut self, legs: &[Limb]) -> Vec3 {
        let pos = &self.body.pos;
        let toes: Vec<Vec3> = legs
            .iter()
            .filter_map(|leg| {
                Some(flat(
                    pos[leg.first(Part::Toe)?] - pos[leg.first(Part::Foot)?],
                ))
            })
            .collect();
        let sum: Vec3 = toes.iter().copied().sum();
        let total: f32 = toes.iter().map(|t| t.length()).sum();
        if total > 0.0 && sum.length() > 0.5 * total {
            return sum.normalize();
        }
        if let [a, b] = legs
            && let (Some(sa), Some(sb)) = (a.named_side, b.named_side)
            && sa != sb
        {
            let (l, r) = if sa == Side::Left { (a, b) } else { (b, a) };
            let left = flat(l.centre(&self.body) - r.centre(&self.body));
            if left.length() > 0.0 {
                return left.normalize().cross(Vec3::Y);
            }
        }
        self.warnings.push(
            "cannot tell which way the character faces (no toes, no left and right in the joint names); assumed it faces +Z".into(),
        );
        Vec3::Z
    }

    /// The side of each limb of a pair (or a single limb): by name when the names give the two
    /// limbs opposite sides, else by which lies further to the character's left of `centre`.
    fn sides(&mut self, limbs: &[&Limb], centre: usize, left: Vec3, what: &str) -> Vec<Side> {
        let lateral = |limb: &Limb| (limb.centre(&self.body) - self.body.pos[centre]).dot(left);
        match limbs {
            [] => Vec::new(),
            [one] => vec![one.named_side.unwrap_or(if lateral(one) >= 0.0 {
                Side::Left
            } else {
                Side::Right
            })],
            [a, b, ..] => {
                let geometric = if lateral(a) >= lateral(b) {
                    [Side::Left, Side::Right]
                } else {
                    [Side::Right, Side::Left]
                };
                if (lateral(a) - lateral(b)).abs() <= 1e-4 * self.body.height {
                    self.warnings.push(format!(
                        "cannot tell the left {what} from the right ones by their places"
                    ));
                }
                match (a.named_side, b.named_side) {
                    (Some(sa), Some(sb)) if sa != sb => {
                        if [sa, sb] != geometric {
                            self.warnings.push(format!(
                                "the {what} named left are on the character's right as it faces; the names were followed"
                            ));
                        }
                        vec![sa, sb]
                    }
                    _ => geometric.to_vec(),
                }
            }
        }
    }
}

/// The spine path's roles, as joints.
struct Spine {
    spine: Vec<usize>,
    chest: Option<usize>,
    neck: Vec<usize>,
    head: Option<usize>,
}
