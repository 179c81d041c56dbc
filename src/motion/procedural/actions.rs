//! The action table: what each [`Action`] of a clause does to the body, as [`Controls`] over time.
//!
//! Controls are plain numbers (speeds, posture weights, gesture weights and clocks) that the synthesis
//! (synth.rs) turns into a pose; blending two behaviours is blending their controls with a smoothstep
//! weight, which keeps every joint's velocity continuous across a clause boundary.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use glam::Vec3;

use super::prompt::{Action, Hand, Intent};
use super::style::{Dice, Mood, Style};

/// Time ramps and blends use this (C1-continuous).
pub(super) fn smooth(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

pub(super) fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// Rises over `rise` seconds from the start, falls over `rise` seconds to `dur`: a one-shot envelope.
pub(super) fn bump(t: f32, dur: f32, rise: f32) -> f32 {
    let rise = rise.min(dur * 0.5).max(1e-3);
    smooth(t / rise) * smooth((dur - t) / rise)
}

/// Quantise a frequency so a looping clip holds a whole number of cycles.
pub(super) fn loop_freq(freq: f32, loop_seconds: Option<f32>) -> f32 {
    match loop_seconds {
        Some(d) if d > 0.0 && freq > 0.0 => (freq * d).round().max(1.0) / d,
        _ => freq,
    }
}

/// An upper-body gesture done in place ("waves", "nods"), as a clause's action or riding on another one
/// (`Action::Gesture`, `Intent::gesture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gesture {
    LookAround,
    Wave,
    Point,
    Clap,
    Bow,
    Nod,
    ShakeHead,
    Shrug,
    Stretch,
    Talk,
    Punch,
    Throw,
}

/// An upper-body layer: a gesture, or the arms of a whole-body action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layer {
    Gesture(Gesture),
    PickUp,
    Push,
    Fall,
    Dance,
    Kick,
}

pub(super) const LAYERS: usize = 17;

impl Layer {
    /// Every layer, in the order the synthesis adds them up.
    pub const ALL: [Layer; LAYERS] = [
        Layer::Gesture(Gesture::LookAround),
        Layer::Gesture(Gesture::Wave),
        Layer::Gesture(Gesture::Point),
        Layer::Gesture(Gesture::Clap),
        Layer::Gesture(Gesture::Bow),
        Layer::Gesture(Gesture::Nod),
        Layer::Gesture(Gesture::ShakeHead),
        Layer::Gesture(Gesture::Shrug),
        Layer::Gesture(Gesture::Stretch),
        Layer::Gesture(Gesture::Talk),
        Layer::Gesture(Gesture::Punch),
        Layer::Gesture(Gesture::Throw),
        Layer::PickUp,
        Layer::Push,
        Layer::Fall,
        Layer::Dance,
        Layer::Kick,
    ];

    /// The layer's slot in `Controls::gestures`.
    fn index(self) -> usize {
        match self {
            Layer::Gesture(g) => g as usize,
            Layer::PickUp => 12,
            Layer::Push => 13,
            Layer::Fall => 14,
            Layer::Dance => 15,
            Layer::Kick => 16,
        }
    }

    fn of(action: Action) -> Option<Layer> {
        Some(match action {
            Action::Gesture(g) => Layer::Gesture(g),
            Action::PickUp => Layer::PickUp,
            Action::Push => Layer::Push,
            Action::Fall => Layer::Fall,
            Action::Dance => Layer::Dance,
            Action::Kick => Layer::Kick,
            _ => return None,
        })
    }

    /// One-shot gestures play once over their clause and return to neutral at its end; the others
    /// repeat or hold until the next clause blends them away.
    fn one_shot(self) -> bool {
        matches!(
            self,
            Layer::Gesture(Gesture::Bow | Gesture::Shrug | Gesture::Stretch | Gesture::Throw)
                | Layer::PickUp
                | Layer::Kick
        )
    }
}

/// One gesture's state at a frame: weight, seconds into it, its clause's length, and per-arm weights.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GestureState {
    pub weight: f32,
    pub t: f32,
    pub dur: f32,
    /// `[left, right]` arm weights.
    pub arms: [f32; 2],
    pub size: f32,
}

