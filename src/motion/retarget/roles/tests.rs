//! Roles of real skeletons of every convention (tests/fixtures/skeletons/), the same roles when
//! names say nothing or the rig is turned, scaled or A-posed, and no panic on any input.

use std::f32::consts::{PI, TAU};

use glam::Quat;
use proptest::prelude::*;

use super::*;
use crate::motion::procedural::standard_skeleton;
use crate::motion::take::Joint;

use Role::*;
use Side::{Left as L, Right as R};

/// The MMCP skeleton fixtures (tests/fixtures/skeletons/README.md says where each comes from).
const FIXTURES: [(&str, &str); 15] = [
    (
        "mixamo",
        include_str!("../../../../tests/fixtures/skeletons/mixamo.json"),
    ),
    (
        "mixamo1",
        include_str!("../../../../tests/fixtures/skeletons/mixamo1.json"),
    ),
    (
        "mixamo_threejs",
        include_str!("../../../../tests/fixtures/skeletons/mixamo_threejs.json"),
    ),
    (
        "ue4",
        include_str!("../../../../tests/fixtures/skeletons/ue4.json"),
    ),
    (
        "ue5",
        include_str!("../../../../tests/fixtures/skeletons/ue5.json"),
    ),
    (
        "rigify_def",
        include_str!("../../../../tests/fixtures/skeletons/rigify_def.json"),
    ),
    (
        "rigify_metarig",
        include_str!("../../../../tests/fixtures/skeletons/rigify_metarig.json"),
    ),
    (
        "soma30",
        include_str!("../../../../tests/fixtures/skeletons/soma30.json"),
    ),
    (
        "soma77",
        include_str!("../../../../tests/fixtures/skeletons/soma77.json"),
    ),
    (
        "smpl",
        include_str!("../../../../tests/fixtures/skeletons/smpl.json"),
    ),
    (
        "smplh",
        include_str!("../../../../tests/fixtures/skeletons/smplh.json"),
    ),
    (
        "smplx",
        include_str!("../../../../tests/fixtures/skeletons/smplx.json"),
    ),
    (
        "cmu",
        include_str!("../../../../tests/fixtures/skeletons/cmu.json"),
    ),
    (
        "vrm",
        include_str!("../../../../tests/fixtures/skeletons/vrm.json"),
    ),
    (
        "vroid",
        include_str!("../../../../tests/fixtures/skeletons/vroid.json"),
    ),
];

/// A fixture file as a `Skeleton` (parents by name in the file, by index in MMCP).
fn skeleton_from_json(json: &str) -> Skeleton {
    let doc: serde_json::Value = serde_json::from_str(json).expect("fixture is JSON");
    let rows = doc["joints"].as_array().expect("fixture has joints");
    let mut joints: Vec<Joint> = Vec::new();
    for row in rows {
        let parent = row["parent"].as_str().map(|p| {
            joints
                .iter()
                .position(|j| j.name == p)
                .expect("parents come first")
        });
        let t: Vec<f32> = row["rest_translation"]
            .as_array()
            .expect("rest_translation")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        joints.push(Joint {
            name: row["name"].as_str().expect("name").to_string(),
            parent,
            rest_translation: [t[0], t[1], t[2]],
            rest_rotation: [0.0, 0.0, 0.0, 1.0],
        });
    }
    Skeleton { joints }
}

fn fixture(name: &str) -> Skeleton {
    let (_, json) = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a fixture of that name");
    skeleton_from_json(json)
}

fn opaque(skeleton: &Skeleton) -> Skeleton {
    let mut s = skeleton.clone();
    for (j, joint) in s.joints.iter_mut().enumerate() {
        joint.name = format!("bn_{j:02}");
    }
    s
}

fn role_of(skeleton: &Skeleton, humanoid: &Humanoid, name: &str) -> Option<Role> {
    let j = skeleton
        .index_of(name)
        .unwrap_or_else(|| panic!("no joint {name}"));
    humanoid.roles[j]
}

