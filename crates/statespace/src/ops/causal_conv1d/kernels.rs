//! The CubeCL kernels of the causal depthwise convolution, f32, channel-last:
//! x (B, L, D) and history (B, K − 1, D) at any strides (Mamba-2 passes a
//! slice of its projection), weight (D, K), bias (D) and everything written
//! contiguous. Consecutive units take consecutive channels, so every read
//! and write is coalesced.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Channels per cube of [`conv_weight_grads`] (one plane).
pub const CHANNELS: usize = 32;
/// Row groups per cube of [`conv_weight_grads`].
pub const ROW_GROUPS: usize = 8;

/// x̃[b, s, d] for s < K − 1 + L: the history, then x.
#[cube]
fn padded_input(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    b: usize,
    s: usize,
    d: usize,
    #[comptime] taps: usize,
) -> f32 {
    if s < taps - 1 {
        history[b * history.stride(0) + s * history.stride(1) + d * history.stride(2)]
    } else {
        let t = s - (taps - 1);
        x[b * x.stride(0) + t * x.stride(1) + d * x.stride(2)]
    }
}

/// bias[d] + Σ_i w[d, i] · x̃[b, t + i, d].
#[cube]
fn pre_activation(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    b: usize,
    t: usize,
    d: usize,
    #[comptime] taps: usize,
) -> f32 {
    let mut acc = bias[d];
    #[unroll]
    for i in 0..taps {
        acc += weight[d * taps + i] * padded_input(x, history, b, t + i, d, taps);
    }
    acc
}

/// (b, t, d) of element `pos` of a contiguous (B, rows, D) tensor.
#[cube]
fn position(pos: usize, rows: usize, dim: usize) -> (usize, usize, usize) {
    (pos / (dim * rows), (pos / dim) % rows, pos % dim)
}

/// y = act(pre-activation), y (B, L, D). One unit per element.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_forward(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    y: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
    #[comptime] silu: bool,
) {
    let pos = ABSOLUTE_POS;
    if pos >= y.len() {
        terminate!();
    }
    let (b, t, d) = position(pos, len as usize, dim as usize);
    let p = pre_activation(x, history, weight, bias, b, t, d, taps);
    if silu {
        y[pos] = p / (1.0 + (-p).exp());
    } else {
        y[pos] = p;
    }
}

/// ĝ = ∂y · silu′(p) with the pre-activation p recomputed, ĝ (B, L, D)
/// contiguous; silu′(p) = σ(p)·(1 + p·(1 − σ(p))). One unit per element.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_silu_grad(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    grad_y: &Tensor<f32>,
    grad_pre: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
) {
    let pos = ABSOLUTE_POS;
    if pos >= grad_pre.len() {
        terminate!();
    }
    let (b, t, d) = position(pos, len as usize, dim as usize);
    let p = pre_activation(x, history, weight, bias, b, t, d, taps);
    let s = 1.0 / (1.0 + (-p).exp());
    let g = grad_y[b * grad_y.stride(0) + t * grad_y.stride(1) + d * grad_y.stride(2)];
    grad_pre[pos] = g * s * (1.0 + p * (1.0 - s));
}

/// ∂x̃[b, s, d] = Σ_i w[d, i] · ĝ[b, s − i, d] over 0 ≤ s − i < L, split
/// into ∂history (B, K − 1, D) for s < K − 1 and ∂x (B, L, D) after. ĝ
/// (B, L, D) contiguous. One unit per element of x̃.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_input_grads(
    grad_pre: &Tensor<f32>,
    weight: &Tensor<f32>,
    grad_x: &mut Tensor<f32>,
    grad_history: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
) {
    let (len, dim) = (len as usize, dim as usize);
    let padded = len + taps - 1;
    let pos = ABSOLUTE_POS;
    if pos >= grad_x.len() + grad_history.len() {
        terminate!();
    }
    let (b, s, d) = position(pos, padded, dim);
    let mut acc = 0.0f32;
    #[unroll]
    for i in 0..taps {
        // t = s − i, kept unsigned: s + (K − 1 − i) − (K − 1).
        let shifted = s + (taps - 1 - i);
        if shifted >= taps - 1 && shifted - (taps - 1) < len {
            let t = shifted - (taps - 1);
            acc += weight[d * taps + i] * grad_pre[(b * len + t) * dim + d];
        }
    }
    if s < taps - 1 {
        grad_history[(b * (taps - 1) + s) * dim + d] = acc;
    } else {
        grad_x[(b * len + s - (taps - 1)) * dim + d] = acc;
    }
}

/// ∂w[d, i] += Σ ĝ[b, t, d] · x̃[b, t + i, d] and ∂bias[d] += Σ ĝ[b, t, d]
/// over a block of rows (b, t) per cube: cubes (⌈D / CHANNELS⌉, blocks),
/// units (CHANNELS, ROW_GROUPS); each cube adds its sums with atomics.
/// ∂w is addressed through its strides: burn pads the rows of the
/// zero-filled tensors it allocates (a (D, 2) tensor has a row stride of 4).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_weight_grads(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    grad_pre: &Tensor<f32>,
    grad_weight: &mut Tensor<Atomic<f32>>,
    grad_bias: &mut Tensor<Atomic<f32>>,
    len: u32,
    dim: u32,
    rows_per_cube: u32,
    #[comptime] taps: usize,
) {
    let (len, dim, rows_per_cube) = (len as usize, dim as usize, rows_per_cube as usize);
    let sums_per_unit = taps + 1;
    let mut shared = SharedMemory::<f32>::new(ROW_GROUPS * CHANNELS * (taps + 1));
    let d = CUBE_POS_X as usize * CHANNELS + UNIT_POS_X as usize;
    let group = UNIT_POS_Y as usize;
    let rows = grad_pre.len() / dim;
    let start = CUBE_POS_Y as usize * rows_per_cube;
    let mut end = start + rows_per_cube;
    if end > rows {
        end = rows;
    }
    let mut sums = Array::<f32>::new(taps + 1);
    #[unroll]
    for i in 0..taps + 1 {
        sums[i] = 0.0;
    }
    if d < dim {
        let mut r = start + group;
        while r < end {
            let (b, t) = (r / len, r % len);
            let g = grad_pre[r * dim + d];
            #[unroll]
            for i in 0..taps {
                sums[i] += g * padded_input(x, history, b, t + i, d, taps);
            }
            sums[taps] += g;
            r += ROW_GROUPS;
        }
    }
    let own = (group * CHANNELS + UNIT_POS_X as usize) * sums_per_unit;
    #[unroll]
    for i in 0..taps + 1 {
        shared[own + i] = sums[i];
    }
    sync_cube();
    if group == 0 && d < dim {
        #[unroll]
        for i in 0..taps + 1 {
            let mut total = 0.0f32;
            for gr in 0..ROW_GROUPS {
                total += shared[(gr * CHANNELS + UNIT_POS_X as usize) * sums_per_unit + i];
            }
            if i < taps {
                grad_weight[d * grad_weight.stride(0) + i * grad_weight.stride(1)].fetch_add(total);
            } else {
                grad_bias[d].fetch_add(total);
            }
        }
    }
}