/// Continuous controls the body follows at one frame; blending two of them blends two behaviours.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Controls {
    /// Signed speed along the heading, m/s (already scaled to the rig).
    pub speed: f32,
    /// Sideways speed, m/s, + = left.
    pub side_speed: f32,
    /// rad/s, + = left.
    pub turn_rate: f32,
    /// Rise of the floor under the character, m/s (climbing a step).
    pub climb_rate: f32,
    pub run: f32,
    pub crouch: f32,
    pub sit: f32,
    pub kneel: f32,
    /// 0 standing, 0.5 sitting on the floor, 1 lying on the back.
    pub lie: f32,
    /// The right foot kicking forward, 0..1.
    pub kick: f32,
    /// Weight of the jump behaviour and its current pelvis offset, arm swing and flight flag.
    pub jump: f32,
    pub jump_dy: f32,
    pub jump_arm: f32,
    pub flight: f32,
    /// Stepping on the spot (dancing), with the rhythm's bounce.
    pub step_in_place: f32,
    pub dance: f32,
    pub idle: f32,
    /// Extra bend at the hips for a bow or a pick-up, radians, with the pelvis moving back to balance it.
    pub bend: f32,
    // The style (docs/builtin-model.md, "Styles").
    pub lean: f32,
    pub head: f32,
    pub bounce: f32,
    pub sway: f32,
    pub arms_forward: f32,
    pub elbow: f32,
    pub tense: f32,
    pub size: f32,
    pub gestures: [GestureState; LAYERS],
}

impl Controls {
    pub fn blend(a: &Controls, b: &Controls, w: f32) -> Controls {
        let l = |x: f32, y: f32| lerp(x, y, w);
        let mut gestures = [GestureState::default(); LAYERS];
        for (g, (x, y)) in gestures.iter_mut().zip(a.gestures.iter().zip(&b.gestures)) {
            // A gesture's clock only matters where it has weight: take it from the side that has it.
            let (t, dur) = match (x.weight > 0.0, y.weight > 0.0) {
                (true, false) => (x.t, x.dur),
                (false, true) => (y.t, y.dur),
                _ => (l(x.t, y.t), l(x.dur, y.dur)),
            };
            *g = GestureState {
                weight: l(x.weight, y.weight),
                t,
                dur,
                arms: [l(x.arms[0], y.arms[0]), l(x.arms[1], y.arms[1])],
                size: if y.weight > 0.0 && x.weight <= 0.0 {
                    y.size
                } else if x.weight > 0.0 && y.weight <= 0.0 {
                    x.size
                } else {
                    l(x.size, y.size)
                },
            };
        }
        Controls {
            speed: l(a.speed, b.speed),
            side_speed: l(a.side_speed, b.side_speed),
            turn_rate: l(a.turn_rate, b.turn_rate),
            climb_rate: l(a.climb_rate, b.climb_rate),
            run: l(a.run, b.run),
            crouch: l(a.crouch, b.crouch),
            sit: l(a.sit, b.sit),
            kneel: l(a.kneel, b.kneel),
            lie: l(a.lie, b.lie),
            kick: l(a.kick, b.kick),
            jump: l(a.jump, b.jump),
            jump_dy: l(a.jump_dy, b.jump_dy),
            jump_arm: l(a.jump_arm, b.jump_arm),
            flight: l(a.flight, b.flight),
            step_in_place: l(a.step_in_place, b.step_in_place),
            dance: l(a.dance, b.dance),
            idle: l(a.idle, b.idle),
            bend: l(a.bend, b.bend),
            lean: l(a.lean, b.lean),
            head: l(a.head, b.head),
            bounce: l(a.bounce, b.bounce),
            sway: l(a.sway, b.sway),
            arms_forward: l(a.arms_forward, b.arms_forward),
            elbow: l(a.elbow, b.elbow),
            tense: l(a.tense, b.tense),
            size: l(a.size, b.size),
            gestures,
        }
    }

    pub fn gesture(&self, g: Layer) -> &GestureState {
        &self.gestures[g.index()]
    }
}

/// Height of the step "climbs a step" goes up, metres on the standard skeleton.
pub(super) const STEP_HEIGHT: f32 = 0.18;

