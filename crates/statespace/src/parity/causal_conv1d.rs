//! Parity of mamba's causal depthwise convolution, with and without its state and SiLU.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, causal_conv1d};

/// The causal depthwise convolution of a strided view (x is a slice of a
/// wider tensor, as in Mamba-2) after a state, with and without SiLU.
fn run_causal_conv1d<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    silu: bool,
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, DType::F32);
    let dim = draws[3].shape[0];
    let x = wide.clone().narrow(2, 1, dim);
    let state = draws[1].tensor::<B, 3>(device, DType::F32);
    let weight = draws[2].tensor::<B, 3>(device, DType::F32);
    let bias = draws[3].tensor::<B, 1>(device, DType::F32);
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
            let draws = [
                cx.draw(&[bt, len, dim + 3]),
                cx.draw(&[bt, dim, k - 1]),
                cx.draw(&[dim, 1, k]),
                cx.draw(&[dim]),
                cx.draw(&[bt, len, dim]),
            ];
            versus_cpu!(
                cx,
                format!(
                    "causal conv1d b{bt} L{len} D{dim} K{k}{}",
                    if silu { " silu" } else { "" }
                ),
                run_causal_conv1d::<B>(&draws, silu)
            );
        }
    }
    Ok(())
}
