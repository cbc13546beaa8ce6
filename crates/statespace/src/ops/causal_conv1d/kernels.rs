//! The CubeCL kernels of the causal depthwise convolution, channel-last:
//! x (B, L, D) and history (B, K − 1, D) at any strides (Mamba-2 passes a
//! slice of its projection), weight (D, K), bias (D) and everything written
//! contiguous. Consecutive units take consecutive channels, so every read
//! and write is coalesced. The tensors' storage type `F` is f32, bf16 or
//! f16 (mixed precision reads and writes 16 bits, as mamba_ssm's
//! causal_conv1d); the arithmetic, the SiLU gradient between the passes and
//! the weight-gradient sums are f32.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::plan::{CHANNELS, ROW_GROUPS, RUN};

/// x̃[b, s, d] for s < K − 1 + L: the history, then x.
#[cube]
fn padded_input<F: Float>(
    x: &Tensor<F>,
    history: &Tensor<F>,
    b: usize,
    s: usize,
    d: usize,
    #[comptime] taps: usize,
) -> f32 {
    if s < taps - 1 {
        f32::cast_from(
            history[b * history.stride(0) + s * history.stride(1) + d * history.stride(2)],
        )
    } else {
        let t = s - (taps - 1);
        f32::cast_from(x[b * x.stride(0) + t * x.stride(1) + d * x.stride(2)])
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

/// w[d, ·] in registers, as f32.
#[cube]
fn taps_of<F: Float>(weight: &Tensor<F>, d: usize, #[comptime] taps: usize) -> Array<f32> {
    let mut w = Array::<f32>::new(taps);
    #[unroll]
    for i in 0..taps {
        w[i] = f32::cast_from(weight[d * taps + i]);
    }
    w
}

/// One pass over the pre-activations p[b, t, d] = bias[d] + Σ_i w[d, i] ·
/// x̃[b, t + i, d], written to `out` (B, L, D) contiguous as
/// - the forward (`grad` false): y = p, or silu(p) when `silu`, in the
///   inputs' type (`O` = `F`);
/// - the SiLU gradient (`grad` true): ĝ = ∂y · silu′(p), with
///   silu′(p) = σ(p)·(1 + p·(1 − σ(p))) and ∂y read through its strides,
///   in f32 (`O` = f32) for the passes after it.
///
/// x and history are read through their strides. Run-kernel grid (see
/// [`RUN`]).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_pre_activations<F: Float, O: Float>(
    x: &Tensor<F>,
    history: &Tensor<F>,
    weight: &Tensor<F>,
    bias: &Tensor<F>,
    grad_y: &Tensor<F>,
    out: &mut Tensor<O>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
    #[comptime] silu: bool,
    #[comptime] grad: bool,
    #[define(F, O)] _dtypes: [StorageType; 2],
) {
    let (len, dim) = (len as usize, dim as usize);
    let (d, first, b) = run_start();
    if d >= dim || first >= len {
        terminate!();
    }
    let w = taps_of::<F>(weight, d, taps);
    let mut window = Array::<f32>::new(taps);
    #[unroll]
    for i in 0..taps - 1 {
        window[i] = padded_input::<F>(x, history, b, first + i, d, taps);
    }
    let mut end = first + RUN;
    if end > len {
        end = len;
    }
    let bias_d = f32::cast_from(bias[d]);
    let mut t = first;
    while t < end {
        window[taps - 1] = f32::cast_from(x[b * x.stride(0) + t * x.stride(1) + d * x.stride(2)]);
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
            let g = f32::cast_from(
                grad_y[b * grad_y.stride(0) + t * grad_y.stride(1) + d * grad_y.stride(2)],
            );
            out[at] = O::cast_from(g * s * (1.0 + p * (1.0 - s)));
        } else if silu {
            out[at] = O::cast_from(p / (1.0 + (-p).exp()));
        } else {
            out[at] = O::cast_from(p);
        }
        t += 1;
    }
}

/// ∂x̃[b, s, d] = Σ_i w[d, i] · ĝ[b, s − i, d] over 0 ≤ s − i < L, split
/// into ∂history (B, K − 1, D) for s < K − 1 and ∂x (B, L, D) after. ĝ
/// (B, L, D) contiguous, f32. Run-kernel grid over the K − 1 + L steps of
/// x̃, the last K − 1 values of ĝ in registers.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_input_grads<F: Float>(
    grad_pre: &Tensor<f32>,
    weight: &Tensor<F>,
    grad_x: &mut Tensor<F>,
    grad_history: &mut Tensor<F>,
    len: u32,
    dim: u32,
    #[comptime] taps: usize,
    #[define(F)] _dtype: StorageType,
) {
    let (len, dim) = (len as usize, dim as usize);
    let padded = len + taps - 1;
    let (d, first, b) = run_start();
    if d >= dim || first >= padded {
        terminate!();
    }
    let w = taps_of::<F>(weight, d, taps);
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
            grad_history[(b * (taps - 1) + s) * dim + d] = F::cast_from(acc);
        } else {
            grad_x[(b * len + s - (taps - 1)) * dim + d] = F::cast_from(acc);
        }
        s += 1;
    }
}

/// ∂w[d, i] += Σ ĝ[b, t, d] · x̃[b, t + i, d] and ∂bias[d] += Σ ĝ[b, t, d]
/// over a block of rows (b, t) per cube: cubes (⌈D / CHANNELS⌉, blocks),
/// units (CHANNELS, ROW_GROUPS); each cube adds its sums with atomics, in
/// f32 whatever x's type (ĝ is f32). ∂w is addressed through its strides:
/// burn pads the rows of the zero-filled tensors it allocates (a (D, 2)
/// tensor has a row stride of 4).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_weight_grads<F: Float>(
    x: &Tensor<F>,
    history: &Tensor<F>,
    grad_pre: &Tensor<f32>,
    grad_weight: &mut Tensor<Atomic<f32>>,
    grad_bias: &mut Tensor<Atomic<f32>>,
    len: u32,
    dim: u32,
    rows_per_cube: u32,
    #[comptime] taps: usize,
    #[define(F)] _dtype: StorageType,
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
                sums[i] += g * padded_input::<F>(x, history, b, t + i, d, taps);
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