/// `skeleton` is a complete humanoid read with `convention`, and the named joints have these roles.
fn check(skeleton: &Skeleton, convention: &str, expected: &[(&str, Option<Role>)]) {
    let humanoid = detect(skeleton).unwrap_or_else(|e| panic!("{convention}: {e}"));
    assert_eq!(humanoid.conventions, [convention]);
    assert_eq!(humanoid.warnings, Vec::<String>::new(), "{convention}");
    for (name, role) in expected {
        assert_eq!(
            role_of(skeleton, &humanoid, name),
            *role,
            "{convention}: {name}"
        );
    }
    // Every role is somewhere; the rig faces +Z.
    let mut every = vec![Hips, Spine, Chest, Neck, Head];
    for side in [L, R] {
        every.extend([
            Shoulder(side),
            UpperArm(side),
            Forearm(side),
            Hand(side),
            Thigh(side),
            Shin(side),
            Foot(side),
            Toe(side),
        ]);
    }
    for role in every {
        assert!(humanoid.joint(role).is_some(), "{convention}: no {role:?}");
    }
    assert_eq!(humanoid.joints(Hips).len(), 1);
    assert_eq!(humanoid.joints(Head).len(), 1);
    assert!(humanoid.facing.dot(Vec3::Z) > 0.99, "{:?}", humanoid.facing);
}

fn mixamo_expectations(prefix: &str) -> Vec<(String, Option<Role>)> {
    [
        ("Hips", Some(Hips)),
        ("Spine", Some(Spine)),
        ("Spine1", Some(Spine)),
        ("Spine2", Some(Chest)),
        ("Neck", Some(Neck)),
        ("Head", Some(Head)),
        ("HeadTop_End", None),
        ("LeftShoulder", Some(Shoulder(L))),
        ("LeftArm", Some(UpperArm(L))),
        ("LeftForeArm", Some(Forearm(L))),
        ("LeftHand", Some(Hand(L))),
        ("LeftHandIndex1", None),
        ("RightArm", Some(UpperArm(R))),
        ("LeftUpLeg", Some(Thigh(L))),
        ("LeftLeg", Some(Shin(L))),
        ("LeftFoot", Some(Foot(L))),
        ("LeftToeBase", Some(Toe(L))),
        ("LeftToe_End", None),
        ("RightLeg", Some(Shin(R))),
    ]
    .into_iter()
    .map(|(n, r)| (format!("{prefix}{n}"), r))
    .collect()
}

fn check_owned(skeleton: &Skeleton, convention: &str, expected: &[(String, Option<Role>)]) {
    let expected: Vec<(&str, Option<Role>)> =
        expected.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    check(skeleton, convention, &expected);
}

#[test]
fn mixamo_leg_is_the_shin_with_any_prefix() {
    check_owned(
        &fixture("mixamo"),
        "mixamo",
        &mixamo_expectations("mixamorig:"),
    );
    check_owned(
        &fixture("mixamo1"),
        "mixamo",
        &mixamo_expectations("mixamorig1:"),
    );
    check_owned(
        &fixture("mixamo_threejs"),
        "mixamo",
        &mixamo_expectations("mixamorig"),
    );
}

#[test]
fn the_built_in_skeleton_is_stagecraft() {
    let standard = standard_skeleton();
    // The built-in skeleton has no end joints and no fingers.
    let expected: Vec<(String, Option<Role>)> = mixamo_expectations("")
        .into_iter()
        .filter(|(name, _)| standard.index_of(name).is_some())
        .collect();
    assert_eq!(expected.len(), 16);
    check_owned(&standard, "stagecraft", &expected);
}

#[test]
fn ue_twist_and_ik_bones_have_no_role() {
    check(
        &fixture("ue4"),
        "ue",
        &[
            ("root", None),
            ("pelvis", Some(Hips)),
            ("spine_01", Some(Spine)),
            ("spine_02", Some(Spine)),
            ("spine_03", Some(Chest)),
            ("neck_01", Some(Neck)),
            ("head", Some(Head)),
            ("clavicle_l", Some(Shoulder(L))),
            ("upperarm_l", Some(UpperArm(L))),
            ("upperarm_twist_01_l", None),
            ("lowerarm_l", Some(Forearm(L))),
            ("lowerarm_twist_01_l", None),
            ("hand_l", Some(Hand(L))),
            ("index_01_l", None),
            ("thigh_l", Some(Thigh(L))),
            ("thigh_twist_01_l", None),
            ("calf_l", Some(Shin(L))),
            ("calf_twist_01_l", None),
            ("foot_l", Some(Foot(L))),
            ("ball_l", Some(Toe(L))),
            ("calf_r", Some(Shin(R))),
            ("ik_foot_root", None),
            ("ik_foot_l", None),
            ("ik_hand_root", None),
            ("ik_hand_gun", None),
            ("ik_hand_r", None),
        ],
    );
    check(
        &fixture("ue5"),
        "ue",
        &[
            ("pelvis", Some(Hips)),
            ("spine_04", Some(Spine)),
            ("spine_05", Some(Chest)),
            ("neck_01", Some(Neck)),
            ("neck_02", Some(Neck)),
            ("head", Some(Head)),
            ("thigh_twist_01_l", None),
            ("thigh_twist_02_l", None),
            ("calf_twist_02_l", None),
            ("upperarm_twist_02_r", None),
            ("lowerarm_twist_01_r", None),
            ("index_metacarpal_l", None),
            ("interaction", None),
            ("center_of_mass", None),
            ("ik_hand_l", None),
            ("foot_r", Some(Foot(R))),
            ("ball_r", Some(Toe(R))),
        ],
    );
}

