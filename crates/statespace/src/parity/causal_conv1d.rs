//! Parity of mamba's causal depthwise convolution, with and without its state and SiLU.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, half_versus_f32, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, causal_conv1d};

/// The causal depthwise convolution of a strided view (x is a slice of a
/// wider tensor, as in Mamba-2) after a state, with and without SiLU.
fn run_causal_conv1d<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    silu: bool,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, dtype);
    let dim = draws[3].shape[0];
    let x = wide.clone().narrow(2, 1, dim);
    let state = draws[1].tensor::<B, 3>(device, dtype);
    let weight = draws[2].tensor::<B, 3>(device, dtype);
    let bias = draws[3].tensor::<B, 1>(device, dtype);
    let (y, _) = causal_conv1d(
        x,
        weight.clone(),
        Some(bias.clone()),
        Some(state.clone()),
        silu,
    )?;
    Ok(outputs_and_grads(
        y,
        &draws[4],
        &[
            ("grad_x", &wide),
            ("grad_state", &state),
            ("grad_weight", &weight),
            ("grad_bias", &bias),
        ],
        device,
    ))
}

/// The draws of one case (batch, L, D, K): a wider x, the state, the
/// weight, the bias and ∂y, in [`run_causal_conv1d`]'s order.
fn draws<B: AutodiffBackend>(
    cx: &mut Cx<'_, B>,
    bt: usize,
    len: usize,
    dim: usize,
    k: usize,
) -> [Draw; 5] {
    [
        cx.draw(&[bt, len, dim + 3]),
        cx.draw(&[bt, dim, k - 1]),
        cx.draw(&[dim, 1, k]),
        cx.draw(&[dim]),
        cx.draw(&[bt, len, dim]),
    ]
}

/// Mamba's causal depthwise convolution, with and without its state and SiLU.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (batch, L, D, K): L below K − 1, more channels than one cube's 32,
    // enough rows for several row blocks.
    for (bt, len, dim, k) in [
        (2, 1, 3, 4),
        (2, 37, 5, 4),
        (1, 300, 70, 4),
        (3, 513, 40, 2),
        (3, 513, 40, 4),
        (1, 37, 5, 2),
        (3, 37, 5, 2),
        (1, 513, 40, 2),
        (2, 37, 5, 3),
    ] {
        for silu in [false, true] {
            let draws = draws(cx, bt, len, dim, k);
            versus_cpu!(
                cx,
                format!(
                    "causal conv1d b{bt} L{len} D{dim} K{k}{}",
                    if silu { " silu" } else { "" }
                ),
                run_causal_conv1d::<B>(&draws, silu, DType::F32)
            );
        }
    }
    Ok(())
}

/// The convolution with 16-bit tensors (mixed precision; the GPU's kernels
/// read and write them as they are, with f32 arithmetic) against the CPU in f32 on the same rounded
/// values: one step after a state, and rows over several cubes.
pub(super) fn half_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for dtype in [DType::BF16, DType::F16] {
        for (bt, len, dim, k) in [(3, 1, 16, 4), (2, 300, 70, 4)] {
            let draws = draws(cx, bt, len, dim, k);
            half_versus_f32!(
                cx,
                format!("causal conv1d b{bt} L{len} D{dim} K{k} silu"),
                dtype,
                run_causal_conv1d::<B>(draws, true)
            );
        }
    }
    Ok(())
}
