//! Reading a prompt: a sentence into [`Clause`]s (what the body does, one after the other), each with an
//! action, an optional upper-body gesture layered on it, a style and the space words (distance, angle,
//! direction, duration) — docs/builtin-model.md describes the grammar for users.
//!
//! Deliberately simple and predictable: a procedural model cannot understand language, so it says what it
//! read (the take's notes) and which words it did not, instead of pretending.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use super::actions::Gesture;
use super::style::Mood;

/// What the body does in a clause: an action of the whole body, or an in-place gesture, which can also
/// be layered over another action ("walks while waving").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Idle,
    Walk,
    Jog,
    Run,
    Sprint,
    Sneak,
    Strafe,
    WalkBackwards,
    Turn,
    Stop,
    SitDown,
    StandUp,
    Crouch,
    LieDown,
    GetUp,
    Kneel,
    Jump,
    Hop,
    Kick,
    PickUp,
    Push,
    ClimbStep,
    Fall,
    Dance,
    /// An upper-body gesture in place ("waves"); one can also ride on another action ("walks while
    /// waving", `Intent::gesture`). Always one of the in-place gestures: the whole-body actions that move
    /// the arms too (kick, pick up, push, fall, dance) are actions of their own, whose arm layer
    /// `Gesture::of` names.
    Gesture(Gesture),
}

/// Every action, for tests and docs.
#[cfg(test)]
pub(crate) const ALL_ACTIONS: [Action; 36] = [
    Action::Idle,
    Action::Walk,
    Action::Jog,
    Action::Run,
    Action::Sprint,
    Action::Sneak,
    Action::Strafe,
    Action::WalkBackwards,
    Action::Turn,
    Action::Stop,
    Action::SitDown,
    Action::StandUp,
    Action::Crouch,
    Action::LieDown,
    Action::GetUp,
    Action::Kneel,
    Action::Jump,
    Action::Hop,
    Action::Kick,
    Action::PickUp,
    Action::Push,
    Action::ClimbStep,
    Action::Fall,
    Action::Dance,
    Action::Gesture(Gesture::LookAround),
    Action::Gesture(Gesture::Wave),
    Action::Gesture(Gesture::Point),
    Action::Gesture(Gesture::Clap),
    Action::Gesture(Gesture::Bow),
    Action::Gesture(Gesture::Nod),
    Action::Gesture(Gesture::ShakeHead),
    Action::Gesture(Gesture::Shrug),
    Action::Gesture(Gesture::Stretch),
    Action::Gesture(Gesture::Talk),
    Action::Gesture(Gesture::Punch),
    Action::Gesture(Gesture::Throw),
];

impl Action {
    pub fn is_gesture(self) -> bool {
        matches!(self, Action::Gesture(_))
    }

    /// A gesture can ride on it ("walks and waves"); after a one-shot action ("picks up a box and throws
    /// it") the gesture comes next instead.
    fn accepts_gesture(self) -> bool {
        !self.is_gesture()
            && !matches!(
                self,
                Action::SitDown
                    | Action::StandUp
                    | Action::LieDown
                    | Action::GetUp
                    | Action::Jump
                    | Action::Hop
                    | Action::Kick
                    | Action::PickUp
                    | Action::Push
                    | Action::ClimbStep
                    | Action::Fall
            )
    }

    /// Travels along the ground (a distance in the prompt applies to it).
    pub fn travels(self) -> bool {
        matches!(
            self,
            Action::Walk
                | Action::Jog
                | Action::Run
                | Action::Sprint
                | Action::Sneak
                | Action::Strafe
                | Action::WalkBackwards
                | Action::Push
        )
    }

