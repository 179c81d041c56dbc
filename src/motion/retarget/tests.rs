//! Transfer behaviour: directions, placement, scale, chains of other lengths, planted feet, bad input.

use std::collections::BTreeMap;

use glam::{Quat, Vec3};

use super::*;
use crate::motion::procedural::{self, Plan, standard_skeleton};
use crate::motion::take::{Skeleton, Take};

fn walk(seconds: f32) -> Take {
    procedural::generate(&Plan::text("a person walks forward", seconds, 3)).expect("walk")
}

/// `skeleton` turned `degrees` about +Y, scaled, its root placed at `at` (rest offsets are world-aligned,
/// so a rig turned in its scene has turned offsets).
fn posed(skeleton: &Skeleton, degrees: f32, scale: f32, at: Vec3) -> Skeleton {
    let turn = Quat::from_rotation_y(degrees.to_radians());
    let mut out = skeleton.clone();
    for j in &mut out.joints {
        let o = Vec3::from(j.rest_translation) * scale;
        j.rest_translation = match j.parent {
            None => (turn * o + at).to_array(),
            Some(_) => (turn * o).to_array(),
        };
    }
    out
}

fn renamed(skeleton: &Skeleton, rename: impl Fn(&str) -> String) -> Skeleton {
    let mut out = skeleton.clone();
    for j in &mut out.joints {
        j.name = rename(&j.name);
    }
    out
}

/// A segment by its two joint names, and a (take segment, rig segment) pair.
type Segment<'a> = (&'a str, &'a str);
type Pair<'a> = (Segment<'a>, Segment<'a>);

fn dir(p: &[Vec3], a: usize, b: usize) -> Vec3 {
    (p[b] - p[a]).normalize()
}

fn angle_deg(a: Vec3, b: Vec3) -> f32 {
    a.dot(b).clamp(-1.0, 1.0).acos().to_degrees()
}

/// Pairs of (take segment, rig segment) by joint names, checked at every `step`th frame: the rig's
/// points where the take's points, turned by the map's heading.
fn assert_segments(
    take: &Take,
    out: &Take,
    turn: Quat,
    pairs: &[Pair],
    max_deg: f32,
    skip: impl Fn(usize) -> bool,
) {
    let ti = |n: &str| {
        take.skeleton
            .index_of(n)
            .unwrap_or_else(|| panic!("take joint {n}"))
    };
    let ri = |n: &str| {
        out.skeleton
            .index_of(n)
            .unwrap_or_else(|| panic!("rig bone {n}"))
    };
    for t in (0..take.num_frames).step_by(3) {
        if skip(t) {
            continue;
        }
        let tp = take.world_positions(&take.samples[0], t);
        let rp = out.world_positions(&out.samples[0], t);
        for ((ta, tb), (ra, rb)) in pairs {
            let want = turn * dir(&tp, ti(ta), ti(tb));
            let got = dir(&rp, ri(ra), ri(rb));
            let err = angle_deg(want, got);
            assert!(
                err <= max_deg,
                "frame {t}: {ra}->{rb} is {err:.2}° off {ta}->{tb}"
            );
        }
    }
}

const LIMBS: [(&str, &str); 12] = [
    ("LeftUpLeg", "LeftLeg"),
    ("LeftLeg", "LeftFoot"),
    ("RightUpLeg", "RightLeg"),
    ("RightLeg", "RightFoot"),
    ("LeftArm", "LeftForeArm"),
    ("LeftForeArm", "LeftHand"),
    ("RightArm", "RightForeArm"),
    ("RightForeArm", "RightHand"),
    ("Hips", "Neck"),
    ("Neck", "Head"),
    ("LeftFoot", "LeftToeBase"),
    ("RightFoot", "RightToeBase"),
];

fn same_names() -> Vec<Pair<'static>> {
    LIMBS.iter().map(|s| (*s, *s)).collect()
}

#[test]
fn a_skeleton_onto_itself_is_the_same_motion() {
    let take = walk(2.0);
    let m = map(&take.skeleton, &take.skeleton, &Options::default()).expect("map");
    // In the take's own frame nothing moves; placed at the rig, the walk starts on its rest hips.
    let (at_rig, _) = m.apply(&take, Placement::AtRig).expect("apply");
    let start = at_rig.world_positions(&at_rig.samples[0], 0)[0];
    assert!(
        start.x.abs() < 1e-5 && start.z.abs() < 1e-5,
        "starts at {start}"
    );
    let (out, _) = m.apply(&take, Placement::SceneFrame).expect("apply");
    for t in 0..take.num_frames {
        let a = take.world_positions(&take.samples[0], t);
        let b = out.world_positions(&out.samples[0], t);
        for (j, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!((*p - *q).length() < 1e-4, "frame {t} joint {j}: {p} vs {q}");
        }
    }
    assert_eq!(m.joint_map.len(), take.skeleton.joints.len());
    assert!(m.unmapped_bones.is_empty(), "{:?}", m.unmapped_bones);
}

