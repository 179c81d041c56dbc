//! Behaviour of the procedural model: pace, contacts, seeds, loops, constraints, robustness.

use glam::{Quat, Vec3};

use super::*;
use crate::motion::take::{Joint, Sample};

fn finite(take: &Take) -> bool {
    take.samples.iter().all(|s| {
        s.rotations.iter().flatten().all(|v| v.is_finite())
            && s.root_positions.iter().flatten().all(|v| v.is_finite())
    })
}

fn world(take: &Take, s: &Sample, t: usize, name: &str) -> Vec3 {
    let j = take.skeleton.index_of(name).expect("joint");
    take.world_positions(s, t)[j]
}

/// Horizontal speed of a joint at frame t (central difference), m/s.
fn horizontal_speed(take: &Take, s: &Sample, t: usize, name: &str) -> f32 {
    let (a, b) = (t.saturating_sub(1), (t + 1).min(take.num_frames - 1));
    let d = world(take, s, b, name) - world(take, s, a, name);
    Vec3::new(d.x, 0.0, d.z).length() * take.fps / (b - a) as f32
}

#[test]
fn walk_moves_forward_at_human_pace_with_alternating_contacts() {
    let take = generate(&Plan::text("a person walks forward", 4.0, 7)).expect("take");
    assert!(finite(&take));
    let s = &take.samples[0];
    let (first, last) = (s.root_positions[0], s.root_positions[take.num_frames - 1]);
    let speed = (last[2] - first[2]) / take.seconds();
    assert!((1.1..=1.6).contains(&speed), "forward speed {speed} m/s");
    assert!((last[0] - first[0]).abs() < 0.2, "drifted sideways");

    let left = &s.foot_contacts["LeftFoot"];
    let right = &s.foot_contacts["RightFoot"];
    // Count touchdowns: each foot lands several times in 4 s, and the feet take turns.
    let touchdowns = |c: &Vec<bool>| {
        (1..c.len())
            .filter(|&t| c[t] && !c[t - 1])
            .collect::<Vec<_>>()
    };
    let (tl, tr) = (touchdowns(left), touchdowns(right));
    assert!(tl.len() >= 3 && tr.len() >= 3, "touchdowns {tl:?} {tr:?}");
    let mut all: Vec<(usize, char)> = tl
        .iter()
        .map(|&t| (t, 'L'))
        .chain(tr.iter().map(|&t| (t, 'R')))
        .collect();
    all.sort();
    assert!(
        all.windows(2).all(|w| w[0].1 != w[1].1),
        "feet do not alternate: {all:?}"
    );

    // A foot in contact does not slide; the toes do not go through the floor.
    for (name, contacts) in &s.foot_contacts {
        for t in 1..take.num_frames - 1 {
            if contacts[t] && contacts[t - 1] && contacts[t + 1] {
                let v = horizontal_speed(&take, s, t, name);
                assert!(v < 0.05, "{name} slides at {v} m/s at frame {t}");
            }
        }
    }
    for t in 0..take.num_frames {
        for name in ["LeftToeBase", "RightToeBase"] {
            assert!(
                world(&take, s, t, name).y > -0.02,
                "{name} below the floor at {t}"
            );
        }
    }
}

#[test]
fn standing_pose_is_grounded_and_idle_stays_put() {
    let take = generate(&Plan::text("stand idle", 3.0, 1)).expect("take");
    let s = &take.samples[0];
    let travel =
        Vec3::from(s.root_positions[take.num_frames - 1]) - Vec3::from(s.root_positions[0]);
    assert!(Vec3::new(travel.x, 0.0, travel.z).length() < 0.1);
    assert!(s.foot_contacts["LeftFoot"].iter().all(|c| *c));
    let toe = world(&take, s, 10, "LeftToeBase");
    assert!(toe.y.abs() < 0.02, "toe height {}", toe.y);
}

#[test]
fn same_seed_same_take_different_seeds_differ() {
    let a = generate(&Plan::text("walk and wave", 2.0, 42)).expect("a");
    let b = generate(&Plan::text("walk and wave", 2.0, 42)).expect("b");
    let c = generate(&Plan::text("walk and wave", 2.0, 43)).expect("c");
    assert_eq!(a, b);
    assert_ne!(a.samples[0].rotations, c.samples[0].rotations);
    assert_ne!(a.samples[0].root_positions, c.samples[0].root_positions);
}