    /// The name the notes use.
    pub fn label(self) -> &'static str {
        match self {
            Action::Idle => "idle",
            Action::Walk => "walk",
            Action::Jog => "jog",
            Action::Run => "run",
            Action::Sprint => "sprint",
            Action::Sneak => "sneak",
            Action::Strafe => "strafe",
            Action::WalkBackwards => "walk backwards",
            Action::Turn => "turn",
            Action::Stop => "stop",
            Action::SitDown => "sit down",
            Action::StandUp => "stand up",
            Action::Crouch => "crouch",
            Action::LieDown => "lie down",
            Action::GetUp => "get up",
            Action::Kneel => "kneel",
            Action::Jump => "jump",
            Action::Hop => "hop",
            Action::Kick => "kick",
            Action::PickUp => "pick up",
            Action::Push => "push",
            Action::ClimbStep => "climb step",
            Action::Fall => "fall",
            Action::Dance => "dance",
            Action::Gesture(Gesture::LookAround) => "look around",
            Action::Gesture(Gesture::Wave) => "wave",
            Action::Gesture(Gesture::Point) => "point",
            Action::Gesture(Gesture::Clap) => "clap",
            Action::Gesture(Gesture::Bow) => "bow",
            Action::Gesture(Gesture::Nod) => "nod",
            Action::Gesture(Gesture::ShakeHead) => "shake head",
            Action::Gesture(Gesture::Shrug) => "shrug",
            Action::Gesture(Gesture::Stretch) => "stretch",
            Action::Gesture(Gesture::Talk) => "talk",
            Action::Gesture(Gesture::Punch) => "punch",
            Action::Gesture(Gesture::Throw) => "throw",
        }
    }

    /// Nominal walking pace of the travelling actions, m/s on the standard skeleton (the performed one
    /// varies with the seed); what a distance without a duration is timed with.
    pub fn nominal_speed(self) -> f32 {
        match self {
            Action::Walk | Action::Strafe => 1.3,
            Action::WalkBackwards => 0.8,
            Action::Jog => 2.2,
            Action::Run => 3.2,
            Action::Sprint => 5.5,
            Action::Sneak | Action::Push => 0.7,
            _ => 0.0,
        }
    }

    /// How long the action naturally takes, seconds, before the style's pace.
    fn natural_seconds(self) -> f32 {
        match self {
            Action::Walk
            | Action::Jog
            | Action::Run
            | Action::Sneak
            | Action::Gesture(Gesture::Talk) => 3.0,
            Action::Sprint | Action::Push | Action::WalkBackwards | Action::LieDown => 2.5,
            Action::GetUp
            | Action::Gesture(Gesture::Stretch)
            | Action::Gesture(Gesture::LookAround) => 2.5,
            Action::Strafe
            | Action::Idle
            | Action::Gesture(Gesture::Wave)
            | Action::Gesture(Gesture::Clap) => 2.0,
            Action::SitDown | Action::Gesture(Gesture::Bow) => 1.8,
            Action::StandUp
            | Action::ClimbStep
            | Action::Gesture(Gesture::Punch)
            | Action::Kneel => 1.6,
            Action::Gesture(Gesture::Throw)
            | Action::Fall
            | Action::Gesture(Gesture::Point)
            | Action::Jump
            | Action::Hop => 1.5,
            Action::Crouch
            | Action::Gesture(Gesture::Nod)
            | Action::Gesture(Gesture::ShakeHead)
            | Action::Gesture(Gesture::Shrug)
            | Action::Kick => 1.2,
            Action::Turn => 1.2,
            Action::PickUp => 2.2,
            Action::Dance => 4.0,
            Action::Stop => 0.8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hand {
    Left,
    Right,
    Both,
}

/// What one clause asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intent {
    pub action: Action,
    /// An in-place action done at the same time with the upper body.
    pub gesture: Option<Gesture>,
    pub mood: Mood,
    /// Signed turn in radians (+ = left, toward +X when facing +Z), if asked.
    pub turn: Option<f32>,
    /// Metres to travel ("3 metres", "5 steps").
    pub distance: Option<f32>,
    /// Seconds asked for ("for 2 seconds").
    pub seconds: Option<f32>,
    /// Strafe or sidestep direction: + = left.
    pub side: f32,
    /// "in a circle": the travel turns a whole circle over the clause.
    pub circle: bool,
    /// Leap forward (a jump that travels).
    pub forward: bool,
    pub hand: Hand,
    /// The posture an idle clause keeps from before ("sits down, then waves" waves seated), or the one a
    /// stand-up or get-up starts from: SitDown, Crouch, Kneel or LieDown.
    pub hold: Option<Action>,
}

impl Intent {
    pub fn idle() -> Intent {
        Intent {
            action: Action::Idle,
            gesture: None,
            mood: Mood::plain(),
            turn: None,
            distance: None,
            seconds: None,
            side: 0.0,
            circle: false,
            forward: false,
            hand: Hand::Right,
            hold: None,
        }
    }

    /// How long this clause takes by itself, seconds.
    pub fn natural_seconds(&self) -> f32 {
        if let Some(s) = self.seconds {
            return s;
        }
        let pace = self.mood.speed.max(0.2);
        let base = match (self.action, self.distance, self.turn) {
            (a, Some(d), _) if a.travels() => d / (a.nominal_speed() * pace) + 0.8,
            (Action::Turn, _, Some(t)) => (t.abs() / FRAC_PI_2 * 1.1).max(0.8),
            (a, _, _) => a.natural_seconds() / if a.travels() { 1.0 } else { pace },
        };
        let gesture = self
            .gesture
            .map_or(0.0, |g| Action::Gesture(g).natural_seconds());
        base.max(gesture).clamp(0.3, 60.0)
    }

    /// The notes' summary: `walk (sad) 3 m`, `turn left 90°`, `run 2.0 s + wave`.
    pub fn describe(&self) -> String {
        // A gesture on its own is just the gesture ("punch", not "idle + punch").
        let (mut s, gesture) = match self.gesture.map(Action::Gesture) {
            Some(g) if self.action == Action::Idle => (g.label().to_string(), None),
            g => (self.action.label().to_string(), g),
        };
        if self.action == Action::Strafe {
            s.push_str(if self.side >= 0.0 { " left" } else { " right" });
        }
        if !self.mood.words.is_empty() {
            s.push_str(&format!(" ({})", self.mood.words.join(", ")));
        }
        match self.turn {
            Some(t) if self.circle => s.push_str(if t >= 0.0 {
                " in a circle"
            } else {
                " in a circle to the right"
            }),
            Some(t) => {
                let dir = if t >= 0.0 { "left" } else { "right" };
                s.push_str(&format!(" {dir} {:.0}°", t.abs().to_degrees()));
            }
            None => {}
        }
        if let Some(d) = self.distance {
            s.push_str(&format!(" {d:.1} m"));
        }
        if let Some(g) = gesture {
            s.push_str(" + ");
            s.push_str(g.label());
        }
        let getting_up = matches!(self.action, Action::StandUp | Action::GetUp);
        match self.hold {
            Some(Action::SitDown) if getting_up => s.push_str(" from sitting"),
            Some(Action::Crouch) if getting_up => s.push_str(" from crouching"),
            Some(Action::Kneel) if getting_up => s.push_str(" from kneeling"),
            Some(Action::LieDown) if getting_up => s.push_str(" from lying"),
            Some(Action::SitDown) => s.push_str(", seated"),
            Some(Action::Crouch) => s.push_str(", crouched"),
            Some(Action::Kneel) => s.push_str(", kneeling"),
            Some(Action::LieDown) => s.push_str(", lying"),
            _ => {}
        }
        s
    }
}

/// A prompt as read: the clauses in order and the words that meant nothing to the model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub clauses: Vec<Intent>,
    pub unknown: Vec<String>,
}