/// One clause as performed by one sample.
pub(super) struct Behaviour {
    pub intent: Intent,
    pub mood: Mood,
    pub start: i64,
    /// Length of the clause, seconds.
    pub seconds: f32,
    /// A one-frame `pose` segment: shown settled, at a moment well into the motion.
    pub pose: bool,
    speed: f32,
    side_speed: f32,
    /// With a distance: when the travel has stopped (seconds), and the ramp at either end.
    travel_end: Option<f32>,
    ramp: f32,
    turn: f32,
    turn_time: f32,
    jump_period: f32,
    jump_height: f32,
    jump_dist: f32,
    jumps: f32,
    /// This performer's tempo of repeated gestures (waving, clapping), about 1.
    tempo: f32,
    scale: f32,
}

impl Behaviour {
    pub fn new(
        intent: Intent,
        start: i64,
        frames: i64,
        fps: f32,
        style: &Style,
        dice: &mut Dice,
        scale: f32,
    ) -> Behaviour {
        let seconds = frames as f32 / fps;
        // Sneaking is walking in the sneaky style.
        let mood = if intent.action == Action::Sneak && !intent.mood.words.contains(&"sneaky") {
            intent.mood.combine(&Mood {
                words: Vec::new(),
                ..Mood::named("sneaky")
            })
        } else {
            intent.mood.clone()
        };
        let pace = mood.speed;
        let walk = style.walk_speed * dice.range(0.95, 1.05);
        let run = style.run_speed * dice.range(0.95, 1.05);
        let mut speed = match intent.action {
            Action::Walk | Action::Sneak | Action::Strafe => walk,
            Action::WalkBackwards => -0.6 * walk,
            Action::Jog => 0.68 * run,
            Action::Run => run,
            Action::Sprint => 1.65 * run,
            Action::Push => 0.45 * walk,
            Action::ClimbStep => 0.4 * walk,
            _ => 0.0,
        } * pace
            * scale;
        let mut side_speed = 0.0;
        if intent.action == Action::Strafe {
            side_speed = 0.8 * speed * intent.side;
            speed = 0.0;
        }
        let ramp = if intent.action.travels() {
            0.5 + 0.1 * speed.abs() / scale
        } else {
            0.0
        };
        // A distance: travel at the pace until it is covered, or faster when the clause is too short.
        let travel_end = intent
            .distance
            .filter(|_| intent.action.travels())
            .map(|d| {
                let d = d * scale;
                let v = speed.abs().max(side_speed.abs()).max(0.1 * scale);
                let end = d / v + ramp;
                if end > seconds && seconds > ramp + 0.1 {
                    let faster = d / (seconds - ramp);
                    if speed != 0.0 {
                        speed = faster * speed.signum();
                    } else {
                        side_speed = faster * side_speed.signum();
                    }
                    seconds
                } else {
                    end
                }
            });
        let turn = intent.turn.unwrap_or(0.0) * if intent.circle { 1.0 } else { style.turn_scale };
        // A walking turn bends the whole walk; a standing turn takes about a second per quarter turn.
        let moving = speed.abs() + side_speed.abs() > 0.01;
        let turn_time = if moving {
            travel_end.unwrap_or(seconds).max(0.5)
        } else {
            (turn.abs() / FRAC_PI_2 * 1.1).clamp(0.6, seconds.max(0.6))
        };
        let hop = intent.action == Action::Hop;
        let jump_period = style.jump_period * if hop { 0.55 } else { 1.0 } / pace.sqrt();
        let jumps = (seconds / jump_period + 0.25).floor().max(1.0);
        Behaviour {
            jump_dist: if intent.forward {
                (if hop { 0.35 } else { 0.7 }) * scale * mood.size
            } else {
                0.0
            },
            jump_height: style.jump_height * scale * mood.size.sqrt() * if hop { 0.4 } else { 1.0 },
            jump_period,
            jumps,
            intent,
            mood,
            start,
            seconds,
            pose: false,
            speed,
            side_speed,
            travel_end,
            ramp,
            turn,
            turn_time,
            tempo: style.wave_freq / 2.0,
            scale,
        }
    }

