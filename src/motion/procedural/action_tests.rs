//! Every action and style of the vocabulary (docs/builtin-model.md), measured on the take's forward
//! kinematics: what the action is for (a jump leaves the floor, a sit-down ends seated) and what no
//! action may do (sink into the floor, slide a planted foot, bend a knee or an elbow backwards, pop).

use glam::{Quat, Vec3};

use super::prompt::ALL_ACTIONS;
use super::tests::{assert_on_root_path, root_keys};
use super::*;
use crate::motion::take::Sample;

/// A generated take with its world positions per frame, for measuring.
struct Measured {
    take: Take,
    pos: Vec<Vec<Vec3>>,
}

impl Measured {
    fn new(prompt: &str, seconds: f32, seed: u64) -> Measured {
        let take = generate(&Plan::text(prompt, seconds, seed)).expect("take");
        let s = &take.samples[0];
        let pos = (0..take.num_frames)
            .map(|t| take.world_positions(s, t))
            .collect();
        Measured { take, pos }
    }

    fn sample(&self) -> &Sample {
        &self.take.samples[0]
    }

    fn j(&self, name: &str) -> usize {
        self.take.skeleton.index_of(name).expect("joint")
    }

    fn at(&self, t: usize, name: &str) -> Vec3 {
        self.pos[t][self.j(name)]
    }

    fn last(&self) -> usize {
        self.take.num_frames - 1
    }

    fn series(&self, name: &str) -> Vec<Vec3> {
        let j = self.j(name);
        self.pos.iter().map(|p| p[j]).collect()
    }

    fn local(&self, t: usize, name: &str) -> Quat {
        self.take.rotation(self.sample(), t, self.j(name))
    }

    /// World rotation of a joint (its chain of local rotations).
    fn world_rot(&self, t: usize, name: &str) -> Quat {
        let mut j = Some(self.j(name));
        let mut q = Quat::IDENTITY;
        while let Some(k) = j {
            q = self.take.rotation(self.sample(), t, k) * q;
            j = self.take.skeleton.joints[k].parent;
        }
        q
    }

    /// Heading (radians, + toward +X) the hips face at frame t.
    fn facing(&self, t: usize) -> f32 {
        let f = self.world_rot(t, "Hips") * Vec3::Z;
        f.x.atan2(f.z)
    }

    /// Horizontal travel of the root between two frames.
    fn travel(&self, a: usize, b: usize) -> f32 {
        let d = self.at(b, "Hips") - self.at(a, "Hips");
        Vec3::new(d.x, 0.0, d.z).length()
    }

    fn max_y(&self, name: &str) -> f32 {
        self.series(name)
            .iter()
            .map(|p| p.y)
            .fold(f32::MIN, f32::max)
    }

    fn min_y(&self, name: &str) -> f32 {
        self.series(name)
            .iter()
            .map(|p| p.y)
            .fold(f32::MAX, f32::min)
    }

    /// Speed over the whole take, m/s.
    fn speed(&self) -> f32 {
        self.travel(0, self.last()) / self.take.seconds()
    }

    /// Mean height of the hips.
    fn mean_hips(&self) -> f32 {
        let s = self.series("Hips");
        s.iter().map(|p| p.y).sum::<f32>() / s.len() as f32
    }

    /// Range of a joint's position along one axis, in the character's frame at frame 0.
    fn range(&self, name: &str, axis: Vec3) -> f32 {
        let hips = self.series("Hips");
        let v: Vec<f32> = self
            .series(name)
            .iter()
            .zip(&hips)
            .map(|(p, h)| (*p - *h).dot(axis))
            .collect();
        v.iter().fold(f32::MIN, |a, b| a.max(*b)) - v.iter().fold(f32::MAX, |a, b| a.min(*b))
    }
}