#[test]
fn a_turned_scaled_rig_off_the_origin_walks_its_way_from_where_it_stands() {
    let take = walk(3.0);
    let at = Vec3::new(3.0, 0.0, -2.0);
    for degrees in [90.0f32, 180.0, -60.0] {
        let rig = renamed(&posed(&take.skeleton, degrees, 1.25, at), |n| {
            format!("mixamorig:{n}")
        });
        let m = map(&take.skeleton, &rig, &Options::default()).expect("map");
        assert!(
            (m.frame.scale - 1.25).abs() < 1e-3,
            "scale {}",
            m.frame.scale
        );
        assert!(
            (m.frame.turn_degrees() - degrees).abs() < 0.01
                || (m.frame.turn_degrees() - degrees).abs() > 359.9,
            "heading {} for {degrees}",
            m.frame.turn_degrees()
        );
        let (out, _) = m.apply(&take, Placement::AtRig).expect("apply");
        let pairs: Vec<_> = LIMBS.iter().map(|(a, b)| ((*a, *b), (a, b))).collect();
        let names: Vec<(String, String)> = pairs
            .iter()
            .map(|(_, (a, b))| (format!("mixamorig:{a}"), format!("mixamorig:{b}")))
            .collect();
        let pairs: Vec<_> = pairs
            .iter()
            .zip(&names)
            .map(|((s, _), (a, b))| (*s, (a.as_str(), b.as_str())))
            .collect();
        assert_segments(&take, &out, m.frame.turn, &pairs, 0.5, |_| false);

        // The hips: the take's path, turned and scaled, starting where the rig's hips are.
        let hips = out.skeleton.index_of("mixamorig:Hips").expect("hips");
        let rig_hips = rest_world(&rig)[hips];
        let take_hips0 = take.world_positions(&take.samples[0], 0)[0];
        for t in 0..take.num_frames {
            let src = take.world_positions(&take.samples[0], t)[0];
            let want = Vec3::new(rig_hips.x, 0.0, rig_hips.z)
                + m.frame.turn * Vec3::new(src.x - take_hips0.x, 0.0, src.z - take_hips0.z) * 1.25
                + Vec3::Y * (src.y * 1.25);
            let got = out.world_positions(&out.samples[0], t)[hips];
            assert!(
                (want - got).length() < 1e-3,
                "{degrees}° frame {t}: {got} vs {want}"
            );
        }
    }
}

/// A rig in an A-pose (arms 40° down) with bent elbows, and the take in a T-pose: the arms still point
/// where the take's point.
#[test]
fn rest_pose_differences_do_not_change_directions() {
    let take = walk(2.0);
    let mut rig = take.skeleton.clone();
    for (arm, sign) in [("LeftArm", 1.0f32), ("RightArm", -1.0)] {
        let down = Quat::from_rotation_z(-sign * 40f32.to_radians());
        let bend = Quat::from_rotation_y(-sign * 20f32.to_radians());
        let a = rig.index_of(arm).expect("arm");
        let fore = rig
            .joints
            .iter()
            .position(|j| j.parent == Some(a))
            .expect("forearm");
        let hand = rig
            .joints
            .iter()
            .position(|j| j.parent == Some(fore))
            .expect("hand");
        let f = Vec3::from(rig.joints[fore].rest_translation);
        rig.joints[fore].rest_translation = (down * f).to_array();
        let h = Vec3::from(rig.joints[hand].rest_translation);
        rig.joints[hand].rest_translation = (down * bend * h).to_array();
    }
    let m = map(&take.skeleton, &rig, &Options::default()).expect("map");
    let (out, _) = m.apply(&take, Placement::AtRig).expect("apply");
    assert_segments(&take, &out, m.frame.turn, &same_names(), 0.5, |_| false);
}