#[test]
fn rigify_segments_share_their_limb_role() {
    check(
        &fixture("rigify_def"),
        "rigify",
        &[
            ("DEF-spine", Some(Hips)),
            ("DEF-spine.001", Some(Spine)),
            ("DEF-spine.002", Some(Spine)),
            ("DEF-spine.003", Some(Chest)),
            ("DEF-spine.004", Some(Neck)),
            ("DEF-spine.005", Some(Neck)),
            ("DEF-spine.006", Some(Head)),
            ("DEF-pelvis.L", None),
            ("DEF-breast.L", None),
            ("DEF-thigh.L", Some(Thigh(L))),
            ("DEF-thigh.L.001", Some(Thigh(L))),
            ("DEF-shin.L", Some(Shin(L))),
            ("DEF-shin.L.001", Some(Shin(L))),
            ("DEF-foot.L", Some(Foot(L))),
            ("DEF-toe.L", Some(Toe(L))),
            ("DEF-shoulder.R", Some(Shoulder(R))),
            ("DEF-upper_arm.R", Some(UpperArm(R))),
            ("DEF-upper_arm.R.001", Some(UpperArm(R))),
            ("DEF-forearm.R", Some(Forearm(R))),
            ("DEF-forearm.R.001", Some(Forearm(R))),
            ("DEF-hand.R", Some(Hand(R))),
            ("DEF-f_index.01.R", None),
            ("DEF-jaw", None),
        ],
    );
    check(
        &fixture("rigify_metarig"),
        "rigify",
        &[
            ("spine", Some(Hips)),
            ("spine.003", Some(Chest)),
            ("spine.006", Some(Head)),
            ("face", None),
            ("heel.02.L", None),
            ("pelvis.R", None),
            ("thigh.L", Some(Thigh(L))),
            ("shin.L", Some(Shin(L))),
            ("foot.L", Some(Foot(L))),
            ("toe.L", Some(Toe(L))),
            ("upper_arm.R", Some(UpperArm(R))),
            ("hand.R", Some(Hand(R))),
            ("palm.01.L", None),
        ],
    );
}

#[test]
fn soma_leg_is_the_thigh() {
    let soma = [
        ("Hips", Some(Hips)),
        ("Spine1", Some(Spine)),
        ("Spine2", Some(Spine)),
        ("Chest", Some(Chest)),
        ("Neck1", Some(Neck)),
        ("Neck2", Some(Neck)),
        ("Head", Some(Head)),
        ("Jaw", None),
        ("LeftEye", None),
        ("LeftShoulder", Some(Shoulder(L))),
        ("RightArm", Some(UpperArm(R))),
        ("LeftForeArm", Some(Forearm(L))),
        ("LeftHand", Some(Hand(L))),
        ("LeftHandThumbEnd", None),
        ("LeftLeg", Some(Thigh(L))),
        ("LeftShin", Some(Shin(L))),
        ("LeftFoot", Some(Foot(L))),
        ("LeftToeBase", Some(Toe(L))),
        ("RightLeg", Some(Thigh(R))),
    ];
    check(&fixture("soma30"), "soma", &soma);
    check(&fixture("soma77"), "soma", &soma);
    check(
        &fixture("soma77"),
        "soma",
        &[
            ("HeadEnd", None),
            ("LeftToeEnd", None),
            ("RightHandIndex1", None),
        ],
    );
}

#[test]
fn smpl_joints_are_named_after_where_bones_start() {
    let body = [
        ("pelvis", Some(Hips)),
        ("spine1", Some(Spine)),
        ("spine2", Some(Spine)),
        ("spine3", Some(Chest)),
        ("neck", Some(Neck)),
        ("head", Some(Head)),
        ("left_hip", Some(Thigh(L))),
        ("left_knee", Some(Shin(L))),
        ("left_ankle", Some(Foot(L))),
        ("left_foot", Some(Toe(L))),
        ("right_hip", Some(Thigh(R))),
        ("left_collar", Some(Shoulder(L))),
        ("left_shoulder", Some(UpperArm(L))),
        ("left_elbow", Some(Forearm(L))),
        ("left_wrist", Some(Hand(L))),
        ("right_wrist", Some(Hand(R))),
    ];
    check(&fixture("smpl"), "smpl", &body);
    check(&fixture("smpl"), "smpl", &[("left_hand", None)]);
    check(&fixture("smplh"), "smpl", &body);
    check(&fixture("smplh"), "smpl", &[("left_index1", None)]);
    check(&fixture("smplx"), "smpl", &body);
    check(
        &fixture("smplx"),
        "smpl",
        &[
            ("jaw", None),
            ("left_eye_smplhf", None),
            ("right_thumb3", None),
        ],
    );
}