/// What no action may do. Returns the first violation.
fn physical_faults(m: &Measured) -> Option<String> {
    let s = m.sample();
    // No joint sinks into the floor.
    for (t, frame) in m.pos.iter().enumerate() {
        for (j, p) in frame.iter().enumerate() {
            if p.y < -0.02 {
                let name = &m.take.skeleton.joints[j].name;
                return Some(format!("{name} {:.3} m below the floor at frame {t}", -p.y));
            }
        }
    }
    for t in 0..m.take.num_frames {
        // Knees bend backwards only: the shin in the thigh's frame never points forward.
        for knee in ["LeftLeg", "RightLeg"] {
            let shin = m.local(t, knee) * Vec3::NEG_Y;
            if shin.z > 0.03 {
                return Some(format!("{knee} hyperextends ({:.3}) at frame {t}", shin.z));
            }
        }
        // Elbows bend forward only: the forearm in the upper arm's frame never points back.
        for (elbow, rest) in [("LeftForeArm", Vec3::X), ("RightForeArm", Vec3::NEG_X)] {
            let fore = m.local(t, elbow) * rest;
            if fore.z < -0.03 {
                return Some(format!("{elbow} hyperextends ({:.3}) at frame {t}", fore.z));
            }
        }
    }
    // A joint in contact stays put: within 1 cm over the whole contact.
    for (name, flags) in &s.foot_contacts {
        let j = m.j(name);
        let mut start: Option<usize> = None;
        for (t, &c) in flags.iter().enumerate() {
            if !c {
                start = None;
                continue;
            }
            let a = *start.get_or_insert(t);
            let d = m.pos[t][j] - m.pos[a][j];
            let slide = Vec3::new(d.x, 0.0, d.z).length();
            if slide > 0.01 {
                return Some(format!(
                    "{name} slides {slide:.3} m in contact (frames {a}..{t})"
                ));
            }
        }
    }
    None
}

/// The largest change of angular velocity of any joint between two frames (rad/frame): a pop shows as
/// a spike here.
fn worst_velocity_jump(m: &Measured, frames: std::ops::Range<usize>) -> (f32, String) {
    let s = m.sample();
    let jn = m.take.skeleton.joints.len();
    let mut worst = (0.0f32, String::new());
    for j in 1..jn {
        let vel: Vec<Vec3> = (1..m.take.num_frames)
            .map(|t| {
                let a = m.take.rotation(s, t - 1, j);
                let b = m.take.rotation(s, t, j);
                let d = b * a.inverse();
                let d = if d.w < 0.0 { -d } else { d };
                d.to_scaled_axis()
            })
            .collect();
        for t in frames.clone().filter(|&t| t >= 1 && t < vel.len()) {
            let jump = (vel[t] - vel[t - 1]).length();
            if jump > worst.0 {
                worst = (
                    jump,
                    format!("{} at frame {}", m.take.skeleton.joints[j].name, t),
                );
            }
        }
    }
    worst
}

#[test]
fn every_action_and_style_is_physically_plausible() {
    let styles = [
        "happy",
        "sad",
        "tired",
        "angry",
        "sneaky",
        "old",
        "zombie",
        "drunk",
        "confident",
        "scared",
        "slow",
        "fast",
        "small",
        "big",
    ];
    let mut prompts: Vec<String> = ALL_ACTIONS.iter().map(|a| a.label().to_string()).collect();
    prompts.extend(styles.iter().map(|s| format!("a {s} person walks")));
    prompts.extend(styles.iter().map(|s| format!("a {s} person waves")));
    for prompt in &prompts {
        for seed in [1, 2] {
            let m = Measured::new(prompt, 3.0, seed);
            if let Some(fault) = physical_faults(&m) {
                panic!("{prompt:?} seed {seed}: {fault}");
            }
        }
    }
}