/// Words that carry no motion and are not worth reporting as "not understood".
#[rustfmt::skip]
const FILLER: &[&str] = &[
    "a", "an", "the", "person", "man", "woman", "someone", "somebody", "character", "guy", "girl", "boy",
    "he", "she", "they", "it", "his", "her", "their", "them", "him", "and", "then", "to", "of", "on", "in",
    "at", "with", "while", "as", "for", "into", "onto", "from", "up", "down", "is", "are", "was", "be", "by",
    "its", "that", "this", "again", "some", "very", "really", "slightly", "bit", "little", "over", "after",
    "afterwards", "next", "finally", "first", "around", "about", "before", "who", "s", "there", "here",
    "body", "same", "place", "time", "times", "once", "twice", "himself", "herself", "themselves", "other",
    "another", "one", "both", "hand", "hands", "arm", "arms", "left", "right", "forward", "forwards", "ahead",
    "seconds", "second", "sec", "secs", "metres", "meters", "metre", "meter", "m", "steps", "degrees",
    "degree", "deg", "circle", "head", "way", "towards", "toward", "off",
];

/// `(verb, action)`: a word whose [`stem`] is a verb's stem starts that action ("waves", "waving" and
/// "waved" are all "wave"). Particles ("sit down", "stand up") are handled in [`action_at`].
const VERBS: &[(&str, Action)] = &[
    ("walk", Action::Walk),
    ("stroll", Action::Walk),
    ("march", Action::Walk),
    ("wander", Action::Walk),
    ("stride", Action::Walk),
    ("pace", Action::Walk),
    ("shamble", Action::Walk),
    ("shuffle", Action::Walk),
    ("stagger", Action::Walk),
    ("stumble", Action::Walk),
    ("limp", Action::Walk),
    ("approach", Action::Walk),
    ("head", Action::Walk),
    ("step", Action::Walk),
    ("move", Action::Walk),
    ("go", Action::Walk),
    ("goes", Action::Walk),
    ("went", Action::Walk),
    ("jog", Action::Jog),
    ("trot", Action::Jog),
    ("sprint", Action::Sprint),
    ("dash", Action::Sprint),
    ("run", Action::Run),
    ("ran", Action::Run),
    ("rush", Action::Run),
    ("hurry", Action::Run),
    ("hurri", Action::Run),
    ("flee", Action::Run),
    ("sneak", Action::Sneak),
    ("snuck", Action::Sneak),
    ("tiptoe", Action::Sneak),
    ("creep", Action::Sneak),
    ("crept", Action::Sneak),
    ("prowl", Action::Sneak),
    ("strafe", Action::Strafe),
    ("sidestep", Action::Strafe),
    ("backpedal", Action::WalkBackwards),
    ("retreat", Action::WalkBackwards),
    ("turn", Action::Turn),
    ("rotate", Action::Turn),
    ("spin", Action::Turn),
    ("pivot", Action::Turn),
    ("stop", Action::Stop),
    ("halt", Action::Stop),
    ("sit", Action::SitDown),
    ("sat", Action::SitDown),
    ("seated", Action::SitDown),
    ("rise", Action::StandUp),
    ("crouch", Action::Crouch),
    ("squat", Action::Crouch),
    ("duck", Action::Crouch),
    ("cower", Action::Crouch),
    ("lie", Action::LieDown),
    ("lying", Action::LieDown),
    ("lay", Action::LieDown),
    ("kneel", Action::Kneel),
    ("knelt", Action::Kneel),
    ("jump", Action::Jump),
    ("leap", Action::Jump),
    ("leapt", Action::Jump),
    ("backflip", Action::Jump),
    ("hop", Action::Hop),
    ("skip", Action::Hop),
    ("bounce", Action::Hop),
    ("kick", Action::Kick),
    ("pick", Action::PickUp),
    ("grab", Action::PickUp),
    ("lift", Action::PickUp),
    ("push", Action::Push),
    ("shove", Action::Push),
    ("climb", Action::ClimbStep),
    ("fall", Action::Fall),
    ("fell", Action::Fall),
    ("collapse", Action::Fall),
    ("trip", Action::Fall),
    ("faint", Action::Fall),
    ("dance", Action::Dance),
    ("boogie", Action::Dance),
    ("groove", Action::Dance),
    ("look", Action::Gesture(Gesture::LookAround)),
    ("glance", Action::Gesture(Gesture::LookAround)),
    ("search", Action::Gesture(Gesture::LookAround)),
    ("scan", Action::Gesture(Gesture::LookAround)),
    ("wave", Action::Gesture(Gesture::Wave)),
    ("greet", Action::Gesture(Gesture::Wave)),
    ("hello", Action::Gesture(Gesture::Wave)),
    ("goodbye", Action::Gesture(Gesture::Wave)),
    ("bye", Action::Gesture(Gesture::Wave)),
    ("hi", Action::Gesture(Gesture::Wave)),
    ("point", Action::Gesture(Gesture::Point)),
    ("clap", Action::Gesture(Gesture::Clap)),
    ("applaud", Action::Gesture(Gesture::Clap)),
    ("bow", Action::Gesture(Gesture::Bow)),
    ("nod", Action::Gesture(Gesture::Nod)),
    ("shake", Action::Gesture(Gesture::ShakeHead)),
    ("shook", Action::Gesture(Gesture::ShakeHead)),
    ("shrug", Action::Gesture(Gesture::Shrug)),
    ("stretch", Action::Gesture(Gesture::Stretch)),
    ("yawn", Action::Gesture(Gesture::Stretch)),
    ("talk", Action::Gesture(Gesture::Talk)),
    ("speak", Action::Gesture(Gesture::Talk)),
    ("chat", Action::Gesture(Gesture::Talk)),
    ("explain", Action::Gesture(Gesture::Talk)),
    ("gesture", Action::Gesture(Gesture::Talk)),
    ("argue", Action::Gesture(Gesture::Talk)),
    ("punch", Action::Gesture(Gesture::Punch)),
    ("box", Action::Gesture(Gesture::Punch)),
    ("boxer", Action::Gesture(Gesture::Punch)),
    ("strike", Action::Gesture(Gesture::Punch)),
    ("hit", Action::Gesture(Gesture::Punch)),
    ("throw", Action::Gesture(Gesture::Throw)),
    ("threw", Action::Gesture(Gesture::Throw)),
    ("toss", Action::Gesture(Gesture::Throw)),
    ("idle", Action::Idle),
    ("wait", Action::Idle),
    ("stand", Action::Idle),
    ("stood", Action::Idle),
    ("breathe", Action::Idle),
    ("rest", Action::Idle),
    ("stay", Action::Idle),
    ("pause", Action::Idle),
];

