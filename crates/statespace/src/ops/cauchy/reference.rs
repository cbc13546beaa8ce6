//! The Cauchy product from differentiable tensor ops: the reference the
//! fused kernels are tested against, and the GPU path for f64.

use burn::tensor::Tensor;
use num_complex::Complex64;

use crate::complex::ComplexTensor;
use crate::io::tensor_from_f64;
use crate::ops::MatmulOps;
use crate::ops::support::primitive::{float, tensor};

/// Σₙ v[h, r, n] / (nodes\[k\] − z[h, n]) through the (H, N, S) tensor of
/// reciprocals and a batched complex product: v (H, R, N), z (H, N) →
/// (H, R, S). Unchecked (the backends run it on inputs [`super::cauchy`]
/// checked).
pub fn cauchy_composite<B: MatmulOps>(
    v: &ComplexTensor<B, 3>,
    z: &ComplexTensor<B, 2>,
    nodes: &[Complex64],
) -> ComplexTensor<B, 3> {
    let device = z.re.device();
    let dtype = z.re.dtype();
    let count = nodes.len();
    let part = |f: fn(&Complex64) -> f64| {
        tensor_from_f64(nodes.iter().map(f).collect(), [1, 1, count], &device, dtype)
    };
    let s = ComplexTensor::new(part(|s| s.re), part(|s| s.im));
    let w = s.sub(&z.map(|t| t.unsqueeze_dim::<3>(2))).recip(); // (H, N, S)
    let matmul = |a: &Tensor<B, 3>, b: &Tensor<B, 3>| {
        tensor::<B, 3>(B::exact_matmul(float(a.clone()), float(b.clone())))
    };
    ComplexTensor::new(
        matmul(&v.re, &w.re) - matmul(&v.im, &w.im),
        matmul(&v.re, &w.im) + matmul(&v.im, &w.re),
    )
}