#[test]
fn sequences_blend_without_pops() {
    for prompt in [
        "runs for 2 seconds then jumps",
        "walks to the door, then turns left and waves",
        "idles, looks around, then sits",
        "walks forward, stops, then sits down, then stands up and waves",
        "jogs, then kneels, then gets up",
        "walks, then lies down",
        "a zombie shambles forward then punches",
        "claps, then bows, then shrugs",
    ] {
        let m = Measured::new(prompt, 6.0, 3);
        if let Some(fault) = physical_faults(&m) {
            panic!("{prompt:?}: {fault}");
        }
        // Clause boundaries: near them, joint velocities change no more abruptly than the clips' own
        // motion does away from them (a run's touchdowns are abrupt by nature), or than 0.3 rad/frame.
        let reading = super::prompt::read(prompt);
        let frames = super::prompt::allot(&reading, m.take.num_frames, m.take.fps);
        let boundaries: Vec<usize> = frames[..frames.len() - 1]
            .iter()
            .scan(0, |at, f| {
                *at += f;
                Some(*at)
            })
            .collect();
        let near = |t: usize| boundaries.iter().any(|&b| t.abs_diff(b) <= 6);
        let elsewhere = (1..m.last())
            .filter(|&t| !near(t))
            .map(|t| worst_velocity_jump(&m, t..t + 1).0)
            .fold(0.0f32, f32::max);
        for &boundary in &boundaries {
            let window = boundary.saturating_sub(6)..(boundary + 7).min(m.last());
            let (jump, at) = worst_velocity_jump(&m, window);
            assert!(
                jump <= elsewhere.max(0.3),
                "{prompt:?}: angular velocity jumps {jump:.3} rad/frame ({at}) near frame {boundary}, \
                 {elsewhere:.3} at most elsewhere"
            );
        }
        // The root travels without a jolt (vertical jolts are a jump's take-off and landing).
        let s = m.sample();
        let flat = |t: usize| {
            let p = Vec3::from(s.root_positions[t]);
            Vec3::new(p.x, 0.0, p.z)
        };
        for t in 2..m.take.num_frames {
            let change = ((flat(t) - flat(t - 1)) - (flat(t - 1) - flat(t - 2))).length();
            assert!(
                change < 0.02,
                "{prompt:?}: the root's velocity jumps {change:.3} m/frame at frame {t}"
            );
        }
    }
}

#[test]
fn locomotion_speeds_and_directions() {
    let speed = |p: &str| Measured::new(p, 4.0, 5).speed();
    let (walk, jog, run, sprint) = (speed("walk"), speed("jog"), speed("run"), speed("sprint"));
    assert!(
        walk < jog && jog < run && run < sprint,
        "walk {walk} jog {jog} run {run} sprint {sprint}"
    );
    assert!(
        (1.0..1.7).contains(&walk) && sprint > 4.0,
        "walk {walk} sprint {sprint}"
    );

    let back = Measured::new("walks backwards", 3.0, 5);
    let d = back.at(back.last(), "Hips") - back.at(0, "Hips");
    assert!(
        d.z < -1.0 && back.facing(back.last()).abs() < 0.2,
        "backwards {d:?}"
    );

    let strafe = Measured::new("strafes left", 3.0, 5);
    let d = strafe.at(strafe.last(), "Hips") - strafe.at(0, "Hips");
    assert!(d.x > 1.0 && d.z.abs() < 0.3, "strafe left {d:?}");
    assert!(
        strafe.facing(strafe.last()).abs() < 0.2,
        "a strafe keeps facing forward"
    );

    let stop = Measured::new("walks then stops", 4.0, 5);
    let end = stop.last();
    assert!(stop.travel(0, end / 2) > 1.0);
    assert!(
        stop.travel(end - 10, end) < 0.05,
        "still walking at the end"
    );
}

#[test]
fn distances_angles_and_circles_are_honoured() {
    for seed in 0..4 {
        let m = Measured::new("walks 3 metres forward", 5.0, seed);
        let d = m.travel(0, m.last());
        assert!((2.7..=3.3).contains(&d), "seed {seed}: walked {d} m");
        let r = Measured::new("runs 10 metres", 5.0, seed);
        let d = r.travel(0, r.last());
        assert!((9.0..=11.0).contains(&d), "seed {seed}: ran {d} m");
    }
    for (prompt, degrees) in [
        ("turns left", 90.0f32),
        ("turns 90 degrees left", 90.0),
        ("turns right", -90.0),
        ("turns right 45 degrees", -45.0),
        ("turns around", 180.0),
    ] {
        let m = Measured::new(prompt, 3.0, 2);
        let got = m.facing(m.last()).to_degrees();
        let off = (got - degrees + 540.0).rem_euclid(360.0) - 180.0;
        assert!(
            off.abs() < 12.0,
            "{prompt:?}: faces {got}°, wanted {degrees}°"
        );
    }
    let circle = Measured::new("runs in a circle", 6.0, 2);
    assert!(
        circle.travel(0, circle.last()) < 1.0,
        "a circle ends where it began"
    );
    assert!(
        circle.travel(0, circle.last() / 2) > 3.0,
        "and goes somewhere on the way"
    );
}

