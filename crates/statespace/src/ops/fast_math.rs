//! Inlinable elementary functions for the CPU kernels' inner loops, where a
//! libm call per element would dominate and block vectorisation.

/// eˣ in f32 to within 2 ulp over the normal range (0 below it, +∞ above):
/// x = k·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), eʳ by its
/// degree-7 Taylor polynomial (truncation < 6e-9 relative), scaled by 2ᵏ
/// through the exponent bits. Branch-free, so loops over it vectorise.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const LOWEST: f32 = -87.336_54; // ln of the smallest normal f32
    const HIGHEST: f32 = 88.722_83;
    // Round to nearest by adding and removing 1.5·2²³ (no libm call).
    const SHIFT: f32 = 12_582_912.0;
    let clamped = x.clamp(LOWEST, HIGHEST);
    let k = (clamped * LOG2E + SHIFT) - SHIFT;
    let r = clamped - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2ᵏ: k ∈ [−126, 128]; 2¹²⁸ is split as 2¹²⁷·2 to stay representable.
    let k = k as i32;
    let half = k >> 1;
    let scale = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let y = p * scale(half) * scale(k - half);
    if x < LOWEST {
        0.0
    } else if x > HIGHEST {
        f32::INFINITY
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_within_two_ulp_of_the_f64_exponential() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.5 {
            let exact = (x as f64).exp();
            let err = ((exp_f32(x) as f64 - exact) / exact).abs();
            worst = worst.max(err);
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:.2e}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert!(exp_f32(f32::NEG_INFINITY) == 0.0);
    }
}
