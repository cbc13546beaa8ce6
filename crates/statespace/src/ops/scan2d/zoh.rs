//! The zero-order-hold terms of the 2-D scan's discretisation without
//! cancellation. With x = s·a (step s, rate a):
//!
//! - φ(s, a) = (eˣ − 1)/a = s·E₁(x), E₁(x) = (eˣ − 1)/x;
//! - ∂φ/∂a = (s·eˣ − φ)/a = s²·E₂(x), E₂(x) = ((x − 1)eˣ + 1)/x² = (eˣ − E₁(x))/x.
//!
//! The direct forms lose about log₁₀(2/|x|) digits as x → 0 (in f32 the
//! GPU and the CPU then differed by 1.1·10⁻⁵ on ∂A₁ of the parity case
//! `scan2d b1 T1 V5 E4 N3`, over its tolerance), and φ(s, 0) is s, not 0/0.
//! Below |x| = 1/2 both come from their Taylor series, E₁ = Σ xᵏ/(k+1)! and
//! E₂ = Σ (k+1)·xᵏ/(k+2)!; above it the direct forms lose under one digit.
//! The GPU kernels (`kernels.rs`) evaluate the same forms in f32.

use num_traits::Float;

/// |x| below which the series are used.
const SERIES_BELOW: f64 = 0.5;

/// Terms of each series: at |x| = 1/2 the first one left out is below
/// 10⁻²⁰ of the sum, under f64's rounding.
const TERMS: usize = 18;

/// Coefficients of E₁ (`second` false) or E₂ (true), lowest power first.
const fn coefficients(second: bool) -> [f64; TERMS] {
    let mut c = [0.0; TERMS];
    // (k + 1)! and (k + 2)!, built up as k grows.
    let (mut f1, mut f2) = (1.0, 2.0);
    let mut k = 0;
    while k < TERMS {
        c[k] = if second {
            (k + 1) as f64 / f2
        } else {
            1.0 / f1
        };
        f1 *= (k + 2) as f64;
        f2 *= (k + 3) as f64;
        k += 1;
    }
    c
}

const E1_SERIES: [f64; TERMS] = coefficients(false);
const E2_SERIES: [f64; TERMS] = coefficients(true);

/// Σ cₖ·xᵏ by Horner's rule.
fn series<T: Float>(c: &[f64; TERMS], x: T) -> T {
    c.iter().rev().fold(T::zero(), |acc, &ck| {
        acc * x + T::from(ck).expect("a float")
    })
}

/// E₁(x) = (eˣ − 1)/x (1 at 0).
fn e1<T: Float>(x: T) -> T {
    if x.abs() < T::from(SERIES_BELOW).expect("a float") {
        series(&E1_SERIES, x)
    } else {
        x.exp_m1() / x
    }
}

/// E₂(x) = ((x − 1)eˣ + 1)/x² (1/2 at 0).
fn e2<T: Float>(x: T) -> T {
    if x.abs() < T::from(SERIES_BELOW).expect("a float") {
        series(&E2_SERIES, x)
    } else {
        (x.exp() - e1(x)) / x
    }
}

/// φ = (e^{s·a} − 1)/a for step `s` and rate `a`.
pub(super) fn phi<T: Float>(s: T, a: T) -> T {
    s * e1(s * a)
}

/// ∂φ/∂a at step `s` and rate `a`.
pub(super) fn phi_rate_slope<T: Float>(s: T, a: T) -> T {
    s * s * e2(s * a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E₁ and E₂ in f64 from their direct forms, far enough from 0.
    fn direct(x: f64) -> (f64, f64) {
        let e1 = x.exp_m1() / x;
        (e1, ((x - 1.0) * x.exp() + 1.0) / (x * x))
    }

    #[test]
    fn series_and_direct_forms_meet_at_the_switch() {
        for x in [-0.5, -0.4999999, 0.4999999, 0.5, -0.3, 0.2] {
            let (e1_direct, e2_direct) = direct(x);
            assert!((e1(x) - e1_direct).abs() < 1e-14, "E1({x})");
            assert!((e2(x) - e2_direct).abs() < 1e-13, "E2({x})");
        }
        assert_eq!(e1(0.0f64), 1.0);
        assert_eq!(e2(0.0f64), 0.5);
    }

    /// In f32, φ and ∂φ/∂a stay within a few units of f32 rounding of the
    /// f64 values where the direct forms cancel (s·a from −10⁻⁴ to −2).
    #[test]
    fn f32_terms_keep_their_digits_near_zero() {
        for (s, a) in [
            (0.01f32, -0.01f32),
            (0.02, -0.25),
            (0.5, -0.2),
            (0.3, -3.0),
            (0.5, -4.0),
        ] {
            let (s64, a64) = (s as f64, a as f64);
            let phi64 = (s64 * a64).exp_m1() / a64;
            let slope64 = (s64 * (s64 * a64).exp() - phi64) / a64;
            let rel = |ours: f32, exact: f64| ((ours as f64 - exact) / exact).abs();
            assert!(rel(phi(s, a), phi64) < 5e-7, "φ({s}, {a})");
            assert!(rel(phi_rate_slope(s, a), slope64) < 5e-7, "∂φ/∂a({s}, {a})");
            // The direct f32 form of the slope loses digits here.
            if (s * a).abs() < 0.01 {
                let phi_direct = ((s * a).exp() - 1.0) / a;
                let slope_direct = (s * (s * a).exp() - phi_direct) / a;
                assert!(rel(slope_direct, slope64) > 1e-5, "direct ({s}, {a})");
            }
        }
    }
}