#[test]
fn sitting_down_ends_seated_with_the_weight_over_the_feet_until_then() {
    let m = Measured::new("sits down", 3.0, 4);
    let end = m.last();
    let hips = m.at(end, "Hips").y;
    assert!((0.38..=0.56).contains(&hips), "seated hips at {hips} m");
    for (up, knee) in [("LeftUpLeg", "LeftLeg"), ("RightUpLeg", "RightLeg")] {
        assert!(
            m.at(end, up).y < m.at(end, knee).y,
            "{up} above {knee} when seated"
        );
    }
    // Centre of mass (segment masses after Dempster) over the feet while the hips are above the seat.
    let check_com = |m: &Measured| {
        for t in 0..=m.last() {
            if m.at(t, "Hips").y < SEAT + 0.08 {
                continue;
            }
            let com = centre_of_mass(&m.pos[t], m);
            let (heel, toe) = support(m, t);
            assert!(
                com.z > heel - 0.03 && com.z < toe + 0.03,
                "frame {t}: centre of mass at z {:.3}, feet from {heel:.3} to {toe:.3}",
                com.z
            );
        }
    };
    check_com(&m);
    let up = Measured::new("sits down then stands up", 5.0, 4);
    check_com(&up);
    assert!(up.at(up.last(), "Hips").y > 0.88, "stood up");
}

/// Seat height of the built-in sit, metres: the hips end near it.
const SEAT: f32 = 0.47;

fn centre_of_mass(p: &[Vec3], m: &Measured) -> Vec3 {
    let at = |n: &str| p[m.j(n)];
    let mid = |a: &str, b: &str| (at(a) + at(b)) * 0.5;
    let parts = [
        (0.5, mid("Hips", "Spine2")),
        (0.08, mid("Neck", "Head")),
        (0.028, mid("LeftArm", "LeftForeArm")),
        (0.028, mid("RightArm", "RightForeArm")),
        (0.022, mid("LeftForeArm", "LeftHand")),
        (0.022, mid("RightForeArm", "RightHand")),
        (0.1, mid("LeftUpLeg", "LeftLeg")),
        (0.1, mid("RightUpLeg", "RightLeg")),
        (0.047, mid("LeftLeg", "LeftFoot")),
        (0.047, mid("RightLeg", "RightFoot")),
        (0.015, mid("LeftFoot", "LeftToeBase")),
        (0.015, mid("RightFoot", "RightToeBase")),
    ];
    let total: f32 = parts.iter().map(|x| x.0).sum();
    parts.iter().map(|(w, x)| *x * *w).sum::<Vec3>() / total
}

/// Front-to-back extent of the feet (z of the heels behind the ankles, z of the toes).
fn support(m: &Measured, t: usize) -> (f32, f32) {
    let heel = m.at(t, "LeftFoot").z.min(m.at(t, "RightFoot").z) - 0.06;
    let toe = m.at(t, "LeftToeBase").z.max(m.at(t, "RightToeBase").z) + 0.04;
    (heel, toe)
}

#[test]
fn postures_go_down_and_come_back_up() {
    let crouch = Measured::new("crouch", 2.0, 1);
    assert!(crouch.at(crouch.last(), "Hips").y < 0.95 - 0.2);

    let kneel = Measured::new("kneels", 2.5, 1);
    let end = kneel.last();
    let (l, r) = (kneel.at(end, "LeftLeg").y, kneel.at(end, "RightLeg").y);
    assert!(l.min(r) < 0.12 && l.max(r) > 0.3, "one knee down: {l} {r}");

    let lie = Measured::new("lies down", 3.5, 1);
    let end = lie.last();
    assert!(
        lie.at(end, "Hips").y < 0.25,
        "lying hips {}",
        lie.at(end, "Hips").y
    );
    assert!(
        lie.at(end, "Head").y < 0.4,
        "lying head {}",
        lie.at(end, "Head").y
    );
    let body = lie.at(end, "Head") - lie.at(end, "Hips");
    assert!(
        body.y.abs() < 0.35 * body.length(),
        "the trunk lies flat: {body:?}"
    );

    let fall = Measured::new("falls", 2.0, 1);
    assert!(fall.at(45, "Hips").y < 0.3, "a fall is quick");

    let getup = Measured::new("lies down then gets up", 7.0, 1);
    assert!(getup.min_y("Hips") < 0.25);
    assert!(getup.at(getup.last(), "Hips").y > 0.88);
    let stand = Measured::new("sits down, then stands up", 5.0, 1);
    assert!(stand.at(stand.last(), "Hips").y > 0.88);
    let kneel_up = Measured::new("kneels then gets up", 5.0, 1);
    assert!(kneel_up.at(kneel_up.last(), "Hips").y > 0.88);
}