/// A crude English stem, the same for a verb's forms: "waves", "waving", "waved" → "wav"; "running",
/// "runs" → "run". Applied to both sides of a comparison, so only consistency matters.
fn stem(word: &str) -> String {
    let mut w = word.to_string();
    for suffix in ["ing", "ed", "s"] {
        if w.len() > suffix.len() + 2 && w.ends_with(suffix) {
            w.truncate(w.len() - suffix.len());
            break;
        }
    }
    if w.len() > 2 && w.ends_with('e') {
        w.pop();
    }
    let b = w.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] {
        w.pop();
    }
    w
}

/// Words after which the next word is a noun ("a box", "his head"), not a verb.
const DETERMINERS: &[&str] = &[
    "a", "an", "the", "his", "her", "their", "my", "your", "its", "this", "that",
];

/// The action `words[i]` starts, with how many words it used ("sits down" is 2).
fn action_at(words: &[String], i: usize) -> Option<(Action, usize)> {
    let w = words[i].as_str();
    let next = words.get(i + 1).map(String::as_str).unwrap_or("");
    let after = words.get(i + 2).map(String::as_str).unwrap_or("");
    let s = stem(w);
    let is = |verbs: &[&str]| verbs.iter().any(|v| stem(v) == s);
    // Verb + particle first: the particle changes the action.
    if is(&["stand", "stood", "sit", "sat", "rise"]) && next == "up" {
        return Some((Action::StandUp, 2));
    }
    if is(&["get", "got"]) && matches!(next, "up" | "back") {
        return Some((Action::GetUp, 2));
    }
    if is(&["walk", "step", "move", "go", "back"])
        && matches!(next, "back" | "backward" | "backwards")
    {
        return Some((Action::WalkBackwards, 2));
    }
    if is(&["back"]) && matches!(next, "up" | "away" | "off") {
        return Some((Action::WalkBackwards, 2));
    }
    if is(&["step", "climb"]) {
        if matches!(next, "up" | "onto" | "step" | "stairs") {
            return Some((Action::ClimbStep, 2));
        }
        if after == "step" || after == "stairs" {
            return Some((Action::ClimbStep, 3));
        }
    }
    if is(&["shake"]) && next == "head" {
        return Some((Action::Gesture(Gesture::ShakeHead), 2));
    }
    if is(&["look"]) && matches!(next, "around" | "round" | "about") {
        return Some((Action::Gesture(Gesture::LookAround), 2));
    }
    VERBS
        .iter()
        .find(|(v, _)| stem(v) == s)
        .map(|&(_, a)| (a, 1))
}

