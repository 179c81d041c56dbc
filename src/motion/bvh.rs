//! BVH (Biovision Hierarchy) motion files, the format every mocap tool reads: a take written as
//! `.bvh`, and a `.bvh` file read back as a take (the stage DCC imports BVH that way).
//!
//! BVH and MMCP agree on what matters (docs/mmcp.md#skeleton): at rest every joint is aligned with
//! the world axes, a joint's OFFSET is its offset from the parent along those axes, and a frame's
//! rotations are local to the parent. So a take maps onto BVH one to one: OFFSET = rest
//! translation, the root's position channels = the root's world position, rotation channels = the
//! local quaternion as Euler angles in degrees. Rotation channels apply in the order listed
//! (`Zrotation Xrotation Yrotation` is `Rz · Rx · Ry`, the order CMU and Mixamo files use). Files
//! are written in the take's units, metres; [`read`] reports the height of what it read, so callers
//! can tell centimetre files (most mocap) from metre ones.
//!
//! No BVH crate is a dependency: the format is small, and this parser refuses bad input with a
//! typed error and bounded memory instead of panicking (fuzzed in tests/fuzz_bvh.rs).

use std::fmt::Write as _;

use glam::{DQuat, EulerRot, Quat, Vec3};

use super::take::{Joint, Sample, Skeleton, Take};

