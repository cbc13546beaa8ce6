//! The CubeCL kernels of GELU, f32, one unit per element of packed tensors.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// 1/√2.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// y = x·Φ(x).
#[cube(launch_unchecked)]
pub fn gelu_forward(x: &Tensor<f32>, y: &mut Tensor<f32>) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let v = x[i];
    y[i] = v * 0.5 * (1.0 + Erf::erf(v * FRAC_1_SQRT_2));
}

/// ∂x = ∂y·(Φ(x) + x·φ(x)).
#[cube(launch_unchecked)]
pub fn gelu_backward(x: &Tensor<f32>, grad: &Tensor<f32>, grad_x: &mut Tensor<f32>) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let v = x[i];
    let cdf = 0.5 * (1.0 + Erf::erf(v * FRAC_1_SQRT_2));
    let density = (-0.5 * v * v).exp() * FRAC_1_SQRT_2PI;
    grad_x[i] = grad[i] * (cdf + v * density);
}