    /// Controls at `t` seconds into the clause (negative or past its end when blending or padding).
    /// `steady` (a loop, a pose) skips the lead-in ramps so that the first and last frames can match.
    pub fn controls(&self, t: f32, steady: bool, loop_seconds: Option<f32>) -> Controls {
        let ramp = |seconds: f32| if steady { 1.0 } else { smooth(t / seconds) };
        let m = &self.mood;
        let dur = self.seconds.max(1e-3);
        let mut c = Controls {
            speed: self.speed,
            side_speed: self.side_speed,
            lean: m.lean,
            head: m.head,
            bounce: m.bounce,
            sway: m.sway,
            arms_forward: m.arms_forward,
            elbow: m.elbow,
            tense: m.tense,
            size: m.size,
            crouch: m.crouch,
            ..Controls::default()
        };
        if let (Some(end), false) = (self.travel_end, steady) {
            let r = self.ramp.max(1e-3);
            let profile = smooth(t / r) * smooth((end - t) / r);
            c.speed *= profile;
            c.side_speed *= profile;
        }
        if self.intent.circle {
            c.turn_rate = self.turn / self.travel_end.unwrap_or(dur).max(0.5);
        } else if self.turn != 0.0 && !steady {
            // Derivative of turn * smooth(t / turn_time).
            let x = t / self.turn_time;
            if (0.0..=1.0).contains(&x) {
                c.turn_rate = self.turn * 6.0 * x * (1.0 - x) / self.turn_time;
            }
        } else if self.turn != 0.0 {
            c.turn_rate = self.turn / loop_seconds.unwrap_or(self.turn_time).max(0.1);
        }
        if m.weave > 0.0 && (self.speed.abs() > 0.01 || self.intent.action == Action::Idle) {
            // A drunk's heading wanders: the derivative of weave * sin(w t).
            let w = TAU * loop_freq(0.3, loop_seconds);
            c.turn_rate += m.weave * w * (w * t).cos();
        }
        let hold = |c: &mut Controls, posture: Option<Action>| match posture {
            Some(Action::SitDown) => c.sit = 1.0,
            Some(Action::Crouch) => c.crouch = 1.0,
            Some(Action::Kneel) => c.kneel = 1.0,
            Some(Action::LieDown) => c.lie = 1.0,
            _ => {}
        };
        match self.intent.action {
            a if a.is_gesture() || matches!(a, Action::Idle | Action::Stop | Action::Turn) => {
                c.idle = 1.0;
                hold(&mut c, self.intent.hold);
                if self.intent.hold.is_some() {
                    c.idle = 0.3;
                }
            }
            Action::Walk | Action::WalkBackwards | Action::Sneak | Action::Strafe => {}
            Action::Jog | Action::Run | Action::Sprint => c.run = 1.0,
            Action::Crouch => c.crouch = ramp(0.5).max(m.crouch),
            Action::SitDown => c.sit = ramp(1.6_f32.min(dur)),
            Action::StandUp | Action::GetUp => {
                let up = |seconds: f32| 1.0 - ramp(seconds.min(dur));
                match self.intent.hold {
                    Some(Action::Kneel) => c.kneel = up(1.1),
                    Some(Action::Crouch) => c.crouch = up(0.6).max(m.crouch),
                    Some(Action::LieDown) => c.lie = up(2.4),
                    _ => c.sit = up(1.4),
                }
            }
            Action::Kneel => c.kneel = ramp(1.1_f32.min(dur)),
            Action::LieDown => c.lie = ramp(2.4_f32.min(dur)),
            Action::Fall => c.lie = ramp(0.9_f32.min(dur)),
            Action::Kick => {
                // Chamber, snap out, and back to the floor over 0.9 s.
                c.kick = if steady {
                    0.8
                } else {
                    bump(t - 0.1, 0.9, 0.35)
                };
                c.lean -= 0.15 * c.kick;
            }
            Action::PickUp => {
                let b = if steady {
                    1.0
                } else {
                    bump(t, dur.min(2.2), 0.8)
                };
                c.crouch = c.crouch.max(1.3 * b);
                c.bend = 0.9 * b;
            }
            Action::Push => c.lean += 0.25,
            Action::ClimbStep => {
                // The floor rises over the middle of the clause: the derivative of STEP * smooth(x).
                let (a, span) = (0.25 * dur, 0.5 * dur);
                let x = (t - a) / span;
                if (0.0..=1.0).contains(&x) && !steady {
                    c.climb_rate = STEP_HEIGHT * self.scale * 6.0 * x * (1.0 - x) / span;
                }
            }
            Action::Dance => {
                c.step_in_place = 1.0;
                c.dance = ramp(0.4);
            }
            _ => {
                // Jump and hop.
                c.jump = 1.0;
                let period = match loop_seconds {
                    Some(_) => 1.0 / loop_freq(1.0 / self.jump_period, loop_seconds),
                    None => self.jump_period,
                };
                let psi = t / period;
                if steady || (t >= 0.0 && psi < self.jumps) {
                    let (dy, arm, flight) = jump_curve(psi.rem_euclid(1.0), self.jump_height);
                    c.jump_dy = dy;
                    c.jump_arm = arm;
                    c.flight = flight;
                    // Forward travel from the push-off to the landing, smooth at both ends, covering
                    // jump_dist: the integral of A sin²(pi x) over 0.4 of a period is 0.2 A period.
                    let x = (psi.rem_euclid(1.0) - 0.3) / 0.4;
                    if (0.0..=1.0).contains(&x) {
                        c.speed = self.jump_dist / (0.2 * period) * (PI * x).sin().powi(2);
                    }
                }
            }
        }
        // Gestures: the clause's own, and the arms of whole-body actions.
        let mut layer = |action: Action| {
            let Some(g) = Layer::of(action) else { return };
            let both = [1.0, 1.0];
            let arms = match (g, self.intent.hand) {
                (Layer::Gesture(Gesture::Wave) | Layer::Gesture(Gesture::Point), Hand::Left) => {
                    [1.0, 0.0]
                }
                (Layer::Gesture(Gesture::Wave) | Layer::Gesture(Gesture::Point), Hand::Right) => {
                    [0.0, 1.0]
                }
                _ => both,
            };
            let weight = if g.one_shot() || steady {
                1.0
            } else {
                ramp(0.35)
            };
            c.gestures[g.index()] = GestureState {
                weight,
                t: if steady {
                    0.4 * dur
                } else if g.one_shot() {
                    t * m.speed
                } else {
                    t * m.speed * self.tempo
                },
                dur: dur * m.speed,
                arms,
                size: m.size,
            };
        };
        layer(self.intent.action);
        if let Some(g) = self.intent.gesture {
            layer(Action::Gesture(g));
        }
        c
    }

