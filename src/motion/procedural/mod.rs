//! The built-in motion model: procedural, not learned. A prompt is read as a short sentence of clauses
//! (about 36 actions, 14 styles, distances, angles, durations: docs/builtin-model.md), each performed by a
//! parametric clip on the standard humanoid skeleton of docs/mmcp.md#built-in-models and blended into the
//! next, retargeted by joint name to rigs of other proportions, honouring duration, fps, seeds, samples,
//! loops, `root_path`, `pose_keyframe` and `effector_target`.
//!
//! [`generate`] takes a [`Plan`] — the request reduced to what the model uses — so the model can be
//! exercised without the wire types; the backbone adapter builds the plan from a checked request.

mod actions;
mod prompt;
mod rig;
mod style;
mod synth;
mod trajectory;

use std::collections::BTreeMap;

use glam::{Quat, Vec3};
use serde_json::json;

pub use rig::{CONTACT_JOINTS, standard_skeleton};

use crate::motion::take::{Skeleton, Take};

/// Model id of the procedural model.
pub const MODEL_ID: &str = "stagecraft-procedural";
/// Native frame rate.
pub const FPS: f32 = 30.0;
/// Above this frame rate a take would only be bigger, not better (and 30 s at 10 kHz is a memory bomb).
pub const MAX_FPS: f32 = 240.0;

/// One stretch of the timeline: a prompt (or none, for unconditioned) over a number of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSegment {
    pub prompt: Option<String>,
    pub frames: usize,
    /// Per-segment seed (`supports_segment_seed`): the same segment seed gives the same segment variation.
    pub seed: Option<u64>,
    /// A `pose` segment: one frame showing the prompt's settled posture (seated, crouched, mid-stride).
    pub pose: bool,
}

/// A root position (and optionally heading, radians, 0 = +Z, + toward +X) the root must pass at a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RootKey {
    pub frame: usize,
    pub xz: [f32; 2],
    pub heading: Option<f32>,
}

/// Joint rotations (local, `[x, y, z, w]`, by request joint name) to reach at a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseKey {
    pub frame: usize,
    pub joint_rotations: Vec<(String, [f32; 4])>,
    pub root_position: Option<[f32; 3]>,
    /// `fill_mode: "rest"`: unlisted joints go to rest at that frame too.
    pub fill_rest: bool,
}

/// A world position (and optionally a local rotation, `[x, y, z, w]`) a hand or foot reaches at a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectorKey {
    /// A request joint name; it must map onto a hand, foot or toe of the standard skeleton.
    pub joint: String,
    pub frame: usize,
    pub position: [f32; 3],
    pub rotation: Option<[f32; 4]>,
}

/// What the procedural model is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The request skeleton (joints mapped onto the standard roles by name).
    pub skeleton: Skeleton,
    pub fps: f32,
    /// Segments in order; empty for a constraints-only request (then the whole take is idle).
    pub segments: Vec<PlanSegment>,
    pub total_frames: usize,
    /// `None`: a fresh random seed.
    pub seed: Option<u64>,
    pub num_samples: usize,
    pub transition_frames: usize,
    pub looped: bool,
    pub root_path: Vec<RootKey>,
    pub pose_keys: Vec<PoseKey>,
    pub effectors: Vec<EffectorKey>,
}

