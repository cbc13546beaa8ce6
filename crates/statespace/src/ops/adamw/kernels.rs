//! The CubeCL kernels of the AdamW step and the squared norm, f32.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units per cube of both kernels (eight planes of 32 on CUDA).
pub const UNITS: usize = crate::ops::support::launch::LINEAR_UNITS;

/// Planes per cube at most (UNITS over the smallest plane width, 32).
const MAX_PLANES: usize = UNITS / 32;

/// One AdamW step per element (the formula of
/// [`super::AdamWOps::adamw_update`]); `keep` is 1 − lr·wd, `one_minus_*`
/// 1 − β, `bias*` 1 − βᵗ. One unit per element.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn adamw_update(
    param: &Tensor<f32>,
    grad: &Tensor<f32>,
    m: &Tensor<f32>,
    v: &Tensor<f32>,
    param_out: &mut Tensor<f32>,
    m_out: &mut Tensor<f32>,
    v_out: &mut Tensor<f32>,
    grad_scale: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias1: f32,
    bias2: f32,
    eps: f32,
    lr: f32,
    keep: f32,
) {
    let i = ABSOLUTE_POS;
    if i >= param.len() {
        terminate!();
    }
    let g = grad[i] * grad_scale;
    let m1 = m[i] * beta1 + g * one_minus_beta1;
    let v1 = v[i] * beta2 + g * g * one_minus_beta2;
    m_out[i] = m1;
    v_out[i] = v1;
    let step = (m1 / bias1) / ((v1 / bias2).sqrt() + eps);
    param_out[i] = param[i] * keep - step * lr;
}

/// acc[0] += Σ x² over x (any length): each unit sums a strided share, each
/// cube adds its total with one atomic. `units` is the launch's unit count.
#[cube(launch_unchecked)]
pub fn sum_of_squares(x: &Tensor<f32>, acc: &mut Tensor<Atomic<f32>>, units: u32) {
    let mut planes = SharedMemory::<f32>::new(MAX_PLANES);
    let mut i = ABSOLUTE_POS;
    let mut sum = 0.0f32;
    while i < x.len() {
        let value = x[i];
        sum += value * value;
        i += units as usize;
    }
    let plane_total = plane_sum(sum);
    if UNIT_POS_PLANE == 0 {
        planes[PLANE_POS as usize] = plane_total;
    }
    sync_cube();
    if UNIT_POS == 0 {
        let mut total = 0.0f32;
        for p in 0..CUBE_DIM / PLANE_DIM {
            total += planes[p as usize];
        }
        acc[0].fetch_add(total);
    }
}