    /// Frames over which this behaviour and the previous one are blended: the request's
    /// `transition_frames`, but never a pop between postures that are far apart (sitting, crouching, jumping).
    pub fn transition(&self, prev: &Behaviour, transition_frames: usize, fps: f32) -> i64 {
        // Seconds a body needs to change posture this much: getting down or up takes longest.
        let need = |a: Action| match a {
            Action::SitDown | Action::StandUp | Action::LieDown | Action::GetUp | Action::Kneel => {
                0.8f32
            }
            Action::Crouch | Action::Jump | Action::Hop | Action::Fall | Action::PickUp => 0.35,
            _ => 0.25,
        };
        let seconds = need(self.intent.action).max(need(prev.intent.action));
        let floor = (seconds * fps).round() as i64;
        (transition_frames as i64).max(floor)
    }
}

/// Pelvis offset (m), arm swing (rad, + = forward) and flight flag at jump phase `psi`.
fn jump_curve(psi: f32, height: f32) -> (f32, f32, f32) {
    if psi < 0.25 {
        let u = smooth(psi / 0.25);
        (-0.18 * u, -0.8 * u, 0.0)
    } else if psi < 0.35 {
        let u = smooth((psi - 0.25) / 0.1);
        (-0.18 * (1.0 - u), lerp(-0.8, 1.5, u), 0.0)
    } else if psi < 0.65 {
        let u = (psi - 0.35) / 0.3;
        (height * 4.0 * u * (1.0 - u), lerp(1.5, 0.9, u), 1.0)
    } else if psi < 0.78 {
        let u = smooth((psi - 0.65) / 0.13);
        (-0.15 * u, lerp(0.9, 0.4, u), 0.0)
    } else {
        let u = smooth((psi - 0.78) / 0.22);
        (-0.15 * (1.0 - u), 0.4 * (1.0 - u), 0.0)
    }
}