impl Plan {
    /// A single-prompt plan on the standard skeleton: the quickest way to try the model.
    pub fn text(prompt: &str, seconds: f32, seed: u64) -> Plan {
        let frames = ((seconds * FPS).round() as usize).max(1);
        Plan {
            skeleton: standard_skeleton(),
            fps: FPS,
            segments: vec![PlanSegment {
                prompt: Some(prompt.to_string()),
                frames,
                seed: None,
                pose: false,
            }],
            total_frames: frames,
            seed: Some(seed),
            num_samples: 1,
            transition_frames: 5,
            looped: false,
            root_path: Vec::new(),
            pose_keys: Vec::new(),
            effectors: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProceduralError {
    #[error("the skeleton has no joints")]
    EmptySkeleton,
    #[error("joint {0}: parents must come before their children, with exactly one root")]
    Topology(usize),
    #[error("fps must be a finite number in (0, {MAX_FPS}], got {0}")]
    Fps(f32),
    #[error(
        "joint {0:?} is not an end effector of this model: effector_target takes the hands (LeftHand, RightHand) \
         and feet (LeftFoot, LeftToeBase, RightFoot, RightToeBase)"
    )]
    NotAnEffector(String),
}

/// Request joint names an `effector_target` may name on this skeleton.
pub fn effector_joints(skeleton: &Skeleton) -> Vec<String> {
    let Some(rig) = rig::Rig::new(skeleton) else {
        return Vec::new();
    };
    let mut names: Vec<String> = synth::effector_roles(&rig)
        .into_iter()
        .map(|(j, _)| skeleton.joints[j].name.clone())
        .collect();
    names.sort();
    names
}

/// Generate a take: one sample per `plan.num_samples`, all on the plan's skeleton.
///
/// The clips are made for a character facing +Z. A request skeleton that faces another way at rest (a rig
/// turned in its scene: its offsets are world-aligned) is turned to face +Z about its root, the motion is
/// made there, and the result and the constraints are turned back (docs/retargeting.md, "The built-in
/// model").
pub fn generate(plan: &Plan) -> Result<Take, ProceduralError> {
    let heading = rig::Rig::new(&plan.skeleton)
        .map(|r| r.heading())
        .unwrap_or(0.0);
    if heading.abs() < 1e-4 {
        return generate_facing_z(plan);
    }
    let turn = Quat::from_rotation_y(heading);
    let pivot = plan
        .skeleton
        .joints
        .iter()
        .find(|j| j.parent.is_none())
        .map(|j| Vec3::from(j.rest_translation))
        .unwrap_or(Vec3::ZERO);
    let facing_z = turn_plan(plan, turn.inverse(), pivot);
    let mut take = generate_facing_z(&facing_z)?;
    take.skeleton = plan.skeleton.clone();
    turn_samples(&mut take, turn, pivot);
    Ok(take)
}

/// `plan` with its skeleton and its constraints turned by `turn` about `pivot` (a vertical axis).
fn turn_plan(plan: &Plan, turn: Quat, pivot: Vec3) -> Plan {
    let point = |p: Vec3| pivot + turn * (p - pivot);
    let local = |q: [f32; 4]| (turn * Quat::from_array(q) * turn.inverse()).to_array();
    let yaw = {
        let f = turn * Vec3::Z;
        f.x.atan2(f.z)
    };
    let mut out = plan.clone();
    for j in &mut out.skeleton.joints {
        if j.parent.is_some() {
            j.rest_translation = (turn * Vec3::from(j.rest_translation)).to_array();
        }
    }
    for k in &mut out.root_path {
        let p = point(Vec3::new(k.xz[0], pivot.y, k.xz[1]));
        k.xz = [p.x, p.z];
        k.heading = k.heading.map(|h| h + yaw);
    }
    for k in &mut out.pose_keys {
        for (_, q) in &mut k.joint_rotations {
            *q = local(*q);
        }
        k.root_position = k.root_position.map(|p| point(Vec3::from(p)).to_array());
    }
    for e in &mut out.effectors {
        e.position = point(Vec3::from(e.position)).to_array();
        e.rotation = e.rotation.map(local);
    }
    out
}

/// Turns every sample by `turn` about `pivot`: root positions move, and every local rotation (from a
/// world-aligned rest) is conjugated, which turns the whole pose.
fn turn_samples(take: &mut Take, turn: Quat, pivot: Vec3) {
    let inv = turn.inverse();
    for s in &mut take.samples {
        for q in &mut s.rotations {
            *q = (turn * Quat::from_array(*q) * inv).normalize().to_array();
        }
        for p in &mut s.root_positions {
            *p = (pivot + turn * (Vec3::from(*p) - pivot)).to_array();
        }
        for track in s.joint_translations.values_mut() {
            for p in track {
                *p = (turn * Vec3::from(*p)).to_array();
            }
        }
        // The fitted trajectory describes the +Z-facing motion; it no longer fits.
        s.trajectory = None;
    }
}

fn generate_facing_z(plan: &Plan) -> Result<Take, ProceduralError> {
    // The wire checks guarantee this for requests; a plan built in code gets the same guarantee here.
    let mut roots = 0;
    for (j, joint) in plan.skeleton.joints.iter().enumerate() {
        match joint.parent {
            None => roots += 1,
            Some(p) if p < j => {}
            Some(_) => return Err(ProceduralError::Topology(j)),
        }
        if roots > 1 {
            return Err(ProceduralError::Topology(j));
        }
    }
    let rig = rig::Rig::new(&plan.skeleton).ok_or(ProceduralError::EmptySkeleton)?;
    if !(plan.fps.is_finite() && plan.fps > 0.0 && plan.fps <= MAX_FPS) {
        return Err(ProceduralError::Fps(plan.fps));
    }
    let effector_capable = synth::effector_roles(&rig);
    if let Some(bad) = plan.effectors.iter().find(|e| {
        !effector_capable
            .iter()
            .any(|(j, _)| plan.skeleton.joints[*j].name == e.joint)
    }) {
        return Err(ProceduralError::NotAnEffector(bad.joint.clone()));
    }
    let total = plan.total_frames.max(1);
    // No seed: every call differs (the protocol's "null = nondeterministic").
    let seed = plan.seed.unwrap_or_else(|| {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ])
    });
    let mut notes: Vec<String> = Vec::new();
    let samples = (0..plan.num_samples.max(1))
        .map(|b| synth::sample(plan, &rig, style::mix(seed, b as u64), &mut notes))
        .collect();
    notes.sort();
    notes.dedup();

    let mut note_values: Vec<serde_json::Value> = Vec::new();
    let read: Vec<String> = plan
        .segments
        .iter()
        .map(|s| match &s.prompt {
            Some(p) => read_note(p, s.frames.max(1), plan.fps),
            None => "unconditioned: idle".to_string(),
        })
        .collect();
    if !read.is_empty() {
        note_values.push(json!({
            "code": "prompt_keywords",
            "severity": "info",
            "message": format!("read {}", read.join("; ")),
        }));
    }
    let canonical_to_request: BTreeMap<String, String> = rig
        .matched
        .iter()
        .filter(|(request, standard)| request != standard)
        .map(|(request, standard)| (standard.clone(), request.clone()))
        .collect();
    let unmatched = plan.skeleton.joints.len() - rig.matched.len();
    if unmatched > 0 || rig.legs.iter().any(|l| l.is_none()) {
        note_values.push(json!({
            "code": "retargeted_partially",
            "severity": "warning",
            "message": format!(
                "{unmatched} joint(s) of the request skeleton have no standard humanoid name and stay at rest{}",
                if rig.legs.iter().any(|l| l.is_none()) { "; a leg chain (UpLeg > Leg > Foot) is missing, so no footsteps on it" } else { "" }
            ),
        }));
    }
    for n in notes {
        note_values.push(json!({"code": "constraint", "severity": "warning", "message": n}));
    }
    Ok(Take {
        model: MODEL_ID.to_string(),
        version: "1.4".to_string(),
        fps: plan.fps,
        num_frames: total,
        skeleton: plan.skeleton.clone(),
        samples,
        notes: note_values,
        canonical_to_request,
    })
}

