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
    let shifted = clamped * LOG2E + SHIFT;
    let k = shifted - SHIFT;
    // The integer k sits in the low mantissa bits of `shifted`; reading it
    // there (instead of a float → int cast) keeps the loop vectorisable.
    let k_int = shifted.to_bits() as i32 - SHIFT.to_bits() as i32;
    let r = clamped - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2ᵏ: k ∈ [−126, 128]; 2¹²⁸ is split as 2¹²⁷·2 to stay representable.
    let half = k_int >> 1;
    let scale = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let y = p * scale(half) * scale(k_int - half);
    if x < LOWEST {
        0.0
    } else if x > HIGHEST {
        f32::INFINITY
    } else {
        y
    }
}

/// The Chebyshev fit erfc(z) ≈ t·exp(−z² + Σᵢ ERFC_FIT[i]·tⁱ), t = 1/(1 + z/2),
/// z ≥ 0, of Numerical Recipes (2nd ed., §6.2): fractional error below
/// 1.2·10⁻⁷ everywhere. [`normal_cdf_f32`] and the GPU's GELU kernel use it.
pub(crate) const ERFC_FIT: [f32; 10] = [
    -1.265_512_2,
    1.000_023_7,
    0.374_091_96,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_07,
    -1.135_204,
    1.488_515_9,
    -0.822_152_23,
    0.170_872_77,
];

/// Φ(x), the standard normal distribution function, in f32 with its
/// relative precision kept in the negative tail: ½·erfc(|x|/√2) by
/// [`ERFC_FIT`] for x < 0 and 1 − ½·erfc(x/√2) above, one formula on both
/// sides (½(1 + erf(x/√2)) would cancel below x ≈ −1: at x = −3 it keeps 3
/// of erf's 7 digits). Within 1·10⁻⁶ relative of the exact Φ for x ≥ −4
/// and 8·10⁻⁶ down to −13, the f32 rounding of −x²/2 growing with x², and
/// within 2·10⁻⁷ absolute for x ≥ 0. Branch-free, so loops over it
/// vectorise; one formula instead of ½(1 + erf) above −1 with the fit
/// below, both evaluated (as this was until 2026-12-07).
#[inline(always)]
pub(crate) fn normal_cdf_f32(x: f32) -> f32 {
    let t = 1.0 / (1.0 + (0.5 * std::f32::consts::FRAC_1_SQRT_2) * x.abs());
    let fit = ERFC_FIT.iter().rev().fold(0.0, |acc, &k| acc * t + k);
    let half_erfc = 0.5 * t * exp_f32(-0.5 * (x * x) + fit);
    if x < 0.0 { half_erfc } else { 1.0 - half_erfc }
}

/// ln(1 + y) in f32 for y ∈ [0, 1], within 2 ulp: 2·atanh(s) with
/// s = y/(2 + y) ≤ 1/3, by its series to s¹⁷ (truncation < 2·10⁻¹⁰
/// relative). Forming s instead of 1 + y keeps the full relative precision
/// for small y. Branch-free, so loops over it vectorise.
#[inline(always)]
pub(crate) fn ln_1p_unit_f32(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let s2 = s * s;
    let series = [17.0f32, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0]
        .iter()
        .fold(0.0, |acc, &k| acc * s2 + 1.0 / k);
    2.0 * s * series
}

/// softplus(x) = ln(1 + eˣ) in f32, x itself above 20 (as torch): max(x, 0) +
/// ln(1 + e^{−|x|}) with [`exp_f32`] and [`ln_1p_unit_f32`], within a few
/// ulp. Branch-free, so loops over it vectorise.
#[inline(always)]
pub(crate) fn softplus_f32(x: f32) -> f32 {
    let smooth = x.max(0.0) + ln_1p_unit_f32(exp_f32(-x.abs()));
    if x > 20.0 { x } else { smooth }
}

