//! Kernels of diagonal systems (S4D, DSS) as a Vandermonde product.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::complex::ComplexTensor;
use crate::discretize::{Discretization, diagonal};
use crate::error::Result;
use crate::ops::{VandermondeOps, vandermonde};

/// K[c, h, l] = 2·Re Σₙ coef[c, h, n] · exp(l · log_a[h, n]) for l in 0..len.
///
/// `log_a` (H, N) is log Ā (for ZOH simply ΔA), `coef` (C, H, N) is C·B̄.
/// The factor 2 sums the implicit conjugate half of the spectrum. Returns
/// (C, H, len) in the dtype of the inputs. Fails as [`vandermonde`] does.
pub fn vandermonde_kernel<B: VandermondeOps>(
    log_a: &ComplexTensor<B, 2>,
    coef: &ComplexTensor<B, 3>,
    len: usize,
) -> Result<Tensor<B, 3>> {
    vandermonde(log_a, coef, len)
}

/// The kernel of a diagonal continuous system, one backend op each way.
pub use crate::ops::diagonal_kernel::diagonal_kernel;

/// The kernel of a diagonal continuous system (A, B, C) sampled with step Δ
/// from tensor ops (discretisation, then the Vandermonde product): the
/// reference [`diagonal_kernel`] is tested against.
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
    vandermonde_kernel(&log_a, &coef, len)
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