#[test]
fn samples_vary() {
    let mut plan = Plan::text("idle", 2.0, 5);
    plan.num_samples = 3;
    let take = generate(&plan).expect("take");
    assert_eq!(take.samples.len(), 3);
    assert_ne!(take.samples[0].rotations, take.samples[1].rotations);
    assert_ne!(take.samples[1].rotations, take.samples[2].rotations);
    // Sample 0 of several is the one-sample answer for the same seed.
    let one = generate(&Plan::text("idle", 2.0, 5)).expect("one");
    assert_eq!(one.samples[0], take.samples[0]);
}

#[test]
fn loop_ends_on_the_first_pose_advanced() {
    for prompt in ["walk", "run", "idle", "wave", "jump"] {
        let mut plan = Plan::text(prompt, 2.0, 9);
        plan.looped = true;
        let take = generate(&plan).expect("take");
        let s = &take.samples[0];
        let j = take.skeleton.joints.len();
        let last = take.num_frames - 1;
        for k in 1..j {
            let a = Quat::from_array(s.rotations[k]);
            let b = Quat::from_array(s.rotations[last * j + k]);
            assert!(
                a.dot(b).abs() > 0.9999,
                "{prompt}: joint {k} differs at the loop seam"
            );
        }
        assert!((s.root_positions[0][1] - s.root_positions[last][1]).abs() < 1e-4);
    }
}

#[test]
fn root_path_is_followed_within_10_cm_facing_along_it() {
    let mut plan = Plan::text("walk", 4.0, 3);
    plan.root_path = root_keys(&[(0, [0.0, 0.0]), (60, [1.5, 1.5]), (119, [3.0, 1.5])]);
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    assert_on_root_path(s, &plan.root_path);
    // Around the last stretch the path runs along +X: heading atan2(dx, dz) = +90°.
    let hips = Quat::from_array(s.rotations[110 * take.skeleton.joints.len()]);
    let fwd = hips * Vec3::Z;
    assert!(fwd.x > 0.8, "facing {fwd:?}");
}

#[test]
fn pose_keyframe_is_hit_and_blended() {
    let mut plan = Plan::text("walk", 2.0, 3);
    let target = Quat::from_rotation_x(-1.2);
    plan.pose_keys = vec![PoseKey {
        frame: 30,
        joint_rotations: vec![("RightArm".into(), target.to_array())],
        root_position: None,
        fill_rest: false,
    }];
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    let j = take.skeleton.index_of("RightArm").expect("arm");
    let at = Quat::from_array(s.rotations[30 * take.skeleton.joints.len() + j]);
    assert!(at.dot(target).abs() > 0.9999);
    let far = Quat::from_array(s.rotations[j]);
    assert!(far.dot(target).abs() < 0.99, "frame 0 is untouched");
}

#[test]
fn no_nan_for_any_prompt_duration_or_fps() {
    let prompts = [
        "",
        "walk",
        "run fast",
        "jump forward",
        "wave with both hands",
        "turn left",
        "turn right 180 degrees",
        "sit down",
        "crouch",
        "sneak",
        "walk backwards slowly",
        "spin around 720°",
        "🙂 ??",
        "walk turn left and wave",
    ];
    for prompt in prompts {
        for (seconds, fps) in [
            (1.0 / 30.0, 30.0),
            (0.1, 30.0),
            (3.0, 24.0),
            (2.0, 60.0),
            (1.0, 1.0),
            (5.0, 240.0),
        ] {
            let mut plan = Plan::text(prompt, seconds, 11);
            plan.fps = fps;
            plan.segments[0].frames = ((seconds * fps).round() as usize).max(1);
            plan.total_frames = plan.segments[0].frames;
            for looped in [false, true] {
                plan.looped = looped;
                let take = generate(&plan).expect("take");
                assert!(
                    finite(&take),
                    "{prompt:?} {seconds}s {fps}fps loop={looped}"
                );
                assert_eq!(take.samples[0].rotations.len(), take.num_frames * 22);
            }
        }
    }
}