#[test]
fn cmu_hip_joints_have_no_role() {
    check(
        &fixture("cmu"),
        "cmu",
        &[
            ("Hips", Some(Hips)),
            ("LHipJoint", None),
            ("RHipJoint", None),
            ("LeftUpLeg", Some(Thigh(L))),
            ("LeftLeg", Some(Shin(L))),
            ("LeftFoot", Some(Foot(L))),
            ("LeftToeBase", Some(Toe(L))),
            ("LowerBack", Some(Spine)),
            ("Spine", Some(Spine)),
            ("Spine1", Some(Chest)),
            ("Neck", Some(Neck)),
            ("Neck1", Some(Neck)),
            ("Head", Some(Head)),
            ("LeftShoulder", Some(Shoulder(L))),
            ("LeftArm", Some(UpperArm(L))),
            ("LeftHand", Some(Hand(L))),
            ("LeftFingerBase", None),
            ("LThumb", None),
            ("RightForeArm", Some(Forearm(R))),
        ],
    );
}

#[test]
fn vrm_upper_chest_is_the_chest() {
    check(
        &fixture("vrm"),
        "vrm",
        &[
            ("hips", Some(Hips)),
            ("spine", Some(Spine)),
            ("chest", Some(Spine)),
            ("upperChest", Some(Chest)),
            ("neck", Some(Neck)),
            ("head", Some(Head)),
            ("leftEye", None),
            ("jaw", None),
            ("leftUpperLeg", Some(Thigh(L))),
            ("leftLowerLeg", Some(Shin(L))),
            ("leftToes", Some(Toe(L))),
            ("rightLowerArm", Some(Forearm(R))),
            ("leftThumbMetacarpal", None),
        ],
    );
    check(
        &fixture("vroid"),
        "vrm",
        &[
            ("Root", None),
            ("J_Bip_C_Hips", Some(Hips)),
            ("J_Bip_C_Chest", Some(Spine)),
            ("J_Bip_C_UpperChest", Some(Chest)),
            ("J_Bip_C_Head", Some(Head)),
            ("J_Sec_Hair1_01", None),
            ("J_Sec_L_Bust1", None),
            ("J_Adj_L_FaceEye", None),
            ("J_Bip_L_Shoulder", Some(Shoulder(L))),
            ("J_Bip_L_UpperLeg", Some(Thigh(L))),
            ("J_Bip_R_ToeBase", Some(Toe(R))),
        ],
    );
}

#[test]
fn opaque_names_give_the_same_roles_by_topology() {
    for (name, _) in FIXTURES {
        let named = fixture(name);
        let expected = detect(&named).expect("fixture is a humanoid");
        let found = detect(&opaque(&named)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.conventions, ["topology"], "{name}");
        for j in 0..named.joints.len() {
            assert_eq!(
                found.roles[j], expected.roles[j],
                "{name}: {}",
                named.joints[j].name
            );
        }
    }
}

#[test]
fn soma_names_on_the_built_in_rig_are_read_as_soma() {
    // The built-in rig with its thighs called `LeftLeg` and shins `LeftShin`: SOMA's leg names.
    let mut s = standard_skeleton();
    for side in ["Left", "Right"] {
        let thigh = s.index_of(&format!("{side}UpLeg")).unwrap();
        let shin = s.index_of(&format!("{side}Leg")).unwrap();
        s.joints[thigh].name = format!("{side}Leg");
        s.joints[shin].name = format!("{side}Shin");
    }
    let h = detect(&s).unwrap();
    assert_eq!(h.conventions, ["soma"]);
    assert_eq!(role_of(&s, &h, "LeftLeg"), Some(Thigh(L)));
    assert_eq!(role_of(&s, &h, "LeftShin"), Some(Shin(L)));
}

