//! Segments -> clauses (prompt.rs) -> behaviours and their per-frame controls, blended at clause
//! boundaries (actions.rs).

use super::Frames;
use crate::motion::procedural::Plan;
use crate::motion::procedural::actions::{Behaviour, Controls, smooth};
use crate::motion::procedural::prompt::{self, Intent};
use crate::motion::procedural::style::{Dice, Style, mix};

/// The behaviours of the plan's segments, one per clause of each segment's prompt, in timeline order.
pub(super) fn behaviours(
    plan: &Plan,
    timeline: Frames,
    style: &Style,
    seed: u64,
    dice: &mut Dice,
    scale: f32,
) -> Vec<Behaviour> {
    let Frames { fps, total, .. } = timeline;
    let mut behaviours: Vec<Behaviour> = Vec::new();
    let mut start = 0i64;
    for (k, seg) in plan.segments.iter().enumerate() {
        let segment_seed = match seg.seed {
            Some(s) => mix(s, 0x5e9),
            None => mix(seed, 1000 + k as u64),
        };
        let frames = seg.frames.max(1);
        let mut clauses: Vec<(Intent, usize)> = match seg.prompt.as_deref() {
            Some(p) => {
                let reading = prompt::read(p);
                let allotted = prompt::allot(&reading, frames, fps);
                reading.clauses.into_iter().zip(allotted).collect()
            }
            None => vec![(Intent::idle(), frames)],
        };
        if seg.pose {
            // A pose shows where the sentence ends up ("walks, then sits": seated).
            clauses = clauses
                .pop()
                .map(|(i, _)| vec![(i, frames)])
                .unwrap_or_default();
        }
        for (c, (intent, clause_frames)) in clauses.into_iter().enumerate() {
            // The first clause keeps the segment's own stream: a one-clause prompt varies as it always did.
            let mut clause_dice = Dice::new(if c == 0 {
                segment_seed
            } else {
                mix(segment_seed, c as u64)
            });
            let mut behaviour = Behaviour::new(
                intent,
                start,
                clause_frames as i64,
                fps,
                style,
                &mut clause_dice,
                scale,
            );
            behaviour.pose = seg.pose;
            behaviours.push(behaviour);
            start += clause_frames as i64;
        }
    }
    if behaviours.is_empty() {
        behaviours.push(Behaviour::new(
            Intent::idle(),
            0,
            total as i64,
            fps,
            style,
            dice,
            scale,
        ));
    }
    behaviours
}

/// The controls of every padded frame: the behaviour in force, blended with its neighbour near a
/// boundary.
pub(super) fn per_frame(behaviours: &[Behaviour], plan: &Plan, frames: Frames) -> Vec<Controls> {
    let Frames {
        fps,
        pad,
        n,
        looped,
        loop_seconds,
        ..
    } = frames;
    (0..n)
        .map(|i| {
            let f = i as i64 - pad as i64;
            let k = behaviours.iter().rposition(|b| b.start <= f).unwrap_or(0);
            let at = |b: &Behaviour| {
                if b.pose {
                    b.controls(0.8, true, loop_seconds)
                } else {
                    b.controls((f - b.start) as f32 / fps, looped, loop_seconds)
                }
            };
            let here = at(&behaviours[k]);
            // Blend with the previous behaviour inside the window centred on their boundary,
            // and with the next one when the window of the next boundary starts before it.
            if k > 0 {
                let width =
                    behaviours[k].transition(&behaviours[k - 1], plan.transition_frames, fps);
                let into = f - behaviours[k].start;
                if width > 0 && into < width - width / 2 {
                    let w = smooth((into + width / 2) as f32 / width as f32);
                    return Controls::blend(&at(&behaviours[k - 1]), &here, w);
                }
            }
            if k + 1 < behaviours.len() {
                let next = &behaviours[k + 1];
                let width = next.transition(&behaviours[k], plan.transition_frames, fps);
                let until = next.start - f;
                if width > 0 && until <= width / 2 {
                    let w = smooth((width / 2 - until) as f32 / width as f32);
                    return Controls::blend(&here, &at(next), w);
                }
            }
            here
        })
        .collect()
}