/// Clauses a note lists before it says "N more".
const MAX_NOTED_CLAUSES: usize = 8;

/// How a prompt was read, for the take's notes: `"runs then jumps": run 2.0s, jump 2.0s; not understood:
/// "door"` (docs/builtin-model.md). The prompt is quoted up to 60 characters: notes stay short.
fn read_note(text: &str, frames: usize, fps: f32) -> String {
    let reading = prompt::read(text);
    let allotted = prompt::allot(&reading, frames, fps);
    let mut clauses: Vec<String> = reading
        .clauses
        .iter()
        .zip(&allotted)
        .take(MAX_NOTED_CLAUSES)
        .map(|(c, f)| format!("{} {:.1}s", c.describe(), *f as f32 / fps))
        .collect();
    if reading.clauses.len() > MAX_NOTED_CLAUSES {
        clauses.push(format!(
            "{} more",
            reading.clauses.len() - MAX_NOTED_CLAUSES
        ));
    }
    let quoted: String = text.chars().take(60).collect();
    let ellipsis = if text.chars().count() > 60 { "…" } else { "" };
    let mut note = format!("{quoted:?}{ellipsis} as {}", clauses.join(", then "));
    if !reading.unknown.is_empty() {
        let words: Vec<&str> = reading.unknown.iter().take(8).map(String::as_str).collect();
        note.push_str(&format!(" (not understood: {})", words.join(", ")));
    }
    note
}

#[cfg(test)]
mod action_tests;
#[cfg(test)]
mod tests;
