//! The CubeCL kernels of the norm: one plane of [`LANES`] units per row
//! (the lanes stride the row, so loads are coalesced, and the row's sums
//! are plane reductions), [`ROWS_PER_CUBE`] rows per cube. x, the weight,
//! the bias, y and their gradients are stored in `F` (f32, bf16 or f16:
//! mixed precision reads and writes 16 bits); the arithmetic, the row
//! statistics and ∂y·x̂ (whose column sums are ∂w) are f32.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units per row: one CUDA warp.
pub const LANES: usize = 32;

/// Rows (planes) per cube.
pub const ROWS_PER_CUBE: usize = 8;

/// y = (x − μ)·r·w (+ b) per row of x (rows, `dim`), packed; writes μ (0
/// unless `centred`) and r per row. `bias` is read only when `has_bias`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn norm_forward<F: Float>(
    x: &Tensor<F>,
    weight: &Tensor<F>,
    bias: &Tensor<F>,
    y: &mut Tensor<F>,
    mean_out: &mut Tensor<f32>,
    rstd_out: &mut Tensor<f32>,
    dim: u32,
    eps: f32,
    #[comptime] centred: bool,
    #[comptime] has_bias: bool,
    #[define(F)] _dtype: StorageType,
) {
    let dim = dim as usize;
    let row = CUBE_POS_X as usize * ROWS_PER_CUBE + UNIT_POS_Y as usize;
    if row >= mean_out.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * dim;
    let scale = 1.0f32 / f32::cast_from(dim);
    let mut mean = 0.0f32;
    if centred {
        let mut sum = 0.0f32;
        let mut j = lane;
        while j < dim {
            sum += f32::cast_from(x[base + j]);
            j += LANES;
        }
        mean = plane_sum(sum) * scale;
    }
    let mut sum_sq = 0.0f32;
    let mut j = lane;
    while j < dim {
        let c = f32::cast_from(x[base + j]) - mean;
        sum_sq += c * c;
        j += LANES;
    }
    let rstd = 1.0f32 / (plane_sum(sum_sq) * scale + eps).sqrt();
    let mut j = lane;
    while j < dim {
        let mut value = (f32::cast_from(x[base + j]) - mean) * rstd * f32::cast_from(weight[j]);
        if has_bias {
            value += f32::cast_from(bias[j]);
        }
        y[base + j] = F::cast_from(value);
        j += LANES;
    }
    if lane == 0 {
        mean_out[row] = mean;
        rstd_out[row] = rstd;
    }
}

/// ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row (the mean(ĝ) term only
/// when `centred`), with x̂ = (x − μ)·r and ĝ = ∂y·w; also writes ∂y·x̂
/// (rows, `dim`) in f32, whose column sums are ∂w. All tensors packed.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn norm_backward<F: Float>(
    x: &Tensor<F>,
    weight: &Tensor<F>,
    mean: &Tensor<f32>,
    rstd: &Tensor<f32>,
    grad_y: &Tensor<F>,
    grad_x: &mut Tensor<F>,
    grad_y_x_hat: &mut Tensor<f32>,
    dim: u32,
    #[comptime] centred: bool,
    #[define(F)] _dtype: StorageType,
) {
    let dim = dim as usize;
    let row = CUBE_POS_X as usize * ROWS_PER_CUBE + UNIT_POS_Y as usize;
    if row >= mean.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * dim;
    let scale = 1.0f32 / f32::cast_from(dim);
    let (mu, r) = (mean[row], rstd[row]);
    let mut sum_g = 0.0f32;
    let mut sum_gx = 0.0f32;
    let mut j = lane;
    while j < dim {
        let g_hat = f32::cast_from(grad_y[base + j]) * f32::cast_from(weight[j]);
        sum_g += g_hat;
        sum_gx += g_hat * (f32::cast_from(x[base + j]) - mu) * r;
        j += LANES;
    }
    let mean_gx = plane_sum(sum_gx) * scale;
    let mut mean_g = 0.0f32;
    if centred {
        mean_g = plane_sum(sum_g) * scale;
    }
    let mut j = lane;
    while j < dim {
        let g = f32::cast_from(grad_y[base + j]);
        let x_hat = (f32::cast_from(x[base + j]) - mu) * r;
        grad_x[base + j] =
            F::cast_from(r * (g * f32::cast_from(weight[j]) - mean_g - x_hat * mean_gx));
        grad_y_x_hat[base + j] = g * x_hat;
        j += LANES;
    }
}