/// "two" → 2, "3.5" → 3.5, "a" → 1 (in "a second").
fn number(word: &str) -> Option<f32> {
    let v = match word {
        "a" | "an" | "one" => 1.0,
        "half" => 0.5,
        "two" | "couple" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "twenty" => 20.0,
        _ => word
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)?,
    };
    Some(v)
}

/// Splits `"3m"`, `"90°"`, `"2s"` into the number and its unit.
fn number_with_unit(word: &str) -> Option<(f32, &str)> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    if split == 0 {
        return None;
    }
    let v = word[..split]
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())?;
    Some((v, &word[split..]))
}

enum Unit {
    Seconds,
    Metres,
    Steps,
    Degrees,
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "s" | "sec" | "secs" | "second" | "seconds" => Unit::Seconds,
        "m" | "metre" | "metres" | "meter" | "meters" => Unit::Metres,
        "step" | "steps" | "paces" => Unit::Steps,
        "°" | "deg" | "degree" | "degrees" => Unit::Degrees,
        _ => return None,
    })
}

/// The quantities in a part: `(seconds, metres, degrees)`, and which word indices they used.
fn quantities(words: &[String], used: &mut [bool]) -> (Option<f32>, Option<f32>, Option<f32>) {
    let (mut seconds, mut metres, mut degrees) = (None, None, None);
    for i in 0..words.len() {
        let (value, unit_word, span) = if let Some((v, u)) = number_with_unit(&words[i]) {
            (v, u.to_string(), 1)
        } else if let Some(v) = number(&words[i]) {
            // "half a second", "a couple of metres"
            let mut j = i + 1;
            while j < words.len() && matches!(words[j].as_str(), "a" | "an" | "of" | "more") {
                j += 1;
            }
            match words.get(j) {
                Some(u) => (v, u.clone(), j - i + 1),
                None => continue,
            }
        } else {
            continue;
        };
        let Some(u) = unit(&unit_word) else { continue };
        match u {
            Unit::Seconds => seconds = Some(value.clamp(0.1, 60.0)),
            Unit::Metres => metres = Some(value.min(200.0)),
            Unit::Steps => metres = Some(value.min(200.0) * 0.7),
            Unit::Degrees => degrees = Some(value.min(1440.0)),
        }
        for u in used.iter_mut().skip(i).take(span) {
            *u = true;
        }
    }
    (seconds, metres, degrees)
}

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '°' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '.' || c == '\'').replace("'s", ""))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A prompt's sequence: split on the sequence words and punctuation.
fn sequence_parts(prompt: &str) -> Vec<String> {
    let lower = prompt.to_lowercase();
    let mut text = lower.replace([';', '!', '?'], ",");
    // A full stop between sentences, not in "2.5".
    let bytes: Vec<char> = text.chars().collect();
    text = bytes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let digit = |k: Option<&char>| k.is_some_and(|c| c.is_ascii_digit());
            if c == '.' && !(i > 0 && digit(bytes.get(i - 1)) && digit(bytes.get(i + 1))) {
                ','
            } else {
                c
            }
        })
        .collect();
    for phrase in [
        " and then ",
        " after that ",
        " afterwards ",
        " and finally ",
        " finally ",
        " then ",
        " before ",
        " followed by ",
        " until ",
    ] {
        text = format!(" {text} ").replace(phrase, ", ");
    }
    text.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Read a whole prompt. An empty or unknown prompt is one idle clause.
