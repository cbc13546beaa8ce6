//! The Vandermonde product from differentiable tensor ops: the reference the
//! fused kernels are tested against, and the GPU path for f64.

use burn::tensor::Tensor;

use crate::complex::ComplexTensor;
use crate::io::tensor_from_f64;
use crate::ops::matmul::MatmulOps;
use crate::ops::support::primitive::{float, tensor};

/// 2·Re Σₙ coef[c, h, n] · exp(l · w[h, n]) via an (H, N, L) tensor of powers.
/// Unchecked (the backends run it on inputs [`super::vandermonde`] checked):
/// w (H, N), coef (C, H, N).
pub fn vandermonde_composite<B: MatmulOps>(
    w: &ComplexTensor<B, 2>,
    coef: &ComplexTensor<B, 3>,
    len: usize,
) -> Tensor<B, 3> {
    let device = w.re.device();
    let positions = tensor_from_f64(
        (0..len).map(|l| l as f64).collect(),
        [1, 1, len],
        &device,
        w.re.dtype(),
    );
    let powers = w
        .map(|t| t.unsqueeze_dim::<3>(2))
        .mul_real(&positions)
        .exp(); // (H, N, L)
    let coef = coef.map(|t| t.swap_dims(0, 1)); // (H, C, N)
    let matmul =
        |a: Tensor<B, 3>, b: Tensor<B, 3>| tensor::<B, 3>(B::exact_matmul(float(a), float(b)));
    let re = matmul(coef.re, powers.re) - matmul(coef.im, powers.im);
    re.swap_dims(0, 1).mul_scalar(2.0)
}
