//! The diagonal kernel from tensor ops (discretisation, then the
//! Vandermonde product): the reference the fused op is tested against, and
//! the f64 forward of CubeCL devices.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::complex::ComplexTensor;
use crate::discretize::{Discretization, diagonal};
use crate::error::Result;
use crate::ops::vandermonde::{VandermondeOps, vandermonde};

/// The kernel of a diagonal continuous system (A, B, C) sampled with step Δ
/// from tensor ops (discretisation, then the Vandermonde product): the
/// reference [`super::diagonal_kernel`] is tested against.
/// `dt` (H), `a` (H, N), `b` (H, N), `c` (C, H, N) → K (C, H, len).
///
/// ZOH: K_l = 2·Re Σ C B (e^{ΔA} − 1)/A · e^{lΔA};
/// bilinear: K_l = 2·Re Σ C Δ B/(1 − ΔA/2) · ((1 + ΔA/2)/(1 − ΔA/2))ˡ.
///
/// Fails as [`vandermonde`] does (the discretisation itself is unchecked).
pub fn diagonal_kernel_composite<B: VandermondeOps>(
    dt: &Tensor<B, 1>,
    a: &ComplexTensor<B, 2>,
    b: &ComplexTensor<B, 2>,
    c: &ComplexTensor<B, 3>,
    rule: Discretization,
    len: usize,
) -> Result<Tensor<B, 3>> {
    let (log_a, coef) = vandermonde_factors(dt, a, b, c, rule);
    vandermonde(&log_a, &coef, len)
}

/// The Vandermonde product's inputs for a diagonal system, from tensor ops:
/// log Ā (H, N) and C·B̄ (C, H, N) of `dt` (H), `a`, `b` (H, N) and `c`
/// (C, H, N) sampled by `rule`. Unchecked.
pub fn vandermonde_factors<B: Backend>(
    dt: &Tensor<B, 1>,
    a: &ComplexTensor<B, 2>,
    b: &ComplexTensor<B, 2>,
    c: &ComplexTensor<B, 3>,
    rule: Discretization,
) -> (ComplexTensor<B, 2>, ComplexTensor<B, 3>) {
    let dt = dt.clone().unsqueeze_dim::<2>(1); // (H, 1)
    let dt_a = a.mul_real(&dt);
    let dt_b = b.mul_real(&dt);
    let (a_bar, b_bar) = diagonal(&dt_a, &dt_b, rule);
    let log_a = match rule {
        Discretization::Zoh => dt_a,
        Discretization::Bilinear => a_bar.log(),
    };
    let coef = c.mul(&b_bar.map(|t| t.unsqueeze_dim::<3>(0)));
    (log_a, coef)
}