#[test]
fn several_segments_blend_without_jumps() {
    let mut plan = Plan::text("walk", 2.0, 4);
    plan.segments.push(PlanSegment {
        prompt: Some("sit down".into()),
        frames: 60,
        seed: None,
        pose: false,
    });
    plan.segments.push(PlanSegment {
        prompt: None,
        frames: 30,
        seed: Some(3),
        pose: false,
    });
    plan.total_frames = 150;
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    for t in 1..take.num_frames {
        let d = Vec3::from(s.root_positions[t]) - Vec3::from(s.root_positions[t - 1]);
        assert!(
            d.length() < 0.12,
            "root jumps {} m at frame {t}",
            d.length()
        );
    }
}

#[test]
fn retargets_to_longer_legs_with_longer_strides() {
    let mut tall = standard_skeleton();
    for j in &mut tall.joints {
        if j.name.contains("Leg") || j.name.contains("Foot") {
            for v in &mut j.rest_translation {
                *v *= 1.3;
            }
        }
    }
    // Lift the hips so the feet still stand on the floor.
    tall.joints[0].rest_translation[1] = 0.95 * 1.3 - 0.05 * 0.3;
    let mut plan = Plan::text("walk", 4.0, 7);
    let base = generate(&plan).expect("base");
    plan.skeleton = tall;
    let take = generate(&plan).expect("tall");
    let dist = |t: &Take| {
        t.samples[0].root_positions[t.num_frames - 1][2] - t.samples[0].root_positions[0][2]
    };
    assert!(
        dist(&take) > dist(&base) * 1.15,
        "{} vs {}",
        dist(&take),
        dist(&base)
    );
    assert!(finite(&take));
}