#[test]
fn whole_body_actions_do_what_they_say() {
    let jump = Measured::new("jump", 2.0, 3);
    assert!(jump.max_y("LeftToeBase") > 0.15 && jump.max_y("RightToeBase") > 0.15);
    let hop = Measured::new("hop", 2.0, 3);
    let hop_peak = hop.max_y("LeftToeBase");
    assert!(
        hop_peak > 0.04 && hop_peak < jump.max_y("LeftToeBase"),
        "hop {hop_peak}"
    );
    let leap = Measured::new("leaps forward", 1.6, 3);
    assert!(leap.travel(0, leap.last()) > 0.4);

    let kick = Measured::new("kicks", 1.5, 3);
    let (toe, hips) = (kick.series("RightToeBase"), kick.series("Hips"));
    let best = toe
        .iter()
        .zip(&hips)
        .map(|(t, h)| (t.y, t.z - h.z))
        .fold((0.0f32, 0.0f32), |a, b| (a.0.max(b.0), a.1.max(b.1)));
    assert!(best.0 > 0.35 && best.1 > 0.3, "kick reaches {best:?}");

    let pick = Measured::new("picks up a box", 2.5, 3);
    assert!(
        pick.min_y("RightHand") < 0.45,
        "reaches down to {}",
        pick.min_y("RightHand")
    );
    assert!(pick.at(pick.last(), "Hips").y > 0.85, "and stands back up");

    let push = Measured::new("pushes", 2.5, 3);
    let reach = push.at(40, "RightHand").z - push.at(40, "Spine2").z;
    assert!(
        reach > 0.4 && push.travel(0, push.last()) > 0.5,
        "push reach {reach}"
    );

    let climb = Measured::new("climbs a step", 2.0, 3);
    let end = climb.last();
    let rise = climb.at(end, "Hips").y - climb.at(0, "Hips").y;
    assert!((0.14..0.22).contains(&rise), "climbed {rise} m");
    let toes = climb
        .at(end, "LeftToeBase")
        .y
        .min(climb.at(end, "RightToeBase").y);
    assert!(
        (0.15..0.21).contains(&toes),
        "stands on the step: toes at {toes}"
    );

    let dance = Measured::new("dances", 4.0, 3);
    assert!(dance.travel(0, dance.last()) < 0.4, "dances on the spot");
    let steps = dance.sample().foot_contacts["LeftFoot"]
        .windows(2)
        .filter(|w| w[1] && !w[0])
        .count();
    assert!(steps >= 2, "dancing steps {steps} times");
}

