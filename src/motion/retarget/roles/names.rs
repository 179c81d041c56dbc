//! What joint names say, per naming convention (the table in docs/retargeting.md, "Roles").
//!
//! A name only hints: the same word means different bones in different conventions (Mixamo's
//! `LeftLeg` is the shin, SOMA's the thigh, SMPL's `left_shoulder` the upper arm), so a skeleton is
//! read with the one table that recognises most of its names, and the roles it suggests are checked
//! against the joint's place in its chain before they are used (see `super::chains`).

use super::{Role, Side};

/// What one convention's table says about a joint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hint {
    Role(Role),
    /// A bone the convention has but that plays no role (CMU's `LHipJoint`, UE's `root`).
    NoRole,
}

/// A side-less name and its hint.
type Centre = (&'static str, Hint);
/// A name with `{}` where the side goes (`thigh_{}`), and the role it has on that side (`None`: no role).
type Sided = (&'static str, Option<fn(Side) -> Role>);

struct Table {
    id: &'static str,
    /// How the convention writes left and right where `{}` stands.
    sides: [&'static str; 2],
    centre: &'static [Centre],
    sided: &'static [Sided],
}

const fn role(r: Role) -> Hint {
    Hint::Role(r)
}

/// Mixamo (`mixamorig:` prefixes are stripped before matching); the built-in model uses the same names.
const MIXAMO: Table = Table {
    id: "mixamo",
    sides: ["Left", "Right"],
    centre: &[
        ("Hips", role(Role::Hips)),
        ("Spine", role(Role::Spine)),
        ("Spine1", role(Role::Spine)),
        ("Spine2", role(Role::Spine)),
        ("Neck", role(Role::Neck)),
        ("Head", role(Role::Head)),
    ],
    sided: &[
        ("{}Shoulder", Some(Role::Shoulder)),
        ("{}Arm", Some(Role::UpperArm)),
        ("{}ForeArm", Some(Role::Forearm)),
        ("{}Hand", Some(Role::Hand)),
        ("{}UpLeg", Some(Role::Thigh)),
        ("{}Leg", Some(Role::Shin)),
        ("{}Foot", Some(Role::Foot)),
        ("{}ToeBase", Some(Role::Toe)),
    ],
};

/// The CMU motion-capture database's BVH conversions: Mixamo-like names plus hip-offset bones.
const CMU: Table = Table {
    id: "cmu",
    sides: ["Left", "Right"],
    centre: &[
        ("Hips", role(Role::Hips)),
        ("LHipJoint", Hint::NoRole),
        ("RHipJoint", Hint::NoRole),
        ("LowerBack", role(Role::Spine)),
        ("Spine", role(Role::Spine)),
        ("Spine1", role(Role::Spine)),
        ("Neck", role(Role::Neck)),
        ("Neck1", role(Role::Neck)),
        ("Head", role(Role::Head)),
    ],
    sided: &[
        ("{}Shoulder", Some(Role::Shoulder)),
        ("{}Arm", Some(Role::UpperArm)),
        ("{}ForeArm", Some(Role::Forearm)),
        ("{}Hand", Some(Role::Hand)),
        ("{}UpLeg", Some(Role::Thigh)),
        ("{}Leg", Some(Role::Shin)),
        ("{}Foot", Some(Role::Foot)),
        ("{}ToeBase", Some(Role::Toe)),
    ],
};

/// SOMA30 / SOMA77 (Kimodo): `LeftLeg` is the thigh.
const SOMA: Table = Table {
    id: "soma",
    sides: ["Left", "Right"],
    centre: &[
        ("Hips", role(Role::Hips)),
        ("Spine1", role(Role::Spine)),
        ("Spine2", role(Role::Spine)),
        ("Chest", role(Role::Chest)),
        ("Neck1", role(Role::Neck)),
        ("Neck2", role(Role::Neck)),
        ("Head", role(Role::Head)),
    ],
    sided: &[
        ("{}Shoulder", Some(Role::Shoulder)),
        ("{}Arm", Some(Role::UpperArm)),
        ("{}ForeArm", Some(Role::Forearm)),
        ("{}Hand", Some(Role::Hand)),
        ("{}Leg", Some(Role::Thigh)),
        ("{}Shin", Some(Role::Shin)),
        ("{}Foot", Some(Role::Foot)),
        ("{}ToeBase", Some(Role::Toe)),
    ],
};

/// SMPL, SMPL-H, SMPL-X: joints are named after the anatomical joint at the bone's start, so
/// `left_hip` is the thigh, `left_knee` the shin, `left_foot` the toes, `left_shoulder` the upper arm.
const SMPL: Table = Table {
    id: "smpl",
    sides: ["left", "right"],
    centre: &[
        ("pelvis", role(Role::Hips)),
        ("spine1", role(Role::Spine)),
        ("spine2", role(Role::Spine)),
        ("spine3", role(Role::Spine)),
        ("neck", role(Role::Neck)),
        ("head", role(Role::Head)),
    ],
    sided: &[
        ("{}_collar", Some(Role::Shoulder)),
        ("{}_shoulder", Some(Role::UpperArm)),
        ("{}_elbow", Some(Role::Forearm)),
        ("{}_wrist", Some(Role::Hand)),
        ("{}_hip", Some(Role::Thigh)),
        ("{}_knee", Some(Role::Shin)),
        ("{}_ankle", Some(Role::Foot)),
        ("{}_foot", Some(Role::Toe)),
    ],
};

/// Unreal Engine 4 and 5 mannequins. Twist bones and IK helpers are not listed: they hang off the
/// chains (or the root) and get no role either way.
const UE: Table = Table {
    id: "ue",
    sides: ["l", "r"],
    centre: &[
        ("root", Hint::NoRole),
        ("pelvis", role(Role::Hips)),
        ("spine_01", role(Role::Spine)),
        ("spine_02", role(Role::Spine)),
        ("spine_03", role(Role::Spine)),
        ("spine_04", role(Role::Spine)),
        ("spine_05", role(Role::Spine)),
        ("neck_01", role(Role::Neck)),
        ("neck_02", role(Role::Neck)),
        ("head", role(Role::Head)),
    ],
    sided: &[
        ("clavicle_{}", Some(Role::Shoulder)),
        ("upperarm_{}", Some(Role::UpperArm)),
        ("lowerarm_{}", Some(Role::Forearm)),
        ("hand_{}", Some(Role::Hand)),
        ("thigh_{}", Some(Role::Thigh)),
        ("calf_{}", Some(Role::Shin)),
        ("foot_{}", Some(Role::Foot)),
        ("ball_{}", Some(Role::Toe)),
    ],
};

/// Rigify's human metarig and the `DEF-` bones of the rig it generates (`DEF-` is stripped before
/// matching). `spine` is the hips, `spine.004`/`.005` the neck, `spine.006` the head; limbs are
/// split in two segments (`thigh.L`, `thigh.L.001`) that share a role.
const RIGIFY: Table = Table {
    id: "rigify",
    sides: ["L", "R"],
    centre: &[
        ("spine", role(Role::Hips)),
        ("spine.001", role(Role::Spine)),
        ("spine.002", role(Role::Spine)),
        ("spine.003", role(Role::Spine)),
        ("spine.004", role(Role::Neck)),
        ("spine.005", role(Role::Neck)),
        ("spine.006", role(Role::Head)),
    ],
    sided: &[
        ("pelvis.{}", None),
        ("shoulder.{}", Some(Role::Shoulder)),
        ("upper_arm.{}", Some(Role::UpperArm)),
        ("upper_arm.{}.001", Some(Role::UpperArm)),
        ("forearm.{}", Some(Role::Forearm)),
        ("forearm.{}.001", Some(Role::Forearm)),
        ("hand.{}", Some(Role::Hand)),
        ("thigh.{}", Some(Role::Thigh)),
        ("thigh.{}.001", Some(Role::Thigh)),
        ("shin.{}", Some(Role::Shin)),
        ("shin.{}.001", Some(Role::Shin)),
        ("foot.{}", Some(Role::Foot)),
        ("toe.{}", Some(Role::Toe)),
    ],
};

/// VRM humanoid bone names as node names (VRM 1.0 spelling).
const VRM: Table = Table {
    id: "vrm",
    sides: ["left", "right"],
    centre: &[
        ("hips", role(Role::Hips)),
        ("spine", role(Role::Spine)),
        ("chest", role(Role::Spine)),
        ("upperChest", role(Role::Spine)),
        ("neck", role(Role::Neck)),
        ("head", role(Role::Head)),
    ],
    sided: &[
        ("{}Shoulder", Some(Role::Shoulder)),
        ("{}UpperArm", Some(Role::UpperArm)),
        ("{}LowerArm", Some(Role::Forearm)),
        ("{}Hand", Some(Role::Hand)),
        ("{}UpperLeg", Some(Role::Thigh)),
        ("{}LowerLeg", Some(Role::Shin)),
        ("{}Foot", Some(Role::Foot)),
        ("{}Toes", Some(Role::Toe)),
    ],
};

/// VRoid Studio's exports (`J_Bip_C_Hips`, `J_Bip_L_UpperLeg`): VRM models too.
const VROID: Table = Table {
    id: "vrm",
    sides: ["L", "R"],
    centre: &[
        ("Root", Hint::NoRole),
        ("J_Bip_C_Hips", role(Role::Hips)),
        ("J_Bip_C_Spine", role(Role::Spine)),
        ("J_Bip_C_Chest", role(Role::Spine)),
        ("J_Bip_C_UpperChest", role(Role::Spine)),
        ("J_Bip_C_Neck", role(Role::Neck)),
        ("J_Bip_C_Head", role(Role::Head)),
    ],
    sided: &[
        ("J_Bip_{}_Shoulder", Some(Role::Shoulder)),
        ("J_Bip_{}_UpperArm", Some(Role::UpperArm)),
        ("J_Bip_{}_LowerArm", Some(Role::Forearm)),
        ("J_Bip_{}_Hand", Some(Role::Hand)),
        ("J_Bip_{}_UpperLeg", Some(Role::Thigh)),
        ("J_Bip_{}_LowerLeg", Some(Role::Shin)),
        ("J_Bip_{}_Foot", Some(Role::Foot)),
        ("J_Bip_{}_ToeBase", Some(Role::Toe)),
    ],
};

/// On a tie the earlier table wins: the more specific conventions come before Mixamo, whose names
/// the others borrow.
const TABLES: [&Table; 8] = [&SOMA, &CMU, &SMPL, &UE, &RIGIFY, &VRM, &VROID, &MIXAMO];

/// Fewer recognised names than this is a coincidence, not a convention.
const MIN_MATCHES: usize = 6;

/// The name without what exporters put in front of it: namespaces (`mixamorig:`, `mixamorig1:`),
/// three.js's colon-less `mixamorig` prefix, Rigify's `DEF-`.
fn bare(name: &str) -> &str {
    let name = name.trim();
    let name = name.rsplit(':').next().unwrap_or(name);
    let name = match name.strip_prefix("mixamorig") {
        Some(rest) => rest.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => name,
    };
    name.strip_prefix("DEF-").unwrap_or(name)
}

fn lookup(table: &Table, name: &str) -> Option<Hint> {
    if let Some((_, hint)) = table
        .centre
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Some(*hint);
    }
    for (pattern, make) in table.sided {
        let Some((before, after)) = pattern.split_once("{}") else {
            continue;
        };
        let fits = name.len() >= before.len() + after.len()
            && name.is_char_boundary(before.len())
            && name.is_char_boundary(name.len() - after.len())
            && name[..before.len()].eq_ignore_ascii_case(before)
            && name[name.len() - after.len()..].eq_ignore_ascii_case(after);
        if !fits {
            continue;
        }
        let side_word = &name[before.len()..name.len() - after.len()];
        for (side, word) in [Side::Left, Side::Right].into_iter().zip(table.sides) {
            if side_word.eq_ignore_ascii_case(word) {
                return Some(make.map_or(Hint::NoRole, |make| Hint::Role(make(side))));
            }
        }
    }
    None
}

/// The convention most names of `names` follow, and the hint it gives each joint.
pub(super) struct Reading {
    pub convention: Option<&'static str>,
    pub hints: Vec<Option<Hint>>,
}

pub(super) fn read(names: &[&str]) -> Reading {
    let mut best: Option<(&Table, usize)> = None;
    for table in TABLES {
        let matches = names
            .iter()
            .filter(|n| lookup(table, bare(n)).is_some())
            .count();
        if matches >= MIN_MATCHES && best.is_none_or(|(_, m)| matches > m) {
            best = Some((table, matches));
        }
    }
    let Some((table, _)) = best else {
        return Reading {
            convention: None,
            hints: vec![None; names.len()],
        };
    };
    // Mixamo's names without the `mixamorig` prefix are the built-in model's (rig.rs).
    let prefixed = names.iter().any(|n| n.contains("mixamorig"));
    let convention = match table.id {
        "mixamo" if !prefixed => "stagecraft",
        id => id,
    };
    Reading {
        convention: Some(convention),
        hints: names.iter().map(|n| lookup(table, bare(n))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped() {
        assert_eq!(bare("mixamorig:LeftLeg"), "LeftLeg");
        assert_eq!(bare("mixamorig1:Hips"), "Hips");
        assert_eq!(bare("mixamorigHips"), "Hips");
        assert_eq!(bare("DEF-thigh.L.001"), "thigh.L.001");
        assert_eq!(bare("ns:sub:head"), "head");
    }

    #[test]
    fn the_same_word_means_what_its_convention_says() {
        assert_eq!(
            lookup(&MIXAMO, "LeftLeg"),
            Some(Hint::Role(Role::Shin(Side::Left)))
        );
        assert_eq!(
            lookup(&SOMA, "LeftLeg"),
            Some(Hint::Role(Role::Thigh(Side::Left)))
        );
        assert_eq!(
            lookup(&SMPL, "right_shoulder"),
            Some(Hint::Role(Role::UpperArm(Side::Right)))
        );
        assert_eq!(lookup(&RIGIFY, "pelvis.L"), Some(Hint::NoRole));
        assert_eq!(lookup(&UE, "thigh_twist_01_l"), None);
        assert_eq!(lookup(&UE, "thigh_x"), None);
        // Multi-byte names do not trip the slicing.
        assert_eq!(lookup(&UE, "thigh_é"), None);
    }
}