pub(crate) fn read(prompt: &str) -> Reading {
    let mut clauses: Vec<Intent> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for part in sequence_parts(prompt) {
        read_part(&part, &mut clauses, &mut unknown);
    }
    if clauses.is_empty() {
        clauses.push(Intent::idle());
    }
    // The subject's style ("a tired man walks, then sits") carries to the clauses that name none.
    let first_mood = clauses[0].mood.clone();
    for c in clauses.iter_mut().skip(1) {
        if c.mood.words.is_empty() {
            c.mood = first_mood.clone();
        }
    }
    // A jump out of a run carries on forward.
    for k in 1..clauses.len() {
        if matches!(clauses[k].action, Action::Jump | Action::Hop)
            && clauses[k - 1].action.travels()
        {
            clauses[k].forward = true;
        }
    }
    let mut posture = None;
    for c in &mut clauses {
        match c.action {
            Action::SitDown | Action::Crouch | Action::Kneel | Action::LieDown => {
                posture = Some(c.action)
            }
            Action::Fall => posture = Some(Action::LieDown),
            Action::Idle | Action::Stop => c.hold = posture,
            // Getting up is from whatever came before: a chair by default for "stand up", the floor
            // for "get up".
            Action::StandUp | Action::GetUp => {
                c.hold = posture.or(Some(if c.action == Action::StandUp {
                    Action::SitDown
                } else {
                    Action::LieDown
                }));
                posture = None;
            }
            _ => posture = None,
        }
    }
    unknown.dedup();
    Reading { clauses, unknown }
}

/// Read one part of the sequence into one or more clauses ("runs and jumps" is two, "walks and waves"
/// one with a gesture) appended to `clauses`.
fn read_part(part: &str, clauses: &mut Vec<Intent>, unknown: &mut Vec<String>) {
    let words = tokens(part);
    let mut used = vec![false; words.len()];
    let (seconds, metres, degrees) = quantities(&words, &mut used);
    // Actions in order, with the index of their first word.
    let mut found: Vec<(usize, Action, bool)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if used[i] {
            i += 1;
            continue;
        }
        match action_at(&words, i) {
            Some((a, n)) => {
                for u in used.iter_mut().skip(i).take(n) {
                    *u = true;
                }
                let noun = i > 0 && DETERMINERS.contains(&words[i - 1].as_str());
                found.push((i, a, noun));
                i += n;
            }
            None => i += 1,
        }
    }
    // "picks up a box": a noun that looks like a verb counts only when nothing else is done.
    if found.iter().any(|f| !f.2) {
        for &(i, _, _) in found.iter().filter(|f| f.2) {
            used[i] = false;
        }
        found.retain(|f| !f.2);
    }
    // "waves hello", "trips and falls": the same action twice in a row is one.
    found.dedup_by_key(|f| f.1);
    let found: Vec<(usize, Action)> = found.into_iter().map(|(i, a, _)| (i, a)).collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(&x.as_str()));
    let mood = Mood::read(&words, &mut used);
    let left = has(&["left"]);
    let right = has(&["right"]);
    let around = has(&["around", "round"]);
    let backwards = has(&["backward", "backwards", "back"]);

    // Body actions start clauses; gestures ride on the clause they are in (or start an idle one).
    let mut out: Vec<Intent> = Vec::new();
    for &(_, a) in &found {
        // "stands and waves": an idle next to a gesture is the gesture's ground.
        if a == Action::Idle && found.len() > 1 {
            continue;
        }
        let current = out.last_mut();
        match (a, current) {
            (Action::Gesture(g), Some(c)) if c.gesture.is_none() && c.action.accepts_gesture() => {
                c.gesture = Some(g)
            }
            (Action::Gesture(g), _) => out.push(Intent {
                gesture: Some(g),
                ..Intent::idle()
            }),
            (_, Some(c)) if c.action == Action::Idle => c.action = a,
            (_, Some(c)) if c.action == Action::Walk && a == Action::Turn => c.action = a,
            (_, Some(c)) if c.action == Action::Turn && a.travels() => {
                // "turns and walks": the walk carries the turn.
                c.action = a
            }
            _ => out.push(Intent {
                action: a,
                ..Intent::idle()
            }),
        }
    }
    if out.is_empty() {
        if words
            .iter()
            .any(|w| ["forward", "forwards", "ahead"].contains(&w.as_str()))
            || metres.is_some()
        {
            // "3 metres forward": walking is implied.
            out.push(Intent {
                action: Action::Walk,
                ..Intent::idle()
            });
        } else if backwards {
            out.push(Intent {
                action: Action::WalkBackwards,
                ..Intent::idle()
            });
        } else if seconds.is_some() || !mood.words.is_empty() {
            out.push(Intent::idle());
        }
    }
    for w in words
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(w, _)| w)
    {
        let known = FILLER.contains(&w.as_str())
            || w.parse::<f32>().is_ok()
            || number(w).is_some()
            || ["backward", "backwards", "back", "round", "slowly"].contains(&w.as_str());
        if !known && !unknown.contains(w) {
            unknown.push(w.clone());
        }
    }
    if out.is_empty() {
        // Only modifiers ("slowly"): they apply to the clause before.
        if let Some(prev) = clauses.last_mut()
            && !mood.words.is_empty()
        {
            prev.mood = prev.mood.combine(&mood);
        }
        return;
    }
    let n = out.len();
    for (k, c) in out.iter_mut().enumerate() {
        c.mood = mood.clone();
        // Quantities belong to the clause they describe: seconds to the last action of the part ("runs
        // and jumps for 2 seconds" times the jump; one action per part is the common case), distances to
        // the travelling one, angles to the turn.
        if k + 1 == n {
            c.seconds = seconds;
        }
        if c.action.travels() {
            c.distance = metres;
        }
        let turning = c.action == Action::Turn;
        let walking_turn = c.action.travels()
            && (left || right)
            && c.action != Action::Strafe
            && c.gesture != Some(Gesture::Point)
            && c.gesture != Some(Gesture::Wave);
        if turning || walking_turn {
            let magnitude =
                degrees
                    .map(f32::to_radians)
                    .unwrap_or(if around { PI } else { FRAC_PI_2 });
            // Left is positive yaw; "turn" alone turns left.
            let sign = if right && !left { -1.0 } else { 1.0 };
            c.turn = Some(sign * magnitude);
        }
        if c.action == Action::Strafe {
            c.side = if right && !left { -1.0 } else { 1.0 };
        }
        if c.action == Action::Walk && backwards && !turning {
            c.action = Action::WalkBackwards;
        }
        if has(&["circle", "circles"]) && c.action.travels() {
            c.circle = true;
            c.turn = Some(if right && !left { -TAU } else { TAU });
        }
        if matches!(c.action, Action::Jump | Action::Hop) {
            c.forward = has(&["forward", "forwards", "ahead", "over", "across"])
                || words.iter().any(|w| w.starts_with("leap"));
        }
        // The hand of a gesture is named next to it: "waves with the left hand".
        c.hand = if has(&["both", "hands", "arms"]) {
            Hand::Both
        } else if left
            && (c.turn.is_none() || words.iter().filter(|w| *w == "left").count() > 1)
            && !right
        {
            Hand::Left
        } else {
            Hand::Right
        };
    }
    clauses.extend(out);
}

