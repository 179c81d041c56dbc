//! Seeded variation: what makes two samples (or two seeds) of the same prompt differ.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A reproducible stream of numbers for one sample (or one segment of it).
pub(crate) struct Dice(ChaCha8Rng);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        // 24 random bits: every value is exactly representable in f32.
        let unit = (self.0.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// Mix a seed with a stream number (a sample or segment index) so neighbouring streams are unrelated.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    // splitmix64 finaliser.
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One performer's way of moving: drawn once per sample.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    /// m/s on the standard skeleton; scaled by leg length.
    pub walk_speed: f32,
    pub run_speed: f32,
    /// Multiplies the stride length the speed would give.
    pub stride: f32,
    pub arm_swing: f32,
    /// Arm angle down from the T-pose, radians.
    pub arm_down: f32,
    pub elbow: f32,
    /// Gait phase at the start, in cycles (which foot leads, and where in the step).
    pub phase0: f32,
    pub sway_amp: f32,
    pub sway_freq: f32,
    pub sway_phase: f32,
    pub breath_freq: f32,
    /// Phases of the slow "alive" noise on the head and spine.
    pub noise: [f32; 6],
    pub wave_freq: f32,
    pub lean: f32,
    pub jump_period: f32,
    pub jump_height: f32,
    pub turn_scale: f32,
    pub bob: f32,
    pub twist: f32,
}

impl Style {
    pub fn draw(dice: &mut Dice) -> Style {
        let tau = std::f32::consts::TAU;
        Style {
            walk_speed: dice.range(1.2, 1.45),
            run_speed: dice.range(2.8, 3.6),
            stride: dice.range(0.92, 1.08),
            arm_swing: dice.range(0.7, 1.3),
            arm_down: dice.range(1.17, 1.33),
            elbow: dice.range(0.15, 0.35),
            phase0: dice.range(0.0, 1.0),
            sway_amp: dice.range(0.008, 0.02),
            sway_freq: dice.range(0.18, 0.3),
            sway_phase: dice.range(0.0, tau),
            breath_freq: dice.range(0.22, 0.3),
            noise: std::array::from_fn(|_| dice.range(0.0, tau)),
            wave_freq: dice.range(1.6, 2.4),
            lean: dice.range(-0.03, 0.05),
            jump_period: dice.range(1.3, 1.55),
            jump_height: dice.range(0.22, 0.34),
            turn_scale: dice.range(0.9, 1.1),
            bob: dice.range(0.7, 1.2),
            twist: dice.range(0.7, 1.3),
        }
    }
}

/// A style from the prompt ("sad", "zombie", "slowly", "big"): how it changes any action. Speeds and
/// sizes multiply, the posture offsets add, so styles combine ("a tired old man").
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mood {
    /// The style words understood, for the notes.
    pub words: Vec<&'static str>,
    /// Pace: travel speed and the tempo of in-place actions.
    pub speed: f32,
    /// Amplitude of arm swings, gestures, strides and jumps.
    pub size: f32,
    /// Forward lean of the spine, radians.
    pub lean: f32,
    /// Head pitched down (+) or up (-), radians.
    pub head: f32,
    /// Knee bend while standing and walking, 0..1 of a crouch.
    pub crouch: f32,
    /// Extra vertical bounce of the gait.
    pub bounce: f32,
    /// Side-to-side sway of the pelvis, metres.
    pub sway: f32,
    /// Arms raised forward, 0..1 (a zombie's reach).
    pub arms_forward: f32,
    /// Extra elbow bend, radians.
    pub elbow: f32,
    /// Shoulders drawn up, radians.
    pub tense: f32,
    /// Weaving of the path, radians of heading.
    pub weave: f32,
}

