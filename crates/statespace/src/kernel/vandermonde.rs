//! Kernels of diagonal systems (S4D, DSS) as a Vandermonde product.

use burn::tensor::Tensor;

use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::{VandermondeOps, vandermonde};

/// K[c, h, l] = 2·Re Σₙ coef[c, h, n] · exp(l · log_a[h, n]) for l in 0..len.
///
/// `log_a` (H, N) is log Ā (for ZOH simply ΔA), `coef` (C, H, N) is C·B̄.
/// The factor 2 sums the implicit conjugate half of the spectrum. Returns
/// (C, H, len) in the dtype of the inputs. Fails as [`vandermonde()`] does.
pub fn vandermonde_kernel<B: VandermondeOps>(
    log_a: &ComplexTensor<B, 2>,
    coef: &ComplexTensor<B, 3>,
    len: usize,
) -> Result<Tensor<B, 3>> {
    vandermonde(log_a, coef, len)
}

/// The kernel of a diagonal continuous system, one backend op each way.
pub use crate::ops::diagonal_kernel::diagonal_kernel;