/// [`exp_f32`] on eight lanes with AVX2 and FMA, for loops the compiler
/// does not vectorise by itself.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    /// eˣ per lane, as [`super::exp_f32`] (the reduction fused, so the
    /// result may differ from it in the last bit).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn exp(x: __m256) -> __m256 {
        const LOWEST: f32 = -87.336_54;
        const HIGHEST: f32 = 88.722_83;
        const SHIFT: f32 = 12_582_912.0;
        let set = _mm256_set1_ps;
        // max(lo, x) and min(hi, ·) pass a NaN x through (second operand).
        let clamped = _mm256_min_ps(set(HIGHEST), _mm256_max_ps(set(LOWEST), x));
        let shifted = _mm256_fmadd_ps(clamped, set(std::f32::consts::LOG2_E), set(SHIFT));
        let k = _mm256_sub_ps(shifted, set(SHIFT));
        let k_int = _mm256_sub_epi32(
            _mm256_castps_si256(shifted),
            _mm256_set1_epi32(SHIFT.to_bits() as i32),
        );
        let r = _mm256_fnmadd_ps(k, set(0.693_145_75), clamped);
        let r = _mm256_fnmadd_ps(k, set(1.428_606_8e-6), r);
        let mut p = set(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm256_fmadd_ps(p, r, set(c));
        }
        let half = _mm256_srai_epi32::<1>(k_int);
        let scale = |e: __m256i| {
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                e,
                _mm256_set1_epi32(127),
            )))
        };
        let y = _mm256_mul_ps(
            _mm256_mul_ps(p, scale(half)),
            scale(_mm256_sub_epi32(k_int, half)),
        );
        let y = _mm256_blendv_ps(
            y,
            _mm256_setzero_ps(),
            _mm256_cmp_ps::<_CMP_LT_OQ>(x, set(LOWEST)),
        );
        _mm256_blendv_ps(
            y,
            set(f32::INFINITY),
            _mm256_cmp_ps::<_CMP_GT_OQ>(x, set(HIGHEST)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_within_two_ulp_of_the_f64_exponential() {
        let mut x = -87.0f32;
        while x < 88.5 {
            let exact = (x as f64).exp();
            let err = ((exp_f32(x) as f64 - exact) / exact).abs();
            // Fails on a NaN too.
            assert!(err < 2.5e-7, "e^{x}: relative error {err:.2e}");
            x += 0.0137;
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert!(exp_f32(f32::NEG_INFINITY) == 0.0);
    }

    /// Relative to the exact Φ of the same f32 input (libm's f64 erfc):
    /// the negative tail keeps its precision, where ½(1 + erf) in f32 is
    /// off by 10⁻⁴ at x = −3.5.
    #[test]
    fn normal_cdf_f32_keeps_its_relative_precision_in_the_tail() {
        let mut x = -13.0f32;
        while x < 6.0 {
            let exact = 0.5 * libm::erfc(-(x as f64) / std::f64::consts::SQRT_2);
            let err = ((normal_cdf_f32(x) as f64 - exact) / exact).abs();
            let bound = if x >= -4.0 { 1e-6 } else { 8e-6 };
            assert!(err < bound, "Φ({x}): relative error {err:.2e}");
            // 1 − ½·erfc above zero: absolute error as the erf form's.
            let abs = (normal_cdf_f32(x) as f64 - exact).abs();
            assert!(x < 0.0 || abs < 2e-7, "Φ({x}): error {abs:.2e}");
            x += 0.000_937;
        }
        assert_eq!(normal_cdf_f32(f32::INFINITY), 1.0);
        assert_eq!(normal_cdf_f32(f32::NEG_INFINITY), 0.0);
        assert!(normal_cdf_f32(f32::NAN).is_nan());
    }

    #[test]
    fn softplus_f32_is_within_a_few_ulp_of_the_f64_formula() {
        let mut x = -90.0f32;
        while x < 30.0 {
            let exact = if x > 20.0 {
                x as f64
            } else {
                (x as f64).exp().ln_1p()
            };
            let got = softplus_f32(x) as f64;
            let err = ((got - exact) / exact).abs();
            // Fails on a NaN too; e^x underflows to 0 below about −87.3.
            assert!(
                err < 5e-7 || (exact < 1.2e-38 && got == 0.0),
                "softplus({x}): {got} vs {exact}, {err:.2e}"
            );
            x += 0.00913;
        }
        let mut y = 0.0f32;
        while y <= 1.0 {
            let exact = (y as f64).ln_1p();
            let err = ((ln_1p_unit_f32(y) as f64 - exact) / exact.max(1e-300)).abs();
            assert!(err < 2.5e-7, "ln(1 + {y}): {err:.2e}");
            y += 0.000_37;
        }
        assert_eq!(ln_1p_unit_f32(0.0), 0.0);
        assert!(softplus_f32(f32::NAN).is_nan());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_exponential_matches_the_scalar_one() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        // The special values first, so that they fill whole 8-lane chunks.
        let xs: Vec<f32> = [
            f32::NEG_INFINITY,
            f32::INFINITY,
            0.0,
            -0.0,
            88.7,
            -87.3,
            -87.4,
            f32::MIN_POSITIVE,
        ]
        .into_iter()
        .chain((0..4000).map(|i| -95.0 + i as f32 * 0.0471))
        .collect();
        assert_eq!(xs.len() % 8, 0, "every value is in a full chunk");
        for chunk in xs.chunks(8) {
            let mut out = [0.0f32; 8];
            // SAFETY: the features were detected above; the pointers cover 8 values.
            unsafe {
                use std::arch::x86_64::*;
                let v = avx2::exp(_mm256_loadu_ps(chunk.as_ptr()));
                _mm256_storeu_ps(out.as_mut_ptr(), v);
            }
            for (&x, &got) in chunk.iter().zip(&out) {
                let want = exp_f32(x);
                let close = got == want || ((got - want) / want).abs() < 2.5e-7;
                assert!(close, "e^{x}: {got} vs {want}");
            }
        }
        let nan = [f32::NAN; 8];
        // SAFETY: as above.
        let out = unsafe {
            use std::arch::x86_64::*;
            let mut out = [0.0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), avx2::exp(_mm256_loadu_ps(nan.as_ptr())));
            out
        };
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