/// `(label, words, the style)`: a word whose stem is one of the words' stems applies the style.
fn mood_table() -> [(&'static str, &'static [&'static str], Mood); 14] {
    let m = Mood::plain;
    [
        (
            "happy",
            &[
                "happy",
                "happily",
                "cheerful",
                "cheerfully",
                "joyful",
                "joyfully",
                "excited",
                "excitedly",
                "gleeful",
            ],
            Mood {
                speed: 1.1,
                size: 1.25,
                lean: -0.06,
                head: -0.12,
                bounce: 0.8,
                ..m()
            },
        ),
        (
            "sad",
            &[
                "sad",
                "sadly",
                "depressed",
                "gloomy",
                "glum",
                "dejected",
                "sorrowful",
                "mournful",
            ],
            Mood {
                speed: 0.75,
                size: 0.6,
                lean: 0.18,
                head: 0.4,
                bounce: -0.4,
                ..m()
            },
        ),
        (
            "tired",
            &[
                "tired",
                "tiredly",
                "exhausted",
                "weary",
                "wearily",
                "sleepy",
                "fatigued",
            ],
            Mood {
                speed: 0.7,
                size: 0.6,
                lean: 0.15,
                head: 0.25,
                sway: 0.015,
                ..m()
            },
        ),
        (
            "angry",
            &[
                "angry",
                "angrily",
                "furious",
                "furiously",
                "mad",
                "enraged",
                "aggressive",
                "aggressively",
            ],
            Mood {
                speed: 1.2,
                size: 1.3,
                lean: 0.12,
                head: 0.05,
                elbow: 0.5,
                tense: 0.08,
                ..m()
            },
        ),
        (
            "sneaky",
            &[
                "sneaky",
                "sneakily",
                "stealthy",
                "stealthily",
                "quiet",
                "quietly",
                "cautious",
                "cautiously",
                "careful",
                "carefully",
            ],
            Mood {
                speed: 0.55,
                size: 0.6,
                lean: 0.25,
                crouch: 0.45,
                arms_forward: 0.25,
                elbow: 0.7,
                ..m()
            },
        ),
        (
            "old",
            &["old", "elderly", "aged", "frail", "grandpa", "grandma"],
            Mood {
                speed: 0.65,
                size: 0.55,
                lean: 0.3,
                head: 0.1,
                crouch: 0.15,
                ..m()
            },
        ),
        (
            "zombie",
            &["zombie", "zombies", "undead", "zombielike", "ghoul"],
            Mood {
                speed: 0.5,
                size: 0.45,
                lean: 0.1,
                head: 0.3,
                sway: 0.04,
                arms_forward: 1.0,
                ..m()
            },
        ),
        (
            "drunk",
            &[
                "drunk",
                "drunken",
                "drunkenly",
                "tipsy",
                "intoxicated",
                "dizzy",
            ],
            Mood {
                speed: 0.8,
                sway: 0.05,
                head: 0.15,
                weave: 0.35,
                ..m()
            },
        ),
        (
            "confident",
            &[
                "confident",
                "confidently",
                "proud",
                "proudly",
                "bold",
                "boldly",
                "strong",
            ],
            Mood {
                speed: 1.05,
                size: 1.2,
                lean: -0.08,
                head: -0.1,
                ..m()
            },
        ),
        (
            "scared",
            &[
                "scared",
                "afraid",
                "frightened",
                "fearful",
                "fearfully",
                "nervous",
                "nervously",
                "terrified",
                "anxious",
                "anxiously",
            ],
            Mood {
                speed: 1.1,
                size: 0.7,
                lean: 0.1,
                crouch: 0.2,
                elbow: 0.6,
                tense: 0.2,
                ..m()
            },
        ),
        (
            "slow",
            &["slow", "slowly", "leisurely", "lazily", "lazy"],
            Mood { speed: 0.6, ..m() },
        ),
        (
            "fast",
            &[
                "fast", "quick", "quickly", "rapid", "rapidly", "brisk", "briskly", "swift",
                "swiftly", "hurried",
            ],
            Mood { speed: 1.4, ..m() },
        ),
        (
            "small",
            &[
                "small", "tiny", "gentle", "gently", "subtle", "subtly", "slight", "timid",
                "timidly",
            ],
            Mood { size: 0.6, ..m() },
        ),
        (
            "big",
            &[
                "big",
                "large",
                "huge",
                "wide",
                "wild",
                "wildly",
                "energetic",
                "energetically",
                "exaggerated",
                "enthusiastic",
                "enthusiastically",
            ],
            Mood { size: 1.5, ..m() },
        ),
    ]
}

impl Mood {
    pub fn plain() -> Mood {
        Mood {
            words: Vec::new(),
            speed: 1.0,
            size: 1.0,
            lean: 0.0,
            head: 0.0,
            crouch: 0.0,
            bounce: 0.0,
            sway: 0.0,
            arms_forward: 0.0,
            elbow: 0.0,
            tense: 0.0,
            weave: 0.0,
        }
    }

    /// Both styles at once.
    pub fn combine(&self, other: &Mood) -> Mood {
        let mut words = self.words.clone();
        words.extend(other.words.iter().filter(|w| !self.words.contains(w)));
        Mood {
            words,
            speed: self.speed * other.speed,
            size: self.size * other.size,
            lean: self.lean + other.lean,
            head: self.head + other.head,
            crouch: (self.crouch + other.crouch).min(1.0),
            bounce: self.bounce + other.bounce,
            sway: self.sway + other.sway,
            arms_forward: (self.arms_forward + other.arms_forward).min(1.0),
            elbow: self.elbow + other.elbow,
            tense: self.tense + other.tense,
            weave: self.weave + other.weave,
        }
    }

    /// The styles named in `words`, marking the words it used.
    pub fn read(words: &[String], used: &mut [bool]) -> Mood {
        let mut mood = Mood::plain();
        for (label, forms, style) in mood_table() {
            let mut hit = false;
            for (w, u) in words.iter().zip(used.iter_mut()) {
                if forms.contains(&w.as_str()) {
                    *u = true;
                    hit = true;
                }
            }
            if hit {
                mood = mood.combine(&Mood {
                    words: vec![label],
                    ..style
                });
            }
        }
        mood
    }
}

impl Mood {
    /// The style with this label in the table ("sneaky"), or the plain one.
    pub fn named(label: &str) -> Mood {
        mood_table()
            .into_iter()
            .find(|(l, _, _)| *l == label)
            .map(|(l, _, m)| Mood {
                words: vec![l],
                ..m
            })
            .unwrap_or_else(Mood::plain)
    }
}
