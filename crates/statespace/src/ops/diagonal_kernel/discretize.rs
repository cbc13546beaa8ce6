//! The discretisation of one mode (Δ, A, B) ↦ (w, p) and its gradient in
//! scalar arithmetic: the CPU op's, and the formulas the GPU kernels
//! transcribe (see the module docs of [`super`] for the notation).

use num_complex::Complex;
use num_traits::Float;

use crate::discretize::Discretization;

/// Terms of the Taylor series of φ₁ below [`SERIES_RADIUS`]: the last
/// term's size, ½¹⁶/17!, is below f64's resolution.
pub(crate) const SERIES_TERMS: usize = 16;

/// |z| below which φ₁ is summed as its series.
pub(crate) const SERIES_RADIUS: f64 = 0.5;

/// φ₁(z) = (eᶻ − 1)/z and its derivative φ₁′(z) = (eᶻ(z − 1) + 1)/z²,
/// accurate near z = 0 where both closed forms cancel (an S4D mode with a
/// small step has |z| ≈ 10⁻⁴): below [`SERIES_RADIUS`] summed as
/// φ₁ = Σₖ zᵏ/(k+1)!, φ₁′ = Σₖ (k+1)·zᵏ/(k+2)!.
pub(crate) fn phi1<T: Float>(z: Complex<T>) -> (Complex<T>, Complex<T>) {
    let one = Complex::new(T::one(), T::zero());
    let radius = T::from(SERIES_RADIUS).expect("representable");
    if z.norm_sqr() < radius * radius {
        let zero = Complex::new(T::zero(), T::zero());
        let (mut f, mut d, mut term) = (zero, zero, one);
        for k in 0..SERIES_TERMS {
            let k = T::from(k).expect("representable");
            let two = T::from(2.0).expect("representable");
            f = f + term;
            d = d + term * ((k + T::one()) / (k + two));
            term = term * z / (k + two);
        }
        (f, d)
    } else {
        let e = z.exp();
        ((e - one) / z, (e * (z - one) + one) / (z * z))
    }
}

/// log(1 + u) of a complex u, accurate for small u.
fn ln_1p<T: Float>(u: Complex<T>) -> Complex<T> {
    let two = T::from(2.0).expect("representable");
    Complex::new(
        (two * u.re + u.norm_sqr()).ln_1p() / two,
        u.im.atan2(T::one() + u.re),
    )
}

/// (w, p) of one mode: log Ā and B̄. ZOH: w = z, p = B·Δ·φ₁(z); bilinear:
/// w = log(1 + z/d) with d = 1 − z/2 (= log Ā without forming Ā ≈ 1),
/// p = B·Δ/d.
pub(crate) fn discretize<T: Float>(
    dt: T,
    a: Complex<T>,
    b: Complex<T>,
    rule: Discretization,
) -> (Complex<T>, Complex<T>) {
    let one = Complex::new(T::one(), T::zero());
    let half = T::from(0.5).expect("representable");
    let z = a * dt;
    match rule {
        Discretization::Zoh => (z, b * phi1(z).0 * dt),
        Discretization::Bilinear => {
            let den = one - z * half;
            (ln_1p(z / den), b * dt / den)
        }
    }
}

/// (∂Δ, ∂A, ∂B) of one mode from ∂w and ∂p.
pub(crate) fn discretize_backward<T: Float>(
    dt: T,
    a: Complex<T>,
    b: Complex<T>,
    rule: Discretization,
    grad_w: Complex<T>,
    grad_p: Complex<T>,
) -> (T, Complex<T>, Complex<T>) {
    let one = Complex::new(T::one(), T::zero());
    let half = T::from(0.5).expect("representable");
    let z = a * dt;
    let grad_q = grad_p * b.conj();
    match rule {
        Discretization::Zoh => {
            // w = z; p = B·q, q = Δ·φ₁(z): ∂q/∂A = Δ²·φ₁′(z), ∂q/∂Δ = eᶻ.
            let (f, d) = phi1(z);
            let grad_a = grad_w * dt + grad_q * (d * dt * dt).conj();
            let grad_dt = (grad_w * a.conj()).re + (grad_q * z.exp().conj()).re;
            (grad_dt, grad_a, grad_p * (f * dt).conj())
        }
        Discretization::Bilinear => {
            // w = log(n/d) with n = 1 + z/2, d = 1 − z/2: ∂w/∂z = 1/(n·d);
            // p = B·q, q = Δ/d: ∂q/∂z = Δ/(2d²), ∂q/∂Δ (z fixed) = 1/d.
            let (num, den) = (one + z * half, one - z * half);
            let q = one * dt / den;
            let grad_z = grad_w * (one / (num * den)).conj()
                + grad_q * (one * (dt * half) / (den * den)).conj();
            let grad_dt = (grad_z * a.conj()).re + (grad_q * (one / den).conj()).re;
            (grad_dt, grad_z * dt, grad_p * q.conj())
        }
    }
}