/// Three spine joints onto five, two neck joints onto one: the torso still leans like the take's.
#[test]
fn chains_of_other_lengths_share_the_rotation() {
    let take = walk(2.0);
    let sk = &take.skeleton;
    // A rig with a five-joint spine: Spine, Spine1 and Spine2 each split in the middle.
    let mut rig = Skeleton { joints: Vec::new() };
    let mut index = BTreeMap::new();
    for j in &sk.joints {
        let parent = j.parent.map(|p| index[&sk.joints[p].name]);
        let split = matches!(j.name.as_str(), "Spine1" | "Spine2");
        if split {
            let half = Vec3::from(j.rest_translation) * 0.5;
            rig.joints.push(crate::motion::take::Joint {
                name: format!("{}_lower", j.name),
                parent,
                rest_translation: half.to_array(),
                rest_rotation: j.rest_rotation,
            });
            rig.joints.push(crate::motion::take::Joint {
                name: j.name.clone(),
                parent: Some(rig.joints.len() - 1),
                rest_translation: half.to_array(),
                rest_rotation: j.rest_rotation,
            });
        } else {
            rig.joints.push(crate::motion::take::Joint {
                parent,
                ..j.clone()
            });
        }
        index.insert(j.name.clone(), rig.joints.len() - 1);
    }
    let m = map(sk, &rig, &Options::default()).expect("map");
    assert!(!m.blended_bones.is_empty(), "some spine joints are blends");
    let (out, _) = m.apply(&take, Placement::AtRig).expect("apply");
    assert_segments(
        &take,
        &out,
        m.frame.turn,
        &[(("Hips", "Neck"), ("Hips", "Neck"))],
        3.0,
        |_| false,
    );
    assert_segments(&take, &out, m.frame.turn, &same_names()[..8], 0.5, |_| {
        false
    });
}

/// Longer shins and shorter thighs than the take's: the feet the take has in contact stay put.
#[test]
fn feet_in_contact_stay_planted_on_other_proportions() {
    let take = walk(4.0);
    let mut rig = take.skeleton.clone();
    for (name, k) in [
        ("LeftLeg", 0.8f32),
        ("RightLeg", 0.8),
        ("LeftFoot", 1.25),
        ("RightFoot", 1.25),
        ("Spine1", 1.3),
    ] {
        let j = rig.index_of(name).expect("joint");
        let o = Vec3::from(rig.joints[j].rest_translation) * k;
        rig.joints[j].rest_translation = o.to_array();
    }
    let m = map(&take.skeleton, &rig, &Options::default()).expect("map");
    let (out, report) = m.apply(&take, Placement::AtRig).expect("apply");
    assert_eq!(report.contacts, "take");
    assert!(report.planted_frames > 40, "{report:?}");
    let s = &take.samples[0];
    for foot in ["LeftFoot", "RightFoot"] {
        let contacts = &s.foot_contacts[foot];
        let j = out.skeleton.index_of(foot).expect("foot");
        let mut start: Option<Vec3> = None;
        for (t, &contact) in contacts.iter().enumerate() {
            let p = out.world_positions(&out.samples[0], t)[j];
            if contact {
                let s0 = *start.get_or_insert(p);
                assert!(
                    (p - s0).length() < 0.01,
                    "{foot} slid {} m at {t}",
                    (p - s0).length()
                );
            } else {
                start = None;
            }
        }
    }
    // Arms and torso are untouched by the IK.
    assert_segments(&take, &out, m.frame.turn, &same_names()[4..10], 0.5, |_| {
        false
    });
}

