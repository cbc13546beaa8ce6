//! The Cauchy product from differentiable tensor ops: the reference the
//! fused kernels are tested against, and the GPU path for f64.

use num_complex::Complex64;

use crate::complex::ComplexTensor;
use crate::io::tensor_from_f64;
use crate::kernel::dplr::complex_matmul;
use crate::ops::MatmulOps;

/// Σₙ v[h, r, n] / (nodes[k] − z[h, n]) through the (H, N, S) tensor of
/// reciprocals and a batched complex product: v (H, R, N), z (H, N) →
/// (H, R, S).
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
    let reciprocals = s.sub(&z.map(|t| t.unsqueeze_dim::<3>(2))).recip(); // (H, N, S)
    complex_matmul(v, &reciprocals)
}
