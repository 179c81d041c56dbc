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