/// Where a gesture puts one arm, as directions of the upper arm and the forearm in the chest's frame
/// (+X left, +Y up, +Z forward), given for the right arm; `side` 0 asks for the left arm, mirrored by the
/// caller. `None`: the gesture leaves that arm alone.
pub(super) fn gesture_arm(g: Layer, s: &GestureState, side: usize) -> Option<(Vec3, Vec3)> {
    let (t, dur, size) = (s.t, s.dur, s.size);
    let osc = |hz: f32| (TAU * hz * t).sin();
    let v = Vec3::new;
    let mix = |a: (Vec3, Vec3), b: (Vec3, Vec3), w: f32| {
        let w = smooth(w);
        (a.0.lerp(b.0, w), a.1.lerp(b.1, w))
    };
    let hang = (v(-0.3, -1.0, 0.05), v(-0.2, -1.0, 0.3));
    Some(match g {
        Layer::Gesture(Gesture::LookAround)
        | Layer::Gesture(Gesture::Bow)
        | Layer::Gesture(Gesture::Nod)
        | Layer::Gesture(Gesture::ShakeHead) => return None,
        Layer::Gesture(Gesture::Wave) => (
            v(-0.85, 0.35 + 0.25 * (size - 1.0), 0.25),
            v(-0.5 * size.min(1.5) * osc(2.0), 1.0, 0.1),
        ),
        Layer::Gesture(Gesture::Point) => (v(-0.3, 0.1, 1.0), v(-0.25, 0.12, 1.0)),
        Layer::Gesture(Gesture::Clap) => {
            let open = 0.5 + 0.5 * (TAU * 2.2 * t).cos();
            (
                v(-0.35, -0.5, 0.8),
                v(0.9, 0.1, 0.45).lerp(v(0.45, 0.1, 0.9), open * size.min(1.5)),
            )
        }
        Layer::Gesture(Gesture::Shrug) => mix(
            hang,
            (v(-0.35, -1.0, 0.1), v(-0.75, 0.05, 0.65)),
            bump(t, dur.min(1.4), 0.4),
        ),
        Layer::Gesture(Gesture::Stretch) => mix(
            hang,
            (v(-0.25, 1.0, 0.05), v(-0.1, 1.0, 0.0)),
            bump(t, dur, 0.8),
        ),
        Layer::Gesture(Gesture::Talk) => {
            let phase = if side == 0 { 1.7 } else { 0.0 };
            let a = (TAU * 0.9 * t + phase).sin() * size;
            let b = (TAU * 1.3 * t + 2.0 * phase).sin() * size;
            (v(-0.25, -1.0, 0.25), v(-0.2 + 0.3 * a, 0.35 + 0.3 * b, 1.0))
        }
        Layer::Gesture(Gesture::Punch) => {
            let guard = (v(-0.3, -0.75, 0.55), v(0.45, 0.75, 0.45));
            let strike = (v(-0.12, 0.05, 1.0), v(-0.08, 0.05, 1.0));
            // One punch every 0.8 s, right hand first; a punch is out in 0.15 s and back by 0.5 s.
            let period = 0.8;
            let k = (t / period).floor();
            let u = t - k * period;
            let hand = if (k as i64).rem_euclid(2) == 0 { 1 } else { 0 };
            let out = if u < 0.15 {
                smooth(u / 0.15)
            } else {
                1.0 - smooth((u - 0.2) / 0.3)
            };
            if side == hand && t >= 0.0 {
                mix(guard, strike, out * size.min(1.0))
            } else {
                guard
            }
        }
        Layer::Gesture(Gesture::Throw) => {
            let u = (t / dur.clamp(0.6, 1.4)).clamp(0.0, 1.0);
            if side == 0 {
                let balance = (v(-0.4, -0.4, 0.8), v(-0.2, -0.3, 1.0));
                mix(hang, balance, bump(t, dur, 0.3))
            } else {
                let windup = (v(-0.8, 0.45, -0.4), v(-0.2, 1.0, -0.2));
                let release = (v(-0.3, 0.3, 1.0), v(-0.15, 0.0, 1.0));
                let follow = (v(0.1, -0.7, 0.7), v(0.3, -0.6, 0.7));
                let pose = if u < 0.45 {
                    mix(hang, windup, u / 0.45)
                } else if u < 0.6 {
                    mix(windup, release, (u - 0.45) / 0.15)
                } else {
                    mix(release, follow, (u - 0.6) / 0.25)
                };
                mix(hang, pose, bump(t, dur, 0.25))
            }
        }
        Layer::PickUp => {
            let reach = (v(-0.15, -0.85, 0.5), v(0.1, -0.75, 0.65));
            let hold = (v(-0.2, -0.85, 0.35), v(0.35, 0.4, 0.85));
            let u = (t / dur.max(0.1)).clamp(0.0, 1.0);
            let pose = mix(reach, hold, (u - 0.45) / 0.3);
            mix(hang, pose, bump(t, dur, 0.5))
        }
        Layer::Push => (v(-0.2, -0.15, 1.0), v(0.1, 0.15, 1.0)),
        Layer::Fall => (v(-0.8, 0.5, 0.2), v(-0.6, 0.8, 0.0)),
        Layer::Dance => {
            let phase = if side == 0 { PI } else { 0.0 };
            let up = (TAU * 1.0 * t + phase).sin();
            (v(-0.75, 0.2 + 0.5 * up * size, 0.3), v(-0.2, 1.0, 0.3))
        }
        Layer::Kick => mix(
            hang,
            (v(-0.9, -0.2, 0.1), v(-0.7, 0.1, 0.5)),
            bump(t, dur.min(1.1), 0.3),
        ),
    })
}

