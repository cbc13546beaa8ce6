//! The CubeCL kernels of GELU, f32, one unit per element of packed tensors.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use crate::ops::support::fast_math::ERFC_FIT;

/// 1/(2√2).
const HALF_FRAC_1_SQRT_2: f32 = 0.5 * std::f32::consts::FRAC_1_SQRT_2;

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Φ(v) as the CPU computes it in f32
/// ([`normal_cdf_f32`](crate::ops::support::fast_math::normal_cdf_f32)):
/// ½·erfc(|v|/√2) by Numerical Recipes' fit for v < 0, 1 − ½·erfc(v/√2)
/// above, so the negative tail keeps its relative precision where
/// ½(1 + erf) would cancel.
#[cube]
fn normal_cdf(v: f32) -> f32 {
    let t = 1.0 / (1.0 + HALF_FRAC_1_SQRT_2 * Abs::abs(v));
    let mut fit = f32::new(comptime![ERFC_FIT[9]]);
    #[unroll]
    for i in 0..9usize {
        fit = fit * t + f32::new(comptime![ERFC_FIT[8 - i]]);
    }
    let half_erfc = 0.5 * t * (-0.5 * (v * v) + fit).exp();
    let mut cdf = 1.0 - half_erfc;
    if v < 0.0 {
        cdf = half_erfc;
    }
    cdf
}

/// y = x·Φ(x).
#[cube(launch_unchecked)]
pub fn gelu_forward(x: &Tensor<f32>, y: &mut Tensor<f32>) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let v = x[i];
    y[i] = v * normal_cdf(v);
}

/// ∂x = ∂y·(Φ(x) + x·φ(x)).
#[cube(launch_unchecked)]
pub fn gelu_backward(x: &Tensor<f32>, grad: &Tensor<f32>, grad_x: &mut Tensor<f32>) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let v = x[i];
    let cdf = normal_cdf(v);
    let density = (-0.5 * v * v).exp() * FRAC_1_SQRT_2PI;
    grad_x[i] = grad[i] * (cdf + v * density);
}