#[test]
fn gestures_move_the_parts_they_name() {
    let idle = Measured::new("idle", 3.0, 6);
    let wave = Measured::new("waves", 3.0, 6);
    assert!(
        wave.max_y("RightHand") > wave.at(40, "Head").y,
        "the waving hand goes above the head"
    );
    assert!(wave.range("RightHand", Vec3::X) > 0.1, "and waves");
    let left = Measured::new("waves with the left hand", 3.0, 6);
    assert!(left.max_y("LeftHand") > left.at(40, "Head").y && left.max_y("RightHand") < 1.0);

    let point = Measured::new("points", 2.0, 6);
    let p = point.at(point.last(), "RightHand") - point.at(point.last(), "RightArm");
    assert!(p.z > 0.4 && p.y.abs() < 0.2, "pointing hand {p:?}");

    let clap = Measured::new("claps", 3.0, 6);
    let gaps: Vec<f32> = (0..=clap.last())
        .map(|t| clap.at(t, "LeftHand").distance(clap.at(t, "RightHand")))
        .collect();
    let touches = gaps
        .windows(2)
        .filter(|w| w[1] < 0.12 && w[0] >= 0.12)
        .count();
    assert!(
        touches >= 3,
        "hands meet {touches} times: {:?}",
        &gaps[..20]
    );

    let bow = Measured::new("bows", 2.5, 6);
    let drop = bow.at(0, "Head").y - bow.min_y("Head");
    assert!(
        drop > 0.2 && bow.at(bow.last(), "Head").y > bow.at(0, "Head").y - 0.05,
        "bow drops the head {drop}"
    );

    let head_fwd = |m: &Measured, axis: Vec3| {
        let v: Vec<f32> = (0..=m.last())
            .map(|t| (m.world_rot(t, "Head") * Vec3::Z).dot(axis))
            .collect();
        v.iter().fold(f32::MIN, |a, b| a.max(*b)) - v.iter().fold(f32::MAX, |a, b| a.min(*b))
    };
    assert!(
        head_fwd(&Measured::new("nods", 2.0, 6), Vec3::Y) > 0.25,
        "nod"
    );
    assert!(
        head_fwd(&Measured::new("shakes his head", 2.0, 6), Vec3::X) > 0.5,
        "shake"
    );
    assert!(
        head_fwd(&Measured::new("looks around", 3.5, 6), Vec3::X) > 1.0,
        "look around"
    );
    assert!(head_fwd(&idle, Vec3::X) < 0.4, "idle hardly looks around");

    let shrug = Measured::new("shrugs", 1.5, 6);
    let lift = shrug.max_y("RightArm") - shrug.at(0, "RightArm").y;
    assert!(lift > 0.03, "shoulders rise {lift}");

    let stretch = Measured::new("stretches", 2.5, 6);
    assert!(stretch.max_y("RightHand") > stretch.max_y("Head") + 0.3);

    let talk = Measured::new("talks", 3.0, 6);
    assert!(talk.range("RightHand", Vec3::Y) > 0.08 && talk.range("LeftHand", Vec3::Y) > 0.08);

    let punch = Measured::new("punches", 2.0, 6);
    let reach = (0..=punch.last())
        .map(|t| punch.at(t, "RightHand").z - punch.at(t, "Spine2").z)
        .fold(0.0f32, f32::max);
    assert!(reach > 0.5, "punch reaches {reach}");

    let throw = Measured::new("throws", 1.5, 6);
    let hand = throw.series("RightHand");
    let high = (0..hand.len())
        .find(|&t| hand[t].y > throw.at(t, "Head").y)
        .expect("wind-up above the head");
    assert!(
        (high..hand.len()).any(|t| hand[t].z - throw.at(t, "Spine2").z > 0.4),
        "then forward"
    );
}

#[test]
fn styles_change_posture_pace_and_size() {
    let walk = Measured::new("walks", 4.0, 8);
    let style = |s: &str| Measured::new(&format!("a {s} person walks"), 4.0, 8);
    let sneaky = style("sneaky");
    assert!(
        sneaky.mean_hips() < walk.mean_hips() - 0.05,
        "sneaky is lower"
    );
    assert!(sneaky.speed() < 0.75 * walk.speed(), "sneaky is slower");
    let sneak = Measured::new("sneaks", 4.0, 8);
    assert!(sneak.mean_hips() < walk.mean_hips() - 0.05 && sneak.speed() < 0.75 * walk.speed());

    for slower in ["sad", "tired", "old", "zombie", "slow"] {
        assert!(
            style(slower).speed() < 0.85 * walk.speed(),
            "{slower} walks slower"
        );
    }
    for faster in ["angry", "fast", "happy"] {
        assert!(
            style(faster).speed() > 1.05 * walk.speed(),
            "{faster} walks faster"
        );
    }
    let head_z = |m: &Measured| {
        (0..=m.last())
            .map(|t| (m.world_rot(t, "Head") * Vec3::Z).y)
            .sum::<f32>()
            / m.take.num_frames as f32
    };
    assert!(
        head_z(&style("sad")) < head_z(&walk) - 0.1,
        "sad looks down"
    );
    assert!(
        head_z(&style("confident")) > head_z(&walk),
        "confident looks up"
    );
    let stoop = |m: &Measured| {
        (0..=m.last())
            .map(|t| m.at(t, "Head").z - m.at(t, "Hips").z)
            .sum::<f32>()
            / m.take.num_frames as f32
    };
    assert!(stoop(&style("old")) > stoop(&walk) + 0.05, "old stoops");
    assert!(
        style("scared").mean_hips() < walk.mean_hips() - 0.02,
        "scared cowers"
    );

    let zombie = style("zombie");
    let reach = zombie.at(60, "RightHand").z - zombie.at(60, "Spine2").z;
    assert!(
        reach > 0.45 && (zombie.at(60, "RightHand").y - zombie.at(60, "RightArm").y).abs() < 0.2,
        "zombie arms {reach}"
    );

    let sway = |m: &Measured| {
        m.range("Hips", Vec3::X) + {
            let x: Vec<f32> = m.series("Hips").iter().map(|p| p.x).collect();
            x.iter().fold(f32::MIN, |a, b| a.max(*b)) - x.iter().fold(f32::MAX, |a, b| a.min(*b))
        }
    };
    assert!(sway(&style("drunk")) > sway(&walk) + 0.15, "drunk weaves");

    let swing = |m: &Measured| m.range("RightHand", Vec3::Z);
    assert!(swing(&style("big")) > 1.2 * swing(&walk), "big swings more");
    assert!(
        swing(&style("small")) < 0.8 * swing(&walk),
        "small swings less"
    );
    let wave = |s: &str| Measured::new(&format!("{s} waves"), 3.0, 8).range("RightHand", Vec3::X);
    assert!(wave("big") > wave("small") * 1.3, "a big wave is bigger");
}