/// Head yaw and pitch (radians) and chest yaw a gesture adds.
pub(super) fn gesture_head(g: Layer, s: &GestureState) -> (f32, f32, f32) {
    let (t, dur, size) = (s.t, s.dur, s.size);
    match g {
        Layer::Gesture(Gesture::LookAround) => {
            let y = (TAU * t / 3.2).sin();
            (
                0.9 * size.min(1.3) * y,
                0.05 * (TAU * t / 1.6).sin(),
                0.25 * y,
            )
        }
        Layer::Gesture(Gesture::Nod) => (0.0, 0.22 * size * (TAU * 1.6 * t).sin().max(-0.3), 0.0),
        Layer::Gesture(Gesture::ShakeHead) => {
            (0.45 * size.min(1.3) * (TAU * 1.5 * t).sin(), 0.05, 0.0)
        }
        Layer::Gesture(Gesture::Shrug) => (0.0, -0.05, 0.0),
        Layer::Gesture(Gesture::Talk) => (
            0.1 * (TAU * 0.4 * t).sin(),
            0.05 * (TAU * 1.1 * t).sin(),
            0.0,
        ),
        Layer::Gesture(Gesture::Punch) => {
            let k = (t / 0.8).floor() as i64;
            (
                0.0,
                0.1,
                if k.rem_euclid(2) == 0 { 0.25 } else { -0.25 } * size.min(1.0),
            )
        }
        Layer::Gesture(Gesture::Throw) => {
            let u = (t / dur.clamp(0.6, 1.4)).clamp(0.0, 1.0);
            let twist = if u < 0.45 {
                -0.5 * smooth(u / 0.45)
            } else {
                lerp(-0.5, 0.4, smooth((u - 0.45) / 0.3))
            };
            (0.0, 0.0, twist * bump(t, dur, 0.25))
        }
        Layer::Dance => (
            0.15 * (TAU * 0.5 * t).sin(),
            0.08 * (TAU * 2.0 * t).sin(),
            0.2 * (TAU * 1.0 * t).sin(),
        ),
        _ => (0.0, 0.0, 0.0),
    }
}

/// Spine bend forward (radians) a gesture adds: a bow, leaning back into a stretch.
pub(super) fn gesture_bend(g: Layer, s: &GestureState) -> f32 {
    match g {
        Layer::Gesture(Gesture::Bow) => 1.1 * s.size.min(1.3) * bump(s.t, s.dur.min(2.4), 0.7),
        Layer::Gesture(Gesture::Stretch) => -0.2 * bump(s.t, s.dur, 0.8),
        Layer::Push => 0.1,
        _ => 0.0,
    }
}