#[test]
fn unknown_rig_is_kept_at_rest_without_panicking() {
    let skeleton = Skeleton {
        joints: vec![
            Joint {
                name: "root".into(),
                parent: None,
                rest_translation: [0.0, 0.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            },
            Joint {
                name: "a".into(),
                parent: Some(0),
                rest_translation: [0.0, 1.0, 0.0],
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            },
        ],
    };
    let mut plan = Plan::text("walk", 1.0, 1);
    plan.skeleton = skeleton;
    let take = generate(&plan).expect("take");
    assert!(finite(&take));
    assert!(
        take.notes
            .iter()
            .any(|n| n["code"] == "retargeted_partially")
    );
}

#[test]
fn jump_leaves_the_floor() {
    let take = generate(&Plan::text("jump", 3.0, 5)).expect("take");
    let s = &take.samples[0];
    let toe_peak = (0..take.num_frames)
        .map(|t| world(&take, s, t, "LeftToeBase").y)
        .fold(0.0f32, f32::max);
    assert!(toe_peak > 0.15, "toes rise only {toe_peak} m");
    let hips_peak = s.root_positions.iter().map(|p| p[1]).fold(0.0f32, f32::max);
    assert!(hips_peak > 1.1, "hips rise only to {hips_peak} m");
}

#[test]
fn turning_left_ends_facing_plus_x() {
    let take = generate(&Plan::text("turn left", 3.0, 2)).expect("take");
    let s = &take.samples[0];
    let hips = Quat::from_array(s.rotations[(take.num_frames - 1) * take.skeleton.joints.len()]);
    let fwd = hips * Vec3::Z;
    assert!(fwd.x > 0.85, "facing {fwd:?}");
    let travel =
        Vec3::from(s.root_positions[take.num_frames - 1]) - Vec3::from(s.root_positions[0]);
    assert!(
        Vec3::new(travel.x, 0.0, travel.z).length() < 0.3,
        "turning in place travelled {travel:?}"
    );
}

#[test]
fn trajectory_summarises_the_travel() {
    let take = generate(&Plan::text("walk", 3.0, 8)).expect("take");
    let tr = take.samples[0].trajectory.as_ref().expect("trajectory");
    assert_eq!(tr["model"], "line");
    assert_eq!(tr["heading"], "fixed");
    assert_eq!(tr["position"].as_array().map(Vec::len), Some(90));
    assert!(
        tr["params"]["heading_deg"]
            .as_f64()
            .is_some_and(|h| h.abs() < 5.0)
    );
    assert!(
        !tr["markers"]["LeftFootDown"]
            .as_array()
            .expect("markers")
            .is_empty()
    );
    let idle = generate(&Plan::text("idle", 1.0, 8)).expect("idle");
    assert_eq!(
        idle.samples[0].trajectory.as_ref().expect("t")["model"],
        "still"
    );
}

#[test]
fn contacts_hold_across_seeds_prompts_and_paths() {
    let mut worst = (0.0f32, String::new());
    for seed in 0..6u64 {
        for prompt in [
            "walk",
            "run",
            "walk and turn left",
            "turn right",
            "sneak",
            "walk backwards",
            "jump forward",
        ] {
            let mut plan = Plan::text(prompt, 3.0, seed);
            if seed % 3 == 0 {
                plan.root_path = vec![
                    RootKey {
                        frame: 0,
                        xz: [0.0, 0.0],
                        heading: None,
                    },
                    RootKey {
                        frame: 89,
                        xz: [2.0, 2.5],
                        heading: None,
                    },
                ];
            }
            let take = generate(&plan).expect("take");
            let s = &take.samples[0];
            for (name, contacts) in &s.foot_contacts {
                for t in 1..take.num_frames - 1 {
                    if contacts[t - 1] && contacts[t] && contacts[t + 1] {
                        let v = horizontal_speed(&take, s, t, name);
                        if v > worst.0 {
                            worst = (v, format!("{prompt:?} seed {seed} {name} frame {t}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        worst.0 < 0.1,
        "a planted foot slides at {} m/s: {}",
        worst.0,
        worst.1
    );
}

#[test]
fn keyframed_legs_give_up_their_contacts() {
    let mut plan = Plan::text("walk", 2.0, 3);
    plan.pose_keys = vec![PoseKey {
        frame: 30,
        joint_rotations: vec![("LeftUpLeg".into(), Quat::from_rotation_x(-1.0).to_array())],
        root_position: Some([0.0, 0.9, 1.0]),
        fill_rest: true,
    }];
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    for (name, contacts) in &s.foot_contacts {
        let planted = contacts
            .iter()
            .enumerate()
            .take(take.num_frames - 1)
            .skip(1)
            .filter(|(_, c)| **c);
        for (t, _) in planted {
            assert!(horizontal_speed(&take, s, t, name) < 0.2, "{name} at {t}");
        }
    }
    let p = s.root_positions[30];
    assert!(
        (Vec3::from(p) - Vec3::new(0.0, 0.9, 1.0)).length() < 1e-3,
        "root_position is hit: {p:?}"
    );
}

#[test]
fn pose_segment_shows_the_settled_posture() {
    let mut plan = Plan::text("sitting on a chair", 1.0, 4);
    plan.segments[0].frames = 1;
    plan.segments[0].pose = true;
    plan.total_frames = 1;
    let take = generate(&plan).expect("take");
    let hips = take.samples[0].root_positions[0][1];
    assert!(hips < 0.7, "a seated pose, hips at {hips}");
}

#[test]
fn effector_targets_are_reached_and_released() {
    let mut plan = Plan::text("stand idle", 2.0, 3);
    plan.effectors = vec![
        EffectorKey {
            joint: "LeftHand".into(),
            frame: 30,
            position: [0.35, 1.25, 0.45],
            rotation: None,
        },
        EffectorKey {
            joint: "RightFoot".into(),
            frame: 40,
            position: [-0.15, 0.3, 0.3],
            rotation: None,
        },
    ];
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    let hand = world(&take, s, 30, "LeftHand");
    assert!(
        (hand - Vec3::new(0.35, 1.25, 0.45)).length() < 0.02,
        "hand at {hand:?}"
    );
    let foot = world(&take, s, 40, "RightFoot");
    assert!(
        (foot - Vec3::new(-0.15, 0.3, 0.3)).length() < 0.03,
        "foot at {foot:?}"
    );
    assert!(
        !s.foot_contacts["RightFoot"][40],
        "a lifted foot is not in contact"
    );
    let before = world(&take, s, 0, "LeftHand");
    assert!(
        (before - Vec3::new(0.35, 1.25, 0.45)).length() > 0.2,
        "the arm is free away from the key"
    );

    plan.effectors = vec![EffectorKey {
        joint: "Spine".into(),
        frame: 1,
        position: [0.0; 3],
        rotation: None,
    }];
    assert_eq!(
        generate(&plan).err(),
        Some(ProceduralError::NotAnEffector("Spine".into()))
    );
}

#[test]
fn malformed_plan_skeletons_are_refused() {
    let mut plan = Plan::text("walk", 1.0, 1);
    plan.skeleton.joints[1].parent = Some(5);
    assert_eq!(generate(&plan).err(), Some(ProceduralError::Topology(1)));
    plan.skeleton.joints[1].parent = None;
    assert_eq!(generate(&plan).err(), Some(ProceduralError::Topology(1)));
    plan.skeleton.joints.clear();
    assert_eq!(generate(&plan).err(), Some(ProceduralError::EmptySkeleton));
}

/// The standard skeleton as a rig turned `degrees` about +Y in its scene (offsets are world-aligned, so
/// they turn with it), standing at `at`.
fn turned_standard(degrees: f32, at: Vec3) -> Skeleton {
    let turn = Quat::from_rotation_y(degrees.to_radians());
    let mut sk = standard_skeleton();
    for j in &mut sk.joints {
        let o = Vec3::from(j.rest_translation);
        j.rest_translation = match j.parent {
            None => (o + at).to_array(),
            Some(_) => (turn * o).to_array(),
        };
    }
    sk
}

#[test]
fn a_turned_rig_walks_the_way_it_faces_with_knees_forward() {
    let reference = generate(&Plan::text("a person walks forward", 3.0, 5)).expect("take");
    for degrees in [0.0f32, 90.0, 180.0, -135.0] {
        let at = Vec3::new(2.0, 0.0, -1.0);
        let mut plan = Plan::text("a person walks forward", 3.0, 5);
        plan.skeleton = turned_standard(degrees, at);
        let take = generate(&plan).expect("take");
        assert!(finite(&take));
        let s = &take.samples[0];
        let facing = Quat::from_rotation_y(degrees.to_radians()) * Vec3::Z;
        let (first, last) = (
            Vec3::from(s.root_positions[0]),
            Vec3::from(s.root_positions[take.num_frames - 1]),
        );
        let travel = last - first;
        let along = travel.dot(facing);
        let across = (travel - facing * along).length();
        assert!(along > 3.0, "{degrees}°: walked {along} m along its facing");
        assert!(across < 0.2, "{degrees}°: drifted {across} m sideways");
        assert!(
            (first.x - at.x).abs() < 0.2 && (first.z - at.z).abs() < 0.2,
            "{degrees}°: started at {first}, the rig stands at {at}"
        );
        for t in (0..take.num_frames).step_by(3) {
            let hips = world(&take, s, t, "Hips");
            // The same walk as the unturned rig's, at the same height.
            let upright = world(&reference, &reference.samples[0], t, "Hips");
            assert!(
                (hips.y - upright.y).abs() < 1e-3 && hips.y > 0.8,
                "{degrees}°: hips at {} at frame {t}, {} unturned",
                hips.y,
                upright.y
            );
            for side in ["Left", "Right"] {
                let hip = world(&take, s, t, &format!("{side}UpLeg"));
                let knee = world(&take, s, t, &format!("{side}Leg"));
                let ankle = world(&take, s, t, &format!("{side}Foot"));
                // The knee sits in front of the hip-ankle line (or on it), never behind or beside it.
                let mid = (hip + ankle) * 0.5;
                let ahead = (knee - mid).dot(facing);
                let aside = (knee - mid).dot(Vec3::Y.cross(facing)).abs();
                assert!(
                    ahead > -0.01,
                    "{degrees}°: {side} knee bends backwards ({ahead} m) at frame {t}"
                );
                assert!(
                    aside < 0.08,
                    "{degrees}°: {side} knee bends sideways ({aside} m) at frame {t}"
                );
            }
        }
    }
}

/// Root path keys without headings: (frame, [x, z]).
pub(super) fn root_keys(points: &[(usize, [f32; 2])]) -> Vec<RootKey> {
    points
        .iter()
        .map(|&(frame, xz)| RootKey {
            frame,
            xz,
            heading: None,
        })
        .collect()
}

/// The hips pass within 10 cm of every key of the root path.
pub(super) fn assert_on_root_path(s: &crate::motion::take::Sample, keys: &[RootKey]) {
    for k in keys {
        let p = s.root_positions[k.frame];
        let d = ((p[0] - k.xz[0]).powi(2) + (p[2] - k.xz[1]).powi(2)).sqrt();
        assert!(d < 0.1, "frame {}: {d} m off the path", k.frame);
    }
}