#[test]
fn seeds_are_deterministic_and_vary() {
    for prompt in [
        "walks then sits down",
        "dances",
        "a sad person waves then bows",
        "jogs in a circle",
    ] {
        let a = generate(&Plan::text(prompt, 3.0, 11)).expect("a");
        let b = generate(&Plan::text(prompt, 3.0, 11)).expect("b");
        let c = generate(&Plan::text(prompt, 3.0, 12)).expect("c");
        assert_eq!(a, b, "{prompt:?}");
        assert_ne!(a.samples[0].rotations, c.samples[0].rotations, "{prompt:?}");
        let mut plan = Plan::text(prompt, 3.0, 11);
        plan.num_samples = 2;
        let two = generate(&plan).expect("two");
        assert_ne!(
            two.samples[0].rotations, two.samples[1].rotations,
            "{prompt:?}"
        );
        for (k, s) in two.samples.iter().enumerate() {
            let m = Measured {
                pos: (0..two.num_frames)
                    .map(|t| two.world_positions(s, t))
                    .collect(),
                take: Take {
                    samples: vec![s.clone()],
                    ..two.clone()
                },
            };
            assert_eq!(physical_faults(&m), None, "{prompt:?} sample {k}");
        }
    }
}

#[test]
fn notes_say_how_the_prompt_was_read() {
    let take = generate(&Plan::text(
        "walks to the door, then turns left and waves",
        4.0,
        1,
    ))
    .expect("take");
    let note = take
        .notes
        .iter()
        .find(|n| n["code"] == "prompt_keywords")
        .and_then(|n| n["message"].as_str())
        .expect("note");
    assert!(
        note.contains("walk") && note.contains("turn left 90° + wave"),
        "{note}"
    );
    assert!(note.contains("not understood: door"), "{note}");
    assert!(note.len() < 300, "notes stay short: {note}");
}

#[test]
fn constraints_apply_on_top_of_a_sentence() {
    let mut plan = Plan::text("walks forward, then sits down, then waves", 6.0, 2);
    plan.root_path = root_keys(&[(0, [0.0, 0.0]), (60, [1.0, 2.0])]);
    let take = generate(&plan).expect("take");
    let s = &take.samples[0];
    assert_on_root_path(s, &plan.root_path);
    let hips = take.world_positions(s, take.num_frames - 1)[0];
    assert!(hips.y < 0.6, "still seated at the end: {hips:?}");
}

#[test]
fn sentences_stay_finite_at_any_rate_and_length() {
    for prompt in [
        "walks to the door, then turns left and waves",
        "a drunk zombie runs in a circle then falls, then gets up",
        "kneels, lies down, gets up, climbs a step, dances and bows",
        "sprints 50 metres for 0.1 seconds then turns 720 degrees",
    ] {
        for (seconds, fps) in [(1.0 / 30.0, 30.0), (0.5, 24.0), (4.0, 60.0), (2.0, 1.0)] {
            for looped in [false, true] {
                let mut plan = Plan::text(prompt, seconds, 5);
                plan.fps = fps;
                plan.segments[0].frames = ((seconds * fps).round() as usize).max(1);
                plan.total_frames = plan.segments[0].frames;
                plan.looped = looped;
                let take = generate(&plan).expect("take");
                let ok = take.samples[0]
                    .rotations
                    .iter()
                    .flatten()
                    .chain(take.samples[0].root_positions.iter().flatten())
                    .all(|v| v.is_finite());
                assert!(ok, "{prompt:?} {seconds}s {fps}fps loop={looped}");
            }
        }
    }
}
