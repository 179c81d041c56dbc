//! Reading a prompt: keywords to an [`Intent`] (what the body does in a segment).
//!
//! Deliberately simple and predictable: a procedural model cannot understand language, so it says what it
//! understood (the notes of the take) instead of pretending.

/// Base activity of a segment; at most one per segment, the first keyword found wins ties in the order below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Idle,
    Walk,
    Run,
    Jump,
    Sit,
    Crouch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hand {
    Left,
    Right,
    Both,
}

/// What one segment asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intent {
    pub activity: Activity,
    /// Speed factor from adverbs ("slowly", "fast").
    pub pace: f32,
    /// Walk backwards.
    pub backwards: bool,
    /// Signed turn in radians (+ = left, toward +X when facing +Z), if asked.
    pub turn: Option<f32>,
    pub wave: Option<Hand>,
    /// The keywords that decided this, for the take's notes.
    pub understood: Vec<&'static str>,
}

impl Intent {
    pub fn idle() -> Intent {
        Intent {
            activity: Activity::Idle,
            pace: 1.0,
            backwards: false,
            turn: None,
            wave: None,
            understood: Vec::new(),
        }
    }
}

fn has(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.iter().any(|k| w == k))
}

fn has_prefix(words: &[String], prefixes: &[&str]) -> bool {
    words
        .iter()
        .any(|w| prefixes.iter().any(|p| w.starts_with(p)))
}

/// An explicit angle: "90 degrees", "45°", "180 deg".
fn angle_in(words: &[String]) -> Option<f32> {
    for (i, w) in words.iter().enumerate() {
        let (num, unit_attached) = match w.strip_suffix('°') {
            Some(n) => (n, true),
            None => (w.as_str(), false),
        };
        if let Ok(v) = num.parse::<f32>() {
            let unit = unit_attached
                || words
                    .get(i + 1)
                    .is_some_and(|u| u.starts_with("deg") || u == "°");
            if unit && v.is_finite() {
                return Some(v.abs().min(720.0).to_radians());
            }
        }
    }
    None
}

/// Read a prompt. Unknown words are ignored; no keyword at all means idle.
pub(crate) fn parse(prompt: &str) -> Intent {
    let lower = prompt.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '°'))
        .map(|w| w.trim_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let mut intent = Intent::idle();
    let u = &mut intent.understood;

    intent.activity = if has_prefix(&words, &["sit", "seat", "sat"]) {
        u.push("sit");
        Activity::Sit
    } else if has_prefix(&words, &["jump", "hop", "leap"]) {
        u.push("jump");
        Activity::Jump
    } else if has_prefix(&words, &["crouch", "squat", "duck", "kneel"]) {
        u.push("crouch");
        Activity::Crouch
    } else if has_prefix(&words, &["run", "ran", "jog", "sprint", "dash"]) {
        u.push("run");
        Activity::Run
    } else if has_prefix(
        &words,
        &[
            "walk", "stroll", "step", "march", "stride", "pace", "wander", "go", "move",
        ],
    ) || has(
        &words,
        &["forward", "forwards", "backward", "backwards", "ahead"],
    ) {
        u.push("walk");
        Activity::Walk
    } else {
        if has_prefix(
            &words,
            &["idle", "stand", "wait", "breath", "rest", "still"],
        ) {
            u.push("idle");
        }
        Activity::Idle
    };
    if has_prefix(&words, &["sneak", "tiptoe", "creep"]) {
        u.push("sneak");
        intent.activity = Activity::Crouch;
        intent.pace = 0.5;
    }
    if has(&words, &["backward", "backwards", "back"]) && intent.activity == Activity::Walk {
        u.push("backwards");
        intent.backwards = true;
    }
    if has_prefix(&words, &["slow", "leisure", "tired"]) {
        u.push("slowly");
        intent.pace *= 0.7;
    }
    if has_prefix(&words, &["fast", "quick", "brisk", "hurr", "rapid"]) {
        u.push("fast");
        intent.pace *= 1.3;
    }
    if has_prefix(&words, &["sprint"]) {
        intent.pace *= 1.6;
    }

    let turning = has_prefix(&words, &["turn", "rotat", "spin", "pivot"]);
    let left = has(&words, &["left"]);
    let right = has(&words, &["right"]);
    let around = has(&words, &["around", "round"]) || has_prefix(&words, &["spin"]);
    if turning
        || (intent.activity == Activity::Walk && (left || right) && !has_prefix(&words, &["wav"]))
    {
        let default = if around {
            std::f32::consts::PI
        } else {
            std::f32::consts::FRAC_PI_2
        };
        let magnitude = angle_in(&words).unwrap_or(default);
        // Turning left is positive yaw (toward +X when facing +Z); "turn" alone turns left.
        let sign = if right && !left { -1.0 } else { 1.0 };
        u.push(if sign > 0.0 {
            "turn left"
        } else {
            "turn right"
        });
        intent.turn = Some(sign * magnitude);
    }

    if has_prefix(&words, &["wav", "hello", "greet", "hi", "bye", "goodbye"]) {
        u.push("wave");
        // The hand is named next to the wave ("waves with the left hand"); the right one by default.
        let hand_left = has(&words, &["left"])
            && (!turning || words.iter().filter(|w| *w == "left").count() > 1);
        intent.wave = Some(if has(&words, &["both", "hands", "arms"]) {
            Hand::Both
        } else if hand_left && !right {
            Hand::Left
        } else {
            Hand::Right
        });
    }
    intent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_and_wave() {
        let i = parse("a person walks forward and waves");
        assert_eq!(i.activity, Activity::Walk);
        assert_eq!(i.wave, Some(Hand::Right));
        assert_eq!(i.turn, None);
    }

    #[test]
    fn turns() {
        let l = parse("turn left");
        assert!(
            l.turn
                .is_some_and(|t| (t - std::f32::consts::FRAC_PI_2).abs() < 1e-6)
        );
        let r = parse("The man turns right 45 degrees");
        assert!(
            r.turn
                .is_some_and(|t| (t + 45f32.to_radians()).abs() < 1e-5)
        );
        assert!(parse("turn around").turn.is_some_and(|t| t > 3.0));
    }

    #[test]
    fn activities() {
        assert_eq!(parse("sits down on a chair").activity, Activity::Sit);
        assert_eq!(parse("jogging").activity, Activity::Run);
        assert_eq!(parse("a big jump forward").activity, Activity::Jump);
        assert_eq!(parse("crouch").activity, Activity::Crouch);
        assert_eq!(parse("").activity, Activity::Idle);
        assert_eq!(parse("wave with the left hand").wave, Some(Hand::Left));
        assert!(parse("walk backwards slowly").backwards);
    }
}