#[test]
fn names_that_contradict_the_leg_lose_to_its_shape() {
    // Mixamo names swapped along the leg: `LeftLeg` on the thigh, `LeftUpLeg` on the shin. Read
    // with Mixamo's table the shin would come before the thigh, so the leg's shape decides.
    let mut s = standard_skeleton();
    for side in ["Left", "Right"] {
        let up = s.index_of(&format!("{side}UpLeg")).unwrap();
        let leg = s.index_of(&format!("{side}Leg")).unwrap();
        s.joints[up].name = format!("{side}Leg");
        s.joints[leg].name = format!("{side}UpLeg");
    }
    let h = detect(&s).unwrap();
    assert_eq!(role_of(&s, &h, "LeftLeg"), Some(Thigh(L)));
    assert_eq!(role_of(&s, &h, "LeftUpLeg"), Some(Shin(L)));
    assert_eq!(role_of(&s, &h, "RightLeg"), Some(Thigh(R)));
    assert_eq!(h.conventions, ["stagecraft", "topology"]);
    assert_eq!(
        h.warnings,
        [
            "the names of the leg joints do not fit their places in the leg; its roles come from its shape"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Turned, scaled, perturbed, A-posed, renamed: same roles.

/// Rotates the subtree below each upper arm by `degrees` downwards about the forward axis (+Z):
/// a T-pose becomes an A-pose.
fn lower_arms(skeleton: &mut Skeleton, humanoid: &Humanoid, degrees: f32) {
    let body = Body::new(skeleton);
    for (side, sign) in [(L, -1.0), (R, 1.0)] {
        let Some(upper) = humanoid.joint(UpperArm(side)) else {
            continue;
        };
        let turn = Quat::from_rotation_z(sign * degrees.to_radians());
        for j in body.subtree(upper) {
            if j != upper {
                let t = Vec3::from(skeleton.joints[j].rest_translation);
                skeleton.joints[j].rest_translation = (turn * t).into();
            }
        }
    }
}

/// The upper arms point sideways (a T-pose), not already down.
fn in_t_pose(skeleton: &Skeleton, humanoid: &Humanoid) -> bool {
    let body = Body::new(skeleton);
    [L, R].into_iter().all(|side| {
        match (
            humanoid.joint(UpperArm(side)),
            humanoid.joint(Forearm(side)),
        ) {
            (Some(u), Some(f)) => {
                let bone = body.pos[f] - body.pos[u];
                bone.y.abs() < 0.3 * bone.length()
            }
            _ => false,
        }
    })
}

/// A small deterministic noise source (xorshift), so one proptest seed perturbs every offset.
struct Noise(u64);

impl Noise {
    /// Uniform in [-1, 1].
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn transformed(
    skeleton: &Skeleton,
    yaw: f32,
    scale: f32,
    wobble: f32,
    seed: u64,
    names_hidden: bool,
) -> Skeleton {
    let turn = Quat::from_rotation_y(yaw);
    let mut noise = Noise(seed | 1);
    let mut s = skeleton.clone();
    for joint in &mut s.joints {
        let t = Vec3::from(joint.rest_translation);
        // Relative noise: a joint sitting on its parent stays there (CMU's zero offsets).
        let jitter = Vec3::new(noise.next(), noise.next(), noise.next()) * wobble;
        let t = turn * (t + t * jitter) * scale;
        joint.rest_translation = t.into();
    }
    if names_hidden { opaque(&s) } else { s }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roles_survive_turning_scaling_and_posing(
        which in 0..FIXTURES.len(),
        yaw in 0.0f32..TAU,
        log_scale in (0.01f32).ln()..(100.0f32).ln(),
        wobble in 0.0f32..0.02,
        seed in any::<u64>(),
        a_pose in any::<bool>(),
        names_hidden in any::<bool>(),
    ) {
        let (name, _) = FIXTURES[which];
        let mut base = fixture(name);
        let expected = detect(&base).expect("fixture is a humanoid");
        if a_pose && in_t_pose(&base, &expected) {
            lower_arms(&mut base, &expected, 40.0);
        }
        let s = transformed(&base, yaw, log_scale.exp(), wobble, seed, names_hidden);
        let found = detect(&s).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        for j in 0..s.joints.len() {
            prop_assert_eq!(found.roles[j], expected.roles[j], "{}: {}", name, base.joints[j].name);
        }
        let facing = Quat::from_rotation_y(yaw) * Vec3::Z;
        prop_assert!(found.facing.dot(facing) > 0.95, "{}: facing {:?}", name, found.facing);
    }

    /// Any skeleton at all: cycles, parents past the end, shared names, zero and NaN offsets.
    #[test]
    fn any_input_is_answered_without_panic(
        rows in prop::collection::vec(
            (
                prop::option::of(0usize..48),
                0usize..6,
                prop::array::uniform3(prop_oneof![
                    Just(0.0f32),
                    Just(f32::NAN),
                    Just(f32::INFINITY),
                    Just(f32::MAX),
                    -2.0f32..2.0,
                ]),
            ),
            0..40,
        ),
    ) {
        let names = ["Hips", "LeftLeg", "LeftLeg", "Head", "spine", "bn"];
        let skeleton = Skeleton {
            joints: rows
                .into_iter()
                .map(|(parent, name, t)| Joint {
                    name: names[name].into(),
                    parent,
                    rest_translation: t,
                    rest_rotation: [0.0, 0.0, 0.0, 1.0],
                })
                .collect(),
        };
        if let Ok(h) = detect(&skeleton) {
            prop_assert_eq!(h.roles.len(), skeleton.joints.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Not humanoids, incomplete humanoids, bad input.

fn joint(name: &str, parent: Option<usize>, t: [f32; 3]) -> Joint {
    Joint {
        name: name.into(),
        parent,
        rest_translation: t,
        rest_rotation: [0.0, 0.0, 0.0, 1.0],
    }
}

fn missing(skeleton: &Skeleton) -> Vec<String> {
    match detect(skeleton) {
        Err(RoleError::NotHumanoid { missing }) => missing,
        Ok(h) => panic!("read as a humanoid: {:?}", h.roles),
    }
}

#[test]
fn an_empty_skeleton_is_not_a_humanoid() {
    let err = detect(&Skeleton::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a humanoid skeleton: no joints (the skeleton is empty)"
    );
}

#[test]
fn a_single_bone_lacks_legs_and_spine() {
    let s = Skeleton {
        joints: vec![joint("Bone", None, [0.0, 1.0, 0.0])],
    };
    let err = detect(&s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a humanoid skeleton: no two legs (thigh, shin and foot each) going down from one joint, no spine going up from the hips"
    );
}

#[test]
fn a_tail_and_a_car_are_not_humanoids() {
    let tail = Skeleton {
        joints: (0..12usize)
            .map(|j| joint(&format!("tail_{j}"), j.checked_sub(1), [0.0, 0.0, -0.1]))
            .collect(),
    };
    assert_eq!(missing(&tail).len(), 2, "{:?}", missing(&tail));
    // A body with four wheels, each one bone.
    let mut car = vec![joint("body", None, [0.0, 0.5, 0.0])];
    for (x, z) in [(-0.8, 1.2), (0.8, 1.2), (-0.8, -1.2), (0.8, -1.2)] {
        car.push(joint("wheel", Some(0), [x, -0.2, z]));
    }
    let car = Skeleton { joints: car };
    assert!(missing(&car)[0].contains("two legs"), "{:?}", missing(&car));
}

#[test]
fn a_biped_without_a_spine_is_not_a_humanoid() {
    let mut s = standard_skeleton();
    // Only the hips and the legs.
    let keep: Vec<usize> = (0..s.joints.len())
        .filter(|&j| {
            let n = &s.joints[j].name;
            n == "Hips" || n.contains("Leg") || n.contains("Foot") || n.contains("Toe")
        })
        .collect();
    let joints: Vec<Joint> = keep
        .iter()
        .map(|&j| {
            let mut jt = s.joints[j].clone();
            jt.parent = jt.parent.and_then(|p| keep.iter().position(|&k| k == p));
            jt
        })
        .collect();
    s.joints = joints;
    assert_eq!(missing(&s), ["spine going up from the hips"]);
}

/// A skeleton from `(name, parent name, offset)` rows, parents first.
fn skeleton_of(rows: &[(String, Option<String>, [f32; 3])]) -> Skeleton {
    let mut s = Skeleton::default();
    for (name, parent, t) in rows {
        let parent = parent
            .as_ref()
            .map(|p| s.index_of(p).expect("parent listed first"));
        s.joints.push(joint(name, parent, *t));
    }
    s
}

fn row(name: &str, parent: Option<&str>, t: [f32; 3]) -> (String, Option<String>, [f32; 3]) {
    (name.to_string(), parent.map(str::to_string), t)
}

#[test]
fn legs_may_hang_from_a_pelvis_bone_under_the_hips() {
    // Daz Genesis 8's body bones: `hip` carries `pelvis` (both thighs under it) and the spine beside
    // it; bend and twist bones follow each other along the limbs.
    let mut rows = vec![
        row("hip", None, [0.0, 1.0, 0.0]),
        row("pelvis", Some("hip"), [0.0, -0.02, 0.0]),
        row("abdomenLower", Some("hip"), [0.0, 0.03, 0.0]),
        row("abdomenUpper", Some("abdomenLower"), [0.0, 0.09, 0.0]),
        row("chestLower", Some("abdomenUpper"), [0.0, 0.11, 0.0]),
        row("chestUpper", Some("chestLower"), [0.0, 0.12, 0.0]),
        row("neckLower", Some("chestUpper"), [0.0, 0.13, 0.0]),
        row("neckUpper", Some("neckLower"), [0.0, 0.05, 0.0]),
        row("head", Some("neckUpper"), [0.0, 0.06, 0.0]),
        row("lEye", Some("head"), [0.03, 0.07, 0.08]),
        row("rEye", Some("head"), [-0.03, 0.07, 0.08]),
    ];
    for (s, x) in [("l", 1.0), ("r", -1.0)] {
        let n = |bone: &str| format!("{s}{bone}");
        let limb = [
            ("ThighBend", "pelvis", [x * 0.08, -0.07, 0.0]),
            ("ThighTwist", "ThighBend", [0.0, -0.2, 0.0]),
            ("Shin", "ThighTwist", [0.0, -0.25, 0.0]),
            ("Foot", "Shin", [0.0, -0.42, -0.02]),
            ("Toe", "Foot", [0.0, -0.06, 0.14]),
            ("Collar", "chestUpper", [x * 0.03, 0.1, 0.0]),
            ("ShldrBend", "Collar", [x * 0.13, 0.0, 0.0]),
            ("ShldrTwist", "ShldrBend", [x * 0.14, 0.0, 0.0]),
            ("ForearmBend", "ShldrTwist", [x * 0.14, 0.0, 0.0]),
            ("ForearmTwist", "ForearmBend", [x * 0.13, 0.0, 0.0]),
            ("Hand", "ForearmTwist", [x * 0.13, 0.0, 0.0]),
        ];
        for (bone, parent, t) in limb {
            // Body bones (`pelvis`, `chestUpper`) have no side letter.
            let parent = if parent.starts_with(char::is_lowercase) {
                parent.to_string()
            } else {
                n(parent)
            };
            rows.push((n(bone), Some(parent), t));
        }
    }
    let s = skeleton_of(&rows);
    let h = detect(&s).unwrap();
    assert_eq!(h.conventions, ["topology"]);
    assert_eq!(h.warnings, Vec::<String>::new());
    for (name, role) in [
        ("hip", Some(Hips)),
        ("pelvis", None),
        ("abdomenLower", Some(Spine)),
        ("chestLower", Some(Spine)),
        ("chestUpper", Some(Chest)),
        ("neckLower", Some(Neck)),
        ("neckUpper", Some(Neck)),
        ("head", Some(Head)),
        ("lEye", None),
        ("lThighBend", Some(Thigh(L))),
        ("lThighTwist", Some(Thigh(L))),
        ("lShin", Some(Shin(L))),
        ("lFoot", Some(Foot(L))),
        ("lToe", Some(Toe(L))),
        ("rCollar", Some(Shoulder(R))),
        ("rShldrBend", Some(UpperArm(R))),
        ("rShldrTwist", Some(UpperArm(R))),
        ("rForearmBend", Some(Forearm(R))),
        ("rForearmTwist", Some(Forearm(R))),
        ("rHand", Some(Hand(R))),
    ] {
        assert_eq!(role_of(&s, &h, name), role, "{name}");
    }
}

#[test]
fn legs_without_knees_are_named_in_the_error() {
    // Stilts: hip, ankle, toe on each side, and a spine.
    let mut joints = vec![joint("bn_0", None, [0.0, 1.0, 0.0])];
    for x in [0.1, -0.1] {
        let top = joints.len();
        joints.push(joint("bn", Some(0), [x, 0.0, 0.0]));
        joints.push(joint("bn", Some(top), [0.0, -0.95, 0.0]));
        joints.push(joint("bn", Some(top + 1), [0.0, -0.04, 0.12]));
    }
    joints.push(joint("bn", Some(0), [0.0, 0.3, 0.0]));
    joints.push(joint("bn", Some(7), [0.0, 0.3, 0.0]));
    let err = detect(&Skeleton { joints }).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a humanoid skeleton: no knee between the hip and the foot in a leg going down from the hips"
    );
}

/// The built-in skeleton without the joints whose names contain one of `words`.
fn standard_without(words: &[&str]) -> Skeleton {
    let s = standard_skeleton();
    let keep: Vec<usize> = (0..s.joints.len())
        .filter(|&j| !words.iter().any(|w| s.joints[j].name.contains(w)))
        .collect();
    Skeleton {
        joints: keep
            .iter()
            .map(|&j| {
                let mut jt = s.joints[j].clone();
                jt.parent = jt.parent.and_then(|p| keep.iter().position(|&k| k == p));
                jt
            })
            .collect(),
    }
}

#[test]
fn missing_arms_toes_and_neck_are_warnings() {
    let s = standard_without(&["Toe"]);
    let h = detect(&s).unwrap();
    assert_eq!(h.warnings, ["no toes on the rig"]);
    // Without toes the names still say which leg is the left one, so the facing is known.
    assert!(h.facing.dot(Vec3::Z) > 0.99);

    let s = standard_without(&["Shoulder", "Arm", "Hand"]);
    let h = detect(&s).unwrap();
    assert_eq!(
        h.warnings,
        ["no arms on the rig (no long chains leaving the spine sideways)"]
    );
    assert_eq!(role_of(&s, &h, "Spine2"), Some(Chest));
    assert_eq!(role_of(&s, &h, "Neck"), Some(Neck));

    let s = standard_without(&["Right"]);
    let err = detect(&s).unwrap_err();
    assert!(err.to_string().contains("two legs"), "{err}");

    let s = standard_without(&["RightShoulder", "RightArm", "RightForeArm", "RightHand"]);
    let h = detect(&s).unwrap();
    assert_eq!(h.warnings, ["no right arm on the rig"]);
}

#[test]
fn without_toes_or_names_the_facing_is_a_warning() {
    let s = opaque(&standard_without(&["Toe"]));
    let h = detect(&s).unwrap();
    assert!(
        h.warnings
            .iter()
            .any(|w| w.contains("cannot tell which way")),
        "{:?}",
        h.warnings
    );
    assert_eq!(h.facing, Vec3::Z);
}

#[test]
fn broken_parents_nan_offsets_and_shared_names_are_warnings() {
    let mut s = fixture("mixamo");
    let n = s.joints.len();
    let finger = s.index_of("mixamorig:LeftHandIndex3").unwrap();
    s.joints[finger].rest_translation = [f32::NAN, 0.0, 0.0];
    let thumb = s.index_of("mixamorig:RightHandThumb4").unwrap();
    s.joints[thumb].parent = Some(n + 10);
    let pinky = s.index_of("mixamorig:RightHandPinky4").unwrap();
    s.joints[pinky].name = "mixamorig:RightHandPinky3".into();
    let h = detect(&s).unwrap();
    assert_eq!(h.warnings.len(), 3, "{:?}", h.warnings);
    assert_eq!(role_of(&s, &h, "mixamorig:LeftLeg"), Some(Shin(L)));
    assert_eq!(role_of(&s, &h, "mixamorig:RightHand"), Some(Hand(R)));
}

#[test]
fn cycles_and_forward_parents_do_not_hang() {
    let mut s = standard_skeleton();
    // Hips -> Spine -> Hips, and a joint that is its own parent.
    s.joints[0].parent = Some(1);
    s.joints[5].parent = Some(5);
    let _ = detect(&s);
    let zero = Skeleton {
        joints: (0..30usize)
            .map(|j| joint("bn", j.checked_sub(1).map(|p| p / 2), [0.0; 3]))
            .collect(),
    };
    assert!(detect(&zero).is_err());
}

#[test]
fn long_lines_and_big_rigs_are_cheap() {
    let line = Skeleton {
        joints: (0..500usize)
            .map(|j| joint(&format!("bn_{j}"), j.checked_sub(1), [0.0, -0.01, 0.0]))
            .collect(),
    };
    assert!(detect(&line).is_err());

    // A Rigify rig with 40 hair chains of 60 joints on its head: about 2,600 joints.
    let mut rig = fixture("rigify_def");
    let head = rig.index_of("DEF-spine.006").unwrap();
    for strand in 0..40 {
        let angle = strand as f32 / 40.0 * PI * 2.0;
        let mut parent = head;
        for k in 0..60 {
            let t = if k == 0 {
                [0.08 * angle.cos(), 0.15, 0.08 * angle.sin()]
            } else {
                [0.0, -0.01, -0.001]
            };
            rig.joints
                .push(joint(&format!("hair_{strand}_{k}"), Some(parent), t));
            parent = rig.joints.len() - 1;
        }
    }
    let started = std::time::Instant::now();
    let h = detect(&rig).unwrap();
    assert_eq!(role_of(&rig, &h, "DEF-spine.006"), Some(Head));
    assert_eq!(role_of(&rig, &h, "hair_3_2"), None);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