/// More joints than any rig has; bounds what a hostile file can make us build.
pub const MAX_JOINTS: usize = 1024;
/// An hour at 30 fps.
pub const MAX_FRAMES: usize = 108_000;
/// Largest number accepted anywhere (100 km in centimetres; angles are far smaller): keeps every
/// value finite once converted to f32.
const MAX_VALUE: f64 = 1e7;
/// Most numbers in MOTION (256 MiB as f64): an hour of a 60-joint rig at 30 fps is 20 million.
const MAX_VALUES: usize = 32 << 20;
/// Highest frame rate accepted (`Frame Time` at least 1 ms).
const MAX_FPS: f64 = 1000.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BvhError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn syntax(line: usize, message: impl Into<String>) -> BvhError {
    BvhError::Syntax {
        line,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Xposition,
    Yposition,
    Zposition,
    Xrotation,
    Yrotation,
    Zrotation,
}

impl Channel {
    fn parse(word: &str) -> Option<Channel> {
        Some(match word.to_ascii_lowercase().as_str() {
            "xposition" => Channel::Xposition,
            "yposition" => Channel::Yposition,
            "zposition" => Channel::Zposition,
            "xrotation" => Channel::Xrotation,
            "yrotation" => Channel::Yrotation,
            "zrotation" => Channel::Zrotation,
            _ => return None,
        })
    }

    fn is_position(self) -> bool {
        matches!(
            self,
            Channel::Xposition | Channel::Yposition | Channel::Zposition
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BvhJoint {
    pub name: String,
    /// Index of the parent joint; parents come first.
    pub parent: Option<usize>,
    pub offset: [f64; 3],
    pub channels: Vec<Channel>,
}

/// A parsed BVH file, in the file's own units. Only [`read`] makes one, so its values always
/// match its joints' channels and frame count.
#[derive(Debug, Clone, PartialEq)]
pub struct Bvh {
    joints: Vec<BvhJoint>,
    frame_time: f64,
    num_frames: usize,
    /// `num_frames × channel_count` values, frame-major, in the order the channels are declared.
    values: Vec<f64>,
}

impl Bvh {
    pub fn joints(&self) -> &[BvhJoint] {
        &self.joints
    }

    pub fn num_frames(&self) -> usize {
        self.num_frames
    }

    pub fn channel_count(&self) -> usize {
        self.joints.iter().map(|j| j.channels.len()).sum()
    }

    pub fn fps(&self) -> f64 {
        1.0 / self.frame_time
    }

    /// Local translation and rotation of every joint at frame `t`; a joint without position
    /// channels sits at its OFFSET, one with them at their values (as Blender's importer reads them).
    fn local_pose(&self, t: usize) -> Vec<(Vec3, Quat)> {
        let count = self.channel_count();
        let row = &self.values[t * count..(t + 1) * count];
        let mut at = 0;
        self.joints
            .iter()
            .map(|joint| {
                let mut translation = joint.offset;
                let mut rotation = DQuat::IDENTITY;
                for channel in &joint.channels {
                    let v = row[at];
                    at += 1;
                    match channel {
                        Channel::Xposition => translation[0] = v,
                        Channel::Yposition => translation[1] = v,
                        Channel::Zposition => translation[2] = v,
                        Channel::Xrotation => rotation *= DQuat::from_rotation_x(v.to_radians()),
                        Channel::Yrotation => rotation *= DQuat::from_rotation_y(v.to_radians()),
                        Channel::Zrotation => rotation *= DQuat::from_rotation_z(v.to_radians()),
                    }
                }
                let [x, y, z] = translation.map(|c| c as f32);
                (Vec3::new(x, y, z), rotation.normalize().as_quat())
            })
            .collect()
    }

    /// Height of the skeleton at rest (highest minus lowest joint), in the file's units.
    pub fn rest_height(&self) -> f64 {
        let mut heights: Vec<f64> = Vec::with_capacity(self.joints.len());
        for joint in &self.joints {
            let above = joint.parent.map_or(0.0, |p| heights[p]);
            heights.push(above + joint.offset[1]);
        }
        let top = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let bottom = heights.iter().copied().fold(f64::INFINITY, f64::min);
        if top.is_finite() { top - bottom } else { 0.0 }
    }

    /// The motion as a take (MMCP conventions), with lengths multiplied by `scale` (0.01 for a
    /// centimetre file).
    pub fn to_take(&self, scale: f32) -> Take {
        let joints: Vec<Joint> = self
            .joints
            .iter()
            .map(|j| Joint {
                name: j.name.clone(),
                parent: j.parent,
                rest_translation: j.offset.map(|c| c as f32 * scale),
                rest_rotation: [0.0, 0.0, 0.0, 1.0],
            })
            .collect();
        let mut sample = Sample::default();
        for t in 0..self.num_frames {
            let pose = self.local_pose(t);
            sample
                .rotations
                .extend(pose.iter().map(|(_, r)| r.to_array()));
            sample.root_positions.push((pose[0].0 * scale).to_array());
            for (j, joint) in self.joints.iter().enumerate().skip(1) {
                if joint.channels.iter().any(|c| c.is_position()) {
                    sample
                        .joint_translations
                        .entry(j)
                        .or_default()
                        .push((pose[j].0 * scale).to_array());
                }
            }
        }
        Take {
            model: "bvh".into(),
            version: String::new(),
            fps: self.fps() as f32,
            num_frames: self.num_frames,
            skeleton: Skeleton { joints },
            samples: vec![sample],
            ..Take::default()
        }
    }
}

/// Reads a BVH file: one ROOT, its JOINTs, End Sites (kept out of the joints), then MOTION.
pub fn read(text: &str) -> Result<Bvh, BvhError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let mut next = |what: &str| next_line(&mut lines, what);

    let (n, first) = next("HIERARCHY")?;
    if !first.eq_ignore_ascii_case("HIERARCHY") {
        return Err(syntax(n, "a BVH file starts with HIERARCHY"));
    }
    let mut joints: Vec<BvhJoint> = Vec::new();
    // Open braces: Some(joint index) for a joint, None for an End Site.
    let mut open: Vec<Option<usize>> = Vec::new();
    // What the next `{` opens.
    let mut pending: Option<Option<usize>> = None;
    loop {
        let (n, line) = next("MOTION")?;
        let (word, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(w, r)| (w, r.trim()));
        match word.to_ascii_uppercase().as_str() {
            "ROOT" | "JOINT" => {
                let is_root = word.eq_ignore_ascii_case("ROOT");
                if is_root != joints.is_empty() {
                    return Err(syntax(
                        n,
                        if is_root {
                            "only one ROOT is supported"
                        } else {
                            "JOINT before ROOT"
                        },
                    ));
                }
                if pending.is_some() {
                    return Err(syntax(n, "expected `{`"));
                }
                let parent = match open.last() {
                    Some(Some(p)) => Some(*p),
                    Some(None) => return Err(syntax(n, "an End Site has no joints")),
                    None if is_root => None,
                    None => return Err(syntax(n, "JOINT outside the ROOT's braces")),
                };
                let name = rest.trim_end_matches('{').trim();
                if name.is_empty() {
                    return Err(syntax(n, format!("{word} without a name")));
                }
                if joints.iter().any(|j| j.name == name) {
                    return Err(syntax(n, format!("joint {name:?} is declared twice")));
                }
                if joints.len() == MAX_JOINTS {
                    return Err(syntax(n, format!("more than {MAX_JOINTS} joints")));
                }
                joints.push(BvhJoint {
                    name: name.to_string(),
                    parent,
                    offset: [0.0; 3],
                    channels: Vec::new(),
                });
                pending = Some(Some(joints.len() - 1));
                if rest.ends_with('{') {
                    open.extend(pending.take());
                }
            }
            "END" => {
                if !matches!(open.last(), Some(Some(_))) || pending.is_some() {
                    return Err(syntax(n, "End Site outside a joint"));
                }
                pending = Some(None);
                if rest.ends_with('{') {
                    open.extend(pending.take());
                }
            }
            "{" => {
                let opened = pending.take().ok_or_else(|| syntax(n, "unexpected `{`"))?;
                open.push(opened);
            }
            "}" => {
                if pending.is_some() || open.pop().is_none() {
                    return Err(syntax(n, "unexpected `}`"));
                }
            }
            "OFFSET" => {
                let offset =
                    numbers::<3>(rest).ok_or_else(|| syntax(n, "OFFSET needs three numbers"))?;
                match open.last() {
                    Some(Some(j)) => joints[*j].offset = offset,
                    Some(None) => {} // End Site: only its length, which a take does not keep.
                    None => return Err(syntax(n, "OFFSET outside a joint")),
                }
            }
            "CHANNELS" => {
                let Some(Some(j)) = open.last() else {
                    return Err(syntax(n, "CHANNELS outside a joint"));
                };
                let mut words = rest.split_whitespace();
                let count: usize = words
                    .next()
                    .and_then(|c| c.parse().ok())
                    .filter(|c| *c <= 6)
                    .ok_or_else(|| syntax(n, "CHANNELS needs a count from 0 to 6"))?;
                let channels: Vec<Channel> = words
                    .map(|w| {
                        Channel::parse(w).ok_or_else(|| syntax(n, format!("unknown channel {w:?}")))
                    })
                    .collect::<Result<_, _>>()?;
                if channels.len() != count {
                    return Err(syntax(
                        n,
                        format!("CHANNELS says {count} but names {}", channels.len()),
                    ));
                }
                if (1..channels.len()).any(|i| channels[..i].contains(&channels[i])) {
                    return Err(syntax(n, "a channel is listed twice"));
                }
                joints[*j].channels = channels;
            }
            "MOTION" => {
                if joints.is_empty() || !open.is_empty() || pending.is_some() {
                    return Err(syntax(n, "MOTION before the hierarchy is complete"));
                }
                break;
            }
            _ => return Err(syntax(n, format!("unexpected {word:?}"))),
        }
    }

    let (n, line) = next("Frames:")?;
    let num_frames: usize = line
        .strip_prefix("Frames:")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| syntax(n, "expected `Frames: N`"))?;
    if num_frames > MAX_FRAMES {
        return Err(syntax(n, format!("more than {MAX_FRAMES} frames")));
    }
    let (n, line) = next("Frame Time:")?;
    let frame_time: f64 = line
        .strip_prefix("Frame Time:")
        .and_then(|v| v.trim().parse().ok())
        .filter(|t: &f64| t.is_finite() && *t >= 1.0 / MAX_FPS)
        .ok_or_else(|| syntax(n, "expected `Frame Time: SECONDS` of at least 0.001"))?;

    let per_frame: usize = joints.iter().map(|j| j.channels.len()).sum();
    if num_frames.saturating_mul(per_frame) > MAX_VALUES {
        return Err(syntax(
            n,
            format!(
                "{num_frames} frames of {per_frame} channels are more than {MAX_VALUES} numbers"
            ),
        ));
    }
    let mut values = Vec::new();
    for t in 0..num_frames {
        let (n, line) = next(&format!("frame {t}"))?;
        let before = values.len();
        for word in line.split_whitespace() {
            let v: f64 = word
                .parse()
                .ok()
                .filter(|v: &f64| v.abs() <= MAX_VALUE)
                .ok_or_else(|| {
                    syntax(n, format!("{word:?} is not a number up to {MAX_VALUE:e}"))
                })?;
            values.push(v);
            if values.len() - before > per_frame {
                break;
            }
        }
        if values.len() - before != per_frame {
            return Err(syntax(
                n,
                format!(
                    "frame {t} has {} values, not {per_frame}",
                    values.len() - before
                ),
            ));
        }
    }
    if let Ok((n, _)) = next("the end") {
        return Err(syntax(
            n,
            format!("more frames than `Frames: {num_frames}`"),
        ));
    }
    Ok(Bvh {
        joints,
        frame_time,
        num_frames,
        values,
    })
}

fn next_line<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    what: &str,
) -> Result<(usize, &'a str), BvhError> {
    lines
        .next()
        .ok_or_else(|| BvhError::Invalid(format!("the file ends before {what}")))
}

fn numbers<const N: usize>(text: &str) -> Option<[f64; N]> {
    let mut out = [0.0; N];
    let mut words = text.split_whitespace();
    for slot in &mut out {
        *slot = words
            .next()?
            .parse()
            .ok()
            .filter(|v: &f64| v.abs() <= MAX_VALUE)?;
    }
    words.next().is_none().then_some(out)
}

/// Euler order of every joint written: `Rz · Rx · Ry`.
const ROTATION_CHANNELS: &str = "Zrotation Xrotation Yrotation";

/// Writes one sample of a take as BVH text, in metres.
pub fn write(take: &Take, sample: usize) -> Result<String, BvhError> {
    let s = take
        .samples
        .get(sample)
        .ok_or_else(|| BvhError::Invalid(format!("the take has no sample {sample}")))?;
    let joints = &take.skeleton.joints;
    let jn = joints.len();
    if jn == 0
        || s.rotations.len() != take.num_frames * jn
        || s.root_positions.len() != take.num_frames
    {
        return Err(BvhError::Invalid(
            "the take's arrays do not match its frame count".into(),
        ));
    }
    if !(take.fps.is_finite() && take.fps > 0.0) {
        return Err(BvhError::Invalid(format!(
            "fps {} is not above 0",
            take.fps
        )));
    }
    let roots: Vec<usize> = (0..jn).filter(|j| joints[*j].parent.is_none()).collect();
    let [root] = roots[..] else {
        return Err(BvhError::Invalid(format!(
            "BVH needs exactly one root joint, the take has {}",
            roots.len()
        )));
    };
    let children = |j: usize| (0..jn).filter(move |c| joints[*c].parent == Some(j));
    let moves = |j: usize| j == root || s.joint_translations.contains_key(&j);

    // Hierarchy, depth first from the root; `order` is the channel order of each frame line.
    let mut out = String::from("HIERARCHY\n");
    let mut order = Vec::with_capacity(jn);
    // (joint, depth, opening?) — closing entries close a joint's braces after its children.
    let mut stack = vec![(root, 0usize, true)];
    while let Some((j, depth, opening)) = stack.pop() {
        let pad = "\t".repeat(depth);
        if !opening {
            let _ = writeln!(out, "{pad}}}");
            continue;
        }
        order.push(j);
        let joint = &joints[j];
        let keyword = if j == root { "ROOT" } else { "JOINT" };
        let offset = joint.rest_translation;
        let _ = writeln!(out, "{pad}{keyword} {}\n{pad}{{", joint.name);
        let _ = writeln!(
            out,
            "{pad}\tOFFSET {:.6} {:.6} {:.6}",
            offset[0], offset[1], offset[2]
        );
        if moves(j) {
            let _ = writeln!(
                out,
                "{pad}\tCHANNELS 6 Xposition Yposition Zposition {ROTATION_CHANNELS}"
            );
        } else {
            let _ = writeln!(out, "{pad}\tCHANNELS 3 {ROTATION_CHANNELS}");
        }
        let kids: Vec<usize> = children(j).collect();
        if kids.is_empty() {
            // Readers need a leaf's length; continue the joint's own direction.
            let v = Vec3::from(offset);
            let tip = if v.length() > 1e-4 {
                v * 0.5
            } else {
                Vec3::new(0.0, 0.05, 0.0)
            };
            let _ = writeln!(
                out,
                "{pad}\tEnd Site\n{pad}\t{{\n{pad}\t\tOFFSET {:.6} {:.6} {:.6}\n{pad}\t}}",
                tip.x, tip.y, tip.z
            );
        }
        stack.push((j, depth, false));
        for k in kids.into_iter().rev() {
            stack.push((k, depth + 1, true));
        }
    }
    if order.len() != jn {
        return Err(BvhError::Invalid(
            "the take's skeleton is not one tree".into(),
        ));
    }

    let _ = writeln!(
        out,
        "MOTION\nFrames: {}\nFrame Time: {:.8}",
        take.num_frames,
        1.0 / take.fps as f64
    );
    for t in 0..take.num_frames {
        let mut line = String::new();
        for &j in &order {
            if moves(j) {
                let p = if j == root {
                    Some(s.root_positions[t])
                } else {
                    s.joint_translations
                        .get(&j)
                        .and_then(|track| track.get(t).copied())
                }
                .unwrap_or(joints[j].rest_translation);
                let _ = write!(line, "{:.6} {:.6} {:.6} ", p[0], p[1], p[2]);
            }
            let q = take.rotation(s, t, j).as_dquat().normalize();
            if !q.is_finite() {
                return Err(BvhError::Invalid(format!(
                    "frame {t}: joint {:?} has no valid rotation",
                    joints[j].name
                )));
            }
            let (z, x, y) = q.to_euler(EulerRot::ZXY);
            let _ = write!(
                line,
                "{:.6} {:.6} {:.6} ",
                z.to_degrees(),
                x.to_degrees(),
                y.to_degrees()
            );
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::procedural;

    /// A built-in model's take: a real skeleton (Mixamo-style names, ~65 joints) and motion.
    fn walk() -> Take {
        procedural::generate(&procedural::Plan::text(
            "a person walks forward and waves",
            2.0,
            7,
        ))
        .expect("procedural walk")
    }

    #[test]
    fn a_take_survives_write_and_read() {
        let take = walk();
        let text = write(&take, 0).expect("write");
        let back = read(&text).expect("read").to_take(1.0);
        assert_eq!(back.num_frames, take.num_frames);
        assert!((back.fps - take.fps).abs() < 1e-3);
        assert_eq!(
            back.skeleton.names().collect::<Vec<_>>().len(),
            take.skeleton.joints.len()
        );
        // Joint order may differ (depth first); compare world positions by name.
        for t in [0, take.num_frames / 2, take.num_frames - 1] {
            let want = take.world_positions(&take.samples[0], t);
            let got = back.world_positions(&back.samples[0], t);
            for (j, joint) in take.skeleton.joints.iter().enumerate() {
                let k = back.skeleton.index_of(&joint.name).expect("joint kept");
                assert!(
                    (want[j] - got[k]).length() < 1e-4,
                    "frame {t} {}: {:?} vs {:?}",
                    joint.name,
                    want[j],
                    got[k]
                );
            }
        }
    }

    #[test]
    fn rotation_channels_apply_in_the_order_listed() {
        let text = "HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n \
                    JOINT B\n {\n  OFFSET 0 1 0\n  CHANNELS 0\n  End Site\n  {\n   OFFSET 0 1 0\n  }\n }\n}\n\
                    MOTION\nFrames: 1\nFrame Time: 0.04\n90 0 90\n";
        let take = read(text).expect("read").to_take(1.0);
        let pos = take.world_positions(&take.samples[0], 0);
        // Rx(90)·Rz(90): +Y turns to -X under Rz, then stays -X under Rx.
        assert!(
            (pos[1] - Vec3::new(-1.0, 0.0, 0.0)).length() < 1e-5,
            "{:?}",
            pos[1]
        );
        assert!((take.fps - 25.0).abs() < 1e-4);
    }

    #[test]
    fn motion_too_large_to_hold_is_refused_before_reading_it() {
        let mut text = String::from(
            "HIERARCHY\nROOT J0\n{\nCHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation\n",
        );
        for j in 1..MAX_JOINTS {
            text += &format!(
                "JOINT J{j}\n{{\nCHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation\n"
            );
        }
        text += &"}\n".repeat(MAX_JOINTS);
        text += &format!("MOTION\nFrames: {MAX_FRAMES}\nFrame Time: 0.033\n");
        let err = read(&text).expect_err("too large").to_string();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        for (text, wanted) in [
            ("", "ends before HIERARCHY"),
            ("HIERARCHY\nJOINT A\n", "JOINT before ROOT"),
            ("HIERARCHY\nROOT A\n{\nOFFSET 0 0\n", "line 4"),
            ("HIERARCHY\nROOT A\n{\nCHANNELS 7\n", "count from 0 to 6"),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Wrotation\n",
                "unknown channel",
            ),
            ("HIERARCHY\nROOT A\n{\n}\n}\n", "unexpected `}`"),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Xposition\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1\n",
                "ends before frame 1",
            ),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Xposition\n}\nMOTION\nFrames: 1\nFrame Time: 0\n1\n",
                "Frame Time",
            ),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Xposition\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\nNaN\n",
                "not a number",
            ),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Xposition\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n1 2\n",
                "not 1",
            ),
            (
                "HIERARCHY\nROOT A\n{\nCHANNELS 1 Xposition\n}\nMOTION\nFrames: 999999999\n",
                "frames",
            ),
        ] {
            let err = read(text).expect_err(text).to_string();
            assert!(err.contains(wanted), "{text:?}: {err}");
        }
    }
}