#[test]
fn a_tail_is_not_a_humanoid_and_says_what_is_missing() {
    let take = walk(1.0);
    let tail = Skeleton {
        joints: (0..5)
            .map(|i| crate::motion::take::Joint {
                name: format!("tail_{i}"),
                parent: if i == 0 { None } else { Some(i - 1) },
                rest_translation: [0.0, 0.0, -0.2],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect(),
    };
    match map(&take.skeleton, &tail, &Options::default()) {
        Err(RetargetError::Rig(RoleError::NotHumanoid { missing })) => {
            assert!(!missing.is_empty());
        }
        other => panic!("expected not a humanoid, got {other:?}"),
    }
}

#[test]
fn bone_map_names_must_exist_and_override_the_automatic_pairs() {
    let take = walk(1.0);
    let rig = renamed(&take.skeleton, |n| format!("mixamorig:{n}"));
    let options = Options {
        bone_map: BTreeMap::from([
            ("NoSuchJoint".to_string(), "mixamorig:Hips".to_string()),
            ("Head".to_string(), "nope".to_string()),
        ]),
        ..Options::default()
    };
    match map(&take.skeleton, &rig, &options) {
        Err(RetargetError::UnknownNames {
            take_joints,
            rig_bones,
        }) => {
            assert_eq!(take_joints, vec!["NoSuchJoint"]);
            assert_eq!(rig_bones, vec!["nope"]);
        }
        other => panic!("expected unknown names, got {other:?}"),
    }
    // Swap the forearms: the override wins and the map says so.
    let options = Options {
        bone_map: BTreeMap::from([(
            "LeftForeArm".to_string(),
            "mixamorig:RightForeArm".to_string(),
        )]),
        ..Options::default()
    };
    let m = map(&take.skeleton, &rig, &options).expect("map");
    assert_eq!(m.joint_map["LeftForeArm"], "mixamorig:RightForeArm");
    assert!(!m.joint_map.contains_key("RightForeArm"));
}

#[test]
fn scene_constraints_round_trip_through_the_model_frame() {
    let take = walk(1.0);
    let rig = posed(&standard_skeleton(), 90.0, 2.0, Vec3::new(1.0, 0.5, 2.0));
    let m = map(&take.skeleton, &rig, &Options::default()).expect("map");
    for p in [Vec3::new(0.0, 0.0, 0.0), Vec3::new(4.0, 1.9, -3.0)] {
        let back = m.frame.to_scene(m.frame.to_model(p));
        assert!((back - p).length() < 1e-4, "{p} -> {back}");
    }
    // The rig's hips map onto the model's hips.
    let hips = rest_world(&rig)[0];
    assert!((m.frame.to_model(hips) - Vec3::new(0.0, 0.95, 0.0)).length() < 1e-4);
}

/// The real skeletons of tests/fixtures/skeletons (MMCP form, T-pose, facing +Z).
fn fixture(json: &str) -> Skeleton {
    let wire: crate::skeleton::Skeleton = serde_json::from_str(json).expect("fixture json");
    Skeleton::from_wire(&wire).expect("fixture skeleton")
}

const FIXTURES: [(&str, &str); 9] = [
    (
        "mixamo",
        include_str!("../../../tests/fixtures/skeletons/mixamo.json"),
    ),
    (
        "ue5",
        include_str!("../../../tests/fixtures/skeletons/ue5.json"),
    ),
    (
        "rigify_def",
        include_str!("../../../tests/fixtures/skeletons/rigify_def.json"),
    ),
    (
        "soma30",
        include_str!("../../../tests/fixtures/skeletons/soma30.json"),
    ),
    (
        "smpl",
        include_str!("../../../tests/fixtures/skeletons/smpl.json"),
    ),
    (
        "vrm",
        include_str!("../../../tests/fixtures/skeletons/vrm.json"),
    ),
    (
        "cmu",
        include_str!("../../../tests/fixtures/skeletons/cmu.json"),
    ),
    (
        "ue4",
        include_str!("../../../tests/fixtures/skeletons/ue4.json"),
    ),
    (
        "smplx",
        include_str!("../../../tests/fixtures/skeletons/smplx.json"),
    ),
];

/// The limb segments of a humanoid by role: (first joint of a chain, first joint of the next).
fn limb_segments(skeleton: &Skeleton) -> Vec<(Role, usize, usize)> {
    let h = detect(skeleton).expect("humanoid");
    let first = |r: Role| h.roles.iter().position(|x| *x == Some(r));
    let mut out = Vec::new();
    for side in [Side::Left, Side::Right] {
        for (a, b) in [
            (Role::Thigh(side), Role::Shin(side)),
            (Role::Shin(side), Role::Foot(side)),
            (Role::UpperArm(side), Role::Forearm(side)),
            (Role::Forearm(side), Role::Hand(side)),
        ] {
            if let (Some(x), Some(y)) = (first(a), first(b)) {
                out.push((a, x, y));
            }
        }
    }
    out
}

/// The built-in walk carried to SOMA30 (Kimodo's skeleton), then from SOMA30 to every other real
/// skeleton, turned 90° and standing elsewhere: each limb points where SOMA's points (outside foot
/// contacts, where the IK may bend the legs a little), and the feet stay planted.
#[test]
fn soma_onto_every_convention_keeps_limb_directions_and_planted_feet() {
    let walk = walk(3.0);
    let soma = fixture(FIXTURES[3].1);
    let to_soma = map(&walk.skeleton, &soma, &Options::default()).expect("onto soma");
    let (take, _) = to_soma
        .apply(&walk, Placement::SceneFrame)
        .expect("soma take");
    let source_limbs = limb_segments(&soma);
    for (name, json) in FIXTURES {
        let rig = posed(&fixture(json), 90.0, 1.0, Vec3::new(2.0, 0.0, -1.0));
        let m = map(&take.skeleton, &rig, &Options::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (out, report) = m.apply(&take, Placement::AtRig).expect("apply");
        assert!(report.planted_frames > 0, "{name}: {report:?}");
        // Every foot and toe the take has down stays within 1 cm of where its contact began.
        let (th, rh) = (
            detect(&take.skeleton).expect("take"),
            detect(&rig).expect("rig"),
        );
        for role in [Side::Left, Side::Right]
            .into_iter()
            .flat_map(|s| [Role::Foot(s), Role::Toe(s)])
        {
            let (Some(tj), Some(rj)) = (th.joint(role), rh.joint(role)) else {
                continue;
            };
            let Some(flags) = take.samples[0]
                .foot_contacts
                .get(&take.skeleton.joints[tj].name)
            else {
                continue;
            };
            let mut start: Option<Vec3> = None;
            for (t, &down) in flags.iter().enumerate() {
                let p = out.world_positions(&out.samples[0], t)[rj];
                if !down {
                    start = None;
                    continue;
                }
                let s0 = *start.get_or_insert(p);
                let slid = (p - s0).length();
                assert!(
                    slid < 0.01,
                    "{name}: {role:?} slid {slid:.4} m at frame {t}"
                );
            }
        }
        let rig_limbs = limb_segments(&rig);
        assert_eq!(rig_limbs.len(), 8, "{name}: four limbs, two segments each");
        let contact = &take.samples[0].foot_contacts;
        // Contact frames, and the frames the IK eases out over after one.
        let in_contact = |t: usize| {
            contact
                .values()
                .any(|c| (t.saturating_sub(3)..=t).any(|f| c.get(f).copied().unwrap_or(false)))
        };
        for t in (0..take.num_frames).step_by(4) {
            let sp = take.world_positions(&take.samples[0], t);
            let rp = out.world_positions(&out.samples[0], t);
            for ((role, sa, sb), (_, ra, rb)) in source_limbs.iter().zip(&rig_limbs) {
                let legs = matches!(role, Role::Thigh(_) | Role::Shin(_));
                let bound = if legs && in_contact(t) { 8.0 } else { 2.0 };
                let err = angle_deg(m.frame.turn * dir(&sp, *sa, *sb), dir(&rp, *ra, *rb));
                assert!(err <= bound, "{name}: {role:?} {err:.2}° off at frame {t}");
            }
        }
    }
}

mod odd_skeletons {
    use proptest::prelude::*;

    use super::*;
    use crate::motion::take::Joint;

    /// Any skeleton at all: parents anywhere (cycles, out of range, self), duplicate names,
    /// zero-length and non-finite offsets.
    fn any_skeleton() -> impl Strategy<Value = Skeleton> {
        let offset = prop_oneof![
            Just([0.0f32, 0.0, 0.0]),
            Just([f32::NAN, 0.0, 1.0]),
            (-1.0f32..1.0, -1.0f32..1.0, -1.0f32..1.0).prop_map(|(x, y, z)| [x, y, z]),
        ];
        let joint = (
            prop_oneof![Just(None), (0usize..40).prop_map(Some)],
            "[A-Za-z]{1,3}|Hips|LeftLeg|LeftUpLeg|LeftFoot|Spine|Head",
            offset,
        );
        proptest::collection::vec(joint, 0..40).prop_map(|js| Skeleton {
            joints: js
                .into_iter()
                .map(|(parent, name, rest_translation)| Joint {
                    name,
                    parent,
                    rest_translation,
                    rest_rotation: [0.0, 0.0, 0.0, 1.0],
                })
                .collect(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Mapping onto (or from) any skeleton is an answer or an error, never a panic; and a map
        /// that is made carries the take over without one either.
        #[test]
        fn never_panics(rig in any_skeleton()) {
            let take = walk(0.5);
            if let Ok(m) = map(&take.skeleton, &rig, &Options::default()) {
                let (out, _) = m.apply(&take, Placement::AtRig).expect("a made map applies");
                prop_assert_eq!(out.skeleton.joints.len(), rig.joints.len());
            }
            // The other way round: any skeleton as the take's is refused or mapped, not a panic.
            let _ = map(&rig, &take.skeleton, &Options::default());
        }
    }
}
