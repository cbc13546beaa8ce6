//! The CubeCL kernels of the causal depthwise convolution, f32, channel-last:
//! x (B, L, D) and history (B, K − 1, D) at any strides (Mamba-2 passes a
//! slice of its projection), weight (D, K), bias (D) and everything written
//! contiguous. Consecutive units take consecutive channels, so every read
//! and write is coalesced.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::plan::{CHANNELS, ROW_GROUPS, RUN};

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

/// The (channel d, first step, batch b) of a run kernel's unit, on the grid
/// (⌈D / CHANNELS⌉, ⌈rows / (ROW_GROUPS · RUN)⌉, B) with units (CHANNELS,
/// ROW_GROUPS).
#[cube]
fn run_start() -> (usize, usize, usize) {
    let d = CUBE_POS_X as usize * CHANNELS + UNIT_POS_X as usize;
    let first = (CUBE_POS_Y as usize * ROW_GROUPS + UNIT_POS_Y as usize) * RUN;
    (d, first, CUBE_POS_Z as usize)
}

/// w[d, ·] in registers.
#[cube]
fn taps_of(weight: &Tensor<f32>, d: usize, #[comptime] taps: usize) -> Array<f32> {
    let mut w = Array::<f32>::new(taps);
    #[unroll]
    for i in 0..taps {
        w[i] = weight[d * taps + i];
    }
    w
}

/// One pass over the pre-activations p[b, t, d] = bias[d] + Σ_i w[d, i] ·
/// x̃[b, t + i, d], written to `out` (B, L, D) contiguous as
/// - the forward (`grad` false): y = p, or silu(p) when `silu`;
/// - the SiLU gradient (`grad` true): ĝ = ∂y · silu′(p), with
///   silu′(p) = σ(p)·(1 + p·(1 − σ(p))) and ∂y read through its strides.
///
/// x and history are read through their strides. Run-kernel grid (see
/// [`RUN`]).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_pre_activations(
    x: &Tensor<f32>,
    history: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    grad_y: &Tensor<f32>,
    out: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
    #[comptime] silu: bool,
    #[comptime] grad: bool,
) {
    let (len, dim) = (len as usize, dim as usize);
    let (d, first, b) = run_start();
    if d >= dim || first >= len {
        terminate!();
    }
    let w = taps_of(weight, d, taps);
    let mut window = Array::<f32>::new(taps);
    #[unroll]
    for i in 0..taps - 1 {
        window[i] = padded_input(x, history, b, first + i, d, taps);
    }
    let mut end = first + RUN;
    if end > len {
        end = len;
    }
    let bias_d = bias[d];
    let mut t = first;
    while t < end {
        window[taps - 1] = x[b * x.stride(0) + t * x.stride(1) + d * x.stride(2)];
        let mut p = bias_d;
        #[unroll]
        for i in 0..taps {
            p += w[i] * window[i];
        }
        #[unroll]
        for i in 0..taps - 1 {
            window[i] = window[i + 1];
        }
        let at = (b * len + t) * dim + d;
        if grad {
            let s = 1.0 / (1.0 + (-p).exp());
            let g = grad_y[b * grad_y.stride(0) + t * grad_y.stride(1) + d * grad_y.stride(2)];
            out[at] = g * s * (1.0 + p * (1.0 - s));
        } else if silu {
            out[at] = p / (1.0 + (-p).exp());
        } else {
            out[at] = p;
        }
        t += 1;
    }
}

/// ∂x̃[b, s, d] = Σ_i w[d, i] · ĝ[b, s − i, d] over 0 ≤ s − i < L, split
/// into ∂history (B, K − 1, D) for s < K − 1 and ∂x (B, L, D) after. ĝ
/// (B, L, D) contiguous. Run-kernel grid over the K − 1 + L steps of x̃,
/// the last K − 1 values of ĝ in registers.
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
    let (d, first, b) = run_start();
    if d >= dim || first >= padded {
        terminate!();
    }
    let w = taps_of(weight, d, taps);
    // window[j] = ĝ[first − (K − 1) + j] for j < K − 1 (zero outside 0..L).
    let mut window = Array::<f32>::new(taps);
    #[unroll]
    for j in 0..taps - 1 {
        let shifted = first + j;
        let mut value = 0.0f32;
        if shifted >= taps - 1 && shifted - (taps - 1) < len {
            value = grad_pre[(b * len + shifted - (taps - 1)) * dim + d];
        }
        window[j] = value;
    }
    let mut end = first + RUN;
    if end > padded {
        end = padded;
    }
    let mut s = first;
    while s < end {
        let mut newest = 0.0f32;
        if s < len {
            newest = grad_pre[(b * len + s) * dim + d];
        }
        window[taps - 1] = newest;
        let mut acc = 0.0f32;
        #[unroll]
        for i in 0..taps {
            acc += w[i] * window[taps - 1 - i];
        }
        #[unroll]
        for j in 0..taps - 1 {
            window[j] = window[j + 1];
        }
        if s < taps - 1 {
            grad_history[(b * (taps - 1) + s) * dim + d] = acc;
        } else {
            grad_x[(b * len + s - (taps - 1)) * dim + d] = acc;
        }
        s += 1;
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