/// Frames of each clause when `reading` fills `frames`: explicit durations as asked, the others their
/// natural length, all scaled together to fill the segment exactly (each at least one frame).
pub(crate) fn allot(reading: &Reading, frames: usize, fps: f32) -> Vec<usize> {
    let n = reading.clauses.len();
    let frames = frames.max(1);
    if n <= 1 {
        return vec![frames];
    }
    let want: Vec<f32> = reading
        .clauses
        .iter()
        .map(Intent::natural_seconds)
        .collect();
    let explicit: f32 = reading
        .clauses
        .iter()
        .filter_map(|c| c.seconds)
        .sum::<f32>()
        * fps;
    let natural: f32 = reading
        .clauses
        .iter()
        .zip(&want)
        .filter(|(c, _)| c.seconds.is_none())
        .map(|(_, w)| w * fps)
        .sum();
    let total = frames as f32;
    // Explicit durations hold when they fit; the natural ones take what is left.
    let (scale_explicit, scale_natural) = if explicit < total && natural > 0.0 {
        (1.0, (total - explicit) / natural)
    } else {
        let s = total / (explicit + natural).max(1e-3);
        (s, s)
    };
    let mut out: Vec<usize> = Vec::with_capacity(n);
    let mut acc = 0.0f32;
    let mut given = 0usize;
    for (c, w) in reading.clauses.iter().zip(&want) {
        acc += w
            * fps
            * if c.seconds.is_some() {
                scale_explicit
            } else {
                scale_natural
            };
        let end = (acc.round() as usize).clamp(given, frames);
        out.push(end - given);
        given = end;
    }
    if let Some(last) = out.last_mut() {
        *last += frames - given;
    }
    // Every clause gets a frame, taken from the longest one.
    while let Some(k) = out.iter().position(|&f| f == 0) {
        let longest = (0..n).max_by_key(|&i| out[i]).unwrap_or(0);
        if out[longest] <= 1 {
            break;
        }
        out[longest] -= 1;
        out[k] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clauses of `prompt` as `(action label, gesture label)`.
    fn shape(prompt: &str) -> Vec<String> {
        read(prompt)
            .clauses
            .iter()
            .map(|c| match c.gesture.map(Action::Gesture) {
                Some(g) if c.action == Action::Idle => g.label().to_string(),
                Some(g) => format!("{}+{}", c.action.label(), g.label()),
                None => c.action.label().to_string(),
            })
            .collect()
    }

    #[test]
    fn twenty_sentences_split_into_their_segments() {
        let cases: [(&str, &[&str]); 20] = [
            ("a person runs then jumps", &["run", "jump"]),
            (
                "walks to the door, then turns left and waves",
                &["walk", "turn+wave"],
            ),
            ("runs for 2 seconds then jumps", &["run", "jump"]),
            (
                "idles, looks around, then sits",
                &["idle", "look around", "sit down"],
            ),
            ("a zombie shambles forward", &["walk"]),
            ("someone sits down on a chair", &["sit down"]),
            ("a person walks forward and waves", &["walk+wave"]),
            ("walks while waving", &["walk+wave"]),
            (
                "sneaks forward, stops and looks around",
                &["sneak", "stop+look around"],
            ),
            ("jogs in a circle", &["jog"]),
            ("stands up and stretches", &["stand up", "stretch"]),
            ("kneels down, then gets up", &["kneel", "get up"]),
            (
                "he lies down on the floor and after that gets up",
                &["lie down", "get up"],
            ),
            ("picks up a box and throws it", &["pick up", "throw"]),
            ("the boxer punches twice then kicks", &["punch", "kick"]),
            (
                "walks backwards for 3 seconds, then turns around",
                &["walk backwards", "turn"],
            ),
            ("strafes left then sprints 10 metres", &["strafe", "sprint"]),
            ("climbs a step and then dances", &["climb step", "dance"]),
            ("trips and falls", &["fall"]),
            (
                "nods, shakes his head, shrugs and bows",
                &["nod", "shake head", "shrug", "bow"],
            ),
        ];
        for (prompt, expected) in cases {
            assert_eq!(shape(prompt), expected, "{prompt:?}");
        }
    }

    #[test]
    fn space_words_are_honoured() {
        let r = read("walks 3 metres forward");
        assert_eq!(r.clauses[0].action, Action::Walk);
        assert_eq!(r.clauses[0].distance, Some(3.0));
        let t = read("The man turns right 45 degrees");
        assert!(
            t.clauses[0]
                .turn
                .is_some_and(|x| (x + 45f32.to_radians()).abs() < 1e-5)
        );
        let l = read("turn left");
        assert!(
            l.clauses[0]
                .turn
                .is_some_and(|x| (x - FRAC_PI_2).abs() < 1e-6)
        );
        assert!(read("turn around").clauses[0].turn.is_some_and(|x| x > 3.0));
        assert!(read("runs in a circle").clauses[0].circle);
        let s = read("runs for 2 seconds then jumps");
        assert_eq!(s.clauses[0].seconds, Some(2.0));
        assert_eq!(read("walk 5m").clauses[0].distance, Some(5.0));
        assert_eq!(read("strafe right").clauses[0].side, -1.0);
        assert_eq!(read("wave with the left hand").clauses[0].hand, Hand::Left);
        assert_eq!(read("wave with both hands").clauses[0].hand, Hand::Both);
    }

    #[test]
    fn styles_apply_to_their_clause_and_carry_from_the_subject() {
        let r = read("a tired old man walks, then sits down");
        assert_eq!(r.clauses[0].mood.words, ["tired", "old"]);
        assert_eq!(r.clauses[1].mood.words, ["tired", "old"]);
        let z = read("a zombie shambles forward");
        assert_eq!(z.clauses[0].mood.words, ["zombie"]);
        let h = read("walks happily then runs angrily");
        assert_eq!(h.clauses[1].mood.words, ["angry"]);
    }

    #[test]
    fn unknown_words_are_reported() {
        let r = read("walks to the door then flibbers");
        assert_eq!(r.unknown, ["door", "flibbers"]);
        assert_eq!(r.clauses.len(), 1);
        assert!(read("").unknown.is_empty());
        assert_eq!(read("🙂 ??").clauses[0].action, Action::Idle);
    }

    #[test]
    fn durations_fill_the_segment() {
        let r = read("runs for 2 seconds then jumps");
        assert_eq!(allot(&r, 120, 30.0), [60, 60]);
        let r = read("idles, looks around, then sits");
        let f = allot(&r, 100, 30.0);
        assert_eq!(f.iter().sum::<usize>(), 100);
        assert!(f.iter().all(|&x| x > 10), "{f:?}");
        let r = read("a b, c, walk, run, jump, sit, wave");
        assert_eq!(allot(&r, 3, 30.0).iter().sum::<usize>(), 3);
    }

    #[test]
    fn every_action_has_a_word() {
        for a in ALL_ACTIONS {
            let r = read(a.label());
            let got = r.clauses[0]
                .gesture
                .map(Action::Gesture)
                .unwrap_or(r.clauses[0].action);
            assert_eq!(got, a, "{:?} reads as {got:?}", a.label());
        }
    }
}
